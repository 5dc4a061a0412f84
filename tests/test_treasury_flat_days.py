"""An input to the treasury costs the same on day 40 of a run as on day 3 (bench/results/days.md).

The schedule walks only the days still open (`treasury_sim.open_days`), not every day since the
first; the TSA book's balance before a day is a running figure walked on from the last one asked
(`TsaBook.balance_before`), not a sum over every day kept; the receipts of a day are a count kept
by day (`ReceiptBook.received_on`), not a walk of every receipt. Counted (calls, reads), never timed;
and against the oracle of the old walks: the same effects, the same balances."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from treasury_helpers import run_until

import treasury_sim.core as treasury_core
import treasury_sim.open_days as open_days
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.envelope import VoucherKey
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.open_days import OpenDays
from treasury_sim.receipt_book import ReceiptBook, ReceiptLog
from treasury_sim.records import PlannedVoucher, Receipt
from treasury_sim.tsa import TsaBook

CALENDAR, CC = BusinessCalendar.default(), ClockConfig()
FIRST = dt.date(2026, 3, 16)  # a Monday


def at(hhmm: str, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def new_core(days: int, vouchers: int = 4) -> TreasuryCore:
    return TreasuryCore(TreasuryConfig(vouchers_per_day=vouchers, days=days, first_day=FIRST), CALENDAR, CC)


class FullWalk(OpenDays):
    """The oracle: every day walked on every input, as before `OpenDays`."""

    __slots__ = ()

    def advance(self, cursor: dt.datetime, plans: Mapping[dt.date, Any]) -> None:
        pass


def test_an_input_on_day_40_walks_as_many_days_as_on_day_3(monkeypatch: pytest.MonkeyPatch) -> None:
    core = new_core(days=45)
    calls = [0]
    real_at = treasury_core.at

    def counting(*args: Any) -> dt.datetime:
        calls[0] += 1
        return real_at(*args)

    monkeypatch.setattr(treasury_core, "at", counting)
    monkeypatch.setattr(open_days, "at", counting)
    counted = {}
    for k in (2, 39):
        run_until(core, at("18:00", core.days[k]))
        calls[0] = 0
        core.on_time(at("18:00", core.days[k]))  # an input after the day's last send (a receipt's catch-up too)
        counted[k] = calls[0]
    assert counted[39] == counted[2] <= 6


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=12 * 24 * 60), min_size=1, max_size=25))
def test_the_effects_are_those_of_the_walk_of_every_day(minutes: list[int]) -> None:
    """Inputs at any times in order (the wake-ups between followed or not): the same effects, tick for tick."""
    fast, slow = new_core(days=8), new_core(days=8)
    slow.open_days = FullWalk(slow.days, slow.config.quota_time)
    start = at("08:00", FIRST)
    for m in sorted(minutes):
        now = start + dt.timedelta(minutes=m)
        assert fast.on_time(now) == slow.on_time(now)
    assert fast.snapshot() == slow.snapshot()


def test_a_run_followed_to_its_end_is_the_walk_of_every_day() -> None:
    fast, slow = new_core(days=12), new_core(days=12)
    slow.open_days = FullWalk(slow.days, slow.config.quota_time)
    end = at("23:00", CALENDAR.next_business_day(fast.days[-1]))
    assert run_until(fast, end) == run_until(slow, end)
    assert fast.open_days.first == len(fast.days)  # every day done at the end


# ---------------------------------------------------------------------------------- the TSA book


class CountingDict(dict[dt.date, int]):
    """A day → fen map that counts its reads (a look-up, or an entry walked)."""

    reads = 0

    def get(self, key: dt.date, default: Any = None) -> Any:
        CountingDict.reads += 1
        return super().get(key, default)

    def items(self) -> Any:
        for kv in super().items():
            CountingDict.reads += 1
            yield kv


@dataclasses.dataclass
class Voucher:  # what the book reads of a PlannedVoucher
    day: dt.date
    amount_fen: int
    late: bool = False


def voucher(day: dt.date, fen: int, late: bool = False) -> PlannedVoucher:
    return cast(PlannedVoucher, Voucher(day, fen, late))


def business_days(n: int) -> list[dt.date]:
    days, d = [], FIRST
    while len(days) < n:
        days.append(d)
        d = CALENDAR.next_business_day(d)
    return days


def test_a_statement_on_day_140_reads_as_many_days_as_on_day_5() -> None:
    days = business_days(150)
    book = TsaBook(debit_by_day=CountingDict(), credit_by_day=CountingDict())
    for i, d in enumerate(days):
        book.planned(voucher(d, 1_000 + i, late=i % 3 == 0), CALENDAR)
    book.advised(None, (days[0], 50))
    reads = {}
    for i, d in enumerate(days[1:], start=1):  # a 7401 a day, in order, as the central bank sends them
        CountingDict.reads = 0
        book.balance_before(0, d)
        reads[i] = CountingDict.reads
    # a Monday after a Friday, early and late: three days walked, two maps read each
    mondays = [i for i in range(2, len(days)) if (days[i] - days[i - 1]).days == 3]
    early, late = mondays[0], mondays[-1]
    assert late > 100 and reads[late] == reads[early] == 6


def brute(book: TsaBook, opening: int, day: dt.date) -> int:
    return (opening + sum(f for d, f in book.credit_by_day.items() if d < day)
            - sum(f for d, f in book.debit_by_day.items() if d < day))


_op = st.one_of(
    st.tuples(st.just("planned"), st.integers(0, 40), st.integers(1, 10**9), st.booleans()),
    st.tuples(st.just("planned_day"), st.integers(0, 40), st.lists(st.tuples(st.booleans(), st.integers(1, 10**6)),
                                                                    max_size=5), st.just(False)),
    st.tuples(st.just("refused"), st.integers(0, 40), st.integers(1, 10**9), st.booleans()),
    st.tuples(st.just("advised"), st.integers(0, 40), st.integers(1, 10**9), st.booleans()),
    st.tuples(st.just("ask"), st.integers(0, 60), st.just(0), st.just(False)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_op, max_size=40))
def test_the_running_balance_is_the_sum_over_every_day(ops: Sequence[tuple[str, int, Any, bool]]) -> None:
    book, advice = TsaBook(), None
    for name, offset, arg, flag in ops:
        day = FIRST + dt.timedelta(days=offset)
        if name == "planned":
            book.planned(voucher(day, arg, flag), CALENDAR)
        elif name == "planned_day":
            book.planned_day(day, arg, CALENDAR)
        elif name == "refused":
            book.refused(voucher(day, arg, flag), CALENDAR)
        elif name == "advised":  # a new advice, or (flag) one replacing the last
            before = advice if flag else None
            advice = (day, arg)
            book.advised(before, advice)
        else:
            assert book.balance_before(7, day) == brute(book, 7, day)


# ---------------------------------------------------------------------------------- receipts by day


def receipt(no: str, when: dt.datetime, serial: str = "YH000120260316") -> Receipt:
    return Receipt(VoucherKey("990100", "2026", "5201", no, 1), "20260316", 100, serial, when)


def test_receipts_by_day_read_as_many_records_on_day_60_as_on_day_2(monkeypatch: pytest.MonkeyPatch) -> None:
    book = ReceiptBook(ReceiptLog())
    reads = [0]
    real = ReceiptBook._day_of

    def counting(self: ReceiptBook, rec: bytes) -> int:
        reads[0] += 1
        return real(self, rec)

    monkeypatch.setattr(ReceiptBook, "_day_of", counting)
    counted = {}
    for k, day in enumerate(business_days(60)):
        for i in range(20):
            book.add(f"ZZ{k:03d}{i:03d}", receipt(f"ZZ{k:03d}{i:03d}", at("10:00", day) + dt.timedelta(seconds=i)))
        reads[0] = 0
        assert book.received_on(day) == 20  # the demo's progress line, hour after hour
        book.add(f"ZZ{k:03d}000", receipt(f"ZZ{k:03d}000", at("11:00", day), serial="again"))  # one replaced
        assert book.received_on(day) == 20
        counted[k] = reads[0]
    assert counted[59] == counted[2] == 2  # the replaced one's day and its own: no walk of the receipts kept


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A1", "B2", "C3", "ZZ1"]), st.integers(0, 5), st.integers(0, 86_399),
                          st.booleans()), max_size=30))
def test_receipts_by_day_are_the_count_of_a_walk(steps: list[tuple[str, int, int, bool]]) -> None:
    """Adds (new or replacing) and asks in any order: each ask the count of a walk of every receipt kept."""
    book, kept = ReceiptBook(ReceiptLog()), {}
    for no, offset, second, ask in steps:
        day = FIRST + dt.timedelta(days=offset)
        if ask:
            assert book.received_on(day) == sum(r.received_at.date() == day for r in kept.values())
        else:
            kept[no] = receipt(no, at("00:00", day) + dt.timedelta(seconds=second))
            book.add(no, kept[no])
    for day in {r.received_at.date() for r in kept.values()}:
        assert book.received_on(day) == sum(r.received_at.date() == day for r in kept.values())
