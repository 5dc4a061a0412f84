"""`SimShell`: the thin async shell around a simulator's sans-IO core; the only place that awaits.

It owns a `GatewayClient`, a `Ledger` (or None for a core that keeps no books), a signer, the
participant's role and a business clock, and feeds the core:

* inbox loop: delivery → parse → `core.on_voucher(doc, flag, clock.now())` → commit → send → ack.
* time loop: sleep on the clock until the core's latest `WakeAt`, then `core.on_time(now)` →
  commit → send. A WakeAt earlier than the one the loop sleeps for restarts the sleep.

Core calls and their effects are serialized by one lock, so the two loops never interleave.

**Durability (nothing acknowledged is ever lost).** A core keeps its state in memory; the shell
keeps a copy of it, `core.snapshot()` as JSON, in the participant's own database (its ledger's,
or the `db=` given for a core without books), table `sim_state`, one row per participant. Each
core call (a delivery or an on_time round) is performed as:

1. **commit**: one transaction holding that call's ledger work (`OpenAccount`, `PostTransfer`
   batches, in order) and the snapshot taken after the call, together with the sends the call
   asked for (the *pending sends*);
2. **send**: the pending sends, in order, batched into envelopes;
3. **ack** the delivery (inbox loop).

So a receipt goes out only once the money it reports has moved, and a delivery is acked only
once its effect on the core's state is durable. On start the shell restores the core from the
stored snapshot and sends the pending sends of the last committed call again: a crash after the
commit but before (or during) the sends loses none of them. A re-send is byte-identical (the
voucher is rendered from plain data; the signature is not part of the gateway's identity of a
voucher), so the gateway answers it `duplicate`. A crash after the commit but before the ack
means redelivery: the restored core answers a voucher it already decided with the same effects
(same receipt bytes, same transfer id: the ledger applies it once). A crash before the commit
loses nothing that was acked or sent: the core restarts from the previous snapshot and the
delivery comes again. An unexpected exception in a core call or a commit leaves the in-memory
core ahead of its snapshot: it ends the loops, like a crash, and the shell is to be started
anew over the same database.

The core's protocol (`SimCore`): `on_time(now)`, `on_voucher(doc, flag, now)`, `snapshot()` and
`load_snapshot(data)`; a core whose `on_voucher` also takes `return_reason=` is given the body's
Return_Reason (how a refusal comes back on a receipt). The plain-data codecs the cores build
their snapshots with (dates, voucher keys, transfers, vouchers to send) live here too.

Batching, for throughput: the sends of one call go out in envelopes of at most SEND_BATCH_MAX
bodies and its transfers in atomic ledger batches of at most TRANSFER_BATCH_MAX (an
`OpenAccount` ends a batch), all inside the call's one transaction.

A ledger refusal (overdraft, conflict) means the core's picture and the books disagree: the
shell raises an `Alarm`, skips the rest of that call's ledger work and the sends listed after
the refused effect (no receipt for money that did not move), still commits the snapshot, and
acks, since a redelivery would be refused the same way. The refused batch is not applied (the
ledger refuses before writing); ledger work listed before it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import structlog

from client import Delivery, GatewayClient, SendResult
from ledger.model import Transfer
from ledger.store import TRANSFER_BATCH_MAX, Ledger
from messages.catalog import Role
from messages.envelope import VoucherBody, encode_envelope, parse_envelope
from messages.errors import CODES, InputError, StateError
from messages.sealing import seal_as_role, voucher_body
from messages.signing import Signer
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, SendVoucher, WakeAt
from sim.snapshot import send_from_plain, send_to_plain
from storage.db import Database, Tx

__all__ = ["SEND_BATCH_MAX", "SIM_STATE_SCHEMA", "SNAPSHOT_FORMAT", "SimCore", "SimShell"]

log = structlog.get_logger("tgw.sim")

# Alarms kept for inspection (tests, `tgw demo`); older ones are only in the log.
ALARMS_MAX = 10_000
# Sends kept for inspection, as (effect, results); a demo day is a few thousand.
SENT_MAX = 1_000_000
# How long one inbox poll waits before looping (real seconds); short so cancellation is prompt.
RECEIVE_TIMEOUT_S = 1.0
# Voucher bodies in one envelope: the gateway's HTTP path gains most up to ~100; keep an
# envelope well under the gateway's size limit (a body is ~2-3 KB).
SEND_BATCH_MAX = 100
# The shape of a stored `sim_state` row's JSON (the shell's wrapper around the core's snapshot).
SNAPSHOT_FORMAT = 1

SIM_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_state (
    participant TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);
"""

_UPSERT = ("INSERT INTO sim_state (participant, snapshot, updated_us) VALUES ($1, $2, $3) "
           "ON CONFLICT (participant) DO UPDATE SET snapshot = EXCLUDED.snapshot, updated_us = EXCLUDED.updated_us")


class SimCore(Protocol):
    def on_time(self, now: dt.datetime) -> list[Effect]: ...
    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime) -> list[Effect]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def load_snapshot(self, data: Mapping[str, Any]) -> None: ...


class _LedgerRefused(Exception):
    pass


