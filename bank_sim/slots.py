"""How the bank names a payment in its maps (its *slot*): its VoucherNo, or, for a payment whose
VoucherNo another payment of another key has already (two divisions, two kinds, two years),
OTHER_KEY and its key text (`bank_sim.state.BankState.slot`)."""

from __future__ import annotations

from messages.envelope import VoucherKey

__all__ = ["OTHER_KEY", "archive_key", "number_of"]

# Before the key text of a payment whose VoucherNo another payment has (`BankState.payments`): a
# VoucherNo comes from XML text, which cannot hold it.
OTHER_KEY = "\x00"


def number_of(slot: str) -> str:
    """The VoucherNo of the payment kept under `slot` in `BankState.payments` (its VoucherNo, or
    OTHER_KEY + its key text)."""
    return VoucherKey.parse(slot[1:]).voucher_no if slot.startswith(OTHER_KEY) else slot


def archive_key(slot: str) -> str:
    """The key of a payment's record in the archive: its slot, without OTHER_KEY (a database's text
    may not hold it); the key text of a payment whose VoucherNo another has."""
    return slot[1:] if slot.startswith(OTHER_KEY) else slot
