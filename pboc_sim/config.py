"""Who the central bank branch is, and the fixed facts every duty of `pboc_sim` reads.

Accounts (ids in the ledger):

    pboc:tsa                  treasury single account (no overdraft)
    pboc:clearing:<bank>      each agent bank's clearing account at the central bank
    pboc:fiscal-revenue       where the TSA's opening balance comes from (double entry)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from business_time.calendar import BusinessCalendar, if_known
from business_time.clock import ClockConfig
from messages.errors import InputError
from messages.factory import ADM_DIV_CODE, CLEAR_BANK_CODE, CLEAR_BANK_NAME
from sim.divisions import ServesDivisions

__all__ = [
    "CLEARED_MAX",
    "DECISIONS_MAX",
    "PAYMENT_VTCODE",
    "QUOTA_PAY_TYPE",
    "REVENUE_ACCOUNT",
    "TSA_ACCOUNT",
    "Ctx",
    "PbocConfig",
    "booking_day_unknown",
    "clearing_account",
]

TSA_ACCOUNT = "pboc:tsa"
REVENUE_ACCOUNT = "pboc:fiscal-revenue"

# Quota notice VtCode → the pay type it sets the quota for.
QUOTA_PAY_TYPE: Mapping[str, str] = {"5108": "11", "5106": "12"}

# Decided requests kept for replay. A busy day is a few thousand clearing requests per bank;
# beyond this many the oldest decisions are forgotten (the gateway's own dedup covers them).
DECISIONS_MAX = 1_000_000
# Pay type → the payment voucher a 2301 Detail/VoucherNo names (what a 2302's OriVtCode says).
PAYMENT_VTCODE: Mapping[str, str] = {"11": "5201", "12": "8202"}
# What was cleared, kept for matching refunds: one entry per accepted 2301 and per payment its
# details name. A refund can come months later (cross-year refunds exist, 003 §36), so the
# bound is generous: a year of a big city's payments. Beyond it the oldest are forgotten.
CLEARED_MAX = 2_000_000


def clearing_account(bank_code: str) -> str:
    return f"pboc:clearing:{bank_code}"


@dataclass(frozen=True, slots=True, repr=False)  # repr: ServesDivisions
class PbocConfig(ServesDivisions):
    """Who this central bank branch is. Synthetic defaults, never real codes."""

    adm_div_code: str = ADM_DIV_CODE
    clear_bank_code: str = CLEAR_BANK_CODE
    clear_bank_name: str = CLEAR_BANK_NAME
    tsa_acct_no: str = "99900000000000001"
    tsa_acct_name: str = "示例市国库单一账户"
    tsa_opening_fen: int = 0  # posted once, from REVENUE_ACCOUNT, before anything else
    # The lowest balance a bank's clearing account may reach (int fen; negative = an allowed
    # overdraft): `clearing_floors` per bank code, `clearing_floor_fen` for every other bank.
    clearing_floor_fen: int = 0
    clearing_floors: tuple[tuple[str, int], ...] = ()
    # the other divisions (AdmDivCode) whose treasuries this branch serves besides `adm_div_code`:
    # each gets its own 7401 and 3502 of its own movements (`pboc_sim.statements`)
    divisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.check_divisions()
        if not isinstance(self.tsa_opening_fen, int) or self.tsa_opening_fen < 0:
            raise ValueError(f"tsa_opening_fen must be an int >= 0, not {self.tsa_opening_fen!r}")
        for bank, floor in (("*", self.clearing_floor_fen), *self.clearing_floors):
            if not isinstance(floor, int) or isinstance(floor, bool):
                raise ValueError(f"clearing floor of bank {bank} must be an int (fen), not {floor!r}")
        if len({bank for bank, _ in self.clearing_floors}) != len(self.clearing_floors):
            raise ValueError("clearing_floors names a bank twice")

    def clearing_floor(self, bank_code: str) -> int:
        """The lowest balance bank `bank_code`'s clearing account may reach."""
        return dict(self.clearing_floors).get(bank_code, self.clearing_floor_fen)


@dataclass(frozen=True, slots=True)
class Ctx:
    """What the duties read besides the state: the config, the calendar, the clock's hours."""

    config: PbocConfig
    calendar: BusinessCalendar
    clock_config: ClockConfig

    def booking_day(self, now: dt.datetime) -> dt.date:
        """The business day money moved at `now` is booked on: today until the central bank's close
        on a business day; after it (today's 7401 has gone) or on a closed day, the next business day."""
        day = now.date()
        if self.calendar.is_business_day(day) and now.time() < self.clock_config.bank_system_close:
            return day
        return self.calendar.next_business_day(day)


def booking_day_unknown(ctx: Ctx, now: dt.datetime) -> str | None:
    """Why money moved at `now` cannot be booked (`Ctx.booking_day`): after the last known day's
    close it would be booked on the business day after it, which the calendar does not know
    (docs/calendar.md, "The last days known"). None when the day is known. The central bank refuses
    such a request `calendar-out-of-range` rather than guess a day or leave it unanswered."""
    refused = if_known(lambda: ctx.booking_day(now))
    if isinstance(refused, InputError):
        return f"received {now.isoformat()}, after the central bank's close: {refused.issues[0].message}"
    return None
