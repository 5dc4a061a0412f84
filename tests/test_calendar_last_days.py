"""The last days the business calendar knows, through the simulated world (bank, central bank,
scorecard, sign-off) and `tgw scenario run`: a day that needs nothing past the calendar runs to
its end; only what needs the unknown next business day is refused, with calendar-out-of-range
naming the day. Was: every run touching 2026-12-31 (or 2026-12-30 after its close) died, because
the simulated bank asked for its next report time (2027) and the central bank for its next close.

Oracle: `chinese_calendar.is_workday` day by day (the library's public answer, not the table the
calendar builds); past the range it knows, no day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bank_sim.config import BankConfig
from bank_sim.core import BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import (
    TZ,
    ClockConfig,
    at,
    calendar_end,
    cutoffs_view,
    or_calendar_end,
    receipts_deadline,
)
from messages.errors import InputError
from pboc_sim.config import PbocConfig
from pboc_sim.core import PbocCore
from runner.scorecard_feed import due_time
from sim.effects import SendVoucher, WakeAt
from tgw import main

CAL = BusinessCalendar.default()
CC = ClockConfig()
FIRST, LAST = CAL.known_range
END = calendar_end(CAL)
BANK = "999100000001"


def oracle_workdays_after(day: dt.date) -> list[dt.date]:
    """The next two working days from `day` on (inclusive), by the library, inside the range."""
    out: list[dt.date] = []
    while day <= LAST and len(out) < 2:
        if chinese_calendar.is_workday(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def oracle_bank_wake(t: dt.datetime) -> dt.datetime:
    """A fresh bank's next event after `t`: the earliest of its day's times (replenish, open,
    report, filing, sweep, close) on a working day strictly after `t`; none known: the calendar's end."""
    cfg = BankConfig()
    times = (cfg.replenish_time, cfg.open_time, cfg.duties.report_time, cfg.filing_time,
             (at(t.date(), CC.clearing_cutoff) - dt.timedelta(microseconds=1)).time(), CC.bank_system_close)
    for day in oracle_workdays_after(t.date()):
        later = [at(day, x) for x in times if at(day, x) > t]
        if later:
            return min(later)
    return END


LAST_DAYS = st.dates(LAST - dt.timedelta(days=12), LAST)
ANY_DAY = st.dates(FIRST, LAST)
TIMES = st.times().map(lambda x: x.replace(microsecond=0))


@settings(max_examples=150, deadline=None)
@given(st.one_of(LAST_DAYS, ANY_DAY), TIMES)
@example(FIRST, dt.time(0, 0))  # the first instant known: the cursor is a microsecond before it
@example(LAST, dt.time(9, 30))  # the last report time: the next one is past the calendar
def test_the_bank_wakes_at_its_next_event_or_the_calendars_end(day: dt.date, time_of_day: dt.time) -> None:
    t = dt.datetime.combine(day, time_of_day, tzinfo=TZ)
    wakes = [e.at for e in BankCore(BANK, BankConfig(), CAL, CC).on_time(t) if isinstance(e, WakeAt)]
    assert wakes == [oracle_bank_wake(t)]  # was: calendar-out-of-range from 2026-12-31 09:30 on


def test_the_bank_runs_the_last_day_and_refuses_the_day_after() -> None:
    bank = BankCore(BANK, BankConfig(), CAL, CC)
    bank.on_time(at(LAST, dt.time(8, 0)))
    assert [e.at for e in bank.on_time(at(LAST, dt.time(23, 59))) if isinstance(e, WakeAt)] == [END]
    with pytest.raises(InputError) as err:  # it cannot open a day nobody described
        bank.on_time(END)
    assert err.value.code == "calendar-out-of-range" and f"after {LAST.isoformat()} is unknown" in str(err.value)


