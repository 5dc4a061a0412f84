"""Delivery over a real Mosquitto (a private broker per test, tests/mqtt_broker.py; unique client
ids and shared-subscription groups all the same): the broker redelivers an envelope the gateway
received but did not journal, and a slow bank gets each push once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from gateway_helpers import payment, running_gateway, table_count
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker

from client import GatewayClient
from client.wire import publish_properties
from gateway.mqtt_adapter import MqttAdapter
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import open_database

pytestmark = pytest.mark.mqtt


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


def adapter_for(gw: Gateway, broker: MosquittoBroker, client_id: str, group: str) -> MqttAdapter:
    return MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                       client_id=client_id, shared_group=group, reconnect_base_s=0.05, reconnect_max_s=1.0,
                       publish_timeout_s=2.0)


class Killed(BaseException):
    """The gateway process dying between receiving a PUBLISH and committing it (a fault hook)."""


async def until(predicate: Any, timeout_s: float) -> None:
    """Wait for a condition (the test fails on timeout; it asserts no speed)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_the_broker_redelivers_what_the_gateway_did_not_journal(world: DevWorld, broker: MosquittoBroker,
                                                                     tmp_path: Path) -> None:
    """Before: aiomqtt acknowledged the PUBLISH on receipt; a gateway dying before the commit lost
    the envelope for good (only the sender's own re-send could bring it back)."""
    tid, tag = world.treasury.id, uuid.uuid4().hex[:8]
    client_id, group = f"tgw-gw-{tag}", f"g{tag}"
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw:
            real_submit = gw.submit
            received: list[bytes] = []

            async def dies(data: bytes, sender: Any) -> Any:
                received.append(data)
                raise Killed

            gw.submit = dies  # type: ignore[method-assign]
            first = adapter_for(gw, broker, client_id, group)
            await first.start()
            await first.wait_connected()
            password = world.participants[tid].mqtt_password
            async with aiomqtt.Client(broker.host, broker.port, username=tid, password=password,
                                      protocol=aiomqtt.ProtocolVersion.V5, identifier=f"t-{tag}") as raw:
                result_topic = f"tgw/v1/{tid}/result"
                await raw.subscribe(result_topic, qos=1)
                envelope = world.envelope([payment(world)], sender=tid)
                await raw.publish(f"tgw/v1/{tid}/outbox", envelope, qos=1,
                                  properties=publish_properties(correlation=b"c1", response_topic=result_topic))
                await until(lambda: received, 10)
                await first.stop()  # the gateway is gone; the PUBLISH was never acknowledged
                assert await table_count(db, "gw_messages") == 0

                gw.submit = real_submit  # type: ignore[method-assign]
                second = adapter_for(gw, broker, client_id, group)  # restarted: same session
                await second.start()
                try:
                    await second.wait_connected()
                    async with asyncio.timeout(15):
                        async for message in raw.messages:  # no re-send by the sender: the broker's
                            body = json.loads(message.payload)
                            break
                    assert body["summary"] == {"accepted": 1, "duplicate": 0, "rejected": 0}, body
                    assert await table_count(db, "gw_messages") == 1
                finally:
                    await second.stop()
    finally:
        await db.close()


@pytest.mark.slow
async def test_a_slow_bank_over_mqtt_gets_each_push_once(world: DevWorld, broker: MosquittoBroker,
                                                         tmp_path: Path) -> None:
    """A bank taking 5 ms per message, 400 vouchers journaled at once, the shipped delivery
    settings: every voucher arrives, none twice (beyond a tiny bound for a stalled machine), none
    dead-lettered. (Before: pushed 3.3 times each on average, thousands dead-lettered.)"""
    n, tid, tag = 400, world.treasury.id, uuid.uuid4().hex[:8]
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, config=GatewayConfig(poll_interval_s=0.2)) as gw:
            adapter = adapter_for(gw, broker, f"tgw-gw-{tag}", f"g{tag}")
            await adapter.start()
            await adapter.wait_connected()
            bank = GatewayClient.mqtt(broker.host, broker.port, username="bank-a",
                                      password=world.participants["bank-a"].mqtt_password,
                                      participant_id="bank-a", client_id=f"bank-a-{tag}")
            received: Counter[str] = Counter()
            treasury = gw.registry.get(tid)
            assert treasury is not None
            try:
                async with bank:
                    for _start in range(0, n, 50):
                        env = world.envelope([payment(world, bank="bank-a") for _ in range(50)], sender=tid)
                        assert {r.status for r in await gw.submit(env, treasury)} == {"accepted"}

                    async def bank_loop() -> None:
                        while len(received) < n:
                            for d in await bank.receive(timeout_s=0.5):
                                received[d.message_id] += 1
                                await asyncio.sleep(0.005)  # the bank's own work per message
                                await bank.ack(d)

                    await asyncio.wait_for(bank_loop(), timeout=120)
                    await until(lambda: gw._push.in_flight == {}, 30)
            finally:
                await adapter.stop()
            duplicates = sum(received.values()) - len(received)
            counts = await gw.outbox.counts()
            print("slow-bank", json.dumps({"vouchers": n, "duplicates": duplicates, "timeouts": gw._push.timeouts,
                                           "outbox": counts}))
            assert len(received) == n  # nothing lost
            assert counts == {"acked": n}  # nothing dead-lettered
            assert duplicates <= 2 and duplicates <= gw._push.timeouts  # a duplicate only after a real timeout
    finally:
        await db.close()
