"""CPU per one-voucher envelope of `Gateway.submit`, in-process, A/B against another checkout.

    python -m bench.submit_cpu [--compare-src DIR] [--envelopes 1500] [--repeat 3] [-o FILE]

What `tgw up` does per envelope short of HTTP: the pipeline, monitoring (the default catalogue),
the journal's group commit on SQLite (synchronous=FULL), metrics, logging at INFO. Each run is a fresh process
(this checkout's code, or `--compare-src`'s first on PYTHONPATH) on a fresh database; the runs
of the two alternate, so a neighbour loading the machine weighs on both alike. Two modes:
`sequential` (one envelope at a time: a commit each) and `concurrent` (32 in flight: commits
shared). The figure is CPU time (user + system of the process, the commit thread included) per
envelope, beside the floor's CPU time measured in the same process: on a loaded machine CPU time
still moves with the load (caches, a shared core), less than wall time does.

Nothing here asserts on time: it prints and writes figures (bench/results/submit-cpu.json).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "submit-cpu.json"
CONCURRENCY = 32


def _floor_cpu_us(world: Any, rounds: int = 5, per_round: int = 200) -> float:
    """The whole-envelope floor (parse_envelope + check_body + verify_body) in CPU µs, median of
    rounds, measured here so that both checkouts' figures come from the same code."""
    import datetime as dt

    from bench.benchmark import build_envelopes
    from messages.envelope import parse_envelope
    from messages.validate import check_body, verify_body

    [env] = build_envelopes(world, vouchers=1, batch=1, tag="F")
    certs, at = world.certs(), dt.datetime.now(dt.UTC)

    def one() -> None:
        for body in parse_envelope(env).bodies:
            assert not verify_body(check_body(body), certs, at=at)

    for _ in range(20):
        one()
    results = []
    for _ in range(rounds):
        t0 = time.thread_time_ns()
        for _ in range(per_round):
            one()
        results.append((time.thread_time_ns() - t0) / per_round / 1000)
    return round(statistics.median(results), 1)


async def _measure(envelopes: int, tmp: Path) -> dict[str, Any]:
    """In the child: the floor's CPU time, then each mode's CPU per envelope."""
    import datetime as dt

    from bench.benchmark import build_envelopes
    from gateway.monitoring.monitor import Monitor
    from gateway.monitoring.rules import default_catalogue
    from gateway.monitoring.store import MonitorStore
    from gateway.service import Gateway
    from runner.world import DevWorld
    from storage.db import open_database

    world = DevWorld.create(tmp / "world")
    out: dict[str, Any] = {"floor_cpu_us": _floor_cpu_us(world)}

    class Clock:
        def now(self) -> dt.datetime:
            return dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    for mode in ("sequential", "concurrent"):
        envs = build_envelopes(world, vouchers=envelopes + 50, batch=1, tag=f"C{uuid.uuid4().hex[:4].upper()}")
        db = await open_database(f"sqlite:///{tmp / f'{mode}.db'}")
        gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=Clock(),
                     monitor=Monitor(default_catalogue(), MonitorStore(db)))
        await gw.start()
        sender = gw.registry.get(world.treasury.id)
        assert sender is not None
        for e in envs[:50]:  # warm-up
            await gw.submit(e, sender)
        work = envs[50:]
        commits0 = gw.journal.commits
        cpu0, wall0, t0 = time.process_time(), time.perf_counter(), os.times()
        if mode == "sequential":
            for e in work:
                await gw.submit(e, sender)
        else:
            await asyncio.gather(*(_worker(gw, sender, it) for it in [iter(work)] for _ in range(CONCURRENCY)))
        cpu, wall, t1 = time.process_time() - cpu0, time.perf_counter() - wall0, os.times()
        out[mode] = {"cpu_us_per_envelope": round(cpu / len(work) * 1e6, 1),
                     "system_us_per_envelope": round((t1.system - t0.system) / len(work) * 1e6, 1),
                     "wall_us_per_envelope": round(wall / len(work) * 1e6, 1),
                     "commits": gw.journal.commits - commits0}
        await gw.stop()
        await db.close()
    return out


async def _worker(gw: Any, sender: Any, envelopes: Any) -> None:
    for e in envelopes:  # one iterator shared by every worker
        await gw.submit(e, sender)


def _child(envelopes: int) -> None:
    from gateway.logs import configure_logging

    configure_logging(level="INFO", cache=True)  # as `tgw up` runs by default: no line per envelope
    with tempfile.TemporaryDirectory(prefix="tgw-submit-cpu-") as tmp:
        print(json.dumps(asyncio.run(_measure(envelopes, Path(tmp)))))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # read before any shared import: an older checkout's packages run this child
        _child(int(argv[argv.index("--envelopes") + 1]))
        return 0
    sys.path.insert(0, str(REPO_ROOT))  # this checkout's bench package, whatever PYTHONPATH says
    from bench.alternate import sitting

    def describe(row: dict[str, Any]) -> str:
        return f"floor {row['floor_cpu_us']} µs CPU; " + "; ".join(
            f"{m} {row[m]['cpu_us_per_envelope']} µs ({row[m]['cpu_us_per_envelope'] / row['floor_cpu_us']:.2f}x)"
            for m in ("sequential", "concurrent"))

    def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for label, rows in runs.items():
            summary[label] = {m: {"cpu_x_floor_median": round(statistics.median(
                x[m]["cpu_us_per_envelope"] / x["floor_cpu_us"] for x in rows), 2),
                "cpu_us_per_envelope_runs": [x[m]["cpu_us_per_envelope"] for x in rows]}
                for m in ("sequential", "concurrent")}
            summary[label]["floor_cpu_us_runs"] = [x["floor_cpu_us"] for x in rows]
        return summary

    return sitting(argv, script=Path(__file__), doc=__doc__ or "", default_envelopes=1500, default_out=DEFAULT_OUT,
                   describe=describe, summarize=summarize, extra={"concurrency": CONCURRENCY})


if __name__ == "__main__":
    sys.exit(main())
