"""Message ids of the journal: time-ordered and unique without coordination, and on a simulated
clock the same on every run."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from typing import Any

from messages.errors import StateError

__all__ = ["SIM_ID_TAG", "MessageIds", "new_message_id", "now_us"]



def now_us() -> int:
    return time.time_ns() // 1000


# A random tag per process keeps ids of several gateway workers on one database apart; a counter
# keeps them apart within a process (os.urandom per id cost ~10 µs on this VM: a syscall each).
_ID_TAG = secrets.token_hex(3)
_ID_SEQ = itertools.count()


def new_message_id() -> str:
    """Time-ordered and unique without coordination: µs time (13 hex), process tag (6), sequence (6)."""
    return f"{now_us():013x}{_ID_TAG}{next(_ID_SEQ) & 0xFFFFFF:06x}"


# Simulated runs: a fixed tag instead of the random one, so two identical runs give identical ids.
SIM_ID_TAG = "000000"
_SIM_SEQ_MAX = 0xFFFFFF  # six hex digits; beyond this many ids in one simulated µs, the µs moves on
_SIM_ID_LEN = 25  # 13 + 6 + 6
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def _is_simulated(clock: Any) -> bool:
    return clock is not None and getattr(clock, "is_simulated", False) is True


class MessageIds:
    """Where the journal's message ids come from.

    Live (no clock, or one whose `is_simulated` is not True): `new_message_id`, from wall time.
    Simulated (`clock.is_simulated` is True, e.g. a simulated `BusinessClock` or the simulation
    engine's clock): the clock's `now()` in µs since the epoch (13 hex), `SIM_ID_TAG`, and a
    sequence (6 hex) that restarts at each new µs. Nothing in such an id depends on wall time or
    randomness, so identical runs give identical ids. Simulated ids strictly increase: if the
    clock has not moved (or went back) the sequence counts on from the last id, and `resume`
    (the journal calls it at start with the last simulated id it holds) carries that across a
    restart, so a gateway restarted at the same simulated time never reuses an id.
    """

    def __init__(self, clock: Any = None) -> None:
        self.clock = clock
        self._last_us = -1
        self._seq = 0

    @property
    def simulated(self) -> bool:
        return _is_simulated(self.clock)

    def resume(self, last_id: str | None) -> None:
        """Continue after `last_id`, a simulated id already journaled (others are ignored)."""
        if last_id is None or len(last_id) != _SIM_ID_LEN or last_id[13:19] != SIM_ID_TAG:
            return
        try:
            us, seq = int(last_id[:13], 16), int(last_id[19:], 16)
        except ValueError:
            return
        if (us, seq) > (self._last_us, self._seq):
            self._last_us, self._seq = us, seq

    def new(self) -> str:
        if not self.simulated:
            return new_message_id()
        now = self.clock.now()
        if not isinstance(now, dt.datetime) or now.tzinfo is None:
            raise StateError(f"a simulated clock's now() must be a timezone-aware datetime, not {now!r}")
        t = (now - _EPOCH) // _ONE_US
        if t > self._last_us:
            self._last_us, self._seq = t, 0
        elif self._seq < _SIM_SEQ_MAX:
            self._seq += 1
        else:
            self._last_us, self._seq = self._last_us + 1, 0
        return f"{self._last_us:013x}{SIM_ID_TAG}{self._seq:06x}"
