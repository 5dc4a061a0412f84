"""Opening the books, and the statements at each business day's close.

On its first input the core opens the TSA (no overdraft) and the revenue account its opening
balance comes from, and posts that balance.

At each business day's bank system close the core emits the 7401 daily TSA statement for that
day, from its own record of transfers (BeginBalance, DebitAmt, CreditAmt, EndBalance, one Detail
per movement). A day without movements gets one too, with no DetailList, DebitAmt and CreditAmt
0.00 and EndBalance = BeginBalance: the treasury expects a statement every business day, and an
empty one says "nothing moved". The first statement is for the day the core starts on (the next
business day if it starts after that day's close). At the close of the first business day of a
month it also emits the 3502 reconciliation for the previous calendar month (debits by bank and
pay type; no DetailList if nothing was debited), for every month the core kept the books in.

A branch serving several divisions (`PbocConfig.divisions`) sends each division's treasury its own
7401 and 3502 (under its AdmDivCode), of the movements of that division's vouchers; the opening
balance is the configured division's, so the divisions' balances add up to the TSA's.
"""

from __future__ import annotations

import datetime as dt

from business_time.clock import at
from ledger.model import Account, AccountFlags, Transfer
from messages.dates import format_ymd
from messages.errors import InputError
from messages.money import fen_to_str
from pboc_sim.config import REVENUE_ACCOUNT, TSA_ACCOUNT, Ctx
from pboc_sim.record import balance_before
from pboc_sim.state import Movement, PbocState
from sim.effects import Effect, OpenAccount, PostTransfer, SendVoucher

__all__ = ["OPENING_TRANSFER", "catch_up", "daily_statement", "division_of", "monthly_reconciliation"]

OPENING_TRANSFER = "pboc:opening:tsa"


def catch_up(s: PbocState, ctx: Ctx, now: dt.datetime) -> list[Effect]:
    """Open the books on the first input; close every business day whose close is past."""
    effects: list[Effect] = []
    if not s.started:
        s.started = True
        effects += _open_books(s, ctx)
        today = now.date()
        open_today = ctx.calendar.is_business_day(today) and now < at(today, ctx.clock_config.bank_system_close)
        s.next_close = today if open_today else _close_after(ctx, today)
        s.first_day = s.next_close
    while s.next_close is not None and at(s.next_close, ctx.clock_config.bank_system_close) <= now:
        if ctx.calendar.is_business_day(s.next_close):  # past the calendar: calendar-out-of-range, no guess
            effects += _close_day(s, ctx, s.next_close)
        s.next_close = _close_after(ctx, s.next_close)
    return effects


def _close_after(ctx: Ctx, day: dt.date) -> dt.date:
    """The next business day after `day`; after the last day the calendar knows, the first day past
    it: the core sleeps until that day's close and is refused then (`is_business_day`), not before,
    so the last known day runs to its end."""
    nxt = ctx.calendar.next_business_day_if_known(day)
    return ctx.calendar.known_range[1] + dt.timedelta(days=1) if nxt is None else nxt


def _open_books(s: PbocState, ctx: Ctx) -> list[Effect]:
    effects: list[Effect] = [
        OpenAccount(Account(TSA_ACCOUNT, ctx.config.tsa_acct_name, "tsa",
                            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, owner="pboc")),
        OpenAccount(Account(REVENUE_ACCOUNT, "fiscal revenue (opening balance source)", "revenue-source",
                            owner="pboc")),
    ]
    if ctx.config.tsa_opening_fen:
        effects.append(PostTransfer(Transfer(OPENING_TRANSFER, REVENUE_ACCOUNT, TSA_ACCOUNT,
                                             ctx.config.tsa_opening_fen, "opening-balance")))
        s.tsa_balance_fen = ctx.config.tsa_opening_fen
        s.totals.opening_fen = ctx.config.tsa_opening_fen
    return effects


def _close_day(s: PbocState, ctx: Ctx, day: dt.date) -> list[SendVoucher]:
    served = ctx.config.served
    effects = [daily_statement(s, ctx, day, adm) for adm in served]
    try:
        previous: dt.date | None = ctx.calendar.previous_business_day(day)
    except InputError:  # the first business day the calendar knows
        previous = None
    if previous is None or previous.month != day.month:
        for adm in served:
            recon = monthly_reconciliation(s, ctx, day, adm)
            if recon is not None:
                effects.append(recon)
    s.statements.extend(effects)
    return effects


def division_of(ctx: Ctx, m: Movement) -> str:
    """The division whose statements show movement `m`: its voucher's, when the branch serves that
    division (`PbocConfig.divisions`); else the configured one's (as when a branch had one)."""
    return _division(ctx, m.ref.adm_div_code)


