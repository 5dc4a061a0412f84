"""The outbox sequence (the inbox cursor) is never given twice, without AUTOINCREMENT on SQLite.

gw_outbox.seq used to be `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite, whose sqlite_sequence row
cost every commit a WAL frame. The journal now numbers the rows itself, one above the largest seq
present or ever deleted (`journal_schema.OUTBOX_HIGH_WATER_SQLITE`). The old definition is kept
here as the oracle: under any interleaving of inserts and deletes both give the same numbers.
An existing journal (AUTOINCREMENT) is migrated once, keeping its sqlite_sequence value.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import _OUTBOX_INSERT_NUMBERED, _TRACE_AND_SEQ_LAST
from gateway.journal_schema import OUTBOX_HIGH_WATER_SQLITE, OUTBOX_SEQ, SCHEMA
from runner.world import DevWorld

_AUTOINCREMENT = "INTEGER PRIMARY KEY AUTOINCREMENT"
# gw_outbox as SQLite journals made it before (gateway/journal_schema.py before this change).
_OLD_OUTBOX = """CREATE TABLE gw_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE REFERENCES gw_messages(id),
    recipient TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL DEFAULT 0, last_error TEXT, acked_us BIGINT, acked_time TEXT, acked_after BIGINT
);"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


def _sqlite(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


def _journal_tables(outbox_seq: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA.format(blob="BLOB", serial=_AUTOINCREMENT, outbox_seq=outbox_seq))
    return conn


class _Numbered:
    """The new definition: rows numbered as `Journal._commit` numbers them."""

    def __init__(self) -> None:
        self.conn = _journal_tables(OUTBOX_SEQ["sqlite"])
        self.conn.executescript(OUTBOX_HIGH_WATER_SQLITE)

    def insert(self, ids: list[str]) -> list[int]:
        last = int(self.conn.execute(_sqlite(_TRACE_AND_SEQ_LAST)).fetchone()[1])
        rows = [(last + n, mid, "r") for n, mid in enumerate(ids, 1)]
        self.conn.executemany(_sqlite(_OUTBOX_INSERT_NUMBERED), rows)
        return [r[0] for r in rows]


class _Autoincrement:
    """The old definition (the oracle): SQLite's AUTOINCREMENT."""

    def __init__(self) -> None:
        self.conn = _journal_tables(_AUTOINCREMENT)

    def insert(self, ids: list[str]) -> list[int]:
        out = []
        for mid in ids:
            self.conn.execute("INSERT INTO gw_outbox (message_id, recipient, state) VALUES (?, 'r', 'ready')", (mid,))
            out.append(int(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]))
        return out


_OPS = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 5)),
    st.tuples(st.just("delete-all"), st.just(0)),
    st.tuples(st.just("delete-last"), st.integers(1, 3)),  # the largest seqs go: what AUTOINCREMENT remembers
    st.tuples(st.just("delete-first"), st.integers(1, 3)),
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_the_journals_numbering_gives_what_autoincrement_gave(ops: list[tuple[str, int]]) -> None:
    new, old = _Numbered(), _Autoincrement()
    made = 0
    for op, n in ops:
        for side in (new, old):
            if op == "delete-all":
                side.conn.execute("DELETE FROM gw_outbox")
            elif op == "delete-last":
                side.conn.execute("DELETE FROM gw_outbox WHERE seq IN (SELECT seq FROM gw_outbox ORDER BY seq DESC "
                                  "LIMIT ?)", (n,))
            elif op == "delete-first":
                side.conn.execute("DELETE FROM gw_outbox WHERE seq IN (SELECT seq FROM gw_outbox ORDER BY seq LIMIT ?)",
                                  (n,))
        if op == "insert":
            ids = [f"m{made + i}" for i in range(n)]
            made += n
            assert new.insert(ids) == old.insert(ids)
        rows = "SELECT seq, message_id FROM gw_outbox ORDER BY seq"
        assert new.conn.execute(rows).fetchall() == old.conn.execute(rows).fetchall()


async def test_an_outbox_made_with_autoincrement_is_renumbered_from_where_it_was(world: DevWorld, db: Any) -> None:
    """An existing journal's outbox (AUTOINCREMENT on SQLite) is migrated once, in one transaction:
    its rows keep their seq, and the next one comes after the largest ever given, also one since
    deleted (a reset); a second start finds nothing to migrate. On PostgreSQL the sequence did that
    already: the same assertions hold."""
    async with running_gateway(world, db) as gw:
        treasury = gw.registry.get(world.treasury.id)
        assert treasury is not None
        for _ in range(3):
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
    before = [tuple(r) for r in await db.fetch("SELECT seq, message_id FROM gw_outbox ORDER BY seq")]
    top = before[-1][0]
    if db.dialect == "sqlite":  # back to the old shape: AUTOINCREMENT, its sqlite_sequence row, no trigger
        await db.execute_script(
            "PRAGMA foreign_keys=OFF; BEGIN; DROP TRIGGER gw_outbox_hwm_kept; DROP TABLE gw_outbox_hwm; "
            f"ALTER TABLE gw_outbox RENAME TO gw_outbox_new; {_OLD_OUTBOX} "
            "INSERT INTO gw_outbox SELECT * FROM gw_outbox_new; DROP TABLE gw_outbox_new; "
            "CREATE INDEX gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready'; COMMIT; "
            "PRAGMA foreign_keys=ON;")
        assert "AUTOINCREMENT" in str((await db.fetchrow("SELECT sql FROM sqlite_master WHERE name = 'gw_outbox'"))[0])
    async with db.transaction() as tx:  # the last row goes (as in a reset): its seq must not come back
        await tx.execute("DELETE FROM gw_outbox WHERE seq = $1", top)
    for start in range(2):
        async with running_gateway(world, db) as gw:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
        rows = [tuple(r) for r in await db.fetch("SELECT seq, message_id FROM gw_outbox ORDER BY seq")]
        assert rows[:2] == before[:2]
        assert rows[-1] == (top + 1 + start, r.message_id)
    if db.dialect == "sqlite":
        table = await db.fetchrow("SELECT sql FROM sqlite_master WHERE name = 'gw_outbox'")
        assert table is not None and "AUTOINCREMENT" not in str(table[0])
        assert await db.fetch("SELECT name FROM sqlite_sequence WHERE name = 'gw_outbox'") == []
        names = {r[0] for r in await db.fetch("SELECT name FROM sqlite_master")}
        assert {"gw_outbox_pending", "gw_outbox_hwm_kept"} <= names
