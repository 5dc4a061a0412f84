"""Voucher keys are scoped by their owner (issue 14): each participant numbers its own vouchers.

bank-b, in its own name, takes a VoucherNo that bank-a uses afterwards for its own 2301 (same
AdmDivCode, StYear, VtCode, VoucherNo, VoucherFlag): both are accepted, both reach the central
bank, which books each to its own bank and returns a receipt that attaches to its own bank's
original; each bank's resubmission is its own `duplicate`. Through the real gateway over HTTP and
over MQTT (banks), with the central bank simulator on the in-process bus and a simulated clock.
bank-b's answers say nothing of whether bank-a used a number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import running_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from client import GatewayClient
from gateway.clock import BusinessClock
from gateway.http_app import make_app
from gateway.mqtt_adapter import MqttAdapter
from gateway.service import Gateway
from ledger.store import Ledger
from messages.envelope import parse_envelope
from messages.voucher import parse_voucher
from pboc_sim.core import PbocConfig, PbocCore, clearing_account
from pboc_sim.shell import PbocShell
from runner.world import DevWorld
from storage.db import open_database

DAY = "2026-03-16"  # a Monday, a business day
WAIT_S = 60.0  # upper bound on a delivery; each wait ends as soon as it arrives
_seq = itertools.count(1)
_MESSAGE_ID = re.compile(r"\b[0-9a-f]{25}\b")  # gateway.journal.new_message_id


def _code(world: DevWorld, bank: str) -> str:
    return world.participants[bank].bank_codes[0]


def _quota(world: DevWorld, bank: str, amount: str) -> bytes:
    no = f"QE{next(_seq):06d}"
    return world.voucher("5108", {
        "Id": f"V{no}", "StYear": DAY[:4], "VouDate": DAY.replace("-", ""), "VoucherNo": no, "PayTypeCode": "11",
        "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "PayBankCode": _code(world, bank),
        "PayBankName": f"示例银行 {bank}", "ClearDate": DAY.replace("-", ""), "PayAmt": amount,
    }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])


def clearing(world: DevWorld, bank: str, no: str, amount: str) -> bytes:
    """bank's own 2301 No. `no`, in its own name (its PayBankCode)."""
    return world.voucher("2301", {
        "Id": f"V{no}", "StYear": DAY[:4], "VouDate": DAY.replace("-", ""), "VoucherNo": no,
        "PayBankCode": _code(world, bank), "PayBankName": f"示例银行 {bank}", "ClearDate": DAY.replace("-", ""),
        "PayTypeCode": "11", "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "UrgentFlag": "0",
        "ClearType": "0", "PayAmt": amount,
    }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])


