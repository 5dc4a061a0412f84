"""Who the treasury pays through and how its days look (`TreasuryConfig`), and the run's days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from treasury_sim.units import UNITS_MAX

__all__ = ["VOUCHERS_PER_DAY_MAX", "YEAR_END_CONFIRM_DAYS_MAX", "TreasuryConfig", "YearEnd", "check_clock", "run_days",
           "year_ends"]

VOUCHERS_PER_DAY_MAX = 100_000  # a big city's busiest day is a few tens of thousands
YEAR_END_CONFIRM_DAYS_MAX = 20  # a month of business days: any longer and the new year's quota waits on it


@dataclass(frozen=True, slots=True)
class TreasuryConfig:
    """Who the treasury pays through and how its days look. Synthetic defaults."""

    banks: tuple[tuple[str, str], ...] = (("999100000001", "示例银行甲分行"), ("999100000002", "示例银行乙分行"))
    adm_div_code: str = "990100"
    first_day: dt.date = dt.date(2026, 2, 13)
    days: int = 3
    vouchers_per_day: int = 200
    seed: int = 1
    quota_time: dt.time = dt.time(8, 30)
    window_start: dt.time = dt.time(9, 0)
    window_end: dt.time = dt.time(15, 20)
    late_end: dt.time = dt.time(16, 50)  # late vouchers go from the clearing cutoff to here
    slot_minutes: int = 5
    late_share_pct: int = 10
    authorized_share_pct: int = 40
    amount_min_fen: int = 100_00
    amount_max_fen: int = 50_000_00
    tsa_opening_fen: int = 0  # the TSA balance the treasury expects the first statement to open with
    units: int = 0  # budget units generated (treasury_sim.units) with indicators; 0: the four fixed units, no budget
    budget_anomaly_permille: int = 20  # with `units`: requests asking what the budget does not allow
    # Year end (004 part 5 §6; treasury_sim.year_end). The seed names the order (cancel, carry) and the
    # year's end, no day or hour: on the last business day on or before 12-`year_end_on` of a year the
    # run crosses, at `year_end_time` (after the banks' systems close and the day's last voucher).
    year_end: bool = True  # send the 7301 / 7302 when the run crosses 31 December
    year_end_on: int = 31  # the December day (1..31): the year end is the last business day on or before it
    year_end_time: dt.time = dt.time(17, 30)
    year_end_confirm_days: int = 1  # business days the bank has to confirm each notice (deadline at year_end_time)
    # budget subjects (ExpFuncCode) whose unspent authorized quota carries forward (7302): multi-year
    # works such as road building (公路建设); any other subject's is cancelled (7301)
    year_end_carry_subjects: tuple[str, ...] = ("2140104",)
    authorized_unspent_pct: int = 0  # the month's 7101 grants the approved plan plus this share the units leave unspent
    # direct payments (5201) of the plain plan tagged direct funds (直达资金, 001, 002: DirectFundFlag 1 on
    # every line), drawn from the voucher number so the rest of the plan is the same bytes; 0: none
    direct_share_pct: int = 0

    def __post_init__(self) -> None:
        if not self.banks:
            raise ValueError("a treasury pays through at least one bank")
        if not 0 <= self.vouchers_per_day <= VOUCHERS_PER_DAY_MAX:
            raise ValueError(f"vouchers_per_day must be 0..{VOUCHERS_PER_DAY_MAX}")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        for name in ("late_share_pct", "authorized_share_pct", "direct_share_pct"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be 0..100")
        if not 0 < self.amount_min_fen <= self.amount_max_fen:
            raise ValueError("need 0 < amount_min_fen <= amount_max_fen")
        if not self.quota_time < self.window_start < self.window_end:
            raise ValueError("need quota_time < window_start < window_end")
        if not 1 <= self.slot_minutes <= 60:
            raise ValueError("slot_minutes must be 1..60")
        if self.units != 0 and not 2 <= self.units <= UNITS_MAX:
            raise ValueError(f"units must be 0 (the fixed units) or 2..{UNITS_MAX}")
        if not 0 <= self.budget_anomaly_permille <= 1000:
            raise ValueError("budget_anomaly_permille must be 0..1000")
        if not 1 <= self.year_end_on <= 31:
            raise ValueError("year_end_on is a day of December: 1..31")
        if not 1 <= self.year_end_confirm_days <= YEAR_END_CONFIRM_DAYS_MAX:
            raise ValueError(f"year_end_confirm_days must be 1..{YEAR_END_CONFIRM_DAYS_MAX}")
        if not self.late_end <= self.year_end_time:
            raise ValueError("the year end comes after the day's last voucher: need late_end <= year_end_time")
        if not 0 <= self.authorized_unspent_pct <= 100:
            raise ValueError("authorized_unspent_pct must be 0..100")


def check_clock(config: TreasuryConfig, clock_config: ClockConfig) -> None:
    """The treasury's day must fit the banks' clock: late vouchers after the clearing cutoff and
    before the banks' systems close."""
    if not config.window_end < clock_config.clearing_cutoff < config.late_end:
        raise ValueError("need window_end < clearing cutoff < late_end")
    if not config.late_end < clock_config.bank_system_close:
        raise ValueError("late vouchers must reach the banks before their system closes")


def run_days(config: TreasuryConfig, calendar: BusinessCalendar) -> list[dt.date]:
    """The run's business days: `config.days` of them from the first business day on or after `first_day`."""
    first = config.first_day if calendar.is_business_day(config.first_day) else \
        calendar.next_business_day(config.first_day)
    days = [first]
    while len(days) < config.days:
        days.append(calendar.next_business_day(days[-1]))
    return days


@dataclass(frozen=True, slots=True)
class YearEnd:
    """One year's end in a run: the 7301 / 7302 of `year` go out `at`, confirmed by `deadline`."""

    year: int
    at: dt.datetime
    deadline: dt.datetime


def year_ends(config: TreasuryConfig, calendar: BusinessCalendar, days: list[dt.date]) -> list[YearEnd]:
    """The year ends of a run: of every year Y the run's business days reach and leave for Y + 1,
    on the last business day on or before 12-`year_end_on` of Y (if the run has begun by then).
    A date the business calendar does not know is refused (`InputError("calendar-out-of-range")`),
    never guessed."""
    if not config.year_end or not days:
        return []
    out = []
    for year in range(days[0].year, days[-1].year):
        last = dt.date(year, 12, min(config.year_end_on, 31))
        day = last if calendar.is_business_day(last) else calendar.previous_business_day(last)
        if day < days[0]:
            continue
        deadline = calendar.add_business_days(day, config.year_end_confirm_days)
        out.append(YearEnd(year, at(day, config.year_end_time), at(deadline, config.year_end_time)))
    return out
