"""The bank scorecard (代理银行综合考评): per bank per month, from what actually happened.

Pure: a function of duty events, the business calendar and the rules; it never reads a clock.
Imports only `business_time` and `messages`, so any core, the runner or a report can use it.

**Sources.** 财库[2008]62号 (seed 004 part 1): agent banks are evaluated on timeliness, accuracy
and completeness, with points deducted per occurrence, banks with a large share of the business
at the lower bound and the others at the upper one. The agency agreement (004 part 3 §13(5))
names what is counted per month and when the bank must rectify (整改) within a month:

| category   | duties (`DutyEvent.kind`)                                     | flagged when, in a month      |
|------------|---------------------------------------------------------------|-------------------------------|
| `payment`  | payment                                                       | 3 or more late (§13(5)1)      |
| `feedback` | receipt, daily-report, monthly-report, monthly-statement      | 3 or more late (§13(5)2)      |
| `notice`   | credit-notice, quota-arrival-notice, refund-notice            | 3 or more late (§13(5)4)      |
| `clearing` | clearing                                                      | 3 or more late (§13(5)6)      |
| `accuracy` | any duty done inaccurately, or a refused / faulty message     | more than 3 (§13(5)3)         |

**Events.** One `DutyEvent` per duty the bank had: what (kind, ref), when it was due (from the
`business_time.clock` deadline functions: `due_time` picks the right one), when it was done
(None: not done), whether what it sent was accurate, and whether a message of it was refused or
faulty (bad signature, wrong sums, duplicate send, missing X-fields, refused by the gateway, the
central bank or the treasury). A duty counts in the month of its due time.

**Score.** `ScoringRules.max_points` (100) less the deductions, never below 0:

* a late duty: `late` points, plus `per_business_day_late` for each business day late (counted
  with the business calendar, so a holiday between the deadline and the delivery does not count),
  at most `late_cap` for one duty;
* a duty not done by `as_of` although due: `missing` (at least `late_cap`: never cheaper than
  being late); a duty due after `as_of` is pending and not counted;
* an inaccurate duty: `error`; a refused or faulty message: `faulty` (charged whether the duty
  was on time, late, missing or pending);
* each category flagged in the month: `flag`.

So more lateness never raises a score, and a score is never above `max_points`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from business_time.calendar import BusinessCalendar
from business_time.clock import (
    ClockConfig,
    clearing_cutoff,
    credit_notice_deadline,
    daily_report_deadline,
    monthly_report_deadline,
    monthly_statement_deadline,
    payment_deadline,
    quota_arrival_notice_deadline,
    receipts_deadline,
    refund_notice_deadline,
    to_local,
)

__all__ = [
    "CATEGORY_OF",
    "DUTY_KINDS",
    "RULES",
    "BankMonth",
    "Deduction",
    "DutyEvent",
    "DutyKind",
    "DutyLine",
    "ScoringRules",
    "business_days_late",
    "due_time",
    "render_json",
    "render_text",
    "score_month",
    "scorecard",
]

DutyKind = Literal["payment", "clearing", "receipt", "credit-notice", "quota-arrival-notice", "refund-notice",
                   "daily-report", "monthly-report", "monthly-statement"]
DUTY_KINDS: tuple[DutyKind, ...] = ("payment", "clearing", "receipt", "credit-notice", "quota-arrival-notice",
                                    "refund-notice", "daily-report", "monthly-report", "monthly-statement")
Category = Literal["payment", "clearing", "feedback", "notice"]
CATEGORY_OF: Mapping[DutyKind, Category] = {
    "payment": "payment", "clearing": "clearing",
    "receipt": "feedback", "daily-report": "feedback", "monthly-report": "feedback", "monthly-statement": "feedback",
    "credit-notice": "notice", "quota-arrival-notice": "notice", "refund-notice": "notice",
}
Size = Literal["large", "small"]


# ---------------------------------------------------------------- events and deadlines


@dataclass(frozen=True, slots=True)
class DutyEvent:
    """One duty of one bank, as it actually went."""

    bank: str
    kind: DutyKind
    ref: str  # what it is about: a voucher key, a report's day or month
    due: dt.datetime
    done: dt.datetime | None = None  # None: not done
    accurate: bool = True  # what it sent was right (sums, elements)
    faulty: bool = False  # a message of it was refused (gateway, central bank, treasury) or faulty

    def __post_init__(self) -> None:
        if self.kind not in CATEGORY_OF:
            raise ValueError(f"unknown duty kind {self.kind!r}; one of {', '.join(DUTY_KINDS)}")
        to_local(self.due)  # refuses a naive time
        if self.done is not None:
            to_local(self.done)


def due_time(kind: DutyKind, anchor: dt.datetime | dt.date, calendar: BusinessCalendar, config: ClockConfig,
             *, urgent: bool = False) -> dt.datetime:
    """When a duty is due, from the agreement's deadline functions. `anchor` is what starts it:

    * payment: when the instruction reached the bank (a datetime);
    * clearing: the day paid (its clearing cutoff; `urgent`: the urgent cutoff);
    * receipt, daily-report: the day paid / reported on;
    * credit-notice: when paid; quota-arrival-notice: when the quota notice arrived;
      refund-notice: when the money came back;
    * monthly-report, monthly-statement: any day of the month reported on.
    """
    day = to_local(anchor).date() if isinstance(anchor, dt.datetime) else anchor
    if kind == "payment":
        if not isinstance(anchor, dt.datetime):
            raise TypeError("a payment is due from the time its instruction arrived: pass a datetime")
        return payment_deadline(anchor, calendar, config)
    if kind == "clearing":
        return clearing_cutoff(day, config, urgent=urgent)
    if kind == "receipt":
        return receipts_deadline(day, calendar, config)
    if kind == "credit-notice":
        return credit_notice_deadline(anchor, calendar, config)
    if kind == "quota-arrival-notice":
        return quota_arrival_notice_deadline(anchor, calendar, config)
    if kind == "refund-notice":
        return refund_notice_deadline(anchor, calendar, config)
    if kind == "daily-report":
        return daily_report_deadline(day, calendar, config)
    if kind == "monthly-report":
        return monthly_report_deadline(day.year, day.month, calendar, config)
    if kind == "monthly-statement":
        return monthly_statement_deadline(day.year, day.month, calendar, config)
    raise ValueError(f"unknown duty kind {kind!r}")


def business_days_late(due: dt.datetime, done: dt.datetime, calendar: BusinessCalendar) -> int:
    """Business days from the deadline's day to the delivery's day: 0 when on time or late the
    same day; a weekend or holiday in between does not count."""
    due_l, done_l = to_local(due), to_local(done)
    if done_l <= due_l:
        return 0
    return max(0, calendar.business_days_between(due_l.date(), done_l.date()))


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Deduction:
    """Points per occurrence: the lower bound for a large bank, the upper one for the others (62号 §3)."""

    large: int
    small: int

    def __post_init__(self) -> None:
        if not 0 <= self.large <= self.small:
            raise ValueError(f"a deduction needs 0 <= large <= small, not {self.large}, {self.small}")

    def points(self, size: Size) -> int:
        return self.large if size == "large" else self.small


@dataclass(frozen=True, slots=True)
class ScoringRules:
    max_points: int = 100
    late: Deduction = Deduction(1, 2)
    per_business_day_late: Deduction = Deduction(1, 1)
    late_cap: Deduction = Deduction(5, 8)  # one duty's lateness costs at most this
    missing: Deduction = Deduction(5, 8)  # due and not done: never cheaper than being late
    error: Deduction = Deduction(2, 3)
    faulty: Deduction = Deduction(2, 3)
    flag: Deduction = Deduction(5, 5)  # per category flagged in the month
    late_flag_at: int = 3  # "次数达到3次": this many late in a category in a month
    error_flag_over: int = 3  # "差错超过3次": more than this many errors in a month

    def __post_init__(self) -> None:
        if self.max_points <= 0:
            raise ValueError("max_points must be > 0")
        sizes: tuple[Size, ...] = ("large", "small")
        for size in sizes:
            if self.missing.points(size) < self.late_cap.points(size):
                raise ValueError("a missing duty must cost at least the late cap (more lateness never pays)")
            if self.late_cap.points(size) < self.late.points(size):
                raise ValueError("late_cap must be at least late")
        if self.late_flag_at < 1 or self.error_flag_over < 0:
            raise ValueError("late_flag_at must be >= 1 and error_flag_over >= 0")


RULES = ScoringRules()


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class DutyLine:
    """One duty kind of one bank in one month."""

    kind: DutyKind
    counted: int = 0  # due in the month (and by `as_of`)
    on_time: int = 0
    late: int = 0  # done after the deadline, or not done (missing is a part of late)
    missing: int = 0
    business_days_late: int = 0  # summed over the late ones that were done
    errors: int = 0
    faulty: int = 0
    pending: int = 0  # due after `as_of`: not counted yet
    deducted: int = 0  # points this duty kind cost (flags not included)

    @property
    def timeliness_pct(self) -> float:
        return 100.0 if self.counted == 0 else round(100.0 * self.on_time / self.counted, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "counted": self.counted, "on_time": self.on_time, "late": self.late,
                "missing": self.missing, "business_days_late": self.business_days_late, "errors": self.errors,
                "faulty": self.faulty, "pending": self.pending, "deducted": self.deducted,
                "timeliness_pct": self.timeliness_pct}


@dataclass(frozen=True, slots=True)
class BankMonth:
    bank: str
    year: int
    month: int
    size: Size
    lines: tuple[DutyLine, ...]  # DUTY_KINDS order, kinds without events left out
    late_by_category: Mapping[str, int]
    flags: tuple[str, ...]  # "<category>: <why>", each costing `flag`
    score: int
    max_points: int
    flag_points: int = 0

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def late(self) -> int:
        return sum(line.late for line in self.lines)

    @property
    def accuracy_pct(self) -> float:
        done = sum(line.counted - line.missing for line in self.lines)
        bad = sum(line.errors + line.faulty for line in self.lines)
        return 100.0 if done == 0 else round(max(0.0, 100.0 * (done - bad) / done), 1)

    @property
    def timeliness_pct(self) -> float:
        counted = sum(line.counted for line in self.lines)
        on_time = sum(line.on_time for line in self.lines)
        return 100.0 if counted == 0 else round(100.0 * on_time / counted, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"bank": self.bank, "month": f"{self.year:04d}-{self.month:02d}", "size": self.size,
                "score": self.score, "max_points": self.max_points, "flagged": self.flagged,
                "flags": list(self.flags), "flag_points": self.flag_points, "late": self.late,
                "late_by_category": dict(self.late_by_category), "timeliness_pct": self.timeliness_pct,
                "accuracy_pct": self.accuracy_pct, "duties": [line.as_dict() for line in self.lines]}


# ---------------------------------------------------------------- scoring


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


def _month_of(event: DutyEvent) -> tuple[int, int]:
    due = to_local(event.due)
    return due.year, due.month


def score_month(events: Iterable[DutyEvent], bank: str, year: int, month: int, calendar: BusinessCalendar,
                rules: ScoringRules = RULES, *, size: Size = "small", as_of: dt.datetime | None = None) -> BankMonth:
    """The scorecard of `bank` for one month, from the events (others are ignored). `as_of`: the
    time the card is drawn up; None: everything is final (a duty not done is missing)."""
    tallies: dict[DutyKind, _Tally] = {}
    for e in events:
        if e.bank != bank or _month_of(e) != (year, month):
            continue
        tally = tallies.setdefault(e.kind, _Tally())
        if not e.accurate:  # charged whether or not it is late: lateness never makes it cheaper
            tally.errors += 1
            tally.deducted += rules.error.points(size)
        if e.faulty:
            tally.faulty += 1
            tally.deducted += rules.faulty.points(size)
        done = e.done if e.done is not None and (as_of is None or e.done <= as_of) else None
        if done is None and as_of is not None and e.due >= as_of:
            tally.pending += 1
            continue
        tally.counted += 1
        if done is None:
            tally.late += 1
            tally.missing += 1
            tally.deducted += rules.missing.points(size)
        elif done > e.due:
            days = business_days_late(e.due, done, calendar)
            tally.late += 1
            tally.days_late += days
            tally.deducted += min(rules.late.points(size) + days * rules.per_business_day_late.points(size),
                                  rules.late_cap.points(size))
        else:
            tally.on_time += 1
    lines = tuple(DutyLine(kind, t.counted, t.on_time, t.late, t.missing, t.days_late, t.errors, t.faulty, t.pending,
                           t.deducted) for kind in DUTY_KINDS if (t := tallies.get(kind)) is not None)
    late_by_category: dict[str, int] = {}
    for line in lines:
        category = CATEGORY_OF[line.kind]
        late_by_category[category] = late_by_category.get(category, 0) + line.late
    flags = [f"{category}: {late} late in the month (>= {rules.late_flag_at}): rectify within a month"
             for category, late in sorted(late_by_category.items()) if late >= rules.late_flag_at]
    errors = sum(line.errors + line.faulty for line in lines)
    if errors > rules.error_flag_over:
        flags.append(f"accuracy: {errors} errors or faulty messages in the month (> {rules.error_flag_over}): "
                     "rectify within a month")
    flag_points = len(flags) * rules.flag.points(size)
    deducted = sum(line.deducted for line in lines) + flag_points
    return BankMonth(bank, year, month, size, lines, late_by_category, tuple(flags),
                     max(0, rules.max_points - deducted), rules.max_points, flag_points)


def scorecard(events: Iterable[DutyEvent], calendar: BusinessCalendar, rules: ScoringRules = RULES, *,
              large_banks: frozenset[str] = frozenset(), as_of: dt.datetime | None = None) -> list[BankMonth]:
    """Every (bank, month) the events touch, sorted by bank then month. A bank in `large_banks`
    is deducted at the lower bound (62号 §3: an above-average share of the business)."""
    events = list(events)
    keys = sorted({(e.bank, *_month_of(e)) for e in events})
    return [score_month(events, bank, year, month, calendar, rules, as_of=as_of,
                        size="large" if bank in large_banks else "small")
            for bank, year, month in keys]


# ---------------------------------------------------------------- rendering


_COLUMNS = ("duty", "counted", "on time", "late", "missing", "bdays late", "errors", "faulty", "pending", "-pts")


def render_text(cards: Iterable[BankMonth]) -> str:
    """A short plain-text table per bank-month."""
    out: list[str] = []
    for card in cards:
        flag = "  FLAGGED" if card.flagged else ""
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
