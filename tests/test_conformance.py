"""Conformance mode (`tgw scenario run --external`, runner/conformance.py, docs/conformance.md).

End to end with real processes: a `tgw up` subprocess on SQLite with a simulated clock, and the
SDK-only bank (`examples/sdk_bank.py`) in its own process; the runner drives the clock over HTTP.
One such pair serves the module's tests for each set of bank flags and clock start (the `banks`
fixture): each test's run resets the gateway and waits for the bank to start over
(`--shared-gateway`), so no test sees what another left.
The right bank passes; each deliberately wrong variant fails exactly the expectations it should.
The copy-paste script of docs/conformance.md is run as written. The clock's long-poll (how the
runner knows a real system has caught up) is tested on its own, in-process.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime as dt
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance_helpers import (
    BANK_DAY,
    BIN,
    ROOT,
    SDK_BANK,
    START,
    SharedBanks,
    client_of,
    in_process_gateway,
    until_waiting,
)
from conformance_helpers import failures as _failures
from conformance_helpers import gateway_and_bank as _gateway_and_bank

from client import ClientError, GatewayClient
from gateway.server import RunningServer, ServerConfig, start_server
from runner.conformance import ConformanceOptions, applicability, run_conformance
from runner.scenario_file import load_scenario, load_text
from runner.world import DevWorld
from tgw import main as tgw_main

__all__ = ["BANK_DAY", "START", "WRONG_BANKS", "_failures", "_gateway_and_bank"]  # for the other conformance tests


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("conformance") / "world")


@pytest.fixture(scope="module")
def banks(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedBanks]:
    """The end-to-end tests' `tgw up` and example bank, one pair per bank flags and clock start for
    the module; each run resets the gateway and waits for the bank to start over (SharedBanks)."""
    shared = SharedBanks(world, tmp_path_factory.mktemp("banks"))
    try:
        yield shared
    finally:
        shared.close()


# ------------------------------------------------------------------------------ the SDK-only bank


def test_the_sdk_bank_imports_only_the_client_sdk_and_formats() -> None:
    tree = ast.parse(SDK_BANK.read_text(encoding="utf-8"))
    roots = {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    project = {"client", "messages", "business_time", "sim", "gateway", "bank_sim", "pboc_sim", "treasury_sim",
               "runner", "ledger", "storage", "tgw"}
    assert roots & project == {"client", "messages", "business_time"}


# ------------------------------------------------------------------------------ which scenarios run

SCRIPTS_BANK_A = """
scenario: scripts-bank-a
title: bank-a's receipt is scripted
world: {start: 2026-03-10}
steps:
  - at: "10:00"
    send: {id: v, template: direct-payment, bank: bank-a, amount: "10.00"}
  - at: "10:05"
    send: {id: r, template: receipt, of: v, from: bank-a}
expect:
  - accepted: {voucher: v}
