"""The treasury's side of payment suspension (暂停支付, 000 五(二)3): every order it sends, every
lift and every confirmation from the bank, as an append-only audit record.

`SuspensionLog.order(...)` / `.lift(...)` give the 7501 to send (`messages.factory.suspension_order`)
and append the record; `.confirmed(head, now)` appends the bank's confirmation (the 7501 receipt).
Nothing is ever changed or removed: `records` is the public, typed view; `standing()` the orders
not lifted, kept as the log grows (`open_orders`, with the counts of orders and lifts the treasury's
books check: `treasury_sim.books`). Pure: the caller gives the time and sends the bytes. A msgspec
record, saved and restored with the treasury core's state by `sim.codec`.

An order is its 7501's key (AdmDivCode, StYear, VtCode 7501, VoucherNo = OrderNo: `order_key`):
each division's treasury numbers its vouchers afresh each year, so two divisions' or years' orders
of one number are two orders, and a lift or a confirmation is of the order of its own key. A lift
names its order by that key (it may be sent in a later year than the order); a confirmation
(the bank's receipt of a 7501) is of the voucher of the receipt's key, order or lift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import msgspec

from messages.factory import suspension_order
from treasury_sim.records import voucher_id

__all__ = ["SUSPENSION_RECORDS_MAX", "SuspensionLog", "SuspensionRecord", "order_key"]

# An order, its confirmation, its lift and the lift's confirmation: four records per order. The
# treasury orders suspensions by hand (an audit finding, a unit's misconduct): a few a year per unit,
# so 10,000 records is far above any real year; beyond it the log refuses rather than drop a record.
SUSPENSION_RECORDS_MAX = 10_000

Action = Literal["order", "lift", "confirmed"]
Scope = Literal["AgencyCode", "PayAcctNo", "PayeeAcctNo"]


def order_key(adm_div_code: str, st_year: str, order_no: str) -> str:
    """The key an order is kept under: its 7501's, "<AdmDivCode>/<StYear>/7501/<OrderNo>"."""
    return voucher_id(adm_div_code, st_year, "7501", order_no)


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
    # the division, the StYear of the 7501 that carried it and the StYear of its order (a lift may
    # come a year after the order); a version 7 snapshot's records: set when loaded (`keyed`)
    adm_div_code: str = ""
    st_year: str = ""
    order_year: str = ""

    @property
    def order_key(self) -> str:
        return order_key(self.adm_div_code, self.order_year, self.order_no)

    @property
    def voucher_key(self) -> str:
        return voucher_id(self.adm_div_code, self.st_year, "7501", self.voucher_no)


