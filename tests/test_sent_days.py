"""The end-of-run check's one walk of the sent vouchers (`runner.demo.SentDays`) against the walks
it replaced: a walk of every sent voucher for the accepted and refused VoucherNos, a walk per day for
the day's counts, a lookup of each receipt's voucher for its amount (kept here as the oracle)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.sent_days import SentDays

DAYS = [dt.date(2026, 3, 16), dt.date(2026, 3, 17), dt.date(2026, 3, 18)]


@dataclass
class _Voucher:
    voucher_no: str
    amount_fen: int
    refused: str | None


@dataclass
class _Receipt:
    paid_fen: int


@dataclass
class _Plan:
    vouchers: list[_Voucher]
    next_unsent: int


@dataclass
class _Core:
    """What `check_run` reads of a treasury core: its plans' sent vouchers, by day or all, and its receipts."""

    plans: dict[dt.date, _Plan]
    receipts: dict[str, _Receipt] = field(default_factory=dict)

    def iter_sent(self, day: dt.date | None = None) -> Iterator[_Voucher]:
        for d, plan in self.plans.items():
            if day is None or d == day:
                yield from plan.vouchers[:plan.next_unsent]

    def sent_count(self) -> int:
        return sum(plan.next_unsent for plan in self.plans.values())

    @property
    def vouchers(self) -> dict[str, _Voucher]:
        return {v.voucher_no: v for plan in self.plans.values() for v in plan.vouchers}


@st.composite
def cores(draw: Any) -> _Core:
    plans: dict[dt.date, _Plan] = {}
    n = 0
    for day in draw(st.permutations(DAYS)):
        vouchers = []
        for _ in range(draw(st.integers(0, 5))):
            n += 1
            vouchers.append(_Voucher(f"ZZ{n:03d}", draw(st.integers(1, 3)), draw(st.sampled_from([None, None, "E1"]))))
        plans[day] = _Plan(vouchers, draw(st.integers(0, len(vouchers))))
    core = _Core(plans)
    for no, v in core.vouchers.items():  # a receipt for a voucher sent or not, its amount right or not
        if draw(st.booleans()):
            core.receipts[no] = _Receipt(v.amount_fen if draw(st.booleans()) else v.amount_fen + 1)
    return core


def _oracle(core: _Core, days: list[dt.date]) -> tuple[list[tuple[int, int, int]], list[str], list[str], list[str]]:
    accepted: list[str] = []
    refused: list[str] = []
    for v in core.iter_sent():
        (accepted if v.refused is None else refused).append(v.voucher_no)
    rows = []
    for day in days:
        sent = acc = returned = 0
        for v in core.iter_sent(day):
            sent += 1
            acc += v.refused is None
            returned += v.voucher_no in core.receipts
        rows.append((sent, acc, returned))
    wrong = [no for no, r in core.receipts.items() if r.paid_fen != core.vouchers[no].amount_fen]
    return rows, sorted(accepted), refused, wrong


@settings(max_examples=300, deadline=None)
@given(core=cores(), days=st.lists(st.sampled_from(DAYS), unique=True))
def test_one_walk_gives_what_the_walks_per_question_gave(core: _Core, days: list[dt.date]) -> None:
    rows, accepted, refused, wrong = _oracle(core, days)
    walk = SentDays(core.receipts)
    assert [walk.walk(core.iter_sent(day)) for day in days] == rows
    got_accepted, got_refused, got_wrong = walk.finish(core)
    assert got_accepted == accepted
    assert sorted(got_refused) == sorted(refused)  # check_run reads only how many, and whether any
    assert got_wrong == wrong  # in the receipts' order, as a failed check lists them


def test_a_walk_of_every_day_reads_the_vouchers_once() -> None:
    core = _Core({DAYS[0]: _Plan([_Voucher("ZZ001", 5, None), _Voucher("ZZ002", 7, "E1")], 2),
                  DAYS[1]: _Plan([_Voucher("ZZ003", 9, None)], 1)}, {"ZZ001": _Receipt(5), "ZZ003": _Receipt(9)})
    read = 0

    def counted(day: dt.date) -> Iterator[_Voucher]:
        nonlocal read
        for v in core.iter_sent(day):
            read += 1
            yield v

    walk = SentDays(core.receipts)
    assert [walk.walk(counted(day)) for day in DAYS] == [(2, 1, 1), (1, 1, 1), (0, 0, 0)]
    assert walk.finish(core) == (["ZZ001", "ZZ003"], ["ZZ002"], [])
    assert read == 3  # no second walk: every sent voucher and every receipt's voucher was seen
