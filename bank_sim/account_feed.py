"""The bank's side of the account transaction feed (资金流水, 000 五(二)3, (四)2; `sim.account_feed`),
pure: the movements it knows for a day on the accounts of its registry (`bank_sim.registry`)
that are unit real-fund accounts (AcctType 3) or fiscal special accounts (AcctType 4).

Today the movements it knows are the credits of the payments it paid that day (5201 / 8202, not
returned, not refused by the ledger) to such an account (the voucher's PayeeAcctNo), one line per
payment, in the order paid. A payment whose payee the bank no longer keeps
(`DutiesState.payees`, bounded) is not stated: the treasury reports it missing, never the other
way round.

At the close of each business day, when its registry holds such an account, the bank sends the
treasury the day's feed (VtCode 7602, `feed`): VoucherNo `LS<bank4><yyyymmdd>`, TransDate the
day, one Detail per line (CreditAmt in, DebitAmt out), an empty day without DetailList. A bank
serving several divisions sends one feed per division, each with the lines its own payments made
(each division it is configured to serve, `BankConfig.served`, every business day; another's on
a day it has lines).
"""

from __future__ import annotations

import datetime as dt

from bank_sim.payee_records import payee_of
from bank_sim.state import PAID_ON, BankState, Ctx, Payment
from messages.dates import format_ymd
from messages.money import fen_to_str
from sim.account_feed import FEED_ACCT_TYPES, FeedLine
from sim.archive import Archive
from sim.effects import Effect, SendVoucher

__all__ = ["ACCOUNT_FEED_VTCODE", "day_lines", "feed", "feed_accounts", "feed_voucher", "paid_on"]

ACCOUNT_FEED_VTCODE = "7602"


def feed_accounts(st: BankState) -> set[str]:
    """The registry's real-fund and special accounts (open or closed: a movement on the day it closed counts)."""
    return {a.number for a in st.registry.accounts.values() if a.acct_type in FEED_ACCT_TYPES}


def day_lines(st: BankState, day: dt.date, archive: Archive | None = None) -> list[FeedLine]:
    """The day's movements on the feed's accounts, in the order paid (payees read from `archive` too)."""
    return [line for _, line in _day_lines(st, day, archive)]


def _day_lines(st: BankState, day: dt.date, archive: Archive | None) -> list[tuple[str, FeedLine]]:
    """`day_lines`, each with the AdmDivCode of the payment that moved the money."""
    accounts = feed_accounts(st)
    if not accounts:
        return []
    lines: list[tuple[str, FeedLine]] = []
    for p in paid_on(st, day):
        if p.refused is not None or p.returned is not None:
            continue
        payee = (payee_of(st.duties, st.slot(p), archive) or {}).get("PayeeAcctNo", "")
        if payee in accounts:
            lines.append((p.key.adm_div_code, FeedLine(payee, p.vtcode, p.key.voucher_no, p.amount_fen)))
    return lines


def paid_on(st: BankState, day: dt.date) -> list[Payment]:
    """The payments paid on `day`, in their order in `st.payments` (arrival), without a walk of
    every payment kept: an index by the day paid (the keys in `payments`, each day's in the order
    paid: a deferred payment is paid after later ones came), not in the snapshot: derived from the
    payments at the first call after a load, then kept by `bank_sim.payments._pay` (the only place
    a payment gets its day). Only a bank whose registry holds a feed account asks."""
    by_day: dict[dt.date, list[str]] | None = st.__dict__.get(PAID_ON)
    if by_day is None:
        by_day = st.__dict__[PAID_ON] = {}
        for k, p in st.payments.items():
            if p.day is not None:
                by_day.setdefault(p.day, []).append(k)
    payments = st.payments
    return sorted((payments[k] for k in by_day.get(day, ())), key=lambda p: p.seq)


def feed_voucher(no: str, day: dt.date, adm_div_code: str, bank: tuple[str, str], acct_types: dict[str, str],
                 lines: list[FeedLine]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    """The head and details of the feed `no` of `day` (`acct_types`: AcctNo → AcctType)."""
    head = {"Id": f"V{ACCOUNT_FEED_VTCODE}{no}", "AdmDivCode": adm_div_code, "StYear": str(day.year),
            "VouDate": format_ymd(day), "VoucherNo": no, "TransDate": format_ymd(day), "PayBankCode": bank[0],
            "PayBankName": bank[1], "CreditAmt": fen_to_str(sum(x.fen for x in lines if x.fen > 0)),
            "DebitAmt": fen_to_str(-sum(x.fen for x in lines if x.fen < 0))}
    details = tuple({"Id": f"D{n:05d}", "AcctNo": x.acct_no, "AcctType": acct_types[x.acct_no],
                     "OriVtCode": x.ori_vtcode, "OriVoucherNo": x.ori_voucher_no,
                     "CreditAmt": fen_to_str(max(x.fen, 0)), "DebitAmt": fen_to_str(max(-x.fen, 0))}
                    for n, x in enumerate(lines, start=1))
    return head, details


def feed(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    """At the close of `day`: its feed to the treasury, when the registry holds a feed account."""
    types = {a.number: a.acct_type for a in st.registry.accounts.values() if a.acct_type in FEED_ACCT_TYPES}
    if not types or not ctx.calendar.is_business_day(day):
        return []
    no = f"LS{ctx.bank_code[-4:]}{format_ymd(day)}"
    # one feed per division whose payments moved money that day, and to each division the bank is
    # configured to serve every day (an empty day too): each treasury watches the accounts its own
    # payments reach
    divisions: dict[str, list[FeedLine]] = {adm: [] for adm in ctx.config.served}
    for adm, line in _day_lines(st, day, ctx.archive):
        divisions.setdefault(adm, []).append(line)
    out: list[Effect] = []
    for adm, lines in divisions.items():
        head, details = feed_voucher(no, day, adm, (ctx.bank_code, ctx.config.bank_name), types, lines)
        out.append(SendVoucher(ACCOUNT_FEED_VTCODE, 0, head, details, "treasury"))
    return out
