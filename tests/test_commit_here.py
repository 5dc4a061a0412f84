"""storage.db: a SQLite commit that syncs nothing (WAL with synchronous NORMAL or OFF: the simulators'
books) runs on the caller's thread, not the committer's; a FULL one still goes to the committer thread.
Either way the same outcome: the rows committed once the transaction is left, a refused deferred row
rolls the whole transaction back and raises as it was, a failed COMMIT rolls back and raises StateError,
and the writer is free again after."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from messages.errors import StateError
from storage.db import SqliteDatabase, is_unique_violation

_TABLE = "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"
_INSERT = "INSERT INTO t (k, v) VALUES ($1, $2)"


class _FailingCommit:
    """A writer connection whose next COMMIT fails (as a full disk would), noting each COMMIT's thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.fail_next_commit = False
        self.commit_threads: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self.commit_threads.append(threading.current_thread().name)
            if self.fail_next_commit:
                self.fail_next_commit = False
                raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def _open(tmp_path: Path, synchronous: str) -> SqliteDatabase:
    db = SqliteDatabase(str(tmp_path / f"{synchronous}.db"), synchronous=synchronous)
    await db.execute_script(_TABLE)
    return db


async def _rows(db: SqliteDatabase) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch("SELECT k, v FROM t ORDER BY k")]


@pytest.mark.parametrize(("synchronous", "here"), [("NORMAL", True), ("normal", True), ("OFF", True),
                                                    ("FULL", False), ("EXTRA", False)])
async def test_a_commit_runs_on_the_loop_thread_only_when_it_syncs_nothing(tmp_path: Path, synchronous: str,
                                                                             here: bool) -> None:
    db = await _open(tmp_path, synchronous)
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


async def test_one_connection_databases_keep_their_path(tmp_path: Path) -> None:
    db = SqliteDatabase(":memory:", synchronous="NORMAL")
    assert not db._commit_here  # `:memory:` writes its rows on the loop already, as before
    await db.close()


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_a_refused_deferred_row_rolls_back_and_raises_as_it_was(tmp_path: Path, synchronous: str) -> None:
    db = await _open(tmp_path, synchronous)
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


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_a_failed_commit_rolls_back_raises_state_error_and_the_next_one_works(tmp_path: Path,
                                                                                     synchronous: str) -> None:
    db = await _open(tmp_path, synchronous)
    failing = _FailingCommit(db._writer)
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
        on = threading.current_thread().name if synchronous == "NORMAL" else "sqlite-commit"
        assert failing.commit_threads == [on, on]
    finally:
        db._writer = failing._conn
        await db.close()
