"""The rows of gw_trace as the trace API shows them.

An accepted message's admission is stored as one trace row (step `ADMITTED_STEP`, detail: its
seals), not one row per step: four or five rows per message were the journal's costliest
statement. `expand_trace` shows it as the steps it stands for, from the message row
(`admitted_steps`); every other row is shown as stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ADMITTED_STEP", "admitted_steps", "expand_trace"]

ADMITTED_STEP = "admitted"


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
