"""The commit path made cheaper without changing what it does (issue 19): mon_payments is a
WITHOUT ROWID table on new SQLite databases (and reads and writes as the rowid table before it),
and a commit wakes the deliverer only when a pusher could use the round."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import Journal
from gateway.monitoring import store as mon_store
from gateway.monitoring.monitor import Monitor
from gateway.monitoring.rules import default_catalogue
from gateway.monitoring.store import MonitorStore
from gateway.outbox import InboxItem
from gateway.pipeline import Admitted, Refused, body_digest, delivery_bytes
from messages.envelope import VoucherBody
from messages.factory import payment_voucher
from messages.voucher import parse_voucher
from runner.world import DevWorld
from storage.db import SqliteDatabase, open_database

CAT = default_catalogue()
AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# (voucher no, amount, payee, payer): numbers repeat (a key screened before), amounts around the
# rules' thresholds (holds, blocks, windows), few payees and payers (windows fill).
PAYMENT = st.tuples(st.integers(0, 12), st.sampled_from([12_345, 95_000_000, 99_999_999, 20_000_000, 300_000_000]),
                    st.sampled_from(["999900000001", "999900000002"]),
                    st.sampled_from(["999000000000011", "999000000000022"]))


def _admitted(no: int, fen: int, payee: str, payer: str) -> Admitted:
    data = payment_voucher(voucher_no=f"R{no:05d}", vou_date=AT.date(), pay_bank_code="999100000001",
                           amount_fen=fen, adm_div_code="990100", pay_acct=payer, payee=(payee, "收款单位"))
    body = VoucherBody("990100", "2026", "5201", f"R{no:05d}", 0, data)
    return Admitted(body, "treasury-990100", "bank-a", body_digest(body), delivery_bytes(body), parse_voucher(data))


async def _screen_all(calls: list[list[tuple[int, int, str, str]]], tmp: Path) -> list[Any]:
    """Screen the calls on a new database and on one whose mon_payments was made as before (a
    rowid table beside its unique index); each call's rows are committed before the next."""
    seen: list[Any] = []
    for name, old_table in (("new", False), ("old", True)):
        db = await open_database(f"sqlite:///{tmp / name}.db")
        assert isinstance(db, SqliteDatabase)
        try:
            await Journal(db).init_schema()
            if old_table:
                await db.execute_script(mon_store.SCHEMA.format(blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT",
                                                                payments_key="UNIQUE", payments_rowid=""))
            monitor = Monitor(CAT, MonitorStore(db))
            await monitor.start()
            ddl = (await db.fetchrow("SELECT sql FROM sqlite_master WHERE name = 'mon_payments'") or ("",))[0]
            assert ("WITHOUT ROWID" in ddl) is not old_table
            verdicts = []
            for call in calls:
                outcomes: list[Admitted | Refused] = [_admitted(*p) for p in call]
                screened = await monitor.screen(outcomes, AT)
                verdicts.append([(type(o).__name__, o.key) for o in screened.outcomes])
                async with db.transaction() as tx:
                    for sql, rows in screened.extra:
                        await tx.executemany(sql, rows)
            rows = await db.fetch("SELECT adm_div_code, st_year, vtcode, voucher_no, digest, payer, payee, amount_fen, "
                                  "outcome, sender, recipient FROM mon_payments ORDER BY voucher_no")
            decisions = await db.fetch("SELECT voucher_no, rule_id, grade, outcome FROM mon_decisions ORDER BY id")
            seen.append((verdicts, rows, decisions))
        finally:
            await db.close()
    return seen


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(PAYMENT, min_size=1, max_size=3), min_size=1, max_size=6))
def test_a_without_rowid_payments_table_screens_as_the_rowid_table_did(calls: list[list[tuple[int, int, str, str]]]) -> None:
    with tempfile.TemporaryDirectory(prefix="tgw-mon-rowid-") as tmp:
        new, old = asyncio.run(_screen_all(calls, Path(tmp)))
    assert new == old


async def test_a_commit_wakes_the_deliverer_only_when_a_pusher_is_registered(world: DevWorld, tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        async with running_gateway(world, db) as gw:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
            assert not gw._wake.is_set()  # pull-only: nobody a round could push to
            pushed: list[InboxItem] = []

            async def pusher(item: InboxItem) -> None:
                pushed.append(item)

            gw.register_pusher("bank-a", pusher)
            await _until(lambda: bool(pushed) and not gw._wake.is_set())  # the round on registering pushed it
            assert [i.message_id for i in pushed] == [r.message_id]
            [r2] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert gw._wake.is_set()  # a pusher is there: the round starts now, not at the next poll
            await _until(lambda: len(pushed) == 2)
            assert [i.message_id for i in pushed] == [r.message_id, r2.message_id]
    finally:
        await db.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (a round claims its rows in a transaction: a real COMMIT) until `condition` holds."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))
