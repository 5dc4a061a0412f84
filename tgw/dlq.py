"""`tgw dlq list|replay`: dead letters (pushes never acknowledged) and their replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from messages.errors import StateError
from tgw.command_error import EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]

# = gateway.outbox.DLQ_PAGE_MAX (a test keeps them equal); not imported, because every `tgw`
# command builds this parser and the outbox module loads the whole journal.
DLQ_PAGE_MAX = 1000


def _page_size(text: str) -> int:
    n = int(text)
    if not 1 <= n <= DLQ_PAGE_MAX:
        raise argparse.ArgumentTypeError(f"--limit must be 1..{DLQ_PAGE_MAX}")
    return n


def _cursor(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError("--after must be a cursor printed as `next` (an integer ≥ 0)")
    return n


def register(sub: Any) -> None:
    p = sub.add_parser("dlq", help="list or replay dead-lettered messages",
                       description="Dead letters are outbox messages a push recipient never acknowledged "
                                   "after the configured attempts. Replay puts them back to be delivered; "
                                   "a running gateway picks them up within its poll interval.")
    ps = p.add_subparsers(dest="dlq_command", metavar="ACTION")
    # name, handler, its line in `tgw dlq --help`, its own --help, its JSON document
    actions = (
        ("list", cmd_list, "list dead letters",
         "One page of the dead letters of the gateway's database, oldest first: message id, voucher, sender and "
         "recipient, push attempts and the last error.",
         "{total, items: [{seq, id, sender, recipient, attempts, last_error, voucher}], next} (next: the --after "
         "of the next page, or null)"),
        ("replay", cmd_replay, "replay dead letters",
         "Put dead letters (--id, or --all) back in the outbox to be delivered again; a running gateway picks "
         "them up within its poll interval.",
         "{replayed: N}"),
    )
    for name, func, text, said, shape in actions:
        q = ps.add_parser(name, help=text, description=said)
        q.add_argument("--db", required=True, help="sqlite:///PATH or postgresql://... of the gateway")
        q.add_argument("--db-schema")
        q.add_argument("--format", choices=["text", "json"], default="text", help=f"json: {shape} (default text)")
        if name == "list":
            q.add_argument("--limit", type=_page_size, default=DLQ_PAGE_MAX,
                           help=f"dead letters per page (1..{DLQ_PAGE_MAX}, default {DLQ_PAGE_MAX})")
            q.add_argument("--after", type=_cursor, default=0, metavar="CURSOR",
                           help="page after this cursor (the `next` of the previous page; default: first page)")
        if name == "replay":
            g = q.add_mutually_exclusive_group(required=True)
            g.add_argument("--id", action="append", dest="ids", help="message id (repeatable)")
            g.add_argument("--all", action="store_true")
            q.epilog = ("Exit codes: 0 replayed, also when there was nothing to replay (it says so on stderr); 2 "
                        "usage, or the database cannot be read.")
        else:
            q.epilog = "Exit codes: 0 listed (also none), 2 usage, or the database cannot be read."
        q.set_defaults(func=func)
    p.set_defaults(func=choose_action(p))


async def _with_outbox(args: argparse.Namespace, action: Any, *, read_only: bool) -> Any:
    from gateway.outbox import Outbox
    from tgw.gateway_db import open_gateway_db

    db = await open_gateway_db(args, read_only=read_only)
    try:
        return await action(Outbox(db))
    finally:
        await db.close()


def cmd_list(args: argparse.Namespace) -> int:
    try:
        page = asyncio.run(_with_outbox(args, lambda o: o.dead_page(limit=args.limit, after_seq=args.after),
                                        read_only=True))
    except StateError as exc:  # the database failed under the command (the --db itself is checked first)
        raise CommandError("unavailable", str(exc), exit=EXIT_USAGE) from exc
    if args.format == "json":
        print(json.dumps(page, indent=2))  # {"total": N, "items": [...], "next": cursor or null}
    else:
        from tgw.text_table import text_table

        rows = page["items"]
        if rows:
            print(text_table(["message", "voucher", "from → to", "attempts", "last error"],
                             [[r["id"], r["voucher"], f"{r['sender']} → {r['recipient']}", r["attempts"],
                               r["last_error"] or ""] for r in rows], "lllrl"))
        more = f"; next page: --after {page['next']}" if page["next"] is not None else ""
        print(f"{len(rows)} of {page['total']} dead letter(s) shown{more}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        n = asyncio.run(_with_outbox(args, lambda o: o.replay(None if args.all else args.ids), read_only=False))
    except StateError as exc:  # the database failed under the command (the --db itself is checked first)
        raise CommandError("unavailable", str(exc), exit=EXIT_USAGE) from exc
    print(json.dumps({"replayed": n}) if args.format == "json" else f"replayed {n} message(s)")
    named = 0 if args.all else len(set(args.ids))
    if n < named:  # nothing (more) to do is not a failure: a replay run twice ends the same
        print(f"tgw dlq replay: {named - n} of the {named} message(s) named not replayed: not a dead letter "
              "(replayed already, delivered, or no such message)", file=sys.stderr)
    elif not n:
        print("tgw dlq replay: nothing to replay: no dead letters", file=sys.stderr)
    return 0
