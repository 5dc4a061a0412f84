"""The bank's side of the account transaction feed (资金流水, 000 五(二)3, (四)2; `sim.account_feed`),
pure: the movements it knows for a day on the accounts of its registry (`bank_sim.registry`)
that are unit real-fund accounts (AcctType 3) or fiscal special accounts (AcctType 4).

Today the movements it knows are the credits of the payments it paid that day (5201 / 8202, not
returned, not refused by the ledger) to such an account (the voucher's PayeeAcctNo), one line per
payment, in the order paid. A payment whose payee the bank no longer keeps
(`DutiesState.payees`, bounded) is not stated: the treasury reports it missing, never the other
way round.
"""

from __future__ import annotations

import datetime as dt

from bank_sim.state import BankState
from sim.account_feed import FEED_ACCT_TYPES, FeedLine

__all__ = ["day_lines", "feed_accounts"]


def feed_accounts(st: BankState) -> set[str]:
    """The registry's real-fund and special accounts (open or closed: a movement on the day it closed counts)."""
    return {a.number for a in st.registry.accounts.values() if a.acct_type in FEED_ACCT_TYPES}


def day_lines(st: BankState, day: dt.date) -> list[FeedLine]:
    """The day's movements on the feed's accounts, in the order paid."""
    accounts = feed_accounts(st)
    if not accounts:
        return []
    lines: list[FeedLine] = []
    for p in st.payments.values():
        if p.day != day or p.refused is not None or p.returned is not None:
            continue
        payee = st.duties.payees.get(p.key.voucher_no, {}).get("PayeeAcctNo", "")
        if payee in accounts:
            lines.append(FeedLine(payee, p.vtcode, p.key.voucher_no, p.amount_fen))
    return lines
