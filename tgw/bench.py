"""`tgw bench`: measure what one voucher costs.

    tgw bench --floor [--seconds S] [--samples DIR] [--vtcodes 5201,8202] [-o FILE] [--format text|json]
    tgw bench --gateway [--vouchers N] [--batch B] [--concurrency C] [--transports inproc,http,http-up,mqtt]
                        [--db sqlite|postgresql://...] [--repeat R] [--no-profile] [-o FILE]
                        [--format text|json]
    tgw bench --latency [--rate 1000,2000] [--workers 0,2] [--seconds S] [--repeat R]
                        [--compare-src DIR] [--pin [SERVER/GENERATOR]] [-o FILE] [--format text|json]
    tgw bench --sim [--sizes 1000,10000,100000] [--no-profile] [-o FILE] [--format text|json]
    tgw bench --conformance [--compare-ref REF] [--scenarios FILE,...] [-o FILE] [--format text|json]

`--floor` measures, on one core and in-process, each step of the pipeline for one voucher of
the shipped samples (wrapped in an envelope and signed with throwaway keys made in a temp dir):
hardened envelope parse, envelope decode, base64 + inner parse, XSD validation, business checks,
ECDSA-P256 and RSA-2048 verify and sign, and the whole `check_body` + `verify_body`. Each figure
is the median over several rounds of many iterations (time.perf_counter_ns). The figures and the
machine they were taken on go to bench/results/floor.json.

`--gateway` measures vouchers/s and per-envelope ack latency (client side, p50/p99) through the
whole gateway (verify + validate + journal) for each transport, beside the floor, and profiles
one in-process run; see `gateway.benchmark`. Figures go to bench/results/gateway.json and the
profile to bench/results/gateway-profile.txt.

`--latency` sends one-voucher envelopes over HTTP to a `tgw up` subprocess (SQLite, full fsync)
at a fixed arrival rate (open loop: latency from each envelope's scheduled send time, so a slow
answer cannot hide the queue behind it) and reports p50/p90/p99/p99.9/max per (rate, workers),
beside the floor measured in the same run; see `bench.latency`. Each row gives the server's CPU
per envelope (all of it, and its event-loop thread's), the load generator's own CPU per envelope,
and how busy the whole machine was (every CPU, in cores, other processes included): on a small
machine the generator takes a share of the cores, and a busy machine makes every figure the
scheduler's. `--pin` runs the server (and its admission workers) on one set of CPUs and the
generator on the others (`auto`, the default of a bare `--pin`: the generator on the first CPU,
the server on the rest; or `SERVER/GENERATOR` lists such as `1/0` or `1-3/0`), the floor on the
server's. `--compare-src DIR` also runs every row against the gateway code of another checkout
(e.g. `git worktree add DIR HEAD`), for before/after figures from one run. Figures go to
bench/results/latency.json.

`--sim` runs `tgw demo`'s world (the simulation engine, the real gateway in-process, SQLite) for
one simulated business day at each size, each in its own subprocess (so peak RSS is per size) after
a small warm-up day that loads what a day imports, and reports wall seconds, vouchers/s end to end, µs per voucher, peak RSS, and a sampling profile of
the largest run; see `bench.simbench` and docs/simulation.md. Figures go to bench/results/sim.json.

`--conformance` runs the copy-paste script of docs/conformance.md, as written, with the example
SDK bank over the whole catalogue (or `--scenarios`), and reports wall and CPU seconds, the
gateways and runners it started, the fixed sleeps it waited, and the JUnit counts (so a faster
run is seen to check as much); `--compare-ref REF` also runs the script and code of that revision
(before/after from one run); see `bench.conformance`. Figures go to bench/results/conformance.json.

This is a measurement, not a test: nothing asserts on a time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["register", "run_gateway_bench", "run_latency_bench"]

from bench.floor import DEFAULT_FLOOR_OUT, DEFAULT_SAMPLES, print_floor_table, run_floor
from tgw.command_error import EXIT_USAGE, CommandError


def run_gateway_bench(args: argparse.Namespace) -> int:
    from bench.benchmark import (
        ALL_TRANSPORTS,
        DEFAULT_GATEWAY_OUT,
        print_gateway_table,
        run_gateway,
        write_results,
    )

    transports = tuple(t.strip() for t in args.transports.split(",") if t.strip())
    unknown = [t for t in transports if t not in ALL_TRANSPORTS]
    if unknown or not transports:
        raise CommandError.usage(f"unknown transport(s) {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(ALL_TRANSPORTS)}")
    if min(args.vouchers, args.batch, args.concurrency, args.repeat, args.pool_workers) < 1:
        raise CommandError.usage("--vouchers, --batch, --concurrency, --repeat and --pool-workers must be at "
                                 "least 1")
    db = args.db
    if not (db == "sqlite" or db.startswith(("sqlite:///", "postgresql://", "postgres://"))):
        raise CommandError.usage("--db is sqlite (a fresh file per path), sqlite:///PATH or postgresql://...")
    output = DEFAULT_GATEWAY_OUT if args.output is None else Path(args.output) if args.output != "-" else None
    result = run_gateway(vouchers=args.vouchers, batch=args.batch, transports=transports, db_url=db,
                         concurrency=args.concurrency, profile=not args.no_profile,
                         pool_workers=args.pool_workers, floor_seconds=min(args.seconds or 1.0, 1.0),
                         repeat=max(1, args.repeat),
                         progress=lambda m: print(m, file=sys.stderr))
    if args.format == "json":
        print(json.dumps({k: v for k, v in result.items() if k != "profile"}, ensure_ascii=False, indent=2))
    else:
        print_gateway_table(result)
        if "profile" in result:
            print(result["profile"])
    if output is not None:
        profile_out = output.with_name(output.stem + "-profile.txt")
        write_results(result, output, profile_out)
        print(f"written: {output}" + (f", {profile_out}" if "profile" in result else ""), file=sys.stderr)
    return 0


def _report(result: dict[str, Any], fmt: str, output: Path | None,
            print_table: Callable[[dict[str, Any]], None]) -> int:
    """Print `result` (JSON or the mode's table) and write it as JSON to `output` unless that is None."""
    if fmt == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_table(result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"written: {output}", file=sys.stderr)
    return 0


def _numbers(text: str, kind: type[float] | type[int]) -> list[Any] | None:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        return None
    return values or None


def _rates(text: str) -> list[float | str] | None:
    """Envelopes/s (`1000`) or a share of one core's floor capacity (`0.45x`), comma-separated."""
    out: list[float | str] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            value = float(item[:-1] if item.endswith("x") else item)
        except ValueError:
            return None
        if not value > 0:
            return None
        out.append(item if item.endswith("x") else value)
    return out or None


def run_latency_bench(args: argparse.Namespace) -> int:
    from bench.latency import DEFAULT_LATENCY_OUT, print_latency_table, run_latency

    rates = _rates(args.rate)
    workers = _numbers(args.workers, int)
    seconds = 10.0 if args.seconds is None else args.seconds
    if rates is None or workers is None or min(workers) < 0 or seconds <= 0 or args.repeat < 1:
        raise CommandError.usage("--rate is positive numbers (envelopes/s, or a share of one core's floor "
                                 "capacity such as 0.45x), --workers non-negative integers, both comma-separated; "
                                 "--seconds and --repeat positive")
    sources: list[tuple[str, Path | None]] = [("current", None)]
    if args.compare_src:
        src = Path(args.compare_src).resolve()
        if not (src / "tgw" / "__init__.py").is_file():
            raise CommandError("io-unreadable", f"{src} is not a checkout of this project (no tgw/__init__.py)",
                               exit=EXIT_USAGE)
        sources.insert(0, (src.name, src))
    output = DEFAULT_LATENCY_OUT if args.output is None else Path(args.output) if args.output != "-" else None
    loops = [x.strip() for x in args.event_loops.split(",") if x.strip()]
    if not loops or set(loops) - {"auto", "uvloop", "asyncio"}:
        raise CommandError.usage("--event-loops is a comma-separated list of auto, uvloop, asyncio")
    pin = None
    if args.pin is not None:
        from bench.proc_counts import parse_pin

        try:
            pin = parse_pin(args.pin)
        except (ValueError, AttributeError) as exc:  # AttributeError: no sched_getaffinity (not Linux)
            raise CommandError.usage(f"--pin: {exc}") from None
    result = run_latency(rates=rates, workers=workers, seconds=seconds, repeat=args.repeat, sources=sources,
                         event_loops=loops, floor_seconds=min(2.0, seconds), pin=pin,
                         progress=lambda m: print(m, file=sys.stderr))
    return _report(result, args.format, output, print_latency_table)


def run_sim_bench(args: argparse.Namespace) -> int:
    from bench.simbench import DEFAULT_SIM_OUT, print_sim_table, run_sim

    sizes = _numbers(args.sizes, int)
    if sizes is None or min(sizes) < 1 or max(sizes) > 100_000:
        raise CommandError.usage("--sizes is comma-separated voucher counts per day, 1..100000")
    output = DEFAULT_SIM_OUT if args.output is None else Path(args.output) if args.output != "-" else None
    result = run_sim(sizes, profile_largest=not args.no_profile, progress=lambda m: print(m, file=sys.stderr))
    return _report(result, args.format, output, print_sim_table)


def run_conformance_bench(args: argparse.Namespace) -> int:
    from bench.conformance import DEFAULT_CONFORMANCE_OUT, print_conformance_table, run_conformance_bench

    scenarios = [str(Path(s).resolve()) for s in (args.scenarios or "").split(",") if s.strip()]
    missing = [s for s in scenarios if not Path(s).is_file()]
    if missing:
        raise CommandError("io-unreadable", f"no scenario file {', '.join(missing)}", exit=EXIT_USAGE)
    output = DEFAULT_CONFORMANCE_OUT if args.output is None else Path(args.output) if args.output != "-" else None
    result = run_conformance_bench(compare_ref=args.compare_ref or None, scenarios=scenarios,
                                   progress=lambda m: print(m, file=sys.stderr))
    return _report(result, args.format, output, print_conformance_table)


def cmd_bench(args: argparse.Namespace) -> int:
    modes = [m for m in ("floor", "gateway", "latency", "sim", "conformance") if getattr(args, m)]
    if not modes:
        args.parser.print_help(sys.stderr)
        print(file=sys.stderr)
        raise CommandError.usage("choose what to measure (--floor, --gateway, --latency, --sim or --conformance)")
    if len(modes) > 1:
        raise CommandError.usage(f"{' and '.join('--' + m for m in modes)} are separate runs; choose one")
    if args.gateway:
        return run_gateway_bench(args)
    if args.latency:
        return run_latency_bench(args)
    if args.sim:
        return run_sim_bench(args)
    if args.conformance:
        return run_conformance_bench(args)
    if args.seconds is None:
        args.seconds = 2.0
    if args.output is None:
        args.output = str(DEFAULT_FLOOR_OUT)
    if args.seconds <= 0:
        raise CommandError.usage("--seconds must be positive")
    samples = Path(args.samples)
    vtcodes = tuple(v.strip() for v in args.vtcodes.split(",") if v.strip())
    missing = [v for v in vtcodes if not (samples / v / "original.xml").is_file()]
    if missing:
        raise CommandError("io-unreadable", f"no {samples}/<vtcode>/original.xml for {', '.join(missing)}",
                           exit=EXIT_USAGE)
    result = run_floor(args.seconds, samples, vtcodes)
    return _report(result, args.format, None if args.output == "-" else Path(args.output), print_floor_table)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="measure per-voucher costs (--floor), gateway throughput (--gateway), open-loop "
                      "latency (--latency), the simulated day (--sim) and the conformance script (--conformance)",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        epilog="Exit codes: 0 measured (a failing run inside a measurement, such as a scenario of --conformance, is "
               "reported in the figures, not in the exit code), 2 usage (no mode, two modes, a value out of "
               "range, a --samples or --scenarios file missing). Without -o the figures overwrite the "
               "repository's bench/results/MODE.json: give -o FILE (or -o -) to keep them.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--floor", action="store_true",
                   help="in-process cost of each pipeline step per voucher, one core")
    p.add_argument("--seconds", type=float, default=None,
                   help="--floor: total time budget (default 2); --latency: measured window per row (default 10)")
    p.add_argument("--samples", default=str(DEFAULT_SAMPLES), metavar="DIR",
                   help="samples directory holding <vtcode>/original.xml (default: the repo's samples/)")
    p.add_argument("--vtcodes", default="5201", metavar="LIST",
                   help="comma-separated voucher types to measure (default %(default)s)")
    p.add_argument("--gateway", action="store_true",
                   help="vouchers/s and ack latency through the gateway per transport, beside the floor")
    p.add_argument("--vouchers", type=int, default=5000, help="--gateway: vouchers per path (default %(default)s)")
    p.add_argument("--batch", type=int, default=10,
                   help="--gateway: vouchers per envelope (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=16,
                   help="--gateway: concurrent senders / keep-alive connections (default %(default)s)")
    p.add_argument("--transports", default="inproc,inproc-monitor,inproc-pool,http,http-up,http-up-pool,mqtt",
                   metavar="LIST",
                   help="--gateway: comma-separated paths: inproc (monitoring off), inproc-monitor (the default "
                        "monitoring rules on), inproc-pool (pipeline in worker processes), "
                        "http (server in this process), http-up (a `tgw up` subprocess), http-up-pool "
                        "(`tgw up --workers N`), mqtt (default %(default)s)")
    p.add_argument("--db", default="sqlite",
                   help="--gateway: sqlite (a fresh file per path; default), sqlite:///PATH or postgresql://... "
                        "(a fresh schema per path)")
    p.add_argument("--pool-workers", type=int, default=2, help="--gateway: admission worker processes for inproc-pool and http-up-pool (default 2)")
    p.add_argument("--repeat", type=int, default=1,
                   help="--gateway / --latency: run the paths (rows) in turn this many times; each reports its "
                        "median run (default %(default)s)")
    p.add_argument("--no-profile", action="store_true",
                   help="--gateway: skip the cProfile run; --sim: no sampling profile of the largest size")
    p.add_argument("--latency", action="store_true",
                   help="open-loop ack latency of one-voucher envelopes at fixed rates, HTTP to `tgw up`")
    p.add_argument("--rate", default="1000,2000", metavar="LIST",
                   help="--latency: comma-separated arrival rates, envelopes/s, or shares of one core's capacity "
                        "at the floor measured in the same run, e.g. 0.45x (default %(default)s)")
    p.add_argument("--workers", default="0,2", metavar="LIST",
                   help="--latency: comma-separated `tgw up --workers` values (default %(default)s)")
    p.add_argument("--event-loops", default="auto", metavar="LIST",
                   help="--latency: `tgw up --event-loop` values this checkout's server runs on, comma-separated "
                        "(auto, uvloop, asyncio; default %(default)s)")
    p.add_argument("--compare-src", default=None, metavar="DIR",
                   help="--latency: also run every row against the code of another checkout (before/after)")
    p.add_argument("--pin", nargs="?", const="auto", default=None, metavar="SERVER/GENERATOR",
                   help="--latency: the server and its workers on one CPU set, the load generator on another "
                        "(Linux): SERVER/GENERATOR CPU lists such as 1/0, or auto (bare --pin: the generator on "
                        "the first CPU, the server on the rest)")
    p.add_argument("--sim", action="store_true",
                   help="the demo world for one simulated business day per size (simulation engine end to end)")
    p.add_argument("--sizes", default="1000,10000,100000", metavar="LIST",
                   help="--sim: comma-separated vouchers per day, each in its own process (default %(default)s)")
    p.add_argument("--conformance", action="store_true",
                   help="docs/conformance.md's script with the example bank over the catalogue: wall and CPU "
                        "time, gateway starts, fixed sleeps")
    p.add_argument("--compare-ref", default=None, metavar="REF",
                   help="--conformance: also run the script and code of this git revision (before/after)")
    p.add_argument("--scenarios", default=None, metavar="FILES",
                   help="--conformance: comma-separated scenario files (default: the whole catalogue)")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="where to write the JSON figures ('-' for nowhere; default bench/results/MODE.json: "
                        "floor, gateway, latency, sim or conformance)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="print a table, or json: the figures as -o writes them (the mode's own document: "
                        "machine, rows, ...)")
    p.set_defaults(func=cmd_bench, parser=p)