@settings(max_examples=60, deadline=None)
@given(st.one_of(LAST_DAYS, ANY_DAY), TIMES)
@example(LAST - dt.timedelta(days=2), dt.time(12, 0))  # its third day on closes the last day known
def test_the_central_bank_closes_each_working_day_and_wakes_at_the_next(day: dt.date, time_of_day: dt.time) -> None:
    t = dt.datetime.combine(day, time_of_day, tzinfo=TZ)
    pboc = PbocCore(PbocConfig(tsa_opening_fen=10**12), CAL, CC)
    pboc.on_time(t)
    later = t + dt.timedelta(days=3)
    if later >= at(LAST + dt.timedelta(days=1), CC.bank_system_close):  # past the calendar: the close of a day nobody described is refused, not guessed
        with pytest.raises(InputError) as err:
            pboc.on_time(later)
        assert err.value.code == "calendar-out-of-range"
        return
    effects = pboc.on_time(later)
    days = [d for d in (t.date() + dt.timedelta(days=i) for i in range(4))
            if d <= LAST and chinese_calendar.is_workday(d) and t < at(d, CC.bank_system_close) <= later]
    assert len([e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "7401"]) == len(days)
    wake = [e.at for e in effects if isinstance(e, WakeAt)]
    nxt = next((d for d in oracle_workdays_after(later.date()) if at(d, CC.bank_system_close) > later), None)
    assert wake == [at(nxt, CC.bank_system_close) if nxt else at(LAST + dt.timedelta(days=1), CC.bank_system_close)]


def test_the_central_bank_closes_the_last_day() -> None:
    pboc = PbocCore(PbocConfig(tsa_opening_fen=10**12), CAL, CC)
    pboc.on_time(at(LAST, dt.time(9, 0)))
    effects = pboc.on_time(at(LAST, dt.time(23, 0)))  # was: calendar-out-of-range at the last close
    assert [e.vtcode for e in effects if isinstance(e, SendVoucher)] == ["7401"]


def test_a_duty_due_past_the_calendar_is_due_at_its_end_a_lower_bound() -> None:
    assert due_time("receipt", LAST, CAL, CC) == END
    assert due_time("monthly-statement", dt.date(LAST.year, 12, 1), CAL, CC) == END
    assert due_time("receipt", LAST - dt.timedelta(days=1), CAL, CC) == receipts_deadline(LAST - dt.timedelta(days=1),
                                                                                         CAL, CC)
    with pytest.raises(InputError):  # a start the calendar does not know is refused, never bounded
        due_time("receipt", FIRST - dt.timedelta(days=1), CAL, CC)

    def other() -> dt.datetime:
        raise InputError("config-invalid", "x")

    with pytest.raises(InputError):  # only calendar-out-of-range is bounded
        or_calendar_end(other, LAST, CAL)


