"""The journal's sequence (gw_messages.seq = gw_outbox.seq, the inbox cursor) is never given twice.

gw_outbox.seq used to be its own `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite (whose
sqlite_sequence row cost every commit a WAL frame), with an index on message_id (another). The
journal now numbers each message itself, one above the largest seq present or ever deleted
(`journal_schema.SEQ_HIGH_WATER_SQLITE`), and its outbox row takes the same seq. The old definition
is kept here as the oracle: under any interleaving of inserts and deletes both give the same
numbers. An existing journal is migrated once, keeping its rows' seqs and its sqlite_sequence value.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import _MESSAGE_INSERT_NUMBERED, _OUTBOX_FROM_MESSAGES, _TRACE_AND_SEQ_LAST
from gateway.journal_schema import SCHEMA, SEQ_HIGH_WATER_SQLITE, SHAPES
from gateway.outbox import Outbox
from runner.world import DevWorld

_AUTOINCREMENT = "INTEGER PRIMARY KEY AUTOINCREMENT"
# The journal's two tables as they were before (gateway/journal_schema.py on main before this change).
_OLD_TABLES = """
CREATE TABLE gw_messages (
    id TEXT PRIMARY KEY, adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL, flag INTEGER NOT NULL, digest {blob} NOT NULL, sender TEXT NOT NULL,
    recipient TEXT NOT NULL, original_id TEXT, payload {blob} NOT NULL, received_us BIGINT NOT NULL,
    business_time TEXT NOT NULL, owner TEXT NOT NULL, trace_after BIGINT,
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner)
);
CREATE TABLE gw_outbox (
    seq {serial}, message_id TEXT NOT NULL UNIQUE REFERENCES gw_messages(id), recipient TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_us BIGINT NOT NULL DEFAULT 0,
    last_error TEXT, acked_us BIGINT, acked_time TEXT, acked_after BIGINT
);
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


def _sqlite(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


def _message(mid: str) -> tuple[Any, ...]:
    """A gw_messages row (MESSAGE_COLUMNS, owner, trace_after) of no importance but its id."""
    return (mid, "990100", "2026", "5201", mid, 0, b"d", "s", "r", None, b"<MOF/>", 0, "t", "s", 0)


class _Numbered:
    """The new definition: messages and outbox rows numbered as `Journal._commit` numbers them."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.executescript(SCHEMA.format(blob="BLOB", **SHAPES["sqlite"]) + SEQ_HIGH_WATER_SQLITE)

    def insert(self, ids: list[str]) -> list[int]:
        last = int(self.conn.execute(_sqlite(_TRACE_AND_SEQ_LAST)).fetchone()[1])
        self.conn.executemany(_sqlite(_MESSAGE_INSERT_NUMBERED),
                              [(*_message(mid), last + n) for n, mid in enumerate(ids, 1)])
        self.conn.execute(_sqlite(_OUTBOX_FROM_MESSAGES), (last, last + len(ids)))
        return [last + n for n in range(1, len(ids) + 1)]

    def delete(self, where: str, *params: Any) -> None:  # both tables, as a reset does (children first)
        seqs = [r[0] for r in self.conn.execute(f"SELECT seq FROM gw_outbox {where}", params)]
        for table in ("gw_outbox", "gw_messages"):
            self.conn.executemany(f"DELETE FROM {table} WHERE seq = ?", [(q,) for q in seqs])


class _Autoincrement:
    """The old definition (the oracle): the outbox numbered by SQLite's AUTOINCREMENT."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.executescript(_OLD_TABLES.format(blob="BLOB", serial=_AUTOINCREMENT))

    def insert(self, ids: list[str]) -> list[int]:
        out = []
        for mid in ids:
            self.conn.execute("INSERT INTO gw_outbox (message_id, recipient, state) VALUES (?, 'r', 'ready')", (mid,))
            out.append(int(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]))
        return out

    def delete(self, where: str, *params: Any) -> None:
        self.conn.execute(f"DELETE FROM gw_outbox WHERE seq IN (SELECT seq FROM gw_outbox {where})", params)


_OPS = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 5)),
    st.tuples(st.just("delete-all"), st.just(0)),
    st.tuples(st.just("delete-last"), st.integers(1, 3)),  # the largest seqs go: what AUTOINCREMENT remembers
    st.tuples(st.just("delete-first"), st.integers(1, 3)),
), max_size=25)
_WHERE = {"delete-all": "WHERE ? = 0", "delete-last": "ORDER BY seq DESC LIMIT ?", "delete-first": "ORDER BY seq LIMIT ?"}


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_the_journals_numbering_gives_what_autoincrement_gave(ops: list[tuple[str, int]]) -> None:
    new, old = _Numbered(), _Autoincrement()
    made = 0
    for op, n in ops:
        if op == "insert":
            ids = [f"m{made + i}" for i in range(n)]
            made += n
            assert new.insert(ids) == old.insert(ids)
        else:
            new.delete(_WHERE[op], n)
            old.delete(_WHERE[op], n)
        rows = "SELECT seq, message_id FROM gw_outbox ORDER BY seq"
        assert new.conn.execute(rows).fetchall() == old.conn.execute(rows).fetchall()
        assert new.conn.execute("SELECT seq, id FROM gw_messages ORDER BY seq").fetchall() == \
            new.conn.execute(rows).fetchall()


