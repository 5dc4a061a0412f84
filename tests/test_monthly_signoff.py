"""The monthly reconciliation and sign-off (runner.monthly_signoff; 003 §40, 004 part 3 §10(3)) over
hand-built observations of one bank's March: the statements are built with the bank's own builders
(bank_sim.reports, bank_sim.reserve_statement) from the same payments and refunds the treasury's
books, the TSA movements and the daily statements (7401) hold. Every level agrees; a single fen
changed on one line of one statement is a break at exactly the level that statement belongs to;
a statement that never came is missing after its deadline; the `signoff:` expectation holds
and fails on the right verdicts."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import reports as rp
from bank_sim import reserve_statement as rs
from business_time.clock import TZ
from messages.money import fen_to_str, parse_fen
from runner.expectations import evaluate
from runner.monthly_signoff import SignoffInput, monthly_signoff, signoff_json
from runner.observed import (
    BankStatementSeen,
    ClearingSeen,
    LevelVerdict,
    MovementSeen,
    Observed,
    PaymentSeen,
    ReceiptSeen,
    RefundNoticeSeen,
    RefundSeen,
    StatementSeen,
    VoucherLines,
)
from runner.report import signoff_html
from runner.scenario_file import load_text
from runner.scenario_run import run_scenario

BANK, CODE = "bank-a", "999100000001"
MONTH = "2026-03"
UNITS = ("101001", "101002", "102001")
SUBJECTS = ("2050203", "2080101", "2100201")
DEADLINE = dt.datetime(2026, 4, 3, 23, 59, 59, tzinfo=TZ)  # 3 working days after 31 March
RESERVE = 1_000_000_00


def t(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


# one payment: (unit index, pay type, fund type, subject index, project, fen, day of March, advanced?, refunded?)
Pay = tuple[int, str, str, int, str, int, int, bool, bool]

payment = st.tuples(st.integers(0, 2), st.sampled_from(("11", "12")), st.sampled_from(("1", "2")), st.integers(0, 2),
                    st.sampled_from(("", "P001")), st.integers(1, 50_000_000), st.integers(2, 27), st.booleans(),
                    st.booleans())


def month_of_payments(pays: Sequence[Pay]) -> SignoffInput:
    """A consistent March of bank-a: each payment cleared (or advanced and replenished the next
    day) and debited from the TSA, a refunded one returned two days after and credited back; the
    3501, the 7104s and the 7203 built by the bank's builders from the same money, signed off."""
    lines: list[VoucherLines] = []
    receipts, payments, clearings, movements, refunds, notices = [], [], [], [], [], []
    stated: dict[rp.Line, int] = {}
    reserve_moves = [rs.Movement("20260301", "1", "", "", RESERVE)]
    for i, (u, pay, fund, subj, project, fen, day, advance, refunded) in enumerate(pays):
        no, filing, paid = f"ZZ{i:05d}", f"HK{i:05d}", dt.date(2026, 3, day)
        key = (UNITS[u], pay, fund, SUBJECTS[subj], project)
        line: rp.Line = (pay, fund, f"fund {fund}", "101", "dept", UNITS[u], f"unit {u}", SUBJECTS[subj], "subject",
                         project, "project" if project else "")
        lines.append(VoucherLines(no, BANK, ((key, fen),)))
        receipts.append(ReceiptSeen(no, "5201" if pay == "11" else "8202", BANK, t(paid, 16),
                                    {"XPayDate": f"{paid:%Y%m%d}", "XPayAmt": fen_to_str(fen)}))
        payments.append(PaymentSeen(BANK, CODE, no, "5201", fen, "advance" if advance else "clearing", t(paid, 10),
                                    paid, filing))
        cleared = paid + dt.timedelta(days=1) if advance else paid
        clearings.append(ClearingSeen(BANK, CODE, filing, 1 if advance else 0, pay, cleared, t(cleared, 9), fen,
                                      (no,), "accepted", cleared_fen=fen, answered_at=t(cleared, 9)))
        movements.append(MovementSeen(cleared, "D", fen, CODE, "reserve-replenishment" if advance else "clearing",
                                      filing))
        stated[line] = stated.get(line, 0) + fen
        if advance:
            reserve_moves += [rs.Movement(f"{paid:%Y%m%d}", "2", "5201", no, -fen),
                              rs.Movement(f"{cleared:%Y%m%d}", "4", "2301", filing, fen)]
        if refunded:
            back = paid + dt.timedelta(days=2)
            refunds.append(RefundSeen(BANK, no, f"TK{i:05d}", fen, t(back, 10), "accepted", notice_no=f"TZ{i:05d}"))
            notices.append(RefundNoticeSeen(BANK, "2203", f"TZ{i:05d}", no, back, fen, t(back, 11)))
            movements.append(MovementSeen(back, "C", fen, CODE, "refund", f"TK{i:05d}"))
            stated[line] -= fen
    days = sorted({m.day for m in movements})
    balance, daily = 10**12, []
    for d in days:
        out = sum(m.amount_fen for m in movements if m.day == d and m.direction == "D")
        into = sum(m.amount_fen for m in movements if m.day == d and m.direction == "C")
        daily.append(StatementSeen(d, balance, out, into, balance - out + into))
        balance += into - out
    today = dt.date(2026, 4, 1)
    docs = [("3501", *rp.monthly_statement("DZ0001202603", "202603", today, "990100", (CODE, "bank"), stated))]
    docs += [("7104", h, ds) for h, ds in rp.unit_statements("DW0001202603", "202603", today, "990100", (CODE, "bank"),
                                                           stated)]
    docs.append(("7203", *rs.reserve_statement("BZ0001202603", "202603", today, "990100", (CODE, "bank"), 0,
                                               reserve_moves)))
    statements = [BankStatementSeen(BANK, vt, h["VoucherNo"], MONTH, t(today, 9, 30), h, tuple(ds), "0", "",
                                    t(today, 9, 31)) for vt, h, ds in docs]
    return SignoffInput(banks=(BANK,), bank_codes={BANK: CODE}, deadlines={MONTH: DEADLINE},
                        run_end=t(dt.date(2026, 4, 7), 12), statements=statements, voucher_lines=lines,
                        receipts=receipts, refund_notices=notices, payments=payments, clearings=clearings,
                        movements=movements, daily_statements=daily, refunds=refunds, business_days=days)


