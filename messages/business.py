"""Checks XSD 1.0 cannot express: real dates, StYear, detail sums, receipt X-fields, an urgent
payment's approval, a procurement payment's documents, a report's direct funds total."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from lxml import etree

from messages.catalog import RETURN_REASON_FIELD, VoucherType
from messages.dates import parse_ymd
from messages.errors import InputError, Issue
from messages.money import fen_to_str, parse_fen
from messages.schema import element_order
from messages.voucher import VoucherDoc

__all__ = ["DIRECT_FUND_REPORTS", "NET_AMOUNT_VTCODES", "business_issues", "direct_fund_fen"]


@cache
def _date_finder(xsd_name: str) -> etree.XPath | None:
    """One compiled XPath selecting every element named *Date in the type's schema."""
    head, detail = element_order(xsd_name)
    paths = [*(n for n in head if n.endswith("Date")),
             *(f"DetailList/Detail/{n}" for n in detail if n.endswith("Date"))]
    return etree.XPath("|".join(paths)) if paths else None


def _date_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    finder = _date_finder(vt.xsd)
    issues: list[Issue] = []
    for elem in finder(doc.root) if finder is not None else ():
        text = (elem.text or "").strip()
        if len(text) != 8 or not text.isdigit():
            continue  # empty X-fields are allowed on originals; patterns are the XSD's job
        if parse_ymd(text) is None:
            issues.append(Issue("bad-date", f"{elem.tag} {text!r} is not a real calendar date",
                                elem.sourceline, elem.getroottree().getpath(elem)))
    return issues


def _styear_issues(doc: VoucherDoc) -> list[Issue]:
    st_year, vou_date = doc.get("StYear"), doc.get("VouDate")
    if len(vou_date) == 8 and st_year != vou_date[:4]:
        elem = doc.root.find("StYear")
        return [Issue("styear-mismatch", f"StYear {st_year} but VouDate {vou_date} is in {vou_date[:4]}",
                      elem.sourceline if elem is not None else None, "/Voucher/StYear")]
    return []


# Net amounts, where a minus is a refund or a correction netted in: a correction moves money from
# one line to another, reports, statements and reconciliations are net of refunds. Every other
# voucher (a payment, a quota, a clearing or refund request, the notices of them) states money that
# moves one way: a negative amount there is refused (`bad-amount`), never handed to a participant.
NET_AMOUNT_VTCODES = frozenset({"5253", "2206", "4004", "3501", "7104", "7203", "3502", "7401", "7602"})


@cache
def _head_amounts(xsd_name: str, amount_field: str | None) -> tuple[str, ...]:
    """The head's amount elements (every element named *Amt is one) other than `amount_field`,
    whose sign `_sum_issues` checks as it adds the details up."""
    return tuple(n for n in element_order(xsd_name)[0] if n.endswith("Amt") and n != amount_field)


def _sign_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    if vt.vtcode in NET_AMOUNT_VTCODES:
        return []
    for name in _head_amounts(vt.xsd, vt.amount_field):
        text = doc.get(name)
        if text.startswith("-"):
            elem = doc.root.find(name)
            return [Issue("bad-amount", f"{name} {text}: a {vt.vtcode} ({vt.name_en}) states money that moves "
                          "one way and has no negative amount", elem.sourceline if elem is not None else None,
                          f"/Voucher/{name}")]
    return []


def _sum_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    if vt.amount_field is None or vt.detail_amount_field is None:
        return []
    signed = vt.vtcode in NET_AMOUNT_VTCODES
    # No Detail adds up to 0.00: where the schema lets the list be absent (a quiet day's 7401 or
    # 3502), the head amount must then be zero too; elsewhere the XSD already demands details.
    details = doc.root.findall("DetailList/Detail")
    head_elem = doc.root.find(vt.amount_field)
    detail = None  # the line being read when an amount is refused, for the issue's line number
    try:
        head_fen = parse_fen((head_elem.text or "").strip() if head_elem is not None else "",
                             path=f"/Voucher/{vt.amount_field}", allow_negative=signed)
        total = 0
        for index, detail in enumerate(details, start=1):
            total += parse_fen((detail.findtext(vt.detail_amount_field) or "").strip(),
                               path=f"/Voucher/DetailList/Detail[{index}]/{vt.detail_amount_field}",
                               allow_negative=signed)
    except InputError as exc:
        at = head_elem if detail is None else detail.find(vt.detail_amount_field)
        line = at.sourceline if at is not None else None
        return [Issue(i.code, i.message, line, i.path) for i in exc.issues]
    if total != head_fen:
        return [Issue("detail-sum-mismatch",
                      f"the {len(details)} Detail/{vt.detail_amount_field} add up to "
                      f"{fen_to_str(total)}, but {vt.amount_field} is {fen_to_str(head_fen)}",
                      head_elem.sourceline if head_elem is not None else None,
                      f"/Voucher/{vt.amount_field}")]
    return []