"""


def _scenario(world_yaml: str, steps: str = "", expect: str = "  - invariants: {}\n") -> Any:
    return load_text(f"scenario: s\ntitle: t\nworld: {world_yaml}\nsteps:\n{steps or '  []'}\nexpect:\n{expect}")


def test_a_return_from_the_bank_under_test_as_the_payees_bank_is_a_skip_not_a_crash() -> None:
    """bank-a's payment comes back from its payee's bank, which the runner plays with the other
    bank: with bank-b under test there is no bank left to play it (it used to crash on bank-b's key)."""
    s = load_scenario(ROOT / "scenarios" / "refund-payee-return-prompt-bank.yaml")
    assert applicability(s, "bank-a")[0] is None  # bank-b (simulated) plays the payee's bank
    why = applicability(s, "bank-b")[0] or ""
    assert "bank-a's payment comes back from its payee's bank" in why and "simulated mode only" in why


def test_applicability_says_why_a_scenario_cannot_run() -> None:
    scripted = load_text(SCRIPTS_BANK_A)
    assert "scripts what bank-a sends" in (applicability(scripted, "bank-a")[0] or "")
    assert applicability(scripted, "bank-b")[0] is None  # bank-b is not scripted there
    own = _scenario('{start: 2026-03-10, banks: [{id: bank-a, code: "999100000001", reserve: "5.00"}]}')
    assert "gives bank-a a clearing reserve of 5.00 yuan" in (applicability(own, "bank-a")[0] or "")
    schedule = _scenario('{start: 2026-03-10, banks: [{id: bank-a, code: "999100000001", filing_time: "15:59"}]}')
    assert applicability(schedule, "bank-a")[0] is None  # a real bank runs on its own schedule
    assert "not a participant" in (applicability(own, "bank-b")[0] or "")
    other = _scenario('{start: 2026-03-10, banks: [{id: bank-a, code: "999100000001"}, '
                      '{id: bank-b, code: "999100000002", profile: external}]}')
    assert "run it with --external bank-b" in (applicability(other, "bank-a")[0] or "")
    assert "not supported yet" in (applicability(own, "pboc")[0] or "")
    treasury = load_scenario(BANK_DAY)
    assert "scripts what treasury sends" in (applicability(treasury, "treasury")[0] or "")
    assert "not supported yet" in (applicability(_scenario("{start: 2026-03-10}"), "treasury")[0] or "")
    faulty = _scenario("{start: 2026-03-10}", steps='  - at: "10:00"\n    fault: {to: bank-a, kind: drop}\n')
    assert applicability(faulty, "bank-a")[0] is None  # the test gateway loses it (POST /v1/sim/faults)
    assert "only a duplicate" in (applicability(faulty, "bank-b")[0] or "")  # bank-a is the runner's then
    delayed = _scenario("{start: 2026-03-10}", steps='  - at: "10:00"\n    fault: {to: bank-a, kind: delay, delay: 5m}\n')
    assert "does not duplicate or delay" in (applicability(delayed, "bank-a")[0] or "")
    offline = _scenario("{start: 2026-03-10}", steps='  - at: "10:00"\n    offline: bank-a\n')
    assert applicability(offline, "bank-a")[0] is None  # the test gateway withholds its deliveries
    twice = '  - at: "10:00"\n    fault: {to: %s, kind: duplicate}\n'
    assert applicability(_scenario("{start: 2026-03-10}", steps=twice % "bank-b"), "bank-a")[0] is None
    assert "delivery faults" in (applicability(_scenario("{start: 2026-03-10}", steps=twice % "bank-a"), "bank-a")[0]
                                 or "")
    balance = _scenario("{start: 2026-03-10}", expect='  - balance: {owner: bank-a, account: reserve, equals: "1.00"}\n'
                                                      '  - balance: {owner: pboc, account: "pboc:tsa", equals: "1.00"}\n')
    reason, skipped = applicability(balance, "bank-a")
    assert reason is None and [(e.index, "books of bank-a" in why) for e, why in skipped] == [(0, True)]
    quota = _scenario("{start: 2026-03-10}", expect='  - unit_quota: {owner: bank-a, unit: "101001", equals: "1.00"}\n'
                                                    '  - unit_quota: {owner: treasury, unit: "101001", equals: "1.00"}\n')
    reason, skipped = applicability(quota, "bank-a")
    assert reason is None and [(e.index, "books of bank-a" in why) for e, why in skipped] == [(0, True)]


def test_a_bank_profile_is_a_simulated_banks_only_payee_returns_and_the_scorecard_run() -> None:
    """Before: a scenario giving bank-a a faulty profile ran, and failed, against a real bank. Payee returns
    run: the payee's bank is a bank of the world, its notice (2252) reaches the real bank. The scorecard
    of the real bank runs too (before: skipped, "conformance mode does not score a real system yet"):
    it is drawn from what the bank sent and when."""

    def world(extra: str) -> str:
        return '{start: 2026-03-10, banks: [{id: bank-a, code: "999100000001"' + extra + "}]}"

    for extra, name in ((", profile: faulty", "`faulty`"), (', profile: slow, params: {late_time: "14:00"}', "`slow`")):
        why = applicability(_scenario(world(extra)), "bank-a")[0] or ""
        assert f"simulated bank in its {name} behaviour profile" in why and "simulated mode only" in why
    returns = _scenario('{start: 2026-03-10, banks: [{id: bank-a, code: "999100000001", returns: [{voucher: p, at: '
                        '"D+1 10:00"}]}, {id: bank-b, code: "999100000002"}]}',
                        steps='  - at: "10:00"\n    send: {id: p, template: direct-payment, bank: bank-a, amount: "1.00", '
                              'voucher_no: ZZRET1}\n')
    assert applicability(returns, "bank-a")[0] is None  # the payee's bank (bank-b) sends bank-a a 2252
    assert applicability(_scenario(world(", profile: prompt")), "bank-a")[0] is None
    scored = _scenario("{start: 2026-03-10}", expect="  - scorecard: {bank: bank-a, month: 2026-03, flagged: false}\n"
                                                     "  - scorecard: {bank: bank-b, month: 2026-03, flagged: false}\n")
    assert applicability(scored, "bank-a") == (None, [])


def test_a_world_without_the_scenarios_bank_skips_it(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "w", banks=[("bank-a", "999100000009", "示例银行")])
    reason, _ = applicability(load_scenario(BANK_DAY), "bank-a", world)
    assert reason is not None and "no bank bank-a with code 999100000001" in reason


def test_a_skipped_scenario_is_a_skipped_testcase_with_its_reason(world: DevWorld, tmp_path: Path) -> None:
    path = tmp_path / "scripts-bank-a.yaml"
    path.write_text(SCRIPTS_BANK_A, encoding="utf-8")
    junit = tmp_path / "out.xml"
    code = tgw_main(["scenario", "run", str(path), "--external", "bank-a", "--url", "http://127.0.0.1:9",
                     "--world", str(world.root), "--junit", str(junit), "--quiet"])
    assert code == 0  # skipped is not failed; no gateway was needed to decide it
    [case] = ET.parse(junit).getroot().iter("testcase")
    skipped = case.find("skipped")
    assert case.get("name") == "run" and skipped is not None
    assert "scripts what bank-a sends" in (skipped.get("message") or "")


def test_usage_errors(world: DevWorld) -> None:
    assert tgw_main(["scenario", "run", str(BANK_DAY), "--external", "bank-a", "--quiet"]) == 2
    assert tgw_main(["scenario", "run", str(BANK_DAY), "--url", "http://x", "--quiet"]) == 2
    assert tgw_main(["scenario", "run", str(BANK_DAY), "--external", "bank-a", "--url", "http://x", "--world",
                     str(world.root), "--wake", "25:00", "--quiet"]) == 2


def test_a_gateway_that_is_not_there_is_the_runs_error(world: DevWorld, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    junit = tmp_path / "out.xml"
    code = tgw_main(["scenario", "run", str(BANK_DAY), "--external", "bank-a", "--url", f"http://127.0.0.1:{port}",
                     "--world", str(world.root), "--junit", str(junit), "--quiet"])
    assert code == 1
    [error] = ET.parse(junit).getroot().iter("error")
    assert f"the gateway at http://127.0.0.1:{port}" in (error.get("message") or "")


def test_scenario_world_makes_the_world_a_conformance_gateway_runs_with(tmp_path: Path) -> None:
    assert tgw_main(["scenario", "world", str(tmp_path / "bad"), "--bank", "bank-a:12345"]) == 2
    assert tgw_main(["scenario", "world", str(tmp_path / "w"), "--bank", "bank-x:999100000077:示例银行"]) == 0
    made = DevWorld.load(tmp_path / "w")
    assert sorted(p.role for p in made.participants.values()) == ["bank", "pboc", "treasury"]
    assert made.participants["bank-x"].bank_codes == ("999100000077",)


# ------------------------------------------------------------------------------ the clock's long-poll


async def test_a_participant_waiting_on_the_clock_is_listed_and_answered_when_it_moves(world: DevWorld,
                                                                                       tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, "bank-a") as bank, \
            client_of(server, world, world.treasury.id) as driver:
        view = await bank.clock()
        assert view["waiting"] == {} and view["now"] == START
        assert (await bank.clock(after="2026-03-10T07:00:00+08:00", wait_s=30))["now"] == START  # past: at once
        parked = asyncio.create_task(bank.clock(after=START, wait_s=30))
        seen = await until_waiting(driver, "bank-a")
        assert seen["waiting"] == {"bank-a": START} and not parked.done()
        moved = await driver.advance_clock("2026-03-10T09:00:00+08:00")
        answer = await parked
        assert answer["now"] == moved["now"] == "2026-03-10T09:00:00+08:00"
        assert (await driver.clock())["waiting"] == {}


async def test_a_clock_long_poll_answers_only_once_the_clock_is_past_its_after(world: DevWorld,
                                                                              tmp_path: Path) -> None:
    """`after=T` says "done up to T": a move of the clock to a time before T, or to T itself, leaves
    the caller parked and listed under `waiting`; the first move past T answers it."""
    later = "2026-03-10T10:00:00+08:00"
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, "bank-a") as bank, \
            client_of(server, world, world.treasury.id) as driver:
        parked = asyncio.create_task(bank.clock(after=later, wait_s=30, epoch=0))
        await until_waiting(driver, "bank-a")
        for to in ("2026-03-10T09:00:00+08:00", later):  # before T, then T itself: still parked
            assert (await driver.advance_clock(to))["now"] == to
            assert (await driver.clock())["waiting"] == {"bank-a": later} and not parked.done()
        moved = await driver.advance_clock("2026-03-10T10:00:01+08:00")
        answer = await parked
        assert answer["now"] == moved["now"] == "2026-03-10T10:00:01+08:00"
        assert (await driver.clock())["waiting"] == {}


async def test_a_gateway_shutting_down_answers_a_parked_clock_long_poll(world: DevWorld, tmp_path: Path) -> None:
    """Before the fix a parked long-poll held the drain for its whole shutdown timeout, then was cut off."""
    server = await start_server(ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                                             db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0,
                                             clock_mode="simulated", clock_start=START))
    stopped = False
    try:
        async with client_of(server, world, "bank-a") as bank, client_of(server, world, world.treasury.id) as driver:
            parked = asyncio.create_task(bank.clock(after=START, wait_s=60))
            await until_waiting(driver, "bank-a")
            await server.stop()
            stopped = True
            assert (await parked)["now"] == START  # answered, not cut off
    finally:
        if not stopped:
            await server.stop()