def not_agreed(vs: Sequence[LevelVerdict]) -> set[tuple[str, str | None]]:
    return {(v.level, v.unit) for v in vs if v.verdict != "agreed"}


def _nudge(s: BankStatementSeen, index: int, field: str, delta: int) -> BankStatementSeen:
    """`s` with one fen more (or less) on one field of one detail line."""
    details = [dict(d) for d in s.details]
    d = details[index % len(details)]
    d[field] = fen_to_str(parse_fen(d[field], allow_negative=True) + delta)
    return dataclasses.replace(s, details=tuple(details))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payment, min_size=1, max_size=12))
def test_statements_built_from_the_same_payments_agree_at_every_level(pays: list[Pay]) -> None:
    vs = monthly_signoff(month_of_payments(pays))
    assert not_agreed(vs) == set(), [(v.level, v.unit, [b.detail for b in v.breaks]) for v in vs]
    units = {UNITS[p[0]] for p in pays}
    assert {v.unit for v in vs if v.level == "bank-unit"} == units
    assert all(v.signed_off for v in vs if v.level != "treasury-pboc")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payment, min_size=1, max_size=10), st.sampled_from(("3501", "7104", "7203", "7401")),
       st.integers(0, 50), st.sampled_from((1, -1)))
def test_one_fen_on_one_line_is_caught_at_exactly_its_level(pays: list[Pay], which: str, index: int,
                                                             delta: int) -> None:
    inp = month_of_payments(pays)
    if which == "7401":
        day = inp.daily_statements[index % len(inp.daily_statements)]
        changed = dataclasses.replace(day, debit_fen=day.debit_fen + delta)
        inp = dataclasses.replace(inp, daily_statements=[changed if s is day else s for s in inp.daily_statements])
        want = {("treasury-pboc", None)}
    else:
        mine = [s for s in inp.statements if s.vtcode == which]
        target = mine[index % len(mine)]
        field = "PayAmt"
        if which == "7203":  # a movement in: funding or a replenishment
            ins = [i for i, d in enumerate(target.details) if parse_fen(d["CreditAmt"]) > 0]
            index = ins[index % len(ins)]
            field = "CreditAmt"
        changed = _nudge(target, index, field, delta)
        inp = dataclasses.replace(inp, statements=[changed if s is target else s for s in inp.statements])
        level = {"3501": "bank-treasury", "7104": "bank-unit", "7203": "bank-pboc"}[which]
        want = {(level, target.head.get("AgencyCode") if which == "7104" else None)}
    vs = monthly_signoff(inp)
    assert not_agreed(vs) == want
    [bad] = [v for v in vs if v.verdict != "agreed"]
    assert any(b.expected_fen is not None and b.actual_fen is not None and abs(b.actual_fen - b.expected_fen) == 1
               for b in bad.breaks), [b.detail for b in bad.breaks]


