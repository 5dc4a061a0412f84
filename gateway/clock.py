"""The business clock: now() in Asia/Shanghai, sleeps that follow it, and the agent-bank deadlines.

Two parts:

* Pure helpers, functions of (time, calendar, config) that never read a clock:
  `clearing_day_for`, `payment_deadline`, `receipts_deadline`, `next_cutoffs`... The sans-IO
  cores call these with the time they were handed.
* `BusinessClock`, the one object that says what time it is. `live` reads the wall clock;
  `simulated` holds a virtual time that moves only when told (`advance_to`), waking the tasks
  sleeping on it in time order and letting the work each wake triggers run before moving on.
  Code that waits (retries, deadlines) calls `clock.sleep` / `clock.sleep_until`, never
  `asyncio.sleep`, so its timers follow whichever clock it was given.

Every time of day (16:00 clearing cutoff, 16:30 urgent, 10:00 next-morning payment, 11:00
receipts...) comes from `ClockConfig`, never from a constant in code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import itertools
import math
import time as _time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from messages.errors import InputError, StateError

from .calendar import BusinessCalendar

__all__ = [
    "TZ",
    "BusinessClock",
    "ClockConfig",
    "ClockError",
    "NotSimulatedError",
    "at",
    "clearing_cutoff",
    "clearing_day_for",
    "credit_notice_deadline",
    "daily_report_deadline",
    "deadline_after_business_days",
    "is_before_clearing_cutoff",
    "monthly_report_deadline",
    "monthly_statement_deadline",
    "next_cutoffs",
    "payment_deadline",
    "receipts_deadline",
    "refund_notice_deadline",
    "replenishment_day",
    "replenishment_window",
]

TZ = ZoneInfo("Asia/Shanghai")

# Notice periods are counted in business days; the agreement's longest is 3. A month of them
# would be a typo in a config file, not a rule.
NOTICE_DAYS_MAX = 20
# Live sleeps wake at least this often to re-read the wall clock, so an NTP step or a
# suspended VM does not make a deadline fire hours late.
LIVE_SLEEP_SLICE_S = 30.0
# Settling after a wake: rounds of "let every ready callback run" before giving up on a task
# that keeps rescheduling itself. A normal wake needs a handful.
SETTLE_ROUNDS_MAX = 10_000
# Settling also waits (in real time) for a woken task that went off the loop (a SQLite commit
# in a worker thread) to come back to the clock or finish. A task that instead waits for
# something only a later clock time brings would block the simulation; it gets this much.
SETTLE_WAIT_S_DEFAULT = 0.25
SETTLE_POLL_S = 0.0005
# A change subscriber's queue only needs the latest times; a slow reader loses the oldest.
CHANGES_QUEUE_MAX = 256


class ClockError(StateError):
    """The clock was asked for something impossible (time going backwards, a naive datetime)."""


class NotSimulatedError(ClockError):
    """Only a simulated clock can be moved by hand."""


def _time_of_day(value: Any, name: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 16:00 as 960 minutes
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise InputError("config-invalid", f"clock config {name}: {value!r} is not a time of day HH:MM")


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """The agreement's times of day (Asia/Shanghai) and notice periods (business days)."""

    clearing_cutoff: dt.time = dt.time(16, 0)
    urgent_cutoff: dt.time = dt.time(16, 30)
    bank_system_close: dt.time = dt.time(17, 0)
    next_morning_payment_deadline: dt.time = dt.time(10, 0)
    replenishment_window_start: dt.time = dt.time(8, 30)
    replenishment_window_end: dt.time = dt.time(10, 0)
    receipts_deadline: dt.time = dt.time(11, 0)
    credit_notice_days: int = 2
    refund_notice_days: int = 1
    daily_report_days: int = 1
    monthly_report_days: int = 2
    monthly_statement_days: int = 3

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_days"):
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= NOTICE_DAYS_MAX:
                    raise InputError("config-invalid", f"clock config {f.name}: {value!r} is not 0..{NOTICE_DAYS_MAX}")
            elif not isinstance(value, dt.time) or value.tzinfo is not None:
                raise InputError("config-invalid", f"clock config {f.name}: {value!r} is not a naive time of day")
        if not self.clearing_cutoff <= self.urgent_cutoff:
            raise InputError("config-invalid", "clock config: urgent_cutoff must not be before clearing_cutoff")
        if not self.replenishment_window_start < self.replenishment_window_end:
            raise InputError("config-invalid", "clock config: replenishment window start must be before its end")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ClockConfig:
        """Keys as the fields; `replenishment_window: {start, end}` is accepted too. Times as "HH:MM"."""
        data = dict(data or {})
        window = data.pop("replenishment_window", None)
        if window is not None:
            if not isinstance(window, dict) or set(window) - {"start", "end"}:
                raise InputError("config-invalid", "clock config replenishment_window: expected {start, end}")
            if "start" in window:
                data["replenishment_window_start"] = window["start"]
            if "end" in window:
                data["replenishment_window_end"] = window["end"]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InputError("config-invalid", f"clock config: unknown keys {sorted(map(str, unknown))}")
        values: dict[str, Any] = {k: (v if k.endswith("_days") else _time_of_day(v, k)) for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_yaml(cls, text: str) -> ClockConfig:
        import yaml

        try:
            return cls.from_dict(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise InputError("config-invalid", f"clock config is not valid YAML: {exc}") from exc


# --- pure helpers ----------------------------------------------------------------------------


def at(day: dt.date, time_of_day: dt.time) -> dt.datetime:
    """`day` at `time_of_day`, Asia/Shanghai."""
    return dt.datetime.combine(day, time_of_day, tzinfo=TZ)


def _local(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ClockError(f"naive datetime {t.isoformat()}: business times must be timezone-aware")
    return t.astimezone(TZ)


def clearing_cutoff(day: dt.date, config: ClockConfig, *, urgent: bool = False) -> dt.datetime:
    """The clearing cutoff (or urgent cutoff) on `day`; meaningful on business days only."""
    return at(day, config.urgent_cutoff if urgent else config.clearing_cutoff)


def is_before_clearing_cutoff(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig, *,
                              urgent: bool = False) -> bool:
    """True when `t` is on a business day strictly before that day's cutoff; a non-business day
    counts as after the cutoff (nothing clears that day)."""
    t = _local(t)
    return calendar.is_business_day(t.date()) and t < clearing_cutoff(t.date(), config, urgent=urgent)


def clearing_day_for(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig, *,
                     urgent: bool = False) -> dt.date:
    """The business day whose clearing a payment accepted at `t` belongs to: that day if before
    its cutoff on a business day, else the next business day."""
    t = _local(t)
    if is_before_clearing_cutoff(t, calendar, config, urgent=urgent):
        return t.date()
    return calendar.next_business_day(t.date())


def payment_deadline(received_at: dt.datetime, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    """An instruction received before the bank's system closes on a business day is paid that day
    (by the close); otherwise by the next-morning deadline of the next business day."""
    t = _local(received_at)
    if calendar.is_business_day(t.date()) and t.time() < config.bank_system_close:
        return at(t.date(), config.bank_system_close)
    return at(calendar.next_business_day(t.date()), config.next_morning_payment_deadline)


def replenishment_day(advance_day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """The clearing reserve, advanced on `advance_day`, is made whole the next business day."""
    return calendar.next_business_day(advance_day)


def replenishment_window(advance_day: dt.date, calendar: BusinessCalendar,
                         config: ClockConfig) -> tuple[dt.datetime, dt.datetime]:
    day = replenishment_day(advance_day, calendar)
    return at(day, config.replenishment_window_start), at(day, config.replenishment_window_end)


def receipts_deadline(paid_day: dt.date, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    """Voucher receipts and clearing lists go back to the treasury by 11:00 the next business day."""
    return at(calendar.next_business_day(paid_day), config.receipts_deadline)


def deadline_after_business_days(t: dt.datetime | dt.date, n: int, calendar: BusinessCalendar) -> dt.datetime:
    """"Within n working days" of `t`: the end (23:59:59.999999, inclusive) of the n-th business
    day after the day of `t` (n == 0: that day if a business day, else the next one)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = _local(t).date() if isinstance(t, dt.datetime) else t
    return at(calendar.add_business_days(day, n), dt.time.max)


def credit_notice_deadline(paid: dt.datetime | dt.date, calendar: BusinessCalendar,
                           config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(paid, config.credit_notice_days, calendar)


def refund_notice_deadline(refunded: dt.datetime | dt.date, calendar: BusinessCalendar,
                           config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(refunded, config.refund_notice_days, calendar)


def daily_report_deadline(day: dt.date, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(day, config.daily_report_days, calendar)


def _month_end(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def monthly_report_deadline(year: int, month: int, calendar: BusinessCalendar,
                            config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(_month_end(year, month), config.monthly_report_days, calendar)


def monthly_statement_deadline(year: int, month: int, calendar: BusinessCalendar,
                               config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(_month_end(year, month), config.monthly_statement_days, calendar)


def _daily_events(config: ClockConfig) -> Iterable[tuple[str, dt.time]]:
    return (
        ("replenishment-window-start", config.replenishment_window_start),
        ("next-morning-payment-deadline", config.next_morning_payment_deadline),
        ("replenishment-window-end", config.replenishment_window_end),
        ("receipts-deadline", config.receipts_deadline),
        ("clearing-cutoff", config.clearing_cutoff),
        ("urgent-cutoff", config.urgent_cutoff),
        ("bank-system-close", config.bank_system_close),
    )


def next_cutoffs(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig) -> list[tuple[str, dt.datetime]]:
    """For each daily event of the agreement, its next occurrence strictly after `t` on a business
    day, sorted by time (what `tgw clock` shows)."""
    t = _local(t)
    today_open = calendar.is_business_day(t.date())
    following = calendar.next_business_day(t.date())
    events = []
    for name, time_of_day in _daily_events(config):
        when = at(t.date(), time_of_day)
        if not (today_open and when > t):
            when = at(following, time_of_day)
        events.append((name, when))
    events.sort(key=lambda e: e[1])
    return events


# --- the clock -------------------------------------------------------------------------------


@dataclass(order=True, slots=True)
class _Sleeper:
    wake_at: dt.datetime
    seq: int
    future: asyncio.Future[None] = dataclasses.field(compare=False)
    task: asyncio.Task[Any] | None = dataclasses.field(compare=False)


class BusinessClock:
    """Now in Asia/Shanghai, sleeps that follow it, and (simulated mode) a hand on the dial."""

    def __init__(self, calendar: BusinessCalendar, config: ClockConfig, *, start: dt.datetime | None,
                 settle_wait_s: float = SETTLE_WAIT_S_DEFAULT) -> None:
        """Use `live` or `simulated`."""
        self.calendar = calendar
        self.config = config
        self._now = _local(start) if start is not None else None
        self._settle_wait_s = settle_wait_s
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._callbacks: list[Callable[[dt.datetime], None]] = []
        self._queues: list[asyncio.Queue[dt.datetime]] = []
        self._advancing: asyncio.Lock | None = None
        self._asleep_tasks: set[asyncio.Task[Any]] = set()  # tasks awaiting a sleeper future now

    @classmethod
    def live(cls, calendar: BusinessCalendar, config: ClockConfig) -> BusinessClock:
        return cls(calendar, config, start=None)

    @classmethod
    def simulated(cls, calendar: BusinessCalendar, config: ClockConfig, start: dt.datetime, *,
                  settle_wait_s: float = SETTLE_WAIT_S_DEFAULT) -> BusinessClock:
        return cls(calendar, config, start=start, settle_wait_s=settle_wait_s)

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
        t = _local(t)
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
        if task is not None:
            self._asleep_tasks.add(task)
        try:
            await future  # cancelling the sleeping task cancels the future; the heap drops it later
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
        to = _local(to)
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
        """Let the loop run until idle and every woken task is done or asleep on this clock again
        (bounded by SETTLE_ROUNDS_MAX rounds and settle_wait_s of real time)."""
        loop = asyncio.get_running_loop()
        deadline = _time.monotonic() + self._settle_wait_s
        while True:
            await _drain_ready(loop)
            busy = [task for task in woken if not task.done() and task not in self._asleep_tasks]
            if not busy or _time.monotonic() >= deadline:
                return
            await asyncio.sleep(SETTLE_POLL_S)


async def _drain_ready(loop: asyncio.AbstractEventLoop) -> None:
    # CPython's loop keeps its runnable callbacks in `_ready`; other loops fall back to a fixed
    # number of turns.
    ready = getattr(loop, "_ready", None)
    await asyncio.sleep(0)
    for _ in range(SETTLE_ROUNDS_MAX if ready is not None else 64):
        if ready is not None and not ready:
            return
        await asyncio.sleep(0)
