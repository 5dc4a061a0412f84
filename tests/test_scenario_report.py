"""Scenario reports: JUnit XML a CI reads, and the self-contained HTML page opened in headless Chromium."""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.expectations import evaluate
from runner.report import RunResult, html_report, junit_xml
from runner.scenario_file import load_text
from tests.scenario_fixtures import observed

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WINDOW = (1200, 2400)
CHROMIUM_TIMEOUT_S = 120  # a cold start on a loaded 2-core machine; the page itself renders in well under a second

SCENARIO = """
scenario: report-fixture
title: Three vouchers, one advanced; one expectation set to fail
world: {start: "2026-03-10"}
steps:
  - at: "10:00"
    send: {id: v1, template: direct-payment, bank: bank-a, amount: "100.00"}
  - at: "11:00"
    send: {id: v3, template: direct-payment, bank: bank-b, amount: "20.00"}
  - at: "15:59"
    send: {id: v2, template: direct-payment, bank: bank-a, amount: "50.00"}
expect:
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
    assert "trace: /v1/trace/990100/2026/5201/ZZ002/0" in text and "journaled" in text


def test_html_is_self_contained() -> None:
    page = html_report(results())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 8
    for remote in ("http://", "https://", "<script", "@import", "url("):
        assert remote not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            "https://json-schema.org", ""), remote
    assert "FAIL" in page and "reconciliation breaks" in page and "no-receipt" in page


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("TGW_REQUIRE_SERVICES"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "scenario-report.html"
    shot = ARTIFACTS / "scenario-report.png"
    page.write_text(html_report(results(), title="Scenario report (fixture)"), encoding="utf-8")
    shot.unlink(missing_ok=True)
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=CHROMIUM_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    data = shot.read_bytes()
    assert len(data) > 10_000  # a blank page compresses to a few hundred bytes
    assert _png_size(data) == WINDOW
