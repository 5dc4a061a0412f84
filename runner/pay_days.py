"""The day a scripted payment voucher is paid and cleared on, as the scripted treasury plans its
clearing quota notices (`world.treasury.quota: auto`) by it: the day sent, before the bank's close
on a business day, else the next business day; and, past the cutoff (the urgent cutoff for an
urgent voucher), the next business day too when the bank's clearing reserve no longer covers it,
as the bank then pays it at its next opening (docs/rules.md "Paying a voucher"; `bank_sim.payments`).
Was: such a voucher's quota went to the day it was sent, and the bank's clearing of it was refused
`no-quota-notice` day after day, its zero-balance account below zero at every close."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, clearing_cutoff

__all__ = ["PayDays"]


class PayDays:
    """`day(at, spec)`: the day the voucher `spec` sent at `at` is paid on. The advances of a day
    are counted against the reserve in the order sent (the reserve is made whole each next morning)."""

    def __init__(self, sends: Iterable[tuple[dt.datetime, Any]], reserve_of: Callable[[str], int],
                 calendar: BusinessCalendar, clock: ClockConfig) -> None:
        self.calendar, self.clock = calendar, clock
        self.deferred: set[str] = set()  # ids of the vouchers sent past the cutoff the reserve does not cover
        advanced: dict[tuple[str, dt.date], int] = {}
        for t, spec in sends:
            if not (spec.bank and spec.amount_fen) or not self._advance_window(t, spec):
                continue
            used = advanced.get((spec.bank, t.date()), 0)
            if used + spec.amount_fen <= reserve_of(spec.bank):
                advanced[(spec.bank, t.date())] = used + spec.amount_fen
            else:
                self.deferred.add(spec.id)

    def _advance_window(self, t: dt.datetime, spec: Any) -> bool:
        """Past the cutoff the voucher is paid under, before the close, on a business day."""
        cutoff = clearing_cutoff(t.date(), self.clock, urgent=spec.fields.get("UrgentFlag") == "1")
        return self.calendar.is_business_day(t.date()) and cutoff <= t and t.time() < self.clock.bank_system_close

    def day(self, t: dt.datetime, spec: Any = None) -> dt.date:
        if (self.calendar.is_business_day(t.date()) and t.time() < self.clock.bank_system_close
                and (spec is None or spec.id not in self.deferred)):
            return t.date()
        return self.calendar.next_business_day(t.date())
