"""The salary batch scenario (template salary-batch, 003 §26): the file is read as written, its
verdicts are right both ways, and a wrong batch is refused naming the line at fault."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runner.scenario_file import ScenarioError, load_scenario, load_text
from runner.scenario_run import run_scenario

SRC = Path(__file__).resolve().parent.parent / "scenarios" / "salary-batch-one-line-bounced-refunded-alone.yaml"


def test_the_batch_and_its_line_return_are_read() -> None:
    s = load_scenario(SRC)
    [spec] = s.steps[0].sends
    assert spec.vtcode == "5201" and spec.amount_fen == 12_710_55 and len(spec.lines) == 3
    [ret] = s.world.banks[0].returns
    assert (ret.voucher_no, ret.batch_line) == ("GZ2026031000001", 2)


@pytest.mark.parametrize("wrong", [
    ('accepted, amount: "4500.00"}', 'accepted, amount: "12710.55"}'),  # the whole batch refunded: it is not
    ('equals: "4500.00"}', 'equals: "12710.55"}'),  # the whole quota restored: it is not
    ('equals: "499991789.45"', 'equals: "500000000.00"'),  # the TSA made whole: it is not
])
def test_a_wrong_expectation_of_the_batch_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = SRC.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    s = load_text(text.replace(wrong[0], wrong[1]), "wrong.yaml")
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None and len(r.failed) == 1, [(o.name, o.actual) for o in r.failed]


BAD = """\
scenario: x
world:
  start: 2026-03-10
  banks:
    - {{id: bank-a, code: "999100000001", returns: [{{voucher: s, batch_line: {line}, at: "D+1 10:00"}}]}}
    - {{id: bank-b, code: "999100000002"}}
steps:
  - at: "10:00"
    send:
      id: s
      template: salary-batch
      bank: bank-a
      voucher_no: GZ0001{amount}
      lines:
        - {{account: "6222020000000001", payee: 甲, amount: "1.00"}}
        - {{account: "{second}", payee: 乙, amount: "2.00"}}
expect:
  - invariants: {{}}
"""


@pytest.mark.parametrize(("kw", "message"), [
    ({"line": 3}, "returns[0].batch_line: 's' is not a batch voucher with a line 3 (it has 2)"),
    ({"amount": '\n      amount: "4.00"'}, "send.amount: amount 4.00 is not the sum of the lines, 3.00"),
    ({"second": "6222020000000001"}, "send.lines: a payee account appears on two lines"),
])
def test_a_wrong_batch_is_refused_naming_the_field(kw: dict[str, object], message: str) -> None:
    args = {"line": 1, "amount": "", "second": "6222020000000002", **kw}
    with pytest.raises(ScenarioError) as info:
        load_text(BAD.format(**args), "x.yaml")
    assert any(message in line for line in info.value.lines()), info.value.lines()
