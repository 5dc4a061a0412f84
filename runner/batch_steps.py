"""Batch voucher steps of a scenario (docs/payment-kinds.md): template `salary-batch` (一次批量,
003 §26) and `union-fees` (工会经费 to the unit's union and the provincial federation, 003 §27,
split by `treasury_sim.payment_kinds.union_fee_lines`).

Template `card-repayment` (公务卡还款, 003 §30): an authorized payment (8202, CardRepayFlag 1) from
the unit's zero-balance account to its bank's official-card repayment account, one Detail per
card (`card_repayment`; docs/payment-kinds.md).

`render` makes the batch voucher (a 5201 whose details name their payees, `messages.factory.
batch_voucher`); `returned_line` is the head a payee's bank puts in its refund notice (2252) when
one line of the batch comes back: that line's payee and amount, not the voucher's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from messages.dates import format_ymd
from messages.factory import SALARY_SUBJECT, UNITS, batch_voucher
from messages.fund_types import fund_type_name
from messages.money import fen_to_str
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.scenario_file import SendSpec, UnitSpec
from treasury_sim.payment_kinds import union_fee_lines

__all__ = ["CARD_REPAY_ACCOUNT", "CARD_SUBJECT", "UNION_FEE_SUBJECT", "card_repayment", "render", "returned_line"]

# (ExpFuncCode, ExpFuncName, ExpEcoCode, ExpEcoName) of union fees: 行政运行 / 工会经费.
UNION_FEE_SUBJECT = ("2010101", "行政运行", "30228", "工会经费")


# (ExpFuncCode, ExpFuncName, ExpEcoCode, ExpEcoName) of a card repayment's lines: 行政运行 / 办公费.
CARD_SUBJECT = ("2010101", "行政运行", "30201", "办公费")
# The card-issuing bank's official-card repayment account (synthetic; bank_sim/accounts.yaml): the
# payee of a repayment, held at the paying bank itself (the agent bank issues the cards).
CARD_REPAY_ACCOUNT = ("9999000000000601", "公务卡还款过渡户")


def card_repayment(spec: SendSpec, *, voucher_no: str, day: dt.date, bank_code: str, adm_div_code: str,
                   unit: tuple[str, str, str, str] | None) -> bytes:
    """The official-card repayment of step `spec` (template card-repayment): an 8202 with
    CardRepayFlag 1, one Detail per card of its `lines` (card number, holder, amount)."""
    sup_code, sup_name, agency, agency_name = unit or UNITS[0]
    total = sum(x[3] for x in spec.lines)
    head = {
        "Id": f"V8202{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(day.year), "VouDate": format_ymd(day),
        "VoucherNo": voucher_no, "FundTypeCode": "1", "FundTypeName": fund_type_name("1"), "PayTypeCode": "12",
        "SupDepCode": sup_code, "SupDepName": sup_name, "AgencyCode": agency, "AgencyName": agency_name,
        "PayeeAcctNo": CARD_REPAY_ACCOUNT[0], "PayeeAcctName": CARD_REPAY_ACCOUNT[1],
        "PayeeAcctBankName": "示例银行示例市分行", "PayeeAcctBankNo": bank_code, "PayAcctNo": f"9997{agency[-6:]:0>6}000001",
        "PayAcctName": f"{agency_name}零余额账户", "PayAcctBankName": "示例银行示例市分行", "PayBankCode": bank_code,
        "PayBankName": "示例银行示例市分行", "PaySummaryCode": "05", "PaySummaryName": "公务卡还款",
        "CardRepayFlag": "1", "PayAmt": fen_to_str(total),
    }
    func, func_name, eco, eco_name = CARD_SUBJECT
    details = [{"Id": f"D{i:04d}", "VoucherBillId": head["Id"], "AgencyCode": agency, "AgencyName": agency_name,
                "ExpFuncCode": func, "ExpFuncName": func_name, "ExpEcoCode": eco, "ExpEcoName": eco_name,
                "CardNo": card, "CardHolderName": holder, "PayAmt": fen_to_str(fen)}
               for i, (card, holder, _, fen) in enumerate(spec.lines, start=1)]
    return build_voucher("8202", {**head, **spec.fields}, details)


def render(spec: SendSpec, *, voucher_no: str, day: dt.date, bank_code: str, adm_div_code: str,
           units: Sequence[UnitSpec]) -> bytes:
    """The batch voucher of step `spec`: its unit (or the world's first), its lines, its fields."""
    u = next((x for x in units if x.agency == spec.unit), units[0]) if units else None
    unit = (u.sup_dep, u.sup_dep_name, u.agency, u.agency_name) if u is not None else None
    if spec.template == "card-repayment":
        return card_repayment(spec, voucher_no=voucher_no, day=day, bank_code=bank_code, adm_div_code=adm_div_code,
                              unit=unit)
    if spec.template == "union-fees":
        assert spec.amount_fen is not None
        payees = union_fee_lines(spec.amount_fen, (u.agency, u.agency_name) if u else ("101001", "示例市第一中学"))
        subject, summary = UNION_FEE_SUBJECT, ("03", "工会经费")
    else:
        payees = [(acct, name, bank, "", fen) for acct, name, bank, fen in spec.lines]
        subject, summary = SALARY_SUBJECT, ("02", "统发工资")
    data = batch_voucher(voucher_no=voucher_no, vou_date=day, pay_bank_code=bank_code, adm_div_code=adm_div_code,
                         unit=unit, payees=payees, subject=subject, summary=summary,
                         fund_type_code=spec.fields.get("FundTypeCode", "1"))
    if not spec.fields:
        return data
    doc = parse_voucher(data)
    return build_voucher("5201", {**doc.head(), **spec.fields}, doc.details())


def returned_line(original: VoucherDoc, line: int) -> Mapping[str, str]:
    """The original's head as a payee's bank sees line `line` (1-based) of the batch: its payee, its amount."""
    d = original.details()[line - 1]
    return {**original.head(), "PayeeAcctNo": d["PayeeAcctNo"], "PayeeAcctName": d["PayeeAcctName"],
            "PayAmt": d["PayAmt"]}
