"""`tgw validate PATH...`: check envelopes and bare vouchers against the catalog, XSD and rules.

    tgw validate PATH... [--format text|json] [--receipt] [--quiet] [--summary] [--jobs N]
                         [--verify-signatures --certs DIR [--at ISO-DATETIME]]
    tgw validate --codes

Files are validated one at a time and each result is printed as soon as it is known (the JSON
list too is written item by item), so a directory of thousands of files starts answering at
once and never sits in memory. Exit codes: 0 every file valid, 1 some file invalid, 2 usage
error or unreadable input (a missing path, an unreadable file, a bad certificate directory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from messages.errors import CODES, InputError, Issue
from messages.files import UNREADABLE_CODES
from messages.validate import FileReport, iter_voucher_files, validate_file
from tgw.command_error import CommandError

__all__ = ["cmd_validate", "parse_at", "register"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
# Worker processes for --jobs: each is a Python interpreter with the XSDs loaded (tens of MB);
# beyond a few per core they only add memory and start-up time.
JOBS_MAX = 64


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= JOBS_MAX:
        raise argparse.ArgumentTypeError(f"--jobs must be 1..{JOBS_MAX}, not {text!r}")
    return n


def parse_at(text: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time; a naive one is taken as UTC."""
    if text is None:
        return None
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time "
                                         "(e.g. 2026-03-16T10:00:00+08:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------ work (also in pool workers)

_worker_kwargs: dict[str, Any] = {}


def _make_kwargs(receipt: bool, certs: str | None, at: dt.datetime | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"flag": 1 if receipt else None}
    if certs is not None:
        from messages.signing import CertificateStore

        kwargs["store"] = CertificateStore.from_dir(certs)
        kwargs["at"] = at or dt.datetime.now(dt.UTC)
    return kwargs


def _init_worker(receipt: bool, certs: str | None, at: dt.datetime | None) -> None:
    global _worker_kwargs
    _worker_kwargs = _make_kwargs(receipt, certs, at)


def _validate_in_worker(path: Path) -> FileReport:
    return validate_file(path, **_worker_kwargs)


def _reports(paths: Iterable[Path], kwargs: dict[str, Any], jobs: int,
             init: tuple[bool, str | None, dt.datetime | None]) -> Iterator[FileReport]:
    """Reports in input order, lazily; with jobs > 1 a process pool works a bounded way ahead."""
    if jobs <= 1:
        for path in paths:
            yield validate_file(path, **kwargs)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # A bounded window of chunks in flight: the file walk stays lazy and memory stays flat.
    window = jobs * 64
    ctx = get_context("fork") if sys.platform.startswith("linux") else None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=init) as pool:
        pending: deque[Any] = deque()
        chunk: list[Path] = []
        for path in paths:
            chunk.append(path)
            if len(chunk) == 32:
                pending.append(pool.submit(_validate_chunk, chunk))
                chunk = []
                while len(pending) * 32 >= window:
                    yield from pending.popleft().result()
        if chunk:
            pending.append(pool.submit(_validate_chunk, chunk))
        while pending:
            yield from pending.popleft().result()


def _validate_chunk(paths: list[Path]) -> list[FileReport]:
    return [_validate_in_worker(p) for p in paths]


# ------------------------------------------------------------------ output


def _print_text(report: FileReport, out: TextIO, quiet: bool) -> None:
    if report.ok:
        if not quiet:
            out.write(f"OK    {report.path}  ({report.vtcode or '?'})\n")
        return
    out.write(f"FAIL  {report.path}  ({report.vtcode or '?'})\n")
    for issue in report.errors:
        out.write(f"      {issue}\n")


def _print_codes(out: TextIO) -> None:
    width = max(len(c) for c in CODES)
    for code, meaning in CODES.items():
        out.write(f"{code:<{width}}  {meaning}\n")


