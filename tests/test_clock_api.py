"""The business clock at the edges: GET/POST /v1/clock, `tgw/v1/clock` on MQTT, `tgw clock`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from mqtt_broker import MosquittoBroker

from business_time.clock import TZ
from gateway.server import RunningServer, ServerConfig, start_server
from runner.world import DevWorld
from tgw import main as tgw_main

GW_USER, GW_PASSWORD = "tgw-gateway", "clock-test-secret"


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


def _config(world: DevWorld, tmp_path: Path, **kw: Any) -> ServerConfig:
    return ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                        db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0, **kw)


async def _call(server: RunningServer, token: str, method: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session, \
            session.request(method, f"{server.http_url}/v1/clock", json=body) as resp:
        return resp.status, await resp.json()


async def test_simulated_clock_is_read_and_advanced_over_http(world: DevWorld, tmp_path: Path) -> None:
    server = await start_server(_config(world, tmp_path, clock_mode="simulated",
                                        clock_start="2025-09-30T15:59:00+08:00"))
    token = world.treasury.token
    try:
        status, view = await _call(server, token, "GET")
        assert status == 200 and view["simulated"] is True
        assert view["now"] == "2025-09-30T15:59:00+08:00" and view["business_day"] is True
        names = [c["name"] for c in view["next_cutoffs"]]
        assert names[0] == "clearing-cutoff" and view["next_cutoffs"][0]["at"] == "2025-09-30T16:00:00+08:00"

        status, view = await _call(server, token, "POST", {"advance_to": "2025-10-01T09:00:00+08:00"})
        assert status == 200 and view["now"] == "2025-10-01T09:00:00+08:00"
        assert view["business_day"] is False  # National Day
        # The next clearing cutoff after the holiday is on 2025-10-09.
        cutoffs = {c["name"]: c["at"] for c in view["next_cutoffs"]}
        assert cutoffs["clearing-cutoff"] == "2025-10-09T16:00:00+08:00"

        status, err = await _call(server, token, "POST", {"advance_to": "2025-09-01T09:00:00+08:00"})
        assert status == 409 and err["code"] == "clock-refused"  # time never runs backwards
        status, err = await _call(server, token, "POST", {"advance_to": "2025-10-02T09:00:00"})
        assert status == 400 and "offset" in err["message"]
        status, err = await _call(server, token, "POST", {"nothing": 1})
        assert status == 400
        status, err = await _call(server, "wrong-token", "GET")
        assert status == 401 and err["code"] == "unauthenticated"
    finally:
        await server.stop()


async def test_live_clock_cannot_be_advanced(world: DevWorld, tmp_path: Path) -> None:
    server = await start_server(_config(world, tmp_path))
    try:
        status, view = await _call(server, world.treasury.token, "GET")
        assert status == 200 and view["simulated"] is False
        now = dt.datetime.fromisoformat(view["now"])
        assert abs((now - dt.datetime.now(TZ)).total_seconds()) < 60
        status, err = await _call(server, world.treasury.token, "POST", {"advance_by_s": 60})
        assert status == 409 and err["code"] == "clock-live"
    finally:
        await server.stop()


@pytest.mark.parametrize(("query", "at_fault"), [
    ("wait=61", "wait"), ("wait=-1", "wait"), ("wait=nan", "wait"), ("wait=soon", "wait"),
    ("after=tomorrow", "after"), ("after=2025-09-30T16:00:00", "after"),
    ("after=2025-09-30T16:00:00%2B08:00&wait=61", "wait")])
async def test_clock_query_out_of_range_is_refused_with_a_code(world: DevWorld, tmp_path: Path, query: str,
                                                               at_fault: str) -> None:
    """`wait` and `after` are checked whenever given (not only together): the spec bounds `wait`."""
    server = await start_server(_config(world, tmp_path, clock_mode="simulated",
                                        clock_start="2025-09-30T15:59:00+08:00"))
    try:
        headers = {"Authorization": f"Bearer {world.treasury.token}"}
        async with aiohttp.ClientSession(headers=headers) as session, \
                session.get(f"{server.http_url}/v1/clock?{query}") as resp:
            status, err = resp.status, await resp.json()
        assert status == 400 and err["code"] == "bad-request"
        assert err["message"].startswith(at_fault)  # names the parameter at fault
    finally:
        await server.stop()


@pytest.mark.mqtt
async def test_clock_is_published_retained_on_mqtt(world: DevWorld, tmp_path: Path) -> None:
    broker = MosquittoBroker.start_for(world.registry(), tmp_path, gateway_user=GW_USER, gateway_password=GW_PASSWORD)
    try:
        cfg = _config(world, tmp_path, clock_mode="simulated", clock_start="2026-02-13T09:00:00+08:00",
                      mqtt_url=f"mqtt://{GW_USER}:{GW_PASSWORD}@{broker.host}:{broker.port}")
        server = await start_server(cfg)
        try:
            await server.mqtt.wait_connected(10)
            await server.gateway.clock.advance_to(dt.datetime(2026, 2, 14, 8, 0, tzinfo=TZ))
            bank = world.participants["bank-a"]
            # A participant connecting later still learns the time: the message is retained.
            seen: list[dict[str, Any]] = []
            async with aiomqtt.Client(broker.host, broker.port, username=bank.id, password=bank.mqtt_password,
                                      identifier=f"{bank.id}-clock-reader") as client:
                await client.subscribe("tgw/v1/clock", qos=1)
                async with asyncio.timeout(10):
                    async for message in client.messages:
                        seen.append(json.loads(bytes(message.payload)))
                        if seen[-1]["now"].startswith("2026-02-14T08:00"):
                            break
            assert seen[-1]["simulated"] is True
            assert seen[-1]["business_day"] is True  # 2026-02-14 is a make-up working Saturday
        finally:
            await server.stop()
    finally:
        broker.stop()


def test_tgw_clock_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert tgw_main(["clock", "--at", "2026-02-14T16:10:00+08:00", "--format", "json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["business_day"] is True
    first = view["next_cutoffs"][0]
    assert first == {"name": "urgent-cutoff", "at": "2026-02-14T16:30:00+08:00", "provisional": False}

    assert tgw_main(["clock", "--at", "2027-03-01T10:00:00+08:00"]) == 2
    err = capsys.readouterr().err
    assert "calendar-out-of-range" in err and "2027-03-01" in err


async def test_the_simulation_engines_clock_answers_long_polls_and_refuses_moves(tmp_path: Path) -> None:
    """`tgw demo --serve` serves the dashboard over the engine's SimClock: a long-poll answers when
    the engine moves it (it was a 500: the clock had no `on_change`), a POST is a coded 409."""
    from aiohttp.test_utils import TestClient, TestServer

    from business_time.calendar import BusinessCalendar
    from business_time.clock import ClockConfig
    from gateway.http_app import make_app
    from gateway.service import Gateway
    from sim.clock import SimClock
    from storage.db import open_database

    world = DevWorld.create(tmp_path / "world")
    start = dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ)
    clock = SimClock(BusinessCalendar.default(), ClockConfig(), start)
    db = await open_database(str(tmp_path / "gw.db"))
    gateway = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)  # type: ignore[arg-type]
    await gateway.start()
    client = TestClient(TestServer(make_app(gateway)))
    await client.start_server()
    try:
        headers = {"Authorization": f"Bearer {world.treasury.token}"}
        poll = asyncio.create_task(client.get("/v1/clock", params={"after": start.isoformat(), "wait": "20"},
                                              headers=headers))
        for _ in range(500):  # parked: the poll lists the treasury under `waiting` (no wall-time race)
            resp = await client.get("/v1/clock", headers=headers)
            if world.treasury.id in (await resp.json())["waiting"]:
                break
            await asyncio.sleep(0.01)
        assert not poll.done()
        clock.set(start + dt.timedelta(minutes=15))
        resp = await asyncio.wait_for(poll, 10)
        assert resp.status == 200 and (await resp.json())["now"] == "2026-03-16T09:15:00+08:00"

        resp = await client.post("/v1/clock", json={"advance_by_s": 60}, headers=headers)
        assert resp.status == 409 and (await resp.json())["code"] == "clock-live"
        assert clock.now() == start + dt.timedelta(minutes=15)
    finally:
        await client.close()
        await gateway.stop()
        await db.close()


async def test_get_clock_refuses_unknown_and_repeated_query_parameters(world: DevWorld, tmp_path: Path) -> None:
    """Every query parameter GET /v1/clock does not take is refused with a coded 400 naming it."""
    server = await start_server(_config(world, tmp_path, clock_mode="simulated",
                                        clock_start="2025-09-30T15:59:00+08:00"))
    headers = {"Authorization": f"Bearer {world.treasury.token}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            for query, words in (("x-unknown=42", "'x-unknown'"), ("after=2025-09-30T15:00:00%2B08:00&y=1", "'y'"),
                                 ("wait=0&wait=0", "more than once")):
                async with session.get(f"{server.http_url}/v1/clock?{query}") as resp:
                    body = await resp.json()
                    assert resp.status == 400 and body["code"] == "bad-request" and words in body["message"], body
            async with session.get(f"{server.http_url}/v1/clock?after=2025-09-30T15:00:00%2B08:00&wait=0") as resp:
                assert resp.status == 200  # the two it takes
    finally:
        await server.stop()
