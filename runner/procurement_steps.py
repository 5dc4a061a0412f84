"""The scripted treasury's procurement check (政府采购, 003 §28; docs/payment-kinds.md): before a
`procurement` send leaves, the treasury checks the request against the world's contracts
(`treasury_sim.procurement`); a refused one is never sent and carries the treasury's verdict.

What counts against a contract is what the treasury issued on it, less what never left: a voucher
the gateway refused, or one the bank returned unpaid (its receipt with a Return_Reason and XPayAmt
0.00). `ProcurementDesk.sync` gives those back before each check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.scenario_file import ContractSpec
from treasury_sim.procurement import (
    Contract,
    ContractBook,
    ProcurementRefusal,
    give_back,
    issue,
    request_of,
)

__all__ = ["ProcurementDesk", "book_of", "refused_in_plan"]


def book_of(contracts: Iterable[ContractSpec]) -> ContractBook:
    """The treasury's contract book from a world's `contracts`."""
    return ContractBook({c.number: Contract(c.number, c.unit, c.supplier_account, c.supplier_name, c.amount_fen,
                                            c.acceptance_required) for c in contracts})


@dataclass
class ProcurementDesk:
    """The scripted treasury's book and the vouchers it issued against it."""

    book: ContractBook
    issued: dict[str, tuple[str, int]] = field(default_factory=dict)  # VoucherNo → (ContractNo, fen)
    given_back: set[str] = field(default_factory=set)

    def decide(self, head: Mapping[str, str], amount_fen: int) -> ProcurementRefusal | None:
        """Check a request and, if it passes, count it against its contract."""
        req = request_of(head, amount_fen)
        if req is None:
            return None
        refused = issue(self.book, req)
        if refused is None:
            self.issued[head.get("VoucherNo", "")] = (req.contract_no, amount_fen)
        return refused

    def sync(self, never_left: Iterable[str]) -> None:
        """Give back the vouchers (by VoucherNo) whose money never left: refused at the gateway or
        returned unpaid by the bank."""
        for no in never_left:
            if no in self.issued and no not in self.given_back:
                self.given_back.add(no)
                give_back(self.book, *self.issued[no])


def refused_in_plan(book: ContractBook, heads: Sequence[tuple[Mapping[str, str], int]]) -> set[int]:
    """Indices of the requests (head, fen), in the order the steps send them, the treasury would refuse
    if everything before was paid: the day's clearing quota leaves them out."""
    out = set()
    for i, (head, fen) in enumerate(heads):
        req = request_of(head, fen)
        if req is not None and issue(book, req) is not None:
            out.add(i)
    return out
