"""A demo or fault run whose last day is the calendar's last known day (docs/calendar.md).

Such a run has no replenishment morning: the business day after the calendar's last is unknown,
and the calendar never guesses it. The run goes on to the last instant the calendar knows; what
only that unknown morning could settle (the last day's advances replenished, their clearing) is
listed as *not judged*, each entry naming the check and the day it wanted ("the business day
after 2026-12-31"), never a guessed date. The money invariants are still checked, with the last
day's advances standing out of their reserves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from business_time.calendar import OUT_OF_RANGE, BusinessCalendar

__all__ = ["NotJudged", "outstanding_advances", "pending_past", "run_end", "unknown_day_breaks", "with_final"]


def with_final(run_days: Sequence[dt.date], final_day: dt.date | None) -> list[dt.date]:
    """The run's business days and its replenishment morning, when the calendar knows one."""
    return [*run_days, final_day] if final_day is not None else list(run_days)


def run_end(calendar: BusinessCalendar, clock_config: Any, final_day: dt.date | None) -> dt.datetime:
    """Where the run stops: the replenishment day's system close, else the calendar's last instant
    (its last day runs to its end; nothing simulated runs past it)."""
    from business_time.clock import at, calendar_end

    if final_day is not None:
        return at(final_day, clock_config.bank_system_close)
    return calendar_end(calendar) - dt.timedelta(microseconds=1)


class NotJudged:
    """The checks a run could not judge, because they need the business day after `after`."""

    def __init__(self, after: dt.date) -> None:
        self.after = after
        self.entries: list[dict[str, str]] = []

    @property
    def wanted(self) -> str:
        return f"the business day after {self.after.isoformat()}"

    def add(self, check: str, detail: str) -> None:
        """`check` not judged: `detail` says what it would have judged on the unknown day."""
        self.entries.append({"check": check, "code": OUT_OF_RANGE, "wanted": self.wanted,
                             "after": self.after.isoformat(), "detail": detail})


def outstanding_advances(bcores: dict[str, Any], last: dt.date, final_day: dt.date | None) -> dict[str, int]:
    """Bank id → fen of the advances it paid on `last` that stand unreplenished because their
    replenishment morning lies past the calendar (`final_day` None); {} when that morning is known."""
    if final_day is not None:
        return {}
    return {bid: sum(p.amount_fen for p in core.payments.values()
                     if p.day == last and p.mode == "advance" and p.filing is None) for bid, core in bcores.items()}


def unknown_day_breaks(breaks: Iterable[Any], last: dt.date) -> tuple[list[Any], list[Any]]:
    """(judged, not judged) of a reconciliation's breaks: an advance of the calendar's last day in no
    clearing request yet is not a break, its replenishment being past the calendar."""
    judged: list[Any] = []
    waiting: list[Any] = []
    for b in breaks:
        (waiting if b.cause == "not-cleared" and b.day == last and "(advance)" in b.detail else judged).append(b)
    return judged, waiting


def pending_past(cards: Iterable[dict[str, Any]], last: dt.date) -> list[dict[str, str]]:
    """The scorecard's duties due past the calendar (they count in the month after `last`, due at
    the calendar's end: runner.scorecard_feed) and still pending: one entry per bank, not judged."""
    unknown = NotJudged(last)
    month = f"{last:%Y-%m}"
    for card in cards:
        pending = [f"{d['kind']} {d['pending']}" for d in card["duties"] if d["pending"]]
        if card["month"] > month and pending:
            unknown.add("scorecard", f"{card['bank']}'s duties due on it, pending: {', '.join(pending)}")
    return unknown.entries