def cmd_validate(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    if args.codes:
        _print_codes(out)
        return EXIT_OK
    if not args.paths:
        raise CommandError.usage("give at least one file or directory (or --codes)")
    if args.verify_signatures and not args.certs:
        raise CommandError.usage("--verify-signatures needs --certs DIR (ca.pem and the participants' "
                                    "certificates)")
    if args.certs and not args.verify_signatures:
        args.verify_signatures = True  # --certs alone clearly asks for signature checks
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    if missing:
        for p in missing:  # every one named (a CommandError would name the first only)
            print(f"tgw validate: error: io-unreadable: {p}: no such file or directory", file=sys.stderr)
        if args.format == "json":  # as a file that cannot be read in a directory is reported
            reports = [FileReport(str(p), False, None, [Issue("io-unreadable", "cannot read: no such file or directory")])
                       for p in missing]
            out.write("[\n" + ",\n".join(json.dumps(r.as_dict(), ensure_ascii=False) for r in reports) + "\n]\n")
        return EXIT_USAGE
    certs = args.certs if args.verify_signatures else None
    try:
        kwargs = _make_kwargs(args.receipt, certs, args.at)
    except InputError as exc:  # the --certs directory
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    jobs = max(1, args.jobs)

    total = ok = invalid = unreadable = emitted = 0
    as_json = args.format == "json"
    if as_json:
        out.write("[")
    try:
        for report in _reports(iter_voucher_files(paths), kwargs, jobs, (args.receipt, certs, args.at)):
            total += 1
            if report.ok:
                ok += 1
            elif any(e.code in UNREADABLE_CODES for e in report.errors):
                unreadable += 1
            else:
                invalid += 1
            if as_json:
                if args.quiet and report.ok:
                    continue
                out.write(",\n" if emitted else "\n")
                out.write(json.dumps(report.as_dict(), ensure_ascii=False))
                emitted += 1
            else:
                _print_text(report, out, args.quiet)
    finally:
        if as_json:
            out.write("\n]\n")
        out.flush()
    if args.summary:
        parts = [f"{ok} ok", f"{invalid} invalid"]
        if unreadable:
            parts.append(f"{unreadable} unreadable")
        print(f"{total} files: " + ", ".join(parts), file=sys.stderr)
    if unreadable:
        return EXIT_USAGE
    return EXIT_INVALID if invalid else EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check envelopes and vouchers (catalog, XSD, business rules, optionally signatures)",
        description=(
            "Check MOF envelopes and bare voucher files: hardened XML parse, envelope structure, "
            "catalog VtCode, the type's XSD, business rules (dates, StYear, detail sums, receipt "
            "X-fields) and, with --verify-signatures, the seals. Directories are searched "
            "recursively for *.xml. Each result is printed as soon as it is known."),
        epilog=("Exit codes: 0 all valid, 1 some file invalid, 2 usage error or unreadable input. "
                "`tgw validate --codes` lists every error code."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="envelope or voucher files, or directories")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: one line per file, then one per error; json: a list of "
                        "{path, ok, vtcode, errors: [{code, message, line, path}]} (default text)")
    p.add_argument("--receipt", action="store_true",
                   help="treat bare vouchers as receipts (VoucherFlag 1); by default a bare voucher is "
                        "a receipt only if its file name says 'receipt'. Envelopes carry their own flag")
    p.add_argument("--verify-signatures", action="store_true",
                   help="also check every envelope's signatures at the seal positions its VtCode requires")
    p.add_argument("--certs", metavar="DIR",
                   help="certificate directory for signature checks: ca.pem (trust anchor) and one "
                        "*.pem per participant")
    p.add_argument("--at", type=parse_at, metavar="ISO-DATETIME",
                   help="check certificate validity at this time instead of now (naive = UTC)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the files that fail")
    p.add_argument("--summary", action="store_true",
                   help="print a final count line to stderr, e.g. '1203 files: 1200 ok, 3 invalid'")
    p.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                   help=f"validate in N worker processes, 1..{JOBS_MAX} (default 1; order of results is kept)")
    p.add_argument("--codes", action="store_true", help="print the table of error codes and exit")
    p.set_defaults(func=cmd_validate)
