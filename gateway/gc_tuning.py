"""The cyclic garbage collector of a running `tgw up`: its start-up heap frozen, young collections rarer.

A gateway's heap after start-up (modules, the registry, certificates, XSD schemas, the app) is
large and lives as long as the process. With the default thresholds every full (gen2) collection
walks all of it on the event loop: one such pause was about 120 ms in the middle of an ack-latency
run, and gen1 pauses reached 15 ms (bench/results/ack-tail.md has the figures). So, once the
server listens, the live start-up heap is frozen (gc.freeze: never walked again) and young
collections wait for more allocations; what requests allocate afterwards is still collected (the
collector keeps running on everything not frozen, so memory stays bounded). Undone when the
server stops, so a process that runs several servers (tests) keeps its own settings. What is
frozen and later dropped is freed by reference counting as usual; only a reference cycle among
frozen objects (say a business calendar replaced by a reload) waits for the stop: once per such
replacement, not per request.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["SERVER_GC_THRESHOLDS", "settled_heap"]

# gen0 after this many net new container objects (most of what a request allocates is freed by
# reference counting, so during a run this fires rarely); gen1 and gen2 after this many of the
# younger generation's collections. 10,000 was tried: a gen0 walk of that many objects took up to
# 7 ms of CPU; 2,000 keeps each under 2 ms, and with the start-up heap frozen gen1 stays small too.
SERVER_GC_THRESHOLDS = (2_000, 10, 10)


@contextlib.contextmanager
def settled_heap(thresholds: tuple[int, int, int] = SERVER_GC_THRESHOLDS) -> Iterator[None]:
    """Freeze the heap built so far and set `thresholds`; restore both on exit. The server's
    default; the simulation runner (`runner.demo.simulate`) passes its own."""
    before = gc.get_threshold()
    gc.collect()  # the start-up garbage goes now, not into the frozen generation
    gc.freeze()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
