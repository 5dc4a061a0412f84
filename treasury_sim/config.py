"""Who the treasury pays through and how its days look (`TreasuryConfig`), and the run's days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from treasury_sim.units import UNITS_MAX

__all__ = ["VOUCHERS_PER_DAY_MAX", "TreasuryConfig", "check_clock", "run_days"]

VOUCHERS_PER_DAY_MAX = 100_000  # a big city's busiest day is a few tens of thousands


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

    def __post_init__(self) -> None:
        if not self.banks:
            raise ValueError("a treasury pays through at least one bank")
        if not 0 <= self.vouchers_per_day <= VOUCHERS_PER_DAY_MAX:
            raise ValueError(f"vouchers_per_day must be 0..{VOUCHERS_PER_DAY_MAX}")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        for name in ("late_share_pct", "authorized_share_pct"):
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
