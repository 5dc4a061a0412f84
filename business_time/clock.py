"""Business time without IO: ClockConfig, Asia/Shanghai, and the agent-bank deadlines.

Two parts:

* Pure helpers, functions of (time, calendar, config) that never read a clock:
  `clearing_day_for`, `payment_deadline`, `receipts_deadline`, `next_cutoffs`... The sans-IO
  cores call these with the time they were handed.
* `BusinessClock`, the one object that says what time it is. `live` reads the wall clock;
  `simulated` holds a virtual time that moves only when told (`advance_to`), waking the tasks
  sleeping on it in time order and letting the work each wake triggers run before moving on.
  Code that waits (retries, deadlines) calls `clock.sleep` / `clock.sleep_until`, never
  `asyncio.sleep`, so its timers follow whichever clock it was given.

A deadline computed across a *provisional* year of the calendar (one the operator loaded from
the statutory holidays before the State Council's notice, docs/calendar.md) may move when the
notice comes: `provisional(start, deadline, calendar)` says so, and `cutoffs_view` stamps each
cutoff it lists with it.

Every time of day (16:00 clearing cutoff, 16:30 urgent, 10:00 next-morning payment, 11:00
receipts...) comes from `ClockConfig`, never from a constant in code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from business_time.calendar import BusinessCalendar, if_known
from messages.errors import InputError, StateError

__all__ = [
    "TZ",
    "ClockConfig",
    "ClockError",
    "NotSimulatedError",
    "at",
    "calendar_end",
    "clearing_cutoff",
    "clearing_day_for",
    "credit_notice_deadline",
    "cutoffs_view",
    "daily_report_deadline",
    "deadline_after_business_days",
    "is_before_clearing_cutoff",
    "monthly_report_deadline",
    "monthly_statement_deadline",
    "next_cutoffs",
    "or_calendar_end",
    "payment_deadline",
    "provisional",
    "quota_arrival_notice_deadline",
    "receipts_deadline",
    "refund_notice_deadline",
    "replenishment_day",
    "replenishment_deadline",
    "replenishment_window",
    "to_local",
]

TZ = ZoneInfo("Asia/Shanghai")

# Notice periods are counted in business days; the agreement's longest is 3. A month of them
# would be a typo in a config file, not a rule.
NOTICE_DAYS_MAX = 20


class ClockError(StateError):
    """The clock was asked for something impossible (time going backwards, a naive datetime)."""


class NotSimulatedError(ClockError):
    """Only a simulated clock can be moved by hand."""


def _time_of_day(value: Any, name: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 16:00 as 960 minutes
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise InputError("config-invalid", f"clock config {name}: {value!r} is not a time of day HH:MM")


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """The agreement's times of day (Asia/Shanghai) and notice periods (business days)."""

    clearing_cutoff: dt.time = dt.time(16, 0)
    urgent_cutoff: dt.time = dt.time(16, 30)
    bank_system_close: dt.time = dt.time(17, 0)
    next_morning_payment_deadline: dt.time = dt.time(10, 0)
    # the reserve is made whole "在下一工作日上午" (004 part 3 §9(12)): the morning, until noon. The
    # start is the central bank's opening (the project's own); the end is the bank's deadline: a
    # replenishment after it is late (scored), not refused, as the reserve is still owed its money
    replenishment_window_start: dt.time = dt.time(8, 30)
    replenishment_window_end: dt.time = dt.time(12, 0)
    receipts_deadline: dt.time = dt.time(11, 0)
    credit_notice_days: int = 2
    refund_notice_days: int = 1
    # authorized quota notice → quota arrival notice at the unit: 1 working day to the branches,
    # then 1 more from the branches to the units, "1 个工作日内…各网点行要在1 个工作日内" (004 part 3 §9(2))
    quota_notice_days: int = 2
    daily_report_days: int = 1
    monthly_report_days: int = 2
    monthly_statement_days: int = 3

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_days"):
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= NOTICE_DAYS_MAX:
                    raise InputError("config-invalid", f"clock config {f.name}: {value!r} is not 0..{NOTICE_DAYS_MAX}")
            elif not isinstance(value, dt.time) or value.tzinfo is not None:
                raise InputError("config-invalid", f"clock config {f.name}: {value!r} is not a naive time of day")
        if not self.clearing_cutoff <= self.urgent_cutoff:
            raise InputError("config-invalid", "clock config: urgent_cutoff must not be before clearing_cutoff")
        if not self.replenishment_window_start < self.replenishment_window_end:
            raise InputError("config-invalid", "clock config: replenishment window start must be before its end")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ClockConfig:
        """Keys as the fields; `replenishment_window: {start, end}` is accepted too. Times as "HH:MM"."""
        data = dict(data or {})
        window = data.pop("replenishment_window", None)
        if window is not None:
            if not isinstance(window, dict) or set(window) - {"start", "end"}:
                raise InputError("config-invalid", "clock config replenishment_window: expected {start, end}")
            if "start" in window:
                data["replenishment_window_start"] = window["start"]
            if "end" in window:
                data["replenishment_window_end"] = window["end"]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InputError("config-invalid", f"clock config: unknown keys {sorted(map(str, unknown))}")
        values: dict[str, Any] = {k: (v if k.endswith("_days") else _time_of_day(v, k)) for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_yaml(cls, text: str) -> ClockConfig:
        import yaml

        from messages.yamlsafe import load_yaml

        try:
            return cls.from_dict(load_yaml(text))
        except yaml.YAMLError as exc:
            raise InputError("config-invalid", f"clock config is not valid YAML: {exc}") from exc


# --- pure helpers ----------------------------------------------------------------------------


def at(day: dt.date, time_of_day: dt.time) -> dt.datetime:
    """`day` at `time_of_day`, Asia/Shanghai."""
    return dt.datetime.combine(day, time_of_day, tzinfo=TZ)


def to_local(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is TZ:  # already local (most are): what astimezone(TZ) would return, itself
        return t
    if t.tzinfo is None or t.utcoffset() is None:
        raise ClockError(f"naive datetime {t.isoformat()}: business times must be timezone-aware")
    return t.astimezone(TZ)


def calendar_end(calendar: BusinessCalendar) -> dt.datetime:
    """00:00 Asia/Shanghai of the first day past `calendar`'s known range: where a scheduler with no
    known next event sleeps to (any question about that day refuses calendar-out-of-range)."""
    return at(calendar.known_range[1] + dt.timedelta(days=1), dt.time.min)


def or_calendar_end(deadline: Callable[[], dt.datetime], start: dt.date, calendar: BusinessCalendar) -> dt.datetime:
    """`deadline()`; or, when it refuses calendar-out-of-range only because its answer lies past the
    calendar's end (`start` is a day the calendar knows), `calendar_end(calendar)`: a lower bound, not a
    guess. A duty done before it is on time whatever the true deadline, and one not done is pending at
    any time before it; nothing simulated runs past it (the cores refuse). Reports and scorecards use
    it for the last known days (their receipts, daily report, December's statements); a deadline
    function itself never does."""
    answer = if_known(deadline)
    if not isinstance(answer, InputError):
        return answer
    first, last = calendar.known_range
    if not first <= start <= last:
        raise answer
    return calendar_end(calendar)


def clearing_cutoff(day: dt.date, config: ClockConfig, *, urgent: bool = False) -> dt.datetime:
    """The clearing cutoff (or urgent cutoff) on `day`; meaningful on business days only."""
    return at(day, config.urgent_cutoff if urgent else config.clearing_cutoff)


def is_before_clearing_cutoff(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig, *,
                              urgent: bool = False) -> bool:
    """True when `t` is on a business day strictly before that day's cutoff; a non-business day
    counts as after the cutoff (nothing clears that day)."""
    t = to_local(t)
    return calendar.is_business_day(t.date()) and t < clearing_cutoff(t.date(), config, urgent=urgent)


def clearing_day_for(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig, *,
                     urgent: bool = False) -> dt.date:
    """The business day whose clearing a payment accepted at `t` belongs to: that day if before
    its cutoff on a business day, else the next business day."""
    t = to_local(t)
    if is_before_clearing_cutoff(t, calendar, config, urgent=urgent):
        return t.date()
    return calendar.next_business_day(t.date())


def payment_deadline(received_at: dt.datetime, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    """An instruction received before the bank's system closes on a business day is paid that day
    (by the close); otherwise by the next-morning deadline of the next business day."""
    t = to_local(received_at)
    if calendar.is_business_day(t.date()) and t.time() < config.bank_system_close:
        return at(t.date(), config.bank_system_close)
    return at(calendar.next_business_day(t.date()), config.next_morning_payment_deadline)


def replenishment_day(advance_day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """The clearing reserve, advanced on `advance_day`, is made whole the next business day."""
    return calendar.next_business_day(advance_day)


def replenishment_window(advance_day: dt.date, calendar: BusinessCalendar,
                         config: ClockConfig) -> tuple[dt.datetime, dt.datetime]:
    day = replenishment_day(advance_day, calendar)
    return at(day, config.replenishment_window_start), at(day, config.replenishment_window_end)


def replenishment_deadline(advance_day: dt.date, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    """The reserve advanced on `advance_day` is due to be made whole before this: the end of the
    next business day's morning ("在下一工作日上午", 004 part 3 §9(12))."""
    return replenishment_window(advance_day, calendar, config)[1]


def receipts_deadline(paid_day: dt.date, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    """Voucher receipts and clearing lists go back to the treasury by 11:00 the next business day."""
    return at(calendar.next_business_day(paid_day), config.receipts_deadline)


def deadline_after_business_days(t: dt.datetime | dt.date, n: int, calendar: BusinessCalendar) -> dt.datetime:
    """"Within n working days" of `t`: the end (23:59:59.999999, inclusive) of the n-th business
    day after the day of `t` (n == 0: that day if a business day, else the next one)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = to_local(t).date() if isinstance(t, dt.datetime) else t
    return at(calendar.add_business_days(day, n), dt.time.max)


def credit_notice_deadline(paid: dt.datetime | dt.date, calendar: BusinessCalendar,
                           config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(paid, config.credit_notice_days, calendar)


def refund_notice_deadline(refunded: dt.datetime | dt.date, calendar: BusinessCalendar,
                           config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(refunded, config.refund_notice_days, calendar)


def quota_arrival_notice_deadline(notified: dt.datetime | dt.date, calendar: BusinessCalendar,
                                  config: ClockConfig) -> dt.datetime:
    """The quota arrival notice (额度到账通知书) reaches the unit within 1 + 1 working days of the
    bank receiving the authorized quota notice: the bank tells its branches within 1 working day,
    each branch the units within 1 more (004 part 3 §9(2))."""
    return deadline_after_business_days(notified, config.quota_notice_days, calendar)


def daily_report_deadline(day: dt.date, calendar: BusinessCalendar, config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(day, config.daily_report_days, calendar)


def _month_end(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def monthly_report_deadline(year: int, month: int, calendar: BusinessCalendar,
                            config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(_month_end(year, month), config.monthly_report_days, calendar)


def monthly_statement_deadline(year: int, month: int, calendar: BusinessCalendar,
                               config: ClockConfig) -> dt.datetime:
    return deadline_after_business_days(_month_end(year, month), config.monthly_statement_days, calendar)


def _daily_events(config: ClockConfig) -> Iterable[tuple[str, dt.time]]:
    return (
        ("replenishment-window-start", config.replenishment_window_start),
        ("next-morning-payment-deadline", config.next_morning_payment_deadline),
        ("replenishment-window-end", config.replenishment_window_end),
        ("receipts-deadline", config.receipts_deadline),
        ("clearing-cutoff", config.clearing_cutoff),
        ("urgent-cutoff", config.urgent_cutoff),
        ("bank-system-close", config.bank_system_close),
    )


def next_cutoffs(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig) -> list[tuple[str, dt.datetime]]:
    """For each daily event of the agreement, its next occurrence strictly after `t` on a business
    day, sorted by time (what `tgw clock` shows)."""
    t = to_local(t)
    today_open = calendar.is_business_day(t.date())
    following = calendar.next_business_day(t.date())
    events = []
    for name, time_of_day in _daily_events(config):
        when = at(t.date(), time_of_day)
        if not (today_open and when > t):
            when = at(following, time_of_day)
        events.append((name, when))
    events.sort(key=lambda e: e[1])
    return events




def provisional(start: dt.datetime | dt.date, deadline: dt.datetime | dt.date, calendar: BusinessCalendar) -> bool:
    """True when the deadline computed from `start` rests on a provisional year of `calendar`
    (stamp it: it may move once the State Council's notice is loaded)."""
    def day(x: dt.datetime | dt.date) -> dt.date:
        return to_local(x).date() if isinstance(x, dt.datetime) else x

    return calendar.provisional_between(day(start), day(deadline))


def cutoffs_view(t: dt.datetime, calendar: BusinessCalendar, config: ClockConfig) -> dict[str, Any]:
    """What `GET /v1/clock` and `tgw clock` show of the calendar at `t`: whether it is a business
    day, the next cutoffs, each stamped `provisional`, and `provisional` over all of it. On the
    calendar's last business day (and the days after it that it knows) the cutoffs still ahead that
    day are listed, and `calendar_error` names the rest, which fall on the unknown next business day;
    a day past the calendar refuses calendar-out-of-range."""
    t = to_local(t)
    business_day = calendar.is_business_day(t.date())  # a day past the calendar: calendar-out-of-range
    unknown: list[str] = []
    if calendar.next_business_day_if_known(t.date()) is None:  # the last days known: the next one is not
        events = [(name, when) for name, time_of_day in _daily_events(config)
                  if business_day and (when := at(t.date(), time_of_day)) > t]
        unknown = [name for name, _ in _daily_events(config) if name not in {n for n, _ in events}]
        events.sort(key=lambda e: e[1])
    else:
        events = next_cutoffs(t, calendar, config)
    cutoffs = [{"name": name, "at": when.isoformat(), "provisional": provisional(t, when, calendar)}
               for name, when in events]
    stamped = calendar.provisional_between(t.date(), t.date()) or any(c["provisional"] for c in cutoffs)
    view: dict[str, Any] = {"business_day": business_day, "next_cutoffs": cutoffs, "provisional": stamped}
    if unknown:  # listed as far as known, never guessed: the rest fall on a day the calendar does not know
        view["calendar_error"] = (f"calendar-out-of-range: the business day after {calendar.known_range[1].isoformat()} "
                                  f"is unknown, so are the next {', '.join(unknown)} (add a year: `tgw calendar`, "
                                  "docs/calendar.md)")
    return view
