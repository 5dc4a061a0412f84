"""The monthly sign-off (runner.monthly_signoff) keeps the treasury's books by bank, division and
month, each voucher by its key (AdmDivCode, StYear, VtCode, VoucherNo): two divisions' payments of
one number at one bank, and two budget years' of one number paid in one month, are each their own.
Each division's 3501 and 7104s are compared with its own books (each division's treasury numbers its
own vouchers, each year afresh; 003 §40, 004 part 3 §10(3)).

Oracle: each voucher alone. A division's month built with distinct numbers (the builders of
tests/test_monthly_signoff.py, the statements built by the bank's own builders from the same money)
signs off as it does when its second year's vouchers take the first year's numbers and another
division's vouchers of the same numbers are paid at the same bank."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.monthly_signoff import SignoffInput, monthly_signoff, signoff_json
from runner.observed import LevelVerdict, StatementSeen
from runner.report import signoff_html
from tests.test_monthly_signoff import Pay, _nudge, month_of_payments, payment

DIVS = ("990100", "990200")


def _renumbered(no: str, first: int) -> str:
    """The second year's voucher ZZ<first + i> numbered ZZ<i>, as its year numbers afresh."""
    i = int(no[2:])
    return f"ZZ{i - first:05d}" if i >= first else no


def division(adm: str, tag: str, this_year: Sequence[Pay], last_year: Sequence[Pay]) -> SignoffInput:
    """One division's March at bank-a: `this_year`'s payments (StYear 2026) and `last_year`'s
    (StYear 2025, paid in the carry-over) numbered from ZZ00000 each, so the years share numbers.
    The bank's own numbers (2301, 2302, notices) carry `tag`: they are the bank's, unique at it."""
    inp = month_of_payments([*this_year, *last_year])
    n = len(this_year)

    def year(no: str) -> str:
        return "2026" if int(no[2:]) < n else "2025"

    def own(no: str) -> str:
        return no[:1] + tag + no[2:]

    vt = {r.voucher_no: r.vtcode for r in inp.receipts}
    return dataclasses.replace(
        inp,
        voucher_lines=[dataclasses.replace(v, voucher_no=_renumbered(v.voucher_no, n), adm=adm, year=year(v.voucher_no),
                                           vtcode=vt[v.voucher_no]) for v in inp.voucher_lines],
        receipts=[dataclasses.replace(r, voucher_no=_renumbered(r.voucher_no, n), adm=adm, year=year(r.voucher_no))
                  for r in inp.receipts],
        payments=[dataclasses.replace(p, voucher_no=_renumbered(p.voucher_no, n), vtcode=vt[p.voucher_no],
                                      filing=own(p.filing or ""),
                                      key=f"{adm}/{year(p.voucher_no)}/{vt[p.voucher_no]}/{_renumbered(p.voucher_no, n)}")
                  for p in inp.payments],
        clearings=[dataclasses.replace(c, voucher_no=own(c.voucher_no), payments=tuple(_renumbered(x, n) for x in c.payments),
                                       keys=tuple(f"{adm}/{year(x)}/{vt[x]}/{_renumbered(x, n)}" for x in c.payments))
                   for c in inp.clearings],
        movements=[dataclasses.replace(m, ref_voucher_no=own(m.ref_voucher_no)) for m in inp.movements],
        refunds=[dataclasses.replace(r, voucher_no=_renumbered(r.voucher_no, n), refund_no=own(r.refund_no),
                                     notice_no=own(r.notice_no)) for r in inp.refunds],
        refund_notices=[dataclasses.replace(x, voucher_no=own(x.voucher_no), ori_voucher_no=_renumbered(x.ori_voucher_no, n),
                                            adm=adm, ori_year=year(x.ori_voucher_no)) for x in inp.refund_notices],
        statements=[dataclasses.replace(s, head={**s.head, "AdmDivCode": adm}) for s in inp.statements
                    if s.vtcode != "7203"])


def together(a: SignoffInput, b: SignoffInput) -> SignoffInput:
    """Two divisions' months at one bank: their records side by side, the TSA's daily statements added up."""
    days: dict = defaultdict(lambda: [0, 0])
    for s in [*a.daily_statements, *b.daily_statements]:
        days[s.day][0] += s.debit_fen
        days[s.day][1] += s.credit_fen
    return dataclasses.replace(
        a, statements=[*a.statements, *b.statements], voucher_lines=[*a.voucher_lines, *b.voucher_lines],
        receipts=[*a.receipts, *b.receipts], refund_notices=[*a.refund_notices, *b.refund_notices],
        payments=[*a.payments, *b.payments], clearings=[*a.clearings, *b.clearings],
        movements=[*a.movements, *b.movements], refunds=[*a.refunds, *b.refunds],
        daily_statements=[StatementSeen(d, 0, out, into, into - out) for d, (out, into) in sorted(days.items())],
        business_days=sorted({*a.business_days, *b.business_days}))


