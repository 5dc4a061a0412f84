"""The account transaction feed in scenarios (资金流水, 000 五(二)3, (四)2; docs/accounts.md): the
scenario's treasury side of it (`FeedTap`: what it paid, and each bank's daily feed (7602)
matched against that by `treasury_sim.account_feed`), and the `account_feed` expectation.

The accounts the treasury knows as feed accounts: the world's declared unit real-fund and
fiscal special accounts, those it noticed (7601, AcctType 3 or 4), and those a feed names.

A bank serving several divisions (AdmDivCode) sends each its own feed of a day, with its own
payments' lines: feeds and payments are kept by bank, day and division, and the expectation's
`adm` selects one division's feed. Without it, every feed of the bank's day is selected (a
one-division run: its one feed) and, as the sign-off expectation reads them, looking for agreement
(`matched: true`, `breaks: 0`) every one must hold it, looking for a break at least one; a break
`voucher` is looked for in the feed of that voucher's own division.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from messages.money import parse_fen
from runner.observed import Observed
from sim.account_feed import FEED_ACCT_TYPES, FeedBreak
from treasury_sim.account_feed import FeedBook, Paid

__all__ = ["FEED_VTCODE", "FeedTap", "feed_outcome"]

FEED_VTCODE = "7602"
PAID_MAX = 100_000  # payments kept: the scenario's own limits (STEPS_MAX, BATCH_COUNT_MAX) stay far below


class FeedTap:
    def __init__(self, declared: Iterable[str] = ()) -> None:
        self.declared = set(declared)  # AcctNo of the world's type 3 / 4 accounts
        self.book = FeedBook()  # keeps every paid receipt: which are feed accounts is decided per feed

    def on_voucher(self, doc: Any, flag: int, noticed: Iterable[Any]) -> None:
        """A voucher the treasury received: a paid receipt is kept, a feed checked."""
        if flag == 1 and doc.vtcode in ("5201", "8202") and not doc.get("XReturnReason"):
            if self.book.paid_count < PAID_MAX:
                self.book.keep(Paid(doc.get("PayBankCode"), doc.get("XPayDate"), doc.vtcode, doc.get("VoucherNo"),
                                    doc.get("PayeeAcctNo"), parse_fen(doc.get("PayAmt") or "0.00")),
                               doc.get("AdmDivCode"))
        elif flag == 0 and doc.vtcode == FEED_VTCODE:
            self.book.on_feed(doc, self.declared | {r.acct_no for r in noticed if r.acct_type in FEED_ACCT_TYPES})

    def seen(self) -> dict[str, tuple[str, int, tuple[FeedBreak, ...]]]:
        """"<PayBankCode>/<yyyymmdd>/<AdmDivCode>" → (the feed's VoucherNo, its lines, its breaks) (the
        runner keys them by bank id)."""
        return {k: (self.book.feeds[k], self.book.lines[k], tuple(v)) for k, v in self.book.checked.items()}


def feed_outcome(p: Mapping[str, Any], o: Observed) -> tuple[bool, str, str]:
    """An `account_feed` expectation: (ok, expected, actual). `o.account_feeds` is keyed by the bank's
    id, the day and the division ("<bank id>/<yyyymmdd>/<AdmDivCode>"): with `adm`, that division's
    feed; without, every feed of the bank's day (see the module's docstring)."""
    when = p["day"] if isinstance(p["day"], dt.date) else dt.date.fromisoformat(str(p["day"]))
    prefix = f"{p['bank']}/{when:%Y%m%d}/"
    voucher = o.by_id(p["voucher"]) if "voucher" in p else None
    # the divisions whose feed is read: `adm`, and a break's voucher's own (its key's AdmDivCode)
    wanted = {d for d in (p.get("adm"), voucher.key.split("/", 1)[0] if voucher is not None else None) if d}
    got = [(k[len(prefix):], v) for k, v in sorted(o.account_feeds.items())
           if k.startswith(prefix) and all(k[len(prefix):] == d for d in wanted)]
    want: list[str] = []
    if "matched" in p:
        want.append("matches the treasury's payments" if p["matched"] else "does not match")
    if "breaks" in p:
        want.append(f"{p['breaks']} break(s)")
    if "code" in p or voucher is not None or "off_by" in p:
        want.append("a break" + (f" {p['code']}" if "code" in p else "")
                    + (f" on voucher {p['voucher']}" if "voucher" in p else "")
                    + (f" off by {p['off_by']}" if "off_by" in p else ""))
    whose = f" to division {p['adm']}" if "adm" in p else ""
    expected = f"{p['bank']}'s feed{whose} of {p['day']}: " + ", ".join(want or ["checked"])
    if "voucher" in p and voucher is None:
        return False, expected, f"no voucher {p['voucher']} was sent"
    if not got:
        return False, expected, f"no feed of that day{whose} was checked"
    off = parse_fen(str(p["off_by"])) if "off_by" in p else None
    looks_for_break = (p.get("matched") is False or bool(p.get("breaks")) or "code" in p or voucher is not None
                       or off is not None)
    held = [_holds(p, voucher, off, breaks) for _, (_, _, breaks) in got]
    actual = "; ".join(f"feed {feed_no} of division {div} ({lines} line(s)): "
                       + ("matched" if not breaks else "; ".join(b.message() for b in breaks))
                       for div, (feed_no, lines, breaks) in got)
    return (any(held) if looks_for_break else all(held)), expected, actual


def _holds(p: Mapping[str, Any], voucher: Any, off: int | None, breaks: tuple[FeedBreak, ...]) -> bool:
    """Whether one feed's breaks are what the expectation `p` says."""
    ok = True
    if "matched" in p:
        ok &= (not breaks) == bool(p["matched"])
    if "breaks" in p:
        ok &= len(breaks) == int(p["breaks"])
    if "code" in p or voucher is not None or off is not None:
        ok &= any(("code" not in p or b.code == p["code"])
                  and (voucher is None or (b.ori_vtcode, b.ori_voucher_no) == (voucher.vtcode, voucher.voucher_no))
                  and (off is None or (b.expected_fen is not None and b.stated_fen is not None
                                       and abs(b.stated_fen - b.expected_fen) == off))
                  for b in breaks)
    return ok
