"""The monthly reconciliation and sign-off (对账签证; 003 §40, 004 part 3 §10(3)), a pure function
over what a run observed (`runner.observed`): for each month, at each level, a verdict.

| level           | what is compared                                                                              | signed off by |
|-----------------|-----------------------------------------------------------------------------------------------|---------------|
| `bank-treasury` | the bank's statement (3501), line by line (unit, pay type, fund type, subject, project) and in total, ↔ the treasury's receipts of that bank's payments in the month (XPayDate) less the refunds it was noticed of in the month (2203 / 7105 VouDate), classified by the treasury's own vouchers | the treasury's 3501 receipt |
| `bank-unit`     | each unit's statement (7104) ↔ that unit's lines of the same books                             | the unit's sign-off sheet (the 7104's receipt) |
| `bank-pboc`     | the bank's clearing requests (2301) accepted in the month ↔ the TSA debits for them; its refunds (2302) accepted ↔ the TSA credits; its clearing reserve statement (7203) ↔ the advances (MoveType 2) and replenishments (MoveType 4) seen, and its balances | the treasury's 7203 receipt |
| `treasury-pboc` | the treasury's receipts and refund notices ↔ the TSA debits and credits the central bank booked for them; the month's daily statements (7401) ↔ those movements | none (the 7401 is daily) |

The treasury's books are kept by bank, division (AdmDivCode) and month, each voucher by its key
(AdmDivCode, StYear, VtCode, VoucherNo; `runner.signoff_books`): each division's 3501 and 7104s are
compared with its own payments and refunds only (`LevelVerdict.adm`), and two divisions' or years'
vouchers of one number are two. A verdict is `agreed`, `differs` (each break names its vouchers and the difference in fen),
`missing` (a statement the agreement requires did not come by its deadline: 3 working days
after the month's end, docs/rules.md) or `not-due` (the run ended before the deadline and no
statement came). A statement that came after its deadline is compared all the same and marked
late. A payment the treasury has on its books in one month whose TSA debit falls in another
(an advance paid on the month's last day and replenished the next) is a timing item, not a
break. Break causes (`Break.cause`, `period` "month"):

| cause                  | level              | what it means                                                            |
|------------------------|--------------------|--------------------------------------------------------------------------|
| `line-differs`         | bank-treasury, bank-unit | a line's amount on the statement differs from the treasury's books   |
| `line-missing`         | bank-treasury, bank-unit | the books have money under a line the statement does not show        |
| `line-unknown`         | bank-treasury, bank-unit | the statement shows a line the books know nothing of                 |
| `total-differs`        | bank-treasury, bank-unit | the statement's PayAmt differs from the books' total                 |
| `statement-no-division` | bank-treasury, bank-unit | in a run of divisions, a statement without its AdmDivCode: no division's, compared with no books |
| `clearing-no-debit`    | bank-pboc          | an accepted clearing request with no TSA debit                           |
| `clearing-debit-differs` | bank-pboc        | the TSA debit for a clearing request differs from what the bank booked   |
| `debit-unknown`        | bank-pboc          | a TSA debit no accepted clearing request of the bank accounts for        |
| `refund-no-credit`     | bank-pboc          | an accepted refund (2302) with no TSA credit                             |
| `credit-unknown`       | bank-pboc          | a TSA refund credit no accepted refund of the bank accounts for          |
| `reserve-line-missing` / `reserve-line-unknown` / `reserve-line-differs` | bank-pboc | an advance or replenishment seen is not on the 7203, the 7203 shows one not seen, or its amount differs |
| `reserve-balance`      | bank-pboc          | BeginBalance + CreditAmt - DebitAmt is not EndBalance, or BeginBalance is not last month's EndBalance |
| `not-debited`          | treasury-pboc      | a payment the treasury has a receipt for was never debited from the TSA  |
| `debit-unexplained`    | treasury-pboc      | a TSA debit differs from the treasury's receipts of the payments it cleared |
| `refund-not-credited`  | treasury-pboc      | a refund the treasury was noticed of has no TSA credit                   |
| `credit-unexplained`   | treasury-pboc      | a TSA refund credit the treasury was noticed of no refund for            |
| `statement-differs`    | treasury-pboc      | a day's 7401 DebitAmt / CreditAmt differs from the TSA movements         |
| `statement-missing`    | treasury-pboc      | a business day of the month without its 7401                             |
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages.money import fen_to_str, parse_fen
from runner.observed import (
    BankStatementSeen,
    Break,
    ClearingSeen,
    LevelVerdict,
    LineKey,
    MovementSeen,
    PaymentSeen,
    ReceiptSeen,
    RefundNoticeSeen,
    RefundSeen,
    StatementSeen,
    VerdictName,
    VoucherLines,
    tsa_days,
)
from runner.reconcile import CLEARING_KINDS, PAYMENT_VTCODES, receipt_day
from runner.signoff_books import Books, VKey, statement_adm

__all__ = ["CLEARING_KINDS", "PAYMENT_VTCODES", "SignoffInput", "month_of", "monthly_signoff", "signoff_json"]

VOUCHERS_MAX = 200  # vouchers named on one break; the rest are counted in its detail
ADVANCE_MOVES = ("2",)  # 7203 MoveType of an advance after the cutoff (3, a refused clearing made whole, is not compared)
REPLENISH_MOVES = ("4",)


def month_of(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def _ymd_month(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}" if len(text) >= 6 else ""


def _fen(text: str | None) -> int:
    try:
        return parse_fen(text or "0.00", allow_negative=True)
    except ValueError:
        return 0


def _label(key: LineKey) -> str:
    unit, pay, fund, subject, project = key
    return f"unit {unit} pay type {pay} fund {fund} subject {subject}" + (f" project {project}" if project else "")


def _bounded(nos: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(nos)))[:VOUCHERS_MAX]


def _moved_in(by_ref: Mapping[str, Sequence[MovementSeen]], month: str) -> list[tuple[str, dt.date, int]]:
    """What the TSA moved in `month` under each reference (the 2301 / 2302 a movement answers), in
    order of reference: (reference, the day of its first movement of the month, fen); none: left out."""
    out = []
    for ref, ms in sorted(by_ref.items()):
        in_month = [m for m in ms if month_of(m.day) == month]
        if in_month:
            out.append((ref, in_month[0].day, sum(m.amount_fen for m in in_month)))
    return out


@dataclass(frozen=True, slots=True)
class SignoffInput:
    """What the monthly sign-off reads (all from `runner.observed.Observed`). `deadlines`: each month
    to judge (YYYY-MM) → its statements' deadline; `bank_codes`: scenario id → bank code."""

    banks: Sequence[str]
    bank_codes: Mapping[str, str]
    deadlines: Mapping[str, dt.datetime]
    run_end: dt.datetime
    statements: Sequence[BankStatementSeen] = ()
    voucher_lines: Sequence[VoucherLines] = ()
    receipts: Sequence[ReceiptSeen] = ()
    refund_notices: Sequence[RefundNoticeSeen] = ()
    payments: Sequence[PaymentSeen] = ()
    clearings: Sequence[ClearingSeen] = ()
    movements: Sequence[MovementSeen] = ()
    daily_statements: Sequence[StatementSeen] = ()
    refunds: Sequence[RefundSeen] = ()
    business_days: Sequence[dt.date] = ()


