"""The bank's account registry (7601; 003 §5, §12-13, §17-18; 004 part 3 §9(1)): accounts opened,
changed and closed on the treasury's notice; a payment on an account not opened or closed is
returned unpaid; the own-account rule knows the registry's unit real-fund accounts."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.errors import CODES
from messages.factory import UNITS, account_notice, payment_voucher
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher

BANK = "999100000001"
DAY = dt.date(2026, 3, 10)  # a Tuesday
UNIT = UNITS[0]  # 101001
ZBA = "9999000000005001"
_seq = itertools.count(1)


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def core(**config: object) -> BankCore:
    c = BankCore(BANK, BankConfig(**config), BusinessCalendar.default(), ClockConfig())  # type: ignore[arg-type]
    c.on_time(at("08:00"))
    return c


def notice(action: str, acct: str = ZBA, kind: str = "2", *, agency: str = UNIT[2], bank: str = BANK,
           **extra: str) -> VoucherDoc:
    return parse_voucher(account_notice(voucher_no=f"ZH{next(_seq):08d}", vou_date=DAY, pay_bank_code=bank,
                                        action=action, acct_type=kind, acct_no=acct, acct_name="示例账户",
                                        agency=agency, **extra))


def pay(acct: str = ZBA, vtcode: str = "8202", **fields: str) -> VoucherDoc:
    doc = parse_voucher(payment_voucher(voucher_no=f"SQ{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                        amount_fen=120_00, vtcode=vtcode, unit=UNIT))
    return parse_voucher(build_voucher(vtcode, {**doc.head(), "PayAcctNo": acct, **fields}, doc.details()))


def receipts(effects: list[Effect], vtcode: str) -> list[SendVoucher]:
    return [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == vtcode and e.flag == 1]


def code_of(effects: list[Effect]) -> str | None:
    (r,) = receipts(effects, "5201") + receipts(effects, "8202")
    return None if r.return_reason is None else r.return_reason.split(":")[0]


def test_the_codes_are_registered() -> None:
    assert {"account-not-opened", "account-closed", "account-notice-invalid"} <= set(CODES)


def test_a_direct_payment_on_the_finance_account_opened_then_closed() -> None:
    bank = core()
    fin = "9999000000009001"
    (r,) = receipts(bank.on_voucher(notice("1", fin, "1", agency=""), 0, at("09:00")), "7601")
    assert r.head["XConfirmDate"] == "20260310"
    assert code_of(bank.on_voucher(pay(fin, "5201"), 0, at("09:10"))) is None
    assert code_of(bank.on_voucher(pay("9999000000009002", "5201"), 0, at("09:15"))) == "account-not-opened"
    bank.on_voucher(notice("3", fin, "1", agency=""), 0, at("09:20"))
    assert code_of(bank.on_voucher(pay(fin, "5201"), 0, at("09:30"))) == "account-closed"


def test_without_a_registry_the_bank_pays_as_before() -> None:
    """No account declared, no notice: the registry is not in force (the old worlds keep working)."""
    assert code_of(core().on_voucher(pay("9999000000000000", "5201"), 0, at("09:10"))) is None


def test_late_opening_confirms_on_the_day_it_opens_and_a_voucher_before_is_returned() -> None:
    bank = core(account_open_days=4, registry_accounts=(("9999000000009001", "1", "财政零余额账户", ""),))
    no = notice("1", ZBA, "2")
    assert receipts(bank.on_voucher(no, 0, at("09:00")), "7601") == []  # carried out later
    returned = bank.on_voucher(pay(ZBA, "5201"), 0, at("09:10"))
    assert code_of(returned) == "account-not-opened"
    assert "notified, not opened yet" in (receipts(returned, "5201")[0].return_reason or "")
    monday = dt.date(2026, 3, 16)  # Tue + 4 working days
    (r,) = receipts(bank.on_time(at("09:00", monday)), "7601")
    assert r.head["XConfirmDate"] == "20260316"
    assert receipts(bank.on_voucher(no, 0, at("09:30", monday)), "7601")[0].head["XConfirmDate"] == "20260316"


def test_bad_notices_are_refused_whole() -> None:
    bank = core()
    bank.on_voucher(notice("1"), 0, at("09:00"))
    for bad in (notice("1"),  # open again
                notice("1", "9999000000005002"),  # a second zero-balance account of the unit (003 §13)
                notice("3", "9999000000005003"),  # close an account never opened
                notice("1", "9999000000005004", "3", agency=""),  # a unit account with no unit
                notice("1", "9999000000007001", "4", agency=""),  # a special account without approval
                notice("1", "9999000000005005", bank="999100000002")):  # another bank's
        effects = bank.on_voucher(bad, 0, at("09:30"))
        assert [e.code for e in effects if isinstance(e, Alarm)] == ["account-notice-invalid"], bad.head()
        assert receipts(effects, "7601") == []
    special = notice("1", "9999000000007001", "4", agency="", approve_no="CZ2026001")
    assert receipts(bank.on_voucher(special, 0, at("09:40")), "7601")
    close = notice("3", "9999000000007001", "4", agency="")
    assert [e.code for e in bank.on_voucher(close, 0, at("09:50")) if isinstance(e, Alarm)] == ["account-notice-invalid"]
    assert receipts(bank.on_voucher(notice("3", "9999000000007001", "4", agency="", file_no="BA2026001"), 0,
                                    at("09:55")), "7601")


def test_a_payment_to_the_units_registered_real_fund_account_is_zba_to_own_account() -> None:
    """The defect of issue 17: the unit's real-fund account at the same bank was payee-account-unknown."""
    real = "9999000000006001"
    bank = core()
    bank.on_voucher(notice("1"), 0, at("09:00"))
    bank.on_voucher(notice("1", real, "3"), 0, at("09:05"))
    fields = {"PayeeAcctBankNo": BANK, "PayeeAcctNo": real, "PayeeAcctName": "示例账户"}
    assert code_of(bank.on_voucher(pay(ZBA, "8202", **fields), 0, at("09:10"))) == "zba-to-own-account"
    # another bank without the registration still says payee-account-unknown: the registry decided
    other = core(registry_accounts=((ZBA, "2", "零余额", UNIT[2]),))
    assert code_of(other.on_voucher(pay(ZBA, "8202", **fields), 0, at("09:10"))) == "payee-account-unknown"


