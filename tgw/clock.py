"""`tgw clock`: the business time, whether today is a business day, and the next cutoffs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from typing import Any

from messages.errors import CODES
from tgw.command_error import EXIT_FAILED, EXIT_USAGE, CommandError

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("clock", help="show business time and the next cutoffs",
                       description="Show the business clock. With --url, ask a running gateway (its clock may be "
                                   "simulated; --advance-to moves a simulated one). Without, compute from the "
                                   "wall clock (or --at) with the shipped calendar and default cutoffs.")
    p.epilog = ("Exit codes: 0 shown (or moved), 1 the gateway refused (its code and message said), 2 usage, or "
                "the gateway at --url cannot be reached (unavailable).")
    p.add_argument("--url", help="gateway base URL, e.g. http://127.0.0.1:8470")
    p.add_argument("--token", help="bearer token for --url")
    p.add_argument("--at", help="ISO datetime to evaluate instead of now (local mode)")
    p.add_argument("--advance-to", help="ISO datetime: advance a running simulated clock (with --url)")
    p.add_argument("--calendar-overrides", help="override file for the calendar (local mode)")
    p.add_argument("--calendar-dir", help="directory of year blocks (`tgw calendar load`) to add (local mode)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the clock as GET /v1/clock answers it: {now, simulated, business_day, next_cutoffs: "
                        "[{name, at, provisional}], ...} (default text)")
    p.set_defaults(func=run)


def _local_view(args: argparse.Namespace) -> dict[str, Any]:
    from business_time.calendar import BusinessCalendar
    from business_time.calendar_dir import read_blocks
    from business_time.clock import TZ, ClockConfig, cutoffs_view

    blocks = read_blocks(args.calendar_dir) if args.calendar_dir else []
    calendar = (BusinessCalendar.from_file(args.calendar_overrides, blocks=blocks) if args.calendar_overrides
                else BusinessCalendar.default(blocks=blocks))
    now = dt.datetime.fromisoformat(args.at) if args.at else dt.datetime.now(TZ)
    if now.tzinfo is None:
        now = now.replace(tzinfo=TZ)
    now = now.astimezone(TZ)
    view: dict[str, Any] = {"now": now.isoformat(), "simulated": False}
    view.update(cutoffs_view(now, calendar, ClockConfig()))
    return view


async def _remote_view(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = args.url.rstrip("/") + "/v1/clock"
        if args.advance_to:
            resp = await session.post(url, json={"advance_to": args.advance_to})
        else:
            resp = await session.get(url)
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CommandError("http-error", f"{url} answered HTTP {resp.status} without the gateway's JSON "
                                             "(another server, or a proxy's error page?)", exit=EXIT_FAILED)
        if resp.status >= 400:
            code = body.get("code")  # the gateway's own refusal, said with its code
            raise CommandError(code if code in CODES else "unknown-code",
                               f"{body.get('message')} (HTTP {resp.status} {code})", exit=EXIT_FAILED)
        return body


def run(args: argparse.Namespace) -> int:
    from messages.errors import InputError

    # a flag of the other mode would be ignored silently: a usage error instead
    wrong = ([f for f, v in (("--at", args.at), ("--calendar-overrides", args.calendar_overrides),
                                  ("--calendar-dir", args.calendar_dir)) if v]
             if args.url else [f for f, v in (("--advance-to", args.advance_to), ("--token", args.token)) if v])
    if wrong:
        raise CommandError.usage(f"{', '.join(wrong)} " + ("is for the local clock, not with --url" if args.url
                                                           else "needs --url (a running gateway's clock)"))
    import aiohttp

    try:
        view = asyncio.run(_remote_view(args)) if args.url else _local_view(args)
    except InputError as exc:  # the calendar overrides or directory
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except ValueError as exc:  # --at that is no date-time
        raise CommandError.usage(str(exc)) from exc
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        # a gateway that cannot be reached is input that cannot be read, as a --db elsewhere: exit 2
        raise CommandError("unavailable", f"cannot reach the gateway at {args.url}: {exc}", exit=EXIT_USAGE) from exc
    except aiohttp.ClientError as exc:  # an answer that is not the gateway's JSON
        raise CommandError("http-error", f"{args.url}: {exc}", exit=EXIT_FAILED) from exc
    if "calendar_error" in view and not view.get("next_cutoffs"):
        # every cutoff ahead falls on a day the calendar does not know: nothing to show, refused as
        # any question about that day (a partial answer, on the last day before its close, is shown)
        raise CommandError("calendar-out-of-range", str(view["calendar_error"]).removeprefix("calendar-out-of-range: "),
                           exit=EXIT_USAGE)
    if args.format == "json":
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    mode = "simulated" if view.get("simulated") else "live"
    day = "business day" if view.get("business_day") else "not a business day"
    print(f"business time {view['now']} ({mode}; {day})")
    if view.get("provisional"):
        print("PROVISIONAL: these rest on a calendar year computed from the statutory holidays, not on the "
              "State Council's notice (docs/calendar.md)")
    if "calendar_error" in view:
        print(f"calendar: {view['calendar_error']}")
    from rich.console import Console
    from rich.table import Table

    table = Table("next cutoff / deadline", "at", "provisional")
    for c in view.get("next_cutoffs", []):
        table.add_row(c["name"], c["at"], "yes" if c.get("provisional") else "")
    Console().print(table)
    return 0