def _statement_lines(s: BankStatementSeen) -> dict[LineKey, int]:
    out: dict[LineKey, int] = defaultdict(int)
    for d in s.details:
        key = (d.get("AgencyCode") or s.head.get("AgencyCode", ""), d.get("PayTypeCode", ""),
               d.get("FundTypeCode", ""), d.get("ExpFuncCode", ""), d.get("ProCode", ""))
        out[key] += _fen(d.get("PayAmt"))
    return out


def _compare_lines(books: Mapping[LineKey, int], nos: Mapping[LineKey, set[str]], stated: Mapping[LineKey, int],
                   stated_total: int, what: str) -> list[Break]:
    breaks = []
    for key in sorted(set(books) | set(stated)):
        b, vs = books.get(key, 0), _bounded(nos.get(key, ()))
        if key not in stated:
            if b:
                breaks.append(Break("line-missing", None, vs, f"{_label(key)}: the books {fen_to_str(b)}, {what} has no such "
                                    f"line: off by {fen_to_str(-b)}", b, 0, "month"))
        elif key not in books:
            if stated[key]:
                breaks.append(Break("line-unknown", None, (), f"{_label(key)}: {what} {fen_to_str(stated[key])}, the books "
                                    f"have no such line: off by {fen_to_str(stated[key])}", 0, stated[key], "month"))
        elif stated[key] != b:
            breaks.append(Break("line-differs", None, vs, f"{_label(key)}: {what} {fen_to_str(stated[key])}, the books "
                                f"{fen_to_str(b)}: off by {fen_to_str(stated[key] - b)}", b, stated[key], "month"))
    total = sum(books.values())
    if stated_total != total:
        every = _bounded(no for s in nos.values() for no in s)
        breaks.append(Break("total-differs", None, every, f"{what} PayAmt {fen_to_str(stated_total)}, the books {fen_to_str(total)}: "
                            f"off by {fen_to_str(stated_total - total)}", total, stated_total, "month"))
    return breaks


