"""The business calendar's horizon: the last day it knows, and a warning before it is reached.

The calendar never guesses: past its last day (2026-12-31 as shipped) every business-time question
answers `calendar-out-of-range`. A year is added to `business_time/calendar_overrides.yaml` once the
State Council publishes its holidays (see docs/calendar.md); this watch makes sure somebody hears
about it in time. `tgw up` logs the last day at start; from `warn_days` before it, the log carries
a warning once a day (at start and at each local midnight, never per request) and the gauge
`tgw_calendar_days_left` counts down.

A provisional year (loaded by the operator from the statutory holidays, docs/calendar.md) extends
the range, but the gateway says it runs on one: `/healthz` lists `provisional_years`, the gauge
`tgw_calendar_provisional` is 1, and the log carries `calendar.provisional` (warning) once a day
until the official block replaces it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog

from business_time.calendar import BusinessCalendar
from gateway import metrics
from messages.errors import InputError

__all__ = ["CALENDAR_WARN_DAYS_DEFAULT", "CalendarHorizon", "watch_calendar"]

log = structlog.get_logger("tgw.calendar")

# The State Council publishes the next year's holidays in November or December; 30 days before
# the calendar ends is after that in a normal year and leaves a month to ship the override.
CALENDAR_WARN_DAYS_DEFAULT = 30


@dataclass
class CalendarHorizon:
    """How far the calendar reaches from a given day, and the once-a-day warning about it."""

    calendar: BusinessCalendar
    warn_days: int = CALENDAR_WARN_DAYS_DEFAULT
    _warned_on: dt.date | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.warn_days, int) and not isinstance(self.warn_days, bool) and self.warn_days >= 0):
            raise InputError("config-invalid", f"calendar warn days must be a non-negative integer, "
                                               f"not {self.warn_days!r}")

    @property
    def last_day(self) -> dt.date:
        return self.calendar.known_range[1]

    def days_left(self, today: dt.date) -> int:
        """Days from `today` to the last known day: 0 on it, negative after it."""
        return (self.last_day - today).days

    def view(self, today: dt.date) -> dict[str, Any]:
        """What `/healthz` shows."""
        left = self.days_left(today)
        provisional = list(self.calendar.provisional_years)
        return {"last_day": self.last_day.isoformat(), "days_left": left,
                "warning": left <= self.warn_days or bool(provisional), "provisional_years": provisional}

    def check(self, today: dt.date) -> int:
        """Set the gauges; log the warnings (horizon within `warn_days`, a provisional year loaded)
        if not yet logged for `today`."""
        left = self.days_left(today)
        provisional = self.calendar.provisional_years
        metrics.CALENDAR_DAYS_LEFT.set(left)
        metrics.CALENDAR_PROVISIONAL.set(1 if provisional else 0)
        if self._warned_on == today:
            return left
        if provisional:
            self._warned_on = today
            log.warning("calendar.provisional", provisional_years=list(provisional), today=today.isoformat(),
                        last_day=self.last_day.isoformat(),
                        how="load the State Council's notice for the year: tgw calendar load FILE (docs/calendar.md)")
        if left <= self.warn_days:
            self._warned_on = today
            fields = {"last_day": self.last_day.isoformat(), "days_left": left, "today": today.isoformat(),
                      "how": "load the next year: tgw calendar load FILE, or the override file (docs/calendar.md)"}
            if left < 0:
                log.error("calendar.out_of_range", **fields)
            else:
                log.warning("calendar.ending_soon", **fields)
        return left


async def watch_calendar(clock: Any, horizon: CalendarHorizon) -> None:
    """Check the horizon now and at each local midnight of `clock` (live or simulated)."""
    while True:
        now = clock.now()
        horizon.calendar = clock.calendar  # follow a reload (gateway/calendar_reload.py)
        horizon.check(now.date())
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0), tzinfo=now.tzinfo)
        await clock.sleep_until(midnight)
