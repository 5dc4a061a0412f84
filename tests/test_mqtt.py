"""MQTT end to end against a real Mosquitto (a private broker per test, see tests/mqtt_broker.py).

Treasury → bank over MQTT and the receipt back; the broker's ACL keeps participants apart; a
broker restart in the middle of a stream loses nothing; bad payloads get a coded answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from gateway_helpers import payment, receipt_of, running_gateway, voucher_of_delivery
from mqtt_broker import GW_PASSWORD, GW_USER, GW_USER_2, MosquittoBroker

from client import ClientError, Delivery, GatewayClient
from client.wire import publish_properties
from gateway.mqtt_adapter import MqttAdapter
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import open_database
from tgw import main as tgw_main

pytestmark = pytest.mark.mqtt

V5 = aiomqtt.ProtocolVersion.V5
# Redeliver unacked pushes quickly: a broker restart drops what was in flight to the bank.
FAST = GatewayConfig(push_ack_timeout_s=2.0, push_backoff_base_ms=100, poll_interval_s=0.2)


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


@asynccontextmanager
async def mqtt_gateway(world: DevWorld, broker: MosquittoBroker, tmp_path: Path,
                       config: GatewayConfig = FAST) -> AsyncIterator[tuple[Gateway, MqttAdapter]]:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, config=config) as gw:
            adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                                  reconnect_base_s=0.05, reconnect_max_s=1.0)
            await adapter.start()
            await adapter.wait_connected(10)
            try:
                yield gw, adapter
            finally:
                await adapter.stop()
    finally:
        await db.close()


def mqtt_client(world: DevWorld, broker: MosquittoBroker, pid: str, **kwargs: Any) -> GatewayClient:
    return GatewayClient.mqtt(broker.host, broker.port, username=pid, password=world.participants[pid].mqtt_password,
                              participant_id=pid, reconnect_base_s=0.05, reconnect_max_s=1.0, **kwargs)


async def receive_until(client: GatewayClient, n: int, timeout_s: float) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        got += await client.receive(timeout_s=max(0.01, deadline - time.monotonic()))
    return got


# ---------------------------------------------------------------------- the system broker


async def test_system_broker_round_trip() -> None:
    """The machine's own Mosquitto on 127.0.0.1:1883 (anonymous) answers a QoS 1 round trip."""
    topic = f"tgw-test/{uuid.uuid4().hex}"
    try:
        async with asyncio.timeout(10), aiomqtt.Client("127.0.0.1", 1883, protocol=V5) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"ping", qos=1)
            async for message in c.messages:
                assert message.payload == b"ping"
                break
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        if os.environ.get("CI") == "true" or os.environ.get("TGW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Mosquitto not reachable on 127.0.0.1:1883: {exc!r}")
        pytest.skip(f"Mosquitto not reachable on 127.0.0.1:1883: {exc!r}")


# ---------------------------------------------------------------------- tgw mqtt-acl


