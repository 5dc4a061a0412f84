"""The scorecard's one table: duty kinds, their categories, and the points (`ScoringRules`).

Every value in `ScoringRules` is the project's own default (the seeds give no point values);
the stage counts follow 004 part 3 §13(5) (see `treasury_sim.scorecard`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["CATEGORIES", "CATEGORY_OF", "CATEGORY_OF_INCIDENT", "COMPLAINED_OF", "DUTY_KINDS", "RULES", "Category",
           "Deduction", "DutyKind", "IncidentKind", "ScoringRules", "Size", "Stage"]

DutyKind = Literal["payment", "clearing", "replenishment", "receipt", "credit-notice", "quota-arrival-notice",
                   "refund-notice", "daily-report", "monthly-report", "monthly-statement"]
DUTY_KINDS: tuple[DutyKind, ...] = ("payment", "clearing", "replenishment", "receipt", "credit-notice",
                                    "quota-arrival-notice", "refund-notice", "daily-report", "monthly-report",
                                    "monthly-statement")
Category = Literal["payment", "clearing", "feedback", "notice", "accuracy", "custody", "account"]
CATEGORIES: tuple[Category, ...] = ("payment", "feedback", "accuracy", "notice", "custody", "clearing", "account")
COMPLAINED_OF: frozenset[Category] = frozenset({"payment", "notice"})  # §13(5)1, 4: counted by complaints
IncidentKind = Literal["lost-voucher", "account-without-notice"]
CATEGORY_OF_INCIDENT: Mapping[IncidentKind, Category] = {"lost-voucher": "custody",
                                                         "account-without-notice": "account"}
Stage = Literal[0, 1, 2]  # 0: nothing; 1: rectify within a month; 2: recurred after it, agency at risk
CATEGORY_OF: Mapping[DutyKind, Category] = {
    "payment": "payment", "clearing": "clearing", "replenishment": "clearing",
    "receipt": "feedback", "daily-report": "feedback", "monthly-report": "feedback", "monthly-statement": "feedback",
    "credit-notice": "notice", "quota-arrival-notice": "notice", "refund-notice": "notice",
}
Size = Literal["large", "small"]

@dataclass(frozen=True, slots=True)
class Deduction:
    """Points per occurrence: the lower bound for a large bank, the upper one for the others (62号 §3)."""

    large: int
    small: int

    def __post_init__(self) -> None:
        if not 0 <= self.large <= self.small:
            raise ValueError(f"a deduction needs 0 <= large <= small, not {self.large}, {self.small}")

    def points(self, size: Size) -> int:
        return self.large if size == "large" else self.small


@dataclass(frozen=True, slots=True)
class ScoringRules:
    max_points: int = 100
    late: Deduction = Deduction(1, 2)
    per_business_day_late: Deduction = Deduction(1, 1)
    late_cap: Deduction = Deduction(5, 8)  # one duty's lateness costs at most this
    missing: Deduction = Deduction(5, 8)  # due and not done: never cheaper than being late
    error: Deduction = Deduction(2, 3)
    faulty: Deduction = Deduction(2, 3)
    lost_voucher: Deduction = Deduction(3, 5)
    account_without_notice: Deduction = Deduction(3, 5)
    flag: Deduction = Deduction(5, 5)  # per category flagged in the month
    late_flag_at: int = 3  # "次数达到3次": this many late (or complaints) in a category in a month
    error_flag_over: int = 3  # "差错超过3次": more than this many errors in a month
    error_recur_over: int = 1  # "整改后差错仍超过1次": after rectification, more than this many
    lost_flag_at: int = 4  # "凭证丢失次数达到4次"
    account_flag_at: int = 3  # "擅自开设、撤销和变更且次数达到3次"

    def __post_init__(self) -> None:
        if self.max_points <= 0:
            raise ValueError("max_points must be > 0")
        sizes: tuple[Size, ...] = ("large", "small")
        for size in sizes:
            if self.missing.points(size) < self.late_cap.points(size):
                raise ValueError("a missing duty must cost at least the late cap (more lateness never pays)")
            if self.late_cap.points(size) < self.late.points(size):
                raise ValueError("late_cap must be at least late")
        if min(self.late_flag_at, self.lost_flag_at, self.account_flag_at) < 1 or min(
                self.error_flag_over, self.error_recur_over) < 0:
            raise ValueError("the *_flag_at counts must be >= 1, error_flag_over and error_recur_over >= 0")

    def stage1(self, category: Category, count: int) -> bool:
        """Whether `count` in a month starts the rectification (§13(5))."""
        if category == "accuracy":
            return count > self.error_flag_over
        return count >= self.stage1_at(category)

    def stage1_at(self, category: Category) -> int:
        """The count that starts the rectification in a category counted "达到N次" (not accuracy)."""
        return {"custody": self.lost_flag_at, "account": self.account_flag_at}.get(category, self.late_flag_at)

    def stage2(self, category: Category, count: int) -> bool:
        """Whether `count` in a month after the rectification month is a recurrence."""
        return count > self.error_recur_over if category == "accuracy" else count >= 1


RULES = ScoringRules()
