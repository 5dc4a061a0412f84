"""Conformance mode over MQTT (docs/connect-a-bank.md, "Over MQTT"): the example bank as bank-a,
registered `--delivery push`, sends, receives and acks through a real Mosquitto (the shipped
conf/mosquitto.conf settings, tests/mqtt_broker.py), with the clock over HTTP beside it; the runner
plays everyone else over HTTP, as for any bank. The right bank passes a payment flow, a scenario
with refusals and a lost push; the same bank wrong on purpose fails what it should, and nothing
else. What goes over bank-a's topics is counted at the broker: the bank did use MQTT.
"""

from __future__ import annotations

import contextlib
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from conformance_helpers import SDK_BANK, run_against_the_example_bank
from gateway_helpers import register_delivery
from mqtt_broker import GW_PASSWORD, GW_USER_2, MosquittoBroker
from paho.mqtt.enums import CallbackAPIVersion

from client.mqtt import EMPTY_ACK
from runner.world import DevWorld

# a payment flow (after the close: paid the next morning, its receipt, cleared that day) and refusals:
# the treasury's, the gateway's, and the bank's own return of a procurement payment whose payee is not
# the supplier it names
SCENARIOS = ("after-close-paid-by-1000-next-day", "procurement-payee-not-the-supplier-refused")
# and a push to bank-a lost on the way, pushed again after the gateway's ack timeout (simulated time)
PASSING = (*SCENARIOS, "delivery-dropped-then-redelivered")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    """The dev world with bank-a's deliveries pushed over MQTT (`tgw participants add --delivery push`)."""
    return register_delivery(DevWorld.create(tmp_path_factory.mktemp("conformance-mqtt") / "world"), "bank-a", "push")


BANK_TOPICS = ("tgw/v1/bank-a/outbox", "tgw/v1/bank-a/ack", "tgw/v1/bank-a/inbox")
SUBSCRIBED_S = 30.0  # an upper bound for the broker to confirm a subscription (not a speed check)


@contextlib.contextmanager
def watching(broker: MosquittoBroker) -> Iterator[Counter[str]]:
    """Counts what goes over bank-a's topics (a second gateway login reads every tgw/v1 topic): what
    the bank publishes (vouchers, acks) and what the gateway pushes to it, seen at the broker."""
    seen: Counter[str] = Counter()
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=GW_USER_2, protocol=paho.MQTTv5)
    client.username_pw_set(GW_USER_2, GW_PASSWORD)
    client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in BANK_TOPICS])
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        if message.payload != EMPTY_ACK:  # the SDK's check of its rights at each connect acks nothing
            seen[message.topic] += 1

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(SUBSCRIBED_S), broker.log_tail()
        yield seen
    finally:
        client.disconnect()
        client.loop_stop()


def _accounts(world: DevWorld, *flags: str) -> tuple[str, ...]:
    return ("--accounts", str(world.root / "accounts.yaml"), *flags)


def _played(suite: ET.Element) -> None:
    assert suite.get("errors") == "0", ET.tostring(suite)
    assert [c.get("name") for c in suite.iter("testcase") if c.get("name") == "run"] == []  # not skipped whole
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3


@pytest.mark.slow
def test_the_example_bank_over_mqtt_passes(world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    """A payment flow, refusals and a push lost on the way, one gateway for them (reset between)."""
    with watching(broker) as seen:
        run = run_against_the_example_bank(world, tmp_path, *PASSING, shared=True, broker=broker,
                                           flags=_accounts(world))
    assert [s.get("name") for s in run.suites] == list(PASSING)
    for suite in run.suites:
        _played(suite)
    assert run.failures() == {} and run.code == 0
    # over MQTT: the bank's vouchers and acks went through the broker, its deliveries came from it
    assert all(seen[topic] > 0 for topic in BANK_TOPICS), seen
    assert "as bank-a" in (broker.root / "mosquitto.log").read_text(errors="replace")


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
    with watching(broker) as seen:
        run = run_against_the_example_bank(world, tmp_path, scenario, broker=broker, flags=_accounts(world, flag))
    assert all(seen[topic] > 0 for topic in BANK_TOPICS), seen
    _played(run.suite)
    failures = run.failures()
    assert sorted(failures) == sorted(expected), failures
    for name, words in expected.items():
        assert words in failures[name], failures[name]
    # the voucher's trace under the failed receipt or return: pushed to bank-a
    assert any("pushed       bank-a" in text for text in failures.values()), failures
    assert run.code == 1



def test_the_example_bank_refuses_an_mqtt_url_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error (exit 2) naming what is wrong, before anything connects: the password never in
    the URL (the process list shows it), and one it has to come from somewhere."""
    import runpy

    main = runpy.run_path(str(SDK_BANK), run_name="sdk_bank_cli")["main"]
    secrets = tmp_path / "secrets.json"
    secrets.write_text('{"bank-a": {"token": "t"}}')
    token = ["--token", "t"]
    for flags, words in (([*token, "--mqtt", "mqtt://bank-a:pw@127.0.0.1:1883"], "must not carry the password"),
                         ([*token, "--mqtt", "http://127.0.0.1:1883"], "give mqtt://[USER@]HOST:PORT"),
                         ([*token, "--mqtt", "mqtt://127.0.0.1:port"], "the port is not a number"),
                         ([*token, "--mqtt", "mqtt://127.0.0.1:1883"], "--mqtt needs the password"),
                         (["--secrets", str(secrets), "--mqtt", "mqtt://127.0.0.1"], "--mqtt needs the password")):
        with pytest.raises(SystemExit) as done:
            main(["--url", "http://127.0.0.1:1", "--id", "bank-a", "--bank-code", "999100000001", "--key", "k",
                  "--cert", "c", *flags])
        assert done.value.code == 2 and words in capsys.readouterr().err
