"""False passes of the scenario verdicts (issue 15): a result belongs to the submission that got
through the gateway, "paid" is when the bank's receipt says so, a receipt pays the voucher's
amount to the fen. Each test here failed on the code before the fix."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from runner.expectations import evaluate
from runner.observed import ReceiptSeen, SentVoucher, Verdict
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