def _verdict(breaks: Sequence[Break], present: bool, due: bool) -> VerdictName:
    if not present:
        return "missing" if due else "not-due"
    return "differs" if breaks else "agreed"


def _signed(s: BankStatementSeen | None) -> tuple[bool | None, str]:
    if s is None or s.check is None:
        return None, ""
    return s.check == "0", s.check_remark


def _first(found: Iterable[BankStatementSeen]) -> BankStatementSeen | None:
    return min(found, key=lambda s: (s.received_at, s.voucher_no), default=None)


def monthly_signoff(inp: SignoffInput) -> tuple[LevelVerdict, ...]:
    """Every month of `inp.deadlines` at every level: one verdict per bank and division
    (bank-treasury), per bank, division and unit (bank-unit), per bank (bank-pboc) and one for the
    treasury and the central bank."""
    books = Books(inp.voucher_lines, inp.receipts, inp.refund_notices)
    by_kind: dict[tuple[str, str, str], list[BankStatementSeen]] = defaultdict(list)  # (vtcode, bank, month)
    by_adm: dict[tuple[str, str, str, str], list[BankStatementSeen]] = defaultdict(list)  # and its division
    for s in inp.statements:
        by_kind[(s.vtcode, s.bank, s.month)].append(s)
        by_adm[(s.vtcode, s.bank, statement_adm(s, books.divisional), s.month)].append(s)
    out: list[LevelVerdict] = []
    for month, deadline in sorted(inp.deadlines.items()):
        due = inp.run_end >= deadline
        for bank in inp.banks:
            stated = {a for (vt, b, a, m) in by_adm if (b, m) == (bank, month) and vt in ("3501", "7104")}
            for adm in books.divisions(bank, month, stated):  # each division's statements, its own books
                out += _bank_treasury(books, by_adm, bank, adm, month, deadline, due)
                out += _bank_units(books, by_adm, bank, adm, month, deadline, due)
            out.append(_bank_pboc(inp, by_kind, bank, month, deadline, due))
        out.append(_treasury_pboc(inp, books, month, due))
    return tuple(out)


def _undivided(books: Books, adm: str, s: BankStatementSeen) -> list[Break]:
    """A statement (3501, 7104) without its AdmDivCode in a run of divisions: malformed (the XSD
    requires it), so no division's: it is not compared with any books, its verdict `differs` with
    the one break `statement-no-division`, and each division's own statement is still looked for."""
    if not books.divisional or adm:
        return []
    return [Break("statement-no-division", None, (), f"the {s.vtcode} {s.voucher_no} names no AdmDivCode (the XSD "
                  "requires it): which division's statement it is cannot be told, so it is compared with no "
                  "division's books", None, _fen(s.head.get("PayAmt")), "month")]


def _bank_treasury(books: Books, by_adm: Mapping[tuple[str, str, str, str], list[BankStatementSeen]],
                   bank: str, adm: str, month: str, deadline: dt.datetime, due: bool) -> list[LevelVerdict]:
    mine, nos = books.of(bank, adm, month)
    s = _first(by_adm.get(("3501", bank, adm, month), ()))
    if not mine and s is None:
        return []  # nothing paid, nothing to state (a month without payments has no 3501)
    total = sum(mine.values())
    breaks = [] if s is None else _undivided(books, adm, s) or _compare_lines(
        mine, nos, _statement_lines(s), _fen(s.head.get("PayAmt")), f"the statement {s.voucher_no}")
    signed, remark = _signed(s)
    return [LevelVerdict(month, "bank-treasury", bank, None, _verdict(breaks, s is not None, due),
                         () if s is None else (s.voucher_no,), total, None if s is None else _fen(s.head.get("PayAmt")),
                         tuple(breaks), signed, remark, s is not None and s.received_at > deadline, adm=adm)]


