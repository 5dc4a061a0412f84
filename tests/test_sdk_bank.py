"""The SDK-only example bank (`examples/sdk_bank.py`) as plain code, no gateway: each of its duties
gives the vouchers it should, and every voucher it sends passes the gateway's own checks (XSD,
sums). The end-to-end runs against a gateway are in tests/test_conformance.py."""

from __future__ import annotations

import datetime as dt
import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from business_time.clock import at
from messages.factory import UNITS, authorized_quota_notice, payment_voucher
from messages.validate import validate_bytes
from messages.voucher import VoucherDoc, parse_voucher

ROOT = Path(__file__).resolve().parent.parent
CODE = "999100000001"
SUBJECT = ("2140104", "公路建设")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sdk_bank_example", ROOT / "examples" / "sdk_bank.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


sdk = _load()


def _bank() -> Any:
    bank = sdk.Bank("bank-a", CODE, "示例银行", 20_000_000_00)
    bank.on_time(at(dt.date(2026, 3, 10), dt.time(8, 0)))
    return bank


def _pay(no: str, fen: int, vtcode: str = "5201", day: dt.date = dt.date(2026, 3, 10), **fields: str) -> VoucherDoc:
    data = payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=CODE, amount_fen=fen, vtcode=vtcode,
                           rng=random.Random(no), urgent=fields.pop("UrgentFlag", "") == "1", subject=SUBJECT,
                           unit=UNITS[0])
    doc = parse_voucher(data)
    for name, value in fields.items():
        el = doc.root.find(name)
        assert el is not None, name
        el.text = value
    return parse_voucher(etree.tostring(doc.root, xml_declaration=True, encoding="UTF-8"))


def _sent(out: list[tuple[bytes, int, str | None]]) -> list[tuple[str, int, str | None, dict[str, str]]]:
    """(VtCode, flag, Return_Reason, head) of each voucher sent; each passes the gateway's checks."""
    rows = []
    for data, flag, reason in out:
        _, issues = validate_bytes(data, flag=flag)
        assert issues == [], issues
        doc = parse_voucher(data)
        rows.append((doc.vtcode, flag, reason, doc.head()))
    return rows


def _t(hh_mm: str, day: dt.date = dt.date(2026, 3, 10)) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hh_mm))


def test_a_payee_account_the_bank_does_not_hold_or_holds_under_another_name_is_returned_unpaid() -> None:
    bank = _bank()
    unknown = _pay("U1", 50_00, PayeeAcctBankNo=CODE, PayeeAcctNo="9999000000000099")
    wrong = _pay("U2", 60_00, PayeeAcctBankNo=CODE, PayeeAcctNo="9999000000000001", PayeeAcctName="别的公司")
    fixed = _pay("U3", 60_00, PayeeAcctBankNo=CODE, PayeeAcctNo="9999000000000001")
    [(vt, flag, reason, head)] = _sent(bank.on_delivery(unknown, 0, None, _t("10:00")))
    assert (vt, flag, head["XPayAmt"]) == ("5201", 1, "0.00") and (reason or "").startswith("payee-account-unknown:")
    [(_, _, reason, _)] = _sent(bank.on_delivery(wrong, 0, None, _t("10:05")))
    assert (reason or "").startswith("payee-name-mismatch:")
    [(_, _, reason, head)] = _sent(bank.on_delivery(fixed, 0, None, _t("10:30")))
    assert reason is None and head["XPayAmt"] == "60.00"
    assert _sent(bank.on_delivery(unknown, 0, None, _t("10:40")))[0][2] == bank.payments[
        next(k for k in bank.payments if k.endswith("/U1"))].returned  # redelivered: the same return
    [(vt, _, _, head)] = _sent(bank.on_time(_t("15:30")))
    assert vt == "2301" and head["PayAmt"] == "60.00"  # the returned ones are never cleared


