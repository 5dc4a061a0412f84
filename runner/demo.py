"""The demo world: the whole business for a few business days, through the real gateway, in seconds.

No services: an in-process bus, SQLite files in a temporary directory (or `--dir`), simulated
business time, a development world with real keys and signatures derived from the seed. The
treasury (`treasury_sim`) sends quota notices to the central bank (`pboc_sim`) and payment
vouchers to two agent banks (`bank_sim`); the banks pay, return receipts, file clearing requests
before the cutoff, advance late payments from their reserve and have it replenished the next
business morning; the central bank clears against the quota and sends its daily TSA statement.

The run is driven by the deterministic simulation engine (`sim.engine.SimEngine`): time jumps
from one due wake-up to the next, and at each one every delivery is handled before time moves on
(a fixed point), so the business order is exact and a seed replays byte for byte: the report's
`run.journal_digest` (SHA-256 over every journaled message in order) is the same on every run
of the same seed, vouchers and days.

At the end it prints a table per day, every ledger balance, the invariants and the trace of
one voucher; exit 0 only if every invariant held.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.gc_tuning import settled_heap
from runner.heap import trim_heap
from runner.last_day import (
    NotJudged,
    outstanding_advances,
    pending_past,
    run_end,
    unknown_day_breaks,
    with_final,
)
from runner.sent_days import SentDays

__all__ = ["OPENING_TSA_FEN", "RESERVE_FEN", "SCALE_VOUCHERS", "START_HOUR", "DemoWorld", "build_world", "check_run",
           "close_snapshot", "simulate", "world_scale"]

OPENING_TSA_FEN = 500_000_000_00  # 500 million yuan in the treasury single account
RESERVE_FEN = 20_000_000_00  # each bank's clearing reserve
# The two above are sized for 10,000 vouchers (at most 50,000 yuan each, ~25,000 on average): a
# larger run scales them (`world_scale`), so the TSA covers every day's payments and each reserve
# its bank's late ones, and a big run exercises the normal path rather than an exhausted TSA
# refusing every clearing from mid-day on. Runs of up to 10,000 vouchers are unchanged.
SCALE_VOUCHERS = 10_000
# The simulators' own databases (ledger, core state and input log): SQLite WAL with
# synchronous=NORMAL, which keeps every commit through a crash of the process (what the shells'
# restart protocol and tests/test_sim_restart.py rely on) but may lose the last commits on a power
# loss. Enough for a simulated world: a power loss ends the run anyway (the gateway's journal,
# FULL, might then hold acks of batches a simulator lost), and a run is replayed from its seed.
# It saves an fsync per simulator batch. The gateway's journal stays FULL.
SIM_DB_SYNCHRONOUS = "NORMAL"
# The world's databases (the gateway's journal too) commit on the loop's thread (`SqliteDatabase`
# `commit_here`): the engine is one coroutine that waits for every commit before it goes on, so
# nothing runs meanwhile, and the hand-off to a committer thread only sent the loop's thread to
# sleep or had it preempted by the committer, 0.9-1.3 times a voucher at 1,000 vouchers
# (bench/results/sim-idle.md). Each commit is synced as before its answer: FULL for the journal.
SIM_COMMIT_HERE = True
# The cyclic collector's thresholds during a run (see `simulate`); CPython's are (700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 20)


# the generated direct payments tagged direct funds (直达资金, docs/payment-kinds.md): the reports total them apart
DEMO_DIRECT_SHARE_PCT = 10
UNITS_PER_OPENING = 1_000  # the salaries of this many budget units (a month's) fit well in OPENING_TSA_FEN
# The units leave this share of their monthly authorized plan unspent: what a run crossing 31
# December cancels (7301) or carries forward (7302) at the treasury's year end (docs/quotas.md).
UNSPENT_PCT = 5


def world_scale(vouchers: int) -> int:
    """How many times OPENING_TSA_FEN (for all the run's vouchers) or RESERVE_FEN (for one day's) a run needs."""
    return max(1, -(-vouchers // SCALE_VOUCHERS))
START_HOUR = dt.time(8, 0)


# ---------------------------------------------------------------------------------- the world


@dataclass
class DemoWorld:
    """Everything one demo run is made of (what `build_world` opened and `close` closes)."""

    world: Any  # runner.world.DevWorld
    clock: Any  # sim.clock.SimClock
    gateway: Any  # gateway.service.Gateway
    engine: Any  # sim.engine.SimEngine
    tcore: Any
    pcore: Any
    bcores: dict[str, Any]
    tshell: Any
    pshell: Any
    bshells: dict[str, Any]
    ledgers: dict[str, Any]
    clients: dict[str, Any]
    run_days: list[dt.date]
    final_day: dt.date | None  # the replenishment morning; None when it lies past the calendar
    end: dt.datetime
    closes: dict[dt.datetime, dt.date]
    milestones: set[dt.time]
    dbs: list[Any] = field(default_factory=list)
    flows: Any = None  # runner.demo_flows.FlowPlan (with `units`): the month's other flows

    @property
    def shells(self) -> list[Any]:
        return [self.tshell, self.pshell, *self.bshells.values()]

    @property
    def clock_config(self) -> Any:
        """The business clock's configuration (business_time.clock.ClockConfig)."""
        return self.pcore.clock_config

    @property
    def filing_times(self) -> list[dt.time]:
        """When each bank files its day's clearing request."""
        return sorted({core.config.filing_time for core in self.bcores.values()})

    async def close(self) -> None:
        for client in self.clients.values():
            await client.__aexit__(None, None, None)
        await self.gateway.stop()
        for db in self.dbs:
            await db.close()


