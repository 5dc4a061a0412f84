"""What the scorecard counts: one `DutyEvent` per duty a bank had, `Incident`s, when a duty is
due (`due_time`, from the `business_time.clock` deadline functions), how late it was in business
days, and a bank's size by its share of the business (004 part 1 三)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

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
    replenishment_deadline,
    to_local,
)
from treasury_sim.scorecard.rules import (
    CATEGORY_OF,
    CATEGORY_OF_INCIDENT,
    DUTY_KINDS,
    DutyKind,
    IncidentKind,
    Size,
)

__all__ = ["DutyEvent", "Incident", "bank_sizes", "business_days_late", "due_time", "is_late", "month_of"]

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
    * replenishment: the day the reserve advanced (the next business day's noon);
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
    if kind == "replenishment":
        return replenishment_deadline(day, calendar, config)
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


def is_late(due: dt.datetime, at: dt.datetime) -> bool:
    """Whether a duty done (or still not done) at `at` missed `due`. The agreement's times of day
    are "before" (16:00前, 10:00之前, 11:00之前, 004 part 3 §8): the instant itself is late, as the
    central bank refuses a clearing request at 16:00:00. "Within n working days" deadlines are the
    last instant of the n-th day (`dt.time.max`): that instant is still on time."""
    due_l, at_l = to_local(due), to_local(at)
    return at_l > due_l if due_l.time() == dt.time.max else at_l >= due_l


def business_days_late(due: dt.datetime, done: dt.datetime, calendar: BusinessCalendar) -> int:
    """Business days from the deadline's day to the delivery's day: 0 when on time or late the
    same day; a weekend or holiday in between does not count."""
    due_l, done_l = to_local(due), to_local(done)
    if not is_late(due_l, done_l):
        return 0
    return max(0, calendar.business_days_between(due_l.date(), done_l.date()))



def month_of(event: DutyEvent) -> tuple[int, int]:
    """The (year, month) a duty counts in: that of its due time."""
    due = to_local(event.due)
    return due.year, due.month
