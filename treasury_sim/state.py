"""The treasury core's saved state: what went out and what came back, as typed records.

The plan is not stored: it is regenerated from the seed (the same bytes), so the state names only
how far each planned day's vouchers went out (`progress`, in send order) and which the gateway
refused. Ordered lists where order is behaviour (receipts in arrival order); maps where it is not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from treasury_sim.bank_reports import BankInbox
from treasury_sim.records import Receipt, StatementCheck
from treasury_sim.suspensions import SuspensionLog

__all__ = ["SNAPSHOT_VERSION", "TreasuryState"]

SNAPSHOT_VERSION = 2  # the layout of `TreasuryState`


@dataclass(slots=True)
class TreasuryState:
    core: str = "treasury"
    version: int = SNAPSHOT_VERSION
    config: str = ""  # the config fingerprint the state was taken under
    cursor: dt.datetime | None = None  # inputs up to this time are handled
    progress: dict[dt.date, int] = field(default_factory=dict)  # planned day → its first vouchers sent
    refused: dict[str, str] = field(default_factory=dict)  # VoucherNo → the gateway's code
    receipts: list[Receipt] = field(default_factory=list)  # the first receipt of each voucher, as they came
    duplicate_receipts: list[Receipt] = field(default_factory=list)
    statements: dict[dt.date, StatementCheck] = field(default_factory=dict)
    other: list[tuple[str, dt.datetime]] = field(default_factory=list)  # (voucher key, received) of 7403 / 3502 ...
    refunds_advised: dict[str, tuple[dt.date, int]] = field(default_factory=dict)  # 7403 VoucherNo → (CreditDate, fen)
    bank_inbox: BankInbox = field(default_factory=BankInbox)  # the banks' refund notices, reports and statements
    suspensions: SuspensionLog = field(default_factory=SuspensionLog)  # orders, lifts, confirmations (000 五(二)3)
