"""The push side of the gateway service: pushers by recipient, delivery rounds, bounded pushes.

Push transports register a pusher per recipient; each round hands the due outbox rows to them,
fair and bounded per recipient (gateway/delivery.py). `gateway.service.Gateway` owns one and
wakes it (`wake`) on commits, acks and delivery faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from gateway import metrics
from gateway.delivery import DeliveryScheduler, interleave
from gateway.journal import now_us
from gateway.log_tally import LogTally
from gateway.outbox import InboxItem, Outbox, backoff_us
from gateway.service_types import GatewayConfig
from gateway.sim_faults import SimFaults

__all__ = ["PushSide", "PushSource", "Pusher"]

log = structlog.get_logger("tgw.gateway")

Pusher = Callable[[InboxItem], Awaitable[None]]


class PushSource(Protocol):
    """What the push side reads of `gateway.service.Gateway`, afresh on each round (a test
    gateway's reset replaces its outbox and delivery faults)."""

    outbox: Outbox
    sim_faults: SimFaults
    clock: Any

    @property
    def accepting(self) -> bool: ...

    def business_now(self) -> dt.datetime: ...


class PushSide:
    def __init__(self, source: PushSource, config: GatewayConfig, now_us: Callable[[], int]) -> None:
        self.source = source
        self.config = config
        self._pushers: dict[str, Pusher] = {}
        # The deliverer's clock (µs; retry times in the outbox): wall time, or a test's simulated clock.
        self._now_us = now_us
        self._push_slots = asyncio.Semaphore(config.push_in_flight_max)
        self.tasks: set[asyncio.Task[None]] = set()  # strong refs: the loop keeps only weak ones
        self.failed_log = LogTally("deliver.push_failed", logger=log)  # a lost broker fails them all
        self.wake = asyncio.Event()
        self.scheduler = self._new_scheduler()

    def _new_scheduler(self) -> DeliveryScheduler:
        config = self.config
        return DeliveryScheduler(
            window=config.push_window, initial_timeout_us=int(config.push_ack_timeout_s * 1e6),
            floor_us=int(config.push_ack_timeout_min_s * 1e6),
            ceiling_us=int(config.push_ack_timeout_max_s * 1e6))

    def fresh_scheduler(self) -> None:
        """Forget every push in flight and every recipient's measured ack time (a reset)."""
        self.scheduler = self._new_scheduler()

    @property
    def pushing(self) -> bool:
        """Whether any recipient has a pusher here: without one a round pushes nothing, so a
        commit need not wake the deliverer (its poll still runs the ack timeouts)."""
        return bool(self._pushers)

    def register_pusher(self, participant_id: str, pusher: Pusher) -> None:
        self._pushers[participant_id] = pusher
        self.wake.set()

    def unregister_pusher(self, participant_id: str, pusher: Pusher | None = None) -> None:
        if pusher is None or self._pushers.get(participant_id) is pusher:
            self._pushers.pop(participant_id, None)

    async def run(self) -> None:
        """The deliverer: a round on each wake (or every poll interval), while accepting."""
        while self.source.accepting:
            # asyncio.timeout, not wait_for: wait_for makes a task per wait, and a commit wakes this
            # loop once per envelope at a low rate (its cost showed in the per-envelope profile).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval_s):
                    await self.wake.wait()
            self.wake.clear()
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
        push, source = self.scheduler, self.source
        now = self._now_us()
        push.expire(now)  # a push past its ack timeout frees its slot; its row comes due again
        order = push.order(self._pushers)
        if not order:
            return 0
        poll_us = int(self.config.poll_interval_s * 1e6)
        for recipient in order:
            if push.due_check(recipient, now, poll_us):
                # A full window may hold pushes acked on another worker (shared MQTT ack subscription).
                push.settled(recipient, await source.outbox.settled(push.pending_ids(recipient)))
        due = await source.outbox.due({r: push.credit(r) for r in order}, now_us=now)
        if source.sim_faults and source.clock is not None:  # withheld pushes stay ready for a later round
            due = {r: source.sim_faults.withhold(r, items, source.clock.now()) for r, items in due.items()}
        business = source.business_now().isoformat()
        round_: list[tuple[Pusher, InboxItem]] = []
        for item in interleave(due, order):
            if push.is_pending(item.recipient, item.message_id):
                continue  # pushed, waiting for its ack
            if item.attempts >= self.config.push_attempts_max:
                error = f"no ack after {item.attempts} attempts"
                if await source.outbox.kill(item, error, at_us=now_us(), business_time=business):
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
        claimed = set(await source.outbox.claim(
            [(i, now + push.timeout_us(i.recipient) + backoff_us(i.attempts + 1, base_us=base_us))
             for _, i in round_], now_us=now, business_time=business))
        started = 0
        for pusher, item in round_:
            if item.message_id not in claimed:
                continue  # another gateway worker pushed it (or it was acked meanwhile)
            await self._push_slots.acquire()
            push.sent(item.recipient, item.message_id, self._now_us(), first=item.attempts == 0)
            task = asyncio.create_task(self._push_one(pusher, item))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        return started

    async def _push_one(self, pusher: Pusher, item: InboxItem) -> None:
        try:
            # Bounded: a push that never returns (a queue nobody reads, a stuck transport) would
            # hold its slot for ever, and with every slot held the deliverer stops for everyone.
            await asyncio.wait_for(pusher(item), timeout=self.config.push_ack_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a failed (or timed out) push is retried after backoff
            self.scheduler.failed(item.recipient, item.message_id)
            self.failed_log.note(message_id=item.message_id, recipient=item.recipient, error=str(exc))
        finally:
            self._push_slots.release()
