"""Which event loop `tgw up` runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv under asyncio's API) does the transports, timers and callbacks in C: at one
voucher per envelope the event loop and aiohttp were about a sixth of the gateway's CPU time,
and uvloop takes a share of that off every request (bench/results/http-layer.md has the
figures). Nothing in the gateway depends on it: `--event-loop asyncio` (YAML `event_loop:`)
runs the same code on asyncio's loop, and tests run on either.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from messages.errors import InputError

__all__ = ["EVENT_LOOPS", "loop_factory", "loop_name", "run_on"]

EVENT_LOOPS = ("auto", "uvloop", "asyncio")  # auto: uvloop when importable

T = TypeVar("T")


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for `asyncio.Runner`, or None for asyncio's default loop."""
    if choice not in EVENT_LOOPS:
        raise InputError("config-invalid", f"event loop must be one of {', '.join(EVENT_LOOPS)}, not {choice!r}")
    if choice == "asyncio":
        return None
    if importlib.util.find_spec("uvloop") is None:
        if choice == "uvloop":
            raise InputError("config-invalid", "event loop uvloop: the uvloop package is not installed "
                                               "(pip install uvloop, or use --event-loop asyncio)")
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio": what a running gateway logs it is on."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run_on(choice: str, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except BaseException:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
