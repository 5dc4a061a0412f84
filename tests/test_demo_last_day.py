"""`tgw demo` and `tgw sim faults` on the calendar's last known day (docs/calendar.md, "The last
days known"): the day runs to its end with no replenishment morning; what needs the business day
after it is listed not judged, naming the day it wanted; the money invariants still hold, and one
broken on that day still fails the run; a run wanting a day past the calendar is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bank_sim import payments as bank_payments
from business_time.calendar import BusinessCalendar
from messages.errors import InputError
from messages.money import parse_fen
from runner.demo import simulate
from runner.faults import run_seed
from sim.effects import PostTransfer
from tgw import main

LAST = BusinessCalendar.default().known_range[1]  # 2026-12-31, a Thursday
WANTED = f"the business day after {LAST.isoformat()}"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--format", "json", "--quiet"])
    return code, json.loads(capsys.readouterr().out)


def _reserves(report: dict[str, Any]) -> dict[str, int]:
    return {owner: a["balance_fen"] for owner, accounts in report["balances"].items()
            for aid, a in accounts.items() if aid.endswith(":reserve")}


def test_the_demo_runs_the_calendars_last_day_to_its_end(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _json(capsys, "demo", "--start", LAST.isoformat(), "--days", "1", "--vouchers", "10")
    failed = {k: v["detail"] for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 0 and report["ok"] and not failed, failed
    assert [d["date"] for d in report["days"]] == [LAST.isoformat()]
    assert report["run"]["replenishment_day"] is None
    [day] = report["days"]
    assert day["advances"] >= 1 and day["replenishments"] == 0
    # not judged: named, with the day it wanted (never a guessed date)
    checks = {n["check"] for n in report["not_judged"]}
    assert {"advances_replenished", "reconciliation_clean"} <= checks
    assert all(n["wanted"] == WANTED and n["after"] == LAST.isoformat() and n["code"] == "calendar-out-of-range"
               for n in report["not_judged"])
    # the money after the day: the reserves short by exactly the day's advances, the TSA by what cleared
    opening = 20_000_000_00
    assert sum(opening - fen for fen in _reserves(report).values()) == parse_fen(day["advanced_amount"])
    assert parse_fen(day["tsa_debits"]) == parse_fen(day["cleared_amount"]) \
        == parse_fen(day["paid_amount"]) - parse_fen(day["advanced_amount"])
    assert day["statement_end_balance"] == day["ledger_tsa_at_close"]
    # the reconciliation's only breaks are the advances not judged
    assert {b["cause"] for b in report["reconciliation"]["breaks"]} <= {"not-cleared"}


def test_a_run_ending_on_the_last_day_replenishes_the_day_before_it(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    start = LAST - dt.timedelta(days=1)
    page = tmp_path / "report.html"
    code = main(["demo", "--start", start.isoformat(), "--days", "2", "--vouchers", "10", "--quiet",
                 "--html", str(page)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"Not judged: {WANTED} is past the calendar" in text
    assert text.rstrip().endswith("not judged)") and "all invariants held" in text
    html = page.read_text(encoding="utf-8")
    assert f"Not judged ({WANTED} is past the calendar)" in html and "replenishment on None" not in html
    code, report = _json(capsys, "demo", "--start", start.isoformat(), "--days", "2", "--vouchers", "10")
    assert code == 0 and report["ok"]
    first, last = report["days"]
    assert (first["date"], last["date"]) == (start.isoformat(), LAST.isoformat())
    assert parse_fen(first["advanced_amount"]) == parse_fen(last["replenished_amount"]) > 0
    assert sum(20_000_000_00 - fen for fen in _reserves(report).values()) == parse_fen(last["advanced_amount"])


@pytest.mark.parametrize(("start", "days"), [(LAST, 1), (LAST - dt.timedelta(days=1), 2)])
def test_fault_runs_on_the_last_day_hold_and_list_what_they_cannot_judge(
        capsys: pytest.CaptureFixture[str], start: dt.date, days: int) -> None:
    code, summary = _json(capsys, "sim", "faults", "--seeds", "1..3", "--start", start.isoformat(),
                          "--days", str(days))
    assert code == 0 and summary["failures"] == 0, summary["failed"]
    assert [n["check"] for n in summary["not_judged"]] == ["advances_replenished"]
    assert summary["not_judged"][0]["wanted"] == WANTED


@pytest.mark.parametrize("argv", [
    ["demo", "--start", LAST.isoformat(), "--days", "2", "--vouchers", "4"],
    ["demo", "--start", LAST.isoformat(), "--days", "1", "--vouchers", "4", "--units", "8"],
    ["sim", "faults", "--seeds", "1", "--start", LAST.isoformat(), "--days", "2"],
])
def test_a_run_wanting_a_day_past_the_calendar_is_refused_naming_it(
        capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, doc = _json(capsys, *argv)
    assert code == 2 and doc["exit"] == 2 and doc["code"] == "calendar-out-of-range"
    assert f"after {LAST.isoformat()}" in doc["message"]


def _advances_booked_twice_on_the_last_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken bank: on the calendar's last day, after the cutoff, it books each
    payment's transfers twice (fresh ids): its reserve pays out more than the advances."""
    real = bank_payments.on_payment

    def pays_twice(ctx: Any, state: Any, doc: Any, key: Any, now: dt.datetime) -> list[Any]:
        effects: list[Any] = real(ctx, state, doc, key, now)
        if now.date() != LAST or now.time() < dt.time(16, 0):
            return effects
        return effects + [PostTransfer(dataclasses.replace(e.transfer, id=f"{e.transfer.id}:twice"))
                          for e in effects if isinstance(e, PostTransfer)]

    monkeypatch.setattr(bank_payments, "on_payment", pays_twice)


