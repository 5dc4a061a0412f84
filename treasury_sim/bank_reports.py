"""What the treasury does with the agent bank's refund notices, reports and statements, pure.

| VtCode | from the bank                         | the treasury                                                    |
|--------|---------------------------------------|-----------------------------------------------------------------|
| 2203 / 2252 | refund notice (a payment came back) | restores the unit's quota for a refund of the same year; an earlier year's refund becomes a cross-year refund line (003 §36) |
| 2206   | daily expenditure report              | recorded                                                        |
| 7103   | credit notice (财政资金直接支付入账通知书)             | recorded (passed on to the unit)                                |
| 4004   | monthly expenditure report            | recorded                                                        |
| 3501   | monthly statement (对账单)             | signs it off (对账签证) with its receipt: XCheckResult 0 when PayAmt equals what the bank's receipts for that month paid less the refunds it noticed that month (the statement is net of refunds, 004 part 5 §2), else 1 with XCheckRemark (a break, never netted away) |

`BankInbox` keeps what arrived (when, for the scorecard) and the quota restored by unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str
from messages.voucher import VoucherDoc
from sim.effects import Effect, SendVoucher

__all__ = ["HANDLED", "BankInbox"]

HANDLED = frozenset({"2203", "2252", "2206", "4004", "3501", "7103"})
# Notices and reports kept: a year of a few banks' days and refunds.
KEPT_MAX = 100_000


@dataclass(slots=True)
class BankInbox:
    received: dict[str, str] = field(default_factory=dict)  # voucher key → ISO time it arrived
    quota_restored: dict[str, int] = field(default_factory=dict)  # "<AgencyCode>/<year>" → fen
    cross_year_refunds: dict[str, int] = field(default_factory=dict)  # "<AgencyCode>/<year paid>" → fen
    sign_offs: dict[str, str] = field(default_factory=dict)  # 3501 VoucherNo → "0" or "1: remark"
    refunded: dict[str, int] = field(default_factory=dict)  # "<PayBankCode>/<notice VouDate>" → fen refunded

    def on_voucher(self, doc: VoucherDoc, now: dt.datetime, paid_in: Callable[[str, str, str], int],
                   agency_of: Callable[[str], str]) -> list[Effect]:
        """`paid_in(bank, begin, end)`: what that bank's receipts paid in yyyyMMdd..yyyyMMdd;
        `agency_of(voucher_no)`: the unit of a payment voucher (2252 does not name it)."""
        key = str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"), 0))
        if key in self.received:
            return []
        if len(self.received) >= KEPT_MAX:
            self.received.pop(next(iter(self.received)))
        self.received[key] = now.isoformat()
        if doc.vtcode in ("2203", "2252"):
            agency = doc.get("AgencyCode") or agency_of(doc.get("OriVoucherNo"))
            year = doc.get("OriVouDate")[:4]
            book = self.quota_restored if year == str(now.year) else self.cross_year_refunds
            k = f"{agency}/{year}"
            book[k] = book.get(k, 0) + doc.amount_fen("PayAmt")
            day = f"{doc.get('PayBankCode')}/{doc.get('VouDate')}"
            self.refunded[day] = self.refunded.get(day, 0) + doc.amount_fen("PayAmt")
            return []
        if doc.vtcode != "3501":
            return []
        stated = doc.amount_fen("PayAmt")
        bank, begin, end = doc.get("PayBankCode"), doc.get("BeginDate"), doc.get("EndDate")
        expected = paid_in(bank, begin, end) - sum(fen for k, fen in self.refunded.items()
                                                   if k.split("/")[0] == bank and begin <= k.split("/")[1] <= end)
        x = {"XCheckResult": "0" if stated == expected else "1", "XCheckDate": format_ymd(now.date())}
        if stated != expected:
            x["XCheckRemark"] = f"statement {fen_to_str(stated)}, receipts less refunds {fen_to_str(expected)}"
        self.sign_offs[doc.get("VoucherNo")] = x["XCheckResult"] + (f": {x['XCheckRemark']}" if stated != expected
                                                                     else "")
        return [SendVoucher("3501", 1, {**doc.head(), **x}, tuple(doc.details()), "bank", original=doc.data,
                            encoding=doc.encoding)]

    def to_plain(self) -> dict[str, Any]:
        return {"received": self.received, "quota_restored": self.quota_restored,
                "cross_year_refunds": self.cross_year_refunds, "sign_offs": self.sign_offs, "refunded": self.refunded}

    @classmethod
    def from_plain(cls, data: Mapping[str, Any] | None) -> BankInbox:
        if not data:
            return cls()
        return cls(dict(data["received"]), {k: int(v) for k, v in data["quota_restored"].items()},
                   {k: int(v) for k, v in data["cross_year_refunds"].items()}, dict(data["sign_offs"]),
                   {k: int(v) for k, v in data.get("refunded", {}).items()})
