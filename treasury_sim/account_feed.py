"""The treasury's side of the account transaction feed (资金流水, 000 五(二)3, (四)2;
`sim.account_feed`), pure: what it expects a bank's feed for a day to state, from its own
payments to the registered unit real-fund and fiscal special accounts, and the breaks of each
feed it checked (missing movement, unknown movement, amount differs: coded, naming the feed,
the account, the voucher and the fen).

`FeedBook.expect(bank, day, line)` notes a movement the treasury knows (its payment, paid on
`day` by `bank`, to a feed account); `.check(bank, day, feed_no, lines)` matches a feed against
it and keeps the breaks (a feed redelivered is checked again with the same result). A msgspec
record, for the treasury core's state.
"""

from __future__ import annotations

import msgspec

from sim.account_feed import FeedBreak, FeedLine, match

__all__ = ["FEEDS_KEPT_MAX", "FeedBook"]

# A year of a few banks' days; beyond it the book refuses rather than forget a day.
FEEDS_KEPT_MAX = 10_000


class FeedBook(msgspec.Struct):
    expected: dict[str, list[FeedLine]] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → lines
    checked: dict[str, list[FeedBreak]] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → breaks
    feeds: dict[str, str] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → VoucherNo of the feed

    def expect(self, bank: str, day: str, line: FeedLine) -> None:
        key = f"{bank}/{day}"
        if key not in self.expected and len(self.expected) >= FEEDS_KEPT_MAX:
            raise OverflowError(f"the feed book holds {FEEDS_KEPT_MAX} days already")
        self.expected.setdefault(key, []).append(line)

    def check(self, bank: str, day: str, feed_no: str, lines: list[FeedLine]) -> list[FeedBreak]:
        """The feed's breaks ([]: it matches), kept by (bank, day)."""
        key = f"{bank}/{day}"
        if key not in self.checked and len(self.checked) >= FEEDS_KEPT_MAX:
            raise OverflowError(f"the feed book holds {FEEDS_KEPT_MAX} checked days already")
        breaks = match(feed_no, self.expected.get(key, []), lines)
        self.checked[key], self.feeds[key] = breaks, feed_no
        return breaks

    def outcome(self, bank: str, day: str) -> list[FeedBreak] | None:
        """The breaks of the bank's feed of `day`; None when none was checked."""
        return self.checked.get(f"{bank}/{day}")
