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

**Which payments a clearing request covers** (`clearing_cover`). A payment is its voucher's key
(AdmDivCode, StYear, VtCode, VoucherNo): each division's treasury numbers its own vouchers, each
year afresh, so two payments of the bank may share a VoucherNo. A 2301 is one division's (its
AdmDivCode) and pay type's; its `Detail/VoucherNo` names a payment of that division and kind (5201
for pay type 11, 8202 for 12). The Detail names no year: of that division's payments of the number
in several budget years, it is the one no earlier request (not refused) covered, paid by the request's
ClearDate, of the ClearDate's year or else the year before (the central bank's rule,
`pboc_sim.cleared.payment_year`), else the one paid last. When the ClearDate year's and the year
before's payments of the number are both covered already, the Detail names a payment cleared
already: it covers none (a key without a year), and the central bank refuses the request
`already-cleared` (`pboc_sim.cleared.cleared_again`: a request clears the money actually paid, once).
A number named twice in one request is one payment (the central bank adds the Details up). A 2301
with no Detail naming a payment covers the receipts of its division, pay type and ClearDate that
reached the treasury before it was filed, not covered by an earlier request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, is_before_clearing_cutoff, to_local
from pboc_sim.cleared import payment_year

__all__ = ["Filed", "clearing_cover", "seen_mode"]

PAYMENT_OF = {"11": "5201", "12": "8202"}  # a 2301's PayTypeCode → the payment vouchers it clears


class Filed(Protocol):
    """A clearing request (2301) as the wire shows it."""

    @property
    def adm(self) -> str: ...  # its AdmDivCode
    @property
    def pay_type(self) -> str: ...
    @property
    def clear_date(self) -> dt.date: ...
    @property
    def filed_at(self) -> dt.datetime: ...
    @property
    def listed(self) -> tuple[str, ...]: ...  # its Details' VoucherNo


F = TypeVar("F", bound=Filed)


def _never(f: object) -> bool:
    return False


def clearing_cover(filed: Sequence[F], paid: Mapping[str, tuple[str, dt.date, dt.datetime]],
                   refused: Callable[[F], bool] = _never) -> list[list[str]]:
    """The keys of the payments each request of `filed` (in the order filed) covers (see the module
    doc). `paid`: payment key ("<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>") → (VtCode, the day its
    receipt says it was paid, when the receipt arrived); `refused`: whether the central bank refused
    a request (what it named stays uncovered for the next). A Detail naming no payment paid, or one
    cleared already, gives a key without a year ("<AdmDivCode>//<VtCode>/<VoucherNo>")."""
    numbered: dict[tuple[str, str, str], list[str]] = {}
    for key in paid:
        adm, _, vtcode, no = key.split("/", 3)
        numbered.setdefault((adm, vtcode, no), []).append(key)
    seen: set[str] = set()
    out: list[list[str]] = []
    for f in filed:
        vtcode = PAYMENT_OF.get(f.pay_type, "")
        if f.listed:
            keys = [_listed(f.adm, vtcode, no, f.clear_date, numbered, seen, paid) for no in dict.fromkeys(f.listed)]
        else:
            keys = [key for key, (vt, day, got) in paid.items()
                    if vt == vtcode and day == f.clear_date and got <= f.filed_at and key not in seen
                    and key.split("/", 1)[0] == f.adm]
        if not refused(f):
            seen.update(keys)
        out.append(keys)
    return out


def _listed(adm: str, vtcode: str, no: str, clear_date: dt.date, numbered: Mapping[tuple[str, str, str], list[str]],
            seen: set[str], paid: Mapping[str, tuple[str, dt.date, dt.datetime]]) -> str:
    """The payment a Detail naming `no` covers (module doc); a key without a year: none paid, or the
    one it names is cleared already (`payment_year` None: the central bank refuses the request)."""
    none = f"{adm}//{vtcode}/{no}"
    if payment_year(clear_date.year, lambda y: f"{adm}/{y}/{vtcode}/{no}" in seen) is None:
        return none
    fresh = [k for k in numbered.get((adm, vtcode, no), []) if k not in seen]
    due = [k for k in fresh if paid[k][1] <= clear_date] or fresh
    return _named(due, clear_date.year, paid) if due else none


def _named(due: list[str], clear_year: int, paid: Mapping[str, tuple[str, dt.date, dt.datetime]]) -> str:
    """Of `due` (the payments of a Detail's number not yet covered, paid by the ClearDate), the one
    the central bank takes the Detail for (`pboc_sim.cleared.payment_year`: of the ClearDate's year
    or the year before, the latest); another year's only: the last paid."""
    by_year = {key.split("/", 2)[1]: key for key in due}
    year = payment_year(clear_year, lambda y: str(y) not in by_year)
    return by_year.get(str(year)) or max(due, key=lambda k: paid[k][1])


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