def test_an_invariant_broken_on_the_last_day_still_fails_the_demo(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _advances_booked_twice_on_the_last_day(monkeypatch)
    code, report = _json(capsys, "demo", "--start", LAST.isoformat(), "--days", "1", "--vouchers", "10")
    failed = {k for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 1 and not report["ok"]
    assert "advances_replenished" in failed, failed  # the reserve short of its opening less the advances
    assert report["not_judged"]  # still said, beside the failure


def test_an_invariant_broken_on_the_last_day_still_fails_a_fault_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _advances_booked_twice_on_the_last_day(monkeypatch)
    result = asyncio.run(run_seed(tmp_path, seed=1, vouchers=10, days=1, start=LAST))
    assert not result.ok and {"advances_replenished", "payments_booked_once"} <= set(result.failed), result.failed


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(start=st.dates(LAST - dt.timedelta(days=9), LAST), days=st.integers(1, 3))
@example(start=LAST, days=1)  # the edges, whatever the draws: a run ending on the last day, one wanting past it
@example(start=LAST - dt.timedelta(days=2), days=3)
@example(start=LAST, days=2)
def test_a_run_near_the_calendars_end_completes_or_is_refused_naming_the_day(start: dt.date, days: int) -> None:
    """Oracle: the run's business days from `start`, counted by the calendar's public answers; it
    completes iff they (and nothing past them) fit in the calendar; what it cannot judge wants only
    the business day after the calendar's last, and only when its last day is that day."""
    import tempfile

    cal = BusinessCalendar.default()
    wanted_days = [d for d in (start + dt.timedelta(days=i) for i in range((LAST - start).days + 1))
                   if cal.is_business_day(d)][:days]
    with tempfile.TemporaryDirectory(prefix="tgw-last-day-") as tmp:
        try:
            report = asyncio.run(simulate(Path(tmp), seed=3, vouchers=4, days=days, start=start))
        except InputError as exc:
            assert exc.code == "calendar-out-of-range" and len(wanted_days) < days, (start, days)
            assert f"after {wanted_days[-1].isoformat()}" in str(exc), str(exc)
            return
    assert len(wanted_days) == days and report["ok"], report["invariants"]
    assert report["run"]["days"] == [d.isoformat() for d in wanted_days]
    if wanted_days[-1] == LAST:
        assert report["run"]["replenishment_day"] is None and report["not_judged"]
        assert {n["wanted"] for n in report["not_judged"]} == {WANTED}
    else:
        assert report["not_judged"] == [] and report["run"]["replenishment_day"] is not None
