"""The `--db` of `tgw dlq` and `tgw monitor holds`: only an existing gateway's database is opened
(read-only by the commands that only read); anything else is one coded line and exit 2, and
nothing is created or changed in it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL
from gateway_helpers import db_cli_args

from gateway.journal import Journal
from storage.db import open_database
from tgw import main
from tgw.gateway_db import has_tables

READS = [["dlq", "list"], ["monitor", "holds", "list"]]
WRITES = [["dlq", "replay", "--all"], ["monitor", "holds", "release", "h-1", "--by", "o", "--reason", "r"]]
COMMANDS = READS + WRITES


def _other_program(p: Path) -> None:
    with sqlite3.connect(p) as c:
        c.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
        c.execute("INSERT INTO accounts (name) VALUES ('x')")


def _fifo(p: Path) -> None:
    os.mkfifo(p)


# name -> (make the --db at this path, the code expected); None: leave nothing there
HOSTILE: dict[str, tuple[Callable[[Path], None] | None, str]] = {
    "missing": (None, "io-unreadable"),
    "other-program-db": (_other_program, "db-not-gateway"),
    "empty-file": (lambda p: p.write_bytes(b""), "db-not-gateway"),
    "not-sqlite": (lambda p: p.write_bytes(b"SQLite format 2\x00" + b"junk" * 64), "db-not-gateway"),
    "directory": (lambda p: p.mkdir(), "db-not-gateway"),
    "fifo": (_fifo, "db-not-gateway"),  # SQLite would block opening it
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: ("dir" if p.is_dir() else "fifo" if p.is_fifo() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("form", ["{}", "sqlite:///{}"])
def test_a_db_that_is_no_gateway_database_is_refused_and_left_as_it_was(tmp_path: Path, command: list[str],
                                                                        case: str, form: str) -> None:
    make, code = HOSTILE[case]
    path = tmp_path / "gw.db"
    if make is not None:
        make(path)
    before = _snapshot(tmp_path)
    # a subprocess under a timeout: a FIFO opened by mistake would block, not fail
    r = subprocess.run([sys.executable, "-m", "tgw", *command, "--db", form.format(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f": {code}: " in r.stderr and str(path) in r.stderr, r.stderr
    assert _snapshot(tmp_path) == before  # was: gw_* / mon_* tables in it, or a new empty gw.db


@pytest.mark.parametrize("db_arg", ["", "sqlite:///", "sqlite:///:memory:", ":memory:"])
def test_no_database_at_all_is_io_unreadable(db_arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    # was: `monitor holds list --db sqlite:///:memory:` listed the holds of a new empty database, exit 0
    assert main(["monitor", "holds", "list", "--db", db_arg]) == 2
    assert ": io-unreadable: " in capsys.readouterr().err


@pytest.mark.parametrize(("db_arg", "code"), [
    ("mysql://x/y", "config-invalid"),
    ("postgresql://[bad", "config-invalid"),  # was: ValueError traceback
    ("postgresql://u:secret@127.0.0.1:99999/x", "config-invalid"),  # was: OverflowError traceback
    ("postgresql://127.0.0.1:1/test", "unavailable"),
])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_db_url_that_names_no_server_is_a_coded_usage_error(db_arg: str, code: str, command: list[str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--db", db_arg]) == 2
    err = capsys.readouterr().err
    assert f": {code}: " in err and "secret" not in err, err


async def _gateway_db(path: Path) -> None:
    db = await open_database(str(path))
    try:
        await Journal(db).init_schema()
    finally:
        await db.close()


def test_read_only_commands_on_a_gateway_database_write_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.db"
    asyncio.run(_gateway_db(path))  # a gateway whose monitoring was never on: no mon_* tables
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["monitor", "holds", "list", "--db", str(path), "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == '{"holds": [], "next": null}'
    assert main(["dlq", "list", "--db", str(path), "--format", "json"]) == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    with sqlite3.connect(path) as c:
        assert not [r for r in c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'mon_%'")]
    # a decision on a hold in a database without holds: not found, and still no tables made
    assert main(["monitor", "holds", "release", "h-1", "--db", str(path), "--by", "o", "--reason", "r"]) == 1
    assert "not-found" in capsys.readouterr().err
    with sqlite3.connect(path) as c:
        assert not [r for r in c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'mon_%'")]


async def _pg_schemas(prefix: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        return [r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
                                               prefix + "%")]
    finally:
        await conn.close()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_postgres_schema_that_does_not_exist_is_not_created(db: Any, command: list[str]) -> None:
    if db.dialect != "postgres":
        pytest.skip("a schema is PostgreSQL's")
    missing = f"t_missing_{uuid.uuid4().hex[:8]}"
    code = await asyncio.to_thread(main, [*command, "--db", db.url, "--db-schema", missing])
    assert code == 2
    assert await _pg_schemas(missing) == []  # was: created, with the mon_* tables in it


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_an_empty_database_gets_no_tables(db: Any, command: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = await db_cli_args(db)
    code = await asyncio.to_thread(main, [*command, *args])
    assert code == 2 and ": db-not-gateway: " in capsys.readouterr().err
    assert not await has_tables(db, "mon_holds") and not await has_tables(db, "gw_outbox")


async def test_postgres_read_only_command_runs_read_only_transactions(db: Any) -> None:
    if db.dialect != "postgres":
        pytest.skip("PostgreSQL's read-only transactions")
    row = await db.fetchrow("SELECT current_schema()")
    ro = await open_database(db.url, schema=row[0], mode="ro")
    try:
        assert (await ro.fetchrow("SHOW default_transaction_read_only"))[0] == "on"
    finally:
        await ro.close()
