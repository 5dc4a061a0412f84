"""Tail diagnosis of `tgw up` subprocesses (bench/results/ack-tail.md): put this directory on
PYTHONPATH of a `tgw bench --latency` run. In a `tgw up` process only, it records every cyclic-GC
collection (generation, wall and thread-CPU seconds) and an event-loop lag probe (a 1 ms sleep
loop: each wake-up later than 2 ms, with the loop thread's CPU time meanwhile), and writes them
to $TGW_TAIL_PROBE_DIR/<pid>.json (default /tmp/tgw-tail-probe) at exit. `python -m
bench.tail_probe.summary [DIR]` prints them. A diagnostic: never on in a deployment."""

from __future__ import annotations

import sys

if "up" in sys.argv[1:3] and "--ready-file" in sys.argv:
    import asyncio
    import atexit
    import gc
    import json
    import os
    import time
    from collections.abc import Coroutine
    from typing import Any

    _T0 = time.perf_counter()
    _gc: list[tuple[int, float, float, float]] = []  # (generation, start, wall s, cpu s)
    _lag: list[tuple[float, float, float]] = []  # (start, lag s, loop-thread cpu s)
    _start: list[float] = [0.0, 0.0]
    LAG_LOGGED_S = 0.002
    PROBE_S = 0.001

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _start[:] = [time.perf_counter(), time.thread_time()]
        else:
            _gc.append((info["generation"], _start[0], time.perf_counter() - _start[0], time.thread_time() - _start[1]))

    gc.callbacks.append(_on_gc)

    async def _probe() -> None:
        while True:
            t, c = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_S)
            lag = time.perf_counter() - t - PROBE_S
            if lag > LAG_LOGGED_S:
                _lag.append((t, lag, time.thread_time() - c))

    _run = asyncio.Runner.run

    def _run_probed(self: asyncio.Runner, coro: Coroutine[Any, Any, Any], **kw: Any) -> Any:
        async def probed() -> Any:
            task = asyncio.ensure_future(_probe())
            try:
                return await coro
            finally:
                task.cancel()
        return _run(self, probed(), **kw)

    asyncio.Runner.run = _run_probed  # type: ignore[method-assign]

    def _dump() -> None:
        out = os.environ.get("TGW_TAIL_PROBE_DIR", "/tmp/tgw-tail-probe")
        os.makedirs(out, exist_ok=True)
        src = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
        with open(os.path.join(out, f"{os.getpid()}.json"), "w", encoding="utf-8") as f:
            json.dump({"t0": _T0, "t_end": time.perf_counter(), "src": src, "gc": _gc, "lag": _lag}, f)

    atexit.register(_dump)
