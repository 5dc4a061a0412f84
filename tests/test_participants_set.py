"""`tgw participants set --delivery push|pull` (gateway/delivery_modes.py): a participant's delivery
mode switched without new secrets, in the registry file (--file) and on a running gateway (--db),
with exit codes, `--format json` and coded errors; on a running gateway with a real Mosquitto,
deliveries in flight across both switches: nothing acknowledged is lost, nothing acknowledged
twice or pushed after its ack, and a pull participant gets nothing more on MQTT."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_broker import MosquittoBroker
from test_mqtt import mqtt_gateway

from client import GatewayClient
from gateway.delivery_modes import apply_modes, publish_registry, read_modes, watch_delivery_modes
from gateway.http_app import make_app
from gateway.participants import Participant, Registry
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import open_database
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


async def test_db_switch_and_its_refusals(world: DevWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = tmp_path / "gw.db"
    db = await open_database(str(db_path))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs())
    await gw.start()
    try:
        def run(*argv: str) -> tuple[int, str, str]:
            return _run(capsys, *argv)

        # a gateway's database from before the table (no gw_delivery_modes): db-not-gateway, exit 2
        code, _, err = await asyncio.to_thread(run, "--db", str(db_path), "--id", "bank-a", "--delivery", "push")
        assert code == 2 and "db-not-gateway" in err and "gw_delivery_modes" in err, err
        await publish_registry(db, gw.registry)  # what tgw up does at start
        raw = world.registry_path.read_bytes()
        # unknown on the gateway: the file named beside it is left alone too
        world_zz = world.registry()
        assert world_zz.get("bank-a") is not None
        code, out, err = await asyncio.to_thread(run, "--db", str(db_path), "--id", "bank-zz", "--delivery", "push",
                                                 "--format", "json")
        assert code == 2 and json.loads(out)["code"] == "unknown-participant", err
        code, out, err = await asyncio.to_thread(run, "--file", str(world.registry_path), "--db", str(db_path),
                                                 "--id", "bank-a", "--delivery", "push", "--format", "json")
        assert code == 0, err
        assert json.loads(out) == {"id": "bank-a", "delivery": "push", "was": {"file": "pull", "db": "pull"}}
        assert world.registry_path.read_bytes() != raw
        assert (await read_modes(db))["bank-a"] == "push"
        assert apply_modes(gw, await read_modes(db)) == ["bank-a"]
        me = gw.registry.get("bank-a")
        assert me is not None and me.delivery == "push" and me.token_sha256 == world.registry().get("bank-a").token_sha256  # type: ignore[union-attr]
        code, _, err = await asyncio.to_thread(run, "--db", str(tmp_path / "none.db"), "--id", "bank-a",
                                               "--delivery", "pull")
        assert code == 2 and "io-unreadable" in err
    finally:
        await gw.stop()
        await db.close()


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


async def test_a_running_tgw_up_takes_the_switch_and_says_so(world: DevWorld, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """start_server (what `tgw up` runs) writes the modes at start and applies `set --db` within
    its poll; GET /v1/participants/me shows the mode in force."""
    import aiohttp

    from gateway.server import ServerConfig, start_server

    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    server = await start_server(ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                                             db=db_url, http_port=0))
    try:
        assert server.http_url is not None
        headers = {"Authorization": f"Bearer {world.participants['bank-a'].token}"}

        async def mode() -> str:
            async with aiohttp.ClientSession() as s, s.get(f"{server.http_url}/v1/participants/me",
                                                           headers=headers) as resp:
                delivery: str = (await resp.json())["delivery"]
                return delivery

        assert await mode() == "pull"
        code = await asyncio.to_thread(main, ["participants", "set", "--db", db_url, "--id", "bank-a",
                                              "--delivery", "push"])
        assert code == 0, capsys.readouterr().err
        deadline = time.monotonic() + BOUND_S
        while await mode() != "push":
            assert time.monotonic() < deadline, "the running gateway never took push"
            await asyncio.sleep(0.1)
    finally:
        await server.stop()
    capsys.readouterr()