def test_an_authorized_payment_is_paid_only_within_the_units_quota_and_the_quota_is_confirmed() -> None:
    bank = _bank()
    agency, agency_name = UNITS[0][2], UNITS[0][3]
    notice = parse_voucher(authorized_quota_notice(
        voucher_no="ED2026031000001", vou_date=dt.date(2026, 3, 10), pay_bank_code=CODE,
        lines=[(agency, agency_name, *SUBJECT, "P1", "项目", 1000_00)]))
    sent = _sent(bank.on_delivery(notice, 0, None, _t("08:40")))
    assert [(vt, flag) for vt, flag, _, _ in sent] == [("7101", 1), ("7102", 0)]
    assert sent[0][3]["XConfirmDate"] == "20260310" and sent[1][3]["AgencyCode"] == agency
    assert [vt for vt, *_ in _sent(bank.on_delivery(notice, 0, None, _t("08:50")))] == ["7101"]  # counted once
    [(_, _, reason, head)] = _sent(bank.on_delivery(_pay("A1", 600_00, "8202"), 0, None, _t("10:00")))
    assert reason is None and head["XPayAmt"] == "600.00"
    [(_, _, reason, head)] = _sent(bank.on_delivery(_pay("A2", 400_01, "8202"), 0, None, _t("10:30")))
    assert (reason or "").startswith("over-unit-quota:") and head["XPayAmt"] == "0.00"
    [(_, _, reason, _)] = _sent(bank.on_delivery(_pay("A3", 400_00, "8202"), 0, None, _t("10:40")))
    assert reason is None  # exactly what is left
    other = parse_voucher(payment_voucher(voucher_no="A4", vou_date=dt.date(2026, 3, 10), pay_bank_code=CODE,
                                          amount_fen=1_00, vtcode="8202", subject=SUBJECT, unit=UNITS[1]))
    assert (_sent(bank.on_delivery(other, 0, None, _t("10:50")))[0][2] or "").startswith("no-unit-quota:")


def test_urgent_is_cleared_at_once_until_1630_then_advanced_and_listed_in_the_7202() -> None:
    bank = _bank()
    sent = _sent(bank.on_delivery(_pay("G1", 800_00, UrgentFlag="1"), 0, None, _t("16:10")))
    assert [(vt, flag) for vt, flag, _, _ in sent] == [("5201", 1), ("2301", 0)]
    assert sent[1][3]["UrgentFlag"] == "1" and sent[1][3]["PayAmt"] == "800.00"
    late = _sent(bank.on_delivery(_pay("G2", 90_00, UrgentFlag="1"), 0, None, _t("16:40")))
    assert [(vt, flag) for vt, flag, _, _ in late] == [("5201", 1)]  # advanced from the reserve
    [(vt, _, _, head)] = _sent(bank.on_time(_t("17:00")))
    assert vt == "7202" and head["PayAmt"] == "90.00" and head["AllNum"] == "1"
    [(vt, _, _, head)] = _sent(bank.on_time(_t("08:45", dt.date(2026, 3, 11))))
    assert vt == "2301" and head["ClearType"] == "1" and head["PayAmt"] == "90.00"


@pytest.mark.parametrize(("payee_bank", "arrives"), [("999100000027", "20260313"), ("999200000027", "20260313"),
                                                     ("888100000027", "20260316")])
def test_the_receipt_says_when_the_payee_has_the_money(payee_bank: str, arrives: str) -> None:
    bank = _bank()
    friday = dt.date(2026, 3, 13)
    [(_, _, _, head)] = _sent(bank.on_delivery(_pay("T1", 100_00, day=friday, PayeeAcctBankNo=payee_bank), 0, None,
                                               _t("10:00", friday)))
    assert head["XArriveDate"] == arrives


def test_credit_notices_and_daily_reports_next_morning_monthly_report_and_statement_in_the_new_month() -> None:
    bank = _bank()
    last = dt.date(2026, 3, 31)
    for no, fen, t in (("R1", 1234_56, "10:00"), ("R2", 765_44, "11:00")):
        _sent(bank.on_delivery(_pay(no, fen, day=last), 0, None, _t(t, last)))
    [(data, _, _)] = [s for s in bank.on_time(_t("15:30", last)) if parse_voucher(s[0]).vtcode == "2301"]
    bank.on_delivery(_clearing_answer(data, True), 1, None, _t("15:31", last))
    sent = _sent(bank.on_time(_t("09:30", dt.date(2026, 4, 1))))
    counts = {vt: sum(1 for v, *_ in sent if v == vt) for vt in ("7103", "2206", "4004", "3501", "7203")}
    assert counts == {"7103": 2, "2206": 1, "4004": 1, "3501": 1, "7203": 1}
    heads = {vt: head for vt, _, _, head in sent}
    assert heads["2206"]["ReportDate"] == "20260331" and heads["3501"]["EndDate"] == "20260331"
    assert {h["PayAmt"] for vt, h in heads.items() if vt not in ("7103", "7203")} == {"2000.00"}
    # each once: the next morning only 1 April's (nil) daily report
    assert [vt for vt, *_ in _sent(bank.on_time(_t("09:30", dt.date(2026, 4, 2))))] == ["2206"]