@pytest.mark.parametrize("query", ["after=2026-03-10T09:00:00&wait=1", "after=yesterday", "after=" + START + "&wait=61",
                                   "after=" + START + "&wait=nan", "since=" + START, "after=a&after=b"])
async def test_clock_long_poll_refuses_what_it_does_not_understand(world: DevWorld, tmp_path: Path,
                                                                   query: str) -> None:
    import aiohttp

    async with in_process_gateway(world, tmp_path) as server, aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {world.treasury.token}"}) as session, \
            session.get(f"{server.http_url}/v1/clock?{query.replace('+', '%2B')}") as resp:
        body = await resp.json()
        assert resp.status == 400 and body["code"] == "bad-request"


async def test_the_sdk_reads_the_clock_and_message_status_over_http_only(world: DevWorld) -> None:
    class _NoEndpoint:
        def connect(self, participant_id: str, *, push: bool = True) -> Any:
            raise AssertionError("not used")

    client = GatewayClient.bus(_NoEndpoint(), "bank-a")
    with pytest.raises(ClientError) as err:
        await client.clock()
    assert err.value.code == "not-implemented"


# ------------------------------------------------------------------------------ the runner in-process


def _options(world: DevWorld, server: RunningServer, **kw: Any) -> ConformanceOptions:
    assert server.http_url is not None
    return ConformanceOptions("bank-a", server.http_url, world.root, **kw)


async def test_a_system_that_never_waits_on_the_clock_ends_the_run_with_an_error(world: DevWorld,
                                                                                 tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path) as server:
        r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "run", _options(world, server, startup_s=0.2))
    assert r.error is not None and "did not catch up" in r.error and "waiting on GET /v1/clock" in r.error


async def test_a_gateway_past_the_start_or_on_other_cutoffs_skips_the_scenario(world: DevWorld, tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path, start="2026-03-11T08:00:00+08:00") as server:
        r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "a", _options(world, server))
        assert r.skipped is not None and "past the scenario's start" in r.skipped and r.ok
        other = _scenario("{start: 2026-03-12, clock: {clearing_cutoff: \"15:00\"}}")
        r = await run_conformance(other, tmp_path / "b", _options(world, server))
        assert r.skipped is not None and "is not the gateway's" in r.skipped


async def test_a_gateway_on_the_calendars_last_day_is_compared_by_the_cutoffs_still_ahead(world: DevWorld,
                                                                                           tmp_path: Path) -> None:
    """docs/calendar.md, "The last days known": on 2026-12-31 the gateway lists the cutoffs still
    ahead that day; the runner compares its own the same way. Was: the runner asked for the next
    business day's cutoffs and the run ended with calendar-out-of-range."""
    async with in_process_gateway(world, tmp_path, start="2026-12-31T08:00:00+08:00") as server:
        same = _scenario("{start: 2026-12-31}")  # the same clock: not skipped, waits for bank-a (absent here)
        r = await run_conformance(same, tmp_path / "a", _options(world, server, startup_s=0.2))
        assert r.skipped is None and r.error is not None and "did not catch up" in r.error, (r.skipped, r.error)
        other = _scenario("{start: 2026-12-31, clock: {clearing_cutoff: \"15:00\"}}")
        r = await run_conformance(other, tmp_path / "b", _options(world, server))
        assert r.skipped is not None and "is not the gateway's" in r.skipped, (r.skipped, r.error)
        r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "c", _options(world, server))
        assert r.skipped is not None and "past the scenario's start" in r.skipped, (r.skipped, r.error)


