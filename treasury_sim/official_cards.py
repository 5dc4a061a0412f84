"""The treasury's side of official-card repayments (公务卡还款, 003 §30), pure: the settlement list
of each repayment it issued and the match of the card bank's repayment detail (7701) against it.

The settlement list of a repayment is what the treasury itself ordered: the card lines of its
authorized payment voucher (8202 with CardRepayFlag 1), card (CardNo) → fen. The bank that paid
it reports which cards it credited with how much (7701, `bank_sim.official_cards`); the treasury
matches the two and records one coded break per difference, never netted away:

| code                          | when                                                                   |
|-------------------------------|------------------------------------------------------------------------|
| `card-detail-unknown-voucher` | the detail names no repayment the treasury issued to that bank (OriVoucherNo, PayBankCode) |
| `card-detail-sum-differs`     | the detail's total (PayAmt) is not the voucher's PayAmt                   |
| `card-not-on-settlement-list` | it credits a card the voucher's card lines do not name                    |
| `card-amount-differs`         | a card of the list is credited other fen than its line(s), or not at all  |

Each break names the detail (its VoucherNo), the repayment voucher, the card where there is one,
and both fen. `CardBook` keeps the issued lists and the checked details (a msgspec record,
bounded by `KEPT_MAX`).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc

__all__ = ["BREAK_CODES", "KEPT_MAX", "CardBook", "CardBreak", "Issued", "match", "settlement_list", "stated_cards"]

BREAK_CODES = ("card-detail-unknown-voucher", "card-detail-sum-differs", "card-not-on-settlement-list",
               "card-amount-differs")
# A year of a busy region's repayments; beyond it the book refuses rather than forget one.
KEPT_MAX = 100_000


class CardBreak(msgspec.Struct, frozen=True):
    code: str  # one of BREAK_CODES
    detail_no: str  # the 7701's VoucherNo
    voucher_no: str  # the repayment (8202) it names: OriVoucherNo
    card_no: str  # "" when the break is the whole detail's
    expected_fen: int | None  # what the treasury ordered (None: nothing)
    stated_fen: int | None  # what the bank says it credited (None: nothing)

    def message(self) -> str:
        exp = "none" if self.expected_fen is None else fen_to_str(self.expected_fen)
        got = "none" if self.stated_fen is None else fen_to_str(self.stated_fen)
        card = f" card {self.card_no}" if self.card_no else ""
        return f"{self.code}: detail {self.detail_no} voucher 8202/{self.voucher_no}{card}: treasury {exp}, bank {got}"


class Issued(msgspec.Struct, frozen=True):
    """A repayment the treasury issued: its bank, its PayAmt and its settlement list."""

    bank: str  # PayBankCode
    total_fen: int
    cards: dict[str, int]  # CardNo → fen


def settlement_list(doc: VoucherDoc) -> Issued | None:
    """The settlement list of an official-card repayment voucher (8202, CardRepayFlag 1), else None."""
    if doc.vtcode != "8202" or doc.get("CardRepayFlag") != "1":
        return None
    cards: dict[str, int] = {}
    for d in doc.details():
        cards[d.get("CardNo", "")] = cards.get(d.get("CardNo", ""), 0) + parse_fen(d.get("PayAmt", "0.00"))
    return Issued(doc.get("PayBankCode"), parse_fen(doc.get("PayAmt") or "0.00"), cards)


def stated_cards(doc: VoucherDoc) -> list[tuple[str, int]]:
    """(CardNo, fen) of each line of a repayment detail (7701), in its order."""
    return [(d.get("CardNo", ""), parse_fen(d.get("PayAmt", "0.00"))) for d in doc.details()]


def match(detail_no: str, voucher_no: str, issued: Issued | None, bank: str, total_fen: int,
          stated: Iterable[tuple[str, int]]) -> list[CardBreak]:
    """The breaks of detail `detail_no` (from `bank`, total `total_fen`, lines `stated`) against the
    repayment `voucher_no` as the treasury issued it. [] agrees."""
    if issued is None or issued.bank != bank:
        return [CardBreak("card-detail-unknown-voucher", detail_no, voucher_no, "", None, total_fen)]
    breaks: list[CardBreak] = []
    if total_fen != issued.total_fen:
        breaks.append(CardBreak("card-detail-sum-differs", detail_no, voucher_no, "", issued.total_fen, total_fen))
    got: dict[str, int] = {}
    for card, fen in stated:
        if card not in issued.cards:
            breaks.append(CardBreak("card-not-on-settlement-list", detail_no, voucher_no, card, None, fen))
        else:
            got[card] = got.get(card, 0) + fen
    for card, want in issued.cards.items():
        if got.get(card) != want:
            breaks.append(CardBreak("card-amount-differs", detail_no, voucher_no, card, want, got.get(card)))
    return breaks


class CardBook(msgspec.Struct):
    """Issued repayments by VoucherNo, and each detail checked: 7701 VoucherNo → (OriVoucherNo, breaks)."""

    issued: dict[str, Issued] = msgspec.field(default_factory=dict)
    checked: dict[str, tuple[str, list[CardBreak]]] = msgspec.field(default_factory=dict)

    def issue(self, doc: VoucherDoc) -> None:
        """The treasury sent `doc`: keep its settlement list if it is a repayment."""
        found = settlement_list(doc)
        if found is not None and doc.get("VoucherNo") not in self.issued:
            if len(self.issued) >= KEPT_MAX:
                raise OverflowError(f"more than {KEPT_MAX} official-card repayments kept")
            self.issued[doc.get("VoucherNo")] = found

    def check(self, doc: VoucherDoc) -> list[CardBreak]:
        """A repayment detail (7701) arrived: match it (again, with the same result, if redelivered)."""
        no, ori = doc.get("VoucherNo"), doc.get("OriVoucherNo")
        breaks = match(no, ori, self.issued.get(ori), doc.get("PayBankCode"),
                       parse_fen(doc.get("PayAmt") or "0.00"), stated_cards(doc))
        if no not in self.checked and len(self.checked) >= KEPT_MAX:
            raise OverflowError(f"more than {KEPT_MAX} repayment details kept")
        self.checked[no] = (ori, breaks)
        return breaks

    def of_voucher(self, voucher_no: str) -> list[tuple[str, list[CardBreak]]]:
        """(detail VoucherNo, breaks) of each detail that named repayment `voucher_no`, in arrival order."""
        return [(no, b) for no, (ori, b) in self.checked.items() if ori == voucher_no]

