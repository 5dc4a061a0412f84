"""The conformance side of `tgw scenario` (docs/conformance.md):

    tgw scenario world DIR [--bank ID:CODE[:NAME]]...    a world for a conformance gateway
    tgw scenario run NAME|FILE|DIR --external bank-a --url http://HOST:PORT --world DIR
        [--patience S] [--startup S] [--quiet-window S] [--tick MIN] [--wake HH:MM]... [--shared-gateway]

`tgw/scenario.py` registers the parsers and calls in here, so the conformance options live in one
place.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tgw.command_error import CommandError

__all__ = ["add_run_arguments", "add_world_parser", "player"]

PATIENCE_S_MAX = 600.0  # a system that needs more than 10 minutes per clock move is not answering


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    g = run.add_argument_group("conformance mode (docs/conformance.md): your system is one participant")
    g.add_argument("--external", metavar="PARTICIPANT",
                   help="the participant that is your real system (a bank id of the scenario; the treasury and "
                        "the central bank: not yet); the runner plays every other one through the gateway at --url")
    g.add_argument("--url", help="base URL of a running `tgw up --clock simulated` (with --external)")
    g.add_argument("--world", help="the world directory that gateway runs with (`tgw scenario world`)")
    g.add_argument("--patience", type=float, default=None, metavar="S",
                   help="real seconds your system gets to catch up after each move of the clock (default 10)")
    g.add_argument("--startup", type=float, default=None, metavar="S",
                   help="real seconds your system gets to come up and wait on the clock before the run (default 30)")
    g.add_argument("--quiet-window", type=float, default=None, metavar="S", dest="quiet_window",
                   help="for a system that does not wait on GET /v1/clock?after=...: caught up once it has sent "
                        "nothing for S seconds")
    g.add_argument("--tick", type=int, default=None, metavar="MIN",
                   help="move the clock at least every MIN minutes on business days, 08:00 to the close "
                        "(default 15; 0: only at steps and wake-ups)")
    g.add_argument("--wake", action="append", default=[], metavar="HH:MM",
                   help="also stop the clock at this time each business day (when your system acts; repeatable)")
    g.add_argument("--shared-gateway", action="store_true", dest="shared_gateway",
                   help="one gateway for all the scenarios: reset it (POST /v1/sim/reset) before each; your system "
                        "starts over when GET /v1/clock shows a new epoch (docs/conformance.md)")


def add_world_parser(sub: Any) -> None:
    w = sub.add_parser("world", help="create a world (CA, participants, tokens) for a conformance gateway",
                       description="A development world for `tgw up` and `tgw scenario run --external`: a CA, the "
                                   "treasury, the central bank and the banks, with keys, tokens (secrets.json), "
                                   "participants.yaml and accounts.yaml (the customer accounts each bank holds, "
                                   "docs/rules.md). Replaces the key files in DIR.",
                       epilog="Exit codes: 0 written, 2 usage (a --bank or --division that is not as shown).")
    w.add_argument("dir", metavar="DIR")
    w.add_argument("--bank", action="append", default=[], metavar="ID:CODE[:NAME]",
                   help="a bank (repeatable; default bank-a:999100000001 and bank-b:999100000002, the scenarios' "
                        "default banks)")
    w.add_argument("--division", action="append", default=[], metavar="CODE[:BANK,...]",
                   help="a division (AdmDivCode) the world's treasury and central bank serve, and the ids of the "
                        "banks serving it (default every bank); repeatable, the first names the treasury and the "
                        "central bank (default one, 990100, every bank's): a scenario's world.divisions")
    w.set_defaults(func=run_world)


def run_world(args: argparse.Namespace) -> int:
    from runner.world import DEFAULT_BANKS, DevWorld

    banks = []
    for spec in args.bank:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not (parts[1].isdigit() and len(parts[1]) == 12):
            raise CommandError.usage(f"--bank {spec!r} is not ID:CODE[:NAME] with a 12-digit code")
        banks.append((parts[0], parts[1], parts[2] if len(parts) == 3 else f"示例银行{parts[0]}"))
    banks = banks or list(DEFAULT_BANKS)
    world = DevWorld.create(Path(args.dir), banks=banks, divisions=_divisions(args.division, [b[0] for b in banks]))
    for p in world.participants.values():
        print(f"{p.id:<18} {p.role:<9} key {p.key_path}  cert {p.cert_path}")
    print(f"registry {world.registry_path}; tokens in {world.root / 'secrets.json'}; "
          f"the banks' customer accounts in {world.accounts_path}")
    return 0


def _divisions(specs: list[str], banks: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(AdmDivCode, ids of the banks serving it) of each `--division CODE[:BANK,...]`, checked as a
    scenario's world.divisions is: distinct codes of 6 to 9 digits, known banks, every bank serving one."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        code, sep, ids = spec.partition(":")
        if not (code.isdigit() and 6 <= len(code) <= 9):
            raise CommandError.usage(f"--division {spec!r}: an AdmDivCode of 6 to 9 digits, then :BANK,... if not "
                                     "every bank serves it")
        if code in (c for c, _ in out):
            raise CommandError.usage(f"--division {spec!r}: division {code} named twice")
        served = tuple(ids.split(",")) if sep else tuple(banks)
        unknown = [b for b in served if b not in banks]
        if unknown:
            raise CommandError.usage(f"--division {spec!r}: no bank {unknown[0]!r} in the world; known: "
                                     + ", ".join(banks))
        out.append((code, served))
    idle = [b for b in banks if out and not any(b in ids for _, ids in out)]
    if idle:
        raise CommandError.usage(f"bank {idle[0]} serves no division of --division")
    return out


Player = Callable[[Any, Path], Coroutine[Any, Any, Any]]


def player(args: argparse.Namespace, progress: Callable[[str], None]) -> Player | str | None:
    """The conformance player for `tgw scenario run`, None without --external, or a usage error."""
    if not args.external:
        stray = [f for f in ("url", "world", "shared_gateway") if getattr(args, f, None)]
        return f"--{stray[0].replace('_', '-')} needs --external" if stray else None
    from runner.conformance import (
        DEFAULT_PATIENCE_S,
        DEFAULT_STARTUP_S,
        DEFAULT_TICK,
        ConformanceOptions,
        run_conformance,
    )

    if not args.url or not args.world:
        return "--external needs --url (a running `tgw up --clock simulated`) and --world (its world directory)"
    patience = DEFAULT_PATIENCE_S if args.patience is None else args.patience
    startup = DEFAULT_STARTUP_S if args.startup is None else args.startup
    if not (0 < patience <= PATIENCE_S_MAX and 0 < startup <= PATIENCE_S_MAX) or (
            args.quiet_window is not None and not 0 < args.quiet_window < patience):
        return (f"--patience and --startup must be 0..{PATIENCE_S_MAX:g} s, --quiet-window more than 0 and less "
                "than --patience")
    if args.tick is not None and args.tick < 0:
        return "--tick is a number of minutes >= 0"
    try:
        wakes = tuple(dt.time.fromisoformat(w) for w in args.wake)
    except ValueError as exc:
        return f"--wake: {exc}"
    tick = DEFAULT_TICK if args.tick is None else (dt.timedelta(minutes=args.tick) if args.tick else None)
    opts = ConformanceOptions(args.external, args.url, Path(args.world), patience, startup, args.quiet_window, tick,
                              wakes, keep_books=bool(getattr(args, "dir", None)))
    shared = None
    if getattr(args, "shared_gateway", False):
        if args.quiet_window is not None:
            return ("--shared-gateway needs a system that waits on the clock (it says it started over there); "
                    "with --quiet-window run a gateway per scenario")
        from runner.conformance_session import SharedGateway

        shared = SharedGateway(opts)

    def play(s: Any, root: Path) -> Coroutine[Any, Any, Any]:
        return run_conformance(s, root, opts, seed=args.seed, progress=progress,
                               before=shared.before if shared is not None else None)

    return play