def _clearing_answer(data: bytes, cleared: bool) -> VoucherDoc:
    from messages.voucher import fill_receipt

    doc = parse_voucher(data)
    return parse_voucher(fill_receipt(doc, {"XClearDate": "20260310", "XPbocSerialNo": "RH0001",
                                            "XClearAmt": doc.get("PayAmt") if cleared else "0.00"}))


def test_a_refusal_over_the_quota_is_held_not_split_and_an_urgent_request_takes_it_along() -> None:
    # 004 part 3 第四条 (the reserve is for payments past the clearing time), §8(7) (16:30 is the
    # urgent request's as a whole)
    bank = _bank()
    bank.on_delivery(_pay("H1", 500_00), 0, None, _t("10:00"))
    for when in ("15:30", "15:59:59.999999"):
        [(data, _, _)] = [s for s in bank.on_time(_t(when)) if parse_voucher(s[0]).vtcode == "2301"]
        assert parse_voucher(data).get("PayAmt") == "500.00"  # the same payment again, never split
        assert bank.on_delivery(_clearing_answer(data, False), 1, "over-quota: PayAmt 500.00 exceeds", _t(when)) == []
    sent = bank.on_delivery(_pay("G1", 400_00, UrgentFlag="1"), 0, None, _t("16:10"))
    [urgent] = [head for vt, _, _, head in _sent(sent) if vt == "2301"]
    assert (urgent["UrgentFlag"], urgent["PayAmt"]) == ("1", "900.00")
    [(data, _, _)] = [s for s in sent if parse_voucher(s[0]).vtcode == "2301"]
    bank.on_delivery(_clearing_answer(data, True), 1, None, _t("16:11"))
    assert [vt for vt, _, _, _ in _sent(bank.on_time(_t("17:00")))] == []  # no 7202: the reserve paid nothing


# ------------------------------------------------------------------ rules an outsider implements from docs/rules.md


@pytest.mark.parametrize(("payee", "returned"), [
    ("9999000000000101", True),   # the unit's own real-fund account
    ("9999000000000109", True),   # its old account, replaced by ...0101
    ("9999000000000201", True),   # another unit of its system (the same first-level unit)
    ("9999000000000301", True),   # its superior
    ("9999000000000901", False),  # approved by the finance bureau (union fees)
    ("9999000000000401", False),  # another system's unit
    ("9999000000000001", False),  # a customer, no unit's account
])
def test_the_own_account_rule_returns_a_payment_to_the_units_system(payee: str, returned: bool) -> None:
    # 003 §15, 004 part 3 §12(1): docs/rules.md "Returned before payment", the world's own_account_rule
    bank = _bank()
    [(vt, flag, reason, head)] = _sent(bank.on_delivery(
        _pay("O1", 100_00, AgencyCode="101001", SupDepCode="101", PayeeAcctBankNo="999100000002", PayeeAcctNo=payee),
        0, None, _t("10:00")))
    assert (vt, flag) == ("5201", 1)
    assert (reason or "").startswith("zba-to-own-account:") is returned
    assert head["XPayAmt"] == ("0.00" if returned else "100.00")


def test_a_unit_outside_the_tree_hangs_under_its_supdep_and_the_payee_name_decides_nothing() -> None:
    bank = _bank()
    own = bank.own_accounts
    assert own.refuse("101777", "101", "9999000000000201") is not None  # under 101 through its SupDepCode
    assert own.refuse("104001", "104", "9999000000000201") is None
    assert own.refuse("101900", "101", "9999000000000901") is None  # approved for any payer
    [(_, _, reason, _)] = _sent(bank.on_delivery(
        _pay("O2", 100_00, PayeeAcctName=_pay("X", 1).get("AgencyName")), 0, None, _t("10:00")))
    assert reason is None


