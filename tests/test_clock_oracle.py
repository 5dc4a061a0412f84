"""The agreement's clock against an oracle written from the agreement (004 part 3 §8-9), not from
business_time: generated instants around every boundary (±1 s), weekends, statutory holidays, make-up
working days, the first and last days of each year and the end of the calendar's range.

The oracle asks `chinese_calendar.is_workday` day by day (the library's public answer, not the
precomputed table the calendar builds) and walks day by day; past the known range it refuses.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import (
    TZ,
    ClockConfig,
    clearing_day_for,
    credit_notice_deadline,
    is_before_clearing_cutoff,
    payment_deadline,
    receipts_deadline,
    refund_notice_deadline,
    replenishment_day,
    replenishment_window,
)
from messages.errors import InputError

CAL = BusinessCalendar.default()
CFG = ClockConfig()
FIRST, LAST = CAL.known_range


class OutOfRange(Exception):
    """The oracle's refusal: the agreement's calendar says nothing past the State Council's notices."""


def workday(day: dt.date) -> bool:
    if not FIRST <= day <= LAST:
        raise OutOfRange(day)
    return bool(chinese_calendar.is_workday(day))


def next_workday(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not workday(day):
        day += dt.timedelta(days=1)
    return day


def nth_workday(day: dt.date, n: int) -> dt.date:
    if n == 0:
        return day if workday(day) else next_workday(day)
    for _ in range(n):
        day = next_workday(day)
    return day


def _special_days() -> list[dt.date]:
    days = {d for d in (*chinese_calendar.holidays, *chinese_calendar.workdays) if FIRST <= d <= LAST}
    for y in range(FIRST.year, LAST.year + 1):
        days |= {dt.date(y, 1, 1), dt.date(y, 1, 2), dt.date(y, 12, 30), dt.date(y, 12, 31)}
    # the day before and after each: the edges of each holiday and make-up block
    return sorted(days | {d + dt.timedelta(days=k) for d in days for k in (-1, 1)
                          if FIRST <= d + dt.timedelta(days=k) <= LAST})


SPECIAL = _special_days()
BOUNDARIES = (CFG.clearing_cutoff, CFG.urgent_cutoff, CFG.bank_system_close, CFG.next_morning_payment_deadline,
              CFG.receipts_deadline, CFG.replenishment_window_start, CFG.replenishment_window_end,
              dt.time(0, 0), dt.time(23, 59, 59))

days = st.one_of(st.sampled_from(SPECIAL), st.dates(FIRST, LAST))


@st.composite
def instants(draw: st.DrawFn) -> dt.datetime:
    day = draw(days)
    base = dt.datetime.combine(day, draw(st.sampled_from(BOUNDARIES)), tzinfo=TZ)
    t = base + dt.timedelta(seconds=draw(st.sampled_from((-1, 0, 1))))
    if draw(st.booleans()):  # the same instant written in UTC: the rules read Beijing time
        t = t.astimezone(dt.UTC)
    return t


def both(ours: object, oracle: object) -> tuple[object, object]:
    """Run both; a refusal on either side must be a refusal on the other."""
    try:
        a = ours() if callable(ours) else ours
    except InputError as exc:
        assert exc.code == "calendar-out-of-range", exc.code
        a = OutOfRange
    try:
        b = oracle() if callable(oracle) else oracle
    except OutOfRange:
        b = OutOfRange
    return a, b


def local(t: dt.datetime) -> dt.datetime:
    return t.astimezone(TZ)


@settings(max_examples=600, deadline=None)
@given(instants(), st.booleans())
def test_clearing_cutoff_and_day(t: dt.datetime, urgent: bool) -> None:
    # 004 p3 §8(7): in a clearing request "16:00前" (urgent 16:30): 16:00:00 itself is too late
    cut = CFG.urgent_cutoff if urgent else CFG.clearing_cutoff
    lt = local(t)
    ours, oracle = both(lambda: is_before_clearing_cutoff(t, CAL, CFG, urgent=urgent),
                        lambda: workday(lt.date()) and lt.time() < cut)
    assert ours == oracle
    # accepted after the cutoff: advanced from the reserve, cleared with the next business day
    ours, oracle = both(lambda: clearing_day_for(t, CAL, CFG, urgent=urgent),
                        lambda: lt.date() if workday(lt.date()) and lt.time() < cut else next_workday(lt.date()))
    assert ours == oracle


@settings(max_examples=600, deadline=None)
@given(instants())
def test_payment_deadline(t: dt.datetime) -> None:
    # 004 p3 §8(4), §9(6): before the transfer system closes on a business day: that day;
    # after it closes (or on a day off): "下一营业日上午10:00之前"
    lt = local(t)

    def oracle() -> dt.datetime:
        if workday(lt.date()) and lt.time() < CFG.bank_system_close:
            return dt.datetime.combine(lt.date(), CFG.bank_system_close, tzinfo=TZ)
        return dt.datetime.combine(next_workday(lt.date()), CFG.next_morning_payment_deadline, tzinfo=TZ)

    ours, expected = both(lambda: payment_deadline(t, CAL, CFG), oracle)
    assert ours == expected


@settings(max_examples=400, deadline=None)
@given(days)
def test_replenishment_receipts_and_notices(day: dt.date) -> None:
    # §9(12): the reserve is made whole "在下一工作日上午"; §8(9): receipts "次日上午11:00之前"
    # (次日 read as the next business day); notices "within n working days"
    ours, oracle = both(lambda: replenishment_day(day, CAL), lambda: next_workday(day))
    assert ours == oracle
    if oracle is not OutOfRange:
        start, end = replenishment_window(day, CAL, CFG)
        assert start.date() == end.date() == oracle and end.time() <= dt.time(12, 0)
    ours, oracle = both(lambda: receipts_deadline(day, CAL, CFG),
                        lambda: dt.datetime.combine(next_workday(day), dt.time(11, 0), tzinfo=TZ))
    assert ours == oracle
    for fn, n in ((credit_notice_deadline, 2), (refund_notice_deadline, 1)):
        ours, oracle = both(lambda fn=fn: fn(day, CAL, CFG),
                            lambda n=n: dt.datetime.combine(nth_workday(day, n), dt.time.max, tzinfo=TZ))
        assert ours == oracle


def test_the_range_end_refuses() -> None:
    # the calendar's last day: its next business day is unknown, so every deadline from it refuses
    last = dt.datetime.combine(LAST, dt.time(17, 0), tzinfo=TZ)
    for ask in (lambda: payment_deadline(last, CAL, CFG), lambda: receipts_deadline(LAST, CAL, CFG),
                lambda: replenishment_day(LAST, CAL), lambda: clearing_day_for(last, CAL, CFG)):
        with pytest.raises(InputError) as err:
            ask()
        assert err.value.code == "calendar-out-of-range"
    with pytest.raises(InputError):
        CAL.is_business_day(LAST + dt.timedelta(days=1))
