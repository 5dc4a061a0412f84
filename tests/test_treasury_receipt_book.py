"""The treasury's receipts kept packed (`treasury_sim.receipt_book`): each comes back equal to the
one taken, in arrival order, through a snapshot too; a version 2 snapshot (a list of receipts) loads."""

from __future__ import annotations

import datetime as dt
import json
import struct
import sys

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import TZ
from messages.envelope import VoucherKey
from sim.codec import decode, encode
from sim.effects import Alarm, SendVoucher
from tests.test_treasury_core import new_core, receipt_for, run_until, t
from treasury_sim.core import TreasuryCore
from treasury_sim.receipt_book import ReceiptBook, ReceiptLog
from treasury_sim.records import Receipt
from treasury_sim.state import SNAPSHOT_VERSION

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
# a bank's serial (a prefix and 8 digits: kept compact), or any text
SERIALS = (st.builds(lambda p, n: f"{p}{n:08d}", st.sampled_from(["YH000120260316", "TP0002", "", "x9"]),
                     st.integers(0, 10**8 - 1)) | TEXT)
ZONES = st.sampled_from([TZ, dt.UTC, dt.timezone(dt.timedelta(hours=-3, minutes=-30)), None])
RECEIPTS = st.builds(
    Receipt, st.builds(VoucherKey, st.sampled_from(["990100", "110000"]), st.sampled_from(["2026", "2025"]),
                       st.sampled_from(["5201", "8202"]), st.sampled_from(["A1", "B2", "ZZ2026031600001"]),
                       st.sampled_from([1, 0])),
    st.sampled_from(["20260316", "", "2026-03-17"]), st.integers(-(2**70), 2**70) | st.integers(0, 10**9), SERIALS,
    st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)), ZONES),
    st.none() | TEXT)


@settings(max_examples=200, deadline=None)
@given(receipts=st.lists(st.tuples(st.sampled_from(["A1", "B2", "C3", "ZZ2026031600001", "x"]), RECEIPTS),
                         max_size=8))
def test_a_receipt_comes_back_as_it_was_taken_in_arrival_order(receipts: list[tuple[str, Receipt]]) -> None:
    book = ReceiptBook(ReceiptLog())
    kept: dict[str, Receipt] = {}
    for no, r in receipts:
        book.add(no, r)
        kept[no] = r
    assert list(book.items()) == list(kept.items()) and len(book) == len(kept)
    for no, r in kept.items():
        got = book[no]
        assert got == r and got.received_at.utcoffset() == r.received_at.utcoffset()
        assert got.received_at.replace(tzinfo=None) == r.received_at.replace(tzinfo=None)
        assert book.get(no) == r and no in book
    assert book.get("nothing") is None and "nothing" not in book
    # what is read without making the receipts
    assert list(book.numbered()) == [(no, r.key.voucher_no) for no, r in kept.items()]
    for day in {r.received_at.date() for r in kept.values()}:
        assert book.received_on(day) == sum(r.received_at.date() == day for r in kept.values())
    # through a snapshot: the log is saved sorted by VoucherNo, read back in arrival order
    loaded = ReceiptBook(decode(encode(book._log), ReceiptLog).reordered())
    assert list(loaded.items()) == list(kept.items())


