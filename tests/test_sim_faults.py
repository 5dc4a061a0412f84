"""Seeded fault runs: the injector's decisions, the engine's fault API, a few hundred seeds of the
simulated business under faults, and a broken build that the runs must catch."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bank_sim import payments as bank_payments
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from client import Delivery
from messages.envelope import VoucherKey
from messages.voucher import parse_voucher
from runner.demo import build_world
from runner.faults import SeedResult, run_seed
from sim.effects import Alarm, PostTransfer, SendVoucher
from sim.engine import REDELIVERY_TIMEOUT
from sim.faults import FAULT_KINDS, BatchFate, FaultInjector, FaultRates, FaultSchedule, plan_schedule
from tgw.sim import parse_seeds
from treasury_sim.core import TreasuryConfig, TreasuryCore

CALENDAR = BusinessCalendar.default()
CC = ClockConfig()
START = dt.date(2026, 3, 9)
# Seeds CI runs (one loop, deterministic seeds, no hypothesis): ~0.1-0.2 s each on this machine.
CI_SEEDS = range(1, 301)


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


@pytest.fixture
def ram_path() -> Iterator[Path]:
    """A temporary directory in RAM when there is one: the runs test crashes of processes, not of
    disks, and a seed's dozen SQLite files then cost no fsync (what `tgw sim faults` does too)."""
    ram = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="tgw-test-faults-", dir=ram) as tmp:
        yield Path(tmp)


def run(tmp: Path, seed: int, **kwargs: Any) -> SeedResult:
    return asyncio.run(run_seed(tmp, seed=seed, vouchers=kwargs.pop("vouchers", 6), days=kwargs.pop("days", 1),
                                start=START, **kwargs))


# ====================================================================== the injector (pure)


def _deliveries(n: int) -> list[Delivery]:
    return [Delivery(f"m{i}", VoucherKey("990100", "2026", "5201", f"ZZ{i}", 0), "treasury", b"<x/>", i)
            for i in range(n)]


def test_the_schedule_and_the_decisions_follow_the_seed_only() -> None:
    def plan(seed: int) -> tuple[FaultSchedule, list[BatchFate]]:
        schedule = plan_schedule(seed, days=[START], participants=["t", "p", "a", "b"], banks=["a", "b"], tz=TZ,
                                 day_start=dt.time(8), day_end=dt.time(17), offline_from=(dt.time(15, 35),
                                 dt.time(15, 59)), offline_until=(dt.time(16, 1), dt.time(16, 55)))
        injector = FaultInjector(schedule)
        return schedule, [injector.on_deliveries("a", _deliveries(20), t("2026-03-09", "10:00")) for _ in range(20)]

    assert plan(5) == plan(5)
    assert plan(5) != plan(6)
    for seed in range(50):
        schedule, _ = plan(seed)
        offline = [f for f in schedule.timed if f.kind in ("offline", "online")]
        if offline:  # across the 16:00 cutoff, within the day
            down, up = offline
            assert down.kind == "offline" and up.kind == "online" and down.participant == up.participant
            assert dt.time(15, 35) <= down.at.time() < dt.time(16) < up.at.time() <= dt.time(16, 55)


def test_every_delivery_is_handed_over_dropped_or_held_and_none_is_invented() -> None:
    rates = FaultRates(drop=0.2, duplicate=0.2, delay=0.2, ack_lost=0.3, reorder=1.0, crash=0.0)
    injector = FaultInjector(FaultSchedule(1, rates))
    items = _deliveries(200)
    fate = injector.on_deliveries("a", items, t("2026-03-09", "10:00"))
    handed = Counter(i.message_id for i in fate.now)
    held = Counter(i.message_id for _, i in fate.later)
    dropped = Counter(i.message_id for i in fate.dropped)
    assert max(handed.values()) == 1 and not (set(handed) & set(dropped))
    for item in items:  # each one exactly once somewhere; a duplicate is handed over and held at 0 s
        assert (item.message_id in handed) + (item.message_id in dropped) + (
            item.message_id in held and item.message_id not in handed) == 1
    assert all(0 < s <= 180 for s, i in fate.later if i.message_id not in handed)
    assert all(s == 0 for s, i in fate.later if i.message_id in handed)
    assert [i.message_id for i in fate.now] != sorted((i.message_id for i in fate.now), key=lambda m: int(m[1:]))
    assert {"drop", "delay", "duplicate", "reorder"} <= set(injector.counts)


