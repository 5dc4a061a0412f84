"""Journal and outbox: what the gateway acknowledged, durably, before it acknowledged it.

One writer task drains a bounded queue and commits whole batches (group commit): one
transaction holds the dedup decision, the message row, its outbox row and its trace events,
for every voucher in the batch. A sender is answered only after that commit returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import itertools
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.pipeline import Admitted
from gateway.trace_rows import ADMITTED_STEP
from messages.envelope import VoucherKey
from messages.errors import Issue, StateError
from storage.db import Database, SqliteDatabase, Tx, is_unique_violation, padded

__all__ = ["SIM_ID_TAG", "Journal", "JournalResult", "MessageIds", "new_message_id", "now_us"]

# Bounds (TigerBeetle's habit: every queue has a named limit and a reason).
BATCH_VOUCHERS_MAX = 1024  # one commit; large enough to amortize fsync, small enough to keep p99 low
QUEUE_SUBMISSIONS_MAX = 4096  # envelopes waiting for the writer; beyond this senders wait (back-pressure)


def now_us() -> int:
    return time.time_ns() // 1000


# A random tag per process keeps ids of several gateway workers on one database apart; a counter
# keeps them apart within a process (os.urandom per id cost ~10 µs on this VM: a syscall each).
_ID_TAG = secrets.token_hex(3)
_ID_SEQ = itertools.count()


def new_message_id() -> str:
    """Time-ordered and unique without coordination: µs time (13 hex), process tag (6), sequence (6)."""
    return f"{now_us():013x}{_ID_TAG}{next(_ID_SEQ) & 0xFFFFFF:06x}"


# Simulated runs: a fixed tag instead of the random one, so two identical runs give identical ids.
SIM_ID_TAG = "000000"
_SIM_SEQ_MAX = 0xFFFFFF  # six hex digits; beyond this many ids in one simulated µs, the µs moves on
_SIM_ID_LEN = 25  # 13 + 6 + 6
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def _is_simulated(clock: Any) -> bool:
    return clock is not None and getattr(clock, "is_simulated", False) is True


class MessageIds:
    """Where the journal's message ids come from.

    Live (no clock, or one whose `is_simulated` is not True): `new_message_id`, from wall time.
    Simulated (`clock.is_simulated` is True, e.g. a simulated `BusinessClock` or the simulation
    engine's clock): the clock's `now()` in µs since the epoch (13 hex), `SIM_ID_TAG`, and a
    sequence (6 hex) that restarts at each new µs. Nothing in such an id depends on wall time or
    randomness, so identical runs give identical ids. Simulated ids strictly increase: if the
    clock has not moved (or went back) the sequence counts on from the last id, and `resume`
    (the journal calls it at start with the last simulated id it holds) carries that across a
    restart, so a gateway restarted at the same simulated time never reuses an id.
    """

    def __init__(self, clock: Any = None) -> None:
        self.clock = clock
        self._last_us = -1
        self._seq = 0

    @property
    def simulated(self) -> bool:
        return _is_simulated(self.clock)

    def resume(self, last_id: str | None) -> None:
        """Continue after `last_id`, a simulated id already journaled (others are ignored)."""
        if last_id is None or len(last_id) != _SIM_ID_LEN or last_id[13:19] != SIM_ID_TAG:
            return
        try:
            us, seq = int(last_id[:13], 16), int(last_id[19:], 16)
        except ValueError:
            return
        if (us, seq) > (self._last_us, self._seq):
            self._last_us, self._seq = us, seq

    def new(self) -> str:
        if not self.simulated:
            return new_message_id()
        now = self.clock.now()
        if not isinstance(now, dt.datetime) or now.tzinfo is None:
            raise StateError(f"a simulated clock's now() must be a timezone-aware datetime, not {now!r}")
        t = (now - _EPOCH) // _ONE_US
        if t > self._last_us:
            self._last_us, self._seq = t, 0
        elif self._seq < _SIM_SEQ_MAX:
            self._seq += 1
        else:
            self._last_us, self._seq = self._last_us + 1, 0
        return f"{self._last_us:013x}{SIM_ID_TAG}{self._seq:06x}"


# gw_messages.owner: whose numbering the key belongs to. Vouchers are numbered by their senders,
# each on its own, so the key of an original is unique per sender (owner = sender) and the key of
# a receipt per original (owner = the original's sender, which is the receipt's recipient).
# Another participant can therefore neither claim nor probe a key of someone else's.
_MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id TEXT PRIMARY KEY,
    adm_div_code TEXT NOT NULL,
    st_year TEXT NOT NULL,
    vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    flag INTEGER NOT NULL,
    digest {blob} NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    original_id TEXT,
    payload {blob} NOT NULL,
    received_us BIGINT NOT NULL,
    business_time TEXT NOT NULL,
    owner TEXT NOT NULL,
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner)
);
"""
SCHEMA = _MESSAGES_TABLE.replace("{table}", "gw_messages") + """
CREATE TABLE IF NOT EXISTS gw_outbox (
    seq {serial},
    message_id TEXT NOT NULL UNIQUE REFERENCES gw_messages(id),
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    acked_us BIGINT
);
DROP INDEX IF EXISTS gw_outbox_ready;
CREATE INDEX IF NOT EXISTS gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready';
CREATE TABLE IF NOT EXISTS gw_trace (
    id {serial},
    adm_div_code TEXT NOT NULL,
    st_year TEXT NOT NULL,
    vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    flag INTEGER NOT NULL,
    message_id TEXT,
    step TEXT NOT NULL,
    participant TEXT NOT NULL,
    wall_us BIGINT NOT NULL,
    business_time TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS gw_trace_key ON gw_trace (adm_div_code, st_year, vtcode, voucher_no);
"""

# gw_outbox_pending holds only the rows waiting for delivery (the inbox and the deliverer read
# those, with `state = 'ready'`), so it stays as small as the backlog however long the journal
# grows. The index it replaced, gw_outbox_ready (recipient, state, seq) over every row, also
# drew SQLite's planner into scanning all of a recipient's rows for an ack of 16 ids or more
# (`state <> 'acked'` matched it): an ack cost grew with the journal (~130 µs a row at 30,000).

# A journal made before keys were scoped by owner has no `owner` column and a UNIQUE without it.
# The owner of each row follows from what it holds (an original's sender, a receipt's recipient).
_OWNER_OF_ROW = "CASE WHEN flag = 0 THEN sender ELSE recipient END"
_MESSAGE_COLUMNS = ("id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, recipient, original_id, "
                    "payload, received_us, business_time")
# SQLite cannot drop a table constraint: copy into a new table and rename it (the documented
# procedure, foreign keys off meanwhile; gw_outbox's reference then names the new table).
_SQLITE_MIGRATION = ("PRAGMA foreign_keys=OFF;\nBEGIN IMMEDIATE;\n"
                     + _MESSAGES_TABLE.replace("{table}", "gw_messages_owned")
                     + f"INSERT INTO gw_messages_owned ({_MESSAGE_COLUMNS}, owner) SELECT {_MESSAGE_COLUMNS}, "
                       f"{_OWNER_OF_ROW} FROM gw_messages;\n"
                     "DROP TABLE gw_messages;\nALTER TABLE gw_messages_owned RENAME TO gw_messages;\n"
                     "COMMIT;\nPRAGMA foreign_keys=ON;\n")
# PostgreSQL: in place, once (the script runs under an advisory lock, so workers do not race).
_PG_MIGRATION = f"""
DO $migrate$ BEGIN
IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'gw_messages' AND column_name = 'owner') THEN
    ALTER TABLE gw_messages ADD COLUMN owner TEXT;
    UPDATE gw_messages SET owner = {_OWNER_OF_ROW};
    ALTER TABLE gw_messages ALTER COLUMN owner SET NOT NULL;
    EXECUTE (SELECT 'ALTER TABLE gw_messages DROP CONSTRAINT ' || quote_ident(conname) FROM pg_constraint
             WHERE conrelid = 'gw_messages'::regclass AND contype = 'u' LIMIT 1);
    ALTER TABLE gw_messages ADD UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner);
END IF;
END $migrate$;
"""


@dataclass(frozen=True, slots=True)
class JournalResult:
    """accepted (new), duplicate (same bytes again: same message id), or refused."""

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
    future: asyncio.Future[list[JournalResult]]
    # Other stores' rows written in the same transaction (monitoring: window state, holds, audit).
    extra: Sequence[tuple[str, Sequence[Sequence[Any]]]] = ()


_MESSAGE_INSERT = (f"INSERT INTO gw_messages ({_MESSAGE_COLUMNS}, owner) "
                   "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)")
COMMIT_ATTEMPTS_MAX = 3  # a key race with another worker resolves on the first retry


LOOKUP_KEYS_MAX = 200  # keys per lookup query: 1,000 parameters; an OR this long still plans in microseconds


@dataclass(frozen=True, slots=True)
class _Known:
    """What the journal holds under a voucher key: one row per owner (see `_MESSAGES_TABLE`)."""

    id: str
    digest: bytes
    recipient: str
    sender: str


@dataclass(slots=True)
class _Writes:
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[str, str]] = field(default_factory=list)
    trace: list[tuple[Any, ...]] = field(default_factory=list)


