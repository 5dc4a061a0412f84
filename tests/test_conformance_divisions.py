"""The example bank (`examples/sdk_bank.py`) in a world of two divisions (`tgw scenario world
--division 990100 --division 990200`): it serves the divisions the gateway registered it for (`GET
/v1/participants/me`) and tells each division's treasury what it did for that division's payments
(docs/rules.md, "A bank serving several divisions"). Before, it reported every payment to the
first voucher's division and sent no account feed: the scenario of two treasuries paying through
one bank under one VoucherNo failed 6 of its 15 expectations (each division's 7602, each
division's 3501, each division's bank-treasury sign-off).

One `tgw up` and one example bank for the module (`SharedBanks`, `--shared-gateway`: reset before
each scenario), as tests/test_conformance.py runs its end-to-end tests.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_helpers import BIN, ROOT, SharedBanks
from test_conformance import _doc_script

from runner.world import DevWorld

HOME, OTHER = "990100", "990200"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    """Both divisions served by the treasury, the central bank and every bank."""
    return DevWorld.create(tmp_path_factory.mktemp("two-divisions") / "world",
                           divisions=((HOME, ("bank-a", "bank-b")), (OTHER, ("bank-a", "bank-b"))))


@pytest.fixture(scope="module")
def banks(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedBanks]:
    shared = SharedBanks(world, tmp_path_factory.mktemp("banks"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.mark.slow
def test_the_example_bank_serves_both_divisions_of_its_world(banks: SharedBanks, tmp_path: Path) -> None:
    """The scenario of two treasuries (each division's feed, statement and sign-off its own) passes, and
    the one of two divisions' suspension orders of one number (one's lift leaves the other's in force);
    a one-division scenario counting its daily reports (nil ones too) passes in the two-division
    world, where the bank owes the other division its nil reports as well (the `count` reads the
    scenario's divisions' messages only)."""
    run = banks.run(tmp_path, "divisions-two-treasuries-one-bank-same-voucher-no",
                    "divisions-shared-agency-code-refund-restores-own-quota",
                    "divisions-suspension-orders-of-one-number-each-its-own",
                    "reports-nil-daily-report-on-a-quiet-day")
    # each ran (none skipped whole; the bank's own books' expectations are skipped inside, as always)
    assert [(s.get("name"), s.get("errors"), s.find("testcase[@name='run']")) for s in run.suites] == [
        ("divisions-two-treasuries-one-bank-same-voucher-no", "0", None),
        ("divisions-shared-agency-code-refund-restores-own-quota", "0", None),
        ("divisions-suspension-orders-of-one-number-each-its-own", "0", None),
        ("reports-nil-daily-report-on-a-quiet-day", "0", None)]
    assert run.failures() == {} and run.code == 0


@pytest.mark.slow
def test_the_doc_script_runs_a_world_of_two_divisions(tmp_path: Path) -> None:
    """docs/conformance.md's script with WORLD_FLAGS: the bank registered for both divisions the world
    has it serve (before, the script registered it for 990100 alone and the divisions scenarios were
    skipped: "does not serve division 990200")."""
    script = tmp_path / "conformance.sh"
    script.write_text(_doc_script(), encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
           "WORLD_FLAGS": f"--division {HOME} --division {OTHER}",
           "SCENARIOS": str(ROOT / "scenarios" / "divisions-two-treasuries-one-bank-same-voucher-no.yaml")}
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    [suite] = ET.parse(tmp_path / "out" / "reports" / "junit.xml").getroot().iter("testsuite")
    assert (suite.get("failures"), suite.get("errors"), suite.find("testcase[@name='run']")) == ("0", "0", None)
    assert "serving divisions 990100, 990200" in (tmp_path / "out" / "system-catalogue.log").read_text(encoding="utf-8")
