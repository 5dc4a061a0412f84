"""MQTT payloads the adapter's other tests do not send, against a real Mosquitto: JSON acks nested
past any use or not UTF-8 get the same coded `bad-request` the HTTP ack gives them, never an
`internal-error` and a traceback in the log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mqtt_broker import MosquittoBroker
from test_mqtt import V5, mqtt_gateway

from client.wire import publish_properties
from runner.world import DevWorld

pytestmark = pytest.mark.mqtt


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


ACKS = {
    b"deep": b"[" * 100_000 + b"]" * 100_000,  # json.loads: RecursionError
    b"deep-ids": b'{"ids": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b"not-utf8": b'{"ids": ["\xff\xfe"]}',
    b"flat-but-deep-enough": b'{"ids": [[[[[[[[["m"]]]]]]]]]}',
}


async def _answer_to(raw: aiomqtt.Client, payload: bytes) -> dict[str, Any]:
    """Publish one ack with a response topic; the gateway's answer to it (one at a time: no mix-up)."""
    await raw.publish("tgw/v1/bank-a/ack", payload, qos=1,
                      properties=publish_properties(correlation=b"c", response_topic="tgw/v1/bank-a/result"))
    async with asyncio.timeout(15):
        message = await anext(raw.messages)
    answer: dict[str, Any] = json.loads(message.payload)
    return answer


async def test_hostile_json_acks_are_bad_requests(world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    bank_pw = world.participants["bank-a"].mqtt_password
    async with mqtt_gateway(world, broker, tmp_path) as (_gw, adapter), \
            aiomqtt.Client(broker.host, broker.port, username="bank-a", password=bank_pw, protocol=V5,
                           identifier="bank-a-raw") as raw:
        await raw.subscribe("tgw/v1/bank-a/result", qos=1)
        codes = {name: (await _answer_to(raw, payload))["code"] for name, payload in ACKS.items()}
        assert codes == dict.fromkeys(ACKS, "bad-request")
        assert adapter.connected
