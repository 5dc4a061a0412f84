"""The sim bench's warm-up day leaves nothing behind that changes the measured day."""

from __future__ import annotations

import pytest

from bench.simbench import measure


@pytest.mark.slow
def test_warm_up_day_does_not_change_the_measured_day() -> None:
    cold = measure(40, profile=False, floor_seconds=0, warm_up=0)
    warm = measure(40, profile=False, floor_seconds=0, warm_up=15)
    assert cold["invariants_held"] and warm["invariants_held"]
    assert warm["journal_digest"] == cold["journal_digest"]  # the same day, byte for byte
    assert cold["warm_up_cpu_s"] == 0 and warm["warm_up_cpu_s"] > 0
    assert (cold["warm_up_vouchers"], warm["warm_up_vouchers"]) == (0, 15)
