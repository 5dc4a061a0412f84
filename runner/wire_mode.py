"""How a real bank paid a voucher, as far as the wire shows it (conformance mode, `runner.conformance`).

The agreement (004 part 3 §8(7), §9(11)-(12)): what the bank accepts (受理) within the central
bank's clearing time it clears with the treasury single account that day, by the cutoff (16:00,
urgent 16:30); what it accepts after that time it pays that day from the clearing reserve (an
advance), made whole the next working morning by a separate clearing (ClearType 1). A real bank's
receipt gives the day it paid (`XPayDate`), not the hour; its clearing requests say which payments
they clear (`Detail/VoucherNo`), of which day (`ClearDate`) and of which type. So a payment is

| mode | when |
|---|---|
| `advance` | a replenishment (ClearType 1) covers it; or the gateway accepted its voucher for the bank on a business day at or after that day's clearing cutoff, the bank paid it that same day, and no clearing request of that day (ClearType 0, not refused) covers it: the bank had it only after the cutoff, so the reserve paid it |
| `defer` | paid on a later day than its voucher was accepted, and not covered by a replenishment |
| `clearing` | anything else |

What this cannot see: a voucher accepted before the cutoff but paid after it (the hour is not on the
wire) that no clearing of its day covers. The bank may have paid it before the cutoff and left it
out of the day's clearing, or paid it from the reserve after the cutoff: only the bank knows, so
no replenishment is counted owed for it (docs/conformance.md, "Your scorecard").
"""

from __future__ import annotations

import datetime as dt

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, is_before_clearing_cutoff, to_local

__all__ = ["seen_mode"]


def seen_mode(accepted: dt.datetime, paid_day: dt.date, cover: tuple[int, dt.date] | None,
              calendar: BusinessCalendar, clock: ClockConfig) -> str:
    """The mode of a payment whose voucher the gateway accepted for the bank at `accepted` and its
    receipt dates `paid_day`; `cover`: (ClearType, ClearDate) of the clearing request, not refused,
    that covers it, or None (see the module doc)."""
    if cover is not None and cover[0] == 1:
        return "advance"
    day = to_local(accepted).date()
    if paid_day > day:
        return "defer"
    cleared_that_day = cover is not None and cover[1] == paid_day
    if (paid_day == day and not cleared_that_day and calendar.is_business_day(day)
            and not is_before_clearing_cutoff(accepted, calendar, clock)):
        return "advance"
    return "clearing"
