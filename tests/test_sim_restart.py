"""A restarted simulator forgets nothing it acknowledged.

Two halves:

* the cores: `snapshot()` → JSON → `load_snapshot()` at any point of a random scenario, then
  the rest of the scenario, gives exactly the effects (and the state) of the uninterrupted core;
* the shells end to end, through a real in-process gateway, driven by the simulation engine: a
  shell is dropped without a clean stop (between two batches, or killed by a failure before the
  commit, between commit and send, or between send and ack) and a new shell over the same ledger
  database (its snapshot and the inputs logged since) carries on where the first one left off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pboc_core import clearing, quota, refund  # the synthetic voucher builders

from bank_sim.config import DutiesConfig
from bank_sim.core import BankConfig, BankCore, account_ids
from bank_sim.shell import BankShell
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, calendar_end
from client import GatewayClient
from gateway.service import Gateway
from ledger.store import Ledger
from messages.envelope import VoucherBody, parse_envelope
from messages.errors import StateError
from messages.factory import payment_voucher
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from pboc_sim.core import TSA_ACCOUNT, PbocConfig, PbocCore, clearing_account
from pboc_sim.shell import PbocShell
from runner.world import DevWorld
from sim import codec
from sim import store as sim_store
from sim.clock import SimClock
from sim.codec import SnapshotHeader, encode
from sim.effects import Effect, SendVoucher, WakeAt
from sim.engine import SimEngine, engine_client
from storage.db import open_database
from treasury_sim.core import TreasuryConfig, TreasuryCore

CALENDAR = BusinessCalendar.default()
CC = ClockConfig()
BANK = "999100000001"  # bank-a in DevWorld
BANK2 = "999100000002"
OPENING_FEN = 1_000_000_00
RESERVE_FEN = 10_000_00
_seq = itertools.count(1)


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    """What the shell stores and reads back."""
    back: dict[str, Any] = json.loads(json.dumps(data, ensure_ascii=False))
    return back


# ====================================================================== the cores


def assert_parts_are_the_snapshot(core: PbocCore | BankCore | TreasuryCore) -> None:
    """`snapshot_parts()` (what the shell stores) is `snapshot()` in pieces, with every map and list
    of more than two entries written a slice at a time (`sim.codec.SLICE_ENTRIES`)."""
    whole = core.snapshot()
    assert b"".join(core.snapshot_parts()) == whole
    with mock.patch.object(codec, "SLICE_ENTRIES", 2):
        assert b"".join(codec.encode_parts(core.state, 64)) == whole


_DAYS = [dt.date(2025, 1, 2) + dt.timedelta(days=n) for n in range(0, 700, 11)]
_pboc_event = st.tuples(
    st.sampled_from(["quota", "clear", "urgent", "replenish", "refund", "again", "time"]),
    st.sampled_from([BANK, BANK2]),
    st.sampled_from(["11", "12"]),
    st.integers(0, 3),  # business day offset
    st.integers(8 * 60, 18 * 60),  # minute of day
    st.integers(1, 50_000),  # fen
)


def _pboc_inputs(first: dt.date, events: list[tuple[str, str, str, int, int, int]]
                 ) -> list[tuple[dt.datetime, VoucherDoc | None]]:
    """(when, voucher or None for a time step), in time order; "again" redelivers an earlier one."""
    days = [first]
    for _ in range(3):
        days.append(CALENDAR.next_business_day(days[-1]))
    out: list[tuple[dt.datetime, VoucherDoc | None]] = []
    for kind, bank, pt, off, minute, amount in sorted(events, key=lambda e: (e[3], e[4])):
        day = days[off]
        now = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=TZ)
        s, amt = day.isoformat(), fen_to_str(amount)
        doc: VoucherDoc | None
        if kind == "quota":
            doc = quota(s, amt, bank=bank, vtcode="5108" if pt == "11" else "5106")
        elif kind == "refund":
            doc = refund(s, amt, bank=bank)
        elif kind == "replenish":
            prev = CALENDAR.previous_business_day(day)
            doc = clearing(prev.isoformat(), amt, bank=bank, pay_type=pt, clear_type=1, vou_day=s)
        elif kind in ("clear", "urgent"):
            doc = clearing(s, amt, bank=bank, pay_type=pt, urgent=kind == "urgent")
        elif kind == "again":
            earlier = [d for _, d in out if d is not None]
            doc = earlier[amount % len(earlier)] if earlier else None
        else:
            doc = None
        out.append((now, doc))
    return out


def _feed_pboc(core: PbocCore, inputs: list[tuple[dt.datetime, VoucherDoc | None]]) -> list[Effect]:
    effects: list[Effect] = []
    for now, doc in inputs:
        effects += core.on_time(now) if doc is None else core.on_voucher(doc, 0, now)
    return effects


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sampled_from(_DAYS), events=st.lists(_pboc_event, max_size=30), cut=st.integers(0, 30))
def test_pboc_core_restored_from_a_snapshot_carries_on_exactly(
        first: dt.date, events: list[tuple[str, str, str, int, int, int]], cut: int) -> None:
    inputs = _pboc_inputs(first, events)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=TZ)
    end = dt.datetime.combine(CALENDAR.add_business_days(first, 4), dt.time(23), tzinfo=TZ)
    inputs = [(start, None), *inputs, (end, None)]
    cut = min(cut, len(inputs))

    def new() -> PbocCore:
        return PbocCore(PbocConfig(tsa_opening_fen=1_000_000), CALENDAR, CC)

    whole = new()
    expected = _feed_pboc(whole, inputs)

    before = new()
    got = _feed_pboc(before, inputs[:cut])
    saved = before.snapshot()  # bytes (sim.codec), what the store writes
    after = PbocCore.restore(saved, PbocConfig(tsa_opening_fen=1_000_000), CALENDAR, CC)
    assert after.snapshot() == saved  # the round trip is exact
    got += _feed_pboc(after, inputs[cut:])
    assert got == expected
    assert after.snapshot() == whole.snapshot()
    assert_parts_are_the_snapshot(whole)
    # every business day got its statement, each renders the same bytes after the restart
    assert [s.render() for s in after.statements] == [s.render() for s in whole.statements]


def _answer_2301(request: SendVoucher, now: dt.datetime, accept: bool) -> tuple[VoucherDoc, str | None]:
    amount = request.head["PayAmt"] if accept else "0.00"
    head = {**request.head, "XClearDate": now.strftime("%Y%m%d"), "XClearAmt": amount, "XPbocSerialNo": "RH0001"}
    reason = None if accept else "over-quota: refused in the test"
    return parse_voucher(SendVoucher("2301", 1, head, request.details, "bank", original=b"-").render()), reason


_bank_event = st.tuples(
    st.sampled_from(["pay", "pay", "pay", "again", "time"]),
    st.sampled_from(["5201", "8202"]),
    st.integers(0, 2),  # business day offset
    st.integers(0, 24 * 60 - 1),  # minute of day (holidays and nights defer)
    st.integers(1, 3_000_00),  # fen
    st.booleans(),  # the central bank accepts the 2301 this round files
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day_index=st.integers(0, 300), events=st.lists(_bank_event, max_size=25), cut=st.integers(0, 25))
def test_bank_core_restored_from_a_snapshot_carries_on_exactly(
        day_index: int, events: list[tuple[str, str, int, int, int, bool]], cut: int) -> None:
    first = CALENDAR.add_business_days(dt.date(2025, 3, 3), day_index)
    days = [first, CALENDAR.next_business_day(first)]
    days.append(CALENDAR.next_business_day(days[-1]))
    config = BankConfig(reserve_fen=5_000_00)
    vouchers: list[VoucherDoc] = []
    steps: list[tuple[dt.datetime, str, Any, bool]] = [(dt.datetime.combine(first, dt.time(7), tzinfo=TZ), "time",
                                                        None, True)]
    for kind, vtcode, off, minute, amount, accept in sorted(events, key=lambda e: (e[2], e[3])):
        now = dt.datetime.combine(days[off] + dt.timedelta(days=minute % 2), dt.time(minute // 60, minute % 60),
                                  tzinfo=TZ)
        if kind == "pay":
            doc = parse_voucher(payment_voucher(voucher_no=f"ZZ{next(_seq):08d}", vou_date=now.date(),
                                                pay_bank_code=BANK, amount_fen=amount, vtcode=vtcode))
            vouchers.append(doc)
            steps.append((now, "voucher", doc, accept))
        elif kind == "again" and vouchers:
            steps.append((now, "voucher", vouchers[amount % len(vouchers)], accept))
        else:
            steps.append((now, "time", None, accept))
    steps.sort(key=lambda s: s[0])
    steps.append((dt.datetime.combine(CALENDAR.next_business_day(days[-1]), dt.time(18), tzinfo=TZ), "time", None,
                  True))
    cut = min(cut, len(steps))

    def feed(core: BankCore, part: list[tuple[dt.datetime, str, Any, bool]]) -> list[Effect]:
        out: list[Effect] = []
        for now, kind, doc, accept in part:
            effects = core.on_voucher(doc, 0, now) if kind == "voucher" else core.on_time(now)
            for request in [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "2301"]:
                answer, reason = _answer_2301(request, now, accept)
                effects += core.on_voucher(answer, 1, now, return_reason=reason)
            out += effects
        return out

    whole = BankCore(BANK, config, CALENDAR, CC)
    expected = feed(whole, steps)
    before = BankCore(BANK, config, CALENDAR, CC)
    got = feed(before, steps[:cut])
    saved = before.snapshot()  # bytes (sim.codec): what the store writes
    after = BankCore.restore(saved, BANK, config, CALENDAR, CC)
    assert after.snapshot() == saved  # the round trip is exact, byte for byte
    got += feed(after, steps[cut:])
    assert got == expected
    assert after.snapshot() == whole.snapshot()
    assert_parts_are_the_snapshot(whole)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), cut=st.integers(0, 200), paid_share=st.integers(0, 100))
def test_treasury_core_restored_from_a_snapshot_carries_on_exactly(seed: int, cut: int, paid_share: int) -> None:
    config = TreasuryConfig(vouchers_per_day=15, days=2, seed=seed, tsa_opening_fen=OPENING_FEN)

    def run(core: TreasuryCore, now: dt.datetime, steps: int) -> tuple[list[Effect], dt.datetime | None]:
        """Follow the WakeAts; answer some vouchers with receipts and each close with a 7401."""
        out: list[Effect] = []
        for _ in range(steps):
            effects = core.on_time(now)
            for e in effects:
                if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202") and \
                        int(e.head["VoucherNo"][-5:]) * 7 % 100 < paid_share:
                    sent = parse_voucher(e.render())  # the core sends the bytes; its head names only the key
                    head = {**sent.head(), "XPayDate": now.strftime("%Y%m%d"), "XPayAmt": sent.get("PayAmt"),
                            "XAgentBusinessNo": "YH1"}
                    receipt = parse_voucher(SendVoucher(e.vtcode, 1, head, tuple(sent.details()), "treasury",
                                                        original=b"-").render())
                    effects += core.on_voucher(receipt, 1, now)
            out += effects
            wakes = [e.at for e in effects if isinstance(e, WakeAt)]
            if not wakes:
                return out, None
            now = wakes[-1]
        return out, now

    start = dt.datetime.combine(config.first_day, dt.time(8), tzinfo=TZ)
    whole = TreasuryCore(config, CALENDAR, CC)
    expected, _ = run(whole, start, 10_000)
    before = TreasuryCore(config, CALENDAR, CC)
    got, resume = run(before, start, cut)
    saved = before.snapshot()  # sim.codec bytes, what the store writes
    after = TreasuryCore.restore(saved, config, CALENDAR, CC)
    assert after.snapshot() == saved  # the round trip is exact, byte for byte
    if resume is not None:
        rest, _ = run(after, resume, 10_000)
        got += rest
    assert got == expected
    assert after.snapshot() == whole.snapshot()
    assert_parts_are_the_snapshot(whole)
    with pytest.raises(StateError, match="another config"):
        TreasuryCore.restore(saved, dataclasses.replace(config, seed=seed + 1), CALENDAR, CC)


def test_a_snapshot_of_another_config_or_bank_is_refused() -> None:
    core = PbocCore(PbocConfig(), CALENDAR, CC)
    core.on_time(t("2026-03-16", "08:00"))
    with pytest.raises(StateError, match="another config"):
        PbocCore.restore(core.snapshot(), PbocConfig(tsa_opening_fen=1), CALENDAR, CC)
    bank = BankCore(BANK, BankConfig(), CALENDAR, CC)
    with pytest.raises(StateError, match="not 999100000002"):
        BankCore.restore(bank.snapshot(), BANK2, BankConfig(), CALENDAR, CC)
    with pytest.raises(StateError, match="another config"):
        BankCore.restore(bank.snapshot(), BANK, BankConfig(reserve_fen=1), CALENDAR, CC)
    with pytest.raises(StateError, match="bank snapshot"):  # another core's (the central bank's header)
        BankCore.restore(encode(SnapshotHeader("pboc", 3, "")), BANK, BankConfig(), CALENDAR, CC)
    with pytest.raises(StateError, match="pboc snapshot"):  # and the other way round
        PbocCore.restore(bank.snapshot(), PbocConfig(), CALENDAR, CC)


# ====================================================================== the shells end to end


class Crash(Exception):
    """A simulated process death at a chosen point."""


@dataclass
class Running:
    shell: Any
    ledger: Ledger


@dataclass
class World:
    tmp: Path
    world: DevWorld
    clock: SimClock
    gateway: Gateway
    treasury: GatewayClient
    bank: GatewayClient  # bank-a as a plain test client (when no bank shell runs)
    running: dict[str, Running] = field(default_factory=dict)
    engine: SimEngine | None = None
    cleanup: list[Any] = field(default_factory=list)
    inboxes: dict[str, list[tuple[VoucherBody, VoucherDoc]]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    async def at(self, day: str, hhmm: str) -> None:
        assert self.engine is not None
        await self.engine.run_until(t(day, hhmm))

    async def settle(self) -> None:
        """Everything ready is delivered and handled, at the current simulated time."""
        assert self.engine is not None
        await self.engine.run_until(self.clock.now())

    async def client(self, participant: str) -> GatewayClient:
        c = engine_client(self.gateway, participant)
        await c.__aenter__()
        self.cleanup.append(c)
        return c

    async def start(self, kind: str, *, wrap: Callable[[GatewayClient], None] | None = None,
                    duties: DutiesConfig | None = None) -> Running:
        """A new process: a new database connection, a new core, a new client, a new shell; the
        engine is made anew over the shells running now (it starts the new one: restore, re-send)."""
        participant = self.world.pboc.id if kind == "pboc" else "bank-a"
        db = await open_database(str(self.tmp / f"{kind}.db"))
        self.cleanup.append(db)
        ledger = await Ledger.open(db)
        client = await self.client(participant)
        if wrap is not None:
            wrap(client)
        signer = self.world.signer(participant)
        shell: Any
        if kind == "pboc":
            shell = PbocShell(PbocCore(PbocConfig(tsa_opening_fen=OPENING_FEN), CALENDAR, CC), client, ledger,
                              signer, self.clock)
        else:
            shell = BankShell(BankCore(BANK, BankConfig(bank_name="示例银行甲分行", reserve_fen=RESERVE_FEN,
                                                        duties=duties or DutiesConfig()),
                                       CALENDAR, CC), client, ledger, signer, self.clock)
        running = Running(shell, ledger)
        self.running[kind] = running
        self.engine = SimEngine(self.clock, [r.shell for r in self.running.values()])
        await self.engine.start()
        return running

    async def crash(self, kind: str) -> None:
        """Drop the shell without a clean stop: nothing is closed or flushed."""
        del self.running[kind]
        self.engine = SimEngine(self.clock, [r.shell for r in self.running.values()])

    async def quota(self, day: str, amount: str) -> None:
        no = f"QE{day.replace('-', '')}{next(_seq):05d}"
        v = self.world.voucher("5108", {
            "Id": f"V{no}", "StYear": day[:4], "VouDate": day.replace("-", ""), "VoucherNo": no, "PayTypeCode": "11",
            "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "PayBankCode": BANK, "PayBankName": "示例银行甲分行",
            "ClearDate": day.replace("-", ""), "PayAmt": amount,
        }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])
        [result] = await self.treasury.send(self.world.envelope([v], sender=self.world.treasury.id))
        assert result.ok, result

    async def clear(self, day: str, amount: str) -> str:
        no = f"HK{day.replace('-', '')}{next(_seq):05d}"
        v = self.world.voucher("2301", {
            "Id": f"V{no}", "StYear": day[:4], "VouDate": day.replace("-", ""), "VoucherNo": no, "PayBankCode": BANK,
            "PayBankName": "示例银行甲分行", "ClearDate": day.replace("-", ""), "PayTypeCode": "11",
            "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "UrgentFlag": "0", "ClearType": "0", "PayAmt": amount,
        }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])
        [result] = await self.bank.send(self.world.envelope([v], sender="bank-a"))
        assert result.ok, result
        return no

    async def pay(self, day: str, amount_fen: int, *, payee_bank_no: str | None = None) -> str:
        no = f"ZZ{day.replace('-', '')}{next(_seq):05d}"
        v = payment_voucher(voucher_no=no, vou_date=dt.date.fromisoformat(day), pay_bank_code=BANK,
                            amount_fen=amount_fen, adm_div_code=self.world.adm_div_code)
        if payee_bank_no is not None:
            doc = parse_voucher(v)
            v = build_voucher(doc.vtcode, {**doc.head(), "PayeeAcctBankNo": payee_bank_no}, doc.details())
        [result] = await self.treasury.send(self.world.envelope([v], sender=self.world.treasury.id))
        assert result.ok, result
        return no

    async def drain(self, client: GatewayClient) -> list[tuple[VoucherBody, VoucherDoc]]:
        """Every message delivered to `client` so far (acked), kept in `inboxes`. A message read
        again before its ack (at-least-once delivery) counts once: it has the same message id."""
        got = self.inboxes.setdefault(client.participant_id, [])
        while items := await client.receive(timeout_s=0):
            for item in items:
                if item.message_id not in self.seen:
                    self.seen.add(item.message_id)
                    [body] = parse_envelope(item.envelope).bodies
                    got.append((body, parse_voucher(body.voucher)))
            await client.ack(*items)
        return got

    async def received(self, client: GatewayClient, vtcode: str, flag: int) -> list[tuple[VoucherBody, VoucherDoc]]:
        await self.settle()
        return [(b, d) for b, d in await self.drain(client) if b.vtcode == vtcode and b.flag == flag]


async def books(ledger: Ledger) -> dict[str, int]:
    await ledger.check_invariants()
    balances = await ledger.balances()
    assert sum(balances.values()) == 0
    return balances


@pytest.fixture(params=[10**9, 0], ids=["replay", "snapshots"])
def snapshot_every(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Both ways to restore: snapshot + a log replayed (no new snapshot ever), or a snapshot at
    every commit (nothing to replay)."""
    value = int(request.param)
    monkeypatch.setattr(sim_store, "SNAPSHOT_BYTES_MIN", value)
    if value == 0:  # every commit outweighs the last snapshot
        monkeypatch.setattr(sim_store, "ROW_OVERHEAD_BYTES", 10**12)
    return value


