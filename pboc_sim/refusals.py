"""Refused by the books or the gateway (`on_refused`): the core's records follow its ledger.

A clearing the ledger refused (the TSA would be overdrawn: the core's view and the books
disagree) is undone (its movement, the quota it used, the TSA balance) and answered as a
rejection after all: the receipt goes back with `Return_Reason` "<ledger code>: ..." and
XClearAmt 0.00, and a redelivery gets the same rejection. A refund the ledger refused is undone
and recorded in `refused_by_books` (no receipt, no 7403). An account the ledger did not open is
opened again when next needed. A send the gateway refused is recorded in `refused_sends` (the
shell raised the alarm).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from ledger.model import Transfer
from messages.dates import format_ymd, parse_ymd
from pboc_sim.cleared import unmatch
from pboc_sim.config import DECISIONS_MAX
from pboc_sim.record import add_bounded, drop_movement, next_serial
from pboc_sim.state import Decision, PbocState, decision_key, quota_key
from pboc_sim.statements import OPENING_TRANSFER
from sim.effects import Effect, OpenAccount, PostTransfer, Refusal, SendVoucher

__all__ = ["on_refused"]


def on_refused(s: PbocState, refusal: Refusal, now: dt.datetime) -> list[Effect]:
    """Put the records right after a refusal (see the module doc)."""
    if refusal.source == "gateway":
        s.refused_sends.extend((str(e.key), refusal.code) for e in refusal.sends())
        return []
    effects: list[Effect] = []
    receipts = {decision_key(e.key.original(), e.head.get("PayBankCode", "")): e
                for e in refusal.sends() if e.flag == 1}
    for effect in refusal.dropped:
        if isinstance(effect, OpenAccount):
            s.banks.discard(effect.account.id.removeprefix("pboc:clearing:"))
        elif isinstance(effect, PostTransfer):
            effects += _unmove(s, effect.transfer, refusal, receipts, now)
    return effects


def _unmove(s: PbocState, t: Transfer, refusal: Refusal, receipts: Mapping[str, SendVoucher],
            now: dt.datetime) -> list[Effect]:
    """Undo a TSA movement the ledger refused; a refused clearing becomes a rejection."""
    if t.id == OPENING_TRANSFER:
        s.tsa_balance_fen -= t.amount_fen
        s.totals.opening_fen -= t.amount_fen
        return []
    move = drop_movement(s, t)
    if move is None:
        return []
    key = decision_key(move.ref, move.bank_code)
    receipt = receipts.get(key)
    decided = s.decisions.get(key)
    if decided is not None:
        unmatch(s, decided, refund=move.kind == "refund")
    reason = f"{refusal.code}: the books refused it: {refusal.message}"
    if move.kind == "refund" or receipt is None:
        s.refused_by_books.append((str(move.ref), refusal.code))
        s.decisions.pop(key, None)
        return []
    line = s.quotas.get(quota_key(receipt.head.get("AdmDivCode", ""), move.bank_code, move.pay_type,
                                  receipt.head.get("FundTypeCode", ""),
                                  parse_ymd(receipt.head.get("ClearDate", ""))))
    if line is not None:
        if move.kind == "reserve-replenishment":
            line.replenished_fen -= move.amount_fen
        else:
            line.used_fen -= move.amount_fen
    decision = add_bounded(s, s.decisions, key, Decision(
        (), {"XClearDate": format_ymd(now.date()), "XClearAmt": "0.00",
             "XPbocSerialNo": next_serial(s, "RJ", now.date())}, return_reason=reason), DECISIONS_MAX)
    head = {**receipt.head, **decision.xfields}
    return [SendVoucher(receipt.vtcode, 1, head, receipt.details, "bank", return_reason=reason,
                        original=receipt.original, encoding=receipt.encoding)]
