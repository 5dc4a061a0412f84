"""Journal and outbox: what the gateway acknowledged, durably, before it acknowledged it.

One writer task drains a bounded queue and commits whole batches (group commit): one
transaction holds the dedup decision, the message row, its outbox row and its trace events,
for every voucher in the batch. A sender is answered only after that commit returns. The
decisions (and the reads they need) run on the event loop; the batch's rows are written with the
COMMIT (`Tx.executemany_deferred`: on SQLite's committer thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from gateway.journal_digest import digest
from gateway.journal_schema import (
    ACKED_AFTER_SQLITE,
    MESSAGE_COLUMNS,
    PG_MIGRATION,
    PG_SEQ_MIGRATION,
    SCHEMA,
    SEQ_HIGH_WATER_SQLITE,
    SEQ_MIGRATION_SQLITE,
    SHAPES,
    SQLITE_MIGRATION,
    TRACE_AFTER_SQLITE,
)
from gateway.message_ids import SIM_ID_TAG, MessageIds, new_message_id, now_us
from gateway.pipeline import Admitted
from messages.envelope import VoucherKey
from messages.errors import Issue, StateError
from storage.db import Database, SqliteDatabase, Tx, is_unique_violation, padded

# Re-exported: callers import the ids, the clock and the schema from here as before.
__all__ = ["SCHEMA", "SIM_ID_TAG", "ClaimLost", "Journal", "JournalResult", "MessageIds", "new_message_id", "now_us"]

T = TypeVar("T")

# Bounds (TigerBeetle's habit: every queue has a named limit and a reason).
BATCH_VOUCHERS_MAX = 1024  # one commit; large enough to amortize fsync, small enough to keep p99 low
QUEUE_SUBMISSIONS_MAX = 4096  # envelopes waiting for the writer; beyond this senders wait (back-pressure)


class JournalResult(NamedTuple):
    """accepted (new), duplicate (same bytes again: same message id), or refused.

    A named tuple, not a frozen dataclass: one is made for every voucher journaled, and a frozen
    dataclass sets each field through object.__setattr__. Read by name everywhere."""

    status: str
    key: VoucherKey
    message_id: str | None = None
    recipient: str | None = None
    issue: Issue | None = None


@dataclass(slots=True)
class _Submission:
    items: Sequence[Admitted]
    business_time: str
    refusals: Sequence[tuple[VoucherKey, str, Issue]]  # traced in the same commit
    future: asyncio.Future[Any]  # the results (a list of JournalResult), or what `work` returned
    # Other stores' rows written in the same transaction (monitoring: window state, holds, audit).
    extra: Sequence[tuple[str, Sequence[Sequence[Any]]]] = ()
    # Instead of vouchers: other writes run in the batch's transaction (`Journal.in_commit`).
    work: Callable[[Tx], Awaitable[Any]] | None = None
    weight: int = 0  # rows `work` writes, counted like vouchers against BATCH_VOUCHERS_MAX
    # A statement that must change a row for anything of this submission to be written (a hold
    # released once: another worker on the same database may have decided it since it was read).
    claim: tuple[str, Sequence[Any]] | None = None


class ClaimLost(Exception):
    """A submission's claim changed no row: nothing of it was written (`Journal.record(claim=...)`)."""


_LOST = object()  # a submission whose claim changed no row, in `_commit`'s results


# PostgreSQL: a message's seq comes from its sequence; its outbox row takes it, in the same
# statement (one round trip for the batch's messages and outbox rows, not two). The outbox's
# reference to the message is checked at the statement's end, the message row written by then.
_MESSAGE_AND_OUTBOX_INSERT = (f"WITH m AS (INSERT INTO gw_messages ({MESSAGE_COLUMNS}, owner, trace_after) "
                              "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING seq, id, recipient) "
                              "INSERT INTO gw_outbox (seq, message_id, recipient, state) "
                              "SELECT seq, id, recipient, 'ready' FROM m")
