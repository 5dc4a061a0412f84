"""A year block: one year of the business calendar, official (from the State Council's notice) or
provisional (computed from the statutory holidays alone). Pure: parse, check, compute, render.

    year: 2027
    provisional: false
    notice:
      title: 国务院办公厅关于2027年部分节假日安排的通知
      date: 2026-11-12
    holidays: [2027-01-01, ...]   # every weekday that is off (weekend days are off anyway)
    workdays: [2027-02-20, ...]   # every Saturday or Sunday that is a make-up working day (调休)

A provisional block (`tgw calendar provisional 2027`) has `provisional: true`, a `basis` naming
the revision of 全国年节及纪念日放假办法 it was computed from, exactly the statutory holidays that
fall on a weekday, and no make-up days: the calendar never guesses what the notice will add.
Every problem is an `InputError("calendar-block-invalid")` naming the element at fault.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from messages.errors import InputError

# `business_time.statutory` (and the lunar calendar under it, ~30 ms to import) is imported by the
# functions that compute statutory days: reading a block (`parse_block`, `iso_date`) needs neither.

__all__ = ["YearBlock", "check_block", "parse_block", "provisional_block", "render_block"]

CODE = "calendar-block-invalid"
# The longest arrangement so far (2026) has 19 weekday holidays and 6 make-up days; a block with
# more than this is not a holiday notice (and a runaway file must not build a huge table).
DATES_PER_KIND_MAX = 60
_KEYS = {"year", "provisional", "basis", "notice", "holidays", "workdays"}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class YearBlock:
    year: int
    provisional: bool
    holidays: tuple[dt.date, ...]  # weekdays off, sorted
    workdays: tuple[dt.date, ...]  # weekend make-up working days, sorted
    notice_title: str | None = None
    notice_date: dt.date | None = None
    basis: str | None = None

    @property
    def overrides(self) -> dict[dt.date, bool]:
        """day -> working? for BusinessCalendar."""
        return {**{d: False for d in self.holidays}, **{d: True for d in self.workdays}}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"year": self.year, "provisional": self.provisional}
        if self.basis is not None:
            out["basis"] = self.basis
        if self.notice_title is not None or self.notice_date is not None:
            out["notice"] = {"title": self.notice_title,
                             "date": self.notice_date.isoformat() if self.notice_date else None}
        out["holidays"] = [d.isoformat() for d in self.holidays]
        out["workdays"] = [d.isoformat() for d in self.workdays]
        return out


def iso_date(value: Any) -> dt.date | None:
    """A date as YAML gives it (a date, or a YYYY-MM-DD string), or None for anything else."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _bad(source: str, element: str, why: str) -> InputError:
    return InputError(CODE, f"{source}: {why}", path=element)


def _date(value: Any, source: str, element: str) -> dt.date:
    day = iso_date(value)
    if day is None:
        raise _bad(source, element, f"{value!r} is not a YYYY-MM-DD date")
    return day


