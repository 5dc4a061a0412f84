"""The account registry in scenarios (docs/accounts.md): `world.accounts` and `account:` steps as
the loader reads them, their errors, and the `account_notice` expectation both ways: the
agreement's 3 working days (004 part 3 §9(1)) pass a bank that opens on the 3rd and fail one that
opens on the 4th, whatever the scenario claims."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from business_time.calendar import BusinessCalendar
from runner.expectations import evaluate
from runner.scenario_file import (
    CATALOGUE_DIR,
    AccountSpec,
    Expectation,
    ScenarioError,
    load_scenario,
    load_text,
)
from runner.scenario_run import run_scenario
from treasury_sim.account_notices import AccountNoticeLog, deadline

HEAD = """
scenario: s
world:
  start: 2026-03-10
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(HEAD + text + "expect:\n  - zero_balance_at_close: {}\n", "x.yaml")
    return info.value.lines()


def test_world_accounts_and_account_steps_load() -> None:
    s = load_text(HEAD + """  accounts:
    - {bank: bank-a, type: unit-real-fund, unit: "101001", number: "9999000000006001", name: 示例市第一中学}
steps:
  - at: "09:00"
    account: {id: n, action: change, bank: bank-b, type: unit-zero-balance, unit: "101002",
              number: "9999000000005002", replaces: "9999000000005001"}
expect:
  - account_notice: {notice: n}
""", "x.yaml")
    assert s.world.accounts == (AccountSpec("bank-a", "3", "9999000000006001", "示例市第一中学", "101001"),)
    (step,) = s.steps
    assert step.action == "account" and step.order["replaces"] == "9999000000005001"
    assert step.order["account"].acct_type == "2" and step.order["account"].bank == "bank-b"


@pytest.mark.parametrize(("text", "where"), [
    ("  budget_units:\n    - {agency: '101001', account: '9999000000006001'}\n", "x.yaml:6: world.budget_units[0]"),
    ("  accounts:\n    - {bank: bank-z, type: unit-real-fund, unit: '101001', number: '9999000000006001'}\n",
     "x.yaml:6: world.accounts[0].bank: no bank"),
    ("  accounts:\n    - {bank: bank-a, type: unit-real-fund, number: '9999000000006001'}\n",
     "x.yaml:6: world.accounts[0].unit"),
    ("  accounts:\n    - {bank: bank-a, type: unit-real-fund, unit: '999999', number: '9999000000006001'}\n",
     "x.yaml:6: world.accounts[0].unit: no unit"),
    ("  accounts:\n    - {bank: bank-a, type: savings, number: '9999000000006001'}\n", "x.yaml:6: world.accounts[0]"),
    ("  accounts:\n    - {bank: bank-a, type: fiscal-special, number: '9999000000006001', colour: red}\n",
     "x.yaml:6: world.accounts[0]"),
])
def test_bad_declarations_are_refused_naming_the_field(text: str, where: str) -> None:
    """An unknown key (budget_units[].account among them) is refused, never ignored."""
    found = errors(text)
    assert any(line.startswith(where) for line in found), found


def test_an_account_notice_expectation_names_an_account_step() -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(HEAD + "steps:\n  - send: {id: p, template: direct-payment, bank: bank-a, amount: '1.00'}\n"
                  "expect:\n  - account_notice: {notice: p}\n", "x.yaml")
    found = info.value.lines()
    assert any("no account step 'p'" in line for line in found), found


def test_the_deadline_is_the_third_working_day_after_the_notice() -> None:
    cal = BusinessCalendar.default()
    assert deadline(cal, dt.date(2026, 3, 10)) == dt.date(2026, 3, 13)  # Tue → Fri
    assert deadline(cal, dt.date(2026, 3, 12)) == dt.date(2026, 3, 17)  # Thu → Tue (a weekend between)
    log = AccountNoticeLog()
    sent = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    log.notice(voucher_no="ZH1", bank="999100000001", action="open", acct_type="2", acct_no="9999000000005001",
               acct_name="x", agency="101001", now=sent)
    assert log.outcome(cal, "990100/2026/7601/ZH1") == ("pending", dt.date(2026, 3, 13))
    log.confirmed({"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": "ZH1", "XConfirmDate": "20260316"}, sent)
    assert log.outcome(cal, "990100/2026/7601/ZH1")[0] == "late"


def test_day_4_fails_and_day_3_passes_the_agreements_deadline(tmp_path: Path) -> None:
    s = load_scenario(CATALOGUE_DIR / "account-registry-opening-day-4-late.yaml")
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None and not r.failed
    assert r.observed is not None
    claims = [Expectation(0, "account_notice", {"notice": "to-b"}, None, "b on time", 0),  # day 4: not on time
              Expectation(1, "account_notice", {"notice": "to-a", "late": True}, None, "a late", 0),  # day 3: not late
              Expectation(2, "account_notice", {"notice": "to-a", "done": False}, None, "a not done", 0)]
    assert [o.ok for o in evaluate(claims, r.observed)] == [False, False, False]
    # a bank that never confirms fails "done", passes "done: false"
    silent = dataclasses.replace(r.observed, receipts=tuple(x for x in r.observed.receipts if x.vtcode != "7601"))
    got = evaluate([claims[0], dataclasses.replace(claims[2], params={"notice": "to-b", "done": False})], silent)
    assert [o.ok for o in got] == [False, True]


def test_the_treasury_records_the_banks_confirmation_and_keeps_it_in_its_snapshot() -> None:
    from bank_sim.core import BankConfig, BankCore
    from business_time.clock import TZ, ClockConfig
    from messages.voucher import parse_voucher
    from sim.effects import SendVoucher
    from treasury_sim.core import TreasuryConfig, TreasuryCore

    cal, cc, code = BusinessCalendar.default(), ClockConfig(), "999100000001"
    now = dt.datetime(2026, 3, 10, 9, tzinfo=TZ)
    treasury = TreasuryCore(TreasuryConfig(days=1, first_day=now.date()), cal, cc)
    bank = BankCore(code, BankConfig(), cal, cc)
    bank.on_time(now)
    data = treasury.account_notices.notice(voucher_no="ZH0001", bank=code, action="open", acct_type="2",
                                           acct_no="9999000000005001", acct_name="零余额", agency="101001",
                                           sup_dep="101", now=now)
    (receipt,) = [e for e in bank.on_voucher(parse_voucher(data), 0, now) if isinstance(e, SendVoucher)]
    treasury.on_voucher(parse_voucher(receipt.render()), 1, now)
    assert treasury.account_notices.outcome(cal, "990100/2026/7601/ZH0001") == ("on-time", dt.date(2026, 3, 13))
    again = TreasuryCore.restore(treasury.snapshot(), treasury.config, cal, cc)
    assert again.account_notices == treasury.account_notices
