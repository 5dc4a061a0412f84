"""A log line per interval for events that come in floods: the first at once, then one summary.

A client that goes away mid-body, a failed login, a request refused while the database is down:
each is worth knowing about, none is worth a line of its own when thousands come in seconds
(2,000 aborted uploads wrote 3.1 MB of tracebacks). `LogTally.note()` counts every event;
it writes the first one at once, then at most one line per `interval_s` saying how many there were
since the last line (with the fields of the latest), so a flood costs a line per interval and a
lone event is still logged when it happens. The count itself belongs in a metric, which the
caller increments beside `note()`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["TALLY_INTERVAL_S", "LogTally"]

# One summary line per kind of event per this many seconds: a minute of a flood is six lines.
TALLY_INTERVAL_S = 10.0


class LogTally:
    """Events of one kind, logged as `event` at most once per `interval_s`, with counts."""

    def __init__(self, event: str, *, interval_s: float = TALLY_INTERVAL_S, level: str = "warning",
                 logger: Any = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.event = event
        self.interval_s = interval_s
        self.level = level
        self.logger = logger if logger is not None else structlog.get_logger("tgw.http")
        self.monotonic = monotonic
        self.total = 0  # events noted
        self.unlogged = 0  # noted since the last line
        self.lines = 0  # lines written
        self._latest: dict[str, Any] = {}
        self._next_line_at = -math.inf
        self._flush: asyncio.TimerHandle | None = None

    def note(self, **fields: Any) -> None:
        """One event; `fields` describe it (the latest ones go in the next line)."""
        self.total += 1
        self.unlogged += 1
        self._latest = fields
        now = self.monotonic()
        if now >= self._next_line_at:
            self.flush()
        elif self._flush is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): the next note after the interval says it
                return
            self._flush = loop.call_later(self._next_line_at - now, self.flush)

    def reset(self) -> None:
        """Forget the counts and the open interval: the next event is logged at once."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self.total = self.unlogged = self.lines = 0
        self._latest = {}
        self._next_line_at = -math.inf

    def flush(self) -> None:
        """Write the line for the events not yet logged, if any (also at the end of an interval)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self.unlogged:
            return
        getattr(self.logger, self.level)(self.event, count=self.unlogged, total=self.total,
                                         interval_s=self.interval_s, **self._latest)
        self.lines += 1
        self.unlogged = 0
        self._next_line_at = self.monotonic() + self.interval_s
