"""The batch's marks (the largest gw_trace id; on SQLite the last seq ever given) come with the
batch's lookup, in its statement: one statement a commit instead of two.

The old definition is kept here as the oracle: the lookup alone (an OR of key equalities) and the
marks read by a statement of their own (`_TRACE_AND_SEQ_LAST`, PostgreSQL `SELECT max(id) FROM
gw_trace`). Under any journal (messages under a few keys and owners, trace rows, deletions that
leave a high-water mark) both give the same rows and the same marks. On PostgreSQL a message row and
its outbox row are one statement (a data-modifying WITH), against the two it was.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import _TRACE_AND_SEQ_LAST, LOOKUP_KEYS_MAX, TRACE_INSERT, _lookup
from gateway.journal_schema import SCHEMA, SEQ_HIGH_WATER_SQLITE, SHAPES
from messages.envelope import VoucherKey
from storage.db import padded


def _sqlite(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


def _old_lookup_sql(terms: int) -> str:
    where = " OR ".join(f"(adm_div_code=${5 * n + 1} AND st_year=${5 * n + 2} AND vtcode=${5 * n + 3} "
                        f"AND voucher_no=${5 * n + 4} AND flag=${5 * n + 5})" for n in range(terms))
    return ("SELECT adm_div_code, st_year, vtcode, voucher_no, flag, id, digest, recipient, sender, owner "
            f"FROM gw_messages WHERE {where}")


async def _old(tx: Any, keys: set[VoucherKey], dialect: str) -> tuple[dict[Any, Any], tuple[int, int | None]]:
    """The definition before: `_lookup` without marks, then the marks' own statement."""
    found: dict[Any, Any] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_KEYS_MAX):
        chunk = padded(ordered[start:start + LOOKUP_KEYS_MAX], LOOKUP_KEYS_MAX)
        for r in await tx.fetch(_old_lookup_sql(len(chunk)), *chain.from_iterable(chunk)):
            found.setdefault(VoucherKey(r[0], r[1], r[2], r[3], int(r[4])), {})[r[9]] = \
                (r[5], bytes(r[6]), r[7], r[8])
    if dialect == "sqlite":
        last = await tx.fetchrow(_TRACE_AND_SEQ_LAST)
        return found, (int(last[0]) if last[0] is not None else 0, int(last[1]))
    last = await tx.fetchrow("SELECT max(id) FROM gw_trace")
    return found, (int(last[0]) if last[0] is not None else 0, None)


async def _new(tx: Any, keys: set[VoucherKey], dialect: str) -> tuple[dict[Any, Any], tuple[int, int | None] | None]:
    found, marks = await _lookup(tx, keys, dialect)
    return {k: {o: tuple(v) for o, v in owners.items()} for k, owners in found.items()}, \
        (tuple(marks) if marks is not None else None)  # type: ignore[return-value]


