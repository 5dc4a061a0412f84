"""Expectations on a bank serving two divisions (AdmDivCode): `signoff:`, `reports_match:`,
`report_subject:` and `report_direct_funds:` take `adm`, the division whose verdicts or reports
they select (absent: every division's). Each division's treasury is stated and reported its own
payments (004 part 3 §10), so a `bank:` filter alone mixes two divisions' verdicts.

A statement (3501, 7104) without its AdmDivCode in a run whose vouchers carry divisions is
malformed (the XSD requires AdmDivCode): it is no division's, compared with no books, its verdict
`differs` with the break `statement-no-division`, and the division it left without a statement is
still missing one.

Oracle: the agreement's reading of a selection ("looking for agreement every verdict selected must
hold, looking for a difference at least one", docs/scenarios.md) applied to the verdicts of the
division asked for, and each division signing off as it does alone (tests/test_signoff_divisions.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.expectations import evaluate
from runner.monthly_signoff import monthly_signoff
from runner.observed import LevelVerdict, ReportSeen
from runner.scenario_file import ScenarioError, load_text
from tests.scenario_fixtures import WORLD_AND_STEPS, observed
from tests.test_monthly_signoff import Pay, _nudge, payment
from tests.test_signoff_divisions import DIVS, division, together

HOME, OTHER = DIVS
MINE: list[Pay] = [(0, "11", "1", 0, "", 100_00, 3, False, False), (1, "12", "1", 1, "", 250_00, 5, False, False)]
THEIRS: list[Pay] = [(0, "11", "1", 0, "", 999_00, 3, True, False)]


def _results(expect: str, **fields: object) -> list[bool]:
    s = load_text("scenario: adm-fixture\n" + WORLD_AND_STEPS + "expect:\n" + expect, "adm.yaml")
    return [x.ok for x in evaluate(s.expectations, dataclasses.replace(observed(), **fields))]


def _two_divisions_one_off_by_a_fen() -> tuple[LevelVerdict, ...]:
    """bank-a's March for two divisions: HOME's statements agree, OTHER's 3501 is one fen high."""
    a, b = division(HOME, "A", MINE, []), division(OTHER, "B", THEIRS, [])
    s = next(s for s in b.statements if s.vtcode == "3501")
    b = dataclasses.replace(b, statements=[_nudge(s, 0, "PayAmt", 1) if x is s else x for x in b.statements])
    return monthly_signoff(together(a, b))


def test_signoff_selects_one_division_and_holds_or_fails_both_ways() -> None:
    vs = _two_divisions_one_off_by_a_fen()
    bt = "  - signoff: {month: 2026-03, level: bank-treasury, bank: bank-a, %s}\n"
    bu = "  - signoff: {month: 2026-03, level: bank-unit, bank: bank-a, %s}\n"
    cases = [
        (bt % f'adm: "{HOME}", agreed: true', True),
        (bt % f'adm: "{OTHER}", agreed: true', False),  # a false expectation fails
        (bt % f'adm: "{OTHER}", cause: line-differs, off_by: "0.01"', True),
        (bt % f'adm: "{HOME}", agreed: false', False),  # HOME has no difference to find
        (bt % "agreed: true", False),  # without adm: both divisions' verdicts, one differs
        (bt % "agreed: false", True),
        (bu % f'adm: "{HOME}", unit: "101001", agreed: true, signed_off: true', True),
        (bu % f'adm: "{OTHER}", unit: "101002", agreed: true', False),  # OTHER paid no 101002: no such verdict
        (bu % f'adm: "{OTHER}", agreed: true', True),
    ]
    got = _results("".join(c for c, _ in cases), signoffs=vs)
    assert got == [want for _, want in cases]


