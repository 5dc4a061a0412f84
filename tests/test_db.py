"""storage.db: the thin database layer under the journal and the ledger."""

from __future__ import annotations

import os

import asyncpg
import pytest
from conftest import PG_URL

from storage.db import open_database


@pytest.mark.postgres
async def test_a_schema_name_that_needs_quoting_isolates_the_database() -> None:
    """Hyphens and capitals are legal in a quoted schema name; search_path must quote it too."""
    schema = f"Bench-{os.getpid()}-x"
    try:
        db = await open_database(PG_URL, schema=schema)
    except Exception as exc:  # noqa: BLE001 - reported as the skip/fail reason
        if os.environ.get("CI") == "true" or os.environ.get("TGW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        await db.execute_script("CREATE TABLE t (v INTEGER)")
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (v) VALUES ($1)", 7)
        assert await db.fetch("SELECT v FROM t") == [(7,)]
        assert await db.fetchrow("SELECT current_schema()") == (schema,)
    finally:
        await db.close()
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


async def test_sqlite_placeholders_and_transactions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = await open_database(str(tmp_path / "x.db"))
    try:
        await db.execute_script("CREATE TABLE t (a INTEGER, b TEXT)")
        async with db.transaction() as tx:
            await tx.executemany("INSERT INTO t (a, b) VALUES ($1, $2)", [(1, "x"), (2, "y")])
            # $2 before $1: numbered placeholders, not positional ones
            assert await tx.fetchrow("SELECT a FROM t WHERE b = $2 AND a > $1", 0, "y") == (2,)
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (a, b) VALUES ($1, $2)", 3, "z")
                raise RuntimeError("roll back")
        assert await db.fetch("SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    finally:
        await db.close()


def test_database_urls_in_messages_never_carry_the_password() -> None:
    from storage.db import _without_password

    assert _without_password("postgresql://tgw:s3cret@db:5432/test") == "postgresql://tgw:***@db:5432/test"
    assert _without_password("postgresql://tgw@db/test") == "postgresql://tgw@db/test"
    assert _without_password("sqlite:///var/tgw.db") == "sqlite:///var/tgw.db"


async def test_a_refused_postgres_connection_names_the_url_without_its_password() -> None:
    from messages.errors import StateError

    with pytest.raises(StateError) as caught:
        await open_database("postgresql://tgw:s3cret@127.0.0.1:1/test")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


async def test_a_journal_gives_both_sqlite_connections_its_page_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The gateway database's page cache is the journal's bound (JOURNAL_CACHE_KIB), on the writer and
    the reader alike; another SQLite database keeps SQLite's default."""
    from gateway.journal import JOURNAL_CACHE_KIB, Journal
    from storage.db import SqliteDatabase

    db, other = SqliteDatabase(str(tmp_path / "gateway.db")), SqliteDatabase(str(tmp_path / "ledger.db"))
    journal = Journal(db)
    await journal.start()
    try:
        assert [c.execute("PRAGMA cache_size").fetchone()[0] for c in (db._writer, db._reader)] == \
            [-JOURNAL_CACHE_KIB] * 2
        assert other._writer.execute("PRAGMA cache_size").fetchone()[0] == -2000
    finally:
        await journal.stop()
        await db.close()
        await other.close()


def _file_bytes(path: str) -> int:
    return os.path.getsize(path)


async def test_sqlite_checkpoints_every_wal_autocheckpoint_frames(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Both SQLite connections checkpoint at WAL_AUTOCHECKPOINT_FRAMES, and a commit past it copies
    the WAL back and lets the next writer start it over: the WAL stays bounded, the rows all read."""
    from storage.db import WAL_AUTOCHECKPOINT_FRAMES, SqliteDatabase

    path = tmp_path / "x.db"
    db = SqliteDatabase(str(path))
    try:
        assert [c.execute("PRAGMA wal_autocheckpoint").fetchone()[0] for c in (db._writer, db._reader)] == \
            [WAL_AUTOCHECKPOINT_FRAMES] * 2
        await db.execute_script("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        page = db._writer.execute("PRAGMA page_size").fetchone()[0]
        rows_per_commit = 50  # ~50 pages a commit
        commits = 2 * WAL_AUTOCHECKPOINT_FRAMES // rows_per_commit + 2
        for c in range(commits):
            async with db.transaction() as tx:
                await tx.executemany("INSERT INTO t (k, v) VALUES ($1, $2)",
                                     [(c * rows_per_commit + i, os.urandom(page - 200)) for i in range(rows_per_commit)])
        wal = _file_bytes(f"{path}-wal")
        assert wal <= 32 + (WAL_AUTOCHECKPOINT_FRAMES + 2 * rows_per_commit) * (page + 24)
        assert await db.fetchrow("SELECT count(*) FROM t") == (commits * rows_per_commit,)
        assert _file_bytes(str(path)) > WAL_AUTOCHECKPOINT_FRAMES * page  # copied into the database file
    finally:
        await db.close()
