"""`SimClock`: the simulation engine's virtual business time.

A plain value holder: `now()` is whatever the engine last set, in Asia/Shanghai. Nothing sleeps
on it and nothing waits on wall time; `sim.engine.SimEngine` moves it from one due event to the
next. The in-process gateway reads it too (`Gateway(clock=...)`): its journal times and, since
`is_simulated` is true, its message ids follow simulated time, so a seeded run journals the same
bytes every time.
"""

from __future__ import annotations

import datetime as dt

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, ClockError, to_local

__all__ = ["SimClock"]


class SimClock:
    """Business time that moves only forward, only when the engine says so."""

    is_simulated = True

    def __init__(self, calendar: BusinessCalendar, config: ClockConfig, start: dt.datetime) -> None:
        self.calendar = calendar
        self.config = config
        self._now = to_local(start)

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.date()

    def set(self, when: dt.datetime) -> None:
        """Move to `when` (never back: a simulated run's time is monotonic, as its message ids are)."""
        when = to_local(when)
        if when < self._now:
            raise ClockError(f"cannot move the clock back from {self._now.isoformat()} to {when.isoformat()}")
        self._now = when