def test_mqtt_acl_cli_writes_passwd_and_acl(world: DevWorld, tmp_path: Path, monkeypatch: Any) -> None:
    out = tmp_path / "broker"
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "pw")
    assert tgw_main(["mqtt-acl", "--participants", str(world.registry_path), "--out", str(out)]) == 0
    passwd = (out / "passwd").read_text().splitlines()
    users = [line.split(":", 1)[0] for line in passwd]
    assert users == ["tgw-gateway", "tgw-gateway-acks", "tgw-monitor", *(p.id for p in world.participants.values())]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in passwd)
    acl = (out / "acl").read_text()
    assert "user bank-a\ntopic write tgw/v1/bank-a/outbox\ntopic write tgw/v1/bank-a/ack\n" \
           "topic read tgw/v1/bank-a/inbox\ntopic read tgw/v1/bank-a/result/#\ntopic read tgw/v1/clock\n" in acl
    assert "readwrite" not in acl.split("user bank-a")[1]
    monkeypatch.delenv("TGW_MQTT_PASSWORD")
    assert tgw_main(["mqtt-acl", "--participants", str(world.registry_path), "--out", str(out)]) == 2
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "pw")
    assert tgw_main(["mqtt-acl", "--participants", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2


# ---------------------------------------------------------------------- (1) treasury → bank → receipt


async def test_voucher_to_bank_and_receipt_back(world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    treasury_id = world.treasury.id
    async with mqtt_gateway(world, broker, tmp_path) as (gw, adapter), \
            mqtt_client(world, broker, treasury_id) as treasury, mqtt_client(world, broker, "bank-a") as bank:
        assert adapter.connected
        original = payment(world, bank="bank-a", amount_fen=987_650)
        results = await treasury.send(world.envelope([original], sender=treasury_id))
        assert [r.status for r in results] == ["accepted"], results
        assert results[0].recipient == "bank-a"

        [delivery] = await receive_until(bank, 1, 10)
        assert delivery.message_id == results[0].message_id
        assert delivery.sender == treasury_id and delivery.key.flag == 0
        assert voucher_of_delivery(delivery.envelope) == original
        await bank.ack(delivery)

        receipt = receipt_of(voucher_of_delivery(delivery.envelope))
        back = await bank.send(world.envelope([receipt], sender="bank-a", flag=1))
        assert [r.status for r in back] == ["accepted"], back
        assert back[0].recipient == treasury_id

        [got] = await receive_until(treasury, 1, 10)
        assert got.key == delivery.key._replace(flag=1)
        assert got.sender == "bank-a"
        assert voucher_of_delivery(got.envelope) == receipt
        await treasury.ack(got)

        # The same envelope again: idempotent, answered duplicate.
        again = await treasury.send(world.envelope([original], sender=treasury_id))
        assert [r.status for r in again] == ["duplicate"]
        counts = await gw.outbox.counts()
        assert counts == {"acked": 2}
        with pytest.raises(NotImplementedError, match="HTTP"):
            await treasury.trace(delivery.key)


# ---------------------------------------------------------------------- (2) the broker's ACL


async def test_participants_cannot_read_or_write_each_others_topics(world: DevWorld, broker: MosquittoBroker,
                                                                   tmp_path: Path) -> None:
    bank_b_pw = world.participants["bank-b"].mqtt_password
    async with mqtt_gateway(world, broker, tmp_path) as (gw, _adapter), \
            mqtt_client(world, broker, world.treasury.id) as treasury, \
            mqtt_client(world, broker, "bank-a") as bank_a, \
            aiomqtt.Client(broker.host, broker.port, username="bank-b", password=bank_b_pw, protocol=V5,
                           identifier="bank-b-snoop") as snoop:
        for topic in ("tgw/v1/bank-a/inbox", "tgw/v1/bank-a/result", "tgw/v1/+/inbox", "tgw/v1/#",
                      "$share/tgw/tgw/v1/+/outbox"):
            await snoop.subscribe(topic, qos=1)
        results = await treasury.send(world.envelope([payment(world, bank="bank-a")], sender=world.treasury.id))
        assert results[0].status == "accepted"
        assert len(await receive_until(bank_a, 1, 10)) == 1  # bank-a does get it...

        # bank-b, posing as bank-a, publishes a (validly signed by nobody) envelope on bank-a's outbox.
        spoof = world.envelope([payment(world, bank="bank-a")], sender=world.treasury.id)
        await snoop.publish("tgw/v1/bank-a/outbox", spoof, qos=1,
                            properties=publish_properties(correlation=b"x", response_topic="tgw/v1/bank-b/result"))
        await snoop.publish(f"tgw/v1/{world.treasury.id}/outbox", spoof, qos=1)
        await snoop.publish("tgw/v1/bank-a/ack", json.dumps({"ids": [results[0].message_id]}).encode(), qos=1)

        seen: list[str] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.5):
                async for message in snoop.messages:  # ...bank-b sees none of it
                    seen.append(str(message.topic))
        assert seen == []
        counts = await gw.outbox.counts()
        assert sum(counts.values()) == 1, counts  # the spoofed envelopes never reached the gateway
        assert counts == {"ready": 1}  # and the spoofed ack did not ack bank-a's message

    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, username="bank-a", password="wrong", protocol=V5):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, protocol=V5):  # anonymous
            pass
    with pytest.raises(ClientError) as info:
        async with GatewayClient.mqtt(broker.host, broker.port, username="bank-a", password="wrong",
                                      participant_id="bank-a"):
            pass
    assert info.value.code == "unauthenticated"


