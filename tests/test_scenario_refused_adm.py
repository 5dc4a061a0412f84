"""The `refused` expectation names a division with `adm`, as the others do (`runner.expectations`).

Before, it matched a bank's refused sends by VtCode, flag and code only: with `world.divisions`
two divisions number their vouchers alike, and one division's refusal held an expectation meant
for the other. Now `adm` keeps the division's own (absent: every division's, as before); a
division the world lacks, or one the bank does not serve, is refused when the scenario loads.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from runner.expectations import evaluate
from runner.scenario_file import Expectation
from runner.scenario_run import run_scenario
from tests.scenario_fixtures import observed
from tests.test_scenario_divisions import _TWO, _issues, _over_quota, load_text
from tests.two_divisions import HOME, OTHER

NO = "HK202603100000001"  # one number, refused in each division for its own reason
REFUSALS = (("bank-a", f"{HOME}/2026/2301/{NO}/0", "no-quota-notice"),
            ("bank-a", f"{OTHER}/2026/2301/{NO}/0", "over-quota"))


def _holds(**p: str) -> bool:
    o = dataclasses.replace(observed(), bank_refusals=REFUSALS)
    [got] = evaluate([Expectation(0, "refused", {"bank": "bank-a", "vtcode": "2301", **p}, None, "x", 0)], o)
    return got.ok


def test_a_division_s_refusal_is_its_own_not_the_other_s_of_the_same_number() -> None:
    assert _holds(code="over-quota", adm=OTHER) and _holds(code="no-quota-notice", adm=HOME)
    assert not _holds(code="over-quota", adm=HOME) and not _holds(code="no-quota-notice", adm=OTHER)
    assert _holds(code="over-quota") and _holds(code="no-quota-notice")  # no adm: every division's, as before
    assert not _holds(code="over-quota", adm="990300")


@pytest.mark.parametrize(("adm", "holds"), [(OTHER, True), (HOME, False)])
def test_a_refused_expectation_with_adm_in_a_scenario(adm: str, holds: bool, tmp_path: Path) -> None:
    """990200's clearing request is refused over its quota, 990100's accepted: `refused` with 990200
    holds, the same with 990100 (which held before, without the division) fails naming 990200's."""
    text = _over_quota(tmp_path) + f'  - refused: {{bank: bank-a, vtcode: "2301", code: over-quota, adm: "{adm}"}}\n'
    r = asyncio.run(run_scenario(load_text(text, "refused.yaml", base=tmp_path), tmp_path / "run"))
    assert r.error is None and r.observed is not None
    assert len(r.failed) == (0 if holds else 1), [(x.expected, x.actual) for x in r.failed]
    [verdict] = [x for x in r.outcomes if x.expectation.kind == "refused"]
    assert verdict.ok is holds and adm in verdict.expectation.name
    assert (f"{OTHER}/2026/2301/" in verdict.actual) is holds, verdict.actual


@pytest.mark.parametrize(("adm", "bank", "code"), [
    ("990300", "bank-a", "scenario-unknown-division"),  # the world has no 990300
    (OTHER, "bank-b", "scenario-unknown-division"),  # bank-b does not serve 990200
    ("99", "bank-a", "scenario-invalid"),  # not an AdmDivCode (the schema)
])
def test_a_refused_expectation_naming_a_division_it_cannot_have_is_refused(adm: str, bank: str, code: str) -> None:
    text = (_TWO + 'steps:\n  - at: "10:00"\n    send: {id: v, template: direct-payment, bank: bank-a, amount: "1.00"}\n'
            f'expect:\n  - refused: {{bank: {bank}, code: over-quota, adm: "{adm}"}}\n')
    [(got, path, message)] = _issues(text)
    assert (got, path) == (code, "expect[0].refused.adm"), (got, path, message)
    assert not _issues(text.replace(f'adm: "{adm}"', f'adm: "{HOME}"'))
