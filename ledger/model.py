"""The ledger's values: accounts and transfers in integer fen, frozen and checking themselves.

Double entry as TigerBeetle does it: a transfer moves `amount_fen` from one account (debited)
to another (credited). An account's balance is `credits_fen - debits_fen`; since every transfer
adds the same amount to one account's debits and another's credits, the balances of all
accounts always sum to zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntFlag, StrEnum

from messages.errors import InputError
from messages.money import AMOUNT_FEN_MAX

__all__ = [
    "ACCOUNT_ID_LEN_MAX",
    "BALANCE_FEN_MAX",
    "TRANSFER_ID_LEN_MAX",
    "Account",
    "AccountFlags",
    "HistoryEntry",
    "Transfer",
    "TransferStatus",
]

# Ids are caller-chosen keys (a voucher key, "bank:103:reserve"); 128 characters hold any of
# ours with room to spare and keep index entries small.
ACCOUNT_ID_LEN_MAX = 128
TRANSFER_ID_LEN_MAX = 128
KIND_LEN_MAX = 64
NAME_LEN_MAX = 256
OWNER_LEN_MAX = 128
REFERENCE_LEN_MAX = 256
NOTE_LEN_MAX = 1024
# debits_fen and credits_fen are PostgreSQL BIGINT: their running totals must stay inside int64.
BALANCE_FEN_MAX = 2**63 - 1


class AccountFlags(IntFlag):
    NONE = 0
    # The balance (credits - debits) never goes below zero: no overdraft. Enforced per transfer.
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    # The balance never goes above zero (an account that only pays out what it was lent).
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2
    # The account must stand at zero at the end of each business day (a zero-balance account,
    # 003 §34). A check (`Ledger.accounts_not_zero`), not a rule on each transfer: during the
    # day it goes negative as it pays and back to zero when cleared.
    ZERO_AT_CLOSE = 4


_FLAGS_ALL = (AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
              | AccountFlags.ZERO_AT_CLOSE)


def _check_text(value: object, name: str, limit: int, *, required: bool) -> None:
    if not isinstance(value, str):
        raise InputError("ledger-invalid", f"{name} must be a string, got {type(value).__name__}")
    if required and not value:
        raise InputError("ledger-invalid", f"{name} must not be empty")
    if len(value) > limit:
        raise InputError("ledger-invalid", f"{name} is {len(value)} characters; at most {limit}")
    if "\x00" in value:
        raise InputError("ledger-invalid", f"{name} contains a NUL character")


def _check_id(value: object, name: str, limit: int) -> None:
    _check_text(value, name, limit, required=True)
    assert isinstance(value, str)
    if value != value.strip() or not value.isprintable():
        raise InputError("ledger-invalid", f"{name} {value!r} has surrounding spaces or unprintable characters")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    kind: str  # e.g. "tsa", "finance-zero-balance", "unit-zero-balance", "clearing-reserve"
    flags: AccountFlags = AccountFlags.NONE
    owner: str = ""  # the participant holding it (a bank code, a unit code); "" for none

    def __post_init__(self) -> None:
        _check_id(self.id, "account id", ACCOUNT_ID_LEN_MAX)
        _check_text(self.name, "account name", NAME_LEN_MAX, required=False)
        _check_text(self.kind, "account kind", KIND_LEN_MAX, required=True)
        _check_text(self.owner, "account owner", OWNER_LEN_MAX, required=False)
        if not isinstance(self.flags, int) or isinstance(self.flags, bool) or int(self.flags) & ~int(_FLAGS_ALL):
            raise InputError("ledger-invalid", f"account {self.id}: unknown flags {self.flags!r}")
        if not isinstance(self.flags, AccountFlags):
            object.__setattr__(self, "flags", AccountFlags(self.flags))
        both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        if self.flags & both == both:
            raise InputError("ledger-invalid", f"account {self.id}: both balance limits would freeze it at zero")


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str  # chosen by the caller; the idempotency key
    debit_account: str
    credit_account: str
    amount_fen: int
    kind: str  # e.g. "direct-payment", "clearing", "advance", "replenishment", "refund"
    reference: str = ""  # what caused it: a voucher key, a clearing request number
    business_date: dt.date | None = None
    note: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "transfer id", TRANSFER_ID_LEN_MAX)
        _check_id(self.debit_account, "debit account", ACCOUNT_ID_LEN_MAX)
        _check_id(self.credit_account, "credit account", ACCOUNT_ID_LEN_MAX)
        if self.debit_account == self.credit_account:
            raise InputError("ledger-invalid", f"transfer {self.id}: debit and credit account are both "
                             f"{self.debit_account}")
        if not isinstance(self.amount_fen, int) or isinstance(self.amount_fen, bool):
            raise InputError("bad-amount", f"transfer {self.id}: amount_fen must be an int")
        if not 0 < self.amount_fen <= AMOUNT_FEN_MAX:
            raise InputError("bad-amount", f"transfer {self.id}: amount_fen {self.amount_fen} is not in "
                             f"1..{AMOUNT_FEN_MAX}")
        _check_text(self.kind, "transfer kind", KIND_LEN_MAX, required=True)
        _check_text(self.reference, "transfer reference", REFERENCE_LEN_MAX, required=False)
        _check_text(self.note, "transfer note", NOTE_LEN_MAX, required=False)
        bd = self.business_date
        if bd is not None and (isinstance(bd, dt.datetime) or not isinstance(bd, dt.date)):
            raise InputError("ledger-invalid", f"transfer {self.id}: business_date must be a date or None")


class TransferStatus(StrEnum):
    CREATED = "created"  # applied now
    EXISTS = "exists"  # the same transfer (same id, same fields) was applied before; not applied again


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transfer as seen from one account: `change_fen` is + when credited, - when debited."""

    seq: int  # position in the journal (increasing in insertion order per backend)
    transfer: Transfer
    change_fen: int
