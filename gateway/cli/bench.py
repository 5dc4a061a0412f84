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
import base64
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "measure", "register", "run_floor", "run_gateway_bench"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLES = REPO_ROOT / "samples"
DEFAULT_FLOOR_OUT = REPO_ROOT / "bench" / "results" / "floor.json"
DEFAULT_GATEWAY_OUT = REPO_ROOT / "bench" / "results" / "gateway.json"
ROUNDS = 5


def measure(func: Callable[[], object], budget_s: float, rounds: int = ROUNDS) -> dict[str, float]:
    """Median µs/op over `rounds` rounds, each of as many iterations as fit in budget_s/rounds."""
    func()  # warm caches (schemas, key objects) outside the timing
    t0 = time.perf_counter_ns()
    func()
    one = max(time.perf_counter_ns() - t0, 100)
    per_round_ns = budget_s * 1e9 / rounds
    iterations = max(1, min(1_000_000, int(per_round_ns / one)))
    results = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            func()
        results.append((time.perf_counter_ns() - start) / iterations / 1000)
    median = statistics.median(results)
    return {"us_per_op": round(median, 2), "ops_per_s": round(1e6 / median) if median else 0,
            "min_us": round(min(results), 2), "max_us": round(max(results), 2),
            "iterations": iterations, "rounds": rounds}


def _machine() -> dict[str, Any]:
    import cryptography
    from lxml import etree

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _openssl_version() -> str:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return str(backend.openssl_version_text())
    except Exception:  # noqa: BLE001 - a missing version string must not stop a benchmark
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def run_floor(seconds: float = 2.0, samples: Path = DEFAULT_SAMPLES,
              vtcodes: tuple[str, ...] = ("5201",)) -> dict[str, Any]:
    """Measure the per-voucher floor; returns {machine, vouchers: {vtcode: {step: figures}}}."""
    from messages.business import business_issues
    from messages.catalog import get_catalog
    from messages.envelope import SignatureEntry, VoucherBody, encode_envelope, parse_envelope
    from messages.keys import create_ca, issue_participant
    from messages.schema import validate_tree
    from messages.signing import CertificateStore, KeySigner, verify_signature
    from messages.validate import check_body, verify_body
    from messages.voucher import parse_voucher
    from messages.xmlsafe import DEFAULT_LIMITS, parse_xml

    catalog = get_catalog()
    result: dict[str, Any] = {"machine": _machine(), "seconds_budget": seconds, "vouchers": {}}
    with tempfile.TemporaryDirectory(prefix="tgw-bench-") as tmp:
        create_ca(Path(tmp) / "ca", days=30)
        signers: dict[tuple[str, str], KeySigner] = {}
        for role in ("treasury", "bank", "pboc"):
            for alg in ("ecdsa", "rsa"):
                files = issue_participant(Path(tmp) / "certs", participant_id=f"bench-{role}-{alg}", role=role,
                                          ca_dir=Path(tmp) / "ca", algorithm=alg, days=30)
                signers[(role, alg)] = KeySigner.from_files(files.key, files.cert)
        (Path(tmp) / "certs" / "ca.pem").write_bytes((Path(tmp) / "ca" / "ca.pem").read_bytes())
        store = CertificateStore.from_dir(Path(tmp) / "certs")
        at = dt.datetime.now(dt.UTC)

        n_steps = 13  # the steps measured per voucher type, below
        budget = seconds / max(1, len(vtcodes)) / n_steps

        def floor_of(vtcode: str) -> dict[str, Any]:
            voucher = (samples / vtcode / "original.xml").read_bytes()
            vt = catalog.get(vtcode)
            doc0 = parse_voucher(voucher)
            unsigned = VoucherBody(doc0.get("AdmDivCode"), doc0.get("StYear"), vtcode, doc0.get("VoucherNo"),
                                   0, voucher)
            body = unsigned
            for seal in vt.original_seals:
                s = signers[(seal.role, "ecdsa")]
                body = body.with_signature(SignatureEntry(seal.no, s.sn, s.sign(voucher)))
            envelope = encode_envelope([body])
            rsa_body = unsigned
            for seal in vt.original_seals:
                s = signers[(seal.role, "rsa")]
                rsa_body = rsa_body.with_signature(SignatureEntry(seal.no, s.sn, s.sign(voucher)))
            b64 = base64.b64encode(voucher)
            checked = check_body(body)
            assert not verify_body(checked, store, at=at), "bench setup: signatures must verify"
            rsa_checked = check_body(rsa_body)
            assert not verify_body(rsa_checked, store, at=at), "bench setup: RSA signatures must verify"
            ec_signer, rsa_signer = signers[(vt.sender, "ecdsa")], signers[(vt.sender, "rsa")]
            ec_pub, rsa_pub = ec_signer.certificate.public_key(), rsa_signer.certificate.public_key()
            ec_sig, rsa_sig = ec_signer.sign(voucher), rsa_signer.sign(voucher)
            limits = DEFAULT_LIMITS

            def full_ecdsa(env: bytes = envelope) -> None:
                for b in parse_envelope(env).bodies:
                    verify_body(check_body(b), store, at=at)

            steps: list[tuple[str, str, Callable[[], object]]] = [
                ("envelope_parse", "hardened envelope parse (parse_xml)",
                 lambda: parse_xml(envelope, bytes_max=limits.envelope_bytes_max, what="envelope")),
                ("envelope_decode", "envelope decode (parse_envelope: + envelope.xsd, base64)",
                 lambda: parse_envelope(envelope)),
                ("b64_inner_parse", "base64 + inner voucher parse",
                 lambda: parse_voucher(base64.b64decode(b64, validate=True))),
                ("xsd", f"XSD validation ({vt.xsd}, lxml)", lambda: validate_tree(checked.doc.root, vt.xsd)),
                ("business", "business checks", lambda: business_issues(checked.doc, vt, 0)),
                ("ecdsa_verify", "ECDSA-P256 verify", lambda: verify_signature(ec_pub, voucher, ec_sig)),
                ("ecdsa_sign", "ECDSA-P256 sign", lambda: ec_signer.sign(voucher)),
                ("rsa_verify", "RSA-2048 verify", lambda: verify_signature(rsa_pub, voucher, rsa_sig)),
                ("rsa_sign", "RSA-2048 sign", lambda: rsa_signer.sign(voucher)),
                ("check_body", "check_body (parse, key, XSD, business)", lambda: check_body(body)),
                ("check_verify_ecdsa",
                 f"check_body + verify_body, ECDSA, {len(vt.original_seals)} seal(s)",
                 lambda: verify_body(check_body(body), store, at=at)),
                ("check_verify_rsa",
                 f"check_body + verify_body, RSA, {len(vt.original_seals)} seal(s)",
                 lambda: verify_body(check_body(rsa_body), store, at=at)),
                ("envelope_to_verified", "parse_envelope + check_body + verify_body (ECDSA)", full_ecdsa),
            ]
            figures: dict[str, Any] = {"voucher_bytes": len(voucher), "envelope_bytes": len(envelope),
                                       "seals": len(vt.original_seals), "steps": {}}
            for key, label, func in steps:
                figures["steps"][key] = {"label": label, **measure(func, budget)}
            return figures

        for vtcode in vtcodes:
            result["vouchers"][vtcode] = floor_of(vtcode)
    return result


