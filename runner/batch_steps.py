"""Batch voucher steps of a scenario (docs/payment-kinds.md): template `salary-batch` (一次批量,
003 §26) and `union-fees` (工会经费 to the unit's union and the provincial federation, 003 §27,
split by `treasury_sim.payment_kinds.union_fee_lines`).

`render` makes the batch voucher (a 5201 whose details name their payees, `messages.factory.
batch_voucher`); `returned_line` is the head a payee's bank puts in its refund notice (2252) when
one line of the batch comes back: that line's payee and amount, not the voucher's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from messages.factory import SALARY_SUBJECT, batch_voucher
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.scenario_file import SendSpec, UnitSpec
from treasury_sim.payment_kinds import union_fee_lines

__all__ = ["UNION_FEE_SUBJECT", "render", "returned_line"]

# (ExpFuncCode, ExpFuncName, ExpEcoCode, ExpEcoName) of union fees: 行政运行 / 工会经费.
UNION_FEE_SUBJECT = ("2010101", "行政运行", "30228", "工会经费")


def render(spec: SendSpec, *, voucher_no: str, day: dt.date, bank_code: str, adm_div_code: str,
           units: Sequence[UnitSpec]) -> bytes:
    """The batch voucher of step `spec`: its unit (or the world's first), its lines, its fields."""
    u = next((x for x in units if x.agency == spec.unit), units[0]) if units else None
    unit = (u.sup_dep, u.sup_dep_name, u.agency, u.agency_name) if u is not None else None
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