def _bank_units(books: Books, by_adm: Mapping[tuple[str, str, str, str], list[BankStatementSeen]], bank: str,
                adm: str, month: str, deadline: dt.datetime, due: bool) -> list[LevelVerdict]:
    mine, nos = books.of(bank, adm, month)
    sheets: dict[str, list[BankStatementSeen]] = defaultdict(list)
    for s in by_adm.get(("7104", bank, adm, month), ()):
        sheets[s.head.get("AgencyCode", "")].append(s)
    out = []
    for unit in sorted({k[0] for k in mine} | set(sheets)):
        lines = {k: f for k, f in mine.items() if k[0] == unit}
        sheet = _first(sheets.get(unit, ()))
        breaks = [] if sheet is None else _undivided(books, adm, sheet) or _compare_lines(
            lines, {k: v for k, v in nos.items() if k[0] == unit}, _statement_lines(sheet),
            _fen(sheet.head.get("PayAmt")), f"unit {unit}'s statement {sheet.voucher_no}")
        signed, remark = _signed(sheet)
        out.append(LevelVerdict(month, "bank-unit", bank, unit, _verdict(breaks, sheet is not None, due),
                                () if sheet is None else (sheet.voucher_no,), sum(lines.values()),
                                None if sheet is None else _fen(sheet.head.get("PayAmt")), tuple(breaks), signed,
                                remark, sheet is not None and sheet.received_at > deadline, adm=adm))
    return out


def _answer_month(c: ClearingSeen) -> str:
    return month_of((c.answered_at or c.filed_at).date())


def _bank_pboc(inp: SignoffInput, by_kind: Mapping[tuple[str, str, str], list[BankStatementSeen]], bank: str,
               month: str, deadline: dt.datetime, due: bool) -> LevelVerdict:
    code = inp.bank_codes.get(bank, "")
    breaks: list[Break] = []
    accepted = [c for c in inp.clearings if c.bank == bank and c.state == "accepted"]
    debits: dict[str, list[MovementSeen]] = defaultdict(list)
    for m in inp.movements:
        if m.bank_code == code and m.kind in CLEARING_KINDS and m.direction == "D":
            debits[m.ref_voucher_no].append(m)
    booked = 0
    for c in accepted:
        ms = debits.get(c.voucher_no, [])
        if (month_of(ms[0].day) if ms else _answer_month(c)) != month:
            continue
        booked += c.cleared_fen
        moved = sum(m.amount_fen for m in ms)
        if not ms:
            breaks.append(Break("clearing-no-debit", (c.answered_at or c.filed_at).date(), _bounded(c.payments),
                                f"{c.voucher_no} cleared {fen_to_str(c.cleared_fen)}; the TSA shows no debit: off by "
                                f"{fen_to_str(-c.cleared_fen)}", c.cleared_fen, 0, "month"))
        elif moved != c.cleared_fen:
            breaks.append(Break("clearing-debit-differs", ms[0].day, _bounded(c.payments),
                                f"{c.voucher_no}: the bank booked {fen_to_str(c.cleared_fen)}, the TSA debited {fen_to_str(moved)}: "
                                f"off by {fen_to_str(moved - c.cleared_fen)}", c.cleared_fen, moved, "month"))
    known = {c.voucher_no for c in accepted}
    debited = 0
    for ref, day, fen in _moved_in(debits, month):
        debited += fen
        if ref not in known:
            breaks.append(Break("debit-unknown", day, (), f"TSA debit {fen_to_str(fen)} for {ref}, which no "
                                f"accepted clearing request of {bank} accounts for", 0, fen, "month"))
    breaks += _refund_leg(inp, bank, code, month)
    s = _first(by_kind.get(("7203", bank, month), ()))
    if s is not None:
        breaks += _reserve(inp, by_kind, s, bank, month)
    signed, remark = _signed(s)
    verdict: VerdictName = "differs" if breaks else _verdict((), s is not None, due)
    return LevelVerdict(month, "bank-pboc", bank, None, verdict, () if s is None else (s.voucher_no,), booked,
                        debited, tuple(breaks), signed, remark, s is not None and s.received_at > deadline)


