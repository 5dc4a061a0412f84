"""The central bank's own record of the TSA and of its answers, shared by every duty.

* `move` records a TSA movement (and opens the bank's clearing account the first time);
  `drop_movement` takes one back when the books refused it. Each keeps the running totals of
  `PbocState.totals` that `pboc_sim.books` checks.
* `decide` remembers how a 2301 / 2302 was answered and gives the effects; `answer` gives the
  same effects again for a redelivery (same receipt, same transfer id: the ledger applies it once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from ledger.model import Account, Transfer
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.voucher import VoucherDoc
from pboc_sim.config import DECISIONS_MAX, TSA_ACCOUNT, clearing_account
from pboc_sim.state import Cleared, Decision, Movement, PbocState, decision_key
from sim.effects import Effect, OpenAccount, PostTransfer, SendVoucher

__all__ = ["add_bounded", "answer", "balance_before", "decide", "drop_movement", "move", "next_serial",
           "receipt", "shift_bank"]

_V = TypeVar("_V", Cleared, Decision)  # a Decision (what was cleared is a `ClearedBook`)


def add_bounded(s: PbocState, records: dict[str, _V], key: str, value: _V, bound: int) -> _V:
    """Put `value` under `key`. A new key gets the next `seq`, after forgetting the oldest records
    beyond `bound`; a known one keeps its place."""
    old = records.get(key)
    if old is None:
        while len(records) >= bound:
            records.pop(next(iter(records)))
        value = msgspec.structs.replace(value, seq=s.next_seq())
    elif value.seq != old.seq:
        value = msgspec.structs.replace(value, seq=old.seq)
    records[key] = value
    return value


def next_serial(s: PbocState, prefix: str, day: dt.date) -> str:
    s.serial += 1
    return f"{prefix}{format_ymd(day)}{s.serial:010d}"


def shift_bank(s: PbocState, bank: str, delta: int) -> None:
    """Move bank `bank`'s clearing account (as the core sees it) by `delta` fen."""
    s.clearing_balances[bank] = s.clearing_balances.get(bank, 0) + delta
    s.totals.clearing_sum_fen += delta


def move(s: PbocState, doc: VoucherDoc, key: VoucherKey, direction: Literal["D", "C"], amount: int, kind: str,
         day: dt.date, transfer_id: str) -> tuple[list[Effect], Transfer]:
    """Record a TSA movement: the accounts to open first (the bank's, once) and the transfer."""
    bank = doc.get("PayBankCode")
    opens: list[Effect] = []
    if bank not in s.banks:
        s.banks.add(bank)
        opens.append(OpenAccount(Account(clearing_account(bank), f"clearing account {bank}",
                                         "bank-clearing", owner=bank)))
    s.bank_names.setdefault(bank, doc.get("PayBankName"))
    debit, credit = ((TSA_ACCOUNT, clearing_account(bank)) if direction == "D"
                     else (clearing_account(bank), TSA_ACCOUNT))
    transfer = Transfer(transfer_id, debit, credit, amount, kind, str(key), day)
    shift_bank(s, bank, amount if direction == "D" else -amount)
    s.tsa_balance_fen += amount if direction == "C" else -amount
    s.movements.setdefault(day.isoformat(), []).append(Movement(
        day, direction, amount, bank, s.bank_names[bank], doc.get("PayTypeCode"), kind, key, transfer_id))
    _count(s, direction, amount)
    return opens, transfer


def drop_movement(s: PbocState, transfer: Transfer) -> Movement | None:
    """Take back the movement of `transfer` (the books refused it): the TSA balance and the bank's
    account go back. None if the core recorded no such movement."""
    day = transfer.business_date
    moves = s.movements.get(day.isoformat()) if day is not None else None
    m = next((m for m in moves or [] if m.transfer_id == transfer.id), None)
    if moves is None or m is None:
        return None
    moves.remove(m)
    _count(s, m.direction, -m.amount_fen)
    s.tsa_balance_fen += m.amount_fen if m.direction == "D" else -m.amount_fen
    shift_bank(s, m.bank_code, -m.amount_fen if m.direction == "D" else m.amount_fen)
    return m


def _count(s: PbocState, direction: Literal["D", "C"], amount: int) -> None:
    if direction == "D":
        s.totals.tsa_out_fen += amount
    else:
        s.totals.tsa_in_fen += amount


def balance_before(s: PbocState, opening_fen: int, day: dt.date,
                   counted: Callable[[Movement], bool] | None = None) -> int:
    """The TSA balance at the start of `day`, from the core's own record (`counted`: of the
    movements it says, e.g. one division's; default all)."""
    total, before = opening_fen, day.isoformat()
    for d, moves in s.movements.items():
        if d < before:
            total += sum(m.amount_fen if m.direction == "C" else -m.amount_fen for m in moves
                         if counted is None or counted(m))
    return total


def receipt(doc: VoucherDoc, xfields: dict[str, str], *, return_reason: str | None = None) -> SendVoucher:
    head = {**doc.head(), **xfields}
    return SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "bank", return_reason=return_reason,
                       original=doc.data, encoding=doc.encoding)


def decide(s: PbocState, key: VoucherKey, doc: VoucherDoc, opens: list[Effect], decision: Decision) -> list[Effect]:
    """Remember the decision (for a redelivery) and return its effects, accounts opened first."""
    add_bounded(s, s.decisions, decision_key(key, doc.get("PayBankCode")), decision, DECISIONS_MAX)
    return opens + answer(doc, decision)


def answer(doc: VoucherDoc, decision: Decision) -> list[Effect]:
    """The effects of a decision: the money first, then the receipt (and a refund's advice)."""
    effects: list[Effect] = [PostTransfer(t) for t in decision.transfers]
    effects.append(receipt(doc, decision.xfields, return_reason=decision.return_reason))
    if decision.advice is not None:
        effects.append(SendVoucher("7403", 0, decision.advice, (), "treasury"))
    return effects
