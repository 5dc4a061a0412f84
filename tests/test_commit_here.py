"""storage.db `SqliteDatabase(commit_here=True)` (the simulated world's databases, gateway journal
included): each COMMIT runs on the caller's thread, not the committer's, and is synced as `synchronous`
says before the transaction is left; by default it still goes to the committer thread, whatever
`synchronous`. Either way the same outcome: the rows committed once the transaction is left, a refused deferred row
rolls the whole transaction back and raises as it was, a failed COMMIT rolls back and raises StateError,
and the writer is free again after."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlite_helpers import CommitRecorder

from messages.errors import StateError
from storage.db import SqliteDatabase, is_unique_violation, open_database

_TABLE = "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"
_INSERT = "INSERT INTO t (k, v) VALUES ($1, $2)"


async def _open(tmp_path: Path, synchronous: str, here: bool) -> SqliteDatabase:
    path = str(tmp_path / f"{synchronous}-{here}.db")
    if synchronous == "FULL" and not here:  # as every database opened the ordinary way is
        db = await open_database(path)
        assert isinstance(db, SqliteDatabase)
    else:
        db = SqliteDatabase(path, synchronous=synchronous, commit_here=here)
    await db.execute_script(_TABLE)
    return db


async def _rows(db: SqliteDatabase) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch("SELECT k, v FROM t ORDER BY k")]


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
@pytest.mark.parametrize("here", [True, False])
async def test_a_commit_runs_on_the_loop_thread_only_when_asked(tmp_path: Path, synchronous: str, here: bool) -> None:
    db = await _open(tmp_path, synchronous, here)
    try:
        threads: list[tuple[str, str]] = []
        db._writer.set_trace_callback(lambda sql: threads.append((sql.split()[0], threading.current_thread().name)))
        async with db.transaction() as tx:
            await tx.executemany_deferred(_INSERT, [(1, "a")])
            await tx.fetch("SELECT k FROM t")  # reads the row: written first, here
            await tx.executemany_deferred(_INSERT, [(2, "b")])
        loop = threading.current_thread().name
        end = loop if here else "sqlite-commit"
        assert threads == [("BEGIN", loop), ("INSERT", loop), ("SELECT", loop), ("INSERT", end), ("COMMIT", end)]
        assert await _rows(db) == [(1, "a"), (2, "b")]
        assert (db._committer._thread is None) is here  # no committer thread started at all
    finally:
        await db.close()


async def test_the_simulated_worlds_databases_commit_here_and_the_journal_stays_full(tmp_path: Path) -> None:
    from runner.demo import build_world

    w = await build_world(tmp_path, seed=1, vouchers=1, days=1, start=dt.date(2026, 3, 16))
    try:
        assert w.gateway.db._commit_here and await w.gateway.db.fetchrow("PRAGMA synchronous") == (2,)  # FULL
        assert all(ledger.db._commit_here for ledger in w.ledgers.values())
    finally:
        await w.close()


@pytest.mark.parametrize("here", [True, False])
async def test_a_refused_deferred_row_rolls_back_and_raises_as_it_was(tmp_path: Path, here: bool) -> None:
    db = await _open(tmp_path, "FULL", here)
    try:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, 1, "kept")
        with pytest.raises(sqlite3.IntegrityError) as refused:
            async with db.transaction() as tx:
                await tx.execute(_INSERT, 2, "immediate")
                await tx.executemany_deferred(_INSERT, [(3, "new"), (1, "again")])
        assert is_unique_violation(refused.value)
        assert not db._writer.in_transaction
        assert await _rows(db) == [(1, "kept")]
        async with db.transaction() as tx:  # the writer (and its lock) is free again
            await tx.executemany_deferred(_INSERT, [(2, "after")])
        assert await _rows(db) == [(1, "kept"), (2, "after")]
    finally:
        await db.close()


@pytest.mark.parametrize("here", [True, False])
async def test_a_failed_commit_rolls_back_raises_state_error_and_the_next_one_works(tmp_path: Path,
                                                                                     here: bool) -> None:
    db = await _open(tmp_path, "FULL", here)
    failing = CommitRecorder(db._writer)
    db._writer = failing  # type: ignore[assignment]
    try:
        failing.fail_next_commit = True
        with pytest.raises(StateError, match="sqlite commit failed: disk I/O error"):
            async with db.transaction() as tx:
                await tx.executemany_deferred(_INSERT, [(1, "lost")])
        assert not failing.in_transaction
        async with db.transaction() as tx:
            await tx.executemany_deferred(_INSERT, [(2, "b")])
        assert await _rows(db) == [(2, "b")]
        on = threading.current_thread().name if here else "sqlite-commit"
        assert [t.name for t in failing.commit_threads] == [on, on]
    finally:
        db._writer = failing._conn
        await db.close()