def _scenario(tmp_path: Path, start: str, at_: str, expect: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
scenario: last-days
title: the calendar's last days
world:
  start: {start}
steps:
  - at: "{at_}"
    send: {{id: v, template: direct-payment, bank: bank-b, amount: "1400.00"}}
expect:
  - accepted: {{voucher: v, who: gateway}}
{expect}
  - zero_balance_at_close: {{}}
  - invariants: {{}}
""", encoding="utf-8")
    return path


@pytest.mark.parametrize(("start", "at_", "expect"), [
    # after the close of the day before the last: paid the last day by 10:00
    ("2026-12-30", "17:30", '  - receipt: {voucher: v, from: bank-b, fields: {XPayDate: "20261231"}}\n'
                            '    by: "D+1 10:00"\n  - reconciliation: {clean: true}'),
    # after the cutoff the day before the last: advanced, replenished the last morning
    ("2026-12-30", "16:20", '  - clearing: {voucher: v, includes: true, clear_type: replenishment, state: accepted}\n'
                            '    by: "D+1 12:00"\n  - reconciliation: {clean: true}'),
    # the last day before its cutoff: cleared that day
    ("2026-12-31", "15:30", '  - clearing: {voucher: v, includes: true, clear_type: normal, state: accepted}\n'
                            '    before: "16:00"\n  - reconciliation: {clean: true}'),
    # the last day after the cutoff: paid by an advance that day (its replenishment is past the calendar)
    ("2026-12-31", "16:20", '  - receipt: {voucher: v, from: bank-b, fields: {XPayDate: "20261231"}}\n'
                            '    by: "16:20"'),
])
def test_the_last_days_run_to_their_end(tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str, at_: str,
                                        expect: str) -> None:
    assert main(["scenario", "run", str(_scenario(tmp_path, start, at_, expect)), "--quiet"]) == 0, \
        capsys.readouterr().out  # was 1: cannot run: calendar-out-of-range


def test_after_the_close_of_the_last_day_the_run_names_the_missing_day(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = _scenario(tmp_path, "2026-12-31", "17:30", "  - receipt: {voucher: v, none: true}\n    by: \"23:59\"")
    assert main(["scenario", "run", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "cannot run: calendar-out-of-range: the business day wanted after 2026-12-31" in out


def test_a_deadline_on_the_unknown_next_day_is_refused_where_it_is_written(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = _scenario(tmp_path, "2026-12-31", "16:20", '  - clearing: {voucher: v, includes: true, '
                     'clear_type: replenishment}\n    by: "D+1 12:00"')
    assert main(["scenario", "run", str(path), "--quiet"]) == 2
    assert "calendar-out-of-range" in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(st.one_of(LAST_DAYS, ANY_DAY), TIMES)
@example(LAST, dt.time(15, 0))
@example(LAST, dt.time(17, 30))
def test_the_clock_view_lists_each_cutoff_known_and_names_the_rest(day: dt.date, time_of_day: dt.time) -> None:
    t = dt.datetime.combine(day, time_of_day, tzinfo=TZ)
    view = cutoffs_view(t, CAL, CC)
    expected, missing = [], []
    for name, when in next_cutoffs_oracle(t):
        (expected if when else missing).append((name, when))
    assert view["business_day"] == chinese_calendar.is_workday(day)
    assert sorted((c["name"], c["at"]) for c in view["next_cutoffs"]) == \
        sorted((n, w.isoformat()) for n, w in expected if w)  # was: no cutoff at all on the last day
    if missing:
        assert view["calendar_error"].startswith(f"calendar-out-of-range: the business day after {LAST.isoformat()}")
        assert all(n in view["calendar_error"] for n, _ in missing)
    else:
        assert "calendar_error" not in view


def next_cutoffs_oracle(t: dt.datetime) -> list[tuple[str, dt.datetime | None]]:
    """Each daily event's next occurrence strictly after `t` on a working day, None past the range."""
    times = {"replenishment-window-start": CC.replenishment_window_start,
             "next-morning-payment-deadline": CC.next_morning_payment_deadline,
             "replenishment-window-end": CC.replenishment_window_end, "receipts-deadline": CC.receipts_deadline,
             "clearing-cutoff": CC.clearing_cutoff, "urgent-cutoff": CC.urgent_cutoff,
             "bank-system-close": CC.bank_system_close}
    out: list[tuple[str, dt.datetime | None]] = []
    for name, x in times.items():
        when = next((at(d, x) for d in oracle_workdays_after(t.date()) if at(d, x) > t), None)
        out.append((name, when))
    return out


def test_tgw_clock_at_the_last_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clock", "--at", f"{LAST.isoformat()}T16:10:00+08:00", "--format", "json"]) == 0
    import json

    view = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in view["next_cutoffs"]] == ["urgent-cutoff", "bank-system-close"]
    assert "clearing-cutoff" in view["calendar_error"]


def test_the_treasurys_missing_statements_run_through_the_last_day() -> None:
    from treasury_sim.tsa import missing_statements

    # was: calendar-out-of-range asking for the day after the last, once the last day was counted
    assert missing_statements(LAST - dt.timedelta(days=1), LAST, {}, CAL) == [LAST - dt.timedelta(days=1), LAST]
    assert missing_statements(LAST, LAST, {}, CAL) == [LAST]


def test_the_demo_of_the_day_before_the_last_replenishes_on_the_last(capsys: pytest.CaptureFixture[str]) -> None:
    # was: tgw demo: error: calendar-out-of-range (the banks asked for their report time of 2027)
    assert main(["demo", "--vouchers", "20", "--days", "1", "--start", "2026-12-30", "--quiet"]) == 0
    assert "all invariants held" in capsys.readouterr().out