def test_a_unit_statement_off_by_a_fen_names_the_unit_the_line_the_voucher_and_the_fen() -> None:
    inp = month_of_payments([(0, "11", "1", 0, "", 123456, 10, False, False), (1, "11", "1", 1, "", 76544, 10, False,
                                                                               False)])
    sheet = next(s for s in inp.statements if s.vtcode == "7104" and s.head["AgencyCode"] == "101001")
    off = _nudge(sheet, 0, "PayAmt", 1)
    off = dataclasses.replace(off, head={**off.head, "PayAmt": "1234.57"}, check="1", check_remark="unit disagrees")
    vs = monthly_signoff(dataclasses.replace(inp, statements=[off if s is sheet else s for s in inp.statements]))
    [bad] = [v for v in vs if v.verdict != "agreed"]
    assert (bad.level, bad.bank, bad.unit, bad.signed_off) == ("bank-unit", BANK, "101001", False)
    assert [(b.cause, b.vouchers, b.actual_fen - (b.expected_fen or 0)) for b in bad.breaks] == [
        ("line-differs", ("ZZ00000",), 1), ("total-differs", ("ZZ00000",), 1)]
    assert "off by 0.01" in bad.breaks[0].detail and "101001" in bad.breaks[0].detail
    assert signoff_json([bad])[0]["breaks"][0]["difference"] == "0.01"
    page = "".join(signoff_html(vs))
    assert "differs" in page and "101001" in page and "off by 0.01" in page


def test_a_statement_that_never_came_is_missing_after_its_deadline_and_not_due_before() -> None:
    inp = month_of_payments([(0, "11", "1", 0, "", 10_00, 10, False, False)])
    without = dataclasses.replace(inp, statements=[s for s in inp.statements if s.vtcode != "3501"])
    [after] = [v for v in monthly_signoff(without) if v.level == "bank-treasury"]
    assert (after.verdict, after.stated_fen, after.signed_off) == ("missing", None, None)
    early = dataclasses.replace(without, run_end=t(dt.date(2026, 4, 2), 12))
    [before] = [v for v in monthly_signoff(early) if v.level == "bank-treasury"]
    assert before.verdict == "not-due"
    late = dataclasses.replace(inp, statements=[dataclasses.replace(s, received_at=t(dt.date(2026, 4, 7), 9))
                                                if s.vtcode == "3501" else s for s in inp.statements])
    [came] = [v for v in monthly_signoff(late) if v.level == "bank-treasury"]
    assert (came.verdict, came.late) == ("agreed", True)


