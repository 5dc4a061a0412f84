"""The business calendar: Chinese working days (weekends, statutory holidays, 调休 make-up days).

Facts come from `chinese_calendar` (which knows a fixed range of years) plus an override file:

    workdays: [2027-02-07]      # a weekend day that is a make-up working day
    holidays: [2027-02-08]      # a weekday that is off
    years: [2027]               # declare a year the library does not know

A year is *known* when `chinese_calendar` knows it or the override file declares it. In a
declared year only weekends and the overrides apply, so declare a year only once every holiday
of it is in the file. Asking about a day of an unknown year raises
`InputError("calendar-out-of-range")`: the calendar never guesses.

Known years must form one range without gaps, so that "the next business day" can never jump
over a year nobody described.

Year blocks (business_time/year_block.py, from the operator's calendar directory) add whole
years: an official block is the State Council notice's dates; a provisional block (computed from
the statutory holidays alone) makes its year known but *provisional*: `provisional_years` lists
them, and `provisional_between(a, b)` tells a caller whether an answer spanning a..b rests on one,
so it can stamp what it computed. A provisional block for a year known officially (the library,
the override file's `years`, an official block) is superseded: ignored, and listed in
`superseded`.

All answers are precomputed at construction into a sorted list of business days (about 250 a
year), so every question is a set lookup or a bisection.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import chinese_calendar
import yaml

from business_time.year_block import YearBlock, iso_date
from messages.errors import InputError
from messages.files import read_error_code, read_regular
from messages.yamlsafe import load_yaml

__all__ = ["DEFAULT_OVERRIDES_PATH", "OUT_OF_RANGE", "BusinessCalendar", "if_known"]

DEFAULT_OVERRIDES_PATH = Path(__file__).with_name("calendar_overrides.yaml")

# A declared year spans 366 days at most; 50 declared years is far beyond any real need and
# keeps a malformed file ("years: [1, 9999]") from building a huge table.
DECLARED_YEARS_MAX = 50
# The override file is a few dozen dates a year; anything larger is not a calendar.
OVERRIDE_FILE_BYTES_MAX = 1 << 20
# The code of the refusal of a question about a day the calendar does not know.
OUT_OF_RANGE = "calendar-out-of-range"

_T = TypeVar("_T")


def if_known(answer: Callable[[], _T]) -> _T | InputError:
    """`answer()`; or its refusal, returned, when that is `OUT_OF_RANGE` (the answer lies on a day
    the calendar does not know), for the caller to say so in its own words or to stop at the
    calendar's end. Any other refusal is raised."""
    try:
        return answer()
    except InputError as exc:
        if exc.code != OUT_OF_RANGE:
            raise
        return exc


@lru_cache(maxsize=1)
def _library_years() -> range:
    """The years `chinese_calendar` has data for (2004..2026 for version 1.11); its tables are
    constants, so once per process."""
    years = {day.year for day in chinese_calendar.holidays} | {day.year for day in chinese_calendar.workdays}
    first, last = min(years), max(years)
    assert set(range(first, last + 1)) <= years, "chinese_calendar years have a gap"
    return range(first, last + 1)


def _is_workday_by_rules(day: dt.date, library_years: range) -> bool:
    # The same rule as chinese_calendar.is_workday, read from its tables directly: calling it for
    # every day of 23 years costs 0.15 s, the table lookups a tenth of that.
    if day.year in library_years:
        if day in chinese_calendar.workdays:
            return True
        if day in chinese_calendar.holidays:
            return False
    return day.weekday() < 5


@lru_cache(maxsize=8)
def _days_by_rules(first_year: int, last_year: int) -> tuple[tuple[dt.date, ...], frozenset[dt.date]]:
    """The business days of first_year..last_year by the library and weekends alone, sorted, and
    as a set: the same for every calendar of that range (the library's tables are constants), so
    computed once per process instead of day by day at each construction (~5 ms of a calendar's ~6)."""
    library = _library_years()
    days: list[dt.date] = []
    day, last = dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)
    one = dt.timedelta(days=1)
    while day <= last:
        if _is_workday_by_rules(day, library):
            days.append(day)
        day += one
    return tuple(days), frozenset(days)


