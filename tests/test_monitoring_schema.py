"""mon_payments on SQLite is keyed (WITHOUT ROWID): a database made before, with a rowid table,
is migrated at start with its rows; the keyed table answers every read as the old one did."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.monitoring.store import PAYMENT_UPSERT, MonitorStore, Prior
from messages.envelope import VoucherKey
from storage.db import SqliteDatabase, open_database

# mon_payments as gateways made it before it was keyed (a rowid table, its key a unique index).
OLD_PAYMENTS = """
CREATE TABLE mon_payments (
    adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL, voucher_no TEXT NOT NULL,
    digest BLOB NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL, amount_fen BIGINT NOT NULL,
    at_us BIGINT NOT NULL, outcome TEXT NOT NULL, hold_id TEXT, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no)
);
CREATE INDEX mon_payments_pair ON mon_payments (payee, payer, at_us);
"""
AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.UTC)
OUTCOMES = ("pass", "flag", "hold", "block")
PAYEES, PAYERS = ("e1", "e2", "e3"), ("r1", "r2")


def _key(no: int) -> VoucherKey:
    return VoucherKey("990100", "2026", "5201", f"V{no:04d}", 0)


def _row(no: int, digest: int, payer: str, payee: str, fen: int, hours: int, outcome: str) -> tuple[Any, ...]:
    k = _key(no)
    hold = f"h{no:04d}" if outcome == "hold" else None
    return (*k[:4], bytes([digest]), payer, payee, fen, int((AT + dt.timedelta(hours=hours)).timestamp() * 1e6),
            outcome, hold, f"s{digest}", "bank-a")


async def _table_sql(db: Any) -> str:
    row = await db.fetchrow("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'mon_payments'")
    return str(row[0])


async def test_an_old_rowid_table_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = await open_database(f"sqlite:///{path}")
    assert isinstance(db, SqliteDatabase)
    rows = [_row(1, 1, "r1", "e1", 500, 0, "pass"), _row(2, 2, "r1", "e1", 700, 1, "hold"),
            _row(3, 3, "r2", "e2", 900, 2, "block")]
    try:
        await db.execute_script(OLD_PAYMENTS)
        async with db.transaction() as tx:
            await tx.executemany(PAYMENT_UPSERT, rows)
        assert "WITHOUT ROWID" not in (await _table_sql(db)).upper()
        store = MonitorStore(db)
        await store.init_schema()
        assert "WITHOUT ROWID" in (await _table_sql(db)).upper()
        await store.init_schema()  # once: a second start changes nothing
        got = await db.fetch("SELECT adm_div_code, st_year, vtcode, voucher_no, digest, payer, payee, amount_fen, "
                             "at_us, outcome, hold_id, sender, recipient FROM mon_payments ORDER BY voucher_no")
        assert [tuple(r) for r in got] == rows
        indexes = {r[0] for r in await db.fetch("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                "AND tbl_name = 'mon_payments'")}
        assert "mon_payments_pair" in indexes
        assert await store.prior(_key(2)) == Prior(b"\x02", "hold", "h0002", "s2")
        # The upsert keeps its rule on the migrated table: a blocked key is replaced, any other kept.
        async with db.transaction() as tx:
            await tx.executemany(PAYMENT_UPSERT, [_row(1, 9, "r1", "e1", 1, 3, "flag"),
                                                  _row(3, 9, "r2", "e2", 1, 3, "pass")])
        assert (await store.prior(_key(1))) == Prior(b"\x01", "pass", None, "s1")
        assert (await store.prior(_key(3))) == Prior(b"\x09", "pass", None, "s9")
    finally:
        await db.close()


async def test_a_new_database_has_the_keyed_table(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        await MonitorStore(db).init_schema()
        assert "WITHOUT ROWID" in (await _table_sql(db)).upper()
    finally:
        await db.close()


# An operation: write a screening's rows (no, digest, payer, payee, fen, hours, outcome), or a
# restart (the old database is closed, opened again and migrated, once).
ROW = st.tuples(st.integers(0, 25), st.integers(0, 255), st.sampled_from(PAYERS), st.sampled_from(PAYEES),
                st.integers(1, 1000), st.integers(0, 200), st.sampled_from(OUTCOMES))
OPS = st.lists(st.one_of(st.lists(ROW, min_size=1, max_size=4), st.just("restart")), min_size=1, max_size=12)


async def _reads(store: MonitorStore, at: int) -> tuple[Any, ...]:
    since = AT + dt.timedelta(hours=at)
    keys = [_key(no) for no in range(26)]
    out: list[Any] = [sorted((await store.priors(keys)).items())]
    for payee in PAYEES:
        out.append(await store.payee_seen(payee))
        for payer in PAYERS:
            out.append(sorted(await store.recent(payee, payer, since)))
            for no in (0, 7, 25):
                prior, seen, recent = await store.screen_reads(_key(no), payee, payer, since)
                out.append((prior, seen, sorted(recent)))
    return tuple(out)


async def _same_answers(ops: list[Any], tmp: Path) -> None:
    old_path = tmp / "old.db"
    old = await open_database(f"sqlite:///{old_path}")
    await old.execute_script(OLD_PAYMENTS)  # the old shape; never migrated until a restart
    old_store = MonitorStore(old)
    new = await open_database(f"sqlite:///{tmp / 'new.db'}")
    new_store = MonitorStore(new)
    await new_store.init_schema()
    try:
        for n, op in enumerate(ops):
            if op == "restart":
                await old.close()
                old = await open_database(f"sqlite:///{old_path}")
                old_store = MonitorStore(old)
                await old_store.init_schema()
                continue
            rows = [_row(*r) for r in op]
            for db in (old, new):
                async with db.transaction() as tx:
                    await tx.executemany(PAYMENT_UPSERT, rows)
            assert await _reads(old_store, n * 20) == await _reads(new_store, n * 20)
    finally:
        await old.close()
        await new.close()


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_the_keyed_table_answers_every_read_as_the_rowid_table(ops: list[Any]) -> None:
    """priors, prior, payee_seen, recent and screen_reads give the same answers on the old rowid
    table, on the keyed table, and on the old table migrated midway (a restart)."""
    with tempfile.TemporaryDirectory(prefix="tgw-mon-schema-") as tmp:
        asyncio.run(_same_answers(ops, Path(tmp)))


def test_the_audit_is_numbered_by_rowid_on_a_new_database_and_as_before_on_an_old_one(tmp_path: Path) -> None:
    """A new SQLite mon_decisions has no AUTOINCREMENT (no sqlite_sequence write a commit); one made
    before keeps it. Either way ids only grow, across restarts: rows are never deleted."""
    from gateway.monitoring.store import DECISION_INSERT
    from storage.db import open_database

    async def run() -> None:
        old = await open_database(f"sqlite:///{tmp_path / 'old.db'}")
        await old.execute_script("CREATE TABLE mon_decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                                 "adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL, "
                                 "voucher_no TEXT NOT NULL, at TEXT NOT NULL, wall_us BIGINT NOT NULL, rule_id TEXT, "
                                 "rule_version TEXT NOT NULL, grade TEXT, outcome TEXT NOT NULL, who TEXT NOT NULL, "
                                 "reason TEXT NOT NULL)")
        await old.close()
        for name, autoincrement in (("new", False), ("old", True)):
            ids: list[int] = []
            for _ in range(2):  # a restart between
                db = await open_database(f"sqlite:///{tmp_path / name}.db")
                await MonitorStore(db).init_schema()
                sql = (await db.fetchrow("SELECT sql FROM sqlite_master WHERE name = 'mon_decisions'"))[0]  # type: ignore[index]
                assert ("AUTOINCREMENT" in sql.upper()) is autoincrement
                async with db.transaction() as tx:
                    await tx.executemany(DECISION_INSERT, [("990100", "2026", "5201", f"N{n}", "t", 0, None, "v", None,
                                                            "passed", "monitor", "r") for n in range(3)])
                ids += [int(r[0]) for r in await db.fetch("SELECT id FROM mon_decisions ORDER BY id")][len(ids):]
                await db.close()
            assert ids == sorted(set(ids)) and len(ids) == 6

    asyncio.run(run())
