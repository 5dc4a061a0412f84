"""`tgw monitor rules validate|show|schema` and `tgw monitor holds list|release|reject`.

Holds are worked on the gateway's database directly (`--db`, like `tgw dlq`): a release
journals the voucher there, and the running gateway delivers it within its poll interval. The
officer's name (`--by`) is recorded in the audit as `cli:NAME`. Over HTTP the same is
`POST /v1/monitor/holds/{id}/release|reject` with a treasury token (docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from messages.errors import InputError, StateError
from messages.files import read_error_code
from tgw.command_error import EXIT_FAILED, EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]

HOLDS_PAGE_MAX = 500  # = gateway.monitoring.store.HOLDS_PAGE_MAX (not imported: it loads the journal)


def _limit(text: str) -> int:
    n = int(text)
    if not 1 <= n <= HOLDS_PAGE_MAX:
        raise argparse.ArgumentTypeError(f"--limit must be 1..{HOLDS_PAGE_MAX}")
    return n


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="dynamic monitoring: the rule catalogue and held payments",
                       description="The monitoring rule catalogue (YAML, versioned, JSON Schema) and the payments "
                                   "it holds for a treasury officer. docs/monitoring.md describes every rule.")
    ps = p.add_subparsers(dest="monitor_command", metavar="{rules,holds}")
    rules = ps.add_parser("rules", help="validate or show a rule catalogue",
                          description="The monitoring rule catalogue: validate a file, show its rules, print its "
                                      "JSON Schema.")
    rs = rules.add_subparsers(dest="rules_command", metavar="{validate,show,schema}")
    v = rs.add_parser("validate", help="check a catalogue file: exit 0 valid, 1 invalid, 2 unreadable",
                      description="Check a monitoring rule catalogue (YAML) against its schema and the rules' "
                                  "parameters; every error, and warnings.",
                      epilog="Exit codes: 0 valid, 1 invalid, 2 usage or a file that cannot be read.")
    v.add_argument("file")
    v.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: {file, valid: true, version, rules (their count), warnings} or {file, valid: "
                        "false, errors} (default text)")
    v.set_defaults(func=cmd_validate)
    s = rs.add_parser("show", help="the rules of a catalogue file (default: the bundled one)",
                      description="Print the rules of a catalogue file (default: the bundled one): id, grade, "
                                  "description and parameters.",
                      epilog="Exit codes: 0 shown, 1 an invalid catalogue (config-invalid), 2 usage or a file "
                             "that cannot be read.")
    s.add_argument("file", nargs="?")
    s.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the catalogue {version, applies_to, rules: [{id, grade, description, params, "
                        "enabled}]} (default text)")
    s.set_defaults(func=cmd_show)
    sc = rs.add_parser("schema", help="print the catalogue's JSON Schema",
                       description="Print the rule catalogue's JSON Schema.", epilog="Exit codes: 0 printed.")
    sc.set_defaults(func=cmd_schema)
    rules.set_defaults(func=choose_action(rules))

    holds = ps.add_parser("holds", help="list, release or reject held payments (on the gateway's --db)",
                          description="The payments the monitoring rules hold, on the gateway's database: list "
                                      "them; a treasury officer releases or rejects one, with a reason, recorded "
                                      "in the audit.")
    hs = holds.add_subparsers(dest="holds_command", metavar="{list,release,reject}")
    decided = ("Exit codes: 0 decided, 1 no such hold (not-found) or one decided already (hold-decided), 2 usage "
               "or a database that cannot be read.")
    for name, text, epilog, shape in (
            ("list", "held payments, oldest first",
             "Exit codes: 0 listed (also none), 2 usage or a database that cannot be read.",
             "{holds: [...], next} (next: the --after of the next page, or null)"),
            ("release", "release a hold: the voucher is journaled for its bank", decided, "the hold as decided"),
            ("reject", "reject a hold: the voucher never reaches the bank", decided, "the hold as decided")):
        q = hs.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]} (on the gateway's --db; "
                          "docs/monitoring.md).", epilog=epilog)
        q.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://... of the gateway")
        q.add_argument("--db-schema")
        q.add_argument("--format", choices=["text", "json"], default="text", help=f"json: {shape} (default text)")
        if name == "list":
            q.add_argument("--status", choices=["held", "released", "rejected"])
            q.add_argument("--limit", type=_limit, default=100, help=f"1..{HOLDS_PAGE_MAX} (default 100)")
            q.add_argument("--after", default="", metavar="CURSOR", help="the `next` of the previous page")
            q.set_defaults(func=cmd_holds_list)
        else:
            q.add_argument("id", help="the hold id (tgw monitor holds list)")
            q.add_argument("--by", required=True, help="the treasury officer deciding (recorded as cli:NAME)")
            q.add_argument("--reason", required=True, help="why (recorded in the audit)")
            q.add_argument("--rules", help="the catalogue in force (its version goes in the audit; default bundled)")
            q.set_defaults(func=cmd_holds_decide, action=name)
    holds.set_defaults(func=choose_action(holds))
    p.set_defaults(func=choose_action(p))


def _unreadable(file: str, exc: OSError) -> CommandError:
    return CommandError(read_error_code(exc), f"{file}: {exc.strerror or exc}", exit=EXIT_USAGE)


def cmd_validate(args: argparse.Namespace) -> int:
    from gateway.monitoring.rules import CatalogueError, load_catalogue

    try:
        cat = load_catalogue(args.file)
    except OSError as exc:
        raise _unreadable(args.file, exc) from exc
    except CatalogueError as exc:
        if args.format == "json":
            print(json.dumps({"file": args.file, "valid": False, "errors": exc.errors}, ensure_ascii=False))
        else:
            for err in exc.errors:
                print(f"{args.file}: {err}")
        return 1
    if args.format == "json":
        print(json.dumps({"file": args.file, "valid": True, "version": cat.version, "rules": len(cat.rules),
                          "warnings": list(cat.warnings)}, ensure_ascii=False))
    else:
        print(f"{args.file}: valid, version {cat.version}, {len(cat.rules)} rules")
        for w in cat.warnings:
            print(f"{args.file}: warning: {w}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from gateway.monitoring.rules import CatalogueError, default_catalogue, load_catalogue

    try:
        cat = load_catalogue(args.file) if args.file else default_catalogue()
    except OSError as exc:
        raise _unreadable(args.file, exc) from exc
    except CatalogueError as exc:
        raise CommandError("config-invalid", str(exc), exit=EXIT_FAILED) from exc
    if args.format == "json":
        print(json.dumps(cat.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"catalogue {cat.version} ({cat.source}); applies to VtCode {', '.join(sorted(cat.applies_to))}")
    for r in cat.rules:
        params = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in r.params.items())
        print(f"  {r.id:<26} {r.grade:<8}{'' if r.enabled else ' (disabled)'} {r.description}")
        if params:
            print(f"  {'':<26} {params}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from gateway.monitoring.rules import SCHEMA

    print(json.dumps(SCHEMA, ensure_ascii=False, indent=2))
    return 0


async def _with_store(args: argparse.Namespace, action: Any, *, read_only: bool, absent: Any) -> Any:
    """`action(store)` on the gateway's --db; `absent` when it has no monitoring tables (monitoring
    was never on there): none is created, least of all by a command that only reads."""
    from gateway.monitoring.store import MonitorStore
    from tgw.gateway_db import has_tables, open_gateway_db

    db = await open_gateway_db(args, read_only=read_only)
    try:
        if not await has_tables(db, "mon_holds", "mon_decisions"):
            return absent
        store = MonitorStore(db)
        if not read_only:
            await store.init_schema()
        return await action(store)
    finally:
        await db.close()


def cmd_holds_list(args: argparse.Namespace) -> int:
    try:
        holds = asyncio.run(_with_store(args, lambda store: store.holds(status=args.status, after=args.after,
                                                                       limit=args.limit),
                                        read_only=True, absent=[]))
    except StateError as exc:  # the database failed under the command (the --db itself is checked first)
        raise CommandError("unavailable", str(exc), exit=EXIT_USAGE) from exc
    nxt = holds[-1].id if len(holds) == args.limit else None
    if args.format == "json":
        print(json.dumps({"holds": [h.as_dict() for h in holds], "next": nxt}, ensure_ascii=False))
        return 0
    from messages.money import fen_to_str
    from tgw.text_table import text_table

    if not holds:
        print(f"no {args.status or ''} holds".replace("  ", " "), file=sys.stderr)
        return 0
    print(text_table(["hold", "status", "voucher", "amount (yuan)", "rule (grade)", "from → to", "held at",
                      "decided"],
                     [[h.id, h.status, "/".join(h.key[:4]), fen_to_str(h.amount_fen), f"{h.rule_id} ({h.grade})",
                       f"{h.sender} → {h.recipient}", h.held_at[:19].replace("T", " "),
                       f"by {h.decided_by}: {h.reason}" if h.decided_by else ""] for h in holds], "lllrllll"))
    if nxt:
        print(f"next: {nxt}  (--after {nxt} for the next page)")
    return 0


def cmd_holds_decide(args: argparse.Namespace) -> int:
    from gateway.journal import Journal
    from gateway.monitoring.monitor import HoldStateError, Monitor
    from gateway.monitoring.rules import CatalogueError, default_catalogue, load_catalogue

    if not args.reason.strip() or not args.by.strip():
        raise CommandError.usage("--by and --reason must not be empty")
    try:
        catalogue = load_catalogue(args.rules) if args.rules else default_catalogue()
    except OSError as exc:
        raise _unreadable(args.rules, exc) from exc
    except CatalogueError as exc:
        raise CommandError("config-invalid", f"--rules: {exc}", exit=EXIT_USAGE) from exc

    async def decide(store: Any) -> Any:
        monitor = Monitor(catalogue, store)
        journal = Journal(store.db)
        await journal.start()
        monitor.attach(journal, lambda: None)
        try:
            at = dt.datetime.now(dt.UTC).astimezone()
            fn = monitor.release if args.action == "release" else monitor.reject
            return await fn(args.id, who=f"cli:{args.by.strip()}", reason=args.reason.strip(), at=at)
        finally:
            await journal.stop()

    try:
        hold = asyncio.run(_with_store(args, decide, read_only=False, absent=None))
    except HoldStateError as exc:
        raise CommandError("hold-decided", str(exc), exit=EXIT_FAILED) from exc
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except StateError as exc:
        raise CommandError("unavailable", str(exc), exit=EXIT_USAGE) from exc
    if hold is None:
        raise CommandError("not-found", f"no hold {args.id}", exit=EXIT_FAILED)
    print(json.dumps(hold.as_dict(), ensure_ascii=False) if args.format == "json"
          else f"{hold.id}: {hold.status} by {hold.decided_by}: {hold.reason}")
    return 0
