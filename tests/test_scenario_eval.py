"""Expectations and the three-way reconciliation, as pure functions over a synthetic observed run."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.expectations import evaluate
from runner.observed import ClearingSeen, MovementSeen, ReceiptSeen, StatementSeen, Verdict
from runner.reconcile import reconcile
from runner.scenario_file import load_text
from tests.scenario_fixtures import D1, D2, WORLD_AND_STEPS, observed, t

SCENARIO = "scenario: eval-fixture\n" + WORLD_AND_STEPS + "expect:\n"


def outcomes(expect_yaml: str, o: object = None) -> list[tuple[bool, str, str]]:
    s = load_text(SCENARIO + expect_yaml, "eval.yaml")
    return [(x.ok, x.expected, x.actual) for x in evaluate(s.expectations, o or observed())]  # type: ignore[arg-type]


def test_the_consistent_run_meets_every_kind_of_expectation() -> None:
    results = outcomes("""
  - accepted: {voucher: v1, who: gateway}
    by: "10:00"
  - receipt: {voucher: v2, from: bank-a, fields: {XPayAmt: "50.00", XPayDate: "20260310"}}
    by: "17:00"
  - clearing: {voucher: v1, includes: true, clear_type: normal, state: accepted}
    by: "16:00"
  - clearing: {voucher: v2, includes: false, clear_type: normal}
  - clearing: {voucher: v2, includes: true, clear_type: replenishment, state: accepted}
    by: "D+1 10:00"
  - balance: {owner: bank-a, account: reserve, equals: "20000000.00"}
  - balance: {owner: bank-a, account: zba-finance, equals: "0.00", close_of: "2026-03-10"}
  - zero_balance_at_close: {}
  - invariants: {}
  - reconciliation: {clean: true}
  - count: {vtcode: "2301", flag: 0, equals: 2}
    by: "16:00"
  - count: {vtcode: "2301", sender: bank-a, at_least: 2}
""")
    assert [r for r in results if not r[0]] == []


def test_deadlines_are_business_times_and_a_late_event_fails_with_expected_and_actual() -> None:
    [(ok, expected, actual)] = outcomes("""
  - clearing: {voucher: v2, includes: true, clear_type: replenishment, state: accepted}
    by: "D+1 08:30"
""")
    assert not ok
    assert "2026-03-11 08:30" in expected and "HKA2" in actual and "filed 2026-03-11 08:45" in actual


def test_a_rejection_names_its_code_and_who_said_it() -> None:
    o = observed()
    v1 = o.sent[0]
    refused = dataclasses.replace(v1, verdicts=(*v1.verdicts, Verdict("pboc", "pboc-990100", False, "after-cutoff",
                                                                      "received 16:01", t(D1, 16, 1))))
    o = dataclasses.replace(o, sent=(refused, *o.sent[1:]))
    results = outcomes("""
  - rejected: {voucher: v1, code: after-cutoff, who: pboc}
  - rejected: {voucher: v1, code: over-quota, who: pboc}
  - rejected: {voucher: v1, code: after-cutoff, who: gateway}
  - accepted: {voucher: v1, who: gateway}
""", o)
    assert [r[0] for r in results] == [True, False, False, True]
    assert "after-cutoff by pboc (pboc-990100)" in results[1][2]


def test_a_failed_voucher_expectation_carries_the_trace() -> None:
    s = load_text(SCENARIO + """
  - receipt: {voucher: v1, fields: {XPayAmt: "99.00"}}
""", "eval.yaml")
    [out] = evaluate(s.expectations, observed())
    assert not out.ok and out.actual.endswith("XPayAmt=100.00")
    assert out.voucher_key == "990100/2026/5201/ZZ001/0" and out.trace_link == "/v1/trace/990100/2026/5201/ZZ001"
    assert [e.step for e in out.trace] == ["journaled", "delivered"]


def test_balance_names_the_account_it_did_not_find() -> None:
    [(ok, _, actual)] = outcomes("""
  - balance: {owner: bank-a, account: nowhere, equals: "0.00"}