def _division(ctx: Ctx, adm: str) -> str:
    """The division whose statements show the movements of AdmDivCode `adm`'s vouchers."""
    return adm if adm in ctx.config.divisions else ctx.config.adm_div_code


def _moves(s: PbocState, ctx: Ctx, day_iso: str, adm: str) -> list[Movement]:
    """Division `adm`'s movements of a day (every one, the branch serving one division)."""
    moves = s.movements.get(day_iso, [])
    if not ctx.config.divisions:
        return moves
    return [m for m in moves if division_of(ctx, m) == adm]


def _balance_before(s: PbocState, ctx: Ctx, day: dt.date, adm: str) -> int:
    """Division `adm`'s TSA balance at the start of `day`: the opening balance is the configured
    division's, each movement its own division's (the divisions' balances add up to the TSA's)."""
    opening = ctx.config.tsa_opening_fen
    if not ctx.config.divisions:
        return balance_before(s, opening, day)
    return balance_before(s, opening if adm == ctx.config.adm_div_code else 0, day,
                          lambda code: _division(ctx, code) == adm)


def _head(ctx: Ctx, vtcode: str, prefix: str, day: dt.date, adm: str) -> dict[str, str]:
    no = f"{prefix}{format_ymd(day)}"
    return {"Id": f"V{vtcode}{no}", "AdmDivCode": adm, "StYear": str(day.year),
            "VouDate": format_ymd(day), "VoucherNo": no}


def _tsa_balances(ctx: Ctx, begin: int, debit: int, credit: int) -> dict[str, str]:
    """The TSA and its balances over a period, as the 7401 and the 3502 both carry them."""
    return {
        "ClearBankCode": ctx.config.clear_bank_code, "ClearBankName": ctx.config.clear_bank_name,
        "AcctNo": ctx.config.tsa_acct_no, "AcctName": ctx.config.tsa_acct_name,
        "BeginBalance": fen_to_str(begin), "DebitAmt": fen_to_str(debit), "CreditAmt": fen_to_str(credit),
        "EndBalance": fen_to_str(begin + credit - debit),
    }


def daily_statement(s: PbocState, ctx: Ctx, day: dt.date, adm: str | None = None) -> SendVoucher:
    """The 7401 of `day` to division `adm` (default: the configured one)."""
    adm = adm or ctx.config.adm_div_code
    moves = _moves(s, ctx, day.isoformat(), adm)
    begin = _balance_before(s, ctx, day, adm)
    debit = sum(m.amount_fen for m in moves if m.direction == "D")
    credit = sum(m.amount_fen for m in moves if m.direction == "C")
    head = {
        **_head(ctx, "7401", "RZ", day, adm), "StatementDate": format_ymd(day),
        **_tsa_balances(ctx, begin, debit, credit),
    }
    details = tuple(
        {"Id": f"D{i:05d}", "Direction": m.direction, "Amt": fen_to_str(m.amount_fen),
         "CounterBankCode": m.bank_code, "CounterBankName": m.bank_name,
         "RefAdmDivCode": m.ref.adm_div_code, "RefStYear": m.ref.st_year, "RefVtCode": m.ref.vtcode,
         "RefVoucherNo": m.ref.voucher_no}
        for i, m in enumerate(moves, start=1))
    return SendVoucher("7401", 0, head, details, "treasury")


def monthly_reconciliation(s: PbocState, ctx: Ctx, day: dt.date, adm: str | None = None) -> SendVoucher | None:
    """The 3502 of the calendar month before `day`'s to division `adm` (default: the configured
    one), None if the core kept no books that month."""
    adm = adm or ctx.config.adm_div_code
    end = day.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1)
    if s.first_day is None or s.first_day > end:
        return None
    moves = [m for d in s.movements if start.isoformat() <= d <= end.isoformat() for m in _moves(s, ctx, d, adm)]
    debits: dict[tuple[str, str], int] = {}
    for m in moves:
        if m.direction == "D":
            debits[(m.bank_code, m.pay_type)] = debits.get((m.bank_code, m.pay_type), 0) + m.amount_fen
    begin = _balance_before(s, ctx, start, adm)
    debit = sum(debits.values())
    credit = sum(m.amount_fen for m in moves if m.direction == "C")
    head = {
        **_head(ctx, "3502", "GKDZ", day, adm), "BeginDate": format_ymd(start), "EndDate": format_ymd(end),
        **_tsa_balances(ctx, begin, debit, credit),
    }
    details = tuple(
        {"Id": f"D{i:05d}", "PayBankCode": bank, "PayBankName": s.bank_names.get(bank, bank),
         "PayTypeCode": pay_type, "DebitAmt": fen_to_str(amount)}
        for i, ((bank, pay_type), amount) in enumerate(sorted(debits.items()), start=1))
    return SendVoucher("3502", 0, head, details, "treasury")
