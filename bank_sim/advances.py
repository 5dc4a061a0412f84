"""Advances from the clearing reserve (清算备用金垫付), pure: the daily reserve detail list.

**The money path (004 part 3 §9(12)).** A payment the bank accepts after the clearing cutoff is
not cleared with the treasury single account that day: before the close the bank moves the
amount from the clearing reserve account into the zero-balance account that pays it, and pays
the payee from there (reserve → unit zero-balance account → payee; the finance zero-balance
account for a direct payment). The zero-balance account so stands at zero at the close. The
next business morning a separate clearing (ClearType 1) makes the reserve whole.

**The reserve detail list (清算备用金账户划款明细单, VtCode 7202, invented).** At the close of a
day with advances the bank sends the treasury one list: a Detail per payment advanced (or made
whole from the reserve after a refused clearing), with the voucher it paid, the unit, the
zero-balance account credited (PayAcctNo), AdvanceType (0 paid after the cutoff, 1 paid before it
but its clearing request missed the cutoff, made whole at the close) and the amount
(`reserve_detail_list`). A clearing the central bank refused over the quota is never the
reserve's (004 part 3 第四条; `bank_sim.clearing`).

**No interest.** The reserve is the treasury's money ("甲方向乙方提供清算备用金", 004 part 3
第四条), and the bank may charge the units no fee for the centralized payment business (第十二条(三)
"不得向预算单位收取办理国库集中支付业务的任何费用"): an advance of N fen is made whole by exactly
N fen the next business morning, and nothing is charged to anyone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from messages.dates import format_ymd
from messages.money import fen_to_str

__all__ = ["RESERVE_LIST_VTCODE", "Advanced", "reserve_detail_list"]

RESERVE_LIST_VTCODE = "7202"


class Advanced(NamedTuple):
    """One payment the reserve paid for (plain data for the list)."""

    vtcode: str
    voucher_no: str
    agency_code: str
    agency_name: str
    acct_no: str  # PayAcctNo: the zero-balance account credited from the reserve
    amount_fen: int
    escalated: bool  # False: paid after the cutoff (an advance); True: its clearing missed the cutoff


def reserve_detail_list(day: dt.date, seq: int, adm_div_code: str, bank_code: str, bank_name: str,
                        items: Sequence[Advanced]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    """The head and details of the day's 7202 (items must not be empty)."""
    if not items:
        raise ValueError("a reserve detail list lists at least one payment")
    no = f"BY{bank_code[-4:]}{format_ymd(day)}{seq:04d}"
    head = {
        "Id": f"V{RESERVE_LIST_VTCODE}{no}", "AdmDivCode": adm_div_code, "StYear": str(day.year),
        "VouDate": format_ymd(day), "VoucherNo": no, "TransferDate": format_ymd(day), "PayBankCode": bank_code,
        "PayBankName": bank_name, "AllNum": str(len(items)), "PayAmt": fen_to_str(sum(i.amount_fen for i in items)),
    }
    details = tuple({"Id": f"D{n:05d}", "OriVtCode": i.vtcode, "OriVoucherNo": i.voucher_no,
                     "AgencyCode": i.agency_code, "AgencyName": i.agency_name, "AcctNo": i.acct_no,
                     "AdvanceType": "1" if i.escalated else "0", "PayAmt": fen_to_str(i.amount_fen)}
                    for n, i in enumerate(items, start=1))
    return head, details
