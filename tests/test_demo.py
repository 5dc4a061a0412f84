"""`tgw demo` end to end: the report's invariants hold, and a few of them recomputed from its JSON."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS, png_size, screenshot

from messages.money import parse_fen
from tgw import main
from tgw.demo import render_text


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

    # two days from the calendar's last: the second is past it (tests/test_demo_last_day.py: the last day alone runs)
    assert main(["demo", "--start", "2026-12-31", "--days", "2", "--vouchers", "5", "--quiet"]) == 2
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


def _demo_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["demo", *args, "--format", "json", "--quiet"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_demo_units_month_mixes_in_every_flow_and_every_invariant_holds(capsys: pytest.CaptureFixture[str]) -> None:
    # Friday 02-27, the make-up Saturday 02-28 and Monday 03-02: March's first business day (the salaries)
    args = ("--units", "30", "--days", "3", "--vouchers", "20", "--start", "2026-02-27")
    code, report = _demo_json(capsys, *args)
    failed = {k: v["detail"] for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 0 and report["ok"] and not failed, failed
    assert report["reconciliation"]["clean"] and report["invariants"]["reconciliation_clean"]["ok"]
    assert report["scorecard"] and not any(card["flagged"] for card in report["scorecard"])
    flows = report["flows"]
    # salaries of March 2 as batch vouchers, one line of which bounced and was refunded
    assert flows["salary_batches"] >= 1 and flows["salary_batch_lines"] >= 3 * flows["salary_batches"]
    assert flows["batch_lines_bounced"] == 1
    # the bounced line and three whole payments came back; each was refunded to the TSA
    assert flows["payee_returns"] == flows["refunds_accepted"] == 4 and flows["refunded_fen"] > 0
    # ... and the 7401s carried those credits as the treasury expected them (statements_match_ledger held)
    assert report["invariants"]["statements_match_ledger"]["ok"]
    # one suspension and its lift, both confirmed; one account opened on notice, confirmed
    assert (flows["suspensions"], flows["suspension_lifts"], flows["suspension_confirmations"]) == (1, 1, 2)
    assert (flows["account_openings"], flows["account_confirmations"]) == (1, 1)
    # one payment corrected to another subject: the bank reclassified it and confirmed (5253)
    assert (flows["corrections"], flows["corrections_applied"], flows["correction_confirmations"]) == (1, 1, 1)
    # every bank's account feed (7602) of every business day came and matched the treasury's payments
    feed = report["account_feed"]
    assert feed["feeds_due"] == 2 * (3 + 1) == feed["feeds_checked"] and feed["breaks"] == 0
    assert report["invariants"]["account_feed_matched"]["ok"]
    # every salary voucher of the batch went and was paid once
    assert sum(d["vouchers_sent"] for d in report["days"]) == sum(d["paid"] for d in report["days"])

    # deterministic: the same seed replays byte for byte; another seed is another month
    code2, again = _demo_json(capsys, *args)
    assert code2 == 0 and again["run"]["journal_digest"] == report["run"]["journal_digest"]
    assert again["flows"] == flows
    code3, other = _demo_json(capsys, *args, "--seed", "2")
    assert code3 == 0 and other["run"]["journal_digest"] != report["run"]["journal_digest"]


@pytest.mark.slow
def test_plain_demo_has_no_flows(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _demo_json(capsys, "--vouchers", "5", "--days", "1")
    assert code == 0 and report["ok"] and "flows" not in report
    assert "The month's flows" not in render_text(report) and "account_feed" not in report
    assert "account_feed_matched" not in report["invariants"]


def test_demo_text_prints_the_flows_table() -> None:
    report = {"run": {"seed": 1, "vouchers_per_day": 1, "days": ["2026-03-02"], "replenishment_day": "2026-03-03",
                      "elapsed_s": 0}, "days": [], "balances": {}, "invariants": {}, "ok": True,
              "flows": {"salary_batches": 2, "salary_batch_lines": 7, "batch_lines_bounced": 1, "payee_returns": 4,
                        "refunds_accepted": 4, "refunded_fen": 12345, "suspensions": 1, "suspension_lifts": 1,
                        "suspension_confirmations": 2, "corrections": 1, "corrections_applied": 1,
                        "correction_confirmations": 1, "account_openings": 1, "account_confirmations": 1},
              "account_feed": {"feeds_due": 4, "feeds_checked": 4, "movements": 3, "breaks": 0}}
    text = render_text(report)
    table = text[text.index("The month's flows"):].splitlines()
    assert table[1].split() == ["flow", "count", "what", "came", "of", "it"]
    rows = {line.split("  ")[0].strip(): " ".join(line.split()) for line in table[3:9]}
    assert rows["salary batches (一次批量)"].endswith("2 7 lines, 1 bounced and refunded line by line")
    assert rows["payee returns"].endswith("4 4 refunded: 123.45 yuan back to the TSA")
    assert rows["payment suspension (7501)"].endswith("1 order, 1 lift 2 confirmed by the bank")
    assert rows["payment correction (5253)"].endswith("1 1 reclassified by the bank, 1 confirmed")
    assert rows["account opening (7601)"].endswith("1 1 confirmed by the bank")
    assert rows["account feeds (7602)"].endswith("4 of 4 due 3 movements matched, 0 breaks")

def _feed_book(stated_fen: int) -> Any:
    from sim.account_feed import FeedLine
    from treasury_sim.account_feed import FeedBook

    book = FeedBook()
    expected = [FeedLine("9700014000000001", "5201", "ZZ2026030200040", 1_234_56)]
    book.check("999100000001", "20260302", "990100", "LS000120260302", expected,
               [FeedLine("9700014000000001", "5201", "ZZ2026030200040", stated_fen)])
    return book


def test_demo_feed_check_holds_only_when_every_feed_came_and_matched() -> None:
    from runner.demo_flows import feed_check

    due = ["999100000001/20260302/990100"]
    ok, detail = feed_check(_feed_book(1_234_56), due)
    assert ok and "1 daily account feeds (7602) of 1 due" in detail and "0 breaks" in detail
    # a fen off: a break, named
    ok, detail = feed_check(_feed_book(1_234_57), due)
    assert not ok and "feed-amount-differs" in detail and "off by 0.01" in detail
    # a feed due that never came
    ok, detail = feed_check(_feed_book(1_234_56), [*due, "999100000002/20260302/990100"])
    assert not ok and "no feed for 999100000002/20260302/990100" in detail


@pytest.mark.slow
def test_demo_fails_when_a_bank_feed_states_a_movement_the_treasury_does_not_know(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import bank_sim.account_feed as bank_feed
    from messages.factory import ADM_DIV_CODE
    from sim.account_feed import FeedLine

    real = bank_feed._day_lines  # (AdmDivCode, line) of each movement: what `feed` states

    def with_an_extra_line(st: Any, day: dt.date, archive: Any) -> list[Any]:  # one movement too many
        extra = FeedLine(next(iter(bank_feed.feed_accounts(st))), "5201", "ZZ0000000000001", 1)
        return [*real(st, day, archive), (ADM_DIV_CODE, extra)]  # the demo's one division

    args = ("--units", "20", "--days", "1", "--vouchers", "10", "--start", "2026-03-03")
    code, report = _demo_json(capsys, *args)
    assert code == 0 and report["invariants"]["account_feed_matched"]["ok"]  # the real banks' feeds match
    monkeypatch.setattr(bank_feed, "_day_lines", with_an_extra_line)
    code, report = _demo_json(capsys, *args)
    failed = {k for k, v in report["invariants"].items() if not v["ok"]}
    assert code == 1 and not report["ok"] and failed == {"account_feed_matched"}, failed
    assert report["account_feed"]["breaks"] == 4  # each bank, each of the two business days
    assert "feed-unknown-movement" in report["invariants"]["account_feed_matched"]["detail"]
