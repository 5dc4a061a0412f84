"""The treasury's audit record of payment suspension (暂停支付, 000 五(二)3): each order, each lift
and each bank confirmation is appended, never changed; it survives the treasury core's snapshot."""

from __future__ import annotations

import datetime as dt

import pytest

from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.voucher import parse_voucher
from sim.effects import SendVoucher
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.suspensions import SuspensionLog

BANK = "999100000001"
CALENDAR, CC = BusinessCalendar.default(), ClockConfig()


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date(2026, 3, 16), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def test_order_confirm_lift_confirm_is_four_records_and_survives_a_snapshot() -> None:
    treasury = TreasuryCore(TreasuryConfig(days=1, first_day=dt.date(2026, 3, 16)), CALENDAR, CC)
    bank = BankCore(BANK, BankConfig(), CALENDAR, CC)
    bank.on_time(at("08:00"))
    log = treasury.suspensions

    def send(data: bytes, now: dt.datetime) -> None:
        effects = bank.on_voucher(parse_voucher(data), 0, now)
        (receipt,) = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "7501"]
        treasury.on_voucher(parse_voucher(receipt.render()), 1, now)

    send(log.order(voucher_no="ZT0001", bank=BANK, scope=("PayAcctNo", "99900000000000018"),
                   reason="示例审计整改", now=at("09:00")), at("09:00"))
    assert set(log.standing()) == {"990100/2026/7501/ZT0001"} and set(bank.suspensions) == {"990100/2026/ZT0001"}
    send(log.lift(voucher_no="ZT0002", order="990100/2026/7501/ZT0001", reason="整改完毕", now=at("11:00")), at("11:00"))
    assert [(r.action, r.order_no, r.voucher_no) for r in log.records] == [
        ("order", "ZT0001", "ZT0001"), ("confirmed", "ZT0001", "ZT0001"),
        ("lift", "ZT0001", "ZT0002"), ("confirmed", "ZT0001", "ZT0002")]
    assert all(r.scope == "PayAcctNo" and r.value == "99900000000000018" and r.bank == BANK for r in log.records)
    assert log.standing() == {} and bank.suspensions == {}

    again = TreasuryCore.restore(treasury.snapshot(), treasury.config, CALENDAR, CC)
    assert again.suspensions.records == log.records


def test_a_lift_needs_a_standing_order_and_an_order_number_is_used_once() -> None:
    log = SuspensionLog()
    with pytest.raises(ValueError, match="no standing order"):
        log.lift(voucher_no="ZT0009", order="990100/2026/7501/ZT0001", reason="r", now=at("09:00"))
    log.order(voucher_no="ZT0001", bank=BANK, scope=("AgencyCode", "101001"), reason="r", now=at("09:00"))
    with pytest.raises(ValueError, match="issued before"):
        log.order(voucher_no="ZT0001", bank=BANK, scope=("AgencyCode", "101002"), reason="r", now=at("09:05"))
    assert len(log.records) == 1