# ---------------------------------------------------------------------- (3) broker restart mid-stream


@pytest.mark.slow
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_broker_restart_mid_stream_loses_nothing(world: DevWorld, broker: MosquittoBroker, tmp_path: Path,
                                                       kill: bool) -> None:
    n, concurrency = 200, 16
    started = time.monotonic()
    async with mqtt_gateway(world, broker, tmp_path) as (gw, adapter), \
            mqtt_client(world, broker, world.treasury.id, resend_after_s=3.0) as treasury, \
            mqtt_client(world, broker, "bank-a", resend_after_s=3.0) as bank:
        envelopes = [world.envelope([payment(world, bank="bank-a")], sender=world.treasury.id) for _ in range(n)]
        statuses: dict[int, str] = {}
        sent = asyncio.Event()
        slots = asyncio.Semaphore(concurrency)

        async def send(i: int) -> None:
            async with slots:
                [r] = await treasury.send(envelopes[i])
                statuses[i] = r.status
                if len(statuses) == n // 2:
                    sent.set()

        received: dict[str, Delivery] = {}
        redelivered = 0

        async def bank_loop() -> None:
            nonlocal redelivered
            while len(received) < n:
                items = await bank.receive(timeout_s=0.5)
                for d in items:
                    if d.message_id in received:
                        redelivered += 1
                    received[d.message_id] = d
                if items:
                    await bank.ack(*items)

        bank_task = asyncio.create_task(bank_loop())
        senders = asyncio.gather(*(send(i) for i in range(n)))
        await sent.wait()
        restart_at, done_before_restart = time.monotonic(), len(statuses)
        await asyncio.to_thread(broker.restart, kill=kill, down_s=0.5)
        await senders
        await asyncio.wait_for(bank_task, timeout=60)
        elapsed = time.monotonic() - started

        assert len(statuses) == n
        assert done_before_restart < n  # the restart did happen mid-stream
        assert set(statuses.values()) <= {"accepted", "duplicate"}, statuses
        accepted = [i for i, s in statuses.items() if s == "accepted"]
        rows = await gw.db.fetch("SELECT COUNT(*), COUNT(DISTINCT voucher_no) FROM gw_messages")
        assert tuple(rows[0]) == (n, n)  # each voucher journaled exactly once
        assert len(received) == n  # and the bank got every one
        # The last acks may still be in flight; wait for the outbox to drain.
        for _ in range(100):
            if (await gw.outbox.counts()) == {"acked": n}:
                break
            await asyncio.sleep(0.1)
        assert (await gw.outbox.counts()) == {"acked": n}
        assert adapter.connects >= 2 and treasury.transport.connects >= 2  # type: ignore[attr-defined]
        report = {"mode": "SIGKILL" if kill else "SIGTERM", "sent": n, "answered_before_restart": done_before_restart, "accepted": len(accepted),
                  "duplicate": n - len(accepted), "resends": treasury.transport.resends,  # type: ignore[attr-defined]
                  "redelivered_to_bank": redelivered, "elapsed_s": round(elapsed, 2),
                  "after_restart_s": round(time.monotonic() - restart_at, 2)}
        print("restart-report", json.dumps(report))
        (tmp_path.parent / f"restart-report-{report['mode']}.json").write_text(json.dumps(report))


