"""Regression tests for bugs found in a correctness review of the gateway.

Each test failed before its fix: a hostile input answered 500 (or an uncoded MQTT error), a hung
pusher stalled delivery to everyone, the push in-flight map grew without bound, a ResponseTopic
with a wildcard lost the sender's answer, and a cancelled SQLite COMMIT let the next transaction
in while it still ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment, running_gateway
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker
from test_mqtt import mqtt_gateway

from client.wire import publish_properties
from gateway.http_app import make_app
from gateway.outbox import InboxItem
from gateway.server import ServerConfig, start_server
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import SqliteDatabase, open_database


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


@asynccontextmanager
async def http(world: DevWorld, db: Any, config: GatewayConfig | None = None) -> AsyncIterator[
        tuple[Gateway, TestClient]]:
    async with running_gateway(world, db, config=config) as gw:
        client = TestClient(TestServer(make_app(gw)))
        await client.start_server()
        try:
            yield gw, client
        finally:
            await client.close()


def _auth(world: DevWorld, pid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[pid].token}"}


# ---------------------------------------------------------------------- hostile ids: 200/404, not 500


async def test_ack_with_ids_no_database_can_hold_is_not_a_500(world: DevWorld, db: Any) -> None:
    # A lone surrogate cannot be encoded for SQLite; a NUL is refused by PostgreSQL text. Neither
    # can be a message id, so neither changes anything: the answer is an empty ack, not a 500.
    async with http(world, db) as (_gw, client):
        body = b'{"ids": ["\\ud800", "a\\u0000b", "\\udfff\\ud800x"]}'
        resp = await client.post("/v1/inbox/ack", data=body,
                                 headers={**_auth(world, "bank-a"), "Content-Type": "application/json"})
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"acked": []}


async def test_message_and_trace_with_nul_in_the_path_are_404(world: DevWorld, db: Any) -> None:
    async with http(world, db) as (_gw, client):
        for path in ("/v1/messages/ab%00cd", "/v1/trace/990100/2026/5201/T%00X"):
            resp = await client.get(path, headers=_auth(world, "bank-a"))
            assert resp.status == 404, (path, resp.status, await resp.text())
            assert (await resp.json())["code"] == "not-found"


# ---------------------------------------------------------------------- database trouble: coded 503


async def test_a_database_error_is_a_coded_503(world: DevWorld, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with http(world, db) as (gw, client):
            async def locked(*args: Any, **kwargs: Any) -> Any:
                raise sqlite3.OperationalError("database is locked")

            monkeypatch.setattr(gw.outbox, "inbox", locked)
            monkeypatch.setattr(gw.outbox, "ack", locked)
            resp = await client.get("/v1/inbox", headers=_auth(world, "bank-a"))
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["code"] == "unavailable"
            resp = await client.post("/v1/inbox/ack", json={"ids": ["x"]}, headers=_auth(world, "bank-a"))
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["code"] == "unavailable"
    finally:
        await db.close()


# ---------------------------------------------------------------------- POST /v1/clock overflow


async def test_clock_advance_beyond_the_calendar_is_400(world: DevWorld, tmp_path: Path) -> None:
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0, clock_mode="simulated",
                       clock_start="2026-03-16T10:00:00+08:00")
    server = await start_server(cfg)
    try:
        async with aiohttp.ClientSession(headers=_auth(world, world.treasury.id)) as session:
            for body in ({"advance_by_s": 1e300}, {"advance_by_s": 1e18}, {"advance_by_s": "inf"}):
                async with session.post(f"{server.http_url}/v1/clock", json=body) as resp:
                    assert resp.status == 400, (body, resp.status, await resp.text())
                    assert (await resp.json())["code"] == "bad-request"
    finally:
        await server.stop()


# ---------------------------------------------------------------------- push side


async def test_a_hung_pusher_does_not_stall_delivery_to_others(world: DevWorld, tmp_path: Path) -> None:
    """A push that never returns (a bus queue nobody reads, a stuck transport) used to hold its
    slot forever: with every slot held, the deliverer waited on the semaphore and nobody else
    was ever pushed anything again."""
    config = GatewayConfig(push_in_flight_max=2, push_ack_timeout_s=0.3, push_backoff_base_ms=50,
                           poll_interval_s=0.05)
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, config=config) as gw:
            never = asyncio.Event()

            async def hang(item: InboxItem) -> None:
                await never.wait()

            got: list[InboxItem] = []

            async def collect(item: InboxItem) -> None:
                got.append(item)

            gw.register_pusher("bank-a", hang)
            treasury = world.participants[world.treasury.id]
            env = world.envelope([payment(world, bank="bank-a") for _ in range(3)], sender=treasury.id)
            assert all(r.status == "accepted" for r in await gw.submit(env, gw.registry.get(treasury.id)))
            await asyncio.sleep(0.3)  # both slots now held by pushes to bank-a that never end
            gw.register_pusher("bank-b", collect)
            env = world.envelope([payment(world, bank="bank-b")], sender=treasury.id)
            assert (await gw.submit(env, gw.registry.get(treasury.id)))[0].status == "accepted"
            for _ in range(100):  # 5 s at most
                if got:
                    break
                await asyncio.sleep(0.05)
            assert got, "delivery to bank-b stalled behind pushes to bank-a that never returned"
            never.set()
    finally:
        await db.close()


async def test_in_flight_map_forgets_pushes_acked_on_another_worker(world: DevWorld, tmp_path: Path) -> None:
    """With several workers, a recipient's ack (MQTT `$share/…/ack`) lands on any of them: the
    worker that pushed never hears of it, and its in-flight entry stayed forever."""
    config = GatewayConfig(push_ack_timeout_s=0.2, push_backoff_base_ms=50, poll_interval_s=0.05)
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, config=config) as gw:
            pushed: list[InboxItem] = []

            async def collect(item: InboxItem) -> None:
                pushed.append(item)

            gw.register_pusher("bank-a", collect)
            treasury = world.participants[world.treasury.id]
            env = world.envelope([payment(world) for _ in range(5)], sender=treasury.id)
            await gw.submit(env, gw.registry.get(treasury.id))
            for _ in range(250):  # 5 s at most
                if len(pushed) >= 5:
                    break
                await asyncio.sleep(0.02)
            assert len(pushed) == 5
            # Another worker on the same database takes the ack.
            other = Gateway(db=db, registry=world.registry(), certs=world.certs())
            acked = await other.ack(gw.registry.get("bank-a"), [i.message_id for i in pushed])
            assert len(acked) == 5
            await asyncio.sleep(config.push_ack_timeout_s + 3 * config.poll_interval_s + 0.2)
            assert gw._push.in_flight == {}
    finally:
        await db.close()


# ---------------------------------------------------------------------- SQLite transactions


class _SlowCommit:
    """A writer connection whose COMMIT waits for a gate (as an fsync on a slow disk does)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.gate = threading.Event()
        self.commit_started = threading.Event()

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and not self.commit_started.is_set():  # only the first one is slow
            self.commit_started.set()
            self.gate.wait(10)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_cancelled_commit_holds_the_writer_until_it_ends(tmp_path: Path) -> None:
    db = SqliteDatabase(str(tmp_path / "t.db"))
    try:
        await db.execute_script("CREATE TABLE t (x INTEGER)")
        slow = _SlowCommit(db._writer)
        db._writer = slow  # type: ignore[assignment]

        async def write(x: int) -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (x) VALUES ($1)", x)

        first = asyncio.create_task(write(1))
        assert await asyncio.to_thread(slow.commit_started.wait, 10)
        first.cancel()  # e.g. the deliverer cancelled by stop() while its claim commits
        second = asyncio.create_task(write(2))
        await asyncio.sleep(0.1)
        slow.gate.set()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        # Used to fail: the lock was released at the cancellation, so the second transaction's
        # BEGIN ran on the writer while the first was still open ("cannot start a transaction
        # within a transaction"), and the two could run on one connection from two threads.
        await second
        assert sorted(r[0] for r in await db.fetch("SELECT x FROM t")) == [1, 2]
    finally:
        slow.gate.set()
        await asyncio.sleep(0.1)  # let a COMMIT still in its thread finish before closing
        db._writer = slow._conn
        await db.close()


