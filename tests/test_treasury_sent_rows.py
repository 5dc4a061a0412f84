"""The run's end reads the treasury's sent vouchers without making them: `TreasuryCore.iter_sent_rows`
(from a packed day's columns, `PackedVouchers.rows`) and `PlanIndex.sent_day` against the made
vouchers they stand for (`iter_sent`, `vouchers[no].day` and `.sent`), the oracles."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from treasury_sim.config import TreasuryConfig
from treasury_sim.core import TreasuryCore
from treasury_sim.packed_plan import PackedVouchers, PlanIndex
from treasury_sim.records import SentRow

DAY = dt.date(2026, 3, 16)


def _row(v: object) -> tuple[object, ...]:
    return tuple(getattr(v, name) for name in SentRow._fields)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 80), hour=st.sampled_from([9, 10, 12, 17]),
       refused=st.sets(st.integers(0, 119), max_size=5), listed=st.booleans())
def test_sent_rows_and_sent_days_read_as_the_vouchers_made(seed: int, n: int, hour: int, refused: set[int],
                                                         listed: bool) -> None:
    core = TreasuryCore(TreasuryConfig(seed=seed, vouchers_per_day=n, days=2, first_day=DAY),
                        BusinessCalendar.default(), ClockConfig())
    for when in (dt.time(8, 0), dt.time(hour, 0)):  # woken before the day's plan, then later in the day
        core.on_time(at(DAY, when))
    plan = core.plans[DAY]
    assert isinstance(plan.vouchers, PackedVouchers)
    if listed:  # a plan kept as objects (not packed): read from them
        plan.vouchers = list(plan.vouchers)
        core.vouchers = PlanIndex()  # the index over the listed day instead
        core.vouchers.add(plan.vouchers)
    sent = core.sent_vouchers()
    for i in sorted(refused):  # the gateway refused some (the core's map, read when a voucher is made)
        if i < len(sent):
            core.state.refused[sent[i].id] = "xsd-invalid"
            if listed:
                plan.vouchers[i].refused = "xsd-invalid"
    assert [_row(r) for r in core.iter_sent_rows()] == [_row(v) for v in core.iter_sent()]
    assert [_row(r) for r in core.iter_sent_rows(DAY)] == [_row(v) for v in core.iter_sent(DAY)]
    assert list(core.iter_sent_rows(DAY + dt.timedelta(days=1))) == []
    for no in [*core.vouchers, "ZZ2026031699999", "nothing", "ZZ20260316x"]:
        v = core.vouchers.get(no)
        assert core.vouchers.sent_day(no) == (v.day if v is not None and v.sent else None)
        if v is not None:
            assert _row(core.vouchers.sent_row(no)) == _row(v)
        else:
            with pytest.raises(KeyError):
                core.vouchers.sent_row(no)
