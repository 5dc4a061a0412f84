"""Acks never wait behind envelope submissions (issue 14).

The broker sends a session at most `max_inflight_messages` unacknowledged PUBLISHes, and the
gateway acknowledges an envelope only once it is journaled. With envelopes and acks on one
session, a burst of submissions filled that window and acks queued behind them at the broker.
Here the envelopes are held (admission paused) until the window is full, and an ack sent then
must still be applied and answered. No timing: the envelopes stay held until the ack is in.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import payment
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker, shipped_settings
from test_mqtt import mqtt_client, mqtt_gateway, receive_until

from gateway.mqtt_adapter import MqttAdapter
from gateway.service import Gateway
from runner.world import DevWorld
from storage.db import open_database

pytestmark = pytest.mark.mqtt


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


def broker_window() -> int:
    """The shipped broker's in-flight window per session (conf/mosquitto.conf)."""
    [line] = [s for s in shipped_settings() if s.split()[0] == "max_inflight_messages"]
    return int(line.split()[1])


async def until(predicate: Any, timeout_s: float) -> None:
    """Wait for a condition (the test fails on timeout; it asserts no speed)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def hold_submissions(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, list[int]]:
    gate, held = asyncio.Event(), [0]
    submit = gw.submit

    async def held_submit(payload: bytes, participant: Any) -> Any:
        held[0] += 1
        await gate.wait()
        return await submit(payload, participant)

    monkeypatch.setattr(gw, "submit", held_submit)
    return gate, held


async def test_an_ack_is_applied_while_the_envelopes_fill_the_brokers_window(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tid, window = world.treasury.id, broker_window()
    async with mqtt_gateway(world, broker, tmp_path) as (gw, _adapter), \
            mqtt_client(world, broker, tid) as treasury, mqtt_client(world, broker, "bank-a") as bank:
        [first] = await treasury.send(world.envelope([payment(world, bank="bank-a")], sender=tid))
        [delivery] = await receive_until(bank, 1, 10)
        assert delivery.message_id == first.message_id

        gate, held = hold_submissions(gw, monkeypatch)
        burst = [world.envelope([payment(world, bank="bank-a")], sender=tid) for _ in range(window + 50)]
        sends = [asyncio.create_task(treasury.send(e)) for e in burst]
        try:
            await until(lambda: held[0] >= window, 60)  # the window is full of envelopes

            await asyncio.wait_for(bank.ack(delivery), timeout=30)  # confirmed by the gateway...
            assert (await gw.outbox.counts()).get("acked") == 1  # ...and applied
            assert not gate.is_set() and not any(t.done() for t in sends)  # while every envelope still waits
        finally:
            gate.set()
        results = await asyncio.wait_for(asyncio.gather(*sends), timeout=120)
        assert {r[0].status for r in results} <= {"accepted", "duplicate"}


async def test_a_broker_without_the_ack_user_gets_the_acks_on_the_main_session(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    """Broker files written before the ack lane: the lane is refused, acks still work (old way)."""
    passwd = broker.root / "passwd"
    passwd.write_text("".join(line for line in passwd.read_text().splitlines(keepends=True)
                              if not line.startswith(f"{GW_USER}-acks:")))
    broker.restart()
    tid = world.treasury.id
    db = await open_database(str(tmp_path / "gw2.db"))
    try:
        from gateway_helpers import running_gateway

        async with running_gateway(world, db) as gw:
            adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                                  reconnect_base_s=0.05, reconnect_max_s=1.0)
            await adapter.start()
            try:
                await adapter.wait_connected(10)
                assert adapter.kinds == ("outbox", "ack"), adapter.kinds
                async with mqtt_client(world, broker, tid) as treasury, \
                        mqtt_client(world, broker, "bank-a") as bank:
                    [r] = await treasury.send(world.envelope([payment(world, bank="bank-a")], sender=tid))
                    [d] = await receive_until(bank, 1, 10)
                    assert d.message_id == r.message_id
                    await asyncio.wait_for(bank.ack(d), timeout=30)
                    assert (await gw.outbox.counts()) == {"acked": 1}
            finally:
                await adapter.stop()
    finally:
        await db.close()
