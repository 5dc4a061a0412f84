"""The treasury's side of the account transaction feed (资金流水, 000 五(二)3, (四)2;
`sim.account_feed`), pure: what it expects a bank's feed (7602) for a day to state, from its own
payments to the unit real-fund and fiscal special accounts it knows, and the breaks of each feed
it checked (missing movement, unknown movement, amount differs: coded, naming the feed, the
account, the voucher and the fen).

The treasury core (`treasury_sim.core`) keeps a `FeedBook` in its state: `on_receipt` keeps each
paid receipt to an account it knows as a feed account then, `on_feed` checks a bank's 7602 against
them. The scenario runner keeps its own (`runner.account_feed.FeedTap`).

The accounts it knows: those it noticed (7601, AcctType 3 or 4), those the world declared, and
those the feed itself names. Its payments: the paid receipts (5201 / 8202) of that bank dated
that day (XPayDate), for the voucher's PayAmt: what the treasury ordered, not what the bank says
it paid. `FeedBook.check(...)` keeps the breaks by (bank, day); a feed redelivered is checked
again with the same result. A msgspec record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from messages.money import parse_fen
from messages.voucher import VoucherDoc
from sim.account_feed import FEED_ACCT_TYPES, FeedBreak, FeedLine, match
from treasury_sim.unit_accounts import special_account

if TYPE_CHECKING:
    from treasury_sim.account_notices import AccountNoticeLog
    from treasury_sim.config import TreasuryConfig
    from treasury_sim.records import Receipt

__all__ = ["FEEDS_KEPT_MAX", "PAID_KEPT_MAX", "FeedBook", "Paid", "expected_lines", "feed_lines", "known_accounts"]

# A year of a few banks' days; beyond it the book refuses rather than forget a day.
FEEDS_KEPT_MAX = 10_000
# Payments to feed accounts kept (a year of a busy treasury's); beyond it the book refuses too.
PAID_KEPT_MAX = 100_000


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


def known_accounts(config: TreasuryConfig, notices: AccountNoticeLog) -> set[str]:
    """The unit real-fund and fiscal special accounts a treasury core knows: its banks' special
    accounts (with units, `treasury_sim.unit_accounts`) and those it noticed (7601, AcctType 3 / 4)."""
    noticed = {r.acct_no for r in notices.records.values() if r.acct_type in FEED_ACCT_TYPES}
    return noticed | ({special_account(code) for code, _ in config.banks} if config.units else set())


class FeedBook(msgspec.Struct):
    checked: dict[str, list[FeedBreak]] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → breaks
    feeds: dict[str, str] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → VoucherNo of the feed
    lines: dict[str, int] = msgspec.field(default_factory=dict)  # "<bank>/<yyyymmdd>" → the lines it stated
    # "<bank>/<yyyymmdd>" → VoucherNo → a payment kept: a feed reads its own day's, never every payment
    paid: dict[str, dict[str, Paid]] = msgspec.field(default_factory=dict)
    paid_count: int = 0  # payments kept, all days

    def keep(self, p: Paid) -> None:
        """Keep payment `p` (once per voucher) for the feed of its bank and day."""
        day = self.paid.setdefault(f"{p.bank}/{p.day}", {})
        if p.voucher_no in day:
            return
        if self.paid_count >= PAID_KEPT_MAX:
            raise OverflowError(f"the feed book holds {PAID_KEPT_MAX} payments already")
        day[p.voucher_no] = p
        self.paid_count += 1

    def day_paid(self, bank: str, day: str) -> Iterable[Paid]:
        """The payments kept of `bank` paid on `day` (yyyymmdd)."""
        return self.paid.get(f"{bank}/{day}", {}).values()

    def on_receipt(self, doc: VoucherDoc, fen: int, accounts: set[str]) -> None:
        """A paid receipt (5201 / 8202 flag 1; `fen`: the voucher's PayAmt) kept when it paid one of `accounts`."""
        payee = doc.get("PayeeAcctNo")
        if payee in accounts:
            self.keep(Paid(doc.get("PayBankCode"), doc.get("XPayDate"), doc.vtcode, doc.get("VoucherNo"), payee, fen))

    def on_feed(self, doc: VoucherDoc, accounts: set[str]) -> list[FeedBreak]:
        """A bank's feed (7602) checked against the payments kept (`accounts`: the feed accounts known;
        the accounts the feed itself names count too)."""
        stated = feed_lines(doc)
        known = accounts | {x.acct_no for x in stated}
        bank, day = doc.get("PayBankCode"), doc.get("TransDate")
        return self.check(bank, day, doc.get("VoucherNo"), expected_lines(bank, day, known, self.day_paid(bank, day)),
                          stated)

    def on_paid(self, doc: VoucherDoc, receipt: Receipt, fen: int, config: TreasuryConfig,
                notices: AccountNoticeLog) -> None:
        """The treasury core's first receipt of a payment: kept when paid (not returned) into a feed account."""
        if receipt.return_reason is None:
            self.on_receipt(doc, fen, known_accounts(config, notices))

    def on_voucher(self, doc: VoucherDoc, flag: int, config: TreasuryConfig, notices: AccountNoticeLog) -> None:
        """A voucher the treasury core recorded: a bank's feed (7602) is matched."""
        if flag == 0 and doc.vtcode == "7602":
            self.on_feed(doc, known_accounts(config, notices))

    def breaks(self) -> list[FeedBreak]:
        """Every break of every feed checked, by (bank, day)."""
        return [b for key in sorted(self.checked) for b in self.checked[key]]

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
