"""A payment's PayAcctNo kept as its number (`bank_sim.state.Payment.pay_acct`).

A payment keeps its PayAcctNo (the unit's zero-balance account) from its arrival to its day's
close, the reserve list's (7202) only reader. In a busy day it is often a text unique to the
payment: an 80-byte object each. An account number of digits alone, no leading zero and small
enough, is kept as its int instead (32 bytes), and given back as the same text.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PACKED_DIGITS_MAX", "pack_pay_acct", "packs_as_number", "pay_acct_text"]

PACKED_DIGITS_MAX = 18  # an int of at most this many digits is a 32-byte object (below 2**60)


def packs_as_number(text: str) -> bool:
    """Whether `text` is kept as its int: `str(int(text)) == text`, and small."""
    return 0 < len(text) <= PACKED_DIGITS_MAX and text.isascii() and text.isdigit() and text[0] != "0"


def pack_pay_acct(text: str) -> str | int:
    """`text` as a payment keeps it: its int (`packs_as_number`), else the text."""
    return int(text) if packs_as_number(text) else text


def pay_acct_text(p: Any) -> str:
    """A payment's PayAcctNo as the voucher had it ("" once let go)."""
    a = p.pay_acct
    return a if isinstance(a, str) else str(a)
