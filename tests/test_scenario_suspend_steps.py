"""Scenario steps `suspend:` / `lift:` (payment suspension, 000 五(二)3): what the loader makes of
them and the errors it gives, naming the file, line and field."""

from __future__ import annotations

import pytest

from runner.scenario_file import ScenarioError, load_text

HEAD = """
scenario: s
world:
  start: 2026-03-10
steps:
"""


def errors(steps: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(HEAD + steps + "expect:\n  - zero_balance_at_close: {}\n", "x.yaml")
    return info.value.lines()


def test_suspend_then_lift_are_steps_with_their_scope_and_order() -> None:
    s = load_text(HEAD + """  - at: "09:30"
    suspend: {id: order, payee: "99990000000001234", bank: bank-a, reason: 示例}
  - at: "11:00"
    lift: {order: order}
expect:
  - count: {vtcode: "7501", flag: 1, sender: bank-a, recipient: treasury, equals: 2}
""", "x.yaml")
    suspend, lift = s.steps
    assert (suspend.action, dict(suspend.order)) == ("suspend", {
        "id": "order", "bank": "bank-a", "scope": ("PayeeAcctNo", "99990000000001234"), "reason": "示例"})
    assert (lift.action, lift.order["order"], lift.order["bank"]) == ("lift", "order", "bank-a")


@pytest.mark.parametrize(("steps", "where"), [
    ("  - lift: {order: nothing}\n", "x.yaml:6: steps[0].lift.order: no standing order 'nothing'"),
    ("  - suspend: {unit: '101001', bank: bank-z, reason: r}\n", "x.yaml:6: steps[0].suspend.bank: no bank"),
    ("  - suspend: {unit: '101001', payee: '99990000000001234', bank: bank-a, reason: r}\n", "x.yaml:6: steps[0]"),
    ("  - suspend: {id: o, unit: '101001', bank: bank-a, reason: r}\n  - lift: {order: o}\n  - lift: {order: o}\n",
     "x.yaml:8: steps[2].lift.order: no standing order 'o'"),
])
def test_bad_suspend_and_lift_steps_are_named(steps: str, where: str) -> None:
    found = errors(steps)
    assert any(line.startswith(where) for line in found), found