async def test_quiet_window_mode_runs_a_system_that_does_not_wait_on_the_clock(world: DevWorld, tmp_path: Path) -> None:
    """A "bank" that acks what it gets and never waits on the clock, in quiet-window mode: the run
    completes (nothing from bank-a for the window after a move counts as caught up) and fails the
    expectations on what bank-a never sent."""

    async def acker(client: GatewayClient) -> None:
        while True:
            items = await client.receive(timeout_s=1.0)
            if items:
                await client.ack(*items)

    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, "bank-a") as bank:
        acking = asyncio.create_task(acker(bank))
        try:
            r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "run",
                                      _options(world, server, quiet_s=0.02, tick=None, patience_s=5.0))
        finally:
            acking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acking
    assert r.error is None and r.observed is not None
    failed = {o.name for o in r.failed}
    assert {"receipt for morning", "clearing includes morning", "reconciliation"} <= failed
    assert "invariants" not in failed  # the simulated participants' books are sound


async def _moves_with_a_system_done_up_to(world: DevWorld, tmp_path: Path, until: dt.datetime | None) -> list[dt.datetime]:
    """Where the runner stopped the gateway's clock in tests/conformance/bank-day.yaml for a
    "bank" that acks what it gets and waits on the clock `after` `until` while the clock is before
    it (else after the `now` it read: every stop)."""

    async def acker(client: GatewayClient) -> None:
        while True:
            items = await client.receive(timeout_s=1.0)
            if items:
                await client.ack(*items)

    async def waiter(client: GatewayClient) -> None:
        view = await client.clock()
        while True:
            now = dt.datetime.fromisoformat(view["now"])
            after = until if until is not None and now < until else now
            view = await client.clock(after=after.isoformat(), wait_s=5.0, epoch=view.get("epoch"))

    moves: list[dt.datetime] = []
    await asyncio.to_thread(tmp_path.mkdir)
    async with in_process_gateway(world, tmp_path) as server, client_of(server, world, "bank-a") as bank:
        server.gateway.clock.on_change(moves.append)
        tasks = [asyncio.create_task(acker(bank)), asyncio.create_task(waiter(bank))]
        try:
            r = await run_conformance(load_scenario(BANK_DAY), tmp_path / "run", _options(world, server, patience_s=5.0))
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert r.error is None and r.observed is not None
    return moves


async def test_grid_stops_a_system_is_done_past_are_passed_over(world: DevWorld, tmp_path: Path) -> None:
    """A system waiting on the clock `after` a later time than now says it has done everything due
    up to then: the runner passes over the grid stops up to it (stopping there would not wake it),
    stops at the first one past it, and keeps every stop of the scenario; a system waiting after
    the `now` it read gets every grid stop."""
    day = dt.date(2026, 3, 10)

    def at(hh_mm: str) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.fromisoformat(hh_mm), tzinfo=dt.timezone(dt.timedelta(hours=8)))

    every = await _moves_with_a_system_done_up_to(world, tmp_path / "every", None)
    done = at("14:59:59.999999")
    fewer = await _moves_with_a_system_done_up_to(world, tmp_path / "fewer", done)
    # from the step at 10:00 to 15:00 nothing but the grid stops the clock (the simulated bank's
    # wake-ups are before 10:00 and after 15:00)
    grid_before = [t for t in every if at("10:00") < t <= done]
    assert at("10:15") in grid_before and at("14:45") in grid_before  # the grid, for a system that waits after now
    assert at("10:00") in fewer  # the scenario's step
    assert not set(grid_before) & set(fewer), "a grid stop the system had said it was done past"
    assert at("15:00") in fewer  # the first grid stop past its wait
    assert {t for t in every if t > done} <= set(fewer)  # from there on, every stop as before
    assert len(fewer) < len(every)


# ------------------------------------------------------------------------------ end to end: processes


# flag → the expectations of tests/conformance/bank-day.yaml it must fail (and a word of each failure)
WRONG_BANKS = {
    "--late-receipts": {"[0] receipt for morning": "at 2026-03-11 11:30:00",
                        "[1] receipt for advance": "at 2026-03-11 11:30:00",
                        "[2] receipt for evening": "no receipt arrived",
                        "[8] reconciliation": "not-paid"},
    "--wrong-xfields": {"[0] receipt for morning": "XPayDate=20260311, XPayAmt=1199.99",
                        "[1] receipt for advance": "XPayDate=20260311, XPayAmt=345.66",
                        "[2] receipt for evening": "XPayDate=20260312, XPayAmt=87.99",
                        "[8] reconciliation": "receipt-amount"},
    # refused, the bank holds the payments and files them again at each round (the sweep, the next
    # day's 15:30 and sweep), never from the reserve (004 part 3 第四条): the replenishment [4] of
    # the real advance is right, the rest is not
    "--over-quota": {"[3] clearing includes morning": "rejected over-quota",
                     "[5] clearing includes evening": "rejected over-quota",
                     "[6] count of 2301 flag 0 equals 3": "actual:   7",
                     "[8] reconciliation": "clearing-sum"},
    # the daily report 0.01 more than was cleared that day (the morning's 1200.00; the advance is
    # cleared by the next morning's replenishment, 004 part 5 §2): that expectation alone fails. A
    # late or wrong receipt leaves the report right: it counts what the central bank cleared
    "--skew-reports": {"[9] reports-match (the daily report states what was cleared, to the fen)":
                       "PayAmt 1200.01, receipts 1200.00 DIFFERS"},
}


@pytest.mark.slow
@pytest.mark.parametrize("flag", [None, *WRONG_BANKS])
def test_the_sdk_bank_passes_and_each_wrong_bank_fails_exactly_what_it_should(banks: SharedBanks, tmp_path: Path,
                                                                              flag: str | None) -> None:
    html = tmp_path / "report.html"
    run = banks.run(tmp_path, BANK_DAY, flags=(flag,) if flag else (), html=html)
    code, suite = run.code, run.suite
    assert suite.get("tests") == "10" and suite.get("errors") == "0"
    failures = run.failures()
    expected = WRONG_BANKS[flag] if flag else {}
    assert sorted(failures) == sorted(expected), failures
    for name, words in expected.items():
        assert words in failures[name] and "expected: " in failures[name] and "actual:   " in failures[name]
    assert code == (1 if flag else 0)
    assert "conformance mode: bank-a" in html.read_text(encoding="utf-8")


