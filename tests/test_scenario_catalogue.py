"""Every catalogue scenario runs in simulated mode and every expectation holds (one pytest parameter each);
`tgw scenario run` exits 1 with readable output when one does not."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.scenario_file import catalogue, load_scenario
from runner.scenario_run import run_scenario
from tgw import main


@pytest.mark.parametrize("path", catalogue(), ids=lambda p: p.stem)
def test_catalogue_scenario_holds(path: Path, tmp_path: Path) -> None:
    s = load_scenario(path)
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None, r.error
    assert not r.failed, [(o.name, o.expected, o.actual) for o in r.failed]


def test_cli_run_exits_1_on_a_failed_expectation_and_writes_reports(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    src = (Path(__file__).resolve().parent.parent / "scenarios" / "after-close-paid-by-1000-next-day.yaml")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(src.read_text(encoding="utf-8").replace('by: "D+1 10:00"', 'by: "D+1 08:30"'), encoding="utf-8")
    junit, page = tmp_path / "out.xml", tmp_path / "out.html"
    code = main(["scenario", "run", "--quiet", "--junit", str(junit), "--html", str(page), str(wrong)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{wrong}:11: receipt for late" in out and "expected: a receipt from bank-a by 2026-03-11 08:30:00" in out
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "1"
    assert "<svg" in page.read_text(encoding="utf-8")


def test_cli_run_exits_2_for_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: x\nworld: {}\nexpect: []\n", encoding="utf-8")
    assert main(["scenario", "run", "--quiet", str(bad)]) == 2


def test_a_participant_without_a_seal_on_the_voucher_is_a_run_error_naming_the_line(tmp_path: Path) -> None:
    """A bank cannot seal a payment voucher original: the run says so (line and why), never a traceback."""
    from runner.scenario_file import load_text

    s = load_text("scenario: x\nworld: {start: \"2026-03-10\"}\nsteps:\n  - at: \"10:00\"\n"
                  "    send: {id: v, template: direct-payment, bank: bank-a, amount: \"1.00\", from: bank-b}\n"
                  "expect:\n  - accepted: {voucher: v}\n", "x.yaml")
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is not None and r.error.startswith("step failed: line 5: bank-b cannot send v")
    assert "no seal position on 5201 flag 0" in r.error