def test_the_daily_report_counts_what_was_cleared_and_a_quiet_day_gets_a_nil_one() -> None:
    # 004 part 5 §2: the 2206 is made from the cleared clearing requests; 004 part 3 §10(2): every day
    bank = _bank()
    wed, thu, fri = (dt.date(2026, 3, d) for d in (11, 12, 13))
    bank.on_delivery(_pay("C1", 500_00), 0, None, _t("10:00"))
    [(data, _, _)] = [s for s in bank.on_time(_t("15:30")) if parse_voucher(s[0]).vtcode == "2301"]
    bank.on_delivery(_clearing_answer(data, True), 1, None, _t("15:31"))
    bank.on_delivery(_pay("C2", 70_00), 0, None, _t("16:10"))  # advanced: cleared by Wednesday's replenishment
    bank.on_time(_t("17:00"))
    [(data, _, _)] = bank.on_time(_t("09:00", wed))  # the replenishment, ClearType 1
    assert parse_voucher(data).get("ClearType") == "1"
    bank.on_delivery(_clearing_answer(data, True), 1, None, _t("09:01", wed))
    reports: dict[str, tuple[str, int]] = {}
    for day in (wed, thu, fri):
        out = bank.on_time(_t("11:00", day))
        _sent(out)  # each passes the gateway's checks
        for doc in (parse_voucher(d) for d, _, _ in out):
            if doc.vtcode == "2206":
                reports[doc.get("ReportDate")] = (doc.get("PayAmt"), len(doc.details()))
    assert reports == {"20260310": ("500.00", 1), "20260311": ("70.00", 1), "20260312": ("0.00", 0)}


def test_the_reserve_statement_of_the_month_lists_each_advance_and_replenishment() -> None:
    # 004 part 3 §10(3): the clearing reserve account statement (7203), monthly
    bank = _bank()
    mon, tue, wed = dt.date(2026, 3, 30), dt.date(2026, 3, 31), dt.date(2026, 4, 1)
    bank.on_time(_t("08:00", mon))
    bank.on_delivery(_pay("A1", 300_00, day=mon), 0, None, _t("16:30", mon))
    [(_, _, _, lst)] = _sent(bank.on_time(_t("17:00", mon)))
    [(data, _, _)] = bank.on_time(_t("09:00", tue))
    bank.on_delivery(_clearing_answer(data, True), 1, None, _t("09:01", tue))
    bank.on_delivery(_pay("A2", 450_25, day=tue), 0, None, _t("16:30", tue))
    [(_, _, _, head)] = [x for x in _sent(bank.on_time(_t("09:30", wed))) if x[0] == "7203"]
    assert (lst["PayAmt"], head["BeginDate"], head["EndDate"]) == ("300.00", "20260301", "20260331")
    assert (head["BeginBalance"], head["CreditAmt"], head["DebitAmt"], head["EndBalance"]) == (
        "0.00", "20000300.00", "750.25", "19999549.75")
    [statement] = [parse_voucher(d) for d, _, _ in bank.on_time(_t("09:30", dt.date(2026, 5, 6)))
                   if parse_voucher(d).vtcode == "7203" and parse_voucher(d).get("BeginDate") == "20260401"]
    assert statement.get("BeginBalance") == "19999549.75"  # April: the last statement's closing balance


def test_the_bank_waits_after_the_last_instant_before_its_next_scheduled_action() -> None:
    """What the bank says it has done everything due up to (it waits on the clock after it, so a
    conformance runner need not stop the clock before): any move until its books first saw time
    pass, then the last instant before the next thing its schedule does, over days off."""
    bank = _bank()  # its books saw 08:00 only
    assert bank.done_up_to() is None
    bank.on_time(_t("08:10"))
    assert bank.done_up_to() == _t("08:45") - dt.timedelta(microseconds=1)  # the replenishment request
    bank.on_time(_t("15:30"))
    assert bank.done_up_to() == _t("16:00") - 2 * dt.timedelta(microseconds=1)  # the sweep, just before 16:00
    bank.on_time(_t("17:00", dt.date(2026, 3, 13)))  # Friday's close
    assert bank.done_up_to() == _t("08:45", dt.date(2026, 3, 16)) - dt.timedelta(microseconds=1)  # Monday
    late = sdk.Bank("bank-a", CODE, "示例银行", 20_000_000_00, late_receipts=True)
    late.on_time(_t("08:00"))
    late.on_time(_t("10:00"))
    assert late.done_up_to() == _t("11:30") - dt.timedelta(microseconds=1)  # --late-receipts: held ones go then
