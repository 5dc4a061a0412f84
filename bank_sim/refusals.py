"""Putting the records right after a refusal (`sim.effects.Refusal`; the shell raised the alarm).

The core's own view follows the books: a payment whose transfer the ledger refused is marked
`refused` and is not paid (no receipt went out; it is in no clearing request), its booking in
the core's view undone; a clearing receipt whose transfers were refused marks the filing
rejected with the ledger's reason; an account the ledger did not open is opened again when next
needed. A receipt the gateway refused marks the payment `receipt_refused`; a clearing request
the gateway refused marks the filing rejected.
"""

from __future__ import annotations

from bank_sim import cash, quotas
from bank_sim.accounts import unbook
from bank_sim.filings import filing_refused
from bank_sim.state import BankState, Ctx
from messages.envelope import VoucherKey
from sim.effects import OpenAccount, PostTransfer, Refusal, SendVoucher

__all__ = ["on_refused"]


def on_refused(ctx: Ctx, st: BankState, refusal: Refusal) -> None:
    reason = f"{refusal.code}: {refusal.message}"
    for effect in refusal.dropped:
        if isinstance(effect, OpenAccount):
            st.opened.discard(effect.account.id)
        elif isinstance(effect, PostTransfer):
            t = effect.transfer
            unbook(st, ctx, t)
            if t.kind in ("clearing", "reserve-replenishment"):
                filing_refused(st, VoucherKey.parse(t.reference).voucher_no, reason)
            elif t.kind == "reserve-cover":
                payment = st.payment_named(t.reference)
                if payment is not None:
                    payment.covered = False
            else:
                payment = st.payment_named(t.reference)
                if payment is not None and payment.day is not None:
                    payment.day, payment.refused = None, refusal.code
                    st.books.paid -= 1
                    st.books.refused += 1
                    if payment.quota_taken:
                        quotas.release(st.quota_book, dict(payment.quota_lines()))
                        payment.quota_taken = None
                    if payment.cash:  # a withdrawal not paid: it takes nothing from the unit's cash of the day
                        cash.release(st.cash_drawn, payment.received_at.date(), payment.agency[0], payment.amount_fen)
                        payment.cash = False
        elif isinstance(effect, SendVoucher):
            if effect.vtcode == "2301" and effect.flag == 0:
                filing_refused(st, effect.head["VoucherNo"], reason)
            elif effect.flag == 1 and refusal.source == "gateway":
                payment = st.payment(effect.key.original())
                if payment is not None:
                    payment.receipt_refused = refusal.code
