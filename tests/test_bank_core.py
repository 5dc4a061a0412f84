"""The agent bank's sans-IO core, driven with synthetic vouchers at hand-picked times."""

from __future__ import annotations

import datetime as dt
import gc
import itertools

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import close as close_mod
from bank_sim.core import PAYMENT_RULES, BankConfig, BankCore, account_ids
from bank_sim.state import SNAPSHOT_VERSION
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.factory import DEFAULT_PROJECT, SUBJECTS, UNITS, authorized_quota_notice, payment_voucher
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, Refusal, SendVoucher, WakeAt

BANK = "999100000001"
OTHER = "999100000002"
_seq = itertools.count(1)
CALENDAR = BusinessCalendar.default()


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def voucher(day: str, amount_fen: int, *, vtcode: str = "5201", bank: str = BANK) -> VoucherDoc:
    no = f"ZZ{day.replace('-', '')}{next(_seq):05d}"
    return parse_voucher(payment_voucher(voucher_no=no, vou_date=dt.date.fromisoformat(day), pay_bank_code=bank,
                                         amount_fen=amount_fen, vtcode=vtcode))


def new_core(start: dt.datetime, **config: int) -> BankCore:
    core = BankCore(BANK, BankConfig(**config), CALENDAR, ClockConfig())  # type: ignore[arg-type]
    core.on_time(start)
    grant(core, start)
    return core


def grant(core: BankCore, now: dt.datetime, fen: int = 100_000_000_00) -> list[Effect]:
    """An authorized quota notice (7101) giving every synthetic unit `fen` on every subject."""
    lines = [(agency, name, func, func_name, *DEFAULT_PROJECT, fen) for _, _, agency, name in UNITS
             for func, func_name in SUBJECTS]
    no = f"ED{next(_seq):08d}"
    return core.on_voucher(parse_voucher(authorized_quota_notice(voucher_no=no, vou_date=now.date(),
                                                                 pay_bank_code=BANK, lines=lines)), 0, now)


def sends(effects: list[Effect], vtcode: str | None = None) -> list[SendVoucher]:
    return [e for e in effects if isinstance(e, SendVoucher) and (vtcode is None or e.vtcode == vtcode)]


def transfers(effects: list[Effect]) -> list[PostTransfer]:
    return [e for e in effects if isinstance(e, PostTransfer)]


def answer(request: SendVoucher, day: dt.date, *, reason: str | None = None) -> VoucherDoc:
    """The central bank's receipt for a 2301: cleared in full, or refused (XClearAmt 0.00)."""
    amount = "0.00" if reason else request.head["PayAmt"]
    head = {**request.head, "XClearDate": day.strftime("%Y%m%d"), "XClearAmt": amount, "XPbocSerialNo": "RH0001"}
    return parse_voucher(SendVoucher("2301", 1, head, request.details, "bank", original=b"-").render())


def test_rules_table_order() -> None:
    assert [r.name for r in PAYMENT_RULES] == ["not-ours", "urgent", "clearing", "advance", "defer"]


def test_pay_before_filing_then_clear_and_close_at_zero() -> None:
    core = new_core(t("2026-03-16", "08:00"))
    a = account_ids(BANK)
    doc = voucher("2026-03-16", 1234_56)
    effects = core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    [pay] = transfers(effects)
    assert (pay.transfer.debit_account, pay.transfer.credit_account, pay.transfer.amount_fen) == (
        a["zba-finance"], a["payees"], 1234_56)
    [receipt] = sends(effects)
    assert receipt.flag == 1 and receipt.recipient_role == "treasury" and receipt.original == doc.data
    assert (receipt.head["XPayDate"], receipt.head["XPayAmt"]) == ("20260316", "1234.56")
    assert receipt.head["XAgentBusinessNo"] == "YH0001202603160000000" + "1"
    assert effects.index(pay) < effects.index(receipt)  # money first, then the receipt

    auth = voucher("2026-03-16", 100_00, vtcode="8202")
    auth_effects = core.on_voucher(auth, 0, t("2026-03-16", "11:00"))
    assert any(isinstance(e, OpenAccount) and e.account.id.startswith(f"bank:{BANK}:zba-unit:") for e in auth_effects)

    filed = core.on_time(t("2026-03-16", "15:30"))
    requests = sends(filed, "2301")
    assert [(r.head["PayTypeCode"], r.head["ClearType"], r.head["PayAmt"]) for r in requests] == [
        ("11", "0", "1234.56"), ("12", "0", "100.00")]
    assert requests[0].head["ClearDate"] == "20260316" and requests[0].recipient_role == "pboc"
    assert [(d["SupDepCode"], d["PayAmt"]) for d in requests[0].details] == [(doc.get("SupDepCode"), "1234.56")]
    # next: the final sweep at the last instant before the 16:00 cutoff
    assert any(isinstance(e, WakeAt) and e.at == t("2026-03-16", "16:00") - dt.timedelta(microseconds=1)
               for e in filed)

    for request in requests:
        posted = transfers(core.on_voucher(answer(request, dt.date(2026, 3, 16)), 1, t("2026-03-16", "15:31")))
        assert all(p.transfer.debit_account == a["pboc-clearing"] for p in posted)
    assert core.on_time(t("2026-03-16", "17:00")) == [WakeAt(t("2026-03-17", "08:45"))]
    assert not core.unbalanced_closes
    assert all(v == 0 for k, v in core.balances.items() if "zba" in k)


