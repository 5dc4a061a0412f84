"""What a long-running `tgw up` keeps a voucher: RSS, tracemalloc's growth by line, SQL a voucher.

    .venv/bin/python bench/live_memory.py [--checkpoints 5000,20000,50000] [--trace] [--source DIR]
                                          [--timeout-s 900] [--out bench/results/live-memory/run.json]

A real `tgw up` subprocess (SQLite, pull delivery, logs at WARNING) gets one-voucher envelopes by
HTTP (8 at once, closed loop) while bank-a and bank-b pull their inbox by HTTP (long poll) and ack
every delivery. After a 1,000-envelope warm-up and at each checkpoint (a count of envelopes sent),
once every delivery is acked and the gateway is quiet, it records the server's VmRSS and VmHWM
(/proc/PID/status) and the rows of each table; the slope between checkpoints is bytes a voucher.

With `--trace` the server runs under a `sitecustomize` of this harness's own (never product code):
tracemalloc (1 frame) and a count of the SQL statements SQLite ran (`set_trace_callback`, literals
folded to `?`); at each checkpoint SIGUSR1 makes it `gc.collect()` and dump both. The report then
gives tracemalloc's growth by line between the first and last checkpoints, a voucher, and the
statements a voucher. tracemalloc raises RSS: take RSS slopes from a run without `--trace`.
`--cache-kib N` (the same `sitecustomize`) sets SQLite's page cache of each server connection to N
KiB in place of the journal's 8 MiB: a run with a small cache tells the page cache's growth
(bounded, by cache_size) from any other.

`--source DIR` runs another checkout's gateway code (e.g. `git archive main` of the base) for
before/after figures. A measurement, not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARMUP = 1000
SENDERS = 8
BUILD_CHUNK = 500

SITECUSTOMIZE = r'''
import collections, gc, os, re, signal, sqlite3, threading, tracemalloc
_OUT = os.environ.get("TGW_LM_SNAP")
_CACHE = os.environ.get("TGW_LM_CACHE_KIB")
if _CACHE:
    class _SmallCache(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.startswith("PRAGMA cache_size="):
                sql = f"PRAGMA cache_size=-{int(_CACHE)}"
            return super().execute(sql, *args)
    _plain_connect = sqlite3.connect
    sqlite3.connect = lambda *a, **k: _plain_connect(*a, factory=_SmallCache, **k)
if _OUT:
    tracemalloc.start(1)
    _sql = collections.Counter()
    _fold = re.compile(r"X'[0-9A-Fa-f]*'|'(?:[^']|'')*'|\b-?\d+(?:\.\d+)?\b")
    def _count(stmt):
        _sql[" ".join(_fold.sub("?", stmt[:2000]).split())[:300]] += 1
    _connect = sqlite3.connect
    def connect(*a, **k):
        conn = _connect(*a, **k)
        conn.set_trace_callback(_count)
        return conn
    sqlite3.connect = connect
    def _dump(signum, frame):
        n = len([p for p in os.listdir(_OUT) if p.endswith(".snap")])
        gc.collect()
        tracemalloc.take_snapshot().dump(os.path.join(_OUT, f"{n}.snap"))
        with open(os.path.join(_OUT, f"{n}.sql"), "w") as f:
            for k, v in sorted(dict(_sql).items()):
                f.write(f"{v}\t{k}\n")
        open(os.path.join(_OUT, f"{n}.done"), "w").close()
    signal.signal(signal.SIGUSR1, _dump)
'''


def _vm_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def _rows(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


async def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from bench.benchmark import tgw_up_subprocess
    from client import GatewayClient
    from messages.factory import payment_voucher
    from runner.world import DevWorld

    world = DevWorld.create(tmp / "world")
    checkpoints = [WARMUP, *(WARMUP + int(c) for c in args.checkpoints.split(","))]
    total = checkpoints[-1]
    snap_dir = tmp / "snaps"
    if args.trace or args.cache_kib:
        site = tmp / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    if args.trace:
        snap_dir.mkdir()
        os.environ["TGW_LM_SNAP"] = str(snap_dir)
    if args.cache_kib:
        os.environ["TGW_LM_CACHE_KIB"] = str(args.cache_kib)
    source = Path(args.source).resolve() if args.source else None  # noqa: ASYNC240 - once, before the server starts
    day = dt.date.today()
    sent = acked = 0
    counts = {"accepted": 0, "other": 0}
    stop = asyncio.Event()

    def envelopes() -> Any:
        for start in range(0, total, BUILD_CHUNK):
            for i in range(start, min(total, start + BUILD_CHUNK)):
                bank = world.banks[i % len(world.banks)]
                v = payment_voucher(voucher_no=f"LM{i:08d}", vou_date=day, pay_bank_code=bank.bank_codes[0],
                                    amount_fen=100_000 + i, adm_div_code=world.adm_div_code)
                yield world.envelope([v], sender=world.treasury.id)

    async with tgw_up_subprocess(world, tmp, source=source, tag="lm") as (host, port, pid):
        base = f"http://{host}:{port}"
        db_path = next(tmp.glob("lm-*.db"))  # noqa: ASYNC240 - once, before the load

        async def consume(bank_id: str) -> None:
            nonlocal acked
            token = world.participants[bank_id].token
            async with GatewayClient.http(base, token=token, participant_id=bank_id, poll_wait_s=0.5) as c:
                while not stop.is_set():
                    items = await c.receive(0.5)
                    if items:
                        await c.ack(*items)
                        acked += len(items)

        gen = envelopes()
        limit = 0

        async def send() -> None:
            nonlocal sent
            token = world.treasury.token
            async with GatewayClient.http(base, token=token, participant_id=world.treasury.id) as c:
                while sent < limit:
                    sent += 1
                    env = next(gen)
                    [r] = await c.send(env)
                    counts["accepted" if r.status == "accepted" else "other"] += 1

        consumers = [asyncio.create_task(consume(b.id)) for b in world.banks]
        rows: list[dict[str, Any]] = []
        t0 = time.monotonic()
        try:
            for cp in checkpoints:
                limit = cp
                await asyncio.gather(*(send() for _ in range(SENDERS)))
                while acked < counts["accepted"]:
                    if time.monotonic() - t0 > args.timeout_s:
                        raise TimeoutError(f"timeout at {acked} acked of {counts['accepted']}")
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.5)  # the deliverer's and committer's last passes
                row: dict[str, Any] = {"envelopes": cp, "acked": acked, **counts, **_vm_kib(pid),
                                       "rows": _rows(db_path), "elapsed_s": round(time.monotonic() - t0, 1)}
                if args.trace:
                    n = len(rows)
                    os.kill(pid, signal.SIGUSR1)
                    while not (snap_dir / f"{n}.done").exists():  # noqa: ASYNC110 - another process writes it
                        await asyncio.sleep(0.1)
                    row["vm_after_snapshot"] = _vm_kib(pid)
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "rows"}), flush=True)
                if time.monotonic() - t0 > args.timeout_s:
                    break
        finally:
            stop.set()
            await asyncio.gather(*consumers, return_exceptions=True)
    result: dict[str, Any] = {"source": str(source or "this checkout"), "trace": args.trace,
                              "cache_kib": args.cache_kib or "the journal's", "rows": rows,
                              "slopes_rss_b_per_voucher": []}
    for a, b in itertools.pairwise(rows):
        d = b["envelopes"] - a["envelopes"]
        result["slopes_rss_b_per_voucher"].append(
            {"from": a["envelopes"], "to": b["envelopes"], "rss": round((b["VmRSS"] - a["VmRSS"]) * 1024 / d),
             "hwm": round((b["VmHWM"] - a["VmHWM"]) * 1024 / d)})
    if args.trace and len(rows) >= 2:
        result["tracemalloc"] = _trace_report(snap_dir, rows)
    return result


def _trace_report(snap_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = 1 if len(rows) > 2 else 0, len(rows) - 1
    n = rows[last]["envelopes"] - rows[first]["envelopes"]
    a = tracemalloc.Snapshot.load(str(snap_dir / f"{first}.snap"))
    b = tracemalloc.Snapshot.load(str(snap_dir / f"{last}.snap"))
    stats = b.compare_to(a, "lineno")
    total = sum(s.size_diff for s in stats)
    top = [{"b_per_voucher": round(s.size_diff / n, 1), "count_diff": s.count_diff,
            "where": f"{s.traceback[0].filename.replace(str(ROOT) + '/', '')}:{s.traceback[0].lineno}"}
           for s in stats[:30]]

    def sql(i: int) -> dict[str, int]:
        out = {}
        for line in (snap_dir / f"{i}.sql").read_text().splitlines():
            v, _, k = line.partition("\t")
            out[k] = int(v)
        return out

    s0, s1 = sql(first), sql(last)
    per = {k: round((s1.get(k, 0) - s0.get(k, 0)) / n, 3) for k in s1}
    per = {k: v for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v}
    return {"from": rows[first]["envelopes"], "to": rows[last]["envelopes"],
            "total_b_per_voucher": round(total / n, 1), "top_lines": top,
            "sql_per_voucher": per, "sql_total_per_voucher": round(sum(per.values()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default="5000,20000,50000")
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--source")
    ap.add_argument("--cache-kib", type=int, default=0,
                    help="the server's SQLite page cache a connection, in place of the journal's (attribution only)")
    ap.add_argument("--timeout-s", type=float, default=900.0)
    ap.add_argument("--out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tgw-live-memory-") as tmp:
        result = asyncio.run(_run(args, Path(tmp)))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
