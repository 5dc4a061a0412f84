"""`tgw calendar provisional|load|show`: the business calendar's years beyond the shipped data.

`provisional YEAR` writes a year block computed from the statutory holidays (marked provisional,
no make-up days); `load FILE --calendar-dir DIR` checks a block (official: the State Council
notice's dates, title and date) and installs it where `tgw up --calendar-dir DIR` reads it, and
the running gateway takes it without a restart; `show [YEAR]` lists what the calendar knows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from messages.errors import InputError
from tgw.command_error import EXIT_FAILED, EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _year(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a year") from None


def register(sub: Any) -> None:
    p = sub.add_parser("calendar", help="provisional and official years of the business calendar",
                       description="The business calendar knows the years of the chinesecalendar package (and "
                                   "the override file). A later year is added as a year block in the directory "
                                   "`tgw up --calendar-dir DIR` reads: the official one from the State Council's "
                                   "notice, or, until it is published, a provisional one computed from the "
                                   "statutory holidays. See docs/calendar.md.",
                       epilog="Exit codes: 0 ok, 1 the block or year fails a check, 2 usage or unreadable file.")
    ps = p.add_subparsers(dest="calendar_command", metavar="ACTION")

    q = ps.add_parser("provisional", help="write a provisional year block from the statutory holidays",
                      description="Compute YEAR's statutory holidays (全国年节及纪念日放假办法: New Year 1 day, "
                                  "Spring Festival 4 from New Year's Eve, Qingming 1, Labour Day 2, Dragon Boat 1, "
                                  "Mid-Autumn 1, National Day 3, as revised for 2025 on) and write them as a "
                                  "block marked `provisional: true`, without make-up days. Nothing runs on it "
                                  "until you `tgw calendar load` it.",
                      epilog="Example: tgw calendar provisional 2027 -o 2027.provisional.yaml && "
                             "tgw calendar load 2027.provisional.yaml --calendar-dir /etc/tgw/calendar.d. "
                             "Exit codes: 0 written (a year known officially too, with a note that such a block is "
                             "ignored), 2 usage or a FILE that cannot be written.")
    q.add_argument("year", type=_year, metavar="YEAR")
    q.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    q.set_defaults(func=cmd_provisional)

    q = ps.add_parser("load", help="check a year block and install it into the calendar directory",
                      description="Check FILE (an official block: the notice's title and date, every weekday "
                                  "holiday and weekend make-up day of the year, all statutory holidays; a "
                                  "provisional block: exactly what `provisional` computes) and that the calendar "
                                  "with it has no gap, then install it as DIR/YYYY.yaml, replacing the year's "
                                  "block (an official block replaces a provisional one, never the reverse). A "
                                  "gateway started with --calendar-dir DIR picks it up within a minute, or at "
                                  "once on SIGHUP.",
                      epilog="Exit codes: 0 installed (or, --dry-run, checked), 1 the block fails a check "
                             "(calendar-block-invalid, naming the element; nothing installed), 2 usage or a file "
                             "that cannot be read.")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--calendar-dir", required=True, metavar="DIR", help="the directory `tgw up --calendar-dir` reads")
    q.add_argument("--calendar-overrides", metavar="FILE", help="the override file the gateway uses, if not the "
                                                                "shipped one (to check the whole calendar)")
    q.add_argument("--dry-run", action="store_true", help="check only; install nothing")
    q.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: {year, kind, path, installed, replaced, notice, last_day, provisional_years} "
                        "(default text)")
    q.set_defaults(func=cmd_load)

    q = ps.add_parser("show", help="the known years, or one year's holidays and make-up days",
                      description="Without YEAR: the range the calendar knows and which years are provisional. "
                                  "With YEAR: its weekday holidays and weekend make-up working days.",
                      epilog="Exit codes: 0 shown, 1 YEAR is not known (calendar-out-of-range) or a block of "
                             "--calendar-dir fails its checks, 2 usage or a file that cannot be read.")
    q.add_argument("year", type=_year, nargs="?", metavar="YEAR")
    q.add_argument("--calendar-dir", metavar="DIR", help="year blocks to add (as `tgw up --calendar-dir`)")
    q.add_argument("--calendar-overrides", metavar="FILE", help="override file (default: the shipped one)")
    q.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: {first_day, last_day, provisional_years, superseded}; with YEAR {year, provisional, "
                        "notice, days: [{date, weekday, kind, statutory}]} (default text)")
    q.set_defaults(func=cmd_show)
    p.set_defaults(func=choose_action(p))


def cmd_provisional(args: argparse.Namespace) -> int:
    from business_time.calendar import BusinessCalendar
    from business_time.year_block import provisional_block, render_block

    try:
        block = provisional_block(args.year)
    except InputError as exc:  # a year the rules cannot compute
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    first, last = BusinessCalendar.default().known_range
    if first.year <= args.year <= last.year:
        print(f"tgw calendar: note: {args.year} is known officially; a provisional block for it is ignored",
              file=sys.stderr)
    text = render_block(block)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {args.year}, provisional (the statutory holidays, no make-up days); "
              f"install it with: tgw calendar load {args.output} --calendar-dir DIR", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _calendar(overrides: str | None, blocks: list[Any]) -> Any:
    from business_time.calendar import BusinessCalendar

    return (BusinessCalendar.from_file(overrides, blocks=blocks) if overrides
            else BusinessCalendar.default(blocks=blocks))


def cmd_load(args: argparse.Namespace) -> int:
    from business_time.calendar_dir import block_path, install_block, read_block_file, read_blocks

    try:
        block = read_block_file(args.file)
        others = [b for b in read_blocks(args.calendar_dir) if b.year != block.year]
        calendar = _calendar(args.calendar_overrides, [*others, block])  # no gap, no clash with the overrides
        if block in calendar.superseded:
            raise InputError("calendar-block-invalid", f"{args.file}: {block.year} is known officially already; "
                                                       "a provisional block for it would be ignored")
        path = block_path(args.calendar_dir, block.year)
        previous = read_block_file(path) if path.exists() else None
        if block.provisional and previous is not None and not previous.provisional:
            raise InputError("calendar-block-invalid", f"{path} holds the official block of {block.year}; "
                                                       "a provisional one never replaces it")
        if not args.dry_run:
            install_block(block, args.calendar_dir)
    except InputError as exc:
        raise CommandError.of(exc) from exc  # 2 for a file not read, else 1
    kind = "provisional" if block.provisional else "official"
    was = None if previous is None else ("provisional" if previous.provisional else "official")
    result = {"year": block.year, "kind": kind, "path": str(path), "installed": not args.dry_run, "replaced": was,
              "notice": {"title": block.notice_title, "date": block.notice_date.isoformat()}
              if block.notice_date else None,
              "last_day": calendar.known_range[1].isoformat(), "provisional_years": list(calendar.provisional_years)}
    if args.format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    action = "checked (dry run, nothing installed)" if args.dry_run else f"installed as {path}"
    print(f"{block.year} ({kind}{': ' + block.notice_title if block.notice_title else ''}) {action}"
          + (f", replacing the {was} block" if was and not args.dry_run else ""))
    if not args.dry_run:
        print("a gateway run with --calendar-dir on this directory takes it within a minute, or at once on SIGHUP")
    if block.provisional:
        print(f"PROVISIONAL: {block.year} has the statutory holidays only; load the official block once the "
              "State Council's notice is out")
    return 0


def _year_rows(calendar: Any, year: int) -> list[dict[str, Any]]:
    from business_time.statutory import statutory_days

    names = {s.day: s.festival for s in statutory_days(year)} if year >= 1999 else {}
    rows = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        working = calendar.is_business_day(day)
        weekend = day.weekday() >= 5
        if working == weekend:  # a weekday off, or a weekend day at work
            rows.append({"date": day.isoformat(), "weekday": _WEEKDAYS[day.weekday()],
                         "kind": "make-up workday" if working else "holiday", "statutory": names.get(day)})
        day += dt.timedelta(days=1)
    return rows


def cmd_show(args: argparse.Namespace) -> int:
    from business_time.calendar_dir import read_blocks

    try:
        blocks = read_blocks(args.calendar_dir) if args.calendar_dir else []
        calendar = _calendar(args.calendar_overrides, blocks)
    except InputError as exc:
        raise CommandError.of(exc) from exc  # 2 for a file not read, else 1
    first, last = calendar.known_range
    summary: dict[str, Any] = {"first_day": first.isoformat(), "last_day": last.isoformat(),
                               "provisional_years": list(calendar.provisional_years),
                               "superseded": [b.year for b in calendar.superseded]}
    if args.year is not None:
        if not first.year <= args.year <= last.year:
            raise CommandError("calendar-out-of-range", f"{args.year} is not known (the calendar knows "
                               f"{first.year}..{last.year}); see `tgw calendar provisional --help`", exit=EXIT_FAILED)
        notices = {b.year: b for b in blocks if not b.provisional}
        summary = {"year": args.year, "provisional": args.year in calendar.provisional_years,
                   "notice": ({"title": notices[args.year].notice_title,
                               "date": str(notices[args.year].notice_date)} if args.year in notices else None),
                   "days": _year_rows(calendar, args.year)}
    if args.format == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    if args.year is None:
        print(f"the business calendar knows {summary['first_day']}..{summary['last_day']}")
        if summary["provisional_years"]:
            print(f"PROVISIONAL years (statutory holidays only): {summary['provisional_years']}")
        if summary["superseded"]:
            print(f"ignored provisional blocks (known officially): {summary['superseded']}")
        return 0
    from rich.console import Console
    from rich.table import Table

    status = "PROVISIONAL (statutory holidays only, no make-up days)" if summary["provisional"] else "official"
    if summary["notice"]:
        status += f": {summary['notice']['title']} ({summary['notice']['date']})"
    table = Table("date", "day", "kind", "statutory holiday", title=f"{args.year}: {status}")
    for row in summary["days"]:
        table.add_row(row["date"], row["weekday"], row["kind"], row["statutory"] or "")
    Console().print(table)
    return 0
