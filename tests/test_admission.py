"""Admission in worker processes decides exactly as admission on the event loop."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from gateway_helpers import payment, running_gateway

from gateway.admission import InlineAdmission, PoolAdmission
from gateway.pipeline import Admitted, Refused
from gateway.service import GatewayConfig
from messages.envelope import encode_envelope
from messages.xmlsafe import DEFAULT_LIMITS
from runner.world import DevWorld
from storage.db import open_database


def _mixed_envelope(world: DevWorld) -> bytes:
    good = world.sealed(payment(world), sender=world.treasury.id)
    signed = world.sealed(payment(world), sender=world.treasury.id)
    # Same length, still valid XML and still adding up: only the signature can notice.
    tampered = replace(signed, voucher=signed.voucher.replace("测试供应商".encode(), "测试供货商".encode(), 1))
    unsigned = replace(world.sealed(payment(world), sender=world.treasury.id), signatures=())
    return encode_envelope([good, tampered, unsigned])


async def test_pool_and_inline_admission_agree(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path)
    data = _mixed_envelope(world)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    at = dt.datetime.now(dt.UTC)
    inline = await InlineAdmission(world.registry(), world.certs(), DEFAULT_LIMITS).admit(data, sender, at=at)
    pool = PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=1)
    try:
        pooled = await pool.admit(data, sender, at=at)
    finally:
        pool.close()
    assert [type(o) for o in pooled] == [Admitted, Refused, Refused]
    assert pooled == inline  # plain data: equal field by field, bytes included
    assert isinstance(pooled[1], Refused) and pooled[1].code == "bad-signature"
    assert isinstance(pooled[2], Refused) and pooled[2].code == "missing-signature"


async def test_gateway_with_admission_workers_journals_once(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path)
    db = await open_database(str(tmp_path / "gw.db"))
    envelope = world.envelope([payment(world) for _ in range(5)], sender=world.treasury.id)
    async with running_gateway(world, db, config=GatewayConfig(admission_workers=1)) as gw:
        sender = gw.registry.get(world.treasury.id)
        assert sender is not None
        first = await gw.submit(envelope, sender)
        again = await gw.submit(envelope, sender)
        assert [r.status for r in first] == ["accepted"] * 5
        assert [r.status for r in again] == ["duplicate"] * 5
        assert [r.message_id for r in again] == [r.message_id for r in first]
        rows = await db.fetch("SELECT COUNT(*) FROM gw_messages")
        assert rows[0][0] == 5
    await db.close()
