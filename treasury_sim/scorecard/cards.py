"""The scorecard's results: a `DutyLine` per duty kind, a `BankMonth` per bank and month."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from treasury_sim.scorecard.rules import DutyKind, Size, Stage

__all__ = ["BankMonth", "DutyLine"]

@dataclass(frozen=True, slots=True)
class DutyLine:
    """One duty kind of one bank in one month."""

    kind: DutyKind
    counted: int = 0  # due in the month (and by `as_of`)
    on_time: int = 0
    late: int = 0  # done after the deadline, or not done (missing is a part of late)
    missing: int = 0
    business_days_late: int = 0  # summed over the late ones that were done
    errors: int = 0
    faulty: int = 0
    pending: int = 0  # due after `as_of`: not counted yet
    deducted: int = 0  # points this duty kind cost (flags not included)

    @property
    def timeliness_pct(self) -> float:
        return 100.0 if self.counted == 0 else round(100.0 * self.on_time / self.counted, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "counted": self.counted, "on_time": self.on_time, "late": self.late,
                "missing": self.missing, "business_days_late": self.business_days_late, "errors": self.errors,
                "faulty": self.faulty, "pending": self.pending, "deducted": self.deducted,
                "timeliness_pct": self.timeliness_pct}


@dataclass(frozen=True, slots=True)
class BankMonth:
    bank: str
    year: int
    month: int
    size: Size
    lines: tuple[DutyLine, ...]  # DUTY_KINDS order, kinds without events left out
    late_by_category: Mapping[str, int]
    flags: tuple[str, ...]  # "<category>: <why>", each costing `flag`
    score: int
    max_points: int
    flag_points: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)  # per category, what its trigger counts
    stages: Mapping[str, Stage] = field(default_factory=dict)  # per category in a stage (carried)
    incidents: Mapping[str, int] = field(default_factory=dict)  # per incident kind
    deducted: int = 0  # every point taken this month (before the floor at 0)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def stage(self) -> Stage:
        """The furthest stage of any category this month."""
        return max(self.stages.values(), default=0)

    @property
    def late(self) -> int:
        return sum(line.late for line in self.lines)

    @property
    def accuracy_pct(self) -> float:
        done = sum(line.counted - line.missing for line in self.lines)
        bad = sum(line.errors + line.faulty for line in self.lines)
        return 100.0 if done == 0 else round(max(0.0, 100.0 * (done - bad) / done), 1)

    @property
    def timeliness_pct(self) -> float:
        counted = sum(line.counted for line in self.lines)
        on_time = sum(line.on_time for line in self.lines)
        return 100.0 if counted == 0 else round(100.0 * on_time / counted, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"bank": self.bank, "month": f"{self.year:04d}-{self.month:02d}", "size": self.size,
                "score": self.score, "max_points": self.max_points, "flagged": self.flagged,
                "flags": list(self.flags), "flag_points": self.flag_points, "stage": self.stage,
                "stages": dict(self.stages), "counts": dict(self.counts), "incidents": dict(self.incidents),
                "deducted": self.deducted, "late": self.late,
                "late_by_category": dict(self.late_by_category), "timeliness_pct": self.timeliness_pct,
                "accuracy_pct": self.accuracy_pct, "duties": [line.as_dict() for line in self.lines]}