def test_after_filing_is_an_advance_replenished_next_business_day() -> None:
    # Friday 2026-02-13 → the make-up Saturday 2026-02-14, not Monday
    core = new_core(t("2026-02-13", "08:00"))
    a = account_ids(BANK)
    doc = voucher("2026-02-13", 500_00)
    effects = core.on_voucher(doc, 0, t("2026-02-13", "16:10"))
    [fund, pay] = transfers(effects)  # reserve → the zero-balance account → payee (004 part 3 §9(12))
    assert (fund.transfer.debit_account, fund.transfer.credit_account, fund.transfer.kind) == (
        a["reserve"], a["zba-finance"], "advance")
    assert (pay.transfer.debit_account, pay.transfer.credit_account) == (a["zba-finance"], a["payees"])
    assert core.reserve_balance_fen == BankConfig().reserve_fen - 500_00
    assert sends(core.on_time(t("2026-02-13", "15:31"))) == []  # (time does not go back; nothing due)
    [detail_list] = sends(core.on_time(t("2026-02-13", "17:00")))  # the reserve detail list (7202)
    assert (detail_list.vtcode, detail_list.recipient_role, detail_list.head["PayAmt"]) == ("7202", "treasury", "500.00")
    assert not core.unbalanced_closes  # an advance leaves the zero-balance accounts at zero
    morning = core.on_time(t("2026-02-14", "08:45"))
    [request] = sends(morning, "2301")
    assert (request.head["ClearType"], request.head["ClearDate"], request.head["VouDate"], request.head["PayAmt"]) == (
        "1", "20260213", "20260214", "500.00")
    [back] = transfers(core.on_voucher(answer(request, dt.date(2026, 2, 14)), 1, t("2026-02-14", "08:46")))
    assert (back.transfer.debit_account, back.transfer.credit_account, back.transfer.kind) == (
        a["pboc-clearing"], a["reserve"], "reserve-replenishment")
    assert core.reserve_balance_fen == BankConfig().reserve_fen


def test_rejected_clearing_is_an_alarm_and_the_zba_stays_negative() -> None:
    core = new_core(t("2026-03-16", "08:00"))
    core.on_voucher(voucher("2026-03-16", 700_00), 0, t("2026-03-16", "09:30"))
    [request] = sends(core.on_time(t("2026-03-16", "15:30")))
    effects = core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", "15:31"),
                              return_reason="over-quota: PayAmt 700.00 exceeds the remaining quota 0.00")
    assert [(type(e), getattr(e, "code", None)) for e in effects] == [(Alarm, "over-quota")]
    assert core.filings[request.head["VoucherNo"]].state == "rejected"
    close = core.on_time(t("2026-03-16", "17:00"))
    assert [e.code for e in close if isinstance(e, Alarm)] == ["zero-balance-not-zero"]
    assert core.unbalanced_closes == [(dt.date(2026, 3, 16), account_ids(BANK)["zba-finance"], -700_00)]


def test_redelivered_voucher_gets_the_same_effects() -> None:
    core = new_core(t("2026-03-16", "08:00"))
    doc = voucher("2026-03-16", 99_00)
    first = core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    again = core.on_voucher(doc, 0, t("2026-03-16", "10:05"))
    assert again == [e for e in first if not isinstance(e, OpenAccount)]
    assert len([p for p in core.payments.values() if p.day]) == 1


