"""Two gateway workers on one PostgreSQL database (the scale-out deployment).

Racing submissions of the same voucher resolve to one acceptance, never an error; an outbox
row is pushed by one worker only.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from conftest import PG_URL
from gateway_helpers import FixedClock, payment

from client import GatewayClient
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import open_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"scale_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(PG_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true" or os.environ.get("TGW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    await conn.close()
    yield name
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def _workers(world: DevWorld, schema: str, n: int, config: GatewayConfig) -> list[Gateway]:
    import datetime as dt

    clock = FixedClock(dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    out = []
    for _ in range(n):
        db = await open_database(PG_URL, schema=schema)
        gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock, config=config)
        await gw.start()
        out.append(gw)
    return out


async def _stop(workers: list[Gateway]) -> None:
    for gw in workers:
        await gw.stop()
        await gw.db.close()


async def test_racing_submissions_of_one_voucher_resolve_to_one_acceptance(tmp_path: Path, schema: str) -> None:
    world = DevWorld.create(tmp_path)
    a, b = await _workers(world, schema, 2, GatewayConfig())
    try:
        sender = a.registry.get(world.treasury.id)
        assert sender is not None
        envelopes = [world.envelope([payment(world) for _ in range(5)], sender=world.treasury.id) for _ in range(20)]
        # Every envelope goes to both workers at once, three times over.
        calls = [gw.submit(env, sender) for env in envelopes for gw in (a, b, a, b, a, b)]
        answers = await asyncio.gather(*calls)
        by_voucher: dict[str, Counter[str]] = {}
        for results in answers:
            for r in results:
                assert r.voucher is not None
                by_voucher.setdefault(r.voucher, Counter())[r.status] += 1
        assert len(by_voucher) == 100
        for voucher, statuses in by_voucher.items():
            assert statuses == Counter({"accepted": 1, "duplicate": 5}), (voucher, statuses)
        rows = await a.db.fetch("SELECT COUNT(*), COUNT(DISTINCT id) FROM gw_messages")
        assert rows[0] == (100, 100)
    finally:
        await _stop([a, b])


async def test_an_outbox_row_is_pushed_by_one_worker_only(tmp_path: Path, schema: str) -> None:
    world = DevWorld.create(tmp_path)
    # A long ack timeout: a second push inside the test window could only come from the other worker.
    config = GatewayConfig(push_ack_timeout_s=30.0, poll_interval_s=0.05)
    a, b = await _workers(world, schema, 2, config)
    try:
        async with GatewayClient.bus(a, world.treasury.id) as treasury, \
                GatewayClient.bus(a, "bank-a") as bank_via_a, GatewayClient.bus(b, "bank-a") as bank_via_b:
            envelope = world.envelope([payment(world) for _ in range(40)], sender=world.treasury.id)
            results = await treasury.send(envelope)
            assert all(r.status == "accepted" for r in results)
            received: list[str] = []
            while len(received) < 40:
                got_a, got_b = await asyncio.gather(bank_via_a.receive(0.5), bank_via_b.receive(0.5))
                if not got_a and not got_b:
                    break
                received += [d.message_id for d in got_a + got_b]
            # Wake both deliverers a few more rounds: nothing is pushed twice.
            for gw in (a, b):
                gw._wake.set()
            extra_a, extra_b = await asyncio.gather(bank_via_a.receive(0.3), bank_via_b.receive(0.3))
            received += [d.message_id for d in extra_a + extra_b]
            counts = Counter(received)
            assert len(counts) == 40
            assert max(counts.values()) == 1
            await bank_via_a.ack(*counts)
        rows = await a.db.fetch("SELECT state, COUNT(*) FROM gw_outbox GROUP BY state")
        assert dict(rows) == {"acked": 40}
    finally:
        await _stop([a, b])
