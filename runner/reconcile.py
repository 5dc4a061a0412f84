"""Three-way reconciliation, a pure function: the treasury's vouchers and receipts ↔ the banks'
payments and clearing requests ↔ the central bank's TSA movements and daily statements.

Every difference is a `Break` with its vouchers and a cause, never netted away (003 §40):

| cause                 | what it means                                                              |
|-----------------------|----------------------------------------------------------------------------|
| `not-paid`            | the gateway accepted a payment voucher; no bank paid it (held, refused, lost) |
| `paid-unknown`        | a bank paid a voucher the treasury never sent                               |
| `no-receipt`          | paid, but no receipt reached the treasury                                   |
| `receipt-unknown`     | a receipt for a voucher the treasury never sent                             |
| `receipt-amount`      | the receipt's XPayAmt differs from the voucher's PayAmt                     |
| `duplicate-receipt`   | more than one receipt for one voucher (paid twice?)                         |
| `not-cleared`         | paid, in no clearing request                                                |
| `clearing-rejected`   | its clearing request was refused by the central bank (code in the detail)   |
| `clearing-unanswered` | its clearing request has no answer                                          |
| `clearing-sum`        | a clearing request's amount differs from the payments it lists              |
| `clearing-no-movement`| the bank booked a clearing the central bank has no TSA movement for         |
| `movement-unknown`    | a TSA debit no accepted clearing request of a bank accounts for             |
| `clearing-amount`     | the TSA movement's amount differs from what the bank booked                 |
| `statement-missing`   | a business day without a 7401 statement                                     |
| `statement-mismatch`  | a statement's debits, credits or end balance disagree with the movements    |
| `day-mismatch`        | a day's totals differ between two parties (the detail says which)           |
| `month-mismatch`      | a month's totals differ between two parties                                 |
| `refund-unknown`      | a bank filed a refund (2302) for a payment it never paid                    |
| `refund-unanswered`   | a bank's refund request has no answer from the central bank                 |
| `refund-rejected`     | the central bank refused a bank's refund: the money stays in its refunds account |
| `refund-no-movement`  | a bank booked a refund accepted the central bank has no TSA credit for      |
| `refund-amount`       | the TSA credit differs from the refund the bank booked                      |
| `refund-movement-unknown` | a TSA refund credit no accepted refund of a bank accounts for            |

Per day: treasury receipts (by XPayDate) = bank payments (by pay day); bank clearings booked
(by answer day) = central bank debits (by movement day) = the 7401's DebitAmt. Per month the
same sums by calendar month. The treasury's day can differ from the central bank's for
advances: paid on D, replenished (debited) on the next business day; that is not a break.
The refund leg: each refund a bank filed (2302, a paid payment its payee's bank returned) ↔ the
central bank's TSA credit for it (kind `refund`, naming the 2302).

A voucher, its receipt and its payment are joined by the voucher's key (AdmDivCode, StYear,
VtCode, VoucherNo: `_Joins`), a clearing request's payments by their keys (`ClearingSeen.keys`)
when it has them: two divisions' or years' payments of one number are two.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from typing import Any

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
    tsa_days,
)

__all__ = ["CLEARING_KINDS", "PAYMENT_VTCODES", "receipt_day", "reconcile", "reconciliation_json"]

PAYMENT_VTCODES = frozenset({"5201", "8202"})
CLEARING_KINDS = frozenset({"clearing", "reserve-replenishment"})
BREAK_VOUCHERS_MAX = 200  # vouchers listed on one aggregate break; the rest are counted in its detail


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


Part = tuple[Sequence[SentVoucher], Sequence[ReceiptSeen], Sequence[PaymentSeen]]


def reconcile(*, sent: Sequence[SentVoucher], receipts: Sequence[ReceiptSeen], payments: Sequence[PaymentSeen],
              clearings: Sequence[ClearingSeen], movements: Sequence[MovementSeen],
              statements: Sequence[StatementSeen], business_days: Iterable[dt.date] = (),
              opening_fen: int | None = None, refunds: Sequence[RefundSeen] = ()) -> Reconciliation:
    """Reconcile what the three parties recorded. `business_days`: the days a statement is due
    for; `opening_fen`: the TSA balance before the first statement, when known; `refunds`: the
    banks' refund requests (the refund leg)."""
    return reconcile_parts([(sent, receipts, payments)], clearings=clearings, movements=movements,
                           statements=statements, business_days=business_days, opening_fen=opening_fen,
                           refunds=refunds)


