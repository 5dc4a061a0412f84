"""Instructions per one-voucher envelope: `tgw up` over HTTP against the whole-envelope floor, counted.

    python -m bench.instructions [--rate 10] [--envelopes 100] [--workers N] [--compare-src DIR]
                                 [--keep DIR] [-o FILE]

CPU time per envelope on a shared 2-core VM swings by tens of per cent from run to run, and most
of what `tgw bench --latency` reports above the floor at a low rate is not instructions at all:
the same floor functions cost 1.7-2x their tight-loop time when they run after a sleep (cold
caches), and kernel time (fsync, pwrite, wake-ups) is on top (bench/results/http-cpu-3.md). This
counts what the code itself executes, in user space, with valgrind's callgrind: the same count
on every run, whatever the neighbours do.

- The floor: `parse_envelope + check_body + verify_body` on the same signed envelopes the server
  gets, in a child process under callgrind, run twice (a few envelopes, then `--envelopes` more);
  the difference of the two totals over the extra envelopes is the floor per envelope (start-up,
  imports and the first calls cancel out).
- The server: a real `tgw up` (SQLite FULL, logs at WARNING) run under callgrind; after a warm-up
  the counters are zeroed (`callgrind_control -z`), `--envelopes` one-voucher envelopes are sent at
  `--rate` (open loop, as `tgw bench --latency`: under callgrind a gateway runs ~50x slower, so keep
  the rate low: each envelope is then a commit of its own), and the counters are dumped. Every
  thread is counted (the event loop's and the SQLite committer's apart). With `--workers N` the
  server hands the pipeline to N admission worker processes, which run outside callgrind: the
  gateway process's threads are what is counted (the event loop's hand-off, not the workers' floor).
  `--keep DIR` copies the callgrind files of each server there (for `callgrind_annotate`).

Not counted: the kernel (syscalls, fsync), cache misses and waits. Needs valgrind on PATH. Nothing
here asserts on anything (bench/results/instructions.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "instructions.json"
WARM_UP = 50  # envelopes sent before the counters are zeroed
FLOOR_FIRST = 10  # envelopes of the floor's first (subtracted) run
START_TIMEOUT_S = 600.0  # `tgw up` under callgrind imports and compiles its schemas ~50x slower
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)

_FLOOR_CHILD = """
import datetime as dt, pickle, sys
from messages.envelope import parse_envelope
from messages.signing import CertificateStore
from messages.validate import check_body, verify_body
certs = CertificateStore.from_dir(sys.argv[2])
at = dt.datetime.now(dt.UTC)
with open(sys.argv[1], "rb") as fh:
    envelopes = pickle.load(fh)
for e in envelopes[:int(sys.argv[3])]:
    for body in parse_envelope(e).bodies:
        verify_body(check_body(body), certs, at=at)
"""


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}"]


def _totals(files: list[Path]) -> dict[str, int]:
    """Instructions by file (one per thread with --separate-threads) from callgrind's outputs."""
    out: dict[str, int] = {}
    for f in files:
        m = _TOTALS.search(f.read_bytes())
        if m is not None:
            out[f.name] = int(m.group(1))
    return out


def floor_instructions(tmp: Path, envelopes: list[bytes], keys_dir: Path, n: int) -> float:
    """Instructions per envelope of the whole-envelope floor (difference of two counted runs)."""
    data = tmp / "floor-envelopes.pickle"
    data.write_bytes(pickle.dumps(envelopes[:FLOOR_FIRST + n]))
    counts = []
    for k in (FLOOR_FIRST, FLOOR_FIRST + n):
        out = tmp / f"floor-{k}.cg"
        subprocess.run([*_callgrind(out), sys.executable, "-c", _FLOOR_CHILD, str(data), str(keys_dir), str(k)],
                       check=True, capture_output=True, cwd=REPO_ROOT)
        counts.append(sum(_totals(sorted(tmp.glob(f"floor-{k}.cg*"))).values()))
    return (counts[1] - counts[0]) / n


