"""What an 8202 draws of the quota lines (`treasury_sim.year_end.month_lines`) is kept flat (line
key, fen, line key, fen, ...): the same lines and fen, in the same order, as the (line key, fen)
pairs it kept before, and the ledger spends and releases the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from messages.money import fen_to_str, parse_fen
from sim.flat import paired
from treasury_sim.year_end import QuotaLedger, line_key, month_lines

PROJECT = ("P0", "default project")


def old_drawn(vouchers: Sequence[tuple[str, str, str, str, Sequence[Mapping[str, str]]]]) -> dict[str, tuple[Any, ...]]:
    """The definition before: a tuple of (line key, fen) pairs a voucher."""
    drawn: dict[str, list[tuple[str, int]]] = {}
    for no, year, bank, fund, details in vouchers:
        mine = drawn.setdefault(no, [])
        for d in details:
            mine.append((line_key(year, fund, bank, d["AgencyCode"], d["ExpFuncCode"], d.get("ProCode") or PROJECT[0]),
                         parse_fen(d["PayAmt"])))
    return {no: tuple(pairs) for no, pairs in drawn.items()}


_detail = st.fixed_dictionaries({
    "AgencyCode": st.sampled_from(["101001", "101002"]), "AgencyName": st.just("unit"),
    "ExpFuncCode": st.sampled_from(["2010101", "2140104"]), "ExpFuncName": st.just("subject"),
    "PayAmt": st.integers(1, 10**9).map(fen_to_str)}, optional={"ProCode": st.sampled_from(["P1", "P2"])})
_voucher = st.tuples(st.text("0123456789", min_size=1, max_size=4), st.sampled_from(["2025", "2026"]),
                     st.sampled_from(["B1", "B2"]), st.sampled_from(["1", "2"]), st.lists(_detail, max_size=4))


@given(st.lists(_voucher, max_size=8))
def test_drawn_flat_is_the_pairs_it_was(vouchers: list[tuple[str, str, str, str, list[dict[str, str]]]]) -> None:
    _, drawn = month_lines(vouchers, PROJECT)
    old = old_drawn(vouchers)
    assert drawn.keys() == old.keys()
    for no, flat in drawn.items():
        assert isinstance(flat, tuple) and paired(flat) == list(old[no])
    new_ledger, old_ledger = QuotaLedger(), QuotaLedger()
    for ledger in (new_ledger, old_ledger):
        for pairs in old.values():
            for key, fen in pairs:
                ledger.grant(key, ("a", "b", "c"), fen)
    for no in drawn:
        new_ledger.spend(drawn[no])
        for key, fen in old[no]:  # the old spend: pair by pair
            old_ledger.lines[key].spent_fen += fen
    assert {k: v.spent_fen for k, v in new_ledger.lines.items()} == {k: v.spent_fen for k, v in old_ledger.lines.items()}
    for no in drawn:
        new_ledger.release(drawn[no])
    assert all(v.spent_fen == 0 for v in new_ledger.lines.values())
