"""A plain day's plan kept in columns (`treasury_sim.packed_plan`): every voucher comes back equal
to the one drawn, found by its VoucherNo, with the core's sent / refused marks."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import ClockConfig
from treasury_sim.config import TreasuryConfig
from treasury_sim.packed_plan import PackedVouchers, PlanIndex, pack
from treasury_sim.planning import plan_day

DAY = dt.date(2026, 3, 16)


def drawn(seed: int, n: int, day: dt.date = DAY) -> list:  # the plan as objects, the way plan_day draws it
    config = TreasuryConfig(seed=seed, vouchers_per_day=n, first_day=day)
    plan = plan_day(config, ClockConfig(), day)
    return list(plan.vouchers)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 300))
def test_a_packed_plan_gives_back_every_voucher_drawn(seed: int, n: int) -> None:
    config = TreasuryConfig(seed=seed, vouchers_per_day=n, first_day=DAY)
    plan = plan_day(config, ClockConfig(), DAY)
    assert isinstance(plan.vouchers, PackedVouchers)
    vouchers = list(plan.vouchers)
    assert len(vouchers) == n
    assert pack(DAY, config.adm_div_code, seed, vouchers) is not None
    for pos, v in enumerate(vouchers):
        assert plan.vouchers.position(v.voucher_no) == pos
        assert plan.vouchers.send_at(pos) == v.send_at and plan.vouchers[pos] == v
    assert plan.vouchers[1:3] == vouchers[1:3] and (not vouchers or plan.vouchers[-1] == vouchers[-1])
    # the data a voucher renders is the one the unpacked voucher renders: the same bytes sent
    assert [v.data for v in vouchers[:5]] == [v.data for v in drawn(seed, n)[:5]]


def test_a_voucher_no_of_another_day_or_shape_is_not_found() -> None:
    vouchers = drawn(1, 50)
    packed = pack(DAY, vouchers[0].adm_div_code, 1, vouchers)
    assert packed is not None
    no = packed.voucher_no(0)
    for other in (no.replace("20260316", "20260317"), no[:-5] + "99999", no + "0", no[:10], "",
                  ("SQ" if no.startswith("ZZ") else "ZZ") + no[2:], no[:10] + "-0001"):
        assert packed.position(other) is None


def test_a_plan_the_columns_cannot_hold_stays_a_list() -> None:
    vouchers = drawn(1, 20)
    adm = vouchers[0].adm_div_code
    assert pack(DAY, adm, 1, vouchers) is not None
    assert pack(DAY, adm + "0", 1, vouchers) is None  # not the plan's own
    for change in ({"fund_type": "2"}, {"payees": 3}, {"subject": ("2010101", "行政运行")}, {"refused": "x"},
                   {"voucher_no": "ZZ20260316A0001"}):
        odd = [dataclasses.replace(vouchers[0], **change), *vouchers[1:]]  # type: ignore[arg-type]
        assert pack(DAY, adm, 1, odd) is None, change


def test_the_index_finds_packed_and_listed_vouchers_in_order_and_marks_them() -> None:
    vouchers = drawn(1, 30)
    packed = pack(DAY, vouchers[0].adm_div_code, 1, vouchers)
    listed = drawn(1, 10, DAY + dt.timedelta(days=1))
    assert packed is not None
    refused = {packed[3].id: "bad-signature"}  # the core's map: by the voucher's whole key
    packed.refused, packed.sent_n = refused, 5
    index = PlanIndex()
    index.add(packed)
    index.add(listed)
    assert len(index) == 40
    assert list(index) == [packed.voucher_no(i) for i in range(30)] + [v.voucher_no for v in listed]
    assert index[packed.voucher_no(3)].refused == "bad-signature" and index[packed.voucher_no(4)].sent
    assert not index[packed.voucher_no(5)].sent and index[listed[2].voucher_no] is listed[2]
    assert packed.voucher_no(7) in index and "ZZ2026031699999" not in index
    with pytest.raises(KeyError):
        index["nothing"]
    index.add(packed)  # the same day again: its vouchers replaced, not counted twice
    assert len(index) == 40


def test_the_core_counts_its_sent_vouchers_as_it_lists_them() -> None:
    from business_time.calendar import BusinessCalendar
    from business_time.clock import at
    from treasury_sim.core import TreasuryCore

    core = TreasuryCore(TreasuryConfig(vouchers_per_day=40, days=1, first_day=DAY), BusinessCalendar.default(),
                        ClockConfig())
    for hour in (8, 11, 17):
        core.on_time(at(DAY, dt.time(hour, 0)))
        assert core.sent_count() == core.sent_count(DAY) == len(core.sent_vouchers(DAY)) == len(core.sent_vouchers())
        assert all(v.sent for v in core.sent_vouchers())
    assert core.sent_count() == 40 and core.sent_count(DAY + dt.timedelta(days=1)) == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 300), day=st.sampled_from([DAY, dt.date(2026, 3, 20)]))
def test_the_tsa_and_the_month_s_8202s_read_the_columns_as_the_vouchers_would(seed: int, n: int,
                                                                             day: dt.date) -> None:
    from business_time.calendar import BusinessCalendar
    from treasury_sim.planning import _authorized
    from treasury_sim.tsa import TsaBook

    config = TreasuryConfig(seed=seed, vouchers_per_day=n, first_day=day)
    plan = plan_day(config, ClockConfig(), day)
    assert isinstance(plan.vouchers, PackedVouchers)
    vouchers = list(plan.vouchers)
    calendar = BusinessCalendar.default()
    by_voucher, by_columns = TsaBook(), TsaBook()
    for v in vouchers:
        by_voucher.planned(v, calendar)
    by_columns.planned_day(day, plan.vouchers.late_amounts(), calendar)
    assert by_columns == by_voucher and list(by_columns.debit_by_day) == list(by_voucher.debit_by_day)
    assert list(_authorized(plan.vouchers)) == [v for v in vouchers if v.vtcode == "8202"]
    assert list(_authorized(vouchers)) == [v for v in vouchers if v.vtcode == "8202"]


def test_planning_a_packed_day_makes_no_voucher_for_the_tsa(monkeypatch: pytest.MonkeyPatch) -> None:
    from business_time.calendar import BusinessCalendar
    from treasury_sim.core import TreasuryCore

    made: list[int] = []
    real = PackedVouchers._voucher
    monkeypatch.setattr(PackedVouchers, "_voucher", lambda self, pos: made.append(pos) or real(self, pos))
    core = TreasuryCore(TreasuryConfig(seed=3, vouchers_per_day=40, first_day=DAY), BusinessCalendar.default(),
                        ClockConfig())
    plan = core.plan(DAY)
    assert isinstance(plan.vouchers, PackedVouchers) and made == []
    assert core.tsa.planned_fen == sum(v.amount_fen for v in plan.vouchers)


def test_the_core_gives_its_sent_vouchers_one_at_a_time() -> None:
    """`iter_sent` is `sent_vouchers` read lazily: the same vouchers in the same order, a packed
    day's made as each is read (the run's end reads the day without a list of it)."""
    from business_time.calendar import BusinessCalendar
    from business_time.clock import at
    from treasury_sim.core import TreasuryCore

    core = TreasuryCore(TreasuryConfig(vouchers_per_day=40, days=1, first_day=DAY), BusinessCalendar.default(),
                        ClockConfig())
    for hour in (8, 11):
        core.on_time(at(DAY, dt.time(hour, 0)))
    sent = core.iter_sent()
    first = next(sent)
    assert first == core.sent_vouchers()[0] and first is not core.sent_vouchers()[0]  # made when read
    assert [first, *sent] == core.sent_vouchers() == list(core.iter_sent(DAY)) != []
    assert list(core.iter_sent(DAY + dt.timedelta(days=1))) == []
