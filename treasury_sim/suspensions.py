"""The treasury's side of payment suspension (暂停支付, 000 五(二)3): every order it sends, every
lift and every confirmation from the bank, as an append-only audit record.

`SuspensionLog.order(...)` / `.lift(...)` give the 7501 to send (`messages.factory.suspension_order`)
and append the record; `.confirmed(head, now)` appends the bank's confirmation (the 7501 receipt).
Nothing is ever changed or removed: `records` is the public, typed view; `standing()` the orders
not lifted, kept as the log grows (`open_orders`, with the counts of orders and lifts the treasury's
books check: `treasury_sim.books`). Pure: the caller gives the time and sends the bytes. A msgspec
record, saved and restored with the treasury core's state by `sim.codec`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import msgspec

from messages.factory import suspension_order

__all__ = ["SUSPENSION_RECORDS_MAX", "SuspensionLog", "SuspensionRecord"]

# An order, its confirmation, its lift and the lift's confirmation: four records per order. The
# treasury orders suspensions by hand (an audit finding, a unit's misconduct): a few a year per unit,
# so 10,000 records is far above any real year; beyond it the log refuses rather than drop a record.
SUSPENSION_RECORDS_MAX = 10_000

Action = Literal["order", "lift", "confirmed"]
Scope = Literal["AgencyCode", "PayAcctNo", "PayeeAcctNo"]


class SuspensionRecord(msgspec.Struct, frozen=True):
    """One audit record: what was done (an order sent, a lift sent, the bank's confirmation of one),
    to which order, in which scope, at which bank, why and when."""

    action: Action
    order_no: str
    voucher_no: str  # the 7501 that carried it
    scope: Scope
    value: str
    bank: str
    reason: str
    at: dt.datetime


class SuspensionLog(msgspec.Struct):
    entries: list[SuspensionRecord] = msgspec.field(default_factory=list)  # append-only
    open_orders: dict[str, SuspensionRecord] = msgspec.field(default_factory=dict)  # OrderNo → order not lifted
    orders: int = 0  # orders sent
    lifts: int = 0  # lifts sent

    @property
    def records(self) -> tuple[SuspensionRecord, ...]:
        return tuple(self.entries)

    def standing(self) -> dict[str, SuspensionRecord]:
        """The orders sent and not lifted, by OrderNo (the order's record)."""
        return dict(self.open_orders)

    def _append(self, record: SuspensionRecord) -> None:
        if len(self.entries) >= SUSPENSION_RECORDS_MAX:
            raise OverflowError(f"the suspension audit log holds {SUSPENSION_RECORDS_MAX} records already")
        self.entries.append(record)

    def order(self, *, voucher_no: str, bank: str, scope: tuple[Scope, str], reason: str, now: dt.datetime,
              adm_div_code: str = "990100") -> bytes:
        """A new order (its OrderNo is its own VoucherNo): recorded, and its 7501 returned to send."""
        if voucher_no in self.open_orders or any(r.order_no == voucher_no for r in self.entries):
            raise ValueError(f"order {voucher_no} was issued before: a new order takes a new number")
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=bank, order_no=voucher_no,
                                scope=scope, reason=reason, adm_div_code=adm_div_code)
        record = SuspensionRecord("order", voucher_no, voucher_no, scope[0], scope[1], bank, reason, now)
        self._append(record)
        self.open_orders[voucher_no] = record
        self.orders += 1
        return data

    def lift(self, *, voucher_no: str, order_no: str, reason: str, now: dt.datetime,
             adm_div_code: str = "990100") -> bytes:
        """Lift a standing order: recorded, and its 7501 (SuspendAction 2, the order's scope) returned."""
        standing = self.open_orders.get(order_no)
        if standing is None:
            raise ValueError(f"no standing order {order_no} to lift")
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=standing.bank,
                                order_no=order_no, scope=(standing.scope, standing.value), reason=reason,
                                lift=True, adm_div_code=adm_div_code)
        self._append(SuspensionRecord("lift", order_no, voucher_no, standing.scope, standing.value, standing.bank,
                                      reason, now))
        del self.open_orders[order_no]
        self.lifts += 1
        return data

    def confirmed(self, head: Mapping[str, str], now: dt.datetime) -> None:
        """The bank's receipt of a 7501 (XConfirmDate filled): its confirmation, recorded."""
        scope: Scope = next((e for e in ("AgencyCode", "PayAcctNo", "PayeeAcctNo") if head.get(e)), "AgencyCode")
        self._append(SuspensionRecord("confirmed", head.get("OrderNo", ""), head.get("VoucherNo", ""), scope,
                                      head.get(scope, ""), head.get("PayBankCode", ""), head.get("Reason", ""), now))
