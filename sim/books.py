"""The typed error a simulator core raises when its own books break an invariant.

Each core checks its books after every input (money conserved, no quota or reserve below zero,
every payment in exactly one state...), from running totals kept as the state changes, so the
check costs the same at the first voucher as at the millionth. A broken invariant is a defect in
the core, never the sender's fault: the shell stops that call before any of its effects is
applied or sent.
"""

from __future__ import annotations

from messages.errors import StateError

__all__ = ["BooksError"]


class BooksError(StateError):
    """`core` broke `rule` (a short stable name, e.g. "reserve-non-negative"); `detail` says by how much."""

    code = "books-out-of-balance"

    def __init__(self, core: str, rule: str, detail: str) -> None:
        self.core = core
        self.rule = rule
        self.detail = detail
        super().__init__(f"{self.code}: {core} broke {rule}: {detail}")
