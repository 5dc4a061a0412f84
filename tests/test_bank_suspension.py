"""Payment suspension (暂停支付, 000 五(二)3) in the bank core: a 7501 order returns the vouchers
in its scope unpaid with `payment-suspended`, its lift lets the next ones be paid."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import suspensions as susp
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.errors import CODES
from messages.factory import UNITS, payment_voucher, suspension_order
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher

BANK = "999100000001"
DAY = dt.date(2026, 3, 16)
_seq = itertools.count(1)


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def core() -> BankCore:
    c = BankCore(BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    c.on_time(at("08:00"))
    return c


def pay(unit: tuple[str, str, str, str]) -> VoucherDoc:
    return parse_voucher(payment_voucher(voucher_no=f"ZZ{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                         amount_fen=120_00, unit=unit))


def order(no: str, scope: tuple[str, str], *, lift: bool = False, bank: str = BANK) -> VoucherDoc:
    return parse_voucher(suspension_order(voucher_no=f"ZT{next(_seq):08d}", vou_date=DAY, pay_bank_code=bank,
                                          order_no=no, scope=scope, reason="示例审计整改", lift=lift))


def receipt(effects: list[Effect], vtcode: str) -> SendVoucher:
    (found,) = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == vtcode and e.flag == 1]
    return found


def test_a_unit_under_order_is_returned_another_paid_and_after_the_lift_paid() -> None:
    bank = core()
    suspended, other = UNITS[0], UNITS[1]
    confirmed = receipt(bank.on_voucher(order("ZT-1", ("AgencyCode", suspended[2])), 0, at("09:10")), "7501")
    assert confirmed.head["XConfirmDate"] == "20260316" and confirmed.head["SuspendAction"] == "1"

    returned = receipt(bank.on_voucher(pay(suspended), 0, at("09:20")), "5201")
    assert returned.head["XPayAmt"] == "0.00"
    assert returned.return_reason is not None and returned.return_reason.startswith("payment-suspended: order ZT-1")
    paid = receipt(bank.on_voucher(pay(other), 0, at("09:25")), "5201")
    assert paid.head["XPayAmt"] == "120.00" and paid.return_reason is None

    lifted = receipt(bank.on_voucher(order("ZT-1", ("AgencyCode", suspended[2]), lift=True), 0, at("10:00")), "7501")
    assert lifted.head["SuspendAction"] == "2"
    after = receipt(bank.on_voucher(pay(suspended), 0, at("10:10")), "5201")
    assert after.head["XPayAmt"] == "120.00" and after.return_reason is None


def test_orders_survive_a_snapshot_and_bad_orders_are_refused_whole() -> None:
    bank = core()
    scope = ("PayeeAcctNo", "99990000000001234")
    bank.on_voucher(order("ZT-2", scope), 0, at("09:00"))
    restored = BankCore.restore(bank.snapshot(), BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    assert restored.suspensions == bank.suspensions == {"990100/2026/ZT-2": susp.Order(
        "ZT-2", "PayeeAcctNo", scope[1], "示例审计整改", "990100", "2026")}
    for bad in (order("ZT-9", scope, lift=True),  # a lift of an order the bank does not hold
                order("ZT-2", ("AgencyCode", "101001")),  # the order number reused for another scope
                order("ZT-3", scope, bank="999100000002")):  # another bank's
        effects = restored.on_voucher(bad, 0, at("09:30"))
        assert [e.code for e in effects if isinstance(e, Alarm)] == ["suspension-order-invalid"]
        assert not [e for e in effects if isinstance(e, SendVoucher)]
    assert set(restored.suspensions) == {"990100/2026/ZT-2"}
    assert {"payment-suspended", "suspension-order-invalid"} <= set(CODES)


_value = st.sampled_from(["101001", "101002", "99900001", "99990000000001234", "99990000000005678"])
_scope = st.tuples(st.sampled_from(susp.SCOPE_ELEMENTS), _value)


@given(orders=st.lists(_scope, max_size=4), head=st.fixed_dictionaries(
    {"AgencyCode": _value, "PayAcctNo": _value, "PayeeAcctNo": _value, "AdmDivCode": st.just("990100")}))
def test_a_voucher_is_matched_iff_a_standing_orders_scope_names_it(
        orders: list[tuple[susp.ScopeElement, str]], head: dict[str, str]) -> None:
    standing = [susp.Order(f"ZT-{i}", element, value, "r", "990100", "2026") for i, (element, value) in enumerate(orders)]
    found = susp.match(standing, head)
    assert (found is not None) == any(head[element] == value for element, value in orders)
    if found is not None:
        assert head[found.element] == found.value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(picks=st.lists(st.tuples(st.sampled_from(susp.SCOPE_ELEMENTS), st.booleans()), min_size=1, max_size=3),
       unit=st.sampled_from(UNITS), lifted=st.booleans())
def test_the_core_returns_a_voucher_iff_a_standing_order_names_it(
        picks: list[tuple[susp.ScopeElement, bool]], unit: tuple[str, str, str, str], lifted: bool) -> None:
    """Orders on the voucher's own unit / account / payee (hit) or on another value (miss); with
    `lifted` every order is lifted before the voucher arrives."""
    bank = core()
    doc = pay(unit)
    head = doc.head()
    names_it = False
    for i, (element, hit) in enumerate(picks):
        value = head[element] if hit else ("999999" if element == "AgencyCode" else "99999999999999999")
        names_it |= hit and not lifted
        bank.on_voucher(order(f"ZT-{i}", (element, value)), 0, at("09:00"))
        if lifted:
            bank.on_voucher(order(f"ZT-{i}", (element, value), lift=True), 0, at("09:05"))
    answer = receipt(bank.on_voucher(doc, 0, at("10:00")), "5201")
    returned = answer.return_reason is not None and answer.return_reason.startswith("payment-suspended")
    assert returned == names_it
    assert answer.head["XPayAmt"] == ("0.00" if names_it else "120.00")
