"""Clearing requests (2301) to the central bank and their receipts; the rules of when and what
(`sweep_instant`, `refile_action`) are `bank_sim.clearing`'s.

Each business day: ClearType 1 per (advance day, division, pay type, fund type) at `replenish_time`
for the previous business day's advances, and apart from them for the payments the bank's own
funds made whole at that day's close (`file_fronted`); ClearType 0 per (division, pay type, fund type) at `filing_time`
and the final sweep, DetailList one Detail per payment (refunds match them); a group of more than
FILING_PAYMENTS_MAX payments in several requests. Accepted
(XClearAmt > 0, no Return_Reason): `pboc-clearing` → each ZBA (or the reserve, for ClearType 1).
Rejected: an Alarm with the reason's code, the payments unfiled (held or left to the close).
"""

from __future__ import annotations

import datetime as dt

from bank_sim import clearing as clearing_rules
from bank_sim import refunds as rf
from bank_sim.accounts import transfer
from bank_sim.payee_refunds import after_clearing
from bank_sim.reporting import on_cleared
from bank_sim.state import RESERVE_PAID, UNFILED, BankState, Ctx, Filing, Payment
from business_time.clock import replenishment_day
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.return_reason import ReturnReason
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["FILING_PAYMENTS_MAX", "clearing_receipt", "due_page", "file", "file_clearings", "file_fronted", "file_replenishments",
           "filing_refused", "reserve_paid", "unfiled", "unfiled_clearing", "unreplenished"]

# Payments in one clearing request (2301), and filed by one call: a (pay type, fund type) group of
# more is filed as several requests, and more due than this wait for the next call, a microsecond
# later (`BankState.filings_more`). One Detail a payment: a busy day's group in one request was a
# voucher of up to `refunds.CLEARING_DETAILS_MAX` Details (megabytes), and a day's requests went
# out, were admitted, cleared and answered at once, each hop holding them whole: the peak of a
# simulated day's memory.
FILING_PAYMENTS_MAX = 2_000


