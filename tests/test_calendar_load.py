"""`tgw calendar` and a running gateway on a provisional year: loaded only by the operator, said so
in /healthz, the gauge and a daily warning, stamped on the clock's cutoffs, and replaced by the
official block without a restart (poll, or SIGHUP).

Business time is the simulated clock; the only real waits are for a server to come up and for a
signal to arrive, each bounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yaml

from business_time.calendar_dir import install_block, read_blocks
from business_time.clock import TZ, ClockConfig
from business_time.year_block import parse_block, provisional_block, render_block
from gateway import metrics
from gateway.calendar_reload import CalendarReloader, build_calendar, watch_calendar_dir
from gateway.clock import BusinessClock
from gateway.horizon import CalendarHorizon, watch_calendar
from gateway.http_common import clock_view
from gateway.server import ServerConfig, serve
from runner.world import DevWorld
from tests.test_calendar_provisional import fake_official_2027
from tgw import main

READY_WAIT_S = 30.0  # a bound on the server coming up, not a timing assertion


def _official_file(tmp_path: Path, **change: Any) -> Path:
    path = tmp_path / "official-2027.yaml"
    path.write_text(render_block(parse_block(fake_official_2027(**change))), encoding="utf-8")
    return path


def _provisional_warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "calendar.provisional"]


# ---------------------------------------------------------------------- the CLI


def test_provisional_then_load_then_official_replaces_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calendar_dir = tmp_path / "calendar.d"
    out = tmp_path / "2027.provisional.yaml"
    assert main(["calendar", "provisional", "2027", "-o", str(out)]) == 0
    assert "provisional: true" in out.read_text(encoding="utf-8")
    assert read_blocks(calendar_dir) == []  # writing a block loads nothing
    # ...and says what it wrote and what comes next (was: nothing at all)
    assert f"wrote {out}" in (err := capsys.readouterr().err) and f"tgw calendar load {out}" in err

    assert main(["calendar", "show", "2027", "--calendar-dir", str(calendar_dir)]) == 1  # never guess
    assert "calendar-out-of-range" in capsys.readouterr().err

    assert main(["calendar", "load", str(out), "--calendar-dir", str(calendar_dir), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "provisional" and result["replaced"] is None and result["provisional_years"] == [2027]

    assert main(["calendar", "show", "2027", "--calendar-dir", str(calendar_dir), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provisional"] is True and shown["notice"] is None
    assert [d["date"] for d in shown["days"]] == [d.isoformat() for d in provisional_block(2027).holidays]

    official = _official_file(tmp_path)
    assert main(["calendar", "load", str(official), "--calendar-dir", str(calendar_dir)]) == 0
    assert "replacing the provisional block" in capsys.readouterr().out
    assert main(["calendar", "show", "2027", "--calendar-dir", str(calendar_dir), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provisional"] is False and "2027" in shown["notice"]["title"]
    assert {"date": "2027-02-20", "weekday": "Sat", "kind": "make-up workday", "statutory": None} in shown["days"]

    assert main(["calendar", "load", str(out), "--calendar-dir", str(calendar_dir)]) == 1  # never downgrade
    assert "never replaces" in capsys.readouterr().err

    assert main(["calendar", "show", "--calendar-dir", str(calendar_dir), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["last_day"] == "2027-12-31"


def test_load_refuses_a_bad_block_and_installs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calendar_dir = tmp_path / "calendar.d"
    bad = _official_file(tmp_path, holidays=[dt.date(2027, 1, 1)])  # Spring Festival etc. missing
    assert main(["calendar", "load", str(bad), "--calendar-dir", str(calendar_dir)]) == 1
    assert "calendar-block-invalid at holidays" in capsys.readouterr().err
    assert not calendar_dir.exists()
    assert main(["calendar", "load", str(tmp_path / "nope.yaml"), "--calendar-dir", str(calendar_dir)]) == 2
    assert "io-unreadable" in capsys.readouterr().err
    gap = tmp_path / "2028.yaml"
    gap.write_text(render_block(provisional_block(2028)), encoding="utf-8")
    assert main(["calendar", "load", str(gap), "--calendar-dir", str(calendar_dir)]) == 1  # 2027 unknown: a gap
    assert "config-invalid" in capsys.readouterr().err
    good = _official_file(tmp_path)
    assert main(["calendar", "load", str(good), "--calendar-dir", str(calendar_dir), "--dry-run"]) == 0
    assert not calendar_dir.exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "provisional", "1900"]) == 2
    assert main(["calendar"]) == 2
    assert main(["calendar", "provisional", "twenty"]) == 2  # argparse's own: returned as every other error


def test_provisional_to_stdout_and_show_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "provisional", "2027"]) == 0
    assert parse_block(yaml.safe_load(capsys.readouterr().out)) == provisional_block(2027)
    assert main(["calendar", "show", "2026"]) == 0
    assert "2026-02-16" in capsys.readouterr().out


def test_tgw_clock_local_with_a_provisional_year(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install_block(provisional_block(2027), tmp_path)
    at = ["--at", "2026-12-31T17:30:00+08:00"]
    assert main(["clock", *at, "--format", "json"]) == 2  # the next business day is unknown: refused
    capsys.readouterr()
    assert main(["clock", *at, "--calendar-dir", str(tmp_path), "--format", "json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["provisional"] is True and all(c["provisional"] for c in view["next_cutoffs"])
    assert main(["clock", *at, "--calendar-dir", str(tmp_path)]) == 0
    assert "PROVISIONAL" in capsys.readouterr().out


# ---------------------------------------------------------------------- the running gateway


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


@pytest.fixture
def fresh_loggers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An earlier in-process `tgw sim` / `tgw up` may have left logging filtered to CRITICAL, or
    these modules' loggers cached; structlog's defaults and fresh loggers see `capture_logs`."""
    import gateway.calendar_reload
    import gateway.horizon

    saved = structlog.get_config()
    structlog.reset_defaults()
    for module in (gateway.horizon, gateway.calendar_reload):
        monkeypatch.setattr(module, "log", structlog.get_logger("tgw.calendar"))
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("fresh_loggers")
async def test_gateway_runs_on_provisional_says_so_and_takes_the_official_without_restart(tmp_path: Path) -> None:
    calendar_dir = tmp_path / "calendar.d"
    install_block(provisional_block(2027), calendar_dir)
    clock = BusinessClock.simulated(build_calendar(None, str(calendar_dir)), ClockConfig(),
                                    _at(dt.date(2027, 1, 4), 9))
    reloader = CalendarReloader(clock, None, str(calendar_dir))
    horizon = CalendarHorizon(clock.calendar)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(watch_calendar(clock, horizon))
        await clock.advance_by(0)
        assert [e["provisional_years"] for e in _provisional_warnings(logs)] == [[2027]]
        assert metrics.CALENDAR_PROVISIONAL._value.get() == 1
        assert horizon.view(clock.today())["provisional_years"] == [2027]
        assert horizon.view(clock.today())["warning"] is True
        await clock.advance_to(_at(dt.date(2027, 1, 4), 20))  # same day: no repeat
        assert len(_provisional_warnings(logs)) == 1
        await clock.advance_to(_at(dt.date(2027, 1, 6), 9))  # two midnights: two more
        assert len(_provisional_warnings(logs)) == 3
        view = clock_view(clock)
        assert view["provisional"] is True and all(c["provisional"] for c in view["next_cutoffs"])

        assert reloader.reload() is False  # nothing changed
        install_block(parse_block(fake_official_2027()), calendar_dir)
        assert reloader.reload() is True
        assert clock.calendar.provisional_years == () and metrics.CALENDAR_PROVISIONAL._value.get() == 0
        assert clock_view(clock)["provisional"] is False
        await clock.advance_to(_at(dt.date(2027, 1, 7), 9))
        assert len(_provisional_warnings(logs)) == 3  # quiet once official
        assert horizon.view(clock.today())["provisional_years"] == []

        # a hand-broken block: the calendar in use stays, the log says why
        (calendar_dir / "2027.yaml").write_text("year: 2027\nholidays: [2027-02-06]\n", encoding="utf-8")
        assert reloader.reload() is False
        failed = [e for e in logs if e["event"] == "calendar.reload_failed"]
        assert failed and failed[0]["code"] == "calendar-block-invalid"
        assert clock.calendar.known_range[1] == dt.date(2027, 12, 31)
        task.cancel()


