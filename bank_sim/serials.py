"""A payment's serial (the receipt's XAgentBusinessNo), as text from the number the state keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messages.dates import format_ymd

if TYPE_CHECKING:
    from bank_sim.state import Payment

__all__ = ["paid_serial", "serial_text"]


def serial_text(bank_code: str, p: Payment) -> str:
    """A payment's serial (the receipt's XAgentBusinessNo): `YH<bank4><yyyymmdd><n:08d>`, the day
    it was paid, or `TP...` and the day it was returned unpaid; "" before either."""
    n = p.serial
    if isinstance(n, str):  # not given yet, or kept as text by a version 3 snapshot
        return n
    if p.returned is not None:
        return f"TP{bank_code[-4:]}{format_ymd(p.received_at.date())}{n:08d}"
    assert p.day is not None
    return paid_serial(bank_code, format_ymd(p.day), n)


def paid_serial(bank_code: str, day: str, n: int) -> str:
    """The serial of a payment paid on `day` (yyyymmdd), number `n`."""
    return f"YH{bank_code[-4:]}{day}{n:08d}"
