"""Play a scenario in simulated mode on the deterministic engine, and fill `Observed`.

The world: the in-process gateway on SQLite in a directory, the central bank and each bank a
simulated core (`pboc_sim`, `bank_sim`) on the engine (`sim.engine.SimEngine`), real keys
derived from the seed. The treasury is *scripted*: the runner itself sends what the steps say,
signed with the treasury's key, at the steps' business times (and, with `quota: auto`, the
clearing quota notices of each day's payment vouchers at `quota_time`); a no-op core on the
engine takes what comes back to the treasury (receipts, statements) at the instant it arrives.

Every send is a stop: the engine runs every event due up to its time, the send goes through
the gateway (its answer is the gateway's verdict), then the engine drains what it set off.
Each business day's close is a stop too (balances at close). After the last step the engine
runs to the scenario's end, and the observed record is read from the cores, ledgers, taps on
the clients (what was delivered to whom, when) and the gateway's traces.

Offline participants and delivery faults go through the engine's public API (`set_online`, the
interceptor); a send with `fault: {delay}` is made at its step and reaches the gateway later; a
generated treasury (`profile: generated`) is the treasury core itself, as in `tgw demo`. Not here
(said by a run error, never silently ignored): `external` participants (conformance mode).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from business_time.clock import at
from messages.business import direct_fund_fen
from messages.dates import format_ymd
from messages.envelope import parse_envelope
from messages.errors import InputError
from messages.files import read_regular
from messages.money import fen_to_str, parse_fen
from messages.return_reason import reason_code
from runner.account_feed import FeedTap
from runner.card_repayments import CardTap
from runner.expectations import evaluate
from runner.observed import (
    BudgetRefusalSeen,
    ClearingSeen,
    InvariantSeen,
    MessageSeen,
    Observed,
    PaymentSeen,
    ReceiptSeen,
    ReportSeen,
    SentVoucher,
    TraceEvent,
    Verdict,
    trace_path,
    tsa_days,
)
from runner.pay_days import PayDays
from runner.reconcile import reconcile
from runner.report import RunResult
from runner.scenario_file import (
    AUTHORIZED_TEMPLATES,
    PAYMENT_TEMPLATES,
    BankSpec,
    ReturnSpec,
    Scenario,
    SendSpec,
    Step,
)
from runner.scorecard_feed import scorecard_of
from runner.signoff_feed import StatementTap, corrected, signoffs_of, voucher_lines
from runner.sim_observe import clearings_of, movements_of, payments_of, quotas_of, refunds_of, statements_of
from sim.effects import Effect, Refusal

__all__ = ["StepError", "UnsupportedError", "paid_at", "paid_key", "quota_lines", "report_period", "run_scenario"]

RESERVE_FEN = 20_000_000_00  # a bank's clearing reserve unless the scenario says otherwise
FAULTS_LOGGED_MAX = 1_000  # faults applied and kept for the progress lines of a run
TRACE_EVENTS_MAX = 50  # trace events kept per voucher in the observed record
GENERATED_VOUCHERS_DEFAULT = 20  # a generated treasury's vouchers per day when the world does not say
DELAYED_ORDER = 10**6  # a delayed send comes after the steps due at the same instant, before the close
PBOC_ANSWERED = frozenset({"2301", "2302"})  # requests the central bank answers with a receipt
REPORTED = frozenset({"2206", "4004", "3501"})  # a bank's reports and statement, checked against the receipts
REPORTS_MAX = 10_000  # reports kept per run: a few banks' daily and monthly reports over the run's days


class UnsupportedError(Exception):
    """The scenario asks for something simulated mode cannot do yet."""


class StepError(Exception):
    """A step cannot be done as written (e.g. a participant asked to seal a voucher it has no seal on)."""


class _NullCore:
    """The treasury's core on the engine. Scripted (`inner` None): takes what arrives, answers
    nothing. Generated: the treasury core (`treasury_sim`) plans and sends, this records what
    arrives on the way in."""

    def __init__(self, inner: Any = None) -> None:
        from treasury_sim.account_notices import AccountNoticeLog
        from treasury_sim.bank_reports import BankInbox
        from treasury_sim.suspensions import SuspensionLog

        self.inner = inner
        # the world's first division: its units' quota lines are keyed by unit and year alone, another
        # division's carry its AdmDivCode (`treasury_sim.bank_reports.quota_line_key`); "": not told apart
        self.home = ""
        self.received: list[tuple[str, int, dict[str, str], dt.datetime, str | None]] = []
        # scripted: the banks' refund notices, reports and statements, and the 3501 sign-off
        self.inbox = BankInbox()
        # the payment's key ("<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>", `paid_key`: two divisions'
        # or years' of one number are two) → (PayBankCode, XPayDate, fen, AgencyCode): one per payment
        # of the run, which the scenario's own limits (STEPS_MAX, BATCH_COUNT_MAX) bound
        self.paid: dict[str, tuple[str, str, int, str]] = {}
        # the same key → the direct funds (直达资金) of a paid payment: its receipt's lines marked DirectFundFlag 1
        self.direct_paid: dict[str, int] = {}
        # the banks' reports and statements as they came: (PayBankCode, VtCode, VoucherNo, begin, end,
        # PayAmt, what the receipts paid in the period, arrival, fen by ExpFuncCode, DirectFundAmt, the
        # direct funds the receipts paid in the period less the direct refunds, AdmDivCode)
        self.reports: list[tuple[str, str, str, str, str, int, int, dt.datetime, dict[str, int], int, int, str]] = []
        # payment suspension orders, lifts, confirmations (000 五(二)3): the treasury's audit record
        self._suspensions = SuspensionLog()
        # account notices (7601) sent and their confirmations (004 part 3 §9(1))
        self._account_notices = AccountNoticeLog()
        self.feeds = FeedTap()  # the banks' account feeds (7602), matched (runner.account_feed)
        self.cards = CardTap()  # the card banks' repayment details (7701) (runner.card_repayments)

    @property
    def suspensions(self) -> Any:
        """The audit record of suspensions: the generated core's own (as restored), or this one's."""
        return self._suspensions if self.inner is None else self.inner.suspensions

    @property
    def account_notices(self) -> Any:
        """The account notices sent and confirmed: the generated core's own, or this one's."""
        return self._account_notices if self.inner is None else self.inner.account_notices

    def on_time(self, now: dt.datetime) -> list[Effect]:
        return [] if self.inner is None else list(self.inner.on_time(now))

    def on_voucher(self, doc: Any, flag: int, now: dt.datetime, return_reason: str | None = None) -> list[Effect]:
        from treasury_sim.bank_reports import HANDLED

        self.received.append((doc.vtcode, flag, doc.head(), now, return_reason))
        self.feeds.on_voucher(doc, flag, self.account_notices.records.values())
        self.cards.on_voucher(doc, flag)
        if self.inner is not None:
            return list(self.inner.on_voucher(doc, flag, now, return_reason))
        if flag == 1 and doc.vtcode in ("5201", "8202") and return_reason is None:
            key = paid_key(doc.head(), doc.vtcode)
            self.paid.setdefault(key, (doc.get("PayBankCode"), doc.get("XPayDate"),
                                       parse_fen(doc.get("XPayAmt") or "0.00"), doc.get("AgencyCode")))
            if self.paid[key][2] > 0:
                self.direct_paid.setdefault(key, direct_fund_fen(doc.details()))
        if flag == 0 and doc.vtcode in REPORTED and len(self.reports) < REPORTS_MAX:
            begin, end = report_period(doc.vtcode, doc.head())
            bank, adm = doc.get("PayBankCode"), doc.get("AdmDivCode")  # a division is reported its own payments
            # the treasury's books: what the bank's receipts paid in the period less the refunds it
            # noticed in it (a report is net of refunds, as the 3501 sign-off reckons)
            refunded = self.inbox.refunded_in(bank, begin, end, adm)  # the division's own refunds
            self.reports.append((bank, doc.vtcode, doc.get("VoucherNo"), begin, end,
                                 parse_fen(doc.get("PayAmt") or "0.00", allow_negative=True),
                                 self._paid_in(bank, begin, end, adm) - refunded, now, _by_subject(doc.details()),
                                 parse_fen(doc.get("DirectFundAmt") or "0.00", allow_negative=True),
                                 self._direct_in(bank, begin, end, adm) - self.inbox.direct_refunded(bank, begin, end, adm),
                                 adm))
        if flag == 1 and doc.vtcode == "7501":
            self.suspensions.confirmed(doc.head(), now)
        if flag == 1 and doc.vtcode == "7601":
            self.account_notices.confirmed(doc.head(), now)
        if flag == 0 and doc.vtcode in HANDLED:
            adm = doc.get("AdmDivCode")  # a statement is checked against its own division's payments
            return list(self.inbox.on_voucher(doc, now, lambda bank, begin, end: self._paid_in(bank, begin, end, adm),
                                              self.paid_of,
                                              lambda bank, begin, end: self._direct_in(bank, begin, end, adm),
                                              home=self.home))
        return []

    def _paid_in(self, bank: str, begin: str, end: str, adm: str = "") -> int:
        """What `bank`'s receipts paid in yyyyMMdd `begin`..`end`: division `adm`'s payments only, if given."""
        return sum(fen for key, (code, day, fen, _) in self.paid.items()
                   if code == bank and begin <= day <= end and key.startswith(f"{adm}/" if adm else ""))

    def _direct_in(self, bank: str, begin: str, end: str, adm: str = "") -> int:
        """The direct funds (直达资金) of what `_paid_in` counts."""
        return sum(self.direct_paid.get(key, 0) for key, (code, day, _, _) in self.paid.items()
                   if code == bank and begin <= day <= end and key.startswith(f"{adm}/" if adm else ""))

    def agency_of(self, voucher_no: str, key: str = "") -> str:
        """The unit of the payment of `key` (`paid_key`), or, with no key (a 2252 names the payment
        by number), of the first payment numbered `voucher_no`."""
        if key:
            return self.paid.get(key, ("", "", 0, ""))[3]
        return next((v[3] for k, v in self.paid.items() if k.rsplit("/", 1)[1] == voucher_no), "")

    def paid_of(self, notice: Any) -> tuple[str, str]:
        """(AgencyCode, StYear) of the paid payment a refund notice names: its division's (AdmDivCode)
        payment of its kind and number (of two years', the one of its OriVouDate's year, else the
        latest paid); ("", "") if none."""
        adm, vtcode, no = notice.get("AdmDivCode"), notice.get("OriVtCode"), notice.get("OriVoucherNo")
        found = [(parts[1], v[3]) for k, v in self.paid.items()
                 if (parts := k.split("/", 3))[0] == adm and parts[2:] == [vtcode, no]]
        if not found:
            return "", ""
        year = notice.get("OriVouDate")[:4]
        return next(((agency, y) for y, agency in found if y == year), found[-1][::-1])

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        return [] if self.inner is None else list(self.inner.on_refused(refusal, now))


    def snapshot(self) -> bytes:
        return b"{}" if self.inner is None else bytes(self.inner.snapshot())

    def load_snapshot(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.load_snapshot(data)


class _DeliveryFaults:
    """The scenario's `fault:` steps as the engine's interceptor (`sim.engine.Interceptor`): from the
    step on, the next `count` deliveries (default 1) to a participant, of a VtCode / flag if the
    step says so, are dropped (read again after the engine's redelivery timeout), duplicated
    (handed over twice) or delayed (held in the network for `delay`)."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.applied: list[tuple[str, dt.datetime, str | None, str]] = []

    def add(self, participant: str, fault: Mapping[str, Any], line: int) -> None:
        self.rules.append({**fault, "participant": participant, "left": int(fault.get("count", 1)), "line": line})

    def note(self, kind: str, at: dt.datetime, participant: str | None, detail: str = "") -> None:
        if len(self.applied) < FAULTS_LOGGED_MAX:
            self.applied.append((kind, at, participant, detail))

    def _rule(self, participant: str, item: Any) -> dict[str, Any] | None:
        for rule in self.rules:
            if (rule["left"] > 0 and rule["participant"] == participant
                    and rule.get("vtcode", item.key.vtcode) == item.key.vtcode
                    and rule.get("flag", item.key.flag) == item.key.flag):
                return rule
        return None

    def on_deliveries(self, participant: str, items: Sequence[Any], now: dt.datetime) -> Any:
        from sim.faults import BatchFate

        fate = BatchFate([])
        for item in items:
            rule = self._rule(participant, item)
            if rule is None:
                fate.now.append(item)
                continue
            rule["left"] -= 1
            self.note(rule["kind"], now, participant, f"{item.key} (line {rule['line']})")
            if rule["kind"] == "drop":
                fate.dropped.append(item)
            elif rule["kind"] == "duplicate":
                fate.now.append(item)
                fate.later.append((0.0, item))
            else:
                fate.later.append((rule["delay"].total_seconds(), item))
        return fate


@dataclass(order=True)
class _Action:
    at: dt.datetime
    order: int
    kind: str = field(compare=False)  # step, quota, close, delayed
    step: Step | None = field(compare=False, default=None)
    payload: Any = field(compare=False, default=None)


@dataclass
class _Sent:
    spec: SendSpec
    key: str
    vtcode: str
    voucher_no: str
    flag: int
    bank: str | None
    bank_code: str | None
    amount_fen: int
    at: dt.datetime
    doc_bytes: bytes
    verdicts: list[Verdict] = field(default_factory=list)


async def run_scenario(s: Scenario, root: Path, *, seed: int | None = None,
                       progress: Callable[[str], None] | None = None, algorithm: str = "ecdsa") -> RunResult:
    """Play `s` in simulated mode; `algorithm` is every participant's seal algorithm (ecdsa, rsa, sm2)."""
    started = time.monotonic()
    for unsupported, why in ((s.world.external, "external participants need conformance mode (--external)"),):
        if unsupported:
            return RunResult(s, None, (), time.monotonic() - started, f"unsupported in simulated mode: {why}")
    run = _Run(s, root, s.world.seed if seed is None else seed, progress)
    run.algorithm = algorithm
    try:
        observed = await run.play()
    except UnsupportedError as exc:
        return RunResult(s, None, (), time.monotonic() - started, f"unsupported: {exc}")
    except StepError as exc:
        return RunResult(s, None, (), time.monotonic() - started, f"step failed: {exc}")
    except InputError as exc:  # e.g. calendar-out-of-range: a step after the close of the last day known
        return RunResult(s, None, (), time.monotonic() - started, f"cannot run: {exc}")
    return RunResult(s, observed, tuple(evaluate(s.expectations, observed)), time.monotonic() - started)


class _Run:
    def __init__(self, s: Scenario, root: Path, seed: int, progress: Callable[[str], None] | None) -> None:
        self.s, self.root, self.seed, self.progress = s, root, seed, progress
        self.sent: dict[str, _Sent] = {}
        self.messages: list[MessageSeen] = []
        self.senders: dict[str, str] = {}  # delivered voucher key → sender participant id
        # message ids seen delivered (as many as the run's messages, which the scenario bounds)
        self.delivered: set[str] = set()
        # a request to the central bank (2301 / 2302) → its answer's Return_Reason and arrival
        self.pboc_answers: dict[str, tuple[str | None, dt.datetime]] = {}
        self.closes: dict[dt.date, dict[str, dict[str, int]]] = {}
        self.end = s.end
        self.pending: list[_Action] = []  # the timeline still to play (a heap)
        self.delays = 0
        self.no_seq = 0
        self.algorithm = "ecdsa"  # every participant's key algorithm (`run_scenario`)
        # the banks' monthly statements, their sign-offs and refund notices off the wire (runner.signoff_feed)
        self.statement_tap = StatementTap({b.code: b.id for b in s.world.banks})
        self._pay_days: PayDays | None = None  # of the steps, made when first asked

    # -- building the world --------------------------------------------------------------------

    async def play(self) -> Observed:
        from business_time.calendar import BusinessCalendar
        from gateway.monitoring.monitor import build_monitor
        from gateway.service import Gateway
        from runner.world import DevWorld
        from sim.clock import SimClock
        from sim.engine import SimEngine, engine_client
        from storage.db import open_database

        s = self.s
        self.calendar = BusinessCalendar.default()
        cc = s.world.clock
        world = DevWorld.create(self.root / "world", banks=[(b.id, b.code, b.name) for b in s.world.banks],
                                seed=self.seed, algorithm=self.algorithm,
                                divisions=[(d.code, d.banks) for d in s.world.divisions])
        self.world = world
        self.ids = {"treasury": world.treasury.id, "pboc": world.pboc.id, **{b.id: b.id for b in s.world.banks}}
        self.names = {v: k for k, v in self.ids.items()}
        self.clock = clock = SimClock(self.calendar, cc, s.world.start)
        dbs: list[Any] = []
        gw_db = await open_database(str(self.root / "gateway.db"))
        dbs.append(gw_db)
        gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock,
                          monitor=build_monitor(gw_db, clock=clock))
        self.gateway = gateway
        await gateway.start()
        await self._build_players(dbs)
        self.clients = {pid: engine_client(gateway, pid) for pid in world.participants}
        for pid, client in self.clients.items():
            await client.__aenter__()
            self._tap(pid, client)
        self.faults = _DeliveryFaults()
        engine = SimEngine(clock, self._player_shells(), interceptor=self.faults)
        try:
            await engine.start()
            await self._play_timeline(engine.run_until, engine.drain, engine)
            return await self._observe()
        finally:
            for client in self.clients.values():
                await client.__aexit__(None, None, None)
            await gateway.stop()
            for db in dbs:
                await db.close()

    async def _play_timeline(self, run_until: Callable[[dt.datetime], Awaitable[None]],
                             settle: Callable[[], Awaitable[None]], engine: Any) -> None:
        """The scenario's actions in time order, each once time has run up to it and followed by
        `settle`, then on to the run's end. Simulated mode runs time with its engine, conformance
        mode by moving the gateway's clock (engine None)."""
        self.pending = self._timeline()
        heapq.heapify(self.pending)  # a delayed send adds its own action as the run goes
        while self.pending:
            action = heapq.heappop(self.pending)
            await self._reach(action, run_until)
            await self._do(action, engine)
            await settle()
        await run_until(self.end)

    async def _reach(self, action: _Action, run_until: Callable[[dt.datetime], Awaitable[None]]) -> None:
        """Run time up to `action` (conformance mode passes over a grid stop nobody needs)."""
        await run_until(action.at)

    async def _build_players(self, dbs: list[Any], *, external: str | None = None, in_memory: bool = False) -> None:
        """The PBOC's and each bank's ledger (a database each, appended to `dbs` for the caller to
        close) and cores, for every scenario bank but `external` (conformance mode's system under
        test, which keeps its own). Simulated and conformance mode build them here alike. The
        ledgers are files in the run's directory, or `in_memory` (a run that keeps no directory)."""
        from bank_sim.core import BankConfig, BankCore
        from bank_sim.duties import DutiesConfig
        from ledger.store import Ledger
        from pboc_sim.core import PbocConfig, PbocCore
        from runner.account_steps import declared_for
        from runner.demo import SIM_DB_SYNCHRONOUS
        from storage.db import SqliteDatabase

        s, world, cc = self.s, self.world, self.s.world.clock
        banks = [b for b in s.world.banks if b.id != external]
        self.ledgers: dict[str, Ledger] = {}
        for owner in [world.pboc.id, *(b.id for b in banks)]:
            # a simulator's books, as the demo's: crash-safe (WAL, NORMAL), no fsync per commit
            db = SqliteDatabase(":memory:" if in_memory else str(self.root / f"ledger-{owner}.db"),
                                synchronous=SIM_DB_SYNCHRONOUS)
            dbs.append(db)
            self.ledgers[owner] = await Ledger.open(db)
        self.pcore = PbocCore(PbocConfig(adm_div_code=world.adm_div_code, tsa_opening_fen=s.world.tsa_opening_fen,
                                         clearing_floor_fen=s.world.clearing_floor_fen,
                                         divisions=tuple(d.code for d in s.world.divisions[1:])),
                              self.calendar, cc)
        self.bcores: dict[str, BankCore] = {}
        for b in banks:
            extra = {k: getattr(b, k) for k in ("filing_time", "open_time", "replenish_time") if getattr(b, k)}
            duties = DutiesConfig(  # the bank's behaviour profile (its payees' returns come by 2252)
                profile=b.behaviour, profile_params=tuple(sorted(b.params.items())), seed=self.seed)
            self.bcores[b.id] = BankCore(b.code, BankConfig(
                bank_name=b.name, adm_div_code=s.world.divisions_of(b.id)[0], divisions=s.world.divisions_of(b.id)[1:],
                duties=duties,
                reserve_fen=RESERVE_FEN if b.reserve_fen is None else b.reserve_fen,
                registry_accounts=declared_for(s, b.id), account_open_days=b.account_open_days, **extra),
                self.calendar, cc)

    def _player_shells(self) -> list[Any]:
        """The shells of the treasury, the PBOC and the banks `_build_players` made, on `self.clients`
        and `self.clock`: treasury first, then the PBOC, then the banks."""
        from bank_sim.shell import BankShell
        from pboc_sim.shell import PbocShell
        from sim.shell import SimShell

        world, clock = self.world, self.clock
        self.tcore = _NullCore(self._generated_treasury())
        self.tcore.home = self._home
        self.tcore.feeds.declared = {a.number for a in self.s.world.accounts if a.acct_type in ("3", "4")}
        tshell = SimShell(self.tcore, self.clients[world.treasury.id], None, world.signer(world.treasury.id),
                          "treasury", clock)
        pshell = PbocShell(self.pcore, self.clients[world.pboc.id], self.ledgers[world.pboc.id],
                           world.signer(world.pboc.id), clock)
        self.bshells = {bid: BankShell(core, self.clients[bid], self.ledgers[bid], world.signer(bid), clock)
                        for bid, core in self.bcores.items()}
        return [tshell, pshell, *self.bshells.values()]

    def _generated_treasury(self) -> Any:
        """The treasury core (`treasury_sim`) for `treasury.profile: generated`, else None; it may
        extend the run's end. Conformance mode (runner.conformance) builds its treasury here too."""
        s, cc = self.s, self.s.world.clock
        self.generated: Any = None  # treasury_sim.core.TreasuryCore when the treasury is generated
        if s.world.treasury_profile == "generated":
            from treasury_sim.core import TreasuryConfig, TreasuryCore

            self.generated = TreasuryCore(TreasuryConfig(
                banks=tuple((b.code, b.name) for b in s.world.banks), adm_div_code=self.world.adm_div_code,
                first_day=s.world.start.date(), days=s.world.days,
                vouchers_per_day=s.world.vouchers_per_day or GENERATED_VOUCHERS_DEFAULT, seed=self.seed,
                quota_time=s.world.quota_time, units=s.world.budget_units,
                budget_anomaly_permille=s.world.budget_anomaly_permille, authorized_unspent_pct=s.world.unspent_pct,
                tsa_opening_fen=s.world.tsa_opening_fen), self.calendar, cc)
            if s.world.end is None:  # the run covers the plan and the last day's replenishment
                last = self.calendar.next_business_day(self.generated.days[-1])
                self.end = max(self.end, at(last, cc.bank_system_close))
        return self.generated

    def _tap(self, pid: str, client: Any) -> None:
        """Record every delivery to `pid` (what, from whom, at what business time)."""
        receive = client.receive

        async def tapped(timeout_s: float = 5.0) -> list[Any]:
            items: list[Any] = await receive(timeout_s)
            for item in items:
                if item.message_id in self.delivered:  # read again after a drop or a lost ack: counted once
                    continue
                self.delivered.add(item.message_id)
                self.messages.append(MessageSeen(item.key.vtcode, item.key.flag, self.names.get(item.sender, item.sender),
                                                 self.names.get(pid, pid), self.clock.now(), item.key.voucher_no,
                                                 item.key.adm_div_code))
                self.senders[str(item.key)] = self.names.get(item.sender, item.sender)
                self.statement_tap.on_delivery(self.names.get(pid, pid), item.key.vtcode, item.key.flag,
                                               item.envelope, self.clock.now())
                if item.key.flag == 1 and item.key.vtcode in PBOC_ANSWERED:
                    [body] = parse_envelope(item.envelope).bodies
                    self.pboc_answers[str(item.key.original())] = (body.return_reason, self.clock.now())
            return items

        setattr(client, "receive", tapped)  # noqa: B010 - an instance attribute over the method

    # -- the timeline --------------------------------------------------------------------------

    def _timeline(self) -> list[_Action]:
        s = self.s
        heap: list[_Action] = []
        for order, step in enumerate(s.steps, start=1):
            heapq.heappush(heap, _Action(step.at, order, "step", step))
        if s.world.quota_mode == "auto":
            # the exact sum of the day's vouchers per bank, pay type and fund type (004 part 5 §1)
            by_day: dict[tuple[dt.date, str, str, str, str], int] = {}
            refused = self._refused_procurements()
            for step in s.steps:
                for spec in step.sends:
                    if spec.template in PAYMENT_TEMPLATES and spec.bank and spec.amount_fen and spec.id not in refused:
                        pay = "authorized" if spec.template in AUTHORIZED_TEMPLATES else "direct"
                        k = (self._clearing_day(step.at, spec), spec.bank, pay, spec.fields.get("FundTypeCode", "1"),
                             self._adm(spec))
                        by_day[k] = by_day.get(k, 0) + spec.amount_fen
            for (day, bank, pay, fund, adm), fen in sorted(by_day.items(), key=self._first_division_first):
                when = min([at(day, s.world.quota_time), *(st.at for st in s.steps if st.at.date() == day
                                                           and self._clearing_day(st.at) == day)])
                qid = f"auto-quota-{day:%Y%m%d}-{bank}-{pay}" + (f"-{fund}" if fund != "1" else "") + (
                    f"-{adm}" if adm != self._home else "")  # a division's own notice (PBOC lines are by division)
                heapq.heappush(heap, _Action(when, -1000 + len(heap), "quota",
                                             payload={"bank": bank, "pay_type": pay, "amount_fen": fen,
                                                      "id": qid, "day": day, "fund_type": fund, "adm": adm}))
            # the bank pays an authorized voucher only within its unit's quota (7101; 004 part 5,
            # authorized payment steps 2 and 4; docs/rules.md "Paying a voucher"): notified before
            # the voucher reaches the bank (one notice per fund type: a quota line is of one fund type)
            # and of the voucher's budget year (StYear, the year it is dated): a line of the year it is
            # paid in does not pay it (a voucher of 31 December paid in January)
            unit_quota: dict[tuple[dt.date, str, str, int, str], list[tuple[SendSpec, dt.datetime]]] = {}
            for step in s.steps:
                for spec in step.sends:
                    if spec.template in AUTHORIZED_TEMPLATES and spec.bank and spec.amount_fen:
                        uk = (self._clearing_day(step.at, spec), spec.bank, spec.fields.get("FundTypeCode", "1"),
                              step.at.year, self._adm(spec))
                        unit_quota.setdefault(uk, []).append((spec, step.at))
            for (day, bank, fund, year, adm), sends in sorted(unit_quota.items(),
                                                              key=lambda kv: self._first_division_first(kv)):
                when = min([at(day, s.world.quota_time), *(t for _, t in sends)])
                # dated in its budget year (the gateway refuses a StYear that is not VouDate's): the pay
                # day, or, paid in the next year, the day of its first voucher
                dated = day if day.year == year else min(t for _, t in sends).date()
                heapq.heappush(heap, _Action(when, -1000 + len(heap), "unit-quota",
                                             payload={"bank": bank, "day": day, "fund_type": fund, "adm": adm,
                                                      "dated": dated, "specs": [x for x, _ in sends]}))
        for b in s.world.banks:  # the payee's bank returns a payment: its 2252 to the paying bank
            for r in b.returns:
                heapq.heappush(heap, _Action(r.at, -500 + len(heap), "payee-return", payload=(b.id, r)))
        day = s.world.start.date()
        while at(day, s.world.clock.bank_system_close) <= self.end:
            if self.calendar.is_business_day(day):
                heapq.heappush(heap, _Action(at(day, s.world.clock.bank_system_close), 10**9, "close", payload=day))
            day += dt.timedelta(days=1)
        out = []
        while heap:
            out.append(heapq.heappop(heap))
        return out

    def _adm(self, spec: SendSpec) -> str:
        """The division (AdmDivCode) of a send: its own, else the world's first."""
        return spec.adm or self._home

    @property
    def _home(self) -> str:
        """The world's first division: a step's when it names none. The gateway's world's (in
        conformance mode a world of its own, whose first AdmDivCode may be another than 990100); before
        there is a world (a conformance run's timeline read alone), the scenario's."""
        return self.s.world.adm if self.world is None else str(self.world.adm_div_code)

    def _first_division_first(self, item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
        """Sort key of an auto notice: as before, the first division's notices before another's of
        the same day, bank and kind (a one-division world sends what it always sent)."""
        key = item[0]
        return (*key[:-1], key[-1] != self._home, key[-1])

    def _refused_procurements(self) -> set[str]:
        """The procurement sends the treasury will refuse (everything before them paid): no quota for them."""
        from runner.procurement_steps import book_of, refused_in_plan

        sends = [(st.at, spec) for st in self.s.steps for spec in st.sends
                 if spec.template == "procurement" and spec.amount_fen]
        heads = [({**spec.fields, "AgencyCode": spec.unit or "", "VouDate": f"{t:%Y%m%d}"}, spec.amount_fen or 0)
                 for t, spec in sends]
        return {sends[i][1].id for i in refused_in_plan(book_of(self.s.world.contracts), heads)}

    def _clearing_day(self, t: dt.datetime, spec: SendSpec | None = None) -> dt.date:
        """The day a voucher sent at `t` is paid and cleared on (so its quota notice is for that
        day): that day before the bank's close on a business day, else the next business day; the
        next one too past the cutoff once the bank's reserve no longer covers it (runner.pay_days)."""
        if self._pay_days is None:
            self._pay_days = PayDays(
                ((step.at, x) for step in self.s.steps for x in step.sends if x.template in PAYMENT_TEMPLATES),
                self._reserve_of, self.calendar, self.s.world.clock)
        return self._pay_days.day(t, spec)

    def _reserve_of(self, bank: str) -> int:
        reserve = self.s.world.bank(bank).reserve_fen
        return RESERVE_FEN if reserve is None else reserve

    async def _do(self, action: _Action, engine: Any) -> None:
        if action.kind == "close":
            self.closes[action.payload] = {owner: dict(await ledger.balances()) for owner, ledger in self.ledgers.items()}
            if self.progress:
                self.progress(f"{action.at:%Y-%m-%d %a %H:%M}  close: {len(self.sent)} sent so far")
            return
        if action.kind == "quota":
            await self._quota(action.payload)
            return
        if action.kind == "unit-quota":
            await self._unit_quota(action.payload)
            return
        if action.kind == "delayed":
            await self._deliver(action.payload)
            return
        if action.kind == "payee-return":
            await self._payee_return(*action.payload)
            return
        step = action.step
        assert step is not None
        if self.progress:
            self.progress(f"{action.at:%Y-%m-%d %a %H:%M}  {step.action}"
                          + (f" {', '.join(x.id for x in step.sends[:5])}" if step.sends else ""))
        if step.action == "quota":
            await self._quota(step.quota)
        elif step.action == "send":
            for spec in step.sends:
                await self._send([spec])
        elif step.action == "batch":
            await self._send(list(step.sends))
        elif step.action in ("offline", "online"):
            assert step.target is not None
            engine.set_online(self.ids[step.target], step.action == "online")
        elif step.action == "fault":
            assert step.target is not None
            self.faults.add(self.ids[step.target], step.fault, step.line)
        elif step.action == "monitor":
            from runner.monitor_steps import decide_hold

            assert step.target is not None
            record = self.sent[step.target]
            decided = await decide_hold(self.gateway, record.key, step.fault, officer=self.ids["treasury"],
                                        at=self.clock.now())
            if decided and step.fault.get("action") == "release":  # it goes on to its bank from now
                record.verdicts.append(Verdict("gateway", "gateway", True, None, "released by monitoring",
                                               self.clock.now(), "released"))
        elif step.action in ("suspend", "lift"):  # payment suspension, 000 五(二)3 (runner.suspension_steps)
            from runner.suspension_steps import suspension_send

            await self._deliver([suspension_send(self.tcore.suspensions, step, self.s.world,
                                                 step.order.get("adm") or self._home, self.sent, self.clock.now())])
        elif step.action == "account":  # the account registry, 004 part 3 §9(1) (runner.account_steps)
            from runner.account_steps import account_send

            await self._deliver([account_send(self.tcore.account_notices, step, self.s.world,
                                              step.order.get("adm") or self._home, self.clock.now())])

    # -- sending -------------------------------------------------------------------------------

    async def _payee_return(self, bank: str, r: ReturnSpec) -> None:
        """The payee's bank returns payment `r` paid by `bank`: another bank of the world, standing
        for the payee's bank, sends `bank` a payee-bank refund notice (2252) through the gateway,
        as it would a real bank (docs/rules.md "Payee returns")."""
        from bank_sim.refunds import payee_bank_notice
        from messages.voucher import build_voucher, parse_voucher

        payee_bank = payee_bank_of(self.s, bank)
        original = parse_voucher(self.sent[r.voucher].doc_bytes)
        now = self.clock.now()
        self.no_seq += 1
        no = f"ST{payee_bank.code[-4:]}{format_ymd(now.date())}{self.no_seq:05d}"
        if r.batch_line:  # one line of a salary batch came back (runner.batch_steps)
            from runner.batch_steps import returned_line

            ori_head = dict(returned_line(original, r.batch_line))
        else:
            ori_head = original.head()
        head = payee_bank_notice(ori_head, no=no, today=now.date(),
                                 paid_day=self._clearing_day(self.sent[r.voucher].at, self.sent[r.voucher].spec),
                                 payee_bank=(payee_bank.code, payee_bank.name), reason=r.reason, serial=no)
        spec = SendSpec(f"payee-return-{r.voucher}" + (f"-{r.batch_line}" if r.batch_line else ""), payee_bank.id,
                        line=r.line)
        await self._deliver([(spec, build_voucher("2252", head), 0)])

    def _bank_code(self, bank: str | None) -> str | None:
        return self.s.world.bank(bank).code if bank else None

    async def _quota(self, q: Mapping[str, Any]) -> None:
        from messages.factory import quota_notice

        vtcode = "5108" if q["pay_type"] == "direct" else "5106"
        day: dt.date = q["day"]
        code = self.s.world.bank(q["bank"]).code
        units = sorted({(u.sup_dep, u.sup_dep_name) for u in self.s.world.units})
        amounts = _split(int(q["amount_fen"]), len(units))
        data = quota_notice(voucher_no=f"QE{format_ymd(day)}{code[-4:]}{q['pay_type'][0].upper()}{len(self.sent):04d}",
                            clear_date=day, pay_bank_code=code, adm_div_code=q.get("adm") or self._home,
                            vtcode=vtcode, fund_type_code=q.get("fund_type", "1"),
                            amounts_by_unit=[(c, n, fen) for (c, n), fen in zip(units, amounts, strict=True)])
        spec = SendSpec(q["id"], "treasury", "quota-" + q["pay_type"], bank=q["bank"], amount_fen=int(q["amount_fen"]),
                        adm=q.get("adm") or "")
        await self._deliver([(spec, data, 0)])

    async def _unit_quota(self, q: Mapping[str, Any]) -> None:
        """An authorized quota notice (7101) to the bank covering these authorized vouchers' details."""
        from messages.factory import authorized_quota_notice, payment_voucher
        from messages.voucher import parse_voucher

        day: dt.date = q["day"]
        code = self.s.world.bank(q["bank"]).code
        lines: dict[tuple[str, str], tuple[str, str, int]] = {}  # (agency, subject) → names, fen
        for spec in q["specs"]:
            assert spec.amount_fen is not None
            if spec.template == "card-repayment":  # its card lines are of one subject (runner.batch_steps)
                from runner.batch_steps import card_repayment

                doc = parse_voucher(card_repayment(spec, voucher_no="X", day=day, bank_code=code,
                                                   adm_div_code=self._adm(spec), unit=None))
            else:
                doc = parse_voucher(payment_voucher(voucher_no="X", vou_date=day, pay_bank_code=code,
                                                    amount_fen=spec.amount_fen, vtcode="8202",
                                                    rng=random.Random(f"{self.seed}:{spec.id}")))
            unit = next((u for u in self.s.world.units if u.agency == spec.unit), None)
            agency = spec.fields.get("AgencyCode") or (unit.agency if unit else None)
            agency_name = spec.fields.get("AgencyName") or (unit.agency_name if unit else None)
            for d in doc.details():
                k = (agency or d["AgencyCode"], d["ExpFuncCode"])
                names = (agency_name or d["AgencyName"], d["ExpFuncName"])
                fen = parse_fen(d["PayAmt"])
                lines[k] = (*names, lines.get(k, ("", "", 0))[2] + fen)
        data = authorized_quota_notice(
            voucher_no=f"ED{format_ymd(day)}{code[-4:]}{len(self.sent):04d}", vou_date=q.get("dated", day),
            pay_bank_code=code,
            adm_div_code=q.get("adm") or self._home, fund_type_code=q.get("fund_type", "1"),
            lines=[(agency, an, subject, sn, "P0000", "示例项目", fen)
                   for (agency, subject), (an, sn, fen) in sorted(lines.items())])
        fund = q.get("fund_type", "1")
        adm = q.get("adm") or self._home
        spec = SendSpec(f"auto-unit-quota-{day:%Y%m%d}-{q['bank']}" + (f"-{fund}" if fund != "1" else "")
                        + (f"-{adm}" if adm != self._home else ""), "treasury", None, bank=q["bank"], adm=adm)
        await self._deliver([(spec, data, 0)])

    def _render(self, spec: SendSpec, now: dt.datetime) -> tuple[bytes, int]:
        from messages.factory import payment_voucher, quota_notice
        from messages.voucher import build_voucher, fill_receipt, parse_voucher

        if spec.file is not None:
            data = read_regular(spec.file)
            return data, 1 if b"<XPayAmt>" in data else 0
        self.no_seq += 1
        day = now.date()
        if spec.template == "receipt":
            original = self.sent[spec.of or ""]
            doc = parse_voucher(original.doc_bytes)
            head = {"XPayDate": format_ymd(day), "XPayAmt": doc.get("PayAmt"),
                    "XAgentBusinessNo": f"YH{(self._bank_code(spec.sender) or '0000')[-4:]}{format_ymd(day)}{self.no_seq:08d}"}
            head.update(spec.fields)
            return fill_receipt(doc, head), 1
        vtcode = spec.vtcode
        assert vtcode is not None and spec.amount_fen is not None
        code = self._bank_code(spec.bank) or ""
        if spec.template in ("salary-batch", "union-fees", "card-repayment"):
            from runner.batch_steps import render

            no = spec.voucher_no or f"{'GW' if vtcode == '8202' else 'GZ'}{format_ymd(day)}{self.no_seq:05d}"
            return render(spec, voucher_no=no, day=day, bank_code=code, adm_div_code=self._adm(spec),
                          units=self.s.world.units), 0
        if vtcode in ("5201", "8202"):
            no = spec.voucher_no or f"{'ZZ' if vtcode == '5201' else 'SQ'}{format_ymd(day)}{self.no_seq:05d}"
            data = payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=code, amount_fen=spec.amount_fen,
                                   adm_div_code=self._adm(spec), vtcode=vtcode,
                                   rng=random.Random(f"{self.seed}:{spec.id}"))
        else:
            no = spec.voucher_no or f"QE{format_ymd(day)}{code[-4:]}{self.no_seq:04d}"
            unit = self.s.world.units[0]
            data = quota_notice(voucher_no=no, clear_date=day, pay_bank_code=code, adm_div_code=self._adm(spec),
                                vtcode=vtcode, amounts_by_unit=[(unit.sup_dep, unit.sup_dep_name, spec.amount_fen)])
        acct = self._pay_account(spec, vtcode, data, now)
        if not spec.unit and not spec.fields and acct is None:
            return data, 0
        doc = parse_voucher(data)
        head = doc.head()
        if acct is not None:
            head["PayAcctNo"] = acct
        if spec.unit:
            u = next(u for u in self.s.world.units if u.agency == spec.unit)
            head.update({"SupDepCode": u.sup_dep, "SupDepName": u.sup_dep_name, "AgencyCode": u.agency,
                         "AgencyName": u.agency_name})
        head.update(spec.fields)
        details = [{**d, **({"AgencyCode": head["AgencyCode"], "AgencyName": head["AgencyName"]}
                            if "AgencyCode" in d and "AgencyCode" in head else {})} for d in doc.details()]
        return build_voucher(vtcode, head, details), 0

    def _pay_account(self, spec: SendSpec, vtcode: str, data: bytes, now: dt.datetime) -> str | None:
        """The registry's paying account for a payment of the steps that sets no PayAcctNo (docs/accounts.md)."""
        if not hasattr(self, "_account_steps"):  # once per run: a batch of thousands asks each time
            self._account_steps = [st for st in self.s.steps if st.action == "account"]
        if vtcode not in ("5201", "8202") or "PayAcctNo" in spec.fields or not spec.bank or not (
                self.s.world.accounts or self._account_steps):
            return None
        from messages.voucher import parse_voucher
        from runner.account_steps import pay_account

        unit = spec.fields.get("AgencyCode") or spec.unit or parse_voucher(data).get("AgencyCode")
        return pay_account(self.s, self._account_steps, spec.bank, vtcode, unit, now)

    async def _send(self, specs: Sequence[SendSpec]) -> None:
        now = self.clock.now()
        rendered = []
        for spec in specs:
            data, flag = self._render(spec, now)
            if spec.template == "procurement" and spec.sender == "treasury" and self._treasury_refuses(spec, data, now):
                continue  # refused before it is issued (003 §28): never sent
            if self._cross_year_refuses(spec, data, flag, now):
                continue  # beyond what the unit's cross-year refund line holds (003 §36): never sent
            if spec.fault == "delay":  # made now, held on the way: it reaches the gateway later
                assert spec.delay is not None
                self.delays += 1
                heapq.heappush(self.pending, _Action(now + spec.delay, DELAYED_ORDER + self.delays, "delayed",
                                                     payload=[(spec, data, flag)]))
                continue
            rendered.append((spec, data, flag))
        await self._deliver(rendered)

    def _treasury_refuses(self, spec: SendSpec, data: bytes, now: dt.datetime) -> bool:
        """The treasury's check of a procurement request against its contract (runner.procurement_steps):
        a refusal is recorded as the treasury's verdict on the voucher, which is not sent."""
        from messages.voucher import parse_voucher
        from runner.procurement_steps import ProcurementDesk, book_of

        if not hasattr(self, "_procurement"):
            self._procurement = ProcurementDesk(book_of(self.s.world.contracts))
        # what never left gives its amount back: refused at the gateway, returned unpaid by the bank
        tcore = getattr(self, "tcore", None)
        returned = {head.get("VoucherNo", "") for vtcode, flag, head, _, reason in (tcore.received if tcore else ())
                    if vtcode == "5201" and flag == 1 and reason}
        self._procurement.sync([r.voucher_no for r in self.sent.values() if r.vtcode == "5201" and (
            r.voucher_no in returned or any(x.who == "gateway" and not x.ok for x in r.verdicts))])
        doc = parse_voucher(data)
        refused = self._procurement.decide(doc.head(), doc.amount_fen("PayAmt"))
        if refused is None:
            return False
        record = self._record(spec, data, 0, now)
        record.verdicts.append(Verdict("treasury", self.ids["treasury"], False, refused.code,
                                       f"{refused.element}: {refused.message}", now))
        return True

    def _record(self, spec: SendSpec, data: bytes, flag: int, now: dt.datetime) -> _Sent:
        from messages.voucher import parse_voucher

        doc = parse_voucher(data)
        bank_code = doc.get("PayBankCode") or None
        bank = next((b.id for b in self.s.world.banks if b.code == bank_code), None)
        try:
            amount = parse_fen(doc.get("PayAmt") or "0.00")
        except ValueError:
            amount = 0
        key = f"{doc.get('AdmDivCode')}/{doc.get('StYear')}/{doc.vtcode}/{doc.get('VoucherNo')}/{flag}"
        record = _Sent(spec, key, doc.vtcode, doc.get("VoucherNo"), flag, bank, bank_code, amount, now, data)
        self.sent[spec.id] = record
        return record

    def _cross_year_refuses(self, spec: SendSpec, data: bytes, flag: int, now: dt.datetime) -> bool:
        """The scripted treasury's own check of a grant (7101) or payment (8202) from a unit's
        cross-year refund line (003 §36, treasury_sim.budget), when it issues it: beyond what the line
        holds it is refused (the treasury's verdict on the voucher, which is not sent); a payment
        within it consumes the line."""
        from messages.voucher import parse_voucher
        from treasury_sim.budget import CROSS_YEAR_REFUSAL, cross_year_draws, cross_year_refusal

        if spec.sender != "treasury" or flag != 0 or b"<ProCode>KN" not in data:
            return False
        doc = parse_voucher(data)
        if doc.vtcode not in ("7101", "8202"):
            return False
        draws = cross_year_draws(doc.get("AgencyCode"), doc.details())
        inbox = self.tcore.inbox
        why = cross_year_refusal(inbox.cross_year_refunds, inbox.cross_year_paid, draws) if draws else None
        if why is not None:
            record = self._record(spec, data, flag, now)
            record.verdicts.append(Verdict("treasury", self.ids["treasury"], False, CROSS_YEAR_REFUSAL, why, now))
            return True
        if doc.vtcode == "8202":
            for line, fen in draws.items():
                inbox.cross_year_paid[line] = inbox.cross_year_paid.get(line, 0) + fen
        return False

    def _record_generated(self) -> None:
        """The generated treasury's vouchers as sent records, with the gateway's answer to each."""
        banks = {b.code: b.id for b in self.s.world.banks}
        adm = self.world.adm_div_code
        for v in self.generated.sent_vouchers():
            template = "direct-payment" if v.vtcode == "5201" else "authorized-payment"
            spec = SendSpec(v.voucher_no, "treasury", template, bank=banks.get(v.bank), amount_fen=v.amount_fen)
            record = _Sent(spec, f"{adm}/{v.day.year}/{v.vtcode}/{v.voucher_no}/0", v.vtcode, v.voucher_no, 0,
                           banks.get(v.bank), v.bank, v.amount_fen, v.send_at, v.data)
            record.verdicts.append(Verdict("gateway", "gateway", v.refused is None, v.refused,
                                           "accepted" if v.refused is None else v.refused, v.send_at))
            self.sent[v.voucher_no] = record

    async def _deliver(self, items: Sequence[tuple[SendSpec, bytes, int]]) -> None:
        from messages.envelope import encode_envelope

        if not items:
            return
        now = self.clock.now()
        sender = self.ids[items[0][0].sender]
        bodies = []
        records = []
        for spec, data, flag in items:
            records.append(self._record(spec, data, flag, now))
            if spec.fault == "drop":
                continue
            try:
                body = self.world.sealed(data, sender=sender, flag=flag)
            except ValueError as exc:  # no seal position for this sender on this voucher type
                raise StepError(f"line {spec.line}: {spec.sender} cannot send {spec.id}: {exc}") from exc
            if spec.fault == "corrupt-signature":
                first = body.signatures[0]
                broken = bytes([first.value[0] ^ 0xFF]) + first.value[1:]
                body = dataclasses.replace(body, signatures=(dataclasses.replace(first, value=broken),
                                                             *body.signatures[1:]))
            bodies.append((spec, body))
        if not bodies:
            return
        envelope = encode_envelope([b for _, b in bodies])
        results = await self.clients[sender].send(envelope)
        if any(spec.fault == "duplicate" for spec, _ in bodies):
            results += await self.clients[sender].send(envelope)
        by_key: dict[str, list[Any]] = {}
        for r in results:
            by_key.setdefault(r.voucher or "", []).append(r)
        for record in records:
            if record.spec.fault == "drop":
                continue
            for r in by_key.get(record.key, results if len(records) == 1 else []):
                record.verdicts.append(Verdict("gateway", "gateway", r.ok, None if r.ok else r.code,
                                               r.message or r.status, now, r.status))

    # -- what was seen -------------------------------------------------------------------------

    def _refusals(self, clearings: Sequence[ClearingSeen]) -> list[tuple[str, str, str]]:
        """What was refused of each bank's own sends: what its duties recorded (a profile's probes
        among them) and every clearing request (2301) the central bank refused."""
        out = [(bid, key, code) for bid, core in self.bcores.items() for key, code in core.duties.s.refusals.items()]
        for c in clearings:
            if c.state == "rejected" and c.bank in self.bcores:
                # under its own AdmDivCode: its payments' (a bank files one request per division)
                adm = c.keys[0].split("/", 1)[0] if c.keys else self._home
                # StYear: the filing day's, as the bank writes it (a replenishment filed in January clears December)
                out.append((c.bank, f"{adm}/{c.filed_at.date().year}/2301/{c.voucher_no}/0", c.code or "rejected"))
        return out

    def _treasury_quota(self, receipts: Sequence[ReceiptSeen]) -> dict[str, int]:
        """Each unit's authorized quota as the scripted treasury's books have it, by "<AgencyCode>/<AdmDivCode>"
        (two divisions' units of one code are two): what its 7101s granted, less what its quota
        reductions (7106, 003 §22) the bank confirmed took off, less what its 8202 receipts paid, plus
        what refunds restored (this year's). A reduction is confirmed by the receipt of its own key
        (`paid_key`): two divisions' or years' 7106s of one VoucherNo are two."""
        left: dict[str, int] = {}
        confirmed = {paid_key(x.fields, x.vtcode) for x in receipts if x.vtcode == "7106" and x.return_reason is None}
        for r in self.sent.values():
            if r.vtcode in ("7101", "7106") and r.flag == 0 and r.spec.sender == "treasury" and any(
                    x.who == "gateway" and x.ok for x in r.verdicts):
                if r.vtcode == "7106" and r.key.rsplit("/", 1)[0] not in confirmed:
                    continue  # refused by the bank: nothing taken off
                sign = 1 if r.vtcode == "7101" else -1
                adm = r.key.split("/")[0] or self._home
                for agency, fen in quota_lines(r.doc_bytes):
                    left[f"{agency}/{adm}"] = left.get(f"{agency}/{adm}", 0) + sign * fen
        for x in receipts:
            if x.vtcode == "8202" and x.return_reason is None:
                k = f"{self.tcore.agency_of(x.voucher_no, paid_key(x.fields, x.vtcode))}/{x.adm or self._home}"
                left[k] = left.get(k, 0) - parse_fen(x.fields.get("XPayAmt") or "0.00")
        for k, fen in self._by_division(self.tcore.inbox.quota_restored).items():
            unit, _, adm = k.split("/")
            left[f"{unit}/{adm}"] = left.get(f"{unit}/{adm}", 0) + fen
        return left

    def _by_division(self, book: Mapping[str, int]) -> dict[str, int]:
        """A quota restored or cross-year book (`treasury_sim.bank_reports.quota_line_key`) with every key
        "<AgencyCode>/<year>/<AdmDivCode>": the first division's lines carry none in the treasury's."""
        return {(k if k.count("/") >= 2 else f"{k}/{self._home}"): fen for k, fen in book.items()}

    def _year_end(self) -> dict[str, Any]:
        """The generated treasury's year end (004 part 5 §6): its notices and each year's books."""
        from runner.observed import YearEndSeen

        if self.generated is None:
            return {}
        q = self.generated.quotas
        banks = {b.code: b.id for b in self.s.world.banks}
        return {"year_end": tuple(YearEndSeen(n.vtcode, n.voucher_no, banks.get(n.bank, n.bank), n.year, n.amount_fen,
                                              n.confirmed_at, n.flagged) for n in q.notices.values()),
                "year_totals": {y: (t.granted_fen, t.spent_fen, t.cancelled_fen, t.carried_fen, t.lapsed_fen, t.closed)
                                for y, t in q.years.items()}}

    async def _observe(self) -> Observed:
        from bank_sim.quotas import remaining_by_division as quota_left
        from ledger.model import AccountFlags
        from messages.envelope import VoucherKey
        from pboc_sim.core import TSA_ACCOUNT, clearing_account

        s, world = self.s, self.world
        payments = payments_of(self.bcores)
        clearings = clearings_of(self.bcores)
        movements = movements_of(self.pcore)
        statements = statements_of(self.pcore)
        quotas = quotas_of(self.pcore)
        receipts = [ReceiptSeen(head.get("VoucherNo", ""), vtcode, self.senders.get(
            f"{head.get('AdmDivCode')}/{head.get('StYear')}/{vtcode}/{head.get('VoucherNo')}/1", "?"), when, head, reason,
            head.get("AdmDivCode") or "")
            for vtcode, flag, head, when, reason in self.tcore.received if flag == 1]

        if self.generated is not None:
            self._record_generated()
        # the verdicts of banks and the central bank, voucher by voucher
        bank_alarms: dict[str, list[tuple[str, str, str]]] = {}
        for bid, shell in self.bshells.items():
            for a in shell.alarms:
                if a.key:
                    bank_alarms.setdefault(a.key, []).append((bid, a.code, a.message))
        # a payment is the bank's by its full voucher key; only a submission the gateway let through is
        # answered by a bank or the central bank (a refused one under the same number never reached them)
        paid = {(p.bank, p.key): p for p in payments}
        sent: list[SentVoucher] = []
        treasury = self.clients[world.treasury.id]
        for vid, r in self.sent.items():
            verdicts = list(r.verdicts)
            reached = any(x.who == "gateway" and x.ok for x in verdicts)
            if r.vtcode in ("5201", "8202", "7106", "5253") and r.flag == 0 and reached:
                for bid, code, message in bank_alarms.get(r.key, []):
                    verdicts.append(Verdict("bank", bid, False, code, message, r.at))
                p = paid.get((r.bank or "", r.key.rsplit("/", 1)[0]))
                if p is not None and p.paid_day is not None:
                    verdicts.append(Verdict("bank", p.bank, True, None, f"paid ({p.mode})",
                                            paid_at(p, [x for x in receipts if x.sender == p.bank])))
                own = r.key.rsplit("/", 1)[0]  # by its key where the request says it: another division's number
                for c in clearings:
                    if c.bank == r.bank and c.state != "pending" and (
                            own in c.keys if c.keys else r.voucher_no in c.payments):
                        verdicts.append(Verdict("pboc", world.pboc.id, c.state == "accepted", c.code,
                                                f"{c.voucher_no}: {c.reason or 'cleared'}", c.answered_at or c.filed_at))
            answer = self.pboc_answers.get(r.key) if r.flag == 0 and r.vtcode in PBOC_ANSWERED else None
            if answer is not None:  # a request the scenario sent in a bank's name
                reason, when = answer
                verdicts.append(Verdict("pboc", world.pboc.id, reason is None,
                                        reason_code(reason),
                                        reason or "accepted", when))
            events = await treasury.trace(VoucherKey.parse(r.key)) or []
            trace = tuple(TraceEvent(str(e.get("business_time") or ""), str(e.get("step") or ""),
                                     str(e.get("participant") or ""), str(e.get("detail") or ""))
                          for e in events[:TRACE_EVENTS_MAX])
            sent.append(SentVoucher(vid, r.key, r.vtcode, r.voucher_no, r.flag, r.spec.sender, r.bank, r.bank_code,
                                    r.amount_fen, r.at, r.spec.fault, tuple(verdicts), trace, trace_path(r.key)))

        balances = {owner: dict(await ledger.balances()) for owner, ledger in self.ledgers.items()}
        zero = []
        for owner, ledger in self.ledgers.items():
            for aid in balances[owner]:
                if (await ledger.account(aid)).flags & AccountFlags.ZERO_AT_CLOSE:
                    zero.append(f"{owner}:{aid}")
        invariants = []
        problems = []
        for owner, ledger in self.ledgers.items():
            try:
                await ledger.check_invariants()
            except Exception as exc:  # noqa: BLE001 - reported as a failed invariant
                problems.append(f"{owner}: {exc}")
        sums = {o: sum(b.values()) for o, b in balances.items()}
        invariants.append(InvariantSeen("ledger_sums_to_zero", not problems and all(v == 0 for v in sums.values()),
                                        "; ".join(problems) or "every ledger sums to 0.00"))
        pboc = balances[world.pboc.id]
        mirrors = {bid: balances[bid].get(core.accounts["pboc-clearing"], 0) + pboc.get(clearing_account(core.bank_code), 0)
                   for bid, core in self.bcores.items()}
        invariants.append(InvariantSeen("clearing_accounts_mirror", all(v == 0 for v in mirrors.values()),
                                        ", ".join(f"{b}: {fen_to_str(abs(v))}" for b, v in mirrors.items())))
        debits = sum(m.amount_fen for m in movements if m.direction == "D")
        cleared = sum(c.cleared_fen for c in clearings)
        invariants.append(InvariantSeen("tsa_debits_equal_clearings", debits == cleared,
                                        f"TSA debits {fen_to_str(debits)}, clearings booked {fen_to_str(cleared)}"))
        tsa = pboc.get(TSA_ACCOUNT, 0)
        # the TSA's statement of the last day: every division's 7401 of it added up (one division's
        # alone states only its own movements)
        last = tsa_days(statements)[-1] if statements else None
        end_close = at(self.end.date(), s.world.clock.bank_system_close)
        if last is not None and last.day == self.end.date() and end_close <= self.end:
            invariants.append(InvariantSeen("statement_matches_ledger", last.end_fen == tsa,
                                            f"last 7401 EndBalance {fen_to_str(last.end_fen)}, ledger TSA "
                                            f"{fen_to_str(tsa)}"))
        business_days = [d for d in self.closes if self.calendar.is_business_day(d)]
        bank_ids = {b.code: b.id for b in s.world.banks}
        observed = Observed(
            scenario=s.name, seed=self.seed, start=s.world.start, end=self.end, sent=tuple(sent), receipts=tuple(receipts),
            divisions=tuple(d.code for d in s.world.divisions),
            payments=tuple(payments), clearings=tuple(clearings), movements=tuple(movements),
            statements=tuple(statements), quotas=tuple(quotas), messages=tuple(self.messages),
            invariants=tuple(invariants), balances=balances, closes=self.closes, zero_balance_accounts=tuple(zero),
            participants=self.ids, refunds=tuple(refunds_of(self.bcores)),
            bank_refusals=tuple(self._refusals(clearings)),
            scorecard=tuple(scorecard_of(self.bcores, self.calendar, s.world.clock, as_of=self.end)),
            reports=tuple(ReportSeen(bank_ids.get(code, code), vt, no, begin, end, stated, books, when, subjects,
                                     direct, direct_books, adm)
                          for code, vt, no, begin, end, stated, books, when, subjects, direct, direct_books, adm
                          in self.tcore.reports),
            unit_quotas={"treasury": self._treasury_quota(receipts),
                         **{bid: {f"{u}/{adm}": fen for (adm, u), fen in quota_left(core.quota_book).items()}
                            for bid, core in self.bcores.items()}},
            quota_restored=self._by_division(self.tcore.inbox.quota_restored),
            cross_year_refunds=self._by_division(self.tcore.inbox.cross_year_refunds),
            cross_year_left=self._by_division({k: fen - self.tcore.inbox.cross_year_paid.get(k, 0)
                                               for k, fen in self.tcore.inbox.cross_year_refunds.items()}),
            **self._year_end(),
            budget_refusals=tuple(BudgetRefusalSeen(r.request.no, r.request.unit, r.code, r.request.amount_fen, r.at)
                                  for r in (self.generated.refused_requests() if self.generated is not None else ())
                                  if r.at <= self.end))
        confirmed = {x.voucher_no for x in receipts if x.vtcode == "5253" and x.return_reason is None}
        corrections = [r.doc_bytes for r in self.sent.values()  # the treasury's books follow its corrections
                       if r.vtcode == "5253" and r.flag == 0 and r.voucher_no in confirmed]
        lines = tuple(corrected(voucher_lines(r.voucher_no, r.bank, r.doc_bytes, r.vtcode), corrections)
                      for r in self.sent.values()
                      if r.vtcode in ("5201", "8202") and r.flag == 0 and r.spec.sender == "treasury"
                      and any(x.who == "gateway" and x.ok for x in r.verdicts))
        from messages.voucher import parse_voucher

        issued = [parse_voucher(r.doc_bytes) for r in self.sent.values()  # the repayments the treasury sent
                  if r.vtcode == "8202" and r.flag == 0 and r.spec.sender == "treasury" and b"CardRepayFlag" in r.doc_bytes
                  and any(x.who == "gateway" and x.ok for x in r.verdicts)]
        observed = dataclasses.replace(observed, card_details=self.tcore.cards.checked(issued))
        observed = dataclasses.replace(observed, bank_statements=self.statement_tap.seen(), voucher_lines=lines,
                                       refund_notices=self.statement_tap.refund_notices(),
                                       account_feeds={f"{bank_ids.get(k[:k.index('/')], k[:k.index('/')])}"
                                                      f"{k[k.index('/'):]}": v for k, v in self.tcore.feeds.seen().items()})
        observed = dataclasses.replace(observed, signoffs=signoffs_of(
            observed, banks=[(b.id, b.code) for b in s.world.banks], calendar=self.calendar, clock=s.world.clock,
            business_days=business_days))
        return dataclasses.replace(observed, reconciliation=reconcile(
            sent=observed.sent, receipts=observed.receipts, payments=observed.payments, clearings=observed.clearings,
            movements=observed.movements, statements=observed.statements, business_days=business_days,
            opening_fen=s.world.tsa_opening_fen, refunds=observed.refunds))


