"""The agent bank's clearing work with the central bank: when it files, and what it does when a
clearing request (2301) is refused. Pure functions; the bank core calls them.

**When (004 part 3 §8(7), §9(11)).** What the bank pays on a business day before the clearing
cutoff (16:00) is cleared that day. The bank files its clearing requests at `filing_time`
(15:30, so a refusal can still be put right) and again in a final sweep at the last instant
before the cutoff (`sweep_instant`: the cutoff less one microsecond), which files everything
paid since. So a payment made before the sweep instant is in that day's clearing; only a voucher
arriving at the sweep instant or later is advanced from the clearing reserve.

**Urgent payments (特别紧急支出, §8(6)-(7), §9(10)-(11)).** A payment voucher with UrgentFlag 1
received on a business day before the urgent cutoff (16:30) is paid at once and filed at once
in an urgent clearing request (UrgentFlag 1), which the central bank accepts up to 16:30. "如遇
特别紧急支出,可延迟到16:30": the later deadline is the whole request's, so that request carries,
besides the urgent payment, every payment of the same day, pay type and fund type not yet in an
accepted or pending request (`BankCore._urgent_companions`). After 16:30 an urgent voucher is advanced like
any other.

**A refused request (`refile_action`).** The central bank names the rule it broke (the code of
Return_Reason). The bank never sends the same request again, and never splits it (one request
per pay type and fund type, as the agreement's 划款凭证 is "分资金性质"):

| code                          | action  | then                                                                    |
|-------------------------------|---------|-------------------------------------------------------------------------|
| `after-cutoff`                | `cover` | the payments missed the clearing time: at the close the reserve pays them (`cover`) |
| any other (`over-quota`, `no-quota-notice`...) | `hold` | the payments wait; the bank files them again at its next clearing round |

`cover`: 004 part 3 第四条 gives the clearing reserve to "办理超过人民银行清算时限的预算内资金支付
业务" only: a payment whose clearing missed the cutoff. At the day's close the payments so left
unfiled are moved from the clearing reserve into the zero-balance account that paid them (so it
stands at zero at the close, 003 §34), an Alarm `clearing-escalated` is raised, and the next
morning's replenishment asks the central bank for them like any advance. The reserve is never
lent past its balance: what it cannot cover the bank's own funds make whole (`close._front`), and
the next morning a ClearType 1 of their own, ClearDate the day paid, repays the bank
(`filings.file_fronted`).

`hold`: a refusal over the quota is the treasury's matter (003 §33: the central bank "核对财政部门
同日报送的额度信息"), not a reserve draw. The payments wait unfiled (Alarm `clearing-held` at the
close while they do, and the zero-balance account is left short: `zero-balance-not-zero`); the
bank files them again at each of its next clearing rounds (the day's final sweep, an urgent
request of the day, then the filing rounds of the following business days, in a request of their
own dated that day), and the central bank accepts once the treasury's supplementary quota notice
(5108 / 5106) has reached it. The bank does not see that notice: it simply files again.

A refused replenishment is not re-filed: it is escalated (the reserve stays short until a person
acts).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from business_time.clock import ClockConfig, at

__all__ = ["COVER_CODES", "RefileAction", "refile_action", "sweep_instant"]

RefileAction = Literal["hold", "cover"]
# Refusals that say the clearing time was missed: only those are the reserve's (004 part 3 第四条).
COVER_CODES: frozenset[str] = frozenset({"after-cutoff"})
_LAST_INSTANT = dt.timedelta(microseconds=1)


def sweep_instant(day: dt.date, clock: ClockConfig, *, urgent: bool = False) -> dt.datetime:
    """The last instant before the clearing cutoff (urgent: before the urgent cutoff) of `day`."""
    return at(day, clock.urgent_cutoff if urgent else clock.clearing_cutoff) - _LAST_INSTANT


def refile_action(code: str) -> RefileAction:
    """What the bank does with the payments of a refused same-day clearing request."""
    return "cover" if code in COVER_CODES else "hold"