""")
    assert not ok and "no account 'nowhere'" in actual


# ----------------------------------------------------------------------------- reconciliation


def rec(**changes: object):  # type: ignore[no-untyped-def]
    o = observed(**changes)
    assert o.reconciliation is not None
    return o.reconciliation


def test_the_consistent_run_reconciles_clean_by_day_and_month() -> None:
    r = rec()
    assert r.clean, r.breaks
    assert [(d.day, d.bank_paid_fen, d.pboc_debits_fen) for d in r.days] == [(D1, 170_00, 120_00), (D2, 0, 50_00)]
    assert r.months == (("2026-03", 170_00, 170_00, 170_00),)


def test_a_missing_receipt_is_a_break_with_its_voucher() -> None:
    o = observed()
    r = rec(receipts=o.receipts[1:])
    causes = {(b.cause, b.vouchers) for b in r.breaks}
    assert ("no-receipt", ("ZZ001",)) in causes and ("day-mismatch", ("ZZ001",)) in causes
    assert any(b.cause == "month-mismatch" for b in r.breaks)


def test_a_rejected_clearing_request_breaks_its_payments_and_names_the_code() -> None:
    o = observed()
    hka1 = dataclasses.replace(o.clearings[0], state="rejected", code="over-quota", reason="exceeds", cleared_fen=0)
    r = rec(clearings=(hka1, *o.clearings[1:]), movements=o.movements[1:],
            statements=(StatementSeen(D1, 1000_00, 20_00, 0, 980_00), StatementSeen(D2, 980_00, 50_00, 0, 930_00)))
    [brk] = [b for b in r.breaks if b.cause == "clearing-rejected"]
    assert brk.vouchers == ("ZZ001",) and "over-quota" in brk.detail


def test_a_statement_that_disagrees_with_the_movements_is_a_break() -> None:
    o = observed()
    r = rec(statements=(o.statements[0], StatementSeen(D2, 880_00, 40_00, 0, 840_00)))
    assert [b.cause for b in r.breaks] == ["statement-mismatch"]
    r = rec(statements=o.statements[:1])
    assert [(b.cause, b.day) for b in r.breaks] == [("statement-missing", D2)]


def test_a_duplicate_receipt_and_a_wrong_amount_are_breaks() -> None:
    o = observed()
    again = ReceiptSeen("ZZ003", "5201", "bank-b", t(D1, 12, 0), {"XPayDate": "20260310", "XPayAmt": "20.00"})
    wrong = dataclasses.replace(o.receipts[0], fields={**o.receipts[0].fields, "XPayAmt": "10.00"})
    r = rec(receipts=(wrong, *o.receipts[1:], again))
    causes = {(b.cause, b.vouchers) for b in r.breaks}
    assert ("duplicate-receipt", ("ZZ003",)) in causes and ("receipt-amount", ("ZZ001",)) in causes


def test_a_tsa_debit_no_bank_booked_is_a_break() -> None:
    o = observed()
    extra = MovementSeen(D1, "D", 5_00, "999100000002", "clearing", "HKB9")
    r = rec(movements=(*o.movements, extra),
            statements=(StatementSeen(D1, 1000_00, 125_00, 0, 875_00), StatementSeen(D2, 875_00, 50_00, 0, 825_00)))
    assert {b.cause for b in r.breaks} == {"movement-unknown", "day-mismatch", "month-mismatch"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bank-a", "bank-b"]), st.integers(1, 10_000_00),
                          st.integers(9 * 60, 15 * 60 + 29)), min_size=1, max_size=25),
       st.integers(0, 24), st.sampled_from(["receipt", "payment", "movement", "none"]))
def test_generated_days_reconcile_clean_and_one_loss_is_exactly_one_voucher_break(
        vouchers: list[tuple[str, int, int]], drop_index: int, drop: str) -> None:
    from runner.observed import PaymentSeen, SentVoucher
    from tests.scenario_fixtures import CODES

    sent, payments, receipts, by_bank = [], [], [], {}
    for i, (bank, fen, minute) in enumerate(vouchers):
        no = f"ZZ{i:05d}"
        when = t(D1, minute // 60, minute % 60)
        sent.append(SentVoucher(no, f"k/{no}", "5201", no, 0, "treasury", bank, CODES[bank], fen, when,
                                verdicts=(Verdict("gateway", "gw", True, None, "", when),)))
        payments.append(PaymentSeen(bank, CODES[bank], no, "5201", fen, "clearing", when, D1, f"HK{bank}"))
        receipts.append(ReceiptSeen(no, "5201", bank, when, {"XPayDate": "20260310", "XPayAmt": f"{fen / 100:.2f}"}))
        by_bank.setdefault(bank, []).append((no, fen))
    clearings = [ClearingSeen(b, CODES[b], f"HK{b}", 0, "11", D1, t(D1, 15, 30), sum(f for _, f in ps),
                              tuple(n for n, _ in ps), "accepted", cleared_fen=sum(f for _, f in ps),
                              answered_at=t(D1, 15, 30)) for b, ps in sorted(by_bank.items())]
    movements = [MovementSeen(D1, "D", c.cleared_fen, c.bank_code, "clearing", c.voucher_no) for c in clearings]
    total = sum(c.cleared_fen for c in clearings)
    statements = [StatementSeen(D1, 10**12, total, 0, 10**12 - total)]

    def run() -> list[tuple[str, tuple[str, ...]]]:
        r = reconcile(sent=sent, receipts=receipts, payments=payments, clearings=clearings, movements=movements,
                      statements=statements, business_days=[D1], opening_fen=10**12)
        return [(b.cause, b.vouchers) for b in r.breaks]

    assert run() == []
    i = drop_index % len(vouchers)
    no = f"ZZ{i:05d}"
    if drop == "receipt":
        del receipts[i]
        assert ("no-receipt", (no,)) in run()
    elif drop == "payment":
        del payments[i]
        found = run()
        assert ("not-paid", (no,)) in found and ("clearing-sum", ()) not in found
    elif drop == "movement":
        movements.pop(0)
        assert any(c == "clearing-no-movement" for c, _ in run())
    else:
        assert run() == []


@pytest.mark.parametrize("cause", ["paid-unknown", "receipt-unknown"])
def test_money_nobody_sent_is_a_break(cause: str) -> None:
    o = observed()
    if cause == "paid-unknown":
        stray = dataclasses.replace(o.payments[0], voucher_no="ZZ999")
        r = rec(payments=(*o.payments, stray))
    else:
        r = rec(receipts=(*o.receipts, dataclasses.replace(o.receipts[0], voucher_no="ZZ999")))
    assert (cause, ("ZZ999",)) in {(b.cause, b.vouchers) for b in r.breaks}


def test_breaks_listed_in_a_scenario_match_exactly() -> None:
    o = observed()
    o = observed(receipts=o.receipts[1:])
    results = outcomes("""
  - reconciliation: {breaks: [{cause: no-receipt, vouchers: [v1]}, {cause: day-mismatch}, {cause: month-mismatch}]}
  - reconciliation: {breaks: [{cause: no-receipt, vouchers: [v1]}]}
