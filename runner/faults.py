"""Seeded fault runs: the demo world on the deterministic engine, with a fault schedule per seed.

For each seed: a small demo world (`runner.demo.build_world`: treasury, central bank, two banks,
the in-process gateway, SQLite files), its treasury's state kept in a database too (so it can be
crashed and rebuilt like the others), and the seed's faults (`sim.faults`): deliveries dropped,
duplicated, delayed, reordered, acks lost, participants crashed inside a batch or between two
steps and rebuilt from their databases, the gateway crashed and started again over its database,
a bank offline across the clearing cutoff. After the run's business days (and the replenishment
morning) every check of the demo must hold (`runner.demo.check_run`, one implementation of each),
plus the exactly-once checks of the books (`_books_once`): each accepted voucher booked as one
payment in its bank's ledger, no transfer booked twice under two ids, one receipt journaled per
voucher.

A failing seed prints its replay command and schedule; the same seed replays the same faults and
journals the same bytes (the report's `journal_digest`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from messages.envelope import VoucherKey
from messages.files import read_regular_text
from runner.last_day import run_end, with_final

__all__ = ["DEFAULT_START", "SeedResult", "replay_command", "run_seed", "summarize"]

DEFAULT_START = dt.date(2026, 3, 9)  # a Monday: an ordinary week, no holiday
# The offline window of a bank: goes down after its own filing (15:30) and before the central
# bank's 16:00 cutoff, is back after the cutoff and before the 17:00 system close. A bank down at
# its own filing time files late and gets `after-cutoff` (a business outcome, not a lost message);
# one down at the close has its clearing receipt after the close: neither is what this run tests.
OFFLINE_FROM = (dt.time(15, 35), dt.time(15, 59))
OFFLINE_UNTIL = (dt.time(16, 1), dt.time(16, 55))
# Timed crashes and gateway restarts fall within the business day.
FAULTS_FROM, FAULTS_UNTIL = dt.time(8, 0), dt.time(17, 30)
# Held deliveries and redeliveries still in flight after the last close are delivered within this.
SETTLE_LIMIT = dt.timedelta(hours=1)
# A bank's account of what left it to the payees (`bank_sim`): one credit per voucher paid,
# referenced by the voucher's key, whichever account it was paid from.
PAYEES_SUFFIX = ":payees"


@dataclass
class SeedResult:
    seed: int
    ok: bool
    failed: dict[str, str]
    faults: dict[str, int]
    journal_digest: str
    elapsed_s: float
    schedule: dict[str, Any]
    applied: list[dict[str, Any]] = field(default_factory=list)
    vouchers: int = 0
    days: int = 0
    start: str = ""
    # the checks that need the business day after the calendar's last (runner.last_day): neither held nor failed
    not_judged: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"seed": self.seed, "ok": self.ok, "failed": self.failed, "faults": self.faults,
                               "journal_digest": self.journal_digest, "elapsed_s": self.elapsed_s}
        if self.not_judged:
            out["not_judged"] = self.not_judged
        if full or not self.ok:
            out |= {"replay": replay_command(self.seed, self.vouchers, self.days, self.start),
                    "schedule": self.schedule, "applied": self.applied}
        return out


def replay_command(seed: int, vouchers: int, days: int, start: str) -> str:
    return f"tgw sim faults --seeds {seed}..{seed} --vouchers {vouchers} --days {days} --start {start} --format json"


async def run_seed(root: Path, *, seed: int, vouchers: int, days: int, start: dt.date = DEFAULT_START,
                   mutate: Callable[[Any], None] | None = None) -> SeedResult:
    """One seed's run under `root` (a fresh directory). `mutate(world)` may change the world
    before it starts (tests inject a broken core this way)."""
    from business_time.clock import TZ
    from runner.demo import build_world
    from sim.faults import FaultInjector, plan_schedule
    from storage.db import open_database
    from treasury_sim.shell import TreasuryShell

    started = time.monotonic()
    w = await build_world(root, seed=seed, vouchers=vouchers, days=days, start=start)
    try:
        tdb = await open_database(str(root / f"state-{w.world.treasury.id}.db"))
        w.dbs.append(tdb)
        w.tshell = TreasuryShell(w.tcore, w.clients[w.world.treasury.id], w.world.signer(w.world.treasury.id),
                                 w.clock, db=tdb)
        banks = sorted(w.bshells)
        schedule = plan_schedule(seed, days=with_final(w.run_days, w.final_day), participants=[s.participant for s in w.shells],
                                 banks=banks, tz=TZ, day_start=FAULTS_FROM, day_end=FAULTS_UNTIL,
                                 offline_from=OFFLINE_FROM, offline_until=OFFLINE_UNTIL)
        injector = FaultInjector(schedule)
        run = _Run(w, injector)
        if mutate is not None:
            mutate(w)
        await run.play(schedule.timed)
        failed, digest, not_judged = await run.check()
    finally:
        await w.close()
    return SeedResult(seed, not failed, failed, dict(sorted(injector.counts.items())), digest,
                      round(time.monotonic() - started, 3), schedule.as_dict(), injector.applied, vouchers, days,
                      start.isoformat(), not_judged)


class _Run:
    def __init__(self, w: Any, injector: Any) -> None:
        from sim.engine import SimEngine

        self.w = w
        self.injector = injector
        self.dead: list[Any] = []  # shells that crashed (their alarms still count)
        self.snapshots: dict[dt.date, dict[str, Any]] = {}
        w.engine = SimEngine(w.clock, [w.tshell, w.pshell, *w.bshells.values()], interceptor=injector,
                             rebuild=self._rebuild)

    async def _rebuild(self, old: Any) -> Any:
        """A new process for the participant: new core, new client, same database."""
        from bank_sim.core import BankCore
        from bank_sim.shell import BankShell
        from ledger.store import Ledger
        from pboc_sim.core import PbocCore
        from pboc_sim.shell import PbocShell
        from sim.engine import engine_client
        from treasury_sim.core import TreasuryCore
        from treasury_sim.shell import TreasuryShell

        w = self.w
        self.dead.append(old)
        pid = old.participant
        client = engine_client(w.gateway, pid)
        await client.__aenter__()
        signer = w.world.signer(pid)
        c = old.core
        shell: Any
        if old.role == "treasury":
            shell = TreasuryShell(TreasuryCore(c.config, c.calendar, c.clock_config), client, signer, w.clock,
                                  db=old.db)
        elif old.role == "pboc":
            shell = PbocShell(PbocCore(c.config, c.calendar, c.clock_config), client, await Ledger.open(old.db),
                              signer, w.clock)
        else:
            shell = BankShell(BankCore(c.bank_code, c.config, c.calendar, c.clock_config), client,
                              await Ledger.open(old.db), signer, w.clock)
        return shell

    def _sync(self) -> None:
        """The world's view of its shells and cores after restarts and reconnects."""
        w = self.w
        shells = {s.participant: s for s in w.engine.shells}
        w.tshell, w.pshell = shells[w.world.treasury.id], shells[w.world.pboc.id]
        w.bshells = {bid: shells[bid] for bid in w.bshells}
        w.tcore, w.pcore = w.tshell.core, w.pshell.core
        w.bcores = {bid: s.core for bid, s in w.bshells.items()}
        w.clients = {pid: s.client for pid, s in shells.items()}

    async def play(self, timed: Sequence[Any]) -> None:
        w, engine = self.w, self.w.engine
        await engine.start()
        self._sync()
        todo = list(timed)
        closes = sorted(w.closes)
        deferred: list[Any] = []  # crashes of a participant that is offline: done when it is back
        while True:
            stops = [t for t in (engine.next_event(), todo[0].at if todo else None) if t is not None]
            stops += [c for c in closes if w.closes[c] not in self.snapshots]
            when = min(stops) if stops else None
            if when is None or when > w.end:
                break
            await engine.run_until(when)
            self._sync()
            while todo and todo[0].at <= when:
                fault = todo.pop(0)
                if fault.kind == "crash" and not engine.is_online(fault.participant):
                    deferred.append(fault)
                    continue
                await self._apply(fault)
                if fault.kind == "online":
                    for crash in [d for d in deferred if d.participant == fault.participant]:
                        deferred.remove(crash)
                        await self._apply(crash)
                await engine.drain()
                self._sync()
            if when in w.closes:
                from runner.demo import close_snapshot

                self.snapshots[w.closes[when]] = await close_snapshot(w.ledgers, w.world.pboc.id)
        await engine.run_until(w.end)
        # what is still in flight, delivered within SETTLE_LIMIT, never past the calendar's last instant
        await engine.settle(min(SETTLE_LIMIT, run_end(w.clock.calendar, w.clock_config, None) - w.clock.now()))
        self._sync()

    async def _apply(self, fault: Any) -> None:
        engine, now = self.w.engine, self.w.clock.now()
        if fault.kind == "crash":
            await engine.restart(fault.participant)
        elif fault.kind == "gateway-restart":
            await self._restart_gateway()
        elif fault.kind in ("offline", "online"):
            engine.set_online(fault.participant, fault.kind == "online")
        if fault.kind != "online":
            self.injector.note(fault.kind, now, fault.participant)
        self._sync()

    async def _restart_gateway(self) -> None:
        """The gateway dies between two steps (nothing is in flight then: the engine is one
        coroutine, every submission answered) and a new one starts over the same database file,
        through a new connection; every participant connects to it again."""
        from gateway.service import Gateway
        from storage.db import open_database

        w = self.w
        old_db = w.gateway.db
        await w.gateway.stop()
        await old_db.close()
        db = await open_database(old_db.url)
        w.dbs[w.dbs.index(old_db)] = db
        w.gateway = Gateway(db=db, registry=w.world.registry(), certs=w.world.certs(), clock=w.clock)
        await w.gateway.start()
        await w.engine.reconnect(w.gateway)

    async def check(self) -> tuple[dict[str, str], str, list[dict[str, str]]]:
        """The demo's invariants and the books' exactly-once checks: {name: detail} of those that
        failed, the journal digest, and the checks not judged (the run's last day the calendar's)."""
        from runner.demo import check_run

        w = self.w
        ready = (await w.gateway.outbox.backlog()).get("ready", 0)
        report = await check_run(w.world, w.tcore, w.pcore, w.bcores, [*w.engine.shells, *self.dead], w.ledgers,
                               self.snapshots, w.run_days, w.final_day, w.clients[w.world.treasury.id], ready)
        checks = dict(report["invariants"])
        checks.update(await _books_once(w))
        digest = await w.gateway.journal_digest()
        return {name: c["detail"] for name, c in checks.items() if not c["ok"]}, digest, report["not_judged"]