@pytest.fixture
async def make_world(tmp_path: Path, snapshot_every: int) -> AsyncIterator[Callable[[dt.datetime], Any]]:
    made: list[World] = []

    async def make(start: dt.datetime) -> World:
        world = DevWorld.create(tmp_path / "world")
        clock = SimClock(CALENDAR, CC, start)
        gw_db = await open_database(str(tmp_path / "gw.db"))
        gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock)
        await gateway.start()
        w = World(tmp_path, world, clock, gateway, engine_client(gateway, world.treasury.id),
                  engine_client(gateway, "bank-a"), cleanup=[gw_db])
        await w.treasury.__aenter__()
        await w.bank.__aenter__()
        made.append(w)
        return w

    yield make
    for w in made:
        for item in reversed(w.cleanup):
            if isinstance(item, GatewayClient):
                await item.__aexit__(None, None, None)
        await w.treasury.__aexit__(None, None, None)
        await w.bank.__aexit__(None, None, None)
        await w.gateway.stop()
        for item in w.cleanup:
            if not isinstance(item, GatewayClient):
                await item.close()


async def test_pboc_restarted_after_a_quota_notice_still_clears_within_it(make_world: Any) -> None:
    w: World = await make_world(t("2026-03-16", "08:00"))
    pboc = await w.start("pboc")
    assert not pboc.shell.restored
    await w.at("2026-03-16", "09:00")
    await w.quota("2026-03-16", "1000.00")
    await w.settle()
    assert pboc.shell.handled == 1  # the notice is acked
    await w.crash("pboc")

    pboc = await w.start("pboc")  # a new process over the same ledger database
    assert pboc.shell.restored
    assert pboc.shell.core.quotas[("990100", BANK, "11", "1", dt.date(2026, 3, 16))].notified_fen == 100000
    await w.at("2026-03-16", "15:00")
    no = await w.clear("2026-03-16", "600.00")
    [(body, doc)] = await w.received(w.bank, "2301", 1)
    assert doc.get("VoucherNo") == no
    assert body.return_reason is None, body.return_reason  # not no-quota-notice
    assert doc.get("XClearAmt") == "600.00"
    balances = await books(pboc.ledger)
    assert (balances[TSA_ACCOUNT], balances[clearing_account(BANK)]) == (OPENING_FEN - 60000, 60000)
    opening = [h for h in await pboc.ledger.history(TSA_ACCOUNT) if h.transfer.kind == "opening-balance"]
    assert len(opening) == 1  # the restarted core did not open the books again

    await w.at("2026-03-16", "17:00")
    [(_, statement)] = await w.received(w.treasury, "7401", 0)
    assert (statement.get("BeginBalance"), statement.get("DebitAmt")) == (fen_to_str(OPENING_FEN), "600.00")
    assert parse_fen(statement.get("EndBalance")) == balances[TSA_ACCOUNT]
    assert not pboc.shell.alarms


