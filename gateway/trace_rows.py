"""The rows of gw_trace as the trace API shows them.

An accepted message's admission has no trace row of its own: the message row holds what its steps
show (sender, recipient, times, the seals in its payload) and, in `trace_after`, the largest
gw_trace id when its commit began, so `with_admissions` places it right after that row, where the
row the journal used to write would have stood: after everything earlier commits wrote, before
what its own commit and later ones wrote (a row per message cost its commit a table page and an
index page). Journals written before hold one `ADMITTED_STEP` row per accepted message (and before
that, a row per step); `expand_trace` shows either as the steps it stands for (`admitted_steps`);
every other row is shown as stored.

A delivery has no trace row either (rows acked before do): the outbox row holds the ack's time, its
business time and, in `acked_after`, the largest gw_trace id when it was written, and
`with_admissions` shows its `DELIVERED_STEP` there. Two steps placed after the same row stand in
the order of their wall times (the admission's decision, the ack), as they happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messages.envelope import parse_envelope
from messages.errors import InputError

__all__ = ["ADMITTED_STEP", "DELIVERED_DETAIL", "DELIVERED_STEP", "admitted_steps", "expand_trace", "seals_of",
           "with_admissions"]

ADMITTED_STEP = "admitted"
DELIVERED_STEP = "delivered"
DELIVERED_DETAIL = "acknowledged by the recipient"


def admitted_steps(message_id: str, sender: str, recipient: str, original_id: str | None,
                   seals: str) -> list[tuple[str, str]]:
    """(step, detail) of an accepted message's admission, as `ADMITTED_STEP`'s row stands for them."""
    steps = [("validated", "envelope, XSD and business checks passed"),
             ("verified", seals),
             ("authorized", f"{sender} → {recipient}"),
             ("journaled", f"message {message_id}")]
    if original_id:
        steps.append(("linked", f"receipt of message {original_id}"))
    return steps


def expand_trace(rows: Sequence[Sequence[Any]],
                 messages: dict[str, tuple[str, str, str | None]]) -> list[tuple[Any, ...]]:
    """Trace rows (flag, message_id, step, participant, wall_us, business_time, detail) with each
    `ADMITTED_STEP` row shown as its steps; `messages`: id → (sender, recipient, original_id)."""
    out: list[tuple[Any, ...]] = []
    for r in rows:
        message = messages.get(r[1]) if r[2] == ADMITTED_STEP else None
        if message is None:
            out.append(tuple(r))
            continue
        out.extend((r[0], r[1], step, r[3], r[4], r[5], detail)
                   for step, detail in admitted_steps(r[1], *message, r[6]))
    return out


def seals_of(payload: bytes) -> str:
    """The seals of a journaled payload (a one-voucher envelope) as the admission's detail shows
    them: "No:SN" in the envelope's order."""
    try:
        bodies = parse_envelope(payload).bodies
    except InputError:  # the journal wrote it from a parse; never expected
        return ""
    return ", ".join(f"{s.no}:{s.sn}" for b in bodies[:1] for s in b.signatures)


def with_admissions(rows: Sequence[Sequence[Any]], messages: Sequence[Sequence[Any]],
                    deliveries: Sequence[Sequence[Any]] = ()) -> list[tuple[Any, ...]]:
    """Trace rows (id, flag, message_id, step, participant, wall_us, business_time, detail), in id
    order, with an `ADMITTED_STEP` row for each message placed by its `trace_after` and a
    `DELIVERED_STEP` row for each delivery placed by its `acked_after`, without ids;
    `messages`: (id, sender, flag, received_us, business_time, trace_after, payload);
    `deliveries`: (message id, flag, recipient, acked_us, acked_time, acked_after). A message
    without `trace_after` (journaled before) has its own row among `rows` already, and so has a
    delivery acked before `acked_after` was kept (it is not among `deliveries`)."""
    keyed: list[tuple[tuple[int, int, int, str], tuple[Any, ...]]] = [
        ((int(r[0]), 0, 0, ""), tuple(r[1:])) for r in rows]
    keyed += [((int(m[5]), 1, int(m[3]), m[0]), (m[2], m[0], ADMITTED_STEP, m[1], m[3], m[4], seals_of(bytes(m[6]))))
              for m in messages if m[5] is not None]
    keyed += [((int(d[5]), 1, int(d[3]), d[0]), (d[1], d[0], DELIVERED_STEP, d[2], d[3], d[4], DELIVERED_DETAIL))
              for d in deliveries if d[5] is not None]
    keyed.sort(key=lambda k: k[0])
    return [row for _, row in keyed]
