"""`SimClock`: the simulation engine's virtual business time.

A plain value holder: `now()` is whatever the engine last set, in Asia/Shanghai. Nothing sleeps
on it and nothing waits on wall time; `sim.engine.SimEngine` moves it from one due event to the
next. The in-process gateway reads it too (`Gateway(clock=...)`): its journal times and, since
`is_simulated` is true, its message ids follow simulated time, so a seeded run journals the same
bytes every time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

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
        # long-polls of GET /v1/clock (tgw demo --serve): one per waiting request, gone when it answers
        self._callbacks: list[Callable[[dt.datetime], None]] = []

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.date()

    def set(self, when: dt.datetime) -> None:
        """Move to `when` (never back: a simulated run's time is monotonic, as its message ids are)."""
        when = to_local(when)
        if when < self._now:
            raise ClockError(f"cannot move the clock back from {self._now.isoformat()} to {when.isoformat()}")
        moved, self._now = when != self._now, when
        if moved:
            for callback in list(self._callbacks):
                callback(when)

    def on_change(self, callback: Callable[[dt.datetime], None]) -> Callable[[], None]:
        """Call `callback(new_now)` whenever the engine moves the clock (the same contract as the
        gateway's simulated `BusinessClock`); returns the unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None
