"""Scale-out on PostgreSQL: one `tgw up` against two on one database (one journal schema).

    python -m bench.scaleout [--processes 1,2] [--seconds 10] [--repeat 3] [--connections 16]
                             [--batch 1] [--db postgresql://127.0.0.1:5432/test] [-o FILE]

Each `tgw up` (inline admission, the default) is pinned to a core of its own
(`sched_setaffinity`: process i on core i); both use the same PostgreSQL schema, so they share
one journal, one outbox and one key space. The load is closed loop over HTTP: `--connections`
keep-alive connections per gateway, each sending its next one-voucher envelope as soon as the
previous one is answered, spread evenly over the gateways. Reported per row: envelopes/s and
vouchers/s acknowledged, client-side p50/p99, the CPU each gateway used (µs per envelope) and
the local PostgreSQL server's CPU (every `postgres` process, whoever else uses it), beside the
floor measured in the same run. The generator and PostgreSQL are not pinned and share
the machine's cores with the gateways: on a 2-core machine two gateways cannot each have a core
to themselves, which the figures show.

Nothing here asserts on time: it prints and writes figures (bench/results/scaleout-postgres.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.floor import REPO_ROOT
from bench.latency import _Conn, _request_bytes, percentiles
from bench.proc_counts import tree_cpu_s

__all__ = ["DEFAULT_SCALEOUT_OUT", "run_scaleout"]

DEFAULT_SCALEOUT_OUT = REPO_ROOT / "bench" / "results" / "scaleout-postgres.json"
DEFAULT_DB = "postgresql://127.0.0.1:5432/test"
WARMUP_ENVELOPES = 200  # per gateway, before the clock starts (connections, caches, the pool)


def _postgres_cpu_s() -> float:
    """CPU seconds of every process named `postgres` on this machine (a local server: its backends,
    WAL writer, checkpointer), 0.0 if there is none. Other users of the server count too."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" not in text:
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += sum(int(v) for v in fields[11:13]) / os.sysconf("SC_CLK_TCK")  # utime stime
    return total