def _refund_leg(inp: SignoffInput, bank: str, code: str, month: str) -> list[Break]:
    breaks = []
    credits: dict[str, list[MovementSeen]] = defaultdict(list)
    for m in inp.movements:
        if m.kind == "refund" and m.direction == "C" and m.bank_code == code:
            credits[m.ref_voucher_no].append(m)
    accepted = {r.refund_no: r for r in inp.refunds if r.bank == bank and r.state == "accepted"}
    for no, r in sorted(accepted.items()):
        ms = credits.get(no, [])
        if not ms and month_of(r.returned_at.date()) == month:
            breaks.append(Break("refund-no-credit", r.returned_at.date(), (r.voucher_no,), f"refund {no} of "
                                f"{fen_to_str(r.amount_fen)} accepted; the TSA shows no credit", r.amount_fen, 0, "month"))
        elif ms and month_of(ms[0].day) == month and sum(m.amount_fen for m in ms) != r.amount_fen:
            moved = sum(m.amount_fen for m in ms)
            breaks.append(Break("refund-no-credit", ms[0].day, (r.voucher_no,), f"refund {no}: the bank booked "
                                f"{fen_to_str(r.amount_fen)}, the TSA credited {fen_to_str(moved)}: off by {fen_to_str(moved - r.amount_fen)}",
                                r.amount_fen, moved, "month"))
    for ref, ms in sorted(credits.items()):
        if ref not in accepted and month_of(ms[0].day) == month:
            fen = sum(m.amount_fen for m in ms)
            breaks.append(Break("credit-unknown", ms[0].day, (), f"TSA refund credit {fen_to_str(fen)} for {ref}, which no "
                                f"accepted refund of {bank} accounts for", 0, fen, "month"))
    return breaks


def _reserve(inp: SignoffInput, by_kind: Mapping[tuple[str, str, str], list[BankStatementSeen]],
             s: BankStatementSeen, bank: str, month: str) -> list[Break]:
    """The clearing reserve statement (7203) ↔ the advances and replenishments seen, and its balances."""
    seen_out = {p.voucher_no: p.amount_fen for p in inp.payments
                if p.bank == bank and p.mode == "advance" and p.paid_day is not None and month_of(p.paid_day) == month}
    # a replenishment's part that went back to the reserve (a ClearType 1 of payments the bank's own
    # funds made whole at a close repays the bank, not the reserve: none)
    seen_in = {c.voucher_no: fen for c in inp.clearings if c.bank == bank and c.state == "accepted"
               and c.clear_type == 1 and _answer_month(c) == month
               and (fen := c.cleared_fen if c.reserve_fen is None else c.reserve_fen)}
    stated_out: dict[str, int] = defaultdict(int)
    stated_in: dict[str, int] = defaultdict(int)
    for d in s.details:
        if d.get("MoveType") in ADVANCE_MOVES:
            stated_out[d.get("OriVoucherNo", "")] += _fen(d.get("DebitAmt"))
        elif d.get("MoveType") in REPLENISH_MOVES:
            stated_in[d.get("OriVoucherNo", "")] += _fen(d.get("CreditAmt"))
    breaks = []
    for what, seen, stated in (("advance", seen_out, stated_out), ("replenishment", seen_in, stated_in)):
        for no in sorted(set(seen) | set(stated)):
            if no not in stated:
                breaks.append(Break("reserve-line-missing", None, (no,), f"{what} {no} of {fen_to_str(seen[no])} is not on "
                                    f"the reserve statement {s.voucher_no}: off by {fen_to_str(-seen[no])}", seen[no], 0,
                                    "month"))
            elif no not in seen:
                breaks.append(Break("reserve-line-unknown", None, (no,), f"the reserve statement {s.voucher_no} "
                                    f"shows an {what} {no} of {fen_to_str(stated[no])} not seen", 0, stated[no], "month"))
            elif seen[no] != stated[no]:
                breaks.append(Break("reserve-line-differs", None, (no,), f"{what} {no}: the reserve statement "
                                    f"{s.voucher_no} {fen_to_str(stated[no])}, seen {fen_to_str(seen[no])}: off by "
                                    f"{fen_to_str(stated[no] - seen[no])}", seen[no], stated[no], "month"))
    begin, credit, debit, end = (_fen(s.head.get(k)) for k in ("BeginBalance", "CreditAmt", "DebitAmt", "EndBalance"))
    if begin + credit - debit != end:
        breaks.append(Break("reserve-balance", None, (), f"{s.voucher_no}: BeginBalance {fen_to_str(begin)} + CreditAmt "
                            f"{fen_to_str(credit)} - DebitAmt {fen_to_str(debit)} is not EndBalance {fen_to_str(end)}", begin + credit - debit,
                            end, "month"))
    moved_in = sum(_fen(d.get("CreditAmt")) for d in s.details)
    moved_out = sum(_fen(d.get("DebitAmt")) for d in s.details)
    if (moved_in, moved_out) != (credit, debit):
        breaks.append(Break("reserve-balance", None, (), f"{s.voucher_no}: its movements add up to "
                            f"{fen_to_str(moved_in)} in, {fen_to_str(moved_out)} out; CreditAmt {fen_to_str(credit)}, DebitAmt {fen_to_str(debit)}",
                            moved_in - moved_out, credit - debit, "month"))
    earlier = [x for (vt, b, m), xs in by_kind.items() if vt == "7203" and b == bank and m < month for x in xs]
    last = max(earlier, key=lambda x: x.month, default=None)
    if last is not None and _fen(last.head.get("EndBalance")) != begin:
        prev = _fen(last.head.get("EndBalance"))
        breaks.append(Break("reserve-balance", None, (), f"{s.voucher_no}: BeginBalance {fen_to_str(begin)}, last month's "
                            f"EndBalance {fen_to_str(prev)}: off by {fen_to_str(begin - prev)}", prev, begin, "month"))
    return breaks


