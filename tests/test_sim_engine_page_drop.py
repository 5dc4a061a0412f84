"""The engine's drain lets go of a page of deliveries once its batch is handled, before it polls again."""

from __future__ import annotations

import datetime as dt
import gc
import weakref
from typing import Any

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from sim.clock import SimClock
from sim.engine import SimEngine


class _Item:
    """A stand-in delivery the engine passes through untouched (weak-referenceable, unlike `Delivery`)."""


class _Client:
    def __init__(self, pages: int, size: int) -> None:
        self.left = pages
        self.size = size
        self.previous: list[weakref.ref[_Item]] = []
        self.alive_at_poll: list[int] = []  # deliveries of the previous page still alive at each poll

    async def receive(self, timeout_s: float) -> list[Any]:
        self.alive_at_poll.append(sum(r() is not None for r in self.previous))
        if not self.left:
            self.previous = []
            return []
        self.left -= 1
        page = [_Item() for _ in range(self.size)]
        self.previous = [weakref.ref(i) for i in page]
        return page


class _Shell:
    participant = "bank-a"
    wake = None

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.handled: list[int] = []

    async def handle(self, batch: list[Any]) -> None:
        self.handled.append(len(batch))


async def test_the_previous_page_is_freed_before_the_next_poll() -> None:
    gc.disable()  # freed by reference counts alone, as in a simulated day (no cycle in a page)
    try:
        client = _Client(pages=3, size=5)
        shell = _Shell(client)
        clock = SimClock(BusinessCalendar.default(), ClockConfig(), dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ))
        engine = SimEngine(clock, [shell])  # type: ignore[list-item]
        await engine.drain()
    finally:
        gc.enable()
    assert shell.handled == [5, 5, 5]
    assert engine.batches == 3
    # first poll: nothing before it; then every poll finds the previous page already gone
    assert client.alive_at_poll[0] == 0 and client.alive_at_poll[1:] == [0, 0, 0, 0]
