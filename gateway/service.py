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
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from gateway import metrics
from gateway.admission import Admission, InlineAdmission, PoolAdmission
from gateway.bus import BusConnection, InProcessBus, ParsedHandoff
from gateway.delivery import DeliveryScheduler
from gateway.journal import ClaimLost, Journal, JournalResult, now_us
from gateway.long_poll import long_poll
from gateway.monitoring.monitor import Held, Monitor
from gateway.outbox import InboxItem, Outbox
from gateway.participants import Participant, Registry
from gateway.pipeline import Admitted, Refused
from gateway.push_side import Pusher, PushSide
from gateway.reads import read_message, read_trace, storable
from gateway.service_types import ACK_IDS_MAX, GatewayConfig, SubmitResult
from gateway.sim_faults import SimFaults
from gateway.sim_reset import forget_everything
from messages.envelope import VoucherKey
from messages.errors import Issue, StateError
from messages.signing import CertificateStore
from messages.xmlsafe import DEFAULT_LIMITS
from storage.db import Database

__all__ = ["ACK_IDS_MAX", "Gateway", "GatewayConfig", "SubmitResult"]

log = structlog.get_logger("tgw.gateway")
_new_tuple = tuple.__new__

def _debug_on() -> bool:
    """Whether this module's DEBUG lines are written, asked once per envelope: a filtered call
    still costs the logger's lookup and its arguments (~4 µs), once per voucher. The lazy logger
    resolved by its own `bind()`, as its attribute lookup would: the lookup first fails on the
    proxy (an AttributeError made and dropped), 8.5K instructions a call against 3.5K (callgrind)."""
    enabled = getattr(log.bind(), "is_enabled_for", None)
    return True if enabled is None else bool(enabled(logging.DEBUG))


