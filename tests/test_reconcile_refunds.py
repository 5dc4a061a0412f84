"""The refund leg of the three-way reconciliation (runner/reconcile.py; issue 16 rule 8): each
refund a bank filed (2302) ↔ the payment it returns ↔ the central bank's TSA credit. Before:
refunds were not reconciled at all (a refund booked with no TSA credit went unseen)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from business_time.clock import at
from runner.observed import MovementSeen, PaymentSeen, RefundSeen
from runner.reconcile import reconcile

DAY = dt.date(2026, 3, 10)
NEXT = dt.date(2026, 3, 11)
PAID = PaymentSeen("bank-a", "999100000001", "ZZ1", "5201", 300_00, "clearing", at(DAY, dt.time(10)), DAY, None)


def _causes(refunds: list[RefundSeen], credits: list[tuple[str, int]]) -> list[str]:
    moves = [MovementSeen(NEXT, "C", fen, "999100000001", "refund", ref) for ref, fen in credits]
    rec = reconcile(sent=[], receipts=[], payments=[PAID], clearings=[], movements=moves, statements=[],
                    refunds=refunds)
    return sorted(b.cause for b in rec.breaks if b.cause.startswith("refund"))


def _refund(state: str = "accepted", voucher: str = "ZZ1", fen: int = 300_00) -> RefundSeen:
    return RefundSeen("bank-a", voucher, "TK1", fen, at(NEXT, dt.time(10)), state)  # type: ignore[arg-type]


def test_a_matched_refund_is_clean() -> None:
    assert _causes([_refund()], [("TK1", 300_00)]) == []


def test_each_refund_break() -> None:
    assert _causes([_refund()], []) == ["refund-no-movement"]
    assert _causes([_refund()], [("TK1", 299_00)]) == ["refund-amount"]
    assert _causes([], [("TK9", 5_00)]) == ["refund-movement-unknown"]
    assert _causes([_refund("pending")], []) == ["refund-unanswered"]
    assert _causes([_refund("rejected")], []) == ["refund-rejected"]
    assert _causes([_refund(voucher="ZZ404")], [("TK1", 300_00)]) == ["refund-unknown"]


@given(st.integers(1, 10**12), st.integers(0, 10**12))
def test_clean_iff_the_credit_equals_the_refund(booked: int, credited: int) -> None:
    causes = _causes([_refund(fen=booked)], [("TK1", credited)] if credited else [])
    assert (causes == []) == (credited == booked)
