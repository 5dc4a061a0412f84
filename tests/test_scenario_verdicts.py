"""False passes of the scenario verdicts (issue 15): a result belongs to the submission that got
through the gateway, "paid" is when the bank's receipt says so, a receipt pays the voucher's
amount to the fen. Each test here failed on the code before the fix."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from runner.expectations import evaluate
from runner.observed import ReceiptSeen, ReportSeen, SentVoucher, Verdict
from runner.reconcile import reconcile
from runner.scenario_file import load_text
from runner.scenario_run import run_scenario
from tests.scenario_fixtures import D1, D2, WORLD_AND_STEPS, observed, t

DUPLICATE_CONFLICT = """
scenario: dup-alias
title: the refused second submission under a number is not the first
world: {start: 2026-03-10}
steps:
  - at: "10:00"
    send: {id: first, template: direct-payment, bank: bank-a, amount: "10.00", voucher_no: ZZALIAS01}
  - at: "10:10"
    send: {id: second, template: direct-payment, bank: bank-a, amount: "99.00", voucher_no: ZZALIAS01}
expect:
  - accepted: {voucher: first, who: bank}
  - clearing: {voucher: first, includes: true, state: accepted}
  - receipt: {voucher: first, from: bank-a}
  - rejected: {voucher: second, code: duplicate-conflict, who: gateway}
  - name: second paid by the bank (never reached it)
    accepted: {voucher: second, who: bank}
  - name: second cleared (never reached the bank)
    clearing: {voucher: second, includes: true}
  - name: second's receipt (never reached the bank)
    receipt: {voucher: second}
  - clearing: {voucher: second, includes: false}
  - reconciliation: {clean: true}
"""


def test_a_refused_resubmission_under_the_same_number_does_not_alias_the_accepted_one(tmp_path: Path) -> None:
    r = asyncio.run(run_scenario(load_text(DUPLICATE_CONFLICT, "dup.yaml"), tmp_path))
    assert r.error is None, r.error
    failed = {o.name for o in r.outcomes if not o.ok}
    assert failed == {"second paid by the bank (never reached it)", "second cleared (never reached the bank)",
                      "second's receipt (never reached the bank)"}, [(o.name, o.actual) for o in r.outcomes]


PAID_NEXT_MORNING = """
scenario: paid-next-morning
title: a voucher after the close is paid the next morning, not when it arrived
world: {start: 2026-03-10}
steps:
  - at: "17:30"
    send: {id: late, template: direct-payment, bank: bank-a, amount: "17.30"}
expect:
  - name: paid by 17:45 (it was not)
    accepted: {voucher: late, who: bank}
    by: "17:45"
  - name: paid by 10:00 the next business day
    accepted: {voucher: late, who: bank}
    by: "D+1 10:00"
