"""A bank's month scored (`score_month`), and every bank-month of a run with the stages carried
(`scorecard`). Pure: a function of duty events, the business calendar and the rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from business_time.calendar import BusinessCalendar
from business_time.clock import to_local
from treasury_sim.scorecard.cards import BankMonth, DutyLine
from treasury_sim.scorecard.duties import (
    DutyEvent,
    Incident,
    bank_sizes,
    business_days_late,
    is_late,
    month_of,
)
from treasury_sim.scorecard.rules import (
    CATEGORY_OF,
    DUTY_KINDS,
    RULES,
    Category,
    DutyKind,
    ScoringRules,
    Size,
    Stage,
)
from treasury_sim.scorecard.stages import Stages, advance, carry, category_counts, complained

__all__ = ["score_month", "scorecard"]


@dataclass(slots=True)
class _Tally:
    counted: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    days_late: int = 0
    errors: int = 0
    faulty: int = 0
    pending: int = 0
    deducted: int = 0


def _tally(events: Iterable[DutyEvent], bank: str, year: int, month: int, calendar: BusinessCalendar,
           rules: ScoringRules, size: Size, as_of: dt.datetime | None) -> tuple[tuple[DutyLine, ...], dict[Category, int]]:
    """The month's duty lines of `bank` (DUTY_KINDS order) and its complaints by category."""
    tallies: dict[DutyKind, _Tally] = {}
    complaints: dict[Category, int] = {}
    for e in events:
        if e.bank != bank or month_of(e) != (year, month):
            continue
        tally = tallies.setdefault(e.kind, _Tally())
        if not e.accurate:  # charged whether or not it is late: lateness never makes it cheaper
            tally.errors += 1
            tally.deducted += rules.error.points(size)
        if e.faulty:
            tally.faulty += 1
            tally.deducted += rules.faulty.points(size)
        done = e.done if e.done is not None and (as_of is None or e.done <= as_of) else None
        if done is None and as_of is not None and not is_late(e.due, as_of):
            tally.pending += 1
            if e.complained:
                complaints[CATEGORY_OF[e.kind]] = complaints.get(CATEGORY_OF[e.kind], 0) + 1
            continue
        tally.counted += 1
        late = done is None or is_late(e.due, done)
        if complained(e, late):
            complaints[CATEGORY_OF[e.kind]] = complaints.get(CATEGORY_OF[e.kind], 0) + 1
        if done is None:
            tally.late += 1
            tally.missing += 1
            tally.deducted += rules.missing.points(size)
        elif late:
            days = business_days_late(e.due, done, calendar)
            tally.late += 1
            tally.days_late += days
            tally.deducted += min(rules.late.points(size) + days * rules.per_business_day_late.points(size),
                                  rules.late_cap.points(size))
        else:
            tally.on_time += 1
    lines = tuple(DutyLine(kind, t.counted, t.on_time, t.late, t.missing, t.days_late, t.errors, t.faulty, t.pending,
                           t.deducted) for kind in DUTY_KINDS if (t := tallies.get(kind)) is not None)
    return lines, complaints


def score_month(events: Iterable[DutyEvent], bank: str, year: int, month: int, calendar: BusinessCalendar,
                rules: ScoringRules = RULES, *, size: Size = "small", as_of: dt.datetime | None = None,
                incidents: Iterable[Incident] = (), before: Stages | None = None) -> BankMonth:
    """The scorecard of `bank` for one month, from the events (others are ignored). `as_of`: the
    time the card is drawn up; None: everything is final (a duty not done is missing).
    `before`: the stages the bank was in before this month (`scorecard` carries them)."""
    lines, complaints = _tally(events, bank, year, month, calendar, rules, size, as_of)
    late_by_category: dict[str, int] = {}
    for line in lines:
        category = CATEGORY_OF[line.kind]
        late_by_category[category] = late_by_category.get(category, 0) + line.late
    by_incident: dict[str, int] = {}
    incident_points = 0
    for i in incidents:
        if i.bank != bank or (to_local(i.at).year, to_local(i.at).month) != (year, month):
            continue
        by_incident[i.kind] = by_incident.get(i.kind, 0) + 1
        incident_points += (rules.lost_voucher if i.kind == "lost-voucher" else rules.account_without_notice).points(size)
    counts = category_counts(complaints, late_by_category, lines, by_incident)
    stages, flags = advance(counts, before, year, month, rules)
    flag_points = len(flags) * rules.flag.points(size)
    deducted = sum(line.deducted for line in lines) + incident_points + flag_points
    return BankMonth(bank, year, month, size, lines, late_by_category, tuple(flags),
                     max(0, rules.max_points - deducted), rules.max_points, flag_points,
                     {c: n for c, n in counts.items() if n}, stages, by_incident, deducted)


def scorecard(events: Iterable[DutyEvent], calendar: BusinessCalendar, rules: ScoringRules = RULES, *,
              large_banks: frozenset[str] = frozenset(), as_of: dt.datetime | None = None,
              incidents: Iterable[Incident] = (),
              volumes: Mapping[str, tuple[int, int]] | None = None) -> list[BankMonth]:
    """Every (bank, month) the events or incidents touch, sorted by bank then month; the stages
    carried from month to month. A bank in `large_banks`, or large by `volumes` (bank → (amount
    in fen, count), `bank_sizes`), is deducted at the lower bound."""
    incidents = list(incidents)
    large = set(large_banks) | {b for b, size in bank_sizes(volumes or {}).items() if size == "large"}
    # each event in its card's list, in order, its month worked out once: a card's `score_month` walks
    # its own events, not every bank's and month's again (a duty a payment: the cards of a busy day
    # walked hundreds of thousands of events each)
    by_card: dict[tuple[str, int, int], list[DutyEvent]] = {}
    for e in events:
        by_card.setdefault((e.bank, *month_of(e)), []).append(e)
    keys = sorted({*by_card, *((i.bank, to_local(i.at).year, to_local(i.at).month) for i in incidents)})
    cards: list[BankMonth] = []
    carried: dict[str, dict[Category, tuple[Stage, tuple[int, int]]]] = {}
    for bank, year, month in keys:
        card = score_month(by_card.get((bank, year, month), ()), bank, year, month, calendar, rules, as_of=as_of,
                           incidents=incidents, size="large" if bank in large else "small",
                           before=carried.get(bank, {}))
        carried[bank] = carry(carried.get(bank, {}), card)
        cards.append(card)
    return cards
