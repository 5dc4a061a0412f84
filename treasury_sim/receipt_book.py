"""The treasury's first receipt of each voucher (`TreasuryState.receipts`), kept packed.

A `Receipt` as objects cost ~300 bytes a voucher held all day (the record, its `VoucherKey`, the
amount, the bank's serial text and its slot among the interned texts, the list and index
entries): 30 MB at 100,000. Here a receipt is one bytes object under its VoucherNo (the text the
plan and the bank's records share): its place in arrival order, the amount, when it came (UTC
microseconds) and an index into the few heads the day's receipts share (AdmDivCode, StYear,
VtCode, flag, XPayDate, Return_Reason, the time's UTC offset), then the serial's UTF-8. A bank's
serial is a prefix its day's receipts share and an 8-digit number (`YH<bank4><yyyymmdd><n:08d>`):
such a receipt keeps the prefix in its head and the number in 4 bytes (`_COMPACT`, 26 bytes: a
64-byte object instead of 80), its seq's top bit set (`_COMPACT_BIT`); any other serial as UTF-8
after `_FIXED`.
A `Receipt` equal to the one kept is made when one is read (`ReceiptBook`).

A snapshot keeps `ReceiptLog` as it is (msgspec: the bytes in base64, the dict sorted by VoucherNo);
`ReceiptLog.reordered` puts the receipts back in arrival order when one is loaded.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

from messages.envelope import VoucherKey
from treasury_sim.records import Receipt

__all__ = ["ReceiptBook", "ReceiptLog"]

# seq (its place in arrival order), paid_fen, received_at (UTC microseconds since the epoch, or a
# naive time's since the naive epoch), the head's index; the serial's UTF-8 after
_FIXED = struct.Struct("<Iqql")
# the same, the head's index in 2 bytes, then the serial's number (its prefix is the head's last
# element); told from a `_FIXED` record by the seq's top bit (a book has fewer than 2^31 receipts)
_COMPACT = struct.Struct("<IqqHI")
_COMPACT_BIT = 1 << 31
_HEADS_COMPACT = 1 << 16  # head indexes a compact record can hold
_DIGITS = 8  # a compact serial ends with this many digits, its number
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_I64 = 2**63

# What receipts share: (AdmDivCode, StYear, VtCode, flag, the key's VoucherNo when it is not the one
# the receipt is kept under (else ""), XPayDate, Return_Reason, received_at's UTC offset in
# seconds (None: naive), paid_fen when it does not fit 64 bits (else None)), and for compact records
# a tenth: the serial's prefix. Typed loosely so a snapshot of either length reads (JSON values).
Head = tuple[Any, ...]


class ReceiptLog(msgspec.Struct):
    """The saved form (module doc): VoucherNo → packed receipt, and the heads they index."""

    heads: list[Head] = msgspec.field(default_factory=list)
    records: dict[str, bytes] = msgspec.field(default_factory=dict)

    def reordered(self) -> ReceiptLog:
        """The records in arrival order (a decoded snapshot's are by VoucherNo)."""
        self.records = dict(sorted(self.records.items(), key=lambda item: _seq_of(item[1])))
        return self


class ReceiptBook(Mapping[str, Receipt]):
    """VoucherNo → the first receipt, in arrival order, over a `ReceiptLog` (module doc)."""

    __slots__ = ("_days", "_index", "_log", "_tzs")

    def __init__(self, log: ReceiptLog, receipts: Iterable[Receipt] = ()) -> None:
        """Over `log`, with `receipts` (a version 2 snapshot's list, in arrival order) added."""
        self._log = log
        self._index: dict[Head, int] = {h: i for i, h in enumerate(log.heads)}
        self._tzs: dict[int | None, dt.tzinfo | None] = {None: None}
        self._days: dict[int, int] | None = None  # local day's ordinal → receipts (`received_on`)
        for r in receipts:
            self.add(r.key.voucher_no, r)

    def add(self, voucher_no: str, r: Receipt) -> None:
        """Keep `r` as the receipt of `voucher_no` (a new one: a known VoucherNo keeps its place)."""
        at = r.received_at
        offset = at.utcoffset()
        if offset is None:
            us = (at.replace(tzinfo=None) - _NAIVE_EPOCH) // _US
            seconds = None
        else:
            us = (at - _UTC_EPOCH) // _US
            seconds = offset // dt.timedelta(seconds=1)
            self._tzs.setdefault(seconds, at.tzinfo)  # the zone the times came in (one, in a run)
        fen = r.paid_fen if -_I64 <= r.paid_fen < _I64 else None
        k = r.key
        head: Head = (k.adm_div_code, k.st_year, k.vtcode, k.flag, "" if k.voucher_no == voucher_no else k.voucher_no,
                      r.paid_date, r.return_reason, seconds, None if fen is not None else r.paid_fen)
        records = self._log.records
        old = records.get(voucher_no)
        seq = _seq_of(old) if old is not None else len(records)
        serial = r.serial
        n = _number(serial)
        if n is not None:
            i = self._head((*head, serial[:-_DIGITS]))
            if i < _HEADS_COMPACT:
                self._put(voucher_no, _COMPACT.pack(seq | _COMPACT_BIT, fen or 0, us, i, n), old)
                return
        self._put(voucher_no, _FIXED.pack(seq, fen or 0, us, self._head(head)) + serial.encode(), old)

    def _put(self, voucher_no: str, rec: bytes, old: bytes | None) -> None:
        self._log.records[voucher_no] = rec
        days = self._days
        if days is not None:  # counted: the receipt replaced leaves its day, the new one joins its own
            if old is not None:
                days[self._day_of(old)] -= 1
            day = self._day_of(rec)
            days[day] = days.get(day, 0) + 1

    def _day_of(self, rec: bytes) -> int:
        """The ordinal of the local day a record came on (`_FIXED` and `_COMPACT` begin alike)."""
        us: int = _FIXED.unpack_from(rec)[2]
        seconds: int | None = self._log.heads[_head_of(rec)][7]
        return _EPOCH_DAY + (us // 1_000_000 + (seconds or 0)) // 86_400

    def _head(self, head: Head) -> int:
        i = self._index.get(head)
        if i is None:
            i = self._index[head] = len(self._log.heads)
            self._log.heads.append(head)
        return i

    def _receipt(self, voucher_no: str, rec: bytes) -> Receipt:
        if _compact(rec):
            _seq, fen, us, i, n = _COMPACT.unpack(rec)
            adm, year, vtcode, flag, key_no, paid_date, reason, seconds, big_fen, prefix = self._log.heads[i]
            serial = f"{prefix}{n:0{_DIGITS}d}"
        else:
            _seq, fen, us, i = _FIXED.unpack_from(rec)
            adm, year, vtcode, flag, key_no, paid_date, reason, seconds, big_fen = self._log.heads[i]
            serial = rec[_FIXED.size:].decode()
        if seconds is None:
            at = _NAIVE_EPOCH + us * _US
        else:
            tz = self._tzs.get(seconds)
            if tz is None:  # a loaded snapshot's offset, as msgspec decodes one
                tz = self._tzs[seconds] = dt.timezone(dt.timedelta(seconds=seconds))
            at = (_UTC_EPOCH + us * _US).astimezone(tz)
        return Receipt(VoucherKey.of(adm, year, vtcode, key_no or voucher_no, flag), paid_date,
                       fen if big_fen is None else big_fen, serial, at, reason)

    def numbered(self) -> Iterator[tuple[str, str]]:
        """(the VoucherNo a receipt is kept under, its key's VoucherNo) of each, in arrival order,
        without making the receipts (the two differ only when a bank's key named another text)."""
        heads = self._log.heads
        for no, rec in self._log.records.items():
            yield no, heads[_head_of(rec)][4] or no

    def received_on(self, day: dt.date) -> int:
        """How many came on `day` (the local day of their time), without making the receipts: a
        count by day made at the first ask (one walk) and kept by `add` from then on, where each ask
        walked every receipt kept (the demo's hourly progress line, over a run of many days)."""
        days = self._days
        if days is None:
            days = self._days = {}
            for rec in self._log.records.values():
                d = self._day_of(rec)
                days[d] = days.get(d, 0) + 1
        return days.get(day.toordinal(), 0)

    def __getitem__(self, voucher_no: str) -> Receipt:
        return self._receipt(voucher_no, self._log.records[voucher_no])

    def get(self, voucher_no: str, default: Receipt | None = None) -> Receipt | None:  # type: ignore[override]
        rec = self._log.records.get(voucher_no)
        return default if rec is None else self._receipt(voucher_no, rec)

    def __contains__(self, voucher_no: object) -> bool:
        return voucher_no in self._log.records

    def __iter__(self) -> Iterator[str]:
        return iter(self._log.records)

    def __len__(self) -> int:
        return len(self._log.records)

    def values(self) -> Iterator[Receipt]:  # type: ignore[override]
        return (self._receipt(no, rec) for no, rec in self._log.records.items())

    def items(self) -> Iterator[tuple[str, Receipt]]:  # type: ignore[override]
        return ((no, self._receipt(no, rec)) for no, rec in self._log.records.items())


def _number(serial: str) -> int | None:
    """The number a serial ends with, if the serial is its prefix and that number as `_DIGITS`
    digits (`f"{prefix}{n:08d}"` gives it back); else None."""
    digits = serial[-_DIGITS:]
    if len(digits) == _DIGITS and digits.isascii() and digits.isdigit():
        return int(digits)
    return None


def _head_of(rec: bytes) -> int:
    """The index of a record's head (either layout)."""
    return int(_COMPACT.unpack(rec)[3] if _compact(rec) else _FIXED.unpack_from(rec)[3])


def _compact(rec: bytes) -> bool:
    return bool(rec[3] & 0x80)  # the seq's top bit (little-endian: its last byte)


def _seq_of(rec: bytes) -> int:
    """A record's place in arrival order (either layout)."""
    return int(_FIXED.unpack_from(rec)[0]) & ~_COMPACT_BIT
