"""The treasury core checks its own books after every input (`sim.books.BooksError`, issue 16): a
corrupted state is caught on the next input with the rule it broke, a corrupted snapshot on load,
and a normal run never trips a rule; the clearing quota noticed is used up exactly, never overdrawn."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treasury_helpers import run_until

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.voucher import fill_receipt, parse_voucher
from sim.books import BooksError
from sim.effects import Effect, Refusal, SendVoucher, WakeAt
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.state import TreasuryState

CALENDAR, CC = BusinessCalendar.default(), ClockConfig()
DAY = dt.date(2026, 3, 16)
BANK = "999100000001"


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def new_core(**kw: object) -> TreasuryCore:
    config = TreasuryConfig(**{"vouchers_per_day": 30, "days": 2, "first_day": DAY, **kw})  # type: ignore[arg-type]
    return TreasuryCore(config, CALENDAR, CC)


def refund_notice(no: str, fen: int, now: dt.datetime, original: SendVoucher) -> bytes:
    """A 2203 / 7105 returning `fen` of the payment `original` (the treasury restores no more than paid)."""
    ori = parse_voucher(original.render())
    head = {"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": no, "VouDate": now.strftime("%Y%m%d"),
            "OriVoucherNo": ori.get("VoucherNo"), "OriVouDate": ori.get("VouDate"), "AgencyCode": ori.get("AgencyCode"),
            "PayBankCode": ori.get("PayBankCode"), "PayAmt": f"{fen // 100}.{fen % 100:02d}"}
    return SendVoucher("2203" if original.vtcode == "5201" else "7105", 0, head, (), "treasury").render()


def paid(core: TreasuryCore, sends: list[Effect], now: dt.datetime) -> SendVoucher:
    """The first payment of `sends`, its receipt (paid in full) handed to `core`."""
    first = next(e for e in sends if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202"))
    doc = parse_voucher(first.render())
    receipt = fill_receipt(doc, {"XPayDate": now.strftime("%Y%m%d"), "XPayAmt": doc.get("PayAmt"),
                                 "XAgentBusinessNo": "B1"})
    assert core.on_voucher(parse_voucher(receipt), 1, now) == []
    return first


def test_a_normal_run_keeps_the_books_and_uses_each_quota_up_exactly() -> None:
    core = new_core()
    sends = [e for e in run_until(core, at("23:00", core.days[-1])) if isinstance(e, SendVoucher)]
    payments = [e for e in sends if e.vtcode in ("5201", "8202")]
    assert len(payments) == 60
    assert core.books.sent_n == core.books.planned_n == 60
    assert set(core.books.quota_left.values()) == {0}  # each notice the exact sum of what went out


def test_a_voucher_sent_again_overdraws_its_clearing_quota() -> None:
    core = new_core(days=1)
    run_until(core, at("23:00"))
    plan = core.plan(DAY)
    plan.vouchers[0].sent, plan.next_unsent = False, 0  # corrupt: forget the first voucher went out
    core.open_days.first = 0  # and that its day was done (the schedule walks on from the first open day)
    with pytest.raises(BooksError) as caught:
        core.on_time(at("23:30"))
    assert caught.value.rule == "clearing-quota-non-negative" and caught.value.core == "treasury"
    assert caught.value.code == "books-out-of-balance"


def test_a_voucher_refused_twice_is_caught() -> None:
    core = new_core(days=1)
    (first, *_) = [e for e in run_until(core, at("12:00")) if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
    refusal = Refusal("gateway", "bad-signature", "bad seal", (first,))
    assert core.on_refused(refusal, at("12:01")) == []  # a refusal keeps the books
    assert core.vouchers[first.head["VoucherNo"]].refused == "bad-signature"
    # corrupt: the mark lost (the core's map of refused vouchers, which a planned voucher reads), the books kept
    del core.state.refused[core.vouchers[first.head["VoucherNo"]].id]
    assert core.vouchers[first.head["VoucherNo"]].refused is None
    with pytest.raises(BooksError) as caught:
        core.on_refused(refusal, at("12:02"))
    assert caught.value.rule == "refused-once"


def test_a_refund_booked_on_one_side_only_is_caught() -> None:
    core = new_core(days=1)
    original = paid(core, run_until(core, at("10:00")), at("10:01"))
    core.on_voucher(parse_voucher(refund_notice("TK0001", 123_45, at("10:05"), original)), 0, at("10:05"))
    inbox = core.bank_inbox
    assert (inbox.refunded_fen, inbox.restored_fen, inbox.cross_year_fen) == (123_45, 123_45, 0)
    inbox.refunded_fen += 1  # corrupt
    with pytest.raises(BooksError) as caught:
        core.on_time(at("10:06"))
    assert caught.value.rule == "refunds-booked"


def test_a_standing_order_lost_is_caught() -> None:
    core = new_core(days=1)
    core.suspensions.order(voucher_no="ZT0001", bank=BANK, scope=("AgencyCode", "101001"), reason="r", now=at("09:00"))
    core.on_time(at("09:00"))  # one order standing: the books agree
    core.suspensions.open_orders.clear()  # corrupt
    with pytest.raises(BooksError) as caught:
        core.on_time(at("09:01"))
    assert caught.value.rule == "suspensions-consistent"


def test_a_day_planned_twice_is_caught() -> None:
    core = new_core(days=1)
    run_until(core, at("09:00"))
    del core.plans[DAY]  # corrupt: the plan forgotten, so the next catch-up books it again
    with pytest.raises(BooksError) as caught:
        core.plan(DAY)
        core.on_time(at("09:01"))
    assert caught.value.rule == "planned-once"


def test_a_snapshot_whose_totals_do_not_add_up_is_refused_on_load() -> None:
    core = new_core(days=1)
    original = paid(core, run_until(core, at("10:00")), at("10:01"))
    core.on_voucher(parse_voucher(refund_notice("TK0001", 500_00, at("10:05"), original)), 0, at("10:05"))
    state = msgspec.json.decode(core.snapshot(), type=TreasuryState)
    TreasuryCore.restore(core.snapshot(), core.config, CALENDAR, CC)  # the true one loads
    state.bank_inbox.restored_fen -= 1
    state.bank_inbox.cross_year_fen += 1  # the totals still agree with each other, not with the map
    with pytest.raises(BooksError) as caught:
        TreasuryCore.restore(msgspec.json.encode(state), core.config, CALENDAR, CC)
    assert caught.value.rule == "refunds-booked"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(0, 80), late=st.integers(0, 100), auth=st.integers(0, 100),
       cut=st.integers(0, 60))
def test_books_hold_through_any_run_and_a_restore(seed: int, n: int, late: int, auth: int, cut: int) -> None:
    core = new_core(seed=seed, vouchers_per_day=n, late_share_pct=late, authorized_share_pct=auth)
    now, steps = at("08:00"), 0
    while steps < cut:
        wakes = [e.at for e in core.on_time(now) if isinstance(e, WakeAt)]
        steps += 1
        if not wakes:
            break
        now = wakes[-1]
    again = TreasuryCore.restore(core.snapshot(), core.config, CALENDAR, CC)
    assert (again.books.planned_n, again.books.sent_n, again.books.quota_left) == (
        core.books.planned_n, core.books.sent_n, core.books.quota_left)
    assert all(left >= 0 for left in again.books.quota_left.values())
    run_until(again, at("23:00", again.days[-1]))
    assert again.books.sent_n == again.books.planned_n == 2 * n
    assert set(again.books.quota_left.values()) <= {0}
