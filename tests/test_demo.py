"""`tgw demo` end to end: the report's invariants hold, and a few of them recomputed from its JSON."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from browser import ARTIFACTS, png_size, screenshot

from messages.money import parse_fen
from tgw import main


@pytest.mark.slow
def test_demo_json_invariants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--vouchers", "30", "--days", "2", "--format", "json", "--quiet", "--dir",
                 str(tmp_path / "demo")])
    report = json.loads(capsys.readouterr().out)
    failed = {k: v["detail"] for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 0 and report["ok"] and not failed, failed

    # recomputed: every ledger sums to zero, in fen, from the yuan strings and from the ints
    for accounts in report["balances"].values():
        assert sum(parse_fen(a["balance"], allow_negative=True) for a in accounts.values()) == 0
        assert all(parse_fen(a["balance"], allow_negative=True) == a["balance_fen"] for a in accounts.values())
    days = report["days"]
    assert [d["date"] for d in days] == ["2026-02-13", "2026-02-14", "2026-02-24"]
    for d in days:
        assert d["receipts_returned"] == d["vouchers_accepted"] == d["paid"] == d["vouchers_sent"]
        assert d["statement_end_balance"] == d["ledger_tsa_at_close"]
        assert d["zero_balance_accounts_at_zero"]
    assert sum(d["vouchers_sent"] for d in days) == 60
    # what was advanced one day was replenished the next business day
    for today, tomorrow in itertools.pairwise(days):
        assert parse_fen(today["advanced_amount"]) == parse_fen(tomorrow["replenished_amount"])
    # TSA debits = same-day clearings + replenishments
    assert sum(parse_fen(d["tsa_debits"]) for d in days) == sum(
        parse_fen(d["cleared_amount"]) + parse_fen(d["replenished_amount"]) for d in days)
    # zero-balance accounts stand at zero at the end
    for accounts in report["balances"].values():
        assert all(a["balance_fen"] == 0 for aid, a in accounts.items() if ":zba-" in aid)
    steps = {e["step"] for e in report["trace"]["events"]}
    assert {"journaled", "delivered", "linked"} <= steps
    # no interest on advances: the reserve is the treasury's money (004 part 3 第四条, 第十二条(三))
    assert report["agent_banks"] and all(not any("interest" in k for k in bank) for bank in report["agent_banks"].values())


def test_demo_on_days_the_calendar_does_not_know_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from tgw import main

    assert main(["demo", "--start", "2026-12-30", "--days", "2", "--vouchers", "5", "--quiet"]) == 2
    assert "calendar-out-of-range" in capsys.readouterr().err


SHOT_WINDOW = (1200, 3000)


@pytest.mark.slow
def test_demo_prints_the_reconciliation_and_writes_the_html_report(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    page = ARTIFACTS / "demo-report.html"
    ARTIFACTS.mkdir(exist_ok=True)
    code = main(["demo", "--vouchers", "40", "--days", "2", "--quiet", "--html", str(page), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and "html" not in report
    rec = report["reconciliation"]
    assert rec["clean"] and not rec["breaks"] and report["invariants"]["reconciliation_clean"]["ok"]
    assert [d["date"] for d in rec["days"]] == ["2026-02-13", "2026-02-14", "2026-02-24"]
    # every day: what the treasury got back = what the banks paid; what the banks cleared = the TSA debits = the 7401
    for d in rec["days"]:
        assert d["treasury_receipts"] == d["bank_paid"] and d["bank_cleared"] == d["pboc_debits"] == d["statement_debits"]
    [month] = rec["months"]
    assert month["month"] == "2026-02" and month["treasury_receipts"] == month["bank_cleared"] == month["pboc_debits"]

    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 4 and "Three-way reconciliation" in text
    for remote in ("https://", "<script", "@import", "url("):
        assert remote not in text, remote

    assert main(["demo", "--vouchers", "10", "--days", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Three-way reconciliation per day" in out and "reconciliation clean" in out

    data = screenshot(page, ARTIFACTS / "demo-report.png", window=SHOT_WINDOW, profile=tmp_path / "profile")
    assert len(data) > 10_000  # a blank page is a few hundred bytes
    assert png_size(data) == SHOT_WINDOW


@pytest.mark.slow
def test_demo_with_budget_units_refuses_what_the_budget_does_not_allow_and_holds_every_invariant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tgw demo --units N` (issue 17): salaries on the month's first business day, requests checked
    against the generated units' indicators; refused ones are never sent, the rest hold every invariant."""
    code = main(["demo", "--units", "40", "--vouchers", "30", "--days", "1", "--start", "2026-03-02", "--format",
                 "json", "--quiet", "--dir", str(tmp_path / "demo")])
    report = json.loads(capsys.readouterr().out)
    failed = {k: v["detail"] for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 0 and report["ok"] and not failed, failed
    budget = report["budget"]
    assert budget["units"] == 40 and sum(budget["levels"].values()) == 40 and budget["levels"]["first"] >= 1
    paying = budget["levels"]["basic"]
    # every paying unit's salaries went out that morning, beside the 30 requests less those refused
    assert report["days"][0]["vouchers_sent"] == paying + 30 - sum(budget["refused"].values())
    assert 0 < budget["spent_fen"] <= budget["indicators_fen"]
    assert set(budget["refused"]) <= {"budget-none", "budget-out-of-scope", "budget-exceeded"}


def test_demo_units_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--units", "1", "--days", "1", "--vouchers", "5", "--quiet"]) == 2
    assert "--units must be 2.." in capsys.readouterr().err
