"""Outbox queries: the inbox a participant pulls, push attempts, acks, dead letters, replay.

State of an outbox row: `ready` (to deliver / visible in the inbox) → `acked` by the
recipient, or → `dead` after too many push attempts; `tgw dlq replay` puts it back to `ready`.
A recipient may still ack a `dead` row (it then becomes `acked`, see `Outbox.ack`).

Statements work on batches (`UPDATE ... RETURNING`, which SQLite has since 3.35 and PostgreSQL
always had), never one statement per row.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from client.backoff import backoff
from gateway.journal import TRACE_INSERT
from messages.envelope import VoucherKey
from storage.db import Database, Tx, padded

__all__ = ["DLQ_PAGE_MAX", "InboxItem", "Outbox", "backoff_us"]

T = TypeVar("T")
# Runs an ack's writes in a transaction shared with other writes (`Journal.in_commit`): (work, weight).
InCommit = Callable[[Callable[[Tx], Awaitable[list[str]]], int], Awaitable[list[str]]]

INBOX_PAGE_MAX = 500  # one long-poll answer; a slow client pages instead of one huge response
DLQ_PAGE_MAX = 1000  # dead letters per `tgw dlq list` page; `next` is the cursor to the following page
# Bound parameters per statement stay far below SQLite's (32,766) and PostgreSQL's (32,767) limits.
IDS_PER_STATEMENT_MAX = 1000  # ids in one UPDATE/SELECT ... IN (...)
RECIPIENTS_PER_STATEMENT_MAX = 100  # per-recipient SELECTs joined by UNION ALL into one statement
DUE_PER_RECIPIENT_MAX = 1000  # rows of one recipient in one delivery round (its window caps it lower)


def _chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _marks(first: int, count: int) -> str:
    """`$first, $first+1, ...`: placeholders for an IN list."""
    return ",".join(f"${i}" for i in range(first, first + count))


class InboxItem(NamedTuple):
    """A ready outbox row as its recipient reads it. A named tuple, not a frozen dataclass: one is
    made for every delivery read (and pushed), and a frozen dataclass sets each of its seven fields
    through object.__setattr__. Read by name everywhere."""

    seq: int
    message_id: str
    key: VoucherKey
    sender: str
    recipient: str
    payload: bytes  # one-voucher MOF envelope with the sender's signatures
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.message_id, "voucher": str(self.key), "vtcode": self.key.vtcode,
                "voucher_no": self.key.voucher_no, "flag": self.key.flag, "sender": self.sender,
                "envelope": self.payload.decode("utf-8")}


def backoff_us(attempts: int, *, base_us: int = 500_000, cap_us: int = 300_000_000,
               rng: random.Random | None = None) -> int:
    """Exponential backoff with jitter in µs (0.5 s, 1 s, 2 s ... capped at 5 min): `client.backoff`."""
    return int(backoff(attempts, base=base_us, cap=cap_us, rng=rng))


_ITEM_COLS = ("o.seq, o.message_id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, "
              "o.recipient, m.payload, o.attempts")


# The outbox rows of messages named by id: found through gw_messages' id index, then by seq (the
# outbox has no index on message_id: journal_schema.SHAPES).
_BY_ID = "SELECT seq FROM gw_messages WHERE id IN ({ids})"

# The ack's business time and its place among the trace rows: the `delivered` step is shown from
# the outbox row (`gateway.trace_rows.with_admissions`), no gw_trace row is written for it. The
# subquery runs once per statement (it names no column of the row).
_ACK = ("UPDATE gw_outbox SET state = 'acked', acked_us = $1, acked_time = $3, "
        "acked_after = (SELECT COALESCE(max(id), 0) FROM gw_trace) WHERE recipient = $2 AND state <> 'acked' "
        "AND seq IN (" + _BY_ID + ") RETURNING message_id")


# A named tuple's own `__new__` is a Python function (a frame a call): the rows' records are made
# by tuple.__new__ with every field given, in field order.
_new_tuple = tuple.__new__


def _item(row: Sequence[Any]) -> InboxItem:
    return _new_tuple(InboxItem, (int(row[0]), row[1], _new_tuple(VoucherKey, (row[2], row[3], row[4], row[5],
                                  int(row[6]))), row[7], row[8], bytes(row[9]), int(row[10])))


class Outbox:
    def __init__(self, db: Database, *, on_ready: Callable[[], None] | None = None,
                 in_commit: InCommit | None = None) -> None:
        self.db = db
        self.on_ready = on_ready  # called when rows came ready again (`replay`): long polls read again
        self.in_commit = in_commit  # acks ride the journal's group commit (`Journal.in_commit`)

    async def inbox(self, recipient: str, *, after_seq: int = 0, limit: int = 100) -> list[InboxItem]:
        rows = await self.db.fetch(
            f"SELECT {_ITEM_COLS} FROM gw_outbox o JOIN gw_messages m ON m.seq = o.seq "
            "WHERE o.recipient = $1 AND o.state = 'ready' AND o.seq > $2 ORDER BY o.seq LIMIT $3",
            recipient, after_seq, min(limit, INBOX_PAGE_MAX))
        return [_item(r) for r in rows]

    async def ack(self, recipient: str, message_ids: Sequence[str], *, at_us: int,
                  business_time: str) -> list[str]:
        """Mark delivered (only the recipient's own rows), in one transaction; the row itself holds
        what the trace shows of it (`acked_us`, `acked_time`, `acked_after`).

        Returns the ids that changed, in the order given: an id acked twice, or someone else's,
        changes nothing. One UPDATE ... RETURNING per batch of ids.

        Acking a dead letter is allowed, and makes it `acked`: a dead letter is a push nobody
        acknowledged in time, not one the recipient refused. A slow recipient may well ack it
        after the last attempt timed out; it has the message, and keeping the row dead would
        make an operator's `tgw dlq replay` deliver it a second time.
        """
        ids = list(dict.fromkeys(message_ids))
        if self.in_commit is not None:
            return await self.in_commit(lambda tx: self._ack(tx, recipient, ids, at_us, business_time), len(ids))
        async with self.db.transaction() as tx:
            return await self._ack(tx, recipient, ids, at_us, business_time)

    @staticmethod
    async def _ack(tx: Tx, recipient: str, ids: list[str], at_us: int, business_time: str) -> list[str]:
        changed_set: set[str] = set()
        for chunk in _chunks(ids, IDS_PER_STATEMENT_MAX):
            chunk = padded(chunk, IDS_PER_STATEMENT_MAX)  # one of a few statement shapes
            rows = await tx.fetch(_ACK.format(ids=_marks(4, len(chunk))), at_us, recipient, business_time, *chunk)
            changed_set.update(r[0] for r in rows)
        return [mid for mid in ids if mid in changed_set]

    async def claim(self, retries: Sequence[tuple[InboxItem, int]], *, now_us: int,
                    business_time: str) -> list[str]:
        """Claim each (item, retry time) for one push attempt, and trace it, in one transaction.

        A row is claimed only if still due: with several gateway workers on one database, the
        first to claim pushes it and the others skip it until its retry time. Returns the
        claimed ids. One UPDATE ... RETURNING per batch (the retry times in a CASE).
        """
        claimed: list[str] = []
        if not retries:
            return claimed
        items = {item.message_id: item for item, _ in retries}
        trace = []
        async with self.db.transaction() as tx:
            for chunk in _chunks(list(retries), IDS_PER_STATEMENT_MAX // 2):
                params: list[Any] = [now_us]
                cases = []
                for item, retry_at_us in chunk:
                    cases.append(f"WHEN ${len(params) + 1} THEN CAST(${len(params) + 2} AS BIGINT)")
                    params += [item.message_id, retry_at_us]
                ids = ",".join(f"${i}" for i in range(2, len(params) + 1, 2))
                rows = await tx.fetch(
                    "UPDATE gw_outbox SET attempts = attempts + 1, next_attempt_us = CASE message_id "
                    f"{' '.join(cases)} END WHERE state = 'ready' AND next_attempt_us <= $1 "
                    f"AND seq IN ({_BY_ID.format(ids=ids)}) "
                    "RETURNING message_id, attempts", *params)
                for mid, attempts in rows:
                    item = items[mid]
                    claimed.append(mid)
                    trace.append((*item.key, mid, "pushed", item.recipient, now_us, business_time,
                                  f"attempt {attempts}"))
            if trace:  # the transaction's last statement: written with its COMMIT (SQLite: off the loop)
                await tx.executemany_deferred(TRACE_INSERT, trace)
        order = {mid: i for i, mid in enumerate(items)}
        return sorted(claimed, key=order.__getitem__)

    async def due(self, limits: Mapping[str, int], *, now_us: int) -> dict[str, list[InboxItem]]:
        """Rows due for a push, oldest first, at most `limits[recipient]` of each recipient.

        Each recipient has its own limit (its free push window), so a recipient with thousands
        of rows due never takes the places of another: one SELECT per recipient, joined with
        UNION ALL into one statement.
        """
        wanted = [(r, min(n, DUE_PER_RECIPIENT_MAX)) for r, n in limits.items() if n > 0]
        out: dict[str, list[InboxItem]] = {}
        for chunk in _chunks(wanted, RECIPIENTS_PER_STATEMENT_MAX):
            params: list[Any] = [now_us]
            parts = []
            for i, (recipient, limit) in enumerate(chunk):
                parts.append(f"SELECT * FROM (SELECT {_ITEM_COLS} FROM gw_outbox o JOIN gw_messages m "
                             f"ON m.seq = o.seq WHERE o.recipient = ${len(params) + 1} AND o.state = 'ready' "
                             f"AND o.next_attempt_us <= $1 ORDER BY o.seq LIMIT ${len(params) + 2}) AS d{i}")
                params += [recipient, limit]
            for row in await self.db.fetch(" UNION ALL ".join(parts), *params):
                item = _item(row)
                out.setdefault(item.recipient, []).append(item)
        for batch in out.values():
            batch.sort(key=lambda i: i.seq)
        return out

    async def settled(self, message_ids: Sequence[str]) -> set[str]:
        """Those of the ids no longer waiting for delivery (acked or dead), e.g. on another worker."""
        done: set[str] = set()
        for chunk in _chunks(list(message_ids), IDS_PER_STATEMENT_MAX):
            rows = await self.db.fetch("SELECT message_id FROM gw_outbox WHERE state <> 'ready' "
                                       f"AND seq IN ({_BY_ID.format(ids=_marks(1, len(chunk)))})", *chunk)
            done.update(r[0] for r in rows)
        return done

    async def kill(self, item: InboxItem, error: str, *, at_us: int, business_time: str) -> bool:
        """Dead-letter a ready row and trace it, in one transaction; False (and no trace event)
        if the row was no longer ready (acked meanwhile, or dead-lettered by another worker)."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow("UPDATE gw_outbox SET state = 'dead', last_error = $1 "
                                    f"WHERE seq IN ({_BY_ID.format(ids='$2')}) AND state = 'ready' RETURNING message_id",
                                    error, item.message_id)
            if row is None:
                return False
            await tx.execute(TRACE_INSERT, *item.key, item.message_id, "dead-lettered", item.recipient, at_us,
                             business_time, error)
            return True

    async def dead(self, limit: int = DLQ_PAGE_MAX) -> list[dict[str, Any]]:
        """The first dead letters (see `dead_page` to page through all of them)."""
        page = await self.dead_page(limit=limit)
        items: list[dict[str, Any]] = page["items"]
        return items

    async def dead_page(self, *, limit: int = DLQ_PAGE_MAX, after_seq: int = 0) -> dict[str, Any]:
        """One page of dead letters in outbox order after `after_seq`: {"total", "items", "next"}.

        `total` counts every dead letter; `next` is the cursor for the following page (the last
        item's seq), null on the last page.
        """
        limit = max(1, min(limit, DLQ_PAGE_MAX))
        rows = await self.db.fetch(
            "SELECT o.message_id, o.recipient, o.attempts, o.last_error, m.adm_div_code, m.st_year, m.vtcode, "
            "m.voucher_no, m.flag, o.seq, m.sender FROM gw_outbox o JOIN gw_messages m ON m.seq = o.seq "
            "WHERE o.state = 'dead' AND o.seq > $1 ORDER BY o.seq LIMIT $2", after_seq, limit + 1)
        total_row = await self.db.fetchrow("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'")
        # A key alone does not name a voucher (each sender numbers its own): the sender goes with it.
        items = [{"seq": int(r[9]), "id": r[0], "sender": r[10], "recipient": r[1], "attempts": r[2],
                  "last_error": r[3], "voucher": str(VoucherKey(r[4], r[5], r[6], r[7], int(r[8])))}
                 for r in rows[:limit]]
        more = len(rows) > limit
        return {"total": int(total_row[0]) if total_row else 0, "items": items,
                "next": items[-1]["seq"] if more and items else None}

    async def replay(self, message_ids: Sequence[str] | None = None) -> int:
        """Dead letters back to `ready` with a fresh attempt budget (all of them when ids is None)."""
        replayed = await self._replay(message_ids)
        if replayed and self.on_ready is not None:
            self.on_ready()
        return replayed

    async def _replay(self, message_ids: Sequence[str] | None) -> int:
        async with self.db.transaction() as tx:
            if message_ids is None:
                replayed: int = await tx.execute(
                    "UPDATE gw_outbox SET state = 'ready', attempts = 0, next_attempt_us = 0 WHERE state = 'dead'")
                return replayed
            total = 0
            for chunk in _chunks(list(dict.fromkeys(message_ids)), IDS_PER_STATEMENT_MAX):
                total += await tx.execute("UPDATE gw_outbox SET state = 'ready', attempts = 0, next_attempt_us = 0 "
                                          f"WHERE state = 'dead' AND seq IN ({_BY_ID.format(ids=_marks(1, len(chunk)))})",
                                          *chunk)
            return total

    async def counts(self) -> dict[str, int]:
        """Rows by state, acked ones included: reads every row ever delivered (tests and tools;
        what runs again and again asks `backlog`)."""
        rows = await self.db.fetch("SELECT state, COUNT(*) FROM gw_outbox GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}

    async def backlog(self) -> dict[str, int]:
        """The rows waiting for delivery and the dead letters, by state (those with none left out):
        each counted on its partial index (gw_outbox_pending, gw_outbox_dead), so the cost follows
        the backlog and the dead letters, not the journal (what `/healthz` shows)."""
        row = await self.db.fetchrow("SELECT (SELECT COUNT(*) FROM gw_outbox WHERE state = 'ready'), "
                                     "(SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead')")
        assert row is not None
        return {k: int(v) for k, v in zip(("ready", "dead"), row, strict=True) if v}
