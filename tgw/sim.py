"""`tgw sim faults`: seeded fault runs of the simulated business (runner/faults.py).

    tgw sim faults --seeds 1..300                   # what CI runs (tests/test_sim_faults.py)
    tgw sim faults --seeds 1..10000 --out bench/results/faults.json --resume /tmp/faults.jsonl

Each seed runs a small world for `--days` business days (and the replenishment morning) with its
own fault schedule, then checks the money invariants and the exactly-once business effects. A
failing seed prints itself, its replay command and its fault schedule; the replay journals the
same bytes (same `journal_digest`). Progress goes to stderr. `--resume FILE` appends each seed's
result to FILE (JSON lines) and skips the seeds already there, so a long run can be stopped,
resumed, or split into chunks (`--seeds 1..5000`, `--seeds 5001..10000` with one FILE).

Exit: 0 every seed held, 1 a seed failed, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from messages.errors import InputError
from tgw.command_error import EXIT_USAGE, CommandError, choose_action

__all__ = ["parse_seeds", "register"]

SEEDS_MAX = 1_000_000  # one range; a longer run is several chunks with one --resume file
VOUCHERS_MAX = 1_000  # a fault run wants many small days, not a few large ones
DAYS_MAX = 10
# Where the worlds go by default: a RAM file system when there is one (the runs test crashes of
# processes, not of disks, and a seed's dozen SQLite files then cost no fsync).
_RAM_DIRS = ("/dev/shm",)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sim", help="the simulation engine: seeded fault runs",
                              description="Runs of the simulated business on the deterministic engine.")
    sub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    f = sub.add_parser("faults", help="seeded fault runs; exit 0 all held, 1 a seed failed, 2 usage",
                       description="Run each seed's simulated days under its own fault schedule and check the "
                                   "money invariants and exactly-once effects. A failing seed prints its replay "
                                   "command and fault schedule.",
                       epilog="Exit codes: 0 every seed held, 1 a seed failed, 2 usage (--seeds, --days, "
                              "--vouchers out of range, days the calendar does not know, a --resume file tgw sim "
                              "faults did not write).")
    f.add_argument("--seeds", required=True, help="a range A..B (inclusive) or one seed")
    f.add_argument("--vouchers", type=int, default=6, help="payment vouchers per business day (default 6)")
    f.add_argument("--days", type=int, default=1, help="business days with payments (default 1)")
    f.add_argument("--start", default="2026-03-09",
                   help="first day (default 2026-03-09, a Monday). A run whose last day is the calendar's "
                        "(2026-12-31) runs it to its end: what needs the business day after it is listed not judged "
                        "(docs/calendar.md); a run wanting a day past the calendar is refused (exit 2)")
    f.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the summary {seeds, seeds_run, failures, failed_seeds, failed, faults_injected, "
                        "kinds_never_injected, not_judged, journal_digest, ...}, as --out writes it (default text)")
    f.add_argument("--out", help="write the summary JSON here too (e.g. bench/results/faults.json)")
    f.add_argument("--resume", help="JSON lines of per-seed results: append to it, skip the seeds already in it")
    f.add_argument("--dir", help="keep each seed's world under this directory (default: a temporary one)")
    f.add_argument("--quiet", action="store_true", help="no progress on stderr")
    f.set_defaults(func=run_faults)
    p.set_defaults(func=choose_action(p))


class ResumeFileError(Exception):
    """The --resume file is not one `tgw sim faults` wrote (file:line and why)."""


def parse_seeds(text: str) -> range:
    """`A..B` (inclusive) or `N`; ValueError if it is not one."""
    first, sep, last = text.partition("..")
    a = int(first)
    b = int(last) if sep else a
    if a < 0 or b < a or b - a + 1 > SEEDS_MAX:
        raise ValueError(text)
    return range(a, b + 1)


def run_faults(args: argparse.Namespace) -> int:
    try:
        seeds = parse_seeds(args.seeds)
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise CommandError.usage(f"--seeds must be A..B or N (0 <= A <= B, at most {SEEDS_MAX:,} seeds) and "
                                    "--start a date YYYY-MM-DD") from None
    if not 1 <= args.days <= DAYS_MAX or not 1 <= args.vouchers <= VOUCHERS_MAX:
        raise CommandError.usage(f"--days must be 1..{DAYS_MAX} and --vouchers 1..{VOUCHERS_MAX}")
    from gateway.logs import configure_logging

    configure_logging(json=False, level="CRITICAL")
    ram = next((d for d in _RAM_DIRS if os.path.isdir(d) and os.access(d, os.W_OK)), None)
    try:
        summary = asyncio.run(_run(args, seeds, start, ram))
    except InputError as exc:  # e.g. days the business calendar does not know: say so, never guess
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except ResumeFileError as exc:
        said = str(exc) if args.resume in str(exc) else f"{args.resume}: {exc}"  # the file named once
        raise CommandError.usage(f"--resume {said}") from exc
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.format == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(f"{summary['seeds_run']} seeds ({summary['seeds']}), {summary['failures']} failed, "
              f"{summary['elapsed_s']} s")
        print("faults injected: " + ", ".join(f"{k} {v}" for k, v in summary["faults_injected"].items()))
        if summary["failed_seeds"]:
            print(f"failed seeds: {summary['failed_seeds']}")
        for n in summary["not_judged"]:  # the run's last day is the calendar's (docs/calendar.md)
            print(f"not judged: {n['check']}: {n['detail']} ({n['code']}: {n['wanted']} is past the calendar)")
    return 1 if summary["failures"] else 0


async def _run(args: argparse.Namespace, seeds: range, start: dt.date, ram: str | None) -> dict[str, Any]:
    from runner.faults import read_resume, run_seed, summarize

    resume = Path(args.resume) if args.resume else None
    try:
        done = read_resume(resume) if resume is not None else {}
    except ValueError as exc:
        raise ResumeFileError(str(exc)) from None
    results: list[dict[str, Any]] = [done[s] for s in seeds if s in done]
    todo = [s for s in seeds if s not in done]
    base = Path(args.dir) if args.dir else None
    started = time.monotonic()
    out = resume.open("a", encoding="utf-8") if resume is not None else None
    try:
        for n, seed in enumerate(todo, start=1):
            if base is not None:
                root = base / f"seed-{seed}"
                root.mkdir(parents=True, exist_ok=True)
                result = await run_seed(root, seed=seed, vouchers=args.vouchers, days=args.days, start=start)
            else:
                with tempfile.TemporaryDirectory(prefix=f"tgw-faults-{seed}-", dir=ram) as tmp:
                    result = await run_seed(Path(tmp), seed=seed, vouchers=args.vouchers, days=args.days,
                                            start=start)
            row = result.as_dict()
            results.append(row)
            if out is not None:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
            if not result.ok:
                _print_failure(row)
            if not args.quiet and (n % 50 == 0 or n == len(todo) or not result.ok):
                failures = sum(1 for r in results if not r["ok"])
                print(f"tgw sim faults: {len(results)}/{len(seeds)} seeds, {failures} failed, "
                      f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        if out is not None:
            out.close()
    elapsed = time.monotonic() - started + sum(done[s]["elapsed_s"] for s in seeds if s in done)
    summary = summarize(results, seeds=f"{seeds.start}..{seeds.stop - 1}", vouchers=args.vouchers, days=args.days,
                        start=start.isoformat(), elapsed_s=elapsed)
    if len(seeds) == 1 and results:
        summary["journal_digest"] = results[0]["journal_digest"]
        summary["faults"] = results[0]["faults"]
    return summary


def _print_failure(row: dict[str, Any]) -> None:
    print(f"tgw sim faults: seed {row['seed']} FAILED: {', '.join(row['failed'])}", file=sys.stderr)
    for name, detail in row["failed"].items():
        print(f"  {name}: {detail}", file=sys.stderr)
    print(f"  replay: {row['replay']}", file=sys.stderr)
    print(f"  journal digest: {row['journal_digest']}", file=sys.stderr)
    print(f"  schedule: {json.dumps(row['schedule'], ensure_ascii=False)}", file=sys.stderr)
