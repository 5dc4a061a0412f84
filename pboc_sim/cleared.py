"""What a refund is matched against: what the central bank cleared (`PbocState.cleared`).

The central bank sees payments only through the clearing requests: an accepted 2301 records what
it cleared under the request's own key (VtCode 2301) and, for each Detail that names its payment
voucher (Detail/VoucherNo, optional: a detail without it is a sum by first-level unit), under that
payment's key (VtCode 5201 for pay type 11, 8202 for 12). A refund of a payment also counts
against the 2301 that cleared it, so the two ways of naming it never refund the same money twice.
`CLEARED_MAX` bounds what is kept: the oldest are forgotten, and a refund naming one of those is
refused `refund-unmatched`.
"""

from __future__ import annotations

from pboc_sim.config import CLEARED_MAX, PAYMENT_VTCODE
from pboc_sim.state import SEP, Cleared, Decision, PbocState, cleared_key

__all__ = ["matched_keys", "record_cleared", "refund_targets", "unmatch"]


def record_cleared(s: PbocState, adm: str, voucher_no: str, bank: str, pay_type: str, amount_fen: int,
                   payments: tuple[tuple[str, int], ...]) -> tuple[str | int, ...]:
    """Remember what an accepted 2301 cleared: itself, and each payment its details name
    (`payments`: (Detail/VoucherNo, fen)). Returns what was added to each entry (the decision's
    `matched`: the 2301's key, fen, then each payment's VoucherNo (a new one, kept under the
    2301: `PbocState.cleared`) or key (one known already, or another's VoucherNo), fen, ...)."""
    book = s.cleared
    own = cleared_key(adm, "2301", voucher_no, bank)
    vtcode = PAYMENT_VTCODE.get(pay_type, "")
    added: dict[str, int] = {}  # VoucherNo → fen (a payment named twice by the request: added up)
    for payment_no, fen in payments if vtcode else ():
        before = added.get(payment_no)
        added[payment_no] = fen if before is None else before + fen
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
        key = cleared_key(adm, vtcode, no, bank)
        item = book.modify(key)
        if item is not None:
            item.cleared_fen += fen  # a payment named by two requests (a bank's mistake) adds up
            matched += (key, fen)
        elif no in book.index or own in book.groups or SEP in no:  # the slot is another's: an entry
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
    adm, _, _, bank = own.split(SEP)
    return [(key if SEP in key else cleared_key(adm, vtcode, key, bank), fen) for key, fen in pairs]


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
