"""Cash withdrawals (现金支取) from a unit's zero-balance account, checked in real time at payment.

A unit's zero-balance account may draw cash (003 §15, "可以办理转账、提取现金等结算业务"), only under
the cash-management rules: "不得违反《现金管理暂行条例》等规定支用现金; 代理银行应严格按照…规定,受理
预算单位的现金结算业务" (003 §31), and the bank handles cash "在营业日内实时" (004 part 3 §9(7)). No
large cash withdrawals (001, "严禁大额现金提取"). See docs/payment-kinds.md.

On the wire a withdrawal is an authorized payment voucher (8202) with CashFlag 1 and its purpose
CashPurposeCode (the project's own elements, xsd/8202.xsd). The bank checks it when it arrives,
after the returns of `bank_sim.returns` and before the unit's quota:

| code                       | when                                                                        |
|----------------------------|-----------------------------------------------------------------------------|
| `cash-purpose-not-allowed` | CashPurposeCode is empty or not one of `CASH_PURPOSES` (the cash uses of the 现金管理暂行条例 §5, the regulation 003 §31 names) |
| `cash-over-limit`          | the unit's cash drawn that day, this withdrawal included, would pass `CASH_DAY_LIMIT_FEN` |

A withdrawal inside them is paid like any payment (`bank_sim.payments`: at once before the
clearing cutoff, in that day's clearing, and in the daily report of the day it is cleared). The
daily limit is the project's own figure (the seeds give none), the same as the monitoring rule
`large-cash-withdrawal`'s threshold: that rule looks at one payment before it is sent, the bank at
the unit's whole day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from messages.dates import format_ymd
from messages.money import fen_to_str, parse_fen

__all__ = ["CASH_DAY_LIMIT_FEN", "CASH_PURPOSES", "check", "day_key", "drawn", "is_cash", "record", "release"]

# CashPurposeCode → the cash use of the 现金管理暂行条例 §5 (the regulation 003 §31 refers to).
CASH_PURPOSES: dict[str, str] = {
    "01": "职工工资、津贴 (wages and allowances)",
    "02": "个人劳务报酬 (pay for an individual's services)",
    "03": "根据国家规定颁发给个人的各种奖金 (awards to individuals under state rules)",
    "04": "各种劳保、福利费用以及国家规定的对个人的其他支出 (welfare and other payments to individuals)",
    "05": "向个人收购农副产品和其他物资的价款 (purchases from individuals)",
    "06": "出差人员必须随身携带的差旅费 (travel money a traveller must carry)",
    "07": "结算起点以下的零星支出 (petty spending below the settlement threshold)",
    "08": "中国人民银行确定需要支付现金的其他支出 (other spending the central bank allows in cash)",
}
# The most cash one unit may draw in a day: the project's own figure (50,000.00), see the module doc.
CASH_DAY_LIMIT_FEN = 50_000_00


def is_cash(head: Mapping[str, str]) -> bool:
    return head.get("CashFlag", "") == "1"


def day_key(day: dt.date, agency: str) -> str:
    return f"{format_ymd(day)}/{agency}"


def drawn(book: Mapping[str, int], day: dt.date, agency: str) -> int:
    """What unit `agency` drew in cash on `day` so far (fen)."""
    return book.get(day_key(day, agency), 0)


def check(head: Mapping[str, str], drawn_fen: int, limit_fen: int = CASH_DAY_LIMIT_FEN) -> tuple[str, str] | None:
    """(code, message) if the withdrawal `head` breaks the cash rules, the unit having drawn
    `drawn_fen` already that day; None: the bank may pay it."""
    purpose = head.get("CashPurposeCode", "").strip()
    if purpose not in CASH_PURPOSES:
        return ("cash-purpose-not-allowed",
                f"CashPurposeCode {purpose or '(empty)'} is not a cash use of the 现金管理暂行条例 §5 "
                f"(one of {', '.join(CASH_PURPOSES)}; 003 §31)")
    amount = parse_fen(head.get("PayAmt", "0.00"))
    if drawn_fen + amount > limit_fen:
        return ("cash-over-limit",
                f"PayAmt {fen_to_str(amount)} with {fen_to_str(drawn_fen)} drawn already today by unit "
                f"{head.get('AgencyCode', '')} passes the daily cash limit {fen_to_str(limit_fen)}")
    return None


def record(book: dict[str, int], day: dt.date, agency: str, fen: int) -> None:
    """The withdrawal was accepted: count it in the unit's day; forget the days before."""
    key = day_key(day, agency)
    prefix = key.split("/", 1)[0] + "/"
    for k in [k for k in book if not k.startswith(prefix)]:
        del book[k]
    book[key] = book.get(key, 0) + fen


def release(book: dict[str, int], day: dt.date, agency: str, fen: int) -> None:
    """A withdrawal counted on `day` was not paid after all (the ledger refused it): uncount it, if
    that day is still the book's."""
    key = day_key(day, agency)
    if key in book:
        book[key] = max(book[key] - fen, 0)