class SimShell:
    def __init__(self, core: SimCore, client: GatewayClient, ledger: Ledger | None, signer: Signer, role: Role,
                 clock: Any, *, db: Database | None = None, participant: str | None = None) -> None:
        """`db`: where the core's snapshot is kept; by default the ledger's database. A shell
        with neither keeps its core's state in memory only."""
        self.core = core
        self.client = client
        self.ledger = ledger
        self.signer = signer
        self.role = role
        self.clock = clock
        # The ledger's database: the snapshot must commit with the ledger work in one transaction.
        self.db: Database | None = ledger.db if ledger is not None else db
        if ledger is not None and db is not None and db is not ledger.db:
            raise ValueError("a shell with a ledger keeps its snapshot in the ledger's database")
        self.participant = participant or client.participant_id
        self.alarms: list[Alarm] = []
        self.sent: list[tuple[SendVoucher, list[SendResult]]] = []
        self.handled = 0  # deliveries handled and acked
        self.restored = False  # start() found a snapshot and loaded it
        self.commits = 0  # snapshots written
        self._started = False
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

    async def start(self) -> None:
        """Create `sim_state` if needed, restore the core from its snapshot and send the last
        committed call's sends again. Idempotent; `run()` calls it first."""
        if self._started:
            return
        self._busy += 1
        try:
            async with self._lock:
                if self._started:
                    return
                pending = await self._restore()
                self._started = True
                await self._send_all(pending)
        finally:
            self._busy -= 1

    async def run(self) -> None:
        """Restore, then run both loops until cancelled."""
        await self.start()
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
        """Commit the call's ledger work with the core's snapshot, then send. Call under the lock,
        right after the core call that returned `effects`."""
        cut = await self._commit(effects)
        for effect in effects:
            if isinstance(effect, WakeAt):
                self._set_wake(effect.at)
            elif isinstance(effect, Alarm):
                self._alarm(effect)
        await self._send_all([e for e in effects[:cut] if isinstance(e, SendVoucher)])

    # --- durability -------------------------------------------------------------------------

    async def _restore(self) -> list[SendVoucher]:
        if self.db is None:
            return []
        await self.db.execute_script(SIM_STATE_SCHEMA)
        row = await self.db.fetchrow("SELECT snapshot FROM sim_state WHERE participant = $1", self.participant)
        if row is None:
            return []
        record = json.loads(row[0])
        if not isinstance(record, dict) or record.get("format") != SNAPSHOT_FORMAT:
            raise StateError(f"sim_state of {self.participant}: unknown snapshot format "
                             f"{record.get('format') if isinstance(record, dict) else type(record).__name__}")
        self.core.load_snapshot(record["core"])
        self.restored = True
        pending = [send_from_plain(p) for p in record["pending_sends"]]
        log.info("sim.restored", role=self.role, participant=self.participant, pending_sends=len(pending))
        return pending

    async def _commit(self, effects: Sequence[Effect]) -> int:
        """One transaction: the ledger work of `effects`, the core's snapshot and the sends to do.
        Returns how many leading effects stand (all of them unless the ledger refused one)."""
        if self.db is None:
            if any(isinstance(e, OpenAccount | PostTransfer) for e in effects):
                self._require_ledger()
            return len(effects)
        if not self._started:
            raise RuntimeError(f"the {self.role} shell was not started: call start() (or run()) first")
        async with self.db.transaction() as tx:
            cut = await self._ledger_work(tx, effects)
            record = {"format": SNAPSHOT_FORMAT, "participant": self.participant, "core": self.core.snapshot(),
                      "pending_sends": [send_to_plain(e) for e in effects[:cut] if isinstance(e, SendVoucher)]}
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            await tx.execute(_UPSERT, self.participant, text, time.time_ns() // 1000)
        self.commits += 1
        return cut

    async def _ledger_work(self, tx: Tx, effects: Sequence[Effect]) -> int:
        if not any(isinstance(e, OpenAccount | PostTransfer) for e in effects):
            return len(effects)
        ledger = self._require_ledger()
        batch: list[Transfer] = []
        batch_at = 0
        try:
            for index, effect in enumerate(effects):
                if isinstance(effect, PostTransfer):
                    if not batch:
                        batch_at = index
                    batch.append(effect.transfer)
                    if len(batch) >= TRANSFER_BATCH_MAX:
                        await self._ledger_call(ledger.transfer_many(batch, tx=tx))
                        batch = []
                elif isinstance(effect, OpenAccount):
                    if batch:
                        await self._ledger_call(ledger.transfer_many(batch, tx=tx))
                        batch = []
                    batch_at = index
                    await self._ledger_call(ledger.open_account(effect.account, tx=tx))
            if batch:
                await self._ledger_call(ledger.transfer_many(batch, tx=tx))
        except _LedgerRefused:
            return batch_at
        return len(effects)

    # --- effects ----------------------------------------------------------------------------

    def _require_ledger(self) -> Ledger:
        if self.ledger is None:
            raise RuntimeError(f"the {self.role} core asked for ledger work but its shell has no ledger")
        return self.ledger

    async def _ledger_call(self, call: Any) -> Any:
        try:
            return await call
        except InputError as exc:  # refused before anything was written: the transaction goes on
            self._alarm(Alarm(exc.code if exc.code in CODES else "ledger-invalid", f"ledger refused: {exc}"))
            raise _LedgerRefused from exc

    def _set_wake(self, at: dt.datetime) -> None:
        self._wake = at
        self._wake_changed.set()
        sleeping = self._sleeping_until
        if sleeping is not None and at < sleeping and self._time_task is not None:
            self._rewake = True
            self._time_task.cancel()

    async def _send_all(self, effects: Sequence[SendVoucher]) -> None:
        for i in range(0, len(effects), SEND_BATCH_MAX):
            await self._send(list(effects[i:i + SEND_BATCH_MAX]))

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
        log.warning("sim.alarm", role=self.role, code=alarm.code, message=alarm.message, voucher=alarm.key)
        if len(self.alarms) < ALARMS_MAX:
            self.alarms.append(alarm)