# The batch's marks: where its admissions stand among trace rows (every gw_trace row written from
# here on has a larger id: AUTOINCREMENT, BIGSERIAL, this commit's own included) and, on SQLite,
# the last seq ever given (see journal_schema.SHAPES), after which its messages are numbered. The
# write lock is held from BEGIN IMMEDIATE: no other writer numbers meanwhile. Read by the batch's
# lookup statement itself (`_lookup`, a row of its own with a NULL key), not by a statement of
# its own: one round trip a commit fewer on PostgreSQL (~120-190 µs of a commit's wall time,
# bench/results/journal-rows.md); on SQLite the same instructions either way.
_TRACE_AND_SEQ_LAST = ("SELECT (SELECT max(id) FROM gw_trace), max(COALESCE((SELECT max(seq) FROM gw_messages), 0), "
                       "COALESCE((SELECT seq FROM gw_messages_hwm WHERE id = 1), 0))")
# The row the lookup ends with: the marks in the columns of `flag` and `id` (PostgreSQL's UNION
# wants one type per column: the trace mark is a BIGINT where flag is an INTEGER; it has no seq mark).
_MARKS_ROW = {"sqlite": " UNION ALL SELECT NULL, NULL, NULL, NULL, " + _TRACE_AND_SEQ_LAST.removeprefix("SELECT ")
                        + ", NULL, NULL, NULL, NULL",
              "postgres": " UNION ALL SELECT NULL, NULL, NULL, NULL, (SELECT max(id) FROM gw_trace), NULL, NULL, NULL, "
                          "NULL, NULL"}
_MESSAGE_INSERT_NUMBERED = (f"INSERT INTO gw_messages ({MESSAGE_COLUMNS}, owner, trace_after, seq) "
                            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)")
# The batch's outbox rows from its message rows, just written with seqs ($1, $2]: one statement
# and two integers, not three values bound per row (written on the committer thread, GIL held).
_OUTBOX_FROM_MESSAGES = ("INSERT INTO gw_outbox (seq, message_id, recipient, state) "
                         "SELECT seq, id, recipient, 'ready' FROM gw_messages WHERE seq > $1 AND seq <= $2 ORDER BY seq")
# SQLite page cache of the gateway database's connections (KiB; SQLite's default is 2,000). The
# journal's key and id indexes (and monitoring's) outgrow 2 MB at ~20,000 messages; past that each
# lookup read its pages through the OS again. Simulated day of 30,000 (bench/results/journal-frames.md):
# read syscalls 25.4 -> 16.3 and write syscalls 35.7 -> 32.5 a voucher (a transaction no longer
# spills its cache), peak RSS +5.8 MB. A bound: at most this much per connection, two connections.
JOURNAL_CACHE_KIB = 8192
COMMIT_ATTEMPTS_MAX = 3  # a key race with another worker resolves on the first retry


LOOKUP_KEYS_MAX = 200  # keys per lookup query: 1,000 parameters; an OR this long still plans in microseconds


class _Known(NamedTuple):
    """What the journal holds under a voucher key: one row per owner (see `_MESSAGES_TABLE`).
    A named tuple (one is made for every voucher accepted): see `JournalResult`."""

    id: str
    digest: bytes
    recipient: str
    sender: str


@dataclass(slots=True)
class _Writes:
    messages: list[tuple[Any, ...]] = field(default_factory=list)  # each one's outbox row too
    trace: list[tuple[Any, ...]] = field(default_factory=list)


Known = dict[VoucherKey, dict[str, _Known]]  # key → owner → row

# A named tuple's own `__new__` is a Python function (a frame a call): the hot path makes its
# records by tuple.__new__ with every field given, in field order.
_new_tuple = tuple.__new__


