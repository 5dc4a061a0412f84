"""One log line per interval for a warning that comes in floods.

A broker killed under a backlog failed every push and every reply in flight: 5,185
`deliver.push_failed` and 3,609 `mqtt.reply_failed` lines in 8 s, burying everything else.
`Summarized` writes the first occurrence of an event at once (with its fields) and then at most
one line per `interval_s`, on the next occurrence after the interval: the latest occurrence's
fields plus `suppressed`, how many were not written since the previous line. A flood that stops
leaves its last count unwritten until the event comes again; `flush()` writes it (on shutdown).

No timers: the clock is read on each call (injectable, so tests drive it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["SUMMARY_INTERVAL_S", "Summarized"]

# One line per this many seconds per flooding event: often enough to see a flood go on, rare
# enough that 5,000 failures a second cost one line.
SUMMARY_INTERVAL_S = 5.0


class Summarized:
    def __init__(self, write: Callable[..., Any], event: str, *, interval_s: float = SUMMARY_INTERVAL_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._write = write  # e.g. structlog's log.warning
        self.event = event
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._next_at = float("-inf")
        self.total = 0  # occurrences
        self.suppressed = 0  # since the last line written
        self._last: dict[str, Any] = {}

    def __call__(self, **fields: Any) -> None:
        self.total += 1
        now = self._monotonic()
        if now < self._next_at:
            self.suppressed += 1
            self._last = fields
            return
        self._emit(now, fields)

    def _emit(self, now: float, fields: dict[str, Any]) -> None:
        extra = {"suppressed": self.suppressed} if self.suppressed else {}
        self._write(self.event, **fields, **extra)
        self.suppressed = 0
        self._next_at = now + self.interval_s

    def flush(self) -> None:
        """Write the count still unwritten, if any."""
        if self.suppressed:
            self._emit(self._monotonic(), self._last)
