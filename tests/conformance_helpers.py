"""What the conformance tests (tests/test_conformance*.py) share: a test gateway in-process and a
client of it, and end to end a `tgw up` subprocess with the example SDK bank
(`examples/sdk_bank.py`) in its own process, over HTTP or through a Mosquitto over MQTT, the runner
run against them, and what its JUnit says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client import GatewayClient
from gateway.server import RunningServer, ServerConfig, start_server
from runner.world import DevWorld
from tgw import main as tgw_main

if TYPE_CHECKING:
    from mqtt_broker import MosquittoBroker

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TGW = str(BIN / "tgw")
SDK_BANK = ROOT / "examples" / "sdk_bank.py"
BANK_DAY = ROOT / "tests" / "conformance" / "bank-day.yaml"
START = "2026-03-10T08:00:00+08:00"
PROCESS_START_S = 30.0  # a generous bound for a subprocess to start listening (not a speed check)


@contextlib.asynccontextmanager
async def in_process_gateway(world: DevWorld, tmp_path: Path, *, start: str = START,
                             clock: str = "simulated") -> AsyncIterator[RunningServer]:
    """A gateway in this process on SQLite in `tmp_path`, over HTTP on a free port; a simulated
    clock starts at `start`."""
    server = await start_server(ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                                             db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0, clock_mode=clock,
                                             clock_start=start if clock == "simulated" else None))
    try:
        yield server
    finally:
        await server.stop()


def client_of(server: RunningServer, world: DevWorld, pid: str) -> GatewayClient:
    assert server.http_url is not None
    return GatewayClient.http(server.http_url, token=world.participants[pid].token, participant_id=pid)


async def until_waiting(client: GatewayClient, pid: str) -> dict[str, Any]:
    """`GET /v1/clock` once `pid` is listed as waiting on the clock."""
    for _ in range(2_000):  # the parked request reaches the server soon; bounded, never a timing assertion
        view = await client.clock()
        if pid in view["waiting"]:
            return view
        await asyncio.sleep(0.005)
    raise AssertionError(f"{pid} never showed as waiting on the clock")


@dataclass(frozen=True)
class Processes:
    """A running `tgw up` and example bank (`_processes`): the gateway's URL and both processes."""

    url: str
    gateway: subprocess.Popen[bytes]
    bank: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.gateway.poll() is None and self.bank.poll() is None


@contextlib.contextmanager
def gateway_and_bank(world: DevWorld, tmp: Path, flags: tuple[str, ...] = (), start: str = START,
                     broker: MosquittoBroker | None = None) -> Iterator[str]:
    """A `tgw up` subprocess (simulated clock from `start`) and the example bank as bank-a (with
    `flags`) in its own process, pointed at it; yields the gateway's URL and stops both after.
    With `broker` (tests/mqtt_broker.py, logins for the gateway's GW_USER) the gateway serves MQTT
    too and the bank sends, receives and acks over it (`--mqtt`), bank-a registered push."""
    with _processes(world, tmp, flags, start, broker) as procs:
        yield procs.url


@contextlib.contextmanager
def _processes(world: DevWorld, tmp: Path, flags: tuple[str, ...] = (), start: str = START,
               broker: MosquittoBroker | None = None) -> Iterator[Processes]:
    tmp.mkdir(parents=True, exist_ok=True)
    ready = tmp / "ready"
    mqtt_gateway: list[str] = []
    mqtt_bank: list[str] = []
    env = dict(os.environ)
    if broker is not None:
        from mqtt_broker import GW_PASSWORD, GW_USER

        mqtt_gateway = ["--mqtt", f"mqtt://{GW_USER}@{broker.host}:{broker.port}"]
        mqtt_bank = ["--mqtt", f"mqtt://bank-a@{broker.host}:{broker.port}"]
        env["TGW_MQTT_PASSWORD"] = GW_PASSWORD
    with (tmp / "gateway.log").open("wb") as gw_log, (tmp / "bank.log").open("wb") as bank_log:
        gateway = subprocess.Popen([TGW, "up", "--participants", str(world.registry_path), "--certs",
                                    str(world.keys_dir), "--db", str(tmp / "gw.db"), "--http", "127.0.0.1:0",
                                    "--clock", "simulated", "--clock-start", start, "--ready-file", str(ready),
                                    "--log-level", "WARNING", *mqtt_gateway], stdout=gw_log,
                                   stderr=subprocess.STDOUT, env=env)
        bank = None
        try:
            for _ in range(int(PROCESS_START_S / 0.05)):
                if (ready.exists() and ready.read_text().strip()) or gateway.poll() is not None:
                    break
                time.sleep(0.05)
            assert gateway.poll() is None, (tmp / "gateway.log").read_text()
            url = ready.read_text().strip()
            bank = subprocess.Popen([sys.executable, str(SDK_BANK), "--url", url, "--id", "bank-a", "--bank-code",
                                     "999100000001", "--key", str(world.keys_dir / "bank-a.key"), "--cert",
                                     str(world.keys_dir / "bank-a.pem"), "--secrets", str(world.root / "secrets.json"),
                                     *mqtt_bank, *flags], stdout=bank_log, stderr=subprocess.STDOUT)
            yield Processes(url, gateway, bank)
        finally:
            for proc in (bank, gateway):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=60)


