"""Conformance mode over MQTT (docs/connect-a-bank.md, "Over MQTT"): the example bank as bank-a,
registered `--delivery push`, sends, receives and acks through a real Mosquitto (the shipped
conf/mosquitto.conf settings, tests/mqtt_broker.py), with the clock over HTTP beside it; the runner
plays everyone else over HTTP, as for any bank. The right bank passes a payment flow and a
scenario with refusals; the same bank wrong on purpose fails what it should, and nothing else.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conformance_helpers import BankRun, run_against_the_example_bank
from mqtt_broker import MosquittoBroker

from gateway.participants import save_registry
from runner.world import DevWorld

# a payment flow (after the close: paid the next morning, its receipt, cleared that day) and refusals:
# the treasury's, the gateway's, and the bank's own return of a procurement payment whose payee is not
# the supplier it names
SCENARIOS = ("after-close-paid-by-1000-next-day", "procurement-payee-not-the-supplier-refused")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    """The dev world with bank-a's deliveries pushed over MQTT (`tgw participants add --delivery push`)."""
    world = DevWorld.create(tmp_path_factory.mktemp("conformance-mqtt") / "world")
    registry = world.registry()
    bank_a = registry.get("bank-a")
    assert bank_a is not None
    save_registry(registry.with_participant(dataclasses.replace(bank_a, delivery="push")), world.registry_path)
    return world


def _run(world: DevWorld, tmp_path: Path, broker: MosquittoBroker, *flags: str) -> BankRun:
    return run_against_the_example_bank(world, tmp_path, *SCENARIOS, shared=True, broker=broker,
                                        flags=("--accounts", str(world.root / "accounts.yaml"), *flags))


def _played(suite: ET.Element) -> None:
    assert suite.get("errors") == "0", ET.tostring(suite)
    assert [c.get("name") for c in suite.iter("testcase") if c.get("name") == "run"] == []  # not skipped whole
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3


@pytest.mark.slow
def test_the_example_bank_over_mqtt_passes_a_payment_flow_and_refusals(world: DevWorld, broker: MosquittoBroker,
                                                                       tmp_path: Path) -> None:
    run = _run(world, tmp_path, broker)
    assert [s.get("name") for s in run.suites] == list(SCENARIOS)
    for suite in run.suites:
        _played(suite)
    assert run.failures() == {} and run.code == 0
    # it was there: bank-a's own session at the broker (its deliveries are pushed only there)
    assert "as bank-a" in (broker.root / "mosquitto.log").read_text(errors="replace")
    assert "over MQTT" in (tmp_path / "procs" / "bank.log").read_text(errors="replace")


# scenario → a wrong-on-purpose flag of the example bank, and the expectations it must fail there
# (a word of each failure): receipts a fen short and a day late fail the receipt and the
# reconciliation's receipt amount (its clearing asked the voucher's 880.00); a procurement payment
# paid whoever its payee fails the bank's return of it alone (the treasury's and gateway's refusals
# are theirs)
WRONG = {
    "after-close-paid-by-1000-next-day": ("--wrong-xfields", {
        "[1] receipt for late": "with XPayDate=20260312, XPayAmt=879.99",
        "[5] reconciliation": "receipt-amount"}),
    "procurement-payee-not-the-supplier-refused": ("--pay-any-payee", {
        "[4] the bank returns unpaid a voucher whose payee is not the supplier it names": "ok by bank (bank-a)"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_example_bank_wrong_on_purpose_over_mqtt_fails_what_it_should(world: DevWorld, broker: MosquittoBroker,
                                                                           tmp_path: Path, scenario: str) -> None:
    flag, expected = WRONG[scenario]
    run = run_against_the_example_bank(world, tmp_path, scenario, broker=broker,
                                       flags=("--accounts", str(world.root / "accounts.yaml"), flag))
    _played(run.suite)
    failures = run.failures()
    assert sorted(failures) == sorted(expected), failures
    for name, words in expected.items():
        assert words in failures[name], failures[name]
    # the voucher's trace under the failed receipt or return: pushed to bank-a (over MQTT: registered push)
    assert any("pushed       bank-a" in text for text in failures.values()), failures
    assert run.code == 1