# the clock-edge scenarios bank-a plays, against the example bank on three schedules inside the rules
# (first filing, replenishment, the overnight queue paid): each passes; bench/conformance_schedules.sh
# runs the whole catalogue so
EDGES_OF_BANK_A = ("edge-1529-in-the-days-clearing", "edge-1700-at-the-close-deferred",
                   "after-close-paid-by-1000-next-day",
                   # an over-quota refusal is due before the 16:00 cutoff (before: by 15:30, which a bank
                   # filing at 15:45 or 15:55 failed)
                   "pboc-clearing-quota-per-fund-type", "urgent-payment-carries-the-days-clearing-to-1630")
SCHEDULES = (("--filing", "15:30", "--replenish", "08:30", "--open", "08:00"),
             ("--filing", "15:45", "--replenish", "09:45", "--open", "09:55"),
             ("--filing", "15:55", "--replenish", "08:45", "--open", "09:00"))


@pytest.mark.slow
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: "-".join(s[1::2]))
@pytest.mark.parametrize("scenario", EDGES_OF_BANK_A)
def test_the_clock_edges_pass_for_a_bank_on_any_schedule_inside_the_rules(banks: SharedBanks, tmp_path: Path,
                                                                           scenario: str,
                                                                           schedule: tuple[str, ...]) -> None:
    run = banks.run(tmp_path, scenario, flags=schedule)
    suite = run.suite
    assert suite.get("errors") == "0"
    # run, not skipped whole: at most an expectation on bank-a's own books is left out
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3
    assert run.failures() == {} and run.code == 0


# the account registry (7601) against the example bank: the world's accounts at bank-a reach it by
# notice at the start; it returns vouchers on accounts not opened or closed, confirms within 3 working days
REGISTRY_OF_BANK_A = ("account-registry-opened-on-notice-then-paid", "account-registry-closed-then-returned",
                      "account-registry-voucher-on-unopened-account-returned", "account-registry-opening-day-4-late",
                      "account-registry-zba-to-own-declared-real-fund-account")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", REGISTRY_OF_BANK_A)
def test_the_account_registry_scenarios_pass_against_the_example_bank(banks: SharedBanks, tmp_path: Path,
                                                                      scenario: str) -> None:
    run = banks.run(tmp_path, scenario)
    suite = run.suite
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    assert run.failures() == {} and run.code == 0


# the catalogue's scenarios that take bank-a offline or lose a delivery to it: the test gateway
# withholds and loses deliveries on a simulated clock (POST /v1/sim/faults, gateway/sim_faults.py)
FAULTS_OF_BANK_A = ("offline-bank-across-the-cutoff", "delivery-dropped-then-redelivered",
                    "quota-carried-voucher-gets-the-next-days-quota", "replenishment-next-morning-until-noon",
                    "replenishment-after-noon-accepted-and-scored-late")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", FAULTS_OF_BANK_A)
def test_offline_and_lost_deliveries_run_against_a_real_bank_and_pass(banks: SharedBanks, tmp_path: Path,
                                                                      scenario: str) -> None:
    run = banks.run(tmp_path, scenario)
    suite = run.suite
    assert suite.get("errors") == "0"
    # run, not skipped whole (a skipped scenario is one `run` testcase); at most an expectation
    # on bank-a's own books is left out
    assert [c.get("name") for c in suite.iter("testcase") if c.get("name") == "run"] == []
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3
    assert run.failures() == {} and run.code == 0


# the statements a bank sends at the start of a month: its statement to the treasury (3501), each
# unit's statement (7104, its sign-off sheet comes back) and the clearing reserve's (7203)
STATEMENTS_OF_BANK_A = ("reports-unit-statements-and-sign-off-sheets", "reports-monthly-by-basic-unit")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", STATEMENTS_OF_BANK_A)
def test_the_example_banks_monthly_statements_pass(banks: SharedBanks, tmp_path: Path, scenario: str) -> None:
    run = banks.run(tmp_path, scenario)
    suite = run.suite
    assert suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 1
    assert run.failures() == {} and run.code == 0


@pytest.mark.slow
def test_a_bank_that_does_not_catch_up_when_it_is_back_fails_the_named_expectation(banks: SharedBanks,
                                                                                   tmp_path: Path) -> None:
    """offline-bank-across-the-cutoff against the example bank with --late-receipts."""
    run = banks.run(tmp_path, "offline-bank-across-the-cutoff", flags=("--late-receipts",))
    code, failures = run.code, run.failures()
    # withheld while offline, the voucher reaches it at 16:40; a bank that pays it only the next
    # day at 11:30 fails the receipt that was due on its return, and nothing else
    assert sorted(failures) == ["[2] receipt for held"], failures
    assert "at 2026-03-11 11:30:00" in failures["[2] receipt for held"] and code == 1


def test_the_example_bank_refuses_a_schedule_outside_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    for flags, words in ((["--filing", "16:00"], "--filing 16:00"), (["--replenish", "12:00"], "--replenish 12:00"),
                         (["--open", "10:30"], "--open 10:30"), (["--open", "9"], "not a time of day")):
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(SDK_BANK), run_name="sdk_bank_cli")["main"](
                ["--url", "http://127.0.0.1:1", "--id", "bank-a", "--bank-code", "999100000001", "--key", "k",
                 "--cert", "c", "--token", "t", *flags])
        assert done.value.code == 2 and words in capsys.readouterr().err


# the copy-paste script of docs/conformance.md, run as written on a handful of catalogue scenarios
HANDFUL = ("after-close-paid-by-1000-next-day", "edge-1559-cleared-same-day", "quota-exhausted-over-quota",
           "receipt-from-the-wrong-bank", "corrupt-signature-refused")