""", o)
    assert [r[0] for r in results] == [True, False]
    _ = D2


@settings(max_examples=60, deadline=None)
@example(offset_us=0, strict=True, state=None)
@example(offset_us=0, strict=False, state="accepted")
@example(offset_us=-1, strict=True, state="accepted")
@given(offset_us=st.integers(min_value=-2_000_000, max_value=2_000_000), strict=st.booleans(),
       state=st.sampled_from([None, "accepted"]))
def test_before_is_strictly_before_and_by_is_at_or_before(offset_us: int, strict: bool, state: str | None) -> None:
    # The agreement's deadlines read "16:00前": a clearing request filed (and answered) at 16:00:00
    # is late under `before:`, on time under `by:`; a microsecond earlier it is on time under both.
    import datetime as dt

    at = t(D1, 16, 0) + dt.timedelta(microseconds=offset_us)
    o = observed()
    hka1 = dataclasses.replace(o.clearings[0], filed_at=at, answered_at=at)
    o = dataclasses.replace(o, clearings=(hka1, *o.clearings[1:]))
    keyword = "before" if strict else "by"
    wanted = f", state: {state}" if state else ""
    [(ok, expected, _)] = outcomes(f"""
  - clearing: {{voucher: v1, includes: true, clear_type: normal{wanted}}}
    {keyword}: "16:00"
""", o)
    on_time = at < t(D1, 16, 0) if strict else at <= t(D1, 16, 0)
    assert ok is on_time
    assert (f"{keyword} 2026-03-10 16:00:00" in expected) is True


def test_a_deadline_is_by_or_before_never_both() -> None:
    from runner.scenario_file import ScenarioError

    with pytest.raises(ScenarioError):
        load_text(SCENARIO + """
  - clearing: {voucher: v1, includes: true}
    by: "16:00"
    before: "16:00"
""", "eval.yaml")