async def _settle(done: Callable[[], bool]) -> None:
    for _ in range(int(WAIT_S / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not there in time")


@asynccontextmanager
async def _transport(world: DevWorld, gateway: Gateway,
                     broker: MosquittoBroker | None) -> AsyncIterator[Callable[[str], GatewayClient]]:
    """HTTP (a test server) or MQTT (the gateway's adapter on `broker`): how participants connect."""
    if broker is None:
        server = TestClient(TestServer(make_app(gateway)))
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        try:
            yield lambda pid: GatewayClient.http(url, token=world.participants[pid].token, participant_id=pid)
        finally:
            await server.close()
        return
    adapter = MqttAdapter(gateway, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD,
                          reconnect_base_s=0.05, reconnect_max_s=1.0)
    await adapter.start()
    await adapter.wait_connected(10)
    try:
        yield lambda pid: GatewayClient.mqtt(broker.host, broker.port, username=pid,
                                             password=world.participants[pid].mqtt_password, participant_id=pid,
                                             reconnect_base_s=0.05, reconnect_max_s=1.0)
    finally:
        await adapter.stop()


@asynccontextmanager
async def _central_bank(world: DevWorld, tmp_path: Path, broker: MosquittoBroker | None
                        ) -> AsyncIterator[tuple[Gateway, PbocCore, Ledger, Callable[[str], GatewayClient]]]:
    """A gateway on a simulated clock (09:00 of DAY), every participant connected over HTTP or
    MQTT, the central bank simulator among them, and a quota for bank-a and bank-b."""
    calendar = BusinessCalendar.default()
    clock = BusinessClock.simulated(calendar, ClockConfig(),
                                    dt.datetime.combine(dt.date.fromisoformat(DAY), dt.time(9), tzinfo=TZ))
    gw_db = await open_database(str(tmp_path / "gw.db"))
    ledger_db = await open_database(str(tmp_path / "pboc.db"))
    gateway = Gateway(db=gw_db, registry=world.registry(), certs=world.certs(), clock=clock)
    await gateway.start()
    try:
        async with _transport(world, gateway, broker) as client_for:
            ledger = await Ledger.open(ledger_db)
            core = PbocCore(PbocConfig(tsa_opening_fen=1_000_000_00), calendar, ClockConfig())
            pboc, treasury = client_for(world.pboc.id), client_for(world.treasury.id)
            await pboc.__aenter__()
            await treasury.__aenter__()
            shell = PbocShell(core, pboc, ledger, world.signer(world.pboc.id), clock)
            task = asyncio.create_task(shell.run())
            try:
                await _settle(lambda: shell.wake is not None)
                for bank in ("bank-a", "bank-b"):
                    [r] = await treasury.send(world.envelope([_quota(world, bank, "1000.00")],
                                                             sender=world.treasury.id))
                    assert r.ok, r
                await _settle(lambda: len(core.quotas) == 2)
                yield gateway, core, ledger, client_for
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await treasury.__aexit__(None, None, None)
                await pboc.__aexit__(None, None, None)
    finally:
        await gateway.stop()
        await gw_db.close()
        await ledger_db.close()


async def _two_banks_one_number(world: DevWorld, gateway: Gateway, core: PbocCore, ledger: Ledger,
                                client_for: Callable[[str], GatewayClient], no: str) -> None:
    bank_a, bank_b = client_for("bank-a"), client_for("bank-b")
    await bank_a.__aenter__()
    await bank_b.__aenter__()
    try:
        b_env = world.envelope([clearing(world, "bank-b", no, "100.00")], sender="bank-b")
        a_env = world.envelope([clearing(world, "bank-a", no, "200.00")], sender="bank-a")
        [b_first] = await bank_b.send(b_env)
        assert b_first.status == "accepted", b_first
        [a_first] = await bank_a.send(a_env)
        assert a_first.status == "accepted", a_first  # not duplicate-conflict: the number is bank-a's too
        assert a_first.message_id != b_first.message_id
        # each resubmission is its own duplicate, answered with its own first acknowledgement
        [b_again] = await bank_b.send(b_env)
        [a_again] = await bank_a.send(a_env)
        assert (b_again.status, b_again.message_id) == ("duplicate", b_first.message_id)
        assert (a_again.status, a_again.message_id) == ("duplicate", a_first.message_id)

        # both reached the central bank, which booked each to its own bank
        code_a, code_b = _code(world, "bank-a"), _code(world, "bank-b")
        await _settle(lambda: core.clearing_balances.get(code_a) == 20000 and core.clearing_balances.get(code_b) == 10000)
        for _ in range(int(WAIT_S / 0.01)):  # the shell posts to the books after the core decided
            balances = await ledger.balances()
            if balances.get(clearing_account(code_a)) and balances.get(clearing_account(code_b)):
                break
            await asyncio.sleep(0.01)
        assert (balances.get(clearing_account(code_a)), balances.get(clearing_account(code_b))) == (20000, 10000)

        # and each bank gets the receipt of its own voucher, linked to its own original
        for pid, client, code, amount, original in (("bank-a", bank_a, code_a, "200.00", a_first),
                                                    ("bank-b", bank_b, code_b, "100.00", b_first)):
            items = await client.receive(timeout_s=WAIT_S)
            assert len(items) == 1, items
            [body] = parse_envelope(items[0].envelope).bodies
            doc = parse_voucher(body.voucher)
            assert (body.vtcode, body.flag, doc.get("VoucherNo")) == ("2301", 1, no)
            assert (doc.get("PayBankCode"), doc.get("XClearAmt")) == (code, amount), body.return_reason
            await client.ack(*items)
            row = await gateway.db.fetchrow("SELECT original_id, recipient FROM gw_messages WHERE id = $1",
                                            items[0].message_id)
            assert row is not None and tuple(row) == (original.message_id, pid)
    finally:
        await bank_a.__aexit__(None, None, None)
        await bank_b.__aexit__(None, None, None)


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


async def test_over_http_two_banks_use_one_number(world: DevWorld, tmp_path: Path) -> None:
    async with _central_bank(world, tmp_path, None) as (gateway, core, ledger, client_for):
        await _two_banks_one_number(world, gateway, core, ledger, client_for, "HK77770001")


@pytest.mark.mqtt
async def test_over_mqtt_two_banks_use_one_number(world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    async with _central_bank(world, tmp_path, broker) as (gateway, core, ledger, client_for):
        await _two_banks_one_number(world, gateway, core, ledger, client_for, "MK77770001")


# ------------------------------------------------------------------ bank-b learns nothing


def _answers(results: list[Any], no: str) -> list[tuple[Any, ...]]:
    """What a sender is told, with the number and its own message ids taken out."""
    ids = {r.message_id: f"<id{n}>" for n, r in enumerate(results) if r.message_id}
    out = []
    for r in results:
        message = (r.issues[0].message if r.issues else "").replace(no, "<no>")
        for mid, mark in ids.items():
            message = message.replace(mid, mark)
        out.append((r.status, r.issues[0].code if r.issues else None, message, ids.get(r.message_id)))
    return out


def _steps(events: list[dict[str, Any]] | None, no: str) -> list[tuple[Any, ...]]:
    assert events is not None
    return [(e["flag"], e["step"], e["participant"], e.get("sender"), e.get("recipient"),
             _MESSAGE_ID.sub("<id>", e["detail"].replace(no, "<no>"))) for e in events]


async def test_bank_b_cannot_tell_whether_bank_a_used_a_number(world: DevWorld, tmp_path: Path) -> None:
    """Under a number bank-a used and under one nobody used, bank-b gets the same answers to the
    same submissions (new, the same again, different content) and sees the same trace."""
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw:
            bank_a, bank_b = gw.registry.get("bank-a"), gw.registry.get("bank-b")
            assert bank_a is not None and bank_b is not None
            used, unused = "PK00000001", "PK00000002"
            [a] = await gw.submit(world.envelope([clearing(world, "bank-a", used, "200.00")], sender="bank-a"), bank_a)
            assert a.status == "accepted"
            seen = {}
            for no in (used, unused):
                results = []
                for amount in ("100.00", "100.00", "150.00"):
                    env = world.envelope([clearing(world, "bank-b", no, amount)], sender="bank-b")
                    results += await gw.submit(env, bank_b)
                events = await gw.trace(bank_b, world.adm_div_code, DAY[:4], "2301", no)
                seen[no] = (_answers(results, no), _steps(events, no))
            assert seen[used] == seen[unused]
            assert [s for s, *_ in seen[used][0]] == ["accepted", "duplicate", "rejected"]
            # bank-a's trace shows its own voucher only; the central bank, which received both, sees both
            a_events = await gw.trace(bank_a, world.adm_div_code, DAY[:4], "2301", used)
            assert a_events is not None and {e["sender"] for e in a_events} == {"bank-a"}
            pboc = gw.registry.get(world.pboc.id)
            assert pboc is not None
            p_events = await gw.trace(pboc, world.adm_div_code, DAY[:4], "2301", used)
            assert p_events is not None
            assert {e["sender"] for e in p_events if e["step"] == "journaled"} == {"bank-a", "bank-b"}
    finally:
        await db.close()


async def test_a_receipt_attaches_to_the_original_of_the_bank_it_names(world: DevWorld, tmp_path: Path) -> None:
    """Both banks sent 2301 No. N to the central bank; its receipt naming bank-a goes to bank-a,
    linked to bank-a's original, whichever came first; one naming no bank that sent N is refused."""
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw:
            parties = {pid: gw.registry.get(pid) for pid in ("bank-a", "bank-b", world.pboc.id)}
            no = "RK00000001"
            originals = {}
            for bank in ("bank-a", "bank-b"):  # bank-a first: a receipt must not simply take the first
                [r] = await gw.submit(world.envelope([clearing(world, bank, no, "100.00")], sender=bank),
                                      parties[bank])  # type: ignore[arg-type]
                assert r.status == "accepted", r
                originals[bank] = r.message_id
            for bank in ("bank-b", "bank-a"):
                receipt = _receipt_of(world, clearing(world, bank, no, "100.00"))
                [r] = await gw.submit(world.envelope([receipt], sender=world.pboc.id, flag=1),
                                      parties[world.pboc.id])  # type: ignore[arg-type]
                assert (r.status, r.recipient) == ("accepted", bank), r
                row = await db.fetchrow("SELECT original_id FROM gw_messages WHERE id = $1", r.message_id)
                assert row is not None and row[0] == originals[bank]
                # the same receipt again is its duplicate, not the other bank's
                [again] = await gw.submit(world.envelope([receipt], sender=world.pboc.id, flag=1),
                                          parties[world.pboc.id])  # type: ignore[arg-type]
                assert (again.status, again.message_id) == ("duplicate", r.message_id)
    finally:
        await db.close()


def _receipt_of(world: DevWorld, original: bytes) -> bytes:
    from gateway_helpers import rebuild

    return rebuild(original, XClearDate=DAY.replace("-", ""), XClearAmt="100.00", XPbocSerialNo="RH0000000001")


# ------------------------------------------------------------------ a journal made before


# gw_messages as it was before keys were scoped by owner (gateway/journal.py before issue 14's
# last item): no owner column, the key unique whoever sent it.
_OLD_MESSAGES = """
CREATE TABLE gw_messages (
    id TEXT PRIMARY KEY, adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL, flag INTEGER NOT NULL, digest {blob} NOT NULL, sender TEXT NOT NULL,
    recipient TEXT NOT NULL, original_id TEXT, payload {blob} NOT NULL, received_us BIGINT NOT NULL,
    business_time TEXT NOT NULL, UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag)
);
"""


# gw_outbox as it was then: its own sequence, message_id unique (and no ack placement columns yet).
_OLD_OUTBOX = """
CREATE TABLE gw_outbox (
    seq {serial}, message_id TEXT NOT NULL UNIQUE REFERENCES gw_messages(id), recipient TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_us BIGINT NOT NULL DEFAULT 0,
    last_error TEXT, acked_us BIGINT
);
"""


async def test_a_journal_made_before_is_migrated(world: DevWorld, db: Any) -> None:
    """An existing journal gets the owner of each row (an original's sender, a receipt's
    recipient) and the scoped key, once; what it holds is still deduplicated."""
    from gateway.journal import SCHEMA
    from gateway.journal_schema import SHAPES
    from gateway.pipeline import body_digest, delivery_bytes

    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if db.dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    await db.execute_script(_OLD_MESSAGES.format(blob=db.blob_type) + _OLD_OUTBOX.format(serial=serial))
    await db.execute_script(SCHEMA.format(blob=db.blob_type, **SHAPES[db.dialect]))  # the other tables
    no = "OK00000001"
    env_b = world.envelope([clearing(world, "bank-b", no, "100.00")], sender="bank-b")
    [orig] = parse_envelope(env_b).bodies
    [receipt] = parse_envelope(world.envelope([_receipt_of(world, clearing(world, "bank-b", no, "100.00"))],
                                              sender=world.pboc.id, flag=1)).bodies
    async with db.transaction() as tx:
        for mid, body, sender, recipient, original in (("old-0", orig, "bank-b", world.pboc.id, None),
                                                       ("old-1", receipt, world.pboc.id, "bank-b", "old-0")):
            await tx.execute("INSERT INTO gw_messages VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,0,'')", mid,
                             *body.key, body_digest(body), sender, recipient, original, delivery_bytes(body))
            await tx.execute("INSERT INTO gw_outbox (message_id, recipient, state) VALUES ($1, $2, 'acked')",
                             mid, recipient)
    for _ in range(2):  # the second start finds nothing to migrate
        async with running_gateway(world, db) as gw:
            bank_a, bank_b = gw.registry.get("bank-a"), gw.registry.get("bank-b")
            assert bank_a is not None and bank_b is not None
            [again] = await gw.submit(env_b, bank_b)
            assert (again.status, again.message_id) == ("duplicate", "old-0")
            [a] = await gw.submit(world.envelope([clearing(world, "bank-a", no, "200.00")], sender="bank-a"), bank_a)
            assert a.status in ("accepted", "duplicate"), a
    owners = await db.fetch("SELECT id, owner FROM gw_messages WHERE id LIKE 'old-%' ORDER BY id")
    assert [tuple(r) for r in owners] == [("old-0", "bank-b"), ("old-1", "bank-b")]


# ------------------------------------------------------------------ any order of submissions


@pytest.fixture(scope="module")
def admitted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Any]:
    """Admitted 2301s: (bank, VoucherNo, amount) for two banks, two numbers, two contents."""
    import datetime as dt_

    from gateway.pipeline import Admitted, admit_envelope

    w = DevWorld.create(tmp_path_factory.mktemp("world"))
    registry, certs = w.registry(), w.certs()
    out = {}
    for bank in ("bank-a", "bank-b"):
        for no in ("QK00000001", "QK00000002"):
            for amount in ("100.00", "150.00"):
                env = w.envelope([clearing(w, bank, no, amount)], sender=bank)
                p = registry.get(bank)
                assert p is not None
                [item] = admit_envelope(env, p, registry, certs, at=dt_.datetime.now(dt_.UTC))
                assert isinstance(item, Admitted), item
                out[(bank, no, amount)] = item
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.tuples(st.sampled_from(["bank-a", "bank-b"]), st.sampled_from(["QK00000001", "QK00000002"]),
                                st.sampled_from(["100.00", "150.00"])), max_size=12))
def test_each_bank_is_answered_from_its_own_vouchers_only(admitted: dict[tuple[str, str, str], Any],
                                                          order: list[tuple[str, str, str]]) -> None:
    """Whatever the interleaving, a bank's answer to a submission depends only on what that bank
    sent before under that number: the first is accepted, the same bytes again `duplicate` (with
    the first's message id), other bytes `duplicate-conflict`."""
    from gateway.journal import Journal
    from storage.db import SqliteDatabase

    async def run() -> None:
        db = SqliteDatabase(":memory:")
        journal = Journal(db)
        await journal.start()
        first: dict[tuple[str, str], tuple[str, str]] = {}  # (bank, no) → (amount, message id)
        try:
            for bank, no, amount in order:
                [r] = await journal.record([admitted[(bank, no, amount)]], business_time="")
                before = first.get((bank, no))
                if before is None:
                    assert r.status == "accepted", r
                    assert r.message_id is not None
                    first[(bank, no)] = (amount, r.message_id)
                elif before[0] == amount:
                    assert (r.status, r.message_id) == ("duplicate", before[1])
                else:
                    assert (r.status, r.issue and r.issue.code) == ("refused", "duplicate-conflict")
        finally:
            await journal.stop()
            await db.close()

    asyncio.run(run())
