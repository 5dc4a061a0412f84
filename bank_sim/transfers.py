"""When a payment reaches the payee: the agreement's transfer times (004 part 3 §8(3)), pure.

| route        | when                                                     | arrives                             |
|--------------|----------------------------------------------------------|-------------------------------------|
| `same-city`  | the payee's bank is this bank, in the same city          | at once (real time)                 |
| `other-city` | this bank, another city                                  | within `other_city_lag` (2 hours)   |
| `other-bank` | another bank: through the clearing system (CNAPS)        | `other_bank_business_days` business days later, same time of day (the agreement: within 2 business days counting the day paid, so 1) |

Bank codes are 12-digit CNAPS codes: the first 3 digits name the bank, the next 4 its city.
The receipt carries the day the money arrived (or will arrive, for CNAPS) as `XArriveDate`,
the project's own X-field (no public source attests one): see the 5201 / 8202 XSDs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from business_time.calendar import BusinessCalendar
from business_time.clock import at, to_local

__all__ = ["Route", "TransferConfig", "arrival", "route"]

Route = Literal["same-city", "other-city", "other-bank"]
# The longest lag a config may ask for: the agreement's own is 2 hours / 2 business days.
LAG_BUSINESS_DAYS_MAX = 5


@dataclass(frozen=True, slots=True)
class TransferConfig:
    other_city_lag: dt.timedelta = dt.timedelta(hours=2)
    other_bank_business_days: int = 1

    def __post_init__(self) -> None:
        if not dt.timedelta(0) <= self.other_city_lag <= dt.timedelta(hours=24):
            raise ValueError("other_city_lag must be 0..24 hours")
        if not 0 <= self.other_bank_business_days <= LAG_BUSINESS_DAYS_MAX:
            raise ValueError(f"other_bank_business_days must be 0..{LAG_BUSINESS_DAYS_MAX}")


def route(pay_bank_code: str, payee_bank_no: str) -> Route:
    """How money goes from the paying bank to the payee's bank (an empty or short payee code
    counts as another bank: the slowest route, never a promise the bank cannot keep)."""
    if len(payee_bank_no) < 7 or payee_bank_no[:3] != pay_bank_code[:3]:
        return "other-bank"
    return "same-city" if payee_bank_no[3:7] == pay_bank_code[3:7] else "other-city"


def arrival(paid_at: dt.datetime, how: Route, calendar: BusinessCalendar,
            config: TransferConfig = TransferConfig()) -> dt.datetime:
    """When the money reaches the payee's account."""
    paid_at = to_local(paid_at)
    if how == "same-city":
        return paid_at
    if how == "other-city":
        return paid_at + config.other_city_lag
    day = calendar.add_business_days(paid_at.date(), config.other_bank_business_days) \
        if config.other_bank_business_days else paid_at.date()
    return at(day, paid_at.timetz().replace(tzinfo=None))
