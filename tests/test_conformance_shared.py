"""One test gateway for many conformance scenarios (`--shared-gateway`, runner/conformance_session.py).

In-process: a reset (`POST /v1/sim/reset`, gateway/sim_reset.py) leaves nothing of before visible
(messages, deliveries, inbox cursors, faults, the clock), a clock long-poll of before is answered
and never counts as waiting in the new epoch, and `GET /v1/sim/idle` answers when a participant
has caught up. End to end with real processes (marked slow): scenarios run one after another on
one gateway and one example bank, a failing scenario that leaves a fault and a withheld voucher
behind does not touch the next, and a deliberately wrong bank fails the named expectation in
every scenario as it does with a gateway per scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conformance_helpers import (
    BANK_DAY,
    START,
    client_of,
    in_process_gateway,
    run_against_the_example_bank,
    suite_failures,
    until_waiting,
)
from gateway_helpers import payment
from hypothesis import given
from hypothesis import strategies as st
from test_conformance import WRONG_BANKS

from client import GatewayClient
from gateway.http_common import CLOCK_WAITING_KEY
from gateway.server import RunningServer
from runner.conformance import ConformanceOptions, run_conformance
from runner.conformance_session import SharedGateway
from runner.scenario_file import load_scenario, load_text
from runner.world import DevWorld
from tgw import main as tgw_main

LATER = "2026-03-11T09:00:00+08:00"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("shared") / "world")


async def _call(server: RunningServer, world: DevWorld, pid: str, method: str, path: str,
                body: Any = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {world.participants[pid].token}"}) as s, \
            s.request(method, f"{server.http_url}{path}", json=body) as resp:
        return resp.status, await resp.json(content_type=None)


# ------------------------------------------------------------------------------ the reset


async def test_a_reset_leaves_nothing_of_before_and_sets_the_clock_back(world: DevWorld, tmp_path: Path) -> None:
    """The same voucher is accepted again (not `duplicate`), a delivery of before is gone (its id names
    nothing, no inbox shows it), a fault of before is lifted, and the clock is back at its start."""
    treasury_id = world.treasury.id
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, treasury_id) as treasury, \
            client_of(server, world, "bank-a") as bank:
        voucher = payment(world, voucher_no="ZZSHARED0001")
        [first] = await treasury.send(world.envelope([voucher], sender=treasury_id))
        assert first.status == "accepted" and first.message_id
        [item] = await bank.receive(timeout_s=5)  # received, never acked: still the bank's to ack
        assert item.message_id == first.message_id
        await treasury.advance_clock(LATER)
        status, _ = await _call(server, world, treasury_id, "POST", "/v1/sim/faults", {"offline": "bank-a"})
        assert status == 200
        assert (await treasury.clock())["epoch"] == 0

        status, refused = await _call(server, world, "bank-a", "POST", "/v1/sim/reset", {})
        assert status == 403 and refused["code"] == "not-authorized"
        status, bad = await _call(server, world, treasury_id, "POST", "/v1/sim/reset", {"to": "yesterday"})
        assert status == 400 and bad["code"] == "bad-request"
        status, view = await _call(server, world, treasury_id, "POST", "/v1/sim/reset", {})
        assert status == 200 and view["now"] == START and view["epoch"] == 1

        assert await bank.message(first.message_id) is None  # the id of before names nothing now
        assert await bank.receive(timeout_s=0) == []
        async with client_of(server, world, "bank-a") as fresh:  # a cursor from 0 sees nothing of before either
            assert await fresh.receive(timeout_s=0) == []
        status, faults = await _call(server, world, treasury_id, "GET", "/v1/sim/faults")
        assert status == 200 and faults["offline"] == {} and faults["withheld"] == {}

        [again] = await treasury.send(world.envelope([voucher], sender=treasury_id))
        assert again.status == "accepted" and again.message_id and again.message_id > first.message_id
        [item] = await bank.receive(timeout_s=5)  # the cursor of before still works: the sequence went on
        assert item.message_id == again.message_id
        await bank.ack(item)
        assert (await bank.message(again.message_id) or {}).get("delivery_state") == "acked"


async def test_a_reset_is_for_a_simulated_clock_only(world: DevWorld, tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path, clock="live") as server:
        status, body = await _call(server, world, world.treasury.id, "POST", "/v1/sim/reset", {})
        assert status == 409 and body["code"] == "clock-live"
        status, body = await _call(server, world, world.treasury.id, "GET", "/v1/sim/idle?participant=bank-a")
        assert status == 409 and body["code"] == "clock-live"


async def test_a_clock_long_poll_of_before_a_reset_never_counts_as_waiting_after_it(world: DevWorld,
                                                                                   tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, world.treasury.id) as driver, \
            client_of(server, world, "bank-a") as bank:
        await driver.advance_clock(LATER)
        parked = asyncio.create_task(bank.clock(after=LATER, wait_s=30, epoch=0))
        assert (await until_waiting(driver, "bank-a"))["waiting"] == {"bank-a": LATER}
        await _call(server, world, world.treasury.id, "POST", "/v1/sim/reset", {})
        answer = await parked  # answered by the reset, with the new epoch
        assert answer["epoch"] == 1 and answer["now"] == START
        # still of epoch 0: answered at once, whatever `after` says
        late = await bank.clock(after=LATER, wait_s=30, epoch=0)
        assert late["epoch"] == 1 and late["waiting"] == {}
        # no epoch said: it parks, but nobody can tell it started over: not listed
        unsaid = asyncio.create_task(bank.clock(after=LATER, wait_s=30))
        assert server.runner is not None
        parked_map = server.runner.app[CLOCK_WAITING_KEY]
        for _ in range(2_000):  # until the gateway holds it parked (bounded, never a timing assertion)
            if "bank-a" in parked_map:
                break
            await asyncio.sleep(0.005)
        assert "bank-a" in parked_map and parked_map["bank-a"][2] is None
        assert (await driver.clock())["waiting"] == {} and not unsaid.done()
        unsaid.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await unsaid
        started_over = asyncio.create_task(bank.clock(after=START, wait_s=30, epoch=1))
        assert (await until_waiting(driver, "bank-a"))["waiting"] == {"bank-a": START}
        await driver.advance_clock(LATER)
        assert (await started_over)["now"] == LATER


async def test_sim_idle_answers_when_the_participant_has_acked_and_waits_on_the_clock(world: DevWorld,
                                                                                      tmp_path: Path) -> None:
    treasury_id = world.treasury.id
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, treasury_id) as treasury, \
            client_of(server, world, "bank-a") as bank:
        idle = "/v1/sim/idle?participant=bank-a"
        status, view = await _call(server, world, "bank-a", "GET", idle)
        assert status == 403
        status, view = await _call(server, world, treasury_id, "GET", idle + "&limit=1")
        assert status == 400 and "limit" in view["message"]
        status, view = await _call(server, world, treasury_id, "GET", idle)
        assert status == 200 and view["caught_up"] is False and view["waiting"] is None  # not waiting on the clock
        parked = asyncio.create_task(bank.clock(after=START, wait_s=30, epoch=0))
        await until_waiting(treasury, "bank-a")
        status, view = await _call(server, world, treasury_id, "GET", idle + "&wait=30")
        assert view["caught_up"] is True and view["unacked"] == 0 and view["waiting"] == START
        [sent] = await treasury.send(world.envelope([payment(world)], sender=treasury_id))
        assert sent.status == "accepted" and sent.recipient == "bank-a"
        status, view = await _call(server, world, treasury_id, "GET", idle)
        assert view["caught_up"] is False and view["unacked"] == 1 and view["ready"] == {"bank-a": 1}
        waiting = asyncio.create_task(_call(server, world, treasury_id, "GET", idle + "&wait=30"))
        [item] = await bank.receive(timeout_s=5)
        assert not waiting.done()
        await bank.ack(item)  # the ack wakes the long-poll
        status, view = await waiting
        assert view["caught_up"] is True and view["unacked"] == 0 and view["ready"] == {}
        parked.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await parked


async def test_a_system_that_does_not_start_over_is_the_scenarios_error(world: DevWorld, tmp_path: Path) -> None:
    """A "bank" that waits on the clock but never says its epoch: before the reset it counts as
    waiting, after it never does: the scenario is in error, saying what the system must do."""

    async def old_bank(client: GatewayClient) -> None:
        after = None
        while True:
            view = await (client.clock(after=after, wait_s=5) if after else client.clock())
            after = view["now"]

    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, "bank-a") as bank:
        assert server.http_url is not None
        task = asyncio.create_task(old_bank(bank))
        try:
            opts = ConformanceOptions("bank-a", server.http_url, world.root, startup_s=0.5)
            shared = SharedGateway(opts)
            r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "run", opts, before=shared.before)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert r.error is not None and "did not wait on the clock in the new epoch" in r.error
    assert "epoch" in r.error and shared.resets == 1


def test_shared_gateway_needs_a_system_that_waits_on_the_clock(world: DevWorld) -> None:
    assert tgw_main(["scenario", "run", str(BANK_DAY), "--shared-gateway", "--quiet"]) == 2
    assert tgw_main(["scenario", "run", str(BANK_DAY), "--external", "bank-a", "--url", "http://x", "--world",
                     str(world.root), "--shared-gateway", "--quiet-window", "1", "--quiet"]) == 2


# ------------------------------------------------------------------------------ end to end: processes

# A scenario that fails and leaves a mess: bank-a offline for good, a payment withheld from it (the
# same voucher number as bank-day's first payment), and a receipt expected that cannot come.
POISON = """
scenario: leaves-a-mess
title: bank-a left offline with a payment withheld, and a receipt expected that cannot come
world: {start: 2026-03-10}
steps:
  - at: "09:00"
    offline: bank-a
  - at: "10:00"
    send: {id: morning, template: direct-payment, bank: bank-a, amount: "1200.00"}
