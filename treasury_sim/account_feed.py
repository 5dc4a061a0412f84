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
it paid. A bank serving several divisions (AdmDivCode) sends each its own feed of the day, with
the lines its own payments made: the book keeps payments and feeds by (bank, day, division), so a
division's feed is checked against that division's payments only and never overwrites another's.
`FeedBook.check(...)` keeps the breaks by (bank, day, division); a feed redelivered is checked
again with the same result. A msgspec record (treasury snapshot version 7; `of_division` reads a
version 6 book, keyed by bank and day, as the configured division's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

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
_V = TypeVar("_V")


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
    """The movements the treasury knows on `accounts` at `bank` on `day`: its payments to them
    (`paid`: one division's, `FeedBook.day_paid`)."""
    return [FeedLine(p.payee_acct, p.vtcode, p.voucher_no, p.fen) for p in paid
            if p.bank == bank and p.day == day and p.payee_acct in accounts]


def known_accounts(config: TreasuryConfig, notices: AccountNoticeLog) -> set[str]:
    """The unit real-fund and fiscal special accounts a treasury core knows: its banks' special
    accounts (with units, `treasury_sim.unit_accounts`) and those it noticed (7601, AcctType 3 / 4)."""
    noticed = {r.acct_no for r in notices.records.values() if r.acct_type in FEED_ACCT_TYPES}
    return noticed | ({special_account(code) for code, _ in config.banks} if config.units else set())


def _key(bank: str, day: str, adm: str) -> str:
    return f"{bank}/{day}/{adm}"


def _divided(book: dict[str, _V], adm: str) -> dict[str, _V]:
    """`book` with each "<bank>/<day>" key (a version 6 snapshot's) as "<bank>/<day>/<adm>"."""
    return {(k if k.count("/") == 2 else f"{k}/{adm}"): v for k, v in book.items()}


class FeedBook(msgspec.Struct):
    # "<bank>/<yyyymmdd>/<AdmDivCode>" → breaks (version 6 and older: "<bank>/<yyyymmdd>", no division)
    checked: dict[str, list[FeedBreak]] = msgspec.field(default_factory=dict)
    feeds: dict[str, str] = msgspec.field(default_factory=dict)  # the same key → VoucherNo of the feed
    lines: dict[str, int] = msgspec.field(default_factory=dict)  # the same key → the lines it stated
    # the same key → VoucherNo → a payment kept: a feed reads its own day's and division's, never every payment
    paid: dict[str, dict[str, Paid]] = msgspec.field(default_factory=dict)
    paid_count: int = 0  # payments kept, all days

    def of_division(self, adm: str) -> None:
        """A version 6 (or older) snapshot's book (keyed by bank and day) as division `adm`'s: the
        configured one's, the only division whose payments the treasury core keeps."""
        self.checked, self.feeds = _divided(self.checked, adm), _divided(self.feeds, adm)
        self.lines, self.paid = _divided(self.lines, adm), _divided(self.paid, adm)

    def keep(self, p: Paid, adm: str) -> None:
        """Keep payment `p` of division `adm` (once per voucher) for the feed of its bank, day and division."""
        day = self.paid.setdefault(_key(p.bank, p.day, adm), {})
        if p.voucher_no in day:
            return
        if self.paid_count >= PAID_KEPT_MAX:
            raise OverflowError(f"the feed book holds {PAID_KEPT_MAX} payments already")
        day[p.voucher_no] = p
        self.paid_count += 1

    def day_paid(self, bank: str, day: str, adm: str) -> Iterable[Paid]:
        """The payments of division `adm` kept of `bank` paid on `day` (yyyymmdd)."""
        return self.paid.get(_key(bank, day, adm), {}).values()

    def on_receipt(self, doc: VoucherDoc, fen: int, accounts: set[str]) -> None:
        """A paid receipt (5201 / 8202 flag 1; `fen`: the voucher's PayAmt) kept when it paid one of `accounts`."""
        payee = doc.get("PayeeAcctNo")
        if payee in accounts:
            self.keep(Paid(doc.get("PayBankCode"), doc.get("XPayDate"), doc.vtcode, doc.get("VoucherNo"), payee, fen),
                      doc.get("AdmDivCode"))

    def on_feed(self, doc: VoucherDoc, accounts: set[str]) -> list[FeedBreak]:
        """A bank's feed (7602) of a division checked against that division's payments kept (`accounts`:
        the feed accounts known; the accounts the feed itself names count too)."""
        stated = feed_lines(doc)
        known = accounts | {x.acct_no for x in stated}
        bank, day, adm = doc.get("PayBankCode"), doc.get("TransDate"), doc.get("AdmDivCode")
        return self.check(bank, day, adm, doc.get("VoucherNo"),
                          expected_lines(bank, day, known, self.day_paid(bank, day, adm)), stated)

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
        """Every break of every feed checked, by (bank, day, division)."""
        return [b for key in sorted(self.checked) for b in self.checked[key]]

    def check(self, bank: str, day: str, adm: str, feed_no: str, expected: Iterable[FeedLine],
              stated: Iterable[FeedLine]) -> list[FeedBreak]:
        """The feed's breaks ([]: it matches), kept by (bank, day, division)."""
        key = _key(bank, day, adm)
        if key not in self.checked and len(self.checked) >= FEEDS_KEPT_MAX:
            raise OverflowError(f"the feed book holds {FEEDS_KEPT_MAX} checked days already")
        stated = list(stated)
        breaks = match(feed_no, expected, stated)
        self.checked[key], self.feeds[key], self.lines[key] = breaks, feed_no, len(stated)
        return breaks

    def outcome(self, bank: str, day: str, adm: str) -> list[FeedBreak] | None:
        """The breaks of the bank's feed of `day` to division `adm`; None when none was checked."""
        return self.checked.get(_key(bank, day, adm))
