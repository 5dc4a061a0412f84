"""The gateway service: pipeline + journal + outbox + delivery, behind every transport.

Transports (HTTP, MQTT, the in-process bus) are thin: they authenticate a participant and
call `submit`, `inbox`, `ack`, `message`, `trace`. Push transports also register a pusher
so the deliverer can hand them outbox rows; the recipient's ack comes back through `ack`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from gateway import metrics
from gateway.admission import Admission, InlineAdmission, PoolAdmission
from gateway.bus import BusConnection, InProcessBus, ParsedHandoff
from gateway.delivery import DeliveryScheduler, interleave
from gateway.journal import Journal, JournalResult, now_us
from gateway.log_tally import LogTally
from gateway.monitoring.monitor import Held, Monitor
from gateway.outbox import InboxItem, Outbox, backoff_us
from gateway.participants import Participant, Registry
from gateway.pipeline import Admitted, Refused
from gateway.sim_faults import SimFaults
from gateway.sim_reset import forget_everything
from gateway.trace_rows import expand_trace
from messages.envelope import VoucherKey
from messages.errors import Issue, StateError
from messages.signing import CertificateStore
from messages.xmlsafe import DEFAULT_LIMITS, Limits
from storage.db import Database

__all__ = ["ACK_IDS_MAX", "Gateway", "GatewayConfig", "SubmitResult"]

log = structlog.get_logger("tgw.gateway")

Pusher = Callable[[InboxItem], Awaitable[None]]

ACK_IDS_MAX = 1000  # ids in one ack request (HTTP or MQTT): one transaction, answered in one reply


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    limits: Limits = DEFAULT_LIMITS
    push_attempts_max: int = 8  # then a dead letter; `tgw dlq replay` brings it back
    # The ack timeout adapts to each recipient's measured ack time (smoothed RTT + 4 x its deviation,
    # as TCP does, gateway/delivery.py): this is its value before the first ack, then it stays within
    # [push_ack_timeout_min_s (at most the initial value), push_ack_timeout_max_s]; a push not acked
    # in time is retried (with backoff).
    push_ack_timeout_s: float = 10.0
    push_ack_timeout_min_s: float = 1.0
    push_ack_timeout_max_s: float = 120.0
    # Unacked pushes per recipient (its credit, like MQTT's Receive Maximum): a slow recipient gets
    # no more than this in its queue, so its acks come in time and nothing is pushed twice.
    push_window: int = 64
    push_backoff_base_ms: int = 500
    push_in_flight_max: int = 256  # publishes awaiting the transport at once, all recipients together
    poll_interval_s: float = 1.0  # deliverer's safety net; commits wake it at once anyway
    # Processes running the pure pipeline (parse, XSD, verify). 0: on the event loop. On a 2-core
    # machine 1-2 workers leave the loop free for the journal and the transports; the loop feeds
    # them in batches over socket pairs (gateway.admission), about 50-100 µs of CPU per envelope
    # on top of inline (`tgw bench --latency` measures both, bench/results/latency.json).
    admission_workers: int = 0


@dataclass(frozen=True, slots=True)
class SubmitResult:
    voucher: str | None
    vtcode: str | None
    voucher_no: str | None
    status: str  # accepted | duplicate | rejected | held (monitoring: code monitor-held)
    message_id: str | None = None
    recipient: str | None = None
    issues: tuple[Issue, ...] = ()

    @property
    def code(self) -> str | None:
        return self.issues[0].code if self.issues else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"voucher": self.voucher, "vtcode": self.vtcode, "voucher_no": self.voucher_no,
                               "status": self.status}
        if self.message_id:
            out["message_id"] = self.message_id
            out["recipient"] = self.recipient
        if self.issues:
            out["code"] = self.issues[0].code
            out["message"] = self.issues[0].message
            out["errors"] = [i.as_dict() for i in self.issues]
        return out


def _debug_on() -> bool:
    """Whether this module's DEBUG lines are written, asked once per envelope: a filtered call
    still costs the logger's lookup and its arguments (~4 µs), once per voucher."""
    enabled = getattr(log, "is_enabled_for", None)
    return True if enabled is None else bool(enabled(logging.DEBUG))


