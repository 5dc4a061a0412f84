"""The bank's own view of its ledger: opening accounts and booking transfers (`BankState.balances`).

Every transfer the core asks for is booked here as it is asked for, and undone (`unbook`) when
the ledger refuses it, so the core's view follows the books. The clearing reserve's balance
(`BankState.reserve_balance_fen`) is kept apart by the duties that move it; `bank_sim.books`
checks after each input that both agree.
"""

from __future__ import annotations

import datetime as dt

from bank_sim.state import BankState, Ctx
from ledger.model import Account, AccountFlags, Transfer
from sim.effects import Effect, OpenAccount, PostTransfer

__all__ = ["open_account", "open_books", "transfer", "unbook"]


def open_account(st: BankState, ctx: Ctx, account_id: str, name: str, kind: str,
                 flags: AccountFlags = AccountFlags.NONE) -> OpenAccount:
    st.opened.add(account_id)
    st.balances.setdefault(account_id, 0)
    if flags & AccountFlags.ZERO_AT_CLOSE:
        st.zero_at_close.add(account_id)
    return OpenAccount(Account(account_id, name, kind, flags, owner=ctx.bank_code))


def transfer(st: BankState, tid: str, debit: str, credit: str, amount: int, kind: str, ref: str,
             day: dt.date | None) -> PostTransfer:
    """A transfer, booked in the core's view."""
    st.balances[debit] = st.balances.get(debit, 0) - amount
    st.balances[credit] = st.balances.get(credit, 0) + amount
    return PostTransfer(Transfer(tid, debit, credit, amount, kind, ref, day))


def unbook(st: BankState, ctx: Ctx, t: Transfer) -> None:
    """Undo a transfer in the core's own view of its books."""
    st.balances[t.debit_account] = st.balances.get(t.debit_account, 0) + t.amount_fen
    st.balances[t.credit_account] = st.balances.get(t.credit_account, 0) - t.amount_fen
    reserve = ctx.accounts["reserve"]
    if t.debit_account == reserve:
        st.reserve_balance_fen += t.amount_fen
    if t.credit_account == reserve:
        st.reserve_balance_fen -= t.amount_fen


def open_books(st: BankState, ctx: Ctx) -> list[Effect]:
    """The fixed accounts, and the clearing reserve funded by the treasury: the first input."""
    a = ctx.accounts
    effects: list[Effect] = [
        open_account(st, ctx, a["zba-finance"], "finance zero-balance account", "finance-zero-balance",
                     AccountFlags.ZERO_AT_CLOSE),
        open_account(st, ctx, a["reserve"], "clearing reserve account", "clearing-reserve",
                     AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
        open_account(st, ctx, a["reserve-funding"], "clearing reserve funding (treasury)", "reserve-funding"),
        open_account(st, ctx, a["payees"], "payments to payees", "payees"),
        open_account(st, ctx, a["pboc-clearing"], "clearing account at the central bank (mirror)", "bank-clearing"),
    ]
    if ctx.config.reserve_fen:
        effects.append(transfer(st, f"bank:{ctx.bank_code}:reserve-opening", a["reserve-funding"], a["reserve"],
                                ctx.config.reserve_fen, "reserve-funding", "", None))
        st.reserve_balance_fen = ctx.config.reserve_fen
    return effects