async def _books_once(w: Any) -> dict[str, dict[str, Any]]:
    """Exactly once, as the books and the journal see it (not the cores' own view):

    * `payments_booked_once`: in the banks' ledgers, one transfer to the payees per accepted
      voucher, and none for anything else;
    * `no_transfer_booked_twice`: no two transfers of a ledger for the same thing under two ids
      (same kind, reference, debit and credit account);
    * `one_receipt_journaled_each`: the gateway journaled one receipt per accepted voucher.
    """
    accepted = {v.voucher_no: v for v in w.tcore.sent_vouchers() if v.refused is None}
    paid: Counter[str] = Counter()
    twice: list[str] = []
    for owner, ledger in w.ledgers.items():
        for (reference,) in await ledger.db.fetch(
                "SELECT reference FROM ledger_transfers WHERE credit_account LIKE $1", f"%{PAYEES_SUFFIX}"):
            paid[VoucherKey.parse(reference).voucher_no] += 1
        for kind, reference, n in await ledger.db.fetch(
                "SELECT kind, reference, COUNT(*) FROM ledger_transfers GROUP BY kind, reference, debit_account, "
                "credit_account HAVING COUNT(*) > 1"):
            twice.append(f"{owner}: {kind} {reference} x{n}")
    not_once = sorted(no for no in accepted if paid.get(no) != 1)
    unknown = sorted(no for no in paid if no not in accepted)
    receipts: Counter[str] = Counter()
    for (no,) in await w.gateway.db.fetch("SELECT voucher_no FROM gw_messages WHERE flag = 1 "
                                          "AND vtcode IN ('5201', '8202')"):
        receipts[no] += 1
    bad_receipts = sorted(no for no in accepted if receipts.get(no) != 1)
    return {
        "payments_booked_once": {
            "ok": not not_once and not unknown,
            "detail": f"{len(accepted)} accepted vouchers, {sum(paid.values())} transfers to the payees"
                      + (f"; not booked once: {[(no, paid.get(no, 0)) for no in not_once[:5]]}" if not_once else "")
                      + (f"; booked but not accepted: {unknown[:5]}" if unknown else "")},
        "no_transfer_booked_twice": {"ok": not twice, "detail": "no transfer booked under two ids"
                                     + (f"; twice: {twice[:5]}" if twice else "")},
        "one_receipt_journaled_each": {
            "ok": not bad_receipts,
            "detail": f"{sum(receipts.values())} receipts journaled for {len(accepted)} accepted vouchers"
                      + (f"; not one: {[(no, receipts.get(no, 0)) for no in bad_receipts[:5]]}" if bad_receipts
                         else "")},
    }


