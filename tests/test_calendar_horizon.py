"""The calendar horizon: the last known day in `/healthz` and the start log, a warning once a day
from `warn_days` before it, a gauge counting down; past it, `calendar-out-of-range` as before.

Time is the simulated business clock throughout: no wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from gateway import metrics
from gateway.clock import BusinessClock
from gateway.horizon import CALENDAR_WARN_DAYS_DEFAULT, CalendarHorizon, watch_calendar
from gateway.http_app import make_app
from gateway.http_common import clock_view
from gateway.server import ServerConfig
from gateway.service import Gateway
from messages.errors import InputError
from runner.world import DevWorld
from storage.db import open_database

CALENDAR = BusinessCalendar.default()
LAST = dt.date(2026, 12, 31)


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] in ("calendar.ending_soon", "calendar.out_of_range")]


def test_shipped_calendar_ends_where_the_docs_say() -> None:
    assert CALENDAR.known_range[1] == LAST and CALENDAR_WARN_DAYS_DEFAULT == 30


@pytest.mark.parametrize(("days_before", "warned"), [(31, False), (30, True), (1, True), (0, True)])
def test_warning_from_warn_days_before_the_last_day(days_before: int, warned: bool) -> None:
    horizon = CalendarHorizon(CALENDAR)
    today = LAST - dt.timedelta(days=days_before)
    with structlog.testing.capture_logs() as logs:
        assert horizon.check(today) == days_before
    assert len(_warnings(logs)) == int(warned)
    assert metrics.CALENDAR_DAYS_LEFT._value.get() == days_before
    assert horizon.view(today) == {"last_day": "2026-12-31", "days_left": days_before, "warning": warned,
                                   "provisional_years": []}


async def test_watch_warns_once_a_day_driven_by_the_clock() -> None:
    clock = BusinessClock.simulated(CALENDAR, ClockConfig(), _at(LAST - dt.timedelta(days=31)))
    horizon = CalendarHorizon(CALENDAR, warn_days=30)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(watch_calendar(clock, horizon))
        await clock.advance_by(0)
        assert _warnings(logs) == []  # 31 days before: quiet
        await clock.advance_to(_at(LAST - dt.timedelta(days=30), 8))
        assert [(e["event"], e["days_left"]) for e in _warnings(logs)] == [("calendar.ending_soon", 30)]
        await clock.advance_to(_at(LAST - dt.timedelta(days=30), 23))  # later the same day: no repeat
        assert len(_warnings(logs)) == 1
        await clock.advance_to(_at(LAST - dt.timedelta(days=28), 12))  # two midnights: two more lines
        assert [e["days_left"] for e in _warnings(logs)] == [30, 29, 28]
        assert metrics.CALENDAR_DAYS_LEFT._value.get() == 28
        await clock.advance_to(_at(LAST + dt.timedelta(days=1), 12))  # past the end: an error, daily
        last = _warnings(logs)[-1]
        assert (last["event"], last["days_left"], last["log_level"]) == ("calendar.out_of_range", -1, "error")
        task.cancel()
    # and the calendar itself still refuses to guess, as before
    view = clock_view(clock)
    assert "calendar-out-of-range" in view["calendar_error"] and "business_day" not in view
    with pytest.raises(InputError, match="calendar-out-of-range"):
        CALENDAR.is_business_day(LAST + dt.timedelta(days=1))


async def test_healthz_shows_the_last_known_day(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "world")
    clock = BusinessClock.simulated(CALENDAR, ClockConfig(), _at(LAST - dt.timedelta(days=45)))
    db = await open_database(str(tmp_path / "gw.db"))
    gateway = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)
    await gateway.start()
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(gateway, calendar_warn_days=50)))
    await client.start_server()
    try:
        body = await (await client.get("/healthz")).json()
        assert body["calendar"] == {"last_day": "2026-12-31", "days_left": 45, "warning": True,
                                    "provisional_years": []}
        await clock.advance_to(_at(LAST + dt.timedelta(days=2)))
        body = await (await client.get("/healthz")).json()
        assert body["status"] == "ok" and body["calendar"]["days_left"] == -2
    finally:
        await client.close()
        await gateway.stop()
        await db.close()


def test_warn_days_from_config_and_refused_when_nonsense(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("participants: p.yaml\ncerts: k\nclock:\n  calendar_warn_days: 45\n"
                   "http:\n  idle_timeout_s: 30\n  connections_max: 500\n")
    loaded = ServerConfig.from_file(cfg)
    assert loaded.calendar_warn_days == 45
    assert loaded.http_limits.idle_timeout_s == 30 and loaded.http_limits.connections_max == 500
    cfg.write_text("participants: p.yaml\ncerts: k\nhttp:\n  header_timeout_s: -1\n")
    with pytest.raises(InputError, match="config-invalid"):
        ServerConfig.from_file(cfg)
    with pytest.raises(InputError, match="config-invalid"):
        CalendarHorizon(CALENDAR, warn_days=-1)


def test_docs_example_year_block_is_the_2026_notice_and_loads() -> None:
    """docs/calendar.md's example block is 2026 as chinesecalendar has it, and a valid override file."""
    import re

    import chinese_calendar
    import yaml

    text = (Path(__file__).resolve().parent.parent / "docs" / "calendar.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert match is not None
    block = yaml.safe_load(match.group(1))
    assert block["holidays"] == sorted(d for d in chinese_calendar.holidays if d.year == 2026 and d.weekday() < 5)
    assert block["workdays"] == sorted(d for d in chinese_calendar.workdays if d.year == 2026 and d.weekday() >= 5)
    assert BusinessCalendar.from_dict(block).known_range[1] == LAST