async def _callgrind_control(option: str, pid: int) -> None:
    """`callgrind_control OPTION PID` (-z zero the counters, -d dump them), waited for without blocking the loop."""
    proc = await asyncio.create_subprocess_exec("callgrind_control", option, str(pid), stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
    if await proc.wait() != 0:
        raise RuntimeError(f"callgrind_control {option} {pid} failed")


async def _server_run(world: Any, tmp: Path, envelopes: list[bytes], rate: float, n: int,
                      source: Path | None, tag: str, workers: int = 0, keep: Path | None = None) -> dict[str, Any]:
    from bench.benchmark import tgw_up_subprocess
    from bench.latency import _open_loop, _request_bytes, _Window

    out = tmp / f"{tag}.cg"
    async with tgw_up_subprocess(world, tmp, source=source, tag=tag, wrapper=_callgrind(Path(f"{out}.%p")),
                                 workers=workers, start_timeout_s=START_TIMEOUT_S) as (host, port, pid):
        requests = [_request_bytes(host, port, world.treasury.token, e) for e in envelopes[:WARM_UP + n]]
        await _open_loop(host, port, requests[:WARM_UP], rate, _Window())
        await asyncio.sleep(1.0)
        await _callgrind_control("-z", pid)
        window = _Window()
        await _open_loop(host, port, requests[WARM_UP:], rate, window)
        await asyncio.sleep(0.5)  # the last commit's settle, and nothing else, before the dump
        await _callgrind_control("-d", pid)
    # The dump is part 1 (`<out>.<pid>.1-<thread>`); the files written at exit (part 2) are not read.
    dumped = sorted(tmp.glob(f"{out.name}.{pid}.1-*"))  # noqa: ASYNC240 - the server has stopped
    threads = _totals(dumped)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - the server has stopped
        for f in dumped:
            shutil.copy(f, keep / f.name)
    answered = len(window.latencies_s)
    per_thread = {name.rsplit("-", 1)[1]: round(v / max(1, answered)) for name, v in threads.items() if v}
    return {"answered": answered, "accepted": window.accepted, "errors": window.errors,
            "instructions_per_envelope": round(sum(threads.values()) / max(1, answered)),
            "by_thread": per_thread, "workers": workers,
            "server_source": str(source) if source else "this checkout"}


def run(*, rate: float, envelopes: int, sources: list[tuple[str, Path | None]], workers: int = 0,
        keep: Path | None = None) -> dict[str, Any]:
    from bench.benchmark import build_envelopes
    from bench.floor import machine
    from runner.world import DevWorld

    with tempfile.TemporaryDirectory(prefix="tgw-instr-") as d:
        tmp = Path(d)
        world = DevWorld.create(tmp / "world")
        signed = build_envelopes(world, vouchers=max(WARM_UP, FLOOR_FIRST) + envelopes, batch=1,
                                 tag=f"I{uuid.uuid4().hex[:4].upper()}")
        floor = floor_instructions(tmp, signed, world.keys_dir, envelopes)
        rows: list[dict[str, Any]] = []
        for label, source in sources:
            row = asyncio.run(_server_run(world, tmp, signed, rate, envelopes, source, f"up-{len(rows)}",
                                          workers=workers, keep=keep / label if keep else None))
            row["source"] = label
            row["x_floor"] = round(row["instructions_per_envelope"] / floor, 3)
            rows.append(row)
    return {"machine": machine(), "what": __doc__.split("\n\n")[0].strip(), "rate_per_s": rate,
            "envelopes": envelopes, "floor_instructions_per_envelope": round(floor), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=10.0, help="envelopes/s sent to the server (default 10)")
    p.add_argument("--envelopes", type=int, default=100, help="envelopes counted (default 100)")
    p.add_argument("--workers", type=int, default=0, help="`tgw up --workers` (default 0: the pipeline on the loop)")
    p.add_argument("--compare-src", type=Path, default=None, help="another checkout's gateway, counted after this one's")
    p.add_argument("--keep", type=Path, default=None, help="copy each server's callgrind files to DIR/<label>/")
    p.add_argument("-o", "--output", default=str(DEFAULT_OUT), help="JSON out ('-' for stdout only)")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench.instructions: valgrind (callgrind) is not on PATH", file=sys.stderr)
        return 2
    sources: list[tuple[str, Path | None]] = [("current", None)]
    if args.compare_src is not None:
        sources.append((args.compare_src.name, args.compare_src.resolve()))
    result = run(rate=args.rate, envelopes=args.envelopes, sources=sources, workers=args.workers, keep=args.keep)
    text = json.dumps(result, indent=1)
    if args.output != "-":
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