def summarize(results: Iterable[dict[str, Any]], *, seeds: str, vouchers: int, days: int, start: str,
              elapsed_s: float) -> dict[str, Any]:
    """The run's summary (what `bench/results/faults.json` holds) from per-seed results."""
    rows = list(results)
    faults: Counter[str] = Counter()
    for r in rows:
        faults.update(r["faults"])
    failures = [r for r in rows if not r["ok"]]
    from sim.faults import FAULT_KINDS

    return {
        "seeds": seeds, "seeds_run": len(rows), "vouchers_per_day": vouchers, "days": days, "start": start,
        "failures": len(failures), "failed_seeds": [r["seed"] for r in failures][:100],
        "failed": failures[:10],
        "faults_injected": {k: faults.get(k, 0) for k in FAULT_KINDS},
        "kinds_never_injected": [k for k in FAULT_KINDS if not faults.get(k)],
        "elapsed_s": round(elapsed_s, 1),
        # each check some seed could not judge, once (its run's last day the calendar's: runner.last_day)
        "not_judged": _distinct(n for r in rows for n in r.get("not_judged", [])),
        "seed_s_mean": round(sum(r["elapsed_s"] for r in rows) / len(rows), 4) if rows else None,
    }


def _distinct(entries: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Each (check, wanted) once, the first detail kept, in order of first appearance."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for n in entries:
        seen.setdefault((n["check"], n["wanted"]), n)
    return list(seen.values())


def read_resume(path: Path) -> dict[int, dict[str, Any]]:
    """Per-seed results already written to a resume file (JSON lines), by seed. A last line that starts
    a row but has no newline was cut short by a kill mid-write: dropped from the file, so that seed
    runs again and its new row starts on a line of its own. Any other line that is not a seed's row is a ValueError
    naming the file and line: it is not a resume file, and nothing is appended to it."""
    done: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return done
    text = read_regular_text(path)
    lines = text.split("\n")
    cut = lines[-1]  # "" when the file ends with its newline
    if cut.strip() and not cut.startswith("{"):
        lines.append("")  # not a row cut short: checked below like any other line
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            done[int(row["seed"])] = row
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: not a per-seed result of `tgw sim faults` ({exc})") from None
    if cut.startswith("{"):  # a row cut short by a kill mid-write
        with path.open("r+", encoding="utf-8") as f:
            f.truncate(len(text.encode("utf-8")) - len(cut.encode("utf-8")))
    return done
