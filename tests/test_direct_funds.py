"""Direct funds (直达资金, 001 二(三), 三(二); 002 二(一), 二(四)3): tagged on the quota line, carried on
the payment, totalled on their own in the bank's reports, checked by the treasury
(docs/payment-kinds.md). Both directions: a wrong total is caught, a correct bank whose lines
come in another order passes."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import quotas
from bank_sim import reports as rp
from business_time.clock import at
from messages.business import business_issues, direct_fund_fen
from messages.catalog import get_catalog
from messages.errors import CODES as ERROR_CODES
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import SendVoucher
from treasury_sim.bank_reports import BankInbox
from treasury_sim.config import TreasuryConfig
from treasury_sim.planning import plan_day

BANK = ("999100000001", "示例银行甲分行")
YEAR, FUND, UNIT, SUBJECT = "2026", "1", "101001", "2050202"

ADM = "990100"  # messages.factory.ADM_DIV_CODE: the configured division


def _line(project: str, direct: bool) -> rp.Line:
    return ("12", FUND, "一般公共预算资金", "101", "示例市教育局", UNIT, "示例市第一中学", SUBJECT, "小学教育",
            project, f"项目{project}", "1" if direct else "")


def _doc(head: dict[str, str], details: tuple[dict[str, str], ...], vtcode: str) -> VoucherDoc:
    return parse_voucher(SendVoucher(vtcode, 0, head, details, "treasury").render())


# --- the quota line's mark and the rule at the bank ------------------------------------------------

_PROJECTS = ("P1", "P2", "P3")


@settings(max_examples=200, deadline=None)
@given(lines=st.dictionaries(st.sampled_from(_PROJECTS), st.tuples(st.booleans(), st.integers(0, 5_000_00)),
                             min_size=1),
       asks=st.lists(st.tuples(st.sampled_from((*_PROJECTS, "")), st.booleans(), st.integers(1, 3_000_00)),
                     min_size=1, max_size=4))
def test_direct_funds_draw_only_on_direct_lines_and_other_money_never_on_them(
        lines: dict[str, tuple[bool, int]], asks: list[tuple[str, bool, int]]) -> None:
    book: dict[quotas.LineKey, quotas.QuotaLine] = {}
    granted = [((ADM, YEAR, FUND, UNIT, SUBJECT, p), ("示例市第一中学", "小学教育", p), fen) for p, (_, fen) in lines.items()]
    direct = {(ADM, YEAR, FUND, UNIT, SUBJECT, p) for p, (d, _) in lines.items() if d}
    assert quotas.grant(book, "ED1", granted, direct) is None
    details = [{"AgencyCode": UNIT, "ExpFuncCode": SUBJECT, "ProCode": p, "PayAmt": f"{fen / 100:.2f}",
                **({"DirectFundFlag": "1"} if d else {})} for p, d, fen in asks]
    taken = quotas.draw(book, UNIT, details, YEAR, FUND, ADM)

    def same_kind(project: str, want_direct: bool) -> bool:
        return any(lines[p][0] == want_direct for p in lines if not project or p == project)

    def exists(project: str) -> bool:
        return not project or project in lines

    # the first detail that breaks a rule decides, as `draw` goes detail by detail
    mismatched = next((i for i, (p, d, _) in enumerate(asks) if exists(p) and not same_kind(p, d)), None)
    missing = next((i for i, (p, _, _) in enumerate(asks) if not exists(p)), None)
    if isinstance(taken, quotas.Shortfall):
        assert taken.code in ("direct-funds-mismatch", "no-unit-quota", "over-unit-quota")
        if taken.code == "direct-funds-mismatch":
            assert mismatched is not None and (missing is None or mismatched < missing)
            assert "DirectFundFlag" in taken.message
    else:
        assert mismatched is None and missing is None
        for key, fen in taken.items():  # every fen drawn came from a line of the payment's own kind
            assert fen > 0
            kinds = {d for p, d, _ in asks if not p or p == key[5]}
            assert book[key].direct in kinds
            assert fen <= book[key].remaining_fen
        assert sum(taken.values()) == sum(fen for _, _, fen in asks)


def test_a_notice_marking_a_held_line_otherwise_is_refused_whole() -> None:
    book: dict[quotas.LineKey, quotas.QuotaLine] = {}
    key = (ADM, YEAR, FUND, UNIT, SUBJECT, "ZD1")
    assert quotas.grant(book, "ED1", [(key, ("u", "s", "p"), 100_00)], {key}) is None
    refused = quotas.grant(book, "ED2", [(key, ("u", "s", "p"), 50_00)])
    assert refused is not None and "DirectFundFlag 0" in refused and "as direct funds" in refused
    assert book[key].granted_fen == 100_00 and book[key].direct  # nothing changed
    assert quotas.grant(book, "ED3", [(key, ("u", "s", "p"), 50_00)], {key}) is None
    assert book[key].granted_fen == 150_00


def test_a_carried_direct_line_stays_direct() -> None:
    book: dict[quotas.LineKey, quotas.QuotaLine] = {}
    key = (ADM, "2025", FUND, UNIT, SUBJECT, "ZD1")
    quotas.grant(book, "ED1", [(key, ("u", "s", "p"), 100_00)], {key})
    assert quotas.carry(book, "JZ1", "2026", [(key, ("u", "s", "p"), 100_00)]) is None
    assert book[(ADM, "2026", FUND, UNIT, SUBJECT, "ZD1")].direct


def test_the_refusal_code_is_registered_and_names_the_element() -> None:
    assert "DirectFundFlag" in ERROR_CODES["direct-funds-mismatch"]
    assert "DirectFundAmt" in ERROR_CODES["direct-funds-sum-mismatch"]


# --- the bank's reports ------------------------------------------------------------------------------

def test_reports_put_direct_funds_on_lines_of_their_own_and_total_them() -> None:
    lines = {_line("A", False): 300_00, _line("ZD", True): 1200_00, _line("A", True): 5_00}
    for head, details in (rp.daily_report("RB1", dt.date(2026, 3, 30), dt.date(2026, 3, 31), "990100", BANK, lines),
                          rp.monthly_report("YB1", "202603", dt.date(2026, 4, 1), "990100", BANK, lines),
                          rp.monthly_statement("DZ1", "202603", dt.date(2026, 4, 1), "990100", BANK, lines)):
        assert head["PayAmt"] == "1505.00" and head["DirectFundAmt"] == "1205.00"
        assert len(details) == 3  # project A: a direct line and an ordinary one
        assert sorted(d.get("DirectFundFlag", "") for d in details) == ["", "1", "1"]
        assert direct_fund_fen(details) == 1205_00


def test_a_report_without_direct_funds_is_as_before() -> None:
    head, details = rp.daily_report("RB1", dt.date(2026, 3, 30), dt.date(2026, 3, 31), "990100", BANK,
                                    {_line("A", False): 300_00})
    assert "DirectFundAmt" not in head and all("DirectFundFlag" not in d for d in details)
    old_style = _line("A", False)[:11]  # a line kept before direct funds (11 parts): not direct
    head2, details2 = rp.daily_report("RB1", dt.date(2026, 3, 30), dt.date(2026, 3, 31), "990100", BANK,
                                      {old_style: 300_00})  # type: ignore[dict-item]
    assert (head2, details2) == (head, details)


# --- the gateway: the head's total is its own lines' ----------------------------------------------

def _statement(direct_amt: str | None, details: list[dict[str, str]]) -> VoucherDoc:
    total = sum(int(d["PayAmt"].replace(".", "")) for d in details)
    head = {"Id": "V3501DZ1", "AdmDivCode": "990100", "StYear": "2026", "VtCode": "3501", "VouDate": "20260401",
            "VoucherNo": "DZ1", "BeginDate": "20260301", "EndDate": "20260331", "PayBankCode": BANK[0],
            "PayBankName": BANK[1], "PayAmt": f"{total / 100:.2f}",
            **({"DirectFundAmt": direct_amt} if direct_amt is not None else {})}
    return parse_voucher(build_voucher("3501", head, details))


_ROWS = [{"Id": "D00001", "AgencyCode": UNIT, "AgencyName": "示例市第一中学", "PayTypeCode": "12", "FundTypeCode": "1",
          "FundTypeName": "一般公共预算资金", "ExpFuncCode": SUBJECT, "ExpFuncName": "小学教育", "PayAmt": "300.00"},
         {"Id": "D00002", "AgencyCode": UNIT, "AgencyName": "示例市第一中学", "PayTypeCode": "12", "FundTypeCode": "1",
          "FundTypeName": "一般公共预算资金", "ExpFuncCode": SUBJECT, "ExpFuncName": "小学教育",
          "DirectFundFlag": "1", "PayAmt": "1200.00"}]


def test_the_gateway_refuses_a_direct_funds_total_its_lines_do_not_make() -> None:
    vt = get_catalog().get("3501")
    for wrong in ("1500.00", "0.00", None):  # the whole, nothing, left out while a line is marked
        issues = [i for i in business_issues(_statement(wrong, _ROWS), vt, 0) if i.code == "direct-funds-sum-mismatch"]
        assert len(issues) == 1 and issues[0].path == "/Voucher/DirectFundAmt", wrong
    assert not business_issues(_statement("1200.00", _ROWS), vt, 0)
    assert not business_issues(_statement("1200.00", list(reversed(_ROWS))), vt, 0)  # lines in another order
    plain = [dict(_ROWS[0])]
    assert not business_issues(_statement(None, plain), vt, 0)  # no direct funds, no total: as before
    assert business_issues(_statement("0.01", plain), vt, 0)[0].code == "direct-funds-sum-mismatch"


# --- the treasury: the totals are what it sent ----------------------------------------------------

def _sign(doc: VoucherDoc, paid_fen: int, direct_fen: int) -> tuple[BankInbox, SendVoucher]:
    inbox = BankInbox()
    [receipt] = inbox.on_voucher(doc, at(dt.date(2026, 4, 1), dt.time(9, 30)), lambda b, s, e: paid_fen,
                                 lambda _: ("", ""), lambda b, s, e: direct_fen)
    assert isinstance(receipt, SendVoucher) and receipt.flag == 1
    return inbox, receipt


def test_the_treasury_signs_off_a_statement_whose_direct_funds_are_what_it_paid() -> None:
    _, receipt = _sign(_statement("1200.00", _ROWS), 1500_00, 1200_00)
    assert receipt.head["XCheckResult"] == "0"


def test_a_correct_bank_listing_its_lines_in_another_order_is_signed_off() -> None:
    rows = [dict(r) for r in _ROWS]
    random.Random(7).shuffle(rows)
    for i, r in enumerate(reversed(rows), start=1):
        r["Id"] = f"X{i}"
    _, receipt = _sign(_statement("1200.00", list(reversed(rows))), 1500_00, 1200_00)
    assert receipt.head["XCheckResult"] == "0"


def test_a_statement_with_the_wrong_direct_funds_total_is_a_break() -> None:
    """The bank marked its ordinary line direct too: its head agrees with its lines (the gateway lets
    it through), the whole agrees with the receipts, but not the direct funds the treasury paid."""
    rows = [{**r, "DirectFundFlag": "1"} for r in _ROWS]
    inbox, receipt = _sign(_statement("1500.00", rows), 1500_00, 1200_00)
    assert receipt.head["XCheckResult"] == "1"
    assert receipt.head["XCheckRemark"] == ("DirectFundAmt 1500.00, direct funds the receipts paid less refunds "
                                            "1200.00")
    [(key, result)] = inbox.sign_offs.items()
    assert key.endswith("/3501/DZ1") and result.startswith("1: DirectFundAmt 1500.00")
    # and a bank that leaves direct funds out altogether
    _, receipt = _sign(_statement(None, [{k: v for k, v in r.items() if k != "DirectFundFlag"} for r in _ROWS]),
                       1500_00, 1200_00)
    assert receipt.head["XCheckResult"] == "1" and "DirectFundAmt 0.00" in receipt.head["XCheckRemark"]


def test_a_direct_funds_refund_comes_off_the_direct_funds_expected() -> None:
    from bank_sim.refunds import notice

    inbox = BankInbox()
    vtcode, head, details = notice(
        no="TP1", today=dt.date(2026, 3, 20), adm_div_code="990100", bank_code=BANK[0], bank_name=BANK[1],
        vtcode="8202", ori_no="SQ1", paid_day=dt.date(2026, 3, 10), fund_type=("1", "一般公共预算资金"),
        payee={"VouDate": "20260310", "AgencyCode": UNIT, "AgencyName": "示例市第一中学", "PayeeAcctNo": "9999000001",
               "PayeeAcctName": "测试供应商有限公司", "PayeeAcctBankName": "示例银行城东支行",
               "PayAcctNo": "9991000001", "PayAcctName": "示例市第一中学零余额账户"},
        details=[{"AgencyCode": UNIT, "ExpFuncCode": SUBJECT, "ExpFuncName": "小学教育", "ExpEcoCode": "30299",
                  "ExpEcoName": "其他商品和服务支出", "DirectFundFlag": "1", "PayAmt": "200.00"}],
        reason="account-closed", serial="YH1", amount_fen=200_00)
    refund = _doc(head, details, vtcode)
    assert refund.details()[0]["DirectFundFlag"] == "1"  # the refund notice marks the refunded direct line
    inbox.on_voucher(refund, at(dt.date(2026, 3, 20), dt.time(10)), lambda b, s, e: 0, lambda _: ("", ""))
    assert inbox.direct_refunded(BANK[0], "20260301", "20260331", "990100") == 200_00
    rows = [dict(_ROWS[0]), {**_ROWS[1], "PayAmt": "1000.00"}]
    [receipt] = inbox.on_voucher(_statement("1000.00", rows), at(dt.date(2026, 4, 1), dt.time(9, 30)),
                                 lambda b, s, e: 1500_00, lambda _: ("", ""), lambda b, s, e: 1200_00)
    assert isinstance(receipt, SendVoucher) and receipt.head["XCheckResult"] == "0"


# --- the treasury's generated plan --------------------------------------------------------------------

def test_a_generated_plan_tags_direct_payments_and_its_5108_totals_them() -> None:
    from business_time.clock import ClockConfig

    day = dt.date(2026, 3, 10)
    plain = plan_day(TreasuryConfig(vouchers_per_day=60), ClockConfig(), day)
    tagged = plan_day(TreasuryConfig(vouchers_per_day=60, direct_share_pct=30), ClockConfig(), day)
    # the same plan otherwise: tagging draws nothing from the plan's generator
    assert [(v.voucher_no, v.amount_fen, v.send_at) for v in plain.vouchers] == \
        [(v.voucher_no, v.amount_fen, v.send_at) for v in tagged.vouchers]
    direct = [v for v in tagged.vouchers if v.direct]
    assert direct and all(v.vtcode == "5201" for v in direct) and not any(v.direct for v in plain.vouchers)
    for v in direct[:3]:
        assert direct_fund_fen(v.doc.details()) == v.amount_fen
    stated = {n.head["PayBankCode"]: n.head.get("DirectFundAmt") for n in tagged.quota_notices if n.vtcode == "5108"}
    for bank, amt in stated.items():
        want = sum(v.amount_fen for v in direct if v.bank == bank)
        assert amt == (f"{want / 100:.2f}" if want else None)
    assert all("DirectFundAmt" not in n.head for n in plain.quota_notices)


# --- the catalog says which elements are the project's own --------------------------------------------

def test_the_catalog_marks_the_direct_funds_elements_as_the_project_s_own() -> None:
    cat = get_catalog()
    for vtcode in ("7101", "5201", "8202", "2206", "4004", "3501", "2203", "7105"):
        note = " ".join(cat.get(vtcode).note.split())
        assert "DirectFundFlag" in note and "project's own" in note, vtcode
    for vtcode in ("2206", "4004", "3501", "5108", "5106"):
        assert "DirectFundAmt" in " ".join(cat.get(vtcode).note.split()), vtcode