def _refused(key: VoucherKey | None, issues: Sequence[Issue]) -> SubmitResult:
    return SubmitResult(str(key) if key else None, key.vtcode if key else None, key.voucher_no if key else None,
                        "rejected", issues=tuple(issues))



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
        # The deliverer's clock (µs; retry times in the outbox): wall time, or a test's simulated clock.
        self._now_us: Callable[[], int] = delivery_clock or now_us
        self.pushes = PushSide(self, self.config, self._now_us)
        self._fresh_state()
        if getattr(clock, "is_simulated", False) and hasattr(clock, "on_change"):  # a move may end a withholding
            clock.on_change(lambda _now: self.wake_readers() if self.sim_faults else None)
        # Admission's parses of what it journaled, for in-process recipients that take them (gateway.bus).
        self.handoff = ParsedHandoff()
        # A recipient's own parse uses the default limits: a parse under other limits is not what it would get.
        self._hand_over = self.config.limits == DEFAULT_LIMITS
        self._admission: Admission = InlineAdmission(registry, certs, self.config.limits)
        self._deliverer: asyncio.Task[None] | None = None
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
        self.pushes.fresh_scheduler()

    @property
    def _push(self) -> DeliveryScheduler:
        """The delivery scheduler (pushes in flight, ack timers), as tests look at it."""
        return self.pushes.scheduler

    @property
    def _push_tasks(self) -> set[asyncio.Task[None]]:
        return self.pushes.tasks

    @property
    def _wake(self) -> asyncio.Event:
        """Wakes the deliverer for a round now."""
        return self.pushes.wake

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
            self._deliverer = asyncio.create_task(self.pushes.run(), name="deliverer")
        log.info("gateway.started", participants=len(self.registry), db=self.db.url.split("@")[-1])

    def stop_accepting(self) -> None:
        """Refuse new work and wake the inbox long polls, which answer now with what there is: the
        first step of `stop`, and what a test's HTTP server does before it closes its listener
        (tests/gateway_helpers.py `serving`), so that no parked poll holds the close."""
        self._accepting = False
        self.journal.committed.set()

    async def stop(self) -> None:
        """Drain: refuse new work, finish submissions in flight, stop delivering."""
        self.stop_accepting()  # before the HTTP listener closes (gateway.server RunningServer.stop)
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
        self.pushes.failed_log.flush()
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
        business_text = business.isoformat()  # the journal's and the monitor's, made once
        # Certificates expire in real time, whatever the business clock says (it may be simulated).
        admission = await self._admission.admit(data, sender, at=dt.datetime.now(dt.UTC))
        for claim in (True, False):
            outcomes: Sequence[Admitted | Refused | Held] = admission
            extra: Sequence[Any] = ()
            claimed = None
            if self.monitor is not None:  # ARCHITECTURE step 6: before anything reaches the bank
                screened = await self.monitor.screen(admission, business, claim=claim,
                                                     shares=self.handoff.wants if self._hand_over else None,
                                                     business_text=business_text)
                outcomes, extra, claimed = screened.outcomes, screened.extra, screened.claim
            admitted = [o for o in outcomes if isinstance(o, Admitted)]
            refusals = [(o.key, sender.id, o.issues[0]) for o in outcomes if isinstance(o, Refused) and o.key]
            journaled: list[JournalResult] = []
            try:
                if admitted or refusals or extra:
                    journaled = await self.journal.record(admitted, business_time=business_text,
                                                          refusals=refusals, extra=extra, claim=claimed)
                break
            except ClaimLost:  # the payment was screened before: nothing written; screen it reading that
                continue
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
                # every field given, by tuple.__new__: the named tuple's own __new__ is a frame a voucher
                results.append(_new_tuple(SubmitResult, (str(key), key.vtcode, key.voucher_no, jr.status,
                                                         jr.message_id, jr.recipient, ())))
                if (jr.status == "accepted" and outcome.doc is not None and self._hand_over
                        and jr.message_id is not None and jr.recipient is not None):
                    self.handoff.offer(jr.message_id, jr.recipient, outcome.body, outcome.doc)
        elapsed = time.perf_counter() - started
        debug = _debug_on()
        # tgw_vouchers_total counted per envelope, once per label set: a labelled child's inc() takes
        # its lock and runs two Python calls, once per voucher (a 100-voucher envelope has one or two
        # label sets). The totals are those of an inc() per voucher when this call returns.
        tally: dict[tuple[str, str, str], int] = {}
        for r in results:
            labels = (metrics.vtcode_label(r.vtcode), r.status, r.code or "")
            tally[labels] = tally.get(labels, 0) + 1
            # A refusal is news for operators; an acceptance is in the trace table already, and
            # a line per accepted voucher would cost as much as its journal write.
            if r.status == "rejected":
                log.info("voucher.rejected", voucher=r.voucher, sender=sender.id, code=r.code,
                         message=r.issues[0].message if r.issues else None)
            elif debug:
                log.debug("voucher.accepted", voucher=r.voucher, sender=sender.id, status=r.status,
                          message_id=r.message_id, recipient=r.recipient)
        # DEBUG: a line per envelope (~270 bytes) was the hot path's biggest log cost; the counts are
        # in tgw_vouchers_total and tgw_ack_latency_seconds, refusals in voucher.rejected above. Not
        # even called when DEBUG is off: a filtered call still made its arguments and the logger's lookup.
        if debug:
            counts = dict.fromkeys(("accepted", "duplicate", "rejected", "held"), 0)
            for r in results:
                counts[r.status] += 1
            log.debug("envelope.submitted", sender=sender.id, vouchers=len(results), ms=round(elapsed * 1000, 2),
                      first=results[0].voucher if results else None, **counts)
        for labels, count in tally.items():
            metrics.VOUCHERS_BY(*labels).inc(count)
        metrics.ACK_LATENCY.observe(elapsed)
        # Pull-only recipients (HTTP polls, no pusher): a round would push nothing, and waking the
        # deliverer on each envelope cost a loop pass per envelope at low rates.
        if self.pushes.pushing and any(r.status == "accepted" for r in results):
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
        return await long_poll(self, participant, after_seq=after_seq, limit=limit, wait_s=wait_s)

    async def ack(self, participant: Participant, message_ids: Sequence[str]) -> list[str]:
        # An id no database can hold names no message: it changes nothing (and must not raise).
        message_ids = [m for m in message_ids if storable(m)]
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
        return await read_message(self.db, participant, message_id)

    async def trace(self, participant: Participant, adm_div_code: str, st_year: str, vtcode: str,
                    voucher_no: str) -> list[dict[str, Any]] | None:
        """Events of a voucher and its receipt, if the participant is a party to it, or the
        treasury of its AdmDivCode (the dashboard's region view: a bank's clearing request too)."""
        return await read_trace(self.db, participant, adm_div_code, st_year, vtcode, voucher_no)

    # ------------------------------------------------------------------ push side

    def connect(self, participant_id: str, *, push: bool = True, parsed: bool = False) -> BusConnection:
        """An in-process session for `participant_id` (what `GatewayClient.bus(gateway, id)` opens);
        `push=False`: nothing is pushed, the session pulls its inbox; `parsed`: its deliveries come
        with the admission's parse of them (`gateway.bus`)."""
        return InProcessBus(self).connect(participant_id, push=push, parsed=parsed)

    def register_pusher(self, participant_id: str, pusher: Pusher) -> None:
        self.pushes.register_pusher(participant_id, pusher)

    def unregister_pusher(self, participant_id: str, pusher: Pusher | None = None) -> None:
        self.pushes.unregister_pusher(participant_id, pusher)

    async def deliver_round(self) -> int:
        """One delivery round; returns the number of pushes started (`PushSide.deliver_round`)."""
        return await self.pushes.deliver_round()
