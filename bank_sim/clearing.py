"""The agent bank's clearing work with the central bank: when it files, and what it does when a
clearing request (2301) is refused. Pure functions; the bank core calls them.

**When (004 part 3 §8(7), §9(11)).** What the bank pays on a business day before the clearing
cutoff (16:00) is cleared that day. The bank files its clearing requests at `filing_time`
(15:30, so a refusal can still be put right) and again in a final sweep at the last instant
before the cutoff (`sweep_instant`: the cutoff less one microsecond), which files everything
paid since. So a payment made before the sweep instant is in that day's clearing; only a voucher
arriving at the sweep instant or later is advanced from the clearing reserve.

**Urgent payments (特别紧急支出, §8(6), §9(10)).** A payment voucher with UrgentFlag 1 received
on a business day before the urgent cutoff (16:30) is paid at once and cleared at once by its
own urgent clearing request (UrgentFlag 1), which the central bank accepts up to 16:30. After
16:30 it is advanced like any other.

**A refused request (`refile_action`).** The central bank names the rule it broke (the code of
Return_Reason). The bank never sends the same request again; it files a corrected one under a
new VoucherNo, or gives up and escalates:

| code                                  | payments | before the cutoff | then                                      |
|---------------------------------------|----------|-------------------|-------------------------------------------|
| `over-quota`                          | 2 or more| yes               | `split`: two requests, halves by amount    |
| any other, or a single payment        |          | before the sweep  | `retry`: back to the unfiled, the sweep files them again (the quota notice may have come) |
| any                                   |          | otherwise         | `cover`                                    |

`cover`: at the day's close the payments left unfiled are moved from the clearing reserve into
the zero-balance account that paid them (so it stands at zero at the close, 003 §34), an Alarm
`clearing-escalated` is raised, and the next morning's replenishment asks the central bank for
them like any advance. A refused replenishment is not re-filed: it is escalated (the reserve
stays short until a person acts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from business_time.clock import ClockConfig, at

__all__ = ["SPLIT_CODES", "RefileAction", "refile_action", "split_halves", "sweep_instant"]

RefileAction = Literal["split", "retry", "cover"]
# Refusals that a smaller request can fix: the request is more than the central bank will clear.
SPLIT_CODES: frozenset[str] = frozenset({"over-quota"})
_LAST_INSTANT = dt.timedelta(microseconds=1)


def sweep_instant(day: dt.date, clock: ClockConfig, *, urgent: bool = False) -> dt.datetime:
    """The last instant before the clearing cutoff (urgent: before the urgent cutoff) of `day`."""
    return at(day, clock.urgent_cutoff if urgent else clock.clearing_cutoff) - _LAST_INSTANT


def refile_action(code: str, payments: int, now: dt.datetime, *, clock: ClockConfig,
                  urgent: bool = False) -> RefileAction:
    """What the bank does with the payments of a refused same-day clearing request."""
    cutoff = sweep_instant(now.date(), clock, urgent=urgent)
    if code in SPLIT_CODES and payments >= 2 and now <= cutoff:
        return "split"
    if not urgent and now < cutoff:
        return "retry"
    return "cover"


def split_halves(amounts: Sequence[tuple[str, int]]) -> tuple[list[str], list[str]]:
    """Split payments (id, fen) into two non-empty groups of about equal sums: largest first,
    each to the lighter group, so a quota that holds one of them is used as well as it can be
    without knowing it. Deterministic: ties broken by id."""
    if len(amounts) < 2:
        raise ValueError("splitting needs at least two payments")
    groups: tuple[list[str], list[str]] = ([], [])
    sums = [0, 0]
    for pid, fen in sorted(amounts, key=lambda a: (-a[1], a[0])):
        i = 0 if sums[0] <= sums[1] else 1
        groups[i].append(pid)
        sums[i] += fen
    if not groups[1]:  # every amount 0 cannot happen (amounts are > 0), but keep both non-empty
        groups[1].append(groups[0].pop())
    return groups