def _doc_script() -> str:
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- conformance\.sh[^>]*-->\n```bash\n(.*?)```", text, re.S)
    assert m, "docs/conformance.md lost its script block"
    return m.group(1)


def test_the_doc_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n"], input=_doc_script(), text=True, check=True)


def test_the_doc_scripts_default_is_the_whole_catalogue(tmp_path: Path) -> None:
    m = re.search(r"SCENARIOS=\$\{SCENARIOS:-\$\((.*?)\)\}\n", _doc_script(), re.S)
    assert m, "the script's SCENARIOS default moved"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", m.group(1)], env=env, capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == [str(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]


def test_the_doc_scripts_system_starts_outside_the_repo(tmp_path: Path) -> None:
    """Before: `python3 examples/sdk_bank.py`, a path relative to a checkout: from a bank's own
    directory the example bank could not start."""
    m = re.search(r"\nstart_system\(\) \{.*?\n\}\n", _doc_script(), re.S)
    assert m, "the script's start_system moved"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path), "SYSTEM_FLAGS": "--help"}
    done = subprocess.run(["bash", "-c", f'{m.group(0)}\nstart_system t; wait "$SYSTEM_PID"'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "system-t.log").read_text(encoding="utf-8")
    assert done.returncode == 0 and "usage: tgw-sdk-bank" in log, log


def test_the_doc_script_reports_a_system_that_exits_at_once(tmp_path: Path) -> None:
    """Before: the runner waited out --startup (30 s), then said only that bank-a never waited on the
    clock. Now the script sees the system end and says so at once, with the end of its log."""
    script = tmp_path / "conformance.sh"
    script.write_text(_doc_script(), encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
           "SCENARIOS": str(BANK_DAY), "SYSTEM_FLAGS": "--filing 17:00"}  # refused by the bank's own checks
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the system exited (status 2) before the run ended" in done.stderr, done.stderr
    assert "--filing 17:00: the rules want it" in done.stderr  # its log's tail
    assert "within 30 s" not in done.stderr  # the runner did not wait out its --startup


@pytest.mark.slow
def test_the_doc_script_runs_the_catalogue_against_the_sdk_bank(tmp_path: Path) -> None:
    script = tmp_path / "conformance.sh"
    script.write_text(_doc_script(), encoding="utf-8")
    scenarios = [str(ROOT / "scenarios" / f"{n}.yaml") for n in HANDFUL if (ROOT / "scenarios" / f"{n}.yaml").exists()]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
           "SCENARIOS": " ".join([*scenarios, str(BANK_DAY)])}
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # one gateway and one bank for them all (--shared-gateway): one report, a testsuite per scenario
    suites = list(ET.parse(tmp_path / "out" / "reports" / "junit.xml").getroot().iter("testsuite"))
    assert len(suites) == len(scenarios) + 1
    for suite in suites:
        assert suite.get("failures") == "0" and suite.get("errors") == "0"
        assert suite.get("skipped") == "0" and int(suite.get("tests") or 0) > 0, suite.get("name")
    assert "starting over" in (tmp_path / "out" / "system-catalogue.log").read_text(encoding="utf-8")


def test_the_conformance_grid_and_wakes_stay_on_business_days() -> None:
    """The clock stops the runner adds: on business days only, inside the run."""
    from runner.conformance import _ConformanceRun

    s = load_scenario(ROOT / "scenarios" / "holiday-spring-festival-makeup-saturday.yaml") \
        if (ROOT / "scenarios" / "holiday-spring-festival-makeup-saturday.yaml").exists() else load_scenario(BANK_DAY)
    opts = ConformanceOptions("bank-a", "http://x", Path("."), tick=dt.timedelta(hours=1), wakes=(dt.time(8, 45),))
    run = _ConformanceRun(s, Path("."), 1, None, opts, None)
    from business_time.calendar import BusinessCalendar

    run.calendar = BusinessCalendar.default()
    ticks = [a.at for a in run._timeline() if a.kind == "tick"]
    assert ticks and all(run.calendar.is_business_day(t.date()) and s.world.start < t <= s.end for t in ticks)
    assert any(t.time() == dt.time(8, 45) for t in ticks) and ticks == sorted(ticks)


# the payee's return scenarios: the world's bank-b (standing for the payee's bank) sends the real bank-a
# a payee-bank refund notice (2252); bank-a refunds it (2302) and tells the treasury (2203)
PAYEE_RETURNS = ("refund-payee-return-prompt-bank", "reports-net-of-refunds-by-project",
                 "bank-profile-prompt-every-duty-on-time", "refund-authorized-quota-back-only-when-cleared",
                 "salary-batch-one-line-bounced-refunded-alone", "union-fees-to-the-union-and-the-federation")
# what a bank that ignores the notice fails, by name (and a word of the failure)
IGNORED_RETURN = {
    "refund-payee-return-prompt-bank":
        "bank-a refunds the returned payment to the central bank (2302) the day it learns of it",
    "reports-net-of-refunds-by-project": "bank-a refunds the payment bank-b (the payee's bank) returned by its 2252",
    "bank-profile-prompt-every-duty-on-time": "the refund notice of an authorized payment is a 7105",
    "refund-authorized-quota-back-only-when-cleared": "the first 2302 is refused, the refund filed again",
    "salary-batch-one-line-bounced-refunded-alone": "bank-a refunds that line to the central bank (2302)",
    "union-fees-to-the-union-and-the-federation": "bank-a refunds the federation's line to the central bank (2302)",
}


@pytest.mark.slow
@pytest.mark.parametrize("flag", [None, "--ignore-returns"])
@pytest.mark.parametrize("scenario", PAYEE_RETURNS)
def test_a_payee_return_reaches_a_real_bank_through_the_gateway(banks: SharedBanks, tmp_path: Path, scenario: str,
                                                                flag: str | None) -> None:
    """Before: skipped whole ("payee returns ... an event outside the gateway"): a bank could not test its refunds."""
    run = banks.run(tmp_path, scenario, flags=(flag,) if flag else ())
    code, suite = run.code, run.suite
    assert suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3  # run, not skipped whole
    failures = run.failures()
    if flag is None:
        assert failures == {} and code == 0
    else:
        named = [name for name in failures if IGNORED_RETURN[scenario] in name]
        assert named and "actual:   0" in failures[named[0]], failures
        assert code == 1


