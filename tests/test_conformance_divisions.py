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

from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_helpers import SharedBanks

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
    """The scenario of two treasuries (each division's feed, statement and sign-off its own) passes;
    a one-division scenario counting its daily reports (nil ones too) passes in the two-division
    world, where the bank owes the other division its nil reports as well (the `count` reads the
    scenario's divisions' messages only)."""
    run = banks.run(tmp_path, "divisions-two-treasuries-one-bank-same-voucher-no",
                    "divisions-shared-agency-code-refund-restores-own-quota",
                    "reports-nil-daily-report-on-a-quiet-day")
    # each ran (none skipped whole; the bank's own books' expectations are skipped inside, as always)
    assert [(s.get("name"), s.get("errors"), s.find("testcase[@name='run']")) for s in run.suites] == [
        ("divisions-two-treasuries-one-bank-same-voucher-no", "0", None),
        ("divisions-shared-agency-code-refund-restores-own-quota", "0", None),
        ("reports-nil-daily-report-on-a-quiet-day", "0", None)]
    assert run.failures() == {} and run.code == 0
