"""Conformance mode: the project's scenarios against a participant's real system.

`tgw scenario run ... --external bank-a --url http://HOST:PORT --world DIR`: the named
participant is the user's own system, connected to a running `tgw up --clock simulated` with its
own certificate and token. This runner plays every other participant over HTTP, with the same
code as simulated mode (`runner.scenario_run`): the treasury scripted by the scenario's steps,
the central bank and the other banks as the real simulator cores (`pboc_sim`, `bank_sim`) with
their ledgers on SQLite (in memory, or files in the scenario's directory to keep), driven by
this runner (not by the engine: the business clock is the gateway's). What the real system
sends is what gets checked: its receipts and their X-fields (delivered to the scripted
treasury), its clearing requests and their sums (delivered to the simulated central bank, and
the central bank's answers), when they arrived in business time, and its refusals (receipts
returned with a reason). The expectations are
evaluated by `runner.expectations.evaluate`, the reports are the same JUnit and HTML. A payee's
return (a bank's `returns:`) is the payee-bank refund notice (2252) another bank of the world,
standing for the payee's bank, sends the system under test: it learns of the return as a real
bank does, through the gateway, and what it does then (2302, 2203 / 7105) is checked.

**Driving the clock.** The runner moves the gateway's simulated clock with `POST /v1/clock`,
never back, stopping at: every step of the scenario (and the auto quota notices, and each
business day's close), every wake-up the simulated cores ask for, the last instant before each
cutoff and deadline of the clock configuration (`DEADLINES`) on business days, and a grid every
`tick` (15 minutes by default) from 08:00 to the bank's close on business days, plus `wakes`
(times of day the system under test acts at, if they are not on the grid). The system under test takes its
business time from the gateway (`GET /v1/clock`), so it sees time pass in these steps. The grid,
deadline and `wakes` stops are for the system under test alone: one it has said it has no use
for is passed over (`_reach`): once everything before it was played, the system is caught up and
waits on the clock `after` a time at or past the stop ("done up to there", e.g. the last instant
before its next scheduled action), so stopping there would not wake it.

**Waiting for a real system (the one place real time is waited on).** After each move and each
send the runner waits, up to `patience_s` real seconds, until the system under test has
caught up:

1. every message delivered to it has been acked (`GET /v1/messages/{id}`, `delivery_state`);
   a system acks a delivery once it has handled it and sent what it sends in answer;
2. it is waiting on the clock: parked in `GET /v1/clock?after=T&wait=S` with `T` the current
   business time (listed under `waiting` in `GET /v1/clock`): "I have done everything due up to
   T". A system that cannot wait on the clock is run with `quiet_s`: caught up once it has sent
   nothing for `quiet_s` real seconds since the move (slower, and a slow system reads as late);
3. the simulated participants have handled everything delivered to them (and the answers they
   sent are in turn acked by the system under test).

A test gateway says when 1 and 2 hold: one long-poll of `GET /v1/sim/idle`
(runner/conformance_wait.py, gateway/sim_idle.py) answers as soon as they do, with how many
deliveries wait for each participant (the runner reads only those inboxes); only a gateway
without it, or a `quiet_s` run, is looked at again every `SETTLE_POLL_S`.

A system that does not catch up within `patience_s` is noted in the report (and in the run's
`notes`); `UNRESPONSIVE_MAX` such moves in a row end the run with an error.

**What cannot run** is reported as skipped, with the reason, never silently: a scenario that
scripts what the system under test sends, tests the simulated bank in a behaviour profile (late,
wrong or offline on purpose) or sets its reserve (a real system has its own; its filing, opening
and replenishment times only set the simulated bank's schedule: a real system runs on its own,
the expectations being the rules' deadlines), marks another participant external, names
a bank the world does not have, uses other cutoffs than the gateway, or starts before the
gateway's clock (the clock never goes back: one fresh `tgw up` per scenario, or one test gateway
reset before each, `run_conformance(before=...)`, runner/conformance_session.py). Expectations on the
books of the system under test (`balance` with it as owner) are skipped: conformance mode sees
only what it sends. `zero_balance_at_close` and `invariants` cover the simulated participants'
books. Its `scorecard` is drawn from what it sent and when (`runner.scorecard_feed.observed_bank_events`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import structlog

from business_time.clock import at, cutoffs_view, to_local
from client import ClientError
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen
from messages.return_reason import reason_code
from runner.expectations import evaluate
from runner.observed import (
    ClearingSeen,
    InvariantSeen,
    Observed,
    PaymentSeen,
    ReportSeen,
    SentVoucher,
    Verdict,
)
from runner.reconcile import reconcile
from runner.report import RunResult
from runner.scenario_file import Expectation, Scenario, Step
from runner.scenario_run import (
    StepError,
    UnsupportedError,
    _Action,
    _DeliveryFaults,
    _Run,
    paid_key,
    payee_bank_of,
)
from runner.signoff_feed import signoffs_of
from runner.wire_mode import clearing_cover, seen_mode

__all__ = ["DEFAULT_PATIENCE_S", "DEFAULT_STARTUP_S", "DEFAULT_TICK", "ConformanceOptions", "applicability", "load_world",
           "run_conformance"]

log = structlog.get_logger("tgw.conformance")

DEFAULT_PATIENCE_S = 10.0  # real seconds a real system gets to answer one move of the clock
DEFAULT_STARTUP_S = 30.0  # real seconds it gets to come up and wait on the clock before the run starts
DEFAULT_TICK = dt.timedelta(minutes=15)  # the clock's grid on business days
GRID_FROM = dt.time(8, 0)  # the grid runs from here to the bank's close on each business day
SETTLE_POLL_S = 0.01  # how often the runner looks again while the system under test is busy
UNRESPONSIVE_MAX = 3  # moves in a row without the system catching up before the run gives up
# Refund requests (2302) of the system under test kept for the expectations: far more than a
# scenario's few returned payments; beyond it a refund is left out of the record (and noted nowhere).
REFUNDS_SEEN_MAX = 10_000
# The notices that start (to the system under test) and end (from it) the duties its scorecard
# counts, kept up to this many (far more than a scenario's); beyond it a notice is left out.
NOTICES_TO = ("7101", "2252")
NOTICES_SENT = ("7102", "7103", "2203", "7105")
NOTICES_SEEN_MAX = 100_000
# The clock configuration's cutoffs and deadlines: the runner stops JUST_BEFORE each on every business day.
DEADLINES = ("replenishment_window_end", "next_morning_payment_deadline", "receipts_deadline", "clearing_cutoff",
             "urgent_cutoff", "bank_system_close")
JUST_BEFORE = dt.timedelta(microseconds=1)
# A simulated bank's schedule (filing_time, open_time, replenish_time) is no reason to skip: the
# expectations state the rules' deadlines, which any schedule inside the rules meets, so a real system
# runs such a scenario on its own schedule. Its reserve and behaviour profile are (applicability).
PROFILE_WHAT = {"slow": "late on purpose: receipts and refund notices after their deadline, reports and notices "
                        "held back",
                "faulty": "wrong on purpose: a bad seal, empty X-fields, a duplicate with other bytes, a wrong sum, a "
                          "clearing request over the quota",
                "flaky": "offline on purpose in windows of each business day, sending what was ready at their end"}
CLEARED_REPORTS = ("2206", "4004")  # expenditure reports: they count what was cleared, not what was paid
INBOX_PAGE = 100  # deliveries one simulated participant reads per request (the gateway's default page)


@dataclass(frozen=True, slots=True)
class ConformanceOptions:
    external: str  # the scenario's name of the system under test: a bank id (treasury, pboc: not yet)
    url: str  # the running gateway
    world: Path  # the world the gateway runs with (participants.yaml, keys/, secrets.json)
    patience_s: float = DEFAULT_PATIENCE_S
    startup_s: float = DEFAULT_STARTUP_S
    quiet_s: float | None = None  # None: the system waits on GET /v1/clock?after=... (see the module doc)
    tick: dt.timedelta | None = DEFAULT_TICK
    wakes: tuple[dt.time, ...] = ()
    # the simulated participants' ledgers as files in each scenario's directory (kept: `tgw scenario
    # run --dir`), or in memory (the directory is a temporary one: nothing reads them after the run)
    keep_books: bool = True


@dataclass(frozen=True, slots=True)
class _Member:
    id: str
    role: str
    token: str
    key_path: Path
    cert_path: Path
    bank_codes: tuple[str, ...]


def load_world(root: Path) -> Any:
    """The world the gateway runs with, as a `runner.world.DevWorld`. Unlike `DevWorld.load` a
    participant may have no entry in secrets.json (the system under test registered its own
    certificate and keeps its own token). Read once for the scenarios of a run that share it:
    again only when participants.yaml or secrets.json changed."""
    stamps: list[tuple[int, int, int] | None] = []
    for name in ("participants.yaml", "secrets.json"):
        try:
            st = (root / name).stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return _load_world(root.resolve(), tuple(stamps))


@functools.lru_cache(maxsize=4)
def _load_world(root: Path, stamps: tuple[Any, ...]) -> Any:
    from gateway.participants import load_registry
    from runner.world import DevWorld, WorldParticipant

    secrets_path = root / "secrets.json"
    secrets: dict[str, Any] = json.loads(secrets_path.read_text()) if secrets_path.exists() else {}
    made = {}
    adm = ""
    for p in load_registry(root / "participants.yaml"):
        adm = adm or p.adm_div_codes[0]
        mine = secrets.get(p.id, {})
        made[p.id] = WorldParticipant(p.id, p.role, p.name, root / "keys" / f"{p.id}.key", root / "keys" / f"{p.id}.pem",
                                      mine.get("token", ""), mine.get("mqtt_password", ""), p.bank_codes)
    return DevWorld(root, adm, made)


def _gateway_ids(s: Scenario, world: Any) -> dict[str, str]:
    return {"treasury": world.treasury.id, "pboc": world.pboc.id, **{b.id: b.id for b in s.world.banks}}


def applicability(s: Scenario, external: str, world: Any | None = None) -> tuple[str | None, list[tuple[Expectation, str]]]:
    """(why the scenario cannot run with `external` as the system under test, or None; the
    expectations it can run without, each with why)."""
    names = {"treasury", "pboc", *(b.id for b in s.world.banks)}
    if external == "pboc":
        return "the central bank as the system under test is not supported yet (the runner plays it)", []
    if external not in names:
        return f"{external} is not a participant of this scenario (it has {', '.join(sorted(names))})", []
    others = [x for x in s.world.external if x != external]
    if others:
        return f"the scenario marks {', '.join(others)} external; run it with --external {others[0]}", []
    for step in s.steps:
        kind = (step.fault or {}).get("kind")
        if step.action == "fault" and step.target == external and kind != "drop":
            return (f"line {step.line}: delivery faults ({kind} to {step.target}): a test gateway loses a delivery "
                    "on purpose (POST /v1/sim/faults, drop) but does not duplicate or delay one"), []
        if step.action == "fault" and step.target != external and kind != "duplicate":
            return (f"line {step.line}: delivery faults ({kind} to {step.target}) to a participant the runner plays: "
                    "only a duplicate (handed over twice by the runner) is played"), []
        for spec in step.sends:
            if spec.sender == external:
                return (f"line {spec.line or step.line}: the scenario scripts what {external} sends; {external} is "
                        "the system under test"), []
        if external == "treasury" and step.action in ("quota", "send", "batch"):
            return f"line {step.line}: the scenario scripts the treasury's {step.action}; the treasury is external", []
    if external == "treasury":
        return ("the treasury as the system under test is not supported yet: the scenario format states what the "
                "treasury sends, not what to expect of it"), []
    bank = s.world.bank(external)
    if bank.profile not in ("standard", "external", "prompt") or bank.params:
        return (f"the scenario tests the project's simulated bank in its `{bank.profile}` behaviour profile "
                f"({PROFILE_WHAT.get(bank.profile, 'set by its params')}): a real bank behaves as it is built, no "
                f"runner can make {external} behave so; the scenario runs in simulated mode only"), []
    if bank.reserve_fen is not None:
        return (f"the scenario gives {external} a clearing reserve of {fen_to_str(bank.reserve_fen)} yuan: a real "
                "bank's reserve is its own, no runner can set it; the scenario runs in simulated mode only"), []
    for payer in s.world.banks:
        if payer.id != external and payer.returns and payee_bank_of(s, payer.id).id == external:
            return (f"line {payer.returns[0].line}: {payer.id}'s payment comes back from its payee's bank, which the "
                    f"runner plays with another bank of the world, and the only other one is {external}: a real "
                    "bank decides its own returns (the money reaches it outside the gateway), no runner can make "
                    "it return one; the scenario runs in simulated mode only"), []
    if world is not None:
        registry = {p.id: p for p in world.participants.values()}
        for bank in s.world.banks:
            p = registry.get(bank.id)
            if p is None or p.role != "bank" or bank.code not in p.bank_codes:
                return (f"the world {world.root} has no bank {bank.id} with code {bank.code} (make one with "
                        "`tgw scenario world`)"), []
        if s.world.division_specs:  # a world whose registry serves each division as world.divisions says
            served = {(p.id, code) for p in world.registry() for code in p.adm_div_codes}
            treasury = next((p.id for p in world.participants.values() if p.role == "treasury"), "")
            for d in s.world.divisions:
                lacking = [who for who in (treasury, *d.banks) if (who, d.code) not in served]
                if lacking:
                    return (f"the world {world.root} does not serve division {d.code} of world.divisions by "
                            f"{', '.join(lacking)} (its registry's adm_div_codes; make one that does with `tgw scenario "
                            "world DIR --division CODE[:BANK,...]`, the scenario's first division first)"), []
    skipped = []
    for e in s.expectations:
        if e.kind in ("balance", "unit_quota") and e.params.get("owner") == external:
            skipped.append((e, f"the books of {external} are its own: conformance mode sees only what it sends"))
        elif e.kind in ("refund", "refused") and e.params.get("bank") == external:
            skipped.append((e, f"the {e.kind} of {external} is drawn from a simulated bank's own records"))
    return None, skipped


async def run_conformance(s: Scenario, root: Path, opts: ConformanceOptions, *, seed: int | None = None,
                          progress: Callable[[str], None] | None = None,
                          before: Callable[[Any], Awaitable[None]] | None = None) -> RunResult:
    """Play `s` against the gateway at `opts.url` with `opts.external` as the system under test.
    `before(world)`, if given, runs once the scenario is known to apply, before anything is played:
    a shared gateway's reset (runner/conformance_session.py)."""
    started = time.monotonic()
    try:
        world = load_world(opts.world)
    except Exception as exc:  # noqa: BLE001 - a world that does not load is reported as the run's error
        return RunResult(s, None, (), time.monotonic() - started, f"cannot load the world {opts.world}: {exc}")
    skip, skipped = applicability(s, opts.external, world)
    if skip is not None:
        return RunResult(s, None, (), time.monotonic() - started, skipped=skip)
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    run = _ConformanceRun(s, root, s.world.seed if seed is None else seed, progress, opts, world)
    try:
        if before is not None:
            await before(world)
        observed = await run.play()
    except _Skip as exc:
        return RunResult(s, None, (), time.monotonic() - started, skipped=str(exc), notes=tuple(run.notes))
    except (UnsupportedError, StepError, _Unresponsive) as exc:
        what = {UnsupportedError: "unsupported: ", StepError: "step failed: "}.get(type(exc), "")
        return RunResult(s, None, (), time.monotonic() - started, f"{what}{exc}", notes=tuple(run.notes))
    except (OSError, aiohttp.ClientError, ClientError) as exc:  # the gateway went away, or refused the runner
        return RunResult(s, None, (), time.monotonic() - started, f"the gateway at {opts.url}: {exc}",
                         notes=tuple(run.notes))
    except Exception as exc:
        log.exception("conformance.run_failed", scenario=s.name)
        return RunResult(s, None, (), time.monotonic() - started, f"the run failed: {type(exc).__name__}: {exc}",
                         notes=tuple(run.notes))
    left_out = {e.index for e, _ in skipped}
    outcomes = tuple(evaluate([e for e in s.expectations if e.index not in left_out], observed))
    return RunResult(s, observed, outcomes, time.monotonic() - started, skipped_expectations=tuple(skipped),
                     notes=tuple(run.notes))