def test_reports_of_one_division_are_selected_by_adm() -> None:
    at = dt.datetime(2026, 3, 11, 9, tzinfo=dt.UTC)
    reports = (ReportSeen("bank-a", "2206", "RA1", "20260310", "20260310", 100_00, 100_00, at, {"2010101": 100_00},
                          adm=HOME),
               ReportSeen("bank-a", "2206", "RB1", "20260310", "20260310", 7_00, 5_00, at, {"2010101": 7_00},
                          direct_stated_fen=7_00, adm=OTHER))
    cases = [
        (f'  - reports_match: {{bank: bank-a, adm: "{HOME}"}}\n', True),
        (f'  - reports_match: {{bank: bank-a, adm: "{OTHER}"}}\n', False),
        ("  - reports_match: {bank: bank-a}\n", False),
        (f'  - report_subject: {{bank: bank-a, vtcode: "2206", subject: "2010101", adm: "{HOME}", equals: "100.00"}}\n',
         True),
        ('  - report_subject: {bank: bank-a, vtcode: "2206", subject: "2010101", equals: "100.00"}\n', False),
        (f'  - report_direct_funds: {{bank: bank-a, vtcode: "2206", adm: "{OTHER}", equals: "7.00"}}\n', True),
        (f'  - report_direct_funds: {{bank: bank-a, vtcode: "2206", adm: "{HOME}", equals: "7.00"}}\n', False),
    ]
    assert _results("".join(c for c, _ in cases), reports=reports) == [want for _, want in cases]


@pytest.mark.parametrize(("expect", "words"), [
    ('  - signoff: {month: 2026-03, level: bank-pboc, bank: bank-a, adm: "990100", agreed: true}\n',
     "bank-treasury and bank-unit only"),
    ('  - signoff: {month: 2026-03, level: bank-treasury, adm: "99-01", agreed: true}\n', "AdmDivCode"),
])
def test_the_loader_refuses_a_division_where_it_means_nothing(expect: str, words: str) -> None:
    with pytest.raises(ScenarioError, match=words):
        load_text("scenario: adm-fixture\n" + WORLD_AND_STEPS + "expect:\n" + expect, "adm.yaml")


def _strip_adm(inp, vtcode: str):  # type: ignore[no-untyped-def]
    return dataclasses.replace(inp, statements=[
        dataclasses.replace(s, head={k: v for k, v in s.head.items() if k != "AdmDivCode"}) if s.vtcode == vtcode
        else s for s in inp.statements])


@pytest.mark.parametrize("vtcode", ["3501", "7104"])
def test_a_statement_without_its_division_is_no_divisions(vtcode: str) -> None:
    a, b = division(HOME, "A", MINE, []), division(OTHER, "B", THEIRS, [])
    alone = {(v.level, v.adm, v.unit): v.verdict for v in monthly_signoff(together(a, b))}
    vs = monthly_signoff(together(a, _strip_adm(b, vtcode)))
    level = "bank-treasury" if vtcode == "3501" else "bank-unit"
    stray = [v for v in vs if v.level == level and v.adm == ""]
    assert stray and all(v.verdict == "differs" and [x.cause for x in v.breaks] == ["statement-no-division"]
                         for v in stray)
    own = [v for v in vs if v.level == level and v.adm == OTHER]
    assert own and all(v.verdict in ("missing", "not-due") and v.stated_fen is None for v in own)
    # HOME, and OTHER's other level, sign off as before
    def kept(verdicts: dict) -> dict:
        return {k: x for k, x in verdicts.items()
                if k[0] in ("bank-treasury", "bank-unit") and k[1] and (k[1] == HOME or k[0] != level)}

    assert kept(alone) == kept({(v.level, v.adm, v.unit): v.verdict for v in vs}) != {}


@settings(max_examples=30, deadline=None)
@given(st.lists(payment, min_size=1, max_size=3), st.lists(payment, min_size=1, max_size=3), st.integers(-2, 2),
       st.sampled_from(DIVS))
def test_a_division_filter_judges_that_divisions_verdicts_alone(mine: list[Pay], theirs: list[Pay], fen: int,
                                                                 adm: str) -> None:
    """Oracle: division `adm`'s bank-treasury verdict computed from its own month alone (one
    division's run); `agreed: true` holds iff that verdict is agreed, `agreed: false` iff not."""
    a, b = division(HOME, "A", mine, []), division(OTHER, "B", theirs, [])
    s = next(s for s in b.statements if s.vtcode == "3501")
    b = dataclasses.replace(b, statements=[_nudge(s, 0, "PayAmt", fen) if x is s else x for x in b.statements])
    alone = monthly_signoff(a if adm == HOME else b)
    agreed = all(v.verdict == "agreed" for v in alone if v.level == "bank-treasury")
    vs = monthly_signoff(together(a, b))
    expect = (f'  - signoff: {{month: 2026-03, level: bank-treasury, bank: bank-a, adm: "{adm}", agreed: true}}\n'
              f'  - signoff: {{month: 2026-03, level: bank-treasury, bank: bank-a, adm: "{adm}", agreed: false}}\n')
    assert _results(expect, signoffs=vs) == [agreed, not agreed]