def _print_table(result: dict[str, Any], out: Any = None) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        Console = None
    m = result["machine"]
    head = (f"Python {m['python']}, lxml {m['lxml']} (libxml2 {m['libxml2']}), cryptography "
            f"{m['cryptography']}, {m['cpu_count']} CPU(s) {m['cpu']}, one core")
    for vtcode, fig in result["vouchers"].items():
        title = (f"Floor per voucher {vtcode}: voucher {fig['voucher_bytes']} B, "
                 f"envelope {fig['envelope_bytes']} B")
        if Console is None:
            print(title)
            for s in fig["steps"].values():
                print(f"  {s['label']:<60} {s['us_per_op']:>10.2f} µs {s['ops_per_s']:>10} /s")
            continue
        table = Table(title=title, caption=head)
        table.add_column("step")
        table.add_column("µs/op", justify="right")
        table.add_column("ops/s (1 core)", justify="right")
        table.add_column("min–max µs", justify="right")
        for s in fig["steps"].values():
            table.add_row(s["label"], f"{s['us_per_op']:.1f}", f"{s['ops_per_s']:,}",
                          f"{s['min_us']:.1f}–{s['max_us']:.1f}")
        Console(file=out or sys.stdout, width=120).print(table)


def run_gateway_bench(args: argparse.Namespace) -> int:
    from gateway.benchmark import ALL_TRANSPORTS, print_gateway_table, run_gateway, write_results

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
        _print_table(result)
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
