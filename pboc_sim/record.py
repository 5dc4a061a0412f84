"""The central bank's own record of the TSA and of its answers, shared by every duty.

* `move` records a TSA movement (and opens the bank's clearing account the first time);
  `drop_movement` takes one back when the books refused it. Each keeps the running totals of
  `PbocState.totals` that `pboc_sim.books` checks, and the sums `balance_before` reads
  (`PbocState.balances`: a statement on day 300 adds the days since the last, not 300 days).
* `decide` remembers how a 2301 / 2302 was answered and gives the effects; `answer` gives the
  same effects again for a redelivery (same receipt, same transfer id: the ledger applies it once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
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
    m = Movement(day, direction, amount, bank, s.bank_names[bank], doc.get("PayTypeCode"), kind, key, transfer_id)
    s.movements.setdefault(day.isoformat(), []).append(m)
    _count(s, direction, amount)
    _summed(s, m, 1)
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
    _summed(s, m, -1)
    s.tsa_balance_fen += m.amount_fen if m.direction == "D" else -m.amount_fen
    shift_bank(s, m.bank_code, -m.amount_fen if m.direction == "D" else m.amount_fen)
    return m


def _count(s: PbocState, direction: Literal["D", "C"], amount: int) -> None:
    if direction == "D":
        s.totals.tsa_out_fen += amount
    else:
        s.totals.tsa_in_fen += amount


def balance_before(s: PbocState, opening_fen: int, day: dt.date,
                   counted: Callable[[str], bool] | None = None) -> int:
    """The TSA balance at the start of `day`, from the core's own record (`counted`: of the
    movements of the vouchers of the AdmDivCodes it says, e.g. one division's; default all)."""
    return opening_fen + sum(fen for adm, fen in _sums_before(s, day).items() if counted is None or counted(adm))


def _signed(m: Movement) -> int:
    return m.amount_fen if m.direction == "C" else -m.amount_fen


def _summed(s: PbocState, m: Movement, sign: int) -> None:
    """Movement `m` recorded (`sign` 1) or taken back (-1): in the sums if of a day they cover."""
    b = s.balances
    if b.day is not None and m.business_date < b.day:
        adm = m.ref.adm_div_code
        b.fen[adm] = b.fen.get(adm, 0) + sign * _signed(m)


def _sums_before(s: PbocState, day: dt.date) -> dict[str, int]:
    """AdmDivCode → its movements of the days before `day`. The sums move on to `day` when it is
    later (the next statement's day); an earlier day (a 3502's month start) is the sums less the
    days between, the sums staying where they are."""
    b = s.balances
    if b.day is None:
        b.fen, b.day = _sums_between(s, None, day), day
    elif b.day < day:
        for adm, fen in _sums_between(s, b.day, day).items():
            b.fen[adm] = b.fen.get(adm, 0) + fen
        b.day = day
    elif day < b.day:
        sums = dict(b.fen)
        for adm, fen in _sums_between(s, day, b.day).items():
            sums[adm] = sums.get(adm, 0) - fen
        return sums
    return b.fen


def _sums_between(s: PbocState, start: dt.date | None, end: dt.date) -> dict[str, int]:
    """AdmDivCode → its movements of the days from `start` (None: the first) to before `end`: day by
    day when fewer than the days kept, else over the days kept."""
    days: Iterable[list[Movement] | None]
    if start is not None and (end - start).days <= len(s.movements):
        days = (s.movements.get((start + dt.timedelta(days=n)).isoformat()) for n in range((end - start).days))
    else:
        first, last = "" if start is None else start.isoformat(), end.isoformat()
        days = (moves for d, moves in s.movements.items() if first <= d < last)
    sums: dict[str, int] = {}
    for moves in days:
        for m in moves or ():
            adm = m.ref.adm_div_code
            sums[adm] = sums.get(adm, 0) + _signed(m)
    return sums


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
