"""The PostgreSQL backend of `storage.db` (scale-out): asyncpg's pool behind the `Database` interface.

asyncpg is imported only when a PostgreSQL database is opened (or its errors are told apart).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from messages.errors import StateError

__all__ = ["PostgresDatabase", "pg_unavailable_errors", "without_password"]

Row = tuple[Any, ...]


class _PgTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Any) -> int:
        status: str = await self._conn.execute(sql, *params)
        # asyncpg returns e.g. "INSERT 0 1" / "UPDATE 3": the last word is the row count.
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, list(rows))

    async def executemany_deferred(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # Now: the statements of a transaction share one connection, a round trip each either way.
        await self._conn.executemany(sql, list(rows))

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(sql, *params)]

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *params)
        return tuple(row) if row is not None else None


class PostgresDatabase:
    dialect = "postgres"
    blob_type = "BYTEA"

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, *, schema: str | None = None, min_size: int = 1,
                      max_size: int = 8, create: bool = True, read_only: bool = False) -> PostgresDatabase:
        """`schema` isolates one gateway (or one test) inside a shared database; it is created
        when missing only with `create`. `read_only`: every transaction is read-only."""
        import asyncpg

        quoted = '"' + schema.replace('"', '""') + '"' if schema else None
        settings = {"search_path": quoted} if quoted else {}
        if read_only:
            settings["default_transaction_read_only"] = "on"
        try:
            if schema and create:
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                             server_settings=settings or None)
        except (OSError, ValueError, OverflowError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # (ValueError, OverflowError, InterfaceError: a DSN that names no server: a bad host, port or option)
            raise StateError(f"cannot connect to PostgreSQL at {without_password(url)}: {exc}") from exc
        return cls(url, pool)

    # A server that is down or unreachable: a refused or cut connection is an OSError (or
    # asyncpg's ConnectionDoesNotExistError), not a PostgresError. Every caller sees the same
    # StateError for all of them: the service is unavailable, the request is not at fault.
    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except pg_unavailable_errors() as exc:
            if isinstance(exc, TimeoutError):  # an OSError too, but a caller's own deadline: not ours to rename
                raise
            raise StateError(f"database unavailable: PostgreSQL at {without_password(self.url)}: "
                             f"{type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        with self._reachable():
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgTx(conn)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        with self._reachable():
            return [tuple(r) for r in await self._pool.fetch(sql, *params)]

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        with self._reachable():
            row = await self._pool.fetchrow(sql, *params)
        return tuple(row) if row is not None else None

    async def execute_script(self, sql: str) -> None:
        # A lock keyed on the script keeps concurrent workers from racing on CREATE TABLE.
        with self._reachable():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", sql[:200])
                await conn.execute(sql)

    async def close(self) -> None:
        await self._pool.close()


def pg_unavailable_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "PostgreSQL cannot be reached", not "the statement failed"."""
    import asyncpg

    return (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError)


def without_password(url: str) -> str:
    """A database URL fit for a log line or an error message."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL (a bad IPv6 host, a port that is no number): may hide a password
        return url.split("//", 1)[0] + "//..."
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