def payee_bank_of(s: Scenario, bank: str) -> BankSpec:
    """The bank of the world that stands for the payee's bank of `bank`'s payments: the first
    other bank (the scenario file makes sure there is one when a bank has `returns`)."""
    return next(b for b in s.world.banks if b.id != bank)


def paid_key(head: Mapping[str, str], vtcode: str) -> str:
    """A payment's key as the treasury keeps what its receipt paid: "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>"."""
    return f"{head.get('AdmDivCode', '')}/{head.get('StYear', '')}/{vtcode}/{head.get('VoucherNo', '')}"


def quota_lines(data: bytes) -> list[tuple[str, int]]:
    """(AgencyCode, fen) of each line of an authorized quota notice (7101) or reduction (7106)."""
    from messages.voucher import parse_voucher

    doc = parse_voucher(data)
    return [(d.get("AgencyCode") or doc.get("AgencyCode"), parse_fen(d.get("PayAmt") or "0.00"))
            for d in doc.details()]


def paid_at(p: PaymentSeen, receipts: Sequence[ReceiptSeen]) -> dt.datetime:
    """When the bank paid `p`, as the treasury can tell: its receipt's arrival (a receipt says it
    paid, and when it says so is when the treasury knows); with no receipt seen, the end of the
    day the bank's books say it paid on (never the original's arrival: a voucher received at 17:30
    and paid the next morning was not paid at 17:30)."""
    adm = p.key.split("/", 1)[0] if p.key else ""  # another division's receipt of the number is not its
    mine = sorted(x.received_at for x in receipts if x.voucher_no == p.voucher_no and x.vtcode == p.vtcode
                  and x.return_reason is None and not (adm and x.adm and x.adm != adm))
    if mine:
        return mine[0]
    assert p.paid_day is not None
    return dt.datetime.combine(p.paid_day, dt.time.max, p.received_at.tzinfo)


def report_period(vtcode: str, head: Mapping[str, str]) -> tuple[str, str]:
    """The days (yyyymmdd, inclusive) a 2206 (ReportDate), 4004 (ReportMonth) or 3501
    (BeginDate..EndDate) reports on."""
    if vtcode == "2206":
        day = head.get("ReportDate", "")
        return day, day
    if vtcode == "4004":
        month = head.get("ReportMonth", "")
        return month + "01", month + "31"
    return head.get("BeginDate", ""), head.get("EndDate", "")


def _split(total: int, parts: int) -> list[int]:
    base = total // parts
    return [base + (total - base * parts if i == 0 else 0) for i in range(parts)]


def _by_subject(details: Any) -> dict[str, int]:
    """A report's lines summed by subject (ExpFuncCode → fen; negative lines count too)."""
    out: dict[str, int] = {}
    for d in details:
        code = str(d.get("ExpFuncCode") or "")
        out[code] = out.get(code, 0) + parse_fen(str(d.get("PayAmt") or "0.00"), allow_negative=True)
    return out