def test_not_our_bank_and_holidays() -> None:
    core = new_core(t("2026-02-13", "08:00"))
    assert [type(e) for e in core.on_voucher(voucher("2026-02-13", 1_00, bank=OTHER), 0, t("2026-02-13", "10:00"))] \
        == [Alarm]
    # a voucher on a holiday (Spring Festival) waits for the next business day's opening
    doc = voucher("2026-02-16", 50_00)
    # (only the daily report of Friday 13th went out meanwhile, on the make-up Saturday 14th)
    assert [e for e in core.on_voucher(doc, 0, t("2026-02-16", "10:00"))
            if not (isinstance(e, SendVoucher) and e.vtcode == "2206")] == []
    effects = core.on_time(t("2026-02-24", "09:00"))
    [receipt] = sends(effects, "5201")
    assert receipt.head["XPayDate"] == "20260224"
    assert core.payments[next(iter(k for k in core.payments if k.voucher_no == doc.get("VoucherNo")))].mode == "clearing"


def test_reserve_short_defers() -> None:
    core = new_core(t("2026-03-16", "08:00"), reserve_fen=100_00)
    assert core.on_voucher(voucher("2026-03-16", 200_00), 0, t("2026-03-16", "16:20")) == []
    assert len(sends(core.on_time(t("2026-03-17", "09:00")), "5201")) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day_index=st.integers(0, 200),
       payments=st.lists(st.tuples(st.integers(9 * 60, 16 * 60 + 59), st.integers(1, 10_000_000),
                                   st.sampled_from(["5201", "8202"])), min_size=1, max_size=25))
def test_cleared_plus_advanced_is_paid_and_advances_come_back_next_business_day(
        day_index: int, payments: list[tuple[int, int, str]]) -> None:
    day = CALENDAR.add_business_days(dt.date(2025, 3, 3), day_index)
    start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=TZ)
    core = BankCore(BANK, BankConfig(reserve_fen=10**12), CALENDAR, ClockConfig())
    core.on_time(start)
    grant(core, start)
    next_day = CALENDAR.next_business_day(day)
    cleared = 0

    def clear(effects: list[Effect], now: dt.datetime) -> None:
        nonlocal cleared
        for request in sends(effects, "2301"):  # the central bank accepts every request
            assert request.head["ClearDate"] == day.strftime("%Y%m%d")
            assert (request.head["ClearType"] == "1") == (now.date() == next_day)
            assert sum(parse_fen(d["PayAmt"]) for d in request.details) == parse_fen(request.head["PayAmt"])
            core.on_voucher(answer(request, now.date()), 1, now)
            cleared += parse_fen(request.head["PayAmt"])

    paid = 0
    for minute, amount, vtcode in sorted(payments):
        now = start.replace(hour=minute // 60, minute=minute % 60)
        clear(core.on_time(now), now)
        effects = core.on_voucher(voucher(day.isoformat(), amount, vtcode=vtcode), 0, now)
        assert len(sends(effects)) == 1
        paid += amount
    for now in (start.replace(hour=15, minute=30), start.replace(hour=16) - dt.timedelta(microseconds=1),
                start.replace(hour=17),
                dt.datetime.combine(next_day, dt.time(8, 45), tzinfo=TZ),
                dt.datetime.combine(next_day, dt.time(17, 0), tzinfo=TZ)):
        clear(core.on_time(now), now)
    assert cleared == paid == core.paid_fen("clearing") + core.paid_fen("advance")
    assert core.reserve_balance_fen == 10**12
    assert not core.unbalanced_closes
    assert all(v == 0 for k, v in core.balances.items() if "zba" in k)
    assert fen_to_str(core.balances[account_ids(BANK)["payees"]]) == fen_to_str(paid)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        BankCore(BANK, BankConfig(filing_time=dt.time(16, 30)), CALENDAR, ClockConfig())
    with pytest.raises(ValueError):
        BankConfig(reserve_fen=-1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amount=st.integers(1, 10**10), day_index=st.integers(0, 250), vtcode=st.sampled_from(["5201", "8202"]))
def test_an_advance_of_n_fen_is_made_whole_by_exactly_n_fen_and_nothing_is_charged(
        amount: int, day_index: int, vtcode: str) -> None:
    # The reserve is the treasury's money (004 part 3 第四条) and the bank may charge the units no
    # fee (第十二条(三)): no interest recorded, booked or reported, whatever the days in between.
    day = CALENDAR.add_business_days(dt.date(2025, 3, 3), day_index)
    start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=TZ)
    core = BankCore(BANK, BankConfig(reserve_fen=10**11), CALENDAR, ClockConfig())
    core.on_time(start)
    grant(core, start)
    a = account_ids(BANK)
    paid = core.on_voucher(voucher(day.isoformat(), amount, vtcode=vtcode), 0, start.replace(hour=16, minute=20))
    assert [e.transfer.amount_fen for e in transfers(paid)] == [amount, amount]  # reserve → ZBA → payee
    core.on_time(start.replace(hour=17))
    morning = dt.datetime.combine(CALENDAR.next_business_day(day), dt.time(8, 45), tzinfo=TZ)
    [request] = sends(core.on_time(morning), "2301")
    assert (request.head["ClearType"], parse_fen(request.head["PayAmt"])) == ("1", amount)
    back = core.on_voucher(answer(request, morning.date()), 1, morning)
    assert [(e.transfer.credit_account, e.transfer.amount_fen) for e in transfers(back)] == [(a["reserve"], amount)]
    assert core.reserve_balance_fen == 10**11
    [filing] = core.filings_of(1, "accepted")
    assert b"interest_fen" not in core.snapshot() and not hasattr(filing, "interest_fen")
    # every account but the payees' and the funding stands where it started: nothing charged to a unit
    assert {k: v for k, v in core.balances.items() if v} == {
        a["reserve"]: 10**11, a["reserve-funding"]: -10**11, a["payees"]: amount, a["pboc-clearing"]: -amount}