def test_the_registry_survives_a_snapshot() -> None:
    bank = core(account_open_days=1)
    bank.on_voucher(notice("1"), 0, at("09:00"))
    restored = BankCore.restore(bank.snapshot(), BANK, BankConfig(account_open_days=1), BusinessCalendar.default(),
                                ClockConfig())
    assert restored.state.registry == bank.state.registry
    assert receipts(restored.on_time(at("09:00", dt.date(2026, 3, 11))), "7601")


# --- a voucher is paid iff its account is open at that time ------------------------------------

_ACCTS = ("9999000000005001", "9999000000005002", "9999000000005003")
_steps = st.lists(st.tuples(st.sampled_from(("open", "change", "close", "pay")), st.sampled_from(_ACCTS)),
                  min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_a_voucher_is_paid_iff_its_account_is_open(steps: list[tuple[str, str]]) -> None:
    """Generated open / change / close sequences over three candidate zero-balance accounts of one
    unit (a notice the bank refuses changes nothing; one open zero-balance account per unit, 003 §13):
    the registry lets a payment through exactly when the model says its account stands open."""
    bank = core(registry_accounts=(("9999000000009001", "1", "财政零余额账户", ""),))
    model: dict[str, str] = {}  # AcctNo → "open" | "closed"
    t = at("09:00")
    for action, acct in steps:
        t += dt.timedelta(minutes=1)
        if action == "pay":
            # an 8202 is returned no-unit-quota after the registry's check: only the registry's verdict counts
            code = code_of(bank.on_voucher(pay(acct), 0, t))
            registry_ok = code not in ("account-not-opened", "account-closed")
            assert registry_ok == (model.get(acct) == "open"), (steps, code)
            if model.get(acct) == "closed":
                assert code == "account-closed"
            continue
        a = {"open": "1", "change": "2", "close": "3"}[action]
        effects = bank.on_voucher(notice(a, acct), 0, t)
        accepted = bool(receipts(effects, "7601"))
        others_open = any(s == "open" for k, s in model.items() if k != acct)
        expect = {"open": model.get(acct) != "open" and not others_open,
                  "change": model.get(acct) == "open", "close": model.get(acct) == "open"}[action]
        assert accepted == expect, (steps, action, acct)
        if accepted and action == "open":
            model[acct] = "open"
        elif accepted and action == "close":
            model[acct] = "closed"


def test_a_unit_the_tree_does_not_know_is_placed_by_the_notices_sup_dep() -> None:
    """A real-fund account of unit 301001 (not in the bank's unit tree) under first-level unit 301:
    a payment to it from another unit of 301 is same-system; from a unit of another system, paid."""
    bank = core(registry_accounts=(("9999000000009001", "1", "财政零余额账户", ""),))
    bank.on_voucher(notice("1", "9999000000006301", "3", agency="301001", sup_dep="301"), 0, at("09:00"))
    fields = {"PayeeAcctBankNo": BANK, "PayeeAcctNo": "9999000000006301", "PayeeAcctName": "示例账户"}
    same = pay("9999000000009001", "5201", **fields, SupDepCode="301", AgencyCode="301002")
    assert code_of(bank.on_voucher(same, 0, at("09:10"))) == "zba-to-own-account"
    assert code_of(bank.on_voucher(pay("9999000000009001", "5201", **fields), 0, at("09:20"))) is None


def test_a_notice_due_past_the_calendar_is_refused_and_changes_nothing() -> None:
    """docs/calendar.md, "The last days known": a 7601 carried out `account_open_days` working days
    later is refused when that day is past the calendar, as a bad notice is (an alarm naming the
    day), and changes nothing. Was: the same alarm, but the registry was put in force first, so
    every later payment was returned account-not-opened."""
    last = BusinessCalendar.default().known_range[1]
    bank = BankCore(BANK, BankConfig(account_open_days=1), BusinessCalendar.default(), ClockConfig())
    bank.on_time(at("08:00", last))
    effects = bank.on_voucher(notice("1", ZBA, "2"), 0, at("10:00", last))
    assert [(a.code, "after 2026-12-31" in a.message) for a in effects if isinstance(a, Alarm)] == [
        ("calendar-out-of-range", True)]
    assert code_of(bank.on_voucher(pay("9999000000000000", "5201"), 0, at("10:10", last))) is None  # not in force
    # the day before the last: due on the last day, carried out at its opening
    eve = last - dt.timedelta(days=1)
    bank = BankCore(BANK, BankConfig(account_open_days=1), BusinessCalendar.default(), ClockConfig())
    bank.on_time(at("08:00", eve))
    assert bank.on_voucher(notice("1", ZBA, "2"), 0, at("10:00", eve)) == []
    (r,) = receipts(bank.on_time(at("09:00", last)), "7601")
    assert r.head["XConfirmDate"] == last.strftime("%Y%m%d")
