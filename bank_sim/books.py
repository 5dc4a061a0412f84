"""The bank core checks its own books after every input (`sim.books.BooksError`, never `assert`).

From running counts and the records the input touched, so a check costs the same at the first
voucher as at the millionth (no scan of all payments):

| rule                  | holds when                                                                      |
|-----------------------|---------------------------------------------------------------------------------|
| `reserve-non-negative`| the clearing reserve's balance is >= 0 (an advance or cover only when it covers) |
| `reserve-agrees`      | the reserve balance the duties keep equals the reserve account in the core's view of its ledger |
| `payments-accounted`  | every payment is exactly one of paid, deferred (waiting for the opening), returned unpaid or refused by the ledger |
| `payment-state`       | the payment of this input is in one consistent state (paid ones have a day and a serial, no return; deferred ones keep their voucher) |
| `quota-non-negative`  | no quota line this payment drew on, or a quota notice (7101, 7106 reduction, 7301, 7302) named, is spent, reduced or closed beyond what was granted |
| `cash-within-limit`   | the unit of the payment this input touched has drawn no more cash that day than the daily cash limit (`bank_sim.cash`) |
| `batch-lines`         | the batch voucher this input touched (`bank_sim.batches`): paid + bounced + refunded = its PayAmt to the fen, none negative, and the line it moved is in the state its sums say |
"""

from __future__ import annotations

from collections.abc import Sequence

from bank_sim import cash
from bank_sim.quotas import LineKey
from bank_sim.state import BankState, Batch, Ctx, Payment
from messages.money import fen_to_str
from sim.books import BooksError

__all__ = ["RULES", "check"]

RULES = ("reserve-non-negative", "reserve-agrees", "payments-accounted", "payment-state", "quota-non-negative",
         "cash-within-limit", "batch-lines")


def check(ctx: Ctx, st: BankState, touched: Payment | None = None, batch: tuple[str, str] | None = None,
          lines: Sequence[LineKey] = ()) -> None:
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
        drawn = cash.drawn(st.cash_drawn, touched.received_at.date(), touched.agency[0])
        if drawn > cash.CASH_DAY_LIMIT_FEN:
            raise BooksError(who, "cash-within-limit", f"unit {touched.agency[0]} drew {fen_to_str(drawn)} in cash on "
                             f"{touched.received_at.date()}, past {fen_to_str(cash.CASH_DAY_LIMIT_FEN)}")
        batch = batch or (st.slot(touched), "")  # its batch: kept by its slot (`BankState.slot`)
    if batch is not None and batch[0] in st.batches:
        _check_batch(who, st.batches[batch[0]], batch[1])
    for key in lines:  # the lines a quota notice named (a reduction never below what is paid)
        _check_line(who, f"quota notice line {'/'.join(key)}", st, key)


def _check_batch(who: str, b: Batch, line_id: str) -> None:
    sums = (b.paid_fen, b.bounced_fen, b.refunded_fen)
    ok = min(sums) >= 0 and sum(sums) == b.total_fen
    line = b.lines.get(line_id)
    if line is not None:  # the line this input moved: its fen is in its state's sum
        ok = ok and line.fen <= {"paid": b.paid_fen, "bounced": b.bounced_fen, "refunded": b.refunded_fen}[line.state]
        ok = ok and (line.state == "paid") == (not line.refund)
    if not ok:
        raise BooksError(who, "batch-lines", f"batch {b.voucher_no} of {fen_to_str(b.total_fen)}: paid "
                         f"{fen_to_str(b.paid_fen)} + bounced {fen_to_str(b.bounced_fen)} + refunded "
                         f"{fen_to_str(b.refunded_fen)}" + (f"; line {line_id} {line.state}" if line else ""))


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
    for key, _ in p.quota_lines():
        _check_line(who, f"payment {p.key} drew on {'/'.join(key)}", st, key)


def _check_line(who: str, what: str, st: BankState, key: LineKey) -> None:
    line = st.quota_book.get(key)
    if line is not None and min(line.remaining_fen, line.spent_fen, line.reduced_fen, line.closed_fen) < 0:
        raise BooksError(who, "quota-non-negative", f"{what}: granted {fen_to_str(line.granted_fen)}, reduced "
                         f"{fen_to_str(line.reduced_fen)}, spent {fen_to_str(line.spent_fen)}, closed "
                         f"{fen_to_str(line.closed_fen)}")