"""


def test_paid_is_when_the_receipt_came_not_when_the_voucher_arrived(tmp_path: Path) -> None:
    r = asyncio.run(run_scenario(load_text(PAID_NEXT_MORNING, "late.yaml"), tmp_path))
    assert r.error is None, r.error
    by_name = {o.name: o for o in r.outcomes}
    assert not by_name["paid by 17:45 (it was not)"].ok
    assert "2026-03-11" in by_name["paid by 17:45 (it was not)"].actual
    assert by_name["paid by 10:00 the next business day"].ok


def _outcomes(expect_yaml: str, o: object) -> list[tuple[bool, str, str]]:
    s = load_text("scenario: verdicts\n" + WORLD_AND_STEPS + "expect:\n" + expect_yaml, "v.yaml")
    return [(x.ok, x.expected, x.actual) for x in evaluate(s.expectations, o)]  # type: ignore[arg-type]


def test_a_receipt_one_fen_short_fails_the_receipt_expectation_without_fields() -> None:
    o = observed()
    short = tuple(dataclasses.replace(r, fields={**r.fields, "XPayAmt": "49.99"}) if r.voucher_no == "ZZ002" else r
                  for r in o.receipts)
    [(ok_right, _, _)] = _outcomes("  - receipt: {voucher: v2}\n", o)
    [(ok, expected, actual)] = _outcomes("  - receipt: {voucher: v2}\n", observed(receipts=short))
    assert ok_right and not ok
    assert "XPayAmt=50.00" in expected and "XPayAmt=49.99" in actual


def _refused_twin(o_sent: tuple[SentVoucher, ...]) -> tuple[SentVoucher, ...]:
    """v1 sent again under its number with another amount, refused duplicate-conflict, listed after it."""
    v1 = o_sent[0]
    twin = dataclasses.replace(v1, id="twin", amount_fen=999_00, sent_at=t(D1, 10, 10),
                               verdicts=(Verdict("gateway", "gateway", False, "duplicate-conflict", "", t(D1, 10, 10)),))
    return (*o_sent, twin)


def test_the_reconciliation_keeps_the_accepted_voucher_not_a_refused_twin() -> None:
    o = observed()
    rec = reconcile(sent=_refused_twin(o.sent), receipts=o.receipts, payments=o.payments, clearings=o.clearings,
                    movements=o.movements, statements=o.statements, business_days=(D1, D2), opening_fen=1000_00)
    assert rec.breaks == ()


def test_a_refused_receipt_never_reached_stays_out_of_the_day_totals() -> None:
    o = observed()
    extra = ReceiptSeen("ZZ001", "5201", "bank-a", t(D1, 10, 20), {"XPayDate": "20260310", "XPayAmt": "100.00"})
    rec = reconcile(sent=_refused_twin(o.sent), receipts=(*o.receipts, extra), payments=o.payments,
                    clearings=o.clearings, movements=o.movements, statements=o.statements, business_days=(D1, D2),
                    opening_fen=1000_00)
    assert {b.cause for b in rec.breaks} == {"duplicate-receipt"}


# ------------------------------------------------------------------------------ what a scenario can now see

ROOT = Path(__file__).resolve().parent.parent


def _report(stated: int, books: int, vtcode: str = "2206") -> ReportSeen:
    return ReportSeen("bank-a", vtcode, f"RB{vtcode}", "20260310", "20260310", stated, books, t(D2, 9, 30))


@pytest.mark.parametrize(("reports", "ok"), [
    ((), False),  # none arrived: nothing to agree
    ((_report(150_00, 150_00), _report(150_00, 150_00, "3501")), True),
    ((_report(150_00, 150_00), _report(150_01, 150_00, "3501")), False),  # the statement 0.01 too high
    ((_report(149_99, 150_00),), False),
])
def test_reports_match_fails_on_one_fen(reports: tuple[ReportSeen, ...], ok: bool) -> None:
    [(got, _, actual)] = _outcomes("  - reports_match: {bank: bank-a}\n", observed(reports=reports))
    assert got is ok, actual
    if reports and not ok:
        assert "DIFFERS" in actual


def test_reports_match_of_one_vtcode_looks_at_that_one_only() -> None:
    o = observed(reports=(_report(150_00, 150_00), _report(150_01, 150_00, "3501")))
    [(ok, _, _)] = _outcomes('  - reports_match: {bank: bank-a, vtcode: "2206"}\n', o)
    assert ok


def test_a_receipt_field_must_be_present_and_non_empty() -> None:
    o = observed()
    blank = tuple(dataclasses.replace(r, fields={**r.fields, "XAgentBusinessNo": " "}) if r.voucher_no == "ZZ002"
                  else r for r in o.receipts)
    expect = "  - receipt: {voucher: v2, present: [XAgentBusinessNo]}\n"
    [(ok, _, _)] = _outcomes(expect, o)
    [(ok_blank, _, actual)] = _outcomes(expect, observed(receipts=blank))
    assert ok and not ok_blank and "XAgentBusinessNo=(absent or empty)" in actual


# a catalogue scenario's new expectation, changed by one fen (or one code), must fail: (file, from, to, name)
MUTATIONS = [
    ("unit-quota-second-payment-over-quota-returned", 'unit: "101001", equals: "400.00"}\n  - name: the unit\'s '
     "quota left in", 'unit: "101001", equals: "400.01"}\n  - name: the unit\'s quota left in',
     "the unit's quota left at the bank after the one payment"),
    ("unit-quota-second-payment-over-quota-returned", 'owner: treasury, unit: "101001", equals: "400.00"',
     'owner: treasury, unit: "101001", equals: "399.99"',
     "the unit's quota left in the treasury's books (its 7101 less the 8202 receipts)"),
    ("refund-payee-return-prompt-bank", 'year: "2026", equals: "3456.78"', 'year: "2026", equals: "3456.77"',
     "the treasury restores the unit's quota by the refund (a refund of this year)"),
    ("quota-missing-no-quota-notice", 'equals: "300.00"', 'equals: "300.01"',
     "what bank-a's accepted clearing requests of the day cleared"),
    ("quota-missing-no-quota-notice", "code: no-quota-notice}\n  - name: what", "code: over-quota}\n  - name: what",
     "the central bank refuses bank-b's clearing request for want of a quota notice"),
    ("duplicate-same-bytes", ', fault: duplicate}', "}", "the repeat is answered duplicate, not accepted again"),
    ("quota-exhausted-over-quota", 'day: D+0, equals: "0.00"', 'day: D+0, equals: "0.01"',
     "nothing cleared beyond the quota: the two payments stay in one request, never split"),
    ("clearing-refused-over-quota-held-not-reserve", 'equals: "1150.00"', 'equals: "1149.99"',
     "the day's payments cleared in full, and nothing more: the quota and its supplement"),
    ("clearing-refused-over-quota-held-not-reserve", "rejected: {voucher: small, code: over-quota",
     "rejected: {voucher: small, code: no-quota-notice", "never split: the refused request held all three payments"),
    # across the year end: 2026-01-01..03 off, Sunday 01-04 a make-up working day
    ("year-end-advance-replenished-sunday-0104", 'XPayDate: "20260104", XPayAmt: "880.00"',
     'XPayDate: "20260102", XPayAmt: "880.00"', "the voucher after the close paid on the make-up Sunday by 10:00"),
    ("year-end-advance-replenished-sunday-0104", 'before: "2026-01-04 12:00"', 'before: "2026-01-04 08:30"',
     "the reserve replenished on the make-up Sunday's morning"),
]


@pytest.mark.parametrize(("scenario", "old", "new", "name"), MUTATIONS)
def test_each_new_observable_holds_in_the_catalogue_and_fails_when_off(tmp_path: Path, scenario: str, old: str,
                                                                        new: str, name: str) -> None:
    text = (ROOT / "scenarios" / f"{scenario}.yaml").read_text(encoding="utf-8")
    assert old in text
    for body, ok in ((text, True), (text.replace(old, new), False)):
        s = load_text(body, f"{scenario}.yaml", base=ROOT / "scenarios")
        r = asyncio.run(run_scenario(s, tmp_path / str(ok)))
        assert r.error is None, r.error
        [outcome] = [o for o in r.outcomes if o.name == name]
        assert outcome.ok is ok, (outcome.expected, outcome.actual)
        assert {o.name for o in r.outcomes if not o.ok} <= {name}


# ------------------------------------------------------------------------------ the rules, not one bank's habits

# three schedules inside the rules: first filing before the 16:00 cutoff, replenishment in the central
# bank's 08:30-12:00 window, the overnight queue paid by 10:00 (filing, replenish, open)
SCHEDULES = [("15:30", "08:30", "08:00"), ("15:45", "09:45", "09:55"), ("15:55", "08:45", "09:00")]
CLOCK_EDGES = ("edge-1529-in-the-days-clearing", "edge-1559-cleared-same-day", "edge-1600-at-the-cutoff-advanced",
               "edge-1601-after-the-cutoff-advanced", "edge-1700-at-the-close-deferred",
               "after-close-paid-by-1000-next-day", "after-close-friday-paid-monday",
               "holiday-spring-festival-voucher-waits-for-0224",
               "authorized-payment-unit-zba-at-zero", "quota-exhausted-over-quota", "zero-balance-busy-week",
               "clearing-refused-over-quota-held-not-reserve",
               "month-end-3502-reconciliation", "holiday-spring-festival-advance-replenished-0224",
               "year-end-advance-replenished-sunday-0104")


def _hm(text: str) -> dt.time:
    return dt.time(int(text[:2]), int(text[3:]))


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["-".join(s) for s in SCHEDULES])
@pytest.mark.parametrize("scenario", CLOCK_EDGES)
def test_the_clock_edges_hold_for_any_bank_schedule_inside_the_rules(tmp_path: Path, scenario: str,
                                                                      schedule: tuple[str, str, str]) -> None:
    from runner.scenario_file import load_scenario

    filing, replenish, opening = (_hm(x) for x in schedule)
    s = load_scenario(ROOT / "scenarios" / f"{scenario}.yaml")
    banks = tuple(dataclasses.replace(b, filing_time=filing, replenish_time=replenish, open_time=opening)
                  for b in s.world.banks)
    s = dataclasses.replace(s, world=dataclasses.replace(s.world, banks=banks))
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None, r.error
    assert [(o.name, o.expected, o.actual) for o in r.outcomes if not o.ok] == []


def test_a_budget_units_account_is_refused_not_ignored() -> None:
    from runner.scenario_file import ScenarioError

    with pytest.raises(ScenarioError) as err:
        load_text('scenario: s\ntitle: t\nworld: {start: 2026-03-10, budget_units: [{agency: "101001", '
                  'account: "9999000000000001"}]}\nsteps: []\nexpect:\n  - invariants: {}\n', "units.yaml")
    assert "world.budget_units[0].account: unknown key 'account'" in str(err.value)