# ====================================================================== the treasury under redelivery


def _receipt(core: TreasuryCore, paid_fen: int | None = None, serial: str = "YH00012026031600000001") -> Any:
    v = core.vouchers[sorted(core.vouchers)[0]]
    head = {**v.doc.head(), "XPayDate": "20260316", "XPayAmt": f"{(paid_fen or v.amount_fen) / 100:.2f}",
            "XAgentBusinessNo": serial}
    return parse_voucher(SendVoucher(v.vtcode, 1, head, tuple(v.doc.details()), "treasury",
                                     original=b"-").render())


def test_a_receipt_delivered_again_is_the_same_receipt_not_a_second_payment() -> None:
    """Found by the fault runs (a duplicated delivery, a lost ack): the treasury took the same
    receipt, delivered twice, for a voucher paid twice (`duplicate-conflict`)."""
    core = TreasuryCore(TreasuryConfig(first_day=dt.date(2026, 3, 16), days=1, vouchers_per_day=3, seed=2),
                        CALENDAR, CC)
    core.on_time(t("2026-03-16", "08:00"))
    core.on_time(t("2026-03-16", "17:30"))
    receipt = _receipt(core)
    assert core.on_voucher(receipt, 1, t("2026-03-16", "17:31")) == []
    assert core.on_voucher(receipt, 1, t("2026-03-16", "17:32")) == []  # the same one again: nothing
    assert core.duplicate_receipts == []
    other = _receipt(core, serial="YH00012026031600000099")  # a different receipt: a second payment
    [alarm] = core.on_voucher(other, 1, t("2026-03-16", "17:33"))
    assert isinstance(alarm, Alarm) and alarm.code == "duplicate-conflict"
    assert len(core.duplicate_receipts) == 1


# ====================================================================== the engine's fault API


async def test_a_dropped_delivery_comes_again_at_the_redelivery_timeout_in_simulated_time(tmp_path: Path) -> None:
    """Pull mode: the gateway keeps an unacked row `ready`; the engine reads the inbox again
    REDELIVERY_TIMEOUT later on the simulated clock (never on wall time, never not at all)."""

    class DropFirst:
        def __init__(self) -> None:
            self.dropped: dict[str, dt.datetime] = {}
            self.kinds: Counter[str] = Counter()

        def on_deliveries(self, participant: str, items: Any, now: dt.datetime) -> BatchFate:
            fate = BatchFate([])
            for item in items:
                if item.message_id not in self.dropped and item.key.vtcode in ("5201", "8202") and item.key.flag == 0:
                    self.dropped[item.message_id] = now
                    fate.dropped.append(item)
                else:
                    fate.now.append(item)
            return fate

        def note(self, kind: str, at: dt.datetime, participant: str | None, detail: str = "") -> None:
            self.kinds[kind] += 1

    w = await build_world(tmp_path, seed=4, vouchers=4, days=1, start=START)
    from sim.engine import SimEngine

    interceptor = DropFirst()
    w.engine = SimEngine(w.clock, w.shells, interceptor=interceptor)
    handled: dict[str, list[dt.datetime]] = {}
    for bank in w.bshells.values():
        real = bank.handle

        async def handle(items: Any, real: Any = real, clock: Any = w.clock) -> None:
            for item in items:
                handled.setdefault(item.message_id, []).append(clock.now())
            await real(items)

        bank.handle = handle
    try:
        await w.engine.run_until(w.end)
        ready = (await w.gateway.outbox.counts()).get("ready", 0)
    finally:
        await w.close()
    assert interceptor.dropped and ready == 0
    for mid, dropped_at in interceptor.dropped.items():
        assert handled[mid] == [dropped_at + REDELIVERY_TIMEOUT]  # once, exactly at the timeout
    assert w.engine.redeliveries >= 1


