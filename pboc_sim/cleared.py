"""What a refund is matched against: what the central bank cleared (`PbocState.cleared`).

The central bank sees payments only through the clearing requests: an accepted 2301 records what
it cleared under the request's own key (its AdmDivCode, StYear, VtCode 2301, VoucherNo) and, for
each Detail that names its payment voucher (Detail/VoucherNo, optional: a detail without it is a sum
by first-level unit), under that payment's key (VtCode 5201 for pay type 11, 8202 for 12).

**The payment's year** (`payment_year`). Each treasury numbers its vouchers afresh each year, so two
budget years' payments may share a number, and a Detail names no year. The central bank never sees
the payments, only what it cleared: a Detail names the payment of its number of the latest year up
to the ClearDate's year, of that year and the one before (a budget year's payments are cleared in
it, or in the next's first days), not yet cleared. Both cleared, the Detail names a payment cleared
already: the request is refused `already-cleared` (`cleared_again`, a rule of
`pboc_sim.clearing.CLEARING_RULES`), for a request clears the money the bank actually paid, once
("将当日实际支付的资金…办理资金清算", 004 part 3 §8(7), §9(11); 003 §33), and a payment cleared
twice is money wrongly drawn from the treasury (错划、误划, 004 part 3 §13(2)). It is the conformance reading's rule
(`runner.wire_mode.clearing_cover`: of the payments of the number, the one no earlier request not
refused covered, paid by the ClearDate, the latest; both years' covered: none) as far as the central
bank can see. A 2302 names the payment by OriVouDate's year (`refund_year`). A refund of a payment also counts
against the 2301 that cleared it, so the two ways of naming it never refund the same money twice.
`CLEARED_MAX` bounds what is kept: the oldest are forgotten, and a refund naming one of those is
refused `refund-unmatched`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pboc_sim.config import CLEARED_MAX, PAYMENT_VTCODE
from pboc_sim.state import SEP, Cleared, ClearedBook, Decision, PbocState, cleared_key

__all__ = ["cleared_again", "matched_keys", "payment_year", "record_cleared", "refund_targets", "refund_year",
           "unmatch"]


def payment_year(clear_year: int, cleared: Callable[[int], bool]) -> int | None:
    """The budget year of the payment a 2301's Detail names (module doc): of the ClearDate's year
    `clear_year` and the year before, the latest whose payment of the number is not yet `cleared`;
    both cleared, None (the Detail names a payment cleared already: refused `already-cleared`)."""
    for year in (clear_year, clear_year - 1):
        if not cleared(year):
            return year
    return None


def cleared_again(book: ClearedBook, adm: str, bank: str, pay_type: str, payments: tuple[tuple[str, int], ...],
                  clear_year: int) -> str | None:
    """The first Detail/VoucherNo of a 2301 (of division `adm`, bank, pay type, ClearDate in
    `clear_year`; `payments`: (Detail/VoucherNo, fen)) that names a payment cleared already
    (`payment_year` None), or None."""
    vtcode = PAYMENT_VTCODE.get(pay_type, "")
    for no in dict.fromkeys(no for no, _ in payments) if vtcode else ():
        if payment_year(clear_year, partial(_cleared, book, adm, vtcode, no, bank)) is None:
            return no
    return None


def refund_year(book: ClearedBook, adm: str, vtcode: str, no: str, bank: str, ori_year: str) -> str:
    """The year of what a 2302 refunds (module doc): OriVouDate's `ori_year`; a payment nothing
    was cleared for under it, the next year's when one was (paid late in its year, it was cleared in
    the next, under the ClearDate's year)."""
    if vtcode == "2301" or not ori_year.isdigit() or cleared_key(adm, ori_year, vtcode, no, bank) in book:
        return ori_year
    later = str(int(ori_year) + 1)
    return later if cleared_key(adm, later, vtcode, no, bank) in book else ori_year


def _cleared(book: ClearedBook, adm: str, vtcode: str, no: str, bank: str, year: int) -> bool:
    return cleared_key(adm, str(year), vtcode, no, bank) in book


