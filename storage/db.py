"""One small async database interface over SQLite (default) and PostgreSQL (scale-out).

Stores above this (the gateway journal and outbox, the ledger) write SQL once, with
PostgreSQL-style `$1` placeholders; the SQLite backend rewrites them to `?1`, which SQLite
understands natively. Only portable SQL is used: INTEGER/BIGINT, TEXT, BLOB/BYTEA via
`Database.blob_type`, `INSERT ... ON CONFLICT`, `RETURNING`.

Writes go through `transaction()`, which serializes writers (SQLite has one writer anyway;
PostgreSQL gets a connection of its own per transaction). The SQLite commit, the only call
that waits on the disk (fsync), runs in a thread of its own (one long-lived committer thread per
database, cheaper per commit than a pool hand-off) so the event loop keeps serving. Rows written
with `Tx.executemany_deferred` go with it: SQLite does their b-tree work there too, with the GIL
released, while the loop admits the next requests. A database driven by one coroutine (the
simulated world) can ask for its commits on the caller's thread instead (`commit_here`). The PostgreSQL backend is in
`storage.postgres` (its names are re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

import storage.sqlite_binding  # noqa: F401 - registers how bytes and None are bound
from messages.errors import StateError
from storage.postgres import PostgresDatabase, pg_unavailable_errors
from storage.postgres import without_password as _without_password  # noqa: F401 - imported from here too

__all__ = ["DB_WAIT_FACTOR", "DB_WAIT_FIRST_S", "DB_WAIT_MAX_S", "OPEN_MODES", "STATEMENT_CACHE_SIZE", "WAL_AUTOCHECKPOINT_FRAMES",
           "Database", "PostgresDatabase", "SqliteDatabase", "Tx", "is_unique_violation", "is_unreachable",
           "open_database", "open_database_waiting", "padded", "statement_terms"]

Row = tuple[Any, ...]
T = TypeVar("T")

OPEN_MODES = ("rwc", "rw", "ro")


class Tx(Protocol):
    async def execute(self, sql: str, *params: Any) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def executemany_deferred(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`executemany`, which a backend may run later in the transaction: before the next statement
        of it, or with its COMMIT. A failure (a unique key refusing a row) may then surface from the
        transaction's exit instead of here; the transaction is rolled back either way."""
    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *params: Any) -> Row | None: ...


class Database(Protocol):
    dialect: str
    blob_type: str
    url: str

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]: ...
    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *params: Any) -> Row | None: ...
    async def execute_script(self, sql: str) -> None: ...
    async def close(self) -> None: ...


_PLACEHOLDER = re.compile(r"\$(\d+)")

# Prepared statements kept per SQLite connection (Python's default is 128). A statement is
# prepared once per text: a lookup of 200 voucher keys takes ~2.7 ms to prepare and ~90 µs to run.
# Statements of a variable number of terms (`padded`) take one of a few shapes each, so the
# stores' whole statement set (well under a hundred texts per database) stays prepared.
STATEMENT_CACHE_SIZE = 256

# WAL frames after which a commit copies the WAL back into the database file (SQLite's default is
# 1,000). A checkpoint writes each page changed since the last one once, however many commits
# changed it: the pages every commit touches (page 1, the rightmost leaves and the interior pages
# of the journal's and monitoring's b-trees) are copied once per checkpoint, so fewer, larger
# checkpoints copy fewer pages per commit (one-voucher commits: 2.0 -> 1.4 pages written to the
# database file a commit; bench/results/wal-bytes.md). 4,000 keeps a WAL of small commits within
# the first block of its shared-memory index (4,062 frames), so a read still probes one hash table
# per page; the WAL then peaks at ~16 MB with 4 KiB pages, and a checkpoint copies ~450 pages every
# ~320 one-voucher commits (~160 every ~80 before). Durability is the WAL's, synced on every
# commit, and does not depend on when the checkpoint runs.
WAL_AUTOCHECKPOINT_FRAMES = 4000


def statement_terms(n: int, cap: int) -> int:
    """How many terms to write a statement of `n` variable terms with: the next power of two,
    at most `cap` (itself the last shape), so that its text takes one of few shapes."""
    size = 1
    while size < n:
        size *= 2
    return min(size, max(cap, n))