async def build_world(root: Path, *, seed: int, vouchers: int, days: int, start: dt.date,
                      algorithm: str = "ecdsa", units: int = 0) -> DemoWorld:
    """The demo's participants, gateway, ledgers, shells and engine, under `root` (not started);
    `algorithm` is every participant's seal algorithm (ecdsa, rsa, sm2); `units`: the treasury
    plans from that many generated budget units and their indicators (0: the four fixed units)."""
    from bank_sim.config import DutiesConfig
    from bank_sim.core import BankConfig, BankCore
    from bank_sim.shell import BankShell
    from business_time.calendar import BusinessCalendar
    from business_time.clock import ClockConfig, at
    from gateway.monitoring.monitor import build_monitor
    from gateway.service import Gateway
    from ledger.store import Ledger
    from pboc_sim.core import PbocConfig, PbocCore
    from pboc_sim.shell import PbocShell
    from runner.world import DevWorld
    from sim.clock import SimClock
    from sim.engine import SimEngine, engine_client
    from storage.db import SqliteDatabase
    from treasury_sim.core import TreasuryConfig, TreasuryCore
    from treasury_sim.shell import TreasuryShell

    world = DevWorld.create(root / "world", seed=seed, algorithm=algorithm)
    calendar = BusinessCalendar.default()
    cc = ClockConfig()
    banks = [(p.id, p.bank_codes[0], p.name) for p in world.banks]
    tcore = TreasuryCore(TreasuryConfig(banks=tuple((code, name) for _, code, name in banks),
                                        adm_div_code=world.adm_div_code, first_day=start, days=days,
                                        vouchers_per_day=vouchers, seed=seed, units=units,
                                        authorized_unspent_pct=UNSPENT_PCT,
                                        direct_share_pct=DEMO_DIRECT_SHARE_PCT,
                                        tsa_opening_fen=OPENING_TSA_FEN * world_scale(vouchers * days)
                                        * max(1, -(-units // UNITS_PER_OPENING))),
                         calendar, cc)
    run_days = list(tcore.days)
    # the last day's advances are replenished then; None past the calendar's last day (runner.last_day)
    final_day = calendar.next_business_day_if_known(run_days[-1])
    closes = {at(d, cc.bank_system_close): d for d in with_final(run_days, final_day)}
    clock = SimClock(calendar, cc, at(run_days[0], START_HOUR))
    flows = None
    if units:  # a business month's other flows (runner.demo_flows): batches, returns, a suspension, an opening
        from runner.demo_flows import plan_flows

        flows = plan_flows(tcore, run_days, final_day, seed)

    dbs: list[Any] = []
    gw_db = SqliteDatabase(str(root / "gateway.db"), commit_here=SIM_COMMIT_HERE)
    dbs.append(gw_db)
    gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock,
                      monitor=build_monitor(gw_db, clock=clock))
    await gateway.start()
    ledgers: dict[str, Ledger] = {}
    for owner in [world.pboc.id, *(bid for bid, _, _ in banks)]:
        db = SqliteDatabase(str(root / f"ledger-{owner}.db"), synchronous=SIM_DB_SYNCHRONOUS,
                            commit_here=SIM_COMMIT_HERE)
        dbs.append(db)
        ledgers[owner] = await Ledger.open(db)

    pcore = PbocCore(PbocConfig(adm_div_code=world.adm_div_code, tsa_opening_fen=tcore.config.tsa_opening_fen),
                     calendar, cc)
    registry: dict[str, tuple[tuple[str, str, str, str], ...]] = {}
    if tcore.unit_tree is not None:  # each bank holds the treasury's accounts (treasury_sim.unit_accounts)
        from treasury_sim.unit_accounts import registry as unit_registry

        registry = {code: unit_registry((code, name), tcore.unit_tree.paying()) for _, code, name in banks}
    bcores = {bid: BankCore(code, BankConfig(bank_name=name, adm_div_code=world.adm_div_code,
                                             reserve_fen=RESERVE_FEN * world_scale(vouchers),
                                             registry_accounts=registry.get(code, ()),
                                             duties=DutiesConfig(payee_returns=tuple(
                                                 flows.returns.get(code, ()) if flows else ()))), calendar, cc)
              for bid, code, name in banks}
    clients = {pid: engine_client(gateway, pid) for pid in world.participants}
    for client in clients.values():
        await client.__aenter__()
    pshell = PbocShell(pcore, clients[world.pboc.id], ledgers[world.pboc.id], world.signer(world.pboc.id), clock)
    bshells = {bid: BankShell(bcores[bid], clients[bid], ledgers[bid], world.signer(bid), clock) for bid in bcores}
    tshell = TreasuryShell(tcore, clients[world.treasury.id], world.signer(world.treasury.id), clock)
    engine = SimEngine(clock, [tshell, pshell, *bshells.values()])
    bank_config = next(iter(bcores.values())).config
    milestones = {tcore.config.quota_time, bank_config.replenish_time, bank_config.open_time,
                  bank_config.filing_time}
    return DemoWorld(world, clock, gateway, engine, tcore, pcore, bcores, tshell, pshell, bshells, ledgers, clients,
                     run_days, final_day, run_end(calendar, cc, final_day), closes, milestones, dbs, flows)


# ---------------------------------------------------------------------------------- the run


async def simulate(root: Path, *, seed: int, vouchers: int, days: int, start: dt.date,
                   progress: Callable[[str], None] | None = None, html: bool = False,
                   algorithm: str = "ecdsa", units: int = 0) -> dict[str, Any]:
    """Run the demo world; the report (JSON-ready), with `html` (the page of `tgw demo --html`) when asked."""
    started = time.monotonic()
    w = await build_world(root, seed=seed, vouchers=vouchers, days=days, start=start, algorithm=algorithm,
                          units=units)
    # A run allocates millions of short-lived objects (parsed vouchers, effects, rows) beside a state
    # that grows with the day; with the default thresholds the cyclic collector walks that state over
    # and over (a fifth of the CPU of a 30,000-voucher day). The world built is frozen (never walked
    # again) and young collections wait for GC_THRESHOLDS[0] allocations (gateway.gc_tuning); both are
    # undone at the end.
    with settled_heap(GC_THRESHOLDS):
        try:
            snapshots: dict[dt.date, dict[str, Any]] = {}
            last_hour = trimmed_hour = ""
            await w.engine.start()
            while (nxt := w.engine.next_event()) is not None and nxt <= w.end:
                if w.flows is not None:
                    nxt = await _send_flows(w, nxt)
                await w.engine.run_until(nxt)
                if f"{nxt:%Y%m%d%H}" != trimmed_hour:  # an hour's phases done: the heap they freed back
                    trim_heap()
                    trimmed_hour = f"{nxt:%Y%m%d%H}"
                if nxt in w.closes:
                    snapshots[w.closes[nxt]] = await close_snapshot(w.ledgers, w.world.pboc.id)
                milestone = nxt in w.closes or nxt.time() in w.milestones
                if progress is not None and (milestone or f"{nxt:%Y%m%d%H}" != last_hour):
                    progress(_progress(nxt, w.tcore, w.bcores, w.pcore, nxt in w.closes))
                    last_hour = f"{nxt:%Y%m%d%H}"
            await w.engine.run_until(w.end)
            ready = (await w.gateway.outbox.backlog()).get("ready", 0)
            # the journal is final: read it now, so its pages are not held beside the observation's lists
            digest = await w.gateway.journal_digest()
            report = await check_run(w.world, w.tcore, w.pcore, w.bcores, w.shells, w.ledgers, snapshots,
                                     w.run_days, w.final_day, w.clients[w.world.treasury.id], ready)
            trim_heap()  # the day's and the check's transients back before the observation's are made
            # the page needs the run's lists; the report alone, only the reconciliation made slice by slice
            observed = observe(w, seed, lists=html)
            _add_reconciliation(report, observed.reconciliation, w.tcore.sent_count(),
                                None if w.final_day else w.run_days[-1])
            if w.flows is not None:  # the banks' account feeds of the registered accounts (runner.demo_flows)
                _add_account_feed(report, w)
            from treasury_sim.scorecard import render_json

            report["scorecard"] = render_json(observed.scorecard)
            if w.final_day is None:  # the duties due past the calendar stand pending: said, not passed
                report["not_judged"] += pending_past(report["scorecard"], w.run_days[-1])
        finally:
            await w.close()
    report["run"] = {"seed": seed, "algorithm": algorithm, "vouchers_per_day": vouchers, "days": [d.isoformat() for d in w.run_days],
                     "replenishment_day": w.final_day.isoformat() if w.final_day else None, "elapsed_s": round(time.monotonic() - started, 2),
                     "dir": str(root), "journal_digest": digest}
    if units:
        report["budget"] = budget_summary(w.tcore)
    if w.tcore.year_ends:  # the run crossed 31 December: the treasury's year end (004 part 5 §6)
        from treasury_sim.year_end import summary

        report["year_end"] = summary(w.tcore.quotas, {core.bank_code: bid for bid, core in w.bcores.items()})
    if w.flows is not None:
        from runner.demo_flows import flows_summary

        report["flows"] = flows_summary(w.flows, w)
    if html:
        from runner.report import demo_html

        report["html"] = demo_html(report, observed, w.clock_config, w.filing_times)
    return report


async def _send_flows(w: DemoWorld, nxt: dt.datetime) -> dt.datetime:
    """The treasury's 7501 / 7601 due before `nxt` sent at their time; the time to run to next."""
    from runner.demo_flows import send_due

    due: list[dt.datetime] = [s.at for s in w.flows.sends[len(w.flows.sent):] if s.at <= nxt]
    if not due:
        return nxt
    await w.engine.run_until(due[0])
    await send_due(w.flows, w, due[0])
    return due[0]


def budget_summary(tcore: Any) -> dict[str, Any]:
    """The treasury's units and budget (with `--units`): the tree, the indicators, what was refused (003 §52)."""
    tree, refused = tcore.unit_tree, tcore.refused_requests()
    levels = {level: sum(u.level == level for u in tree.units) for level in ("first", "second", "basic")}
    codes: dict[str, int] = {}
    for r in refused:
        codes[r.code] = codes.get(r.code, 0) + 1
    return {"units": len(tree.units), "levels": levels, "indicators": len(tcore.indicators),
            "indicators_fen": sum(i.amount_fen for i in tcore.indicators),
            "spent_fen": sum(tcore.budget.spent.values()), "refused": dict(sorted(codes.items())),
            "refused_fen": sum(r.request.amount_fen for r in refused)}


def observe(w: DemoWorld, seed: int, *, lists: bool = True) -> Any:
    """What the demo's cores recorded, as a `runner.observed.Observed` with its three-way
    reconciliation (`runner.reconcile`): the treasury's vouchers and receipts, the banks'
    payments and clearing requests, the central bank's movements, statements and quotas.
    `lists` False (what the report needs without its page): the reconciliation is made slice by
    slice of the vouchers (`runner.sim_observe.generated_parts`), the same result, and the
    Observed's sent vouchers, receipts and payments are left empty, so the run's end holds one
    slice's values at a time, not a value and several join entries per voucher of the day."""
    from business_time.calendar import BusinessCalendar
    from business_time.clock import at
    from runner.observed import Observed
    from runner.reconcile import reconcile, reconcile_parts
    from runner.scorecard_feed import scorecard_of
    from runner.sim_observe import (
        clearings_of,
        generated_parts,
        generated_receipts,
        generated_sent,
        movements_of,
        payments_of,
        quotas_of,
        refunds_of,
        statements_of,
    )

    # first: its transients gone before the lists below are made
    cards = tuple(scorecard_of(w.bcores, BusinessCalendar.default(), w.clock_config, as_of=w.end))
    bank_ids = {core.bank_code: bid for bid, core in w.bcores.items()}
    clearings, movements, statements = clearings_of(w.bcores), movements_of(w.pcore), statements_of(w.pcore)
    rest = {"clearings": clearings, "movements": movements, "statements": statements,
            "business_days": with_final(w.run_days, w.final_day), "opening_fen": w.tcore.config.tsa_opening_fen,
            "refunds": refunds_of(w.bcores)}
    if lists:
        payments = payments_of(w.bcores)
        sent = generated_sent(w.tcore, w.world.adm_div_code, bank_ids)
        receipts = generated_receipts(w.tcore, {p.voucher_no: p.bank for p in payments})
        rec = reconcile(sent=sent, receipts=receipts, payments=payments, **rest)
    else:
        sent, receipts, payments = [], [], []
        rec = reconcile_parts(generated_parts(w.tcore, w.bcores, w.world.adm_div_code, bank_ids), **rest)
    return Observed("demo", seed, at(w.run_days[0], START_HOUR), w.end, sent=tuple(sent), receipts=tuple(receipts),
                    payments=tuple(payments), clearings=tuple(clearings), movements=tuple(movements),
                    statements=tuple(statements), quotas=tuple(quotas_of(w.pcore)), reconciliation=rec,
                    scorecard=cards)


def _add_reconciliation(report: dict[str, Any], rec: Any, vouchers: int, calendar_last: dt.date | None = None) -> None:
    """The reconciliation in the report, and as an invariant: clean, or every break listed.
    `vouchers`: how many the treasury sent. `calendar_last`: the run's last day when it is the
    calendar's: its advances in no clearing request yet are not judged (runner.last_day), not breaks."""
    from runner.reconcile import reconciliation_json

    report["reconciliation"] = reconciliation_json(rec)
    breaks, waiting = unknown_day_breaks(rec.breaks, calendar_last) if calendar_last else (list(rec.breaks), [])
    if waiting:
        assert calendar_last is not None
        unknown = NotJudged(calendar_last)
        unknown.add("reconciliation_clean", f"the clearing of the advance(s) of {calendar_last.isoformat()} "
                    f"(not-cleared: {', '.join(v for b in waiting for v in b.vouchers)})")
        report["not_judged"] += unknown.entries
    clean = not breaks
    causes = sorted({b.cause for b in breaks})
    report["invariants"]["reconciliation_clean"] = {
        "ok": clean,
        "detail": f"treasury ↔ banks ↔ central bank agree on {vouchers} vouchers, {len(rec.days)} days, "
                  f"{len(rec.months)} month(s)" + (f", but for {len(waiting)} not judged" if waiting else "")
                  if clean else f"{len(breaks)} breaks ({', '.join(causes)}): see the reconciliation"}
    report["ok"] = report["ok"] and clean


def _add_account_feed(report: dict[str, Any], w: DemoWorld) -> None:
    """The account feeds (7602) in the report, and as an invariant: every feed due came and matched."""
    from runner.demo_flows import feed_summary

    report["account_feed"], ok, detail = feed_summary(w)
    report["invariants"]["account_feed_matched"] = {"ok": ok, "detail": detail}
    report["ok"] = report["ok"] and ok


def _progress(now: dt.datetime, tcore: Any, bcores: dict[str, Any], pcore: Any, close: bool) -> str:
    sent = tcore.sent_count(now.date())
    receipts = tcore.receipts_received_on(now.date())
    filed = [f for core in bcores.values() for f in _filed_on(core.filings, now.date())]
    accepted = sum(1 for f in filed if f.state == "accepted")
    tail = "  (close: 7401 sent)" if close and now.date() in pcore.movements else ""
    return (f"{now:%Y-%m-%d %a %H:%M}  vouchers sent {sent:5d}  receipts {receipts:5d}  "
            f"clearing requests filed {len(filed)} ({accepted} accepted){tail}")


def _filed_on(filings: dict[str, Any], day: dt.date) -> list[Any]:
    """The clearing requests filed on `day`: from the last filed back (filings keep their filing
    order), not a walk of every request of the run at each progress line."""
    out = []
    for f in reversed(filings.values()):
        if f.filed_at.date() < day:
            break
        if f.filed_at.date() == day:
            out.append(f)
    return out[::-1]


async def close_snapshot(ledgers: dict[str, Any], pboc_id: str) -> dict[str, Any]:
    from pboc_sim.core import TSA_ACCOUNT

    not_zero = {owner: await ledger.accounts_not_zero() for owner, ledger in ledgers.items()}
    return {"tsa_fen": await ledgers[pboc_id].balance(TSA_ACCOUNT),
            "zba_not_zero": {o: [(a, b) for a, b in items] for o, items in not_zero.items() if items}}


# ---------------------------------------------------------------------------------- the report


def _paid_once(accepted: list[str], paid: list[str], receipts: Any) -> tuple[list[str], list[str], int]:
    """(missing, extra, accepted): the VoucherNos accepted (`accepted`, sorted) not paid exactly once
    (`paid`: the VoucherNo of each payment made, sorted) or without a receipt, those paid but never
    accepted, each sorted and once, and how many distinct VoucherNos were accepted; a walk of the
    two sorted lists, no map or set by VoucherNo."""
    missing: list[str] = []
    extra: list[str] = []
    count = i = j = 0
    n, m = len(accepted), len(paid)
    while i < n or j < m:
        no = accepted[i] if j >= m or (i < n and accepted[i] <= paid[j]) else paid[j]
        was_accepted = i < n and accepted[i] == no
        while i < n and accepted[i] == no:
            i += 1
        times = j
        while j < m and paid[j] == no:
            j += 1
        times = j - times
        if was_accepted:
            count += 1
            if times != 1 or no not in receipts:
                missing.append(no)
        else:
            extra.append(no)
    return missing, extra, count


def _yuan(fen: int) -> str:
    from messages.money import fen_to_str

    return ("-" + fen_to_str(-fen)) if fen < 0 else fen_to_str(fen)


async def check_run(world: Any, tcore: Any, pcore: Any, bcores: dict[str, Any], shells: Sequence[Any],
                  ledgers: dict[str, Any], snapshots: dict[dt.date, dict[str, Any]], run_days: list[dt.date],
                  final_day: dt.date | None, treasury_client: Any, ready: int) -> dict[str, Any]:
    """The run's invariants and its tables. `final_day` None: the run's last day is the calendar's,
    its replenishment morning unknown: the last day's advances stand out of their reserves (checked so)
    and what needs that morning is listed in the report's `not_judged` (runner.last_day)."""
    from ledger.model import AccountFlags
    from ledger.store import HISTORY_LIMIT_MAX
    from messages.envelope import VoucherKey
    from pboc_sim.core import TSA_ACCOUNT, clearing_account

    # The day's records are read in passes, each keeping only what it counts: no list of the
    # day's vouchers or payments and no set or map by VoucherNo (at 100,000 vouchers those were
    # tens of MB over the day's end, the run's peak). `tcore.iter_sent_rows` reads a packed day's
    # vouchers one at a time.
    def all_payments() -> Iterator[Any]:
        return (p for core in bcores.values() for p in core.payments.values())

    filings = [f for core in bcores.values() for f in core.filings.values()]
    # what was paid, by the day its voucher was sent (a voucher sent and not refused, or not: as
    # the day's list of sent vouchers counted them)
    days = with_final(run_days, final_day)
    paid_by_day: dict[dt.date, list[int]] = {day: [0, 0, 0, 0] for day in days}  # paid, fen, advances, fen
    sent_day = tcore.vouchers.sent_day  # the voucher's day if it was sent, without making the voucher
    for p in all_payments():
        if p.day is None:
            continue
        vday = sent_day(p.key.voucher_no)
        row = paid_by_day.get(vday) if vday is not None else None
        if row is not None:
            row[0] += 1
            row[1] += p.amount_fen
            if p.mode == "advance":
                row[2] += 1
                row[3] += p.amount_fen

    # TSA movements from the central bank's ledger
    tsa_history = await ledgers[world.pboc.id].history(TSA_ACCOUNT, limit=HISTORY_LIMIT_MAX)
    tsa_debits_by_day: dict[dt.date, int] = {}
    for h in tsa_history:
        if h.change_fen < 0 and h.transfer.business_date is not None:
            tsa_debits_by_day[h.transfer.business_date] = tsa_debits_by_day.get(h.transfer.business_date, 0) \
                - h.change_fen

    # One walk of the sent vouchers, day by day (a packed day's read from its columns, `iter_sent_rows`):
    # the day's counts, the VoucherNos accepted and refused, each receipt's amount against its voucher.
    sent_days = SentDays(tcore.receipts)
    day_rows = []
    for day in days:
        sent, accepted, returned = sent_days.walk(tcore.iter_sent_rows(day))
        paid, paid_fen, advances, advanced_fen = paid_by_day[day]
        normal = [f for f in filings if f.clear_type == 0 and f.filed_at.date() == day]
        repl = [f for f in filings if f.clear_type == 1 and f.filed_at.date() == day]
        statement = tcore.statements.get(day)
        snap = snapshots.get(day, {})
        day_rows.append({
            "date": day.isoformat(), "weekday": day.strftime("%a"),
            "vouchers_sent": sent, "vouchers_accepted": accepted, "paid": paid,
            "paid_amount": _yuan(paid_fen),
            "receipts_returned": returned,
            "clearing_requests": len(normal),
            "clearing_accepted": sum(1 for f in normal if f.state == "accepted"),
            "clearing_rejected": sorted(f"{f.voucher_no}: {f.reason}" for f in normal if f.state == "rejected"),
            "cleared_amount": _yuan(sum(f.cleared_fen for f in normal)),
            "advances": advances, "advanced_amount": _yuan(advanced_fen),
            "replenishments": len(repl), "replenishments_accepted": sum(1 for f in repl if f.state == "accepted"),
            "replenished_amount": _yuan(sum(f.cleared_fen for f in repl)),
            "tsa_debits": _yuan(tsa_debits_by_day.get(day, 0)),
            "statement_end_balance": _yuan(statement.end_fen) if statement else None,
            "ledger_tsa_at_close": _yuan(snap["tsa_fen"]) if snap else None,
            "statement_matches_ledger": bool(statement and snap and statement.end_fen == snap["tsa_fen"]),
            "statement_as_expected": bool(statement and statement.ok),
            "zero_balance_accounts_at_zero": bool(snap) and not snap.get("zba_not_zero"),
        })

    balances: dict[str, dict[str, dict[str, Any]]] = {}
    ledger_ok: dict[str, str | None] = {}
    zero_flagged: dict[str, list[str]] = {}
    for owner, ledger in ledgers.items():
        try:
            await ledger.check_invariants()
            ledger_ok[owner] = None
        except Exception as exc:  # noqa: BLE001 - reported as a failed invariant
            ledger_ok[owner] = str(exc)
        bal = await ledger.balances()
        balances[owner] = {aid: {"balance": _yuan(fen), "balance_fen": fen} for aid, fen in bal.items()}
        zero_flagged[owner] = [aid for aid in bal
                               if (await ledger.account(aid)).flags & AccountFlags.ZERO_AT_CLOSE]
    pboc_bal = {a: v["balance_fen"] for a, v in balances[world.pboc.id].items()}

    inv: dict[str, dict[str, Any]] = {}

    def check(name: str, ok: bool, detail: str) -> None:
        inv[name] = {"ok": bool(ok), "detail": detail}

    check("run_settled", ready == 0, "every step settled (all messages delivered and acked)" if ready == 0
          else f"{ready} messages journaled but never acked by their recipient")
    sums = {o: sum(v["balance_fen"] for v in b.values()) for o, b in balances.items()}
    check("ledger_sums_to_zero", all(s == 0 for s in sums.values()) and all(e is None for e in ledger_ok.values()),
          "; ".join(f"{o}: sum {_yuan(s)}" + (f" ({ledger_ok[o]})" if ledger_ok[o] else "") for o, s in sums.items()))
    closes_checked = [d for d in days if d in snapshots]
    bad_closes = {d.isoformat(): s["zba_not_zero"] for d, s in snapshots.items() if s["zba_not_zero"]}
    core_bad = [(str(d), a, _yuan(b)) for core in bcores.values() for d, a, b in core.unbalanced_closes]
    check("zero_balance_accounts_at_zero_each_close",
          len(closes_checked) == len(days) and not bad_closes and not core_bad,
          f"{len(closes_checked)} closes checked, {sum(len(v) for v in zero_flagged.values())} zero-balance accounts"
          + (f"; not zero: {bad_closes} {core_bad}" if bad_closes or core_bad else ""))
    accepted_nos, refused, wrong_amount = sent_days.finish(tcore)
    del sent_days
    paid_nos = sorted(p.key.voucher_no for p in all_payments() if p.day is not None)
    missing, extra, accepted_count = _paid_once(accepted_nos, paid_nos, tcore.receipts)
    paid_payments = len(paid_nos)
    first_accepted = accepted_nos[0] if accepted_nos else None
    del accepted_nos, paid_nos
    check("each_voucher_paid_exactly_once",
          not missing and not extra and not wrong_amount and not tcore.duplicate_receipts and not refused,
          f"{accepted_count} accepted, {paid_payments} payments, {len(tcore.receipts)} receipts, "
          f"{len(tcore.duplicate_receipts)} duplicate receipts, {len(refused)} refused by the gateway"
          + (f"; not paid once or no receipt: {missing[:5]}" if missing else "")
          + (f"; paid but never accepted: {extra[:5]}" if extra else "")
          + (f"; amount differs: {wrong_amount[:5]}" if wrong_amount else ""))
    tsa_debits = sum(tsa_debits_by_day.values())
    cleared = sum(f.cleared_fen for f in filings)
    paid_total = sum(p.amount_fen for p in all_payments() if p.day is not None)
    cleared_normal = sum(f.cleared_fen for f in filings if f.clear_type == 0)
    advanced = sum(p.amount_fen for p in all_payments() if p.day is not None and p.mode == "advance")
    replenished = sum(f.cleared_fen for f in filings if f.clear_type == 1)
    # the calendar's last day's advances: their replenishment morning is unknown, they stand out
    standing = outstanding_advances(bcores, run_days[-1], final_day)
    out = sum(standing.values())
    out_text = f"; the last day's advances {_yuan(out)} stand out (their replenishment is not judged)" \
        if final_day is None else ""
    check("tsa_debits_equal_clearings", tsa_debits == cleared == paid_total - out,
          f"TSA debits {_yuan(tsa_debits)}, clearings accepted {_yuan(cleared)} "
          f"(same-day {_yuan(cleared_normal)} + replenishments {_yuan(replenished)}), paid {_yuan(paid_total)} "
          f"(of which advances {_yuan(advanced)})" + out_text)
    check("advances_replenished", advanced - out == replenished and all(
        balances[bid][core.accounts["reserve"]]["balance_fen"] == core.config.reserve_fen - standing.get(bid, 0)
        for bid, core in bcores.items()),
        f"advanced {_yuan(advanced)}, replenished {_yuan(replenished)}; every reserve back at its opening "
        + ", ".join(sorted({_yuan(core.config.reserve_fen) for core in bcores.values()}))
        + (" less its bank's last-day advances" if final_day is None else "") + out_text)
    not_judged: list[dict[str, str]] = []
    if final_day is None:
        unknown = NotJudged(run_days[-1])
        count = sum(1 for p in all_payments() if p.day == run_days[-1] and p.mode == "advance" and p.filing is None)
        unknown.add("advances_replenished", f"the reserves replenished with the advance(s) of "
                    f"{run_days[-1].isoformat()}: {count}, {_yuan(out)} yuan")
        not_judged = unknown.entries
    mirrors = {core.bank_code: balances[bid][core.accounts["pboc-clearing"]]["balance_fen"]
               + pboc_bal.get(clearing_account(core.bank_code), 0) for bid, core in bcores.items()}
    check("clearing_accounts_mirror", all(v == 0 for v in mirrors.values()),
          "each bank's mirror of its clearing account equals the central bank's (they sum to 0)")
    stmt_days = [r for r in day_rows if r["statement_end_balance"] is not None]
    check("statements_match_ledger",
          len(stmt_days) == len(day_rows) and all(r["statement_matches_ledger"] and r["statement_as_expected"]
                                                  for r in day_rows),
          f"{len(stmt_days)} daily 7401 statements for {len(day_rows)} business days; EndBalance = ledger TSA at "
          "close and = the treasury's own expectation")
    rejected = [f for f in filings if f.state != "accepted"]
    check("clearing_requests_accepted", not rejected,
          f"{len(filings)} clearing requests" + (f"; not accepted: {[(f.voucher_no, f.reason) for f in rejected]}"
                                                  if rejected else ""))
    alarms = [(s.role, a.code, a.message) for s in shells for a in s.alarms]
    check("no_alarms", not alarms, f"{len(alarms)} alarms" + (f": {alarms[:5]}" if alarms else ""))

    # the trace of one voucher: the first advance, else the first voucher
    pick_no = min((p.key.voucher_no for p in all_payments() if p.mode == "advance" and p.day is not None),
                  default=None)
    if pick_no is None:
        pick_no = first_accepted
    trace: dict[str, Any] = {}
    if pick_no is not None:
        v = tcore.vouchers[pick_no]
        key = VoucherKey(world.adm_div_code, str(v.day.year), v.vtcode, pick_no, 0)
        events = await treasury_client.trace(key) or []
        payment = next((p for p in all_payments() if p.key.voucher_no == pick_no), None)
        replenish = next((f for f in filings if payment is not None and payment.filing == f.voucher_no), None)
        trace = {"voucher": str(key), "vtcode": v.vtcode, "amount": _yuan(v.amount_fen), "bank": v.bank,
                 "sent_at": v.send_at.isoformat(), "mode": payment.mode if payment else None,
                 "cleared_by": replenish.voucher_no if replenish else None,
                 "events": [{"business_time": e.get("business_time"), "step": e.get("step"),
                             "participant": e.get("participant"), "flag": e.get("flag"),
                             "detail": e.get("detail")} for e in events]}

    # per bank: the authorized quota by unit (granted / spent / remaining) and the reserve detail
    # lists sent (7202); no interest on advances (the reserve is the treasury's, 004 part 3 §12(3))
    agent_banks = {core.bank_code: {
        "authorized_quota": {agency: {k: _yuan(v) for k, v in row.items()}
                             for agency, row in core.remaining_quota().items()},
        "reserve_detail_lists": len(core.reserve_lists),
        "returned_unpaid": sorted(f"{p.key.voucher_no}: {p.returned}" for p in core.payments.values() if p.returned),
    } for core in bcores.values()}
    return {"ok": all(i["ok"] for i in inv.values()), "days": day_rows, "invariants": inv, "agent_banks": agent_banks,
            "balances": balances, "trace": trace, "not_judged": not_judged}
