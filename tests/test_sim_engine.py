"""The simulation engine: discrete-event time, ticks only when due, byte-for-byte determinism,
refusals fed back to the cores, and the live driver that no longer spins."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bank_sim.core import BankConfig, BankCore, account_ids
from bank_sim.shell import BankShell
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from client import GatewayClient, SendResult
from gateway.clock import BusinessClock
from gateway.service import Gateway
from ledger.model import Transfer
from ledger.store import Ledger
from messages.envelope import parse_envelope
from messages.factory import payment_voucher
from messages.voucher import parse_voucher
from pboc_sim.core import PbocConfig, PbocCore
from pboc_sim.shell import PbocShell
from runner.demo import build_world, simulate
from runner.world import DevWorld
from sim.clock import SimClock
from sim.effects import Alarm, Effect, Refusal, SendVoucher, WakeAt, registered_code
from sim.engine import SimEngine, engine_client
from sim.shell import SimShell
from storage.db import open_database
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.shell import TreasuryShell

CALENDAR = BusinessCalendar.default()
CC = ClockConfig()
BANK = "999100000001"


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


# ====================================================================== ticks only when due


async def test_a_core_is_ticked_only_at_the_wake_ups_it_asked_for(tmp_path: Path) -> None:
    w = await build_world(tmp_path, seed=3, vouchers=40, days=1, start=dt.date(2026, 2, 13))
    ticks: dict[str, list[dt.datetime]] = {}
    asked: dict[str, set[dt.datetime]] = {}
    for name, core in [("treasury", w.tcore), ("pboc", w.pcore), *w.bcores.items()]:
        real = core.on_time

        def counting(now: dt.datetime, name: str = name, real: Any = real) -> list[Effect]:
            effects: list[Effect] = real(now)
            ticks.setdefault(name, []).append(now)
            asked.setdefault(name, set()).update(e.at for e in effects if isinstance(e, WakeAt))
            return effects

        core.on_time = counting
    try:
        await w.engine.run_until(w.end)
    finally:
        await w.close()
    for name, times in ticks.items():
        due = {when for when in asked[name] if when <= w.end}
        assert len(times) == 1 + len(due), name  # the first tick, then one per wake-up asked for
        assert sorted(times[1:]) == sorted(due) and len(set(times)) == len(times), name
    last_send = max(v.send_at for v in w.tcore.vouchers.values())
    assert max(ticks["treasury"]) == last_send  # never ticked after its last planned send
    assert w.tshell.ticks == len(ticks["treasury"])


# ====================================================================== one commit a batch


async def test_a_batch_s_sends_and_its_ack_share_one_gateway_commit(tmp_path: Path) -> None:
    """A delivery batch that answers is acked beside its answers: the gateway journals both in one
    commit (one fsync), not the sends then the ack in another."""
    w = await build_world(tmp_path, seed=3, vouchers=40, days=1, start=dt.date(2026, 3, 16))
    db = w.gateway.db
    commits = [0]
    real_transaction = db.transaction

    def counting() -> Any:
        commits[0] += 1
        return real_transaction()

    db.transaction = counting  # type: ignore[method-assign]
    batches: list[tuple[int, int, int]] = []  # (deliveries, envelopes sent, gateway commits)
    for shell in w.engine.shells:
        real_send, real_handle = shell.client.send, shell.handle
        sent = [0]

        async def send(envelope: bytes, sent: list[int] = sent, real_send: Any = real_send) -> list[SendResult]:
            sent[0] += 1
            results: list[SendResult] = await real_send(envelope)
            return results

        async def handle(items: Any, sent: list[int] = sent, real_handle: Any = real_handle) -> None:
            before, sent[0] = commits[0], 0
            await real_handle(items)
            batches.append((len(items), sent[0], commits[0] - before))

        shell.client.send = send  # type: ignore[method-assign]
        shell.handle = handle  # type: ignore[method-assign]
    try:
        await w.engine.run_until(w.end)
    finally:
        await w.close()
    answered = [b for b in batches if b[1] > 0]
    assert len(answered) >= 5 and sum(n for n, _, _ in answered) >= 40  # the banks' receipts, the pboc's...
    assert all(b[2] == 1 for b in answered), batches
    assert all(b[2] == 1 for b in batches if b[1] == 0), batches  # an ack alone: one commit too


# ====================================================================== determinism


@pytest.mark.slow
def test_a_simulated_week_is_deterministic(tmp_path: Path) -> None:
    def digest(seed: int, name: str) -> str:
        report = asyncio.run(simulate(tmp_path / name, seed=seed, vouchers=12, days=5, start=dt.date(2026, 3, 9)))
        assert report["ok"], {k: v for k, v in report["invariants"].items() if not v["ok"]}
        value: str = report["run"]["journal_digest"]
        return value

    first, again, other = digest(7, "a"), digest(7, "b"), digest(8, "c")
    assert len(first) == 64 and first == again
    assert other != first


# ====================================================================== refusals come back


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    world = DevWorld.create(tmp_path / "world")
    clock = SimClock(CALENDAR, CC, t("2026-03-16", "08:00"))
    gw_db = await open_database(str(tmp_path / "gw.db"))
    gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock)
    await gateway.start()
    opened: list[Any] = [gw_db]
    clients: list[GatewayClient] = []

    async def client(pid: str) -> GatewayClient:
        c = engine_client(gateway, pid)
        await c.__aenter__()
        clients.append(c)
        return c

    async def ledger(name: str) -> Ledger:
        db = await open_database(str(tmp_path / f"{name}.db"))
        opened.append(db)
        return await Ledger.open(db)

    yield {"world": world, "clock": clock, "gateway": gateway, "client": client, "ledger": ledger}
    for c in clients:
        await c.__aexit__(None, None, None)
    await gateway.stop()
    for db in opened:
        await db.close()


async def test_a_payment_the_ledger_refuses_is_marked_refused_and_gets_no_receipt(rig: dict[str, Any]) -> None:
    world, clock = rig["world"], rig["clock"]
    reserve_fen = 10_000_00
    pledger, bledger = await rig["ledger"]("pboc"), await rig["ledger"]("bank")
    pshell = PbocShell(PbocCore(PbocConfig(tsa_opening_fen=10**9), CALENDAR, CC), await rig["client"]("pboc-990100"),
                       pledger, world.signer("pboc-990100"), clock)
    bcore = BankCore(BANK, BankConfig(reserve_fen=reserve_fen), CALENDAR, CC)
    bshell = BankShell(bcore, await rig["client"]("bank-a"), bledger, world.signer("bank-a"), clock)
    treasury = await rig["client"](world.treasury.id)
    engine = SimEngine(clock, [pshell, bshell])
    await engine.start()
    # The books and the core's view disagree: 9,000.00 left the reserve behind the core's back.
    accounts = account_ids(BANK)
    await bledger.transfer(Transfer("test:drain", accounts["reserve"], accounts["reserve-funding"], 9_000_00,
                                    "test"))
    await engine.run_until(t("2026-03-16", "16:10"))  # after the bank's filing: advances from the reserve
    day = dt.date(2026, 3, 16)
    vouchers = [payment_voucher(voucher_no=f"ZZ2026031600{i}", vou_date=day, pay_bank_code=BANK, amount_fen=fen,
                                adm_div_code=world.adm_div_code) for i, fen in enumerate([300_00, 500_00, 400_00])]
    results = await treasury.send(world.envelope(vouchers, sender=world.treasury.id))
    assert all(r.ok for r in results)
    await engine.run_until(clock.now())

    assert bshell.careful_batches == 1  # the batch was done again call by call
    receipts = []
    while items := await treasury.receive(timeout_s=0):
        receipts += [parse_envelope(i.envelope).bodies[0].voucher_no for i in items]
        await treasury.ack(*items)
    assert sorted(receipts) == ["ZZ20260316000", "ZZ20260316001"]  # none for the refused payment
    refused = [p for p in bcore.payments.values() if p.refused is not None]
    assert [(p.key.voucher_no, p.refused, p.day) for p in refused] == [("ZZ20260316002", "ledger-overdraft", None)]
    assert bcore.reserve_balance_fen == reserve_fen - 800_00  # the core's view follows the books
    assert (await bledger.balance(accounts["reserve"])) == reserve_fen - 9_000_00 - 800_00
    assert [a.code for a in bshell.alarms] == ["ledger-overdraft"]
    assert bcore.paid_fen() == 800_00


async def test_a_send_the_gateway_refuses_comes_back_to_the_core(rig: dict[str, Any]) -> None:
    world, clock = rig["world"], rig["clock"]
    config = TreasuryConfig(banks=(("999100000001", "甲"), ("999199999999", "not in the registry")),
                            first_day=dt.date(2026, 3, 16), days=1, vouchers_per_day=6, seed=5)
    tcore = TreasuryCore(config, CALENDAR, CC)
    tshell = TreasuryShell(tcore, await rig["client"](world.treasury.id), world.signer(world.treasury.id), clock)
    engine = SimEngine(clock, [tshell])
    await engine.run_until(t("2026-03-16", "17:00"))
    to_unknown = [v for v in tcore.vouchers.values() if v.bank == "999199999999"]
    assert to_unknown and all(v.sent for v in tcore.vouchers.values())
    assert {v.refused for v in to_unknown} == {"no-recipient"}  # its real code, not relabelled
    assert all(v.refused is None for v in tcore.vouchers.values() if v.bank != "999199999999")
    assert {a.code for a in tshell.alarms} == {"no-recipient"}
    # the treasury no longer expects a refused voucher to be debited from the TSA
    assert tcore.expected_debit_fen(dt.date(2026, 3, 16)) == sum(
        v.amount_fen for v in tcore.vouchers.values() if v.refused is None and not v.late)


def test_an_unknown_code_is_never_relabelled() -> None:
    assert registered_code("over-quota") == "over-quota"
    assert registered_code("no-such-code") == registered_code(None) == "unknown-code"
    core = BankCore(BANK, BankConfig(reserve_fen=0), CALENDAR, CC)
    core.on_time(t("2026-03-16", "08:00"))
    doc = parse_voucher(payment_voucher(voucher_no="ZZ1", vou_date=dt.date(2026, 3, 16), pay_bank_code=BANK,
                                        amount_fen=100_00))
    core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    [request] = [e for e in core.on_time(t("2026-03-16", "15:30")) if isinstance(e, SendVoucher)]
    head = {**request.head, "XClearDate": "20260316", "XClearAmt": "0.00", "XPbocSerialNo": "RJ1"}
    answer = parse_voucher(SendVoucher("2301", 1, head, request.details, "bank", original=b"-").render())
    [alarm] = core.on_voucher(answer, 1, t("2026-03-16", "15:31"), "mystery-code: from a newer central bank")
    assert isinstance(alarm, Alarm) and alarm.code == "unknown-code" and "mystery-code" in alarm.message


def test_the_shell_keeps_an_unknown_gateway_code_as_unknown_code() -> None:
    core = BankCore(BANK, BankConfig(reserve_fen=0), CALENDAR, CC)
    shell = SimShell(core, GatewayClient(None, "bank-a"), None, None, "bank",  # type: ignore[arg-type]
                     SimClock(CALENDAR, CC, t("2026-03-16", "08:00")))
    send = SendVoucher("2301", 0, {"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": "HK1", "VtCode": "2301"},
                       (), "pboc")
    answer = SendResult(str(send.key), "rejected", code="brand-new-code", message="a newer gateway says no")
    [refusal] = shell._results([send], [answer])
    assert (refusal.code, refusal.source, refusal.dropped) == ("unknown-code", "gateway", (send,))
    assert "brand-new-code" in refusal.message and [a.code for a in shell.alarms] == ["unknown-code"]


# ====================================================================== the live driver


async def test_the_live_driver_does_not_tick_a_core_that_asked_for_no_wake_up() -> None:
    class Quiet:
        def __init__(self) -> None:
            self.ticks = 0

        def on_time(self, now: dt.datetime) -> list[Effect]:
            self.ticks += 1
            return [WakeAt(t("2026-03-16", "09:00"))] if self.ticks == 1 else []

        def on_voucher(self, *args: Any) -> list[Effect]:
            return []

        def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
            return []

        def snapshot(self) -> dict[str, Any]:
            return {}

        def load_snapshot(self, data: Any) -> None:
            pass

    class Idle:
        participant_id = "bank-a"

        async def receive(self, timeout_s: float) -> list[Any]:
            await asyncio.sleep(timeout_s)
            return []

    clock = BusinessClock.simulated(CALENDAR, CC, t("2026-03-16", "08:00"))
    core = Quiet()
    shell = SimShell(core, Idle(), None, None, "bank", clock)  # type: ignore[arg-type]
    task = asyncio.create_task(shell.run())
    try:
        for _ in range(1000):  # the first tick
            if shell.wake is not None:
                break
            await asyncio.sleep(0)
        await clock.advance_to(t("2026-03-16", "12:00"))  # the 09:00 wake-up, then nothing
        for _ in range(100):
            await asyncio.sleep(0)
        assert core.ticks == 2 and shell.wake is None  # not spinning on a stale wake-up
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
