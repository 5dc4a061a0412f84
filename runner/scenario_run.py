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

Not yet here (said by a run error, never silently ignored): delivery faults (`fault:` steps),
a generated treasury (`profile: generated`), `external` participants (conformance mode).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from business_time.clock import at
from messages.dates import format_ymd
from messages.money import fen_to_str, parse_fen
from runner.expectations import evaluate
from runner.observed import (
    ClearingSeen,
    InvariantSeen,
    MessageSeen,
    MovementSeen,
    Observed,
    PaymentSeen,
    QuotaSeen,
    ReceiptSeen,
    SentVoucher,
    StatementSeen,
    TraceEvent,
    Verdict,
)
from runner.reconcile import reconcile
from runner.report import RunResult
from runner.scenario_file import Scenario, SendSpec, Step
from sim.effects import Effect, Refusal

__all__ = ["UnsupportedError", "run_scenario"]

RESERVE_FEN = 20_000_000_00  # a bank's clearing reserve unless the scenario says otherwise
TRACE_EVENTS_MAX = 50  # trace events kept per voucher in the observed record


class UnsupportedError(Exception):
    """The scenario asks for something simulated mode cannot do yet."""


class _NullCore:
    """The scripted treasury's core on the engine: takes what arrives, answers nothing."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int, dict[str, str], dt.datetime, str | None]] = []

    def on_time(self, now: dt.datetime) -> list[Effect]:
        return []

    def on_voucher(self, doc: Any, flag: int, now: dt.datetime, return_reason: str | None = None) -> list[Effect]:
        self.received.append((doc.vtcode, flag, doc.head(), now, return_reason))
        return []

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        return None


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
                       progress: Callable[[str], None] | None = None) -> RunResult:
    started = time.monotonic()
    for unsupported, why in ((s.world.external, "external participants need conformance mode (--external)"),
                             (s.world.treasury_profile == "generated", "a generated treasury is not wired yet"),
                             (any(st.action == "fault" for st in s.steps), "delivery faults are not wired yet")):
        if unsupported:
            return RunResult(s, None, (), time.monotonic() - started, f"unsupported in simulated mode: {why}")
    run = _Run(s, root, s.world.seed if seed is None else seed, progress)
    try:
        observed = await run.play()
    except UnsupportedError as exc:
        return RunResult(s, None, (), time.monotonic() - started, f"unsupported: {exc}")
    return RunResult(s, observed, tuple(evaluate(s.expectations, observed)), time.monotonic() - started)


class _Run:
    def __init__(self, s: Scenario, root: Path, seed: int, progress: Callable[[str], None] | None) -> None:
        self.s, self.root, self.seed, self.progress = s, root, seed, progress
        self.sent: dict[str, _Sent] = {}
        self.messages: list[MessageSeen] = []
        self.senders: dict[str, str] = {}  # delivered voucher key → sender participant id
        self.closes: dict[dt.date, dict[str, dict[str, int]]] = {}
        self.no_seq = 0

    # -- building the world --------------------------------------------------------------------

    async def play(self) -> Observed:
        from bank_sim.core import BankConfig, BankCore
        from bank_sim.shell import BankShell
        from business_time.calendar import BusinessCalendar
        from gateway.service import Gateway
        from ledger.store import Ledger
        from pboc_sim.core import PbocConfig, PbocCore
        from pboc_sim.shell import PbocShell
        from runner.world import DevWorld
        from sim.clock import SimClock
        from sim.engine import SimEngine, engine_client
        from sim.shell import SimShell
        from storage.db import open_database

        s = self.s
        self.calendar = BusinessCalendar.default()
        cc = s.world.clock
        world = DevWorld.create(self.root / "world", banks=[(b.id, b.code, b.name) for b in s.world.banks],
                                seed=self.seed)
        self.world = world
        self.ids = {"treasury": world.treasury.id, "pboc": world.pboc.id, **{b.id: b.id for b in s.world.banks}}
        self.names = {v: k for k, v in self.ids.items()}
        self.clock = clock = SimClock(self.calendar, cc, s.world.start)
        dbs: list[Any] = []
        gw_db = await open_database(str(self.root / "gateway.db"))
        dbs.append(gw_db)
        gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock)
        await gateway.start()
        self.ledgers: dict[str, Ledger] = {}
        for owner in [world.pboc.id, *(b.id for b in s.world.banks)]:
            db = await open_database(str(self.root / f"ledger-{owner}.db"))
            dbs.append(db)
            self.ledgers[owner] = await Ledger.open(db)
        self.pcore = PbocCore(PbocConfig(adm_div_code=world.adm_div_code, tsa_opening_fen=s.world.tsa_opening_fen),
                              self.calendar, cc)
        self.bcores: dict[str, BankCore] = {}
        for b in s.world.banks:
            extra = {k: getattr(b, k) for k in ("filing_time", "open_time", "replenish_time") if getattr(b, k)}
            self.bcores[b.id] = BankCore(b.code, BankConfig(
                bank_name=b.name, adm_div_code=world.adm_div_code,
                reserve_fen=RESERVE_FEN if b.reserve_fen is None else b.reserve_fen, **extra), self.calendar, cc)
        self.clients = {pid: engine_client(gateway, pid) for pid in world.participants}
        for pid, client in self.clients.items():
            await client.__aenter__()
            self._tap(pid, client)
        self.tcore = _NullCore()
        tshell = SimShell(self.tcore, self.clients[world.treasury.id], None, world.signer(world.treasury.id),
                          "treasury", clock)
        pshell = PbocShell(self.pcore, self.clients[world.pboc.id], self.ledgers[world.pboc.id],
                           world.signer(world.pboc.id), clock)
        self.bshells = {bid: BankShell(core, self.clients[bid], self.ledgers[bid], world.signer(bid), clock)
                        for bid, core in self.bcores.items()}
        engine = SimEngine(clock, [tshell, pshell, *self.bshells.values()])
        try:
            await engine.start()
            for action in self._timeline():
                await engine.run_until(action.at)
                await self._do(action, engine)
                await engine.drain()
            await engine.run_until(s.end)
            return await self._observe()
        finally:
            for client in self.clients.values():
                await client.__aexit__(None, None, None)
            await gateway.stop()
            for db in dbs:
                await db.close()

    def _tap(self, pid: str, client: Any) -> None:
        """Record every delivery to `pid` (what, from whom, at what business time)."""
        receive = client.receive

        async def tapped(timeout_s: float = 5.0) -> list[Any]:
            items: list[Any] = await receive(timeout_s)
            for item in items:
                self.messages.append(MessageSeen(item.key.vtcode, item.key.flag, self.names.get(item.sender, item.sender),
                                                 self.names.get(pid, pid), self.clock.now(), item.key.voucher_no))
                self.senders[str(item.key)] = self.names.get(item.sender, item.sender)
            return items

        setattr(client, "receive", tapped)  # noqa: B010 - an instance attribute over the method

    # -- the timeline --------------------------------------------------------------------------

    def _timeline(self) -> list[_Action]:
        s = self.s
        heap: list[_Action] = []
        for order, step in enumerate(s.steps, start=1):
            heapq.heappush(heap, _Action(step.at, order, "step", step))
        if s.world.quota_mode == "auto":
            by_day: dict[tuple[dt.date, str, str], int] = {}
            for step in s.steps:
                for spec in step.sends:
                    if spec.template in ("direct-payment", "authorized-payment") and spec.bank and spec.amount_fen:
                        pay = "direct" if spec.template == "direct-payment" else "authorized"
                        k = (self._clearing_day(step.at), spec.bank, pay)
                        by_day[k] = by_day.get(k, 0) + spec.amount_fen
            for (day, bank, pay), fen in sorted(by_day.items()):
                when = min([at(day, s.world.quota_time), *(st.at for st in s.steps if st.at.date() == day
                                                           and self._clearing_day(st.at) == day)])
                amount = fen + fen * s.world.quota_margin_pct // 100
                heapq.heappush(heap, _Action(when, -1000 + len(heap), "quota",
                                             payload={"bank": bank, "pay_type": pay, "amount_fen": amount,
                                                      "id": f"auto-quota-{day:%Y%m%d}-{bank}-{pay}", "day": day}))
        day = s.world.start.date()
        while at(day, s.world.clock.bank_system_close) <= s.end:
            if self.calendar.is_business_day(day):
                heapq.heappush(heap, _Action(at(day, s.world.clock.bank_system_close), 10**9, "close", payload=day))
            day += dt.timedelta(days=1)
        out = []
        while heap:
            out.append(heapq.heappop(heap))
        return out

    def _clearing_day(self, t: dt.datetime) -> dt.date:
        """The day a voucher sent at `t` is paid and cleared on (so its quota notice is for that
        day): that day before the bank's close on a business day, else the next business day."""
        if self.calendar.is_business_day(t.date()) and t.time() < self.s.world.clock.bank_system_close:
            return t.date()
        return self.calendar.next_business_day(t.date())

    async def _do(self, action: _Action, engine: Any) -> None:
        if action.kind == "close":
            self.closes[action.payload] = {owner: dict(await ledger.balances()) for owner, ledger in self.ledgers.items()}
            if self.progress:
                self.progress(f"{action.at:%Y-%m-%d %a %H:%M}  close: {len(self.sent)} sent so far")
            return
        if action.kind == "quota":
            await self._quota(action.payload)
            return
        if action.kind == "delayed":
            await self._send(action.payload, delayed=True)
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
            raise UnsupportedError(f"{step.action} steps are not wired to the engine yet (line {step.line})")

    # -- sending -------------------------------------------------------------------------------

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
                            clear_date=day, pay_bank_code=code, adm_div_code=self.world.adm_div_code, vtcode=vtcode,
                            amounts_by_unit=[(c, n, fen) for (c, n), fen in zip(units, amounts, strict=True)])
        spec = SendSpec(q["id"], "treasury", "quota-" + q["pay_type"], bank=q["bank"], amount_fen=int(q["amount_fen"]))
        await self._deliver([(spec, data, 0)])

    def _render(self, spec: SendSpec, now: dt.datetime) -> tuple[bytes, int]:
        from messages.factory import payment_voucher, quota_notice
        from messages.voucher import build_voucher, fill_receipt, parse_voucher

        if spec.file is not None:
            data = spec.file.read_bytes()
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
        if vtcode in ("5201", "8202"):
            no = spec.voucher_no or f"{'ZZ' if vtcode == '5201' else 'SQ'}{format_ymd(day)}{self.no_seq:05d}"
            data = payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=code, amount_fen=spec.amount_fen,
                                   adm_div_code=self.world.adm_div_code, vtcode=vtcode,
                                   rng=random.Random(f"{self.seed}:{spec.id}"))
        else:
            no = spec.voucher_no or f"QE{format_ymd(day)}{code[-4:]}{self.no_seq:04d}"
            unit = self.s.world.units[0]
            data = quota_notice(voucher_no=no, clear_date=day, pay_bank_code=code, adm_div_code=self.world.adm_div_code,
                                vtcode=vtcode, amounts_by_unit=[(unit.sup_dep, unit.sup_dep_name, spec.amount_fen)])
        if not spec.unit and not spec.fields:
            return data, 0
        doc = parse_voucher(data)
        head = doc.head()
        if spec.unit:
            u = next(u for u in self.s.world.units if u.agency == spec.unit)
            head.update({"SupDepCode": u.sup_dep, "SupDepName": u.sup_dep_name, "AgencyCode": u.agency,
                         "AgencyName": u.agency_name})
        head.update(spec.fields)
        details = [{**d, **({"AgencyCode": head["AgencyCode"], "AgencyName": head["AgencyName"]}
                            if "AgencyCode" in d and "AgencyCode" in head else {})} for d in doc.details()]
        return build_voucher(vtcode, head, details), 0

    async def _send(self, specs: Sequence[SendSpec], *, delayed: bool = False) -> None:
        now = self.clock.now()
        rendered = []
        for spec in specs:
            data, flag = self._render(spec, now)
            if spec.fault == "delay" and not delayed:
                assert spec.delay is not None
                self._record(spec, data, flag, now)
                # a delayed voucher is sent by a later action; the timeline is rebuilt around it
                raise UnsupportedError(f"fault delay on a send is not wired yet (line {spec.line})")
            rendered.append((spec, data, flag))
        await self._deliver(rendered)

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
            body = self.world.sealed(data, sender=sender, flag=flag)
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
                                               r.message or r.status, now))

    # -- what was seen -------------------------------------------------------------------------

    async def _observe(self) -> Observed:
        from ledger.model import AccountFlags
        from messages.envelope import VoucherKey
        from pboc_sim.core import TSA_ACCOUNT, clearing_account

        s, world = self.s, self.world
        payments = [PaymentSeen(bid, core.bank_code, p.key.voucher_no, p.vtcode, p.amount_fen, p.mode, p.received_at,
                                p.day, p.filing) for bid, core in self.bcores.items() for p in core.payments.values()]
        clearings = [ClearingSeen(bid, core.bank_code, f.voucher_no, f.clear_type, f.pay_type, f.clear_date, f.filed_at,
                                  f.amount_fen, tuple(k.voucher_no for k in f.payments), f.state,
                                  (f.reason or "").split(":", 1)[0].strip() or None if f.state == "rejected" else None,
                                  f.reason, f.cleared_fen, f.answered_at)
                     for bid, core in self.bcores.items() for f in core.filings.values()]
        movements = [MovementSeen(m.business_date, m.direction, m.amount_fen, m.bank_code, m.kind, m.ref.voucher_no)
                     for ms in self.pcore.movements.values() for m in ms]
        statements = [StatementSeen(dt.date.fromisoformat(f"{h['StatementDate'][:4]}-{h['StatementDate'][4:6]}-"
                                                          f"{h['StatementDate'][6:]}"),
                                    parse_fen(h["BeginBalance"]), parse_fen(h["DebitAmt"]), parse_fen(h["CreditAmt"]),
                                    parse_fen(h["EndBalance"]))
                      for e in self.pcore.statements if e.vtcode == "7401" for h in [e.head]]
        quotas = [QuotaSeen(bank, pay, day, q.notified_fen, q.used_fen, q.replenished_fen)
                  for (bank, pay, day), q in self.pcore.quotas.items() if day is not None]
        receipts = [ReceiptSeen(head.get("VoucherNo", ""), vtcode, self.senders.get(
            f"{head.get('AdmDivCode')}/{head.get('StYear')}/{vtcode}/{head.get('VoucherNo')}/1", "?"), when, head, reason)
            for vtcode, flag, head, when, reason in self.tcore.received if flag == 1]

        # the verdicts of banks and the central bank, voucher by voucher
        bank_alarms: dict[str, list[tuple[str, str, str]]] = {}
        for bid, shell in self.bshells.items():
            for a in shell.alarms:
                if a.key:
                    bank_alarms.setdefault(a.key, []).append((bid, a.code, a.message))
        paid = {(p.bank, p.voucher_no): p for p in payments}
        sent: list[SentVoucher] = []
        treasury = self.clients[world.treasury.id]
        for vid, r in self.sent.items():
            verdicts = list(r.verdicts)
            if r.vtcode in ("5201", "8202") and r.flag == 0:
                for bid, code, message in bank_alarms.get(r.key, []):
                    verdicts.append(Verdict("bank", bid, False, code, message, r.at))
                p = paid.get((r.bank or "", r.voucher_no))
                if p is not None and p.paid_day is not None:
                    verdicts.append(Verdict("bank", p.bank, True, None, f"paid ({p.mode})", p.received_at))
                for c in clearings:
                    if r.voucher_no in c.payments and c.state != "pending":
                        verdicts.append(Verdict("pboc", world.pboc.id, c.state == "accepted", c.code,
                                                f"{c.voucher_no}: {c.reason or 'cleared'}", c.answered_at or c.filed_at))
            parts = r.key.split("/")
            events = await treasury.trace(VoucherKey(parts[0], parts[1], parts[2], parts[3], int(parts[4]))) or []
            trace = tuple(TraceEvent(str(e.get("business_time") or ""), str(e.get("step") or ""),
                                     str(e.get("participant") or ""), str(e.get("detail") or ""))
                          for e in events[:TRACE_EVENTS_MAX])
            sent.append(SentVoucher(vid, r.key, r.vtcode, r.voucher_no, r.flag, r.spec.sender, r.bank, r.bank_code,
                                    r.amount_fen, r.at, r.spec.fault, tuple(verdicts), trace, f"/v1/trace/{r.key}"))

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
        last = max(statements, key=lambda x: x.day) if statements else None
        end_close = at(s.end.date(), s.world.clock.bank_system_close)
        if last is not None and last.day == s.end.date() and end_close <= s.end:
            invariants.append(InvariantSeen("statement_matches_ledger", last.end_fen == tsa,
                                            f"last 7401 EndBalance {fen_to_str(last.end_fen)}, ledger TSA "
                                            f"{fen_to_str(tsa)}"))
        business_days = [d for d in self.closes if self.calendar.is_business_day(d)]
        observed = Observed(
            scenario=s.name, seed=self.seed, start=s.world.start, end=s.end, sent=tuple(sent), receipts=tuple(receipts),
            payments=tuple(payments), clearings=tuple(clearings), movements=tuple(movements),
            statements=tuple(statements), quotas=tuple(quotas), messages=tuple(self.messages),
            invariants=tuple(invariants), balances=balances, closes=self.closes, zero_balance_accounts=tuple(zero),
            participants=self.ids)
        return dataclasses.replace(observed, reconciliation=reconcile(
            sent=observed.sent, receipts=observed.receipts, payments=observed.payments, clearings=observed.clearings,
            movements=observed.movements, statements=observed.statements, business_days=business_days,
            opening_fen=s.world.tsa_opening_fen))


def _split(total: int, parts: int) -> list[int]:
    base = total // parts
    return [base + (total - base * parts if i == 0 else 0) for i in range(parts)]
