"""Journal and outbox: what the gateway acknowledged, durably, before it acknowledged it.

One writer task drains a bounded queue and commits whole batches (group commit): one
transaction holds the dedup decision, the message row, its outbox row and its trace events,
for every voucher in the batch. A sender is answered only after that commit returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.db import SqliteDatabase, Tx
from messages.envelope import VoucherKey
from messages.errors import Issue, StateError

from .pipeline import Admitted, delivery_bytes

__all__ = ["Journal", "JournalResult", "new_message_id", "now_us"]

# Bounds (TigerBeetle's habit: every queue has a named limit and a reason).
BATCH_VOUCHERS_MAX = 1024  # one commit; large enough to amortize fsync, small enough to keep p99 low
QUEUE_SUBMISSIONS_MAX = 4096  # envelopes waiting for the writer; beyond this senders wait (back-pressure)


def now_us() -> int:
    return time.time_ns() // 1000


def new_message_id() -> str:
    """Time-ordered, unique without coordination: 13 hex digits of µs time + 12 random hex."""
    return f"{now_us():013x}{secrets.token_hex(6)}"


SCHEMA = """
CREATE TABLE IF NOT EXISTS gw_messages (
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
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag)
);
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
CREATE INDEX IF NOT EXISTS gw_outbox_ready ON gw_outbox (recipient, state, seq);
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
CREATE INDEX IF NOT EXISTS gw_trace_msg ON gw_trace (message_id);
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


_TRACE_INSERT = ("INSERT INTO gw_trace (adm_div_code, st_year, vtcode, voucher_no, flag, message_id, step, "
                 "participant, wall_us, business_time, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")


class Journal:
    def __init__(self, db: Any) -> None:
        self.db = db
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue(QUEUE_SUBMISSIONS_MAX)
        self._writer: asyncio.Task[None] | None = None
        self.committed = asyncio.Event()  # set after each commit: wakes deliverers and long polls
        self.commits = 0

    async def init_schema(self) -> None:
        serial = ("INTEGER PRIMARY KEY AUTOINCREMENT" if isinstance(self.db, SqliteDatabase)
                  else "BIGSERIAL PRIMARY KEY")
        await self.db.execute_script(SCHEMA.format(blob=self.db.blob_type, serial=serial))

    async def start(self) -> None:
        await self.init_schema()
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
                     refusals: Sequence[tuple[VoucherKey, str, Issue]] = ()) -> list[JournalResult]:
        if self._writer is None or self._writer.done():
            raise StateError("journal writer is not running")
        future: asyncio.Future[list[JournalResult]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Submission(items, business_time, refusals, future))
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
                results = await self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - every waiting sender learns of it; nothing was acked
                for sub in batch:
                    if not sub.future.done():
                        sub.future.set_exception(StateError(f"journal commit failed: {exc}"))
            else:
                for sub, res in zip(batch, results, strict=True):
                    if not sub.future.done():
                        sub.future.set_result(res)
                self.commits += 1
                self.committed.set()
                self.committed = asyncio.Event()
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Submission]) -> list[list[JournalResult]]:
        out: list[list[JournalResult]] = []
        async with self.db.transaction() as tx:
            for sub in batch:
                res = [await self._one(tx, item, sub.business_time) for item in sub.items]
                for key, sender, issue in sub.refusals:
                    await tx.execute(_TRACE_INSERT, *key, None, "rejected", sender, now_us(),
                                     sub.business_time, f"{issue.code}: {issue.message}")
                out.append(res)
        return out

    async def _one(self, tx: Tx, item: Admitted, business_time: str) -> JournalResult:
        key = item.key
        row = await tx.fetchrow(
            "SELECT id, digest, recipient FROM gw_messages WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 "
            "AND voucher_no=$4 AND flag=$5", *key)
        wall = now_us()
        if row is not None:
            if bytes(row[1]) == item.digest:
                await tx.execute(_TRACE_INSERT, *key, row[0], "duplicate", item.sender, wall, business_time,
                                 "same bytes again: answered with the first acknowledgement")
                return JournalResult("duplicate", key, row[0], row[2])
            issue = Issue("duplicate-conflict", f"voucher {key} was accepted before (message {row[0]}) "
                          "with different content", None, "@VoucherNo")
            await tx.execute(_TRACE_INSERT, *key, row[0], "rejected", item.sender, wall, business_time,
                             f"{issue.code}: {issue.message}")
            return JournalResult("refused", key, None, None, issue)
        recipient, original_id = item.recipient, None
        if key.flag == 1:
            orig = await tx.fetchrow(
                "SELECT id, sender, recipient FROM gw_messages WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 "
                "AND voucher_no=$4 AND flag=0", *key[:4])
            if orig is None or orig[2] != item.sender:
                issue = Issue("unknown-original", f"no original {key.original()} was delivered to {item.sender}; "
                              "a receipt must answer a voucher this gateway carried to its sender", None, "@VoucherNo")
                await tx.execute(_TRACE_INSERT, *key, None, "rejected", item.sender, wall, business_time,
                                 f"{issue.code}: {issue.message}")
                return JournalResult("refused", key, None, None, issue)
            original_id, recipient = orig[0], orig[1]
        assert recipient is not None, "pipeline routes every original"
        message_id = new_message_id()
        await tx.execute(
            "INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
            "recipient, original_id, payload, received_us, business_time) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
            message_id, *key, item.digest, item.sender, recipient, original_id,
            delivery_bytes(item.checked.body), wall, business_time)
        await tx.execute("INSERT INTO gw_outbox (message_id, recipient, state) VALUES ($1, $2, 'ready')",
                         message_id, recipient)
        steps = [("validated", "envelope, XSD and business checks passed"),
                 ("verified", ", ".join(f"{s.no}:{s.sn}" for s in item.checked.body.signatures)),
                 ("authorized", f"{item.sender} → {recipient}"),
                 ("journaled", f"message {message_id}")]
        if original_id:
            steps.append(("linked", f"receipt of message {original_id}"))
        for step, detail in steps:
            await tx.execute(_TRACE_INSERT, *key, message_id, step, item.sender, wall, business_time, detail)
        return JournalResult("accepted", key, message_id, recipient)

    # ------------------------------------------------------------ reads and state changes

    async def trace_event(self, key: VoucherKey, message_id: str | None, step: str, participant: str,
                          business_time: str, detail: str = "") -> None:
        async with self.db.transaction() as tx:
            await tx.execute(_TRACE_INSERT, *key, message_id, step, participant, now_us(), business_time, detail)
