"""The payee a paid payment keeps for a return (`DutiesState.payees`, or the shell's archive): one
packed record a payment (`pack_payee`), read back by `payee_of` (`bank_sim.payee_refunds`, the
corrections, the account feed). A payment's record is kept by its slot in `BankState.payments`
(`BankState.slot`: its VoucherNo, unless a payment of another key has that number), so two
divisions, years or kinds reusing a VoucherNo each keep their own payee."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from bank_sim.refunds import PAYEE_FIELDS
from bank_sim.slots import archive_key
from bank_sim.state import DutiesState
from sim.archive import Archive

__all__ = ["PAYEE", "has_payee", "keep_payee", "pack_payee", "packed_payee", "payee_of", "pop_payee"]


# A kept payee (one per payment paid): one bytes object, msgpack of the texts of `PAYEE_FIELDS` in
# that order, then its Detail lines as (tags, texts) pairs. It is read back only when a payee's
# bank returns the money (a few in a day), a payment is corrected or an account feed names it: with
# an archive (`Ctx.archive`, the shell's database) it goes there, out of the state and its
# snapshots; without one (or for a return already planned) it stays in `DutiesState.payees`, the
# oldest forgotten beyond PAYEES_KEPT_MAX. In a snapshot a kept one is base64 text
# (`DutiesState.__post_init__` makes it bytes again). Snapshots written before hold the tuple (a
# list once decoded) or, older still, the dict itself (`payee_of` reads all three).
_N_FIELDS = len(PAYEE_FIELDS)
_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder()
PAYEE = "payee"  # the archive's kind of record


def pack_payee(head: Mapping[str, str], details: Iterable[Mapping[str, str]]) -> bytes:
    """The compact record of a payee: `head`'s PAYEE_FIELDS and the Detail lines."""
    return _PACK.encode((*(head.get(f, "") for f in PAYEE_FIELDS), [(tuple(d), tuple(d.values())) for d in details]))


def _unpack(rec: Any) -> dict[str, Any]:
    if isinstance(rec, dict):  # kept by a snapshot of before `pack_payee`
        return rec
    if isinstance(rec, bytes):
        rec = _UNPACK.decode(rec)
    return {**dict(zip(PAYEE_FIELDS, rec[:_N_FIELDS], strict=True)),
            "details": [dict(zip(tags, texts, strict=True)) for tags, texts in rec[_N_FIELDS]]}


def _kept(s: DutiesState, voucher_no: str, archive: Archive | None) -> Any:
    """The packed payee of payment `voucher_no` (its slot, `BankState.slot`): in the state, else in
    the archive (unless used up)."""
    rec = s.payees.get(voucher_no)
    if rec is None and archive is not None and voucher_no not in s.payees_gone:
        rec = archive.get(PAYEE, archive_key(voucher_no))
    return rec


def has_payee(s: DutiesState, voucher_no: str, archive: Archive | None = None) -> bool:
    """A payee is kept for payment `voucher_no` (and not used up by a return)."""
    return _kept(s, voucher_no, archive) is not None


def keep_payee(s: DutiesState, voucher_no: str, packed: bytes) -> None:
    """Keep a payee (`pack_payee`) in the state: one a return will use soon, or one brought back
    from the archive for a return (a return takes it from the state)."""
    s.payees[voucher_no] = packed
    s.payee_seq += 1
    s.payees_order[voucher_no] = s.payee_seq


def payee_of(s: DutiesState, voucher_no: str, archive: Archive | None = None) -> dict[str, Any] | None:
    """The payee elements kept for payment `voucher_no` ("details": its Detail lines), a new dict."""
    rec = _kept(s, voucher_no, archive)
    return None if rec is None else _unpack(rec)


def packed_payee(s: DutiesState, voucher_no: str, archive: Archive | None = None) -> bytes | None:
    """The kept payee as stored (packed bytes; None if none is kept or it was kept as a tuple or dict)."""
    rec = _kept(s, voucher_no, archive)
    return rec if isinstance(rec, bytes) else None


def pop_payee(s: DutiesState, voucher_no: str) -> dict[str, Any]:
    """`payee_of` from the state, forgetting it and marking it used up (KeyError if none is kept)."""
    s.payees_order.pop(voucher_no, None)
    s.payees_gone.add(voucher_no)
    return _unpack(s.payees.pop(voucher_no))