def test_a_refusal_over_the_quota_is_held_and_filed_again_never_drawn_from_the_reserve() -> None:
    # 004 part 3 第四条: the reserve is for payments past the clearing time only; 003 §33: the quota
    # is the treasury's. Refused over-quota, the payment waits and is filed again next round.
    core = new_core(t("2026-03-16", "08:00"))
    a = account_ids(BANK)
    core.on_voucher(voucher("2026-03-16", 700_00), 0, t("2026-03-16", "09:30"))
    for when in ("15:30", "15:59:59.999999"):  # refused at the 15:30 round and again at the sweep
        [request] = sends(core.on_time(t("2026-03-16", when)), "2301")
        assert request.head["PayAmt"] == "700.00"
        refused = core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", when),
                                  return_reason="over-quota: PayAmt 700.00 exceeds the remaining quota 0.00")
        assert [e.code for e in refused if isinstance(e, Alarm)] == ["over-quota"] and not sends(refused)
    close = core.on_time(t("2026-03-16", "17:00"))
    assert [e.code for e in close if isinstance(e, Alarm)] == ["clearing-held", "zero-balance-not-zero"]
    assert not transfers(close) and not sends(close, "7202")  # the reserve is untouched
    assert core.reserve_balance_fen == BankConfig().reserve_fen
    assert not sends(core.on_time(t("2026-03-17", "08:45")), "2301")  # not a replenishment
    # the next business day: the held payment in a request of its own, dated that day
    core.on_voucher(voucher("2026-03-17", 50_00), 0, t("2026-03-17", "10:00"))
    today, held = sends(core.on_time(t("2026-03-17", "15:30")), "2301")
    assert (today.head["PayAmt"], held.head["PayAmt"]) == ("50.00", "700.00")
    assert (held.head["ClearType"], held.head["ClearDate"]) == ("0", "20260317")
    for request in (today, held):
        core.on_voucher(answer(request, dt.date(2026, 3, 17)), 1, t("2026-03-17", "15:31"))
    assert not [e for e in core.on_time(t("2026-03-17", "17:00")) if isinstance(e, Alarm)]
    assert core.balances[a["zba-finance"]] == 0 and core.unbalanced_closes == [
        (dt.date(2026, 3, 16), a["zba-finance"], -700_00)]


