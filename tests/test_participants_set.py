"""`tgw participants set --delivery push|pull` (gateway/delivery_modes.py): a participant's delivery
mode switched without new secrets, in the registry file (--file) and on a running gateway (--db),
with exit codes, `--format json` and coded errors; on a running gateway with a real Mosquitto,
deliveries in flight across both switches: nothing acknowledged is lost, nothing acknowledged
twice or pushed after its ack, and a pull participant gets nothing more on MQTT."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import db_cli_args, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_broker import MosquittoBroker
from test_mqtt import mqtt_gateway

from client import GatewayClient
from gateway.delivery_modes import (
    apply_modes,
    publish_registry,
    read_modes,
    set_mode,
    starting_mode,
    watch_delivery_modes,
)
from gateway.http_app import make_app
from gateway.participants import Participant, Registry
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import Database, open_database
from tgw import main


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


def _entries(path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["participants"]
    return entries


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["participants", "set", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- the registry file


def test_file_switch_keeps_secrets_certificates_and_order(world: DevWorld, capsys: pytest.CaptureFixture[str]) -> None:
    path = world.registry_path
    before = _entries(path)
    code, out, err = _run(capsys, "--file", str(path), "--id", "bank-a", "--delivery", "push", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {"id": "bank-a", "delivery": "push", "was": {"file": "pull"}}
    after = _entries(path)
    assert [e["id"] for e in after] == [e["id"] for e in before]  # who serves first is unchanged
    for old, new in zip(before, after, strict=True):
        expected = {**old, "delivery": "push"} if old["id"] == "bank-a" else old
        assert new == expected  # the token hash, MQTT password hash and certificates as they were
    # the same again: nothing to change, still exit 0
    code, out, _ = _run(capsys, "--file", str(path), "--id", "bank-a", "--delivery", "push", "--format", "json")
    assert code == 0 and json.loads(out)["was"] == {"file": "push"}
    code, out, _ = _run(capsys, "--file", str(path), "--id", "bank-a", "--delivery", "pull")
    assert code == 0 and out.strip() == "bank-a: delivery pull (file push -> pull)"
    assert _entries(path) == before


def test_an_unknown_participant_is_refused_and_changes_nothing(world: DevWorld, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = world.registry_path
    raw = path.read_bytes()
    code, out, err = _run(capsys, "--file", str(path), "--id", "bank-zz", "--delivery", "push", "--format", "json")
    assert code == 2
    assert json.loads(out)["code"] == "unknown-participant"
    assert err.strip().splitlines()[-1].startswith("tgw participants set: error: unknown-participant: "), err
    assert "bank-zz" in err and path.read_bytes() == raw
    code, _, err = _run(capsys, "--id", "bank-a", "--delivery", "push")  # neither --file nor --db
    assert code == 2 and "--file" in err and "--db" in err


async def test_db_switch_and_its_refusals(world: DevWorld, db: Database, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """On both backends (SQLite and PostgreSQL, the `db` fixture)."""
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs())
    await gw.start()
    at_db = await db_cli_args(db)
    try:
        def run(*argv: str) -> tuple[int, str, str]:
            return _run(capsys, *argv)

        # a gateway's database from before the table (no gw_delivery_modes): db-not-gateway, exit 2
        code, _, err = await asyncio.to_thread(run, *at_db, "--id", "bank-a", "--delivery", "push")
        assert code == 2 and "db-not-gateway" in err and "gw_delivery_modes" in err, err
        await publish_registry(db, gw.registry)  # what tgw up does at start
        raw = world.registry_path.read_bytes()
        # unknown on the gateway: the file named beside it is left alone too
        world_zz = world.registry()
        assert world_zz.get("bank-a") is not None
        code, out, err = await asyncio.to_thread(run, *at_db, "--id", "bank-zz", "--delivery", "push",
                                                 "--format", "json")
        assert code == 2 and json.loads(out)["code"] == "unknown-participant", err
        code, out, err = await asyncio.to_thread(run, "--file", str(world.registry_path), *at_db,
                                                 "--id", "bank-a", "--delivery", "push", "--format", "json")
        assert code == 0, err
        assert json.loads(out) == {"id": "bank-a", "delivery": "push", "was": {"file": "pull", "db": "pull"}}
        assert world.registry_path.read_bytes() != raw
        assert (await read_modes(db))["bank-a"] == "push"
        assert apply_modes(gw, await read_modes(db)) == ["bank-a"]
        me = gw.registry.get("bank-a")
        assert me is not None and me.delivery == "push" and me.token_sha256 == world.registry().get("bank-a").token_sha256  # type: ignore[union-attr]
        if db.dialect == "sqlite":
            code, _, err = await asyncio.to_thread(run, "--db", str(tmp_path / "none.db"), "--id", "bank-a",
                                                   "--delivery", "pull")
            assert code == 2 and "io-unreadable" in err
        else:  # a schema that does not exist is not made
            code, _, err = await asyncio.to_thread(run, "--db", db.url, "--db-schema", f"t_none_{tmp_path.name[-8:]}",
                                                   "--id", "bank-a", "--delivery", "pull")
            assert code == 2 and "db-not-gateway" in err, err
        assert (await read_modes(db))["bank-a"] == "push"  # the refusals changed nothing
    finally:
        await gw.stop()


# ---------------------------------------------------------------------- the modes at a start


async def test_workers_starting_at_once_each_publish_the_same_modes(db: Database) -> None:
    """`tgw up` workers on one database start together: on PostgreSQL their concurrent CREATE TABLE
    raced (duplicate key in pg_type) and the DELETE + INSERT of one could meet the other's rows."""
    reg = _registry(3)
    assert await asyncio.gather(*[publish_registry(db, reg) for _ in range(6)]) == [{p.id: "pull" for p in reg}] * 6
    assert await read_modes(db) == {p.id: "pull" for p in reg}


