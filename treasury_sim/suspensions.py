"""The treasury's side of payment suspension (暂停支付, 000 五(二)3): every order it sends, every
lift and every confirmation from the bank, as an append-only audit record.

`SuspensionLog.order(...)` / `.lift(...)` give the 7501 to send (`messages.factory.suspension_order`)
and append the record; `.confirmed(head, now)` appends the bank's confirmation (the 7501 receipt).
Nothing is ever changed or removed: `records` is the public, typed view; `standing()` the orders
not lifted. Pure: the caller gives the time and sends the bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from messages.factory import suspension_order

__all__ = ["SUSPENSION_RECORDS_MAX", "SuspensionLog", "SuspensionRecord"]

# An order, its confirmation, its lift and the lift's confirmation: four records per order. The
# treasury orders suspensions by hand (an audit finding, a unit's misconduct): a few a year per unit,
# so 10,000 records is far above any real year; beyond it the log refuses rather than drop a record.
SUSPENSION_RECORDS_MAX = 10_000

Action = Literal["order", "lift", "confirmed"]
Scope = Literal["AgencyCode", "PayAcctNo", "PayeeAcctNo"]


@dataclass(frozen=True, slots=True)
class SuspensionRecord:
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


class SuspensionLog:
    def __init__(self, records: Iterable[SuspensionRecord] = ()) -> None:
        self._records: list[SuspensionRecord] = []
        for record in records:
            self._append(record)

    @property
    def records(self) -> tuple[SuspensionRecord, ...]:
        return tuple(self._records)

    def standing(self) -> dict[str, SuspensionRecord]:
        """The orders sent and not lifted, by OrderNo (the order's record)."""
        out: dict[str, SuspensionRecord] = {}
        for r in self._records:
            if r.action == "order":
                out[r.order_no] = r
            elif r.action == "lift":
                out.pop(r.order_no, None)
        return out

    def _append(self, record: SuspensionRecord) -> None:
        if len(self._records) >= SUSPENSION_RECORDS_MAX:
            raise OverflowError(f"the suspension audit log holds {SUSPENSION_RECORDS_MAX} records already")
        self._records.append(record)

    def order(self, *, voucher_no: str, bank: str, scope: tuple[Scope, str], reason: str, now: dt.datetime,
              adm_div_code: str = "990100") -> bytes:
        """A new order (its OrderNo is its own VoucherNo): recorded, and its 7501 returned to send."""
        if voucher_no in self.standing() or any(r.order_no == voucher_no for r in self._records):
            raise ValueError(f"order {voucher_no} was issued before: a new order takes a new number")
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=bank, order_no=voucher_no,
                                scope=scope, reason=reason, adm_div_code=adm_div_code)
        self._append(SuspensionRecord("order", voucher_no, voucher_no, scope[0], scope[1], bank, reason, now))
        return data

    def lift(self, *, voucher_no: str, order_no: str, reason: str, now: dt.datetime,
             adm_div_code: str = "990100") -> bytes:
        """Lift a standing order: recorded, and its 7501 (SuspendAction 2, the order's scope) returned."""
        standing = self.standing().get(order_no)
        if standing is None:
            raise ValueError(f"no standing order {order_no} to lift")
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=standing.bank,
                                order_no=order_no, scope=(standing.scope, standing.value), reason=reason,
                                lift=True, adm_div_code=adm_div_code)
        self._append(SuspensionRecord("lift", order_no, voucher_no, standing.scope, standing.value, standing.bank,
                                      reason, now))
        return data

    def confirmed(self, head: Mapping[str, str], now: dt.datetime) -> None:
        """The bank's receipt of a 7501 (XConfirmDate filled): its confirmation, recorded."""
        scope: Scope = next((e for e in ("AgencyCode", "PayAcctNo", "PayeeAcctNo") if head.get(e)), "AgencyCode")
        self._append(SuspensionRecord("confirmed", head.get("OrderNo", ""), head.get("VoucherNo", ""), scope,
                                      head.get(scope, ""), head.get("PayBankCode", ""), head.get("Reason", ""), now))

    def to_plain(self) -> list[dict[str, Any]]:
        return [{"action": r.action, "order_no": r.order_no, "voucher_no": r.voucher_no, "scope": r.scope,
                 "value": r.value, "bank": r.bank, "reason": r.reason, "at": r.at.isoformat()} for r in self._records]

    @classmethod
    def from_plain(cls, data: Iterable[Mapping[str, Any]]) -> SuspensionLog:
        return cls(SuspensionRecord(d["action"], d["order_no"], d["voucher_no"], d["scope"], d["value"], d["bank"],
                                    d["reason"], dt.datetime.fromisoformat(d["at"])) for d in data)
