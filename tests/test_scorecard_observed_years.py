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
from runner.observed import Observed, PaymentSeen
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


# --- refund notices: two years' (or divisions') payments of one number -----------------------------

PAID_ON = {"2025": dt.date(2025, 12, 29), "2026": dt.date(2026, 1, 6)}


def _payment(adm: str, year: str, no: str, fen: int) -> PaymentSeen:
    day = PAID_ON[year]
    return PaymentSeen("bank-a", "999100000001", no, "5201", fen, "clearing", t(day, "09:00"), day, None,
                       f"{adm}/{year}/5201/{no}")


def _back(adm: str, year: str, no: str, fen: int, when: dt.datetime, seq: int) -> NoticeSeen:
    """The payee's bank's 2252 returning payment `no` (of OriVouDate year `year`) whole."""
    return NoticeSeen("2252", f"ST{seq:04d}", "5201", no, fen, when, True, adm=adm, year="2026", ori_year=year)


def _told(adm: str, year: str, no: str, fen: int, when: dt.datetime, seq: int) -> NoticeSeen:
    """The bank's refund notice (2203) of it to the treasury."""
    return NoticeSeen("2203", f"TP{seq:04d}", "5201", no, fen, when, False, adm=adm, year="2026", ori_year=year)


def _refund_duties(payments: list[PaymentSeen], notices: list[NoticeSeen]) -> list[tuple[str, dt.datetime | None]]:
    o = Observed("s", 1, t(DEC, "08:00"), t(dt.date(2026, 2, 27), "17:00"), payments=tuple(payments))
    return [(e.ref, e.done) for e in observed_bank_events("bank-a", o, notices, CAL, CC, home=HOME)
            if e.kind == "refund-notice"]


def test_two_years_payments_of_one_number_returned_are_two_refund_notice_duties() -> None:
    back = t(JAN, "10:00")
    payments = [_payment(HOME, "2025", "A1", 100_00), _payment(HOME, "2026", "A1", 200_00)]
    notices = [_back(HOME, "2025", "A1", 100_00, back, 1), _back(HOME, "2026", "A1", 200_00, back, 2),
               _told(HOME, "2026", "A1", 200_00, t(JAN, "11:00"), 1)]
    # before: one duty (by division and number), done by the 2026 payment's notice
    assert _refund_duties(payments, notices) == [("A1@2025", None), ("A1", t(JAN, "11:00"))]


_RETURNS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                              st.sampled_from(["A1", "A2"]), st.booleans()),
                    min_size=1, max_size=8, unique_by=lambda r: r[:3])


@settings(max_examples=80, deadline=None)
@given(returns=_RETURNS)
def test_each_returned_payment_s_refund_notice_duty_is_as_if_it_were_alone(
        returns: list[tuple[str, str, str, bool]]) -> None:
    """Oracle from the agreement (004 part 3 §8(5), §9(9): the bank tells the treasury of each
    payment that came back within 1 working day): each payment returned whole is a duty done when
    its own 2203 (its division, number and OriVouDate year) went, the same together as alone,
    though numbers collide across divisions and years."""
    payments, notices, own = [], [], []
    for i, (adm, year, no, told) in enumerate(returns):
        fen = (i + 1) * 100
        p = _payment(adm, year, no, fen)
        mine = [_back(adm, year, no, fen, t(JAN, "10:00") + dt.timedelta(minutes=i), i)]
        if told:
            mine.append(_told(adm, year, no, fen, t(JAN, "14:00") + dt.timedelta(minutes=i), i))
        payments.append(p)
        notices += mine
        own.append(([p], mine))
    together = _refund_duties(payments, notices)
    assert len(together) == len(returns)
    for duty, (p_alone, n_alone) in zip(together, own, strict=True):  # both in the order returned
        assert [duty] == _refund_duties(p_alone, n_alone)