def test_a_clearing_that_missed_the_cutoff_is_made_whole_from_the_reserve() -> None:
    core = new_core(t("2026-03-16", "08:00"))
    core.on_voucher(voucher("2026-03-16", 300_00), 0, t("2026-03-16", "10:00"))
    [request] = sends(core.on_time(t("2026-03-16", "15:30")), "2301")
    core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", "16:01"),
                    return_reason="after-cutoff: received 16:01:00, after the clearing cutoff 16:00")
    close = core.on_time(t("2026-03-16", "17:00"))
    assert [e.code for e in close if isinstance(e, Alarm)] == ["clearing-escalated"]
    [detail_list] = sends(close, "7202")
    assert detail_list.details[0]["AdvanceType"] == "1" and not core.unbalanced_closes
    [replenish] = sends(core.on_time(t("2026-03-17", "08:45")), "2301")
    assert (replenish.head["ClearType"], replenish.head["PayAmt"]) == ("1", "300.00")


def urgent_voucher(day: str, amount_fen: int, *, fund_type_code: str = "1") -> VoucherDoc:
    no = f"ZZ{day.replace('-', '')}{next(_seq):05d}"
    return parse_voucher(payment_voucher(voucher_no=no, vou_date=dt.date.fromisoformat(day), pay_bank_code=BANK,
                                         amount_fen=amount_fen, urgent=True, fund_type_code=fund_type_code))


def test_an_urgent_request_carries_the_days_unfiled_payments_of_its_pay_and_fund_type() -> None:
    # 004 part 3 §8(7) "在16:00(如遇特别紧急支出,可延迟到16:30)前": the whole request's deadline
    core = new_core(t("2026-03-16", "08:00"))
    held = voucher("2026-03-16", 500_00)
    core.on_voucher(held, 0, t("2026-03-16", "10:00"))
    [request] = sends(core.on_time(t("2026-03-16", "15:30")), "2301")
    core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", "15:31"),
                    return_reason="over-quota: PayAmt 500.00 exceeds the remaining quota 0.00")
    [again] = sends(core.on_time(t("2026-03-16", "15:59:59.999999")), "2301")
    core.on_voucher(answer(again, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", "15:59:59.999999"),
                    return_reason="over-quota: PayAmt 500.00 exceeds the remaining quota 0.00")
    effects = core.on_voucher(urgent_voucher("2026-03-16", 400_00), 0, t("2026-03-16", "16:10"))
    [urgent] = sends(effects, "2301")
    assert (urgent.head["UrgentFlag"], urgent.head["PayAmt"]) == ("1", "900.00")
    assert {d["VoucherNo"] for d in urgent.details} >= {held.get("VoucherNo")}
    core.on_voucher(answer(urgent, dt.date(2026, 3, 16)), 1, t("2026-03-16", "16:11"))
    close = core.on_time(t("2026-03-16", "17:00"))
    assert not [e for e in close if isinstance(e, Alarm)] and not sends(close, "7202")
    # another fund type's urgent payment does not take the general budget's payments along
    other = new_core(t("2026-03-17", "08:00"))
    other.on_voucher(voucher("2026-03-17", 70_00), 0, t("2026-03-17", "10:00"))
    [urgent] = sends(other.on_voucher(urgent_voucher("2026-03-17", 30_00, fund_type_code="2"), 0,
                                      t("2026-03-17", "11:00")), "2301")
    assert (urgent.head["FundTypeCode"], urgent.head["PayAmt"]) == ("2", "30.00")


def test_a_held_payment_refused_again_after_the_cutoff_on_a_later_day_stays_held() -> None:
    # the reserve covers only the day's own payments that missed its cutoff (004 part 3 第四条)
    core = new_core(t("2026-03-16", "08:00"))
    core.on_voucher(voucher("2026-03-16", 700_00), 0, t("2026-03-16", "09:30"))
    for when in ("15:30", "15:59:59.999999"):
        [request] = sends(core.on_time(t("2026-03-16", when)), "2301")
        core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", when),
                        return_reason="over-quota: PayAmt 700.00 exceeds the remaining quota 0.00")
    core.on_time(t("2026-03-16", "17:00"))
    [request] = sends(core.on_time(t("2026-03-17", "15:30")), "2301")
    core.on_voucher(answer(request, dt.date(2026, 3, 17), reason="x"), 1, t("2026-03-17", "16:01"),
                    return_reason="after-cutoff: received 16:01:00, after the clearing cutoff 16:00")
    close = core.on_time(t("2026-03-17", "17:00"))
    assert [e.code for e in close if isinstance(e, Alarm)] == ["clearing-held", "zero-balance-not-zero"]
    assert not sends(close, "7202") and core.reserve_balance_fen == BankConfig().reserve_fen
    [again] = sends(core.on_time(t("2026-03-18", "15:30")), "2301")  # still filed again
    assert again.head["PayAmt"] == "700.00"


