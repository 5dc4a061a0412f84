"""The journal digest: one hash over what the journal holds, the same for the same simulated run."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from storage.db import Database

__all__ = ["DIGEST_PAGE_ROWS", "digest"]

# Rows per read of `journal_digest`: each carries a delivery envelope, and a bank's batch envelope
# runs to tens of KB, so 256 rows were ~13 MB of Python at once in a 30,000-voucher day, which the
# allocator kept afterwards (RSS +9 MB there, +36 MB at 100,000, the run's peak). 16 rows keep a page
# small; the extra queries are index seeks.
DIGEST_PAGE_ROWS = 16
_DIGEST_DOMAIN = b"tgw-journal-digest/v1\n"
_DIGEST_QUERY = ("SELECT o.seq, m.id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, "
                 "m.recipient, m.original_id, m.business_time, o.state, m.payload FROM gw_outbox o "
                 "JOIN gw_messages m ON m.seq = o.seq WHERE o.seq > $1 ORDER BY o.seq LIMIT $2")


def _digest_row(h: Any, values: Sequence[object]) -> None:
    """Feed a row's fields to `h`, each framed (kind, 8-byte length, bytes) so no two different rows
    hash alike; a payload goes in as it is, never copied into one piece with the rest. The short
    fields and frames between two payloads go in as one piece (the same bytes in the same order:
    the hash does not depend on how they are split; an update call each was most of the cost)."""
    pending: list[bytes] = []
    for value in values:
        if value is None:
            pending.append(b"N")
        elif isinstance(value, bytes | bytearray | memoryview):
            pending.append(b"B" + len(value).to_bytes(8, "big"))
            h.update(b"".join(pending))
            pending.clear()
            h.update(value)
        else:
            data = (value if isinstance(value, str) else str(value)).encode("utf-8")
            pending.append(b"S" + len(data).to_bytes(8, "big"))
            pending.append(data)
    if pending:
        h.update(b"".join(pending))


async def digest(db: Database) -> str:
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
        rows = await db.fetch(_DIGEST_QUERY, after, DIGEST_PAGE_ROWS)
        for row in rows:
            _digest_row(h, tuple(row)[1:])
        if len(rows) < DIGEST_PAGE_ROWS:
            return h.hexdigest()
        after = int(rows[-1][0])
