"""What the central bank cleared, a 2301's new payments kept under it (`pboc_sim.state.ClearedBook`):
read, counted and forgotten oldest first as the dict of every entry (version 6) was, through a
snapshot too."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pboc_sim.cleared
from pboc_sim.cleared import cleared_again, record_cleared
from pboc_sim.state import ClearedBook, PbocState, cleared_key
from sim.codec import decode, encode

ADM = "990100"
YEAR = "2026"  # the 2301s' StYear and ClearDate's year
# a 2301: (bank, pay type, its payments' numbers (each named once in the run), the fen of each)
REQUESTS = st.lists(st.tuples(st.sampled_from(["B1", "B2"]), st.sampled_from(["11", "12", "99"]),
                              st.lists(st.integers(1, 10**6), max_size=5)), max_size=12)


def _old(entries: dict[str, tuple[int, str | None]], key: str, value: tuple[int, str | None], bound: int) -> None:
    """Version 6's `add_bounded` of a new key: the oldest forgotten first."""
    while len(entries) >= bound:
        entries.pop(next(iter(entries)))
    entries[key] = value


@settings(max_examples=150, deadline=None)
@given(requests=REQUESTS, bound=st.integers(1, 12), cut=st.integers(0, 12))
def test_the_book_keeps_and_forgets_what_the_dict_of_every_entry_did(
        requests: list[tuple[str, str, list[int]]], bound: int, cut: int) -> None:
    s = PbocState("x")
    old: dict[str, tuple[int, str | None]] = {}
    used: set[int] = set()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pboc_sim.cleared, "CLEARED_MAX", bound)
        for n, (bank, pay_type, numbers) in enumerate(requests):
            if n == cut:  # through a snapshot: the same book after it
                s.cleared = decode(encode(s.cleared), ClearedBook).reordered()
            fresh = [x for x in dict.fromkeys(numbers) if x not in used]
            used.update(fresh)
            payments = tuple((f"ZZ{x:07d}", 100 + x) for x in fresh)
            total = sum(fen for _, fen in payments)
            own = cleared_key(ADM, YEAR, "2301", f"QS{n:05d}", bank)
            matched = record_cleared(s, ADM, YEAR, f"QS{n:05d}", bank, pay_type, total, payments, 2026)
            _old(old, own, (total, None), bound)
            vtcode = {"11": "5201", "12": "8202"}.get(pay_type)
            for no, fen in payments if vtcode else ():
                _old(old, cleared_key(ADM, YEAR, vtcode, no, bank), (fen, own), bound)
            assert matched[:2] == (own, total) and len(matched) == 2 + 2 * len(payments if vtcode else ())
            book = s.cleared
            assert {k: (c.cleared_fen, c.clearing) for k, c in book.items()} == old
            assert len(book) == len(old) and bool(book) == bool(old)
            for key in old:
                assert key in book and book[key] == book.get(key)
            assert cleared_key(ADM, YEAR, "5201", "ZZnothing", bank) not in book


def test_a_payment_named_again_is_the_year_before_s_then_cleared_already_and_a_refund_changes_it_alone() -> None:
    s = PbocState("x")
    own1 = cleared_key(ADM, YEAR, "2301", "QS1", "B1")
    first = record_cleared(s, ADM, YEAR, "QS1", "B1", "11", 300, (("ZF1", 100), ("ZF2", 200)), 2026)
    assert first == (own1, 300, "ZF1", 100, "ZF2", 200)  # by VoucherNo: of the 2301's own year
    assert len(s.cleared.entries) == 1 and len(s.cleared.index) == 2
    # ZF1 of 2026 cleared: a Detail naming ZF1 again is 2025's ZF1 (pboc_sim.cleared.payment_year)
    again = record_cleared(s, ADM, YEAR, "QS2", "B1", "11", 50, (("ZF1", 50),), 2026)
    zf1_2025 = cleared_key(ADM, "2025", "5201", "ZF1", "B1")
    assert again[2:] == (zf1_2025, 50)  # another year's: an entry, by its key
    assert s.cleared[zf1_2025].cleared_fen == 50
    assert s.cleared[cleared_key(ADM, YEAR, "5201", "ZF1", "B1")].cleared_fen == 100
    # both years' cleared: named a third time (a bank's mistake), a payment cleared already: the
    # clearing rules refuse the request (already-cleared); the book is never given it
    assert cleared_again(s.cleared, ADM, "B1", "11", (("ZF2", 1), ("ZF1", 5)), 2026) == "ZF1"
    assert cleared_again(s.cleared, ADM, "B2", "11", (("ZF1", 5),), 2026) is None  # another bank's
    assert cleared_again(s.cleared, ADM, "B1", "11", (("ZF1", 5),), 2027) is None  # 2027's and 2026's: 2027's is not
    entries = {k: (c.cleared_fen, c.refunded_fen, c.clearing) for k, c in s.cleared.items()}
    with pytest.raises(ValueError, match="already-cleared"):
        record_cleared(s, ADM, YEAR, "QS4", "B1", "11", 5, (("ZF1", 5),), 2026)
    assert {k: (c.cleared_fen, c.refunded_fen, c.clearing) for k, c in s.cleared.items()} == entries  # unchanged
    zf1 = cleared_key(ADM, YEAR, "5201", "ZF1", "B1")
    assert s.cleared[zf1].cleared_fen == 100 and s.cleared[zf1].clearing == own1
    # another bank's payment of the same number: its own entry
    record_cleared(s, ADM, YEAR, "QS3", "B2", "11", 70, (("ZF2", 70),), 2026)
    assert s.cleared[cleared_key(ADM, YEAR, "5201", "ZF2", "B2")].cleared_fen == 70
    assert s.cleared[cleared_key(ADM, YEAR, "5201", "ZF2", "B1")].cleared_fen == 200
    item = s.cleared.modify(cleared_key(ADM, YEAR, "5201", "ZF2", "B1"))
    assert item is not None
    item.refunded_fen += 20
    assert s.cleared[cleared_key(ADM, YEAR, "5201", "ZF2", "B1")].refundable_fen == 180
    assert set(s.cleared.index) == {"ZF1"}  # 2026's ZF1 still under its 2301 (never named again)
    assert len(s.cleared) == 7  # QS1, its ZF1 and ZF2, QS2 and 2025's ZF1, QS3 and its ZF2 (QS4 refused: none)
