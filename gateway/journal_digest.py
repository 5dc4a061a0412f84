"""The journal digest: one hash over what the journal holds, the same for the same simulated run."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from storage.db import Database

__all__ = ["DIGEST_PAGE_ROWS", "digest"]

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
            h.update(_digest_row(tuple(row)[1:]))
        if len(rows) < DIGEST_PAGE_ROWS:
            return h.hexdigest()
        after = int(rows[-1][0])
