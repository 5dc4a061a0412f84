"""The deterministic simulation engine: discrete-event time over the sans-IO cores.

The engine owns virtual time (a `sim.clock.SimClock`, which the in-process gateway reads too)
and a heap of due events: (business time, participant order, shell), one per core wake-up
(`WakeAt`). It drives every shell from one coroutine; no shell runs a task of its own, nothing
polls and nothing waits on wall time:

1. **drain**: for each participant in a fixed order, pull what the gateway has ready for it (a
   non-waiting read of its inbox: one page, `DRAIN_BATCH_MAX` deliveries for a client made by
   `engine_client`) and feed it to its shell as one batch (one transaction, then the sends, then the ack); round after round until a whole
   round finds nothing anywhere (a fixed point). A delivery is instantaneous in business time:
   what a send puts in a recipient's inbox is handled at the same simulated instant;
2. **next event**: pop the earliest wake-up (ties in participant order), set the clock to it,
   tick that core (`on_time`), and drain again;

until the next event is past the end time, then the clock is set to the end. A core that
returned no `WakeAt` has no event in the heap: it is not ticked again until a delivery asks for
a wake-up. Stale heap entries (a core changed its wake-up) are skipped when popped.

Faults (`sim.faults`, the other half): an `interceptor` decides each pulled batch's fate (drop,
duplicate, delay, reorder, lose the ack, crash the recipient inside the batch); what was pulled
and not acked is read again at `REDELIVERY_TIMEOUT` of simulated time; held deliveries and
redeliveries are events like wake-ups. The public API a fault run or a scenario uses between
two steps: `set_online(participant, bool)`, `restart(participant)` (with `rebuild`),
`reconnect(endpoint)` (after a gateway restart), `redeliver(participant)`, `settle()`.

Determinism: the order of everything is fixed by simulated time and the participants' order;
the gateway's message ids follow the simulated clock; the cores draw randomness from seeds. The
same world, seed and inputs journal the same messages byte for byte (`Gateway.journal_digest`).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from client import Delivery, GatewayClient, LocalEndpoint, SendResult
from sim.clock import SimClock
from sim.faults import BatchFate, ParticipantCrash
from sim.shell import SimShell

__all__ = ["DRAIN_BATCH_MAX", "DRAIN_ROUNDS_MAX", "REDELIVERY_TIMEOUT", "Interceptor", "Rebuild", "SimEngine",
           "engine_client"]

# Deliveries fed to a shell as one batch (one transaction): large enough to amortise the commit
# (an fsync) and the ledger calls, small enough that a batch's pending sends stay a few MB.
DRAIN_BATCH_MAX = 500
# Drain rounds at one instant before the engine declares a livelock (participants answering
# each other for ever at the same simulated time): a bug in a core, reported, not spun on.
DRAIN_ROUNDS_MAX = 1_000_000
# A delivery pulled and not acked (dropped on the way, its ack lost) is read again this long after,
# in simulated time: the participant reads its inbox from the start, as a pulling client does after
# a lost connection, and the gateway, which keeps a row `ready` until it is acked, serves it again.
# The gateway's own first push ack timeout (`GatewayConfig.push_ack_timeout_s`) is the same 10 s.
REDELIVERY_TIMEOUT = dt.timedelta(seconds=10)


def engine_client(endpoint: LocalEndpoint, participant_id: str, *, page_max: int = DRAIN_BATCH_MAX) -> GatewayClient:
    """An in-process client the engine can drive: it pulls its inbox (no push from the gateway's
    deliverer, whose timing is wall time), `page_max` deliveries per read, each with the gateway's
    parse of it when the gateway has one (`Delivery.doc`): one parse per voucher on this hop."""
    return GatewayClient.bus(endpoint, participant_id, pull=True, page_max=page_max, parsed=True)


class Interceptor(Protocol):
    """Decides what happens to each batch the engine pulls (`sim.faults.FaultInjector`)."""

    def on_deliveries(self, participant: str, items: Sequence[Delivery], now: dt.datetime) -> BatchFate: ...


# Given the shell of a participant that died, a new unstarted shell over the same database (a
# new core, a new client): what a process restart builds.
Rebuild = Callable[[SimShell], Awaitable[SimShell]]


class _DyingClient(GatewayClient):
    """The client a shell uses for one batch the interceptor marked: it dies (raises
    `ParticipantCrash`) at its first send or ack (`after-commit`), or at its ack (`after-send`),
    and stays dead; or it swallows the ack (`ack_lost`)."""

    def __init__(self, inner: GatewayClient, *, die_at: frozenset[str], ack_lost: bool) -> None:
        super().__init__(inner.transport, inner.participant_id)
        self.die_at = die_at
        self.ack_lost = ack_lost
        self.dead = False

    async def send(self, envelope: bytes) -> list[SendResult]:
        if self.dead or "send" in self.die_at:
            self.dead = True
            raise ParticipantCrash(f"{self.participant_id} died before its sends")
        return await super().send(envelope)

    async def ack(self, *items: Delivery | str) -> None:
        if self.dead or "ack" in self.die_at:
            self.dead = True
            raise ParticipantCrash(f"{self.participant_id} died before its ack")
        if not self.ack_lost:
            await super().ack(*items)


class SimEngine:
    def __init__(self, clock: SimClock, shells: Sequence[SimShell], *, interceptor: Interceptor | None = None,
                 rebuild: Rebuild | None = None) -> None:
        """`shells` in the participants' fixed order; their clients must pull (`engine_client`).
        `interceptor` decides the fate of each pulled batch (faults; none: every delivery is
        handed over as read); `rebuild` makes a new shell for a participant that `restart`s."""
        self.clock = clock
        self.shells = list(shells)
        self.interceptor = interceptor
        self.rebuild = rebuild
        self._heap: list[tuple[dt.datetime, int]] = []  # (wake time, participant order)
        self._scheduled: list[dt.datetime | None] = [None] * len(self.shells)
        self._online = [True] * len(self.shells)
        # Deliveries in the network (delayed or duplicated): (due, order of holding, participant order, delivery).
        self._held: list[tuple[dt.datetime, int, int, Delivery]] = []
        self._holds = 0
        self._rewind: dict[int, dt.datetime] = {}  # participant order -> when it reads its inbox again
        self._started = False
        self.events = 0  # wake-ups popped and ticked
        self.batches = 0  # delivery batches handled
        self.restarts = 0  # participants rebuilt from their database
        self.redeliveries = 0  # inbox re-reads after a delivery was pulled and not acked

    # --- the public fault API -----------------------------------------------------------------

    def index(self, participant: str) -> int:
        """The participant's place in the engine's order (ValueError if it has no shell here)."""
        for i, shell in enumerate(self.shells):
            if shell.participant == participant:
                return i
        raise ValueError(f"no participant {participant!r} in this engine")

    def shell(self, participant: str) -> SimShell:
        return self.shells[self.index(participant)]

    def is_online(self, participant: str) -> bool:
        return self._online[self.index(participant)]

    def set_online(self, participant: str, online: bool) -> None:
        """Offline: the participant is neither ticked nor delivered to; its deliveries wait in the
        gateway, its wake-ups wait too. Back online: it is ticked at once (the core catches up on
        what it missed), then its backlog is delivered."""
        index = self.index(participant)
        if self._online[index] == online:
            return
        self._online[index] = online
        if online:
            now = self.clock.now()
            self._scheduled[index] = now
            heapq.heappush(self._heap, (now, index))

    async def restart(self, participant: str) -> SimShell:
        """Crash the participant and start it again: its in-memory core and shell are dropped
        (nothing is flushed), its connection closes, and `rebuild` makes a new shell over the same
        database, which restores (snapshot + replay), re-sends its last batch's sends, and is
        ticked once at the current time (an offline participant: when it is back online). What it
        pulled and did not ack is read again by its new connection. Deliveries held in the network
        stay held."""
        if self.rebuild is None:
            raise RuntimeError("this engine has no rebuild: give SimEngine(..., rebuild=...) to restart participants")
        index = self.index(participant)
        old = self.shells[index]
        await old.client.__aexit__(None, None, None)
        new = await self.rebuild(old)
        self.shells[index] = new
        self._rewind.pop(index, None)
        self.restarts += 1
        if self._started:
            await new.start()
            if self._online[index]:
                await new.tick(self.clock.now())
                self._scheduled[index] = None
                self._schedule(index)
        return new

    async def reconnect(self, endpoint: LocalEndpoint) -> None:
        """Every participant's connection is closed and opened anew on `endpoint` (a gateway
        started over the same database after the old one crashed): each reads its inbox from the
        start, so what it had pulled and not acked comes again."""
        for shell in self.shells:
            await shell.client.__aexit__(None, None, None)
            shell.client = engine_client(endpoint, shell.participant)
            await shell.client.__aenter__()
        self._rewind.clear()

    async def redeliver(self, participant: str) -> None:
        """The participant reads its inbox again from the start (what a pulling client does after
        a lost connection): every delivery it pulled and did not ack comes again."""
        shell = self.shell(participant)
        await shell.client.__aexit__(None, None, None)
        await shell.client.__aenter__()
        self._rewind.pop(self.index(participant), None)
        self.redeliveries += 1

    # --- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every shell (restore, re-send its pending sends), then tick each core once at the
        current time so it can plan and ask for its first wake-up."""
        if self._started:
            return
        for shell in self.shells:
            await shell.start()
        self._started = True
        await self.drain()
        for index, shell in enumerate(self.shells):
            await shell.tick(self.clock.now())
            self._schedule(index)
            await self.drain()

    def next_event(self) -> dt.datetime | None:
        """The time of the earliest live wake-up, held delivery or redelivery of an online
        participant, or None."""
        self._drop_stale()
        times = [self._heap[0][0]] if self._heap else []
        times += [when for index, when in self._rewind.items() if self._online[index]]
        times += [when for when, _, index, _ in self._held if self._online[index]]
        return min(times) if times else None

    async def run_until(self, end: dt.datetime) -> None:
        """Process every event due up to and including `end`, then set the clock to `end`."""
        await self.start()
        await self.drain()
        while (when := self.next_event()) is not None and when <= end:
            self.clock.set(max(when, self.clock.now()))
            if self._heap and self._heap[0][0] == when:
                _, index = heapq.heappop(self._heap)
                self._scheduled[index] = None
                if self._online[index]:  # offline: the wake-up waits (set_online schedules it again)
                    self.events += 1
                    await self.shells[index].tick(self.clock.now())
                    self._schedule(index)
            await self.drain()
        if end > self.clock.now():
            self.clock.set(end)

    async def settle(self, limit: dt.timedelta = dt.timedelta(hours=1)) -> None:
        """Deliver what is still in flight (held deliveries, redeliveries), moving the clock on
        but ticking no core, until nothing is in flight or `limit` of simulated time has passed."""
        await self.drain()
        deadline = self.clock.now() + limit
        while (when := self._in_flight()) is not None and when <= deadline:
            self.clock.set(max(when, self.clock.now()))
            await self.drain()

    def _in_flight(self) -> dt.datetime | None:
        times = [when for index, when in self._rewind.items() if self._online[index]]
        times += [when for when, _, index, _ in self._held if self._online[index]]
        return min(times) if times else None

    async def drain(self) -> None:
        """Feed every ready delivery to its shell until nothing is ready anywhere."""
        for _ in range(DRAIN_ROUNDS_MAX):
            moved = False
            for index in range(len(self.shells)):
                if not self._online[index]:
                    continue
                due = self._rewind.get(index)
                if due is not None and due <= self.clock.now():
                    await self.redeliver(self.shells[index].participant)
                while True:
                    shell = self.shells[index]
                    items = await shell.client.receive(timeout_s=0)
                    held = self._take_held(index)
                    if not items and not held:
                        break
                    moved = True
                    await self._feed(index, held, items)
                    # Let go of the page (its deliveries and their parses) now, before the next poll
                    # allocates the next one: freed while its memory is still warm, and the poll's
                    # rows reuse it (bench/results/flow.md: 8-10 µs a voucher at 10k).
                    held = items = []
            if not moved:
                return
        raise RuntimeError(f"the simulation did not settle after {DRAIN_ROUNDS_MAX} drain rounds at "
                           f"{self.clock.now().isoformat()}: participants keep answering each other")

    async def _feed(self, index: int, held: list[Delivery], items: list[Delivery]) -> None:
        shell = self.shells[index]
        now = self.clock.now()
        if self.interceptor is None:
            batch, crash, ack_lost = held + items, None, False
        else:
            fate = self.interceptor.on_deliveries(shell.participant, items, now) if items else BatchFate([])
            for seconds, item in fate.later:
                self._holds += 1
                heapq.heappush(self._held, (now + dt.timedelta(seconds=seconds), self._holds, index, item))
            if fate.dropped:
                self._expect_redelivery(index)
            batch, crash, ack_lost = held + fate.now, fate.crash, fate.ack_lost
        if not batch:
            return
        if crash == "crash-before-commit":
            await self.restart(shell.participant)
            return
        client = shell.client
        if crash is not None or ack_lost:
            die_at = frozenset({"crash-after-commit": {"send", "ack"}, "crash-after-send": {"ack"}}.get(crash or "",
                                                                                                     set()))
            shell.client = _DyingClient(client, die_at=die_at, ack_lost=ack_lost)
        try:
            await shell.handle(batch)
        except ParticipantCrash:
            shell.client = client
            await self.restart(shell.participant)
            return
        finally:
            if shell.client is not client and self.shells[index] is shell:
                shell.client = client
        self.batches += 1
        if ack_lost:
            self._expect_redelivery(index)
        self._schedule(index)

    def _expect_redelivery(self, index: int) -> None:
        """A delivery was pulled and not acked: the participant reads its inbox again at the
        redelivery timeout (simulated time), and the gateway, which kept the row, serves it."""
        when = self.clock.now() + REDELIVERY_TIMEOUT
        self._rewind[index] = min(when, self._rewind.get(index, when))

    def _take_held(self, index: int) -> list[Delivery]:
        """The participant's held deliveries due now, in the order they were held."""
        now = self.clock.now()
        due = [h for h in self._held if h[2] == index and h[0] <= now]
        if not due:
            return []
        self._held = [h for h in self._held if not (h[2] == index and h[0] <= now)]
        heapq.heapify(self._held)
        return [h[3] for h in sorted(due)]

    # --- the heap -----------------------------------------------------------------------------

    def _schedule(self, index: int) -> None:
        wake = self.shells[index].wake
        if wake is not None and wake != self._scheduled[index]:
            self._scheduled[index] = wake
            heapq.heappush(self._heap, (wake, index))

    def _drop_stale(self) -> None:
        while self._heap and self._scheduled[self._heap[0][1]] != self._heap[0][0]:
            heapq.heappop(self._heap)
