"""An oracle of payment suspension orders (7501, 000 五(二)3; docs/rules.md "Payment suspension") at a
bank serving several divisions, written from the rules, not from either bank's code; the property
tests of the simulated bank (`test_bank_suspension_divisions`) and of the example bank
(`test_sdk_bank_suspension_divisions`) drive their bank and it with the same operations.

Each division's treasury numbers its own vouchers, each year afresh: an order is its division's,
year's and number's, and suspends its own division's payments of its scope. A lift carries its own
year, which may be later than its order's: it ends the latest standing order of its division and
number, of its year or before, that has its scope."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from messages.factory import UNITS

__all__ = ["AGENCY", "HOME", "OPS", "OTHER", "Op", "Oracle"]

HOME, OTHER = "990100", "990200"  # the configured division and another the bank serves
AGENCY = ("AgencyCode", UNITS[0][2])  # the unit every payment of the operations is of (in each division)

# (what: order | lift | pay, division, year, OrderNo, scope); a payment's year and number are not used
Op = tuple[str, str, int, str, tuple[str, str]]
_SCOPES = st.sampled_from([AGENCY, ("AgencyCode", UNITS[1][2])])  # the payments' unit, or one no payment has
OPS = st.lists(st.tuples(st.sampled_from(["order", "lift", "pay"]), st.sampled_from([HOME, OTHER]),
                         st.sampled_from([2025, 2026]), st.sampled_from(["ZT-A", "ZT-B"]), _SCOPES), max_size=14)


@dataclass
class Oracle:
    standing: dict[tuple[str, int, str], tuple[str, str]] = field(default_factory=dict)  # key → scope
    lifted: set[tuple[str, int, str]] = field(default_factory=set)

    def apply(self, what: str, adm: str, year: int, no: str, scope: tuple[str, str]) -> bool:
        """An order or lift: whether the bank confirms it (else it refuses it, nothing changed)."""
        key = (adm, year, no)
        if what == "order":  # a number lifted is not used again; a redelivery repeats its scope
            ok = key not in self.lifted and self.standing.get(key, scope) == scope
            if ok:
                self.standing[key] = scope
            return ok
        ends = max((k for k, s in self.standing.items() if (k[0], k[2]) == (adm, no) and k[1] <= year and s == scope),
                   default=None)
        if ends is None:  # confirmed again only if it is a redelivery
            return any((k[0], k[2]) == (adm, no) and k[1] <= year for k in self.lifted)
        del self.standing[ends]
        self.lifted.add(ends)
        return True

    def suspended(self, adm: str) -> bool:
        """Whether division `adm`'s payment of the unit `AGENCY` names is returned payment-suspended."""
        return any(k[0] == adm and s == AGENCY for k, s in self.standing.items())
