"""Salary batch steps of a scenario (template `salary-batch`, 一次批量, 003 §26; docs/payment-kinds.md).

`render` makes the batch voucher (a 5201 whose details name their payees, `messages.factory.
batch_voucher`); `returned_line` is the head a payee's bank puts in its refund notice (2252) when
one line of the batch comes back: that line's payee and amount, not the voucher's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from messages.factory import batch_voucher
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.scenario_file import SendSpec, UnitSpec

__all__ = ["render", "returned_line"]


def render(spec: SendSpec, *, voucher_no: str, day: dt.date, bank_code: str, adm_div_code: str,
           units: Sequence[UnitSpec]) -> bytes:
    """The batch voucher of step `spec`: its unit (or the world's first), its lines, its fields."""
    u = next((x for x in units if x.agency == spec.unit), units[0]) if units else None
    unit = (u.sup_dep, u.sup_dep_name, u.agency, u.agency_name) if u is not None else None
    data = batch_voucher(voucher_no=voucher_no, vou_date=day, pay_bank_code=bank_code, adm_div_code=adm_div_code,
                         unit=unit, payees=[(acct, name, bank, "", fen) for acct, name, bank, fen in spec.lines],
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