async def test_a_db_switch_survives_a_worker_restart_and_a_file_change_is_taken(db: Database) -> None:
    """A change `tgw participants set` acknowledged is never lost at a start: a `--db` switch stands
    against an unchanged file (a worker restarting alone reset it to the file before); a file changed
    since the last start (`--file` alone, an edit) wins; the table keeps the file's participants only."""
    reg = _registry(3)
    await publish_registry(db, reg)
    assert await set_mode(db, "bank-01", "push") == "pull"
    assert await publish_registry(db, reg) == {"bank-00": "pull", "bank-01": "push", "bank-02": "pull"}
    assert (await read_modes(db))["bank-01"] == "push"
    # the file switched bank-02 (set --file alone): taken at the next start; bank-01's --db switch stands
    edited = reg.replacing([dataclasses.replace(reg.get("bank-02"), delivery="push")])  # type: ignore[type-var]
    assert await publish_registry(db, edited) == {"bank-00": "pull", "bank-01": "push", "bank-02": "push"}
    # then --db switches it back: the file did not change since that start, the switch stands
    assert await set_mode(db, "bank-02", "pull") == "push"
    assert (await publish_registry(db, edited))["bank-02"] == "pull"
    # a participant gone from the file leaves the table; a new one comes with the file's mode
    fewer = Registry([p for p in edited if p.id != "bank-00"] + [Participant(
        id="bank-09", role="bank", name="b9", adm_div_codes=("990100",), delivery="push")])
    assert await publish_registry(db, fewer) == {"bank-01": "push", "bank-02": "pull", "bank-09": "push"}
    assert await read_modes(db) == {"bank-01": "push", "bank-02": "pull", "bank-09": "push"}


def test_the_mode_at_a_start_is_the_newer_change() -> None:
    assert starting_mode("push", None, None) == "push"  # new participant
    assert starting_mode("push", None, "pull") == "push"  # a table from before gw_delivery_file: the file, as before
    assert starting_mode("pull", "pull", "push") == "push"  # the file unchanged: the --db switch stands
    assert starting_mode("push", "pull", "pull") == "push"  # the file changed: taken


# a run of operations: a --db switch, a --file switch (alone) of participant i, or a restart
_OPS = st.lists(st.one_of(st.tuples(st.sampled_from(["db", "file"]), st.integers(0, 2), st.sampled_from(["pull", "push"])),
                          st.just(("restart", 0, ""))), max_size=14)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS)