def padded(values: Sequence[T], cap: int) -> list[T]:
    """`values` (not empty) with its last one repeated up to `statement_terms(len(values), cap)`:
    for an `IN (...)` list or an `OR` of equalities, where a repeated term changes nothing."""
    return [*values, *[values[-1]] * (statement_terms(len(values), cap) - len(values))]


@lru_cache(maxsize=512)
def _to_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


_DeferredRows = list[tuple[str, Sequence[Sequence[Any]]]]


class _SqliteTx:
    """The writer connection inside a transaction. `executemany_deferred` keeps its rows until the
    next statement (run first, on this thread) or the COMMIT (run with it, on the committer thread:
    sqlite3 releases the GIL while SQLite works, so the event loop meanwhile serves other requests)."""

    __slots__ = ("_conn", "deferred")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.deferred: _DeferredRows = []

    def _flush(self) -> None:
        deferred, self.deferred = self.deferred, []
        for sql, rows in deferred:
            self._conn.executemany(sql, rows)

    async def execute(self, sql: str, *params: Any) -> int:
        if self.deferred:
            self._flush()
        return self._conn.execute(_to_sqlite(sql), params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.deferred:
            self._flush()
        self._conn.executemany(_to_sqlite(sql), rows)

    async def executemany_deferred(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.deferred.append((_to_sqlite(sql), rows if isinstance(rows, list) else list(rows)))

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        if self.deferred:
            self._flush()
        return self._conn.execute(_to_sqlite(sql), params).fetchall()

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        if self.deferred:
            self._flush()
        row: Row | None = self._conn.execute(_to_sqlite(sql), params).fetchone()
        return row


class _CommitJob:
    """One COMMIT handed to the committer thread, and how it ended (read on the loop's thread).

    The coroutine waits on `waiter`, a future of its own that only `_settle` completes: a
    cancelled wait leaves the commit running, and the coroutine then waits on a fresh waiter
    until `finished` (what `asyncio.shield` did, without its extra future and loop pass).
    """

    __slots__ = ("conn", "error", "finished", "loop", "waiter", "write_failed", "writes")

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, writes: _DeferredRows) -> None:
        self.conn, self.loop, self.writes = conn, loop, writes
        self.write_failed = False  # `error` came from a deferred write (the transaction is still open)
        self.waiter: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self.finished = False


class _Committer:
    """One long-lived thread that runs the writer connection's COMMITs (each waits on fsync), each
    after its transaction's deferred writes.

    `asyncio.to_thread` per commit costs the event loop a context copy, a pool work item and a
    chained concurrent future (~21 µs measured); a queue to a thread of our own and one
    `call_soon_threadsafe` back cost ~14 µs. At most one commit is outstanding (the database's
    writer lock is held across it), so the queue never holds more than one item and a stop mark.
    The thread is a daemon so that a database never closed cannot keep the interpreter alive; a
    sender is answered only after its COMMIT returned, so nothing acknowledged depends on it.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_CommitJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def commit(self, conn: sqlite3.Connection, writes: _DeferredRows) -> _CommitJob:
        """`writes` (deferred `executemany`s), then COMMIT `conn`, on the thread; the job's waiter
        completes (on this loop) once they have returned."""
        job = _CommitJob(conn, asyncio.get_running_loop(), writes)
        if self._thread is None or not self._thread.is_alive():  # first commit, or a forked child
            self._thread = threading.Thread(target=self._run, name="sqlite-commit", daemon=True)
            self._thread.start()
        self._jobs.put(job)
        return job

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                for sql, rows in job.writes:
                    job.conn.executemany(sql, rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine, which rolls back and raises it
                job.error, job.write_failed = exc, True
            else:
                try:
                    job.conn.execute("COMMIT")
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine, which raises it
                    job.error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                job.loop.call_soon_threadsafe(_settle, job)

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None


def _write_here(conn: sqlite3.Connection, writes: _DeferredRows) -> None:
    """The deferred `writes` on this thread; one that fails rolls the transaction back and raises
    as it would have where it was made."""
    try:
        for sql, rows in writes:
            conn.executemany(sql, rows)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _commit_here(conn: sqlite3.Connection, writes: _DeferredRows) -> None:
    """`writes`, then COMMIT, on this thread: `_committed`'s outcome without the hand-off (a failed
    COMMIT rolls back and raises StateError)."""
    _write_here(conn, writes)
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StateError(f"sqlite commit failed: {exc}") from exc


def _settle(job: _CommitJob) -> None:
    job.finished = True
    if not job.waiter.done():  # a cancelled wait: `_Transaction` waits on a fresh waiter, or is gone
        job.waiter.set_result(None)


async def _committed(committer: _Committer, conn: sqlite3.Connection, writes: _DeferredRows) -> None:
    """`writes`, then COMMIT, on the committer thread, and wait for it; a cancelled caller still waits
    until the COMMIT has ended (the writer stays locked meanwhile), rolls back if it failed, and
    re-raises. A deferred write that failed rolls back and raises as it would have where it was made."""
    job = committer.commit(conn, writes)
    try:
        await job.waiter
    except asyncio.CancelledError:
        # The COMMIT goes on in its thread: keep the writer (the lock) until it ends, or the
        # next transaction would begin on this connection while this one is open.
        while not job.finished:
            job.waiter = job.loop.create_future()
            with contextlib.suppress(asyncio.CancelledError):
                await job.waiter
        if job.error is not None and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if job.error is not None:
        if job.write_failed:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise job.error
        if isinstance(job.error, sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StateError(f"sqlite commit failed: {job.error}") from job.error
        raise job.error


class _Transaction:
    """`SqliteDatabase.transaction()`: a class, not an `asynccontextmanager` generator, which cost
    a generator and its helper frames per transaction (one per group commit)."""

    __slots__ = ("_db", "_tx")

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._tx: _SqliteTx | None = None

    async def __aenter__(self) -> Tx:
        db = self._db
        await db._lock.acquire()
        try:
            db._writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            db._lock.release()
            raise
        self._tx = _SqliteTx(db._writer)
        return self._tx

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:
        db, conn, tx = self._db, self._db._writer, self._tx
        try:
            writes: _DeferredRows = []
            if tx is not None:
                writes, tx.deferred = tx.deferred, []
            if exc_type is None and writes and db._reader is db._writer:
                # One connection (`:memory:`): the loop's reads must not see half a write. Here.
                _write_here(conn, writes)
                writes = []
            if exc_type is not None:
                # SQLite may have ended the transaction itself (SQLITE_FULL, IOERR...): a ROLLBACK
                # then fails and would hide the error that matters.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return False
            if db._commit_here:
                _commit_here(conn, writes)
            else:
                await _committed(db._committer, conn, writes)
            return False
        finally:
            db._lock.release()


class SqliteDatabase:
    """SQLite in WAL mode: one writer connection behind a lock, one reader connection."""

    dialect = "sqlite"
    blob_type = "BLOB"

    def __init__(self, path: str, *, synchronous: str = "FULL", mode: str = "rwc", commit_here: bool = False) -> None:
        """`commit_here`: each COMMIT (with its deferred rows) runs on the caller's thread, not the
        committer thread: for a database whose every caller waits for its commit before anything
        else can run (the simulated world: one coroutine drives it), where the hand-off buys no
        overlap and costs the loop's thread a sleep or a preemption by the committer (bench/results/
        sim-idle.md). What is written, and that it is synced as `synchronous` says before the
        transaction is left, is the same; only the thread differs, which blocks meanwhile."""
        # FULL: a commit survives power loss, not only a crash of this process. Group commit
        # upstream keeps that affordable. `mode` is SQLite's URI mode: "rwc" creates the file,
        # "rw" needs it to exist, "ro" also refuses every write (a read-only command's).
        if mode not in OPEN_MODES:
            raise ValueError(f"mode must be one of {OPEN_MODES}, not {mode!r}")
        self.url = f"sqlite:///{path}"
        self.path = path
        self.mode = mode
        self._writer = self._connect(synchronous)
        self._reader = self._connect(synchronous) if path != ":memory:" else self._writer
        self._lock = asyncio.Lock()
        self._committer = _Committer()
        self._commit_here = commit_here

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        if self.mode == "rwc":
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   cached_statements=STATEMENT_CACHE_SIZE)
        else:  # a URI, so that SQLite itself neither creates the file nor (ro) writes to it
            conn = sqlite3.connect(f"file:{quote(self.path)}?mode={self.mode}", uri=True, isolation_level=None,
                                   check_same_thread=False, cached_statements=STATEMENT_CACHE_SIZE)
        if self.mode == "ro":
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA query_only=ON")
            return conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_FRAMES}")
        return conn

    def set_cache_kib(self, kib: int) -> None:
        """The page cache of each connection, in KiB (SQLite's default is 2,000): for a database whose
        indexes outgrow it, every lookup otherwise reads its pages from the OS again (a pread each)."""
        for conn in {id(c): c for c in (self._writer, self._reader)}.values():
            conn.execute(f"PRAGMA cache_size=-{int(kib)}")

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        """BEGIN IMMEDIATE on the writer (behind the lock); COMMIT on leaving, on the committer
        thread; ROLLBACK on an exception (`_Transaction`)."""
        return _Transaction(self)

    def _read_conn(self) -> sqlite3.Connection:
        # The writer when idle (no transaction, COMMIT or script; reads never yield): a commit empties
        # the page cache of the other connection (WAL), not its own. mmap_size measured slower.
        return self._reader if self._lock.locked() or self._writer.in_transaction else self._writer

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return self._read_conn().execute(_to_sqlite(sql), params).fetchall()

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        with contextlib.closing(self._read_conn().execute(_to_sqlite(sql), params)) as cursor:  # ends it now
            return cast("Row | None", cursor.fetchone())

    async def execute_script(self, sql: str) -> None:
        async with self._lock:
            self._writer.executescript(sql)

    async def close(self) -> None:
        async with self._lock:
            self._committer.stop()
            if self._reader is not self._writer:
                self._reader.close()
            self._writer.close()


def is_unique_violation(exc: BaseException) -> bool:
    """A unique or primary key refused a row, on either backend (asyncpg is not imported here)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc)
    return type(exc).__name__ == "UniqueViolationError"


