"""storage.db `Tx.executemany_deferred`: rows written later in the transaction (SQLite: with its
COMMIT, on the committer thread), with the same outcome as `executemany` where it was called: the
same rows stored, the same reads inside the transaction, and a refused row rolls back all of it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.db import Database, SqliteDatabase, is_unique_violation, open_database

_TABLE = "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"
_INSERT = "INSERT INTO t (k, v) VALUES ($1, $2)"


async def _rows(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch("SELECT k, v FROM t ORDER BY k")]


async def test_deferred_rows_are_read_by_a_later_statement_and_committed(db: Database) -> None:
    await db.execute_script(_TABLE)
    async with db.transaction() as tx:
        await tx.executemany_deferred(_INSERT, [(1, "a"), (2, "b")])
        assert await tx.fetch("SELECT k FROM t ORDER BY k") == [(1,), (2,)]
        await tx.executemany_deferred(_INSERT, [(3, "c")])
        assert await tx.execute("UPDATE t SET v = 'z' WHERE k >= $1", 2) == 2
        await tx.executemany_deferred(_INSERT, ((k, "g") for k in (4, 5)))  # any iterable, as executemany
    assert await _rows(db) == [(1, "a"), (2, "z"), (3, "z"), (4, "g"), (5, "g")]


async def test_a_refused_deferred_row_rolls_back_the_whole_transaction(db: Database) -> None:
    await db.execute_script(_TABLE)
    async with db.transaction() as tx:
        await tx.execute(_INSERT, 1, "kept")
    with pytest.raises(Exception) as refused:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, 2, "immediate")
            await tx.executemany_deferred(_INSERT, [(3, "new"), (1, "again")])
    assert is_unique_violation(refused.value)  # what a caller retries on (the journal's key race)
    assert await _rows(db) == [(1, "kept")]
    async with db.transaction() as tx:  # the writer is free again
        await tx.executemany_deferred(_INSERT, [(2, "after")])
    assert await _rows(db) == [(1, "kept"), (2, "after")]


async def test_one_connection_databases_write_deferred_rows_on_the_loop_and_roll_back_a_refused_one() -> None:
    db = await open_database(":memory:")
    try:
        await db.execute_script(_TABLE)
        async with db.transaction() as tx:
            await tx.executemany_deferred(_INSERT, [(1, "a")])
        with pytest.raises(Exception) as refused:
            async with db.transaction() as tx:
                await tx.execute(_INSERT, 2, "immediate")
                await tx.executemany_deferred(_INSERT, [(1, "again")])
        assert is_unique_violation(refused.value)
        assert isinstance(db, SqliteDatabase) and not db._lock.locked()
        async with db.transaction() as tx:
            await tx.executemany_deferred(_INSERT, [(3, "c")])
        assert await _rows(db) == [(1, "a"), (3, "c")]
    finally:
        await db.close()


async def test_a_body_that_raises_writes_none_of_its_deferred_rows(tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "x.db"))
    try:
        await db.execute_script(_TABLE)
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.executemany_deferred(_INSERT, [(1, "a")])
                raise RuntimeError("roll back")
        async with db.transaction() as tx:
            await tx.execute(_INSERT, 2, "b")
        assert await _rows(db) == [(2, "b")]
    finally:
        await db.close()


# -------------------------------------------------------------- oracle: executemany where it was called

_OPS = st.lists(st.one_of(
    st.tuples(st.just("many"), st.lists(st.integers(0, 12), min_size=1, max_size=4)),
    st.tuples(st.just("deferred"), st.lists(st.integers(0, 12), min_size=1, max_size=4)),
    st.tuples(st.just("execute"), st.integers(0, 12)),
    st.tuples(st.just("fetch"), st.integers(0, 12)),
    st.tuples(st.just("update"), st.integers(0, 12)),
), max_size=8)


async def _run(path: Path, transactions: Sequence[Sequence[tuple[str, Any]]], *, deferred: bool) -> list[Any]:
    """What a caller sees: every read's answer, how each transaction ended, and the rows at the end.
    With `deferred` False, "deferred" writes are plain `executemany` (the old definition)."""
    db = await open_database(str(path))
    seen: list[Any] = []
    try:
        await db.execute_script(_TABLE)
        for n, ops in enumerate(transactions):
            try:
                async with db.transaction() as tx:
                    for kind, arg in ops:
                        if kind == "many" or (kind == "deferred" and not deferred):
                            await tx.executemany(_INSERT, [(k, f"{n}") for k in arg])
                        elif kind == "deferred":
                            await tx.executemany_deferred(_INSERT, [(k, f"{n}") for k in arg])
                        elif kind == "execute":
                            await tx.execute(_INSERT, arg, f"{n}")
                        elif kind == "update":
                            seen.append(await tx.execute("UPDATE t SET v = v || '+' WHERE k <= $1", arg))
                        else:
                            seen.append(await tx.fetch("SELECT k, v FROM t WHERE k >= $1 ORDER BY k", arg))
                seen.append("committed")
            except Exception as exc:  # noqa: BLE001 - the outcome compared
                seen.append(("refused", is_unique_violation(exc)))
        seen.append(await _rows(db))
    finally:
        await db.close()
    return seen


@settings(max_examples=60, deadline=None)
@given(transactions=st.lists(_OPS, min_size=1, max_size=4))
def test_deferred_writes_give_what_writes_where_they_were_called_give(
        transactions: list[list[tuple[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        new = asyncio.run(_run(Path(d) / "new.db", transactions, deferred=True))
        old = asyncio.run(_run(Path(d) / "old.db", transactions, deferred=False))
    assert new == old