def _treasury_pboc(inp: SignoffInput, books: Books, month: str, due: bool) -> LevelVerdict:
    breaks: list[Break] = []
    codes = {b: c for b, c in inp.bank_codes.items()}
    paid: dict[tuple[str, VKey], PaymentSeen] = {}  # (bank, the payment's key in the books) → the payment
    for pay in inp.payments:
        found = books.key_of_payment(pay.key, pay.vtcode, pay.voucher_no) if pay.paid_day is not None else None
        if found is not None:
            paid[(pay.bank, found)] = pay
    filings = {(c.bank, c.voucher_no): c for c in inp.clearings}
    debits: dict[tuple[str, str], list[MovementSeen]] = defaultdict(list)
    for m in inp.movements:
        if m.kind in CLEARING_KINDS and m.direction == "D":
            debits[(m.bank_code, m.ref_voucher_no)].append(m)
    on_books = 0
    timing: list[str] = []
    for key, r in sorted(books.received.items()):
        if month_of(receipt_day(r)) != month:
            continue
        no, bank, fen = key[3], books.lines[key].bank or r.sender, books.whole(key)
        on_books += fen
        p = paid.get((bank, key))
        c = filings.get((bank, p.filing or "")) if p is not None else None
        ms = debits.get((codes.get(bank, ""), c.voucher_no), []) if c is not None and c.state == "accepted" else []
        if ms and month_of(ms[0].day) != month:
            timing.append(f"{no} {fen_to_str(fen)} paid {receipt_day(r)}, debited from the TSA {ms[0].day}")
        if not ms:
            breaks.append(Break("not-debited", receipt_day(r), (no,), f"{bank} paid {fen_to_str(fen)} (receipt of "
                                f"{receipt_day(r)}); no TSA debit clears it: off by {fen_to_str(-fen)}", fen, 0, "month"))
    # each TSA clearing debit of the month ↔ the treasury's receipts of the payments it cleared
    debited = credited = 0
    by_code = {c: b for b, c in codes.items()}
    for (code, ref), ms in sorted(debits.items()):
        in_month = [m for m in ms if month_of(m.day) == month]
        if not in_month:
            continue
        moved = sum(m.amount_fen for m in in_month)
        debited += moved
        c = filings.get((by_code.get(code, ""), ref))
        covered = [] if c is None else books.covered(c)
        known = sum(books.whole(k) for k in covered)
        whole = sum(m.amount_fen for m in ms)  # judged in the month of its first movement
        timing += [f"{k[3]} {fen_to_str(books.whole(k))} debited {in_month[0].day}, paid "
                   f"{receipt_day(books.received[k])}" for k in covered
                   if month_of(receipt_day(books.received[k])) != month]
        if month_of(ms[0].day) == month and (c is None or whole != known):
            breaks.append(Break("debit-unexplained", ms[0].day, _bounded(k[3] for k in covered),
                                f"TSA debit {fen_to_str(whole)} for {ref}; the treasury's receipts of the payments it cleared "
                                f"{fen_to_str(known)}: off by {fen_to_str(whole - known)}", known, whole, "month"))
    # refunds: the treasury's notices ↔ the TSA credits
    credits: dict[str, list[MovementSeen]] = defaultdict(list)
    for m in inp.movements:
        if m.kind == "refund" and m.direction == "C":
            credits[m.ref_voucher_no].append(m)
    noticed = {(n.bank, n.adm, n.voucher_no): n for n in inp.refund_notices}  # each bank numbers its notices
    by_notice = {(r.bank, r.notice_no): r for r in inp.refunds if r.notice_no}
    for (bank, _, no), n in sorted(noticed.items()):
        if month_of(n.day) != month:
            continue
        on_books -= n.amount_fen
        refund = by_notice.get((bank, no))
        ms = credits.get(refund.refund_no, []) if refund is not None else []
        if sum(m.amount_fen for m in ms) != n.amount_fen:
            moved = sum(m.amount_fen for m in ms)
            breaks.append(Break("refund-not-credited", n.day, (n.ori_voucher_no,), f"refund notice {no} of "
                                f"{fen_to_str(n.amount_fen)}; the TSA credited {fen_to_str(moved)}: off by {fen_to_str(moved - n.amount_fen)}",
                                n.amount_fen, moved, "month"))
    noticed_refunds = {by_notice[(b, no)].refund_no for b, _, no in noticed if (b, no) in by_notice}
    for ref, day, fen in _moved_in(credits, month):
        credited += fen
        if ref not in noticed_refunds:
            breaks.append(Break("credit-unexplained", day, (), f"TSA refund credit {fen_to_str(fen)} for {ref}; "
                                "the treasury was noticed of no such refund", 0, fen, "month"))
    # the month's daily statements ↔ the movements
    stmts = {s.day: s for s in tsa_days(inp.daily_statements) if month_of(s.day) == month}  # the TSA's
    by_day: dict[dt.date, list[MovementSeen]] = defaultdict(list)
    for m in inp.movements:
        by_day[m.day].append(m)
    for day in sorted(d for d in inp.business_days if month_of(d) == month and d not in stmts):
        breaks.append(Break("statement-missing", day, (), f"no 7401 statement of {day}", None, None, "month"))
    for day, st in sorted(stmts.items()):
        out_fen = sum(m.amount_fen for m in by_day.get(day, []) if m.direction == "D")
        in_fen = sum(m.amount_fen for m in by_day.get(day, []) if m.direction == "C")
        if (st.debit_fen, st.credit_fen) != (out_fen, in_fen):
            breaks.append(Break("statement-differs", day, (), f"7401 of {day}: DebitAmt {fen_to_str(st.debit_fen)}, "
                                f"CreditAmt {fen_to_str(st.credit_fen)}; the movements {fen_to_str(out_fen)} out, {fen_to_str(in_fen)} in: "
                                f"off by {fen_to_str((st.debit_fen - st.credit_fen) - (out_fen - in_fen))}",
                                out_fen - in_fen, st.debit_fen - st.credit_fen, "month"))
    verdict: VerdictName = "differs" if breaks else ("agreed" if due else "not-due")
    return LevelVerdict(month, "treasury-pboc", None, None, verdict, tuple(f"{d:%Y%m%d}" for d in sorted(stmts)),
                        on_books, debited - credited, tuple(breaks), timing=tuple(timing[:VOUCHERS_MAX]))


def signoff_json(verdicts: Sequence[LevelVerdict]) -> list[dict[str, Any]]:
    """The verdicts as JSON-ready data (amounts as yuan strings)."""
    return [{"month": v.month, "level": v.level, "bank": v.bank, "adm": v.adm, "unit": v.unit, "verdict": v.verdict,
             "statements": list(v.statements), "books": fen_to_str(v.books_fen),
             "stated": None if v.stated_fen is None else fen_to_str(v.stated_fen), "signed_off": v.signed_off,
             "sign_remark": v.sign_remark, "late": v.late, "timing": list(v.timing),
             "breaks": [{"cause": b.cause, "day": b.day.isoformat() if b.day else None, "vouchers": list(b.vouchers),
                         "detail": b.detail,
                         "difference": None if b.expected_fen is None or b.actual_fen is None
                         else fen_to_str(b.actual_fen - b.expected_fen)} for b in v.breaks]}
            for v in verdicts]