def test_payments_share_their_day_and_account_and_are_not_tracked_by_the_cycle_collector() -> None:
    """A busy day keeps 100,000s of payments: one day and one account text for all that name them."""
    core = new_core(t("2026-03-16", "08:00"))
    for i, hhmm in enumerate(("10:00", "10:01")):
        data = payment_voucher(voucher_no=f"ZZSAME{i}", vou_date=dt.date(2026, 3, 16), pay_bank_code=BANK,
                               amount_fen=10_00, vtcode="8202", unit=UNITS[0], subject=SUBJECTS[0], details=1)
        core.on_voucher(parse_voucher(data), 0, t("2026-03-16", hhmm))
    first, second = core.state.payments.values()
    assert first.day == second.day == dt.date(2026, 3, 16) and first.day is second.day
    assert first.account == second.account and first.account is second.account
    assert first.quota_taken == second.quota_taken and isinstance(first.quota_taken, tuple)
    assert not gc.is_tracked(first)


def test_the_payments_view_reads_the_state_without_copying_it() -> None:
    core = new_core(t("2026-03-16", "08:00"))
    docs = [voucher("2026-03-16", 10_00 * (i + 1)) for i in range(3)]
    for doc in docs:
        core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    view = core.payments
    kept = list(core.state.payments.values())
    assert len(view) == 3 and list(view.values()) == kept and list(view) == [p.key for p in kept]
    assert list(view.items()) == [(p.key, p) for p in kept] and dict(view) == {p.key: p for p in kept}
    first = kept[0].key
    assert view[first] is kept[0] and first in view and tuple(first) in view and view[tuple(first)] is kept[0]
    assert first._replace(flag=1) not in view and "x" not in view and view.get(first._replace(voucher_no="?")) is None
    core.on_voucher(voucher("2026-03-16", 5_00), 0, t("2026-03-16", "10:30"))
    assert len(view) == 4  # a view, not a copy


def test_the_close_lists_the_reserve_payments_accounts_then_the_days_payments_let_them_go() -> None:
    """A payment's PayAcctNo is read by its day's 7202 only: after the close it is not kept."""
    core = new_core(t("2026-03-16", "08:00"))
    late = voucher("2026-03-16", 300_00)
    core.on_voucher(voucher("2026-03-16", 100_00), 0, t("2026-03-16", "10:00"))
    core.on_voucher(late, 0, t("2026-03-16", "16:10"))  # after the filing: an advance from the reserve
    assert all(p.pay_acct for p in core.payments.values())
    [detail_list] = sends(core.on_time(t("2026-03-16", "17:00")), "7202")
    assert [d["AcctNo"] for d in detail_list.details] == [late.get("PayAcctNo")]
    assert [p.pay_acct for p in core.payments.values()] == ["", ""]


def test_a_version_3_snapshot_keeps_its_serial_texts_and_gives_the_same_receipts() -> None:
    """Version 4 keeps a payment's serial as its number (the text derived); a version 3 snapshot
    (the text itself) loads, is written as this version, and a redelivery gets the same receipt."""
    core = new_core(t("2026-03-16", "08:00"))
    paid, returned = voucher("2026-03-16", 100_00), voucher("2026-03-16", 100_00, bank="999100000099")
    [receipt] = sends(core.on_voucher(paid, 0, t("2026-03-16", "10:00")), "5201")
    serial = receipt.head["XAgentBusinessNo"]
    assert serial.startswith("YH0001") and serial.endswith(f"{core.state.serial:08d}")
    state = msgspec.json.decode(core.snapshot())
    assert state["version"] == SNAPSHOT_VERSION and [p["serial"] for p in state["payments"].values()] == [core.state.serial]
    state["version"] = 3
    for p in state["payments"].values():
        p["serial"] = serial
    again = BankCore.restore(msgspec.json.encode(state), BANK, core.config, CALENDAR, ClockConfig())
    assert msgspec.json.decode(again.snapshot())["version"] == SNAPSHOT_VERSION
    for c in (core, again):
        [replay] = sends(c.on_voucher(paid, 0, t("2026-03-16", "10:05")), "5201")
        assert replay.head["XAgentBusinessNo"] == serial
    assert not sends(core.on_voucher(returned, 0, t("2026-03-16", "10:06")), "5201")  # not ours: no receipt


