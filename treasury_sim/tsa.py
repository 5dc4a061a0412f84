"""The treasury's own books of its single account (TSA) and the 7401 statements checked against them.

**Expected debits** of a day: the vouchers sent before the cutoff that day (cleared that day)
plus the advances of the previous business day (replenished that morning), less what the gateway
refused. **Expected credits**: the refunds advised (7403) with that CreditDate. **BeginBalance**
follows from the opening balance and the earlier days; EndBalance = BeginBalance + CreditAmt -
DebitAmt; the D and C details add up to DebitAmt and CreditAmt. A difference is an Alarm
`amount-mismatch` and is kept (never netted away).

`TsaBook` keeps the expected debits and credits by day as running totals, updated as vouchers are
planned or refused and refunds advised: a day's figure is a look-up, a balance a running figure
walked on from the last one asked (the days between), never a scan of the vouchers. It is derived state: rebuilt from the plan and the snapshot on load.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from business_time.calendar import BusinessCalendar, if_known
from business_time.clock import replenishment_day
from messages.dates import parse_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect
from treasury_sim.records import PlannedVoucher, StatementCheck

__all__ = ["TsaBook", "check_statement", "clear_day", "missing_statements"]

_ONE_DAY = dt.timedelta(days=1)


def clear_day(v: PlannedVoucher, calendar: BusinessCalendar) -> dt.date:
    """The day the TSA pays for `v`: its own day, or (an advance) the day the reserve is replenished."""
    return late_clear_day(v.day, calendar) if v.late else v.day


def late_clear_day(day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """The day the TSA pays for an advance of `day`: the replenishment morning; for the calendar's
    last day, whose next business day is unknown, the first day past the calendar, a lower bound
    (never a guessed day): no statement the calendar knows counts it, and none past it is made."""
    answer = if_known(lambda: replenishment_day(day, calendar))
    if isinstance(answer, InputError):
        if day != calendar.known_range[1] and calendar.next_business_day_if_known(day) is not None:
            raise answer
        return calendar.known_range[1] + dt.timedelta(days=1)
    return answer


@dataclass(slots=True)
class TsaBook:
    debit_by_day: dict[dt.date, int] = field(default_factory=dict)
    credit_by_day: dict[dt.date, int] = field(default_factory=dict)
    planned_fen: int = 0  # every voucher planned
    refused_fen: int = 0  # of them, refused by the gateway
    debit_fen: int = 0  # debit_by_day added up
    touched: list[dt.date] = field(default_factory=list)  # days changed by the input being handled
    # The running balance `balance_before` last answered: credits less debits of the days before
    # `_mark`. A statement a day asks for the next day's: walking on from the mark reads the few
    # days between, not every day kept (a sum over all of them grew with the days run). A change
    # to a day before the mark moves the figure with it.
    _mark: dt.date | None = field(default=None, repr=False)
    _net_before: int = field(default=0, repr=False)

    def _moved(self, day: dt.date, net_fen: int) -> None:
        """`net_fen` (credit positive) was added to `day`: the running figure follows if it counts that day."""
        if self._mark is not None and day < self._mark:
            self._net_before += net_fen

    def planned(self, v: PlannedVoucher, calendar: BusinessCalendar) -> None:
        day = clear_day(v, calendar)
        self.debit_by_day[day] = self.debit_by_day.get(day, 0) + v.amount_fen
        self.planned_fen += v.amount_fen
        self.debit_fen += v.amount_fen
        self._moved(day, -v.amount_fen)

    def planned_day(self, day: dt.date, late_amounts: Iterable[tuple[bool, int]], calendar: BusinessCalendar) -> None:
        """`planned` of each voucher of `day`, given as (late, amount_fen): the same sums."""
        late_day: dt.date | None = None
        debit_by_day = self.debit_by_day
        total = late_total = 0
        for late, fen in late_amounts:
            if late:
                late_day = late_day or late_clear_day(day, calendar)
                debit_by_day[late_day] = debit_by_day.get(late_day, 0) + fen
                late_total += fen
            else:
                debit_by_day[day] = debit_by_day.get(day, 0) + fen
            total += fen
        self.planned_fen += total
        self.debit_fen += total
        self._moved(day, late_total - total)
        if late_day is not None:
            self._moved(late_day, -late_total)

    def refused(self, v: PlannedVoucher, calendar: BusinessCalendar) -> None:
        """The gateway refused `v`: never paid, never debited."""
        day = clear_day(v, calendar)
        self.debit_by_day[day] = self.debit_by_day.get(day, 0) - v.amount_fen
        self.refused_fen += v.amount_fen
        self.debit_fen -= v.amount_fen
        self.touched.append(day)
        self._moved(day, v.amount_fen)

    def advised(self, before: tuple[dt.date, int] | None, after: tuple[dt.date, int]) -> None:
        """A refund advice (7403): `after` (CreditDate, fen) replaces `before` (the advice of its key advised earlier)."""
        if before is not None:
            self.credit_by_day[before[0]] -= before[1]
            self._moved(before[0], -before[1])
        self.credit_by_day[after[0]] = self.credit_by_day.get(after[0], 0) + after[1]
        self._moved(after[0], after[1])

    def debit(self, day: dt.date) -> int:
        return self.debit_by_day.get(day, 0)

    def credit(self, day: dt.date) -> int:
        return self.credit_by_day.get(day, 0)

    def balance_before(self, opening_fen: int, day: dt.date) -> int:
        """The opening balance plus the credits less the debits of the days before `day`."""
        mark = self._mark
        if mark is None or day < mark or (day - mark).days > len(self.debit_by_day) + len(self.credit_by_day):
            # the first ask, one back in time or past a long gap: every day kept, once
            net = sum(fen for d, fen in self.credit_by_day.items() if d < day)
            net -= sum(fen for d, fen in self.debit_by_day.items() if d < day)
        else:  # on from the last ask: the days between
            net, d = self._net_before, mark
            credit, debit = self.credit_by_day.get, self.debit_by_day.get
            while d < day:
                net += credit(d, 0) - debit(d, 0)
                d += _ONE_DAY
        self._mark, self._net_before = day, net
        return opening_fen + net


def check_statement(doc: VoucherDoc, key: VoucherKey, book: TsaBook,
                    opening_fen: int) -> tuple[StatementCheck | None, list[Effect]]:
    """A 7401 checked against the book: the check to keep, and an Alarm if it disagrees."""
    day = parse_ymd(doc.get("StatementDate"))
    if day is None:  # the gateway's bad-date check makes this unreachable for a delivered 7401
        return None, [Alarm("bad-date", f"7401 {key}: StatementDate {doc.get('StatementDate')!r}", str(key))]
    by_direction = {"D": 0, "C": 0}
    for d in doc.details():  # none on a day without movements
        direction = d.get("Direction", "")
        by_direction[direction] = by_direction.get(direction, 0) + parse_fen(d.get("Amt", ""))
    check = StatementCheck(day, parse_fen(doc.get("BeginBalance")), parse_fen(doc.get("DebitAmt")),
                           parse_fen(doc.get("CreditAmt")), parse_fen(doc.get("EndBalance")),
                           book.balance_before(opening_fen, day), book.debit(day), book.credit(day),
                           by_direction["D"], by_direction["C"])
    if check.ok:
        return check, []
    return check, [Alarm("amount-mismatch", f"7401 of {day}: begin {fen_to_str(check.begin_fen)} (expected "
                         f"{fen_to_str(check.expected_begin_fen)}), debits {fen_to_str(check.debit_fen)} (expected "
                         f"{fen_to_str(check.expected_debit_fen)}, details {fen_to_str(check.detail_debit_fen)}), "
                         f"credits {fen_to_str(check.credit_fen)} (expected {fen_to_str(check.expected_credit_fen)}, "
                         f"details {fen_to_str(check.detail_credit_fen)}), end {fen_to_str(check.end_fen)}", str(key))]


def missing_statements(first: dt.date, through: dt.date, have: dict[dt.date, StatementCheck],
                       calendar: BusinessCalendar) -> list[dt.date]:
    """Business days from `first` through `through` with no 7401 in `have`."""
    missing: list[dt.date] = []
    day: dt.date | None = first
    while day is not None and day <= through:
        if day not in have:
            missing.append(day)
        day = calendar.next_business_day_if_known(day)  # through the calendar's last day: no day after it
    return missing
