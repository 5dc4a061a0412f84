"""The demo's progress line reads the day's clearing requests from the last filed back
(`runner.demo._filed_on`), not every request of the run: as many reads on day 60 as on day 2."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.demo import _filed_on

FIRST = dt.date(2026, 3, 16)


class Filed:
    reads = 0

    def __init__(self, no: str, when: dt.datetime) -> None:
        self.voucher_no, self._when = no, when

    @property
    def filed_at(self) -> dt.datetime:
        Filed.reads += 1
        return self._when


def filings(per_day: list[int]) -> dict[str, Filed]:
    out = {}
    for k, n in enumerate(per_day):
        for i in range(n):
            when = dt.datetime.combine(FIRST + dt.timedelta(days=k), dt.time(9 + i % 8, i % 60))
            out[f"QS{k:03d}{i:03d}"] = Filed(f"QS{k:03d}{i:03d}", when)
    return dict(sorted(out.items(), key=lambda kv: kv[1]._when))  # filing order: time order


def test_a_progress_line_reads_as_many_requests_on_day_60_as_on_day_2() -> None:
    reads = {}
    for days in (2, 60):
        kept = filings([6] * days)
        Filed.reads = 0
        assert len(_filed_on(kept, FIRST + dt.timedelta(days=days - 1))) == 6
        reads[days] = Filed.reads
    assert reads[60] == reads[2] <= 2 * 6 + 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=8), st.integers(0, 9))
def test_the_requests_of_a_day_are_those_of_a_walk(per_day: list[int], offset: int) -> None:
    kept = filings(per_day)
    day = FIRST + dt.timedelta(days=offset)
    assert _filed_on(kept, day) == [f for f in kept.values() if f.filed_at.date() == day]
