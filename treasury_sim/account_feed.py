"""The treasury's side of the account transaction feed (资金流水, 000 五(二)3, (四)2;
`sim.account_feed`), pure: what it expects a bank's feed (7602) for a day to state, from its own
payments to the unit real-fund and fiscal special accounts it knows, and the breaks of each feed
it checked (missing movement, unknown movement, amount differs: coded, naming the feed, the
account, the voucher and the fen).

The accounts it knows: those it noticed (7601, AcctType 3 or 4), those the world declared, and
those the feed itself names. Its payments: the paid receipts (5201 / 8202) of that bank dated
that day (XPayDate), for the voucher's PayAmt: what the treasury ordered, not what the bank says
it paid. `FeedBook.check(...)` keeps the breaks by (bank, day); a feed redelivered is checked
again with the same result. A msgspec record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from messages.money import parse_fen
from messages.voucher import VoucherDoc
from sim.account_feed import FeedBreak, FeedLine, match

__all__ = ["FEEDS_KEPT_MAX", "FeedBook", "Paid", "expected_lines", "feed_lines"]

# A year of a few banks' days; beyond it the book refuses rather than forget a day.
FEEDS_KEPT_MAX = 10_000


class Paid(NamedTuple):
    """A payment the treasury ordered and the bank's receipt said was paid."""

    bank: str  # PayBankCode
    day: str  # XPayDate, yyyymmdd
    vtcode: str
    voucher_no: str
    payee_acct: str  # PayeeAcctNo
    fen: int  # PayAmt


def feed_lines(doc: VoucherDoc) -> list[FeedLine]:
    """The lines a 7602 states (CreditAmt in, DebitAmt out), in its order."""
    return [FeedLine(d.get("AcctNo", ""), d.get("OriVtCode", ""), d.get("OriVoucherNo", ""),
                     parse_fen(d.get("CreditAmt", "0.00")) - parse_fen(d.get("DebitAmt", "0.00")))
            for d in doc.details()]


def expected_lines(bank: str, day: str, accounts: set[str], paid: Iterable[Paid]) -> list[FeedLine]:
    """The movements the treasury knows on `accounts` at `bank` on `day`: its payments to them."""
    return [FeedLine(p.payee_acct, p.vtcode, p.voucher_no, p.fen) for p in paid
            if p.bank == bank and p.day == day and p.payee_acct in accounts]


class FeedBook(msgspec.Struct):
    checked: dict[str, list[FeedBreak]] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → breaks
    feeds: dict[str, str] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → VoucherNo of the feed
    lines: dict[str, int] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → the lines it stated

    def check(self, bank: str, day: str, feed_no: str, expected: Iterable[FeedLine],
              stated: Iterable[FeedLine]) -> list[FeedBreak]:
        """The feed's breaks ([]: it matches), kept by (bank, day)."""
        key = f"{bank}/{day}"
        if key not in self.checked and len(self.checked) >= FEEDS_KEPT_MAX:
            raise OverflowError(f"the feed book holds {FEEDS_KEPT_MAX} checked days already")
        stated = list(stated)
        breaks = match(feed_no, expected, stated)
        self.checked[key], self.feeds[key], self.lines[key] = breaks, feed_no, len(stated)
        return breaks

    def outcome(self, bank: str, day: str) -> list[FeedBreak] | None:
        """The breaks of the bank's feed of `day`; None when none was checked."""
        return self.checked.get(f"{bank}/{day}")