class BusinessCalendar:
    """Answers "is this a business day" and moves by business days, inside its known range only."""

    __slots__ = ("_business_days", "_business_set", "_first", "_last", "_overrides", "_provisional", "superseded")

    def __init__(self, overrides: Mapping[dt.date, bool] | None = None, *,
                 known_years: Iterable[int] = (), provisional_years: Iterable[int] = ()) -> None:
        """`overrides`: day -> True (working day) / False (holiday), applied over the library.
        `known_years`: extra years declared known (only weekends and overrides apply in them).
        `provisional_years`: those of `known_years` whose dates are provisional, not official."""
        library = _library_years()
        self._provisional = frozenset(provisional_years)
        self.superseded: tuple[YearBlock, ...] = ()
        if not self._provisional <= set(known_years) - set(library):
            raise InputError("config-invalid", f"provisional years {sorted(self._provisional)} must be declared "
                             "years the library does not know")
        declared = sorted(set(known_years) - set(library))
        if len(declared) > DECLARED_YEARS_MAX:
            raise InputError("config-invalid", f"{len(declared)} declared years; at most {DECLARED_YEARS_MAX}")
        years = sorted(set(library) | set(declared))
        if years != list(range(years[0], years[-1] + 1)):
            raise InputError("config-invalid", f"declared years {declared} leave a gap next to the known "
                             f"range {library.start}..{library.stop - 1}; declare every year in between")
        self._first = dt.date(years[0], 1, 1)
        self._last = dt.date(years[-1], 12, 31)
        self._overrides = dict(overrides or {})
        for day, working in self._overrides.items():
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime) or not isinstance(working, bool):
                raise InputError("config-invalid", f"override {day!r}: {working!r} is not date -> bool")
            if not self._first <= day <= self._last:
                raise InputError("config-invalid", f"override for {day.isoformat()} lies outside the known "
                                 f"years {years[0]}..{years[-1]}; declare its year under `years`")
        # A day is a business day by its override, else by the rules (all overrides lie in range).
        by_rules, by_rules_set = _days_by_rules(years[0], years[-1])
        if self._overrides:
            days = sorted((by_rules_set - {d for d, working in self._overrides.items() if not working})
                          | {d for d, working in self._overrides.items() if working})
        else:
            days = list(by_rules)
        self._business_days = days
        self._business_set = frozenset(days)
        assert self._business_days == sorted(self._business_set)

    @classmethod
    def from_file(cls, path: str | Path, *, blocks: Iterable[YearBlock] = ()) -> BusinessCalendar:
        """Load an override file (see the module docstring for its shape), plus year `blocks`."""
        path = Path(path)
        try:
            raw = read_regular(path)
        except OSError as exc:
            raise InputError(read_error_code(exc), f"cannot read calendar overrides {path}: {exc.strerror or exc}") from exc
        if len(raw) > OVERRIDE_FILE_BYTES_MAX:
            raise InputError("config-invalid", f"{path} is larger than {OVERRIDE_FILE_BYTES_MAX} bytes")
        try:
            data = load_yaml(raw) or {}
        except yaml.YAMLError as exc:
            raise InputError("config-invalid", f"{path} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, source=str(path), blocks=blocks)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "calendar overrides",
                  blocks: Iterable[YearBlock] = ()) -> BusinessCalendar:
        if not isinstance(data, dict):
            raise InputError("config-invalid", f"{source}: expected a mapping with workdays/holidays/years")
        unknown = set(data) - {"workdays", "holidays", "years"}
        if unknown:
            raise InputError("config-invalid", f"{source}: unknown keys {sorted(map(str, unknown))}")
        overrides: dict[dt.date, bool] = {}
        for key, working in (("workdays", True), ("holidays", False)):
            for item in _as_list(data.get(key), key, source):
                day = _as_date(item, key, source)
                if overrides.get(day, working) != working:
                    raise InputError("config-invalid", f"{source}: {day.isoformat()} is both a workday and a holiday")
                overrides[day] = working
        years = _as_list(data.get("years"), "years", source)
        if not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
            raise InputError("config-invalid", f"{source}: years must be integers, got {years!r}")
        return cls._with_blocks(overrides, years, list(blocks))

    @classmethod
    def _with_blocks(cls, overrides: dict[dt.date, bool], years: list[int],
                     blocks: list[YearBlock]) -> BusinessCalendar:
        official = set(_library_years()) | set(years)
        seen: set[int] = set()
        for block in blocks:
            if block.year in seen:
                raise InputError("calendar-block-invalid", f"two blocks for {block.year}")
            seen.add(block.year)
        official |= {b.year for b in blocks if not b.provisional}
        superseded = tuple(b for b in blocks if b.provisional and b.year in official)
        used = [b for b in blocks if b not in superseded]
        merged = dict(overrides)
        for block in used:
            for day, working in block.overrides.items():
                if merged.get(day, working) != working:
                    raise InputError("calendar-block-invalid", f"the {block.year} block says {day.isoformat()} is a "
                                     f"{'working day' if working else 'holiday'}; the override file says otherwise")
                merged[day] = working
        calendar = cls(merged, known_years=[*years, *(b.year for b in used)],
                       provisional_years=[b.year for b in used if b.provisional])
        calendar.superseded = superseded
        return calendar

    @classmethod
    def default(cls, *, blocks: Iterable[YearBlock] = ()) -> BusinessCalendar:
        """The calendar with the override file shipped next to this module, plus year `blocks`."""
        return cls.from_file(DEFAULT_OVERRIDES_PATH, blocks=blocks)

    # --- questions -------------------------------------------------------------------------

    @property
    def known_range(self) -> tuple[dt.date, dt.date]:
        """First and last day (inclusive) the calendar knows."""
        return self._first, self._last

    @property
    def provisional_years(self) -> tuple[int, ...]:
        """Known years whose dates are provisional (computed, not from the State Council's notice)."""
        return tuple(sorted(self._provisional))

    def provisional_between(self, a: dt.date, b: dt.date) -> bool:
        """True when a provisional year lies between the years of `a` and `b` (either order): an
        answer computed from `a` that came out as `b` rests on provisional dates."""
        low, high = sorted((a.year, b.year))
        return any(low <= year <= high for year in self._provisional)

    def is_business_day(self, day: dt.date) -> bool:
        self._check_known(day)
        return day in self._business_set

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after `day`."""
        return self._at(bisect.bisect_right(self._business_days, self._check_known(day)), day)

    def next_business_day_if_known(self, day: dt.date) -> dt.date | None:
        """The first business day strictly after `day`, or None when it lies past the known range
        (`day` itself must be known). For a scheduler's next wake: the last known day's evening has
        no next event it can name, which is not an error until something is due then."""
        index = bisect.bisect_right(self._business_days, self._check_known(day))
        return self._business_days[index] if index < len(self._business_days) else None

    def previous_business_day(self, day: dt.date) -> dt.date:
        """The last business day strictly before `day`."""
        return self._at(bisect.bisect_left(self._business_days, self._check_known(day)) - 1, day)

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """n > 0: the n-th business day strictly after `day`; n < 0: the |n|-th strictly before;
        n == 0: `day` itself if it is a business day, else the next one.

        For any `day` and n > 0, and for a business `day` and any n:
        `business_days_between(day, add_business_days(day, n)) == n`."""
        self._check_known(day)
        if n > 0:
            return self._at(bisect.bisect_right(self._business_days, day) + n - 1, day)
        if n < 0:
            return self._at(bisect.bisect_left(self._business_days, day) + n, day)
        return day if day in self._business_set else self.next_business_day(day)

    def business_days_between(self, a: dt.date, b: dt.date) -> int:
        """The number of business days in the half-open interval (a, b] when a <= b, and minus the
        number in (b, a] when b < a. So between(a, a) == 0, between(a, next_business_day(a)) == 1,
        and between(a, b) + between(b, c) == between(a, c)."""
        self._check_known(a)
        self._check_known(b)
        return bisect.bisect_right(self._business_days, b) - bisect.bisect_right(self._business_days, a)

    # --- internals -------------------------------------------------------------------------

    def _check_known(self, day: dt.date) -> dt.date:
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"expected a date, got {type(day).__name__}")
        if not self._first <= day <= self._last:
            raise InputError(OUT_OF_RANGE, f"the business calendar does not know {day.isoformat()}: "
                             f"it knows {self._range_text()}")
        return day

    def _at(self, index: int, asked: dt.date) -> dt.date:
        if not 0 <= index < len(self._business_days):
            side = "after" if index >= len(self._business_days) else "before"
            raise InputError(OUT_OF_RANGE, f"the business day wanted {side} {asked.isoformat()} lies "
                             f"past the known range {self._range_text()}")
        return self._business_days[index]

    def _range_text(self) -> str:
        return f"{self._first.isoformat()}..{self._last.isoformat()} (add a year: `tgw calendar`, docs/calendar.md)"


def _as_list(value: Any, key: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError("config-invalid", f"{source}: {key} must be a list")
    return value


def _as_date(item: Any, key: str, source: str) -> dt.date:
    day = iso_date(item)
    if day is None:
        raise InputError("config-invalid", f"{source}: {key} entry {item!r} is not a YYYY-MM-DD date")
    return day