expect:
  - receipt: {voucher: morning, from: bank-a, fields: {XPayDate: "20260310", XPayAmt: "1200.00"}}
    by: "10:00"
"""


@pytest.mark.slow
def test_a_failing_scenario_leaves_nothing_for_the_next_on_a_shared_gateway(world: DevWorld, tmp_path: Path) -> None:
    """One gateway, one example bank: the mess fails its expectation, then bank-day passes twice
    (its vouchers accepted anew, not duplicates; its bank's books fresh: 3 clearing requests each)."""
    poison = tmp_path / "leaves-a-mess.yaml"
    poison.write_text(POISON, encoding="utf-8")
    assert load_text(POISON).steps  # a valid scenario
    run = run_against_the_example_bank(world, tmp_path, poison, BANK_DAY, BANK_DAY, shared=True)
    mess, first, second = run.suites
    assert sorted(suite_failures(mess)) == ["[0] receipt for morning"] and mess.get("errors") == "0"
    for suite in (first, second):
        assert suite.get("tests") == "10" and suite.get("errors") == "0" and suite_failures(suite) == {}
    assert run.code == 1  # the mess failed; nothing else did


@pytest.mark.slow
def test_a_wrong_bank_fails_the_named_expectation_in_every_scenario_on_a_shared_gateway(world: DevWorld,
                                                                                        tmp_path: Path) -> None:
    """The verdicts stay right in shared mode: the bank whose reports are a fen too high fails
    reports-match, and only it, each time (as with a gateway per scenario, test_conformance.py)."""
    expected = WRONG_BANKS["--skew-reports"]
    run = run_against_the_example_bank(world, tmp_path, BANK_DAY, BANK_DAY, flags=("--skew-reports",), shared=True)
    suites = run.suites
    assert len(suites) == 2 and run.code == 1
    for suite in suites:
        failures = suite_failures(suite)
        assert sorted(failures) == sorted(expected) and suite.get("errors") == "0", failures
        for name, words in expected.items():
            assert words in failures[name]
    assert run.failures()  # the same reading as the per-scenario tests


def test_the_example_bank_starts_over_on_a_new_epoch() -> None:
    """The example bank's books after a reset are new ones, on the same calendar (built once)."""
    import runpy

    mod = runpy.run_path(str(Path(__file__).resolve().parent.parent / "examples" / "sdk_bank.py"),
                         run_name="sdk_bank_books")
    made: list[Any] = []

    def make() -> Any:
        made.append(mod["Bank"]("bank-a", "999100000001", "示例银行", 100))
        return made[-1]

    runner = mod["Runner"](make, object(), object())
    first = runner.bank
    first.payments["x"] = object()
    assert runner._start_over({"now": START, "epoch": 0}) is True and runner.bank is not first  # the first epoch seen
    runner.bank.payments["y"] = object()
    assert runner._start_over({"now": LATER, "epoch": 0}) is False and "y" in runner.bank.payments
    assert runner._start_over({"now": START, "epoch": 1}) is True
    assert runner.bank.payments == {} and runner.bank.cursor == dt.datetime.fromisoformat(START)


@pytest.mark.slow
def test_bench_conformance_times_the_documented_script_and_counts_what_it_started(tmp_path: Path) -> None:
    """`tgw bench --conformance` runs docs/conformance.md's script as written: one gateway, one runner,
    no fixed sleeps, and the JUnit counts beside the times (smoke only: no time is asserted)."""
    import json

    out = tmp_path / "conformance.json"
    assert tgw_main(["bench", "--conformance", "--scenarios", str(BANK_DAY), "-o", str(out)]) == 0
    [row] = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert row["code"] == "after" and row["exit"] == 0
    assert (row["gateway_starts"], row["runner_processes"], row["sleeps"]) == (1, 1, 0)
    assert (row["scenarios"], row["passed"], row["failed"], row["errors"]) == (1, 1, 0, 0)
    assert row["expectations"] == 10 and row["wall_s"] > 0 and row["cpu_s"] > 0


@given(epoch=st.integers(min_value=0, max_value=5),
       waiters=st.dictionaries(st.sampled_from(["bank-a", "bank-b", "pboc-990100"]),
                               st.one_of(st.none(), st.integers(min_value=0, max_value=5)), max_size=3))
def test_only_a_wait_in_the_current_epoch_counts(epoch: int, waiters: dict[str, int | None]) -> None:
    """The rule of `waiting` (gateway.http_app.clock_waiting): listed iff it gave the current epoch,
    or gave none before the first reset."""
    from gateway.http_common import clock_waiting

    after = dt.datetime.fromisoformat(START)
    listed = clock_waiting({pid: (after, None, given) for pid, given in waiters.items()}, epoch)
    assert set(listed) == {pid for pid, given in waiters.items() if given == epoch or (given is None and epoch == 0)}
    assert all(v == START for v in listed.values())


@given(text=st.text(max_size=14))
def test_the_epoch_parameter_is_a_whole_number_or_refused(text: str) -> None:
    from gateway.http_common import parse_epoch

    got = parse_epoch(text)
    if text.isascii() and text.isdigit() and len(text) <= 12:
        assert got == int(text)
    else:
        assert got is False