async def test_bank_restarted_after_an_advance_has_it_replenished(make_world: Any) -> None:
    # Friday 2026-02-13; its advances are replenished on the make-up Saturday 2026-02-14
    w: World = await make_world(t("2026-02-13", "08:00"))
    pboc = await w.start("pboc")
    bank = await w.start("bank")
    await w.at("2026-02-13", "09:00")
    await w.quota("2026-02-13", "1000.00")
    await w.settle()
    assert pboc.shell.handled == 1
    await w.at("2026-02-13", "16:10")  # after the bank's 15:30 filing: paid from the reserve
    no = await w.pay("2026-02-13", 300_00)
    [(_, receipt)] = await w.received(w.treasury, "5201", 1)
    assert receipt.get("VoucherNo") == no and receipt.get("XPayAmt") == "300.00"
    assert bank.shell.handled == 1
    reserve = account_ids(BANK)["reserve"]
    assert (await books(bank.ledger))[reserve] == RESERVE_FEN - 300_00
    await w.crash("bank")

    bank = await w.start("bank")
    assert bank.shell.restored
    [advance] = [p for p in bank.shell.core.payments.values() if p.mode == "advance"]
    assert advance.amount_fen == 300_00 and advance.filing is None
    await w.at("2026-02-13", "17:00")
    # nothing was cleared on the day: the statement says so
    [(_, quiet)] = await w.received(w.treasury, "7401", 0)
    assert (quiet.get("DebitAmt"), quiet.get("CreditAmt"), quiet.details()) == ("0.00", "0.00", [])
    assert quiet.get("BeginBalance") == quiet.get("EndBalance") == fen_to_str(OPENING_FEN)

    await w.at("2026-02-14", "08:45")  # the restarted bank files the replenishment
    [filing] = bank.shell.core.filings.values()
    assert (filing.clear_type, filing.state, filing.cleared_fen) == (1, "accepted", 300_00), filing.reason
    bank_books, pboc_books = await books(bank.ledger), await books(pboc.ledger)
    assert bank_books[reserve] == RESERVE_FEN
    assert bank_books[account_ids(BANK)["pboc-clearing"]] + pboc_books[clearing_account(BANK)] == 0
    assert pboc_books[TSA_ACCOUNT] == OPENING_FEN - 300_00
    assert len(await w.received(w.treasury, "5201", 1)) == 1  # one receipt, not two
    assert not pboc.shell.alarms and not bank.shell.alarms