@functools.lru_cache(maxsize=32)  # one text per `padded` size (1, 2, 4 ... 128, LOOKUP_KEYS_MAX), with marks or not
def _lookup_sql(terms: int, marks: str = "") -> str:
    # An OR of equalities, not `(cols) IN (VALUES ...)`: SQLite scans the whole table for the
    # row-value form but searches the unique index (its first five columns) once per term.
    where = " OR ".join(f"(adm_div_code=${5 * n + 1} AND st_year=${5 * n + 2} AND vtcode=${5 * n + 3} "
                        f"AND voucher_no=${5 * n + 4} AND flag=${5 * n + 5})" for n in range(terms))
    return ("SELECT adm_div_code, st_year, vtcode, voucher_no, flag, id, digest, recipient, sender, owner "
            f"FROM gw_messages WHERE {where}{marks}")


class _Marks(NamedTuple):
    trace_after: int  # the largest gw_trace id (0: none)
    seq_last: int | None  # SQLite: the last seq ever given; PostgreSQL: None (a sequence numbers)


async def _lookup(tx: Tx, keys: set[VoucherKey], dialect: str) -> tuple[Known, _Marks | None]:
    """Every row under each key, whoever owns it (the decision picks the caller's own, in Python),
    and the batch's marks (`_MARKS_ROW`; None when there is no key, hence nothing to journal)."""
    found: Known = {}
    marks: _Marks | None = None
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_KEYS_MAX):
        # Padded to one of a few sizes: each size is a statement prepared once (see `padded`).
        chunk = padded(ordered[start:start + LOOKUP_KEYS_MAX], LOOKUP_KEYS_MAX)
        params = list(chain.from_iterable(chunk))  # each key's five values, in order
        rows = await tx.fetch(_lookup_sql(len(chunk), _MARKS_ROW[dialect] if start == 0 else ""), *params)
        for r in rows:
            if r[0] is None:  # the marks' row
                marks = _new_tuple(_Marks, (int(r[4] or 0), int(r[5]) if r[5] is not None else None))
                continue
            key = VoucherKey(r[0], r[1], r[2], r[3], int(r[4]))
            found.setdefault(key, {})[r[9]] = _new_tuple(_Known, (r[5], bytes(r[6]), r[7], r[8]))
    return found, marks


def _original_of(item: Admitted, known: Known) -> _Known | None:
    """The original a receipt answers: delivered to the receipt's sender and, when the receipt's
    content names the original's sender (`Admitted.recipient`), sent by that one. None when there
    is no such original, or more than one and the receipt does not say which."""
    rows = [r for r in known.get(item.key.original(), {}).values()
            if r.recipient == item.sender and (item.recipient is None or r.sender == item.recipient)]
    return rows[0] if len(rows) == 1 else None


TRACE_INSERT = ("INSERT INTO gw_trace (adm_div_code, st_year, vtcode, voucher_no, flag, message_id, step, "
                 "participant, wall_us, business_time, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")




def _grouped(trace: list[tuple[Any, ...]], batch: Sequence[_Submission]) -> dict[str, list[Sequence[Any]]]:
    """The batch's trace rows and its submissions' `extra` rows, one list per statement: one
    `executemany` each for the whole batch (it was one per statement per submission: 64 calls for
    32 monitored envelopes). Rows keep their order within a statement, and statements run in the
    order first met, the journal's trace first (as before). Only the order between different
    statements of different submissions changes; they touch different rows (an upsert on one key
    is one statement, kept in order; a hold is decided only after its insert has committed)."""
    groups: dict[str, list[Sequence[Any]]] = {TRACE_INSERT: list(trace)} if trace else {}
    for sub in batch:
        for sql, rows in sub.extra:
            if rows:
                groups.setdefault(sql, []).extend(rows)
    return groups