def test_an_advance_paid_on_the_months_last_day_is_a_timing_item_not_a_break() -> None:
    inp = month_of_payments([(0, "11", "1", 0, "", 10_00, 27, True, False)])
    last = dt.date(2026, 3, 31)  # paid the 31st, replenished (debited) on 1 April
    moved = [dataclasses.replace(m, day=dt.date(2026, 4, 1)) for m in inp.movements]
    inp = dataclasses.replace(
        inp, deadlines={MONTH: DEADLINE, "2026-04": t(dt.date(2026, 5, 8), 23)},
        receipts=[dataclasses.replace(r, fields={**r.fields, "XPayDate": "20260331"}) for r in inp.receipts],
        payments=[dataclasses.replace(p, paid_day=last) for p in inp.payments], movements=moved,
        clearings=[dataclasses.replace(c, answered_at=t(dt.date(2026, 4, 1), 9)) for c in inp.clearings],
        daily_statements=[StatementSeen(dt.date(2026, 4, 1), 0, 10_00, 0, -10_00)], business_days=())
    tp = {v.month: v for v in monthly_signoff(inp) if v.level == "treasury-pboc"}
    assert tp[MONTH].verdict == "agreed" and tp[MONTH].timing and "ZZ00000" in tp[MONTH].timing[0]
    assert (tp[MONTH].books_fen, tp[MONTH].stated_fen) == (10_00, 0)
    assert tp["2026-04"].breaks == () and tp["2026-04"].stated_fen == 10_00


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(2, 40), st.integers(1, 9_999_00)), min_size=1, max_size=6))
def test_a_tsa_movement_nobody_accounts_for_is_a_break_of_its_month_part(stray: list[tuple[int, int]]) -> None:
    """A debit under a 2301 and a refund credit under a 2302 no bank filed, some of it in April: the
    March verdicts count and break on the March part only, dated by its first movement."""
    inp = month_of_payments([(0, "11", "1", 0, "", 10_00, 5, False, False)])
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=d - 1) for d, _ in stray]  # 1 March .. 9 April
    moves = [MovementSeen(day, direction, fen, CODE, kind, ref) for day, (_, fen) in zip(days, stray, strict=True)
             for direction, kind, ref in (("D", "clearing", "HKSTRAY"), ("C", "refund", "TKSTRAY"))]
    march = [(day, fen) for day, (_, fen) in zip(days, stray, strict=True) if day.month == 3]
    verdicts = monthly_signoff(dataclasses.replace(inp, movements=[*inp.movements, *moves]))
    [bp] = [v for v in verdicts if v.level == "bank-pboc"]
    [tp] = [v for v in verdicts if v.level == "treasury-pboc"]
    unknown = [(b.day, b.actual_fen) for b in bp.breaks if b.cause == "debit-unknown"]
    unexplained = [(b.day, b.actual_fen) for b in tp.breaks if b.cause == "credit-unexplained"]
    part = [(march[0][0], sum(fen for _, fen in march))] if march else []
    assert unknown == unexplained == part
    assert bp.stated_fen == 10_00 + sum(fen for _, fen in march)  # what the TSA debited in March


def _observed(vs: Sequence[LevelVerdict]) -> Observed:
    return Observed("s", 1, t(dt.date(2026, 3, 10), 8), t(dt.date(2026, 4, 7), 12), signoffs=tuple(vs))


def _ok(expect: str, vs: Sequence[LevelVerdict]) -> tuple[bool, str]:
    s = load_text("scenario: s\nworld: {start: 2026-03-10}\nexpect:\n  - " + expect + "\n", "s.yaml")
    [o] = evaluate(s.expectations, _observed(vs))
    return o.ok, o.actual


