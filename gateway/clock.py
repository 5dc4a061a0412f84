"""`BusinessClock`: the one object that says what business time it is.

`live` reads the wall clock in Asia/Shanghai; `simulated` holds a virtual time that moves only
when told (`advance_to`, e.g. through `POST /v1/clock` of a `tgw up --simulated-clock`), waking
the tasks sleeping on it in time order. Code that waits (retries, deadlines) calls
`clock.sleep` / `clock.sleep_until`, never `asyncio.sleep`, so its timers follow whichever clock
it was given. The pure deadline helpers live in `business_time.clock`.

Settling (simulated): after waking the sleepers due at a time, `advance_to` waits until each task
it woke is done, asleep on the clock again, or idle (awaiting through `clock.idle(...)`: "nothing
to do until something else happens"), and only then moves on. It follows those tasks, not the
event loop's internals, and waits on no real-time window; a woken task that blocks on anything
else is reported after SETTLE_STUCK_S and no longer waited for. The simulation engine
(`sim.engine`) does not use this clock: it owns its own discrete-event time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, ClockError, NotSimulatedError, to_local

__all__ = ["BusinessClock"]

log = structlog.get_logger("tgw.clock")

_T = TypeVar("_T")

# Live sleeps wake at least this often to re-read the wall clock, so an NTP step or a
# suspended VM does not make a deadline fire hours late.
LIVE_SLEEP_SLICE_S = 30.0
# A watchdog, not a settle window: a woken task that neither finishes, nor sleeps on the clock
# again, nor goes idle through `clock.idle` (it waits on something else, maybe something only a
# later clock time brings) would hold the clock for ever. After this long it is logged and the
# clock moves on. A normal wake settles as soon as its work is done, however long that takes.
SETTLE_STUCK_S = 30.0
# A change subscriber's queue only needs the latest times; a slow reader loses the oldest.
CHANGES_QUEUE_MAX = 256


# --- the clock -------------------------------------------------------------------------------


@dataclass(order=True, slots=True)
class _Sleeper:
    wake_at: dt.datetime
    seq: int
    future: asyncio.Future[None] = dataclasses.field(compare=False)
    task: asyncio.Task[Any] | None = dataclasses.field(compare=False)


class BusinessClock:
    """Now in Asia/Shanghai, sleeps that follow it, and (simulated mode) a hand on the dial."""

    def __init__(self, calendar: BusinessCalendar, config: ClockConfig, *, start: dt.datetime | None) -> None:
        """Use `live` or `simulated`."""
        self.calendar = calendar
        self.config = config
        self._now = to_local(start) if start is not None else None
        self.start = self._now  # where a simulated clock started (a test gateway's reset goes back here)
        self.epoch = 0  # times a simulated clock was set back (`rewind`: a test gateway's reset)
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._callbacks: list[Callable[[dt.datetime], None]] = []
        self._queues: list[asyncio.Queue[dt.datetime]] = []
        self._advancing: asyncio.Lock | None = None
        self._asleep_tasks: set[asyncio.Task[Any]] = set()  # tasks asleep on the clock or idle now
        self._parked: asyncio.Event | None = None  # set when a task goes to sleep or idle

    @classmethod
    def live(cls, calendar: BusinessCalendar, config: ClockConfig) -> BusinessClock:
        return cls(calendar, config, start=None)

    @classmethod
    def simulated(cls, calendar: BusinessCalendar, config: ClockConfig, start: dt.datetime) -> BusinessClock:
        return cls(calendar, config, start=start)

    @property
    def is_simulated(self) -> bool:
        return self._now is not None

    def now(self) -> dt.datetime:
        return self._now if self._now is not None else dt.datetime.now(TZ)

    def today(self) -> dt.date:
        return self.now().date()

    @property
    def pending_sleepers(self) -> int:
        """Sleepers still waiting on a simulated clock (cancelled ones excluded)."""
        return sum(1 for s in self._sleepers if not s.future.done())

    def next_wake(self) -> dt.datetime | None:
        """The earliest time a sleeper waits for (simulated), or None."""
        self._drop_cancelled()
        return self._sleepers[0].wake_at if self._sleepers else None

    # --- waiting ---------------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"sleep seconds must be finite and >= 0, got {seconds!r}")
        if self._now is None:
            await asyncio.sleep(seconds)
            return
        await self.sleep_until(self._now + dt.timedelta(seconds=seconds))

    async def sleep_until(self, t: dt.datetime) -> None:
        """Return once now() >= t (at once, after yielding to the loop, if it already is)."""
        t = to_local(t)
        if self._now is None:
            # Sliced: the wall clock is re-read each slice (an NTP step must not delay a deadline).
            while (remaining_s := (t - dt.datetime.now(TZ)).total_seconds()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(min(remaining_s, LIVE_SLEEP_SLICE_S))
            return
        if t <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        heapq.heappush(self._sleepers, _Sleeper(t, next(self._seq), future, task))
        await self._parked_while(future, task)  # cancelling the task cancels the future; the heap drops it

    async def idle(self, waiting: Awaitable[_T]) -> _T:
        """Await `waiting` (e.g. "a new input arrived") as a task with nothing to do until then: a
        simulated clock that woke this task counts it as settled meanwhile."""
        if self._now is None:
            return await waiting
        return await self._parked_while(waiting, asyncio.current_task())

    async def _parked_while(self, waiting: Awaitable[_T], task: asyncio.Task[Any] | None) -> _T:
        if task is not None:
            self._asleep_tasks.add(task)
            if self._parked is not None:
                self._parked.set()
        try:
            return await waiting
        finally:
            if task is not None:
                self._asleep_tasks.discard(task)

    async def run_until(self, t: dt.datetime) -> None:
        """Simulated: advance the clock to `t`, running everything due on the way. Live: sleep until `t`."""
        if self._now is None:
            await self.sleep_until(t)
        else:
            await self.advance_to(t)

    # --- moving the hand (simulated only) --------------------------------------------------

    def advance(self, to: dt.datetime) -> None:
        """Jump to `to` at once and wake every sleeper due, in order. The woken tasks run later and
        all see now() == `to`; prefer `await advance_to(to)`, which stops at each wake time."""
        to = self._check_advance(to)
        self._now = to
        while self._sleepers and self._sleepers[0].wake_at <= to:
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.future.done():
                sleeper.future.set_result(None)
        self._notify(to)

    async def advance_to(self, to: dt.datetime) -> None:
        """Move to `to`, stopping at each sleeper's wake time in order: set now() to it, wake the
        sleepers due then (in the order they went to sleep), and let the work they trigger settle
        (the loop idle, each woken task finished or asleep on the clock again) before moving on.
        Sleepers added during the advance, if due by `to`, are woken in their turn."""
        self._check_advance(to)
        if self._advancing is None:
            self._advancing = asyncio.Lock()
        async with self._advancing:
            to = self._check_advance(to)
            while (wake_at := self.next_wake()) is not None and wake_at <= to:
                self._now = wake_at
                self._notify(wake_at)
                woken: list[asyncio.Task[Any]] = []
                while self._sleepers and self._sleepers[0].wake_at == wake_at:
                    sleeper = heapq.heappop(self._sleepers)
                    if not sleeper.future.done():
                        sleeper.future.set_result(None)
                        if sleeper.task is not None:
                            woken.append(sleeper.task)
                await self._settle(woken)
            if self._now != to:
                self._now = to
                self._notify(to)
            await self._settle([])
            assert self._now == to and (not self._sleepers or self._sleepers[0].wake_at > to)

    async def advance_by(self, seconds: float) -> None:
        await self.advance_to(self._check_advance(self.now()) + dt.timedelta(seconds=seconds))

    async def rewind(self, to: dt.datetime | None = None) -> None:
        """Simulated, a test gateway's reset only (`POST /v1/sim/reset`): set the clock to `to`
        (default: where it started), earlier or later, and count a new `epoch`. Everyone told of a
        change is told (a parked `GET /v1/clock` long-poll answers with the new epoch). Sleepers
        stay asleep until the clock reaches their time again."""
        if self._now is None:
            raise NotSimulatedError("a live clock follows the wall clock; only a simulated clock can be set back")
        target = to_local(to) if to is not None else self.start
        assert target is not None
        if self._advancing is None:
            self._advancing = asyncio.Lock()
        async with self._advancing:  # never in the middle of an advance
            self._now = target
            self.epoch += 1
            self._notify(target)

    # --- change notification ---------------------------------------------------------------

    def on_change(self, callback: Callable[[dt.datetime], None]) -> Callable[[], None]:
        """Call `callback(new_now)` whenever a simulated clock moves; returns an unsubscribe
        function. A live clock never calls it (its time flows; read now())."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    async def changes(self) -> AsyncIterator[dt.datetime]:
        """Async iterator over the times a simulated clock moves to (oldest dropped if the
        reader falls more than CHANGES_QUEUE_MAX behind)."""
        queue: asyncio.Queue[dt.datetime] = asyncio.Queue(CHANGES_QUEUE_MAX)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    # --- internals -------------------------------------------------------------------------

    def _check_advance(self, to: dt.datetime) -> dt.datetime:
        if self._now is None:
            raise NotSimulatedError("a live clock follows the wall clock; only a simulated clock can advance")
        to = to_local(to)
        if to < self._now:
            raise ClockError(f"cannot move the clock back from {self._now.isoformat()} to {to.isoformat()}")
        return to

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0].future.done():
            heapq.heappop(self._sleepers)

    def _notify(self, now: dt.datetime) -> None:
        for callback in list(self._callbacks):
            callback(now)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(now)

    async def _settle(self, woken: list[asyncio.Task[Any]]) -> None:
        """Wait until every woken task is done, asleep on this clock again, or idle (`idle()`).
        Event-driven: a task going to sleep or idle, or finishing, re-checks; nothing polls."""
        await asyncio.sleep(0)  # let the woken tasks start
        if not woken:
            return
        changed = self._parked = asyncio.Event()

        def on_done(_: asyncio.Task[Any]) -> None:
            changed.set()

        for task in woken:
            task.add_done_callback(on_done)
        try:
            while busy := [task for task in woken if not task.done() and task not in self._asleep_tasks]:
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), timeout=SETTLE_STUCK_S)
                except TimeoutError:
                    log.warning("clock.settle_stuck", at=self.now().isoformat(), tasks=[t.get_name() for t in busy],
                                waited_s=SETTLE_STUCK_S)
                    return
        finally:
            self._parked = None
            for task in woken:
                task.remove_done_callback(on_done)
