"""Payment corrections (支付更正通知书, VtCode 5253; 004 part 5 §3-4, 003 §39): a wrong subject
corrected after payment.

The 5253 names the paid voucher (OriVtCode, OriVoucherNo) and restates the whole payment
(PayAmt = the payment's): per Detail, the part of it (PayAmt) moved from the original subject
(OriExpFuncCode / OriExpFuncName) to the corrected one (ExpFuncCode / ExpFuncName); a Detail whose
two subjects are the same leaves its part where it is. The bank applies it to its report tallies and confirms it with the
5253's receipt (XCorrectDate): no money moves, the month's totals stay the same.

Where the move lands (`bank_sim.reporting` keeps the tallies):

* the payment is not cleared yet: the lines waiting for its clearing, so the day's 2206 and the
  month's 4004 show it under the corrected subject from the start;
* cleared: the 2206 of its clearing day if not issued yet, and the 4004 of that month if not
  issued yet; otherwise the 4004 of the correction's month carries the reclassification (the
  old line less, the corrected line more: net zero);
* the month's statement (3501 / 7104) of its payment day if not issued yet, else the
  correction's month's.

Refused whole (Alarm `correction-refused`, no receipt, nothing changed), naming the element:
another bank's (PayBankCode); a voucher this bank never paid (OriVoucherNo); a change of amount
(PayAmt: the 5253 carries no payee account for a refund, so a correction never refunds);
a Detail whose original subject does not hold its amount (OriExpFuncCode). A redelivered 5253
is confirmed again, applied once. Memory: one entry per payment corrected (its current lines).
"""

from __future__ import annotations

import datetime as dt

from bank_sim import reporting
from bank_sim import reports as rp
from bank_sim.config import PAY_TYPE
from bank_sim.notices import applied_key
from bank_sim.payee_records import payee_of
from bank_sim.state import BankState, Ctx, Payment, TallyLines
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.archive import Archive
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["CORRECTION_VTCODE", "correction_notice", "current_lines"]

CORRECTION_VTCODE = "5253"
_FUNC = 7  # ExpFuncCode in a tally line (ExpFuncName follows) (`bank_sim.reports.Line`)


def current_lines(st: BankState, p: Payment, home: str, archive: Archive | None = None) -> TallyLines | None:
    """Payment `p`'s tally lines as last corrected (None: the bank no longer knows them)."""
    s = st.duties
    if (lines := s.corrected.get(str(p.key))) is not None:
        return lines
    if (waiting := reporting.uncleared_lines(p)) is not None:
        return waiting
    payee = payee_of(s, st.slot(p), archive)
    if payee is None:
        return None
    return reporting.lines_of(p, payee, payee.get("details") or [], home)


def _moved(lines: TallyLines, doc: VoucherDoc) -> TallyLines | str:
    """`lines` with each Detail's amount moved to its corrected subject, or why not."""
    out: dict[rp.Line, int] = {}
    for line, fen in lines:
        out[line] = out.get(line, 0) + fen
    for d in doc.details():
        ori, amount = d.get("OriExpFuncCode", ""), parse_fen(d.get("PayAmt", "0.00"))
        found = next((ln for ln, fen in out.items() if ln[_FUNC] == ori and fen >= amount), None)
        if found is None:
            held = sum(fen for ln, fen in out.items() if ln[_FUNC] == ori)
            return f"OriExpFuncCode {ori}: the payment holds {fen_to_str(held)} under it, not {fen_to_str(amount)}"
        out[found] -= amount
        new: rp.Line = (*found[:7], d.get("ExpFuncCode", ""), d.get("ExpFuncName", ""), *found[9:])
        out[new] = out.get(new, 0) + amount
    return [(line, fen) for line, fen in out.items() if fen]


def _refused(ctx: Ctx, st: BankState, doc: VoucherDoc) -> tuple[Payment | None, str | None]:
    if doc.get("PayBankCode") != ctx.bank_code:
        return None, f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}"
    ori = VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("OriVtCode"), doc.get("OriVoucherNo"), 0)
    p = st.payment(ori) if ori.vtcode in PAY_TYPE else None
    if p is None or p.day is None or p.returned or p.refused:
        return None, f"OriVoucherNo {ori.voucher_no}: the bank paid no {ori.vtcode} of that number"
    if parse_fen(doc.get("PayAmt")) != p.amount_fen or sum(parse_fen(d.get("PayAmt", "0.00"))
                                                           for d in doc.details()) != p.amount_fen:
        return p, (f"PayAmt {doc.get('PayAmt')}: the payment was {fen_to_str(p.amount_fen)}; a correction "
                   "moves the whole amount between subjects and never refunds")
    return p, None


def _move(table: dict[str, dict[str, int]], when: str, old: TallyLines, new: TallyLines) -> None:
    tally = table.setdefault(when, {})
    for lines, sign in ((old, -1), (new, 1)):
        for line, fen in lines:
            k = reporting.line_id(line)
            tally[k] = tally.get(k, 0) + sign * fen
            if not tally[k]:
                del tally[k]


def correction_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 5253: move the payment's lines to the corrected subjects and confirm (see the module doc)."""
    s = st.duties
    receipt = SendVoucher(doc.vtcode, 1, {**doc.head(), "XCorrectDate": format_ymd(now.date())},
                          tuple(doc.details()), "treasury", original=doc.data, encoding=doc.encoding)
    seen = applied_key(doc)
    if seen in st.year_end_notices:
        return [receipt]
    p, refused = _refused(ctx, st, doc)
    old = current_lines(st, p, ctx.config.adm_div_code, ctx.archive) if p is not None and refused is None else None
    if p is not None and refused is None and old is None:
        refused = f"OriVoucherNo {p.key.voucher_no}: paid too long ago, its lines are no longer kept"
    new = _moved(old, doc) if old is not None else refused or ""
    if isinstance(new, str):
        return [Alarm("correction-refused", f"correction {doc.get('VoucherNo')} refused: {new}", str(key))]
    assert p is not None and p.day is not None and old is not None
    this_month = rp.month_of(now.date())
    if p.uncleared is not None:
        reporting.keep_uncleared(p, new)
    else:
        filing = st.filings.get(p.filing or "")
        cleared = (filing.answered_at.date() if filing is not None and filing.answered_at is not None
                   else now.date())
        if format_ymd(cleared) not in s.reported_days:
            _move(s.daily, format_ymd(cleared), old, new)
        month = rp.month_of(cleared)
        _move(s.monthly, month if month not in s.reported_months else this_month, old, new)
    paid_month = rp.month_of(p.day)
    _move(s.stated, paid_month if paid_month not in s.reported_months else this_month, old, new)
    s.corrected[str(p.key)] = new
    st.year_end_notices[seen] = now
    return [receipt]