Known = dict[VoucherKey, dict[str, _Known]]  # key → owner → row


@functools.lru_cache(maxsize=16)  # one text per `padded` size: 1, 2, 4 ... 128, LOOKUP_KEYS_MAX
def _lookup_sql(terms: int) -> str:
    # An OR of equalities, not `(cols) IN (VALUES ...)`: SQLite scans the whole table for the
    # row-value form but searches the unique index (its first five columns) once per term.
    where = " OR ".join(f"(adm_div_code=${5 * n + 1} AND st_year=${5 * n + 2} AND vtcode=${5 * n + 3} "
                        f"AND voucher_no=${5 * n + 4} AND flag=${5 * n + 5})" for n in range(terms))
    return ("SELECT adm_div_code, st_year, vtcode, voucher_no, flag, id, digest, recipient, sender, owner "
            f"FROM gw_messages WHERE {where}")


async def _lookup(tx: Tx, keys: set[VoucherKey]) -> Known:
    """Every row under each key, whoever owns it: the decision picks the caller's own (in Python)."""
    found: Known = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_KEYS_MAX):
        # Padded to one of a few sizes: each size is a statement prepared once (see `padded`).
        chunk = padded(ordered[start:start + LOOKUP_KEYS_MAX], LOOKUP_KEYS_MAX)
        params = [value for key in chunk for value in key]
        rows = await tx.fetch(_lookup_sql(len(chunk)), *params)
        for r in rows:
            key = VoucherKey(r[0], r[1], r[2], r[3], int(r[4]))
            found.setdefault(key, {})[r[9]] = _Known(r[5], bytes(r[6]), r[7], r[8])
    return found


