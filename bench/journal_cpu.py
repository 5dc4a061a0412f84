"""CPU per one-voucher envelope of what `Gateway.submit` does around admission, in-process, A/B.

    python -m bench.journal_cpu [--compare-src DIR] [--envelopes 2000] [--repeat 3] [-o FILE]

`bench.submit_cpu` with the admission taken out: every envelope is admitted once before the clock
starts (the floor's functions, authorize, route), and the gateway is handed those outcomes, so what
is measured is monitoring's screen and its read, the journal (group commit, its statements, the
COMMIT), the answer and the bookkeeping around them: the part of the submit path outside the floor
that the floor's own noise hides in `submit_cpu`. The event loop's thread and the SQLite committer
thread are reported apart (thread CPU time), sequentially (a commit per envelope) and with 32
envelopes in flight (commits shared). Each run is a fresh process on a fresh database; runs of the
two checkouts alternate. Nothing here asserts on time (bench/results/journal-cpu.json).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "journal-cpu.json"
CONCURRENCY = 32
WARM_UP = 50
MODES = ("sequential", "concurrent")


class _Admitted:
    """The gateway's admission, answering from what was admitted before the clock started."""

    def __init__(self, outcomes: dict[bytes, Any]) -> None:
        self._outcomes = outcomes

    async def started(self) -> None:
        return None

    async def admit(self, data: bytes, sender: Any, *, at: dt.datetime) -> Any:
        return self._outcomes[data]

    def close(self) -> None:
        return None


async def _worker(gw: Any, sender: Any, envelopes: Any) -> None:
    for e in envelopes:  # one iterator shared by every worker
        await gw.submit(e, sender)


async def _one_mode(mode: str, world: Any, tmp: Path, envelopes: int) -> dict[str, Any]:
    from bench.benchmark import build_envelopes
    from gateway.monitoring.monitor import Monitor
    from gateway.monitoring.rules import default_catalogue
    from gateway.monitoring.store import MonitorStore
    from gateway.pipeline import admit_envelope
    from gateway.service import Gateway
    from storage.db import open_database

    business = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    class Clock:
        def now(self) -> dt.datetime:
            return business

    envs = build_envelopes(
        world, vouchers=envelopes + WARM_UP, batch=1, tag=f"J{uuid.uuid4().hex[:4].upper()}"
    )
    db = await open_database(f"sqlite:///{tmp / f'{mode}.db'}")
    gw = Gateway(
        db=db,
        registry=world.registry(),
        certs=world.certs(),
        clock=Clock(),
        monitor=Monitor(default_catalogue(), MonitorStore(db)),
    )
    await gw.start()
    sender = gw.registry.get(world.treasury.id)
    assert sender is not None
    at = dt.datetime.now(dt.UTC)
    gw._admission = _Admitted({e: admit_envelope(e, sender, gw.registry, gw.certs, at=at) for e in envs})
    for e in envs[:WARM_UP]:
        await gw.submit(e, sender)
    work = envs[WARM_UP:]
    thread = db._committer._thread  # type: ignore[union-attr]
    assert thread is not None and thread.ident is not None
    clock_id = time.pthread_getcpuclockid(thread.ident)
    commits0, committer0, loop0 = gw.journal.commits, time.clock_gettime(clock_id), time.thread_time()
    process0 = time.process_time()  # every thread: the checkpoints' too, wherever they run
    walls: list[float] = []  # sequential: each submit's wall time (a commit each: the commit path's tail)
    if mode == "sequential":
        for e in work:
            t = time.perf_counter()
            await gw.submit(e, sender)
            walls.append(time.perf_counter() - t)
    else:
        shared = iter(work)
        await asyncio.gather(*(_worker(gw, sender, shared) for _ in range(CONCURRENCY)))
    loop_us = (time.thread_time() - loop0) / len(work) * 1e6
    process_us = (time.process_time() - process0) / len(work) * 1e6
    committer_us = (time.clock_gettime(clock_id) - committer0) / len(work) * 1e6
    result = {
        "loop_thread_us": round(loop_us, 1),
        "committer_us": round(committer_us, 1),
        "total_us": round(loop_us + committer_us, 1),
        "process_us": round(process_us, 1),
        **_wall_percentiles(walls),
        "commits": gw.journal.commits - commits0,
    }
    await gw.stop()
    await db.close()
    return result


def _wall_percentiles(walls: list[float]) -> dict[str, float]:
    """p50/p99/p99.9/max wall ms of the sequential submits (nearest rank); nothing for the concurrent mode."""
    if not walls:
        return {}
    walls = sorted(walls)

    def rank(p: float) -> float:
        return round(walls[min(len(walls), max(1, int(-(-len(walls) * p // 100)))) - 1] * 1e3, 3)

    return {"wall_p50_ms": rank(50), "wall_p99_ms": rank(99), "wall_p99_9_ms": rank(99.9),
            "wall_max_ms": round(walls[-1] * 1e3, 3)}


async def _measure(envelopes: int, tmp: Path) -> dict[str, Any]:
    from runner.world import DevWorld

    world = DevWorld.create(tmp / "world")
    return {mode: await _one_mode(mode, world, tmp, envelopes) for mode in MODES}


def _child(envelopes: int) -> None:
    from gateway.logs import configure_logging

    configure_logging(level="INFO", cache=True)  # as `tgw up` runs by default
    with tempfile.TemporaryDirectory(prefix="tgw-journal-cpu-") as tmp:
        print(json.dumps(asyncio.run(_measure(envelopes, Path(tmp)))))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # read before any shared import: an older checkout's packages run this child
        _child(int(argv[argv.index("--envelopes") + 1]))
        return 0
    sys.path.insert(0, str(REPO_ROOT))  # this checkout's bench package, whatever PYTHONPATH says
    from bench.alternate import sitting

    def describe(row: dict[str, Any]) -> str:
        return "; ".join(
            f"{m} {row[m]['total_us']} µs (loop {row[m]['loop_thread_us']}, committer {row[m]['committer_us']}, "
            f"process {row[m].get('process_us', '-')}, {row[m]['commits']} commits"
            + (f", wall p99 {row[m]['wall_p99_ms']} max {row[m]['wall_max_ms']} ms)" if "wall_p99_ms" in row[m] else ")")
            for m in MODES
        )

    def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {
            label: {
                m: {
                    k: statistics.median(x[m][k] for x in rows)
                    for k in ("loop_thread_us", "committer_us", "total_us", "process_us", "wall_p50_ms", "wall_p99_ms",
                              "wall_p99_9_ms", "wall_max_ms")
                    if all(k in x[m] for x in rows)
                }
                for m in MODES
            }
            for label, rows in runs.items()
        }

    return sitting(argv, script=Path(__file__), doc=__doc__ or "", default_envelopes=2000, default_out=DEFAULT_OUT,
                   describe=describe, summarize=summarize, extra={"concurrency": CONCURRENCY})


if __name__ == "__main__":
    sys.exit(main())
