"""What a participant may read of messages and voucher traces (`Gateway.message`, `Gateway.trace`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.participants import Participant
from gateway.trace_rows import expand_trace, with_admissions
from messages.envelope import VoucherKey
from storage.db import Database

__all__ = ["read_message", "read_trace", "storable"]


def storable(text: str) -> bool:
    """Text either database can hold: no NUL (PostgreSQL text refuses it), no lone surrogate
    (not encodable as UTF-8, SQLite refuses it). Ids and keys the gateway made never fail this."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_message(db: Database, participant: Participant, message_id: str) -> dict[str, Any] | None:
    """A message the participant sent or received; None otherwise (404 either way: no leaks)."""
    if not storable(message_id):
        return None
    row = await db.fetchrow(
        "SELECT m.id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, m.recipient, "
        "m.original_id, m.received_us, m.business_time, o.state, o.attempts, m.payload FROM gw_messages m "
        "JOIN gw_outbox o ON o.seq = m.seq WHERE m.id = $1", message_id)
    if row is None or participant.id not in (row[6], row[7]):
        return None
    key = VoucherKey(row[1], row[2], row[3], row[4], int(row[5]))
    return {"id": row[0], "voucher": str(key), "vtcode": key.vtcode, "voucher_no": key.voucher_no,
            "flag": key.flag, "sender": row[6], "recipient": row[7], "original_id": row[8],
            "received_us": row[9], "business_time": row[10], "delivery_state": row[11], "attempts": row[12],
            "envelope": bytes(row[13]).decode("utf-8")}


async def read_trace(db: Database, participant: Participant, adm_div_code: str, st_year: str, vtcode: str,
                     voucher_no: str) -> list[dict[str, Any]] | None:
    """Events of a voucher and its receipt, if the participant is a party to it, or the
    treasury of its AdmDivCode (the dashboard's region view: a bank's clearing request too)."""
    if not all(storable(v) for v in (adm_div_code, st_year, vtcode, voucher_no)):
        return None
    # Two participants may each have a voucher under this key (keys are scoped by owner, see
    # gateway.journal): the caller sees the vouchers of every owner it exchanged a message
    # with under the key (the original and its receipt), and nothing of anyone else's. The
    # treasury of the AdmDivCode sees them all (the dashboard's region view).
    messages = await db.fetch(
        "SELECT m.id, m.sender, m.recipient, m.owner, m.original_id, m.flag, m.received_us, m.business_time, "
        "m.trace_after, m.payload, o.recipient, o.acked_us, o.acked_time, o.acked_after FROM gw_messages m "
        "LEFT JOIN gw_outbox o ON o.seq = m.seq "
        "WHERE m.adm_div_code=$1 AND m.st_year=$2 AND m.vtcode=$3 AND m.voucher_no=$4",
        adm_div_code, st_year, vtcode, voucher_no)
    region = participant.role == "treasury" and adm_div_code in participant.adm_div_codes
    owners = {m[3] for m in messages if region or participant.id in (m[1], m[2])}
    visible = {m[0]: (m[1], m[2]) for m in messages if m[3] in owners}
    rows = await db.fetch(
        "SELECT id, flag, message_id, step, participant, wall_us, business_time, detail FROM gw_trace "
        "WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 AND voucher_no=$4 ORDER BY id",
        adm_div_code, st_year, vtcode, voucher_no)
    # An event of no message (a refused attempt) is shown to the one who made it, and to the
    # region's treasury once the key holds a voucher.
    others_refused = region and bool(messages)
    rows = [r for r in rows if (r[2] in visible if r[2] is not None else others_refused or r[4] == participant.id)]
    admissions = [(m[0], m[1], m[5], m[6], m[7], m[8], m[9]) for m in messages if m[0] in visible]
    deliveries = [(m[0], m[5], m[10], m[11], m[12], m[13]) for m in messages if m[0] in visible and m[13] is not None]
    rows = expand_trace(with_admissions(rows, admissions, deliveries), {m[0]: (m[1], m[2], m[4]) for m in messages})
    if not rows:
        return None
    return [{"flag": r[0], "message_id": r[1], "step": r[2], "participant": r[3],
             "sender": visible[r[1]][0] if r[1] is not None else r[3],
             "recipient": visible[r[1]][1] if r[1] is not None else None,
             "wall_time": dt.datetime.fromtimestamp(r[4] / 1e6, dt.UTC).isoformat(),
             "business_time": r[5], "detail": r[6]} for r in rows]
