"""The annual view (62号 is a "年度综合考评"): a bank's months of one year summed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from treasury_sim.scorecard.cards import BankMonth
from treasury_sim.scorecard.rules import Stage

__all__ = ["BankYear", "annual"]

@dataclass(frozen=True, slots=True)
class BankYear:
    """A bank's year (62号: the evaluation is annual): the sum of its months."""

    bank: str
    year: int
    months: int
    deducted: int
    score: int  # max_points less every deduction of the year, never below 0
    max_points: int
    late: int
    counts: Mapping[str, int]  # per category, summed over the months
    flags: tuple[str, ...]  # "yyyy-mm <flag>"
    stage: Stage  # the furthest reached in the year
    stages: Mapping[str, Stage]

    def as_dict(self) -> dict[str, Any]:
        return {"bank": self.bank, "year": self.year, "months": self.months, "deducted": self.deducted,
                "score": self.score, "max_points": self.max_points, "late": self.late, "counts": dict(self.counts),
                "flags": list(self.flags), "stage": self.stage, "stages": dict(self.stages)}


def annual(cards: Iterable[BankMonth]) -> list[BankYear]:
    """One `BankYear` per bank and year of the monthly cards, sorted by bank then year."""
    groups: dict[tuple[str, int], list[BankMonth]] = {}
    for card in cards:
        groups.setdefault((card.bank, card.year), []).append(card)
    out: list[BankYear] = []
    for (bank, year), months in sorted(groups.items()):
        counts: dict[str, int] = {}
        stages: dict[str, Stage] = {}
        for card in months:
            for category, n in card.counts.items():
                counts[category] = counts.get(category, 0) + n
            for category, stage in card.stages.items():
                stages[category] = max(stages.get(category, 0), stage)
        deducted = sum(c.deducted for c in months)
        top = months[0].max_points
        out.append(BankYear(bank, year, len(months), deducted, max(0, top - deducted), top,
                            sum(c.late for c in months), counts,
                            tuple(f"{c.year:04d}-{c.month:02d} {f}" for c in months for f in c.flags),
                            max(stages.values(), default=0), stages))
    return out