def reconcile_parts(parts: Iterable[Part], *, clearings: Sequence[ClearingSeen], movements: Sequence[MovementSeen],
                    statements: Sequence[StatementSeen], business_days: Iterable[dt.date] = (),
                    opening_fen: int | None = None, refunds: Sequence[RefundSeen] = ()) -> Reconciliation:
    """`reconcile` with the vouchers, receipts and payments given in slices by VoucherNo (every record
    of one number in the same slice), which may be made one at a time as they are asked for: the same
    result, with one slice's records and join dicts held at a time instead of the whole run's (each is
    joined by VoucherNo only; what crosses slices is summed by day and by clearing request)."""
    breaks: list[Break] = []
    leg = _VoucherLeg(clearings, {r.voucher_no for r in refunds})
    for part in parts:
        breaks += leg.add(*part)
        del part  # dropped before the next slice is made

    for c, listed in zip(clearings, leg.listed, strict=True):
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

    breaks += _refund_breaks(refunds, leg.refunds_paid, movements)

    # -- central bank: movements ↔ statements
    stmt = {s.day: s for s in tsa_days(statements)}  # the divisions' 7401s of a day: the TSA's
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
    sent_by, rec_by, paid_by = leg.sent_by, leg.rec_by, leg.paid_by
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
            breaks.append(Break("day-mismatch", day, tuple(leg.unreceipted.get(day, ())),
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


class _Joins:
    """The key a voucher, its receipt and its payment are joined by: "<AdmDivCode>/<StYear>/<VtCode>/
    <VoucherNo>" (each division's treasury numbers its own vouchers, each year afresh: two
    divisions' or years' of one number are two). A record whose division or year is not known
    (a receipt or payment recorded without them) joins the one voucher of its kind and number whose
    key is known, or, with several, stands alone under its number."""

    def __init__(self, sent: Sequence[SentVoucher], receipts: Sequence[ReceiptSeen],
                 payments: Sequence[PaymentSeen]) -> None:
        self.known: dict[tuple[str, str], set[str]] = defaultdict(set)  # (VtCode, VoucherNo) → keys
        for v in sent:
            if self._sent_key(v):
                self.known[(v.vtcode, v.voucher_no)].add(self._sent_key(v))
        for p in payments:
            if p.key:
                self.known[(p.vtcode, p.voucher_no)].add(p.key)
        for r in receipts:
            if r.adm:
                self.known[(r.vtcode, r.voucher_no)].add(self._receipt_key(r))

    @staticmethod
    def _sent_key(v: SentVoucher) -> str:
        """Its key without the flag, "" when its key is not a voucher key of its number."""
        parts = v.key.split("/")
        return "/".join(parts[:4]) if len(parts) == 5 and parts[2:4] == [v.vtcode, v.voucher_no] else ""

    def sent(self, v: SentVoucher) -> str:
        return self._sent_key(v) or self._unknown(v.vtcode, v.voucher_no)

    @staticmethod
    def _receipt_key(r: ReceiptSeen) -> str:
        return f"{r.adm}/{r.year or r.fields.get('StYear', '')}/{r.vtcode}/{r.voucher_no}"

    def _unknown(self, vtcode: str, no: str) -> str:
        keys = self.known.get((vtcode, no), set())
        return next(iter(keys)) if len(keys) == 1 else f"//{vtcode}/{no}"

    def payment(self, p: PaymentSeen) -> str:
        return p.key or self._unknown(p.vtcode, p.voucher_no)

    def receipt(self, r: ReceiptSeen) -> str:
        return self._receipt_key(r) if r.adm else self._unknown(r.vtcode, r.voucher_no)


class _VoucherLeg:
    """The voucher-by-voucher joins of `reconcile_parts`, one slice of VoucherNo at a time: the breaks
    of each slice, and what the rest of the reconciliation needs summed over all of them."""

    def __init__(self, clearings: Sequence[ClearingSeen], refund_nos: set[str]) -> None:
        # Each bank numbers its own clearing requests: a 2301 is (bank, VoucherNo), never VoucherNo alone.
        self.clearings = clearings
        self.filings = {(c.bank, c.voucher_no): c for c in clearings}
        self.listed = [0] * len(clearings)  # what each clearing request's payments add up to
        self.refund_nos = refund_nos
        self.refunds_paid: set[str] = set()  # the refunds' vouchers that a bank paid
        self.sent_by: dict[dt.date, int] = defaultdict(int)
        self.rec_by: dict[dt.date, int] = defaultdict(int)
        self.paid_by: dict[dt.date, int] = defaultdict(int)
        self.unreceipted: dict[dt.date, list[str]] = defaultdict(list)  # paid, no receipt: the first by number

    def add(self, sent: Sequence[SentVoucher], receipts: Sequence[ReceiptSeen],
            payments: Sequence[PaymentSeen]) -> list[Break]:
        breaks: list[Break] = []
        join = _Joins(sent, receipts, payments)
        # one voucher per key: the submission the gateway let through, never a refused resubmission
        # under the same key (duplicate-conflict), which no bank saw
        originals: dict[str, SentVoucher] = {}
        for v in sent:
            k = join.sent(v)
            first = originals.get(k)
            if (v.vtcode in PAYMENT_VTCODES and v.flag == 0 and v.sender == "treasury"
                    and (first is None or (v.reached and not first.reached))):
                originals[k] = v
        accepted = {k: v for k, v in originals.items()
                    if v.fault not in ("drop", "corrupt-signature") and v.reached}
        paid = {join.payment(p): p for p in payments if p.paid_day is not None}
        held = {join.payment(p): p for p in payments if p.paid_day is None}
        by_receipt: dict[str, list[ReceiptSeen]] = defaultdict(list)
        for r in receipts:
            if r.vtcode in PAYMENT_VTCODES:
                by_receipt[join.receipt(r)].append(r)

        # -- treasury ↔ banks, voucher by voucher
        for k in sorted(accepted):
            v = accepted[k]
            no = v.voucher_no
            if k not in paid:
                why = f"held by {held[k].bank} ({held[k].mode})" if k in held else "no bank paid it"
                breaks.append(Break("not-paid", v.sent_at.date(), (no,), f"{fen_to_str(v.amount_fen)} to {v.bank}: {why}",
                                    v.amount_fen, 0))
        for k in sorted(paid):
            p = paid[k]
            no = p.voucher_no
            if k not in originals:
                breaks.append(Break("paid-unknown", p.paid_day, (no,), f"{p.bank} paid {fen_to_str(p.amount_fen)}", 0,
                                    p.amount_fen))
                continue
            if not by_receipt.get(k):
                breaks.append(Break("no-receipt", p.paid_day, (no,), f"paid {fen_to_str(p.amount_fen)} by {p.bank} on "
                                    f"{p.paid_day}; no receipt reached the treasury", p.amount_fen, 0))
        for k in sorted(by_receipt):
            rs = by_receipt[k]
            no = rs[0].voucher_no
            original = originals.get(k)
            if original is None:
                breaks.append(Break("receipt-unknown", receipt_day(rs[0]), (no,), f"receipt from {rs[0].sender}"))
                continue
            good = [r for r in rs if r.return_reason is None]
            if len(good) > 1:
                breaks.append(Break("duplicate-receipt", receipt_day(good[0]), (no,),
                                    f"{len(good)} receipts from {', '.join(sorted({r.sender for r in good}))}"))
            for r in good[:1]:
                fen, day = _receipt_fen(r), receipt_day(r)
                if fen != original.amount_fen:
                    breaks.append(Break("receipt-amount", day, (no,), f"XPayAmt {r.fields.get('XPayAmt')!r}, "
                                        f"PayAmt {fen_to_str(original.amount_fen)}", original.amount_fen, fen))
                self.rec_by[day] += fen or 0  # the day totals, summed over the slices (read once a receipt)

        # -- banks: payments ↔ their clearing requests
        for k in sorted(paid):
            p = paid[k]
            no = p.voucher_no
            c = self.filings.get((p.bank, p.filing or ""))
            if c is None:
                if p.filing is None:
                    breaks.append(Break("not-cleared", p.paid_day, (no,), f"{p.bank} paid {fen_to_str(p.amount_fen)} "
                                        f"({p.mode}) and filed no clearing request for it", p.amount_fen, 0))
                else:
                    breaks.append(Break("not-cleared", p.paid_day, (no,), f"its clearing request {p.filing} is unknown",
                                        p.amount_fen, 0))
            elif c.state == "rejected":
                breaks.append(Break("clearing-rejected", c.clear_date, (no,),
                                    f"{c.voucher_no} refused {c.code or ''}: {c.reason or ''}".strip(), p.amount_fen, 0))
            elif c.state == "pending":
                breaks.append(Break("clearing-unanswered", c.clear_date, (no,), f"{c.voucher_no} filed "
                                    f"{c.filed_at:%Y-%m-%d %H:%M}, no answer", p.amount_fen, 0))
        # what each request lists: its payments by key when it names them so (a number alone: every
        # payment of the number is a candidate, the last one of the slice taken, as before)
        amounts = {join.payment(p): p.amount_fen for p in payments}
        by_no = {p.voucher_no: p.amount_fen for p in payments}
        for i, c in enumerate(self.clearings):
            self.listed[i] += (sum(amounts.get(k, 0) for k in c.keys) if c.keys
                               else sum(by_no.get(no, 0) for no in c.payments))
        paid_nos = {p.voucher_no for p in paid.values()}
        self.refunds_paid.update(no for no in self.refund_nos if no in paid_nos)

        # -- the day totals, summed over the slices
        for v in accepted.values():
            self.sent_by[v.sent_at.date()] += v.amount_fen
        for p in paid.values():
            assert p.paid_day is not None
            self.paid_by[p.paid_day] += p.amount_fen
            if not by_receipt.get(join.payment(p)):
                self.unreceipted[p.paid_day].append(p.voucher_no)
        for nos in self.unreceipted.values():  # only the first BREAK_VOUCHERS_MAX are listed on a break
            nos.sort()
            del nos[BREAK_VOUCHERS_MAX:]
        return breaks


def _refund_breaks(refunds: Sequence[RefundSeen], paid: Container[str],
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


def reconciliation_json(rec: Reconciliation) -> dict[str, Any]:
    """The reconciliation as JSON-ready data (amounts as yuan strings), for `tgw demo --format json`."""
    return {
        "clean": rec.clean,
        "days": [{"date": d.day.isoformat(), "treasury_sent": fen_to_str(d.treasury_sent_fen),
                  "treasury_receipts": fen_to_str(d.treasury_receipts_fen), "bank_paid": fen_to_str(d.bank_paid_fen),
                  "bank_cleared": fen_to_str(d.bank_cleared_fen), "pboc_debits": fen_to_str(d.pboc_debits_fen),
                  "statement_debits": None if d.statement_debits_fen is None else fen_to_str(d.statement_debits_fen)}
                 for d in rec.days],
        "months": [{"month": m, "treasury_receipts": fen_to_str(r), "bank_cleared": fen_to_str(c), "pboc_debits": fen_to_str(p)}
                   for m, r, c, p in rec.months],
        "breaks": [{"cause": b.cause, "period": b.period, "day": b.day.isoformat() if b.day else None,
                    "vouchers": list(b.vouchers), "detail": b.detail} for b in rec.breaks],
    }
