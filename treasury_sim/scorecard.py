"""The bank scorecard (代理银行综合考评): per bank per month, from what actually happened.

Pure: a function of duty events, the business calendar and the rules; it never reads a clock.
Imports only `business_time` and `messages`, so any core, the runner or a report can use it.

**Sources.** 财库[2008]62号 (seed 004 part 1): agent banks are evaluated on timeliness, accuracy
and completeness, with points deducted per occurrence, banks with a large share of the business
at the lower bound and the others at the upper one. The agency agreement (004 part 3 §13(5))
names what is counted per month and when the bank must rectify (整改) within a month:

| category   | what is counted                                               | stage 1, in a month            | stage 2, after it   |
|------------|---------------------------------------------------------------|--------------------------------|---------------------|
| `payment`  | units' complaints about a payment                             | 3 or more (§13(5)1)            | any again           |
| `feedback` | late receipt, daily-report, monthly-report, monthly-statement | 3 or more (§13(5)2)            | any again           |
| `accuracy` | any duty done inaccurately, or a refused / faulty message     | more than 3 (§13(5)3)          | more than 1         |
| `notice`   | units' complaints about a credit-notice, quota-arrival-notice | 3 or more (§13(5)4)            | any again           |
|            | or refund-notice (the last is the project's own addition)     |                                |                     |
| `custody`  | vouchers lost (`Incident` "lost-voucher")                     | 4 or more (§13(5)5)            | any again           |
| `clearing` | late clearing                                                 | 3 or more (§13(5)6)            | any again           |
| `account`  | accounts opened, changed or closed without the treasury's     | 3 or more (§13(5)7)            | any again           |
|            | notice (`Incident` "account-without-notice")                  |                                |                     |

**Complaints.** The simulated budget unit complains about every payment or notice of its that
was late (or never came): `DutyEvent.complained` None means just that; True / False overrides
it (a unit that complained of an on-time duty, or let a late one pass).

**Stages, carried across months** (§13(5): "应在1个月内整改, 若整改后仍出现…"): the first month a
category reaches its stage-1 count the bank must rectify within a month (stage 1); from the
month after that on, a recurrence (the stage-2 column; the seed's item 5 and 7 name no second
stage, the project applies the same one) puts the bank's agency at risk (stage 2, "取消其代理
…资格": the treasury decides, the card only says so). A stage stays until the end of the
events given (the cards of one year: `annual`).

**Size** (004 part 1 三): a bank's share of the business is the arithmetic mean of its share of
the amount paid and its share of the count; above the average share (1 / number of banks) it
is large and deducted at the lower bound, otherwise (at or below the average) at the upper one
(`bank_sizes`).

**Annual view** (62号 is a "年度综合考评"): `annual` sums a bank's months of one year: every
deduction, the late / complaint / incident counts and the furthest stage reached.

**Events.** One `DutyEvent` per duty the bank had: what (kind, ref), when it was due (from the
`business_time.clock` deadline functions: `due_time` picks the right one), when it was done
(None: not done), whether what it sent was accurate, and whether a message of it was refused or
faulty (bad signature, wrong sums, duplicate send, missing X-fields, refused by the gateway, the
central bank or the treasury). A duty counts in the month of its due time.

**Score.** The seeds give no point values: every value in `ScoringRules` (the one table) is the
project's own default. `max_points` (100) less the deductions, never below 0:

* a late duty: `late` points, plus `per_business_day_late` for each business day late (counted
  with the business calendar, so a holiday between the deadline and the delivery does not count),
  at most `late_cap` for one duty;
* a duty not done by `as_of` although due: `missing` (at least `late_cap`: never cheaper than
  being late); a duty due after `as_of` is pending and not counted;
* an inaccurate duty: `error`; a refused or faulty message: `faulty` (charged whether the duty
  was on time, late, missing or pending);
* a lost voucher: `lost_voucher`; an account without the treasury's notice: `account_without_notice`;
* each category flagged in the month (reaching stage 1, or recurring in stage 2): `flag`.

So more lateness never raises a score, and a score is never above `max_points`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
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
    "BankYear",
    "Deduction",
    "DutyEvent",
    "DutyKind",
    "DutyLine",
    "Incident",
    "ScoringRules",
    "annual",
    "bank_sizes",
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
Category = Literal["payment", "clearing", "feedback", "notice", "accuracy", "custody", "account"]
CATEGORIES: tuple[Category, ...] = ("payment", "feedback", "accuracy", "notice", "custody", "clearing", "account")
COMPLAINED_OF: frozenset[Category] = frozenset({"payment", "notice"})  # §13(5)1, 4: counted by complaints
IncidentKind = Literal["lost-voucher", "account-without-notice"]
CATEGORY_OF_INCIDENT: Mapping[IncidentKind, Category] = {"lost-voucher": "custody",
                                                         "account-without-notice": "account"}
Stage = Literal[0, 1, 2]  # 0: nothing; 1: rectify within a month; 2: recurred after it, agency at risk
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
    complained: bool | None = None  # the unit complained; None: it does when the duty is late or not done

    def __post_init__(self) -> None:
        if self.kind not in CATEGORY_OF:
            raise ValueError(f"unknown duty kind {self.kind!r}; one of {', '.join(DUTY_KINDS)}")
        to_local(self.due)  # refuses a naive time
        if self.done is not None:
            to_local(self.done)


@dataclass(frozen=True, slots=True)
class Incident:
    """A fault that is no duty's lateness: a voucher lost, an account opened, changed or closed
    without the treasury's notice. The simulation has no source for either yet: a feed or a
    test gives them."""

    bank: str
    kind: IncidentKind
    ref: str  # the voucher or account it is about
    at: dt.datetime  # counts in this month

    def __post_init__(self) -> None:
        if self.kind not in CATEGORY_OF_INCIDENT:
            raise ValueError(f"unknown incident kind {self.kind!r}; one of {', '.join(CATEGORY_OF_INCIDENT)}")
        to_local(self.at)


def bank_sizes(volumes: Mapping[str, tuple[int, int]]) -> dict[str, Size]:
    """Each bank's size from its (amount in fen, count) of the year (004 part 1 三): its share is
    the mean of its amount share and its count share; above the average of the banks' shares
    (1 / banks, unless nothing was paid) it is large, otherwise small. Exact (fractions), so a
    bank at the average is small."""
    for bank, (amount, count) in volumes.items():
        if amount < 0 or count < 0:
            raise ValueError(f"bank {bank}: amount and count must be >= 0, not {amount}, {count}")
    total_amount = sum(a for a, _ in volumes.values())
    total_count = sum(c for _, c in volumes.values())
    n = len(volumes)

    def share(amount: int, count: int) -> Fraction:
        a = Fraction(amount, total_amount) if total_amount else Fraction(0)
        c = Fraction(count, total_count) if total_count else Fraction(0)
        return (a + c) / 2

    shares = {bank: share(a, c) for bank, (a, c) in volumes.items()}
    average = sum(shares.values(), Fraction(0)) / n if n else Fraction(0)
    return {bank: "large" if s > average else "small" for bank, s in shares.items()}


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
    lost_voucher: Deduction = Deduction(3, 5)
    account_without_notice: Deduction = Deduction(3, 5)
    flag: Deduction = Deduction(5, 5)  # per category flagged in the month
    late_flag_at: int = 3  # "次数达到3次": this many late (or complaints) in a category in a month
    error_flag_over: int = 3  # "差错超过3次": more than this many errors in a month
    error_recur_over: int = 1  # "整改后差错仍超过1次": after rectification, more than this many
    lost_flag_at: int = 4  # "凭证丢失次数达到4次"
    account_flag_at: int = 3  # "擅自开设、撤销和变更且次数达到3次"

    def __post_init__(self) -> None:
        if self.max_points <= 0:
            raise ValueError("max_points must be > 0")
        sizes: tuple[Size, ...] = ("large", "small")
        for size in sizes:
            if self.missing.points(size) < self.late_cap.points(size):
                raise ValueError("a missing duty must cost at least the late cap (more lateness never pays)")
            if self.late_cap.points(size) < self.late.points(size):
                raise ValueError("late_cap must be at least late")
        if min(self.late_flag_at, self.lost_flag_at, self.account_flag_at) < 1 or min(
                self.error_flag_over, self.error_recur_over) < 0:
            raise ValueError("the *_flag_at counts must be >= 1, error_flag_over and error_recur_over >= 0")

    def stage1(self, category: Category, count: int) -> bool:
        """Whether `count` in a month starts the rectification (§13(5))."""
        if category == "accuracy":
            return count > self.error_flag_over
        return count >= self.stage1_at(category)

    def stage1_at(self, category: Category) -> int:
        """The count that starts the rectification in a category counted "达到N次" (not accuracy)."""
        return {"custody": self.lost_flag_at, "account": self.account_flag_at}.get(category, self.late_flag_at)

    def stage2(self, category: Category, count: int) -> bool:
        """Whether `count` in a month after the rectification month is a recurrence."""
        return count > self.error_recur_over if category == "accuracy" else count >= 1


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
    counts: Mapping[str, int] = field(default_factory=dict)  # per category, what its trigger counts
    stages: Mapping[str, Stage] = field(default_factory=dict)  # per category in a stage (carried)
    incidents: Mapping[str, int] = field(default_factory=dict)  # per incident kind
    deducted: int = 0  # every point taken this month (before the floor at 0)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def stage(self) -> Stage:
        """The furthest stage of any category this month."""
        return max(self.stages.values(), default=0)

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
                "flags": list(self.flags), "flag_points": self.flag_points, "stage": self.stage,
                "stages": dict(self.stages), "counts": dict(self.counts), "incidents": dict(self.incidents),
                "deducted": self.deducted, "late": self.late,
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


def _complained(e: DutyEvent, late: bool) -> bool:
    return late if e.complained is None else e.complained


Stages = Mapping[Category, tuple[Stage, tuple[int, int]]]  # category → (stage, the month it began)


def score_month(events: Iterable[DutyEvent], bank: str, year: int, month: int, calendar: BusinessCalendar,
                rules: ScoringRules = RULES, *, size: Size = "small", as_of: dt.datetime | None = None,
                incidents: Iterable[Incident] = (), before: Stages | None = None) -> BankMonth:
    """The scorecard of `bank` for one month, from the events (others are ignored). `as_of`: the
    time the card is drawn up; None: everything is final (a duty not done is missing).
    `before`: the stages the bank was in before this month (`scorecard` carries them)."""
    tallies: dict[DutyKind, _Tally] = {}
    complaints: dict[Category, int] = {}
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
            if e.complained:
                complaints[CATEGORY_OF[e.kind]] = complaints.get(CATEGORY_OF[e.kind], 0) + 1
            continue
        tally.counted += 1
        late = done is None or done > e.due
        if _complained(e, late):
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
    counts: dict[Category, int] = {
        "payment": complaints.get("payment", 0), "notice": complaints.get("notice", 0),
        "feedback": late_by_category.get("feedback", 0), "clearing": late_by_category.get("clearing", 0),
        "accuracy": sum(line.errors + line.faulty for line in lines),
        "custody": by_incident.get("lost-voucher", 0), "account": by_incident.get("account-without-notice", 0)}
    stages: dict[str, Stage] = {}
    flags: list[str] = []
    for category in CATEGORIES:
        count = counts[category]
        what = _WHAT[category]
        stage, since = (before or {}).get(category, (0, (year, month)))
        if stage == 0 and rules.stage1(category, count):
            stage = 1
            bound = f"> {rules.error_flag_over}" if category == "accuracy" else f">= {rules.stage1_at(category)}"
            flags.append(f"{category}: {count} {what} in the month ({bound}): rectify within a month")
        elif stage == 1 and since < (year, month) and rules.stage2(category, count):
            stage = 2
            flags.append(f"{category}: {count} {what} again after rectification from "
                         f"{since[0]:04d}-{since[1]:02d}: the agency is at risk (stage 2)")
        if stage:
            stages[category] = stage
    flag_points = len(flags) * rules.flag.points(size)
    deducted = sum(line.deducted for line in lines) + incident_points + flag_points
    return BankMonth(bank, year, month, size, lines, late_by_category, tuple(flags),
                     max(0, rules.max_points - deducted), rules.max_points, flag_points,
                     {c: n for c, n in counts.items() if n}, stages, by_incident, deducted)


_WHAT: Mapping[Category, str] = {
    "payment": "complaints of late payments", "notice": "complaints of late notices", "feedback": "late",
    "clearing": "late", "accuracy": "errors or faulty messages", "custody": "vouchers lost",
    "account": "accounts without the treasury's notice"}


def _carry(before: Stages, card: BankMonth) -> dict[Category, tuple[Stage, tuple[int, int]]]:
    out = dict(before)
    for category in CATEGORIES:
        stage = card.stages.get(category, 0)
        if stage and out.get(category, (0, (0, 0)))[0] == 0:
            out[category] = (stage, (card.year, card.month))
        elif stage:
            out[category] = (stage, out[category][1])
    return out


def scorecard(events: Iterable[DutyEvent], calendar: BusinessCalendar, rules: ScoringRules = RULES, *,
              large_banks: frozenset[str] = frozenset(), as_of: dt.datetime | None = None,
              incidents: Iterable[Incident] = (),
              volumes: Mapping[str, tuple[int, int]] | None = None) -> list[BankMonth]:
    """Every (bank, month) the events or incidents touch, sorted by bank then month; the stages
    carried from month to month. A bank in `large_banks`, or large by `volumes` (bank → (amount
    in fen, count), `bank_sizes`), is deducted at the lower bound."""
    events, incidents = list(events), list(incidents)
    large = set(large_banks) | {b for b, size in bank_sizes(volumes or {}).items() if size == "large"}
    keys = sorted({(e.bank, *_month_of(e)) for e in events}
                  | {(i.bank, to_local(i.at).year, to_local(i.at).month) for i in incidents})
    cards: list[BankMonth] = []
    carried: dict[str, dict[Category, tuple[Stage, tuple[int, int]]]] = {}
    for bank, year, month in keys:
        card = score_month(events, bank, year, month, calendar, rules, as_of=as_of, incidents=incidents,
                           size="large" if bank in large else "small", before=carried.get(bank, {}))
        carried[bank] = _carry(carried.get(bank, {}), card)
        cards.append(card)
    return cards


# ---------------------------------------------------------------- the annual view


@dataclass(frozen=True, slots=True)
class BankYear:
    """A bank's year (62号: the evaluation is annual): the sum of its months."""

    bank: str
    year: int
    months: int
    deducted: int
    score: int  # max_points less every deduction of the year, never below 0
    max_points: int
    late: int
    counts: Mapping[str, int]  # per category, summed over the months
    flags: tuple[str, ...]  # "yyyy-mm <flag>"
    stage: Stage  # the furthest reached in the year
    stages: Mapping[str, Stage]

    def as_dict(self) -> dict[str, Any]:
        return {"bank": self.bank, "year": self.year, "months": self.months, "deducted": self.deducted,
                "score": self.score, "max_points": self.max_points, "late": self.late, "counts": dict(self.counts),
                "flags": list(self.flags), "stage": self.stage, "stages": dict(self.stages)}


def annual(cards: Iterable[BankMonth]) -> list[BankYear]:
    """One `BankYear` per bank and year of the monthly cards, sorted by bank then year."""
    groups: dict[tuple[str, int], list[BankMonth]] = {}
    for card in cards:
        groups.setdefault((card.bank, card.year), []).append(card)
    out: list[BankYear] = []
    for (bank, year), months in sorted(groups.items()):
        counts: dict[str, int] = {}
        stages: dict[str, Stage] = {}
        for card in months:
            for category, n in card.counts.items():
                counts[category] = counts.get(category, 0) + n
            for category, stage in card.stages.items():
                stages[category] = max(stages.get(category, 0), stage)
        deducted = sum(c.deducted for c in months)
        top = months[0].max_points
        out.append(BankYear(bank, year, len(months), deducted, max(0, top - deducted), top,
                            sum(c.late for c in months), counts,
                            tuple(f"{c.year:04d}-{c.month:02d} {f}" for c in months for f in c.flags),
                            max(stages.values(), default=0), stages))
    return out


# ---------------------------------------------------------------- rendering


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
