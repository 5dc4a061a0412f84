"""The account transaction feed (资金流水, 000 五(二)3, (四)2), pure: the movements a bank states
for a day on the registered unit real-fund accounts (AcctType 3) and fiscal special accounts
(AcctType 4), and the match the treasury makes of them against what it knows.

A line (`FeedLine`) is one movement: the account (AcctNo), the voucher that moved the money
(OriVtCode, OriVoucherNo) and the fen (> 0 money in, < 0 money out). The bank builds its lines
(`bank_sim.account_feed`), the treasury its expectation from its own payments to those accounts
(`treasury_sim.account_feed`); `match` compares them line by line, keyed by (AcctNo, OriVtCode,
OriVoucherNo), and gives one coded break per difference, never netted away:

| code                     | when                                                        |
|--------------------------|-------------------------------------------------------------|
| `feed-missing-movement`  | the treasury knows a movement the feed does not state        |
| `feed-unknown-movement`  | the feed states a movement the treasury does not know (or states one twice: the second) |
| `feed-amount-differs`    | both know it, the fen differ                                 |

Each break names the feed voucher, the account, the voucher behind the movement and both fen.
Shared by the two simulators (a lower layer than both), so their lines are one type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from messages.money import fen_to_str

__all__ = ["BREAK_CODES", "FEED_ACCT_TYPES", "FeedBreak", "FeedLine", "match"]

FEED_ACCT_TYPES = ("3", "4")  # unit real-fund account, fiscal special account
BREAK_CODES: dict[str, str] = {
    "feed-missing-movement": "a movement the treasury knows is not in the bank's feed",
    "feed-unknown-movement": "the bank's feed states a movement the treasury does not know",
    "feed-amount-differs": "the bank's feed states a movement with other fen than the treasury knows",
}


class FeedLine(NamedTuple):
    acct_no: str  # AcctNo: a registered real-fund or special account
    ori_vtcode: str  # the voucher that moved the money (5201, 8202, ...)
    ori_voucher_no: str
    fen: int  # > 0 credited to the account, < 0 debited

    @property
    def key(self) -> tuple[str, str, str]:
        return self.acct_no, self.ori_vtcode, self.ori_voucher_no


class FeedBreak(msgspec.Struct, frozen=True):
    code: str  # a key of BREAK_CODES
    feed_no: str  # VoucherNo of the feed
    acct_no: str
    ori_vtcode: str
    ori_voucher_no: str
    expected_fen: int | None  # None: the treasury knows no such movement
    stated_fen: int | None  # None: the feed does not state it

    def message(self) -> str:
        exp = "none" if self.expected_fen is None else fen_to_str(self.expected_fen)
        got = "none" if self.stated_fen is None else fen_to_str(self.stated_fen)
        off = ""
        if self.expected_fen is not None and self.stated_fen is not None:
            off = f", off by {fen_to_str(abs(self.stated_fen - self.expected_fen))}"
        return (f"{self.code}: feed {self.feed_no} account {self.acct_no} voucher {self.ori_vtcode}/"
                f"{self.ori_voucher_no}: treasury {exp}, bank {got}{off}")


def match(feed_no: str, expected: Iterable[FeedLine], stated: Iterable[FeedLine]) -> list[FeedBreak]:
    """The breaks between what the treasury expects and what the feed `feed_no` states: in the
    feed's order (unknown, differing), then the missing ones in the treasury's order. [] agrees."""
    want: dict[tuple[str, str, str], int] = {}
    for line in expected:
        want[line.key] = want.get(line.key, 0) + line.fen
    seen: set[tuple[str, str, str]] = set()
    breaks: list[FeedBreak] = []
    for line in stated:
        k = line.key
        if k in seen or k not in want:
            breaks.append(FeedBreak("feed-unknown-movement", feed_no, *k, None, line.fen))
        elif want[k] != line.fen:
            breaks.append(FeedBreak("feed-amount-differs", feed_no, *k, want[k], line.fen))
        seen.add(k)
    breaks += [FeedBreak("feed-missing-movement", feed_no, *k, fen, None) for k, fen in want.items() if k not in seen]
    return breaks