@pytest.mark.parametrize("dies_in", ["commit", "send", "ack"])
async def test_a_crash_around_the_commit_loses_nothing_and_repeats_nothing(make_world: Any, dies_in: str) -> None:
    """`commit`: dies in the transaction (nothing stored); `send`: after the commit, before the
    receipt is sent; `ack`: after the commit and the send, before the ack."""
    w: World = await make_world(t("2026-03-16", "08:00"))
    pboc = await w.start("pboc")
    await w.at("2026-03-16", "09:00")
    await w.quota("2026-03-16", "1000.00")
    await w.settle()
    assert pboc.shell.handled == 1
    await w.crash("pboc")

    def dying(client: GatewayClient) -> None:
        """The first `dies_in` step after the 2301 kills the process."""
        if dies_in == "commit":
            real_append = sim_store.SimStore.append
            armed = [True]

            async def die_in_commit(store: Any, *args: Any, **kwargs: Any) -> None:
                inputs = args[1]
                if armed[0] and store.participant == client.participant_id and any(
                        i.kind == "voucher" and i.doc is not None and i.doc.vtcode == "2301" for i in inputs):
                    armed[0] = False
                    raise Crash("commit")
                await real_append(store, *args, **kwargs)

            w.cleanup.append(_Restore(sim_store.SimStore, "append", real_append))
            sim_store.SimStore.append = die_in_commit  # type: ignore[method-assign]
            return
        real = getattr(client, dies_in)

        async def die(*args: Any, **kwargs: Any) -> Any:
            if dies_in == "send" or args:
                setattr(client, dies_in, real)
                raise Crash(dies_in)
            return await real(*args, **kwargs)

        setattr(client, dies_in, die)

    pboc = await w.start("pboc", wrap=dying)
    await w.at("2026-03-16", "15:00")
    no = await w.clear("2026-03-16", "600.00")
    with pytest.raises(Crash):
        await w.settle()  # it died
    tsa = (await books(pboc.ledger))[TSA_ACCOUNT]
    assert tsa == OPENING_FEN - (0 if dies_in == "commit" else 60000)  # the commit happened, or nothing did
    for item in w.cleanup:
        if isinstance(item, _Restore):
            item.undo()
    await w.crash("pboc")

    pboc = await w.start("pboc")  # re-sends the last batch's sends; the 2301 is delivered again
    assert pboc.shell.restored
    [(body, doc)] = await w.received(w.bank, "2301", 1)  # exactly one receipt reached the bank
    assert pboc.shell.handled == 1
    assert doc.get("VoucherNo") == no and body.return_reason is None and doc.get("XClearAmt") == "600.00"
    # After a commit the new process sent the receipt twice: once as the last batch's pending
    # send, once for the redelivered 2301; the gateway had it already (died in ack) or got it
    # first then (died in send). Died in the commit: nothing was stored, it is decided once now.
    results = [r.status for key, rs in pboc.shell.sent for r in rs if key.vtcode == "2301"]
    assert results == {"commit": ["accepted"], "send": ["accepted", "duplicate"],
                       "ack": ["duplicate", "duplicate"]}[dies_in]
    assert (await books(pboc.ledger))[TSA_ACCOUNT] == OPENING_FEN - 60000  # applied once
    assert not pboc.shell.alarms