def record_cleared(s: PbocState, adm: str, st_year: str, voucher_no: str, bank: str, pay_type: str,
                   amount_fen: int, payments: tuple[tuple[str, int], ...], clear_year: int) -> tuple[str | int, ...]:
    """Remember what an accepted 2301 (of `st_year`, ClearDate in `clear_year`) cleared: itself,
    and each payment its details name (`payments`: (Detail/VoucherNo, fen)), of the year
    `payment_year` gives. Returns what was added to each entry (the decision's `matched`: the
    2301's key, fen, then each payment's VoucherNo (a new one of the 2301's own StYear, kept under
    the 2301: `PbocState.cleared`) or key (one known already, of another year, or another's
    VoucherNo), fen, ...). A request naming a payment cleared already is refused before
    (`cleared_again`): ValueError here."""
    book = s.cleared
    own = cleared_key(adm, st_year, "2301", voucher_no, bank)
    vtcode = PAYMENT_VTCODE.get(pay_type, "")
    added: dict[str, int] = {}  # VoucherNo → fen (a payment named twice by the request: added up)
    for payment_no, fen in payments if vtcode else ():
        before = added.get(payment_no)
        added[payment_no] = fen if before is None else before + fen
    again = cleared_again(book, adm, bank, pay_type, tuple(added.items()), clear_year)
    if again is not None:  # before anything changes
        raise ValueError(f"{again} names a payment cleared already: the clearing rules refuse it (already-cleared)")
    # A new entry takes the request's own amount object, which the decision's `matched` holds too:
    # one int a payment, not three (0 + fen makes a new one), for every payment of the day.
    item = book.modify(own)
    if item is None:
        book.add(own, Cleared(bank, pay_type, amount_fen), CLEARED_MAX)
    else:
        item.cleared_fen += amount_fen
    matched: list[str | int] = [own, amount_fen]
    new: list[str] = []
    for no, fen in added.items():
        year = str(payment_year(clear_year, partial(_cleared, book, adm, vtcode, no, bank)))
        key = cleared_key(adm, year, vtcode, no, bank)
        if year != st_year or no in book.index or own in book.groups or SEP in no:  # not the slot's: an entry
            book.add(key, Cleared(bank, pay_type, fen, clearing=own), CLEARED_MAX)
            matched += (key, fen)
        else:
            new.append(no)
            matched += (no, fen)
    flat = tuple(matched)
    if new:
        book.add_group(own, vtcode, pay_type, flat, new, CLEARED_MAX)
    return flat


def matched_keys(s: PbocState, decision: Decision) -> list[tuple[str, int]]:
    """(entry key, fen) of each entry a decision's `matched` names: a payment named by its
    VoucherNo alone is under the 2301 first named (`record_cleared`)."""
    pairs = list(decision.matched_pairs())
    if not pairs or all(SEP in key for key, _ in pairs):
        return pairs
    own = pairs[0][0]
    group = s.cleared.groups.get(own)
    own_item = s.cleared.get(own)
    vtcode = group.vtcode if group is not None else PAYMENT_VTCODE.get(own_item.pay_type, "") if own_item else ""
    adm, year, _, _, bank = own.split(SEP)  # a payment named by VoucherNo is of the 2301's year
    return [(key if SEP in key else cleared_key(adm, year, vtcode, key, bank), fen) for key, fen in pairs]


def unmatch(s: PbocState, decision: Decision, *, refund: bool) -> None:
    """Take back what a decision did to `cleared` (the books refused its movement)."""
    for key, fen in matched_keys(s, decision):
        item = s.cleared.modify(key)
        if item is None:
            continue  # forgotten since (CLEARED_MAX)
        if refund:
            item.refunded_fen -= fen
        else:
            item.cleared_fen -= fen
            if item.cleared_fen <= 0 and item.refunded_fen == 0:
                del s.cleared[key]


def refund_targets(s: PbocState, ori: str) -> list[tuple[str, Cleared]]:
    """What a refund of `ori` counts against: `ori` itself and, for a payment, the 2301 that
    cleared it (when still known)."""
    item = s.cleared.get(ori)
    if item is None:
        return []
    targets = [(ori, item)]
    if item.clearing is not None:
        clearing = s.cleared.get(item.clearing)
        if clearing is not None:
            targets.append((item.clearing, clearing))
    return targets