def test_the_signoff_expectation_holds_on_the_right_verdict_and_fails_on_the_wrong_one() -> None:
    inp = month_of_payments([(0, "11", "1", 0, "", 123456, 10, False, False), (1, "12", "1", 1, "", 500, 11, False,
                                                                               False)])
    good = monthly_signoff(inp)
    sheet = next(s for s in inp.statements if s.vtcode == "7104" and s.head["AgencyCode"] == "101001")
    bad = monthly_signoff(dataclasses.replace(inp, statements=[dataclasses.replace(_nudge(sheet, 0, "PayAmt", 1),
                                                                                   check="1") if s is sheet else s
                                                               for s in inp.statements]))
    agreed = "signoff: {month: 2026-03, level: bank-unit, bank: bank-a, agreed: true, signed_off: true}"
    differs = ('signoff: {month: 2026-03, level: bank-unit, bank: bank-a, unit: "101001", agreed: false, '
               'cause: line-differs, off_by: "0.01"}')
    cases: list[tuple[str, Any, bool]] = [
        (agreed, good, True), (agreed, bad, False), (differs, good, False), (differs, bad, True),
        ('signoff: {month: 2026-03, level: bank-unit, unit: "101002", agreed: true}', bad, True),
        ('signoff: {month: 2026-03, level: bank-unit, bank: bank-a, off_by: "0.02"}', bad, False),
        ("signoff: {month: 2026-03, level: bank-treasury, bank: bank-a, agreed: true, signed_off: true}", bad, True),
        ("signoff: {month: 2026-03, level: bank-treasury, bank: bank-a, verdict: missing}", good, False),
        ("signoff: {month: 2026-02, level: bank-treasury, bank: bank-a, agreed: true}", good, False),
        ("signoff: {month: 2026-03, level: treasury-pboc, agreed: true}", bad, True),
    ]
    for expect, vs, want in cases:
        ok, actual = _ok(expect, vs)
        assert ok is want, (expect, actual)


def test_a_signoff_expectation_is_checked_when_the_file_is_read() -> None:
    import pytest

    from runner.scenario_file import ScenarioError

    for bad in ("signoff: {month: 2026-03, level: treasury-pboc, bank: bank-a, agreed: true}",
                'signoff: {month: 2026-03, level: bank-treasury, bank: bank-b, unit: "101001", agreed: true}',
                "signoff: {month: 2026-03, level: bank-unit, bank: bank-z, agreed: true}",
                "signoff: {month: 2026-03, level: bank-unit, bank: bank-a, agreed: true, cause: line-differs}",
                "signoff: {month: 2026-03, level: bank-unit, bank: bank-a}"):
        with pytest.raises(ScenarioError):
            load_text("scenario: s\nworld: {start: 2026-03-10}\nexpect:\n  - " + bad + "\n", "s.yaml")


def test_a_run_with_a_unit_statement_off_by_a_fen_fails_the_false_expectations(tmp_path: Path) -> None:
    """The catalogue scenario, end to end through the gateway, with two false expectations added:
    101001 agreed (it differs by 0.01) and 101002 differs (it agrees). Both fail; the file's hold."""
    path = Path(__file__).resolve().parent.parent / "scenarios" / "signoff-unit-statement-off-by-a-fen.yaml"
    text = path.read_text(encoding="utf-8") + (
        '  - name: false - 101001 agreed\n'
        '    signoff: {month: 2026-03, level: bank-unit, bank: bank-b, unit: "101001", agreed: true}\n'
        '  - name: false - 101002 differs\n'
        '    signoff: {month: 2026-03, level: bank-unit, bank: bank-b, unit: "101002", agreed: false}\n'
        '  - name: false - bank-treasury off by 0.01\n'
        '    signoff: {month: 2026-03, level: bank-treasury, bank: bank-b, off_by: "0.01"}\n')
    r = asyncio.run(run_scenario(load_text(text, str(path), base=path.parent), tmp_path))
    assert r.error is None, r.error
    assert {o.name for o in r.outcomes if not o.ok} == {"false - 101001 agreed", "false - 101002 differs",
                                                        "false - bank-treasury off by 0.01"}
    [unit] = [v for v in r.observed.signoffs if v.unit == "101001"] if r.observed else []
    assert unit.verdict == "differs" and unit.signed_off is False
    assert "the unit's sign-off sheet" not in unit.sign_remark and "1234.57" in unit.sign_remark
