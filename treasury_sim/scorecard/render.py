"""The scorecard rendered: a plain-text table per bank-month, or JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from treasury_sim.scorecard.cards import BankMonth

__all__ = ["render_json", "render_text"]

_COLUMNS = ("duty", "counted", "on time", "late", "missing", "bdays late", "errors", "faulty", "pending", "-pts")


def render_text(cards: Iterable[BankMonth]) -> str:
    """A short plain-text table per bank-month."""
    out: list[str] = []
    for card in cards:
        flag = ("  FLAGGED" if card.flagged else "") + (f"  STAGE {card.stage}" if card.stage else "")
        out.append(f"bank {card.bank}  {card.year:04d}-{card.month:02d}  score {card.score}/{card.max_points}  "
                   f"on time {card.timeliness_pct}%  accurate {card.accuracy_pct}%  ({card.size}){flag}")
        widths = [max(len(_COLUMNS[0]), *(len(line.kind) for line in card.lines))] + [len(c) for c in _COLUMNS[1:]]
        out.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(_COLUMNS, widths, strict=True))))
        for line in card.lines:
            cells = (line.kind, line.counted, line.on_time, line.late, line.missing, line.business_days_late,
                     line.errors, line.faulty, line.pending, line.deducted)
            out.append("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                        for i, (c, w) in enumerate(zip(cells, widths, strict=True))))
        out.extend(f"  ! {f}" for f in card.flags)
    return "\n".join(out) + ("\n" if out else "")


def render_json(cards: Iterable[BankMonth]) -> list[dict[str, Any]]:
    """JSON-ready: one dict per bank-month."""
    return [card.as_dict() for card in cards]
