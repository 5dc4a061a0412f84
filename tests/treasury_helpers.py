"""Driving a treasury core in tests as its shell would."""

from __future__ import annotations

import datetime as dt

from business_time.clock import TZ
from sim.effects import Effect, WakeAt
from treasury_sim.core import TreasuryCore


def run_until(core: TreasuryCore, end: dt.datetime) -> list[Effect]:
    """Follow the core's WakeAts from 08:00 of its first day to `end`, as the shell would."""
    now, out = dt.datetime.combine(core.days[0], dt.time(8, 0), tzinfo=TZ), []
    while now <= end:
        effects = core.on_time(now)
        out += effects
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            break
        now = wakes[-1]
    return out