def _refused(key: VoucherKey | None, issues: Sequence[Issue]) -> SubmitResult:
    return SubmitResult(str(key) if key else None, key.vtcode if key else None, key.voucher_no if key else None,
                        "rejected", issues=tuple(issues))


def _storable(text: str) -> bool:
    """Text either database can hold: no NUL (PostgreSQL text refuses it), no lone surrogate
    (not encodable as UTF-8, SQLite refuses it). Ids and keys the gateway made never fail this."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Gateway:
    def __init__(self, *, db: Database, registry: Registry, certs: CertificateStore, clock: Any = None,
                 config: GatewayConfig | None = None, delivery_clock: Callable[[], int] | None = None,
                 monitor: Monitor | None = None) -> None:
        self.db = db
        self.registry = registry
        self.certs = certs
        self.clock = clock
        self.config = config or GatewayConfig()
        # Dynamic monitoring (gateway/monitoring): None screens nothing.
        self.monitor = monitor
        self._fresh_state()
        if getattr(clock, "is_simulated", False) and hasattr(clock, "on_change"):  # a move may end a withholding
            clock.on_change(lambda _now: self.wake_readers() if self.sim_faults else None)
        self._pushers: dict[str, Pusher] = {}
        # Admission's parses of what it journaled, for in-process recipients that take them (gateway.bus).
        self.handoff = ParsedHandoff()
        # A recipient's own parse uses the default limits: a parse under other limits is not what it would get.
        self._hand_over = self.config.limits == DEFAULT_LIMITS
        # The deliverer's clock (µs; retry times in the outbox): wall time, or a test's simulated clock.
        self._now_us: Callable[[], int] = delivery_clock or now_us
        self._push_slots = asyncio.Semaphore(self.config.push_in_flight_max)
        self._push_tasks: set[asyncio.Task[None]] = set()  # strong refs: the loop keeps only weak ones
        self._push_failed_log = LogTally("deliver.push_failed", logger=log)  # a lost broker fails them all
        self._admission: Admission = InlineAdmission(registry, certs, self.config.limits)
        self._deliverer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Set (and replaced) on each ack and whenever `poke` is called: what a test gateway's
        # `GET /v1/sim/idle` waits on besides commits (gateway/sim_idle.py).
        self.activity = asyncio.Event()
        self._accepting = False
        self._inflight_submits = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _fresh_state(self) -> None:
        """What the gateway holds about messages and deliveries in memory, as at its start (and
        after a test gateway's `reset`)."""
        # A simulated clock (`clock.is_simulated` True) also makes message ids from simulated time.
        self.journal = Journal(self.db, clock=self.clock)
        # A replay: long polls read again. Acks share the journal's group commit.
        self.outbox = Outbox(self.db, on_ready=self.wake_readers,
                             in_commit=lambda work, weight: self.journal.in_commit(work, weight=weight))
        # Test gateways on a simulated clock: deliveries withheld or lost on purpose (POST /v1/sim/faults).
        self.sim_faults = SimFaults(dt.timedelta(seconds=self.config.push_ack_timeout_s))
        if self.monitor is not None:
            self.monitor.attach(self.journal, lambda: self._wake.set())
        self._push = DeliveryScheduler(
            window=self.config.push_window, initial_timeout_us=int(self.config.push_ack_timeout_s * 1e6),
            floor_us=int(self.config.push_ack_timeout_min_s * 1e6),
            ceiling_us=int(self.config.push_ack_timeout_max_s * 1e6))

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, deliver: bool = True) -> None:
        """Open the journal and accept work; `deliver=False` leaves pushing to explicit
        `deliver_round()` calls (tests that drive delivery round by round on a simulated clock)."""
        limits = self.config.limits
        if self.config.admission_workers > 0:
            self._admission = PoolAdmission(self.registry, self.certs, limits, workers=self.config.admission_workers)
        else:
            self._admission = InlineAdmission(self.registry, self.certs, limits)
        await self._admission.started()  # workers loaded: the first envelopes do not wait for a spawn
        await self.journal.start()
        if self.monitor is not None:
            await self.monitor.start()
        self._accepting = True
        if deliver:
            self._deliverer = asyncio.create_task(self._deliver_loop(), name="deliverer")
        log.info("gateway.started", participants=len(self.registry), db=self.db.url.split("@")[-1])

    async def stop(self) -> None:
        """Drain: refuse new work, finish submissions in flight, stop delivering."""
        self._accepting = False
        self.journal.committed.set()  # wake long polls so they answer now
        await self._idle.wait()
        await self.journal.stop()
        if self._deliverer is not None:
            # The loop also ends on its own once not accepting: on Python 3.11 asyncio.wait_for can
            # swallow a cancellation that races with its inner wait, which left stop() hanging.
            self._wake.set()
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        await asyncio.to_thread(self._admission.close)
        self._push_failed_log.flush()
        log.info("gateway.stopped")

    async def reset(self, to: dt.datetime | None = None) -> None:
        """A test gateway on a simulated clock (`POST /v1/sim/reset`, gateway/sim_reset.py): forget
        every message, delivery, trace, hold and delivery fault, and set the clock back to `to`
        (default: where it started), as if it had just started. Message ids and the inbox sequence go
        on from where they were: an id or an inbox cursor of before never names anything of after."""
        if self.clock is None or not getattr(self.clock, "is_simulated", False) or not hasattr(self.clock, "rewind"):
            raise StateError("only a test gateway on a simulated clock can be reset")
        delivering = self._deliverer is not None
        await self.stop()
        ids = self.journal.ids
        try:
            await forget_everything(self.db)
            if self.monitor is not None:
                await self.monitor.store.new_epoch()
            await self.clock.rewind(to)
        finally:  # a database that refused leaves a gateway that still runs (and the error answered)
            self._fresh_state()
            self.journal.ids = ids
            await self.start(deliver=delivering)
            self.poke()
        log.info("gateway.reset", now=self.clock.now().isoformat(), epoch=self.clock.epoch)

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def journal_digest(self) -> str:
        """SHA-256 (hex) over every journaled message in order: see `Journal.journal_digest`."""
        return await self.journal.journal_digest()

    def business_now(self) -> dt.datetime:
        if self.clock is not None:
            now: dt.datetime = self.clock.now()
            return now
        return dt.datetime.now(dt.UTC)

    # ------------------------------------------------------------------ submit

    async def submit(self, data: bytes, sender: Participant) -> list[SubmitResult]:
        if not self._accepting:
            raise StateError("gateway is shutting down")
        self._inflight_submits += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            return await self._submit(data, sender, started)
        finally:
            self._inflight_submits -= 1
            if self._inflight_submits == 0:
                self._idle.set()

    async def _submit(self, data: bytes, sender: Participant, started: float) -> list[SubmitResult]:
        business = self.business_now()
        # Certificates expire in real time, whatever the business clock says (it may be simulated).
        admission = await self._admission.admit(data, sender, at=dt.datetime.now(dt.UTC))
        outcomes: Sequence[Admitted | Refused | Held] = admission
        extra: Sequence[Any] = ()
        if self.monitor is not None:  # ARCHITECTURE step 6: before anything reaches the bank
            screened = await self.monitor.screen(admission, business)
            outcomes, extra = screened.outcomes, screened.extra
        admitted = [o for o in outcomes if isinstance(o, Admitted)]
        refusals = [(o.key, sender.id, o.issues[0]) for o in outcomes if isinstance(o, Refused) and o.key]
        journaled: list[JournalResult] = []
        if admitted or refusals or extra:
            journaled = await self.journal.record(admitted, business_time=business.isoformat(), refusals=refusals,
                                                  extra=extra)
        by_key = iter(journaled)
        results: list[SubmitResult] = []
        for outcome in outcomes:
            if isinstance(outcome, Held):
                k = outcome.key
                results.append(SubmitResult(str(k), k.vtcode, k.voucher_no, "held", issues=(outcome.issue,)))
                continue
            if isinstance(outcome, Refused):
                results.append(_refused(outcome.key, outcome.issues))
                continue
            jr = next(by_key)
            key = jr.key
            if jr.status == "refused":
                assert jr.issue is not None
                results.append(_refused(key, [jr.issue]))
            else:
                results.append(SubmitResult(str(key), key.vtcode, key.voucher_no, jr.status, jr.message_id,
                                            jr.recipient))
                if (jr.status == "accepted" and outcome.doc is not None and self._hand_over
                        and jr.message_id is not None and jr.recipient is not None):
                    self.handoff.offer(jr.message_id, jr.recipient, outcome.body, outcome.doc)
        elapsed = time.perf_counter() - started
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "held": 0}
        debug = _debug_on()
        for r in results:
            counts[r.status] += 1
            metrics.VOUCHERS_BY(r.vtcode or "-", r.status, r.code or "").inc()
            # A refusal is news for operators; an acceptance is in the trace table already, and
            # a line per accepted voucher would cost as much as its journal write.
            if r.status == "rejected":
                log.info("voucher.rejected", voucher=r.voucher, sender=sender.id, code=r.code,
                         message=r.issues[0].message if r.issues else None)
            elif debug:
                log.debug("voucher.accepted", voucher=r.voucher, sender=sender.id, status=r.status,
                          message_id=r.message_id, recipient=r.recipient)
        # DEBUG: a line per envelope (~270 bytes) was the hot path's biggest log cost; the counts are
        # in tgw_vouchers_total and tgw_ack_latency_seconds, refusals in voucher.rejected above.
        log.debug("envelope.submitted", sender=sender.id, vouchers=len(results), ms=round(elapsed * 1000, 2),
                 first=results[0].voucher if results else None, **counts)
        metrics.ACK_LATENCY.observe(elapsed)
        if any(r.status == "accepted" for r in results):
            self._wake.set()
        return results

    # ------------------------------------------------------------------ pull side

    def wake_readers(self) -> None:
        """Answer the inbox long polls and wake the deliverer now (a delivery fault was set or lifted)."""
        self.journal.wake()
        self._wake.set()

    async def inbox(self, participant: Participant, *, after_seq: int = 0, limit: int = 100,
                    wait_s: float = 0.0) -> list[InboxItem]:
        """Long poll: answer at once if anything is there, else wait for a commit (up to wait_s)."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            committed, mark = self.journal.committed, self.journal.mark(participant.id)
            items = await self.outbox.inbox(participant.id, after_seq=after_seq, limit=limit)
            stored = bool(items)
            if self.sim_faults and self.clock is not None:  # empty: no cost
                items = self.sim_faults.withhold(participant.id, items, self.clock.now())
            remaining = deadline - time.monotonic()
            if items or remaining <= 0 or not self._accepting:
                return items
            # Nothing stored for it: only a commit with rows for it (or a wake) can change that, so
            # the commits of others do not cost a read each. (Rows withheld: any commit re-reads.)
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(committed.wait(), timeout=remaining)
                remaining = deadline - time.monotonic()
                if stored or remaining <= 0 or not self._accepting or self.journal.mark(participant.id) != mark:
                    break
                committed = self.journal.committed

    async def ack(self, participant: Participant, message_ids: Sequence[str]) -> list[str]:
        # An id no database can hold names no message: it changes nothing (and must not raise).
        message_ids = [m for m in message_ids if _storable(m)]
        if not message_ids:
            return []
        changed = await self.outbox.ack(participant.id, message_ids, at_us=now_us(),
                                        business_time=self.business_now().isoformat())
        if self._push.acked(participant.id, changed, self._now_us()):
            self._wake.set()  # window slots came free: push the recipient's next rows now
        metrics.DELIVERED.inc(len(changed))
        if changed:
            self.poke()
        return changed

    def poke(self) -> None:
        """Wake whoever waits on `activity` (an ack, a participant now waiting on the clock, a reset)."""
        event, self.activity = self.activity, asyncio.Event()
        event.set()

    async def message(self, participant: Participant, message_id: str) -> dict[str, Any] | None:
        """A message the participant sent or received; None otherwise (404 either way: no leaks)."""
        if not _storable(message_id):
            return None
        row = await self.db.fetchrow(
            "SELECT m.id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, m.recipient, "
            "m.original_id, m.received_us, m.business_time, o.state, o.attempts, m.payload FROM gw_messages m "
            "JOIN gw_outbox o ON o.message_id = m.id WHERE m.id = $1", message_id)
        if row is None or participant.id not in (row[6], row[7]):
            return None
        key = VoucherKey(row[1], row[2], row[3], row[4], int(row[5]))
        return {"id": row[0], "voucher": str(key), "vtcode": key.vtcode, "voucher_no": key.voucher_no,
                "flag": key.flag, "sender": row[6], "recipient": row[7], "original_id": row[8],
                "received_us": row[9], "business_time": row[10], "delivery_state": row[11], "attempts": row[12],
                "envelope": bytes(row[13]).decode("utf-8")}

    async def trace(self, participant: Participant, adm_div_code: str, st_year: str, vtcode: str,
                    voucher_no: str) -> list[dict[str, Any]] | None:
        """Events of a voucher and its receipt, if the participant is a party to it, or the
        treasury of its AdmDivCode (the dashboard's region view: a bank's clearing request too)."""
        if not all(_storable(v) for v in (adm_div_code, st_year, vtcode, voucher_no)):
            return None
        # Two participants may each have a voucher under this key (keys are scoped by owner, see
        # gateway.journal): the caller sees the vouchers of every owner it exchanged a message
        # with under the key (the original and its receipt), and nothing of anyone else's. The
        # treasury of the AdmDivCode sees them all (the dashboard's region view).
        messages = await self.db.fetch(
            "SELECT id, sender, recipient, owner, original_id FROM gw_messages WHERE adm_div_code=$1 AND st_year=$2 "
            "AND vtcode=$3 AND voucher_no=$4", adm_div_code, st_year, vtcode, voucher_no)
        region = participant.role == "treasury" and adm_div_code in participant.adm_div_codes
        owners = {m[3] for m in messages if region or participant.id in (m[1], m[2])}
        visible = {m[0]: (m[1], m[2]) for m in messages if m[3] in owners}
        rows = await self.db.fetch(
            "SELECT flag, message_id, step, participant, wall_us, business_time, detail FROM gw_trace "
            "WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 AND voucher_no=$4 ORDER BY id",
            adm_div_code, st_year, vtcode, voucher_no)
        # An event of no message (a refused attempt) is shown to the one who made it, and to the
        # region's treasury once the key holds a voucher.
        others_refused = region and bool(messages)
        rows = [r for r in rows if (r[1] in visible if r[1] is not None else others_refused or r[3] == participant.id)]
        rows = expand_trace(rows, {m[0]: (m[1], m[2], m[4]) for m in messages})
        if not rows:
            return None
        return [{"flag": r[0], "message_id": r[1], "step": r[2], "participant": r[3],
                 "sender": visible[r[1]][0] if r[1] is not None else r[3],
                 "recipient": visible[r[1]][1] if r[1] is not None else None,
                 "wall_time": dt.datetime.fromtimestamp(r[4] / 1e6, dt.UTC).isoformat(),
                 "business_time": r[5], "detail": r[6]} for r in rows]

    # ------------------------------------------------------------------ push side

    def connect(self, participant_id: str, *, push: bool = True, parsed: bool = False) -> BusConnection:
        """An in-process session for `participant_id` (what `GatewayClient.bus(gateway, id)` opens);
        `push=False`: nothing is pushed, the session pulls its inbox; `parsed`: its deliveries come
        with the admission's parse of them (`gateway.bus`)."""
        return InProcessBus(self).connect(participant_id, push=push, parsed=parsed)

    def register_pusher(self, participant_id: str, pusher: Pusher) -> None:
        self._pushers[participant_id] = pusher
        self._wake.set()

    def unregister_pusher(self, participant_id: str, pusher: Pusher | None = None) -> None:
        if pusher is None or self._pushers.get(participant_id) is pusher:
            self._pushers.pop(participant_id, None)

    async def _deliver_loop(self) -> None:
        while self._accepting:
            # asyncio.timeout, not wait_for: wait_for makes a task per wait, and a commit wakes this
            # loop once per envelope at a low rate (its cost showed in the per-envelope profile).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.deliver_round()
            except Exception as exc:  # noqa: BLE001 - keep delivering; the rows stay in the outbox
                log.error("deliver.failed", error=str(exc))
                await asyncio.sleep(self.config.poll_interval_s)

    async def deliver_round(self) -> int:
        """One delivery round; returns the number of pushes started.

        Fair and bounded per recipient (gateway/delivery.py): recipients are visited in turn,
        each takes at most its free window of due rows (so one recipient's backlog never holds
        back another's), and a push inside the window and still within its ack timeout is never
        pushed again.
        """
        push = self._push
        now = self._now_us()
        push.expire(now)  # a push past its ack timeout frees its slot; its row comes due again
        order = push.order(self._pushers)
        if not order:
            return 0
        poll_us = int(self.config.poll_interval_s * 1e6)
        for recipient in order:
            if push.due_check(recipient, now, poll_us):
                # A full window may hold pushes acked on another worker (shared MQTT ack subscription).
                push.settled(recipient, await self.outbox.settled(push.pending_ids(recipient)))
        due = await self.outbox.due({r: push.credit(r) for r in order}, now_us=now)
        if self.sim_faults and self.clock is not None:  # withheld pushes stay ready for a later round
            due = {r: self.sim_faults.withhold(r, items, self.clock.now()) for r, items in due.items()}
        business = self.business_now().isoformat()
        round_: list[tuple[Pusher, InboxItem]] = []
        for item in interleave(due, order):
            if push.is_pending(item.recipient, item.message_id):
                continue  # pushed, waiting for its ack
            if item.attempts >= self.config.push_attempts_max:
                error = f"no ack after {item.attempts} attempts"
                if await self.outbox.kill(item, error, at_us=now_us(), business_time=business):
                    metrics.DEAD_LETTERS.inc()
                continue
            pusher = self._pushers.get(item.recipient)
            if pusher is not None:
                round_.append((pusher, item))
        if not round_:
            return 0
        # One transaction counts the attempts of the whole round (not one commit per push); the
        # retry time (ack timeout + backoff) is fixed before the push so a crash mid-round still
        # backs off, and it is never before the in-memory deadline.
        base_us = self.config.push_backoff_base_ms * 1000
        claimed = set(await self.outbox.claim(
            [(i, now + push.timeout_us(i.recipient) + backoff_us(i.attempts + 1, base_us=base_us))
             for _, i in round_], now_us=now, business_time=business))
        started = 0
        for pusher, item in round_:
            if item.message_id not in claimed:
                continue  # another gateway worker pushed it (or it was acked meanwhile)
            await self._push_slots.acquire()
            push.sent(item.recipient, item.message_id, self._now_us(), first=item.attempts == 0)
            task = asyncio.create_task(self._push_one(pusher, item))
            self._push_tasks.add(task)
            task.add_done_callback(self._push_tasks.discard)
            started += 1
        return started

    async def _push_one(self, pusher: Pusher, item: InboxItem) -> None:
        try:
            # Bounded: a push that never returns (a queue nobody reads, a stuck transport) would
            # hold its slot for ever, and with every slot held the deliverer stops for everyone.
            await asyncio.wait_for(pusher(item), timeout=self.config.push_ack_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a failed (or timed out) push is retried after backoff
            self._push.failed(item.recipient, item.message_id)
            self._push_failed_log.note(message_id=item.message_id, recipient=item.recipient, error=str(exc))
        finally:
            self._push_slots.release()
