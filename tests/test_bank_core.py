"""The agent bank's sans-IO core, driven with synthetic vouchers at hand-picked times."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim.core import PAYMENT_RULES, BankConfig, BankCore, account_ids
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.factory import DEFAULT_PROJECT, SUBJECTS, UNITS, authorized_quota_notice, payment_voucher
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, SendVoucher, WakeAt

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