# ---------------------------------------------------------------------- (4) bad payloads


async def test_invalid_payloads_get_a_code_and_the_adapter_survives(world: DevWorld, broker: MosquittoBroker,
                                                                    tmp_path: Path) -> None:
    bank_pw = world.participants["bank-a"].mqtt_password
    async with mqtt_gateway(world, broker, tmp_path) as (_gw, adapter), \
            aiomqtt.Client(broker.host, broker.port, username="bank-a", password=bank_pw, protocol=V5,
                           identifier="bank-a-raw") as raw:
        await raw.subscribe("tgw/v1/bank-a/result", qos=1)
        cases = {
            b"outbox-1": ("tgw/v1/bank-a/outbox", b"not xml at all"),
            b"outbox-2": ("tgw/v1/bank-a/outbox", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]><MOF/>"),
            b"outbox-3": ("tgw/v1/bank-a/outbox", b""),
            b"ack-1": ("tgw/v1/bank-a/ack", b"{not json"),
            b"ack-2": ("tgw/v1/bank-a/ack", b'{"ids": "m1"}'),
            b"ack-3": ("tgw/v1/bank-a/ack", b'{"ids": ["no-such-message"]}'),
        }
        for corr, (topic, payload) in cases.items():
            await raw.publish(topic, payload, qos=1, properties=publish_properties(
                correlation=corr, response_topic="tgw/v1/bank-a/result"))
        answers: dict[bytes, dict[str, Any]] = {}
        async with asyncio.timeout(10):
            async for message in raw.messages:
                answers[bytes(message.properties.CorrelationData)] = json.loads(message.payload)
                if len(answers) == len(cases):
                    break
        for corr in (b"outbox-1", b"outbox-2", b"outbox-3"):
            body = answers[corr]
            assert body["summary"]["rejected"] == 1 and body["results"][0]["code"], body
        assert answers[b"outbox-1"]["results"][0]["code"] == "xml-malformed"
        assert answers[b"outbox-2"]["results"][0]["code"].startswith("xml-forbidden")
        assert answers[b"ack-1"]["code"] == "bad-request"
        assert answers[b"ack-2"]["code"] == "bad-request"
        assert answers[b"ack-3"] == {"acked": []}
        assert adapter.connected

        # A topic naming no participant (only the gateway's own user can publish there): coded answer.
        # (A second gateway login: as GW_USER it would take over the gateway's own session.)
        async with aiomqtt.Client(broker.host, broker.port, username=GW_USER_2, password=GW_PASSWORD, protocol=V5,
                                  identifier="gw-probe") as probe:
            await probe.subscribe("tgw/v1/ghost/result", qos=1)
            await probe.publish("tgw/v1/ghost/outbox", b"<MOF/>", qos=1,
                                properties=publish_properties(correlation=b"g", response_topic="tgw/v1/ghost/result"))
            async with asyncio.timeout(10):
                async for message in probe.messages:
                    assert json.loads(message.payload)["code"] == "unknown-sender"
                    break

        # And it still works: a real voucher right after.
        async with mqtt_client(world, broker, world.treasury.id) as treasury:
            results = await treasury.send(world.envelope([payment(world)], sender=world.treasury.id))
            assert results[0].status == "accepted"
            await adapter.publish_clock({"now": "2026-03-16T10:00:00+08:00", "mode": "simulated"})
            for _ in range(50):
                if treasury.transport.clock is not None:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
            assert treasury.transport.clock == {"now": "2026-03-16T10:00:00+08:00",  # type: ignore[attr-defined]
                                                "mode": "simulated"}


