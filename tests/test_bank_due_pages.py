"""The bank's page calls pick what is due as they did: `reporting.due_credits` (the credit notices a
morning's pages send) and `filings.due_clearings` (the payments a filing's pages file) against their
old definitions, kept here verbatim as the oracles."""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bank_sim.filings import due_clearings
from bank_sim.pending_credits import credit_day, pack_credit
from bank_sim.reporting import due_credits
from bank_sim.state import Payment
from business_time.clock import TZ
from messages.envelope import VoucherKey

DAYS = [dt.date(2026, 3, 13), dt.date(2026, 3, 16), dt.date(2026, 3, 17), dt.date(2026, 4, 1)]
CREDIT = {"VouDate": "20260316", "AgencyCode": "001", "AgencyName": "单位", "PayeeAcctNo": "1", "PayeeAcctName": "收款人",
          "PayeeAcctBankName": "银行", "serial": 7, "fund": ["1", "一般公共预算资金"], "amount": 100,
          "subjects": [["2010101", "行政运行", "1.00"]]}


def old_due_credits(credits: dict[str, Any], first_day: str) -> list[tuple[str, str]]:
    return [(day, no) for no, cr in credits.items() if (day := credit_day(cr)) < first_day]


def old_due_clearings(payments: list[Payment], day: dt.date) -> list[Payment]:
    due = [p for p in payments if p.mode == "clearing" and p.filing is None and p.day is not None
           and (p.day == day or (p.held is not None and p.day < day))]
    return [p for p in due if p.day == day] + [p for p in due if p.day != day]


numbers = st.text(alphabet="0123456789ZQS", min_size=1, max_size=6)
# a packed record (bytes) or a version 3 snapshot's dict, of one of the days
credits = st.dictionaries(numbers, st.tuples(st.sampled_from(DAYS), st.booleans()), max_size=60).map(
    lambda d: {no: pack_credit(f"{day:%Y%m%d}", CREDIT) if packed else {**CREDIT, "day": f"{day:%Y%m%d}"}
               for no, (day, packed) in d.items()})


@given(credits, st.sampled_from(DAYS), st.integers(1, 8))
def test_due_credits_and_their_page_are_the_old_ones(pending: dict[str, Any], today: dt.date, per_call: int) -> None:
    first_day = f"{today:%Y%m%d}"
    new, old = due_credits(pending, first_day), old_due_credits(pending, first_day)
    assert [(day.decode(), no) for day, no in new] == old
    assert ([no for _, no in heapq.nsmallest(per_call, new)] == [no for _, no in heapq.nsmallest(per_call, old)])


payments = st.lists(st.tuples(st.sampled_from(["clearing", "advance", "defer", "refuse"]),
                              st.one_of(st.none(), st.sampled_from(DAYS)), st.one_of(st.none(), st.just("HK1")),
                              st.one_of(st.none(), st.just("held-code"))), max_size=40).map(
    lambda rows: [_held(Payment(VoucherKey("990001", "2026", "5201", f"ZZ{i:05d}", 0), ("1", "一般"), ("001", "部门"),
                                "acct", 100 + i, dt.datetime(2026, 3, 16, 10, tzinfo=TZ), mode, day=day,
                                filing=filing, seq=i), held) for i, (mode, day, filing, held) in enumerate(rows)])


def _held(p: Payment, held: str | None) -> Payment:
    p.held = held  # kept in the payment's rare record (`bank_sim.payment_rare`), not a constructor field
    return p


@given(payments, st.sampled_from(DAYS))
def test_due_clearings_are_the_old_ones_in_the_same_order(paid: list[Payment], day: dt.date) -> None:
    assert [p.seq for p in due_clearings(paid, day)] == [p.seq for p in old_due_clearings(paid, day)]
