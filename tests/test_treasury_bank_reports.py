"""What the treasury does with a bank's refund notices and statements (treasury_sim.bank_reports):
a same-year refund restores the unit's quota, an earlier year's becomes a cross-year refund line
(003 §36); the same notice twice counts once; a 3501 is signed off agreed or not."""

from __future__ import annotations

import datetime as dt

from bank_sim import reports as rp
from bank_sim.refunds import notice
from business_time.clock import at
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import SendVoucher
from treasury_sim.bank_reports import BankInbox

BANK = ("999100000001", "示例银行甲分行")
PAYEE = {"VouDate": "20260310", "AgencyCode": "101001", "AgencyName": "示例市第一中学",
         "PayeeAcctNo": "99990000000001234", "PayeeAcctName": "测试供应商有限公司",
         "PayeeAcctBankName": "示例银行城东支行", "PayeeAcctBankNo": "999100000027",
         "PayAcctNo": "99901000000000018", "PayAcctName": "示例市财政局零余额账户"}
DETAILS = [{"AgencyCode": "101001", "ExpFuncCode": "2050203", "ExpFuncName": "初中教育", "ExpEcoCode": "30213",
            "ExpEcoName": "维修（护）费", "PayAmt": "3456.78"}]


def refund_notice(no: str, ori_vou_date: str, today: dt.date, ori_vtcode: str = "5201") -> VoucherDoc:
    vtcode, head, details = notice(no=no, today=today, adm_div_code="990100", bank_code=BANK[0], bank_name=BANK[1],
                                   vtcode=ori_vtcode, ori_no="ZZ2026031000001", paid_day=dt.date(2026, 3, 10),
                                   fund_type=("1", "一般公共预算资金"), payee={**PAYEE, "VouDate": ori_vou_date},
                                   details=DETAILS, reason="account-closed", serial="YH1", amount_fen=3456_78)
    return parse_voucher(SendVoucher(vtcode, 0, head, details, "treasury").render())


def never(bank: str, begin: str, end: str) -> int:
    return 0


def test_a_same_year_refund_restores_the_unit_s_quota_once() -> None:
    inbox = BankInbox()
    now = at(dt.date(2026, 3, 11), dt.time(10, 0))
    doc = refund_notice("TP1", "20260310", now.date())
    assert inbox.on_voucher(doc, now, never, lambda _: ("", "")) == []
    assert inbox.on_voucher(doc, now, never, lambda _: ("", "")) == []  # delivered again: counted once
    assert inbox.quota_restored == {"101001/2026": 3456_78} and inbox.cross_year_refunds == {}


def test_an_authorized_refund_notice_7105_restores_the_unit_s_quota() -> None:
    """004 part 3 §9(9): the authorized refund notice is its own document (7105), valid against its
    XSD, naming the unit; the treasury restores that unit's quota on it (sent once cleared)."""
    inbox = BankInbox()
    now = at(dt.date(2026, 3, 11), dt.time(10, 0))
    doc = refund_notice("TP3", "20260310", now.date(), ori_vtcode="8202")
    assert (doc.vtcode, doc.get("PayTypeCode"), doc.get("AgencyCode")) == ("7105", "12", "101001")
    assert inbox.on_voucher(doc, now, never, lambda _: ("someone-else", "")) == []
    assert inbox.quota_restored == {"101001/2026": 3456_78}


def test_an_earlier_year_s_refund_is_a_cross_year_line() -> None:
    inbox = BankInbox()
    now = at(dt.date(2026, 3, 11), dt.time(10, 0))
    inbox.on_voucher(refund_notice("TP2", "20251230", now.date()), now, never, lambda _: ("", ""))
    assert inbox.quota_restored == {} and inbox.cross_year_refunds == {"101001/2025": 3456_78}


