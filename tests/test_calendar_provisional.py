"""Years past the shipped calendar: statutory holidays computed (provisional), official year blocks
checked and loaded, the provisional stamp on what the clock computes from them.

The rule is tested against every year the chinesecalendar package knows officially: the
statutory days computed for a year are days off in the official calendar, each under its own
festival's name (the official one adds bridge and substitute days around them). Time is the
simulated business clock or a fixed date throughout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar, _library_years
from business_time.calendar_dir import install_block, read_block_file, read_blocks
from business_time.clock import (
    TZ,
    ClockConfig,
    cutoffs_view,
    payment_deadline,
    provisional,
    receipts_deadline,
)
from business_time.statutory import RULES, YEAR_MAX, festivals, qingming, rule_for, statutory_days
from business_time.year_block import YearBlock, check_block, parse_block, provisional_block, render_block
from messages.errors import InputError

LIBRARY = _library_years()
# chinese_calendar's name for each festival of the Measures
LIBRARY_NAMES = {"New Year's Day": "New Year's Day", "Spring Festival": "Spring Festival",
                 "Qingming Festival": "Tomb-sweeping Day", "Labour Day": "Labour Day",
                 "Dragon Boat Festival": "Dragon Boat Festival", "Mid-Autumn Festival": "Mid-autumn Festival",
                 "National Day": "National Day"}
D = dt.date


# ---------------------------------------------------------------------- the rule, against the official data


@pytest.mark.parametrize("year", list(LIBRARY))
def test_statutory_days_are_days_off_of_that_festival_in_every_official_year(year: int) -> None:
    shared = {}
    for _name, days in festivals(year):
        for day in days:
            shared[day] = shared.get(day, 0) + 1
    for name, days in festivals(year):
        for day in days:
            assert not chinese_calendar.is_workday(day), (year, name, day)
            _, official_name = chinese_calendar.get_holiday_detail(day)
            # a weekend day inside a festival may carry no name; a day two festivals share, either name
            assert official_name in (LIBRARY_NAMES[name], None) or shared[day] > 1, (year, name, day, official_name)


@pytest.mark.parametrize("year", [y for y in LIBRARY if y >= 2025])
def test_provisional_block_is_a_subset_of_the_official_holidays_under_the_2025_rule(year: int) -> None:
    official = {d for d in chinese_calendar.holidays if d.year == year and d.weekday() < 5}
    block = provisional_block(year)
    assert set(block.holidays) <= official and block.workdays == ()
    assert rule_for(year).spring == 4 and rule_for(year).labour == 2 and rule_for(year).spring_from_eve


def test_rule_revisions_by_year() -> None:
    assert [r.first_year for r in RULES] == sorted(r.first_year for r in RULES)
    assert rule_for(2024).spring == 3 and rule_for(2024).labour == 1 and not rule_for(2024).spring_from_eve
    assert rule_for(2013).spring_from_eve and rule_for(2007).qingming == 0
    for year in (1998, YEAR_MAX + 1):
        with pytest.raises(InputError, match="calendar-block-invalid"):
            rule_for(year)


def test_qingming_agrees_with_chinesecalendars_solar_terms_every_year() -> None:
    # two independent computations: lunar_python's astronomical one and chinesecalendar's formula
    for year in range(RULES[0].first_year, YEAR_MAX + 1):
        terms = [d for d, name in chinese_calendar.get_solar_terms(D(year, 4, 1), D(year, 4, 30)) if name == "清明"]
        assert terms == [qingming(year)], year


@given(st.integers(min_value=2025, max_value=YEAR_MAX))
def test_every_provisional_year_has_the_statutory_thirteen_days(year: int) -> None:
    days = statutory_days(year)
    per_festival = {name: len(ds) for name, ds in festivals(year)}
    assert per_festival == {"New Year's Day": 1, "Spring Festival": 4, "Qingming Festival": 1, "Labour Day": 2,
                            "Dragon Boat Festival": 1, "Mid-Autumn Festival": 1, "National Day": 3}
    overlap = sum(per_festival.values()) - len(days)
    assert overlap in (0, 1)  # only a Mid-Autumn Festival on 1..3 October is shared
    assert all(d.day.year == year for d in days)
    spring = dict(festivals(year))["Spring Festival"]
    assert spring == [spring[0] + dt.timedelta(days=i) for i in range(4)]
    assert D(year, 1, 21) <= spring[1] <= D(year, 2, 20)  # the 1st day of the 1st lunar month
    block = provisional_block(year)
    check_block(block)
    assert parse_block(__import__("yaml").safe_load(render_block(block))) == block  # renders and reads back
    assert list(block.holidays) == sorted(d.day for d in days if d.day.weekday() < 5)


def test_2027_provisional_is_the_statutory_days() -> None:
    block = provisional_block(2027)
    # 2027: Spring Festival 6 Feb (Sat), Qingming 5 Apr, Dragon Boat 9 Jun, Mid-Autumn 15 Sep
    assert block.holidays == (D(2027, 1, 1), D(2027, 2, 5), D(2027, 2, 8), D(2027, 4, 5), D(2027, 6, 9),
                              D(2027, 9, 15), D(2027, 10, 1))
    assert block.provisional and block.workdays == () and "2024 revision" in (block.basis or "")


# ---------------------------------------------------------------------- checking a block


def fake_official_2027(**change: Any) -> dict[str, Any]:
    """A made-up notice for 2027 in the shape the State Council uses: bridges and make-up days."""
    data: dict[str, Any] = {
        "year": 2027, "provisional": False,
        "notice": {"title": "国务院办公厅关于2027年部分节假日安排的通知 (test fixture)", "date": D(2026, 11, 20)},
        "holidays": [D(2027, 1, 1), D(2027, 2, 5), D(2027, 2, 8), D(2027, 2, 9), D(2027, 2, 10), D(2027, 2, 11),
                     D(2027, 4, 5), D(2027, 5, 3), D(2027, 5, 4), D(2027, 5, 5), D(2027, 6, 9), D(2027, 9, 15),
                     D(2027, 10, 1), D(2027, 10, 4), D(2027, 10, 5), D(2027, 10, 6), D(2027, 10, 7)],
        "workdays": [D(2027, 2, 20), D(2027, 4, 25), D(2027, 9, 26), D(2027, 10, 9)],
    }
    data.update(change)
    return data


def test_fake_official_block_passes() -> None:
    block = parse_block(fake_official_2027())
    check_block(block)
    assert not block.provisional and block.notice_date == D(2026, 11, 20)


@pytest.mark.parametrize(("change", "path", "says"), [
    ({"notice": None}, "notice.title", "missing"),
    ({"notice": {"date": D(2026, 11, 20)}}, "notice.title", "missing"),
    ({"notice": {"title": "国务院办公厅关于2026年部分节假日安排的通知", "date": D(2026, 11, 20)}}, "notice.title",
     "does not name the year 2027"),
    ({"notice": {"title": "2027 notice"}}, "notice.date", "missing"),
    ({"notice": {"title": "2027 notice", "date": D(2028, 1, 1)}}, "notice.date", "not in 2026 or 2027"),
    ({"notice": {"title": "2027 notice", "date": "2026-11-31"}}, "notice.date", "not a YYYY-MM-DD"),
    ({"holidays": [D(2027, 2, 6)]}, "holidays", "is a Saturday"),
    ({"holidays": [D(2026, 12, 31)]}, "holidays", "is not in 2027"),
    ({"holidays": [D(2027, 1, 1), D(2027, 1, 1)]}, "holidays", "listed twice"),
    ({"holidays": "2027-01-01"}, "holidays", "must be a list"),
    ({"holidays": [D(2027, 1, 1) + dt.timedelta(days=i) for i in range(61)]}, "holidays", "at most 60"),
    ({"workdays": [D(2027, 2, 22)]}, "workdays", "is a Monday"),
    ({"workdays": [D(2027, 2, 8)]}, "workdays", "is a Monday"),
    ({"holidays": [d for d in fake_official_2027()["holidays"] if d != D(2027, 6, 9)]}, "holidays",
     "statutory holiday 2027-06-09 (Dragon Boat Festival) is missing"),
    ({"year": "2027"}, "year", "not a year"),
    ({"year": 2200}, None, "modelled for"),
    ({"provisional": "no"}, "provisional", "not true or false"),
    ({"comment": "x"}, "comment", "unknown key"),
])
def test_official_block_refused_naming_the_element(change: dict[str, Any], path: str | None, says: str) -> None:
    with pytest.raises(InputError, match="calendar-block-invalid") as caught:
        check_block(parse_block(fake_official_2027(**change), source="2027.yaml"), source="2027.yaml")
    assert caught.value.issues[0].path == path and says in str(caught.value)


@pytest.mark.parametrize(("edit", "path"), [
    (lambda b: {**b, "holidays": [*b["holidays"], "2027-02-09"]}, "holidays"),  # a guessed bridge day
    (lambda b: {**b, "holidays": b["holidays"][1:]}, "holidays"),
    (lambda b: {**b, "workdays": ["2027-02-20"]}, "workdays"),
    (lambda b: {**b, "notice": {"title": "2027", "date": "2026-11-20"}}, "notice"),
])
def test_a_provisional_block_is_exactly_the_computed_one(edit: Callable[[dict[str, Any]], dict[str, Any]],
                                                         path: str) -> None:
    data = provisional_block(2027).as_dict()
    check_block(parse_block(data))
    with pytest.raises(InputError, match="calendar-block-invalid") as caught:
        check_block(parse_block(edit(data)))
    assert caught.value.issues[0].path == path


# ---------------------------------------------------------------------- the calendar with blocks


def official_2027() -> YearBlock:
    return parse_block(fake_official_2027())


def test_never_guess_by_default() -> None:
    calendar = BusinessCalendar.default()
    assert calendar.known_range[1] == D(2026, 12, 31) and calendar.provisional_years == ()
    with pytest.raises(InputError, match="calendar-out-of-range"):
        calendar.is_business_day(D(2027, 1, 4))


def test_provisional_2027_extends_the_calendar_and_is_said_so() -> None:
    calendar = BusinessCalendar.default(blocks=[provisional_block(2027)])
    assert calendar.known_range[1] == D(2027, 12, 31) and calendar.provisional_years == (2027,)
    assert not calendar.is_business_day(D(2027, 2, 5)) and calendar.is_business_day(D(2027, 2, 9))
    assert calendar.next_business_day(D(2026, 12, 31)) == D(2027, 1, 4)
    assert calendar.provisional_between(D(2026, 12, 31), D(2027, 1, 4))
    assert not calendar.provisional_between(D(2026, 12, 30), D(2026, 12, 31))


def test_official_block_replaces_the_provisional_and_its_make_up_days_count() -> None:
    calendar = BusinessCalendar.default(blocks=[official_2027()])
    assert calendar.provisional_years == ()
    assert calendar.is_business_day(D(2027, 2, 20))  # a Saturday make-up day
    assert not calendar.is_business_day(D(2027, 2, 10))  # a bridge day the provisional block does not have
    assert BusinessCalendar.default(blocks=[provisional_block(2027)]).is_business_day(D(2027, 2, 10))


def test_a_provisional_block_for_an_official_year_is_superseded() -> None:
    calendar = BusinessCalendar.default(blocks=[provisional_block(2026)])
    assert calendar.provisional_years == () and [b.year for b in calendar.superseded] == [2026]
    assert calendar.is_business_day(D(2026, 1, 4))  # the official make-up Sunday still counts
    with pytest.raises(InputError, match="calendar-block-invalid"):
        BusinessCalendar.default(blocks=[provisional_block(2027), official_2027()])  # two blocks for one year
    with pytest.raises(InputError, match="config-invalid"):  # a gap: 2027 unknown
        BusinessCalendar.default(blocks=[provisional_block(2028)])


def test_deadlines_across_a_provisional_year_are_stamped() -> None:
    calendar = BusinessCalendar.default(blocks=[provisional_block(2027)])
    cfg = ClockConfig()
    before_close = dt.datetime(2026, 12, 31, 15, 0, tzinfo=TZ)
    view = cutoffs_view(before_close, calendar, cfg)
    stamped = {c["name"]: (c["at"][:10], c["provisional"]) for c in view["next_cutoffs"]}
    assert stamped["clearing-cutoff"] == ("2026-12-31", False)
    assert stamped["receipts-deadline"] == ("2027-01-04", True)  # 1 Jan 2027 off by the statutory rule
    assert view["provisional"] is True
    assert not provisional(before_close, payment_deadline(before_close, calendar, cfg), calendar)
    assert provisional(D(2026, 12, 31), receipts_deadline(D(2026, 12, 31), calendar, cfg), calendar)
    official = BusinessCalendar.default(blocks=[official_2027()])
    assert cutoffs_view(before_close, official, cfg)["provisional"] is False
    mid_2026 = cutoffs_view(dt.datetime(2026, 6, 1, 9, tzinfo=TZ), calendar, cfg)
    assert mid_2026["provisional"] is False and not any(c["provisional"] for c in mid_2026["next_cutoffs"])


# ---------------------------------------------------------------------- the calendar directory


def test_install_replaces_atomically_and_never_downgrades(tmp_path: Path) -> None:
    directory = tmp_path / "calendar.d"
    assert read_blocks(directory) == []
    first = install_block(provisional_block(2027), directory)
    assert first.replaced is None and read_blocks(directory) == [provisional_block(2027)]
    second = install_block(official_2027(), directory)
    assert second.replaced == provisional_block(2027) and read_blocks(directory) == [official_2027()]
    with pytest.raises(InputError, match="calendar-block-invalid"):
        install_block(provisional_block(2027), directory)
    assert read_block_file(directory / "2027.yaml") == official_2027()
    assert sorted(p.name for p in directory.iterdir()) == ["2027.yaml"]  # no temporary file left


def test_a_block_under_another_years_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2028.yaml").write_text(render_block(provisional_block(2027)), encoding="utf-8")
    (tmp_path / "notes.yaml").write_text("not a block", encoding="utf-8")  # not YYYY.yaml: ignored
    with pytest.raises(InputError, match="does not match the file name"):
        read_blocks(tmp_path)


@given(st.integers(min_value=2025, max_value=YEAR_MAX), st.data())
def test_an_official_block_passes_iff_every_statutory_weekday_is_listed(year: int, data: st.DataObject) -> None:
    days = [D(year, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    statutory = set(provisional_block(year).holidays)
    bridges = data.draw(st.sets(st.sampled_from([d for d in days if d.weekday() < 5 and d not in statutory]),
                                max_size=10))
    make_up = data.draw(st.sets(st.sampled_from([d for d in days if d.weekday() >= 5]), max_size=8))
    dropped = data.draw(st.sets(st.sampled_from(sorted(statutory)), max_size=2))
    block = YearBlock(year, False, tuple(sorted((statutory - dropped) | bridges)), tuple(sorted(make_up)),
                      f"国务院办公厅关于{year}年部分节假日安排的通知", D(year - 1, 11, 1))
    if not dropped:
        check_block(block)
        return
    with pytest.raises(InputError, match=f"statutory holiday {min(dropped).isoformat()}"):
        check_block(block)
