"""The reserve replenishment (2301 ClearType 1): "每日从清算备用金账户划出的资金,在下一工作日上午通过
清算备用金账户与国库单一账户进行单独清算,补平清算备用金账户存款额度" (004 part 3 §9(12); part 5
§2(4) "次日与人民银行国库单一账户清算后补平"). The seed sets the bank a deadline (the next business
day's morning), not the central bank a ground to refuse: a late replenishment is accepted (the
reserve is the treasury's money and is still owed) and scored late; one before the next business
day, on a day off, or before the central bank opens (08:30, the project's own) is refused.
The clearing rule and the scorecard read the same deadline."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from runner.observed import ClearingSeen, Observed, PaymentSeen
from runner.scorecard_feed import observed_bank_events
from tests.test_pboc_core import clearing, make, quota, reason_code, receipt, send
from treasury_sim.scorecard import due_time
from treasury_sim.scorecard.duties import is_late

CAL = BusinessCalendar.default()
CC = ClockConfig()
TUE = dt.date(2026, 3, 10)  # an advance day; Wed 11 is the next business day


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def _replenish(day: dt.date, when: dt.datetime) -> str | None:
    """The central bank's answer (refusal code, None: accepted) to a replenishment of `day`'s
    400.00 advances (1,000.00 notified, 600.00 cleared by the cutoff) filed at `when`."""
    core, books = make(CAL, t(day, "08:00"))
    send(core, books, quota(day.isoformat(), "1000.00"), t(day, "09:00"))
    assert receipt(send(core, books, clearing(day.isoformat(), "600.00"), t(day, "15:00"))).return_reason is None
    r = receipt(send(core, books, clearing(day.isoformat(), "400.00", clear_type=1, vou_day=when.date().isoformat()),
                     when))
    return reason_code(r) if r.return_reason else None


def _scored(filed_at: dt.datetime, state: str = "accepted") -> tuple[dt.datetime, bool]:
    """(due, late) of a real bank's replenishment of TUE filed at `filed_at`, on its scorecard."""
    seen = ClearingSeen("bank-a", "999100000001", "HKR0001", 1, "11", TUE, filed_at, 400_00, (), state)  # type: ignore[arg-type]
    o = Observed("s", 1, t(TUE, "08:00"), t(dt.date(2026, 3, 31), "17:00"), clearings=(seen,))
    [e] = [e for e in observed_bank_events("bank-a", o, [], CAL, CC) if e.kind == "replenishment"]
    return e.due, e.done is None or is_late(e.due, e.done)


def test_a_bank_replenishing_at_1030_differs_from_our_0845_and_is_accepted_on_time() -> None:
    wed = CAL.next_business_day(TUE)
    assert _replenish(TUE, t(wed, "10:30")) is None
    assert _scored(t(wed, "10:30")) == (t(wed, "12:00"), False)


def test_a_replenishment_after_the_morning_is_accepted_and_scored_late() -> None:
    """Before: refused `outside-window` at 12:00, and the reserve stayed short of the treasury's money."""
    wed = CAL.next_business_day(TUE)
    assert _replenish(TUE, t(wed, "12:00")) is None
    assert _scored(t(wed, "12:00"))[1] and not _scored(t(wed, "11:59"))[1]
    thu = CAL.next_business_day(wed)
    assert _replenish(TUE, t(thu, "09:00")) is None  # a day late: still owed, accepted, late
    assert _scored(t(thu, "09:00"))[1]


def test_a_replenishment_too_early_is_refused() -> None:
    wed = CAL.next_business_day(TUE)
    assert _replenish(TUE, t(wed, "08:29")) == "outside-window"
    assert _replenish(TUE, t(wed, "08:30")) is None  # the opening instant is open
    assert _replenish(TUE, t(TUE, "17:30")) == "wrong-day"  # the advance day itself


@settings(max_examples=120, deadline=None)
@given(advance=st.dates(dt.date(2026, 1, 5), dt.date(2026, 11, 20)).filter(CAL.is_business_day),
       days_on=st.integers(0, 9),
       minute=st.one_of(st.sampled_from([8 * 60 + 29, 8 * 60 + 30, 11 * 60 + 59, 12 * 60]), st.integers(0, 24 * 60 - 1)))
def test_the_central_bank_and_the_scorecard_agree_with_the_seed(advance: dt.date, days_on: int, minute: int) -> None:
    when = at(advance + dt.timedelta(days=days_on), dt.time(minute // 60, minute % 60))
    # the oracle, from §9(12): due by noon of the first working day after the advance day; taken
    # on any working day from then once the central bank opens (08:30, the project's own)
    nxt = advance + dt.timedelta(days=1)
    while not CAL.is_business_day(nxt):
        nxt += dt.timedelta(days=1)
    day = when.date()
    if day < nxt or not CAL.is_business_day(day):
        expected = "wrong-day"
    elif when.time() < dt.time(8, 30):
        expected = "outside-window"
    else:
        expected = None
    assert _replenish(advance, when) == expected
    due = due_time("replenishment", advance, CAL, CC)
    assert due == at(nxt, dt.time(12, 0))
    if expected is None:
        assert is_late(due, when) == (when >= at(nxt, dt.time(12, 0)))


def _advanced(filings: tuple[ClearingSeen, ...]) -> list[tuple[str, dt.datetime | None]]:
    """(ref, done) of the replenishment duties of a bank that advanced a 5201 on TUE (16:20)."""
    paid = PaymentSeen("bank-a", "999100000001", "A1", "5201", 90_00, "advance", t(TUE, "16:20"), TUE, None)
    o = Observed("s", 1, t(TUE, "08:00"), t(dt.date(2026, 3, 31), "17:00"), payments=(paid,), clearings=filings)
    return [(e.ref, e.done) for e in observed_bank_events("bank-a", o, [], CAL, CC) if e.kind == "replenishment"]


def test_a_bank_that_never_replenishes_is_missing_the_duty_not_spared_it() -> None:
    wed = CAL.next_business_day(TUE)
    assert _advanced(()) == [("20260310/11", None)]  # never asked for: not done
    filed = ClearingSeen("bank-a", "999100000001", "HKR0001", 1, "11", TUE, t(wed, "09:00"), 90_00, ("A1",),
                         "accepted")
    assert _advanced((filed,)) == [("HKR0001", t(wed, "09:00"))]
    other = ClearingSeen("bank-a", "999100000001", "HKR0002", 1, "12", TUE, t(wed, "09:00"), 90_00, (), "accepted")
    assert ("20260310/11", None) in _advanced((other,))  # the authorized pay type's does not stand for it


def test_a_simulated_bank_replenishes_on_time_and_nothing_is_missing() -> None:
    from bank_sim.duties import DutiesConfig
    from runner.scorecard_feed import bank_events
    from tests.test_bank_duties import DAY, World

    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZADV0001", 90_00, t(DAY, "16:20"))  # after the cutoff: the reserve advances it
    nxt = CAL.next_business_day(DAY)
    w.tick(t(nxt, "17:00"))
    [e] = [e for e in bank_events("bank-a", w.bank, CAL, CC) if e.kind == "replenishment"]
    assert e.done is not None and not is_late(e.due, e.done) and e.due == t(nxt, "12:00")
    assert e.ref != f"{DAY:%Y%m%d}/11"  # the filing itself, not a duty never done
