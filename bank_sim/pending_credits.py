"""The credit notices (7103) a bank owes for its direct payments until the next morning's
report time (`DutiesState.credits`, `bank_sim.reporting`), each kept packed: one bytes object a
payment, not a dict of sixteen elements (a busy day holds tens of thousands of them at once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bank_sim.refunds import PAYEE_FIELDS

__all__ = ["CREDIT_FIELDS", "credit_day", "credit_of", "pack_credit"]

_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder()

# A pending credit notice (7103): its elements' values in CREDIT_FIELDS order, msgpack, after its
# day (yyyymmdd, 8 bytes, read without unpacking the rest: each page call picks the due ones).
CREDIT_FIELDS = (*PAYEE_FIELDS, "day", "serial", "no", "fund", "amount", "year", "subjects")


def pack_credit(credit: Mapping[str, Any]) -> bytes:
    """The compact record of a pending credit notice's elements (CREDIT_FIELDS, "day" yyyymmdd)."""
    day: str = credit["day"]
    assert len(day) == 8 and day.isascii()
    return day.encode() + _PACK.encode(tuple(credit[f] for f in CREDIT_FIELDS))


def credit_day(rec: Any) -> str:
    """The day (yyyymmdd) of a pending credit notice, packed or (version 3) a dict."""
    return rec[:8].decode() if isinstance(rec, bytes) else str(rec["day"])


def credit_of(rec: Any) -> dict[str, Any]:
    """A pending credit notice's elements, a new dict (a version 3 snapshot's dict as it is)."""
    if not isinstance(rec, bytes):
        return dict(rec)
    return dict(zip(CREDIT_FIELDS, _UNPACK.decode(rec[8:]), strict=True))
