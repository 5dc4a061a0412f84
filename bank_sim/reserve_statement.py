"""The clearing reserve account statement (清算备用金账户对账单, VtCode 7203, the project's own
code), pure: 004 part 3 §10(3) has the bank give the treasury, each month, the statement of its
clearing reserve account beside the expenditure statements.

One statement per calendar month (BeginDate..EndDate), sent on the first business day after the
month with the other monthly documents (`bank_sim.duties`): the opening balance (BeginBalance,
the last statement's closing balance; 0 before the reserve was funded), one Detail per movement
of the month in the order booked, the money in (CreditAmt: the treasury's funding, MoveType 1, and
the next morning's replenishments, MoveType 4, each naming its 2301) and out (DebitAmt: advances
after the clearing cutoff, MoveType 2, and the making whole of a refused clearing, MoveType 3,
each naming the payment voucher it paid), and the closing balance: BeginBalance + CreditAmt -
DebitAmt = EndBalance, the ledger's balance of the reserve at the month's end. The treasury
checks it against the reserve transfer detail lists (7202) it received that month and signs it
off with its receipt (XCheckResult 0 agree / 1 disagree, XCheckRemark the break).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from messages.dates import format_ymd
from messages.money import fen_to_str

__all__ = ["MOVE_TYPES", "RESERVE_STATEMENT_VTCODE", "Movement", "month_bounds", "reserve_statement"]

RESERVE_STATEMENT_VTCODE = "7203"
# Transfer.kind of a reserve movement → MoveType: 1 funded by the treasury, 2 an advance after the
# cutoff, 3 made whole after a refused clearing, 4 replenished by a ClearType 1 clearing.
MOVE_TYPES = {"reserve-funding": "1", "advance": "2", "reserve-cover": "3", "reserve-replenishment": "4"}
OTHER_MOVE = "9"  # a reserve movement of any other kind (none today)


class Movement(NamedTuple):
    """One booking on the reserve account: `fen` > 0 money in, < 0 money out."""

    day: str  # yyyyMMdd
    move_type: str
    ori_vtcode: str  # the payment voucher (advances) or the 2301 (replenishments); "" for funding
    ori_voucher_no: str
    fen: int


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of `month` (yyyyMM)."""
    first = dt.date(int(month[:4]), int(month[4:]), 1)
    return first, (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def reserve_statement(no: str, month: str, today: dt.date, adm_div_code: str, bank: tuple[str, str],
                      opening_fen: int, moves: list[Movement]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    """The head and details of the reserve statement of `month` (a month without movements has
    no Detail: the balance carried)."""
    first, last = month_bounds(month)
    credit = sum(m.fen for m in moves if m.fen > 0)
    debit = -sum(m.fen for m in moves if m.fen < 0)
    head = {"Id": f"V{RESERVE_STATEMENT_VTCODE}{no}", "AdmDivCode": adm_div_code, "StYear": str(today.year),
            "VouDate": format_ymd(today), "VoucherNo": no, "BeginDate": format_ymd(first),
            "EndDate": format_ymd(last), "PayBankCode": bank[0], "PayBankName": bank[1],
            "BeginBalance": fen_to_str(opening_fen), "CreditAmt": fen_to_str(credit), "DebitAmt": fen_to_str(debit),
            "EndBalance": fen_to_str(opening_fen + credit - debit)}
    details = tuple({"Id": f"D{n:05d}", "TransDate": m.day, "MoveType": m.move_type,
                     **({"OriVtCode": m.ori_vtcode, "OriVoucherNo": m.ori_voucher_no} if m.ori_voucher_no else {}),
                     "CreditAmt": fen_to_str(max(m.fen, 0)), "DebitAmt": fen_to_str(max(-m.fen, 0))}
                    for n, m in enumerate(moves, start=1))
    return head, details
