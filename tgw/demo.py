"""`tgw demo`: the whole business for a few business days, through the real gateway, in seconds.

No services: an in-process bus, SQLite files in a temporary directory (or `--dir`), a
simulated business clock, a development world with real keys and signatures. The treasury
(`treasury_sim`) sends quota notices to the central bank (`pboc_sim`) and payment vouchers to
two agent banks (`bank_sim`); the banks pay, return receipts, file clearing requests before the
cutoff, advance late payments from their reserve and have it replenished the next business
morning; the central bank clears against the quota and sends its daily TSA statement. A run whose
last day is the calendar's has no such morning: what needs it is reported not judged
(runner/last_day.py), never guessed.

The simulation engine (`sim.engine`) moves simulated time from one due wake-up to the next and
handles every delivery before time moves on, so the business order is exact and a seed replays
byte for byte (`--format json` reports `run.journal_digest`; see docs/simulation.md).

At the end it prints a table per day, the bank scorecard, every ledger balance, the invariants and the trace of
one voucher; exit 0 only if every invariant held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from messages.errors import InputError
from messages.money import fen_to_str
from runner.demo import simulate
from tgw.command_error import EXIT_USAGE, CommandError
from tgw.text_table import text_table
from treasury_sim.units import UNITS_MAX

__all__ = ["register"]

DAYS_MAX = 30  # a month of business days already makes a long demo
VOUCHERS_MAX = 100_000  # `tgw bench --sim` runs a day of 100,000
RECONCILIATION_BREAKS_SHOWN = 20  # breaks printed in the text output; the JSON has every one


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="run the treasury, two banks and the central bank through the gateway for a few days",
        description="Simulated business days through the real gateway (in-process bus, SQLite, simulated clock): "
                    "the treasury pays, the banks pay and clear, the central bank clears; prints each hour's "
                    "counts, then per day the payments, the clearing and the treasury single account, the "
                    "three-way reconciliation, the bank scorecards, the invariants it checked and one voucher's "
                    "trace.",
        epilog="Exit codes: 0 every invariant held (with --serve: stopped; a check not judged, past the calendar, "
               "is neither held nor failed), 1 one did not, 2 usage, days the calendar does not know or a --http "
               "it cannot serve on.")
    p.add_argument("--dir", help="keep the world, databases and keys here (default: a temporary directory)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--algorithm", choices=("ecdsa", "sm2"), default="ecdsa",
                   help="every participant's seal: ecdsa (P-256, SHA-256; default) or sm2 (SM2 with SM3)")
    p.add_argument("--vouchers", type=int, default=200, help="payment vouchers per business day (default 200)")
    p.add_argument("--days", type=int, default=3, help="business days with payments (default 3)")
    p.add_argument("--units", type=int, default=0,
                   help="plan from this many generated budget units and their budget indicators: salaries on the "
                        "month's first business day (batch vouchers, one line bouncing), requests refused with no "
                        "budget, outside its scope or over budget (003 §52), a few payee returns, a payment "
                        "suspension and its lift, a payment correction (5253), an account opening on notice; every "
                        "voucher paid from the banks' registered accounts, whose daily account feeds (7602) the "
                        "treasury matches; "
                        f"2..{UNITS_MAX} (default 0: four fixed units, no budget check)")
    p.add_argument("--start", default="2026-02-13",
                   help="first day (default 2026-02-13, a Friday; then the make-up Saturday and after Spring Festival). "
                        "A run whose last day is the calendar's (2026-12-31) runs it to its end with no replenishment "
                        "morning: what needs the business day after it is listed not judged (docs/calendar.md); a run "
                        "wanting a day past the calendar is refused, calendar-out-of-range (exit 2)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: {ok, days, invariants, not_judged, agent_banks, balances, trace, reconciliation, "
                        "scorecard, run} "
                        "(default text)")
    p.add_argument("--html", metavar="OUT.html",
                   help="also write a self-contained HTML report (charts, reconciliation, invariants)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--serve", action="store_true",
                   help="keep the world running at --speed with the web dashboard on --http (stop with Ctrl-C)")
    p.add_argument("--speed", type=float, default=SERVE_SPEED_DEFAULT,
                   help=f"with --serve: simulated seconds per wall second (default {SERVE_SPEED_DEFAULT:g}: "
                        "a business day in about a minute)")
    p.add_argument("--http", default=SERVE_HTTP_DEFAULT, metavar="HOST:PORT",
                   help=f"with --serve: where the dashboard listens (default {SERVE_HTTP_DEFAULT}; port 0: any free)")
    p.set_defaults(func=run)


SERVE_SPEED_DEFAULT = 600.0  # ten simulated minutes per second: 08:00 to 17:00 in 54 s
SERVE_HTTP_DEFAULT = "127.0.0.1:8480"  # beside `tgw up`'s 8470


def _serve(args: argparse.Namespace, start: dt.date) -> int:
    from runner.demo_serve import SPEED_MAX, serve_demo

    host, _, port_text = args.http.rpartition(":")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise CommandError.usage(f"--http {args.http!r} is not HOST:PORT")
    if not 0 < args.speed <= SPEED_MAX:  # NaN fails both
        raise CommandError.usage(f"--speed must be above 0 and at most {SPEED_MAX:g}")

    def announce(url: str, tokens: dict[str, str]) -> None:
        lines = [f"tgw demo: dashboard at {url} (simulated time at {args.speed:g}x; Ctrl-C stops)",
                 "log in with one of these tokens:"]
        lines += [f"  {pid:<20} {token}" for pid, token in sorted(tokens.items())]
        print("\n".join(lines), flush=True)

    async def main(root: Path) -> None:
        import signal

        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # SIGTERM stops it as Ctrl-C does (a container's stop)
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve_demo(root, seed=args.seed, vouchers=args.vouchers, days=args.days, start=start,
                         speed=args.speed, host=host, port=int(port_text), announce=announce,
                         stop=stop, algorithm=args.algorithm)

    try:
        if args.dir:
            root = Path(args.dir)
            root.mkdir(parents=True, exist_ok=True)
            asyncio.run(main(root))
        else:
            with tempfile.TemporaryDirectory(prefix="tgw-demo-") as tmp:
                asyncio.run(main(Path(tmp)))
    except KeyboardInterrupt:
        return 0
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except OSError as exc:  # the port is taken, or not ours to bind
        raise CommandError("unavailable", f"cannot serve on {args.http}: {exc}", exit=EXIT_USAGE) from exc
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise CommandError.usage(f"--start {args.start!r} is not a date YYYY-MM-DD") from None
    if not 1 <= args.days <= DAYS_MAX or not 1 <= args.vouchers <= VOUCHERS_MAX:
        raise CommandError.usage(f"--days must be 1..{DAYS_MAX} and --vouchers 1..{VOUCHERS_MAX}")
    if args.units != 0 and not 2 <= args.units <= UNITS_MAX:
        raise CommandError.usage(f"--units must be 2..{UNITS_MAX} (or 0: the four fixed units)")
    from gateway.logs import configure_logging

    configure_logging(json=False, level="WARNING")
    if args.serve:
        return _serve(args, start)
    progress = None if args.quiet else _progress_line
    try:
        if args.dir:
            root = Path(args.dir)
            root.mkdir(parents=True, exist_ok=True)
            report = asyncio.run(simulate(root, seed=args.seed, vouchers=args.vouchers, days=args.days,
                                          start=start, progress=progress, html=bool(args.html),
                                          algorithm=args.algorithm, units=args.units))
        else:
            with tempfile.TemporaryDirectory(prefix="tgw-demo-") as tmp:
                report = asyncio.run(simulate(Path(tmp), seed=args.seed, vouchers=args.vouchers, days=args.days,
                                              start=start, progress=progress, html=bool(args.html),
                                              algorithm=args.algorithm, units=args.units))
    except InputError as exc:  # e.g. days the business calendar does not know: say so, never guess
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    page = report.pop("html", None)
    if args.html and page is not None:
        Path(args.html).write_text(page, encoding="utf-8")
        if not args.quiet:
            print(f"tgw demo: HTML report written to {args.html}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render_text(report))
    return 0 if report["ok"] else 1


def _progress_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- text output


def render_text(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"tgw demo: seed {run['seed']}, {run.get('algorithm', 'ecdsa')} seals, "
             f"{run['vouchers_per_day']} vouchers per business day, "
             f"days {', '.join(run['days'])} "
             + (f"(+ replenishment on {run['replenishment_day']}), " if run["replenishment_day"]
                else "(the last the calendar knows: no replenishment morning), ")
             + f"{run['elapsed_s']} s", ""]
    pay_rows, clear_rows = [], []
    for d in report["days"]:
        day = f"{d['date']} {d['weekday']}"
        pay_rows.append([day, d["vouchers_sent"], d["vouchers_accepted"], d["paid"], d["paid_amount"],
                         d["receipts_returned"], d["advances"], d["advanced_amount"]])
        clear_rows.append([day, f"{d['clearing_accepted']}/{d['clearing_requests']}",
                           "; ".join(d["clearing_rejected"]) or "-", d["cleared_amount"],
                           f"{d['replenishments_accepted']}/{d['replenishments']}", d["replenished_amount"],
                           d["tsa_debits"], d["statement_end_balance"] or "-", d["ledger_tsa_at_close"] or "-",
                           "yes" if d["zero_balance_accounts_at_zero"] else "NO"])
    lines.append("Payments per business day (yuan)")
    lines.append(text_table(["day", "vouchers sent", "accepted", "paid", "paid amount", "receipts", "advances",
                         "advanced amount"], pay_rows, "lrrrrrrr"))
    lines += ["", "Clearing and the treasury single account per business day (yuan)"]
    lines.append(text_table(["day", "2301 ok/filed", "rejected", "cleared", "ClearType 1 ok/filed", "replenished",
                         "TSA debits", "7401 EndBalance", "ledger TSA at close", "ZBA = 0 at close"], clear_rows,
                        "lrlrrrrrrl"))
    budget = report.get("budget")
    if budget is not None:
        refused = ", ".join(f"{code} {n}" for code, n in budget["refused"].items()) or "none"
        levels = ", ".join(f"{n} {level}" for level, n in budget["levels"].items())
        lines += ["", f"Budget: {budget['units']} units ({levels}), {budget['indicators']} indicators of "
                      f"{fen_to_str(budget['indicators_fen'])} yuan, {fen_to_str(budget['spent_fen'])} approved; "
                      f"requests refused (003 §52): {refused} ({fen_to_str(budget['refused_fen'])} yuan)"]
    for year, ye in (report.get("year_end") or {}).items():  # the treasury's year end (004 part 5 §6)
        notices = ye["notices"]
        lines += ["", f"Year end {year}: {len(notices)} notices ("
                      + ", ".join(f"{n['vtcode']} {n['bank']} {fen_to_str(n['amount_fen'])}"
                                  + (" flagged unconfirmed" if n["flagged"] else " confirmed" if n["confirmed_at"]
                                     else " unconfirmed") for n in notices)
                      + f"); granted {fen_to_str(ye['granted_fen'])} = spent {fen_to_str(ye['spent_fen'])} + cancelled "
                      f"{fen_to_str(ye['cancelled_fen'])} + carried {fen_to_str(ye['carried_fen'])} + lapsed "
                      f"{fen_to_str(ye['lapsed_fen'])}: {'balanced' if ye['balanced'] else 'NOT BALANCED'}"]
    flows = report.get("flows")
    if flows is not None:
        lines += ["", "The month's flows"]
        lines.append(text_table(["flow", "count", "what came of it"], _flow_rows(flows, report.get("account_feed")), "lrl"))
    rec = report.get("reconciliation")
    if rec is not None:
        lines += ["", "Three-way reconciliation per day: treasury ↔ banks ↔ central bank (yuan)"]
        lines.append(text_table(["day", "treasury sent", "treasury receipts", "bank payments", "bank clearings",
                             "TSA debits", "7401 DebitAmt"],
                            [[d["date"], d["treasury_sent"], d["treasury_receipts"], d["bank_paid"], d["bank_cleared"],
                              d["pboc_debits"], d["statement_debits"] or "-"] for d in rec["days"]], "lrrrrrr"))
        lines += ["", "Three-way reconciliation per month (yuan)"]
        lines.append(text_table(["month", "treasury receipts", "bank clearings", "TSA debits"],
                            [[m["month"], m["treasury_receipts"], m["bank_cleared"], m["pboc_debits"]]
                             for m in rec["months"]], "lrrr"))
        if rec["clean"]:
            lines.append("reconciliation clean: every voucher, day and month agrees")
        else:
            lines += ["", f"Reconciliation breaks ({len(rec['breaks'])})"]
            lines.append(text_table(["cause", "day", "vouchers", "detail"],
                                [[b["cause"], b["day"] or b["period"], _short(", ".join(b["vouchers"]), 40),
                                  _short(b["detail"])] for b in rec["breaks"][:RECONCILIATION_BREAKS_SHOWN]]))
            if len(rec["breaks"]) > RECONCILIATION_BREAKS_SHOWN:
                lines.append(f"... and {len(rec['breaks']) - RECONCILIATION_BREAKS_SHOWN} more (--format json)")
    for card in report.get("scorecard") or []:
        lines += ["", f"Bank scorecard: {card['bank']} {card['month']}  score {card['score']}/{card['max_points']}  "
                  f"on time {card['timeliness_pct']}%  accurate {card['accuracy_pct']}%"
                  + ("  FLAGGED" if card["flagged"] else "")]
        lines.append(text_table(["duty", "counted", "on time", "late", "missing", "bdays late", "errors", "faulty",
                             "pending", "points off"],
                            [[d["kind"], d["counted"], d["on_time"], d["late"], d["missing"], d["business_days_late"],
                              d["errors"], d["faulty"], d["pending"], d["deducted"]] for d in card["duties"]],
                            "lrrrrrrrrr"))
        lines += [f"! {flag}" for flag in card["flags"]]
    lines += ["", "Ledger balances (yuan)"]
    brows = [[owner, aid, v["balance"]] for owner, accts in report["balances"].items() for aid, v in accts.items()]
    lines.append(text_table(["books of", "account", "balance"], brows, "llr"))
    lines += ["", "Invariants"]
    lines.append(text_table(["invariant", "held", "detail"],
                        [[n, "yes" if i["ok"] else "NO", i["detail"]] for n, i in report["invariants"].items()]))
    trace = report.get("trace") or {}
    if trace:
        lines += ["", f"Trace of {trace['voucher']} ({trace['vtcode']}, {trace['amount']} yuan to {trace['bank']}, "
                  f"sent {trace['sent_at']}, paid as {trace['mode']}, cleared by {trace['cleared_by']})"]
        lines.append(text_table(["business time", "flag", "step", "participant", "detail"],
                            [[e["business_time"], e["flag"], e["step"], e["participant"],
                              _short(e["detail"])] for e in trace["events"]]))
    not_judged = report.get("not_judged") or []
    if not_judged:  # what needs the business day after the calendar's last (runner.last_day)
        lines += ["", f"Not judged: {not_judged[0]['wanted']} is past the calendar"]
        lines.append(text_table(["check", "what it wanted"], [[n["check"], _short(n["detail"], 110)]
                                                               for n in not_judged]))
    lines += ["", ("all invariants held" if report["ok"] else "SOME INVARIANTS FAILED")
              + (f" ({len(not_judged)} not judged)" if not_judged else "")]
    return "\n".join(lines)


def _flow_rows(flows: dict[str, Any], feed: dict[str, Any] | None) -> list[list[Any]]:
    """The flows table: one row per flow, how many and what came of them."""
    rows: list[list[Any]] = [
        ["salary batches (一次批量)", flows["salary_batches"],
         f"{flows['salary_batch_lines']} lines, {flows['batch_lines_bounced']} bounced and refunded line by line"],
        ["payee returns", flows["payee_returns"],
         f"{flows['refunds_accepted']} refunded: {fen_to_str(flows['refunded_fen'])} yuan back to the TSA"],
        ["payment suspension (7501)", f"{flows['suspensions']} order, {flows['suspension_lifts']} lift",
         f"{flows['suspension_confirmations']} confirmed by the bank"],
        ["payment correction (5253)", flows.get("corrections", 0),
         f"{flows.get('corrections_applied', 0)} reclassified by the bank, "
         f"{flows.get('correction_confirmations', 0)} confirmed"],
        ["account opening (7601)", flows["account_openings"], f"{flows['account_confirmations']} confirmed by the bank"],
    ]
    if feed is not None:
        rows.append(["account feeds (7602)", f"{feed['feeds_checked']} of {feed['feeds_due']} due",
                     f"{feed['movements']} movements matched, {feed['breaks']} breaks"])
    return rows


def _short(text: Any, limit: int = 70) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"
