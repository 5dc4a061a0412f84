"""The business calendar: Chinese working days, overrides, and refusing to guess."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from messages.errors import InputError

CAL = BusinessCalendar.default()
D = dt.date

days_known = st.dates(min_value=D(2005, 1, 1), max_value=D(2026, 12, 30))
# Far enough from both ends of the known range for +-200 business days.
days_inner = st.dates(min_value=D(2005, 1, 1), max_value=D(2026, 1, 31))


def test_known_range_is_the_library_range() -> None:
    assert CAL.known_range == (D(2004, 1, 1), D(2026, 12, 31))


def test_national_day_week_2025() -> None:
    assert CAL.next_business_day(D(2025, 9, 30)) == D(2025, 10, 9)
    assert CAL.previous_business_day(D(2025, 10, 9)) == D(2025, 9, 30)
    assert not CAL.is_business_day(D(2025, 10, 1))
    assert CAL.is_business_day(D(2025, 9, 28))  # Sunday, make-up working day
    assert CAL.is_business_day(D(2025, 10, 11))  # Saturday, make-up working day


def test_spring_festival_2026_make_up_saturday() -> None:
    assert D(2026, 2, 14).weekday() == 5
    assert CAL.is_business_day(D(2026, 2, 14))


def test_end_of_known_range_raises_naming_the_date_and_range() -> None:
    with pytest.raises(InputError) as info:
        CAL.next_business_day(D(2026, 12, 31))
    assert info.value.code == "calendar-out-of-range"
    assert "2026-12-31" in str(info.value) and "2004-01-01..2026-12-31" in str(info.value)
    for ask in (lambda: CAL.is_business_day(D(2027, 1, 4)), lambda: CAL.is_business_day(D(2003, 12, 31)),
                lambda: CAL.previous_business_day(D(2004, 1, 1)), lambda: CAL.add_business_days(D(2026, 12, 30), 5)):
        with pytest.raises(InputError) as info:
            ask()
        assert info.value.code == "calendar-out-of-range"


def test_override_file_declares_2027(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("workdays: [2027-01-02]\nholidays: ['2027-01-01', 2027-02-08]\nyears: [2027]\n")
    cal = BusinessCalendar.from_file(path)
    assert cal.known_range == (D(2004, 1, 1), D(2027, 12, 31))
    assert cal.next_business_day(D(2026, 12, 31)) == D(2027, 1, 2)  # Saturday, declared a workday
    assert not cal.is_business_day(D(2027, 1, 1))
    assert not cal.is_business_day(D(2027, 2, 8))  # a Monday, declared a holiday
    assert cal.is_business_day(D(2027, 2, 9))
    assert not cal.is_business_day(D(2027, 2, 13))  # plain Saturday
    with pytest.raises(InputError, match="calendar-out-of-range"):
        cal.next_business_day(D(2027, 12, 31))


def test_override_corrects_a_library_year() -> None:
    cal = BusinessCalendar({D(2025, 9, 30): False, D(2025, 10, 4): True})
    assert cal.next_business_day(D(2025, 9, 29)) == D(2025, 10, 4)


@pytest.mark.parametrize("text", [
    "holidays: [2027-01-01]\n",  # year not declared
    "years: [2028]\n",  # gap: 2027 missing
    "workdays: [2025-10-01]\nholidays: [2025-10-01]\n",
    "weekdays: []\n",
    "holidays: [not-a-date]\n",
    "years: 2027\n",
    "- 1\n",
])
def test_bad_override_files_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        BusinessCalendar.from_file(path)
    assert info.value.code == "config-invalid"


def test_unreadable_override_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="io-unreadable"):
        BusinessCalendar.from_file(tmp_path / "missing.yaml")


def test_add_business_days_examples() -> None:
    assert CAL.add_business_days(D(2025, 9, 30), 0) == D(2025, 9, 30)
    assert CAL.add_business_days(D(2025, 10, 1), 0) == D(2025, 10, 9)
    assert CAL.add_business_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    assert CAL.add_business_days(D(2025, 9, 30), 2) == D(2025, 10, 10)
    assert CAL.add_business_days(D(2025, 10, 9), -1) == D(2025, 9, 30)
    assert CAL.add_business_days(D(2025, 10, 5), -1) == D(2025, 9, 30)
    assert CAL.business_days_between(D(2025, 9, 30), D(2025, 10, 9)) == 1
    assert CAL.business_days_between(D(2025, 10, 9), D(2025, 9, 30)) == -1
    assert CAL.business_days_between(D(2025, 10, 1), D(2025, 10, 8)) == 0


def test_types_checked() -> None:
    with pytest.raises(TypeError):
        CAL.is_business_day(dt.datetime(2025, 9, 30, 12))


@given(days_known)
def test_matches_chinese_calendar(day: dt.date) -> None:
    assert CAL.is_business_day(day) == chinese_calendar.is_workday(day)


@given(days_known)
def test_next_and_previous_business_day(day: dt.date) -> None:
    nxt = CAL.next_business_day(day)
    assert nxt > day and CAL.is_business_day(nxt)
    between = day + dt.timedelta(days=1)
    while between < nxt:
        assert not CAL.is_business_day(between)
        between += dt.timedelta(days=1)
    prev = CAL.previous_business_day(day)
    assert prev < day and CAL.is_business_day(prev)
    assert CAL.next_business_day(prev) >= day or not CAL.is_business_day(day)
    assert CAL.next_business_day(prev) == (day if CAL.is_business_day(day) else nxt)


@settings(max_examples=300)
@given(days_inner, st.integers(min_value=-200, max_value=200))
def test_add_and_between_agree(day: dt.date, n: int) -> None:
    target = CAL.add_business_days(day, n)
    assert CAL.is_business_day(target)
    if n > 0 or CAL.is_business_day(day):
        assert CAL.business_days_between(day, target) == n
    else:  # from a non-business day, n == 0 moves forward to the next business day and n < 0
        # does not count the start day itself
        assert CAL.business_days_between(day, target) == n + 1
    if n > 0:
        assert target > day
    if n < 0:
        assert target < day


@given(days_known, days_known, days_known)
def test_between_is_additive(a: dt.date, b: dt.date, c: dt.date) -> None:
    assert CAL.business_days_between(a, b) + CAL.business_days_between(b, c) == CAL.business_days_between(a, c)
    assert CAL.business_days_between(a, b) == -CAL.business_days_between(b, a)


def test_default_override_file_is_empty_and_commented() -> None:
    from business_time.calendar import DEFAULT_OVERRIDES_PATH

    text = DEFAULT_OVERRIDES_PATH.read_text()
    assert "2027" in text and "years: []" in text


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.dates(dt.date(2004, 1, 1), dt.date(2027, 12, 31)), st.booleans(), max_size=20),
       st.booleans())
def test_a_calendar_s_days_are_each_day_s_override_else_the_rules(overrides: dict[dt.date, bool],
                                                                   declare_2027: bool) -> None:
    """The construction takes the library's days from a table built once (calendar._days_by_rules);
    the oracle asks, day by day, the override or else the library and weekends."""
    from business_time.calendar import _is_workday_by_rules, _library_years

    years = [2027] if declare_2027 else []
    if not declare_2027:
        overrides = {d: w for d, w in overrides.items() if d.year < 2027}
    cal = BusinessCalendar(overrides, known_years=years)
    first, last = cal.known_range
    day, expected = first, []
    while day <= last:
        if overrides.get(day, _is_workday_by_rules(day, _library_years())):
            expected.append(day)
        day += dt.timedelta(days=1)
    assert cal._business_days == expected
    assert all(cal.is_business_day(d) == overrides.get(d, _is_workday_by_rules(d, _library_years()))
               for d in overrides)