def _dates(data: dict[str, Any], key: str, source: str) -> tuple[dt.date, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(source, key, "must be a list of dates")
    if len(value) > DATES_PER_KIND_MAX:
        raise _bad(source, key, f"{len(value)} dates; a year has at most {DATES_PER_KIND_MAX}")
    days = [_date(item, source, f"{key}[{i}]") for i, item in enumerate(value)]
    seen: set[dt.date] = set()
    for day in days:
        if day in seen:
            raise _bad(source, key, f"{day.isoformat()} is listed twice")
        seen.add(day)
    return tuple(sorted(days))


def parse_block(data: Any, *, source: str = "year block") -> YearBlock:
    """The shape only (types, known keys); `check_block` checks the content."""
    if not isinstance(data, dict):
        raise _bad(source, "(document)", "expected a mapping with year, provisional, notice, holidays, workdays")
    unknown = sorted(map(str, set(data) - _KEYS))
    if unknown:
        raise _bad(source, unknown[0], f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise _bad(source, "year", f"{year!r} is not a year")
    provisional = data.get("provisional", False)
    if not isinstance(provisional, bool):
        raise _bad(source, "provisional", f"{provisional!r} is not true or false")
    basis = data.get("basis")
    if basis is not None and not isinstance(basis, str):
        raise _bad(source, "basis", "must be text")
    notice = data.get("notice")
    title: str | None = None
    date: dt.date | None = None
    if notice is not None:
        if not isinstance(notice, dict) or set(notice) - {"title", "date"}:
            raise _bad(source, "notice", "expected {title, date}")
        raw_title = notice.get("title")
        if raw_title is not None and not isinstance(raw_title, str):
            raise _bad(source, "notice.title", "must be text")
        title = raw_title.strip() if raw_title else None
        date = _date(notice["date"], source, "notice.date") if notice.get("date") is not None else None
    return YearBlock(year, provisional, _dates(data, "holidays", source), _dates(data, "workdays", source),
                     title, date, basis)


def provisional_block(year: int) -> YearBlock:
    """The statutory holidays of `year` that fall on a weekday; no make-up days."""
    from business_time.statutory import days_off, rule_for

    return YearBlock(year, True, tuple(days_off(year)), (), basis=f"全国年节及纪念日放假办法 ({rule_for(year).name})")


def check_block(block: YearBlock, *, source: str = "year block") -> None:
    """Raise `calendar-block-invalid` unless `block` is a complete, consistent year.

    Official: the notice's title (naming the year) and date; every holiday a weekday of the year,
    every make-up day a Saturday or Sunday of it, none both; every statutory holiday of the year
    that falls on a weekday among the holidays. Provisional: exactly what `provisional_block`
    computes, so nobody hand-edits a guess into a block marked provisional."""
    from business_time.statutory import rule_for, statutory_days

    rule_for(block.year)  # a year the statutory rules model
    for day in (*block.holidays, *block.workdays):
        if day.year != block.year:
            raise _bad(source, "holidays" if day in block.holidays else "workdays",
                       f"{day.isoformat()} is not in {block.year}")
    for day in block.holidays:
        if day.weekday() >= 5:
            raise _bad(source, "holidays", f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]}: list only weekdays "
                                           "that are off (a weekend day is off anyway)")
    for day in block.workdays:
        if day.weekday() < 5:
            raise _bad(source, "workdays", f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]}: a make-up "
                                           "working day is a Saturday or Sunday")
    both = sorted(set(block.holidays) & set(block.workdays))
    if both:
        raise _bad(source, "workdays", f"{both[0].isoformat()} is also listed as a holiday")
    if block.provisional:
        expected = provisional_block(block.year)
        if block.notice_title is not None or block.notice_date is not None:
            raise _bad(source, "notice", "a provisional block has no notice; an official one is not provisional")
        if block.workdays:
            raise _bad(source, "workdays", "a provisional block has no make-up days (only the notice sets them)")
        if block.holidays != expected.holidays:
            extra = sorted(set(block.holidays) - set(expected.holidays))
            missing = sorted(set(expected.holidays) - set(block.holidays))
            what = (f"{extra[0].isoformat()} is not a statutory holiday" if extra
                    else f"statutory holiday {missing[0].isoformat()} is missing")
            raise _bad(source, "holidays", f"{what}; a provisional block is exactly what "
                                           f"`tgw calendar provisional {block.year}` computes")
        return
    if not block.notice_title:
        raise _bad(source, "notice.title", "missing: give the title of the State Council notice the dates come from")
    if str(block.year) not in block.notice_title:
        raise _bad(source, "notice.title", f"{block.notice_title!r} does not name the year {block.year}")
    if block.notice_date is None:
        raise _bad(source, "notice.date", "missing: give the date of the State Council notice")
    if not dt.date(block.year - 1, 1, 1) <= block.notice_date <= dt.date(block.year, 12, 31):
        raise _bad(source, "notice.date", f"{block.notice_date.isoformat()} is not in {block.year - 1} or "
                                          f"{block.year}")
    listed = set(block.holidays)
    for statutory in statutory_days(block.year):
        if statutory.day.weekday() < 5 and statutory.day not in listed:
            raise _bad(source, "holidays", f"statutory holiday {statutory.day.isoformat()} ({statutory.festival}) "
                                           "is missing")


def render_block(block: YearBlock) -> str:
    """YAML for `block`, each date with a comment (festival, weekday); loadable by `parse_block`."""
    from business_time.statutory import statutory_days

    names = {s.day: s.festival for s in statutory_days(block.year)} if block.year >= 1999 else {}
    lines: list[str] = []
    if block.provisional:
        lines += [f"# PROVISIONAL business calendar for {block.year}, computed by `tgw calendar provisional "
                  f"{block.year}`",
                  f"# from the statutory holidays of {block.basis}, NOT from the State Council's notice:",
                  "# no make-up working days (调休), no bridge days, no substitute days (补假).",
                  "# Replace it with the official block (`tgw calendar load FILE`) once the notice is out.",
                  "# Statutory days on a weekend are off anyway and are listed as comments only."]
    lines += [f"year: {block.year}", f"provisional: {'true' if block.provisional else 'false'}"]
    if block.basis is not None:
        lines.append(f"basis: {_quote(block.basis)}")
    if block.notice_title is not None or block.notice_date is not None:
        lines += ["notice:", f"  title: {_quote(block.notice_title or '')}",
                  f"  date: {block.notice_date.isoformat() if block.notice_date else 'null'}"]
    lines.append("holidays:" if block.holidays else "holidays: []")
    weekend_statutory = sorted(d for d in names if d.weekday() >= 5) if block.provisional else []
    for day in sorted({*block.holidays, *weekend_statutory}):
        note = f"{names[day]}, " if day in names else ""
        prefix = "  # - " if day not in block.holidays else "  - "
        lines.append(f"{prefix}{day.isoformat()}  # {note}{_WEEKDAYS[day.weekday()]}")
    lines.append("workdays:" if block.workdays else "workdays: []")
    lines += [f"  - {day.isoformat()}  # make-up working day, {_WEEKDAYS[day.weekday()]}" for day in block.workdays]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
