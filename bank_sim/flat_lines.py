"""Lines shared by the payments naming them: `Payment.uncleared` and `Payment.quota_taken` hold a
flat (line, value, ...) tuple, each line the one tuple every payment naming it holds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["flat_pairs"]


# One tuple per distinct line (a tally line, `bank_sim.reports.Line`, or an authorized quota line,
# `bank_sim.quotas.LineKey`) the payments name: a world has a few dozen (unit x subject x fund), a
# busy day 100,000s of payments naming them. A pure memo; cleared if it ever grows past the bound.
_LINES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_LINES_MAX = 100_000


def flat_pairs(lines: Iterable[Iterable[Any]], values: Iterable[int]) -> tuple[Any, ...]:
    """`lines` and their `values` flat (line, value, line, value, ...; `Payment.uncleared`,
    `Payment.quota_taken`), each line the tuple shared by every payment naming it."""
    if len(_LINES) >= _LINES_MAX:
        _LINES.clear()
    out: list[Any] = []
    for line, value in zip(lines, values, strict=True):
        t = tuple(line)
        out += (_LINES.setdefault(t, t), value)
    return tuple(out)
