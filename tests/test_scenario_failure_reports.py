"""Failure reports a bank can act on: what a count counted, the bank's clearing requests with
their traces, contradictions refused, every error of a file at once, and a directory run that a
bad file does not abort."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.expectations import evaluate
from runner.report import RunResult, html_report, junit_xml
from runner.scenario_file import CATALOGUE_DIR, ScenarioError, load_text
from tests.scenario_fixtures import WORLD_AND_STEPS, observed
from tgw import main

SCENARIO = "scenario: failure-reports\n" + WORLD_AND_STEPS + "expect:\n"


def test_a_failed_count_lists_every_message_it_counted() -> None:
    s = load_text(SCENARIO + '  - count: {vtcode: "2301", sender: bank-a, equals: 1}\n', "f.yaml")
    [o] = evaluate(s.expectations, observed())
    assert not o.ok and o.actual == "2"
    assert "sender bank-a" in o.expected
    assert [line.split()[-1] for line in o.evidence] == ["HKA1", "HKA2"]  # bank-b's HKB1 was not counted
    assert all("2301 flag 0  bank-a -> pboc" in line for line in o.evidence)


def test_a_failed_clearing_shows_every_clearing_request_of_the_bank_with_its_trace() -> None:
    s = load_text(SCENARIO + """  - clearing: {voucher: v1, includes: true, clear_type: replenishment}
""", "f.yaml")
    [o] = evaluate(s.expectations, observed())
    assert not o.ok
    # v1 is covered only by the normal HKA1: the report also shows HKA2, the bank's other 2301,
    # and not bank-b's
    assert [line.split()[0] for line in o.evidence] == ["HKA1", "HKA2"]
    assert "trace: /v1/trace/990100/2026/2301/HKA2" in o.evidence[1]
    assert "replenishment" in o.evidence[1] and "covers ZZ002" in o.evidence[1]
    xml = junit_xml([RunResult(s, observed(), (o,))])
    text = ET.fromstring(xml).findtext(".//failure") or ""
    assert "seen:" in text and "/v1/trace/990100/2026/2301/HKA1" in text
    assert "/v1/trace/990100/2026/2301/HKA2" in html_report([RunResult(s, observed(), (o,))])


def test_includes_false_with_a_state_is_refused_naming_the_field() -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(SCENARIO + "  - clearing: {voucher: v1, includes: false, state: rejected}\n", "f.yaml")
    [line] = info.value.lines()
    assert line.startswith("f.yaml:11: expect[0].clearing.state:") and "includes: false" in line


def test_every_schema_error_of_a_file_at_once_duplicate_keys_among_them() -> None:
    text = SCENARIO.replace("world: {start: \"2026-03-10\"}", "world:\n  start: \"2026-03-10\"\n  seed: 1\n  seed: 2") \
        + "  - accepted: {voucher: v1, colour: red}\n  - count: {vtcode: 2301, equals: 1}\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "f.yaml")
    found = info.value.lines()
    assert any(": world.seed: duplicate key 'seed'" in line for line in found), found
    assert any(": expect[0].accepted.colour: unknown key 'colour'" in line for line in found), found
    assert any(": expect[1].count.vtcode:" in line for line in found), found


def test_a_start_off_the_business_days_does_not_hide_the_other_errors() -> None:
    text = SCENARIO.replace("2026-03-10", "2026-03-08").replace("bank: bank-b", "bank: bank-z") \
        + "  - accepted: {voucher: v9}\n"
    with pytest.raises(ScenarioError) as info:
        load_text(text, "f.yaml")
    found = info.value.lines()
    assert any("world.start: 2026-03-08 is not a business day" in line for line in found), found
    assert any("steps[1].send.bank: no bank 'bank-z'" in line for line in found), found
    assert any("expect[0].accepted.voucher: no voucher 'v9'" in line for line in found), found


def test_a_bad_file_does_not_abort_a_directory_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(CATALOGUE_DIR / "corrupt-signature-refused.yaml", tmp_path / "b-good.yaml")
    (tmp_path / "a-bad.yaml").write_text("scenario: a-bad\nworld: {start: \"2026-03-10\", colour: red}\n"
                                         "steps: []\nexpect:\n  - invariants: {}\n  - invariants: {x: 1}\n",
                                         encoding="utf-8")
    junit = tmp_path / "junit.xml"
    code = main(["scenario", "run", str(tmp_path), "--quiet", "--format", "json", "--junit", str(junit)])
    out = capsys.readouterr()
    assert code == 2  # a bad file: exit 2, after the rest ran and printed
    report = json.loads(out.out)
    assert report["ok"] is False
    [bad] = report["invalid"]
    assert bad["file"].endswith("a-bad.yaml") and len(bad["errors"]) == 2  # both errors of the file
    [ran] = report["scenarios"]
    assert ran["name"] == "corrupt-signature-refused" and ran["ok"] is True
    assert "a-bad.yaml:2: world.colour: unknown key 'colour'" in out.err
    suites = ET.parse(junit).getroot()
    assert suites.get("errors") == "1"
    assert [s.get("name") for s in suites.iter("testsuite")] == [bad["file"], "corrupt-signature-refused"]


def test_a_directory_run_whose_files_are_valid_exits_on_its_results(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(CATALOGUE_DIR / "corrupt-signature-refused.yaml", tmp_path / "good.yaml")
    assert main(["scenario", "run", str(tmp_path), "--quiet"]) == 0
    assert "1 of 1 scenarios held" in capsys.readouterr().out
    text = (CATALOGUE_DIR / "corrupt-signature-refused.yaml").read_text(encoding="utf-8")
    (tmp_path / "good.yaml").write_text(text.replace("equals: 1", "equals: 2"), encoding="utf-8")
    assert main(["scenario", "run", str(tmp_path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "seen:" in out and "5201 flag 0  treasury" in out  # the count says what it counted


FAILING_RUN = """scenario: trace-links
title: a receipt expected too early and a replenishment that never was, for their trace links
world:
  start: 2026-03-10
