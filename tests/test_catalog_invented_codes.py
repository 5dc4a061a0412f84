"""Issue 16 rule 11: the invented VtCodes name the seed's real documents, and the project's own
X-field XArriveDate is marked as such, with its reason, in the catalog (not passed off as a
field of the real systems)."""

from __future__ import annotations

from messages.catalog import get_catalog


def test_7202_names_the_reserve_transfer_detail_list() -> None:
    e = get_catalog().get("7202")
    assert e.name_zh == "清算备用金账户划款明细单"  # 004 part 3 §9(12)
    assert e.name_en == "clearing reserve account transfer detail list"
    assert e.code_source == "invented" and "§9(12)" in e.note and "备案" in e.note


def test_7103_names_the_direct_payment_credit_notice() -> None:
    e = get_catalog().get("7103")
    assert e.name_zh == "财政资金直接支付入账通知书"  # 004 part 3 §8(9)
    assert e.name_en == "direct payment credit notice (finance funds)"
    assert e.code_source == "invented" and "§8(9)" in e.note


def test_xarrivedate_is_marked_project_own_with_its_reason() -> None:
    cat = get_catalog()
    for vtcode in ("5201", "8202"):
        note = " ".join(cat.get(vtcode).note.split())
        assert "XArriveDate" in note and "project's own" in note, vtcode
    assert "deadlines" in cat.get("5201").note and "§8(3)" in cat.get("5201").note


def test_the_procurement_elements_are_marked_project_own_with_the_articles() -> None:
    note = " ".join(get_catalog().get("5201").note.split())
    for name in ("ProcureFlag", "ContractNo", "SupplierAcctNo", "SupplierName", "AcceptDocNo", "AcceptDate"):
        assert name in note, name
    assert "the project's own elements" in note and "003 §28" in note and "004 part 4 §13" in note
    assert "procurement-documents-missing" in note


def test_the_cash_and_card_elements_are_marked_project_own_and_7701_names_the_card_bank_s_report() -> None:
    cat = get_catalog()
    note = " ".join(cat.get("8202").note.split())
    for element in ("CashFlag", "CashPurposeCode", "CardRepayFlag", "CardNo", "CardHolderName"):
        assert element in note, element
    assert "project's own elements" in note and "§5" in note and "003 §30" in note
    e = cat.get("7701")
    assert e.name_zh == "公务卡还款划款明细" and e.name_en == "official-card repayment transfer detail"
    assert e.code_source == "invented" and "二(二)3" in e.note and "零余额账户向公务卡账户的划款信息" in e.note
    assert (e.sender, e.recipient, e.has_receipt) == ("bank", "treasury", False)