def test_a_private_broker_moves_to_another_port_when_its_free_one_was_taken(
        world: DevWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`free_port()` closes its socket before mosquitto binds the port: any other process on the
    machine (another test run) may take it in between. That costs a fresh port, not a failed test."""
    import socket

    import mqtt_broker

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: mosquitto's bind fails, nothing answers
        taken_port = int(taken.getsockname()[1])
        offered = iter([taken_port])
        real_free_port = mqtt_broker.free_port
        monkeypatch.setattr(mqtt_broker, "free_port", lambda: next(offered, None) or real_free_port())
        b = MosquittoBroker.start_for(world.registry(), tmp_path, gateway_user=GW_USER, gateway_password=GW_PASSWORD)
        try:
            assert b.port != taken_port and b.proc is not None and b.proc.poll() is None
        finally:
            b.stop()


# ---------------------------------------------------------------------- (5) answers against asyncapi.yaml


def _asyncapi_payloads(*names: str) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))
    return {name: doc["components"]["messages"][name]["payload"] for name in names}


async def test_result_payloads_are_what_asyncapi_says(world: DevWorld, broker: MosquittoBroker,
                                                       tmp_path: Path) -> None:
    """A treasury core on MQTT reads every answer on its result topic by docs/asyncapi.yaml: an
    accepted, a held (monitoring) and a rejected voucher, an ack. Was: a held voucher's status
    `held` was not in the document's enum, and its summary did not count it (HTTP's did)."""
    import datetime as dt

    import jsonschema
    from gateway_helpers import FixedClock

    from gateway.monitoring.monitor import Monitor
    from gateway.monitoring.rules import default_catalogue
    from gateway.monitoring.store import MonitorStore

    schemas = _asyncapi_payloads("SubmitResults", "AckResult", "Error")
    tid = world.treasury.id
    db = await open_database(str(tmp_path / "gw.db"))
    at = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(at), config=FAST,
                 monitor=Monitor(default_catalogue(), MonitorStore(db)))
    await gw.start()
    adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                          reconnect_base_s=0.05, reconnect_max_s=1.0)
    await adapter.start()
    try:
        await adapter.wait_connected(10)
        cases = {
            b"accepted": ("outbox", world.envelope([payment(world, amount_fen=12_345_00)], sender=tid)),
            b"held": ("outbox", world.envelope([payment(world, amount_fen=2_000_000_00, voucher_no="BIG0001")],
                                               sender=tid)),
            b"rejected": ("outbox", b"not xml at all"),
            b"ack": ("ack", b'{"ids": ["no-such-message"]}'),
            b"bad-ack": ("ack", b"{not json"),
        }
        async with aiomqtt.Client(broker.host, broker.port, username=tid, password=world.participants[tid].mqtt_password,
                                  protocol=V5, identifier=f"{tid}-raw") as raw:
            await raw.subscribe(f"tgw/v1/{tid}/result", qos=1)
            for corr, (kind, payload) in cases.items():
                await raw.publish(f"tgw/v1/{tid}/{kind}", payload, qos=1, properties=publish_properties(
                    correlation=corr, response_topic=f"tgw/v1/{tid}/result"))
            answers: dict[bytes, Any] = {}
            async with asyncio.timeout(20):
                async for message in raw.messages:
                    answers[bytes(message.properties.CorrelationData)] = json.loads(message.payload)
                    if len(answers) == len(cases):
                        break
    finally:
        await adapter.stop()
        await gw.stop()
        await db.close()
    expected = {b"accepted": "SubmitResults", b"held": "SubmitResults", b"rejected": "SubmitResults",
                b"ack": "AckResult", b"bad-ack": "Error"}
    wrong = [f"{corr.decode()}: {e.message}" for corr, name in expected.items()
             for e in jsonschema.Draft202012Validator(schemas[name]).iter_errors(answers[corr])]
    assert wrong == []
    assert [r["status"] for r in answers[b"held"]["results"]] == ["held"]
    assert answers[b"held"]["summary"] == {"accepted": 0, "duplicate": 0, "rejected": 0, "held": 1}
