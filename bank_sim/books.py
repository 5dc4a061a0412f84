"""The bank core checks its own books after every input (`sim.books.BooksError`, never `assert`).

From running counts and the records the input touched, so a check costs the same at the first
voucher as at the millionth (no scan of all payments):

| rule                  | holds when                                                                      |
|-----------------------|---------------------------------------------------------------------------------|
| `reserve-non-negative`| the clearing reserve's balance is >= 0 (an advance or cover only when it covers) |
| `reserve-agrees`      | the reserve balance the duties keep equals the reserve account in the core's view of its ledger |
| `payments-accounted`  | every payment is exactly one of paid, deferred (waiting for the opening), returned unpaid or refused by the ledger |
| `payment-state`       | the payment of this input is in one consistent state (paid ones have a day and a serial, no return; deferred ones keep their voucher) |
| `quota-non-negative`  | no quota line this payment drew on is spent beyond what was granted              |
"""

from __future__ import annotations

from bank_sim.state import BankState, Ctx, Payment
from messages.money import fen_to_str
from sim.books import BooksError

__all__ = ["RULES", "check"]

RULES = ("reserve-non-negative", "reserve-agrees", "payments-accounted", "payment-state", "quota-non-negative")


def check(ctx: Ctx, st: BankState, touched: Payment | None = None) -> None:
    """Raise BooksError naming the first rule the state breaks (see the module doc)."""
    who = f"bank {ctx.bank_code}"
    reserve = st.reserve_balance_fen
    if reserve < 0:
        raise BooksError(who, "reserve-non-negative", f"the clearing reserve stands at {fen_to_str(reserve)}")
    booked = st.balances.get(ctx.accounts["reserve"], 0)
    if booked != reserve:
        raise BooksError(who, "reserve-agrees", f"the reserve is {fen_to_str(reserve)}, its account "
                         f"{fen_to_str(booked)}")
    b = st.books
    states = b.paid + len(st.deferred) + b.returned + b.refused
    if states != len(st.payments):
        raise BooksError(who, "payments-accounted", f"{len(st.payments)} payments, {b.paid} paid + "
                         f"{len(st.deferred)} deferred + {b.returned} returned + {b.refused} refused")
    if touched is not None:
        _check_payment(who, st, touched)


def _check_payment(who: str, st: BankState, p: Payment) -> None:
    if p.returned is not None:
        ok = p.day is None and p.mode == "refuse"
    elif p.refused is not None:
        ok = p.day is None
    elif p.day is not None:
        ok = p.mode in ("clearing", "advance") and bool(p.serial) and p.raw is None
    else:
        ok = p.mode == "defer" and p.raw is not None
    if not ok:
        raise BooksError(who, "payment-state", f"payment {p.key}: mode {p.mode}, day {p.day}, returned "
                         f"{p.returned}, refused {p.refused}")
    for key, _ in p.quota_taken or ():
        line = st.quota_book.get(key)
        if line is not None and (line.remaining_fen < 0 or line.spent_fen < 0):
            raise BooksError(who, "quota-non-negative", f"payment {p.key} drew on {'/'.join(key)}: granted "
                             f"{fen_to_str(line.granted_fen)}, spent {fen_to_str(line.spent_fen)}, closed "
                             f"{fen_to_str(line.closed_fen)}")