steps:
  - at: "17:30"
    send: {id: late, template: direct-payment, bank: bank-a, amount: "880.00"}
expect:
  - receipt: {voucher: late, from: bank-a}
    by: "D+1 08:00"
  - clearing: {voucher: late, includes: true, clear_type: replenishment}
    by: "D+1 17:00"
"""


def test_every_trace_link_of_a_report_is_a_route_of_the_gateway(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A tester pastes a failure's trace link after the gateway's URL. Was: the links carried the
    voucher's flag (`.../ZZ2026031000001/0`), which no route serves: 404."""
    import re

    from gateway.openapi import openapi_document

    [route] = [p for p in openapi_document()["paths"] if p.startswith("/v1/trace/")]
    served = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route) + "$")
    scenario = tmp_path / "trace-links.yaml"
    scenario.write_text(FAILING_RUN, encoding="utf-8")
    assert main(["scenario", "run", str(scenario), "--format", "json", "--quiet"]) == 1
    [run] = json.loads(capsys.readouterr().out)["scenarios"]
    links = [e["trace"] for e in run["expectations"] if e["trace"]]
    links += [m for e in run["expectations"] for line in e["seen"] for m in re.findall(r"/v1/trace/\S+", line)]
    assert len(links) >= 2 and [x for x in links if not served.match(x)] == []


def test_a_quiet_run_still_says_each_scenario_as_it_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--quiet` (as docs/conformance.md's script runs the catalogue) leaves out the steps, not the
    scenarios: was silent on stderr from start to end, however long the run."""
    failing = tmp_path / "trace-links.yaml"
    failing.write_text(FAILING_RUN, encoding="utf-8")
    passing = CATALOGUE_DIR / "after-close-paid-by-1000-next-day.yaml"
    assert main(["scenario", "run", str(passing), str(failing), "--quiet"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "[1/2] after-close-paid-by-1000-next-day: ok", "[2/2] trace-links: FAILED 2"]