@settings(max_examples=80, deadline=None)
@given(st.dates(LAST - dt.timedelta(days=5), LAST), TIMES)
@example(LAST, dt.time(17, 30))
@example(LAST, dt.time(8, 0))  # before the last opening: deferred to it, not returned
@example(LAST - dt.timedelta(days=1), dt.time(23, 0))
def test_a_payment_is_paid_deferred_or_returned_for_the_missing_day(day: dt.date, time_of_day: dt.time) -> None:
    """Each voucher alone, on a fresh bank with quota: paid now (a receipt paying it), deferred (no
    receipt) when an opening after it is known, else returned unpaid calendar-out-of-range. Oracle:
    the next working day's opening by `chinese_calendar`."""
    from messages.factory import payment_voucher
    from messages.voucher import parse_voucher

    t = dt.datetime.combine(day, time_of_day, tzinfo=TZ)
    bank = BankCore(BANK, BankConfig(reserve_fen=0), CAL, CC)
    bank.on_time(t)
    doc = parse_voucher(payment_voucher(voucher_no="ZZ0000000001", vou_date=day, pay_bank_code=BANK,
                                        amount_fen=123_45))
    receipts = [e for e in bank.on_voucher(doc, 0, t) if isinstance(e, SendVoucher) and e.vtcode == "5201"]
    opening_known = any(at(d, BankConfig().open_time) > t for d in oracle_workdays_after(day))
    if not receipts:
        assert opening_known  # deferred to an opening the calendar knows
    elif receipts[0].return_reason is not None:
        assert receipts[0].return_reason.startswith("calendar-out-of-range:") and not opening_known
        assert f"after {LAST.isoformat()} is unknown" in receipts[0].return_reason
    else:
        assert receipts[0].head["XPayAmt"] == "123.45"


@settings(max_examples=80, deadline=None)
@given(st.dates(LAST - dt.timedelta(days=5), LAST), TIMES)
@example(LAST, dt.time(10, 0))  # paid the last day: reached the unknown next day
@example(LAST - dt.timedelta(days=1), dt.time(10, 0))  # reached on the last day
@example(LAST - dt.timedelta(days=1), dt.time(17, 30))  # paid at the last opening
def test_another_banks_payee_is_reached_the_next_business_day_or_returned(day: dt.date,
                                                                         time_of_day: dt.time) -> None:
    """A payment to another bank's payee is reached the next working day (`XArriveDate`); when that
    day is past the calendar the voucher is returned unpaid calendar-out-of-range, never paid with
    a guessed day and never the core's refusal (was: the books check failed on the half-paid
    voucher, an exception out of on_voucher: the shell ended on every delivery of it).
    Oracle: chinese_calendar's working days."""
    from messages.factory import payment_voucher
    from messages.voucher import build_voucher, parse_voucher

    t = dt.datetime.combine(day, time_of_day, tzinfo=TZ)
    bank = BankCore(BANK, BankConfig(reserve_fen=10**10), CAL, CC)
    bank.on_time(t)
    doc = parse_voucher(payment_voucher(voucher_no="ZZ0000000002", vou_date=day, pay_bank_code=BANK,
                                        amount_fen=123_45))
    doc = parse_voucher(build_voucher("5201", {**doc.head(), "PayeeAcctBankNo": "102100099996"}, doc.details()))
    receipts = [e for e in bank.on_voucher(doc, 0, t) if isinstance(e, SendVoucher) and e.vtcode == "5201"]
    # paid now on a working day before the close (the reserve covers an advance), else at the next opening
    later = [d for d in oracle_workdays_after(day + dt.timedelta(days=1))]
    pay_day = day if chinese_calendar.is_workday(day) and t.time() < CC.bank_system_close else \
        (later[0] if later else None)
    reached = oracle_workdays_after(pay_day + dt.timedelta(days=1))[:1] if pay_day else []
    if not reached:  # the opening or the payee's day is past the calendar
        [receipt] = receipts
        assert receipt.return_reason is not None and receipt.return_reason.startswith("calendar-out-of-range:")
        assert f"after {LAST.isoformat()} is unknown" in receipt.return_reason
    elif pay_day == day:
        [receipt] = receipts
        assert receipt.return_reason is None and receipt.head["XArriveDate"] == reached[0].strftime("%Y%m%d")
    else:
        assert receipts == []  # deferred to an opening the calendar knows
