"""What few of a bank's payments ever have, kept apart from the payment (`bank_sim.state.Payment`).

A busy day keeps 100,000s of payments; returned, refused, deferred, held, covered, urgent and cash
payments are a few of them. Those eight fields in every payment were 64 bytes each; now a payment
holds one `rare` field, None but for the few, read and written through properties of the same
names (`rare_field`). A version 3-6 snapshot kept the fields in the payment: `rare_apart` moves
them into the record before it is decoded.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["RARE_DEFAULTS", "PaymentRare", "rare_apart", "rare_field"]


# What few payments ever have (`Payment.rare`): returned, refused, deferred, held, covered, urgent,
# a cash withdrawal. Kept apart, a payment is 7 fields (56 bytes) smaller; the few that have one of
# these carry this record too. `gc=False` as `Payment`.
class PaymentRare(msgspec.Struct, gc=False):
    raw: bytes | None = None
    refused: str | None = None
    receipt_refused: str | None = None
    urgent: bool = False
    returned: str | None = None
    covered: bool = False
    held: str | None = None
    cash: bool = False


# The fields `PaymentRare` holds for a payment (version 6 kept them in the payment itself), and the
# value each has when not set.
RARE_DEFAULTS: dict[str, Any] = {f: getattr(PaymentRare(), f) for f in PaymentRare.__struct_fields__}


_NONE = PaymentRare()


def rare_field(name: str, doc: str) -> Any:
    """A property of `Payment` read from, and written to, its `PaymentRare` (made on the first write
    of a value other than the default, let go when every field is back to its default)."""
    default = RARE_DEFAULTS[name]

    def get(p: Any) -> Any:
        rare = p.rare
        return default if rare is None else getattr(rare, name)

    def put(p: Any, value: Any) -> None:
        rare = p.rare
        if rare is None:
            if value == default:
                return
            rare = p.rare = PaymentRare()
        setattr(rare, name, value)
        if value == default and rare == _NONE:  # all back to their defaults (a deferred one paid)
            p.rare = None

    return property(get, put, doc=doc)


def rare_apart(data: bytes) -> bytes:
    """A version 3-6 snapshot with each payment's rare fields (`RARE_DEFAULTS`) moved into its
    `rare` record (none when all are their defaults), as version 7 keeps them; the rest as it was."""
    state = msgspec.json.decode(data)
    for p in state.get("payments", {}).values():
        rare = {name: p.pop(name) for name in RARE_DEFAULTS if name in p}
        rare = {name: value for name, value in rare.items() if value != RARE_DEFAULTS[name]}
        if rare:
            p["rare"] = rare
    return msgspec.json.encode(state)