class _Tx:
    """A plain sqlite3 connection behind the `Tx` reads `_lookup` makes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        return self.conn.execute(_sqlite(sql), params).fetchall()

    async def fetchrow(self, sql: str, *params: Any) -> Any:
        return self.conn.execute(_sqlite(sql), params).fetchone()


_KEYS = [VoucherKey("990100", "2026", vt, f"N{n}", flag) for vt in ("5201", "8202") for n in range(3) for flag in (0, 1)]
_OWNERS = ["treasury", "bank-a"]
_JOURNAL = st.tuples(
    st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_OWNERS)), unique=True, max_size=12),  # messages
    st.integers(0, 4),  # the last messages deleted (their largest seq is kept as the high-water mark)
    st.integers(0, 5),  # trace rows
    st.sets(st.sampled_from(_KEYS), max_size=len(_KEYS)),  # keys looked up
)


def _journal(messages: list[tuple[VoucherKey, str]], deleted: int, traces: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA.format(blob="BLOB", **SHAPES["sqlite"]) + SEQ_HIGH_WATER_SQLITE)
    for seq, (key, owner) in enumerate(messages, 1):
        conn.execute("INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
                     "recipient, payload, received_us, business_time, owner, seq) VALUES (?,?,?,?,?,?,?,?,?,?,0,'t',?,?)",
                     (f"m{seq}", *key, bytes([seq]), owner, "r", b"<MOF/>", owner, seq))
    conn.execute("DELETE FROM gw_messages WHERE seq > ?", (len(messages) - deleted,))
    for n in range(traces):
        conn.execute(_sqlite(TRACE_INSERT), (*_KEYS[0], None, "rejected", "s", n, "t", ""))
    return conn


@settings(max_examples=200, deadline=None)
@given(_JOURNAL)
def test_the_lookup_gives_the_rows_and_the_marks_the_two_statements_gave(journal: Any) -> None:
    messages, deleted, traces, keys = journal
    conn = _journal(messages, deleted, traces)
    old = asyncio.run(_old(_Tx(conn), keys, "sqlite"))
    new = asyncio.run(_new(_Tx(conn), keys, "sqlite"))
    if keys:
        assert new == old
    else:  # no key: nothing to journal, no statement, no marks
        assert new == ({}, None)


def test_only_the_first_of_many_lookup_statements_carries_the_marks() -> None:
    keys = [VoucherKey("990100", "2026", "5201", f"N{n:04d}", 0) for n in range(LOOKUP_KEYS_MAX * 2 + 7)]
    conn = _journal([(k, "treasury") for k in keys[::3]], 1, 2)
    old = asyncio.run(_old(_Tx(conn), set(keys), "sqlite"))
    new = asyncio.run(_new(_Tx(conn), set(keys), "sqlite"))
    assert new == old
    assert len(new[0]) == len(keys[::3]) - 1


async def test_the_marks_on_both_backends(db: Any) -> None:
    """A journal's lookup on SQLite and PostgreSQL: its rows, the trace mark, the seq mark (SQLite)."""
    from gateway.journal import Journal

    journal = Journal(db)
    await journal.init_schema()
    key = VoucherKey("990100", "2026", "5201", "N1", 0)
    async with db.transaction() as tx:
        empty = await _new(tx, {key}, db.dialect)
        assert empty == await _old(tx, {key}, db.dialect)
        assert empty == ({}, (0, 0 if db.dialect == "sqlite" else None))
        await tx.execute(TRACE_INSERT, *key, None, "rejected", "s", 1, "t", "")
        await tx.execute(TRACE_INSERT, *key, None, "rejected", "s", 2, "t", "")
        await tx.execute("INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
                         "recipient, payload, received_us, business_time, owner) "
                         "VALUES ('m1', $1, $2, $3, $4, $5, $6, 'treasury', 'bank-a', $7, 0, 't', 'treasury')",
                         *key, b"d", b"<MOF/>")
        if db.dialect == "sqlite":  # PostgreSQL numbers by its sequence; here the journal does
            await tx.execute("UPDATE gw_messages SET seq = 7 WHERE id = 'm1'")
        new = await _new(tx, {key, key._replace(voucher_no="N2")}, db.dialect)
        assert new == await _old(tx, {key, key._replace(voucher_no="N2")}, db.dialect)
    trace_id = new[1][0] if new[1] is not None else None
    assert new[0] == {key: {"treasury": ("m1", b"d", "bank-a", "treasury")}}
    assert trace_id is not None and trace_id >= 2
    assert new[1] is not None and new[1][1] == (7 if db.dialect == "sqlite" else None)


# ---------------------------------------------------------------- PostgreSQL: a message and its outbox row

_OLD_MESSAGE_INSERT = ("INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
                       "recipient, original_id, payload, received_us, business_time, owner, trace_after) "
                       "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)")
_OLD_OUTBOX_INSERT = ("INSERT INTO gw_outbox (seq, message_id, recipient, state) "
                      "SELECT seq, id, recipient, 'ready' FROM gw_messages WHERE id = $1")
_BATCHES = st.lists(st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_OWNERS), st.sampled_from(["bank-a", "bank-b"])),
                             min_size=1, max_size=4, unique_by=lambda m: (m[0], m[1])), min_size=1, max_size=4)


async def _written(batches: list[list[tuple[VoucherKey, str, str]]], old: bool, tmp: Path) -> list[Any]:
    from conftest import fresh_database

    from gateway.journal import _MESSAGE_AND_OUTBOX_INSERT, Journal

    async with fresh_database("postgres", tmp) as db:
        await Journal(db).init_schema()
        made = 0
        for n, batch in enumerate(batches):
            rows = []
            for key, owner, recipient in batch:
                made += 1
                rows.append((f"m{made:04d}", *key, b"d", owner, recipient, None, b"<MOF/>", made, "t", f"{owner}{n}", n))
            async with db.transaction() as tx:
                if old:
                    await tx.executemany(_OLD_MESSAGE_INSERT, rows)
                    await tx.executemany(_OLD_OUTBOX_INSERT, [(r[0],) for r in rows])
                else:
                    await tx.executemany(_MESSAGE_AND_OUTBOX_INSERT, rows)
        return [tuple(r) for r in await db.fetch(
            "SELECT o.seq, o.message_id, o.recipient, o.state, m.seq, m.recipient, m.trace_after FROM gw_outbox o "
            "JOIN gw_messages m ON m.id = o.message_id ORDER BY o.seq")]


@pytest.mark.postgres
@settings(max_examples=15, deadline=None)
@given(_BATCHES)
def test_postgres_writes_a_message_and_its_outbox_row_in_one_statement_as_in_two(batches: Any) -> None:
    """The old definition (the messages, then their outbox rows found by id) and the one statement
    give the same rows, seqs included, on PostgreSQL."""
    with tempfile.TemporaryDirectory() as tmp:
        assert asyncio.run(_written(batches, False, Path(tmp))) == asyncio.run(_written(batches, True, Path(tmp)))
