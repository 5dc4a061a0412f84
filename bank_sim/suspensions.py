"""Payment suspension (暂停支付, 000 五(二)3): the standing orders a bank holds and whether a
payment voucher falls under one. Pure data and functions; `bank_sim.core` applies the 7501s.

An order (7501, SuspendAction 1) names exactly one scope: a unit (AgencyCode), a paying account
(PayAcctNo) or a payee (PayeeAcctNo). A voucher (5201 / 8202) is under the order when its head
element of that name equals the order's value. A lift (SuspendAction 2) names the order by
OrderNo and ends it. While an order stands, every voucher under it is returned unpaid with
`payment-suspended` naming the order; after the lift the next one is paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["SCOPE_ELEMENTS", "Order", "ScopeElement", "match", "order_from_head"]

ScopeElement = Literal["AgencyCode", "PayAcctNo", "PayeeAcctNo"]
# The head elements an order may name, in the XSD's choice order (xsd/7501.xsd).
SCOPE_ELEMENTS: tuple[ScopeElement, ...] = ("AgencyCode", "PayAcctNo", "PayeeAcctNo")


@dataclass(frozen=True, slots=True)
class Order:
    """A standing suspension order: its number, its scope (element, value) and why."""

    order_no: str
    element: ScopeElement
    value: str
    reason: str


def order_from_head(head: Mapping[str, str]) -> Order | None:
    """The order a 7501 head names, or None when it names no scope or more than one (the XSD
    refuses both; a bank core built without the gateway still must not guess)."""
    scopes = [(e, head.get(e, "")) for e in SCOPE_ELEMENTS if head.get(e, "")]
    if len(scopes) != 1 or not head.get("OrderNo", ""):
        return None
    element, value = scopes[0]
    return Order(head["OrderNo"], element, value, head.get("Reason", ""))


def match(orders: Iterable[Order], head: Mapping[str, str]) -> Order | None:
    """The first standing order whose scope the payment voucher's head falls under, or None."""
    return next((o for o in orders if head.get(o.element, "") == o.value), None)