# ------------------------------------------------------------------------------ the catalogue's whole skips

# the catalogue's scenarios the example bank failed or the runner could not play against a real bank
# (issue 15: the whole catalogue passes): a treasury officer's decision on a hold, played over the
# gateway's HTTP API (before: AttributeError, the runner reached for an in-process gateway); the
# own-account rule from the world's accounts.yaml (before: only a payee named like the unit was
# returned); the daily report counting what was cleared, a nil one on a quiet day, and the monthly
# clearing reserve statement (7203) (before: by the day paid, none on a quiet day, no 7203)
FIXED_FOR_BANK_A = ("monitor-large-payment-held-released-or-rejected", "monitor-poverty-funds-held",
                    "monitor-watch-list-and-official-card-held", "own-account-rule-unit-system-superior-old-new",
                    "reports-clearing-reserve-statement", "reports-daily-counts-what-was-cleared",
                    "reports-nil-daily-report-on-a-quiet-day",
                    # direct funds (直达资金): the quota line's mark, the refusal, the reports' totals (the
                    # example bank lists direct-funds lines first: another order than the simulated bank's)
                    "direct-funds-tagged-from-quota-to-report", "direct-funds-payment-on-the-wrong-quota-line-returned")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", FIXED_FOR_BANK_A)
def test_the_example_bank_passes_the_rules_it_implements_from_the_docs(world: DevWorld, banks: SharedBanks,
                                                                       tmp_path: Path, scenario: str) -> None:
    flags = ("--accounts", str(world.root / "accounts.yaml"))  # the world's accounts and own-account data
    run = banks.run(tmp_path, scenario, flags=flags)
    suite = run.suite
    assert suite.get("errors") == "0", ET.tostring(suite)
    assert [c.get("name") for c in suite.iter("testcase") if c.get("name") == "run"] == []  # not skipped whole
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 1
    assert run.failures() == {} and run.code == 0


# the treasury's own year end (004 part 5 §6) and the cross-year refund line bounding its payments
# (003 §36): the example bank confirms the 7301 / 7302 the generated treasury sends it, and pays
# only what the treasury let through
TREASURY_YEAR_END = ("year-end-treasury-cancels-and-carries-forward-on-its-dates",
                     "year-end-bank-does-not-confirm-flagged", "refund-cross-year-line-bounds-the-payment")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", TREASURY_YEAR_END)
def test_the_example_bank_passes_the_treasurys_year_end_and_cross_year_line(world: DevWorld, banks: SharedBanks,
                                                                           tmp_path: Path, scenario: str) -> None:
    run = banks.run(tmp_path, scenario, flags=("--accounts", str(world.root / "accounts.yaml")),
                                       start="2025-12-29T00:00:00+08:00")
    suite = run.suite
    assert suite.get("errors") == "0", ET.tostring(suite)
    assert [c.get("name") for c in suite.iter("testcase") if c.get("name") == "run"] == []  # not skipped whole
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 1
    assert run.failures() == {} and run.code == 0


@pytest.mark.slow
def test_a_bank_that_marks_every_line_direct_funds_fails_the_direct_funds_expectations(world: DevWorld,
                                                                                      banks: SharedBanks,
                                                                                      tmp_path: Path) -> None:
    """Direct funds (直达资金, docs/payment-kinds.md), the other direction: a bank whose reports mark
    every line direct funds, their DirectFundAmt the whole (so each head agrees with its own lines and
    the gateway lets them through), states 2,300.00 of direct funds where the treasury paid 1,700.00:
    the totals, reports-match and the statement's accuracy fail, and nothing else."""
    flags = ("--accounts", str(world.root / "accounts.yaml"), "--all-direct")
    run = banks.run(tmp_path, "direct-funds-tagged-from-quota-to-report", flags=flags)
    code, failures = run.code, run.failures()
    assert set(failures) == {
        "[7] the daily report of 30 March states the direct funds on their own",
        "[8] the monthly report of March, the same",
        "[9] the statement of March, the same",
        "[10] every report states what the receipts paid, and the direct funds among it",
        "[13] the statement was accurate, its direct funds included, and on time"}, failures
    assert "DirectFundAmt 2300.00, direct funds of the receipts 1700.00" in failures["[9] the statement of March, the same"]
    assert code == 1


# What no runner can make a real bank do: the scenarios that test the project's simulated bank in
# a behaviour profile (late, faulty or offline on purpose). Issue 15: at most 4, each inherent.
INHERENT_WHOLE_SKIPS = {
    "bank-profile-faulty-each-fault-caught": "simulated bank in its `faulty` behaviour profile",
    "bank-profile-flaky-offline-window": "simulated bank in its `flaky` behaviour profile",
    "bank-profile-slow-late-and-flagged": "simulated bank in its `slow` behaviour profile",
}


def test_at_most_four_catalogue_scenarios_are_skipped_whole_against_an_external_bank() -> None:
    """Before: 5 (the three profiles, quota-arrival-notice-one-plus-one-days giving bank-a a slow
    profile, and scorecard-late-payments-rectify-then-agency-at-risk giving it a 1.00 reserve)."""
    whole = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        reason, _ = applicability(load_scenario(path), "bank-a")
        if reason is not None:
            whole[path.stem] = reason
    listing = "\n".join(f"{name}: {why}" for name, why in sorted(whole.items()))
    assert len(whole) <= 4, listing
    assert sorted(whole) == sorted(INHERENT_WHOLE_SKIPS), listing
    for name, words in INHERENT_WHOLE_SKIPS.items():
        assert words in whole[name] and "no runner can make bank-a" in whole[name], listing
    # no expectation of the catalogue on bank-a's scorecard is left out any more
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = load_scenario(path)
        if path.stem not in whole:
            assert [e.kind for e, _ in applicability(s, "bank-a")[1] if e.kind == "scorecard"] == [], path.stem