def file_clearings(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    """Today's unfiled payments, and apart from them those of earlier days held after a refusal
    (`bank_sim.clearing`: filed again at each round until the central bank accepts)."""
    day = when.date()
    due = due_page(st, day, FILING_PAYMENTS_MAX)
    st.filings_more = len(due) > FILING_PAYMENTS_MAX
    page = due[:FILING_PAYMENTS_MAX]
    return (file(ctx, st, [p for p in page if p.day == day], 0, day, when)
            + file(ctx, st, [p for p in page if p.day != day], 0, day, when))


def due_page(st: BankState, day: dt.date, limit: int) -> list[Payment]:
    """The payments `file_clearings` files on `day`, in order: today's unfiled clearing payments, then
    those of earlier days held after a refusal, each in payment order; the first `limit` + 1 of them
    (all when there are no more): a page to file and whether more are due. Walks only `unfiled(st)`,
    dropping the filed ones it meets (and those no clearing request will file), and stops once
    today's pass `limit`: a page call costs about what it files, not what the day holds."""
    payments, kept = st.payments, unfiled(st)
    today: list[Payment] = []
    earlier: list[Payment] = []  # held after a refusal (after today's, so only read if today's are few)
    gone: list[str] = []
    for k in kept:
        p = payments[k]
        if p.filing is not None or p.mode not in _MAY_FILE:
            gone.append(k)
        elif p.mode != "clearing":
            continue
        elif p.day == day:
            today.append(p)
            if len(today) > limit:
                break
        elif p.held is not None and p.day is not None and p.day < day:
            earlier.append(p)
    _let_go(st, UNFILED, kept, gone)
    return (today + earlier)[:limit + 1]


def _let_go(st: BankState, name: str, kept: dict[str, None], gone: list[str]) -> None:
    """Drop the keys `gone` from the index `kept` (`st`'s attribute `name`): made anew once most of
    it is gone (a dict keeps its table when emptied: a day's slots let go)."""
    for k in gone:
        del kept[k]
    if len(gone) > len(kept):
        st.__dict__[name] = dict(kept)


def unfiled(st: BankState) -> dict[str, None]:
    """The keys in `st.payments` (in its order) of every payment a clearing request (2301) may still
    file: each not filed whose mode is clearing, or deferred (paid at the opening, in the clearing);
    some filed may be left in it, for `due_page` to drop. Not in the snapshot: derived from the
    payments at the first call after a load, then kept as they come (`BankState.add_payment`), and
    dropped when a refused request unfiles its payments (`_refile`, rare)."""
    kept: dict[str, None] | None = st.__dict__.get(UNFILED)
    if kept is None:
        kept = st.__dict__[UNFILED] = {k: None for k, p in st.payments.items()
                                       if p.filing is None and p.mode in _MAY_FILE}
    return kept


# The modes of the payments `unfiled` holds (a payment's mode changes only from defer to clearing,
# or to refuse).
_MAY_FILE = ("clearing", "defer")


def file_replenishments(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    """ClearType 1 requests for the payments the reserve paid (advances, and those it covered at a
    close) whose replenishment day is `when`'s, by advance day, each in payment order. Walks only
    `reserve_paid(st)`, dropping those filed."""
    today = when.date()
    due = [p for p in unreplenished(st) if p.day is not None and replenishment_day(p.day, ctx.calendar) == today]
    due.sort(key=_seq)  # the index takes a covered payment at the close, after later advances: payment order
    effects: list[Effect] = []
    for advance_day in sorted({p.day for p in due if p.day is not None}):
        effects += file(ctx, st, [p for p in due if p.day == advance_day], 1, advance_day, when)
    return effects + file_fronted(ctx, st, when)


def file_fronted(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    """ClearType 1 requests, apart from the reserve's, for the payments of an earlier day the
    bank's own funds made whole at its close (`close._front`: its clearing missed the cutoff and
    the reserve could not cover it), by pay day, ClearDate that day: they are of that day's quota,
    which its normal clearings did not use. The clearing repays the bank's own funds. Such a
    payment is one in clearing mode no request filed, neither held nor covered, of a day before
    `when`'s (`unfiled_clearing`: a walk of the unfiled only); due from its replenishment day."""
    today = when.date()
    due = [p for p in unfiled_clearing(st) if p.held is None and not p.covered and p.refused is None
           and p.day is not None and p.day < today and replenishment_day(p.day, ctx.calendar) <= today]
    effects: list[Effect] = []
    for pay_day in sorted({p.day for p in due if p.day is not None}):
        effects += file(ctx, st, [p for p in due if p.day == pay_day], 1, pay_day, when)
    return effects


def _seq(p: Payment) -> int:
    return p.seq


def reserve_paid(st: BankState) -> dict[str, None]:
    """The keys in `st.payments` of every payment the reserve paid and no replenishment (ClearType
    1) has filed yet: mode advance, or covered at a close; some filed or no longer such may be left
    in it, for `unreplenished` to drop. Not in the snapshot: derived from the payments at the first
    call after a load, then kept as they come (`BankState.add_payment` takes an advance,
    `bank_sim.close` a payment it covers)."""
    kept: dict[str, None] | None = st.__dict__.get(RESERVE_PAID)
    if kept is None:
        kept = st.__dict__[RESERVE_PAID] = {k: None for k, p in st.payments.items()
                                            if (p.mode == "advance" or p.covered) and p.filing is None}
    return kept


def unreplenished(st: BankState) -> list[Payment]:
    """The payments the reserve paid (mode advance, or covered) not filed yet, each once (in the
    order `reserve_paid` took them: a covered one after the advances before its close); the
    others `reserve_paid` still held are dropped from it."""
    payments, kept = st.payments, reserve_paid(st)
    out: list[Payment] = []
    gone: list[str] = []
    for k in kept:
        p = payments[k]
        if p.filing is None and (p.mode == "advance" or p.covered):
            out.append(p)
        else:
            gone.append(k)
    _let_go(st, RESERVE_PAID, kept, gone)
    return out


def unfiled_clearing(st: BankState) -> list[Payment]:
    """The payments in clearing mode no request has filed (in payment order): `unfiled(st)`'s,
    the filed ones and those no clearing request will file dropped from it as `due_page` does."""
    payments, kept = st.payments, unfiled(st)
    out: list[Payment] = []
    gone: list[str] = []
    for k in kept:
        p = payments[k]
        if p.filing is not None or p.mode not in _MAY_FILE:
            gone.append(k)
        elif p.mode == "clearing":
            out.append(p)
    _let_go(st, UNFILED, kept, gone)
    return out


def file(ctx: Ctx, st: BankState, payments: list[Payment], clear_type: int, clear_date: dt.date,
         when: dt.datetime, *, urgent: bool = False) -> list[Effect]:
    # one request per division too: a bank serving several clears each division's payments against
    # that division's treasury account, where its refunds (2302) later find them
    groups: dict[tuple[str, str, tuple[str, str]], list[Payment]] = {}
    for p in payments:
        groups.setdefault((p.key.adm_div_code, p.pay_type, p.fund_type), []).append(p)
    effects: list[Effect] = []
    today = when.date()
    reserve, own = ctx.accounts["reserve"], ctx.accounts["bank-own"]
    c = ctx.config
    chunks = [(kind, whole[i:i + FILING_PAYMENTS_MAX]) for kind, whole in sorted(groups.items())
              for i in range(0, len(whole), FILING_PAYMENTS_MAX)]
    for (adm, pay_type, fund_type), group in chunks:
        st.filing_seq += 1
        no = f"HK{ctx.bank_code[-4:]}{format_ymd(today)}{st.filing_seq:05d}"
        by_dep: dict[tuple[str, str], int] = {}
        by_account: dict[str, int] = {}
        for p in group:
            by_dep[p.sup_dep] = by_dep.get(p.sup_dep, 0) + p.amount_fen
            # what the clearing pays back: the zero-balance account; for ClearType 1 the reserve (an
            # advance, a covered payment) or the bank's own funds (a fronted one, `file_fronted`)
            account = p.account if clear_type == 0 else reserve if p.mode == "advance" or p.covered else own
            by_account[account] = by_account.get(account, 0) + p.amount_fen
            p.filing, p.held = no, None
        total = sum(by_dep.values())
        st.filings[no] = Filing(no, clear_type, pay_type, fund_type, clear_date, when, total, by_account,
                                [p.key for p in group], urgent=urgent, seq=st.filing_seq)
        head = {
            "Id": f"V2301{no}", "AdmDivCode": adm, "StYear": str(today.year),
            "VouDate": format_ymd(today), "VoucherNo": no, "PayBankCode": ctx.bank_code,
            "PayBankName": c.bank_name, "ClearBankCode": c.clear_bank_code,
            "ClearBankName": c.clear_bank_name, "ClearDate": format_ymd(clear_date),
            "PayTypeCode": pay_type, "FundTypeCode": fund_type[0], "FundTypeName": fund_type[1],
            "UrgentFlag": "1" if urgent else "0", "ClearType": str(clear_type), "PayAmt": fen_to_str(total),
        }
        # one Detail per payment (refunds match them)
        details = rf.clearing_details([(p.key.voucher_no, p.sup_dep, p.amount_fen) for p in group])
        effects.append(SendVoucher("2301", 0, head, details, "pboc"))
    return effects


def clearing_receipt(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime,
                     return_reason: str | None) -> list[Effect]:
    filing = st.filings.get(doc.get("VoucherNo"))
    if filing is None:
        return [Alarm("unknown-original", "a clearing receipt for a request this bank never filed", str(key))]
    if filing.state != "pending":
        return []  # answered before
    filing.answered_at = now
    cleared = parse_fen(doc.get("XClearAmt") or "0.00")
    if return_reason is not None or cleared == 0:
        filing.state = "rejected"
        filing.reason = return_reason or "rejected without a reason"
        code = ReturnReason.parse(filing.reason).code
        _refile(st, filing, code)
        return [Alarm(code, f"clearing request {filing.voucher_no} refused: {filing.reason}",
                      str(key))]
    if cleared != filing.amount_fen:
        filing.state = "rejected"
        filing.reason = f"amount-mismatch: cleared {fen_to_str(cleared)} of {fen_to_str(filing.amount_fen)}"
        return [Alarm("amount-mismatch", f"clearing request {filing.voucher_no}: {filing.reason}", str(key))]
    filing.state = "accepted"
    filing.cleared_fen = cleared
    name = "reserve-replenishment" if filing.clear_type == 1 else "clearing"
    effects: list[Effect] = []
    for account, fen in sorted(filing.by_account.items()):
        # only what goes back to the reserve replenishes it (the reserve statement's MoveType 4)
        kind = "reserve-replenishment" if account == ctx.accounts["reserve"] else "clearing"
        effects.append(transfer(st, f"bank:{ctx.bank_code}:{name}:{filing.voucher_no}:{account}",
                                ctx.accounts["pboc-clearing"], account, fen, kind, str(key.original()), now.date()))
        if account == ctx.accounts["reserve"]:
            st.reserve_balance_fen += fen
    on_cleared(st, now, filing.payments)
    return effects + after_clearing(ctx, st, now)


def _refile(st: BankState, filing: Filing, code: str) -> None:
    """After a refused clearing request (`bank_sim.clearing.refile_action`) its payments are
    unfiled: held for the next clearing round, or (missed the clearing time) left to the close,
    which makes them whole from the reserve. Nothing is filed here."""
    if filing.clear_type != 0:
        return  # a refused replenishment is escalated by its alarm; the reserve stays short
    action = clearing_rules.refile_action(code)
    for k in filing.payments:
        p = st.payment(k)
        if p is not None and p.filing == filing.voucher_no:
            # a held payment of an earlier day stays held: the reserve covers only the day's own
            p.filing, p.held = None, (code if action == "hold" or p.day != filing.clear_date else None)
    st.__dict__.pop(UNFILED, None)  # derived again when next asked: they come back in their place


def filing_refused(st: BankState, voucher_no: str, reason: str) -> None:
    """The books or the gateway refused a clearing request or its receipt's transfers."""
    filing = st.filings.get(voucher_no)
    if filing is not None:
        filing.state, filing.reason, filing.cleared_fen = "rejected", reason, 0
