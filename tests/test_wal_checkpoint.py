"""storage.db: WAL checkpoints run off the commit path (a thread of their own), and the WAL still
restarts, so its file stays bounded; every committed row is there after a reopen."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

import storage.db as sdb
from storage.db import SqliteDatabase

ROWS_PER_CHECKPOINT = 40  # small, so that a short test runs many checkpoints
PAGES_PER_CHECKPOINT = 80  # what the interval is rescaled to (~1.5 pages a row here: ~50 rows)
PAGE_BYTES = 4096


@pytest.fixture(autouse=True)
def _small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdb, "CHECKPOINT_ROWS", ROWS_PER_CHECKPOINT)
    monkeypatch.setattr(sdb, "CHECKPOINT_PAGES", PAGES_PER_CHECKPOINT)
    monkeypatch.setattr(sdb, "CHECKPOINT_ROWS_MIN", 10)


async def _commits(db: SqliteDatabase, n: int, *, first: int = 0, pause_s: float = 0.0) -> None:
    for i in range(first, first + n):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (k, v) VALUES ($1, $2)", f"k{i:06d}", os.urandom(1500))
        if pause_s:
            await asyncio.sleep(pause_s)


def _wal_pages(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size // PAGE_BYTES if wal.exists() else 0


async def test_the_wal_restarts_with_checkpoints_off_the_commit_path(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = SqliteDatabase(str(path))
    try:
        # The COMMIT itself never checkpoints below the backstop (SQLite's default was 1,000 pages).
        assert db._writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (sdb.WAL_AUTOCHECKPOINT_PAGES,)
        await db.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        await _commits(db, 600, pause_s=0.0005)
        checkpointer = db._checkpointer
        assert checkpointer is not None
        assert checkpointer.checkpoints >= 3
        assert checkpointer.finished >= 3
        # 600 commits of a 1.5 KB row wrote ~1,500 WAL pages; restarted every ~40 rows, the file
        # holds at most a few checkpoints' worth (without restarts it holds them all).
        assert _wal_pages(path) < 400
        assert await db.fetchrow("SELECT count(*) FROM t") == (600,)
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:  # everything committed is in the database (and its WAL)
        assert conn.execute("SELECT count(*), min(k), max(k) FROM t").fetchone() == (600, "k000000", "k000599")


async def test_commits_back_to_back_still_checkpoint_and_close_waits_for_the_last_pass(tmp_path: Path) -> None:
    """Many transactions queued at once (no pause between commits): the checkpointer's passes and
    the last pass between two transactions interleave with them; closing meanwhile waits."""
    path = tmp_path / "t.db"
    db = SqliteDatabase(str(path))
    try:
        await db.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        await asyncio.gather(*(_commits(db, 50, first=50 * n) for n in range(8)))
        assert await db.fetchrow("SELECT count(*) FROM t") == (400,)
        checkpointer = db._checkpointer
        assert checkpointer is not None and checkpointer.checkpoints >= 1
        # No moment between two transactions here but the one the writer lock gives the last pass:
        # without it the WAL would hold all ~1,000 pages.
        assert _wal_pages(path) < 400
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (400,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_failed_last_pass_releases_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last pass of a checkpoint holds the writer lock; if it fails, the lock comes back and
    nothing committed is lost."""
    monkeypatch.setattr(sdb, "CHECKPOINT_SQL", "PRAGMA no_such_thing(")  # a syntax error on the committer
    db = SqliteDatabase(str(tmp_path / "t.db"))
    try:
        await db.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        checkpointer = db._checkpointer
        assert checkpointer is not None
        checkpointer._caught_up = True  # as if the thread had copied the whole WAL
        await _commits(db, 1)
        assert checkpointer.finished == 1
        await asyncio.wait_for(_commits(db, 3, first=1), timeout=5)  # the lock was released
        assert await db.fetchrow("SELECT count(*) FROM t") == (4,)
    finally:
        await db.close()


def test_the_interval_in_rows_follows_the_pages_rows_make() -> None:
    """Pages per row vary with the size of the group commits: the next interval is scaled so that a
    checkpoint finds about CHECKPOINT_PAGES pages, within its bounds."""
    checkpointer = sdb._Checkpointer("unused.db", "FULL")
    assert checkpointer.rows_per_checkpoint == ROWS_PER_CHECKPOINT
    checkpointer._rescale(40, 160)  # 4 pages a row (one-voucher commits): half the rows
    assert checkpointer.rows_per_checkpoint == 20
    checkpointer._rescale(40, 20)  # half a page a row (large groups): more rows
    assert checkpointer.rows_per_checkpoint == 160
    checkpointer._rescale(40, 4_000)
    assert checkpointer.rows_per_checkpoint == 10  # CHECKPOINT_ROWS_MIN
    checkpointer._rescale(0, 100)  # nothing measured: unchanged
    assert checkpointer.rows_per_checkpoint == 10


async def test_an_in_memory_database_has_no_checkpointer() -> None:
    db = SqliteDatabase(":memory:")
    try:
        assert db._checkpointer is None
        await db.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        await _commits(db, 3)
        assert await db.fetchrow("SELECT count(*) FROM t") == (3,)
    finally:
        await db.close()


_WRITER = """
import asyncio, os, sys
import storage.db as sdb
sdb.CHECKPOINT_ROWS, sdb.CHECKPOINT_PAGES, sdb.CHECKPOINT_ROWS_MIN = 25, 40, 10  # many checkpoints before the kill
async def main() -> None:
    db = sdb.SqliteDatabase(sys.argv[1])
    await db.execute_script("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB)")
    i = 0
    while True:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (k, v) VALUES ($1, $2)", f"k{i:07d}", os.urandom(1500))
        print(f"k{i:07d}", flush=True)  # acknowledged: the COMMIT returned
        i += 1
asyncio.run(main())
"""


@pytest.mark.parametrize("acked_before_kill", [150, 700])
def test_every_acknowledged_commit_survives_a_kill_during_checkpoints(tmp_path: Path, acked_before_kill: int) -> None:
    """SIGKILL a writer whose checkpoints run on their own thread, at some point in its stream of
    commits: every commit it had acknowledged is in the database afterwards, which is intact."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "t.db"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < acked_before_kill:
            line = proc.stdout.readline()
            assert line, "the writer ended early"
            acked.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        present = {k for (k,) in conn.execute("SELECT k FROM t")}
    assert set(acked) <= present