def test_payments_are_kept_by_voucher_no_and_one_of_another_key_with_the_same_number_too() -> None:
    """A payment is kept under its VoucherNo, the very text its key holds (no key text more); a
    payment of another key (here an 8202) with a VoucherNo already taken is kept too, found by its
    own key, redelivered as itself, and both come back from a snapshot in arrival order."""
    core = new_core(t("2026-03-16", "08:00"))
    direct = voucher("2026-03-16", 10_00)
    no = direct.get("VoucherNo")
    authorized = parse_voucher(payment_voucher(voucher_no=no, vou_date=dt.date(2026, 3, 16), pay_bank_code=BANK,
                                               amount_fen=20_00, vtcode="8202"))
    receipts = [sends(core.on_voucher(doc, 0, t("2026-03-16", "10:00")), doc.vtcode) for doc in (direct, authorized)]
    assert [len(r) for r in receipts] == [1, 1]
    first, second = core.state.payments.values()
    assert [p.key.vtcode for p in (first, second)] == ["5201", "8202"] and [first.amount_fen, second.amount_fen] == [10_00, 20_00]
    [text] = [k for k in core.state.payments if k == no]
    assert text is first.key.voucher_no  # the key's own text
    for key, p in ((first.key, first), (second.key, second)):
        assert core.state.payment(key) is p and core.payments[key] is p and core.state.payment_named(str(key)) is p
    assert core.state.payment(first.key._replace(adm_div_code="000000")) is None
    again = BankCore.restore(core.snapshot(), BANK, core.config, CALENDAR, ClockConfig())
    assert [(p.key, p.amount_fen) for p in again.payments.values()] == [(first.key, 10_00), (second.key, 20_00)]
    assert again.snapshot() == core.snapshot()
    for c in (core, again):
        [replay] = sends(c.on_voucher(authorized, 0, t("2026-03-16", "10:05")), "8202")
        assert replay.head["XPayAmt"] == "20.00"
        assert replay.head["XAgentBusinessNo"] == receipts[1][0].head["XAgentBusinessNo"]


def test_an_authorized_payments_quota_lines_are_flat_and_shared_and_a_version_4_snapshots_pairs_load() -> None:
    """Version 5 keeps the quota lines an 8202 drew on flat (line, fen, ...), each line the tuple
    every payment naming it shares, the fen of a single line the payment's own amount; version 4
    kept (line, fen) pairs: they load flat, are written as this version, and the ledger refusing
    the payment after the load gives back exactly the quota it took."""
    core = new_core(t("2026-03-16", "08:00"))
    effects = []
    for i in range(2):
        data = payment_voucher(voucher_no=f"ZZFLAT{i}", vou_date=dt.date(2026, 3, 16), pay_bank_code=BANK,
                               amount_fen=10_00 + i, vtcode="8202", unit=UNITS[0], subject=SUBJECTS[0], details=1)
        effects.append(core.on_voucher(parse_voucher(data), 0, t("2026-03-16", "10:00")))
    first, second = core.state.payments.values()
    assert first.quota_taken is not None and second.quota_taken is not None
    assert len(first.quota_taken) == 2 and first.quota_taken[0] is second.quota_taken[0]
    assert first.quota_taken[1] is first.amount_fen and first.quota_lines() == [(first.quota_taken[0], 10_00)]
    before = core.remaining_quota(UNITS[0][2])
    state = msgspec.json.decode(core.snapshot())
    for p in state["payments"].values():
        flat = p["quota_taken"]
        p["quota_taken"] = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
    state["version"] = 4
    again = BankCore.restore(msgspec.json.encode(state), BANK, core.config, CALENDAR, ClockConfig())
    assert again.snapshot() == core.snapshot()
    assert [p.quota_lines() for p in again.payments.values()] == [first.quota_lines(), second.quota_lines()]
    dropped = tuple(e for e in effects[1] if isinstance(e, PostTransfer))
    for c in (core, again):
        c.on_refused(Refusal("ledger", "ledger-overdraft", "refused in the test", dropped), t("2026-03-16", "10:01"))
        got = c.remaining_quota(UNITS[0][2])[UNITS[0][2]]
        assert got["remaining"] == before[UNITS[0][2]]["remaining"] + 10_01


