"""The statutory public holidays of 全国年节及纪念日放假办法, per year, as the law fixes them.

The State Council's yearly notice (国务院办公厅关于YYYY年部分节假日安排的通知) arranges the days
off around these: it adds bridge days and make-up working days (调休) that no rule predicts. What
the law alone fixes, and this module computes, is the statutory days of each festival, by the
revision of the Measures in force that year.

Not computed: the substitute day (补假) for a statutory day on a weekend. The Measures ask for
one, but the notices place it as they see fit (2012: the Friday *before* a Saturday Dragon Boat
Festival; 2015: none at all for a Sunday Mid-Autumn Festival), so any placement would be a guess.

Lunar dates (New Year's Eve, Spring Festival, Dragon Boat, Mid-Autumn) and the Qingming solar
term come from `lunar_python`; nothing here reads a clock or a file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lunar_python import Lunar, Solar

from messages.errors import InputError

__all__ = ["RULES", "Rule", "StatutoryDay", "days_off", "festivals", "qingming", "rule_for", "statutory_days"]

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Rule:
    """One revision of the Measures: the first year it governs and how many days each festival has."""

    name: str
    first_year: int
    new_year: int
    spring_from_eve: bool  # the Spring Festival days start on New Year's Eve (除夕), else on the 1st day
    spring: int
    qingming: int
    labour: int
    dragon_boat: int
    mid_autumn: int
    national: int


# Oldest first. Each governs from its first year until the next one's.
RULES = (
    Rule("1999 revision", 1999, new_year=1, spring_from_eve=False, spring=3, qingming=0, labour=3,
         dragon_boat=0, mid_autumn=0, national=3),
    Rule("2007 revision", 2008, new_year=1, spring_from_eve=True, spring=3, qingming=1, labour=1,
         dragon_boat=1, mid_autumn=1, national=3),
    Rule("2013 revision", 2014, new_year=1, spring_from_eve=False, spring=3, qingming=1, labour=1,
         dragon_boat=1, mid_autumn=1, national=3),
    Rule("2024 revision", 2025, new_year=1, spring_from_eve=True, spring=4, qingming=1, labour=2,
         dragon_boat=1, mid_autumn=1, national=3),
)
# The years the Qingming date is cross-checked against chinesecalendar's solar terms (whose
# formula breaks down in 2100); a year beyond is a typo, not a plan.
YEAR_MAX = 2099


@dataclass(frozen=True, slots=True, order=True)
class StatutoryDay:
    day: dt.date
    festival: str  # English name, e.g. "Spring Festival"


def rule_for(year: int) -> Rule:
    """The revision of the Measures in force in `year`."""
    if not (isinstance(year, int) and not isinstance(year, bool) and RULES[0].first_year <= year <= YEAR_MAX):
        raise InputError("calendar-block-invalid", f"year {year!r}: the statutory holidays are modelled for "
                                                   f"{RULES[0].first_year}..{YEAR_MAX}")
    return [r for r in RULES if r.first_year <= year][-1]


def _lunar(year: int, month: int, day: int) -> dt.date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def qingming(year: int) -> dt.date:
    """The day of the Qingming solar term (清明) in `year`."""
    table = Solar.fromYmd(year, 4, 1).getLunar().getJieQiTable()
    solar = table["清明"]
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def _run(first: dt.date, n: int) -> list[dt.date]:
    return [first + i * ONE_DAY for i in range(n)]


def festivals(year: int) -> list[tuple[str, list[dt.date]]]:
    """(festival, its statutory days) for each festival the rule of `year` gives days to."""
    rule = rule_for(year)
    spring_day = _lunar(year, 1, 1)
    spring_first = spring_day - ONE_DAY if rule.spring_from_eve else spring_day
    festivals = [
        ("New Year's Day", _run(dt.date(year, 1, 1), rule.new_year)),
        ("Spring Festival", _run(spring_first, rule.spring)),
        ("Qingming Festival", _run(qingming(year), rule.qingming)),
        ("Labour Day", _run(dt.date(year, 5, 1), rule.labour)),
        ("Dragon Boat Festival", _run(_lunar(year, 5, 5), rule.dragon_boat)),
        ("Mid-Autumn Festival", _run(_lunar(year, 8, 15), rule.mid_autumn)),
        ("National Day", _run(dt.date(year, 10, 1), rule.national)),
    ]
    return [(name, days) for name, days in festivals if days]


def statutory_days(year: int) -> list[StatutoryDay]:
    """Every statutory day off of `year`, sorted by day (a day two festivals share, such as a
    Mid-Autumn Festival on 1 October, once, under the earlier-listed festival). The Spring
    Festival lies between 21 January and 20 February, so its days never leave `year`."""
    taken: dict[dt.date, StatutoryDay] = {}
    for name, days in festivals(year):
        for day in days:
            taken.setdefault(day, StatutoryDay(day, name))
    return sorted(taken.values())


def days_off(year: int) -> list[dt.date]:
    """The statutory days off of `year` that fall on a weekday: the dates a year block must list
    under `holidays` at the least."""
    return [s.day for s in statutory_days(year) if s.day.weekday() < 5]
