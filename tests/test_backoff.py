"""The one backoff helper (`client.backoff`): the outbox's µs delays and the MQTT reconnect
seconds are the same draw in two units."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from client.backoff import backoff
from gateway.outbox import backoff_us


@given(attempt=st.integers(-3, 80), base=st.integers(1, 10**6), cap=st.integers(1, 10**9), seed=st.integers(0, 2**32))
def test_backoff_lies_between_half_the_ceiling_and_the_ceiling(attempt: int, base: int, cap: int, seed: int) -> None:
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    assert ceiling / 2 <= backoff(attempt, base=base, cap=cap, rng=random.Random(seed)) <= ceiling


@given(attempt=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_outbox_backoff_is_the_shared_draw_in_microseconds(attempt: int, seed: int) -> None:
    us = backoff_us(attempt, rng=random.Random(seed))
    assert us == int(backoff(attempt, base=500_000, cap=300_000_000, rng=random.Random(seed)))
    seconds = backoff(attempt, base=0.5, cap=300.0, rng=random.Random(seed))
    assert abs(us / 1e6 - seconds) < 1e-6