def suite_failures(suite: ET.Element) -> dict[str, str]:
    """A JUnit testsuite's (or report's) failed testcases by name, with their failure text."""
    return {c.get("name") or "": (c.find("failure").text or "")  # type: ignore[union-attr]
            for c in suite.iter("testcase") if c.find("failure") is not None}


def failures(junit: Path) -> dict[str, str]:
    """Every failed testcase of a JUnit report by name, with its failure text."""
    return suite_failures(ET.parse(junit).getroot())


@dataclass(frozen=True)
class BankRun:
    """A runner's run against the example bank: its exit code and JUnit report."""

    code: int
    junit: Path

    @property
    def suites(self) -> list[ET.Element]:
        return list(ET.parse(self.junit).getroot().iter("testsuite"))

    @property
    def suite(self) -> ET.Element:
        """The (first) scenario's testsuite."""
        suite = ET.parse(self.junit).getroot().find("testsuite")
        assert suite is not None, self.junit.read_text(encoding="utf-8")
        return suite

    def failures(self) -> dict[str, str]:
        return failures(self.junit)


def run_against_the_example_bank(world: DevWorld, tmp_path: Path, *scenarios: str | Path,
                                 flags: tuple[str, ...] = (), start: str = START, shared: bool = False,
                                 html: Path | None = None, broker: MosquittoBroker | None = None) -> BankRun:
    """`tgw scenario run SCENARIOS --external bank-a` against a `tgw up` and the example bank (with
    `flags`) started for it (`gateway_and_bank`, in `tmp_path`/procs; over MQTT with `broker`), the
    JUnit in `tmp_path`/junit.xml; a scenario given by name is the catalogue's. `shared`: one
    gateway for them all (`--shared-gateway`)."""
    junit = tmp_path / "junit.xml"
    files = [str(ROOT / "scenarios" / f"{s}.yaml" if isinstance(s, str) else s) for s in scenarios]
    with gateway_and_bank(world, tmp_path / "procs", flags, start, broker) as url:
        code = tgw_main(["scenario", "run", *files, "--external", "bank-a", "--url", url, "--world", str(world.root),
                         *(["--shared-gateway"] if shared else []), "--junit", str(junit),
                         *(["--html", str(html)] if html is not None else []), "--quiet"])
    return BankRun(code, junit)


class SharedBanks:
    """One `tgw up` and one example bank per set of bank flags and clock start, kept across the
    tests of a module (a module-scoped fixture of it, closed at the module's end): each test's run
    is `tgw scenario run SCENARIO --shared-gateway` on them, which resets the gateway (a fresh
    world, the clock back at its start, a new epoch) and waits for the bank to start over before
    the scenario, so a run does not depend on which ran before it (docs/conformance.md, "One
    gateway for the whole catalogue"). Processes found dead are started again; a run that ended
    in error is not trusted to have left them sound: they are stopped and the next run starts
    new ones."""

    def __init__(self, world: DevWorld, tmp: Path) -> None:
        self.world = world
        self.tmp = tmp
        self.starts = 0  # gateway and bank pairs started (the tests' process starts, counted)
        self._running: dict[tuple[tuple[str, ...], str], tuple[Processes, contextlib.ExitStack]] = {}

    def _procs(self, flags: tuple[str, ...], start: str) -> Processes:
        key = (flags, start)
        if key in self._running:
            procs, stack = self._running[key]
            if procs.alive():
                return procs
            self._drop(key)
        self.starts += 1
        stack = contextlib.ExitStack()
        procs = stack.enter_context(_processes(self.world, self.tmp / f"procs-{self.starts}", flags, start))
        self._running[key] = (procs, stack)
        return procs

    def _drop(self, key: tuple[tuple[str, ...], str]) -> None:
        _, stack = self._running.pop(key)
        stack.close()

    def run(self, tmp_path: Path, *scenarios: str | Path, flags: tuple[str, ...] = (), start: str = START,
            html: Path | None = None) -> BankRun:
        """`run_against_the_example_bank`, on this module's gateway and bank for `flags` and `start`."""
        junit = tmp_path / "junit.xml"
        files = [str(ROOT / "scenarios" / f"{s}.yaml" if isinstance(s, str) else s) for s in scenarios]
        procs = self._procs(flags, start)
        code = tgw_main(["scenario", "run", *files, "--external", "bank-a", "--url", procs.url, "--world",
                         str(self.world.root), "--shared-gateway", "--junit", str(junit),
                         *(["--html", str(html)] if html is not None else []), "--quiet"])
        run = BankRun(code, junit)
        if not junit.exists() or any(s.get("errors") != "0" for s in run.suites) or not procs.alive():
            self._drop((flags, start))
        return run

    def close(self) -> None:
        for key in list(self._running):
            self._drop(key)