def test_at_each_start_the_last_acknowledged_change_of_one_place_wins(ops: list[tuple[str, int, str]]) -> None:
    """Oracle (the principle: a change `tgw participants set` acknowledged is never silently lost):
    at each start, a participant whose changes since the last start were all made in one place (the
    file, or the database) has the last of them; with none, the mode it had; with changes in both,
    one of the modes acknowledged since. A change is a set that changed its place (not a no-op)."""
    async def run() -> None:
        db = await open_database("sqlite:///:memory:")
        try:
            file = {f"bank-{i:02d}": "pull" for i in range(3)}

            def registry() -> Registry:
                return Registry([Participant(id=pid, role="bank", name=pid, adm_div_codes=("990100",), delivery=m)
                                 for pid, m in file.items()])

            in_force = await publish_registry(db, registry())
            since: dict[str, list[tuple[str, str]]] = {pid: [] for pid in file}
            for place, i, mode in [*ops, ("restart", 0, "")]:
                pid = f"bank-{i:02d}"
                if place == "db":
                    if await set_mode(db, pid, mode) != mode:
                        since[pid].append(("db", mode))
                elif place == "file":
                    if file[pid] != mode:
                        file[pid] = mode
                        since[pid].append(("file", mode))
                else:
                    modes = await publish_registry(db, registry())
                    assert await read_modes(db) == modes
                    for p, changes in since.items():
                        places = {c[0] for c in changes}
                        if not changes:
                            assert modes[p] == in_force[p], (p, ops)
                        elif len(places) == 1:
                            assert modes[p] == changes[-1][1], (p, changes, ops)
                        else:
                            assert modes[p] in {c[1] for c in changes}, (p, changes, ops)
                    in_force, since = modes, {p: [] for p in file}
        finally:
            await db.close()

    asyncio.run(run())


# ---------------------------------------------------------------------- applying modes, generated


def _registry(n: int) -> Registry:
    return Registry([Participant(id=f"bank-{i:02d}", role="bank", name=f"b{i}", adm_div_codes=("990100",),
                                 delivery="pull") for i in range(n)])


class _Holder:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 8), modes=st.dictionaries(st.sampled_from([f"bank-{i:02d}" for i in range(10)] + ["x-y"]),
                                                   st.sampled_from(["pull", "push"])))
def test_applied_modes_change_only_those_named_and_keep_the_order(n: int, modes: dict[str, str]) -> None:
    holder = _Holder(_registry(n))
    before = list(holder.registry)
    calls: list[int] = []
    changed = apply_modes(holder, modes, lambda: calls.append(1))
    after = list(holder.registry)
    assert [p.id for p in after] == [p.id for p in before]  # the serving order (routing) is untouched
    for old, new in zip(before, after, strict=True):
        assert new.delivery == modes.get(old.id, old.delivery)
        assert (new.token_sha256, new.cert_sns, new.adm_div_codes) == (old.token_sha256, old.cert_sns,
                                                                        old.adm_div_codes)
    assert changed == [p.id for p in before if modes.get(p.id, "pull") == "push"]
    assert calls == ([1] if changed else [])
    assert [p.id for p in holder.registry.serving("bank", "990100")] == [p.id for p in before]


# ---------------------------------------------------------------------- a running gateway, a real broker

ACK_TIMEOUT_S = 0.5
CONFIG = GatewayConfig(push_ack_timeout_s=ACK_TIMEOUT_S, push_backoff_base_ms=50, poll_interval_s=0.1)
QUIET_S = 4 * ACK_TIMEOUT_S + 0.5  # several redelivery periods
BOUND_S = 20.0  # an upper bound for anything to arrive (not a speed check)


