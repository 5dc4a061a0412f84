"""A real bank's quota-arrival-notice duties read off the wire (`runner.scorecard_feed.observed_bank_events`)
when 7101s of two budget years (or two divisions) share a VoucherNo: a 7101 is its voucher's key
(AdmDivCode, StYear, VtCode, VoucherNo), each division's treasury numbering its vouchers afresh
each year, and each 7101 owes its own arrival notices (7102, 004 part 3 §9(2)). Before, 7101s were
kept by (AdmDivCode, VoucherNo): a new year's 7101 of last year's number was no duty at all, and
last year's 7102 was taken as its arrival notice."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from runner.observed import Observed
from runner.scorecard_feed import NoticeSeen, observed_bank_events

CAL = BusinessCalendar.default()
CC = ClockConfig()
HOME, OTHER = "990100", "990200"
DEC, JAN = dt.date(2025, 12, 10), dt.date(2026, 1, 7)


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def _observed() -> Observed:
    return Observed("s", 1, t(DEC, "08:00"), t(dt.date(2026, 2, 27), "17:00"))


def _quota(adm: str, year: str, no: str, when: dt.datetime) -> NoticeSeen:
    return NoticeSeen("7101", no, "", "", 500_00, when, True, adm=adm, year=year)


def _arrival(adm: str, year: str, no: str, when: dt.datetime, seq: int) -> NoticeSeen:
    return NoticeSeen("7102", f"DZ{seq:04d}", "7101", no, 500_00, when, False, adm=adm, year=year)


def _duties(notices: list[NoticeSeen]) -> list[tuple[str, dt.datetime | None]]:
    """(name, when done) of each 7101's duty, in the order the 7101s reached the bank."""
    events = observed_bank_events("bank-a", _observed(), notices, CAL, CC, home=HOME)
    return [(e.ref, e.done) for e in events if e.kind == "quota-arrival-notice"]


def test_a_new_year_s_7101_of_last_year_s_number_is_a_duty_of_its_own() -> None:
    old, new = _quota(HOME, "2025", "QN1", t(DEC, "09:00")), _quota(HOME, "2026", "QN1", t(JAN, "09:00"))
    answered = _arrival(HOME, "2025", "QN1", t(DEC, "09:30"), 1)
    duties = _duties([old, new, answered])  # the bank never told the units of the new year's quota
    assert duties == [("QN1", t(DEC, "09:30")), ("QN1", None)]
    both = _duties([old, new, answered, _arrival(HOME, "2026", "QN1", t(JAN, "10:00"), 2)])
    assert both == [("QN1", t(DEC, "09:30")), ("QN1", t(JAN, "10:00"))]
    late = _quota(HOME, "2025", "QN1", t(JAN, "11:00"))  # last year's, arriving in the new year: named so
    assert _duties([new, late])[1] == ("QN1@2025", None)


def test_a_7102_sent_under_the_year_it_went_answers_the_7101_that_reached_the_bank_last() -> None:
    """A bank that dates its 7102 StYear by the day it went (not the quota's year) still answers
    the 7101 it was told of last: next year's quota notified in December is answered in December."""
    early = _quota(HOME, "2026", "QN1", t(DEC, "09:00"))
    duties = _duties([_quota(HOME, "2025", "QN1", t(dt.date(2025, 3, 2), "09:00")),
                      _arrival(HOME, "2025", "QN1", t(dt.date(2025, 3, 2), "09:30"), 1),
                      early, _arrival(HOME, "2025", "QN1", t(DEC, "09:30"), 2)])
    assert duties == [("QN1", t(dt.date(2025, 3, 2), "09:30")), ("QN1@2026", t(DEC, "09:30"))]


_NOTICES = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                              st.sampled_from(["QN1", "QN2"]), st.booleans()),
                    min_size=1, max_size=8, unique_by=lambda n: n[:3])


@settings(max_examples=80, deadline=None)
@given(notices=_NOTICES, gap=st.integers(0, 3))
def test_each_7101_s_duty_is_as_if_it_were_alone(notices: list[tuple[str, str, str, bool]], gap: int) -> None:
    """Oracle from the agreement (004 part 3 §9(2): each quota notice's units are told within
    1 + 1 working days): each 7101 of a division, year and number, alone with its own 7102s, is
    a duty done when its last 7102 went (or undone); with the others, whose numbers collide
    across divisions and years, it is the same duty, done at the same time."""
    seen: list[tuple[tuple[str, str, str], list[NoticeSeen]]] = []
    for i, (adm, year, no, told) in enumerate(notices):
        arrived = t(dt.date(2025, 12, 1) + dt.timedelta(days=i * (gap + 1)), "09:00")
        own = [_quota(adm, year, no, arrived)]
        if told:  # the bank tells the units before the next notice reaches it
            own.append(_arrival(adm, year, no, arrived + dt.timedelta(minutes=30), i))
        seen.append(((adm, year, no), own))
    together = _duties([n for _, own in seen for n in own])
    assert len(together) == len(seen)  # each its own duty
    for (_key, own), duty in zip(seen, together, strict=True):  # both in the order the 7101s arrived
        assert [duty] == _duties(own)
