"""The reconciliation as it was before it could be made slice by slice (`runner.reconcile` at
dcc9ed8, every list of the run joined at once), kept as the reference `test_reconcile_parts`
compares the sliced one with. Not used by the runner."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from messages.money import fen_to_str, parse_fen
from runner.observed import (
    Break,
    ClearingSeen,
    DayTotals,
    MovementSeen,
    PaymentSeen,
    ReceiptSeen,
    Reconciliation,
    RefundSeen,
    SentVoucher,
    StatementSeen,
)
from runner.reconcile import BREAK_VOUCHERS_MAX, CLEARING_KINDS, PAYMENT_VTCODES


def _receipt_fen(r: ReceiptSeen) -> int | None:
    try:
        return parse_fen(r.fields.get("XPayAmt", ""))
    except ValueError:
        return None


def receipt_day(r: ReceiptSeen) -> dt.date:
    """The day a receipt says the voucher was paid (XPayDate); the day it came when that is unreadable."""
    text = r.fields.get("XPayDate", "")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return r.received_at.date()


def reconcile(*, sent: Sequence[SentVoucher], receipts: Sequence[ReceiptSeen], payments: Sequence[PaymentSeen],
              clearings: Sequence[ClearingSeen], movements: Sequence[MovementSeen],
              statements: Sequence[StatementSeen], business_days: Iterable[dt.date] = (),
              opening_fen: int | None = None, refunds: Sequence[RefundSeen] = ()) -> Reconciliation:
    """Reconcile what the three parties recorded. `business_days`: the days a statement is due
    for; `opening_fen`: the TSA balance before the first statement, when known; `refunds`: the
    banks' refund requests (the refund leg)."""
    breaks: list[Break] = []
    # one voucher per number: the submission the gateway let through, never a refused resubmission
    # under the same number (duplicate-conflict), which no bank saw
    originals: dict[str, SentVoucher] = {}
    for v in sent:
        first = originals.get(v.voucher_no)
        if (v.vtcode in PAYMENT_VTCODES and v.flag == 0 and v.sender == "treasury"
                and (first is None or (v.reached and not first.reached))):
            originals[v.voucher_no] = v
    accepted = {no: v for no, v in originals.items()
                if v.fault not in ("drop", "corrupt-signature") and v.reached}
    paid = {p.voucher_no: p for p in payments if p.paid_day is not None}
    held = {p.voucher_no: p for p in payments if p.paid_day is None}
    by_receipt: dict[str, list[ReceiptSeen]] = defaultdict(list)
    for r in receipts:
        if r.vtcode in PAYMENT_VTCODES:
            by_receipt[r.voucher_no].append(r)

    # -- treasury ↔ banks, voucher by voucher
    for no, v in sorted(accepted.items()):
        if no not in paid:
            why = f"held by {held[no].bank} ({held[no].mode})" if no in held else "no bank paid it"
            breaks.append(Break("not-paid", v.sent_at.date(), (no,), f"{fen_to_str(v.amount_fen)} to {v.bank}: {why}",
                                v.amount_fen, 0))
    for no, p in sorted(paid.items()):
        if no not in originals:
            breaks.append(Break("paid-unknown", p.paid_day, (no,), f"{p.bank} paid {fen_to_str(p.amount_fen)}", 0,
                                p.amount_fen))
            continue
        got = by_receipt.get(no, [])
        if not got:
            breaks.append(Break("no-receipt", p.paid_day, (no,), f"paid {fen_to_str(p.amount_fen)} by {p.bank} on {p.paid_day}; "
                                "no receipt reached the treasury", p.amount_fen, 0))
    for no, rs in sorted(by_receipt.items()):
        original = originals.get(no)
        if original is None:
            breaks.append(Break("receipt-unknown", receipt_day(rs[0]), (no,), f"receipt from {rs[0].sender}"))
            continue
        good = [r for r in rs if r.return_reason is None]
        if len(good) > 1:
            breaks.append(Break("duplicate-receipt", receipt_day(good[0]), (no,),
                                f"{len(good)} receipts from {', '.join(sorted({r.sender for r in good}))}"))
        for r in good[:1]:
            fen = _receipt_fen(r)
            if fen != original.amount_fen:
                breaks.append(Break("receipt-amount", receipt_day(r), (no,), f"XPayAmt {r.fields.get('XPayAmt')!r}, "
                                    f"PayAmt {fen_to_str(original.amount_fen)}", original.amount_fen, fen))

    # -- banks: payments ↔ their clearing requests
    # Each bank numbers its own clearing requests: a 2301 is (bank, VoucherNo), never VoucherNo alone.
    filings = {(c.bank, c.voucher_no): c for c in clearings}
    for no, p in sorted(paid.items()):
        c = filings.get((p.bank, p.filing or ""))
        if c is None:
            if p.filing is None:
                breaks.append(Break("not-cleared", p.paid_day, (no,), f"{p.bank} paid {fen_to_str(p.amount_fen)} ({p.mode}) "
                                    "and filed no clearing request for it", p.amount_fen, 0))
            else:
                breaks.append(Break("not-cleared", p.paid_day, (no,), f"its clearing request {p.filing} is unknown",
                                    p.amount_fen, 0))
        elif c.state == "rejected":
            breaks.append(Break("clearing-rejected", c.clear_date, (no,),
                                f"{c.voucher_no} refused {c.code or ''}: {c.reason or ''}".strip(), p.amount_fen, 0))
        elif c.state == "pending":
            breaks.append(Break("clearing-unanswered", c.clear_date, (no,), f"{c.voucher_no} filed "
                                f"{c.filed_at:%Y-%m-%d %H:%M}, no answer", p.amount_fen, 0))
    amounts = {p.voucher_no: p.amount_fen for p in payments}
    for c in clearings:
        listed = sum(amounts.get(no, 0) for no in c.payments)
        if listed != c.amount_fen:
            breaks.append(Break("clearing-sum", c.clear_date, tuple(c.payments[:BREAK_VOUCHERS_MAX]),
                                f"{c.voucher_no} asks {fen_to_str(c.amount_fen)}, its payments add up to {fen_to_str(listed)}",
                                listed, c.amount_fen))

    # -- banks ↔ central bank: accepted clearing requests ↔ TSA movements
    moves_by_ref: dict[tuple[str, str], list[MovementSeen]] = defaultdict(list)  # (bank code, 2301 No.)
    for m in movements:
        if m.kind in CLEARING_KINDS:
            moves_by_ref[(m.bank_code, m.ref_voucher_no)].append(m)
    for c in clearings:
        if c.state != "accepted":
            continue
        ms = moves_by_ref.get((c.bank_code, c.voucher_no), [])
        if not ms:
            breaks.append(Break("clearing-no-movement", c.clear_date, tuple(c.payments[:BREAK_VOUCHERS_MAX]),
                                f"{c.bank} booked {c.voucher_no} cleared ({fen_to_str(c.cleared_fen)}); the TSA shows no debit",
                                c.cleared_fen, 0))
        elif sum(m.amount_fen for m in ms) != c.cleared_fen:
            moved = sum(m.amount_fen for m in ms)
            breaks.append(Break("clearing-amount", ms[0].day, tuple(c.payments[:BREAK_VOUCHERS_MAX]),
                                f"{c.voucher_no}: bank booked {fen_to_str(c.cleared_fen)}, TSA debited {fen_to_str(moved)}",
                                c.cleared_fen, moved))
    accepted_filings = {(c.bank_code, c.voucher_no) for c in clearings if c.state == "accepted"}
    for (bank_code, ref), ms in sorted(moves_by_ref.items()):
        if (bank_code, ref) not in accepted_filings:
            breaks.append(Break("movement-unknown", ms[0].day, (), f"TSA debit {fen_to_str(sum(m.amount_fen for m in ms))} "
                                f"for {ref}, which no bank booked as accepted", 0, sum(m.amount_fen for m in ms)))

    breaks += _refund_breaks(refunds, paid, movements)

    # -- central bank: movements ↔ statements
    stmt = {s.day: s for s in statements}
    moves_by_day: dict[dt.date, list[MovementSeen]] = defaultdict(list)
    for m in movements:
        moves_by_day[m.day].append(m)
    for day in sorted(set(business_days)):
        if day not in stmt:
            breaks.append(Break("statement-missing", day, (), "no 7401 daily statement"))
    balance = opening_fen
    for day in sorted(stmt):
        s = stmt[day]
        debit = sum(m.amount_fen for m in moves_by_day.get(day, []) if m.direction == "D")
        credit = sum(m.amount_fen for m in moves_by_day.get(day, []) if m.direction == "C")
        problems = []
        if s.debit_fen != debit:
            problems.append(f"DebitAmt {fen_to_str(s.debit_fen)}, movements {fen_to_str(debit)}")
        if s.credit_fen != credit:
            problems.append(f"CreditAmt {fen_to_str(s.credit_fen)}, movements {fen_to_str(credit)}")
        if s.end_fen != s.begin_fen + s.credit_fen - s.debit_fen:
            problems.append(f"EndBalance {fen_to_str(s.end_fen)} ≠ begin + credits - debits")
        if balance is not None and s.begin_fen != balance:
            problems.append(f"BeginBalance {fen_to_str(s.begin_fen)}, the previous end {fen_to_str(balance)}")
        balance = s.end_fen
        if problems:
            breaks.append(Break("statement-mismatch", day, (), "; ".join(problems), debit, s.debit_fen))

    # -- totals per day and per month
    days_seen: set[dt.date] = set(stmt) | set(moves_by_day)
    sent_by: dict[dt.date, int] = defaultdict(int)
    for v in accepted.values():
        sent_by[v.sent_at.date()] += v.amount_fen
    rec_by: dict[dt.date, int] = defaultdict(int)
    for no, rs in by_receipt.items():
        good = [r for r in rs if r.return_reason is None]
        if good and no in originals:
            rec_by[receipt_day(good[0])] += _receipt_fen(good[0]) or 0
    paid_by: dict[dt.date, int] = defaultdict(int)
    paid_nos: dict[dt.date, list[str]] = defaultdict(list)
    for p in paid.values():
        assert p.paid_day is not None
        paid_by[p.paid_day] += p.amount_fen
        paid_nos[p.paid_day].append(p.voucher_no)
    cleared_by: dict[dt.date, int] = defaultdict(int)
    for c in clearings:
        if c.state == "accepted":
            cleared_by[(c.answered_at or c.filed_at).date()] += c.cleared_fen
    debit_by = {d: sum(m.amount_fen for m in ms if m.direction == "D" and m.kind in CLEARING_KINDS)
                for d, ms in moves_by_day.items()}
    days_seen |= set(sent_by) | set(rec_by) | set(paid_by) | set(cleared_by)
    totals = []
    for day in sorted(days_seen):
        t = DayTotals(day, sent_by.get(day, 0), rec_by.get(day, 0), paid_by.get(day, 0), cleared_by.get(day, 0),
                      debit_by.get(day, 0), stmt[day].debit_fen if day in stmt else None)
        totals.append(t)
        if t.treasury_receipts_fen != t.bank_paid_fen:
            missing = sorted(no for no in paid_nos.get(day, []) if not by_receipt.get(no))
            breaks.append(Break("day-mismatch", day, tuple(missing[:BREAK_VOUCHERS_MAX]),
                                f"treasury receipts {fen_to_str(t.treasury_receipts_fen)}, bank payments {fen_to_str(t.bank_paid_fen)}",
                                t.bank_paid_fen, t.treasury_receipts_fen))
        if t.bank_cleared_fen != t.pboc_debits_fen:
            breaks.append(Break("day-mismatch", day, (), f"bank clearings booked {fen_to_str(t.bank_cleared_fen)}, "
                                f"TSA clearing debits {fen_to_str(t.pboc_debits_fen)}", t.bank_cleared_fen, t.pboc_debits_fen))
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for t in totals:
        row = months[f"{t.day:%Y-%m}"]
        row[0] += t.treasury_receipts_fen
        row[1] += t.bank_paid_fen
        row[2] += t.bank_cleared_fen
        row[3] += t.pboc_debits_fen
    month_rows = []
    for month, (receipts_fen, paid_fen, cleared_fen, debits_fen) in sorted(months.items()):
        month_rows.append((month, receipts_fen, cleared_fen, debits_fen))
        if receipts_fen != paid_fen or cleared_fen != debits_fen:
            breaks.append(Break("month-mismatch", None, (), f"{month}: treasury receipts {fen_to_str(receipts_fen)}, bank "
                                f"payments {fen_to_str(paid_fen)}, bank clearings {fen_to_str(cleared_fen)}, TSA debits {fen_to_str(debits_fen)}",
                                paid_fen, receipts_fen, period="month"))
    breaks.sort(key=lambda b: (b.day or dt.date.min, b.cause, b.vouchers))
    return Reconciliation(tuple(totals), tuple(month_rows), tuple(breaks))


