"""The one exponential backoff with jitter, in whatever unit the caller counts: the gateway's
outbox retries (µs, `gateway.outbox.backoff_us`) and the MQTT reconnect loops of the server and
the SDK (seconds) all draw their delays here.
"""

from __future__ import annotations

import random

__all__ = ["backoff"]


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """The attempt-th delay (1, 2, 3 ...): uniform in [ceiling/2, ceiling], where the ceiling is
    `base` doubled per attempt after the first and capped at `cap`; `attempt` below 1 counts as 1."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
