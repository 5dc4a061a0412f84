"""When the bank acts on its own: each business day's replenishment filing, opening, clearing
filings (`filing_time` and the final sweep), the bank system close, and the duties' times (the
report time, a payee return due, a held message's release)."""

from __future__ import annotations

import datetime as dt

from bank_sim import clearing as clearing_rules
from bank_sim.state import BankState, Ctx
from business_time.clock import at, calendar_end
from messages.errors import InputError

__all__ = ["NextEvent", "next_event_after", "refuse_past_calendar"]

# How soon the duties (the filings, the reserve list) go on when a page of credit notices (of
# clearing requests, of a 7202) left more due: `DutiesState.credits_more`, `BankState.filings_more`,
# `BankState.reserve_more`.
_NEXT_PAGE = dt.timedelta(microseconds=1)


def _events_on(ctx: Ctx, day: dt.date) -> list[tuple[dt.datetime, str]]:
    if not ctx.calendar.is_business_day(day):
        return []
    c = ctx.config
    return sorted([(at(day, c.replenish_time), "replenish"), (at(day, c.open_time), "open"),
                   (at(day, c.filing_time), "file"), (clearing_rules.sweep_instant(day, ctx.clock_config), "file"),
                   (at(day, ctx.clock_config.bank_system_close), "close")])


def _next_scheduled_after(ctx: Ctx, t: dt.datetime) -> tuple[dt.datetime, str]:
    """The next scheduled event strictly after `t`; after the last known day's close, the end of
    the calendar (waking then refuses calendar-out-of-range: the bank cannot open an unknown day)."""
    day: dt.date | None = max(t.date(), ctx.calendar.known_range[0])  # a cursor just before the first day
    while day is not None:
        for event in _events_on(ctx, day):
            if event[0] > t:
                return event
        day = ctx.calendar.next_business_day_if_known(day)
    return calendar_end(ctx.calendar), "calendar-end"


def refuse_past_calendar(ctx: Ctx, kind: str, now: dt.datetime) -> None:
    """At the "calendar-end" event (the clock went past the last day the calendar knows) the bank
    cannot open an unknown day: it refuses, naming the day, rather than guess it. Other events pass."""
    if kind == "calendar-end":
        raise InputError("calendar-out-of-range", f"bank {ctx.bank_code}: the business day after "
                         f"{ctx.calendar.known_range[1].isoformat()} is unknown (the clock is at "
                         f"{now.isoformat()}); add the year: `tgw calendar`, docs/calendar.md")


def _report_after(ctx: Ctx, t: dt.datetime) -> dt.datetime:
    """The next daily report time strictly after `t`: every business day, the day before's
    daily report is made, nil or not."""
    cal, report_time = ctx.calendar, ctx.config.duties.report_time
    first = max(t.date(), cal.known_range[0])  # a cursor just before the first day known
    day = first if cal.is_business_day(first) else cal.next_business_day_if_known(first)
    if day is not None and at(day, report_time) <= t:
        day = cal.next_business_day_if_known(day)
    return calendar_end(cal) if day is None else at(day, report_time)


def _duties_next_after(st: BankState, t: dt.datetime, report: dt.datetime) -> dt.datetime:
    """The next time the duties need the core woken, strictly after `t` (`report`: `_report_after`)."""
    s = st.duties
    cands = [r.at for r in s.returns.values() if r.at > t]
    cands += [when for when, _ in s.held[:1] if when > t]
    cands.append(report)
    if s.credits_more:  # the next page of credit notices (`reporting.CREDIT_NOTICES_PER_CALL`)
        cands.append(t + _NEXT_PAGE)
    return min(cands)


def _earliest(event: tuple[dt.datetime, str], duty: dt.datetime, st: BankState,
              t: dt.datetime) -> tuple[dt.datetime, str]:
    first = (duty, "duties") if duty < event[0] else event
    if st.filings_more and t + _NEXT_PAGE < first[0]:  # the next page of clearing requests
        return (t + _NEXT_PAGE, "file")
    if st.reserve_more is not None and t + _NEXT_PAGE < first[0]:  # the next page of a reserve list
        return (t + _NEXT_PAGE, "reserve")
    return first


def next_event_after(ctx: Ctx, st: BankState, t: dt.datetime) -> tuple[dt.datetime, str]:
    """The bank's next event strictly after `t`: (when, kind)."""
    return _earliest(_next_scheduled_after(ctx, t), _duties_next_after(st, t, _report_after(ctx, t)), st, t)


class NextEvent:
    """`next_event_after` for one bank's `ctx`, its fixed part (the schedule's next event and the
    next report time: they depend on `ctx` and `t` only) kept for the last `t` asked. A core asks
    for the same `t`, its cursor, on every input between two of its events (was ~10 us an input);
    the duties' part, which the state changes, is worked out every time."""

    __slots__ = ("_ctx", "_fixed", "_t")

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._t: dt.datetime | None = None
        self._fixed: tuple[tuple[dt.datetime, str], dt.datetime] | None = None

    def __call__(self, st: BankState, t: dt.datetime) -> tuple[dt.datetime, str]:
        fixed = self._fixed
        if fixed is None or t != self._t:
            fixed = self._fixed = (_next_scheduled_after(self._ctx, t), _report_after(self._ctx, t))
            self._t = t
        return _earliest(fixed[0], _duties_next_after(st, t, fixed[1]), st, t)