async def test_rollback_does_not_mask_the_error_that_ended_the_transaction(tmp_path: Path) -> None:
    db = SqliteDatabase(str(tmp_path / "t.db"))
    try:
        await db.execute_script("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError, match="the real error"):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (x) VALUES (1)")
                await tx.execute("ROLLBACK")  # SQLite itself ends a transaction on SQLITE_FULL, IOERR...
                raise RuntimeError("the real error")
        async with db.transaction() as tx:  # and the writer is usable afterwards
            await tx.execute("INSERT INTO t (x) VALUES (2)")
        assert [r[0] for r in await db.fetch("SELECT x FROM t")] == [2]
    finally:
        await db.close()


# ---------------------------------------------------------------------- MQTT


@pytest.mark.mqtt
async def test_mqtt_wildcard_response_topic_and_hostile_ack_ids_get_answers(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "world", delivery="push")
    broker = MosquittoBroker.start_for(world.registry(), tmp_path, gateway_user=GW_USER, gateway_password=GW_PASSWORD)
    async with mqtt_gateway(world, broker, tmp_path) as (_, adapter):
        bank_pw = world.participants["bank-a"].mqtt_password
        async with aiomqtt.Client(broker.host, broker.port, username="bank-a", password=bank_pw,
                                  protocol=aiomqtt.ProtocolVersion.V5, identifier="bank-a-raw") as raw:
            await raw.subscribe("tgw/v1/bank-a/result/#", qos=1)
            await raw.subscribe("tgw/v1/bank-a/result", qos=1)
            cases = {
                b"wild-1": ("tgw/v1/bank-a/result/#", b'{"ids": ["m1"]}'),
                b"wild-2": ("tgw/v1/bank-a/result/+/x", b'{"ids": ["m1"]}'),
                b"surrogate": ("tgw/v1/bank-a/result", b'{"ids": ["\\ud800", "a\\u0000"]}'),
                b"too-many": ("tgw/v1/bank-a/result", json.dumps({"ids": [f"m{i}" for i in range(1001)]}).encode()),
            }
            for corr, (response_topic, payload) in cases.items():
                await raw.publish("tgw/v1/bank-a/ack", payload, qos=1, properties=publish_properties(
                    correlation=corr, response_topic=response_topic))
            answers: dict[bytes, tuple[str, dict[str, Any]]] = {}
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    async for message in raw.messages:
                        corr = bytes(message.properties.CorrelationData)
                        answers[corr] = (str(message.topic), json.loads(message.payload))
                        if len(answers) == len(cases):
                            break
            assert set(answers) == set(cases), f"no answer for {set(cases) - set(answers)}"
            assert answers[b"wild-1"] == ("tgw/v1/bank-a/result", {"acked": []})
            assert answers[b"wild-2"] == ("tgw/v1/bank-a/result", {"acked": []})
            assert answers[b"surrogate"][1] == {"acked": []}
            assert answers[b"too-many"][1]["code"] == "bad-request"  # same 1,000-id cap as HTTP
            assert adapter.connected
        broker.stop()



async def test_aiohttp_own_refusals_are_coded_json(world: DevWorld, tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with http(world, db) as (_gw, client):
            resp = await client.request("TRACE", "/v1/inbox", headers=_auth(world, "bank-a"))
            assert resp.status == 405 and (await resp.json())["code"] == "method-not-allowed"
            assert "GET" in resp.headers["Allow"]
            resp = await client.get("/v1/no-such-route")
            assert resp.status == 404 and (await resp.json())["code"] == "not-found"
    finally:
        await db.close()