def test_a_days_reserve_list_goes_in_pages_of_at_most_reserve_list_lines_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """A day's 7202 lists at most RESERVE_LIST_LINES_MAX payments; the rest go in further lists a
    microsecond apart (`BankState.reserve_more`), each its own number, together the one list of
    every reserve payment in key order; a snapshot between two pages goes on as the core that never
    stopped, and a version 5 snapshot (no page left, no field for it) loads."""
    monkeypatch.setattr(close_mod, "RESERVE_LIST_LINES_MAX", 2)
    cores = [new_core(t("2026-03-16", "08:00")) for _ in range(2)]
    day = dt.date(2026, 3, 16)
    for n in range(5):  # after the filing: advances from the reserve, each listed
        late = voucher("2026-03-16", (n + 1) * 100_00)
        for c in cores:
            c.on_voucher(late, 0, t("2026-03-16", "16:10"))
    first = sends(cores[0].on_time(t("2026-03-16", "17:00")), "7202")
    assert [len(x.details) for x in first] == [2] and cores[0].state.reserve_more == day
    again = BankCore.restore(cores[0].snapshot(), BANK, cores[0].config, CALENDAR, ClockConfig())
    rest = sends(again.on_time(t("2026-03-16", "17:01")), "7202")
    assert [len(x.details) for x in rest] == [2, 1] and again.state.reserve_more is None
    assert [x.head for x in first + rest] == [x.head for x in sends(cores[1].on_time(t("2026-03-16", "17:01")), "7202")]
    nos = [x.head["VoucherNo"] for x in first + rest]
    assert len(set(nos)) == 3 and again.reserve_lists == nos
    for x in first + rest:
        assert x.head["AllNum"] == str(len(x.details))
        assert x.head["PayAmt"] == fen_to_str(sum(parse_fen(d["PayAmt"]) for d in x.details))
    listed = [d["OriVoucherNo"] for x in first + rest for d in x.details]
    by_key = sorted(again.payments.values(), key=lambda p: str(p.key))
    assert listed == [p.key.voucher_no for p in by_key] and all(not p.pay_acct for p in by_key)
    state = msgspec.json.decode(again.snapshot())
    assert state["version"] == SNAPSHOT_VERSION == 10 and state["reserve_more"] is None
    del state["reserve_more"]
    state["version"] = 5
    old = BankCore.restore(msgspec.json.encode(state), BANK, again.config, CALENDAR, ClockConfig())
    assert old.state.reserve_more is None and old.snapshot() == again.snapshot()
    assert not sends(old.on_time(t("2026-03-16", "17:02")), "7202")


def test_a_payments_pay_acct_is_not_the_interned_text_and_its_serial_shares_its_seq() -> None:
    """The parse interns a head's texts; a payment keeps its PayAcctNo (till the close) as a copy
    of its own, so a text unique to each payment does not grow the interpreter's table of interned
    texts with the day; payments naming one account share one copy; an account number of digits
    is kept as its int (`bank_sim.pay_acct`) and given back as the same text."""
    import sys

    from bank_sim.pay_acct import pay_acct_text

    core = new_core(t("2026-03-16", "08:00"))
    core.state.payment_seq = core.state.serial = 10_000  # numbers beyond the interpreter's small ints
    docs = [voucher("2026-03-16", 100_00) for _ in range(3)]
    for doc in docs:
        core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    kept = list(core.payments.values())
    assert [pay_acct_text(p) for p in kept] == [d.get("PayAcctNo") for d in docs]
    assert all(isinstance(p.pay_acct, int) or p.pay_acct is not sys.intern(p.pay_acct) for p in kept)
    assert len({id(p.pay_acct) for p in kept}) == len({p.pay_acct for p in kept})
    # paid in the order received: the serial is the arrival number's very int (one int a payment)
    assert [p.serial for p in kept] == [p.seq for p in kept] and all(p.serial is p.seq for p in kept)
