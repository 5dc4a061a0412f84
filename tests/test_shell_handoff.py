"""A simulated recipient takes the gateway's parse of each delivery handed over in-process
(`Delivery.body`, `Delivery.doc`, from `sim.engine.engine_client`) and parses nothing; a delivery
without one (as over any other transport) it parses itself (issue 19)."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import FixedClock, payment

import messages.envelope
import messages.voucher
from client import GatewayClient
from gateway.service import Gateway
from messages.voucher import VoucherDoc
from runner.world import DevWorld
from sim.effects import Effect
from sim.engine import engine_client
from sim.shell import SimShell
from storage.db import open_database

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


class RecordingCore:
    def __init__(self) -> None:
        self.docs: list[VoucherDoc] = []

    def on_time(self, now: dt.datetime) -> list[Effect]:
        return []

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime, return_reason: str | None = None) -> list[Effect]:
        self.docs.append(doc)
        return []

    def on_refused(self, refusal: Any, now: dt.datetime) -> list[Effect]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def load_snapshot(self, data: Any) -> None:
        return None


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for module in (messages.voucher, messages.envelope):
        real: Callable[..., Any] = module.parse_xml

        def counting(data: bytes, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            counts[kwargs.get("what", "?")] += 1
            return _real(data, **kwargs)

        monkeypatch.setattr(module, "parse_xml", counting)
    return counts


@pytest.mark.parametrize("handed_over", [True, False])
async def test_a_recipient_shell_takes_the_gateways_parse_and_parses_nothing(
        tmp_path: Path, parses: collections.Counter[str], handed_over: bool) -> None:
    world = DevWorld.create(tmp_path / "world")
    db = await open_database(str(tmp_path / "gw.db"))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT))
    await gw.start(deliver=False)
    try:
        client = engine_client(gw, "bank-a")
        async with client, GatewayClient.bus(gw, world.treasury.id, pull=True) as treasury:
            core = RecordingCore()
            shell = SimShell(core, client, None, world.signer("bank-a"), "bank", FixedClock(AT))
            await shell.start()
            envelope = world.envelope([payment(world, voucher_no=f"SH{i:04d}") for i in range(3)],
                                      sender=world.treasury.id)
            assert all(r.status == "accepted" for r in await treasury.send(envelope))
            items = await client.receive(timeout_s=0)
            if not handed_over:  # as over any other transport: bytes only
                items = [dataclasses.replace(i, body=None, doc=None) for i in items]
            parses.clear()
            await shell.handle(items)
        assert [d.get("VoucherNo") for d in core.docs] == ["SH0000", "SH0001", "SH0002"]
        if handed_over:
            assert parses == {} and all(d is i.doc for d, i in zip(core.docs, items, strict=True))
        else:
            assert parses == {"envelope": 3, "voucher": 3}
        assert shell.alarms == [] and shell.handled == 3
    finally:
        await gw.stop()
        await db.close()
