"""`SimShell`: the thin async shell around a simulator's sans-IO core; the only place that awaits.

It owns a `GatewayClient`, a `Ledger` (or None for a core that keeps no books), a signer, the
participant's role and a clock, and feeds the core (`SimCore`, below) its inputs:

* `tick(now)`: `core.on_time(now)`;
* `handle(deliveries)`: a batch of deliveries, each `core.on_voucher(doc, flag, now, return_reason)`;
* what did not happen comes back as `core.on_refused(refusal, now)` (see `sim.effects.Refusal`).

Two drivers use these steps. The simulation engine (`sim.engine.SimEngine`) calls them from one
coroutine, in an order fixed by simulated time: deterministic, nothing polls. `run()` is the live
driver, for a shell beside a running gateway on a live or hand-advanced `BusinessClock`: an
inbox loop and a time loop (asleep on the clock until the core's `WakeAt`), serialized by a lock.

**Wake-ups.** `wake` is the time the core asked to be woken at: an `on_time` answer replaces it
(no `WakeAt` means: do not wake me, only an input will), an input's `WakeAt` replaces it, an input
without one leaves it. A core with no wake is never ticked.

**One batch = one transaction, before the ack.** The calls of a batch (a tick, or up to a page of
deliveries, plus any refusals fed back) are performed as:

1. **commit** one transaction: the ledger work of every call (transfers in batches of up to
   TRANSFER_BATCH_MAX, an `OpenAccount` ending a batch), every call's input appended to the
   core's input log, and the batch's sends kept as the *pending sends* (`sim.store.SimStore`);
2. **send and ack**: the sends, in order, in envelopes of up to SEND_BATCH_MAX bodies, and the
   ack of the deliveries beside the first SEND_CONCURRENCY_MAX envelopes once they have begun
   (in-process, the gateway's journal commits them as one group: one commit a batch instead of
   one for the sends and another for the ack); the shell waits for every answer before it goes
   on. A send that fails at once (the process dying in it) means no ack.

So a receipt goes out only once the money it reports has moved, and a delivery is acked only once
its effect on the core's state is durable: its answers are in that commit too, as the pending
sends, so an ack never waits for them to reach the gateway. On start the shell restores the core
(snapshot + the inputs logged since, replayed) and sends the pending sends again: a crash between
commit and send loses none of them, whether the ack got through or not. A re-send is
byte-identical (rendered from plain data), so the gateway answers it `duplicate`. A crash after
the commit but before the ack means redelivery: the core answers a voucher it already decided
with the same effects (same receipt bytes, same transfer id: the ledger applies it once). A crash
before the commit loses nothing that was acked or sent. A send or an ack that fails (raises)
ends the shell like a crash, once all of them have answered: the pending sends go again only
from a new shell's `start()`.
An unexpected exception in a core call or a commit leaves the in-memory core ahead of its stored
state: it ends the shell, like a crash; a new shell over the same database carries on.

**Refusals.** The ledger refuses (overdraft, conflict...) before it writes anything, and the
batch's ledger work normally goes through in a few large ledger calls. When one is refused the
transaction is rolled back, the core is restored to its last committed state, and the batch is
done again call by call, each call's ledger work atomic (a savepoint): a refused call's ledger
work is not applied, its sends are dropped, and the core is told (`on_refused`). A send the
gateway refuses is told the same way, after the sends. Refusals carry their real code (or
`unknown-code`), never another one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import structlog

from client import Delivery, GatewayClient, SendResult
from ledger.model import Transfer
from ledger.store import TRANSFER_BATCH_MAX, Ledger
from messages.catalog import Role
from messages.envelope import VoucherKey, encode_envelope_spans, parse_envelope
from messages.errors import InputError
from messages.sealing import sealed_body
from messages.signing import Signer
from messages.voucher import VoucherDoc, parse_voucher
from sim.archive_store import archive_for
from sim.effects import (
    Alarm,
    Effect,
    OpenAccount,
    PostTransfer,
    Refusal,
    SendVoucher,
    WakeAt,
    registered_code,
)
from sim.store import Input, SimStore
from storage.db import Database, Tx

__all__ = ["FEEDBACK_ROUNDS_MAX", "SEND_BATCH_MAX", "Clock", "SimCore", "SimShell", "SleepingClock"]

log = structlog.get_logger("tgw.sim")

# Alarms kept for inspection (tests, `tgw demo`); older ones are only in the log.
ALARMS_MAX = 10_000
# Send results kept for inspection (tests), the most recent ones: (voucher key, results). A
# refusal is also an alarm and fed back to the core; this is only a look at the last few, so a
# short window (each entry holds a key, its results and their texts: ~650 bytes).
SENT_KEEP_MAX = 1_000
# How long one live inbox poll waits before looping (real seconds); short so cancellation is prompt.
RECEIVE_TIMEOUT_S = 1.0
# Voucher bodies in one envelope: the gateway's HTTP path gains most up to ~100; keep an
# envelope well under the gateway's size limit (a body is ~2-3 KB).
SEND_BATCH_MAX = 100
# Envelopes submitted at once: the gateway's journal commits concurrent submissions as one group
# (one fsync), which is most of a simulated batch's wall time; 10 x 100 bodies stays within the
# journal's group of 1,024 vouchers.
SEND_CONCURRENCY_MAX = 10
# Refusals fed back in a row (a refusal's answer refused again...): a core that keeps asking for
# what is refused is a bug; past this many rounds the refusal is an alarm only.
FEEDBACK_ROUNDS_MAX = 3
# Savepoint name for one call's ledger work on the careful path.
_SAVEPOINT = "sim_call"


class SimCore(Protocol):
    """What every simulator core implements; each entry point returns effects (`sim.effects`)."""

    def on_time(self, now: dt.datetime) -> list[Effect]: ...
    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]: ...
    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]: ...
    def snapshot(self) -> bytes: ...  # `sim.codec` bytes of the core's typed state
    # Optional: `snapshot_parts() -> Iterable[bytes]`, the same bytes in pieces (`sim.codec.encode_parts`);
    # `use_archive(archive)`: settled records go to the shell's archive (`sim.archive`), not the state.
    def load_snapshot(self, data: bytes) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


@runtime_checkable
class SleepingClock(Protocol):
    """A clock the live driver can sleep on (`gateway.clock.BusinessClock`)."""

    def now(self) -> dt.datetime: ...
    async def sleep_until(self, t: dt.datetime) -> None: ...
    async def idle(self, waiting: Awaitable[Any]) -> Any: ...


class _LedgerRefused(Exception):
    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


class SimShell:
    def __init__(self, core: SimCore, client: GatewayClient, ledger: Ledger | None, signer: Signer, role: Role,
                 clock: Clock, *, db: Database | None = None, participant: str | None = None) -> None:
        """`db`: where the core's state is kept; by default the ledger's database. A shell with
        neither keeps its core's state in memory only."""
        self.core = core
        self.client = client
        self.ledger = ledger
        self.signer = signer
        self.role = role
        self.clock = clock
        # The ledger's database: the state must commit with the ledger work in one transaction.
        self.db: Database | None = ledger.db if ledger is not None else db
        if ledger is not None and db is not None and db is not ledger.db:
            raise ValueError("a shell with a ledger keeps its state in the ledger's database")
        self.participant = participant or client.participant_id
        self.store = SimStore(self.db, self.participant) if self.db is not None else None
        # settled records the core hands over (`sim.archive`), where the core takes them and the
        # database can be read synchronously; else the core keeps them in its state
        use_archive = getattr(core, "use_archive", None)
        self.archive = archive_for(self.db, self.participant) if use_archive is not None else None
        if use_archive is not None and self.archive is not None:
            use_archive(self.archive)
        self.alarms: list[Alarm] = []
        self.sent: deque[tuple[VoucherKey, list[SendResult]]] = deque(maxlen=SENT_KEEP_MAX)
        self.wake: dt.datetime | None = None
        self.handled = 0  # deliveries handled and acked
        self.ticks = 0  # on_time calls (replays not counted)
        self.calls = 0  # core calls (replays not counted)
        self.commits = 0  # batches committed
        self.replayed = 0  # inputs replayed on start
        self.restored = False  # start() found stored state and loaded it
        self.careful_batches = 0  # batches done again call by call after a ledger refusal
        self._started = False
        self._lock = asyncio.Lock()
        self._busy = 0
        self._wake_changed = asyncio.Event()
        self._sleeping_until: dt.datetime | None = None
        self._rewake = False
        self._time_task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        """No core call or effect in progress."""
        return self._busy == 0

    # --- start --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the core from its stored state (or store the fresh core's) and send the last
        committed batch's sends again. Idempotent."""
        if self._started:
            return
        self._busy += 1
        try:
            async with self._lock:
                if self._started:
                    return
                pending = await self._restore()
                self._started = True
                await self._send_and_feed_back(pending)
        finally:
            self._busy -= 1

    async def _restore(self) -> list[SendVoucher]:
        if self.store is None:
            return []
        await self.store.open()
        if self.archive is not None:
            await self.archive.open()
        loaded = await self.store.load()
        if loaded is None:
            await self.store.create(self.core.snapshot())
            return []
        self.core.load_snapshot(loaded.snapshot)
        pending = list(loaded.pending)
        last_batch = len(loaded.inputs) - loaded.replay_last  # where the last batch's inputs start, if replayed
        for n, item in enumerate(loaded.inputs):
            effects = self._call(item)
            self._note(item, effects)
            if loaded.replay_last and n >= last_batch:  # its sends, as the batch's commit kept them
                pending += [e for e in effects if isinstance(e, SendVoucher)]
        self._archived()
        self.replayed = len(loaded.inputs)
        self.restored = True
        log.info("sim.restored", role=self.role, participant=self.participant, replayed=self.replayed,
                 pending_sends=len(pending))
        return pending

    async def _reload(self) -> None:
        """Back to the last committed state (after a rolled-back batch)."""
        assert self.store is not None
        self._archived()  # the rolled-back batch's records
        loaded = await self.store.load()
        assert loaded is not None
        self.core.load_snapshot(loaded.snapshot)
        for item in loaded.inputs:
            self._call(item)
        self._archived()

    # --- the steps ----------------------------------------------------------------------------

    async def tick(self, now: dt.datetime | None = None) -> None:
        """`on_time` at `now` (default: the clock's now)."""
        self._busy += 1
        try:
            async with self._lock:
                self._require_started()
                self.ticks += 1
                await self._batch([Input.time(now or self.clock.now())])
        finally:
            self._busy -= 1

    async def handle(self, items: Sequence[Delivery]) -> None:
        """Feed a batch of deliveries to the core, commit, send, then ack them all."""
        if not items:
            return
        self._busy += 1
        try:
            async with self._lock:
                self._require_started()
                now = self.clock.now()
                inputs = []
                for item in items:
                    body, doc = item.body, item.doc  # the gateway's own parse, handed over in-process
                    if body is None or doc is None:  # not handed over: the bytes, parsed here
                        try:
                            [body] = parse_envelope(item.envelope).bodies
                            doc = parse_voucher(body.voucher)
                        except (InputError, ValueError) as exc:  # the gateway checked it: a bug upstream
                            self._alarm(Alarm("xsd-invalid", f"undecodable delivery {item.message_id}: {exc}",
                                              str(item.key)))
                            continue
                    inputs.append(Input.voucher(now, doc, body.flag, body.return_reason))
                await self._batch(inputs, acks=items)
                self.handled += len(items)
        finally:
            self._busy -= 1

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError(f"the {self.role} shell was not started: call start() (or run()) first")

    def _call(self, item: Input) -> list[Effect]:
        item.parsed()
        if item.kind == "time":
            return self.core.on_time(item.at)
        if item.kind == "voucher":
            assert item.doc is not None
            return self.core.on_voucher(item.doc, item.flag, item.at, item.reason)
        assert item.refusal is not None
        return self.core.on_refused(item.refusal, item.at)

    def _note(self, item: Input, effects: Sequence[Effect]) -> None:
        """The wake-up the call leaves (see the module doc)."""
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if wakes:
            self.wake = wakes[-1]
        elif item.kind == "time":
            self.wake = None

    # --- one batch ----------------------------------------------------------------------------

    async def _batch(self, inputs: list[Input], acks: Sequence[Delivery] = ()) -> None:
        """Commit the inputs' calls, then send their sends with the ack of `acks` (see the module doc)."""
        sends = await self._call_and_commit(inputs) if inputs else []
        await self._send_and_feed_back(sends, acks)

    async def _call_and_commit(self, inputs: list[Input]) -> list[SendVoucher]:
        """The one commit path for a batch of inputs (deliveries, ticks, refusals fed back): the
        core's calls, their ledger work and state in one transaction; if the ledger refuses any of
        it, back to the last committed state and the batch again call by call. Its sends."""
        calls = [(item, self._call(item)) for item in inputs]
        self.calls += len(calls)
        try:
            sends = await self._commit(calls)
        except _LedgerRefused as refused:
            log.info("sim.ledger_refused", role=self.role, participant=self.participant, error=str(refused))
            self.careful_batches += 1
            await self._reload()
            calls, sends = await self._commit_careful(inputs)
        for item, effects in calls:
            self._note(item, effects)
            for effect in effects:
                if isinstance(effect, Alarm):
                    self._alarm(effect)
        return sends

    async def _commit(self, calls: list[tuple[Input, list[Effect]]]) -> list[SendVoucher]:
        """The fast path: the whole batch's ledger work in as few ledger calls as it allows."""
        sends = [e for _, effects in calls for e in effects if isinstance(e, SendVoucher)]
        if self.db is None:
            if any(isinstance(e, OpenAccount | PostTransfer) for _, effects in calls for e in effects):
                self._require_ledger()
            return sends
        assert self.store is not None
        async with self.db.transaction() as tx:
            await self._ledger_work(tx, [e for _, effects in calls for e in effects])
            if self.archive is not None:
                await self.archive.write(tx)
            # the sends are exactly what these calls gave: a restart replays them for the sends
            await self.store.append(tx, [item for item, _ in calls], sends, self._snapshot, replayable=True)
        self.commits += 1
        return sends

    async def _commit_careful(self, inputs: list[Input]
                              ) -> tuple[list[tuple[Input, list[Effect]]], list[SendVoucher]]:
        """Call by call, each call's ledger work atomic; a refusal is fed back at once."""
        assert self.db is not None and self.store is not None
        done: list[tuple[Input, list[Effect]]] = []
        async with self.db.transaction() as tx:
            queue = [(item, 0) for item in inputs]
            while queue:
                item, round_ = queue.pop(0)
                effects = self._call(item)
                await tx.execute(f"SAVEPOINT {_SAVEPOINT}")
                try:
                    await self._ledger_work(tx, effects)
                except _LedgerRefused as refused:
                    await tx.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                    dropped = tuple(e for e in effects if isinstance(e, OpenAccount | PostTransfer | SendVoucher))
                    effects = [e for e in effects if not isinstance(e, OpenAccount | PostTransfer | SendVoucher)]
                    refusal = Refusal("ledger", registered_code(refused.error.code),
                                      f"ledger refused: {refused.error}", dropped)
                    self._alarm(Alarm(refusal.code, refusal.message))
                    if round_ < FEEDBACK_ROUNDS_MAX:
                        queue.insert(0, (Input.refused(item.at, refusal), round_ + 1))
                await tx.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                done.append((item, effects))
            sends = [e for _, effects in done for e in effects if isinstance(e, SendVoucher)]
            if self.archive is not None:
                await self.archive.write(tx)
            await self.store.append(tx, [item for item, _ in done], sends, self._snapshot)
        self.commits += 1
        self.calls += len(done) - len(inputs)
        return done, sends

    async def _ledger_work(self, tx: Tx, effects: Sequence[Effect]) -> None:
        if not any(isinstance(e, OpenAccount | PostTransfer) for e in effects):
            return
        ledger = self._require_ledger()
        batch: list[Transfer] = []
        try:
            for effect in effects:
                if isinstance(effect, PostTransfer):
                    batch.append(effect.transfer)
                    if len(batch) >= TRANSFER_BATCH_MAX:
                        await ledger.transfer_many(batch, tx=tx)
                        batch = []
                elif isinstance(effect, OpenAccount):
                    if batch:
                        await ledger.transfer_many(batch, tx=tx)
                        batch = []
                    await ledger.open_account(effect.account, tx=tx)
            if batch:
                await ledger.transfer_many(batch, tx=tx)
        except InputError as exc:  # refused before anything was written
            raise _LedgerRefused(exc) from exc

    # --- sends --------------------------------------------------------------------------------

    async def _send_and_feed_back(self, sends: Sequence[SendVoucher], acks: Sequence[Delivery] = ()) -> None:
        refusals = await self._send_all(sends, acks)
        for _ in range(FEEDBACK_ROUNDS_MAX):
            if not refusals:
                return
            now = self.clock.now()
            follow = await self._call_and_commit([Input.refused(now, r) for r in refusals])
            refusals = await self._send_all(follow)

    async def _send_all(self, effects: Sequence[SendVoucher], acks: Sequence[Delivery] = ()) -> list[Refusal]:
        """The envelopes of up to SEND_CONCURRENCY_MAX chunks go to the gateway together, the ack
        of `acks` with the first of them (its journal commits them as one group); their results
        are read in order."""
        refusals: list[Refusal] = []
        chunks = [list(effects[i:i + SEND_BATCH_MAX]) for i in range(0, len(effects), SEND_BATCH_MAX)]
        for i in range(0, max(1, len(chunks)), SEND_CONCURRENCY_MAX):
            group = chunks[i:i + SEND_CONCURRENCY_MAX]
            answers = await self._send_group([self._envelope(chunk) for chunk in group], acks if i == 0 else ())
            for chunk, results in zip(group, answers, strict=True):
                refusals += self._results(chunk, results)
        return refusals

    async def _send_group(self, envelopes: list[bytes], acks: Sequence[Delivery]) -> list[list[SendResult]]:
        """Send the envelopes at once and, once each send has begun without failing, ack `acks`
        beside them: in-process, the ack reaches the journal's queue behind the sends and before
        its writer takes them, so they share one commit (elsewhere: as soon as it can, maybe its
        own). A send that failed at once (the process dying in its send) means no ack, as when
        the ack waited for the sends. Every send has answered before this returns or raises (the
        first failure, in order): nothing is left running behind a crash."""
        if not envelopes:
            if acks:
                await self.client.ack(*acks)
            return []
        sending = [asyncio.ensure_future(self.client.send(envelope)) for envelope in envelopes]
        try:
            if acks:
                await asyncio.sleep(0)  # each send's first step
                if not any(task.done() and (task.cancelled() or task.exception() is not None) for task in sending):
                    await self.client.ack(*acks)
        finally:
            answers = await asyncio.gather(*sending, return_exceptions=True)
        out: list[list[SendResult]] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            out.append(answer)
        return out

    def _envelope(self, effects: list[SendVoucher]) -> bytes:
        # The body's attributes come from the effect's key, not from parsing the rendered bytes
        # again (a parse per send): the gateway checks that they equal the voucher's own head
        # (`envelope-key-mismatch` otherwise), and the rendered bytes carry that same head.
        # (the key's parts read from the head as `SendVoucher.key` does, without making the key)
        bodies = [sealed_body((h := e.head)["AdmDivCode"], h["StYear"], e.vtcode, h["VoucherNo"], e.flag, e.render(),
                              self.signer, self.role, return_reason=e.return_reason)
                  for e in effects]
        return encode_envelope_spans(bodies)  # in-process, the gateway cuts each body out of it

    def _results(self, effects: list[SendVoucher], results: list[SendResult]) -> list[Refusal]:
        by_key = {r.voucher: r for r in results}
        refusals = []
        for effect in effects:
            key = effect.key
            result = by_key.get(str(key))
            mine = [result] if result is not None else results
            self.sent.append((key, mine))
            for r in mine:
                if not r.ok:
                    code = registered_code(r.code)
                    message = f"gateway refused {key}: {r.code}: {r.message}"
                    self._alarm(Alarm(code, message, str(key)))
                    refusals.append(Refusal("gateway", code, message, (effect,)))
        return refusals

    # --- the live driver ----------------------------------------------------------------------

    async def run(self) -> None:
        """Live: restore, tick once, then an inbox loop and a time loop until cancelled. The clock
        must be one the loop can sleep on (`SleepingClock`)."""
        if not isinstance(self.clock, SleepingClock):
            raise TypeError("run() needs a clock with sleep_until() and idle(); the engine drives a SimClock")
        await self.start()
        await self.tick()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.inbox_loop())
            self._time_task = group.create_task(self.time_loop())

    async def inbox_loop(self) -> None:
        while True:
            items = await self.client.receive(timeout_s=RECEIVE_TIMEOUT_S)
            if items:
                await self.handle(items)
                self._rewake_if_earlier()

    async def time_loop(self) -> None:
        clock = self.clock
        assert isinstance(clock, SleepingClock)
        while True:
            wake = self.wake
            if wake is None:  # nothing to do until an input asks for a wake-up
                self._wake_changed.clear()
                await clock.idle(self._wake_changed.wait())
                continue
            self._sleeping_until = wake
            try:
                await clock.sleep_until(wake)
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
            if self.wake == wake:
                await self.tick()

    def _rewake_if_earlier(self) -> None:
        """An input changed the wake-up: wake the time loop if it waits for nothing or for later."""
        self._wake_changed.set()
        sleeping = self._sleeping_until
        if sleeping is not None and self.wake is not None and self.wake < sleeping and self._time_task is not None:
            self._rewake = True
            self._time_task.cancel()

    # --- helpers ------------------------------------------------------------------------------

    def _archived(self) -> None:
        """Records put by replayed inputs were committed with them; a rolled-back batch's are dropped."""
        if self.archive is not None:
            self.archive.discard()

    def _snapshot(self) -> bytes | Iterable[bytes]:
        """The core's snapshot for the store: in pieces where the core gives them (`snapshot_parts`,
        the same bytes as `snapshot()`, never held whole), else whole."""
        parts = getattr(self.core, "snapshot_parts", None)
        return parts() if parts is not None else self.core.snapshot()

    def _require_ledger(self) -> Ledger:
        if self.ledger is None:
            raise RuntimeError(f"the {self.role} core asked for ledger work but its shell has no ledger")
        return self.ledger

    def _alarm(self, alarm: Alarm) -> None:
        log.warning("sim.alarm", role=self.role, code=alarm.code, message=alarm.message, voucher=alarm.key)
        if len(self.alarms) < ALARMS_MAX:
            self.alarms.append(alarm)