@pytest.mark.mqtt
async def test_in_flight_deliveries_across_both_switches(world: DevWorld, broker: MosquittoBroker,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tid = world.treasury.id
    pushed: dict[str, int] = {}  # message id -> times published on bank-a's MQTT inbox
    order: list[str] = []

    async def until(predicate: Any, what: str) -> None:
        deadline = time.monotonic() + BOUND_S
        while not predicate():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.02)

    def switch(delivery: str) -> None:
        code = main(["participants", "set", "--db", str(tmp_path / "gw.db"), "--file", str(world.registry_path),
                     "--id", "bank-a", "--delivery", delivery])
        assert code == 0

    async with mqtt_gateway(world, broker, tmp_path, CONFIG) as (gw, adapter), \
            TestClient(TestServer(make_app(gw))) as http:
        await publish_registry(gw.db, gw.registry)
        watcher = asyncio.create_task(watch_delivery_modes(gw, adapter.sync_pushers, interval_s=0.05))
        auth = {"Authorization": f"Bearer {world.participants['bank-a'].token}"}

        async def inbox() -> set[str]:
            resp = await http.get("/v1/inbox", headers=auth)
            return {m["id"] for m in (await resp.json())["messages"]}

        async def ack(*ids: str) -> list[str]:
            resp = await http.post("/v1/inbox/ack", json={"ids": list(ids)}, headers=auth)
            acked: list[str] = (await resp.json())["acked"]
            return acked

        async def send(no: str) -> str:
            async with GatewayClient.bus(gw, tid) as treasury:
                [result] = await treasury.send(world.envelope([payment(world, voucher_no=no)], sender=tid))
            assert (result.status, result.recipient) == ("accepted", "bank-a"), result
            assert result.message_id is not None
            return result.message_id

        async with aiomqtt.Client(broker.host, broker.port, username="bank-a", identifier="bank-a",
                                  password=world.participants["bank-a"].mqtt_password,
                                  protocol=aiomqtt.ProtocolVersion.V5) as bank_a:
            async def listen() -> None:
                async for message in bank_a.messages:
                    mid = dict(message.properties.UserProperty)["message-id"]
                    pushed[mid] = pushed.get(mid, 0) + 1
                    order.append(mid)

            await bank_a.subscribe("tgw/v1/bank-a/inbox", qos=1)
            listener = asyncio.create_task(listen())
            try:
                # pull: nothing on MQTT; the delivery waits on the inbox
                a = await send("SW1")
                await asyncio.sleep(QUIET_S)
                assert pushed == {} and await inbox() == {a}
                # pull -> push: the unacknowledged one is pushed (same id), a new one too
                await asyncio.to_thread(switch, "push")
                await until(lambda: a in pushed, "the waiting delivery pushed after the switch to push")
                b = await send("SW2")
                await until(lambda: b in pushed, "a new delivery pushed")
                assert await ack(a) == [a]  # a settled; b is in flight (pushed, not acked)
                # push -> pull: b stays, listed on the inbox under its id; nothing more is published
                await asyncio.to_thread(switch, "pull")
                await until(lambda: gw.registry.get("bank-a").delivery == "pull", "the gateway took pull")  # type: ignore[union-attr]
                await asyncio.sleep(1.0)  # a push already under way when the pusher went may still land (loaded CI)
                seen = dict(pushed)
                c = await send("SW3")
                await asyncio.sleep(QUIET_S)
                assert pushed == seen, "published on MQTT after the switch to pull"
                assert await inbox() == {b, c}
                assert await ack(b, c) == [b, c]
                assert await ack(a, b, c) == []  # each acknowledged once
                assert await inbox() == set()
                # back to push: nothing acknowledged is pushed again
                await asyncio.to_thread(switch, "push")
                await until(lambda: gw.registry.get("bank-a").delivery == "push", "the gateway took push")  # type: ignore[union-attr]
                await asyncio.sleep(QUIET_S)
                assert pushed == seen and c not in pushed
                counts = await gw.outbox.counts()
                assert counts == {"acked": 3}, counts
            finally:
                listener.cancel()
                watcher.cancel()
                await asyncio.gather(listener, watcher, return_exceptions=True)
    capsys.readouterr()


async def test_a_running_tgw_up_takes_the_switch_and_says_so(world: DevWorld, db: Database,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """start_server (what `tgw up` runs) writes the modes at start and applies `set --db` within
    its poll; GET /v1/participants/me shows the mode in force. Restarted with the file unchanged, it
    serves the switched mode from its start (it served the file's before). Both backends."""
    import aiohttp

    from gateway.server import ServerConfig, start_server

    at_db = await db_cli_args(db)
    schema = at_db[3] if len(at_db) > 2 else None

    async def start() -> Any:
        return await start_server(ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                                               db=db.url, db_schema=schema, http_port=0))

    headers = {"Authorization": f"Bearer {world.participants['bank-a'].token}"}

    async def mode(server: Any) -> str:
        async with aiohttp.ClientSession() as s, s.get(f"{server.http_url}/v1/participants/me",
                                                       headers=headers) as resp:
            delivery: str = (await resp.json())["delivery"]
            return delivery

    server = await start()
    try:
        assert server.http_url is not None
        assert await mode(server) == "pull"
        code = await asyncio.to_thread(main, ["participants", "set", *at_db, "--id", "bank-a", "--delivery", "push"])
        assert code == 0, capsys.readouterr().err
        deadline = time.monotonic() + BOUND_S
        while await mode(server) != "push":
            assert time.monotonic() < deadline, "the running gateway never took push"
            await asyncio.sleep(0.1)
    finally:
        await server.stop()
    server = await start()  # a worker restarting alone, the file (pull) unchanged: the switch stands
    try:
        assert await mode(server) == "push"
    finally:
        await server.stop()
    capsys.readouterr()