class SuspensionLog(msgspec.Struct):
    entries: list[SuspensionRecord] = msgspec.field(default_factory=list)  # append-only
    # `order_key` → order not lifted (a version 7 snapshot's: OrderNo → order, `keyed`)
    open_orders: dict[str, SuspensionRecord] = msgspec.field(default_factory=dict)
    orders: int = 0  # orders sent
    lifts: int = 0  # lifts sent

    @property
    def records(self) -> tuple[SuspensionRecord, ...]:
        return tuple(self.entries)

    def standing(self) -> dict[str, SuspensionRecord]:
        """The orders sent and not lifted, by `order_key` (the order's record)."""
        return dict(self.open_orders)

    def keyed(self, adm_div_code: str) -> None:
        """A version 7 (or older) snapshot's log (orders by OrderNo alone) keyed by the whole key: its
        records were division `adm_div_code`'s (the configured one's, the only division the treasury
        core sent for); an order or lift of its VouDate's year (the day sent, `messages.factory`), a
        lift's order and a confirmation's voucher the one of their number (unique then)."""
        if all(r.adm_div_code for r in self.entries):
            return
        sent: dict[str, SuspensionRecord] = {}  # VoucherNo → the order or lift that carried it
        orders: dict[str, SuspensionRecord] = {}  # OrderNo → the order
        out: list[SuspensionRecord] = []
        for r in self.entries:
            if not r.adm_div_code and r.action != "confirmed":
                year = str(r.at.year)
                order = orders.get(r.order_no)
                r = msgspec.structs.replace(r, adm_div_code=adm_div_code, st_year=year,
                                            order_year=year if order is None else order.order_year)
            elif not r.adm_div_code:
                carrier = sent.get(r.voucher_no)
                year = str(r.at.year) if carrier is None else carrier.st_year
                r = msgspec.structs.replace(r, adm_div_code=adm_div_code, st_year=year,
                                            order_year=year if carrier is None else carrier.order_year)
            if r.action == "order":
                orders[r.order_no] = r
            if r.action != "confirmed":
                sent[r.voucher_no] = r
            out.append(r)
        self.entries = out
        self.open_orders = {orders[no].order_key: orders[no] for no in self.open_orders if no in orders}

    def _append(self, record: SuspensionRecord) -> None:
        if len(self.entries) >= SUSPENSION_RECORDS_MAX:
            raise OverflowError(f"the suspension audit log holds {SUSPENSION_RECORDS_MAX} records already")
        self.entries.append(record)

    def order(self, *, voucher_no: str, bank: str, scope: tuple[Scope, str], reason: str, now: dt.datetime,
              adm_div_code: str = "990100") -> bytes:
        """A new order (its OrderNo is its own VoucherNo): recorded, and its 7501 returned to send."""
        year = str(now.date().year)
        key = order_key(adm_div_code, year, voucher_no)
        if key in self.open_orders or any(r.order_key == key for r in self.entries):
            raise ValueError(f"order {key} was issued before: a new order takes a new number")
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=bank, order_no=voucher_no,
                                scope=scope, reason=reason, adm_div_code=adm_div_code)
        record = SuspensionRecord("order", voucher_no, voucher_no, scope[0], scope[1], bank, reason, now,
                                  adm_div_code, year, year)
        self._append(record)
        self.open_orders[key] = record
        self.orders += 1
        return data

    def lift(self, *, voucher_no: str, order: str, reason: str, now: dt.datetime) -> bytes:
        """Lift the standing order of key `order` (`order_key`): recorded, and its 7501 (SuspendAction 2,
        the order's division and scope, of `now`'s year) returned."""
        standing = self.open_orders.get(order)
        if standing is None:
            raise ValueError(f"no standing order {order} to lift")
        year = str(now.date().year)
        data = suspension_order(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=standing.bank,
                                order_no=standing.order_no, scope=(standing.scope, standing.value), reason=reason,
                                lift=True, adm_div_code=standing.adm_div_code)
        self._append(SuspensionRecord("lift", standing.order_no, voucher_no, standing.scope, standing.value,
                                      standing.bank, reason, now, standing.adm_div_code, year, standing.order_year))
        del self.open_orders[order]
        self.lifts += 1
        return data

    def confirmed(self, head: Mapping[str, str], now: dt.datetime) -> None:
        """The bank's receipt of a 7501 (XConfirmDate filled): its confirmation, recorded, of the order
        or lift of the receipt's key (its order's year: that one's; a receipt of nothing sent: its own)."""
        scope: Scope = next((e for e in ("AgencyCode", "PayAcctNo", "PayeeAcctNo") if head.get(e)), "AgencyCode")
        adm, year, no = head.get("AdmDivCode", ""), head.get("StYear", ""), head.get("VoucherNo", "")
        key = voucher_id(adm, year, "7501", no)
        carrier = next((r for r in reversed(self.entries) if r.action != "confirmed" and r.voucher_key == key), None)
        self._append(SuspensionRecord("confirmed", head.get("OrderNo", ""), no, scope, head.get(scope, ""),
                                      head.get("PayBankCode", ""), head.get("Reason", ""), now, adm, year,
                                      year if carrier is None else carrier.order_year))
