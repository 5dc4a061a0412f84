"""The inbox long poll (`Gateway.inbox`): answer at once if anything is there, else wait for a commit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from gateway.journal import Journal
from gateway.outbox import InboxItem, Outbox
from gateway.participants import Participant
from gateway.sim_faults import SimFaults

__all__ = ["InboxSource", "long_poll"]


class InboxSource(Protocol):
    """What the long poll reads of `gateway.service.Gateway`, afresh on each turn (a test
    gateway's reset replaces its journal, outbox and delivery faults)."""

    journal: Journal
    outbox: Outbox
    sim_faults: SimFaults
    clock: Any

    @property
    def accepting(self) -> bool: ...


async def long_poll(source: InboxSource, participant: Participant, *, after_seq: int = 0, limit: int = 100,
                    wait_s: float = 0.0) -> list[InboxItem]:
    """Long poll: answer at once if anything is there, else wait for a commit (up to wait_s)."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        committed, mark = source.journal.committed, source.journal.mark(participant.id)
        items = await source.outbox.inbox(participant.id, after_seq=after_seq, limit=limit)
        stored = bool(items)
        if source.sim_faults and source.clock is not None:  # empty: no cost
            items = source.sim_faults.withhold(participant.id, items, source.clock.now())
        remaining = deadline - time.monotonic()
        if items or remaining <= 0 or not source.accepting:
            return items
        # Nothing stored for it: only a commit with rows for it (or a wake) can change that, so
        # the commits of others do not cost a read each. (Rows withheld: any commit re-reads.)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(committed.wait(), timeout=remaining)
            remaining = deadline - time.monotonic()
            if stored or remaining <= 0 or not source.accepting or source.journal.mark(participant.id) != mark:
                break
            committed = source.journal.committed