def _division_levels(vs: Sequence[LevelVerdict], adm: str | None = None) -> dict:
    return {(v.level, v.unit): (v.verdict, v.books_fen, v.stated_fen, tuple(b.cause for b in v.breaks))
            for v in vs if v.level in ("bank-treasury", "bank-unit") and (adm is None or v.adm == adm)}


def test_two_divisions_and_two_years_of_one_number_each_sign_off_their_own() -> None:
    mine: list[Pay] = [(0, "11", "1", 0, "", 100_00, 3, False, False), (1, "12", "1", 1, "", 250_00, 5, False, True)]
    last: list[Pay] = [(0, "11", "1", 0, "", 7_00, 4, False, False)]  # ZZ00000 of 2025 beside 2026's
    theirs: list[Pay] = [(0, "11", "1", 0, "", 999_00, 3, True, False)]  # ZZ00000 of the other division
    a, b = division(DIVS[0], "A", mine, last), division(DIVS[1], "B", theirs, [])
    vs = monthly_signoff(together(a, b))
    bt = {v.adm: v for v in vs if v.level == "bank-treasury"}
    assert set(bt) == set(DIVS)
    assert bt[DIVS[0]].verdict == "agreed" and bt[DIVS[0]].books_fen == 100_00 + 7_00  # 250 refunded
    assert bt[DIVS[1]].verdict == "agreed" and bt[DIVS[1]].books_fen == 999_00
    assert {(v.adm, v.unit) for v in vs if v.level == "bank-unit"} == {(DIVS[0], "101001"), (DIVS[0], "101002"),
                                                                       (DIVS[1], "101001")}
    assert all(v.verdict == "agreed" for v in vs if v.level != "bank-pboc"), [
        (v.level, v.adm, [b.detail for b in v.breaks]) for v in vs]
    page = "".join(signoff_html(vs))
    assert f"bank-a · {DIVS[0]}" in page and f"bank-a · {DIVS[1]}" in page
    assert signoff_json(vs)[0]["adm"] == DIVS[0]
    # one fen on one division's 3501: that division's verdict alone differs
    s = next(s for s in b.statements if s.vtcode == "3501")
    off = monthly_signoff(together(a, dataclasses.replace(b, statements=[_nudge(s, 0, "PayAmt", 1) if x is s else x
                                                                          for x in b.statements])))
    assert {(v.level, v.adm) for v in off if v.verdict != "agreed" and v.level != "bank-pboc"} == {
        ("bank-treasury", DIVS[1])}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(payment, min_size=0, max_size=4), min_size=4, max_size=4).filter(
    lambda xs: bool(xs[0] or xs[1]) and bool(xs[2] or xs[3])))
def test_each_division_signs_off_as_its_vouchers_would_alone(pays: list[list[Pay]]) -> None:
    """2 divisions x 2 years with colliding numbers: each division's bank-treasury and bank-unit
    verdicts, books and stated amounts are those of its month with every voucher numbered alone."""
    a = division(DIVS[0], "A", pays[0], pays[1])
    b = division(DIVS[1], "B", pays[2], pays[3])
    vs = monthly_signoff(together(a, b))
    for adm, alone in ((DIVS[0], [*pays[0], *pays[1]]), (DIVS[1], [*pays[2], *pays[3]])):
        assert _division_levels(vs, adm) == _division_levels(monthly_signoff(month_of_payments(alone)))
    tp = [v for v in vs if v.level == "treasury-pboc"]
    assert [v.verdict for v in tp] == ["agreed"], [b.detail for v in tp for b in v.breaks]


def test_the_tap_keeps_two_divisions_statements_and_notices_of_one_number() -> None:
    """Off the wire, a statement or refund notice is its key: two divisions' (or years') of one
    VoucherNo are two, each with its own sign-off."""
    from runner.signoff_feed import StatementTap
    from tests.test_monthly_signoff import t

    tap = StatementTap({"999100000001": "bank-a"})
    now = t(dt.date(2026, 4, 1), 9)
    for adm, year in ((DIVS[0], "2026"), (DIVS[1], "2026"), (DIVS[0], "2025")):
        head = {"VoucherNo": "DZ01", "AdmDivCode": adm, "StYear": year, "PayBankCode": "999100000001",
                "BeginDate": "20260301", "PayAmt": "1.00"}
        tap._take("treasury", "3501", 0, head, (), now)
        tap._take("treasury", "2203", 0, {**head, "OriVoucherNo": "ZZ00000", "VouDate": "20260305",
                                          "OriVouDate": f"{year}0303"}, (), now)
    tap._take("bank-a", "3501", 1, {"VoucherNo": "DZ01", "AdmDivCode": DIVS[1], "StYear": "2026",
                                    "XCheckResult": "1", "XCheckRemark": "no"}, (), now)
    seen = {(s.head["AdmDivCode"], s.head["StYear"]): s.check for s in tap.seen()}
    assert seen == {(DIVS[0], "2026"): None, (DIVS[1], "2026"): "1", (DIVS[0], "2025"): None}
    assert sorted((n.adm, n.ori_year) for n in tap.refund_notices()) == [
        (DIVS[0], "2025"), (DIVS[0], "2026"), (DIVS[1], "2026")]
