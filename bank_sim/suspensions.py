"""Payment suspension (暂停支付, 000 五(二)3): the standing orders a bank holds and whether a
payment voucher falls under one. Pure data and functions; `bank_sim.core` applies the 7501s.

An order (7501, SuspendAction 1) names exactly one scope: a unit (AgencyCode), a paying account
(PayAcctNo) or a payee (PayeeAcctNo). A voucher (5201 / 8202) is under the order when its head
element of that name equals the order's value and it is of the order's division (AdmDivCode). A
lift (SuspendAction 2) names the order by OrderNo and ends it. While an order stands, every voucher
under it is returned unpaid with `payment-suspended` naming the order; after the lift the next one
is paid.

**Keys.** Each division's treasury numbers its own vouchers, each year afresh: an order is known by
its 7501's AdmDivCode, StYear and OrderNo (`order_key`), never by OrderNo alone. A lift carries its
own year's StYear, which is its order's unless the treasury lifts it in a later year: it ends the
standing order of its division and number, of its own year or the latest before, that has its
scope (`ended_by`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["SCOPE_ELEMENTS", "Order", "ScopeElement", "ended_by", "lifted_before", "match", "order_from_head",
           "order_key"]

ScopeElement = Literal["AgencyCode", "PayAcctNo", "PayeeAcctNo"]
# The head elements an order may name, in the XSD's choice order (xsd/7501.xsd).
SCOPE_ELEMENTS: tuple[ScopeElement, ...] = ("AgencyCode", "PayAcctNo", "PayeeAcctNo")


@dataclass(frozen=True, slots=True)
class Order:
    """A standing suspension order: its number, its scope (element, value), why, and its division
    and year (its 7501's AdmDivCode and StYear; a version 9 snapshot's: set on load)."""

    order_no: str
    element: ScopeElement
    value: str
    reason: str
    adm_div_code: str = ""
    st_year: str = ""

    @property
    def key(self) -> str:
        return order_key(self.adm_div_code, self.st_year, self.order_no)


def order_key(adm_div_code: str, st_year: str, order_no: str) -> str:
    """The key an order is kept under, "<AdmDivCode>/<StYear>/<OrderNo>" (`bank_sim.notices`'s
    quota notices are kept so too)."""
    return f"{adm_div_code}/{st_year}/{order_no}"


def _parts(key: str) -> tuple[str, str, str]:
    adm, year, no = key.split("/", 2)  # a OrderNo may hold "/": everything after the second
    return adm, year, no


def order_from_head(head: Mapping[str, str]) -> Order | None:
    """The order a 7501 head names, or None when it names no scope or more than one (the XSD
    refuses both; a bank core built without the gateway still must not guess)."""
    scopes = [(e, head.get(e, "")) for e in SCOPE_ELEMENTS if head.get(e, "")]
    if len(scopes) != 1 or not head.get("OrderNo", ""):
        return None
    element, value = scopes[0]
    return Order(head["OrderNo"], element, value, head.get("Reason", ""), head.get("AdmDivCode", ""),
                 head.get("StYear", ""))


def ended_by(standing: Mapping[str, Order], lift: Order) -> str | None:
    """The key of the standing order a lift (`order_from_head` of its 7501) ends, or None: of its
    division and number, with its scope, of the lift's own year or (lifted in a later year than
    issued) the latest before it."""
    ends = [o for o in standing.values()
            if (o.adm_div_code, o.order_no, o.element, o.value) == (lift.adm_div_code, lift.order_no, lift.element,
                                                                     lift.value) and o.st_year <= lift.st_year]
    return max(ends, key=lambda o: o.st_year).key if ends else None


def lifted_before(lifted: Iterable[str], lift: Order) -> bool:
    """Whether an order of the lift's division and number, of its year or before, was lifted (the
    lift is a redelivery, confirmed again)."""
    return any(adm == lift.adm_div_code and no == lift.order_no and year <= lift.st_year
               for adm, year, no in map(_parts, lifted))


def match(orders: Iterable[Order], head: Mapping[str, str]) -> Order | None:
    """The first standing order of the payment voucher's division whose scope its head falls under,
    or None."""
    return next((o for o in orders if head.get(o.element, "") == o.value
                 and head.get("AdmDivCode", "") == o.adm_div_code), None)
