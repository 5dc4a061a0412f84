"""`docs/scenario.schema.json` says what the runner says of `receipt` / `refund` expectations that
are `none: true` (nothing arrived): they take nothing of what would have arrived (a receipt's
fields, from, present; a refund's state, code, amount). Before, the published schema allowed them
together and only the runner refused them. Oracle: the runner (`load_text`) and the published
schema (validated as an editor would, jsonschema draft 2020-12) both accept or both refuse
generated expectation shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.scenario_file import ScenarioError, load_text
from tests.test_scenario_divisions import _TWO

PUBLISHED = json.loads((Path(__file__).resolve().parents[1] / "docs" / "scenario.schema.json").read_text("utf-8"))
_STEPS = 'steps:\n  - at: "10:00"\n    send: {id: v, template: direct-payment, bank: bank-a, amount: "1.00"}\n'

# What each kind may carry besides `voucher` and `none`, each with a value the runner takes.
_OTHERS: dict[str, dict[str, Any]] = {
    "receipt": {"fields": {"XPayAmt": "1.00"}, "from": "bank-a", "present": ["XAgentBusinessNo"]},
    "refund": {"state": "accepted", "code": "synthetic-code", "amount": "1.00"},
}


@st.composite
def _shapes(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(_OTHERS)))
    shape: dict[str, Any] = {"voucher": "v"}
    none = draw(st.sampled_from([None, True, False]))
    if none is not None:
        shape["none"] = none
    for key in draw(st.sets(st.sampled_from(sorted(_OTHERS[kind])))):
        shape[key] = _OTHERS[kind][key]
    return kind, shape


def _runner_accepts(text: str) -> bool:
    try:
        load_text(text, "none.yaml")
    except ScenarioError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(shape=_shapes())
@example(shape=("receipt", {"voucher": "v", "none": True, "fields": {"XPayAmt": "1.00"}}))
@example(shape=("refund", {"voucher": "v", "none": True, "state": "accepted"}))
@example(shape=("receipt", {"voucher": "v", "none": False, "from": "bank-a"}))
def test_the_published_schema_and_the_runner_agree_on_none(shape: tuple[str, dict[str, Any]]) -> None:
    kind, params = shape
    text = _TWO + _STEPS + "expect:\n  - " + yaml.safe_dump({kind: params}, default_flow_style=True, width=1000)
    schema_ok = jsonschema.Draft202012Validator(PUBLISHED).is_valid(yaml.safe_load(text))
    runner_ok = _runner_accepts(text)
    assert schema_ok == runner_ok, (params, schema_ok, runner_ok)
    overlap = params.get("none") is True and bool(set(params) & set(_OTHERS[kind]))
    assert runner_ok is not overlap, params