async def test_a_journal_made_before_takes_its_outbox_seqs_and_goes_on_after_them(world: DevWorld, db: Any) -> None:
    """An existing journal (the outbox numbered on its own, AUTOINCREMENT on SQLite, an index on
    message_id) is migrated once, in one transaction: each message takes its outbox row's seq, and
    the next seq comes after the largest ever given, also one since deleted (as by a reset); a
    second start finds nothing to migrate. What the outbox holds reads as before."""
    serial = _AUTOINCREMENT if db.dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    await db.execute_script(_OLD_TABLES.format(blob=db.blob_type, serial=serial))
    ids = [f"old-{n}" for n in range(4)]
    async with db.transaction() as tx:
        for mid in reversed(ids):  # rowids in the opposite order of the seqs: seqs come from the outbox
            await tx.execute("INSERT INTO gw_messages VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
                             *_message(mid))
        for mid in ids:
            await tx.execute("INSERT INTO gw_outbox (message_id, recipient, state) VALUES ($1, 'bank-a', 'ready')", mid)
    async with db.transaction() as tx:  # the last goes (as in a reset): its seq must not come back
        await tx.execute("DELETE FROM gw_outbox WHERE message_id = 'old-3'")
        await tx.execute("DELETE FROM gw_messages WHERE id = 'old-3'")
    for start in range(2):
        async with running_gateway(world, db) as gw:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            [r] = await gw.submit(world.envelope([payment(world, bank="bank-a")], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
            inbox = await Outbox(db).inbox("bank-a")
        assert [(i.seq, i.message_id) for i in inbox] == [(1, "old-0"), (2, "old-1"), (3, "old-2")] + [
            (5 + n, mid) for n, mid in enumerate(x.message_id for x in inbox[3:])]
        assert inbox[-1].message_id == r.message_id and len(inbox) == 4 + start
        rows = await db.fetch("SELECT m.id, m.seq, o.seq FROM gw_messages m JOIN gw_outbox o ON o.message_id = m.id")
        assert all(m_seq == o_seq for _, m_seq, o_seq in rows) and len(rows) == 4 + start
    if db.dialect == "sqlite":
        table = await db.fetchrow("SELECT sql FROM sqlite_master WHERE name = 'gw_outbox'")
        assert table is not None and "AUTOINCREMENT" not in str(table[0])
        assert [r for r in await db.fetch("PRAGMA index_list(gw_outbox)") if r[3] == "u"] == []
        assert await db.fetch("SELECT name FROM sqlite_sequence WHERE name = 'gw_outbox'") == []
        names = {r[0] for r in await db.fetch("SELECT name FROM sqlite_master")}
        assert {"gw_outbox_pending", "gw_messages_hwm_kept"} <= names


# The outbox rows as the journal wrote them before they were copied from the batch's message rows
# (one row bound per message): the oracle of `_OUTBOX_FROM_MESSAGES`.
_OUTBOX_INSERT_NUMBERED_BEFORE = "INSERT INTO gw_outbox (seq, message_id, recipient, state) VALUES (?1, ?2, ?3, 'ready')"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.lists(st.sampled_from(["bank-a", "bank-b", "pboc"]), min_size=1, max_size=6),
                          st.sampled_from(["delete-last", "delete-all"])), max_size=12))
def test_outbox_rows_copied_from_the_batch_are_the_rows_bound_one_by_one(batches: list[Any]) -> None:
    """Batches of messages (recipients drawn), with resets between: the outbox rows the journal now
    copies from the batch's message rows are exactly those it bound one per message before."""
    conns = []
    for _ in range(2):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(SCHEMA.format(blob="BLOB", **SHAPES["sqlite"]) + SEQ_HIGH_WATER_SQLITE)
        conns.append(conn)
    made = 0
    for batch in batches:
        for new, conn in enumerate(conns):
            if batch == "delete-all":
                conn.execute("DELETE FROM gw_outbox")
                conn.execute("DELETE FROM gw_messages")
                continue
            if batch == "delete-last":
                conn.execute("DELETE FROM gw_outbox WHERE seq = (SELECT max(seq) FROM gw_outbox)")
                conn.execute("DELETE FROM gw_messages WHERE seq = (SELECT max(seq) FROM gw_messages)")
                continue
            last = int(conn.execute(_sqlite(_TRACE_AND_SEQ_LAST)).fetchone()[1])
            rows = [(f"M{made + n:06d}", recipient) for n, recipient in enumerate(batch)]
            conn.execute("BEGIN")
            conn.executemany(_sqlite(_MESSAGE_INSERT_NUMBERED),
                             [(*_message(mid)[:8], recipient, *_message(mid)[9:], last + n)
                              for n, (mid, recipient) in enumerate(rows, 1)])
            if new:
                conn.execute(_sqlite(_OUTBOX_FROM_MESSAGES), (last, last + len(rows)))
            else:
                conn.executemany(_OUTBOX_INSERT_NUMBERED_BEFORE, [(last + n, *r) for n, r in enumerate(rows, 1)])
            conn.execute("COMMIT")
        made += 10
        tables = [conn.execute("SELECT * FROM gw_outbox ORDER BY rowid").fetchall() for conn in conns]
        assert tables[0] == tables[1]