def _original_of(item: Admitted, known: Known) -> _Known | None:
    """The original a receipt answers: delivered to the receipt's sender and, when the receipt's
    content names the original's sender (`Admitted.recipient`), sent by that one. None when there
    is no such original, or more than one and the receipt does not say which."""
    rows = [r for r in known.get(item.key.original(), {}).values()
            if r.recipient == item.sender and (item.recipient is None or r.sender == item.recipient)]
    return rows[0] if len(rows) == 1 else None


TRACE_INSERT = ("INSERT INTO gw_trace (adm_div_code, st_year, vtcode, voucher_no, flag, message_id, step, "
                 "participant, wall_us, business_time, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")


# Rows per read of `journal_digest`: each carries a delivery envelope (a few KB, at most the
# envelope size limit), so one page stays a few MB however long the journal is.
DIGEST_PAGE_ROWS = 256
_DIGEST_DOMAIN = b"tgw-journal-digest/v1\n"
_DIGEST_QUERY = ("SELECT o.seq, m.id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, "
                 "m.recipient, m.original_id, m.business_time, o.state, m.payload FROM gw_outbox o "
                 "JOIN gw_messages m ON m.id = o.message_id WHERE o.seq > $1 ORDER BY o.seq LIMIT $2")


def _digest_row(values: Sequence[object]) -> bytes:
    """A row's fields, each framed (kind, 8-byte length, bytes) so no two different rows hash
    alike: the bytes hashed field by field before, in one piece (no copy of a payload per field)."""
    parts: list[bytes] = []
    for value in values:
        if value is None:
            parts.append(b"N")
            continue
        if isinstance(value, str):
            kind, data = b"S", value.encode("utf-8")
        elif isinstance(value, bytes | bytearray | memoryview):
            kind, data = b"B", bytes(value)
        else:
            kind, data = b"S", str(value).encode("utf-8")
        parts += (kind, len(data).to_bytes(8, "big"), data)
    return b"".join(parts)


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
        serial = ("INTEGER PRIMARY KEY AUTOINCREMENT" if isinstance(self.db, SqliteDatabase)
                  else "BIGSERIAL PRIMARY KEY")
        await self.db.execute_script(SCHEMA.format(blob=self.db.blob_type, serial=serial))
        await self._migrate()

    async def _migrate(self) -> None:
        """Bring a journal made before keys were scoped by owner up to date (once; then a no-op)."""
        if isinstance(self.db, SqliteDatabase):
            columns = {r[1] for r in await self.db.fetch("PRAGMA table_info(gw_messages)")}
            if "owner" not in columns:
                await self.db.execute_script(_SQLITE_MIGRATION.format(blob=self.db.blob_type))
        else:
            await self.db.execute_script(_PG_MIGRATION)

    async def start(self) -> None:
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

    async def record(self, items: Sequence[Admitted], *, business_time: str,
                     refusals: Sequence[tuple[VoucherKey, str, Issue]] = (),
                     extra: Sequence[tuple[str, Sequence[Sequence[Any]]]] = ()) -> list[JournalResult]:
        """Journal `items`; `extra` (SQL, rows) pairs are written in the same transaction."""
        if self._writer is None or self._writer.done():
            raise StateError("journal writer is not running")
        future: asyncio.Future[list[JournalResult]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Submission(items, business_time, refusals, future, extra))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            count = len(first.items)
            while count < BATCH_VOUCHERS_MAX and not self._queue.empty():
                nxt = self._queue.get_nowait()
                batch.append(nxt)
                count += len(nxt.items)
            try:
                results = await self._commit_retrying(batch)
            except Exception as exc:  # noqa: BLE001 - every waiting sender learns of it; nothing was acked
                for sub in batch:
                    if not sub.future.done():
                        sub.future.set_exception(StateError(f"journal commit failed: {exc}"))
            else:
                for recipient in {r.recipient for res in results for r in res if r.status == "accepted"}:
                    if recipient is not None:
                        self._fresh[recipient] = self._fresh.get(recipient, 0) + 1
                for sub, res in zip(batch, results, strict=True):
                    if not sub.future.done():
                        sub.future.set_result(res)
                self.commits += 1
                self.committed.set()
                self.committed = asyncio.Event()
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_retrying(self, batch: list[_Submission]) -> list[list[JournalResult]]:
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

    async def _commit(self, batch: list[_Submission]) -> list[list[JournalResult]]:
        """Decide every voucher of the batch, then write it all with a handful of statements.

        One lookup query finds what the journal already holds for the batch's keys (and for
        the originals its receipts answer); decisions then run in Python, in submission order,
        so a key twice in one batch behaves exactly as it would in two batches.
        """
        items = [item for sub in batch for item in sub.items]
        wanted = {i.key for i in items} | {i.key.original() for i in items if i.key.flag == 1}
        async with self.db.transaction() as tx:
            known = await _lookup(tx, wanted)
            writes = _Writes()
            out = [[self._decide(item, sub.business_time, known, writes) for item in sub.items] for sub in batch]
            for sub in batch:
                for key, sender, issue in sub.refusals:
                    writes.trace.append((*key, None, "rejected", sender, now_us(), sub.business_time,
                                         f"{issue.code}: {issue.message}"))
            if writes.messages:
                await tx.executemany(_MESSAGE_INSERT, writes.messages)
                await tx.executemany("INSERT INTO gw_outbox (message_id, recipient, state) VALUES ($1, $2, 'ready')",
                                     writes.outbox)
            for sql, rows in _grouped(writes.trace, batch).items():
                await tx.executemany(sql, rows)
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
        known.setdefault(key, {})[owner] = _Known(message_id, item.digest, recipient, item.sender)
        writes.messages.append((message_id, *key, item.digest, item.sender, recipient, original_id,
                                item.payload, wall, business_time, owner))
        writes.outbox.append((message_id, recipient))
        # One trace row for the admission's steps (`admitted_steps` shows them): only the seals
        # are not in the message row already.
        writes.trace.append((*key, message_id, ADMITTED_STEP, item.sender, wall, business_time,
                             ", ".join(f"{s.no}:{s.sn}" for s in item.body.signatures)))
        return JournalResult("accepted", key, message_id, recipient)

    # ------------------------------------------------------------ reads and state changes

    async def trace_event(self, key: VoucherKey, message_id: str | None, step: str, participant: str,
                          business_time: str, detail: str = "") -> None:
        async with self.db.transaction() as tx:
            await tx.execute(TRACE_INSERT, *key, message_id, step, participant, now_us(), business_time, detail)

    async def journal_digest(self) -> str:
        """SHA-256 (hex) over every journaled message in journal order (outbox sequence).

        Per message: id, voucher key (AdmDivCode, StYear, VtCode, VoucherNo, flag), sender,
        recipient, original id, business time, delivery state and the exact delivery envelope
        bytes stored. Wall-clock columns (received_us, acked_us, next_attempt_us), attempt
        counts and the trace are left out. Two simulated runs with the same seed and inputs give
        the same digest, on SQLite and PostgreSQL alike. Read in pages of DIGEST_PAGE_ROWS (never
        the whole journal at once), outside one transaction: take it when the gateway is quiet.
        """
        h = hashlib.sha256(_DIGEST_DOMAIN)
        after = 0  # sequences start at 1 on both backends
        while True:
            rows = await self.db.fetch(_DIGEST_QUERY, after, DIGEST_PAGE_ROWS)
            for row in rows:
                h.update(_digest_row(tuple(row)[1:]))
            if len(rows) < DIGEST_PAGE_ROWS:
                return h.hexdigest()
            after = int(rows[-1][0])
