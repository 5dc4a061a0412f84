"""The scorecard as the evaluation says (004 part 1, part 3 §13(5)): complaints trigger payments
and notices, lost vouchers count at 4, accounts without the treasury's notice at 3, two stages
carried across months, bank size by the mean of amount share and count share, the annual view."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, ClockError, at
from treasury_sim.scorecard import (
    RULES,
    DutyEvent,
    DutyKind,
    Incident,
    annual,
    bank_sizes,
    due_time,
    score_month,
    scorecard,
)

CAL = BusinessCalendar.default()
CFG = ClockConfig()
BANK = "999100000001"
OTHER = "999100000002"


def late(kind: DutyKind, day: dt.date, n: int, *, bank: str = BANK, complained: bool | None = None) -> list[DutyEvent]:
    """`n` duties of `kind` due on business days from `day`, each done a business day late."""
    out: list[DutyEvent] = []
    d = day
    for i in range(n):
        while not CAL.is_business_day(d):
            d += dt.timedelta(days=1)
        due = due_time("payment", at(d, dt.time(10, 0)), CAL, CFG) if kind == "payment" else at(d, dt.time(17, 0))
        out.append(DutyEvent(bank, kind, f"{kind}:{d}:{i}", due, at(CAL.next_business_day(d), dt.time(9, 0)),
                             complained=complained))
        d += dt.timedelta(days=1)
    return out


def incidents(kind: str, day: dt.date, n: int, bank: str = BANK) -> list[Incident]:
    return [Incident(bank, kind, f"{kind}:{i}", at(day, dt.time(10, i)))  # type: ignore[arg-type]
            for i in range(n)]


MARCH, APRIL, MAY = dt.date(2026, 3, 2), dt.date(2026, 4, 1), dt.date(2026, 5, 6)


# ---------------------------------------------------------------- complaints (§13(5)1, 4)


@pytest.mark.parametrize("kind", ["payment", "credit-notice", "quota-arrival-notice"])
def test_two_complaints_are_nothing_three_are_stage_1(kind: DutyKind) -> None:
    category = "payment" if kind == "payment" else "notice"
    two = score_month(late(kind, MARCH, 2), BANK, 2026, 3, CAL)
    assert not two.flagged and two.stage == 0 and two.counts[category] == 2
    three = score_month(late(kind, MARCH, 3), BANK, 2026, 3, CAL)
    assert three.stage == 1 and three.stages == {category: 1}
    assert three.flags == (f"{category}: 3 complaints of late {'payments' if kind == 'payment' else 'notices'} "
                           "in the month (>= 3): rectify within a month",)


def test_the_trigger_is_the_complaint_not_the_lateness() -> None:
    # three late payments nobody complained of: deducted for lateness, no stage
    quiet = score_month(late("payment", MARCH, 3, complained=False), BANK, 2026, 3, CAL)
    assert quiet.late == 3 and quiet.stage == 0 and not quiet.flagged and quiet.score < RULES.max_points
    # three complaints of payments that were on time (the unit says so): stage 1
    prompt = [DutyEvent(BANK, "payment", f"p{i}", at(MARCH + dt.timedelta(days=i), dt.time(17, 0)),
                        at(MARCH + dt.timedelta(days=i), dt.time(10, 0)), complained=True) for i in range(3)]
    card = score_month(prompt, BANK, 2026, 3, CAL)
    assert card.late == 0 and card.stage == 1 and card.counts == {"payment": 3}


def test_feedback_and_clearing_still_count_lateness() -> None:
    card = score_month(late("receipt", MARCH, 3, complained=False) + late("clearing", MARCH, 2), BANK, 2026, 3, CAL)
    assert card.stages == {"feedback": 1} and card.counts == {"feedback": 3, "clearing": 2}


# ---------------------------------------------------------------- incidents (§13(5)5, 7)


def test_three_lost_vouchers_are_nothing_four_count() -> None:
    three = score_month([], BANK, 2026, 3, CAL, incidents=incidents("lost-voucher", MARCH, 3))
    assert three.stage == 0 and three.incidents == {"lost-voucher": 3}
    assert three.score == RULES.max_points - 3 * RULES.lost_voucher.small
    four = score_month([], BANK, 2026, 3, CAL, incidents=incidents("lost-voucher", MARCH, 4))
    assert four.stages == {"custody": 1}
    assert four.flags == ("custody: 4 vouchers lost in the month (>= 4): rectify within a month",)
    assert four.score == RULES.max_points - 4 * RULES.lost_voucher.small - RULES.flag.small


def test_accounts_without_the_treasurys_notice_count_at_three() -> None:
    two = score_month([], BANK, 2026, 3, CAL, incidents=incidents("account-without-notice", MARCH, 2))
    assert two.stage == 0 and two.score == RULES.max_points - 2 * RULES.account_without_notice.small
    three = score_month([], BANK, 2026, 3, CAL, incidents=incidents("account-without-notice", MARCH, 3))
    assert three.stages == {"account": 1}


def test_incidents_alone_make_a_card_and_other_banks_or_months_are_apart() -> None:
    cards = scorecard([], CAL, incidents=incidents("lost-voucher", MARCH, 4)
                      + incidents("lost-voucher", APRIL, 1, bank=OTHER))
    assert [(c.bank, c.month, c.stage) for c in cards] == [(BANK, 3, 1), (OTHER, 4, 0)]


def test_a_bad_incident_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown incident kind"):
        Incident(BANK, "stolen", "x", at(MARCH, dt.time(10, 0)))  # type: ignore[arg-type]
    with pytest.raises(ClockError):
        Incident(BANK, "lost-voucher", "x", dt.datetime(2026, 3, 2, 10, 0))  # naive


# ---------------------------------------------------------------- stages across months


def test_recurrence_after_rectification_is_stage_2_and_the_stage_is_carried() -> None:
    events = late("payment", MARCH, 3) + late("payment", MAY, 1)
    march, may = scorecard(events, CAL)
    assert (march.month, march.stage) == (3, 1)
    assert (may.month, may.stage) == (5, 2)  # April had nothing: the stage carried over the gap
    assert may.flags == ("payment: 1 complaints of late payments again after rectification from 2026-03: "
                         "the agency is at risk (stage 2)",)
    # a month in stage 1 without a recurrence stays in stage 1, with no new flag
    june = late("receipt", dt.date(2026, 6, 1), 1, complained=False)
    cards = scorecard(late("payment", MARCH, 3) + june, CAL)
    assert [(c.month, c.stage, c.flagged) for c in cards] == [(3, 1, True), (6, 1, False)]
    # stage 2 stays; a later complaint adds no second stage-2 flag
    cards = scorecard(events + late("payment", dt.date(2026, 7, 1), 1), CAL)
    assert [(c.month, c.stage, len(c.flags)) for c in cards] == [(3, 1, 1), (5, 2, 1), (7, 2, 0)]


def test_no_recurrence_without_a_rectification_first() -> None:
    cards = scorecard(late("payment", MARCH, 2) + late("payment", APRIL, 2), CAL)
    assert [c.stage for c in cards] == [0, 0]


def test_accuracy_recurs_at_more_than_one_error() -> None:
    def errors(day: dt.date, n: int) -> list[DutyEvent]:
        return [DutyEvent(BANK, "daily-report", f"r{day}{i}", at(day, dt.time(17, 0)), at(day, dt.time(16, 0)),
                          accurate=False) for i in range(n)]

    assert [c.stage for c in scorecard(errors(MARCH, 4) + errors(APRIL, 1), CAL)] == [1, 1]
    assert [c.stage for c in scorecard(errors(MARCH, 4) + errors(APRIL, 2), CAL)] == [1, 2]


def test_each_bank_carries_its_own_stages() -> None:
    cards = scorecard(late("payment", MARCH, 3) + late("payment", APRIL, 1, bank=OTHER), CAL)
    assert [(c.bank, c.month, c.stage) for c in cards] == [(BANK, 3, 1), (OTHER, 4, 0)]


# ---------------------------------------------------------------- bank size (004 part 1 三)


def test_bank_size_by_the_mean_of_amount_and_count_share() -> None:
    # A: 80 % of the amount, 10 % of the count → 45 %; B: 10 %, 60 % → 35 %; C: 10 %, 30 % → 20 %
    sizes = bank_sizes({"A": (8_000, 1), "B": (1_000, 6), "C": (1_000, 3)})
    assert sizes == {"A": "large", "B": "large", "C": "small"}  # the average share is 1/3
    assert bank_sizes({"A": (900, 1), "B": (100, 9)}) == {"A": "small", "B": "small"}  # both at the average
    assert bank_sizes({}) == {}
    with pytest.raises(ValueError):
        bank_sizes({"A": (-1, 1)})


@given(st.dictionaries(st.sampled_from(["A", "B", "C", "D", "E"]),
                       st.tuples(st.integers(0, 10**12), st.integers(0, 10**6)), max_size=5))
def test_bank_size_is_the_definition(volumes: dict[str, tuple[int, int]]) -> None:
    ta, tc = sum(a for a, _ in volumes.values()), sum(c for _, c in volumes.values())
    shares = {bank: (Fraction(a, ta) if ta else Fraction(0)) / 2 + (Fraction(c, tc) if tc else Fraction(0)) / 2
              for bank, (a, c) in volumes.items()}
    average = sum(shares.values(), Fraction(0)) / len(shares) if shares else Fraction(0)
    assert bank_sizes(volumes) == {bank: "large" if share > average else "small" for bank, share in shares.items()}


def test_volumes_make_a_large_bank_deducted_at_the_lower_bound() -> None:
    events = late("receipt", MARCH, 1, complained=False) + late("receipt", MARCH, 1, bank=OTHER, complained=False)
    big, small = scorecard(events, CAL, volumes={BANK: (10_000, 10), OTHER: (100, 1)})
    assert (big.size, small.size) == ("large", "small")
    assert big.score > small.score


# ---------------------------------------------------------------- the annual view


def test_the_annual_view_sums_the_months_with_their_stages() -> None:
    events = late("payment", dt.date(2025, 11, 3), 3) + late("payment", MARCH, 1)
    cards = scorecard(events, CAL, incidents=incidents("lost-voucher", APRIL, 2))
    y2025, y2026 = annual(cards)
    assert (y2025.year, y2025.months, y2025.stage, y2025.counts) == (2025, 1, 1, {"payment": 3})
    months = [c for c in cards if c.year == 2026]
    assert (y2026.bank, y2026.year, y2026.months) == (BANK, 2026, 2)
    assert y2026.deducted == sum(c.deducted for c in months) > 0
    assert y2026.score == RULES.max_points - y2026.deducted
    assert y2026.counts == {"payment": 1, "custody": 2} and y2026.late == 1
    # the rectification of November 2025 carries into 2026: the March complaint is a recurrence
    assert y2026.stage == 2 and y2026.stages == {"payment": 2}
    assert [f[:7] for f in y2026.flags] == ["2026-03"] and "stage 2" in y2026.flags[0]
    assert y2026.as_dict()["stage"] == 2
    assert annual([]) == []


def test_the_annual_score_is_floored_at_zero() -> None:
    cards = scorecard([], CAL, incidents=[i for m in range(1, 13)
                                          for i in incidents("lost-voucher", dt.date(2026, m, 10), 4)])
    (year,) = annual(cards)
    assert year.months == 12 and year.score == 0 and year.deducted > RULES.max_points


def test_a_card_says_its_stage_in_json() -> None:
    (card,) = scorecard(late("payment", MARCH, 3), CAL)
    d = card.as_dict()
    assert d["stage"] == 1 and d["stages"] == {"payment": 1} and d["counts"] == {"payment": 3}
    assert d["deducted"] == RULES.max_points - card.score
