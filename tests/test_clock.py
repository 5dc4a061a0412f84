"""The business clock: simulated time, sleepers woken in order, and the agreement's deadlines."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from business_time.calendar import BusinessCalendar
from business_time.clock import (
    TZ,
    ClockConfig,
    ClockError,
    NotSimulatedError,
    at,
    clearing_cutoff,
    clearing_day_for,
    credit_notice_deadline,
    deadline_after_business_days,
    is_before_clearing_cutoff,
    monthly_report_deadline,
    next_cutoffs,
    payment_deadline,
    quota_arrival_notice_deadline,
    receipts_deadline,
    replenishment_day,
    replenishment_window,
)
from gateway.clock import BusinessClock
from messages.errors import InputError

CAL = BusinessCalendar.default()
CFG = ClockConfig()
D = dt.date


def t(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


def sim(start: dt.datetime) -> BusinessClock:
    return BusinessClock.simulated(CAL, CFG, start)


# --- config ------------------------------------------------------------------------------------


def test_config_defaults_and_from_yaml() -> None:
    assert CFG.clearing_cutoff == dt.time(16) and CFG.urgent_cutoff == dt.time(16, 30)
    cfg = ClockConfig.from_yaml(
        "clearing_cutoff: '15:30'\nurgent_cutoff: 16:00\nreplenishment_window: {start: '08:00', end: '09:30'}\n"
        "credit_notice_days: 3\n")
    assert cfg.clearing_cutoff == dt.time(15, 30)
    assert cfg.urgent_cutoff == dt.time(16)  # YAML 1.1 reads unquoted 16:00 as 960
    assert (cfg.replenishment_window_start, cfg.replenishment_window_end) == (dt.time(8), dt.time(9, 30))
    assert cfg.credit_notice_days == 3 and cfg.receipts_deadline == dt.time(11)


@pytest.mark.parametrize("data", [
    {"clearing_cutoff": "25:00"},
    {"cutoff": "16:00"},
    {"clearing_cutoff": "17:00", "urgent_cutoff": "16:30"},
    {"replenishment_window": {"start": "10:00", "end": "09:00"}},
    {"credit_notice_days": -1},
    {"credit_notice_days": "2"},
])
def test_bad_config_refused(data: dict[str, object]) -> None:
    with pytest.raises(InputError) as info:
        ClockConfig.from_dict(data)
    assert info.value.code == "config-invalid"


# --- pure helpers ------------------------------------------------------------------------------


def test_clearing_cutoff_boundaries() -> None:
    assert clearing_cutoff(D(2025, 9, 29), CFG) == t(2025, 9, 29, 16)
    assert is_before_clearing_cutoff(t(2025, 9, 29, 15, 59), CAL, CFG)
    assert not is_before_clearing_cutoff(t(2025, 9, 29, 16, 0), CAL, CFG)
    assert not is_before_clearing_cutoff(t(2025, 9, 29, 16, 1), CAL, CFG)
    assert is_before_clearing_cutoff(t(2025, 9, 29, 16, 1), CAL, CFG, urgent=True)
    assert is_before_clearing_cutoff(t(2025, 9, 29, 16, 29, 59), CAL, CFG, urgent=True)
    assert not is_before_clearing_cutoff(t(2025, 9, 29, 16, 30), CAL, CFG, urgent=True)
    # A holiday morning is "after the cutoff": nothing clears that day.
    assert not is_before_clearing_cutoff(t(2025, 10, 1, 9), CAL, CFG)
    # Another timezone is converted, not misread: 07:59 UTC is 15:59 in Shanghai.
    assert is_before_clearing_cutoff(dt.datetime(2025, 9, 29, 7, 59, tzinfo=dt.UTC), CAL, CFG)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ClockError):
        is_before_clearing_cutoff(dt.datetime(2025, 9, 29, 12), CAL, CFG)


def test_clearing_day_for() -> None:
    assert clearing_day_for(t(2025, 9, 29, 15, 59), CAL, CFG) == D(2025, 9, 29)
    assert clearing_day_for(t(2025, 9, 29, 16, 1), CAL, CFG) == D(2025, 9, 30)
    assert clearing_day_for(t(2025, 9, 29, 16, 1), CAL, CFG, urgent=True) == D(2025, 9, 29)
    assert clearing_day_for(t(2025, 9, 30, 16, 1), CAL, CFG) == D(2025, 10, 9)
    assert clearing_day_for(t(2025, 10, 3, 10), CAL, CFG) == D(2025, 10, 9)


def test_payment_deadline() -> None:
    # 2025-09-30 (a Tuesday, the last business day before the National Day week), after close:
    assert payment_deadline(t(2025, 9, 30, 17, 30), CAL, CFG) == t(2025, 10, 9, 10)
    assert payment_deadline(t(2025, 9, 30, 17, 0), CAL, CFG) == t(2025, 10, 9, 10)
    assert payment_deadline(t(2025, 9, 30, 16, 59), CAL, CFG) == t(2025, 9, 30, 17)
    assert payment_deadline(t(2025, 10, 4, 9), CAL, CFG) == t(2025, 10, 9, 10)
    # Friday 2025-09-26 after close: Sunday 09-28 is a make-up working day.
    assert payment_deadline(t(2025, 9, 26, 18), CAL, CFG) == t(2025, 9, 28, 10)


def test_replenishment_after_advance_before_holiday() -> None:
    assert replenishment_day(D(2025, 9, 30), CAL) == D(2025, 10, 9)
    assert replenishment_window(D(2025, 9, 30), CAL, CFG) == (t(2025, 10, 9, 8, 30), t(2025, 10, 9, 12))
    # Spring Festival 2026: the last business day before it is Saturday 02-14 (make-up day).
    assert replenishment_day(D(2026, 2, 14), CAL) == D(2026, 2, 24)
    assert replenishment_day(D(2026, 2, 13), CAL) == D(2026, 2, 14)


def test_receipts_and_notice_deadlines() -> None:
    assert receipts_deadline(D(2025, 9, 30), CAL, CFG) == t(2025, 10, 9, 11)
    assert credit_notice_deadline(t(2025, 9, 29, 12), CAL, CFG) == at(D(2025, 10, 9), dt.time.max)
    assert deadline_after_business_days(D(2025, 10, 1), 0, CAL) == at(D(2025, 10, 9), dt.time.max)
    # Month end 2025-09-30 + 2 business days.
    assert monthly_report_deadline(2025, 9, CAL, CFG) == at(D(2025, 10, 10), dt.time.max)
    # 2026-01-01..03 are off and Sunday 01-04 is a make-up working day.
    assert monthly_report_deadline(2025, 12, CAL, CFG).date() == D(2026, 1, 5)
    with pytest.raises(InputError, match="calendar-out-of-range"):
        receipts_deadline(D(2026, 12, 31), CAL, CFG)


def test_quota_arrival_notice_deadline_follows_the_calendar() -> None:
    # 1 + 1 working days (004 part 3 §9(2)): Friday 2026-02-13 → Saturday 02-14 (a make-up working
    # day) → 02-24, after the Spring Festival holiday (02-15..23), end of day
    assert quota_arrival_notice_deadline(t(2026, 2, 13, 9), CAL, CFG) == at(D(2026, 2, 24), dt.time.max)
    assert quota_arrival_notice_deadline(D(2026, 2, 12), CAL, CFG) == at(D(2026, 2, 14), dt.time.max)
    # received on a holiday: counted from it, so the second working day after it
    assert quota_arrival_notice_deadline(t(2026, 2, 18, 10), CAL, CFG) == at(D(2026, 2, 25), dt.time.max)
    one = ClockConfig.from_dict({"quota_notice_days": 1})
    assert quota_arrival_notice_deadline(D(2026, 2, 14), CAL, one) == at(D(2026, 2, 24), dt.time.max)
    with pytest.raises(InputError, match="config-invalid"):
        ClockConfig.from_dict({"quota_notice_days": -1})


def test_next_cutoffs() -> None:
    events = dict(next_cutoffs(t(2025, 9, 30, 15), CAL, CFG))
    assert events["clearing-cutoff"] == t(2025, 9, 30, 16)
    assert events["urgent-cutoff"] == t(2025, 9, 30, 16, 30)
    assert events["receipts-deadline"] == t(2025, 10, 9, 11)
    listed = next_cutoffs(t(2025, 9, 30, 15), CAL, CFG)
    assert [w for _, w in listed] == sorted(w for _, w in listed)
    assert all(w > t(2025, 9, 30, 15) for _, w in listed)


# --- the clock ---------------------------------------------------------------------------------


async def test_live_clock_reads_wall_time_and_refuses_advance() -> None:
    clock = BusinessClock.live(CAL, CFG)
    assert not clock.is_simulated
    assert abs((clock.now() - dt.datetime.now(TZ)).total_seconds()) < 5
    assert clock.now().tzinfo is TZ
    with pytest.raises(NotSimulatedError):
        clock.advance(clock.now() + dt.timedelta(hours=1))
    with pytest.raises(NotSimulatedError):
        await clock.advance_to(clock.now() + dt.timedelta(hours=1))
    started = time.monotonic()
    await clock.sleep(0.01)
    await clock.sleep_until(clock.now() + dt.timedelta(milliseconds=10))
    assert time.monotonic() - started >= 0.015


async def test_simulated_wakes_in_order_and_only_when_due() -> None:
    clock = sim(t(2025, 9, 29, 9))
    assert clock.is_simulated and clock.today() == D(2025, 9, 29)
    woke: list[tuple[str, dt.datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("c", 300), ("a", 60), ("b", 120), ("a2", 60))]
    await asyncio.sleep(0)
    assert clock.pending_sleepers == 4
    await clock.advance_to(t(2025, 9, 29, 9, 1, 59))
    assert woke == [("a", t(2025, 9, 29, 9, 1)), ("a2", t(2025, 9, 29, 9, 1))]
    assert clock.now() == t(2025, 9, 29, 9, 1, 59)
    await clock.advance_to(t(2025, 9, 29, 10))
    assert [n for n, _ in woke] == ["a", "a2", "b", "c"]
    assert woke[2:] == [("b", t(2025, 9, 29, 9, 2)), ("c", t(2025, 9, 29, 9, 5))]
    await asyncio.gather(*tasks)
    with pytest.raises(ClockError):
        await clock.advance_to(t(2025, 9, 29, 9))


async def test_work_triggered_by_a_wake_settles_before_the_clock_moves_on() -> None:
    clock = sim(t(2025, 9, 29, 9))
    seen: list[dt.datetime] = []

    async def chain() -> None:
        # Each step sleeps from the time it woke at, and does some off-loop work in between.
        for _ in range(3):
            await clock.sleep(60)
            await asyncio.to_thread(time.sleep, 0.005)
            seen.append(clock.now())

    task = asyncio.create_task(chain())
    await asyncio.sleep(0)
    await clock.advance_to(t(2025, 9, 29, 12))
    assert seen == [t(2025, 9, 29, 9, 1), t(2025, 9, 29, 9, 2), t(2025, 9, 29, 9, 3)]
    await task


async def test_cancelled_sleeper_is_dropped() -> None:
    clock = sim(t(2025, 9, 29, 9))
    task = asyncio.create_task(clock.sleep(60))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_sleepers == 0
    assert clock.next_wake() is None
    await clock.advance_to(t(2025, 9, 29, 10))


async def test_sync_advance_and_run_until_and_changes() -> None:
    clock = sim(t(2025, 9, 29, 9))
    seen: list[dt.datetime] = []
    unsubscribe = clock.on_change(seen.append)
    task = asyncio.create_task(clock.sleep_until(t(2025, 9, 29, 9, 30)))
    await asyncio.sleep(0)
    clock.advance(t(2025, 9, 29, 10))
    await task
    assert seen == [t(2025, 9, 29, 10)]
    unsubscribe()

    received: list[dt.datetime] = []

    async def reader() -> None:
        async for now in clock.changes():
            received.append(now)
            if len(received) == 2:
                return

    reading = asyncio.create_task(reader())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(clock.sleep(600))
    await asyncio.sleep(0)
    await clock.run_until(t(2025, 9, 29, 11))
    await reading
    await waiter
    assert received == [t(2025, 9, 29, 10, 10), t(2025, 9, 29, 11)]
    assert seen == [t(2025, 9, 29, 10)]  # unsubscribed
    with pytest.raises(ValueError):
        await clock.sleep(-1)


async def test_a_simulated_week_of_hourly_timers_runs_fast() -> None:
    clock = sim(t(2025, 9, 29, 0))
    ticks: list[dt.datetime] = []
    deadlines: list[dt.datetime] = []

    async def hourly() -> None:
        while True:
            await clock.sleep(3600)
            ticks.append(clock.now())

    async def per_minute_retry() -> None:
        for _ in range(7 * 24 * 6):  # every 10 minutes for a week
            await clock.sleep(600)
            deadlines.append(payment_deadline(clock.now(), CAL, CFG))

    tasks = [asyncio.create_task(hourly()), asyncio.create_task(per_minute_retry())]
    await asyncio.sleep(0)
    started = time.monotonic()
    await clock.advance_to(t(2025, 10, 6, 0))
    elapsed_s = time.monotonic() - started
    assert len(ticks) == 7 * 24
    assert ticks == [t(2025, 9, 29) + dt.timedelta(hours=h + 1) for h in range(7 * 24)]
    assert len(deadlines) == 7 * 24 * 6
    # Not a speed test: a simulated clock must never wait in real time. A week of timers that
    # waited even a second each would take hours; a minute is a bound no machine load reaches.
    assert elapsed_s < 60.0, elapsed_s
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_to_local_gives_a_local_time_back_as_it_is_and_converts_any_other() -> None:
    from business_time.clock import TZ, to_local

    local = dt.datetime(2026, 3, 16, 9, 30, tzinfo=TZ)
    assert to_local(local) is local
    utc = dt.datetime(2026, 3, 16, 1, 30, tzinfo=dt.UTC)
    assert to_local(utc) == local and to_local(utc).tzinfo is TZ
    with pytest.raises(ClockError):
        to_local(dt.datetime(2026, 3, 16, 9, 30))
