"""Official-card repayments in scenarios (公务卡还款, 003 §30; docs/payment-kinds.md): the scenario's
treasury side of them (`CardTap`: each repayment detail (7701) a bank sent, matched by
`treasury_sim.official_cards` against the settlement list of the repayment the treasury sent) and
the `card_detail` expectation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.observed import Observed
from treasury_sim.official_cards import CardBook, CardBreak

__all__ = ["CARD_DETAIL_VTCODE", "DETAILS_MAX", "CardTap", "card_outcome"]

CARD_DETAIL_VTCODE = "7701"
DETAILS_MAX = 100_000  # details kept: the scenario's own limits (STEPS_MAX, BATCH_COUNT_MAX) stay far below


class CardTap:
    def __init__(self) -> None:
        self.details: list[Any] = []  # the 7701s that reached the treasury, in arrival order

    def on_voucher(self, doc: Any, flag: int) -> None:
        if flag == 0 and doc.vtcode == CARD_DETAIL_VTCODE and len(self.details) < DETAILS_MAX:
            self.details.append(doc)

    def checked(self, issued: Iterable[Any]) -> dict[str, tuple[tuple[str, tuple[CardBreak, ...]], ...]]:
        """Each detail matched against the repayments the treasury issued (`issued`: the 8202s it
        sent that the gateway accepted): OriVoucherNo → ((detail VoucherNo, breaks), ...)."""
        book = CardBook()
        for doc in issued:
            book.issue(doc)
        for doc in self.details:
            book.check(doc)
        out: dict[str, list[tuple[str, tuple[CardBreak, ...]]]] = {}
        for no, (ori, breaks) in book.checked.items():
            out.setdefault(ori, []).append((no, tuple(breaks)))
        return {k: tuple(v) for k, v in out.items()}


def card_outcome(p: Mapping[str, Any], o: Observed) -> tuple[bool, str, str]:
    """A `card_detail` expectation: (ok, expected, actual)."""
    voucher = o.by_id(p["voucher"])
    want: list[str] = []
    if "matched" in p:
        want.append("matches the voucher's settlement list" if p["matched"] else "does not match it")
    if "breaks" in p:
        want.append(f"{p['breaks']} break(s)")
    if "code" in p or "card" in p:
        want.append("a break" + (f" {p['code']}" if "code" in p else "") + (f" on card {p['card']}" if "card" in p else ""))
    expected = f"the repayment detail (7701) of {p['voucher']}: " + ", ".join(want or ["checked"])
    if voucher is None:
        return False, expected, f"no voucher {p['voucher']} was sent"
    got = o.card_details.get(voucher.voucher_no, ())
    if not got:
        return False, expected, f"no repayment detail named {voucher.voucher_no}"
    breaks = [b for _, bs in got for b in bs]
    actual = "; ".join(f"detail {no}: " + ("matched" if not bs else ", ".join(b.message() for b in bs))
                       for no, bs in got)
    ok = True
    if "matched" in p:
        ok &= (not breaks) == bool(p["matched"])
    if "breaks" in p:
        ok &= len(breaks) == int(p["breaks"])
    if "code" in p or "card" in p:
        ok &= any(("code" not in p or b.code == p["code"]) and ("card" not in p or b.card_no == str(p["card"]))
                  for b in breaks)
    return bool(ok), expected, actual
