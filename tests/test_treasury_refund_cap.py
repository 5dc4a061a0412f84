"""The treasury restores quota for money that came back (003 §36 "退回资金清算后"), never for more
than its bank paid: a refund notice (2203 / 7105) naming a payment the treasury never saw paid
by that bank, or for more than the receipt paid, restores nothing and raises an alarm
(`refund-unmatched`, `refund-exceeds-payment`). Generated against an oracle: restored exactly
when the payment was paid, by the notice's bank, for at least the notice's amount."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str
from messages.voucher import fill_receipt, parse_voucher
from sim.effects import Alarm, SendVoucher, WakeAt
from treasury_sim.core import TreasuryConfig, TreasuryCore

CALENDAR, CC = BusinessCalendar.default(), ClockConfig()
DAY = dt.date(2026, 3, 16)
OTHER_BANK = "999100000777"


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def paid_core() -> tuple[TreasuryCore, SendVoucher, SendVoucher]:
    """A treasury whose first payment was paid (its receipt back) and whose second was returned unpaid."""
    core = TreasuryCore(TreasuryConfig(vouchers_per_day=4, days=1, first_day=DAY), CALENDAR, CC)
    now, sends = at("08:00"), []
    while now <= at("12:00"):
        effects = core.on_time(now)
        sends += [e for e in effects if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            break
        now = wakes[-1]
    paid, returned = sends[0], sends[1]
    doc = parse_voucher(paid.render())
    receipt = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": doc.get("PayAmt"), "XAgentBusinessNo": "B1"})
    assert core.on_voucher(parse_voucher(receipt), 1, at("12:01")) == []
    doc = parse_voucher(returned.render())
    receipt = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": "0.00", "XAgentBusinessNo": "B2",
                                 "XReturnReason": "payee-account-closed: 已销户"})
    core.on_voucher(parse_voucher(receipt), 1, at("12:01"), "payee-account-closed: 已销户")
    return core, paid, returned


def notice(no: str, original: SendVoucher, fen: int, bank: str) -> bytes:
    h = parse_voucher(original.render()).head()
    head = {"AdmDivCode": h["AdmDivCode"], "StYear": "2026", "VoucherNo": no, "VouDate": "20260316",
            "OriVoucherNo": h["VoucherNo"], "OriVouDate": h["VouDate"], "AgencyCode": h["AgencyCode"],
            "PayBankCode": bank, "PayAmt": fen_to_str(fen)}
    return SendVoucher("2203" if original.vtcode == "5201" else "7105", 0, head, (), "treasury").render()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(("paid", "returned", "other-bank")), delta=st.sampled_from((-1, 0, 1, 10_000)))
def test_restored_only_for_what_the_bank_paid(which: str, delta: int) -> None:
    core, paid, returned = paid_core()
    original = returned if which == "returned" else paid
    doc = parse_voucher(original.render())
    amount = doc.amount_fen("PayAmt")
    fen = max(1, amount + delta)
    bank = OTHER_BANK if which == "other-bank" else doc.get("PayBankCode")
    effects = core.on_voucher(parse_voucher(notice("TK0001", original, fen, bank)), 0, at("14:00"))
    inbox = core.bank_inbox
    ok = which == "paid" and fen <= amount
    assert inbox.refunded_fen == inbox.restored_fen == (fen if ok else 0), (which, delta, effects)
    alarms = [e.code for e in effects if isinstance(e, Alarm)]
    if ok:
        assert alarms == []
    else:
        assert alarms == ["refund-unmatched" if which != "paid" else "refund-exceeds-payment"], alarms
