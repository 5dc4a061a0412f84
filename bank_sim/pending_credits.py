"""The credit notices (7103) a bank owes for its direct payments until the next morning's
report time (`DutiesState.credits`, `bank_sim.reporting`), each kept packed: one bytes object a
payment, not a dict of sixteen elements (a busy day holds tens of thousands of them at once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bank_sim.refunds import PAYEE_FIELDS

__all__ = ["CREDIT_FIELDS", "OLDER_CREDIT_FIELDS", "VOUCHER_FIELDS", "credit_day", "credit_of", "notice_no", "pack_credit"]

_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder()

# A pending credit notice (7103): its elements' values in CREDIT_FIELDS order, msgpack, after its
# day (yyyymmdd, 8 bytes, read without unpacking the rest: each page call picks the due ones). Only
# what the notice shows and nothing derived: its number is its payment's VoucherNo's
# (`notice_no`, the key of `DutiesState.credits`), its day the 8 bytes before. Version 4 packed
# OLDER_CREDIT_FIELDS (the day and number again, and three payee elements and the year no notice
# shows: ~95 bytes a direct payment more); `credit_of` reads both. A payment of another division
# than the bank's configured one has its AdmDivCode packed after them (the notice goes under it);
# a record without one is the configured division's.
VOUCHER_FIELDS = ("VouDate", "AgencyCode", "AgencyName", "PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName")  # its 5201's
CREDIT_FIELDS = (*VOUCHER_FIELDS, "serial", "fund", "amount", "subjects")
OLDER_CREDIT_FIELDS = (*PAYEE_FIELDS, "day", "serial", "no", "fund", "amount", "year", "subjects")


def notice_no(voucher_no: str) -> str:
    """The VoucherNo of the credit notice (7103) of direct payment `voucher_no`: "RZ" + it, cut to
    the 42 characters a VoucherNo may have."""
    return f"RZ{voucher_no}"[:42]


def pack_credit(day: str, credit: Mapping[str, Any], division: str = "") -> bytes:
    """The compact record of a pending credit notice's elements (CREDIT_FIELDS) of `day` (yyyymmdd);
    `division`: the payment's AdmDivCode when it is not the bank's configured one."""
    assert len(day) == 8 and day.isascii()
    return day.encode() + _PACK.encode((*(credit[f] for f in CREDIT_FIELDS), *((division,) if division else ())))


def credit_day(rec: Any) -> str:
    """The day (yyyymmdd) of a pending credit notice, packed or (version 3) a dict."""
    return rec[:8].decode() if isinstance(rec, bytes) else str(rec["day"])


def credit_of(rec: Any, voucher_no: str) -> dict[str, Any]:
    """The elements of the pending credit notice of payment `voucher_no`, a new dict with its
    "day" and "no" (a version 3 snapshot's dict as it is, a version 4 one's record read as it was packed)."""
    if not isinstance(rec, bytes):
        return dict(rec)
    values = _UNPACK.decode(rec[8:])
    division = values.pop() if len(values) == len(CREDIT_FIELDS) + 1 else ""
    fields = CREDIT_FIELDS if len(values) == len(CREDIT_FIELDS) else OLDER_CREDIT_FIELDS
    return {"day": rec[:8].decode(), "no": notice_no(voucher_no), **dict(zip(fields, values, strict=True)),
            "division": division}
