"""`messages.dates`: yyyyMMdd on the wire, written as strftime would write it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from messages.dates import format_ymd, parse_ymd


@given(st.dates())
def test_format_ymd_is_strftime_and_parses_back(day: dt.date) -> None:
    text = format_ymd(day)
    assert text == f"{day.year:04d}{day.month:02d}{day.day:02d}" and len(text) == 8
    assert parse_ymd(text) == day


@given(st.datetimes(timezones=st.one_of(st.none(), st.timezones())))
def test_format_ymd_of_a_datetime_is_its_date(when: dt.datetime) -> None:
    assert format_ymd(when) == format_ymd(when.date())
