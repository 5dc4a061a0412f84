"""Scenarios see the generated treasury's budget refusals (issue 17, 003 §52): `world.treasury.units`
and the `budget_refused` expectation, which fails when the count differs and passes when it holds."""

from __future__ import annotations

import dataclasses

import pytest

from runner.expectations import evaluate
from runner.observed import BudgetRefusalSeen
from runner.scenario_file import ScenarioError, load_text
from tests.scenario_fixtures import D1, observed, t

GENERATED = """scenario: budget-fixture
world:
  start: "2026-03-10"
  treasury: {profile: generated, vouchers_per_day: 5, units: 12, budget_anomalies: 50}
expect:
"""
REFUSED = (BudgetRefusalSeen("ZZ2026031000003", "101001", "budget-none", 500_00, t(D1, 10, 0)),
           BudgetRefusalSeen("SQ2026031000007", "101002", "budget-exceeded", 9_000_00, t(D1, 11, 0)),
           BudgetRefusalSeen("ZZ2026031000009", "101002", "budget-exceeded", 70_00, t(D1, 16, 5)))


def results(expect_yaml: str) -> list[tuple[bool, str]]:
    s = load_text(GENERATED + expect_yaml, "budget.yaml")
    assert (s.world.budget_units, s.world.budget_anomaly_permille) == (12, 50)
    o = dataclasses.replace(observed(), budget_refusals=REFUSED)
    return [(x.ok, x.actual) for x in evaluate(s.expectations, o)]


def test_budget_refused_counts_by_code_unit_and_deadline_both_ways() -> None:
    assert results("""
  - budget_refused: {code: budget-exceeded, equals: 2}
  - budget_refused: {code: budget-exceeded, unit: "101002", at_least: 2, at_most: 2}
  - budget_refused: {code: budget-none, equals: 1}
  - budget_refused: {code: budget-out-of-scope, equals: 0}
  - budget_refused: {code: budget-exceeded, equals: 1}
    by: "12:00"
""") == [(True, "2 refused"), (True, "2 refused"), (True, "1 refused"), (True, "0 refused"), (True, "1 refused")]
    assert results("""
  - budget_refused: {code: budget-exceeded, equals: 3}
  - budget_refused: {at_least: 4}
  - budget_refused: {code: budget-none, at_most: 0}
""") == [(False, "2 refused"), (False, "3 refused"), (False, "1 refused")]


def test_units_need_a_generated_treasury_and_budget_refused_needs_units() -> None:
    with pytest.raises(ScenarioError, match="generated treasury"):
        load_text("scenario: x\nworld: {start: \"2026-03-10\", treasury: {units: 12}}\nexpect:\n"
                  "  - invariants: {}\n", "x.yaml")
    with pytest.raises(ScenarioError, match=r"set world\.treasury\.units"):
        load_text("scenario: x\nworld: {start: \"2026-03-10\", treasury: {profile: generated}}\nexpect:\n"
                  "  - budget_refused: {at_least: 1}\n", "x.yaml")
    with pytest.raises(ScenarioError):
        load_text(GENERATED.replace("units: 12", "units: 1") + "  - invariants: {}\n", "x.yaml")
