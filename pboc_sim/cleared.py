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
from pboc_sim.record import add_bounded
from pboc_sim.state import Cleared, Decision, PbocState, cleared_key, flat_matched

__all__ = ["record_cleared", "refund_targets", "unmatch"]


def record_cleared(s: PbocState, adm: str, voucher_no: str, bank: str, pay_type: str, amount_fen: int,
                   payments: tuple[tuple[str, int], ...]) -> tuple[str | int, ...]:
    """Remember what an accepted 2301 cleared: itself, and each payment its details name
    (`payments`: (Detail/VoucherNo, fen)). Returns what was added to each entry (the decision's
    `matched`: key, fen, key, fen, ...)."""
    own = cleared_key(adm, "2301", voucher_no, bank)
    added: dict[str, int] = {own: amount_fen}
    vtcode = PAYMENT_VTCODE.get(pay_type, "")
    for payment_no, fen in payments if vtcode else ():
        payment = cleared_key(adm, vtcode, payment_no, bank)
        before = added.get(payment)
        added[payment] = fen if before is None else before + fen
    # A new entry takes the request's own amount object, which the decision's `matched` holds too:
    # one int a payment, not three (0 + fen makes a new one), for every payment of the day.
    for key, fen in added.items():
        item = s.cleared.get(key)
        if item is None:
            add_bounded(s, s.cleared, key, Cleared(bank, pay_type, fen, clearing=None if key == own else own),
                        CLEARED_MAX)
        else:
            item.cleared_fen += fen  # a payment named by two requests (a bank's mistake) adds up
    return flat_matched(added.items())


def unmatch(s: PbocState, decision: Decision, *, refund: bool) -> None:
    """Take back what a decision did to `cleared` (the books refused its movement)."""
    for key, fen in decision.matched_pairs():
        item = s.cleared.get(key)
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
    if item.clearing is not None and item.clearing in s.cleared:
        targets.append((item.clearing, s.cleared[item.clearing]))
    return targets
