"""The bank's page calls pick what is due as they did: `reporting.due_credits` (the credit notices a
morning's pages send) and `filings.due_page` (the payments a filing's pages file) against their
old definitions, kept here verbatim as the oracles."""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.filings import due_page
from bank_sim.pending_credits import credit_day, pack_credit
from bank_sim.reporting import due_credits
from bank_sim.state import UNFILED, BankState, Payment
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
    state = BankState()
    for p in paid:
        state.add_payment(p)
    everything = len(paid) + 1  # a page limit no list reaches: the whole due list
    assert [p.seq for p in due_page(state, day, everything)] == [p.seq for p in old_due_clearings(paid, day)]


# `filings.due_page` walks the kept index of the payments not filed (`BankState.unfiled`): a run of
# the changes the bank makes to its payments (a payment comes, a deferred one becomes a clearing one,
# one is returned, a page is filed, a refused request unfiles some, a snapshot is loaded) and, at each
# page call, the page is the old walk's first `limit` + 1 over every payment, in the same order.
ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["clearing", "advance", "defer", "refuse"]),
              st.one_of(st.none(), st.sampled_from(DAYS)), st.booleans()),
    st.tuples(st.just("page"), st.sampled_from(DAYS), st.integers(1, 5)),
    st.tuples(st.just("undefer"), st.sampled_from(DAYS), st.integers(0, 50)),
    st.tuples(st.just("return"), st.integers(0, 50)),
    st.tuples(st.just("refile"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("load"),)), max_size=60)


@settings(max_examples=400)
@given(ops)
def test_due_page_is_the_old_walk_as_the_day_goes(run: list[tuple[Any, ...]]) -> None:
    from bank_sim.filings import due_page
    from bank_sim.state import BankState
    from sim import codec

    state = BankState()
    filed: list[Payment] = []
    for op in run:
        every = list(state.payments.values())
        if op[0] == "add":
            _, mode, day, same_no = op
            i = len(every)
            no = "ZZ00000" if same_no and every else f"ZZ{i:05d}"
            # a VoucherNo another payment has, of another key (a payment's key is new: `on_payment`)
            state.add_payment(Payment(VoucherKey(f"99{i:04d}", "2026", "5201" if i % 2 else "8202", no, 0), ("1", "一般"),
                                      ("001", "部门"), "acct", 100 + i, dt.datetime(2026, 3, 16, 10, tzinfo=TZ),
                                      mode, day=day, seq=i + 1))
        elif op[0] == "page":
            _, day, limit = op
            page = due_page(state, day, limit)
            assert [p.seq for p in page] == [p.seq for p in old_due_clearings(every, day)[:limit + 1]]
            for p in page[:limit]:  # filed, as `filings.file` does
                p.filing, p.held = f"HK{p.seq}", None
                filed.append(p)
        elif op[0] == "undefer" and every:  # paid at the opening: joins the clearing
            p = every[op[2] % len(every)]
            if p.mode == "defer":
                p.mode, p.day = "clearing", op[1]
        elif op[0] == "return" and every:
            p = every[op[1] % len(every)]
            if p.filing is None and p.day is None:
                p.mode, p.returned = "refuse", "returned"
        elif op[0] == "refile" and filed:  # a refused request unfiles them, as `filings._refile` does
            for p in filed[op[1] % len(filed):]:
                p.filing, p.held = None, "held-code" if op[2] else None
            del filed[op[1] % len(filed):]
            state.__dict__.pop(UNFILED, None)  # as `filings._refile` drops the index
        elif op[0] == "load":
            state = codec.decode(codec.encode(state), BankState)
            filed = [p for p in state.payments.values() if p.filing is not None]
        _same_as_old(state, DAYS[1])
    for day in DAYS:
        _same_as_old(state, day)


def _same_as_old(state: Any, day: dt.date) -> None:
    from bank_sim.filings import due_page

    assert ([p.seq for p in due_page(state, day, 10**6)]
            == [p.seq for p in old_due_clearings(list(state.payments.values()), day)])


