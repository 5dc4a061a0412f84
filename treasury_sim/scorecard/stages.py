"""The stages of §13(5), carried across months: what each category's trigger counts in a month,
when it starts the rectification (stage 1) or recurs after it (stage 2), and the flags it raises.

Complaints: the simulated budget unit complains about every payment or notice of its that was
late (or never came); `DutyEvent.complained` overrides it (`complained`). The `payment` and
`notice` categories are counted by complaints, `feedback` and `clearing` by lateness, `accuracy`
by errors and faulty messages, `custody` and `account` by incidents.
"""

from __future__ import annotations

from collections.abc import Mapping

from treasury_sim.scorecard.cards import BankMonth, DutyLine
from treasury_sim.scorecard.duties import DutyEvent
from treasury_sim.scorecard.rules import CATEGORIES, Category, ScoringRules, Stage

__all__ = ["Stages", "advance", "carry", "category_counts", "complained"]

Stages = Mapping[Category, tuple[Stage, tuple[int, int]]]  # category → (stage, the month it began)

_WHAT: Mapping[Category, str] = {
    "payment": "complaints of late payments", "notice": "complaints of late notices", "feedback": "late",
    "clearing": "late", "accuracy": "errors or faulty messages", "custody": "vouchers lost",
    "account": "accounts without the treasury's notice"}


def complained(e: DutyEvent, late: bool) -> bool:
    """Whether the unit complained of the duty: of a late one unless told otherwise."""
    return late if e.complained is None else e.complained


def category_counts(complaints: Mapping[Category, int], late_by_category: Mapping[str, int],
                    lines: tuple[DutyLine, ...], by_incident: Mapping[str, int]) -> dict[Category, int]:
    """What each category's trigger counts in the month."""
    return {
        "payment": complaints.get("payment", 0), "notice": complaints.get("notice", 0),
        "feedback": late_by_category.get("feedback", 0), "clearing": late_by_category.get("clearing", 0),
        "accuracy": sum(line.errors + line.faulty for line in lines),
        "custody": by_incident.get("lost-voucher", 0), "account": by_incident.get("account-without-notice", 0)}


def advance(counts: Mapping[Category, int], before: Stages | None, year: int, month: int,
            rules: ScoringRules) -> tuple[dict[str, Stage], list[str]]:
    """The month's stages (per category in one) and flags, from its counts and the stages before it."""
    stages: dict[str, Stage] = {}
    flags: list[str] = []
    for category in CATEGORIES:
        count = counts[category]
        what = _WHAT[category]
        stage, since = (before or {}).get(category, (0, (year, month)))
        if stage == 0 and rules.stage1(category, count):
            stage = 1
            bound = f"> {rules.error_flag_over}" if category == "accuracy" else f">= {rules.stage1_at(category)}"
            flags.append(f"{category}: {count} {what} in the month ({bound}): rectify within a month")
        elif stage == 1 and since < (year, month) and rules.stage2(category, count):
            stage = 2
            flags.append(f"{category}: {count} {what} again after rectification from "
                         f"{since[0]:04d}-{since[1]:02d}: the agency is at risk (stage 2)")
        if stage:
            stages[category] = stage
    return stages, flags


def carry(before: Stages, card: BankMonth) -> dict[Category, tuple[Stage, tuple[int, int]]]:
    """The stages after `card`'s month: a category entering one keeps the month it began."""
    out = dict(before)
    for category in CATEGORIES:
        stage = card.stages.get(category, 0)
        if stage and out.get(category, (0, (0, 0)))[0] == 0:
            out[category] = (stage, (card.year, card.month))
        elif stage:
            out[category] = (stage, out[category][1])
    return out