@dataclass
class _Restore:
    owner: Any
    name: str
    value: Any

    def undo(self) -> None:
        setattr(self.owner, self.name, self.value)

    async def close(self) -> None:
        self.undo()


async def test_a_payment_after_the_last_known_opening_is_returned_naming_the_missing_day(make_world: Any) -> None:
    """docs/calendar.md, "The last days known": a payment voucher the bank would pay at its next
    opening, after the calendar's last day's close, is returned unpaid at once `calendar-out-of-range`
    naming the missing day, once, across a restart. Was: deferred to an opening nobody described,
    no receipt while the calendar lasted (the sender never told)."""
    w: World = await make_world(t("2026-12-31", "08:00"))
    bank = await w.start("bank")
    await w.at("2026-12-31", "17:30")
    late = await w.pay("2026-12-31", 200_00)
    [(body, doc)] = await w.received(w.treasury, "5201", 1)
    assert doc.get("VoucherNo") == late
    assert body.return_reason is not None and body.return_reason.startswith("calendar-out-of-range:")
    assert "after 2026-12-31 is unknown" in body.return_reason
    assert (doc.get("XPayAmt"), doc.get("XPayDate")) == ("0.00", "20261231")
    await w.crash("bank")
    await w.start("bank")  # restored: the return is not sent again
    await w.at("2026-12-31", "23:00")
    assert len(await w.received(w.treasury, "5201", 1)) == 1
    assert [a.code for a in bank.shell.alarms] == ["calendar-out-of-range"]



