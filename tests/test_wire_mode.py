"""A real bank's advance from the clearing reserve, as the wire shows it (runner.wire_mode), and the
replenishment its scorecard then owes (runner.scorecard_feed.observed_bank_events).

004 part 3 §9(11)-(12): what the bank accepts (受理) within the central bank's clearing time is
cleared that day by 16:00 (urgent 16:30); what it accepts after, it pays that day from the clearing
reserve, "每日从清算备用金账户划出的资金,在下一工作日上午...单独清算". Before, a real bank's
advance was only inferred from a replenishment it filed: one that never filed any owed nothing."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from runner.observed import ClearingSeen, Observed, PaymentSeen
from runner.scorecard_feed import observed_bank_events
from runner.wire_mode import seen_mode

CAL = BusinessCalendar.default()
CC = ClockConfig()
TUE = dt.date(2026, 3, 10)
WED = CAL.next_business_day(TUE)
SAT = dt.date(2026, 3, 14)  # a weekend day
MAKEUP = dt.date(2026, 2, 28)  # a make-up working Saturday (调休) after the Spring Festival week
TICK = dt.timedelta(microseconds=1)


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def mode(accepted: dt.datetime, paid: dt.date, cover: tuple[int, dt.date] | None = None) -> str:
    return seen_mode(accepted, paid, cover, CAL, CC)


def test_the_clearing_cutoff_is_the_line() -> None:
    assert mode(t(TUE, "16:00") - TICK, TUE) == "clearing"  # it could have been cleared: the wire cannot tell
    assert mode(t(TUE, "16:00"), TUE) == "advance"  # the cutoff instant is past it (16:00前)
    assert mode(t(TUE, "16:59"), TUE) == "advance"


def test_a_correct_bank_that_differs_from_the_simulator_is_not_taken_for_an_advance() -> None:
    # urgent, cleared by a request of that day up to 16:30: cleared, not advanced
    assert mode(t(TUE, "16:10"), TUE, (0, TUE)) == "clearing"
    # held overnight and paid the next morning (the reserve too short, or the bank's system closed)
    assert mode(t(TUE, "16:10"), WED, (0, WED)) == "defer"
    assert mode(t(TUE, "18:00"), WED) == "defer"
    # paid on a weekend day: no clearing time that day, nothing to replenish
    assert mode(t(SAT, "17:00"), SAT) == "clearing"


def test_an_advance_stays_one_whatever_clears_it_later() -> None:
    assert mode(t(TUE, "16:20"), TUE, (1, TUE)) == "advance"  # replenished
    # put into the next day's normal clearing instead of a separate one: still the reserve's, still owed
    assert mode(t(TUE, "16:20"), TUE, (0, WED)) == "advance"
    assert mode(t(MAKEUP, "16:20"), MAKEUP) == "advance"  # a make-up working day is a business day


def _duties(*payments: tuple[dt.datetime, dt.date, str], filings: tuple[ClearingSeen, ...] = ()) \
        -> list[tuple[str, dt.datetime | None]]:
    """(ref, done) of the replenishment duties of bank-a, its payments' modes as the runner sees them."""
    seen = []
    for i, (accepted, paid, vtcode) in enumerate(payments, start=1):
        cover = next(((f.clear_type, f.clear_date) for f in filings if f"A{i}" in f.payments), None)
        seen.append(PaymentSeen("bank-a", "999100000001", f"A{i}", vtcode, 90_00, mode(accepted, paid, cover),
                                accepted, paid, None))
    o = Observed("s", 1, t(TUE, "08:00"), t(dt.date(2026, 3, 31), "17:00"), payments=tuple(seen), clearings=filings)
    return sorted((e.ref, e.done) for e in observed_bank_events("bank-a", o, [], CAL, CC) if e.kind == "replenishment")


def test_a_bank_that_advanced_and_never_replenished_owes_the_replenishment() -> None:
    """Before: [] (no replenishment filed, so no advance seen, so nothing owed)."""
    assert _duties((t(TUE, "16:20"), TUE, "5201")) == [("20260310/11", None)]
    assert _duties((t(TUE, "16:20"), TUE, "5201"), (t(TUE, "16:40"), TUE, "8202")) == [("20260310/11", None),
                                                                                       ("20260310/12", None)]
    filed = ClearingSeen("bank-a", "999100000001", "HKR1", 1, "11", TUE, t(WED, "09:00"), 90_00, ("A1",), "accepted")
    assert _duties((t(TUE, "16:20"), TUE, "5201"), filings=(filed,)) == [("HKR1", t(WED, "09:00"))]


def test_nothing_is_owed_for_what_was_cleared_or_paid_the_next_morning() -> None:
    urgent = ClearingSeen("bank-a", "999100000001", "HK1", 0, "11", TUE, t(TUE, "16:25"), 90_00, ("A1",), "accepted")
    assert _duties((t(TUE, "16:10"), TUE, "5201"), filings=(urgent,)) == []
    assert _duties((t(TUE, "16:20"), WED, "5201")) == []
    assert _duties((t(TUE, "15:00"), TUE, "5201")) == []


def test_a_refused_same_day_clearing_does_not_clear_it() -> None:
    """The runner leaves a refused request out of what covers a payment (`cover` None): the payment
    accepted after the cutoff and paid that day stays the reserve's."""
    assert mode(t(TUE, "16:10"), TUE, None) == "advance"


# --- property: the rule of §9(12), written out, against the wire's reading ---

@settings(max_examples=300, deadline=None)
# days paid stay in a month whose report falls due inside the calendar (it ends 2026-12-31)
@given(day=st.dates(dt.date(2026, 1, 2), dt.date(2026, 11, 27)), minute=st.integers(0, 24 * 60 - 1),
       second=st.sampled_from([0, 59]), paid_after=st.integers(0, 2),
       cover=st.sampled_from(["none", "normal-that-day", "normal-later", "replenishment"]))
def test_the_wire_reads_an_advance_as_the_agreement_defines_it(day: dt.date, minute: int, second: int,
                                                                paid_after: int, cover: str) -> None:
    accepted = at(day, dt.time(minute // 60, minute % 60, second))
    paid = day + dt.timedelta(days=paid_after)
    covering = {"none": None, "normal-that-day": (0, paid), "normal-later": (0, paid + dt.timedelta(days=1)),
                "replenishment": (1, paid)}[cover]
    # the oracle: a payment is the reserve's when a replenishment covers it, or when it was accepted on
    # a working day at or after 16:00 and paid that day without a clearing of that day covering it
    working = CAL.is_business_day(day)
    after_time = accepted.time() >= dt.time(16, 0)
    if cover == "replenishment":
        expected = "advance"
    elif paid > day:
        expected = "defer"
    elif working and after_time and cover != "normal-that-day":
        expected = "advance"
    else:
        expected = "clearing"
    assert mode(accepted, paid, covering) == expected
    # and the scorecard owes a replenishment exactly for an advance no ClearType 1 request names
    owed = _duties((accepted, paid, "5201"), filings=(
        (ClearingSeen("bank-a", "999100000001", "HK1", covering[0], "11", covering[1], accepted, 90_00, ("A1",),
                      "accepted"),) if covering else ()))
    never = [ref for ref, done in owed if done is None]
    assert never == ([f"{paid:%Y%m%d}/11"] if expected == "advance" and cover != "replenishment" else [])
