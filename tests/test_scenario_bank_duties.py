"""Scenario files that give a bank a behaviour profile, its parameters and its payees' returns,
and expect refunds, refusals of its own sends and its scorecard: what the loader accepts, and
what it refuses with `file:line: field: message`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from business_time.clock import at
from runner.expectations import evaluate_one
from runner.observed import Observed, RefundSeen, SentVoucher, Verdict
from runner.scenario_file import ScenarioError, load_text

BASE = """\
scenario: t
world:
  start: 2026-03-10
  banks:
    - id: bank-a
      code: "999100000001"
{bank}
{other}
steps:
  - at: "10:00"
    send: {{id: pay, template: direct-payment, bank: bank-a, amount: "10.00"{no}}}
expect:
{expect}
"""


OTHER_BANK = '    - id: bank-b\n      code: "999100000002"'  # stands for the payee's bank of a return


def load(bank: str = "", *, no: str = ", voucher_no: ZZT0001", expect: str = "  - invariants: {}",
         other: str = OTHER_BANK) -> object:
    return load_text(BASE.format(bank=bank, no=no, expect=expect, other=other), "t.yaml")


def problems(**kw: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(**kw)
    return info.value.lines()


def test_a_profile_its_params_and_returns_are_read() -> None:
    s = load("      profile: slow\n      params: {late_business_days: 2}\n"
             "      returns:\n        - {voucher: pay, at: \"D+1 10:00\", reason: wrong-account}")
    bank = s.world.banks[0]  # type: ignore[attr-defined]
    assert (bank.profile, bank.behaviour, dict(bank.params)) == ("slow", "slow", {"late_business_days": 2})
    [ret] = bank.returns
    assert (ret.voucher, ret.voucher_no, ret.reason) == ("pay", "ZZT0001", "wrong-account")
    assert ret.at == at(dt.date(2026, 3, 11), dt.time(10, 0))


def test_standard_is_prompt() -> None:
    assert load().world.banks[0].behaviour == "prompt"  # type: ignore[attr-defined]


def test_an_unknown_profile_is_refused_at_its_line() -> None:
    [line] = problems(bank="      profile: sleepy")
    assert line.startswith("t.yaml:7: world.banks[0].profile: no bank profile 'sleepy'")


def test_bad_params_are_refused_with_the_profile_s_message() -> None:
    [line] = problems(bank="      profile: slow\n      params: {late_pct: 300}")
    assert line.startswith("t.yaml:8: world.banks[0].params: profile parameter late_pct: 300")


def test_params_without_a_behaviour_profile_are_refused() -> None:
    [line] = problems(bank="      params: {late_pct: 3}")
    assert line.startswith("t.yaml:7: world.banks[0].params: profile standard takes no params")


def test_a_return_needs_an_explicit_voucher_no() -> None:
    [line] = problems(bank="      returns:\n        - {voucher: pay, at: \"D+1 10:00\"}", no="")
    assert line.startswith("t.yaml:8: world.banks[0].returns[0].voucher: the payment 'pay' needs an explicit "
                           "voucher_no")


def test_a_return_of_an_unknown_voucher_or_before_it_was_sent_is_refused() -> None:
    lines = problems(bank="      returns:\n        - {voucher: nope, at: \"D+1 10:00\"}\n"
                          "        - {voucher: pay, at: \"09:00\"}")
    assert lines[0].startswith("t.yaml:8: world.banks[0].returns[0].voucher: no voucher 'nope'")
    assert lines[1].startswith("t.yaml:9: world.banks[0].returns[1].at: the money comes back after it was sent")


def test_a_return_needs_another_bank_to_stand_for_the_payee_s_bank() -> None:
    [line] = problems(bank="      returns:\n        - {voucher: pay, at: \"D+1 10:00\"}", other="")
    assert line.startswith("t.yaml:8: world.banks[0].returns[0].voucher: a payee's return needs another bank")


def test_a_bad_return_reason_is_a_schema_error() -> None:
    [line] = problems(bank="      returns:\n        - {voucher: pay, at: \"D+1 10:00\", reason: lost}")
    assert line.startswith("t.yaml:8: world.banks[0].returns[0].reason:")


def test_scorecard_and_refused_name_a_bank_of_the_world() -> None:
    lines = problems(expect="  - scorecard: {bank: bank-z}\n  - refused: {bank: treasury, code: bad-signature}")
    assert lines[0].startswith("t.yaml:14: expect[0].scorecard.bank: no bank 'bank-z'")
    assert lines[1].startswith("t.yaml:15: expect[1].refused.bank: no bank 'treasury'")


def test_refund_expectation_reads_the_bank_s_refund_requests() -> None:
    s = load(expect="  - refund: {voucher: pay, state: rejected, code: refund-unmatched}")
    e = s.expectations[0]  # type: ignore[attr-defined]
    when = at(dt.date(2026, 3, 11), dt.time(10, 0))
    accepted_by_gateway = Verdict("gateway", "gateway", True, None, "accepted", when, "accepted")
    sent = SentVoucher("pay", "990100/2026/5201/ZZT0001/0", "5201", "ZZT0001", 0, "treasury", "bank-a",
                       "999100000001", 10_00, when, verdicts=(accepted_by_gateway,))
    base = Observed("t", 1, when, when + dt.timedelta(days=1), sent=(sent,))
    refused = RefundSeen("bank-a", "ZZT0001", "TK1", 10_00, when, "rejected", "refund-unmatched", "TP1")
    assert evaluate_one(e, dataclasses.replace(base, refunds=(refused,))).ok
    accepted = dataclasses.replace(refused, state="accepted", code=None)
    assert not evaluate_one(e, dataclasses.replace(base, refunds=(accepted,))).ok
    assert not evaluate_one(e, base).ok


def test_the_html_report_shows_the_scorecard_and_flags() -> None:
    from business_time.calendar import BusinessCalendar
    from runner.report import RunResult, html_report
    from treasury_sim.scorecard import DutyEvent, scorecard

    s = load()
    day = dt.date(2026, 3, 10)
    late = [DutyEvent("bank-a", "receipt", f"r{i}", at(day, dt.time(11, 0)), at(day, dt.time(14, 0)))
            for i in range(3)]
    cards = tuple(scorecard(late, BusinessCalendar.default()))
    when = at(day, dt.time(8, 0))
    o = Observed("t", 1, when, when + dt.timedelta(days=1), scorecard=cards)
    page = html_report([RunResult(s, o, ())])  # type: ignore[arg-type]
    assert "Bank scorecard" in page and "FLAGGED" in page and "feedback: 3 late in the month" in page


def test_a_refund_of_a_voucher_the_gateway_refused_is_not_its_refund() -> None:
    """A submission refused at the gateway (e.g. `duplicate-conflict` under an accepted number)
    never reached the bank: a refund under that number is not this voucher's."""
    s = load(expect="  - refund: {voucher: pay, state: rejected, code: refund-unmatched}")
    e = s.expectations[0]  # type: ignore[attr-defined]
    when = at(dt.date(2026, 3, 11), dt.time(10, 0))
    refused_by_gateway = Verdict("gateway", "gateway", False, "duplicate-conflict", "refused", when, "rejected")
    sent = SentVoucher("pay", "990100/2026/5201/ZZT0001/0", "5201", "ZZT0001", 0, "treasury", "bank-a",
                       "999100000001", 10_00, when, verdicts=(refused_by_gateway,))
    base = Observed("t", 1, when, when + dt.timedelta(days=1), sent=(sent,))
    refund = RefundSeen("bank-a", "ZZT0001", "TK1", 10_00, when, "rejected", "refund-unmatched", "TP1")
    assert not evaluate_one(e, dataclasses.replace(base, refunds=(refund,))).ok