async def test_the_directory_is_polled(tmp_path: Path) -> None:
    clock = BusinessClock.simulated(build_calendar(None, str(tmp_path)), ClockConfig(), _at(dt.date(2026, 12, 30), 9))
    reloader = CalendarReloader(clock, None, str(tmp_path))
    swapped = asyncio.Event()
    original = reloader.reload

    def reload(*, force: bool = False) -> bool:
        done = original(force=force)
        if done:
            swapped.set()
        return done

    reloader.reload = reload  # type: ignore[method-assign]
    task = asyncio.create_task(watch_calendar_dir(reloader, interval_s=0.01))
    try:
        install_block(provisional_block(2027), tmp_path)
        await asyncio.wait_for(swapped.wait(), READY_WAIT_S)
        assert clock.calendar.provisional_years == (2027,)
    finally:
        task.cancel()


async def test_tgw_up_reloads_on_sighup(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "world")
    calendar_dir = tmp_path / "calendar.d"
    install_block(provisional_block(2027), calendar_dir)
    ready = tmp_path / "ready"
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0, clock_mode="simulated",
                       clock_start="2027-01-04T09:00:00+08:00", calendar_dir=str(calendar_dir))
    stop = asyncio.Event()
    server = asyncio.create_task(serve(cfg, stop=stop, ready_file=str(ready)))

    async def healthz() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(ready.read_text() + "/healthz") as resp:
            body: dict[str, Any] = await resp.json()
            return body

    async def until(predicate: Any) -> None:
        async def loop() -> None:  # the server is another task behind HTTP: nothing to await but its answers
            while not await predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await asyncio.wait_for(loop(), READY_WAIT_S)

    try:
        await until(lambda: asyncio.sleep(0, ready.exists()))
        assert (await healthz())["calendar"]["provisional_years"] == [2027]
        install_block(parse_block(fake_official_2027()), calendar_dir)
        os.kill(os.getpid(), signal.SIGHUP)

        async def official() -> bool:
            return (await healthz())["calendar"]["provisional_years"] == []
        await until(official)
    finally:
        stop.set()
        await asyncio.wait_for(server, READY_WAIT_S)


def test_calendar_dir_from_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("participants: p.yaml\ncerts: k\nclock:\n  calendar_dir: calendar.d\n", encoding="utf-8")
    assert ServerConfig.from_file(cfg).calendar_dir == str((tmp_path / "calendar.d").resolve())
