"""Seeded faults for the simulation engine: pure decisions drawn from `random.Random(seed)`.

The engine (`sim.engine.SimEngine`) applies them; this module only decides. Two halves:

* **a timed schedule** (`plan_schedule`), fixed before the run: crash a participant between two
  steps and rebuild it from its database (`crash`), crash the gateway and start a new one over
  the same database (`gateway-restart`), take a bank offline across the clearing cutoff and back
  (`offline` / `online`);
* **per delivery** (`FaultInjector.on_deliveries`, the engine's interceptor), each pulled batch in
  the order the engine reads it: `drop` (not handed over, not acked: the gateway keeps the row and
  it comes again at the redelivery timeout), `duplicate` (handed over twice), `delay` (held for
  a few simulated seconds, so later deliveries pass it), `reorder` (the batch handed over in
  another order), `ack-lost` (handled, but the ack never reaches the gateway: redelivered), and a
  crash of the recipient in the middle of the batch: `crash-before-commit` (pulled, then died),
  `crash-after-commit` (died before its sends), `crash-after-send` (died before its ack).

Every decision comes from generators seeded by the run's seed, and the engine asks in an order
fixed by simulated time, so a seed gives the same faults, the same messages and the same journal
digest on every run. The rates are drawn per seed too: some seeds are quiet, some are stormy.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from client import Delivery

__all__ = [
    "APPLIED_LOG_MAX",
    "CRASHES_IN_BATCH_MAX",
    "CRASH_POINTS",
    "DELAY_MAX_S",
    "FAULT_KINDS",
    "BatchFate",
    "FaultInjector",
    "FaultRates",
    "FaultSchedule",
    "ParticipantCrash",
    "TimedFault",
    "plan_schedule",
]

# Where a recipient can die inside a batch (see the module doc).
CRASH_POINTS = ("crash-before-commit", "crash-after-commit", "crash-after-send")
# Every kind of fault this module can make (the fault run counts each).
FAULT_KINDS = ("drop", "duplicate", "delay", "reorder", "ack-lost", *CRASH_POINTS, "crash", "gateway-restart",
               "offline")
# A delayed delivery is held at most this long (simulated seconds): well under the half hour
# between a bank's filing (15:30) and the central bank's cutoff (16:00), so a delay alone never
# turns a clearing request into an `after-cutoff` refusal (that is a business outcome, not a fault).
DELAY_MAX_S = 180
# Crashes inside a batch per run: each one costs a restore; a run with no cap and a high rate
# would spend its time restarting (the timed crashes are counted apart).
CRASHES_IN_BATCH_MAX = 4
# Applied faults kept for the report of a failing seed (the counts cover all of them).
APPLIED_LOG_MAX = 200

# Upper bounds of the per-seed rates (each seed draws its rates uniformly below these). Drops are
# capped well below 1 so a delivery comes through after a few redeliveries.
_RATE_MAX = {"drop": 0.08, "duplicate": 0.08, "delay": 0.10, "ack_lost": 0.05, "reorder": 0.5, "crash": 0.03}


class ParticipantCrash(Exception):
    """A simulated process death of a participant (raised inside its shell by the engine)."""


@dataclass(frozen=True, slots=True)
class FaultRates:
    drop: float = 0.0  # per delivery
    duplicate: float = 0.0  # per delivery
    delay: float = 0.0  # per delivery
    ack_lost: float = 0.0  # per batch
    reorder: float = 0.0  # per batch of two or more
    crash: float = 0.0  # per batch: the recipient dies at one of CRASH_POINTS

    def as_dict(self) -> dict[str, float]:
        return {"drop": self.drop, "duplicate": self.duplicate, "delay": self.delay, "ack_lost": self.ack_lost,
                "reorder": self.reorder, "crash": self.crash}


@dataclass(frozen=True, slots=True)
class TimedFault:
    at: dt.datetime
    kind: str  # crash | gateway-restart | offline | online
    participant: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "participant": self.participant}


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    seed: int
    rates: FaultRates
    timed: tuple[TimedFault, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "rates": self.rates.as_dict(), "timed": [t.as_dict() for t in self.timed]}


@dataclass(slots=True)
class BatchFate:
    """What happens to one pulled batch: `now` is handed to the shell in this order; `later` is
    held (simulated seconds, 0 = in a following batch at this instant); `dropped` is neither
    handed over nor acked; `crash` kills the recipient at that point; `ack_lost` swallows its ack."""

    now: list[Delivery]
    later: list[tuple[float, Delivery]] = field(default_factory=list)
    dropped: list[Delivery] = field(default_factory=list)
    crash: str | None = None
    ack_lost: bool = False


def _at(day: dt.date, minute: int, tz: dt.tzinfo | None) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=tz)


def _minute(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def plan_schedule(seed: int, *, days: Sequence[dt.date], participants: Sequence[str], banks: Sequence[str],
                  tz: dt.tzinfo | None, day_start: dt.time, day_end: dt.time,
                  offline_from: tuple[dt.time, dt.time], offline_until: tuple[dt.time, dt.time]) -> FaultSchedule:
    """The seed's fault schedule (pure). Timed faults fall on `days` between `day_start` and
    `day_end`; a bank goes offline at a minute in `offline_from` and is back at one in
    `offline_until` (the caller picks windows around the clearing cutoff)."""
    rng = random.Random(f"faults:{seed}:schedule")
    rates = FaultRates(**{k: round(rng.uniform(0.0, v), 4) for k, v in _RATE_MAX.items()})
    timed: list[TimedFault] = []
    lo, hi = _minute(day_start), _minute(day_end)
    for _ in range(rng.choice((0, 0, 1, 2))):
        timed.append(TimedFault(_at(rng.choice(list(days)), rng.randint(lo, hi), tz), "crash",
                                rng.choice(list(participants))))
    for _ in range(rng.choice((0, 1, 1, 2))):
        timed.append(TimedFault(_at(rng.choice(list(days)), rng.randint(lo, hi), tz), "gateway-restart"))
    if banks and rng.random() < 0.5:
        day, bank = rng.choice(list(days)), rng.choice(list(banks))
        timed.append(TimedFault(_at(day, rng.randint(*map(_minute, offline_from)), tz), "offline", bank))
        timed.append(TimedFault(_at(day, rng.randint(*map(_minute, offline_until)), tz), "online", bank))
    timed.sort(key=lambda f: (f.at, f.kind, f.participant or ""))
    return FaultSchedule(seed, rates, tuple(timed))


class FaultInjector:
    """The engine's delivery interceptor for one run: decides each batch's fate from the seed,
    and counts (and logs, up to APPLIED_LOG_MAX) what it made happen."""

    def __init__(self, schedule: FaultSchedule) -> None:
        self.schedule = schedule
        self.rates = schedule.rates
        self._rng = random.Random(f"faults:{schedule.seed}:deliveries")
        self.counts: Counter[str] = Counter()
        self.applied: list[dict[str, Any]] = []
        self._crashes = 0

    def note(self, kind: str, at: dt.datetime, participant: str | None, detail: str = "") -> None:
        """Count a fault that happened (the engine and the runner call it too, for timed faults)."""
        self.counts[kind] += 1
        if len(self.applied) < APPLIED_LOG_MAX:
            self.applied.append({"at": at.isoformat(), "kind": kind, "participant": participant, "detail": detail})

    def on_deliveries(self, participant: str, items: Sequence[Delivery], now: dt.datetime) -> BatchFate:
        rng, r = self._rng, self.rates
        fate = BatchFate([])
        for item in items:
            roll = rng.random()
            if roll < r.drop:
                fate.dropped.append(item)
                self.note("drop", now, participant, item.message_id)
                continue
            if roll < r.drop + r.delay:
                seconds = rng.randint(1, DELAY_MAX_S)
                fate.later.append((float(seconds), item))
                self.note("delay", now, participant, f"{item.message_id} +{seconds}s")
                continue
            fate.now.append(item)
            if roll < r.drop + r.delay + r.duplicate:
                fate.later.append((0.0, item))
                self.note("duplicate", now, participant, item.message_id)
        if len(fate.now) > 1 and rng.random() < r.reorder:
            rng.shuffle(fate.now)
            self.note("reorder", now, participant, f"{len(fate.now)} deliveries")
        if fate.now and rng.random() < r.ack_lost:
            fate.ack_lost = True
            self.note("ack-lost", now, participant, f"{len(fate.now)} deliveries")
        if fate.now and self._crashes < CRASHES_IN_BATCH_MAX and rng.random() < r.crash:
            self._crashes += 1
            fate.crash = rng.choice(CRASH_POINTS)
            self.note(fate.crash, now, participant, f"{len(fate.now)} deliveries")
        return fate