class Journal:
    def __init__(self, db: Database, *, clock: Any = None) -> None:
        self.db = db
        self.ids = MessageIds(clock)  # simulated clock: ids from its time, the same on every run
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue(QUEUE_SUBMISSIONS_MAX)
        self._writer: asyncio.Task[None] | None = None
        self.committed = asyncio.Event()  # set after each commit: wakes deliverers and long polls
        self.commits = 0
        # Per recipient, the commits that gave it outbox rows (`mark`): a long poll woken by a
        # commit that gave it nothing need not read its inbox again. One entry per recipient
        # ever journaled: bounded by the participants registered.
        self._fresh: dict[str, int] = {}
        self._wakes = 0  # `wake` calls: every long poll reads again

    def mark(self, recipient: str) -> tuple[int, int]:
        """Changes when a commit gives `recipient` outbox rows, or on `wake`."""
        return self._wakes, self._fresh.get(recipient, 0)

    def wake(self) -> None:
        """Wake every long poll and have it read its inbox again (rows came ready another way)."""
        self._wakes += 1
        committed, self.committed = self.committed, asyncio.Event()
        committed.set()

    async def init_schema(self) -> None:
        sqlite = isinstance(self.db, SqliteDatabase)
        await self.db.execute_script(SCHEMA.format(blob=self.db.blob_type, **SHAPES[self.db.dialect]))
        await self._migrate()
        if sqlite:  # after `_migrate`: a table rebuilt there loses its triggers
            await self.db.execute_script(SEQ_HIGH_WATER_SQLITE)

    async def _migrate(self) -> None:
        """Bring a journal made before keys were scoped by owner, before admissions were placed by
        `trace_after` (deliveries by `acked_after`), or before the outbox was keyed by its message's
        seq, up to date (once; then a no-op)."""
        if isinstance(self.db, SqliteDatabase):
            columns = {r[1] for r in await self.db.fetch("PRAGMA table_info(gw_messages)")}
            if "owner" not in columns:
                await self.db.execute_script(SQLITE_MIGRATION.format(blob=self.db.blob_type, **SHAPES["sqlite"]))
                columns = {r[1] for r in await self.db.fetch("PRAGMA table_info(gw_messages)")}
            if "trace_after" not in columns:
                await self.db.execute_script(TRACE_AFTER_SQLITE)
            if "acked_after" not in {r[1] for r in await self.db.fetch("PRAGMA table_info(gw_outbox)")}:
                await self.db.execute_script(ACKED_AFTER_SQLITE)
            # The outbox keyed by its own seq, with an index on message_id (and gw_messages without
            # seq, or with one the owner migration just numbered): both rebuilt, once.
            if any(r[3] == "u" for r in await self.db.fetch("PRAGMA index_list(gw_outbox)")):
                await self.db.execute_script(SEQ_MIGRATION_SQLITE.format(blob=self.db.blob_type, **SHAPES["sqlite"]))
        else:
            await self.db.execute_script(PG_MIGRATION)
            await self.db.execute_script(PG_SEQ_MIGRATION)

    async def start(self) -> None:
        if isinstance(self.db, SqliteDatabase):
            self.db.set_cache_kib(JOURNAL_CACHE_KIB)
        await self.init_schema()
        if self.ids.simulated:
            # A scan, but only in simulated runs: resume after the last simulated id (restarts).
            last = await self.db.fetchrow("SELECT max(id) FROM gw_messages WHERE substr(id, 14, 6) = $1",
                                          SIM_ID_TAG)
            self.ids.resume(last[0] if last is not None else None)
        self._writer = asyncio.create_task(self._run(), name="journal-writer")

    async def stop(self) -> None:
        """Drain: everything queued is committed (and answered) before the writer ends."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None
        while not self._queue.empty():  # queued while the writer was ending: nothing written, say so
            sub = self._queue.get_nowait()
            if not sub.future.done():
                sub.future.set_exception(StateError("journal writer stopped"))
            self._queue.task_done()

    async def record(self, items: Sequence[Admitted], *, business_time: str,
                     refusals: Sequence[tuple[VoucherKey, str, Issue]] = (),
                     extra: Sequence[tuple[str, Sequence[Sequence[Any]]]] = (),
                     claim: tuple[str, Sequence[Any]] | None = None) -> list[JournalResult]:
        """Journal `items`; `extra` (SQL, rows) pairs are written in the same transaction. With
        `claim` (SQL, args), that statement runs first in the transaction and must change a row:
        if it changes none, nothing of this submission is written and ClaimLost is raised."""
        if self._writer is None or self._writer.done():
            raise StateError("journal writer is not running")
        future: asyncio.Future[list[JournalResult]] = asyncio.get_running_loop().create_future()
        sub = _Submission(items, business_time, refusals, future, extra, claim=claim)
        try:
            self._queue.put_nowait(sub)
        except asyncio.QueueFull:  # back-pressure: wait for room
            await self._queue.put(sub)
        result: list[JournalResult] = await future
        return result

    async def in_commit(self, work: Callable[[Tx], Awaitable[T]], *, weight: int = 1) -> T:
        """Run `work` in the transaction of the next group commit and return what it returned,
        once that commit is durable (as in a transaction of its own: it may run again if the
        batch is retried). Outbox acks come this way: an ack beside a batch of vouchers costs no
        commit of its own. With the writer stopped (or never started), a transaction of its own."""
        if self._writer is None or self._writer.done():
            async with self.db.transaction() as tx:
                return await work(tx)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Submission((), "", (), future, (), work, max(1, weight)))
        result: T = await future
        return result

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            count = len(first.items) + first.weight
            while count < BATCH_VOUCHERS_MAX and not self._queue.empty():
                nxt = self._queue.get_nowait()
                batch.append(nxt)
                count += len(nxt.items) + nxt.weight
            try:
                results = await self._commit_retrying(batch)
            except Exception as exc:  # noqa: BLE001 - every waiting sender learns of it; nothing was acked
                for sub in batch:
                    if not sub.future.done():
                        sub.future.set_exception(StateError(f"journal commit failed: {exc}"))
            else:
                # Plain loops, no generator or comprehension (a frame each): most batches are one
                # submission of one voucher.
                fresh: set[str] = set()  # recipients given outbox rows by this commit
                vouchers = False  # acks alone give no reader anything new
                for sub, res in zip(batch, results, strict=True):
                    if sub.work is None:
                        vouchers = True
                        if res is not _LOST:
                            for r in res:
                                if r.status == "accepted" and r.recipient is not None:
                                    fresh.add(r.recipient)
                    if sub.future.done():
                        continue
                    if res is _LOST:
                        sub.future.set_exception(ClaimLost(f"{sub.claim[0] if sub.claim else ''} changed no row"))
                    else:
                        sub.future.set_result(res)
                for recipient in fresh:
                    self._fresh[recipient] = self._fresh.get(recipient, 0) + 1
                if vouchers:
                    self.commits += 1
                    self.committed.set()
                    self.committed = asyncio.Event()
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_retrying(self, batch: list[_Submission]) -> list[Any]:
        """Another gateway worker on the same database may insert one of our keys between our
        lookup and our insert: the unique key refuses ours and the transaction rolls back. A
        retry then finds that row and answers duplicate or duplicate-conflict like any other."""
        for attempt in range(COMMIT_ATTEMPTS_MAX):
            try:
                return await self._commit(batch)
            except Exception as exc:
                if attempt + 1 == COMMIT_ATTEMPTS_MAX or not is_unique_violation(exc):
                    raise
        raise AssertionError("unreachable")

    async def _commit(self, batch: list[_Submission]) -> list[Any]:
        """Decide every voucher of the batch, then write it all with a handful of statements.

        One lookup query finds what the journal already holds for the batch's keys (and for
        the originals its receipts answer); decisions then run in Python, in submission order,
        so a key twice in one batch behaves exactly as it would in two batches.
        """
        async with self.db.transaction() as tx:
            # Plain loops, not comprehensions (a frame each; the claims' an async one).
            kept: list[_Submission] = []
            lost: list[bool] = []
            wanted: set[VoucherKey] = set()
            for sub in batch:
                gone = sub.claim is not None and await tx.execute(sub.claim[0], *sub.claim[1]) == 0
                lost.append(gone)
                if not gone:
                    kept.append(sub)
                    for item in sub.items:
                        key = item.key
                        wanted.add(key)
                        if key.flag == 1:
                            wanted.add(key.original())
            known, marks = await _lookup(tx, wanted, self.db.dialect)
            writes = _Writes()
            out: list[Any] = []
            for sub, gone in zip(batch, lost, strict=True):
                if gone:
                    out.append(_LOST)
                else:
                    out.append([self._decide(item, sub.business_time, known, writes) for item in sub.items])
            for sub in kept:
                for key, sender, issue in sub.refusals:
                    writes.trace.append((*key, None, "rejected", sender, now_us(), sub.business_time,
                                         f"{issue.code}: {issue.message}"))
            if writes.messages:
                assert marks is not None  # a message comes from an item, whose key was looked up
                after, seq = marks
                if seq is not None:  # SQLite: numbered here
                    await tx.executemany_deferred(_MESSAGE_INSERT_NUMBERED,
                                                  [(*m, after, seq + n) for n, m in enumerate(writes.messages, 1)])
                    await tx.executemany_deferred(_OUTBOX_FROM_MESSAGES, [(seq, seq + len(writes.messages))])
                else:
                    await tx.executemany(_MESSAGE_AND_OUTBOX_INSERT, [(*m, after) for m in writes.messages])
            # The batch's rows, written with its COMMIT where the backend can (SQLite: on the
            # committer thread, off the event loop); an ack's `work` below reads first if it comes.
            for sql, rows in _grouped(writes.trace, kept).items():
                await tx.executemany_deferred(sql, rows)
            for n, sub in enumerate(batch):
                if sub.work is not None:  # after the vouchers' rows, in submission order
                    out[n] = await sub.work(tx)
        return out

    def _decide(self, item: Admitted, business_time: str, known: Known, writes: _Writes) -> JournalResult:
        key, wall = item.key, now_us()
        recipient, original_id, owner = item.recipient, None, item.sender
        if key.flag == 1:
            orig = _original_of(item, known)
            if orig is None:
                issue = Issue("unknown-original", f"no original {key.original()} was delivered to {item.sender}; "
                              "a receipt must answer a voucher this gateway carried to its sender", None, "@VoucherNo")
                writes.trace.append((*key, None, "rejected", item.sender, wall, business_time,
                                     f"{issue.code}: {issue.message}"))
                return JournalResult("refused", key, None, None, issue)
            original_id, recipient, owner = orig.id, orig.sender, orig.sender
        # Only the sender's own row under this key counts: another participant's voucher with the
        # same number is neither a duplicate nor a conflict, and its existence shows in no answer.
        row = known.get(key, {}).get(owner)
        if row is not None:
            if row.digest == item.digest:
                writes.trace.append((*key, row.id, "duplicate", item.sender, wall, business_time,
                                     "same bytes again: answered with the first acknowledgement"))
                return JournalResult("duplicate", key, row.id, row.recipient)
            issue = Issue("duplicate-conflict", f"voucher {key} was accepted before (message {row.id}) "
                          "with different content", None, "@VoucherNo")
            writes.trace.append((*key, row.id, "rejected", item.sender, wall, business_time,
                                 f"{issue.code}: {issue.message}"))
            return JournalResult("refused", key, None, None, issue)
        if recipient is None:
            raise StateError(f"{key}: the pipeline admitted an original without a recipient")
        message_id = self.ids.new()
        known.setdefault(key, {})[owner] = _new_tuple(_Known, (message_id, item.digest, recipient, item.sender))
        writes.messages.append((message_id, *key, item.digest, item.sender, recipient, original_id,
                                item.payload, wall, business_time, owner))
        # No trace row: the trace shows the admission's steps from the message row, placed by its
        # `trace_after` (gateway.trace_rows.with_admissions).
        return _new_tuple(JournalResult, ("accepted", key, message_id, recipient, None))

    # ------------------------------------------------------------ reads and state changes

    async def trace_event(self, key: VoucherKey, message_id: str | None, step: str, participant: str,
                          business_time: str, detail: str = "") -> None:
        async with self.db.transaction() as tx:
            await tx.execute(TRACE_INSERT, *key, message_id, step, participant, now_us(), business_time, detail)

    async def journal_digest(self) -> str:
        """SHA-256 (hex) over every journaled message in journal order (`journal_digest.digest`)."""
        return await digest(self.db)