def _refund_breaks(refunds: Sequence[RefundSeen], paid: dict[str, PaymentSeen],
                   movements: Sequence[MovementSeen]) -> list[Break]:
    """The refund leg: each bank refund (2302) ↔ the payment it returns ↔ the TSA credit for it."""
    breaks: list[Break] = []
    credits: dict[str, list[MovementSeen]] = defaultdict(list)
    for m in movements:
        if m.kind == "refund" and m.direction == "C":
            credits[m.ref_voucher_no].append(m)
    for r in sorted(refunds, key=lambda r: (r.returned_at, r.refund_no)):
        day = r.returned_at.date()
        if r.voucher_no not in paid:
            breaks.append(Break("refund-unknown", day, (r.voucher_no,), f"{r.bank} refund {r.refund_no} of "
                                f"{fen_to_str(r.amount_fen)} for a payment it never paid", 0, r.amount_fen))
        if r.state == "pending":
            breaks.append(Break("refund-unanswered", day, (r.voucher_no,), f"{r.bank} refund {r.refund_no} "
                                f"({fen_to_str(r.amount_fen)}) has no answer", r.amount_fen, 0))
        elif r.state == "rejected":
            breaks.append(Break("refund-rejected", day, (r.voucher_no,), f"{r.bank} refund {r.refund_no} refused "
                                f"{r.code or ''}: {fen_to_str(r.amount_fen)} stays in its refunds account", r.amount_fen, 0))
        else:
            ms = credits.get(r.refund_no, [])
            moved = sum(m.amount_fen for m in ms)
            if not ms:
                breaks.append(Break("refund-no-movement", day, (r.voucher_no,), f"{r.bank} booked refund "
                                    f"{r.refund_no} accepted ({fen_to_str(r.amount_fen)}); the TSA shows no credit",
                                    r.amount_fen, 0))
            elif moved != r.amount_fen:
                breaks.append(Break("refund-amount", ms[0].day, (r.voucher_no,), f"{r.refund_no}: bank booked "
                                    f"{fen_to_str(r.amount_fen)}, TSA credited {fen_to_str(moved)}", r.amount_fen, moved))
    accepted = {r.refund_no for r in refunds if r.state == "accepted"}
    for ref, ms in sorted(credits.items()):
        if ref not in accepted:
            moved = sum(m.amount_fen for m in ms)
            breaks.append(Break("refund-movement-unknown", ms[0].day, (), f"TSA refund credit {fen_to_str(moved)} for {ref}, "
                                "which no bank booked as an accepted refund", 0, moved))
    return breaks
