"""The central bank simulator end to end: treasury and bank participants talk to the PBOC shell
through a real in-process gateway, on a simulated business clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from client import GatewayClient
from gateway.clock import BusinessClock
from gateway.service import Gateway
from ledger.store import Ledger
from messages.envelope import VoucherBody, parse_envelope
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from pboc_sim.core import TSA_ACCOUNT, PbocConfig, PbocCore, clearing_account
from pboc_sim.shell import PbocShell
from runner.world import DevWorld
from storage.db import open_database

BANK = "999100000001"  # bank-a in DevWorld
OPENING_FEN = 1_000_000_00
# Upper bound on waiting for a delivery or for the shell to act: each wait ends as soon as the thing
# arrives, so only a failing run pays it; generous so a loaded machine (the full suite on 2 cores)
# never fails on speed.
WAIT_S = 60.0
_seq = itertools.count(1)


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def ymd(day: str) -> str:
    return day.replace("-", "")


@dataclass
class Rig:
    world: DevWorld
    clock: BusinessClock
    ledger: Ledger
    core: PbocCore
    shell: PbocShell
    treasury: GatewayClient
    bank: GatewayClient

    async def at(self, day: str, hhmm: str) -> None:
        await self.clock.advance_to(t(day, hhmm))

    async def quota(self, day: str, amount: str, vtcode: str = "5108", clear_day: str | None = None) -> None:
        clear_day = clear_day or day
        no = f"QE{ymd(day)}{next(_seq):05d}"
        v = self.world.voucher(vtcode, {
            "Id": f"V{no}", "StYear": day[:4], "VouDate": ymd(day), "VoucherNo": no,
            "PayTypeCode": "11" if vtcode == "5108" else "12", "FundTypeCode": "1", "FundTypeName": "一般公共预算资金",
            "PayBankCode": BANK, "PayBankName": "示例银行甲分行", "ClearDate": ymd(clear_day), "PayAmt": amount,
        }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])
        [result] = await self.treasury.send(self.world.envelope([v], sender=self.world.treasury.id))
        assert result.ok, result
        # a refused notice is settled once the shell has raised its alarm (after the core recorded it)
        await self.settle(lambda: no in str(self.core.quotas) or any(no in (a.key or "") for a in self.shell.alarms))

    async def clear(self, day: str, amount: str, *, urgent: bool = False, clear_type: int = 0,
                    clear_day: str | None = None) -> tuple[VoucherBody, VoucherDoc]:
        no = f"HK{ymd(day)}{next(_seq):05d}"
        v = self.world.voucher("2301", {
            "Id": f"V{no}", "StYear": day[:4], "VouDate": ymd(day), "VoucherNo": no, "PayBankCode": BANK,
            "PayBankName": "示例银行甲分行", "ClearDate": ymd(clear_day or day), "PayTypeCode": "11",
            "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "UrgentFlag": "1" if urgent else "0",
            "ClearType": str(clear_type), "PayAmt": amount,
        }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])
        [result] = await self.bank.send(self.world.envelope([v], sender="bank-a"))
        assert result.ok, result
        return await receive_one(self.bank, "2301")

    async def refund(self, day: str, amount: str, *, ori_vtcode: str = "2301",
                     ori_no: str = "ZZ0001") -> tuple[VoucherBody, VoucherDoc]:
        no = f"TK{ymd(day)}{next(_seq):05d}"
        v = self.world.voucher("2302", {
            "Id": f"V{no}", "StYear": day[:4], "VouDate": ymd(day), "VoucherNo": no, "OriVtCode": ori_vtcode,
            "OriVoucherNo": ori_no, "OriVouDate": ymd(day), "PayBankCode": BANK, "PayBankName": "示例银行甲分行",
            "PayTypeCode": "11", "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "AgencyCode": "101001",
            "AgencyName": "示例单位", "PayeeAcctNo": "99990000000009999", "PayeeAcctName": "示例收款人",
            "PayeeAcctBankName": "示例支行", "PayAcctNo": "99901000000000099", "PayAcctName": "示例零余额账户",
            "ReturnReasonCode": "02", "ReturnReasonName": "收款账户已销户", "PayAmt": amount,
        })
        [result] = await self.bank.send(self.world.envelope([v], sender="bank-a"))
        assert result.ok, result
        return await receive_one(self.bank, "2302")

    async def settle(self, done: object) -> None:
        assert callable(done)
        for _ in range(int(WAIT_S / 0.01)):
            if done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the PBOC shell did not get there in time")

    async def books(self) -> tuple[int, int]:
        """(TSA, bank clearing account) balances; the ledger invariants hold."""
        await self.ledger.check_invariants()
        balances = await self.ledger.balances()
        assert sum(balances.values()) == 0
        return balances.get(TSA_ACCOUNT, 0), balances.get(clearing_account(BANK), 0)


async def receive_one(client: GatewayClient, vtcode: str) -> tuple[VoucherBody, VoucherDoc]:
    items = await client.receive(timeout_s=WAIT_S)
    assert len(items) == 1, items
    [body] = parse_envelope(items[0].envelope).bodies
    await client.ack(*items)
    assert body.vtcode == vtcode, body
    return body, parse_voucher(body.voucher)


@pytest.fixture
async def rig_factory(tmp_path: Path) -> AsyncIterator[object]:
    stack: list[object] = []

    async def make(start: dt.datetime) -> Rig:
        world = DevWorld.create(tmp_path / "world")
        calendar = BusinessCalendar.default()
        clock = BusinessClock.simulated(calendar, ClockConfig(), start)
        gw_db = await open_database(str(tmp_path / "gw.db"))
        gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock)
        await gateway.start()
        ledger_db = await open_database(str(tmp_path / "pboc.db"))
        ledger = await Ledger.open(ledger_db)
        core = PbocCore(PbocConfig(tsa_opening_fen=OPENING_FEN), calendar, ClockConfig())
        pboc = GatewayClient.bus(gateway, world.pboc.id)
        treasury = GatewayClient.bus(gateway, world.treasury.id)
        bank = GatewayClient.bus(gateway, "bank-a")
        for client in (pboc, treasury, bank):
            await client.__aenter__()
        shell = PbocShell(core, pboc, ledger, world.signer(world.pboc.id), clock)
        task = asyncio.create_task(shell.run())
        stack.append((gateway, (pboc, treasury, bank), task, (gw_db, ledger_db)))
        rig = Rig(world, clock, ledger, core, shell, treasury, bank)
        await rig.settle(lambda: shell.wake is not None)
        return rig

    yield make
    for gateway, clients, task, dbs in stack:  # type: ignore[misc]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for client in clients:
            await client.__aexit__(None, None, None)
        await gateway.stop()
        for db in dbs:
            await db.close()


async def test_a_clearing_day_through_the_gateway(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(t("2026-03-16", "08:00"))
    assert await rig.books() == (OPENING_FEN, 0)
    await rig.at("2026-03-16", "09:00")
    await rig.quota("2026-03-16", "1000.00")
    await rig.quota("2026-03-17", "1000.00")  # wrong day: refused, nothing cleared against it
    assert [a.code for a in rig.shell.alarms] == ["wrong-day"]

    await rig.at("2026-03-16", "15:59")
    body, doc = await rig.clear("2026-03-16", "600.00")
    assert body.flag == 1 and body.return_reason is None
    assert (doc.get("XClearDate"), doc.get("XClearAmt")) == ("20260316", "600.00")
    assert await rig.books() == (OPENING_FEN - 60000, 60000)

    body, doc = await rig.clear("2026-03-16", "500.00")  # 400.00 left
    assert body.return_reason is not None and body.return_reason.startswith("over-quota:")
    assert doc.get("XClearAmt") == "0.00"
    assert await rig.books() == (OPENING_FEN - 60000, 60000)

    await rig.at("2026-03-16", "16:01")
    body, doc = await rig.clear("2026-03-16", "100.00")
    assert body.return_reason is not None and body.return_reason.startswith("after-cutoff:")
    body, doc = await rig.clear("2026-03-16", "100.00", urgent=True)
    assert body.return_reason is None and doc.get("XClearAmt") == "100.00"
    assert await rig.books() == (OPENING_FEN - 70000, 70000)

    await rig.at("2026-03-16", "16:31")
    body, _ = await rig.clear("2026-03-16", "100.00", urgent=True)
    assert body.return_reason is not None and body.return_reason.startswith("after-cutoff:")

    # day close: the 7401 statement reaches the treasury and ties to the ledger
    await rig.at("2026-03-16", "17:00")
    body, doc = await receive_one(rig.treasury, "7401")
    tsa, _ = await rig.books()
    assert parse_fen(doc.get("EndBalance")) == tsa
    assert (doc.get("BeginBalance"), doc.get("DebitAmt"), doc.get("CreditAmt")) == (
        fen_to_str(OPENING_FEN), "700.00", "0.00")

    # next morning: the advance (quota left uncleared) is replenished, then a refund comes back
    await rig.at("2026-03-17", "09:00")
    body, doc = await rig.clear("2026-03-17", "300.00", clear_type=1, clear_day="2026-03-16")
    assert body.return_reason is None and doc.get("ClearType") == "1" and doc.get("XClearDate") == "20260317"
    assert await rig.books() == (OPENING_FEN - 100000, 100000)
    replenished = doc.get("VoucherNo")
    # a refund for a payment voucher never paid (issue 11): refused, nothing moves, no advice
    body, doc = await rig.refund("2026-03-17", "1000000.00", ori_vtcode="5201", ori_no="NEVERPAID0001")
    assert body.return_reason is not None and body.return_reason.startswith("refund-unmatched:")
    assert doc.get("XRefundAmt") == "0.00"
    assert await rig.books() == (OPENING_FEN - 100000, 100000)
    body, doc = await rig.refund("2026-03-17", "300.01", ori_no=replenished)  # more than it cleared
    assert body.return_reason is not None and body.return_reason.startswith("refund-exceeds-payment:")
    body, doc = await rig.refund("2026-03-17", "250.00", ori_no=replenished)
    assert body.return_reason is None and doc.get("XRefundAmt") == "250.00"
    _, advice = await receive_one(rig.treasury, "7403")
    assert advice.get("PayAmt") == "250.00" and advice.get("OriVoucherNo") == doc.get("VoucherNo")
    assert await rig.books() == (OPENING_FEN - 75000, 75000)
    assert not [r for _, results in rig.shell.sent for r in results if not r.ok]


async def test_replenishment_after_national_day(rig_factory: object) -> None:
    assert callable(rig_factory)
    # 2025-09-30 (Tuesday) is the last business day before National Day; Oct 1-8 are off.
    rig: Rig = await rig_factory(t("2025-09-30", "08:00"))
    await rig.at("2025-09-30", "09:00")
    await rig.quota("2025-09-30", "800.00")
    body, _ = await rig.clear("2025-09-30", "500.00")
    assert body.return_reason is None
    await rig.at("2025-10-08", "09:00")
    body, _ = await rig.clear("2025-10-08", "300.00", clear_type=1, clear_day="2025-09-30")
    assert body.return_reason is not None and body.return_reason.startswith("wrong-day:")
    # (the 7401 of 09-30 went out at its close)
    _, st = await receive_one(rig.treasury, "7401")
    assert st.get("StatementDate") == "20250930"
    await rig.at("2025-10-09", "09:00")
    body, doc = await rig.clear("2025-10-09", "300.00", clear_type=1, clear_day="2025-09-30")
    assert body.return_reason is None and doc.get("XClearDate") == "20251009"
    assert await rig.books() == (OPENING_FEN - 80000, 80000)
    transfers = await rig.ledger.history(TSA_ACCOUNT)
    assert ("reserve-replenishment", dt.date(2025, 10, 9)) in [
        (h.transfer.kind, h.transfer.business_date) for h in transfers]


async def test_replenishment_after_friday_before_spring_festival(rig_factory: object) -> None:
    assert callable(rig_factory)
    # Friday 2026-02-13 → Saturday 2026-02-14 (a make-up working day), not Monday the 16th.
    rig: Rig = await rig_factory(t("2026-02-13", "08:00"))
    await rig.at("2026-02-13", "09:00")
    await rig.quota("2026-02-13", "200.00")
    body, _ = await rig.clear("2026-02-13", "50.00")
    assert body.return_reason is None
    await rig.at("2026-02-14", "09:00")
    await receive_one(rig.treasury, "7401")
    body, doc = await rig.clear("2026-02-14", "150.00", clear_type=1, clear_day="2026-02-13")
    assert body.return_reason is None and doc.get("XClearDate") == "20260214"
    assert await rig.books() == (OPENING_FEN - 20000, 20000)



async def test_after_the_last_known_close_a_request_is_refused_naming_the_missing_day(rig_factory: object) -> None:
    """docs/calendar.md, "The last days known": money moved after the close of the calendar's last day
    would be booked on the business day after it, which nobody described. The central bank answers
    the request refused `calendar-out-of-range` (nothing moves), never leaves it unanswered.
    Was: an alarm only, no receipt (the sender waited forever), the quota line's replenished part
    counted up though nothing moved."""
    assert callable(rig_factory)
    rig: Rig = await rig_factory(t("2026-12-30", "08:00"))
    await rig.at("2026-12-30", "09:00")
    await rig.quota("2026-12-30", "800.00")
    body, _ = await rig.clear("2026-12-30", "500.00")
    assert body.return_reason is None
    await rig.at("2026-12-31", "16:59")  # before the close: booked that day (late, accepted)
    body, doc = await rig.clear("2026-12-31", "100.00", clear_type=1, clear_day="2026-12-30")
    assert body.return_reason is None and doc.get("XClearDate") == "20261231"
    replenished = doc.get("VoucherNo")
    await rig.at("2026-12-31", "17:30")
    days: list[str] = []
    while len(days) < 2:  # the 7401 of each day, the last one closed
        items = await rig.treasury.receive(timeout_s=WAIT_S)
        await rig.treasury.ack(*items)
        days += [parse_voucher(b.voucher).get("StatementDate") for i in items for b in parse_envelope(i.envelope).bodies]
    assert days == ["20261230", "20261231"]
    assert await rig.books() == (OPENING_FEN - 60000, 60000)
    body, doc = await rig.clear("2026-12-31", "200.00", clear_type=1, clear_day="2026-12-30")
    assert body.return_reason is not None and body.return_reason.startswith("calendar-out-of-range:")
    assert "after 2026-12-31" in body.return_reason and doc.get("XClearAmt") == "0.00"
    body, doc = await rig.clear("2026-12-31", "201.00", clear_type=1, clear_day="2026-12-30")
    assert body.return_reason is not None and body.return_reason.startswith("over-quota:")  # its own fault first
    body, doc = await rig.refund("2026-12-31", "50.00", ori_no=replenished)
    assert body.return_reason is not None and body.return_reason.startswith("calendar-out-of-range:")
    assert "after 2026-12-31" in body.return_reason and doc.get("XRefundAmt") == "0.00"
    body, doc = await rig.refund("2026-12-31", "50.00", ori_no="NEVERCLEARED01")
    assert body.return_reason is not None and body.return_reason.startswith("refund-unmatched:")
    assert await rig.books() == (OPENING_FEN - 60000, 60000)  # nothing moved
    assert [line.replenished_fen for line in rig.core.quotas.values()] == [10000]
    assert not [a for a in rig.shell.alarms if a.code == "calendar-out-of-range"]
    assert not [r for _, results in rig.shell.sent for r in results if not r.ok]
