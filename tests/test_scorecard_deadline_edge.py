"""Late or on time at the deadline's own instant, against the agreement's words (004 part 3):
the times of day are "before" (16:00前, 10:00之前, 11:00之前): a duty done at 16:00:00 is late,
as the central bank refuses a clearing request then; "within n working days" (…个工作日内) ends
with the n-th working day: done at its last instant is on time. Generated around each deadline."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, is_before_clearing_cutoff
from treasury_sim.scorecard import DUTY_KINDS, DutyEvent, business_days_late, due_time, score_month

CAL = BusinessCalendar.default()
CFG = ClockConfig()
BANK = "999100000001"
# the duties whose deadline is a time of day the agreement says to be "before"; the replenishment's
# "上午" (the morning) ends as noon begins
TIME_OF_DAY = {"payment", "clearing", "replenishment", "receipt"}


def oracle_late(kind: str, due: dt.datetime, done: dt.datetime) -> bool:
    if kind in TIME_OF_DAY:
        return not done < due
    # the end of the n-th working day: anything on that day or before is on time
    return done.astimezone(TZ).date() > due.astimezone(TZ).date()


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(DUTY_KINDS), day=st.dates(dt.date(2026, 1, 5), dt.date(2026, 11, 30)),
       offset=st.sampled_from((-1, 0, 1)), unit=st.sampled_from(("seconds", "microseconds")))
def test_the_deadline_instant_in_both_directions(kind: str, day: dt.date, offset: int, unit: str) -> None:
    anchor: dt.datetime | dt.date = dt.datetime.combine(day, dt.time(18, 0), tzinfo=TZ) if kind in (
        "payment", "credit-notice", "quota-arrival-notice", "refund-notice") else day
    if kind == "clearing" and not CAL.is_business_day(day):
        day = CAL.next_business_day(day)
        anchor = day
    due = due_time(kind, anchor, CAL, CFG)  # type: ignore[arg-type]
    done = due + dt.timedelta(**{unit: offset})
    late = oracle_late(kind, due, done)
    card = score_month([DutyEvent(BANK, kind, "ref", due, done)], BANK, due.year, due.month, CAL)
    (line,) = card.lines
    assert (line.late, line.on_time) == ((1, 0) if late else (0, 1)), (kind, due, done)
    if kind in TIME_OF_DAY:  # late the same day: no whole business day
        assert business_days_late(due, done, CAL) == 0


def test_a_clearing_request_at_the_cutoff_is_late_for_both_the_central_bank_and_the_scorecard() -> None:
    day = dt.date(2026, 3, 3)
    cutoff = due_time("clearing", day, CAL, CFG)
    assert not is_before_clearing_cutoff(cutoff, CAL, CFG)  # the central bank refuses it
    card = score_month([DutyEvent(BANK, "clearing", "2301", cutoff, cutoff)], BANK, 2026, 3, CAL)
    assert card.lines[0].late == 1


def test_not_done_by_the_deadline_is_no_longer_pending_at_it() -> None:
    day = dt.date(2026, 3, 3)
    due = due_time("receipt", day, CAL, CFG)  # 11:00 the next business day
    card = score_month([DutyEvent(BANK, "receipt", "r", due, None)], BANK, 2026, 3, CAL, as_of=due)
    assert (card.lines[0].pending, card.lines[0].missing) == (0, 1)
    card = score_month([DutyEvent(BANK, "receipt", "r", due, None)], BANK, 2026, 3, CAL,
                       as_of=due - dt.timedelta(microseconds=1))
    assert (card.lines[0].pending, card.lines[0].missing) == (1, 0)
