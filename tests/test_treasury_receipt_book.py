"""The treasury's receipts kept packed (`treasury_sim.receipt_book`): each comes back equal to the
one taken, in arrival order, through a snapshot too; a version 2 snapshot (a list of receipts) loads."""

from __future__ import annotations

import datetime as dt
import json

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
ZONES = st.sampled_from([TZ, dt.UTC, dt.timezone(dt.timedelta(hours=-3, minutes=-30)), None])
RECEIPTS = st.builds(
    Receipt, st.builds(VoucherKey, st.sampled_from(["990100", "110000"]), st.sampled_from(["2026", "2025"]),
                       st.sampled_from(["5201", "8202"]), st.sampled_from(["A1", "B2", "ZZ2026031600001"]),
                       st.sampled_from([1, 0])),
    st.sampled_from(["20260316", "", "2026-03-17"]), st.integers(-(2**70), 2**70) | st.integers(0, 10**9), TEXT,
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
    assert json.loads(snapshot)["version"] == SNAPSHOT_VERSION == 3
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


def test_a_version_3_snapshot_keeps_the_receipts_in_arrival_order() -> None:
    core, nos = _core_with_receipts()
    restored = new_core()
    restored.load_snapshot(core.snapshot())
    assert list(restored.receipts) == nos and list(restored.receipts.values()) == list(core.receipts.values())
    assert restored.snapshot() == core.snapshot()
