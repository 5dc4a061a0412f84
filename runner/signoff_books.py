"""The treasury's books the monthly sign-off (`runner.monthly_signoff`) compares statements with,
kept by bank, division (AdmDivCode) and month, each voucher by its key (AdmDivCode, StYear, VtCode,
VoucherNo): each division's treasury numbers its own vouchers, each year afresh, so two divisions'
or years' vouchers of one number are two, and each division's statements (3501, 7104) answer for
its own payments only.

A record whose division, year or kind is not known (hand-made observations) joins the one voucher
of its number whose known parts agree; with several it joins none. A run whose vouchers carry no
division at all is one division ("")."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from runner.observed import (
    BankStatementSeen,
    ClearingSeen,
    LineKey,
    ReceiptSeen,
    RefundNoticeSeen,
    VoucherLines,
)
from runner.reconcile import PAYMENT_VTCODES, receipt_day

__all__ = ["Books", "VKey", "statement_adm"]

VKey = tuple[str, str, str, str]  # (AdmDivCode, StYear, VtCode, VoucherNo); "" where not known
REFUNDED_VTCODE = {"2203": "5201", "7105": "8202"}  # a refund notice's kind → the payment's it returns


def _month(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def statement_adm(s: BankStatementSeen, divisional: bool) -> str:
    """The division a statement answers for: its AdmDivCode ("" in a run without divisions)."""
    return s.head.get("AdmDivCode", "") if divisional else ""


class Books:
    """The treasury's books by (bank, division, month): fen and vouchers per statement line; the
    first good receipt of each voucher by its key."""

    def __init__(self, voucher_lines: Sequence[VoucherLines], receipts: Sequence[ReceiptSeen],
                 refund_notices: Sequence[RefundNoticeSeen]) -> None:
        self.fen: dict[tuple[str, str, str], dict[LineKey, int]] = defaultdict(lambda: defaultdict(int))
        self.nos: dict[tuple[str, str, str], dict[LineKey, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.divisional = any(v.adm for v in voucher_lines)
        self.lines: dict[VKey, VoucherLines] = {}
        self._by_no: dict[str, list[VKey]] = defaultdict(list)
        for v in voucher_lines:
            own: VKey = (v.adm if self.divisional else "", v.year, v.vtcode, v.voucher_no)
            if own not in self.lines:
                self._by_no[v.voucher_no].append(own)
            self.lines[own] = v
        self.received: dict[VKey, ReceiptSeen] = {}
        for r in sorted(receipts, key=lambda r: r.received_at):
            if r.vtcode in PAYMENT_VTCODES and r.return_reason is None:
                key = self.find(r.adm, r.year or r.fields.get("StYear", ""), r.vtcode, r.voucher_no)
                if key is not None:
                    self.received.setdefault(key, r)
        for key, r in self.received.items():
            v = self.lines[key]
            self._add((v.bank or r.sender, key[0], _month(receipt_day(r))), v.lines, key[3], 1)
        for n in refund_notices:
            found = (self.find(n.adm, n.ori_year, REFUNDED_VTCODE.get(n.vtcode, ""), n.ori_voucher_no)
                     or self.find(n.adm, n.ori_year, "", n.ori_voucher_no))
            paid = None if found is None else self.lines[found]
            if found is None or paid is None or not paid.lines:
                continue
            whole = sum(fen for _, fen in paid.lines)
            refunded = paid.lines if whole == n.amount_fen else ((paid.lines[0][0], n.amount_fen),)
            self._add((n.bank, found[0], _month(n.day)), refunded, n.ori_voucher_no, -1)

    def find(self, adm: str, year: str, vtcode: str, no: str) -> VKey | None:
        """The key of the voucher a record of (division, year, kind, number) names: its own when the
        books have it, else the one voucher of the number whose known parts agree (None: none, or
        several)."""
        adm = adm if self.divisional else ""
        if (adm, year, vtcode, no) in self.lines:
            return (adm, year, vtcode, no)
        fits = [k for k in self._by_no.get(no, ())
                if all(not a or not b or a == b for a, b in zip((adm, year, vtcode), k[:3], strict=True))]
        return fits[0] if len(fits) == 1 else None

    def key_of_payment(self, key: str, vtcode: str, no: str) -> VKey | None:
        """The books' key of a payment recorded with its key string "adm/year/vtcode/no" (or "")."""
        parts = key.split("/")
        return self.find(*parts) if len(parts) == 4 else self.find("", "", vtcode, no)

    def covered(self, c: ClearingSeen) -> list[VKey]:
        """The received payments a clearing request covers, by their keys when it has them."""
        keys = c.keys if len(c.keys) == len(c.payments) else ("",) * len(c.payments)
        found = (self.key_of_payment(key, "", no) for key, no in zip(keys, c.payments, strict=True))
        return [k for k in found if k is not None and k in self.received]

    def _add(self, where: tuple[str, str, str], lines: Iterable[tuple[LineKey, int]], no: str, sign: int) -> None:
        for key, fen in lines:
            self.fen[where][key] += sign * fen
            self.nos[where][key].add(no)

    def divisions(self, bank: str, month: str, stated: Iterable[str]) -> list[str]:
        """The divisions with books or a statement (`stated`) at `bank` in `month`."""
        return sorted({a for (b, a, m) in self.fen if (b, m) == (bank, month)} | set(stated))

    def whole(self, key: VKey) -> int:
        return sum(f for _, f in self.lines[key].lines)

    def of(self, bank: str, adm: str, month: str) -> tuple[Mapping[LineKey, int], Mapping[LineKey, set[str]]]:
        return self.fen.get((bank, adm, month), {}), self.nos.get((bank, adm, month), {})
