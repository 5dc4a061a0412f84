"""`tgw bench`: measure what one voucher costs.

    tgw bench --floor [--seconds S] [--samples DIR] [--vtcodes 5201,8202] [-o FILE] [--format text|json]
    tgw bench --gateway [--vouchers N] [--batch B] [--concurrency C] [--transports inproc,http,http-up,mqtt]
                        [--db sqlite|postgresql://...] [--repeat R] [--no-profile] [-o FILE]
                        [--format text|json]

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

This is a measurement, not a test: nothing asserts on a time. Other modes (e.g. `--gateway`,
end to end over HTTP) add their own flag and `run_<mode>()` function beside `run_floor`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run_gateway_bench"]

from tgw.floor import DEFAULT_FLOOR_OUT, DEFAULT_SAMPLES, REPO_ROOT, print_floor_table, run_floor

DEFAULT_GATEWAY_OUT = REPO_ROOT / "bench" / "results" / "gateway.json"


def run_gateway_bench(args: argparse.Namespace) -> int:
    from tgw.benchmark import ALL_TRANSPORTS, print_gateway_table, run_gateway, write_results

    transports = tuple(t.strip() for t in args.transports.split(",") if t.strip())
    unknown = [t for t in transports if t not in ALL_TRANSPORTS]
    if unknown or not transports:
        print(f"tgw bench: error: unknown transport(s) {', '.join(unknown) or '(none)'}; "
              f"choose from {', '.join(ALL_TRANSPORTS)}", file=sys.stderr)
        return 2
    if min(args.vouchers, args.batch, args.concurrency, args.repeat, args.pool_workers) < 1:
        print("tgw bench: error: --vouchers, --batch, --concurrency, --repeat and --pool-workers must be at "
              "least 1", file=sys.stderr)
        return 2
    db = args.db
    if not (db == "sqlite" or db.startswith(("sqlite:///", "postgresql://", "postgres://"))):
        print("tgw bench: error: --db is sqlite (a fresh file per path), sqlite:///PATH or postgresql://...",
              file=sys.stderr)
        return 2
    output = DEFAULT_GATEWAY_OUT if args.output is None else Path(args.output) if args.output != "-" else None
    result = run_gateway(vouchers=args.vouchers, batch=args.batch, transports=transports, db_url=db,
                         concurrency=args.concurrency, profile=not args.no_profile,
                         pool_workers=args.pool_workers, floor_seconds=min(args.seconds, 1.0),
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


def cmd_bench(args: argparse.Namespace) -> int:
    if not args.floor and not args.gateway:
        args.parser.print_help(sys.stderr)
        print("\ntgw bench: error: choose what to measure (--floor or --gateway)", file=sys.stderr)
        return 2
    if args.floor and args.gateway:
        print("tgw bench: error: --floor and --gateway are separate runs; choose one", file=sys.stderr)
        return 2
    if args.gateway:
        return run_gateway_bench(args)
    if args.output is None:
        args.output = str(DEFAULT_FLOOR_OUT)
    if args.seconds <= 0:
        print("tgw bench: error: --seconds must be positive", file=sys.stderr)
        return 2
    samples = Path(args.samples)
    vtcodes = tuple(v.strip() for v in args.vtcodes.split(",") if v.strip())
    missing = [v for v in vtcodes if not (samples / v / "original.xml").is_file()]
    if missing:
        print(f"tgw bench: error: io-unreadable: no {samples}/<vtcode>/original.xml for {', '.join(missing)}",
              file=sys.stderr)
        return 2
    result = run_floor(args.seconds, samples, vtcodes)
    if args.format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_floor_table(result)
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"written: {out}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="measure per-voucher costs (--floor) and gateway throughput (--gateway)",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--floor", action="store_true",
                   help="in-process cost of each pipeline step per voucher, one core")
    p.add_argument("--seconds", type=float, default=2.0,
                   help="total time budget for the measurement (default %(default)s)")
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
    p.add_argument("--transports", default="inproc,inproc-pool,http,http-up,http-up-pool,mqtt", metavar="LIST",
                   help="--gateway: comma-separated paths: inproc, inproc-pool (pipeline in worker processes), "
                        "http (server in this process), http-up (a `tgw up` subprocess), http-up-pool "
                        "(`tgw up --workers N`), mqtt (default %(default)s)")
    p.add_argument("--db", default="sqlite",
                   help="--gateway: sqlite (a fresh file per path; default), sqlite:///PATH or postgresql://... "
                        "(a fresh schema per path)")
    p.add_argument("--pool-workers", type=int, default=2, help="--gateway: admission worker processes for inproc-pool and http-up-pool (default 2)")
    p.add_argument("--repeat", type=int, default=1,
                   help="--gateway: run the paths in turn this many times; each reports its median run "
                        "(default %(default)s)")
    p.add_argument("--no-profile", action="store_true", help="--gateway: skip the cProfile run")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="where to write the JSON figures ('-' for nowhere; default bench/results/floor.json "
                        "or bench/results/gateway.json)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="print a table or the JSON")
    p.set_defaults(func=cmd_bench, parser=p)