async def test_offline_waits_and_online_catches_up(tmp_path: Path) -> None:
    w = await build_world(tmp_path, seed=4, vouchers=6, days=1, start=START)
    bank = sorted(w.bshells)[0]
    try:
        await w.engine.run_until(t("2026-03-09", "15:40"))
        w.engine.set_online(bank, False)
        handled = w.bshells[bank].handled
        ticks = w.bshells[bank].ticks
        await w.engine.run_until(t("2026-03-09", "16:20"))
        assert (w.bshells[bank].handled, w.bshells[bank].ticks) == (handled, ticks)  # nothing while down
        waiting = len(await w.gateway.outbox.inbox(bank, limit=500))
        w.engine.set_online(bank, True)
        await w.engine.run_until(t("2026-03-09", "16:20"))
        assert w.bshells[bank].handled == handled + waiting  # the backlog, at once
        assert not await w.gateway.outbox.inbox(bank, limit=500)
    finally:
        await w.close()


# ====================================================================== the fault runs


def test_a_seed_replays_identically(tmp_path: Path) -> None:
    first, again = run(tmp_path / "a", 19), run(tmp_path / "b", 19)
    assert first.ok, first.failed
    assert sum(first.faults.values()) > 0
    assert (again.journal_digest, again.faults, again.applied) == (first.journal_digest, first.faults,
                                                                   first.applied)
    assert run(tmp_path / "c", 20).journal_digest != first.journal_digest


def test_a_few_hundred_seeds_hold_under_every_kind_of_fault(ram_path: Path) -> None:
    """What CI runs (`tgw sim faults --seeds 1..300` is the same loop)."""
    kinds: Counter[str] = Counter()
    failed: dict[int, dict[str, str]] = {}
    for seed in CI_SEEDS:
        root = ram_path / f"s{seed}"
        root.mkdir()
        result = run(root, seed)
        shutil.rmtree(root)
        kinds.update(result.faults)
        if not result.ok:
            failed[seed] = result.failed
    assert not failed, failed
    assert {k for k in FAULT_KINDS if kinds[k] == 0} == set(), kinds  # every fault really happened


def test_a_bank_that_pays_a_redelivered_voucher_again_is_caught(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken build: the bank books a fresh payment (a new transfer id) when a
    voucher it already paid is delivered again. The fault runs must report the seed."""
    real = bank_payments.on_payment

    def pays_again(ctx: Any, state: Any, doc: Any, key: Any, now: dt.datetime) -> list[Any]:
        known = state.payment(key)
        effects: list[Any] = real(ctx, state, doc, key, now)
        if known is not None and known.day is not None:
            effects = [PostTransfer(dataclasses.replace(e.transfer, id=f"{e.transfer.id}:again:{now.isoformat()}"))
                       if isinstance(e, PostTransfer) else e for e in effects]
        return effects

    monkeypatch.setattr(bank_payments, "on_payment", pays_again)
    caught = next((r for r in (run(tmp_path / f"s{seed}", seed) for seed in range(1, 41)) if not r.ok), None)
    assert caught is not None, "no seed in 1..40 caught a bank paying a duplicate delivery twice"
    assert {"payments_booked_once", "no_transfer_booked_twice"} & set(caught.failed), caught.failed
    report = caught.as_dict()
    assert report["replay"].startswith(f"tgw sim faults --seeds {caught.seed}..{caught.seed} ")
    assert report["schedule"]["seed"] == caught.seed and report["applied"]


def test_the_command_reports_a_failing_seed_with_its_replay(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "tgw", "sim", "faults", "--seeds", "3..4", "--format", "json",
                         "--dir", str(tmp_path / "ok")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert '"seeds_run": 2' in ok.stdout and '"failures": 0' in ok.stdout
    usage = subprocess.run([sys.executable, "-m", "tgw", "sim", "faults", "--seeds", "9..3"], capture_output=True,
                           text=True, timeout=60)
    assert usage.returncode == 2
    assert list(parse_seeds("1..3")) == [1, 2, 3] and list(parse_seeds("7")) == [7]
