"""A push participant's deliveries over both transports (docs/asyncapi.yaml, `tgw/v1/{participant}/inbox`;
docs/connect-a-bank.md, "Over MQTT"), through a real Mosquitto (tests/mqtt_broker.py): each is
published on its MQTT inbox topic and also listed by `GET /v1/inbox`, under one message id, so it
is one delivery with one ack, whichever transport acks it; the other transport's ack of it
changes nothing, and an acked delivery is pushed no more. A pull participant gets nothing on MQTT
and reads `GET /v1/inbox`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment, register_delivery
from mqtt_broker import MosquittoBroker
from test_mqtt import mqtt_gateway

from client import GatewayClient
from client.wire import publish_properties
from gateway import metrics
from gateway.http_app import make_app
from gateway.service import GatewayConfig
from runner.world import DevWorld

pytestmark = pytest.mark.mqtt

# Pushes come due again quickly, so that waiting a few of these shows what an ack stopped.
ACK_TIMEOUT_S = 0.5
CONFIG = GatewayConfig(push_ack_timeout_s=ACK_TIMEOUT_S, push_backoff_base_ms=50, poll_interval_s=0.1)
QUIET_S = 4 * ACK_TIMEOUT_S + 0.5  # several redelivery periods (an acked delivery must stay quiet)
BOUND_S = 20.0  # an upper bound for anything to arrive (not a speed check)


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    """bank-a registered push, bank-b pull."""
    return register_delivery(DevWorld.create(tmp_path / "world", delivery="push"), "bank-b", "pull")


def _delivered() -> float:
    return metrics.REGISTRY.get_sample_value("tgw_delivered_total") or 0.0


async def test_push_delivers_over_mqtt_and_http_one_ack_each(world: DevWorld, broker: MosquittoBroker,
                                                            tmp_path: Path) -> None:
    tid = world.treasury.id
    async with mqtt_gateway(world, broker, tmp_path, CONFIG) as (gw, _adapter), \
            TestClient(TestServer(make_app(gw))) as http:
        pushed: dict[str, list[aiomqtt.Message]] = {}  # message id -> its pushes, in order
        on_mqtt: dict[str, list[str]] = {"bank-a": [], "bank-b": []}  # inbox topics: message ids
        answers: dict[bytes, Any] = {}

        def auth(pid: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {world.participants[pid].token}"}

        async def http_inbox(pid: str) -> dict[str, bytes]:
            resp = await http.get("/v1/inbox", headers=auth(pid))
            assert resp.status == 200
            return {m["id"]: m["envelope"].encode() for m in (await resp.json())["messages"]}

        async def http_ack(pid: str, mid: str) -> list[str]:
            resp = await http.post("/v1/inbox/ack", json={"ids": [mid]}, headers=auth(pid))
            assert resp.status == 200
            acked: list[str] = (await resp.json())["acked"]
            return acked

        async def until(predicate: Any) -> None:
            deadline = time.monotonic() + BOUND_S
            while not predicate():
                assert time.monotonic() < deadline, "not reached"
                await asyncio.sleep(0.02)

        async with aiomqtt.Client(broker.host, broker.port, username="bank-a", identifier="bank-a",
                                  password=world.participants["bank-a"].mqtt_password,
                                  protocol=aiomqtt.ProtocolVersion.V5) as bank_a, \
                aiomqtt.Client(broker.host, broker.port, username="bank-b", identifier="bank-b",
                               password=world.participants["bank-b"].mqtt_password,
                               protocol=aiomqtt.ProtocolVersion.V5) as bank_b:

            async def mqtt_ack(mid: str) -> list[str]:
                corr = f"ack-{mid}-{len(answers)}".encode()
                await bank_a.publish("tgw/v1/bank-a/ack", json.dumps({"ids": [mid]}), qos=1,
                                     properties=publish_properties(correlation=corr,
                                                                   response_topic="tgw/v1/bank-a/result"))
                await until(lambda: corr in answers)
                acked: list[str] = answers[corr]["acked"]
                return acked

            async def listen(client: aiomqtt.Client, pid: str) -> None:
                async for message in client.messages:
                    if message.topic.matches(f"tgw/v1/{pid}/result"):
                        answers[bytes(message.properties.CorrelationData)] = json.loads(message.payload)
                        continue
                    props = dict(message.properties.UserProperty)
                    on_mqtt[pid].append(props["message-id"])
                    pushed.setdefault(props["message-id"], []).append(message)

            await bank_a.subscribe([("tgw/v1/bank-a/inbox", 1), ("tgw/v1/bank-a/result", 1)])
            await bank_b.subscribe("tgw/v1/bank-b/inbox", qos=1)
            listeners = [asyncio.create_task(listen(bank_a, "bank-a")), asyncio.create_task(listen(bank_b, "bank-b"))]
            try:
                async with GatewayClient.bus(gw, tid) as treasury:
                    results = await treasury.send(world.envelope(
                        [payment(world, voucher_no=f"PP{n}") for n in range(2)] + [payment(world, bank="bank-b")],
                        sender=tid))
                assert [(r.status, r.recipient) for r in results] == [("accepted", "bank-a")] * 2 + [
                    ("accepted", "bank-b")]
                x, y, z = (r.message_id for r in results)
                # bank-a (push): each pushed over MQTT, and listed over HTTP under the same id with the same bytes
                await until(lambda: x in pushed and y in pushed)
                listed = await http_inbox("bank-a")
                assert set(listed) == {x, y}
                assert all(pushed[mid][0].payload == listed[mid] for mid in (x, y))
                before = _delivered()
                # one ack each, whichever transport comes first; the other's changes nothing
                assert await http_ack("bank-a", x) == [x]
                assert await mqtt_ack(x) == []
                assert await mqtt_ack(y) == [y]
                assert await http_ack("bank-a", y) == []
                assert _delivered() - before == 2
                assert await http_inbox("bank-a") == {}
                pushes = {mid: len(pushed[mid]) for mid in (x, y)}
                attempts = {mid: _steps(await gw.trace(gw.registry.get("bank-a"), *_key(results, mid)), mid)
                            for mid in (x, y)}
                await asyncio.sleep(QUIET_S)
                # acked: pushed no more (the gateway's trace, and what reached the bank)
                for mid in (x, y):
                    events = await gw.trace(gw.registry.get("bank-a"), *_key(results, mid))
                    assert _steps(events, mid) == attempts[mid], events
                    assert attempts[mid].count("delivered") == 1  # the ack
                assert {mid: len(pushed[mid]) for mid in (x, y)} == pushes
                assert (await gw.outbox.counts()) == {"acked": 2, "ready": 1}
                # bank-b (pull): nothing on its MQTT inbox topic, its delivery on GET /v1/inbox
                assert on_mqtt["bank-b"] == []
                assert set(await http_inbox("bank-b")) == {z}
                assert await http_ack("bank-b", z) == [z]
            finally:
                for task in listeners:
                    task.cancel()
                await asyncio.gather(*listeners, return_exceptions=True)


def _key(results: list[Any], mid: str) -> tuple[str, str, str, str]:
    [voucher] = [r.voucher for r in results if r.message_id == mid]
    adm, year, vtcode, no, _flag = voucher.split("/")
    return adm, year, vtcode, no


def _steps(events: list[dict[str, Any]] | None, mid: str) -> list[str]:
    assert events is not None
    return [e["step"] for e in events if e["message_id"] == mid]
