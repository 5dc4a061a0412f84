"""Scenario files at the edges no catalogue file reaches: a payment of no money or less, a
deadline past the last day the business calendar knows, a run that reaches beyond it. Each is
refused naming its line and field, or reported as the run's error; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.scenario_file import CATALOGUE_DIR, ScenarioError, load_text
from tgw import main

BASE = (CATALOGUE_DIR / "after-close-friday-paid-monday.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("amount", ["-720.00", "0.00"])
def test_a_payment_of_no_money_or_less_is_refused_at_its_amount(amount: str) -> None:
    # was: accepted, then the run died in the voucher factory (ValueError: need at least one fen per part)
    with pytest.raises(ScenarioError) as exc:
        load_text(BASE.replace('amount: "720.00"', f'amount: "{amount}"'))
    assert any(i.path.endswith(": steps[0].send.amount") and "positive" in i.message for i in exc.value.issues)


def test_a_deadline_past_the_calendar_is_refused_where_it_is_written() -> None:
    # was: accepted, then the run died on the first day past 2026-12-31 (calendar-out-of-range, a traceback)
    with pytest.raises(ScenarioError) as exc:
        load_text(BASE.replace('by: "2026-03-16 16:00"', 'by: "2027-03-16 16:00"'))
    [issue] = exc.value.issues
    assert issue.path.endswith(": expect[2].by") and "calendar-out-of-range" in issue.message


LAST_DAY = """\
scenario: last-day-after-close
title: a voucher after the close of the last day the calendar knows
world:
  start: 2026-12-31
steps:
  - at: "18:10"
    send: {id: late, template: direct-payment, bank: bank-b, amount: "720.00"}
expect:
  - receipt: {voucher: late, none: true}
    by: "23:59"
"""


def test_a_run_that_needs_a_day_past_the_calendar_is_the_runs_error(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # valid as written (every date in it is known), but the next business day after 2026-12-31 is not
    path = tmp_path / "last-day.yaml"
    path.write_text(LAST_DAY, encoding="utf-8")
    assert main(["scenario", "run", str(path), "--quiet"]) == 1  # was: a traceback out of the runner
    out = capsys.readouterr().out
    assert "cannot run: calendar-out-of-range" in out
