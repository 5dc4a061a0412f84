"""The central bank's thin async shell: the only place in `pboc_sim` that awaits.

It owns a `GatewayClient`, a `Ledger`, a signer and a business clock, and feeds a `PbocCore`:

* inbox loop: delivery → parse → `core.on_voucher(doc, flag, clock.now())` → perform the
  effects in order → ack. Ledger effects come before the sends in every effect list, so a
  receipt is sent only once its transfer is committed, and the delivery is acked only once
  every effect is done. A crash in between means redelivery; the core answers a redelivered
  request with the same effects (same receipt, same transfer id: the ledger applies it once).
* time loop: sleep on the clock until the core's next `WakeAt`, then `core.on_time(now)`.

Core calls and their effects are serialized by one lock, so the two loops never interleave.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from gateway.client import Delivery, GatewayClient, SendResult
from ledger.store import Ledger
from messages.envelope import encode_envelope, parse_envelope
from messages.errors import InputError
from messages.sealing import seal_as_role, voucher_body
from messages.signing import Signer
from messages.voucher import parse_voucher

from .core import Alarm, Effect, OpenAccount, PbocCore, PostTransfer, SendVoucher, WakeAt

__all__ = ["PbocShell"]

log = logging.getLogger("pboc_sim")

# Alarms kept for inspection (tests, `tgw`); older ones are only in the log.
ALARMS_MAX = 10_000
# How long one inbox poll waits before looping (real seconds); short so cancellation is prompt.
RECEIVE_TIMEOUT_S = 1.0


class PbocShell:
    def __init__(self, core: PbocCore, client: GatewayClient, ledger: Ledger, signer: Signer, clock: Any) -> None:
        self.core = core
        self.client = client
        self.ledger = ledger
        self.signer = signer
        self.clock = clock
        self.alarms: list[Alarm] = []
        self.sent: list[tuple[SendVoucher, list[SendResult]]] = []
        self._lock = asyncio.Lock()
        self._wake: dt.datetime | None = None
        self._wake_changed = asyncio.Event()

    # --- the loops ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run both loops until cancelled."""
        await self.tick()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.inbox_loop())
            group.create_task(self.time_loop())

    async def inbox_loop(self) -> None:
        while True:
            for item in await self.client.receive(timeout_s=RECEIVE_TIMEOUT_S):
                await self.handle(item)

    async def time_loop(self) -> None:
        while True:
            wake = self._wake
            if wake is None:
                self._wake_changed.clear()
                await self._wake_changed.wait()
                continue
            await self.clock.sleep_until(wake)
            if self._wake == wake:
                await self.tick()

    # --- one step each --------------------------------------------------------------------

    async def tick(self) -> None:
        async with self._lock:
            await self.perform(self.core.on_time(self.clock.now()))

    async def handle(self, item: Delivery) -> None:
        try:
            [body] = parse_envelope(item.envelope).bodies
            doc = parse_voucher(body.voucher)
        except (InputError, ValueError) as exc:  # the gateway checked it: this is a bug upstream
            self._alarm(Alarm("xsd-invalid", f"undecodable delivery {item.message_id}: {exc}", str(item.key)))
            await self.client.ack(item)
            return
        async with self._lock:
            await self.perform(self.core.on_voucher(doc, body.flag, self.clock.now()))
        await self.client.ack(item)

    async def perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, OpenAccount):
                await self.ledger.open_account(effect.account)
            elif isinstance(effect, PostTransfer):
                await self.ledger.transfer(effect.transfer)
            elif isinstance(effect, SendVoucher):
                await self._send(effect)
            elif isinstance(effect, WakeAt):
                self._wake = effect.at
                self._wake_changed.set()
            elif isinstance(effect, Alarm):
                self._alarm(effect)

    async def _send(self, effect: SendVoucher) -> None:
        body = voucher_body(effect.render(), flag=effect.flag, return_reason=effect.return_reason)
        envelope = encode_envelope([seal_as_role(body, self.signer, "pboc")])
        results = await self.client.send(envelope)
        self.sent.append((effect, results))
        for result in results:
            if not result.ok:
                self._alarm(Alarm("not-authorized" if result.code is None else _known(result.code),
                                  f"gateway refused {effect.key}: {result.code}: {result.message}", str(effect.key)))

    def _alarm(self, alarm: Alarm) -> None:
        log.warning("pboc alarm %s: %s (%s)", alarm.code, alarm.message, alarm.key)
        if len(self.alarms) < ALARMS_MAX:
            self.alarms.append(alarm)


def _known(code: str) -> str:
    from messages.errors import CODES

    return code if code in CODES else "not-authorized"
