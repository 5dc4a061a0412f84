"""`tgw monitor holds` on the gateway's database, and the scenario `monitor` step/expectation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from gateway_helpers import FixedClock, payment
from test_monitoring_gateway import AT, YUAN

from gateway.journal import Journal
from gateway.monitoring.monitor import Monitor
from gateway.monitoring.rules import default_catalogue
from gateway.monitoring.store import MonitorStore
from gateway.service import Gateway
from runner.scenario_file import load_text
from runner.scenario_run import run_scenario
from runner.world import DevWorld
from storage.db import open_database
from tgw import main


async def _held_two(world: DevWorld, path: Path) -> None:
    db = await open_database(str(path))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT),
                 monitor=Monitor(default_catalogue(), MonitorStore(db)))
    await gw.start(deliver=False)
    try:
        sender = gw.registry.get(world.treasury.id)
        assert sender is not None
        for no in ("CLI0001", "CLI0002"):
            env = world.envelope([payment(world, amount_fen=1_200_000 * YUAN, voucher_no=no)], sender=sender.id)
            [r] = await gw.submit(env, sender)
            assert r.status == "held"
    finally:
        await gw.stop()
        await db.close()


async def _journaled(path: Path, no: str) -> int:
    db = await open_database(str(path))
    try:
        await Journal(db).init_schema()
        row = await db.fetchrow("SELECT count(*) FROM gw_messages WHERE voucher_no = $1", no)
        assert row is not None
        return int(row[0])
    finally:
        await db.close()


def test_holds_listed_released_and_rejected_from_the_command_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    world = DevWorld.create(tmp_path / "world")
    db = tmp_path / "gw.db"
    asyncio.run(_held_two(world, db))
    capsys.readouterr()
    # For an officer: a table, amounts in yuan (was: one line each without headers, "120000000 fen").
    assert main(["monitor", "holds", "list", "--db", str(db)]) == 0
    header, rule, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["hold", "status", "voucher", "amount"] and set(rule) <= {"-", " "}
    assert [(r.split()[1], r.split()[2].rsplit("/", 1)[1], r.split()[3]) for r in rows] == [
        ("held", "CLI0001", "1200000.00"), ("held", "CLI0002", "1200000.00")]
    assert main(["monitor", "holds", "list", "--db", str(db), "--status", "rejected"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no rejected holds" in err
    assert main(["monitor", "holds", "list", "--db", str(db), "--status", "held", "--format", "json"]) == 0
    holds = json.loads(capsys.readouterr().out)["holds"]
    assert [h["voucher"]["no"] for h in holds] == ["CLI0001", "CLI0002"]
    first, second = holds[0]["id"], holds[1]["id"]
    assert main(["monitor", "holds", "release", first, "--db", str(db), "--by", "Officer Wang",
                 "--reason", "contract checked", "--format", "json"]) == 0
    released = json.loads(capsys.readouterr().out)
    assert (released["status"], released["decided_by"]) == ("released", "cli:Officer Wang")
    assert asyncio.run(_journaled(db, "CLI0001")) == 1
    assert main(["monitor", "holds", "reject", second, "--db", str(db), "--by", "Officer Wang",
                 "--reason", "no contract"]) == 0
    assert asyncio.run(_journaled(db, "CLI0002")) == 0
    assert main(["monitor", "holds", "reject", first, "--db", str(db), "--by", "x", "--reason", "late"]) == 1
    assert main(["monitor", "holds", "release", "hnosuch", "--db", str(db), "--by", "x", "--reason", "r"]) == 1
    assert main(["monitor", "holds", "list", "--db", str(tmp_path / "missing.db")]) == 2


WRONG = """
scenario: monitor-wrong-expectation
title: an expectation naming the wrong rule fails
world: {start: 2026-03-10}
steps:
  - at: "10:00"
    send: {id: big, template: direct-payment, bank: bank-a, amount: "1500000.00"}
  - at: "10:30"
    monitor: {release: big, reason: checked}
expect:
  - monitor: {voucher: big, rule: splitting, outcome: held}
  - monitor: {voucher: big, rule: large-single-payment, outcome: rejected}
  - monitor: {voucher: big, rule: large-single-payment, outcome: released}
"""


def test_a_monitor_expectation_that_did_not_happen_fails(tmp_path: Path) -> None:
    s = load_text(WRONG, "wrong.yaml")
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None, r.error
    assert [o.ok for o in r.outcomes] == [False, False, True], [(o.expected, o.actual) for o in r.outcomes]
    assert "large-single-payment held" in r.outcomes[0].actual
