"""When the bank acts on its own: each business day's replenishment filing, opening, clearing
filings (`filing_time` and the final sweep), the bank system close, and the duties' times (the
report time, a payee return due, a held message's release)."""

from __future__ import annotations

import datetime as dt

from bank_sim import clearing as clearing_rules
from bank_sim.state import BankState, Ctx
from business_time.clock import at

__all__ = ["next_event_after"]


def _events_on(ctx: Ctx, day: dt.date) -> list[tuple[dt.datetime, str]]:
    if not ctx.calendar.is_business_day(day):
        return []
    c = ctx.config
    return sorted([(at(day, c.replenish_time), "replenish"), (at(day, c.open_time), "open"),
                   (at(day, c.filing_time), "file"), (clearing_rules.sweep_instant(day, ctx.clock_config), "file"),
                   (at(day, ctx.clock_config.bank_system_close), "close")])


def _next_scheduled_after(ctx: Ctx, t: dt.datetime) -> tuple[dt.datetime, str]:
    day = t.date()
    while True:
        for event in _events_on(ctx, day):
            if event[0] > t:
                return event
        day = ctx.calendar.next_business_day(day)


def _duties_next_after(ctx: Ctx, st: BankState, t: dt.datetime) -> dt.datetime:
    """The next time the duties need the core woken, strictly after `t`."""
    s = st.duties
    cands = [r.at for r in s.returns.values() if r.at > t]
    cands += [when for when, _ in s.held[:1] if when > t]
    cal, report_time = ctx.calendar, ctx.config.duties.report_time
    day = t.date() if cal.is_business_day(t.date()) else cal.next_business_day(t.date())
    report = at(day, report_time)
    if report <= t:
        report = at(cal.next_business_day(day), report_time)
    cands.append(report)  # every business day: at least the day before's daily report, nil or not
    return min(cands)


def next_event_after(ctx: Ctx, st: BankState, t: dt.datetime) -> tuple[dt.datetime, str]:
    """The bank's next event strictly after `t`: (when, kind)."""
    event = _next_scheduled_after(ctx, t)
    duty = _duties_next_after(ctx, st, t)
    return (duty, "duties") if duty < event[0] else event
