"""Outbox queries: the inbox a participant pulls, push attempts, acks, dead letters, replay.

State of an outbox row: `ready` (to deliver / visible in the inbox) → `acked` by the
recipient, or → `dead` after too many push attempts; `tgw dlq replay` puts it back to `ready`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.journal import TRACE_INSERT
from messages.envelope import VoucherKey

__all__ = ["InboxItem", "Outbox", "backoff_us"]

INBOX_PAGE_MAX = 500  # one long-poll answer; a slow client pages instead of one huge response


@dataclass(frozen=True, slots=True)
class InboxItem:
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
    """Exponential backoff with full jitter (0.5 s, 1 s, 2 s ... capped at 5 min)."""
    ceiling = min(cap_us, base_us * (2 ** max(0, attempts - 1)))
    return int((rng or random).uniform(ceiling / 2, ceiling))


_ITEM_COLS = ("o.seq, o.message_id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, "
              "o.recipient, m.payload, o.attempts")


def _item(row: Sequence[Any]) -> InboxItem:
    return InboxItem(int(row[0]), row[1], VoucherKey(row[2], row[3], row[4], row[5], int(row[6])), row[7],
                     row[8], bytes(row[9]), int(row[10]))


class Outbox:
    def __init__(self, db: Any) -> None:
        self.db = db

    async def inbox(self, recipient: str, *, after_seq: int = 0, limit: int = 100) -> list[InboxItem]:
        rows = await self.db.fetch(
            f"SELECT {_ITEM_COLS} FROM gw_outbox o JOIN gw_messages m ON m.id = o.message_id "
            "WHERE o.recipient = $1 AND o.state = 'ready' AND o.seq > $2 ORDER BY o.seq LIMIT $3",
            recipient, after_seq, min(limit, INBOX_PAGE_MAX))
        return [_item(r) for r in rows]

    async def ack(self, recipient: str, message_ids: Sequence[str], *, at_us: int,
                  business_time: str) -> list[str]:
        """Mark delivered (only the recipient's own rows) and trace it, in one transaction.

        Returns the ids that changed: an id acked twice, or someone else's, changes nothing.
        """
        changed: list[str] = []
        async with self.db.transaction() as tx:
            for mid in dict.fromkeys(message_ids):
                n = await tx.execute("UPDATE gw_outbox SET state = 'acked', acked_us = $1 "
                                     "WHERE message_id = $2 AND recipient = $3 AND state <> 'acked'",
                                     at_us, mid, recipient)
                if n:
                    changed.append(mid)
            trace = []
            for mid in changed:
                row = await tx.fetchrow("SELECT adm_div_code, st_year, vtcode, voucher_no, flag FROM gw_messages "
                                        "WHERE id = $1", mid)
                if row is not None:
                    trace.append((row[0], row[1], row[2], row[3], int(row[4]), mid, "delivered", recipient,
                                  at_us, business_time, "acknowledged by the recipient"))
            if trace:
                await tx.executemany(TRACE_INSERT, trace)
        return changed

    async def claim(self, retries: Sequence[tuple[InboxItem, int]], *, now_us: int,
                    business_time: str) -> list[str]:
        """Claim each (item, retry time) for one push attempt, and trace it, in one transaction.

        A row is claimed only if still due: with several gateway workers on one database, the
        first to claim pushes it and the others skip it until its retry time. Returns the
        claimed ids.
        """
        claimed: list[str] = []
        if not retries:
            return claimed
        trace = []
        async with self.db.transaction() as tx:
            for item, retry_at_us in retries:
                n = await tx.execute("UPDATE gw_outbox SET attempts = attempts + 1, next_attempt_us = $2 "
                                     "WHERE message_id = $1 AND state = 'ready' AND next_attempt_us <= $3",
                                     item.message_id, retry_at_us, now_us)
                if n:
                    claimed.append(item.message_id)
                    trace.append((*item.key, item.message_id, "pushed", item.recipient, now_us, business_time,
                                  f"attempt {item.attempts + 1}"))
            if trace:
                await tx.executemany(TRACE_INSERT, trace)
        return claimed

    async def due(self, recipients: Sequence[str], *, now_us: int, limit: int = 256) -> list[InboxItem]:
        if not recipients:
            return []
        marks = ",".join(f"${i}" for i in range(3, 3 + len(recipients)))
        rows = await self.db.fetch(
            f"SELECT {_ITEM_COLS} FROM gw_outbox o JOIN gw_messages m ON m.id = o.message_id "
            f"WHERE o.state = 'ready' AND o.next_attempt_us <= $1 AND o.recipient IN ({marks}) "
            "ORDER BY o.seq LIMIT $2", now_us, limit, *recipients)
        return [_item(r) for r in rows]

    async def kill(self, message_id: str, error: str) -> bool:
        async with self.db.transaction() as tx:
            return bool(await tx.execute("UPDATE gw_outbox SET state = 'dead', last_error = $1 "
                                         "WHERE message_id = $2 AND state = 'ready'", error, message_id))

    async def dead(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT o.message_id, o.recipient, o.attempts, o.last_error, m.adm_div_code, m.st_year, m.vtcode, "
            "m.voucher_no, m.flag FROM gw_outbox o JOIN gw_messages m ON m.id = o.message_id "
            "WHERE o.state = 'dead' ORDER BY o.seq LIMIT $1", limit)
        return [{"id": r[0], "recipient": r[1], "attempts": r[2], "last_error": r[3],
                 "voucher": str(VoucherKey(r[4], r[5], r[6], r[7], int(r[8])))} for r in rows]

    async def replay(self, message_ids: Sequence[str] | None = None) -> int:
        """Dead letters back to `ready` with a fresh attempt budget (all of them when ids is None)."""
        async with self.db.transaction() as tx:
            if message_ids is None:
                replayed: int = await tx.execute(
                    "UPDATE gw_outbox SET state = 'ready', attempts = 0, next_attempt_us = 0 WHERE state = 'dead'")
                return replayed
            total = 0
            for mid in message_ids:
                total += await tx.execute("UPDATE gw_outbox SET state = 'ready', attempts = 0, "
                                          "next_attempt_us = 0 WHERE state = 'dead' AND message_id = $1", mid)
            return total

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT state, COUNT(*) FROM gw_outbox GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}
