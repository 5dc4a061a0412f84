"""`tgw demo` end to end: the report's invariants hold, and a few of them recomputed from its JSON."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

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


def test_demo_on_days_the_calendar_does_not_know_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from tgw import main

    assert main(["demo", "--start", "2026-12-30", "--days", "2", "--vouchers", "5", "--quiet"]) == 2
    assert "calendar-out-of-range" in capsys.readouterr().err