def _receipt_issues(doc: VoucherDoc, vt: VoucherType, flag: int) -> list[Issue]:
    if flag == 1 and not vt.has_receipt:
        return [Issue("receipt-not-allowed", f"VtCode {vt.vtcode} ({vt.name_en}) has no receipt",
                      None, "VoucherFlag")]
    issues = []
    for name in vt.receipt_fields:
        elem = doc.root.find(name)
        filled = elem is not None and bool((elem.text or "").strip())
        line = elem.sourceline if elem is not None else None
        if flag == 1 and not filled:
            issues.append(Issue("receipt-fields-missing",
                                f"a receipt of {vt.vtcode} must fill {name}", line, f"/Voucher/{name}"))
        elif flag == 0 and filled:
            issues.append(Issue("receipt-fields-unexpected",
                                f"an original {vt.vtcode} must leave {name} empty; only the receipt fills it",
                                line, f"/Voucher/{name}"))
    reason = doc.root.find(RETURN_REASON_FIELD) if flag == 0 else None
    if reason is not None and (reason.text or "").strip():
        issues.append(Issue("receipt-fields-unexpected",
                            f"an original {vt.vtcode} must leave {RETURN_REASON_FIELD} empty; only a receipt "
                            "returns a voucher", reason.sourceline, f"/Voucher/{RETURN_REASON_FIELD}"))
    return issues


# A special urgent payment (特别紧急支出) is "经一级预算单位认定并由市政府或经市政府授权市财政局批准"
# (004 part 3 §8(6)): with UrgentFlag 1 the voucher carries both approvals, where its schema has them.
URGENT_APPROVALS: tuple[str, ...] = ("UrgentSupDepApproval", "UrgentGovApproval")


def _urgent_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    if doc.get("UrgentFlag") != "1" or URGENT_APPROVALS[-1] not in element_order(vt.xsd)[0]:
        return []
    flag = doc.root.find("UrgentFlag")
    return [Issue("urgent-approval-missing",
                  f"UrgentFlag 1 (special urgent payment, 004 part 3 §8(6)) needs {name}: the "
                  + ("first-level unit's finding" if name == "UrgentSupDepApproval" else "government's approval"),
                  flag.sourceline if flag is not None else None, f"/Voucher/{name}")
            for name in URGENT_APPROVALS if not doc.get(name).strip()]


# A batch voucher (一次批量, 003 §26; docs/payment-kinds.md) names each line's payee in its Detail:
# these three on every line, or on none (PayeeAcctBankNo optional).
BATCH_PAYEE: tuple[str, ...] = ("PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName")


def _batch_issues(doc: VoucherDoc) -> list[Issue]:
    details = doc.root.findall("DetailList/Detail")
    named = [[bool((d.findtext(k) or "").strip()) for k in BATCH_PAYEE] for d in details]
    if not any(any(n) for n in named) or all(all(n) for n in named):
        return []
    return [Issue("batch-payee-incomplete",
                  f"Detail {i} names {', '.join(k for k, h in zip(BATCH_PAYEE, n, strict=True) if h) or 'no payee'} "
                  f"but not {', '.join(k for k, h in zip(BATCH_PAYEE, n, strict=True) if not h)}: a batch voucher "
                  "names PayeeAcctNo, PayeeAcctName and PayeeAcctBankName on every line (003 §26)",
                  d.sourceline, f"/Voucher/DetailList/Detail[{i}]")
            for i, (d, n) in enumerate(zip(details, named, strict=True), start=1) if not all(n)][:10]


# A government procurement payment (政府采购支出, 003 §28) rests on its contract and, paid on acceptance,
# the acceptance report (004 part 4 §13; docs/payment-kinds.md): with ProcureFlag the voucher names
# them, where its schema has them. The gateway checks only that they are there; the treasury checks
# them against the contract, the bank against the payee and the day it pays.
PROCUREMENT_CONTRACT: tuple[str, ...] = ("ContractNo", "SupplierAcctNo", "SupplierName")
PROCUREMENT_ACCEPTANCE: tuple[str, ...] = ("AcceptDocNo", "AcceptDate")