@functools.cache
def _default_calendar() -> Any:
    """The project's calendar, built once per process: a catalogue run plays many scenarios."""
    from business_time.calendar import BusinessCalendar

    return BusinessCalendar.default()


class _Closing:
    """Something closed with the run's databases (`await x.close()` in `play`'s finally)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def close(self) -> None:
        await self.inner.__aexit__(None, None, None)


class _Skip(Exception):
    """Found at run time (the gateway's clock or cutoffs): the scenario cannot run here."""


class _Unresponsive(Exception):
    """The system under test stopped answering."""


@dataclass
class _Filing:
    """A clearing request (2301) the system under test sent the central bank, and its answer."""

    voucher_no: str
    clear_type: int
    pay_type: str
    clear_date: dt.date
    filed_at: dt.datetime
    amount_fen: int
    listed: tuple[str, ...]  # Detail/VoucherNo: the payments it says it clears (of its division)
    urgent: bool = False  # UrgentFlag 1: due by the urgent cutoff
    adm: str = ""  # its AdmDivCode: the division whose payments it clears
    state: Literal["pending", "accepted", "rejected"] = "pending"
    code: str | None = None
    reason: str | None = None
    cleared_fen: int = 0
    answered_at: dt.datetime | None = None
    payments: list[str] = field(default_factory=list)  # the keys (adm/year/vtcode/no) of the payments it covers


def _filing_key(doc: Any) -> str:
    """A clearing request's key: "<AdmDivCode>/<StYear>/<VoucherNo>" (its answer carries the same head)."""
    return f"{doc.get('AdmDivCode')}/{doc.get('StYear')}/{doc.get('VoucherNo')}"


def _refund_key(doc: Any) -> tuple[str, str, str]:
    """A refund request's key (AdmDivCode, StYear, VoucherNo); its answer carries the same head."""
    return (doc.get("AdmDivCode") or "", doc.get("StYear") or "", doc.get("VoucherNo") or "")


def _ymd(text: str) -> dt.date | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _fen(text: str | None) -> int:
    try:
        return parse_fen(text or "")
    except ValueError:
        return 0


class _ConformanceRun(_Run):
    def __init__(self, s: Scenario, root: Path, seed: int, progress: Callable[[str], None] | None,
                 opts: ConformanceOptions, world: Any) -> None:
        super().__init__(s, root, seed, progress)
        self.opts = opts
        self.world = world
        self.ext = opts.external
        self.notes: list[str] = []
        self.unacked: dict[str, Any] = {}  # message id delivered to the system under test → the sender's client
        self.filings: dict[str, _Filing] = {}  # the system under test's 2301s by `_filing_key`
        # the system under test's 2302s (RefundSeen) by their key: AdmDivCode, StYear, VoucherNo
        self.refunds: dict[tuple[str, str, str], Any] = {}
        self.notices: list[Any] = []  # the wire's duty notices to and from it (runner.scorecard_feed.NoticeSeen)
        self.last_from_external = time.monotonic()
        self.moved_at = time.monotonic()
        self.unresponsive = 0
        self.shells: list[Any] = []
        self.faults = _DeliveryFaults()  # duplicates to the participants the runner plays (see applicability)
        self.faults_used = False  # offline / online / drop played through the gateway (POST /v1/sim/faults)
        self.fault_view: dict[str, Any] = {}
        self.idle: Any = None  # GET /v1/sim/idle (runner/conformance_wait.py): None on a gateway without it
        # The last wait ended with the system caught up and the runner has done nothing since (a grid
        # tick does nothing but move the clock, and the move was waited on): no need to ask again.
        self.settled = False
        # Up to when the system under test said, at the last wait, it has done everything due (the
        # `after` it waits on the clock with; later than now for a system that knows its next
        # scheduled action): the grid stops up to it are passed over (`_reach`).
        self.done_up_to: dt.datetime | None = None
        self.passed_over = 0

    # -- the world -----------------------------------------------------------------------------

    async def play(self) -> Observed:
        from client import GatewayClient
        from sim.clock import SimClock

        s, world, opts = self.s, self.world, self.opts
        self.calendar = _default_calendar()
        cc = s.world.clock
        self.ids = _gateway_ids(s, world)
        self.names = {v: k for k, v in self.ids.items()}
        self.ext_id = self.ids[self.ext]
        self.notes.append(f"conformance mode: {self.ext} ({self.ext_id}) is the system under test, at {opts.url}; "
                          f"{grid_summary(opts)}")
        played = [name for name in ("treasury", "pboc", *(b.id for b in s.world.banks)) if name != self.ext]
        self.clients = {}
        for name in played:
            pid = self.ids[name]
            member = world.participants[pid]
            if not member.token:
                raise _Skip(f"the world has no token for {pid} (secrets.json): the runner plays it")
            self.clients[pid] = GatewayClient.http(opts.url, token=member.token, participant_id=pid)
        self.driver = self.clients[self.ids[played[0]]]
        dbs: list[Any] = []
        try:
            for client in self.clients.values():
                await client.__aenter__()
            view = await self.driver.clock()
            if not view.get("simulated"):
                raise _Skip(f"the gateway at {opts.url} runs a live clock: start it with `tgw up --clock simulated "
                            "--clock-start ...` so the runner can move it")
            gateway_now = to_local(dt.datetime.fromisoformat(view["now"]))
            # as the gateway lists them (`cutoffs_view`): on the calendar's last day, those still ahead
            # that day (`next_cutoffs` asks for the unknown next day: calendar-out-of-range)
            try:
                ours = [{"name": c["name"], "at": c["at"]}
                        for c in cutoffs_view(gateway_now, self.calendar, cc)["next_cutoffs"]]
            except InputError as exc:  # the gateway's clock is past the calendar: no scenario starts there
                raise _Skip(f"the gateway's clock ({gateway_now:%Y-%m-%d %H:%M}) is past the business calendar: "
                            f"{exc}") from exc
            # each cutoff also says whether it rests on a provisional calendar year: not part of the match
            theirs = [{"name": c.get("name"), "at": c.get("at")} for c in view.get("next_cutoffs") or []
                      if isinstance(c, dict)]
            if ours != theirs:
                raise _Skip(f"the scenario's clock ({cc}) is not the gateway's: its next cutoffs are "
                            f"{view.get('next_cutoffs')}, the scenario's {ours}")
            if gateway_now > s.world.start:
                raise _Skip(f"the gateway's clock ({gateway_now:%Y-%m-%d %H:%M}) is past the scenario's start "
                            f"({s.world.start:%Y-%m-%d %H:%M}); the clock never goes back: run each scenario against "
                            "a fresh `tgw up`, or all of them with --shared-gateway")
            self.clock = clock = SimClock(self.calendar, cc, gateway_now)
            await self._open_idle(dbs)
            if self.progress:
                self.progress(f"{gateway_now:%Y-%m-%d %a %H:%M}  gateway at {opts.url}; waiting for {self.ext}")
            await self._settle(first=True)
            await self._move(s.world.start)

            await self._build_players(dbs, external=self.ext, in_memory=not opts.keep_books)  # as simulated mode
            for pid, client in self.clients.items():
                self._tap(pid, client)
                self._tap_external(pid, client)
            self.shells = self._player_shells()
            for shell in self.shells:
                await shell.start()
            await self._drain()
            for shell in self.shells:
                await shell.tick(clock.now())
            await self._settle()
            await self._play_timeline(self._run_until, self._settle_after_action, None)
            observed = await self._observe()
            return self._with_external(observed)
        finally:
            for client in self.clients.values():
                await client.__aexit__(None, None, None)
            for db in dbs:
                await db.close()

    # -- the timeline: the scenario's, plus the grid the system under test sees time pass on -------

    def _timeline(self) -> list[_Action]:
        actions = super()._timeline()
        s, opts = self.s, self.opts
        close = s.world.clock.bank_system_close
        day = s.world.start.date()
        while day <= self.end.date():
            if self.calendar.is_business_day(day):
                times = [at(day, w) for w in opts.wakes]
                # the last instant before each cutoff and deadline: a system acts just in time there
                times += [at(day, getattr(s.world.clock, name)) - JUST_BEFORE for name in DEADLINES]
                if opts.tick is not None and opts.tick > dt.timedelta(0):
                    t = at(day, GRID_FROM)
                    while t <= at(day, close):
                        times.append(t)
                        t += opts.tick
                actions += [_Action(t, 0, "tick") for t in times if s.world.start < t <= self.end]
            day += dt.timedelta(days=1)
        from runner.account_steps import declared_notices  # the world's accounts at it, notified at the start

        actions += [_Action(st.at, -3000 + i, "step", st) for i, st in enumerate(declared_notices(s, opts.external))]
        return sorted(actions)

    async def _do(self, action: _Action, engine: Any) -> None:
        step = action.step
        if action.kind != "tick":
            self.settled = False
        if action.kind == "step" and step is not None and step.target is not None and (
                step.action in ("offline", "online")
                or (step.action == "fault" and step.target == self.ext and step.fault.get("kind") == "drop")):
            await self._sim_fault(step)
        elif action.kind == "step" and step is not None and step.action == "monitor":
            await self._monitor_step(step)
        elif action.kind != "tick":
            await super()._do(action, engine)

    # -- monitoring: a treasury officer's decision on a hold, over the gateway's HTTP API ---------

    async def _monitor_step(self, step: Step) -> None:
        """A `monitor` step: the officer the runner plays for the treasury releases or rejects the
        voucher's hold as a real one would, through `GET /v1/monitor/holds` and
        `POST /v1/monitor/holds/{id}/release|reject` (docs/monitoring.md). Not held: nothing happens,
        and the scenario's `monitor` expectation says what was seen."""
        assert step.target is not None
        record = self.sent[step.target]
        adm, year, vtcode, no = record.key.split("/")[:4]
        action = step.fault["action"]
        if self.progress:
            self.progress(f"{self.clock.now():%Y-%m-%d %a %H:%M}  monitor {action} {step.target} "
                          f"(POST /v1/monitor/holds/.../{action})")
        held: list[dict[str, Any]] = []
        after = ""
        while True:  # every page: the held ones are few
            page = await self._treasury_call("GET", "/v1/monitor/holds", params={"status": "held", "after": after})
            held += [h for h in page.get("holds") or []
                     if h.get("voucher") == {"adm": adm, "year": year, "vtcode": vtcode, "no": no}]
            after = page.get("next") or ""
            if not after:
                break
        if not held:
            return
        hold = held[0]
        await self._treasury_call("POST", f"/v1/monitor/holds/{hold['id']}/{action}",
                                  body={"reason": step.fault["reason"]})
        if action != "release":
            return
        now = self.clock.now()  # it goes on to its bank from now
        record.verdicts.append(Verdict("gateway", "gateway", True, None, "released by monitoring", now, "released"))
        if hold.get("recipient") == self.ext_id:  # delivered to the system under test now (a simulated one counts its own)
            from runner.observed import MessageSeen

            sender = str(hold.get("sender") or "")
            self.messages.append(MessageSeen(vtcode, int(record.key.split("/")[4]), self.names.get(sender, sender),
                                             self.ext, now, no))

    # -- delivery faults: the test gateway's hook (POST /v1/sim/faults, gateway.sim_faults) -------

    async def _sim_fault(self, step: Step) -> None:
        """An `offline` / `online` step, or a `drop` to the system under test, played by the gateway."""
        assert step.target is not None
        who = self.ids[step.target]
        if step.action == "fault":
            rule = {"to": who, **{k: step.fault[k] for k in ("vtcode", "flag") if k in step.fault}}
            bodies: list[dict[str, Any]] = [{"drop": rule}] * int(step.fault.get("count", 1))
        else:
            bodies = [{step.action: who}]
        if self.progress:
            self.progress(f"{self.clock.now():%Y-%m-%d %a %H:%M}  {step.action} {step.target} (POST /v1/sim/faults)")
        for body in bodies:
            self.fault_view = await self._sim_faults_call(body)
        self.faults_used = True

    async def _sim_faults_call(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._treasury_call("GET" if body is None else "POST", "/v1/sim/faults", body=body)

    async def _treasury_call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                             params: dict[str, str] | None = None) -> dict[str, Any]:
        """One call to the gateway's HTTP API as the treasury the runner plays; a refusal is a StepError."""
        token = self.world.participants[self.ids["treasury"]].token
        url = f"{self.opts.url.rstrip('/')}{path}"
        query = {k: v for k, v in (params or {}).items() if v}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session, \
                session.request(method, url, json=body, params=query) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            if resp.status != 200:
                raise StepError(f"{method} {path} {body or query}: {resp.status} {answer.get('code')}: "
                                f"{answer.get('message')}")
        return answer

    async def _withheld(self) -> tuple[set[str], dt.datetime | None]:
        """(the message ids the gateway withholds from or for the system under test now, the next
        simulated time something withheld is handed over); nothing when no fault was ever set."""
        if not self.faults_used:
            return set(), None
        self.fault_view = view = await self._sim_faults_call()
        release = view.get("next_release")
        at = to_local(dt.datetime.fromisoformat(release)) if release else None
        if self.ext_id in (view.get("offline") or {}):
            return set(self.unacked), at
        return set(view.get("withheld") or {}), at

    # -- moving the gateway's clock ------------------------------------------------------------

    async def _move(self, t: dt.datetime) -> None:
        if t <= self.clock.now():
            return
        self.settled = False
        await self.driver.advance_clock(t.isoformat())
        self.clock.set(t)
        self.moved_at = time.monotonic()
        await self._settle()

    async def _reach(self, action: _Action, run_until: Callable[[dt.datetime], Awaitable[None]]) -> None:
        """Up to `action`; a grid stop (a `tick`: the grid, the deadlines, `wakes`) is passed over when,
        once everything before it was played, the system under test is caught up and has said it
        has done everything due up to it (it waits on the clock `after` it): the clock stopping
        there would not wake it (docs/conformance.md, "How the clock moves")."""
        if action.kind != "tick":
            await run_until(action.at)
            return
        await self._wakes_until(action.at)
        if self.settled and self.done_up_to is not None and action.at <= self.done_up_to:
            self.passed_over += 1
            return
        await self._move(action.at)

    async def _run_until(self, end: dt.datetime) -> None:
        """Every simulated participant's wake-up up to `end`, in time order, then `end`."""
        await self._wakes_until(end)
        await self._move(end)

    async def _wakes_until(self, end: dt.datetime) -> None:
        """Every simulated participant's wake-up up to `end`, in time order (and what the gateway
        hands over then after withholding it)."""
        while True:
            wakes = [sh.wake for sh in self.shells if sh.wake is not None]
            release = (await self._withheld())[1]
            if release is not None and release > self.clock.now():  # the gateway hands something over then
                wakes.append(release)
            if not wakes or min(wakes) > end:
                break
            await self._move(min(wakes))
            now = self.clock.now()
            for shell in self.shells:
                if shell.wake is not None and shell.wake <= now:
                    self.settled = False
                    await shell.tick(now)
                    if shell.wake is not None and shell.wake <= now:  # a core that keeps asking for now: a bug
                        raise RuntimeError(f"the {shell.role} core asks to be woken at {shell.wake} again at {now}")
            await self._settle()

    # -- waiting for the system under test (real time: see the module doc) ----------------------

    async def _open_idle(self, closing: list[Any]) -> None:
        """The gateway's `GET /v1/sim/idle`, if it has it (closed with the run's databases)."""
        from runner.conformance_wait import GatewayIdle

        if self.opts.quiet_s is not None:
            return
        idle = GatewayIdle(self.opts.url, self.world.participants[self.ids["treasury"]].token)
        closing.append(_Closing(idle))
        if await idle.supported(self.ext_id):
            self.idle = idle

    async def _drain(self, only: set[str] | None = None, *, once: bool = False) -> bool:
        """The simulated participants (`only` those) handle what was delivered to them, until no
        inbox has anything; `once`: one read of each inbox (the caller asks the gateway again which
        have something: GET /v1/sim/idle's `ready`). Whether anything was handled."""
        moved = False
        while True:
            round_moved = False
            for shell in self.shells:
                if only is not None and shell.participant not in only:
                    continue
                while items := await shell.client.receive(timeout_s=0):
                    fate = self.faults.on_deliveries(shell.participant, items, self.clock.now())
                    await shell.handle(items)
                    if fate.later:  # a duplicate: the same deliveries handed over once more
                        await shell.handle([item for _, item in fate.later])
                    round_moved = True
                    if once:
                        break
            if round_moved:
                self.settled = False
            if once or not round_moved:
                return moved or round_moved
            moved = True

    async def _pending(self) -> int:
        withheld = (await self._withheld())[0]
        for message_id, client in list(self.unacked.items()):
            if message_id in withheld:  # the gateway withholds it (offline, lost in transit): not the bank's to ack
                continue
            msg = await client.message(message_id)
            if msg is None or msg.get("delivery_state") in ("acked", "dead"):
                del self.unacked[message_id]
        return len(set(self.unacked) - withheld)

    async def _caught_up(self) -> bool:
        if self.opts.quiet_s is not None:
            quiet = time.monotonic() - max(self.last_from_external, self.moved_at)
            return quiet >= self.opts.quiet_s
        view = await self.driver.clock()
        waiting = (view.get("waiting") or {}).get(self.ext_id)
        return waiting is not None and to_local(dt.datetime.fromisoformat(waiting)) >= self.clock.now()

    async def _settle_after_action(self) -> None:
        """`_settle` after an action of the timeline; after a grid tick (it only moved the clock,
        and `_move` waited on that) only if that wait did not end with the system caught up."""
        if not self.settled:
            await self._settle()

    async def _settle(self, *, first: bool = False) -> None:
        """Until the system under test has caught up and the simulated participants are done, or
        `patience_s` real seconds have passed."""
        patience = self.opts.startup_s if first else self.opts.patience_s
        deadline = time.monotonic() + patience
        self.settled = False
        while self.idle is not None:  # the gateway answers once the system has caught up: nothing polls
            view = await self.idle.wait(self.ext_id, deadline - time.monotonic())
            pending, caught_up = view["unacked"], view["caught_up"]
            ready = {pid for pid, n in view["ready"].items() if n and pid != self.ext_id}
            # the runner's participants read once each inbox with something in it, then look again
            moved = await self._drain(ready, once=True) if ready and not first else False
            if not moved and caught_up:
                self.unresponsive = 0
                self.settled = not first
                waiting = view.get("waiting")
                self.done_up_to = to_local(dt.datetime.fromisoformat(waiting)) if waiting else None
                return
            if time.monotonic() > deadline:
                break
        while self.idle is None:
            pending = await self._pending()
            caught_up = await self._caught_up()
            moved = await self._drain() if not first else False
            if not moved and not pending and caught_up:
                self.unresponsive = 0
                return
            if time.monotonic() > deadline:
                break
            if not moved:
                await asyncio.sleep(SETTLE_POLL_S)
        now = f"{self.clock.now():%Y-%m-%d %H:%M}"
        why = []
        if pending:
            why.append(f"{pending} deliveries not acked")
        if not caught_up:
            why.append("not waiting on the clock (GET /v1/clock?after=...)" if self.opts.quiet_s is None
                       else f"still sending after {self.opts.quiet_s} s")
        if first:
            raise _Unresponsive(f"{self.ext} ({self.ext_id}) did not catch up with the gateway's clock at {now} within "
                                f"{patience:g} s: {', '.join(why)}. Is it running, connected to "
                                f"{self.opts.url}, and waiting on GET /v1/clock?after=...? (A system that does not "
                                "wait on the clock: --quiet-window SECONDS.)")
        self.notes.append(f"{now}: {self.ext} had not caught up after {self.opts.patience_s:g} s ({', '.join(why)})")
        self.unresponsive += 1
        if self.unresponsive >= UNRESPONSIVE_MAX:
            raise _Unresponsive(f"{self.ext} did not catch up with {UNRESPONSIVE_MAX} moves of the clock in a row "
                                f"(the last at {now}: {', '.join(why)})")

    # -- taps: what the system under test is sent and sends -------------------------------------

    def _tap_external(self, pid: str, client: Any) -> None:
        from messages.envelope import parse_envelope
        from messages.voucher import parse_voucher
        from runner.observed import MessageSeen

        receive, send = client.receive, client.send

        async def received(timeout_s: float = 5.0) -> list[Any]:
            items: list[Any] = await receive(timeout_s)
            for item in items:
                if item.sender != self.ext_id:
                    continue
                self.last_from_external = time.monotonic()
                if item.key.vtcode == "2301" and item.key.flag == 0:
                    [body] = parse_envelope(item.envelope).bodies
                    self._filed(parse_voucher(body.voucher))
                if item.key.vtcode == "2302" and item.key.flag == 0:
                    [body] = parse_envelope(item.envelope).bodies
                    self._refund_filed(parse_voucher(body.voucher))
                if item.key.vtcode in NOTICES_SENT and item.key.flag == 0:
                    [body] = parse_envelope(item.envelope).bodies
                    self._notice(parse_voucher(body.voucher), to_bank=False)
            return items

        async def sent(envelope: bytes) -> list[Any]:
            results: list[Any] = await send(envelope)
            to_ext = [r for r in results if r.status == "accepted" and r.recipient == self.ext_id]
            if not to_ext:
                return results
            now = self.clock.now()
            for r in to_ext:
                self.unacked[r.message_id] = client
                self.messages.append(MessageSeen(r.vtcode or "", int((r.voucher or "0").rsplit("/", 1)[-1]),
                                                 self.names.get(pid, pid), self.ext, now, r.voucher_no or ""))
            answered = {r.voucher for r in to_ext}
            for body in parse_envelope(envelope).bodies:
                key = f"{body.adm_div_code}/{body.st_year}/{body.vtcode}/{body.voucher_no}/{body.flag}"
                if body.vtcode == "2301" and body.flag == 1 and key in answered:
                    self._answered(parse_voucher(body.voucher), body.return_reason)
                if body.vtcode == "2302" and body.flag == 1 and key in answered:
                    self._refund_answered(parse_voucher(body.voucher), body.return_reason)
                if body.vtcode in NOTICES_TO and body.flag == 0 and key in answered:
                    self._notice(parse_voucher(body.voucher), to_bank=True)
            return results

        setattr(client, "receive", received)  # noqa: B010 - instance attributes over the methods
        setattr(client, "send", sent)  # noqa: B010

    def _filed(self, doc: Any) -> None:
        key = _filing_key(doc)
        if key in self.filings:
            return
        self.filings[key] = _Filing(
            doc.get("VoucherNo"), int(doc.get("ClearType") or 0), doc.get("PayTypeCode"),
            _ymd(doc.get("ClearDate")) or self.clock.now().date(), self.clock.now(), _fen(doc.get("PayAmt")),
            tuple(d["VoucherNo"] for d in doc.details() if d.get("VoucherNo")), doc.get("UrgentFlag") == "1",
            doc.get("AdmDivCode"))

    def _answered(self, doc: Any, return_reason: str | None) -> None:
        filing = self.filings.get(_filing_key(doc))
        if filing is None or filing.state != "pending":
            return
        filing.answered_at = self.clock.now()
        cleared = _fen(doc.get("XClearAmt"))
        if return_reason is not None or cleared == 0:
            filing.state, filing.reason = "rejected", return_reason or "rejected without a reason"
            filing.code = reason_code(filing.reason)
        else:
            filing.state, filing.cleared_fen = "accepted", cleared

    def _notice(self, doc: Any, *, to_bank: bool) -> None:
        """A 7101 / 2252 to the system under test or a 7102 / 7103 / 2203 / 7105 from it: what its
        scorecard's notice duties start and end with (`runner.scorecard_feed.observed_bank_events`)."""
        from runner.scorecard_feed import NoticeSeen

        if len(self.notices) < NOTICES_SEEN_MAX:
            self.notices.append(NoticeSeen(doc.vtcode, doc.get("VoucherNo") or "", doc.get("OriVtCode") or "",
                                           doc.get("OriVoucherNo") or "", _fen(doc.get("PayAmt")), self.clock.now(),
                                           to_bank, doc.get("PayeeAcctNo") or "", doc.get("AdmDivCode") or "",
                                           doc.get("StYear") or "", (doc.get("OriVouDate") or "")[:4]))

    def _refund_filed(self, doc: Any) -> None:
        """A refund request (2302) of the system under test: the payment it names (OriVoucherNo of a
        5201 / 8202; a 2302 naming a clearing request names no one payment), pending an answer."""
        from runner.observed import RefundSeen

        key = _refund_key(doc)
        if key in self.refunds or len(self.refunds) >= REFUNDS_SEEN_MAX:
            return
        ori = doc.get("OriVoucherNo") if doc.get("OriVtCode") in ("5201", "8202") else ""
        self.refunds[key] = RefundSeen(self.ext, ori, key[2], _fen(doc.get("PayAmt")), self.clock.now(), "pending",
                                       adm=key[0], ori_year=(doc.get("OriVouDate") or "")[:4] if ori else "")

    def _refund_answered(self, doc: Any, return_reason: str | None) -> None:
        key = _refund_key(doc)  # its receipt's key is its own: another division's or year's of the number is not it
        r = self.refunds.get(key)
        if r is None or r.state != "pending":
            return
        if return_reason is not None or _fen(doc.get("XRefundAmt")) == 0:
            code = reason_code(return_reason)
            self.refunds[key] = dataclasses.replace(r, state="rejected", code=code)
        else:
            self.refunds[key] = dataclasses.replace(r, state="accepted")

    # -- what was seen -------------------------------------------------------------------------

    def _with_external(self, o: Observed) -> Observed:
        """The simulated mode's record, plus what the system under test did as its messages show."""
        ext, code = self.ext, self.s.world.bank(self.ext).code
        # a payment is its voucher's key (adm/year/vtcode/no): two divisions' of one number are two
        sent_at = {v.key.rsplit("/", 1)[0]: v.sent_at for v in o.sent if v.bank == ext and v.flag == 0 and v.reached}
        receipts = [r for r in o.receipts if r.sender == ext and r.vtcode in ("5201", "8202")]
        paid: dict[str, tuple[str, int, dt.date, dt.datetime]] = {}
        for r in sorted(receipts, key=lambda r: r.received_at):
            key = paid_key(r.fields, r.vtcode)
            if r.return_reason is None and key not in paid:
                day = _ymd(r.fields.get("XPayDate", "")) or r.received_at.date()
                paid[key] = (r.vtcode, _fen(r.fields.get("XPayAmt")), day, r.received_at)
        # which payments each clearing request covers (`runner.wire_mode.clearing_cover`, by the
        # payments' keys: two divisions' or years' of one VoucherNo are two). A payment's own filing: the accepted request that
        # covers it, else the last one still pending; one whose every request was refused is in none
        # (the bank may not give up on it quietly).
        ordered = sorted(self.filings.values(), key=lambda f: f.filed_at)
        for f, keys in zip(ordered, clearing_cover(ordered, {k: (vt, day, got) for k, (vt, _, day, got) in paid.items()},
                                                   lambda f: f.state == "rejected"), strict=True):
            f.payments = keys
        covered: dict[str, _Filing] = {}
        for f in sorted(self.filings.values(), key=lambda f: (f.state == "accepted", f.filed_at)):
            if f.state != "rejected":
                covered.update(dict.fromkeys(f.payments, f))
        payments = []
        for key, (vt, fen, day, got) in paid.items():
            no = key.rsplit("/", 1)[1]
            filing = covered.get(key)
            cover = (filing.clear_type, filing.clear_date) if filing else None
            accepted = sent_at.get(key, got)
            mode = seen_mode(accepted, day, cover, self.calendar, self.s.world.clock)
            payments.append(PaymentSeen(ext, code, no, vt, fen, mode, accepted, day,
                                        filing.voucher_no if filing else None, key))
        clearings = [ClearingSeen(ext, code, f.voucher_no, f.clear_type, f.pay_type, f.clear_date, f.filed_at,
                                  f.amount_fen, tuple(k.rsplit("/", 1)[1] for k in f.payments), f.state,
                                  f.code, f.reason, f.cleared_fen, f.answered_at, tuple(f.payments))
                     for f in self.filings.values()]
        all_payments = (*o.payments, *payments)
        all_clearings = (*o.clearings, *clearings)
        sent = tuple(self._verdicts(v, receipts) for v in o.sent)
        debits = sum(m.amount_fen for m in o.movements if m.direction == "D")
        cleared = sum(c.cleared_fen for c in all_clearings)
        invariants = tuple(InvariantSeen("tsa_debits_equal_clearings", debits == cleared,
                                         f"TSA debits {fen_to_str(debits)}, clearings booked {fen_to_str(cleared)}")
                           if i.name == "tsa_debits_equal_clearings" else i for i in o.invariants)
        business_days = [d for d in self.closes if self.calendar.is_business_day(d)]
        reports = tuple(self._cleared_books(r, paid) if r.bank == ext and r.vtcode in CLEARED_REPORTS else r
                        for r in o.reports)
        out = dataclasses.replace(o, sent=sent, payments=all_payments, clearings=all_clearings, invariants=invariants,
                                  refunds=(*o.refunds, *self.refunds.values()), reports=reports)
        out = dataclasses.replace(out, scorecard=self._scorecard(out))
        # the monthly sign-off again, now that the bank under test's payments and clearing requests
        # are in: made before, every TSA debit of its clearings was a break of its own
        out = dataclasses.replace(out, signoffs=signoffs_of(
            out, banks=[(b.id, b.code) for b in self.s.world.banks], calendar=self.calendar, clock=self.s.world.clock,
            business_days=business_days))
        return dataclasses.replace(out, reconciliation=reconcile(
            sent=out.sent, receipts=out.receipts, payments=out.payments, clearings=out.clearings,
            movements=out.movements, statements=out.statements, business_days=business_days,
            opening_fen=self.s.world.tsa_opening_fen, refunds=out.refunds))

    def _cleared_books(self, r: ReportSeen, paid: dict[str, tuple[str, int, dt.date, dt.datetime]]) -> ReportSeen:
        """The treasury's books for a daily (2206) or monthly (4004) expenditure report of the system
        under test: what the central bank cleared in its period (its accepted clearing requests
        answered then, 004 part 5 §2: an advance counts on the day its replenishment was accepted),
        less the refunds noticed in it; not what the receipts paid (the statement, 3501, is that)."""
        def within(day: dt.date) -> bool:
            return r.begin <= f"{day:%Y%m%d}" <= r.end

        paid_in = sum(fen for _, fen, day, got in paid.values() if within(day) and got <= r.received_at)
        refunded = paid_in - r.books_fen  # the receipts' books less the refunds, as the treasury kept them
        accepted = [f for f in self.filings.values()
                    if f.state == "accepted" and f.answered_at is not None and within(to_local(f.answered_at).date())]
        cleared = sum(f.cleared_fen for f in accepted)
        # the direct funds (直达资金) the same way: of the payments those clearings covered
        direct = self.tcore.direct_paid
        direct_in = sum(direct.get(key, 0) for key, (_, _, day, got) in paid.items()
                        if within(day) and got <= r.received_at)
        direct_refunded = direct_in - r.direct_books_fen
        covered = {key for f in accepted for key in f.payments}  # the payments' keys (`_listed`)
        direct_cleared = sum(direct.get(key, 0) for key in paid if key in covered)
        return dataclasses.replace(r, books_fen=cleared - refunded, direct_books_fen=direct_cleared - direct_refunded)

    def _scorecard(self, o: Observed) -> tuple[Any, ...]:
        """Every bank's scorecard: the simulated banks' from their cores, the system under test's
        from what it sent and when (`runner.scorecard_feed.observed_bank_events`), sized together."""
        from runner.scorecard_feed import duty_events, observed_bank_events, observed_volume, volumes
        from treasury_sim.scorecard import scorecard

        cc = self.s.world.clock
        ours = observed_bank_events(self.ext, o, self.notices, self.calendar, cc,
                                    urgent=[f.voucher_no for f in self.filings.values() if f.urgent],
                                    batches=self._returned_batches(), home=self.world.adm_div_code)
        return tuple(scorecard([*duty_events(self.bcores, self.calendar, cc), *ours], self.calendar, as_of=self.end,
                               volumes={**volumes(self.bcores), self.ext: observed_volume(self.ext, o)}))

    def _returned_batches(self) -> dict[str, tuple[tuple[str, str, int], ...]]:
        """(Id, PayeeAcctNo, fen) of each line of the batch direct payments (`bank_sim.batches.is_batch`)
        to the system under test that a payee-bank notice (2252) named, by the payment's key
        (adm/year/5201/no: two divisions' or years' batches of one number are two): read back from
        what was sent for those few only, nothing kept for the others."""
        from bank_sim.batches import is_batch
        from messages.voucher import parse_voucher

        named = {n.ori_voucher_no for n in self.notices if n.to_bank and n.vtcode == "2252" and n.ori_vtcode == "5201"}
        out: dict[str, tuple[tuple[str, str, int], ...]] = {}
        for r in self.sent.values():
            if (r.voucher_no in named and r.vtcode == "5201" and r.flag == 0 and r.bank == self.ext
                    and any(x.who == "gateway" and x.ok for x in r.verdicts)):
                details = parse_voucher(r.doc_bytes).details()
                if is_batch(details):
                    out[str(r.key).rsplit("/", 1)[0]] = tuple((d.get("Id", ""), d["PayeeAcctNo"], _fen(d.get("PayAmt")))
                                                              for d in details)
        return out

    def _verdicts(self, v: SentVoucher, receipts: Sequence[Any]) -> SentVoucher:
        if v.bank != self.ext or v.flag != 0 or v.vtcode not in ("5201", "8202") or not v.reached:
            return v  # a submission the gateway refused never reached the bank: nothing it did is this one's
        extra = []
        key = v.key.rsplit("/", 1)[0]  # its division's, year's, kind's and number's: not another's of the number
        for r in receipts:
            if r.voucher_no == v.voucher_no and r.vtcode == v.vtcode and paid_key(r.fields, r.vtcode) == key:
                code = reason_code(r.return_reason)
                extra.append(Verdict("bank", self.ext, r.return_reason is None, code,
                                     r.return_reason or f"paid {r.fields.get('XPayDate', '')} (receipt)", r.received_at))
        for c in self.filings.values():
            if key in c.payments and c.state != "pending":
                extra.append(Verdict("pboc", self.world.pboc.id, c.state == "accepted", c.code,
                                     f"{c.voucher_no}: {c.reason or 'cleared'}", c.answered_at or c.filed_at))
        return dataclasses.replace(v, verdicts=(*v.verdicts, *extra)) if extra else v


def grid_summary(opts: ConformanceOptions) -> str:
    """How the runner moves the clock, for the progress line and the docs."""
    tick = f"every {int(opts.tick.total_seconds() // 60)} min from {GRID_FROM:%H:%M} to the close" if opts.tick else "no grid"
    wakes = f", and at {', '.join(f'{w:%H:%M}' for w in opts.wakes)}" if opts.wakes else ""
    return f"clock stops: steps, simulated wake-ups, {tick}{wakes}"