def _core_with_receipts() -> tuple[TreasuryCore, list[str]]:
    core = new_core()
    sent = [e for _, e in run_until(core, t("2026-02-13", "10:00"))
            if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
    nos = []
    for i, send in enumerate(reversed(sent[:6])):  # arrival order not the VoucherNos' order
        effects = core.on_voucher(receipt_for(send, serial=f"YH{i:03d}"), 1, t("2026-02-13", "10:00"))
        assert not [e for e in effects if isinstance(e, Alarm)]
        nos.append(send.head["VoucherNo"])
    return core, nos


def test_a_version_2_snapshot_of_receipts_loads_and_is_written_as_version_3() -> None:
    core, nos = _core_with_receipts()
    snapshot = core.snapshot()
    assert json.loads(snapshot)["version"] == SNAPSHOT_VERSION >= 8
    receipts = list(core.receipts.values())
    assert [r.key.voucher_no for r in receipts] == nos and nos != sorted(nos)
    # the same state as version 2 wrote it: the receipts a list, in arrival order
    old = json.loads(snapshot)
    del old["receipt_log"]
    old["version"], old["receipts"] = 2, msgspec.to_builtins(receipts)
    restored = new_core()
    restored.load_snapshot(json.dumps(old).encode())
    assert list(restored.receipts.items()) == list(core.receipts.items())
    assert restored.snapshot() == snapshot
    # a receipt delivered again after the restart is the same one, not a second payment
    first = next(e for _, e in run_until(new_core(), t("2026-02-13", "10:00"))
                 if isinstance(e, SendVoucher) and e.head["VoucherNo"] == nos[0])
    assert restored.on_voucher(receipt_for(first, serial="YH000"), 1, t("2026-02-13", "10:00")) == []
    assert restored.duplicate_receipts == []
    assert [a.code for a in restored.on_voucher(receipt_for(first, serial="YH9"), 1, t("2026-02-13", "10:00"))
            if isinstance(a, Alarm)] == ["duplicate-conflict"]
    assert len(restored.duplicate_receipts) == 1


# The oracle: how version 3 packed a receipt (every serial as text after the fixed fields; heads
# of nine), kept to write version 3 logs the book must read as they are.
_V3_FIXED = struct.Struct("<Iqql")
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def v3_add(log: ReceiptLog, voucher_no: str, r: Receipt) -> None:
    at = r.received_at
    offset = at.utcoffset()
    if offset is None:
        us, seconds = (at - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1), None
    else:
        us, seconds = (at - _UTC_EPOCH) // dt.timedelta(microseconds=1), offset // dt.timedelta(seconds=1)
    fen = r.paid_fen if -(2**63) <= r.paid_fen < 2**63 else None
    k = r.key
    head = (k.adm_div_code, k.st_year, k.vtcode, k.flag, "" if k.voucher_no == voucher_no else k.voucher_no,
            r.paid_date, r.return_reason, seconds, None if fen is not None else r.paid_fen)
    if head not in log.heads:
        log.heads.append(head)
    old = log.records.get(voucher_no)
    seq = _V3_FIXED.unpack_from(old)[0] if old is not None else len(log.records)
    log.records[voucher_no] = _V3_FIXED.pack(seq, fen or 0, us, log.heads.index(head)) + r.serial.encode()


@settings(max_examples=200, deadline=None)
@given(old=st.lists(st.tuples(st.sampled_from(["A1", "B2", "C3", "x"]), RECEIPTS), max_size=6),
       new=st.lists(st.tuples(st.sampled_from(["A1", "D4", "ZZ2026031600001"]), RECEIPTS), max_size=6))
def test_a_version_3_log_reads_as_it_was_and_takes_new_receipts_compact(old: list[tuple[str, Receipt]],
                                                                        new: list[tuple[str, Receipt]]) -> None:
    log = ReceiptLog()
    kept: dict[str, Receipt] = {}
    for no, r in old:
        v3_add(log, no, r)
        kept[no] = r
    saved = decode(encode(log), ReceiptLog).reordered()  # as a version 3 snapshot reads back
    book = ReceiptBook(saved)
    assert list(book.items()) == list(kept.items())
    for no, r in new:
        book.add(no, r)
        kept[no] = r
    assert list(book.items()) == list(kept.items())
    assert list(ReceiptBook(decode(encode(book._log), ReceiptLog).reordered()).items()) == list(kept.items())
    assert list(book.numbered()) == [(no, r.key.voucher_no) for no, r in kept.items()]


def test_a_receipt_of_a_banks_serial_is_a_64_byte_object() -> None:
    at = dt.datetime(2026, 3, 16, 10, tzinfo=TZ)
    r = Receipt(VoucherKey("990100", "2026", "5201", "ZZ2026031600001", 1), "20260316", 12_345,
                "YH0001202603160000123", at)
    book = ReceiptBook(ReceiptLog())
    book.add("ZZ2026031600001", r)
    rec = book._log.records["ZZ2026031600001"]
    assert sys.getsizeof(rec) <= 64 and book["ZZ2026031600001"] == r
    log = ReceiptLog()
    v3_add(log, "ZZ2026031600001", r)
    assert sys.getsizeof(log.records["ZZ2026031600001"]) > 64


def test_a_version_3_snapshot_keeps_the_receipts_in_arrival_order() -> None:
    core, nos = _core_with_receipts()
    restored = new_core()
    restored.load_snapshot(core.snapshot())
    assert list(restored.receipts) == nos and list(restored.receipts.values()) == list(core.receipts.values())
    assert restored.snapshot() == core.snapshot()