# `reporting.credit_page` takes the page off a heap kept beside the pending notices: a run of notices
# kept (some again under the same VoucherNo, packed or a version 3 dict), pages sent (their notices
# dropped, as `reporting.reports` does), the map replaced and snapshots loaded; at each page call the
# page and whether more are due are the old walk's (`old_due_credits`, the first `limit` sorted).
credit_ops = st.lists(st.one_of(
    st.tuples(st.just("keep"), st.text(alphabet="0123", min_size=1, max_size=3), st.sampled_from(DAYS), st.booleans()),
    st.tuples(st.just("page"), st.sampled_from(DAYS), st.integers(1, 4)),
    st.tuples(st.just("replace"),),
    st.tuples(st.just("load"),)), max_size=60)


@settings(max_examples=400)
@given(credit_ops)
def test_credit_page_is_the_old_walk_as_the_days_go(run: list[tuple[Any, ...]]) -> None:
    from bank_sim.reporting import credit_page, keep_credit
    from bank_sim.state import BankState
    from sim import codec

    state = BankState()
    for op in run:
        s = state.duties
        if op[0] == "keep":
            _, no, day, packed = op
            keep_credit(state, no, pack_credit(f"{day:%Y%m%d}", CREDIT) if packed else {**CREDIT, "day": f"{day:%Y%m%d}"})
        elif op[0] == "page":
            first_day, limit = f"{op[1]:%Y%m%d}", op[2]
            due = old_due_credits(s.credits, first_day)
            page, more = credit_page(state, first_day, limit)
            assert page == [no for _, no in sorted(due)[:limit]]
            assert more == (len(due) > limit)
            for no in page:
                del s.credits[no]
            if not s.credits:
                s.credits = {}
        elif op[0] == "replace":
            s.credits = dict(s.credits)
        else:
            state = codec.decode(codec.encode(state), BankState)
    for day in DAYS:  # the last on the state as it is (a page taken off its heap is the caller's to drop)
        on = state if day == DAYS[-1] else codec.decode(codec.encode(state), BankState)
        due = old_due_credits(on.duties.credits, f"{day:%Y%m%d}")
        page, more = credit_page(on, f"{day:%Y%m%d}", 10**6)
        assert page == [no for _, no in sorted(due)] and not more


def test_a_notice_kept_again_under_a_later_day_leaves_the_queued_pages() -> None:
    from bank_sim.reporting import credit_page, keep_credit
    from bank_sim.state import BankState

    state = BankState()
    for no in ("1", "2", "3"):
        keep_credit(state, no, pack_credit("20260313", CREDIT))
    assert credit_page(state, "20260316", 1) == (["1"], True)
    del state.duties.credits["1"]
    keep_credit(state, "2", pack_credit("20260316", CREDIT))  # another payment's notice, of today
    assert credit_page(state, "20260316", 5) == (["3"], False)


def test_a_refused_request_puts_its_payments_back_in_the_pages_in_their_place() -> None:
    from bank_sim import filings
    from bank_sim.state import BankState, Filing

    state, day = BankState(), DAYS[1]
    for i in range(4):
        state.add_payment(Payment(VoucherKey("990001", "2026", "5201", f"ZZ{i:05d}", 0), ("1", "一般"), ("001", "部门"),
                                  "acct", 100, dt.datetime(2026, 3, 16, 10, tzinfo=TZ), "clearing", day=day, seq=i + 1))
    first = filings.due_page(state, day, 2)[:2]
    for p in first:
        p.filing = "HK1"
    assert [p.seq for p in filings.due_page(state, day, 5)] == [3, 4]  # the filed ones dropped from the index
    filing = Filing("HK1", 0, "11", ("1", "一般"), day, dt.datetime(2026, 3, 16, 16, tzinfo=TZ), 200, {},
                    [p.key for p in first])
    filings._refile(state, filing, "some-refusal")
    every = list(state.payments.values())
    assert [p.seq for p in filings.due_page(state, day, 5)] == [p.seq for p in old_due_clearings(every, day)] == [1, 2, 3, 4]
