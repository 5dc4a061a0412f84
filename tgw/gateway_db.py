"""The gateway's database as the `--db` of `tgw dlq` and `tgw monitor holds`: opened only if it
exists and is a gateway's (never created, never given tables it lacks), read-only for the
commands that only read. A `--db` at fault is a CommandError (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from messages.errors import StateError
from tgw.command_error import EXIT_USAGE, CommandError

__all__ = ["GATEWAY_TABLES", "db_url", "has_tables", "open_gateway_db"]

# What `tgw up` makes on its first start (gateway.journal_schema): a database without them is
# not a gateway's, whatever else it holds.
GATEWAY_TABLES = ("gw_messages", "gw_outbox")

_SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
# current_schema() is NULL when the search path names no existing schema (a mistyped --db-schema)
_PG_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"


def db_url(args: argparse.Namespace) -> str:
    url: str = args.db if "://" in args.db else f"sqlite:///{args.db}"
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path in ("", ":memory:") or not Path(path).exists():
            # opening it would leave an empty database file behind, then fail on its missing tables
            raise CommandError("io-unreadable", f"no gateway database at {path!r} (the --db of `tgw up`)",
                               exit=EXIT_USAGE, path=path)
        if not Path(path).is_file():  # a directory, a pipe, a device: SQLite could block on a pipe
            raise CommandError("db-not-gateway", f"{path} is not a regular file (the --db of `tgw up`)",
                               exit=EXIT_USAGE, path=path)
    elif not url.startswith(("postgresql://", "postgres://")):
        raise CommandError("config-invalid", f"--db {args.db!r} is no database url: use a path, sqlite:///PATH or "
                           "postgresql://...", exit=EXIT_USAGE)
    return url


async def has_tables(db: Any, *names: str) -> bool:
    """Whether every table in `names` exists (in the search path's schema, on PostgreSQL)."""
    rows = await db.fetch(_SQLITE_TABLES if db.dialect == "sqlite" else _PG_TABLES)
    return set(names) <= {r[0] for r in rows}


async def open_gateway_db(args: argparse.Namespace, *, read_only: bool) -> Any:
    """The `--db` (and `--db-schema`) of `args`, or a CommandError (exit 2):
    io-unreadable (no such file), db-not-gateway (not SQLite, or no gateway tables: another program's
    database, an empty file, a schema that does not exist, refused credentials), config-invalid (no
    database URL), unavailable (PostgreSQL cannot be reached)."""
    url = db_url(args)
    # Checked on a read-only opening first: a read-write one writes already (SQLite's WAL switch)
    db = await _open_checked(url, args, mode="ro")
    if read_only:
        return db
    await db.close()
    return await _open_checked(url, args, mode="rw")


async def _open_checked(url: str, args: argparse.Namespace, *, mode: str) -> Any:
    import sqlite3

    from storage.db import is_unreachable, open_database

    sqlite = url.startswith("sqlite:")
    where = f"{args.db}" + (f" schema {args.db_schema}" if args.db_schema and not sqlite else "")
    try:
        db = await open_database(url, schema=args.db_schema, mode=mode)
    except StateError as exc:
        if isinstance(exc.__cause__, sqlite3.DatabaseError):  # "file is not a database"
            raise CommandError("db-not-gateway", f"{where} is not a SQLite database ({exc.__cause__})",
                               exit=EXIT_USAGE) from None
        # PostgreSQL down is worth a retry; refused credentials or no such database are not
        code = ("config-invalid" if isinstance(exc.__cause__, (ValueError, OverflowError))
                else "unavailable" if is_unreachable(exc) else "db-not-gateway")
        raise CommandError(code, str(exc), exit=EXIT_USAGE) from None
    try:
        if not await has_tables(db, *GATEWAY_TABLES):
            raise CommandError("db-not-gateway", f"{where} is not a gateway's database (it has no "
                               f"{' or '.join(GATEWAY_TABLES)} table; the --db of `tgw up`)", exit=EXIT_USAGE)
    except sqlite3.DatabaseError as exc:  # a file SQLite opens lazily and then cannot read
        await db.close()
        raise CommandError("db-not-gateway", f"{where} is not a SQLite database ({exc})", exit=EXIT_USAGE) from None
    except BaseException:
        await db.close()
        raise
    return db