def _procurement_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    flag = doc.get("ProcureFlag")
    if flag not in ("1", "2") or "ProcureFlag" not in element_order(vt.xsd)[0]:
        return []
    needed = PROCUREMENT_CONTRACT + (PROCUREMENT_ACCEPTANCE if flag == "1" else ())
    elem = doc.root.find("ProcureFlag")
    what = "paid on acceptance" if flag == "1" else "paid before acceptance, as the contract allows"
    return [Issue("procurement-documents-missing",
                  f"ProcureFlag {flag} (a procurement payment {what}; 003 §28, 004 part 4 §13) needs {name}",
                  elem.sourceline if elem is not None else None, f"/Voucher/{name}")
            for name in needed if not doc.get(name).strip()]


# An official-card repayment (公务卡还款, 003 §30; docs/payment-kinds.md): with CardRepayFlag 1
# every Detail names the card it repays and its holder (the project's own detail elements).
CARD_LINE: tuple[str, ...] = ("CardNo", "CardHolderName")


def _card_issues(doc: VoucherDoc) -> list[Issue]:
    if doc.vtcode != "8202":  # the repayment detail (7701) names cards too, as its schema requires
        return []
    repay = doc.get("CardRepayFlag") == "1"
    issues = []
    for i, d in enumerate(doc.root.findall("DetailList/Detail"), start=1):
        named = [k for k in CARD_LINE if (d.findtext(k) or "").strip()]
        if repay and len(named) < len(CARD_LINE):
            missing = ", ".join(k for k in CARD_LINE if k not in named)
            issues.append(Issue("card-repay-incomplete", f"Detail {i} of an official-card repayment "
                                f"(CardRepayFlag 1) lacks {missing}: every line names the card it repays (003 §30)",
                                d.sourceline, f"/Voucher/DetailList/Detail[{i}]"))
        elif not repay and named:
            issues.append(Issue("card-repay-incomplete", f"Detail {i} names {', '.join(named)} but the voucher "
                                "is not an official-card repayment (CardRepayFlag 1)", d.sourceline,
                                f"/Voucher/DetailList/Detail[{i}]"))
    return issues[:10]


# Reports and statements that total direct funds (直达资金, 001, 002) on their own: the head's
# DirectFundAmt (absent: 0.00) is the sum of the lines marked DirectFundFlag 1 (the project's own
# elements, docs/payment-kinds.md).
DIRECT_FUND_REPORTS = frozenset({"2206", "4004", "3501"})


def direct_fund_fen(details: Iterable[Any]) -> int:
    """The direct funds of these Details (lxml elements or mappings): PayAmt of those marked DirectFundFlag 1."""
    total = 0
    for d in details:
        get = d.findtext if hasattr(d, "findtext") else d.get
        if (get("DirectFundFlag") or "").strip() == "1":
            total += parse_fen((get("PayAmt") or "").strip(), allow_negative=True)
    return total


def _direct_fund_issues(doc: VoucherDoc, vt: VoucherType) -> list[Issue]:
    if vt.vtcode not in DIRECT_FUND_REPORTS:
        return []
    head = doc.root.find("DirectFundAmt")
    try:
        stated = parse_fen((head.text or "").strip(), path="/Voucher/DirectFundAmt",
                           allow_negative=True) if head is not None else 0
        lines = direct_fund_fen(doc.root.findall("DetailList/Detail"))
    except InputError as exc:
        return exc.issues
    if stated == lines:
        return []
    return [Issue("direct-funds-sum-mismatch",
                  f"DirectFundAmt {fen_to_str(stated)}{' (absent)' if head is None else ''}, but the Details marked "
                  f"DirectFundFlag 1 add up to {fen_to_str(lines)} (direct funds, 直达资金)",
                  head.sourceline if head is not None else None, "/Voucher/DirectFundAmt")]


def business_issues(doc: VoucherDoc, vt: VoucherType, flag: int) -> list[Issue]:
    return [*_date_issues(doc, vt), *_styear_issues(doc), *_sum_issues(doc, vt), *_sign_issues(doc, vt),
            *_receipt_issues(doc, vt, flag),
            *_urgent_issues(doc, vt), *_batch_issues(doc), *_procurement_issues(doc, vt), *_card_issues(doc),
            *_direct_fund_issues(doc, vt)]
