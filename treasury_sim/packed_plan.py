"""A plain day's planned vouchers kept in columns, a `PlannedVoucher` made when one is asked for.

`plan_day` draws a day's vouchers from the seed; the core keeps them all day (sent in order,
matched to their receipts, counted in the checks at the close). As objects they cost ~350 bytes a
voucher (the record, its VoucherNo text, its amount, an index entry): 35 MB at 100,000. Here a
voucher is ~22 bytes of arrays: its amount, its number (the VoucherNo is `ZZ`/`SQ`, the day and the
number, so it is rendered, not kept), and small indexes into the day's shared values (send time,
bank, unit); a lookup by VoucherNo parses the number. `pack` packs only a plan whose every voucher
it gives back equal (field for field) to the one drawn; any other plan (budget units, batches,
registered accounts) stays a list. A voucher made here is a new object on every call: what changes
after planning (sent, refused) is the core's (`DayPlan.next_unsent`, the refused map handed in).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import overload

from messages.dates import format_ymd
from treasury_sim.records import PlannedVoucher, SentRow, voucher_id

__all__ = ["PackedVouchers", "PlanIndex", "pack"]

_PREFIX = {"5201": "ZZ", "8202": "SQ"}
_NO_REFUSALS: Mapping[str, str] = {}
# flags of a voucher: bit 0 an 8202 (else a 5201), bit 1 late, bit 2 direct funds, bits 3-4 its Detail lines
_AUTHORIZED, _LATE, _DIRECT, _DETAILS_SHIFT = 1, 2, 4, 3
_SMALL_MAX = 255  # distinct banks or units a column of bytes can index ('B')
_SLOTS_MAX = 65_535  # distinct send times a column of 'H' can index
# Every field the columns do not hold must be its default for a voucher to be packed (a field added
# to PlannedVoucher later is among them, so a plan using it stays a list).
_HELD = frozenset({"day", "send_at", "vtcode", "voucher_no", "bank", "amount_fen", "unit", "late", "details",
                   "adm_div_code", "seed", "sent", "refused", "direct"})
_REST = [f for f in dataclasses.fields(PlannedVoucher) if f.name not in _HELD]
_rest_of = attrgetter(*(f.name for f in _REST))
_REST_DEFAULTS = tuple(f.default for f in _REST)


class PackedVouchers(Sequence[PlannedVoucher]):
    """A day's plain planned vouchers in send order (module doc). What the core changes after
    planning, read when a voucher is made: `refused` (the voucher's key, `treasury_sim.records.voucher_id`
    → the gateway's code, the core's map) and `sent_n` (the first `sent_n` are sent)."""

    __slots__ = ("_amounts", "_bank", "_banks", "_flags", "_id_prefix", "_numbers", "_positions", "_slot", "_slots", "_unit",
                 "_units", "adm_div_code", "day", "refused", "seed", "sent_n", "ymd")

    def __init__(self, day: dt.date, adm_div_code: str, seed: int) -> None:
        self.day, self.adm_div_code, self.seed, self.ymd = day, adm_div_code, seed, format_ymd(day)
        self.refused: Mapping[str, str] = _NO_REFUSALS
        self._id_prefix = voucher_id(adm_div_code, str(day.year), "", "")[:-1]  # "<AdmDivCode>/<StYear>/"
        self.sent_n = 0
        self._amounts = array("q")
        self._numbers = array("I")  # the number in the VoucherNo
        self._positions = array("I")  # number - 1 → position in send order (0: none)
        self._slot: array[int] = array("H")  # index of the send time
        self._slots: list[dt.datetime] = []
        self._unit: array[int] = array("B")
        self._units: list[tuple[str, str, str, str]] = []
        self._bank: array[int] = array("B")
        self._banks: list[str] = []
        self._flags = array("B")  # `_AUTHORIZED`, `_LATE`, `_DIRECT`, the Detail lines

    def __len__(self) -> int:
        return len(self._amounts)

    @overload
    def __getitem__(self, pos: int) -> PlannedVoucher: ...

    @overload
    def __getitem__(self, pos: slice) -> list[PlannedVoucher]: ...

    def __getitem__(self, pos: int | slice) -> PlannedVoucher | list[PlannedVoucher]:
        if isinstance(pos, slice):
            return [self._voucher(i) for i in range(*pos.indices(len(self)))]
        if pos < 0:
            pos += len(self)
        if not 0 <= pos < len(self):
            raise IndexError(pos)
        return self._voucher(pos)

    def __iter__(self) -> Iterator[PlannedVoucher]:
        return (self._voucher(i) for i in range(len(self)))

    def send_at(self, pos: int) -> dt.datetime:
        """The send time of the voucher at `pos` (without making the voucher)."""
        return self._slots[self._slot[pos]]

    def late_amounts(self) -> Iterator[tuple[bool, int]]:
        """(late, amount in fen) of each voucher in send order, without making the vouchers (a TSA
        book's plan: `treasury_sim.tsa.TsaBook.planned_day`)."""
        return ((bool(flags & _LATE), fen) for flags, fen in zip(self._flags, self._amounts, strict=True))

    def authorized(self) -> Iterator[PlannedVoucher]:
        """The 8202s in send order: only they are made (`treasury_sim.planning.authorized_quotas`)."""
        return (self._voucher(pos) for pos, flags in enumerate(self._flags) if flags & _AUTHORIZED)

    def voucher_no(self, pos: int) -> str:
        return f"{'SQ' if self._flags[pos] & _AUTHORIZED else 'ZZ'}{self.ymd}{self._numbers[pos]:05d}"

    def position(self, voucher_no: str) -> int | None:
        """Where the voucher `voucher_no` is in send order, or None (not one of this day's)."""
        digits = voucher_no[10:]
        if voucher_no[2:10] != self.ymd or not (digits.isascii() and digits.isdigit()):
            return None
        number = int(digits)
        if not 0 < number <= len(self._positions) or self._positions[number - 1] == 0:
            return None
        pos = self._positions[number - 1] - 1
        # the number's own text (5 digits at least, no leading zero beyond) and the type's prefix
        canonical = len(digits) == 5 or (len(digits) > 5 and digits[0] != "0")
        prefix = "SQ" if self._flags[pos] & _AUTHORIZED else "ZZ"
        return pos if canonical and voucher_no[:2] == prefix else None

    def _numbered(self, flags: int, number: int) -> tuple[str, str]:
        """(VtCode, VoucherNo) of a voucher of these flags and number. The text interned: the one text
        of this number that the parsed vouchers and receipts hold too (`messages.voucher` interns head
        texts), not a new copy for each holder of a voucher made or read here."""
        vtcode = "8202" if flags & _AUTHORIZED else "5201"
        return vtcode, sys.intern(f"{_PREFIX[vtcode]}{self.ymd}{number:05d}")

    def _voucher(self, pos: int) -> PlannedVoucher:
        flags = self._flags[pos]
        vtcode, no = self._numbered(flags, self._numbers[pos])
        return PlannedVoucher(self.day, self._slots[self._slot[pos]], vtcode, no, self._banks[self._bank[pos]],
                              self._amounts[pos], self._units[self._unit[pos]], bool(flags & _LATE),
                              flags >> _DETAILS_SHIFT, self.adm_div_code, self.seed, sent=pos < self.sent_n,
                              refused=self.refused.get(f"{self._id_prefix}{vtcode}/{no}") if self.refused else None,
                              direct=bool(flags & _DIRECT))

    def _refused(self, vtcode: str, no: str) -> str | None:
        """The gateway's code of the voucher (VtCode, VoucherNo) of this day, if it refused it (no key
        made while nothing is refused: the common case)."""
        return self.refused.get(f"{self._id_prefix}{vtcode}/{no}") if self.refused else None

    def rows(self, n: int) -> Iterator[tuple[str, str, str, int, dt.datetime, str | None]]:
        """(VoucherNo, VtCode, bank, amount in fen, send time, the gateway's refusal code) of the first
        `n` vouchers in send order, each as `_voucher` would make it, read from the columns without
        making the vouchers (a reader of those fields at the run's end)."""
        refused, slots, banks, numbered = self._refused, self._slots, self._banks, self._numbered
        for flags, number, slot, bank, fen in zip(self._flags[:n], self._numbers[:n], self._slot[:n], self._bank[:n],
                                                  self._amounts[:n], strict=True):
            vtcode, no = numbered(flags, number)
            yield no, vtcode, banks[bank], fen, slots[slot], refused(vtcode, no)

    def row(self, pos: int) -> tuple[str, str, str, int, dt.datetime, str | None]:
        """`rows`' tuple of the voucher at `pos` (0 <= pos < len), without making it."""
        vtcode, no = self._numbered(self._flags[pos], self._numbers[pos])
        return (no, vtcode, self._banks[self._bank[pos]], self._amounts[pos], self._slots[self._slot[pos]],
                self._refused(vtcode, no))

    def fill(self, vouchers: Sequence[PlannedVoucher]) -> bool:
        """Take `vouchers` (a plain plan of this day, in send order) into the columns; False (and this
        object to be dropped) if any of them would not come back equal to itself."""
        slots: dict[dt.datetime, int] = {}
        units: dict[tuple[str, str, str, str], int] = {}
        banks: dict[str, int] = {}
        numbers: dict[int, int] = {}
        for pos, v in enumerate(vouchers):
            digits = v.voucher_no[10:]
            if (v.vtcode not in _PREFIX or not 1 <= v.details <= 3 or v.sent or v.refused is not None
                    or not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 2**32
                    or (v.day, v.adm_div_code, v.seed) != (self.day, self.adm_div_code, self.seed)
                    or _rest_of(v) != _REST_DEFAULTS):
                return False  # a field the columns do not hold (fund type, subject, payees, ...): kept as a list
            number = int(digits)
            if v.voucher_no != f"{_PREFIX[v.vtcode]}{self.ymd}{number:05d}":
                return False  # not the number's own text: it would not come back as it is
            flags = ((_AUTHORIZED if v.vtcode == "8202" else 0) | (_LATE if v.late else 0)
                     | (_DIRECT if v.direct else 0) | v.details << _DETAILS_SHIFT)
            slot = slots.setdefault(v.send_at, len(slots))
            unit = units.setdefault(v.unit, len(units))
            bank = banks.setdefault(v.bank, len(banks))
            if slot > _SLOTS_MAX or unit > _SMALL_MAX or bank > _SMALL_MAX or numbers.setdefault(number, pos) != pos:
                return False
            try:
                self._amounts.append(v.amount_fen)
            except OverflowError:
                return False
            self._numbers.append(number)
            self._slot.append(slot)
            self._unit.append(unit)
            self._bank.append(bank)
            self._flags.append(flags)
        self._slots, self._units, self._banks = list(slots), list(units), list(banks)
        self._positions = array("I", bytes(4 * max(numbers, default=0)))
        for number, pos in numbers.items():
            self._positions[number - 1] = pos + 1
        return True


class PlanIndex(Mapping[str, PlannedVoucher]):
    """VoucherNo → planned voucher over the days planned, in the order they were added: a listed
    day's vouchers through a dict, a packed day's by the number in the VoucherNo (no entry each)."""

    __slots__ = ("_days", "_listed", "_packed", "_size")

    def __init__(self) -> None:
        self._days: list[Sequence[PlannedVoucher]] = []
        self._listed: dict[str, PlannedVoucher] = {}
        self._packed: dict[str, PackedVouchers] = {}  # yyyyMMdd → that day's vouchers
        self._size = 0

    def add(self, vouchers: Sequence[PlannedVoucher]) -> None:
        """A day's vouchers planned (a day is added once)."""
        if isinstance(vouchers, PackedVouchers):
            old = self._packed.get(vouchers.ymd)
            if old is not None:  # the day again: its numbers replaced, as a dict's keys would be
                self._days.remove(old)
                self._size -= len(old)
            self._days.append(vouchers)
            self._packed[vouchers.ymd] = vouchers
            self._size += len(vouchers)
            return
        self._days.append(vouchers)
        for v in vouchers:
            self._size += v.voucher_no not in self._listed
            self._listed[v.voucher_no] = v

    def __getitem__(self, voucher_no: str) -> PlannedVoucher:
        v = self._listed.get(voucher_no)
        if v is not None:
            return v
        packed = self._packed.get(voucher_no[2:10]) if isinstance(voucher_no, str) else None
        pos = packed.position(voucher_no) if packed is not None else None
        if packed is None or pos is None:
            raise KeyError(voucher_no)
        return packed[pos]

    def sent_day(self, voucher_no: str) -> dt.date | None:
        """The day of voucher `voucher_no` if it is planned and sent (`PlannedVoucher.sent`), else
        None: `self[voucher_no]`'s `day` and `sent`, without making the voucher."""
        v = self._listed.get(voucher_no)
        if v is not None:
            return v.day if v.sent else None
        packed = self._packed.get(voucher_no[2:10])
        pos = packed.position(voucher_no) if packed is not None else None
        return packed.day if packed is not None and pos is not None and pos < packed.sent_n else None

    def sent_row(self, voucher_no: str) -> SentRow:
        """`self[voucher_no]`'s fields as a `SentRow` (the run's end reads these), a packed day's from
        its columns without making the voucher; KeyError as `self[voucher_no]`."""
        v = self._listed.get(voucher_no)
        if v is not None:
            return v.sent_row()
        packed = self._packed.get(voucher_no[2:10]) if isinstance(voucher_no, str) else None
        pos = packed.position(voucher_no) if packed is not None else None
        if packed is None or pos is None:
            raise KeyError(voucher_no)
        return SentRow(packed.day, *packed.row(pos))

    def __contains__(self, voucher_no: object) -> bool:
        try:
            self[voucher_no]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        for vouchers in self._days:
            if isinstance(vouchers, PackedVouchers):
                yield from (vouchers.voucher_no(pos) for pos in range(len(vouchers)))
            else:
                yield from (v.voucher_no for v in vouchers)

    def __len__(self) -> int:
        return self._size


def pack(day: dt.date, adm_div_code: str, seed: int, vouchers: Sequence[PlannedVoucher]) -> PackedVouchers | None:
    """`vouchers` (a plain plan of `day`, in send order) packed, or None if any of them would not
    come back equal to itself (another kind of plan, or more values than a column holds)."""
    packed = PackedVouchers(day, adm_div_code, seed)
    return packed if packed.fill(vouchers) else None

