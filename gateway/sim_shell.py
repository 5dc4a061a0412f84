"""`SimShell`: the thin async shell around a simulator's sans-IO core; the only place that awaits.

It owns a `GatewayClient`, a `Ledger` (or None for a core that keeps no books), a signer, the
participant's role and a business clock, and feeds the core:

* inbox loop: delivery → parse → `core.on_voucher(doc, flag, clock.now())` → perform the
  effects in order → ack. Ledger effects come before the sends in every effect list, so a
  receipt is sent only once its transfer is committed, and the delivery is acked only once
  every effect is done. A crash in between means redelivery; a core answers a redelivered
  voucher with the same effects (same receipt, same transfer id: the ledger applies it once).
* time loop: sleep on the clock until the core's latest `WakeAt`, then `core.on_time(now)`.
  A WakeAt earlier than the one the loop sleeps for restarts the sleep.

Core calls and their effects are serialized by one lock, so the two loops never interleave.

The core's protocol (`SimCore`): `on_time(now)` and `on_voucher(doc, flag, now)`; a core whose
`on_voucher` also takes `return_reason=` is given the body's Return_Reason (how a refusal
comes back on a receipt).

Batching, for throughput: consecutive `SendVoucher` effects go out in one envelope (at most
SEND_BATCH_MAX bodies) and consecutive `PostTransfer` effects in one atomic ledger batch; the
order between ledger work and sends is kept exactly.

A ledger refusal (overdraft, conflict) means the core's picture and the books disagree: the
shell raises an `Alarm`, skips the rest of that effect list (no receipt for money that did
not move) and acks, since a redelivery would be refused the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ledger.model import Transfer
from ledger.store import TRANSFER_BATCH_MAX, Ledger
from messages.catalog import Role
from messages.envelope import VoucherBody, encode_envelope, parse_envelope
from messages.errors import CODES, InputError
from messages.sealing import seal_as_role, voucher_body
from messages.signing import Signer
from messages.voucher import VoucherDoc, parse_voucher

from .client import Delivery, GatewayClient, SendResult
from .effects import Alarm, Effect, OpenAccount, PostTransfer, SendVoucher, WakeAt

__all__ = ["SEND_BATCH_MAX", "SimCore", "SimShell"]

log = logging.getLogger("sim_shell")

# Alarms kept for inspection (tests, `tgw demo`); older ones are only in the log.
ALARMS_MAX = 10_000
# Sends kept for inspection, as (effect, results); a demo day is a few thousand.
SENT_MAX = 1_000_000
# How long one inbox poll waits before looping (real seconds); short so cancellation is prompt.
RECEIVE_TIMEOUT_S = 1.0
# Voucher bodies in one envelope: the gateway's HTTP path gains most up to ~100; keep an
# envelope well under the gateway's size limit (a body is ~2-3 KB).
SEND_BATCH_MAX = 100


class SimCore(Protocol):
    def on_time(self, now: dt.datetime) -> list[Effect]: ...
    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime) -> list[Effect]: ...


class _LedgerRefused(Exception):
    pass


class SimShell:
    def __init__(self, core: SimCore, client: GatewayClient, ledger: Ledger | None, signer: Signer, role: Role,
                 clock: Any) -> None:
        self.core = core
        self.client = client
        self.ledger = ledger
        self.signer = signer
        self.role = role
        self.clock = clock
        self.alarms: list[Alarm] = []
        self.sent: list[tuple[SendVoucher, list[SendResult]]] = []
        self.handled = 0  # deliveries handled and acked
        self._lock = asyncio.Lock()
        self._busy = 0
        self._wake: dt.datetime | None = None
        self._wake_changed = asyncio.Event()
        self._sleeping_until: dt.datetime | None = None
        self._rewake = False
        self._time_task: asyncio.Task[None] | None = None
        self._wants_reason = "return_reason" in inspect.signature(core.on_voucher).parameters

    @property
    def idle(self) -> bool:
        """No core call or effect in progress (the time loop may be asleep on the clock)."""
        return self._busy == 0

    @property
    def wake(self) -> dt.datetime | None:
        return self._wake

    # --- the loops ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run both loops until cancelled."""
        await self.tick()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.inbox_loop())
            self._time_task = group.create_task(self.time_loop())

    async def inbox_loop(self) -> None:
        while True:
            items = await self.client.receive(timeout_s=RECEIVE_TIMEOUT_S)
            if not items:
                continue
            self._busy += 1
            try:
                done = [item for item in items if await self.handle(item, ack=False)]
                await self.client.ack(*done)
                self.handled += len(done)
            finally:
                self._busy -= 1

    async def time_loop(self) -> None:
        while True:
            wake = self._wake
            if wake is None:
                self._wake_changed.clear()
                await self._wake_changed.wait()
                continue
            self._sleeping_until = wake
            try:
                await self.clock.sleep_until(wake)
            except asyncio.CancelledError:
                if not self._rewake:
                    raise
                self._rewake = False
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                continue
            finally:
                self._sleeping_until = None
            if self._wake == wake:
                await self.tick()

    # --- one step each --------------------------------------------------------------------

    async def tick(self) -> None:
        self._busy += 1
        try:
            async with self._lock:
                await self.perform(self.core.on_time(self.clock.now()))
        finally:
            self._busy -= 1

    async def handle(self, item: Delivery, *, ack: bool = True) -> bool:
        """Feed one delivery to the core and perform its effects; True when it may be acked."""
        self._busy += 1
        try:
            try:
                [body] = parse_envelope(item.envelope).bodies
                doc = parse_voucher(body.voucher)
            except (InputError, ValueError) as exc:  # the gateway checked it: a bug upstream
                self._alarm(Alarm("xsd-invalid", f"undecodable delivery {item.message_id}: {exc}", str(item.key)))
            else:
                async with self._lock:
                    await self.perform(self._on_voucher(doc, body))
            if ack:
                await self.client.ack(item)
            return True
        finally:
            self._busy -= 1

    def _on_voucher(self, doc: VoucherDoc, body: VoucherBody) -> list[Effect]:
        now = self.clock.now()
        if self._wants_reason:
            effects: list[Effect] = self.core.on_voucher(doc, body.flag, now,  # type: ignore[call-arg]
                                                         return_reason=body.return_reason)
            return effects
        return self.core.on_voucher(doc, body.flag, now)

    async def perform(self, effects: Sequence[Effect]) -> None:
        sends: list[SendVoucher] = []
        transfers: list[Transfer] = []
        try:
            for effect in effects:
                if not isinstance(effect, SendVoucher) and sends:
                    await self._send(sends)
                    sends = []
                if not isinstance(effect, PostTransfer) and transfers:
                    await self._post(transfers)
                    transfers = []
                if isinstance(effect, SendVoucher):
                    sends.append(effect)
                    if len(sends) >= SEND_BATCH_MAX:
                        await self._send(sends)
                        sends = []
                elif isinstance(effect, PostTransfer):
                    transfers.append(effect.transfer)
                    if len(transfers) >= TRANSFER_BATCH_MAX:
                        await self._post(transfers)
                        transfers = []
                elif isinstance(effect, OpenAccount):
                    await self._ledger_call(self._require_ledger().open_account(effect.account))
                elif isinstance(effect, WakeAt):
                    self._set_wake(effect.at)
                elif isinstance(effect, Alarm):
                    self._alarm(effect)
            if transfers:
                await self._post(transfers)
            if sends:
                await self._send(sends)
        except _LedgerRefused:
            return

    # --- effects ----------------------------------------------------------------------------

    def _require_ledger(self) -> Ledger:
        if self.ledger is None:
            raise RuntimeError(f"the {self.role} core asked for ledger work but its shell has no ledger")
        return self.ledger

    async def _ledger_call(self, call: Any) -> Any:
        try:
            return await call
        except InputError as exc:
            self._alarm(Alarm(exc.code if exc.code in CODES else "ledger-invalid", f"ledger refused: {exc}"))
            raise _LedgerRefused from exc

    async def _post(self, transfers: list[Transfer]) -> None:
        await self._ledger_call(self._require_ledger().transfer_many(transfers))

    def _set_wake(self, at: dt.datetime) -> None:
        self._wake = at
        self._wake_changed.set()
        sleeping = self._sleeping_until
        if sleeping is not None and at < sleeping and self._time_task is not None:
            self._rewake = True
            self._time_task.cancel()

    async def _send(self, effects: list[SendVoucher]) -> None:
        bodies = [seal_as_role(voucher_body(e.render(), flag=e.flag, return_reason=e.return_reason),
                               self.signer, self.role) for e in effects]
        results = await self.client.send(encode_envelope(bodies))
        by_key = {r.voucher: r for r in results}
        for effect in effects:
            result = by_key.get(str(effect.key))
            mine = [result] if result is not None else results
            if len(self.sent) < SENT_MAX:
                self.sent.append((effect, mine))
            for r in mine:
                if not r.ok:
                    code = r.code if r.code in CODES else "not-authorized"
                    self._alarm(Alarm(code or "not-authorized", f"gateway refused {effect.key}: {r.code}: {r.message}",
                                      str(effect.key)))

    def _alarm(self, alarm: Alarm) -> None:
        log.warning("%s alarm %s: %s (%s)", self.role, alarm.code, alarm.message, alarm.key)
        if len(self.alarms) < ALARMS_MAX:
            self.alarms.append(alarm)
