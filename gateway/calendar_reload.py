"""Reload the business calendar from the operator's calendar directory without a restart.

`tgw up --calendar-dir DIR` builds the calendar from the shipped data plus the year blocks in DIR
(business_time/calendar_dir.py). When a block there changes (`tgw calendar load FILE
--calendar-dir DIR` replaced the provisional 2027 with the official one, say), the gateway swaps
its clock's calendar:

* at once on SIGHUP (`kill -HUP PID`, `docker kill -s HUP CONTAINER`);
* otherwise within CALENDAR_POLL_S: the directory's file names, sizes and modification times
  are compared every CALENDAR_POLL_S seconds (one listing: nothing is read unless they change).

A directory that no longer loads (a hand-edited block that fails its checks) leaves the calendar
in use as it was and logs `calendar.reload_failed` (error) with the reason; fix the file and the
next poll (or SIGHUP) takes it. Requests read `clock.calendar` each time, so the swap is a single
assignment on the event loop: no request sees half of a calendar.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import structlog

from business_time.calendar import BusinessCalendar
from business_time.calendar_dir import read_blocks
from gateway import metrics
from messages.errors import InputError

__all__ = ["CALENDAR_POLL_S", "CalendarReloader", "build_calendar", "watch_calendar_dir"]

log = structlog.get_logger("tgw.calendar")

# The official notice is loaded once a year by hand; a minute from `tgw calendar load` to the
# gateway using it is prompt enough, and one directory listing a minute costs nothing.
CALENDAR_POLL_S = 60.0


def build_calendar(overrides: str | None, calendar_dir: str | None) -> BusinessCalendar:
    """The shipped calendar (or the `overrides` file) plus the year blocks of `calendar_dir`."""
    blocks = read_blocks(calendar_dir) if calendar_dir else []
    calendar = (BusinessCalendar.from_file(overrides, blocks=blocks) if overrides
                else BusinessCalendar.default(blocks=blocks))
    for block in calendar.superseded:
        log.warning("calendar.provisional_superseded", year=block.year, calendar_dir=calendar_dir,
                    how="the year is known officially; the provisional block is ignored (remove it)")
    return calendar


def _fingerprint(directory: str) -> tuple[tuple[str, int, int], ...]:
    try:
        with os.scandir(directory) as entries:
            return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries
                                if e.name.endswith(".yaml")))
    except OSError:
        return ()


class CalendarReloader:
    """Swaps `clock.calendar` when the calendar directory changes."""

    def __init__(self, clock: Any, overrides: str | None, calendar_dir: str) -> None:
        self.clock = clock
        self.overrides = overrides
        self.calendar_dir = calendar_dir
        self._seen = _fingerprint(calendar_dir)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the directory if it changed (or `force`); True if the calendar was swapped."""
        seen = _fingerprint(self.calendar_dir)
        if seen == self._seen and not force:
            return False
        self._seen = seen
        try:
            calendar = build_calendar(self.overrides, self.calendar_dir)
        except InputError as exc:
            log.error("calendar.reload_failed", calendar_dir=self.calendar_dir, code=exc.code, error=str(exc),
                      kept_last_day=self.clock.calendar.known_range[1].isoformat())
            return False
        old = self.clock.calendar
        self.clock.calendar = calendar
        metrics.CALENDAR_PROVISIONAL.set(1 if calendar.provisional_years else 0)
        fields = {"calendar_dir": self.calendar_dir, "last_day": calendar.known_range[1].isoformat(),
                  "was_last_day": old.known_range[1].isoformat(), "provisional_years": list(calendar.provisional_years),
                  "was_provisional_years": list(old.provisional_years)}
        (log.warning if calendar.provisional_years else log.info)("calendar.reloaded", **fields)
        return True


async def watch_calendar_dir(reloader: CalendarReloader, interval_s: float = CALENDAR_POLL_S) -> None:
    """Poll the directory every `interval_s` (real) seconds: files change in real time, whatever
    the business clock says."""
    while True:
        await asyncio.sleep(interval_s)
        reloader.reload()
