"""Scenario reports: JUnit XML a CI reads, and the self-contained HTML page opened in headless Chromium."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from browser import ARTIFACTS, png_size, screenshot

from runner.expectations import evaluate
from runner.report import RunResult, html_report, junit_xml
from runner.scenario_file import ScenarioError, load_text
from tests.scenario_fixtures import WORLD_AND_STEPS, observed

WINDOW = (1200, 2400)

SCENARIO = """
scenario: report-fixture
title: Three vouchers, one advanced; one expectation set to fail
""" + WORLD_AND_STEPS + """expect:
  - accepted: {voucher: v1, who: gateway}
  - receipt: {voucher: v2, fields: {XPayAmt: "50.00"}}
    by: "17:00"
  - clearing: {voucher: v2, includes: true, clear_type: replenishment, state: accepted}
    by: "D+1 08:30"
  - reconciliation: {clean: true}
"""


def results() -> list[RunResult]:
    s = load_text(SCENARIO, "scenarios/report-fixture.yaml")
    o = observed()
    broken = observed(receipts=o.receipts[1:])
    other = dataclasses.replace(s, name="report-fixture-broken", title="The same run with a receipt lost")
    return [RunResult(s, o, tuple(evaluate(s.expectations, o)), 0.4),
            RunResult(other, broken, tuple(evaluate(s.expectations, broken)), 0.3)]


def test_junit_has_one_case_per_expectation_and_readable_failures() -> None:
    root = ET.fromstring(junit_xml(results()))
    assert root.tag == "testsuites" and root.get("tests") == "8" and root.get("failures") == "3"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "report-fixture" and suite.get("failures") == "1"
    [failure] = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failure.get("name") == "[2] clearing includes v2" and failure.get("line") == "16"
    text = failure.findtext("failure") or ""
    assert "scenarios/report-fixture.yaml:16" in text and "expected:" in text and "actual:" in text
    assert "trace: /v1/trace/990100/2026/5201/ZZ002" in text and "journaled" in text


def test_junit_suites_have_the_schemas_timestamp_and_hostname() -> None:
    """Before: neither. The JUnit schema's testsuite has `timestamp` (xs:dateTime, to the second,
    no offset) and `hostname`; Jenkins, GitLab and GitHub readers parse them as such."""
    import datetime as dt
    import re
    import socket

    before = dt.datetime.now().replace(microsecond=0)
    [ran, broken] = results()
    bad_file = ScenarioError("scenarios/bad.yaml", [(3, "steps[0].at", "not a business time")])
    root = ET.fromstring(junit_xml([ran, broken], invalid=[bad_file]))
    after = dt.datetime.now()
    suites = root.findall("testsuite")
    assert len(suites) == 3
    for suite in suites:
        stamp = suite.get("timestamp") or ""
        assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", stamp), stamp  # the schema's
        at = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
        assert at == dt.datetime.fromisoformat(stamp)
        assert before - dt.timedelta(seconds=1) <= at <= after, (stamp, before, after)  # a run's start: 0.4 s back
        assert suite.get("hostname") == socket.gethostname() and (suite.get("hostname") or "").strip()


def test_junit_gives_every_suite_and_case_a_time_as_ci_readers_expect() -> None:
    """GitHub test reporters, GitLab and Azure read `time` on the root, each testsuite and each
    testcase (a missing one shows as NaN, or fails the import): every kind of case carries it."""
    [ran, broken] = results()
    skipped = dataclasses.replace(ran, outcomes=(), skipped="the scenario marks bank-b external", elapsed_s=0.0)
    errored = dataclasses.replace(broken, error="the system under test never waited on the clock\nstartup 30 s",
                                  skipped_expectations=((broken.outcomes[0].expectation, "your own books"),),
                                  elapsed_s=1.25)
    bad_file = ScenarioError("scenarios/bad.yaml", [(3, "steps[0].at", "not a business time")])
    root = ET.fromstring(junit_xml([ran, broken, skipped, errored], invalid=[bad_file]))
    suites = root.findall("testsuite")
    assert len(suites) == 5
    for element in [root, *suites, *root.iter("testcase")]:
        assert float(element.get("time", "nan")) >= 0, (element.tag, element.attrib)  # was: no time but on suites
    assert float(root.get("time", "nan")) == pytest.approx(sum(float(s.get("time", "nan")) for s in suites))
    assert float(root.get("time", "nan")) == pytest.approx(0.4 + 0.3 + 1.25)
    assert [c.get("time") for c in errored_cases(suites) if c.get("name") == "run"] == ["1.250"]
    # the counts are those of the testcases written (was: a run error beside outcomes not counted)
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases), suite.get("name")
        for kind in ("failures", "errors", "skipped"):
            assert int(suite.get(kind, "-1")) == sum(c.find(kind.rstrip("s") if kind != "skipped" else kind)
                                                     is not None for c in cases), (suite.get("name"), kind)
    assert int(root.get("tests", "-1")) == len(list(root.iter("testcase")))


def errored_cases(suites: list[ET.Element]) -> list[ET.Element]:
    return [c for s in suites if s.find("testcase/error") is not None for c in s.iter("testcase")]


def test_html_is_self_contained() -> None:
    page = html_report(results())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 8
    for remote in ("http://", "https://", "<script", "@import", "url("):
        assert remote not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            "https://json-schema.org", ""), remote
    assert "FAIL" in page and "reconciliation breaks" in page and "no-receipt" in page


def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "scenario-report.html"
    page.write_text(html_report(results(), title="Scenario report (fixture)"), encoding="utf-8")
    data = screenshot(page, ARTIFACTS / "scenario-report.png", window=WINDOW, profile=tmp_path / "profile")
    assert len(data) > 10_000  # a blank page compresses to a few hundred bytes
    assert png_size(data) == WINDOW
