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


# A short field's frame as text: "S" and its 8-byte length, each byte one latin-1 character.
_TEXT_HEADS = tuple("S" + n.to_bytes(8, "big").decode("latin-1") for n in range(256))


def _digest_row(h: Any, values: Sequence[object]) -> None:
    """Feed a row's fields to `h`, each framed (kind, 8-byte length, bytes) so no two different rows
    hash alike; a payload goes in as it is, never copied into one piece with the rest. The short
    fields and frames between two payloads go in as one piece (the same bytes in the same order:
    the hash does not depend on how they are split; an update call each was most of the cost).
    That piece is built as text whose latin-1 bytes are the frames: an ASCII field is its own
    bytes (the usual case: no encode, no bytes concatenation a field), any other field is its
    UTF-8 bytes read as latin-1, so the bytes hashed are those of the definition."""
    pending: list[str] = []
    for value in values:
        if value.__class__ is str and value.isascii() and len(value) < 256:  # most fields: one test
            pending += (_TEXT_HEADS[len(value)], value)
        elif value is None:
            pending.append("N")
        elif isinstance(value, bytes | bytearray | memoryview):
            pending.append("B" + len(value).to_bytes(8, "big").decode("latin-1"))
            h.update("".join(pending).encode("latin-1"))
            pending.clear()
            h.update(value)
        else:
            text = value if isinstance(value, str) else str(value)
            if not text.isascii():
                text = text.encode("utf-8").decode("latin-1")
            n = len(text)
            pending.append(_TEXT_HEADS[n] if n < 256 else "S" + n.to_bytes(8, "big").decode("latin-1"))
            pending.append(text)
    if pending:
        h.update("".join(pending).encode("latin-1"))


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
