"""The bank scorecard: hand-picked months (a prompt bank, a slow one, a holiday in the way) and
generated ones (a score never above the maximum, more lateness never raises it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, at
from treasury_sim.scorecard import (
    DUTY_KINDS,
    RULES,
    Deduction,
    DutyEvent,
    DutyKind,
    ScoringRules,
    business_days_late,
    due_time,
    render_json,
    render_text,
    score_month,
    scorecard,
)

CAL = BusinessCalendar.default()
CFG = ClockConfig()
BANK = "999100000001"
SLOW = "999100000002"
D = dt.date


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def receipt(bank: str, paid: str, done: dt.datetime | None, **kw: bool) -> DutyEvent:
    return DutyEvent(bank, "receipt", f"5201:{paid}", due_time("receipt", D.fromisoformat(paid), CAL, CFG), done, **kw)


def prompt_month(bank: str = BANK) -> list[DutyEvent]:
    """March 2026 of a bank that does everything on time."""
    events: list[DutyEvent] = []
    day = D(2026, 3, 2)
    while day.month == 3:
        if CAL.is_business_day(day):
            arrived = at(day, dt.time(9, 30))
            paid = at(day, dt.time(10, 0))
            events += [
                DutyEvent(bank, "payment", f"5201:{day}", due_time("payment", arrived, CAL, CFG), paid),
                DutyEvent(bank, "clearing", f"2301:{day}", due_time("clearing", day, CAL, CFG), at(day, dt.time(15, 30))),
                DutyEvent(bank, "receipt", f"5201:{day}:r", due_time("receipt", day, CAL, CFG), at(day, dt.time(10, 1))),
                DutyEvent(bank, "credit-notice", f"cn:{day}", due_time("credit-notice", paid, CAL, CFG), paid),
                DutyEvent(bank, "daily-report", f"2206:{day}", due_time("daily-report", day, CAL, CFG),
                          at(day, dt.time(17, 30))),
            ]
        day += dt.timedelta(days=1)
    events.append(DutyEvent(bank, "quota-arrival-notice", "7102:1",
                            due_time("quota-arrival-notice", t("2026-03-02", "09:00"), CAL, CFG), t("2026-03-02", "10:00")))
    events.append(DutyEvent(bank, "refund-notice", "2203:1",
                            due_time("refund-notice", t("2026-03-10", "09:00"), CAL, CFG), t("2026-03-10", "15:00")))
    return events


# ---------------------------------------------------------------- hand-picked


def test_a_prompt_bank_scores_full_marks() -> None:
    march, april = scorecard(prompt_month(), CAL)  # the duties of March 31 fall due in April
    assert april.month == 4 and april.score == RULES.max_points
    card = march
    assert (card.bank, card.year, card.month) == (BANK, 2026, 3)
    assert card.score == RULES.max_points and not card.flagged and card.late == 0
    assert card.timeliness_pct == 100.0 and card.accuracy_pct == 100.0
    assert {line.kind for line in card.lines} == {"payment", "clearing", "receipt", "credit-notice",
                                                  "daily-report", "quota-arrival-notice", "refund-notice"}
    assert all(line.deducted == 0 and line.on_time == line.counted for line in card.lines)


@pytest.mark.parametrize(("delivered", "late"), [("2026-03-10", 0), ("2026-03-12", 0), ("2026-03-13", 1),
                                                  ("2026-03-16", 1)])
def test_a_quota_arrival_notice_on_the_second_working_day_is_on_time_on_the_third_late(delivered: str,
                                                                                      late: int) -> None:
    # 004 part 3 §9(2): 1 working day to the branches, then 1 to the units. The 7101 reaches the
    # bank on Tuesday 2026-03-10; Thursday 03-12 is the second working day, Friday 03-13 the third.
    due = due_time("quota-arrival-notice", t("2026-03-10", "10:30"), CAL, CFG)
    assert due == at(D(2026, 3, 12), dt.time.max)
    event = DutyEvent(SLOW, "quota-arrival-notice", "7101:1", due, t(delivered, "09:00"))
    [line] = score_month([event], SLOW, 2026, 3, CAL).lines
    assert (line.kind, line.on_time, line.late) == ("quota-arrival-notice", 1 - late, late)


def test_a_slow_bank_with_three_late_receipts_in_a_month_is_flagged() -> None:
    on_time = [receipt(SLOW, f"2026-03-{d:02d}", t(f"2026-03-{d + 1:02d}", "10:00")) for d in (2, 3, 4)]
    late = [receipt(SLOW, f"2026-03-{d:02d}", t(f"2026-03-{d + 1:02d}", "14:00")) for d in (9, 10, 11)]
    card = score_month(on_time + late, SLOW, 2026, 3, CAL)
    [line] = card.lines
    assert (line.counted, line.on_time, line.late, line.business_days_late) == (6, 3, 3, 0)
    assert card.flagged and card.flags[0].startswith("feedback: 3 late")
    # three late at 2 points each (same day: no extra business day) and the flag
    assert card.score == 100 - 3 * 2 - RULES.flag.small
    # two late in a month is not flagged
    assert not score_month(on_time + late[:2], SLOW, 2026, 3, CAL).flagged
    # nor are three spread over two months (a receipt due in April counts in April)
    march_end = receipt(SLOW, "2026-03-31", t("2026-04-01", "14:00"))
    cards = scorecard([*late[:2], march_end], CAL)
    assert [(c.month, c.late, c.flagged) for c in cards] == [(3, 2, False), (4, 1, False)]


def test_lateness_across_the_spring_festival_is_counted_in_business_days() -> None:
    # paid Friday 2026-02-13: the receipt is due Saturday 02-14 11:00 (a make-up working day);
    # delivered 02-24 10:00, after the holiday (02-15..23): 1 business day late, not 10 days
    due = due_time("receipt", D(2026, 2, 13), CAL, CFG)
    assert due == t("2026-02-14", "11:00")
    assert business_days_late(due, t("2026-02-24", "10:00"), CAL) == 1
    assert business_days_late(due, t("2026-02-14", "16:00"), CAL) == 0  # late, the same day
    assert business_days_late(due, t("2026-02-14", "10:59"), CAL) == 0  # on time
    card = score_month([receipt(BANK, "2026-02-13", t("2026-02-24", "10:00"))], BANK, 2026, 2, CAL)
    [line] = card.lines
    assert (line.late, line.business_days_late, line.deducted) == (1, 1, 2 + 1)
    # the same delay in calendar days with no holiday in between costs more: 02-27 → 03-09
    # (02-28, a Saturday, is a make-up working day: 7 business days)
    plain = score_month([receipt(BANK, "2026-02-26", t("2026-03-09", "10:00"))], BANK, 2026, 2, CAL)
    assert plain.lines[0].business_days_late == 7 and plain.score < card.score


def test_national_day_2026_monthly_statement_and_report_deadlines() -> None:
    # September 2026 ends on a Wednesday; Oct 1-7 are off: the statement (3 working days) and
    # the monthly report (2) fall after the holiday.
    assert due_time("monthly-statement", D(2026, 9, 15), CAL, CFG) == at(D(2026, 10, 10), dt.time.max)
    assert due_time("monthly-report", D(2026, 9, 1), CAL, CFG) == at(D(2026, 10, 9), dt.time.max)
    events = [DutyEvent(BANK, "monthly-statement", "3501:2026-09",
                        due_time("monthly-statement", D(2026, 9, 1), CAL, CFG), t("2026-10-12", "09:00"))]
    [card] = scorecard(events, CAL)
    assert (card.year, card.month) == (2026, 10)  # counted in the month it fell due
    assert card.lines[0].business_days_late == 1  # 10-11 is a Sunday


def test_due_times_follow_the_agreement() -> None:
    # received after the system close on a Friday: paid by 10:00 the next business day
    assert due_time("payment", t("2026-03-13", "17:30"), CAL, CFG) == t("2026-03-16", "10:00")
    assert due_time("clearing", D(2026, 3, 16), CAL, CFG) == t("2026-03-16", "16:00")
    assert due_time("clearing", D(2026, 3, 16), CAL, CFG, urgent=True) == t("2026-03-16", "16:30")
    assert due_time("credit-notice", t("2026-02-13", "10:00"), CAL, CFG) == at(D(2026, 2, 24), dt.time.max)
    assert due_time("refund-notice", D(2026, 2, 13), CAL, CFG) == at(D(2026, 2, 14), dt.time.max)
    assert due_time("daily-report", D(2026, 2, 14), CAL, CFG) == at(D(2026, 2, 24), dt.time.max)
    with pytest.raises(TypeError):
        due_time("payment", D(2026, 3, 16), CAL, CFG)


def test_accuracy_and_faulty_messages() -> None:
    base = [receipt(BANK, f"2026-03-{d:02d}", t(f"2026-03-{d + 1:02d}", "09:00")) for d in (2, 3, 4, 5)]
    three = [dataclasses.replace(e, accurate=False) for e in base[:3]] + base[3:]
    card = score_month(three, BANK, 2026, 3, CAL)
    assert not card.flagged and card.lines[0].errors == 3 and card.score == 100 - 3 * RULES.error.small
    assert card.accuracy_pct == 25.0
    four = [*three[:3], dataclasses.replace(base[3], faulty=True)]  # "more than 3" errors
    card = score_month(four, BANK, 2026, 3, CAL)
    assert card.flags == ("accuracy: 4 errors or faulty messages in the month (> 3): rectify within a month",)
    assert card.score == 100 - 3 * RULES.error.small - RULES.faulty.small - RULES.flag.small


def test_a_large_bank_is_deducted_at_the_lower_bound() -> None:
    late = [receipt(BANK, f"2026-03-{d:02d}", t(f"2026-03-{d + 2:02d}", "14:00")) for d in (9, 10, 11)]
    [small] = scorecard(late, CAL)
    [large] = scorecard(late, CAL, large_banks=frozenset({BANK}))
    assert large.size == "large" and large.score > small.score


def test_as_of_counts_missing_and_leaves_pending_out() -> None:
    done = receipt(BANK, "2026-03-02", t("2026-03-03", "09:00"))
    overdue = receipt(BANK, "2026-03-03", None)  # due 03-04 11:00
    not_yet = receipt(BANK, "2026-03-05", None)  # due 03-06 11:00
    card = score_month([done, overdue, not_yet], BANK, 2026, 3, CAL, as_of=t("2026-03-05", "12:00"))
    [line] = card.lines
    assert (line.counted, line.on_time, line.missing, line.pending) == (2, 1, 1, 1)
    assert card.score == 100 - RULES.missing.small
    # drawn up after the month: a duty never done is missing
    final = score_month([done, overdue, not_yet], BANK, 2026, 3, CAL)
    assert final.lines[0].missing == 2
    # done after the card was drawn up: not known then
    later = receipt(BANK, "2026-03-03", t("2026-03-06", "09:00"))
    assert score_month([later], BANK, 2026, 3, CAL, as_of=t("2026-03-05", "12:00")).lines[0].missing == 1


def test_rendering() -> None:
    late = [receipt(SLOW, f"2026-03-{d:02d}", t(f"2026-03-{d + 1:02d}", "14:00")) for d in (9, 10, 11)]
    cards = [c for c in scorecard(prompt_month() + late, CAL) if c.month == 3]
    text = render_text(cards)
    assert f"bank {BANK}  2026-03  score 100/100" in text
    assert f"bank {SLOW}  2026-03  score 89/100" in text and "FLAGGED" in text
    assert "! feedback: 3 late" in text
    data = json.loads(json.dumps(render_json(cards)))
    assert [(d["bank"], d["month"], d["score"], d["flagged"]) for d in data] == [
        (BANK, "2026-03", 100, False), (SLOW, "2026-03", 89, True)]
    assert data[1]["duties"] == [{"kind": "receipt", "counted": 3, "on_time": 0, "late": 3, "missing": 0,
                                  "business_days_late": 0, "errors": 0, "faulty": 0, "pending": 0, "deducted": 6,
                                  "timeliness_pct": 0.0}]
    assert render_text([]) == ""


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown duty kind"):
        DutyEvent(BANK, "tea-break", "x", t("2026-03-02", "09:00"))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="naive"):
        DutyEvent(BANK, "receipt", "x", dt.datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError):
        Deduction(3, 2)
    with pytest.raises(ValueError, match="late cap"):
        ScoringRules(missing=Deduction(1, 1))


# ---------------------------------------------------------------- generated

_START = t("2026-01-05", "00:00")
_MINUTES = 300 * 24 * 60  # due 2026-01-05 .. 11-01; done at most 35 days later: inside the 2026 calendar

_event = st.builds(
    lambda bank, kind, due_min, delay, accurate, faulty: DutyEvent(
        bank, kind, "x", _START + dt.timedelta(minutes=due_min),
        None if delay is None else _START + dt.timedelta(minutes=due_min + delay), accurate, faulty),
    st.sampled_from([BANK, SLOW]), st.sampled_from(DUTY_KINDS), st.integers(0, _MINUTES),
    st.one_of(st.none(), st.integers(-3 * 24 * 60, 20 * 24 * 60)), st.booleans(), st.booleans())


def _scores(events: list[DutyEvent], as_of: dt.datetime | None) -> dict[tuple[str, int, int], int]:
    return {(c.bank, c.year, c.month): c.score for c in scorecard(events, CAL, as_of=as_of)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, max_size=40), large=st.booleans())
def test_score_is_between_zero_and_the_maximum(events: list[DutyEvent], large: bool) -> None:
    for card in scorecard(events, CAL, large_banks=frozenset({BANK}) if large else frozenset()):
        assert 0 <= card.score <= card.max_points
        assert sum(line.counted + line.pending for line in card.lines) == sum(
            1 for e in events if e.bank == card.bank and (e.due.year, e.due.month) == (card.year, card.month))


def _deductions(events: list[DutyEvent], as_of: dt.datetime | None) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(bank, year, month) → (the month's points for its duties and incidents, every point taken
    from the bank up to and including that month)."""
    out: dict[tuple[str, int, int], tuple[int, int]] = {}
    running: dict[str, int] = {}
    for c in scorecard(events, CAL, as_of=as_of):
        running[c.bank] = running.get(c.bank, 0) + c.deducted
        out[(c.bank, c.year, c.month)] = (c.deducted - c.flag_points, running[c.bank])
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, min_size=1, max_size=40), pick=st.integers(0, 1000),
       extra=st.one_of(st.none(), st.integers(1, 15 * 24 * 60)),
       as_of=st.one_of(st.none(), st.integers(0, _MINUTES + 30 * 24 * 60)))