# the scorecard scenario against the example bank: bank-a, which advances a voucher at 16:30 from
# its reserve, is on time; with a 1.00 reserve (--reserve 1.00) it pays the next morning: scored late
SCORECARD = "scorecard-late-payments-rectify-then-agency-at-risk"
LATE_BANK_A = {"[1] bank-a pays a voucher that arrives at 16:30 the same day": "XPayDate=20260226",
               "[5] bank-a paid every voucher on time in March, nothing to complain of":
                   "payment on time 0 late 3, flagged (payment: 3 complaints of late payments",
               "[6] bank-a paid on time in April, no stage": "payment on time 0 late 1, flagged"}


@pytest.mark.slow
@pytest.mark.parametrize("flags", [(), ("--reserve", "1.00")], ids=["on-time", "reserve-1.00"])
def test_the_scorecard_of_a_real_bank_is_drawn_from_when_it_paid(banks: SharedBanks, tmp_path: Path,
                                                                 flags: tuple[str, ...]) -> None:
    """Before: skipped whole ("the scenario sets bank-a's own reserve"), and every scorecard expectation
    on a real bank skipped ("conformance mode does not score a real system yet")."""
    run = banks.run(tmp_path, SCORECARD, flags=flags, start="2026-02-25T08:00:00+08:00")
    code, suite = run.code, run.suite
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    failures = run.failures()
    expected = LATE_BANK_A if flags else {}
    assert sorted(failures) == sorted(expected), failures
    for name, words in expected.items():
        assert words in failures[name], failures[name]
    assert code == (1 if flags else 0)


# the quota arrival notice scenarios: bank-a's 7102s are scored from the wire (before: skipped whole,
# bank-a was given a `slow` profile); the late side of the rule is a simulated bank's
QUOTA_NOTICES = ("quota-arrival-notice-one-plus-one-days", "quota-arrival-notice-third-working-day-late")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", QUOTA_NOTICES)
def test_a_real_banks_quota_arrival_notices_are_scored_on_time(banks: SharedBanks, tmp_path: Path,
                                                               scenario: str) -> None:
    run = banks.run(tmp_path, scenario)
    suite = run.suite
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    names = [c.get("name") or "" for c in suite.iter("testcase")]
    assert any("bank-a's quota arrival notice is on time" in n for n in names)
    assert run.failures() == {} and run.code == 0


# payment kinds at the example bank (docs/payment-kinds.md): cash withdrawals checked in real time against
# the cash rules (003 §31, 004 part 3 §9(7)); official-card repayments and the card bank's transfer detail (7701)
PAYMENT_KINDS_OF_BANK_A = ("cash-withdrawal-paid-in-real-time-and-reported",
                           "cash-withdrawal-outside-the-cash-rules-returned",
                           "card-repayment-detail-matches-the-settlement-list",
                           "card-repayment-detail-card-not-on-the-list-is-a-break")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", PAYMENT_KINDS_OF_BANK_A)
def test_cash_and_official_card_scenarios_pass_against_the_example_bank(banks: SharedBanks, tmp_path: Path,
                                                                       scenario: str) -> None:
    run = banks.run(tmp_path, scenario)
    suite = run.suite
    assert suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3  # run, not skipped whole
    assert run.failures() == {} and run.code == 0


# a real bank's advance seen on the wire (runner/wire_mode.py): the voucher accepted at 16:20 and paid
# that day; the example bank replenishes it the next morning, with --never-replenish it never does
ADVANCE = ROOT / "tests" / "conformance" / "advance-replenished.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("flags", [(), ("--never-replenish",)], ids=["replenishes", "never-replenishes"])
def test_a_real_bank_that_never_replenishes_an_advance_is_missing_the_duty(banks: SharedBanks, tmp_path: Path,
                                                                           flags: tuple[str, ...]) -> None:
    """Before: both passed: an advance was seen only through the replenishment that named it."""
    run = banks.run(tmp_path, ADVANCE, flags=flags)
    assert run.suite.get("errors") == "0" and run.suite.get("skipped") == "0"
    failures = run.failures()
    if not flags:
        assert failures == {} and run.code == 0
    else:
        [name] = failures
        assert "advance is not missing" in name and "replenishment on time 0 late 1" in failures[name], failures
        assert run.code == 1


# a month whose only payment is an advance on its last business day, replenished the next month: the
# example bank (as the simulated ones) sends no 4004 for it, as the rule has it (runner/scorecard_feed.py
# `cleared_months`, one rule for a simulated bank and a real one)
MONTH_END_ADVANCE = ROOT / "tests" / "conformance" / "month-end-advance.yaml"


@pytest.mark.slow
def test_a_real_bank_sending_no_monthly_report_for_a_month_that_cleared_nothing_passes(banks: SharedBanks,
                                                                                       tmp_path: Path) -> None:
    """Before: its scorecard counted March's 4004 late and missing, as a duty of every month with
    payments (the simulated banks' was already of a month with clearings accepted)."""
    run = banks.run(tmp_path, MONTH_END_ADVANCE)
    assert run.suite.get("errors") == "0" and run.suite.get("skipped") == "0"
    assert run.failures() == {} and run.code == 0


# the monthly sign-off of the bank under test: made after its payments and clearing requests are read
# off the wire (runner/conformance.py `_with_external`), not from the simulated banks' alone
SIGNOFF = ROOT / "tests" / "conformance" / "signoff-real-bank.yaml"


@pytest.mark.slow
def test_a_real_banks_monthly_signoff_counts_its_own_clearings(banks: SharedBanks, tmp_path: Path) -> None:
    """Before: the sign-off was computed before the real bank's payments and clearings were added:
    every TSA debit of its accepted clearings was a `debit-unknown` break and the bank ↔ central
    bank level differed for a bank whose books agree."""
    run = banks.run(tmp_path, SIGNOFF)
    assert run.suite.get("errors") == "0" and run.suite.get("skipped") == "0"
    assert run.failures() == {} and run.code == 0