def test_a_statement_is_signed_off_agreed_or_not() -> None:
    line: rp.Line = ("11", "1", "一般公共预算资金", "101", "示例市教育局", "101001", "示例市第一中学", "2050203", "初中教育",
                   "99010026A0000", "示例通用项目")
    head, details = rp.monthly_statement("DZ0001202603", "202603", dt.date(2026, 4, 1), "990100", BANK,
                                         {line: 1000_00})
    doc = parse_voucher(SendVoucher("3501", 0, head, details, "treasury").render())
    now = at(dt.date(2026, 4, 1), dt.time(9, 30))
    [agreed] = BankInbox().on_voucher(doc, now, lambda bank, b, e: 1000_00, lambda _: ("", ""))
    assert isinstance(agreed, SendVoucher) and agreed.flag == 1 and agreed.head["XCheckResult"] == "0"
    inbox = BankInbox()
    [disagreed] = inbox.on_voucher(doc, now, lambda bank, b, e: 999_00, lambda _: ("", ""))
    assert isinstance(disagreed, SendVoucher) and disagreed.head["XCheckResult"] == "1"
    assert inbox.sign_offs["990100/2026/3501/DZ0001202603"] == "1: statement 1000.00, receipts less refunds 999.00"


def test_a_statement_net_of_a_refund_noticed_that_month_agrees() -> None:
    """Issue 16 rule 8: the bank's statement is net of refunds (004 part 5 §2); the treasury
    takes off the refunds it was noticed in the month (before: it compared with receipts only)."""
    signed = signed_off_after_a_refund("TP3", "20260310", paid_fen=5000_00)
    assert signed.head["XCheckResult"] == "0"


def signed_off_after_a_refund(no: str, ori_vou_date: str, *, paid_fen: int) -> SendVoucher:
    """The treasury's sign-off of March's 3501 stating `paid_fen` less one 3,456.78 refund noticed
    on 20 March, when the bank's receipts of the month paid `paid_fen`."""
    inbox = BankInbox()
    inbox.on_voucher(refund_notice(no, ori_vou_date, dt.date(2026, 3, 20)), at(dt.date(2026, 3, 20), dt.time(10)),
                     never, lambda _: ("", ""))
    line: rp.Line = ("11", "1", "一般公共预算资金", "101", "示例市教育局", "101001", "示例市第一中学", "2050203", "初中教育",
                     "", "")
    head, details = rp.monthly_statement(f"DZ{no}202603", "202603", dt.date(2026, 4, 1), "990100", BANK,
                                         {line: paid_fen - 3456_78})
    doc = parse_voucher(SendVoucher("3501", 0, head, details, "treasury").render())
    [signed] = inbox.on_voucher(doc, at(dt.date(2026, 4, 1), dt.time(9, 30)), lambda bank, b, e: paid_fen,
                                lambda _: ("", ""))
    assert isinstance(signed, SendVoucher)
    return signed


def test_a_credit_notice_is_answered_alike_each_time_and_not_kept_a_refund_notice_still_once() -> None:
    """A credit notice (7103) changes nothing at the treasury: each delivery is answered alike
    (nothing) and none is kept in `received` (one a direct payment); a refund notice still counts
    once however often delivered."""
    inbox = BankInbox()
    now = at(dt.date(2026, 3, 11), dt.time(10, 0))
    head = {"Id": "V7103RZ1", "AdmDivCode": "990100", "StYear": "2026", "VouDate": "20260311", "VoucherNo": "RZZZ1",
            "PayAmt": "1.00"}
    credit = parse_voucher(SendVoucher("7103", 0, head, (), "treasury").render())
    assert [inbox.on_voucher(credit, now, never, lambda _: ("", "")) for _ in range(2)] == [[], []]
    assert inbox.received == {} and inbox.quota_restored == {}
    refund = refund_notice("TP9", "20260310", now.date())
    for _ in range(2):
        assert inbox.on_voucher(refund, now, never, lambda _: ("", "")) == []
    assert len(inbox.received) == 1 and inbox.quota_restored == {"101001/2026": 3456_78}


def test_a_month_with_more_refunded_than_paid_is_signed_off_negative() -> None:
    """A 3501 is net of refunds (004 part 5 §2): a month whose refunds of an earlier month's
    payment exceed what it paid states a negative PayAmt, which the gateway admits (3501 is net);
    the treasury signs it off like any other (before: its parse refused the sign, no sign-off)."""
    signed = signed_off_after_a_refund("TP4", "20260227", paid_fen=1000_00)
    assert signed.head["XCheckResult"] == "0"
