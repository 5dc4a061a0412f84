"""The run's days the treasury's schedule still has to walk (`TreasuryCore._catch_up`, `_next_event_after`).

Each input (every receipt too) walked every day of the run, the days done and the days to come:
the cost of an input grew with the days run (and, early in a long run, with the days ahead). A day is done once its quota time has passed the core's cursor (its
quota notices went) and its plan is all sent: neither the catch-up nor the next event finds
anything in it again, as the cursor never goes back. The walk starts at the first day not done
and, for the catch-up, stops at the first day whose quota time is still ahead.
Derived, never stored: a core loaded from a snapshot starts again at the first day (and moves
on at its first input).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from business_time.clock import at

__all__ = ["OpenDays"]


class OpenDays:
    __slots__ = ("days", "first", "quota_time")

    def __init__(self, days: Sequence[dt.date], quota_time: dt.time) -> None:
        self.days, self.quota_time = days, quota_time
        self.first = 0  # days[:first] are done

    def walk(self, cursor: dt.datetime | None, t: dt.datetime | None = None,
             until: dt.datetime | None = None) -> Iterator[dt.date]:
        """The days to walk at `t` (default: the cursor): from the first not done, or all of them
        for a time before the cursor (a day done by the cursor may still lie ahead of it); with
        `until`, none whose quota time is after it (nor its sends: a day sends after its quota
        notices, `TreasuryConfig` checks quota_time < window_start)."""
        days, quota_time = self.days, self.quota_time
        for i in range(0 if cursor is None or (t is not None and t < cursor) else self.first, len(days)):
            if until is not None and at(days[i], quota_time) > until:
                return
            yield days[i]

    def advance(self, cursor: dt.datetime, plans: Mapping[dt.date, Any]) -> None:
        """Move past the days done by `cursor`: quota time passed, plan (`DayPlan`) all sent."""
        days, i = self.days, self.first
        while i < len(days) and at(days[i], self.quota_time) <= cursor:
            plan = plans.get(days[i])
            if plan is None or plan.next_unsent < len(plan.vouchers):
                break
            i += 1
        self.first = i
