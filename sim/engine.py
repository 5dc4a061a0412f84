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

Determinism: the order of everything is fixed by simulated time and the participants' order;
the gateway's message ids follow the simulated clock; the cores draw randomness from seeds. The
same world, seed and inputs journal the same messages byte for byte (`Gateway.journal_digest`).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence

from client import GatewayClient, LocalEndpoint
from sim.clock import SimClock
from sim.shell import SimShell

__all__ = ["DRAIN_BATCH_MAX", "DRAIN_ROUNDS_MAX", "SimEngine", "engine_client"]

# Deliveries fed to a shell as one batch (one transaction): large enough to amortise the commit
# (an fsync) and the ledger calls, small enough that a batch's pending sends stay a few MB.
DRAIN_BATCH_MAX = 500
# Drain rounds at one instant before the engine declares a livelock (participants answering
# each other for ever at the same simulated time): a bug in a core, reported, not spun on.
DRAIN_ROUNDS_MAX = 1_000_000


def engine_client(endpoint: LocalEndpoint, participant_id: str, *, page_max: int = DRAIN_BATCH_MAX) -> GatewayClient:
    """An in-process client the engine can drive: it pulls its inbox (no push from the gateway's
    deliverer, whose timing is wall time), `page_max` deliveries per read."""
    return GatewayClient.bus(endpoint, participant_id, pull=True, page_max=page_max)


class SimEngine:
    def __init__(self, clock: SimClock, shells: Sequence[SimShell]) -> None:
        """`shells` in the participants' fixed order; their clients must pull (`engine_client`)."""
        self.clock = clock
        self.shells = list(shells)
        self._heap: list[tuple[dt.datetime, int]] = []  # (wake time, participant order)
        self._scheduled: list[dt.datetime | None] = [None] * len(self.shells)
        self._started = False
        self.events = 0  # wake-ups popped and ticked
        self.batches = 0  # delivery batches handled

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
        """The time of the earliest live wake-up, or None."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    async def run_until(self, end: dt.datetime) -> None:
        """Process every event due up to and including `end`, then set the clock to `end`."""
        await self.start()
        await self.drain()
        while (when := self.next_event()) is not None and when <= end:
            _, index = heapq.heappop(self._heap)
            self._scheduled[index] = None
            self.clock.set(max(when, self.clock.now()))
            self.events += 1
            await self.shells[index].tick(self.clock.now())
            self._schedule(index)
            await self.drain()
        if end > self.clock.now():
            self.clock.set(end)

    async def drain(self) -> None:
        """Feed every ready delivery to its shell until nothing is ready anywhere."""
        for _ in range(DRAIN_ROUNDS_MAX):
            moved = False
            for index, shell in enumerate(self.shells):
                while items := await shell.client.receive(timeout_s=0):
                    await shell.handle(items)
                    self.batches += 1
                    self._schedule(index)
                    moved = True
            if not moved:
                return
        raise RuntimeError(f"the simulation did not settle after {DRAIN_ROUNDS_MAX} drain rounds at "
                           f"{self.clock.now().isoformat()}: participants keep answering each other")

    # --- the heap -----------------------------------------------------------------------------

    def _schedule(self, index: int) -> None:
        wake = self.shells[index].wake
        if wake is not None and wake != self._scheduled[index]:
            self._scheduled[index] = wake
            heapq.heappush(self._heap, (wake, index))

    def _drop_stale(self) -> None:
        while self._heap and self._scheduled[self._heap[0][1]] != self._heap[0][0]:
            heapq.heappop(self._heap)
