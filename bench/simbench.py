"""`tgw bench --sim`: the demo world for one simulated business day at growing volumes.

Each size runs in its own subprocess (`python -m bench.simbench --vouchers N`), so its peak RSS is
its own. The child runs `runner.demo.simulate` for one business day (treasury → gateway → banks →
central bank, receipts back, clearing, statements, the next morning's replenishment), checks
that every invariant held, and prints one JSON line: wall seconds, CPU seconds, vouchers/s end to
end, µs per voucher, peak RSS, and (for the largest size) a sampling profile: which functions the
main thread was in (own time) and under (cumulative), from stack samples every SAMPLE_INTERVAL_S.
A sampler costs about 1% and, unlike cProfile, does not distort the figures it sits beside.

Beside each size, in the same process just before its day, the child measures a voucher's floor
(`bench.floor.day_floor`: its original and its receipt each admitted whole, four seals signed),
in CPU time like the day's own figure: `cpu_ratio_to_floor` is the day's CPU per voucher over
it, a ratio that holds on a machine shared with other work where absolute figures do not.

Before the clock starts, the child runs a small warm-up day (WARM_UP_VOUCHERS, in its own temp
dir): the modules a day imports lazily (and, with PYTHONDONTWRITEBYTECODE, compiles) are loaded
then, once per process as in a gateway that stays up, not charged to the measured day's vouchers
(at 1,000 vouchers they were about one floor a voucher). Its CPU is reported as `warm_up_cpu_s`;
`--warm-up 0` measures a cold process as before.

Figures go to bench/results/sim.json. This is a measurement: nothing asserts on a time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench.floor import REPO_ROOT, machine

__all__ = ["DEFAULT_SIM_OUT", "DEFAULT_SIZES", "print_sim_table", "run_sim"]

DEFAULT_SIM_OUT = REPO_ROOT / "bench" / "results" / "sim.json"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
START = dt.date(2026, 3, 16)  # a Monday: its advances are replenished on Tuesday
SAMPLE_INTERVAL_S = 0.005
PROFILE_TOP = 25  # functions listed per profile table
CHILD_TIMEOUT_S = 3600.0  # one size's run; a day of 100,000 vouchers is meant to take minutes
FLOOR_SECONDS = 2.0  # CPU budget of the floor measured beside each size
WARM_UP_VOUCHERS = 50  # the warm-up day before the clock: enough to import every module a day uses
RATIO_TARGET = 2.0  # the day's CPU per voucher within this many times its floor (issue 19)


# --------------------------------------------------------------------------------- the sampler


class Sampler:
    """Samples the main thread's stack: own time by the innermost frame, cumulative by every
    function on the stack (counted once per sample)."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.own: collections.Counter[str] = collections.Counter()
        self.cumulative: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._target = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            frame = sys._current_frames().get(self._target or 0)
            if frame is not None:
                self._record(frame)

    def _record(self, frame: FrameType) -> None:
        self.samples += 1
        self.own[_where(frame)] += 1
        seen: set[str] = set()
        f: FrameType | None = frame
        while f is not None:
            name = _where(f)
            if name not in seen:
                seen.add(name)
                self.cumulative[name] += 1
            f = f.f_back

    def summary(self, top: int = PROFILE_TOP) -> dict[str, Any]:
        def table(counter: collections.Counter[str]) -> list[dict[str, Any]]:
            return [{"function": name, "samples": n, "share_pct": round(100 * n / max(1, self.samples), 1)}
                    for name, n in counter.most_common(top)]

        return {"samples": self.samples, "interval_s": self.interval_s, "own": table(self.own),
                "cumulative": table(self.cumulative)}


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    root = str(REPO_ROOT) + os.sep
    short = path[len(root):] if path.startswith(root) else Path(path).name
    return f"{short}:{code.co_firstlineno}({code.co_name})"


# --------------------------------------------------------------------------------- one size


def measure(vouchers: int, *, profile: bool, root: Path | None = None,
            floor_seconds: float = FLOOR_SECONDS, warm_up: int = WARM_UP_VOUCHERS) -> dict[str, Any]:
    """One simulated business day of `vouchers` in this process (call it in a fresh one), with the
    floor measured just before it (`floor_seconds` 0: none), after a warm-up day of `warm_up`
    vouchers (0: none)."""
    from bench.floor import day_floor
    from gateway.logs import configure_logging
    from runner.demo import simulate

    configure_logging(json=False, level="WARNING")
    floor = day_floor(floor_seconds) if floor_seconds > 0 else None

    def run(where: Path) -> dict[str, Any]:
        report: dict[str, Any] = asyncio.run(simulate(where, seed=1, vouchers=vouchers, days=1, start=START))
        return report

    warm_cpu = 0.0
    if warm_up > 0:
        warm0 = time.process_time()
        with tempfile.TemporaryDirectory(prefix="tgw-simbench-warm-") as tmp:
            asyncio.run(simulate(Path(tmp), seed=2, vouchers=warm_up, days=1, start=START))
        warm_cpu = time.process_time() - warm0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sampler = Sampler() if profile else None
    with tempfile.TemporaryDirectory(prefix="tgw-simbench-") as tmp:
        if sampler is not None:
            with sampler:
                report = run(root or Path(tmp))
        else:
            report = run(root or Path(tmp))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    failed = sorted(k for k, v in report["invariants"].items() if not v["ok"])
    result: dict[str, Any] = {
        "vouchers": vouchers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "vouchers_per_s": round(vouchers / wall, 1), "us_per_voucher": round(wall / vouchers * 1e6),
        "cpu_us_per_voucher": round(cpu / vouchers * 1e6),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "invariants_held": not failed, "failed_invariants": failed,
        "journal_digest": report["run"]["journal_digest"],
        "warm_up_vouchers": warm_up, "warm_up_cpu_s": round(warm_cpu, 2),
    }
    if floor is not None:
        result["floor_cpu_us_per_voucher"] = floor["us_per_voucher"]
        result["cpu_ratio_to_floor"] = round(cpu / vouchers * 1e6 / floor["us_per_voucher"], 2)
        result["floor"] = floor
    if sampler is not None:
        result["profile"] = sampler.summary()
    return result


