"""Helpers shared by the gateway tests: a world, a running gateway, payment vouchers."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.service import Gateway, GatewayConfig
from gateway.world import DevWorld
from messages.factory import payment_voucher

_counter = itertools.count(1)

DAY = dt.date(2026, 3, 16)


def payment(world: DevWorld, *, bank: str = "bank-a", amount_fen: int = 123_456, voucher_no: str | None = None,
            vtcode: str = "5201", day: dt.date = DAY) -> bytes:
    no = voucher_no or f"T{next(_counter):08d}"
    code = world.participants[bank].bank_codes[0]
    return payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=code, amount_fen=amount_fen,
                           adm_div_code=world.adm_div_code, vtcode=vtcode)


class FixedClock:
    """Business time for tests that do not exercise the clock itself."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


@asynccontextmanager
async def running_gateway(world: DevWorld, db: Any, *, config: GatewayConfig | None = None,
                          at: dt.datetime | None = None) -> AsyncIterator[Gateway]:
    clock = FixedClock(at or dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    gateway = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock, config=config)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()