async def _closed_loop(targets: Sequence[tuple[str, int]], requests: Sequence[bytes], *, connections: int,
                       seconds: float) -> dict[str, Any]:
    """`connections` per target, each sending its next request when the last is answered, for
    `seconds`; returns the counts and latencies."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counts = {"answered": 0, "accepted": 0, "not_accepted": 0, "errors": 0}
    first_error: list[str] = []
    it = iter(requests)
    sent_at: dict[_Conn, float] = {}
    deadline = 0.0
    finished = loop.create_future()
    open_conns: set[_Conn] = set()

    def send_next(conn: _Conn) -> None:
        req = next(it, None)
        if req is None or time.perf_counter() >= deadline:
            open_conns.discard(conn)
            if not open_conns and not finished.done():
                finished.set_result(None)
            return
        sent_at[conn] = time.perf_counter()
        conn.send(req, 0)

    def on_answer(conn: _Conn, status: int, body: bytes) -> None:
        latencies.append(time.perf_counter() - sent_at[conn])
        counts["answered"] += 1
        try:
            summary = json.loads(body)["summary"]
            counts["accepted"] += int(summary["accepted"])
            counts["not_accepted"] += int(summary["duplicate"]) + int(summary["rejected"])
        except (ValueError, KeyError, TypeError):
            counts["errors"] += 1
            first_error.append(f"HTTP {status}: {body[:200]!r}")
        send_next(conn)

    def on_lost(conn: _Conn) -> None:
        if conn in open_conns:
            counts["errors"] += 1
            open_conns.discard(conn)
            if not open_conns and not finished.done():
                finished.set_result(None)

    conns: list[_Conn] = []
    for host, port in targets:
        for _ in range(connections):
            _, proto = await loop.create_connection(lambda: _Conn(on_answer, on_lost), host, port)
            conns.append(proto)
    started = time.perf_counter()
    deadline = started + seconds
    open_conns.update(conns)
    for conn in conns:
        send_next(conn)
    await finished
    wall = time.perf_counter() - started
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return {"wall_s": wall, "latencies": latencies, "first_error": first_error[0] if first_error else None, **counts}


async def _measure_row(world: Any, tmp: Path, envelopes: Sequence[bytes], *, processes: int, db: str,
                       connections: int, seconds: float, batch: int) -> dict[str, Any]:
    from bench.benchmark import tgw_up_subprocess

    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"  # one journal for every process of this row
    cores = sorted(os.sched_getaffinity(0))
    async with contextlib.AsyncExitStack() as stack:
        ups = []
        for i in range(processes):
            ups.append(await stack.enter_async_context(
                tgw_up_subprocess(world, tmp, db=db, db_schema=schema, tag=f"scale{i}")))
        pinned = []
        for i, (_host, _port, pid) in enumerate(ups):
            core = cores[i % len(cores)]
            os.sched_setaffinity(pid, {core})
            pinned.append(core)
        token = world.treasury.token
        reqs_by_target = [[_request_bytes(h, p, token, e) for e in envelopes[i::processes]]
                          for i, (h, p, _pid) in enumerate(ups)]
        # Warm-up (connections, caches, the pool), then the measured window.
        for (h, p, _pid), rs in zip(ups, reqs_by_target, strict=True):
            await _closed_loop([(h, p)], rs[:WARMUP_ENVELOPES], connections=connections, seconds=60.0)
        cpu0 = [tree_cpu_s(pid) for _h, _p, pid in ups]
        pg0 = _postgres_cpu_s()
        load_before = os.getloadavg()[0]
        runs = await asyncio.gather(*(
            _closed_loop([(h, p)], rs[WARMUP_ENVELOPES:], connections=connections, seconds=seconds)
            for (h, p, _pid), rs in zip(ups, reqs_by_target, strict=True)))
        cpu = [tree_cpu_s(pid) - c for (_h, _p, pid), c in zip(ups, cpu0, strict=True)]
        pg_cpu = _postgres_cpu_s() - pg0
    wall = max(r["wall_s"] for r in runs)
    answered = sum(r["answered"] for r in runs)
    latencies = [x for r in runs for x in r["latencies"]]
    pct = percentiles(latencies)
    return {
        "processes": processes, "cores_pinned": pinned, "connections_per_process": connections, "batch": batch,
        "seconds": seconds, "answered": answered, "accepted": sum(r["accepted"] for r in runs),
        "not_accepted": sum(r["not_accepted"] for r in runs), "errors": sum(r["errors"] for r in runs),
        "first_error": next((r["first_error"] for r in runs if r["first_error"]), None),
        "envelopes_per_s": round(answered / wall, 1) if wall > 0 else 0.0,
        "vouchers_per_s": round(sum(r["accepted"] for r in runs) / wall, 1) if wall > 0 else 0.0,
        "per_process_envelopes_per_s": [round(r["answered"] / r["wall_s"], 1) for r in runs],
        "p50_ms": pct["p50_ms"], "p99_ms": pct["p99_ms"],
        "server_cpu_cores": [round(c / wall, 3) for c in cpu],
        "server_cpu_us_per_envelope": round(sum(cpu) / max(1, answered) * 1e6, 1),
        "postgres_cpu_cores": round(pg_cpu / wall, 3) if wall > 0 else 0.0,
        "postgres_cpu_us_per_envelope": round(pg_cpu / max(1, answered) * 1e6, 1),
        "loadavg_1m_before": round(load_before, 2),
    }


def run_scaleout(*, processes: Sequence[int] = (1, 2), seconds: float = 10.0, repeat: int = 3,
                 connections: int = 16, batch: int = 1, db: str = DEFAULT_DB,
                 say: Any = print) -> dict[str, Any]:
    from bench.benchmark import build_envelopes, floor_summary, measure_floor
    from bench.floor import machine
    from runner.world import DevWorld

    say("measuring the floor (2 s budget)…")
    floor, floor_source = measure_floor(2.0)
    result: dict[str, Any] = {
        "machine": machine(), "db": db.split("@")[-1],
        "mode": "closed loop over HTTP, one schema shared by every `tgw up`, each pinned to its own core",
        "voucher_type": "5201 payment vouchers from messages.factory, treasury seals, ECDSA-P256",
        "floor": {"source": floor_source, "per_vtcode": floor_summary(floor)},
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2), "rows": [],
    }
    # Enough envelopes for a row of 1,000 envelopes/s per process (a loaded 2-core machine does
    # far less); a row that runs out ends early and is measured over its own wall time.
    needed = max(processes) * (WARMUP_ENVELOPES + int(1000 * seconds))
    with tempfile.TemporaryDirectory(prefix="tgw-scaleout-") as tmpdir:
        tmp = Path(tmpdir)
        world = DevWorld.create(tmp / "world")
        say(f"signing {needed} envelopes of {batch} voucher(s) (outside the timing)…")
        # Reused by every row: each row has a schema of its own, so every voucher is new there.
        envelopes = build_envelopes(world, vouchers=needed * batch, batch=batch, tag=f"S{uuid.uuid4().hex[:4].upper()}")
        runs: dict[int, list[dict[str, Any]]] = {}
        for r in range(max(1, repeat)):
            for n in processes:
                say(f"{n} process(es), {seconds:g} s (run {r + 1}/{repeat}; load {os.getloadavg()[0]:.2f})…")
                row = asyncio.run(_measure_row(world, tmp, envelopes, processes=n, db=db, connections=connections,
                                               seconds=seconds, batch=batch))
                say(f"  {row['envelopes_per_s']:,.0f} envelopes/s, p99 {row['p99_ms']} ms, "
                    f"CPU {row['server_cpu_cores']} cores, errors {row['errors']}")
                runs.setdefault(n, []).append(row)
        for _n, rows in sorted(runs.items()):
            ordered = sorted(rows, key=lambda x: x["envelopes_per_s"])
            median = dict(ordered[(len(ordered) - 1) // 2])
            median["runs_envelopes_per_s"] = [x["envelopes_per_s"] for x in rows]
            median["runs"] = len(rows)
            fig = next(iter(result["floor"]["per_vtcode"].values()))
            median["server_cpu_x_floor"] = round(median["server_cpu_us_per_envelope"]
                                                 / (fig.get("cpu_us_per_voucher") or fig["us_per_voucher"]), 2)
            result["rows"].append(median)
    one = next((x for x in result["rows"] if x["processes"] == 1), None)
    for row in result["rows"]:
        if one is not None and one["envelopes_per_s"]:
            row["speedup_vs_one"] = round(row["envelopes_per_s"] / one["envelopes_per_s"], 2)
    result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2", help="comma-separated `tgw up` counts (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per row (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every row; the median is kept (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="connections per process (default 16)")
    parser.add_argument("--batch", type=int, default=1, help="vouchers per envelope (default 1)")
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL (default %(default)s)")
    parser.add_argument("-o", "--output", default=str(DEFAULT_SCALEOUT_OUT), help="JSON file to write")
    args = parser.parse_args(argv)
    processes = [int(x) for x in args.processes.split(",") if x.strip()]
    result = run_scaleout(processes=processes, seconds=args.seconds, repeat=args.repeat,
                          connections=args.connections, batch=args.batch, db=args.db,
                          say=lambda m: print(m, file=sys.stderr, flush=True))
    Path(args.output).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    fig = next(iter(result["floor"]["per_vtcode"].values()))
    floor = fig.get("cpu_us_per_voucher") or fig["us_per_voucher"]
    print(f"floor {floor} µs/voucher of CPU; load {result['loadavg_1m_at_start']} → {result['loadavg_1m_at_end']}")
    for row in result["rows"]:
        print(f"{row['processes']} process(es): {row['envelopes_per_s']:,.0f} envelopes/s "
              f"(runs {row['runs_envelopes_per_s']}), x{row.get('speedup_vs_one', '-')}, p50 {row['p50_ms']} ms, "
              f"p99 {row['p99_ms']} ms, CPU/envelope {row['server_cpu_us_per_envelope']} µs "
              f"({row['server_cpu_us_per_envelope'] / floor:.2f}x floor), cores {row['server_cpu_cores']}, "
              f"PostgreSQL {row['postgres_cpu_us_per_envelope']} µs/envelope ({row['postgres_cpu_cores']} cores)")
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
