"""What the end-of-run check (`runner.demo.check_run`) counts of the treasury's sent vouchers, in one
walk of them: a packed day makes a `PlannedVoucher` each time one is read (~2 us), so a walk per
question (the day's counts, the VoucherNos accepted and refused, the receipts' amounts) made each
several times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SentDays"]


class SentDays:
    """What `runner.demo.check_run` counts of the sent vouchers, gathered in one walk of them day by day
    (`walk` per day) instead of a walk per question; `finish` completes it from the whole run where
    the days walked did not hold every sent voucher or every receipt's voucher."""

    def __init__(self, receipts: Mapping[str, Any]) -> None:
        self.receipts = receipts
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self.wrong_amount: list[str] = []
        self.walked = self.matched = 0

    def walk(self, vouchers: Iterable[Any]) -> tuple[int, int, int]:
        """(sent, accepted, returned) of one day's sent vouchers."""
        sent = accepted = returned = 0
        receipts = self.receipts
        for v in vouchers:
            sent += 1
            no = v.voucher_no
            if v.refused is None:
                accepted += 1
                self.accepted.append(no)
            else:
                self.refused.append(no)
            r = receipts.get(no)
            if r is not None:
                returned += 1
                if r.paid_fen != v.amount_fen:
                    self.wrong_amount.append(no)
        self.walked += sent
        self.matched += returned
        return sent, accepted, returned

    def finish(self, tcore: Any) -> tuple[list[str], list[str], list[str]]:
        """(accepted VoucherNos sorted, refused, receipts whose amount differs from their voucher's)
        over the whole run: from the walk when it saw every sent voucher and every receipt's voucher
        with no amount differing, else read again as a walk per question would (the same lists)."""
        accepted, refused = self.accepted, self.refused
        if self.walked != tcore.sent_count():
            accepted, refused = [], []
            for v in tcore.iter_sent():
                (accepted if v.refused is None else refused).append(v.voucher_no)
        accepted.sort()
        wrong = self.wrong_amount
        if wrong or self.matched != len(self.receipts):  # in the receipts' own order, as a failure lists them
            wrong = [no for no, r in self.receipts.items() if r.paid_fen != tcore.vouchers[no].amount_fen]
        return accepted, refused, wrong