# --------------------------------------------------------------------------------- the run


def run_sim(sizes: Sequence[int] = DEFAULT_SIZES, *, profile_largest: bool = True,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    rows = []
    largest = max(sizes)
    for size in sizes:
        if progress is not None:
            progress(f"sim bench: one business day of {size:,} vouchers ...")
        cmd = [sys.executable, "-m", "bench.simbench", "--vouchers", str(size)]
        if profile_largest and size == largest:
            cmd.append("--profile")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, cwd=REPO_ROOT,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the {size}-voucher run failed: {done.stderr[-2000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        if progress is not None:
            progress(f"  {row['wall_s']} s, {row['us_per_voucher']} µs/voucher, peak RSS {row['peak_rss_mb']} MB")
    by_size = {r["vouchers"]: r for r in rows}
    small, big = by_size[min(sizes)], by_size[largest]
    mid = by_size.get(10_000)
    targets = {
        "per_voucher_flat": {"target": f"{largest} within 1.3x of {min(sizes)} per voucher",
                             "ratio": round(big["us_per_voucher"] / small["us_per_voucher"], 2),
                             "met": big["us_per_voucher"] <= 1.3 * small["us_per_voucher"]},
    }
    if all("cpu_ratio_to_floor" in r for r in rows):
        worst = max(rows, key=lambda r: r["cpu_ratio_to_floor"])
        targets["cpu_within_2x_floor"] = {
            "target": f"CPU per voucher <= {RATIO_TARGET:g}x its floor (measured beside it) at every size",
            "worst_ratio": worst["cpu_ratio_to_floor"], "at": worst["vouchers"],
            "met": worst["cpu_ratio_to_floor"] <= RATIO_TARGET}
    if largest == 100_000:
        targets["day_of_100k_within_120_s"] = {"target": "<= 120 s", "wall_s": big["wall_s"],
                                               "met": big["wall_s"] <= 120.0}
    if mid is not None and largest > 10_000:
        targets["memory_flat"] = {"target": f"peak RSS at {largest} <= 2x at 10000",
                                  "ratio": round(big["peak_rss_mb"] / mid["peak_rss_mb"], 2),
                                  "met": big["peak_rss_mb"] <= 2 * mid["peak_rss_mb"]}
    return {"bench": "sim", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "what": "tgw demo's world for one simulated business day (seed 1, from 2026-03-16), in-process bus, "
                    "SQLite files with full fsync; each size in its own process, its floor measured in that "
                    "process just before its day (CPU time)",
            "runs": rows, "targets": targets}


def print_sim_table(result: dict[str, Any]) -> None:
    print(f"{'vouchers':>9}  {'wall s':>8}  {'cpu s':>8}  {'vouchers/s':>10}  {'µs/voucher':>10}  "
          f"{'cpu µs/v':>8}  {'floor µs':>8}  {'x floor':>7}  {'peak RSS MB':>11}")
    for r in result["runs"]:
        print(f"{r['vouchers']:>9,}  {r['wall_s']:>8}  {r['cpu_s']:>8}  {r['vouchers_per_s']:>10}  "
              f"{r['us_per_voucher']:>10}  {r['cpu_us_per_voucher']:>8}  {r.get('floor_cpu_us_per_voucher', '-'):>8}  "
              f"{r.get('cpu_ratio_to_floor', '-'):>7}  {r['peak_rss_mb']:>11}")
    for name, t in result["targets"].items():
        print(f"{name}: {'met' if t['met'] else 'NOT met'} ({t['target']}; "
              + ", ".join(f"{k} {v}" for k, v in t.items() if k not in ("target", "met")) + ")")
    for r in result["runs"]:
        if "profile" in r:
            print(f"\nwhere the time goes at {r['vouchers']:,} vouchers ({r['profile']['samples']} samples), own time:")
            for row in r["profile"]["own"][:15]:
                print(f"  {row['share_pct']:5.1f}%  {row['function']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simbench", description="one size of `tgw bench --sim`")
    parser.add_argument("--vouchers", type=int, required=True)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--floor-seconds", type=float, default=FLOOR_SECONDS,
                        help="CPU budget of the floor measured before the day (0: none)")
    parser.add_argument("--warm-up", type=int, default=WARM_UP_VOUCHERS, metavar="VOUCHERS",
                        help="vouchers of the warm-up day run before the clock starts (0: a cold process)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.vouchers, profile=args.profile, floor_seconds=args.floor_seconds,
                             warm_up=args.warm_up), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