async def test_a_slow_bank_on_the_last_day_holds_a_receipt_to_the_calendars_last_instant(make_world: Any) -> None:
    """A `slow` bank holds a receipt a business day; on the calendar's last day that day is unknown:
    the receipt goes out at the last instant the calendar knows, and the delivery is handled once.
    Was: the core refused calendar-out-of-range out of on_voucher, which ended the bank's shell
    before the ack; every new shell got the voucher again and ended the same way (a crash loop)."""
    w: World = await make_world(t("2026-12-31", "08:00"))
    bank = await w.start("bank", duties=DutiesConfig(profile="slow"))
    await w.at("2026-12-31", "10:00")  # before the filing: paid by clearing, the receipt held
    no = await w.pay("2026-12-31", 100_00)
    assert await w.received(w.treasury, "5201", 1) == [] and bank.shell.handled == 1
    last = calendar_end(CALENDAR) - dt.timedelta(microseconds=1)
    await w.engine.run_until(last - dt.timedelta(microseconds=1))  # type: ignore[union-attr]
    assert await w.received(w.treasury, "5201", 1) == []
    await w.engine.run_until(last)  # type: ignore[union-attr]
    [(body, doc)] = await w.received(w.treasury, "5201", 1)
    assert doc.get("VoucherNo") == no and body.return_reason is None and doc.get("XPayAmt") == "100.00"



async def test_a_payment_to_another_banks_payee_on_the_last_day_is_returned_not_a_crash(make_world: Any) -> None:
    """Another bank's payee is reached the next business day (XArriveDate); on the calendar's last
    day that day is unknown: returned unpaid calendar-out-of-range, once. Was: the core raised out
    of on_voucher (the books check on a half-paid voucher), ending the bank's shell before the ack;
    every new shell got the voucher again (a crash loop)."""
    w: World = await make_world(t("2026-12-31", "08:00"))
    bank = await w.start("bank")
    await w.at("2026-12-31", "10:00")
    no = await w.pay("2026-12-31", 100_00, payee_bank_no="102100099996")
    [(body, doc)] = await w.received(w.treasury, "5201", 1)
    assert doc.get("VoucherNo") == no and doc.get("XPayAmt") == "0.00"
    assert body.return_reason is not None and body.return_reason.startswith("calendar-out-of-range:")
    assert bank.shell.handled == 1
