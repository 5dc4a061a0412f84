"""The broker killed while answers are queued (issue 14): the gateway marks itself down, the
failed answers cost one log line (with a count) instead of one each, and nothing journaled is
lost: the sender re-sends after the reconnect and is answered `duplicate`, same message ids.

Private broker per test (tests/mqtt_broker.py), killed and restarted by the test.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from gateway_helpers import payment, running_gateway
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker
from test_mqtt import FAST, mqtt_client

from gateway.log_tally import LogTally
from gateway.mqtt_adapter import MqttAdapter
from runner.world import DevWorld
from storage.db import open_database

pytestmark = pytest.mark.mqtt


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


async def until(predicate: Any, timeout_s: float) -> None:
    """Wait for a condition (the test fails on timeout; it asserts no speed)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_answers_lost_with_the_broker_come_back_as_duplicates_and_cost_one_line(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n, tid = 30, world.treasury.id
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, config=FAST) as gw:
            adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                                  reconnect_base_s=0.05, reconnect_max_s=0.5, publish_timeout_s=1.0)
            # A frozen clock for the summary: every failure falls in one interval.
            adapter._reply_failed_log = LogTally("mqtt.reply_failed", logger=structlog.get_logger("tgw.mqtt"),
                                                 monotonic=lambda: 0.0)
            gate, journaled = asyncio.Event(), []
            submit = gw.submit

            async def journal_then_hold(payload: bytes, participant: Any) -> Any:
                results = await submit(payload, participant)  # journaled...
                journaled.append(results)
                await gate.wait()  # ...and the answer held back until the broker is gone
                return results

            monkeypatch.setattr(gw, "submit", journal_then_hold)
            await adapter.start()
            await adapter.wait_connected(10)
            try:
                # resend_after_s: a re-send published before the gateway has resubscribed (a killed
                # broker forgot its session) reaches nobody; the client publishes it again.
                async with mqtt_client(world, broker, tid, resend_after_s=2.0) as treasury:
                    envelopes = [world.envelope([payment(world, bank="bank-a")], sender=tid) for _ in range(n)]
                    sends = [asyncio.create_task(treasury.send(e)) for e in envelopes]
                    await until(lambda: len(journaled) == n, 30)

                    with structlog.testing.capture_logs() as logs:
                        await asyncio.to_thread(broker.stop, kill=True)
                        await until(lambda: not adapter.connected, 10)  # seen while every handler still waits
                        assert not any(t.done() for t in sends)
                        gate.set()  # the answers now meet a broker that is gone
                        await until(lambda: adapter._reply_failed_log.total >= len(journaled), 30)
                        adapter._reply_failed_log.flush()
                    failed = [e for e in logs if e["event"] == "mqtt.reply_failed"]
                    # Before: one warning per answer (3,609 in 8 s in the run).
                    total = adapter._reply_failed_log.total
                    assert total >= n and len(failed) == 2 and failed[1]["count"] == total - 1, failed

                    await asyncio.to_thread(broker.start)
                    answered = await asyncio.wait_for(asyncio.gather(*sends), timeout=60)
                    # Re-sent after the reconnect: journaled once, answered duplicate with the same ids.
                    first_ids = sorted({r[0].message_id for r in journaled})
                    assert len(first_ids) == n
                    assert sorted(r[0].message_id for r in answered) == first_ids
                    assert {r[0].status for r in answered} == {"duplicate"}
                    assert treasury.transport.resends >= n  # type: ignore[attr-defined]
                    rows = await gw.db.fetch("SELECT COUNT(*) FROM gw_messages")
                    assert rows[0][0] == n
                    assert adapter.connects >= 2
            finally:
                await adapter.stop()
    finally:
        await db.close()
