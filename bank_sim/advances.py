"""Advances from the clearing reserve (清算备用金垫付), pure: the daily reserve detail list and the
interest on advances.

**The money path (004 part 3 §9(12)).** A payment the bank accepts after the clearing cutoff is
not cleared with the treasury single account that day: before the close the bank moves the
amount from the clearing reserve account into the zero-balance account that pays it, and pays
the payee from there (reserve → unit zero-balance account → payee; the finance zero-balance
account for a direct payment). The zero-balance account so stands at zero at the close. The
next business morning a separate clearing (ClearType 1) makes the reserve whole.

**The reserve detail list (清算备用金账户划款明细单, VtCode 7202, invented).** At the close of a
day with advances the bank sends the treasury one list: a Detail per payment advanced (or made
whole from the reserve after a refused clearing), with the voucher it paid, the unit, the
zero-balance account credited (PayAcctNo), AdvanceType (0 paid after the cutoff, 1 made whole after
a refused clearing) and the amount (`reserve_detail_list`).

**Interest (`interest_fen`).** The bank may charge interest on an advance at the demand-deposit
rate (DOMAIN.md, 004 part 2). It is recorded, never booked against a fiscal account: amount ×
annual rate (basis points) × calendar days from the advance day to the day the reserve was made
whole / (10,000 × 360), in integer fen, rounded half up (0.5 fen → 1 fen), per advance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from messages.dates import format_ymd
from messages.money import fen_to_str

__all__ = ["DAY_COUNT_BASIS", "RESERVE_LIST_VTCODE", "Advanced", "interest_fen", "reserve_detail_list"]

RESERVE_LIST_VTCODE = "7202"
DAY_COUNT_BASIS = 360  # the Chinese banks' day count for deposit interest
RATE_BP_MAX = 10_000  # 100 % a year: a larger rate is a typo in a config file


class Advanced(NamedTuple):
    """One payment the reserve paid for (plain data for the list)."""

    vtcode: str
    voucher_no: str
    agency_code: str
    agency_name: str
    acct_no: str  # PayAcctNo: the zero-balance account credited from the reserve
    amount_fen: int
    escalated: bool  # False: paid after the cutoff (an advance); True: made whole after a refused clearing


def interest_fen(amount_fen: int, rate_bp: int, days: int) -> int:
    """Interest on an advance of `amount_fen` for `days` calendar days at `rate_bp` basis points
    a year (day count 360), integer fen rounded half up."""
    if amount_fen < 0 or days < 0 or not 0 <= rate_bp <= RATE_BP_MAX:
        raise ValueError(f"need amount >= 0, days >= 0 and 0 <= rate_bp <= {RATE_BP_MAX}")
    exact = Decimal(amount_fen) * rate_bp * days / (Decimal(10_000) * DAY_COUNT_BASIS)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


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