# Waiting for a database that is down when the gateway starts (`open_database_waiting`): the
# first retry soon (a database restarting beside us is often back within a second), then doubling
# up to a ceiling that bounds both the log (one line per attempt) and the load on a recovering
# server, while still noticing it is back within half a minute.
DB_WAIT_FIRST_S = 0.5
DB_WAIT_FACTOR = 2.0
DB_WAIT_MAX_S = 30.0


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached (refused, cut, timed out, starting up): worth waiting
    for. A wrong password or a missing database is not: those end the wait."""
    cause = exc.__cause__ if isinstance(exc, StateError) else exc
    return cause is not None and isinstance(cause, pg_unavailable_errors())


async def open_database_waiting(url: str, *, schema: str | None = None,
                                on_wait: Callable[[int, float, BaseException], None] | None = None,
                                sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                                ) -> SqliteDatabase | PostgresDatabase:
    """`open_database`, waiting with exponential backoff while the database cannot be reached.

    Before each wait `on_wait(attempt, next_delay_s, error)` is called (once per failed attempt).
    Any other failure (a bad URL, refused credentials) is raised at once. Cancel to give up.
    """
    delay, attempt = DB_WAIT_FIRST_S, 0
    while True:
        attempt += 1
        try:
            return await open_database(url, schema=schema)
        except StateError as exc:
            if not is_unreachable(exc):
                raise
            if on_wait is not None:
                on_wait(attempt, delay, exc)
        await sleep(delay)
        delay = min(delay * DB_WAIT_FACTOR, DB_WAIT_MAX_S)


async def open_database(url: str, *, schema: str | None = None,
                        mode: str = "rwc") -> SqliteDatabase | PostgresDatabase:
    """`sqlite:///path/to.db`, `sqlite:///:memory:`, a bare path, or `postgresql://...`.

    `mode` (OPEN_MODES): "rwc" creates what is missing (a SQLite file, a PostgreSQL schema); "rw"
    opens only what exists; "ro" also refuses writes (SQLite `mode=ro`, PostgreSQL read-only
    transactions)."""
    if mode not in OPEN_MODES:
        raise ValueError(f"mode must be one of {OPEN_MODES}, not {mode!r}")
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.connect(url, schema=schema, create=mode == "rwc", read_only=mode == "ro")
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" in path:
        raise StateError(f"unsupported database url {url!r}: use sqlite:///PATH or postgresql://...")
    if mode != "rwc" and path in ("", ":memory:"):
        raise StateError(f"no database at {path or url!r}: an existing one is needed")
    try:
        return SqliteDatabase(path, mode=mode)
    except sqlite3.Error as exc:  # a directory, a missing directory, a file that is no database
        raise StateError(f"cannot open SQLite database {path}: {exc}") from exc