def test_more_lateness_never_costs_less(events: list[DutyEvent], pick: int, extra: int | None,
                                        as_of: int | None) -> None:
    """A duty done later (or never) costs its month at least as much, and the bank at least as
    much up to every month. One month's score alone may rise: a stage-2 flag is raised once, so a
    recurrence that comes a month earlier takes the flag to that month
    (`test_an_earlier_recurrence_takes_the_stage_2_flag_to_its_month`)."""
    when = None if as_of is None else _START + dt.timedelta(minutes=as_of)
    i = pick % len(events)
    e = events[i]
    if e.done is None:
        return  # already as late as it gets
    later = dataclasses.replace(e, done=None if extra is None else e.done + dt.timedelta(minutes=extra))
    before, after = _deductions(events, when), _deductions([*events[:i], later, *events[i + 1:]], when)
    assert before.keys() == after.keys()
    for key in before:
        assert after[key][0] >= before[key][0], (key, e, later)  # the month's duties
        assert after[key][1] >= before[key][1], (key, e, later)  # the bank's points so far


def test_an_earlier_recurrence_takes_the_stage_2_flag_to_its_month() -> None:
    """January: three late receipts start the rectification (stage 1). A late one in March is the
    recurrence (stage 2, flagged). If February's receipt is late too, February is the recurrence and
    takes the flag: March's score rises by the flag, the bank loses more over the three months."""
    def late(paid: str) -> DutyEvent:  # due the next business day at 11:00, sent at 15:00
        e = receipt(SLOW, paid, None)
        return dataclasses.replace(e, done=e.due + dt.timedelta(hours=4))

    jan = [late(day) for day in ("2026-01-12", "2026-01-13", "2026-01-14")]
    march = late("2026-03-10")
    feb_on_time = receipt(SLOW, "2026-02-10", t("2026-02-10", "16:00"))
    feb_late = late("2026-02-10")
    calm = {(c.year, c.month): c for c in scorecard([*jan, feb_on_time, march], CAL)}
    worse = {(c.year, c.month): c for c in scorecard([*jan, feb_late, march], CAL)}
    assert [(m, c.stages.get("feedback", 0), len(c.flags)) for m, c in calm.items()] == [
        ((2026, 1), 1, 1), ((2026, 2), 1, 0), ((2026, 3), 2, 1)]
    assert [(m, c.stages.get("feedback", 0), len(c.flags)) for m, c in worse.items()] == [
        ((2026, 1), 1, 1), ((2026, 2), 2, 1), ((2026, 3), 2, 0)]
    assert worse[(2026, 3)].score == calm[(2026, 3)].score + RULES.flag.points("small")
    assert sum(c.deducted for c in worse.values()) > sum(c.deducted for c in calm.values())


def test_duty_kinds_are_all_scored() -> None:
    kinds: tuple[DutyKind, ...] = DUTY_KINDS
    events = [DutyEvent(BANK, k, k, t("2026-03-10", "11:00"), t("2026-03-10", "10:00")) for k in kinds]
    [card] = scorecard(events, CAL)
    assert [line.kind for line in card.lines] == list(kinds) and card.score == 100
