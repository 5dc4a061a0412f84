"""Union fees (工会经费, 003 §27): one voucher, the unit's union and the provincial federation, split
by the project's own parameter (treasury_sim.payment_kinds); the scenario's verdicts both ways."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.money import parse_fen
from messages.validate import validate_bytes
from messages.voucher import parse_voucher
from runner.batch_steps import render
from runner.scenario_file import ScenarioError, SendSpec, UnitSpec, load_scenario, load_text
from runner.scenario_run import run_scenario
from treasury_sim.payment_kinds import FEDERATION, UNION_FEES_MIN_FEN, union_fee_lines

SRC = Path(__file__).resolve().parent.parent / "scenarios" / "union-fees-to-the-union-and-the-federation.yaml"
UNIT = UnitSpec("101", "示例市教育局", "101001", "示例市第一中学")


@given(total=st.integers(min_value=UNION_FEES_MIN_FEN, max_value=10**12), pct=st.integers(min_value=1, max_value=99))
def test_the_two_lines_add_up_to_the_fen_and_the_federation_gets_its_share_rounded_down(total: int, pct: int) -> None:
    union, federation = union_fee_lines(total, ("101001", "示例市第一中学"), retained_pct=pct)
    assert union[4] + federation[4] == total and union[4] > 0 and federation[4] > 0
    assert federation[4] == total * (100 - pct) // 100  # the rounding's fen stays with the unit's union
    assert federation[:3] == FEDERATION and union[1] == "示例市第一中学工会委员会"


@pytest.mark.parametrize(("total", "pct"), [(99, 60), (100, 0), (100, 100)])
def test_a_split_that_leaves_a_side_nothing_is_refused(total: int, pct: int) -> None:
    with pytest.raises(ValueError):
        union_fee_lines(total, ("101001", "示例市第一中学"), retained_pct=pct)


def test_the_voucher_pays_the_union_and_the_federation_as_union_fees() -> None:
    spec = SendSpec("u", "treasury", "union-fees", bank="bank-a", unit="101001", amount_fen=12_345_67)
    data = render(spec, voucher_no="GH0001", day=dt.date(2026, 3, 10), bank_code="999100000001",
                  adm_div_code="990100", units=[UNIT])
    assert validate_bytes(data, flag=0)[1] == []
    doc = parse_voucher(data)
    assert doc.get("PayAmt") == "12345.67" and doc.get("PaySummaryName") == "工会经费"
    assert [(d["PayeeAcctName"], d["ExpEcoCode"], parse_fen(d["PayAmt"])) for d in doc.details()] == [
        ("示例市第一中学工会委员会", "30228", 7_407_41), ("示例省总工会", "30228", 4_938_26)]


def test_union_fees_below_one_yuan_are_refused_naming_the_amount() -> None:
    text = SRC.read_text(encoding="utf-8").replace('amount: "12345.67"', 'amount: "0.99"')
    with pytest.raises(ScenarioError) as info:
        load_text(text, "x.yaml")
    assert any("send.amount: union fees are paid to two accounts" in x for x in info.value.lines())


def test_the_scenario_reads_two_lines_to_return() -> None:
    [ret] = load_scenario(SRC).world.banks[0].returns
    assert ret.batch_line == 2


@pytest.mark.parametrize("wrong", [
    ('accepted, amount: "4938.26"}', 'accepted, amount: "4938.27"}'),  # a fen off the federation's share
    ('equals: "4938.26"}', 'equals: "12345.67"}'),  # the whole voucher's quota back: it is not
])
def test_a_wrong_expectation_of_the_union_fees_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = SRC.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    r = asyncio.run(run_scenario(load_text(text.replace(wrong[0], wrong[1]), "wrong.yaml"), tmp_path))
    assert r.error is None and len(r.failed) == 1, [(o.name, o.actual) for o in r.failed]
