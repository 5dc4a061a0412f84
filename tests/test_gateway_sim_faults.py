"""Delivery faults on a test gateway (POST /v1/sim/faults, gateway/sim_faults.py): refused on a
live clock and to anyone but the treasury; an offline participant's deliveries (to it and from it)
are withheld until it is back, in order; a lost delivery is handed over again after the ack timeout
of simulated time. Conformance runs play scenarios through it (tests/test_conformance.py); the
simulation engine's seeded fault runs are tests/test_sim_faults.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment
from hypothesis import given
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from gateway.clock import BusinessClock
from gateway.http_app import make_app
from gateway.service import Gateway
from gateway.sim_faults import SIM_FAULTS_MAX, SimFaults, parse_fault
from messages.envelope import VoucherKey
from runner.world import DevWorld
from storage.db import open_database

START = dt.datetime(2026, 3, 16, 10, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@asynccontextmanager
async def served(world: DevWorld, tmp_path: Path, *, simulated: bool = True) -> AsyncIterator[
        tuple[BusinessClock, TestClient[Any, Any]]]:
    calendar, config = BusinessCalendar.default(), ClockConfig()
    clock = BusinessClock.simulated(calendar, config, START) if simulated else BusinessClock.live(calendar, config)
    db = await open_database(str(tmp_path / "gw.db"))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)
    await gw.start()
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(gw)))
    await client.start_server()
    try:
        yield clock, client
    finally:
        await client.close()
        await gw.stop()
        await db.close()


def _auth(world: DevWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[who].token}"}


async def _fault(client: TestClient[Any, Any], world: DevWorld, body: Any, who: str = "treasury") -> tuple[int, Any]:
    resp = await client.post("/v1/sim/faults", json=body, headers=_auth(world, world.treasury.id if who == "treasury"
                                                                         else who))
    return resp.status, await resp.json()


async def _send(client: TestClient[Any, Any], world: DevWorld, *nos: str) -> None:
    tid = world.treasury.id
    envelope = world.envelope([payment(world, voucher_no=no) for no in nos], sender=tid)
    resp = await client.post("/v1/messages", data=envelope, headers={**_auth(world, tid),
                                                                      "Content-Type": "application/xml"})
    assert resp.status == 200, await resp.text()


async def _inbox(client: TestClient[Any, Any], world: DevWorld, who: str = "bank-a") -> list[str]:
    resp = await client.get("/v1/inbox", params={"cursor": "0", "wait": "0"}, headers=_auth(world, who))
    assert resp.status == 200
    return [m["voucher_no"] for m in (await resp.json())["messages"]]


async def test_refused_on_a_live_clock_and_to_a_bank(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, simulated=False) as (_, client):
        status, err = await _fault(client, world, {"offline": "bank-a"})
        assert status == 409 and err["code"] == "clock-live"
        resp = await client.get("/v1/sim/faults", headers=_auth(world, world.treasury.id))
        assert resp.status == 409 and (await resp.json())["code"] == "clock-live"
    async with served(world, tmp_path) as (_, client):
        status, err = await _fault(client, world, {"offline": "bank-b"}, who="bank-a")
        assert status == 403 and err["code"] == "not-authorized"
        for body, at_fault in (({"offline": "bank-z"}, "offline"), ({"drop": {"to": "bank-a", "flag": 2}}, "drop.flag"),
                               ({"offline": "bank-a", "until": "2026-03-16T11:00:00"}, "until"),
                               ({"offline": "bank-a", "online": "bank-a"}, "the body"), ([], "the body"),
                               ({"drop": {"to": "bank-a", "later": 1}}, "drop.later")):
            status, err = await _fault(client, world, body)
            assert status == 400 and err["code"] == "bad-request" and err["message"].startswith(at_fault), (body, err)


async def test_an_offline_bank_gets_its_deliveries_in_order_when_it_is_back(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path) as (clock, client):
        until = START + dt.timedelta(minutes=40)
        status, view = await _fault(client, world, {"offline": "bank-a", "until": until.isoformat()})
        assert status == 200 and view["offline"] == {"bank-a": until.isoformat()}
        await _send(client, world, "OFF00001", "OFF00002")
        assert await _inbox(client, world) == []  # withheld, not lost
        await clock.advance_to(until - dt.timedelta(seconds=1))
        assert await _inbox(client, world) == []
        await clock.advance_to(until)
        assert await _inbox(client, world) == ["OFF00001", "OFF00002"]
        status, view = await _fault(client, world, {"offline": "bank-a"})  # until `online`
        assert status == 200 and view["offline"] == {"bank-a": None}
        await _send(client, world, "OFF00003")
        assert await _inbox(client, world) == []  # offline again: nothing, not even what it had
        await _fault(client, world, {"online": "bank-a"})
        assert await _inbox(client, world) == ["OFF00001", "OFF00002", "OFF00003"]


async def test_what_an_offline_participant_sends_leaves_when_it_is_back(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path) as (_, client):
        await _fault(client, world, {"offline": world.treasury.id})
        await _send(client, world, "SND00001")
        assert await _inbox(client, world) == []  # the sender is offline: nobody sees what it sent
        await _fault(client, world, {"online": world.treasury.id})
        assert await _inbox(client, world) == ["SND00001"]


async def test_a_lost_delivery_is_handed_over_again_after_the_ack_timeout(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path) as (clock, client):
        status, view = await _fault(client, world, {"drop": {"to": "bank-a", "vtcode": "5201", "flag": 0}})
        assert status == 200 and view["drops"] == [{"to": "bank-a", "vtcode": "5201", "flag": 0}]
        await _send(client, world, "DRP00001", "DRP00002")
        assert await _inbox(client, world) == []  # lost in transit; the one behind it does not overtake it
        resp = await client.get("/v1/sim/faults", headers=_auth(world, world.treasury.id))
        view = await resp.json()
        assert view["drops"] == [] and len(view["withheld"]) == 1
        release = dt.datetime.fromisoformat(view["next_release"])
        assert release == START + dt.timedelta(seconds=10)  # the gateway's ack timeout, of simulated time
        await clock.advance_to(release)
        assert await _inbox(client, world) == ["DRP00001", "DRP00002"]
        assert await _inbox(client, world, "bank-b") == []


# ------------------------------------------------------------------------------ the pure core

@dataclass(frozen=True)
class _Item:
    message_id: str
    key: VoucherKey
    sender: str = "treasury"


def _items(n: int) -> list[_Item]:
    return [_Item(f"m{i}", VoucherKey("110000", "2026", "5201", f"V{i}", 0)) for i in range(n)]


def test_empty_faults_hand_everything_over_and_the_bound_holds() -> None:
    faults = SimFaults(dt.timedelta(seconds=10))
    assert not faults and faults.withhold("bank-a", _items(3), START) == _items(3)
    for i in range(SIM_FAULTS_MAX):
        faults.apply(*parse_fault({"offline": f"p{i}"}))
    with pytest.raises(OverflowError):
        faults.apply(*parse_fault({"drop": {"to": "bank-a"}}))
    faults.apply(*parse_fault({"offline": "p0"}))  # again: no new entry


def test_a_drop_by_voucher_key_loses_that_delivery_only() -> None:
    faults = SimFaults(dt.timedelta(seconds=10))
    items = _items(3)
    faults.apply(*parse_fault({"drop": {"to": "bank-a", "voucher": str(items[1].key)}}))
    assert faults.withhold("bank-b", items, START) == items  # another recipient
    assert faults.withhold("bank-a", items, START) == items[:1]
    assert faults.withhold("bank-a", items[1:], START + dt.timedelta(seconds=9)) == []
    assert faults.withhold("bank-a", items[1:], START + dt.timedelta(seconds=10)) == items[1:]
    assert not faults


@given(n=st.integers(0, 12), lost=st.lists(st.integers(0, 11), max_size=4), late=st.integers(0, 30))
def test_whatever_is_lost_what_is_handed_over_is_a_prefix_and_all_of_it_comes_in_the_end(
        n: int, lost: list[int], late: int) -> None:
    faults = SimFaults(dt.timedelta(seconds=10))
    items = _items(n)
    for i in lost:
        if i < n:
            faults.apply(*parse_fault({"drop": {"to": "bank-a", "voucher": str(items[i].key)}}))
    got: list[_Item] = []
    now = START
    for _ in range(len(lost) + 2):
        out = faults.withhold("bank-a", items[len(got):], now)
        assert out == items[len(got):len(got) + len(out)]  # in order, nothing skipped
        got += out
        now += dt.timedelta(seconds=10 + late)
    assert got == items
