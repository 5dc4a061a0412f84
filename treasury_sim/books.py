"""The treasury core's own books, checked after every input (`sim.books.BooksError`, never an assert).

Running totals kept as the state changes, so a check costs O(what the input touched), the same at
the first voucher as at the hundred-thousandth:

| rule                         | holds                                                                       |
|------------------------------|-----------------------------------------------------------------------------|
| `clearing-quota-non-negative`| per day, bank, pay type, fund type and first-level unit, the clearing quota noticed (5108 / 5106 lines) less the vouchers sent against it is never below 0: no voucher sent twice or beyond its notice |
| `planned-once`               | the vouchers booked as planned are the vouchers indexed: no day planned twice |
| `sent-within-plan`           | no more vouchers sent than planned                                          |
| `refused-once`               | the refusals booked are the vouchers marked refused; refused fen <= planned fen |
| `tsa-debits`                 | the TSA debits expected (by day) add up to planned less refused, no day below 0 |
| `receipts-once`              | one kept receipt per voucher (the list saved = the index by VoucherNo)      |
| `refunds-booked`             | every fen refunded is restored to a unit's quota or booked as a cross-year refund |
| `suspensions-consistent`     | standing orders = orders sent less lifts, never below 0                     |
| `indicator-non-negative`     | with budget units: no indicator spent beyond its amount (003 §6, §52)      |
| `year-end-balanced`          | every closed year's authorized quota: granted = spent + cancelled (7301) + carried (7302) + lapsed, to the fen (004 part 5 §6) |

`verify` checks the same from scratch when a state is loaded (O(state), once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from messages.money import fen_to_str, parse_fen
from sim.books import BooksError
from treasury_sim.bank_reports import BankInbox
from treasury_sim.budget import BudgetBook
from treasury_sim.records import DayPlan, PlannedVoucher
from treasury_sim.state import CORE, TreasuryState
from treasury_sim.suspensions import SuspensionLog
from treasury_sim.tsa import TsaBook

__all__ = ["TreasuryBooks"]


def _quota_key(day: dt.date, bank: str, pay_type: str, fund_type: str, sup_dep: str) -> str:
    return f"{day.isoformat()}/{bank}/{pay_type}/{fund_type}/{sup_dep}"


@dataclass(slots=True)
class TreasuryBooks:
    quota_left: dict[str, int] = field(default_factory=dict)  # `_quota_key` → fen noticed less sent
    planned_n: int = 0
    sent_n: int = 0
    refused_n: int = 0
    touched: list[str] = field(default_factory=list)  # quota keys the input being handled changed

    def planned(self, day: dt.date, plan: DayPlan) -> None:
        """A day planned: its clearing quota notices issue quota, its vouchers are booked."""
        for notice in plan.quota_notices:
            head = notice.head
            for line in notice.details:
                k = _quota_key(day, head["PayBankCode"], head["PayTypeCode"], head["FundTypeCode"], line["SupDepCode"])
                self.quota_left[k] = self.quota_left.get(k, 0) + parse_fen(line["PayAmt"])
        self.planned_n += len(plan.vouchers)

    def sent(self, v: PlannedVoucher) -> None:
        k = _quota_key(v.day, v.bank, v.pay_type, v.fund_type, v.sup_dep[0])
        self.quota_left[k] = self.quota_left.get(k, 0) - v.amount_fen
        self.sent_n += 1
        self.touched.append(k)

    def refused(self) -> None:
        self.refused_n += 1

    def check(self, state: TreasuryState, tsa: TsaBook, vouchers: int, receipts: int,
              budget: BudgetBook | None = None) -> None:
        """After an input: what it touched, and the totals. `vouchers`, `receipts`: the core's indexes'
        sizes; `budget`: the indicators, with budget units."""
        touched, self.touched = self.touched, []
        for k in touched:
            if self.quota_left[k] < 0:
                _broke("clearing-quota-non-negative", f"{k}: {fen_to_str(-self.quota_left[k])} sent beyond the "
                       "clearing quota noticed")
        if self.planned_n != vouchers:
            _broke("planned-once", f"{self.planned_n} vouchers booked as planned, {vouchers} indexed")
        if self.sent_n > self.planned_n:
            _broke("sent-within-plan", f"{self.sent_n} sent of {self.planned_n} planned")
        if self.refused_n != len(state.refused) or tsa.refused_fen > tsa.planned_fen:
            _broke("refused-once", f"{self.refused_n} refusals booked, {len(state.refused)} vouchers refused; "
                   f"refused {fen_to_str(tsa.refused_fen)} of {fen_to_str(tsa.planned_fen)} planned")
        days, tsa.touched = tsa.touched, []
        if tsa.debit_fen != tsa.planned_fen - tsa.refused_fen or any(tsa.debit(d) < 0 for d in days):
            _broke("tsa-debits", f"expected debits {fen_to_str(tsa.debit_fen)}, planned {fen_to_str(tsa.planned_fen)}"
                   f" less refused {fen_to_str(tsa.refused_fen)}; days {', '.join(map(str, days)) or '-'}")
        kept = len(state.receipts) + len(state.receipt_log.records)
        if kept != receipts:
            _broke("receipts-once", f"{kept} receipts kept, {receipts} vouchers with a receipt")
        _check_refunds(state.bank_inbox)
        _check_suspensions(state.suspensions)
        unbalanced = state.quotas.unbalanced()
        if unbalanced:
            _broke("year-end-balanced", unbalanced[0])
        if budget is not None:
            spent, budget.touched = budget.touched, []
            for k in spent:
                if budget.left(k) < 0:
                    _broke("indicator-non-negative", f"{k}: {fen_to_str(-budget.left(k))} approved beyond the "
                           "indicator")

    def verify(self, state: TreasuryState, tsa: TsaBook, vouchers: int, receipts: int,
               budget: BudgetBook | None = None) -> None:
        """A loaded state checked from scratch: the running totals against what they add up."""
        inbox = state.bank_inbox
        sums = (sum(inbox.refunded.values()), sum(inbox.quota_restored.values()),
                sum(inbox.cross_year_refunds.values()))
        if sums != (inbox.refunded_fen, inbox.restored_fen, inbox.cross_year_fen):
            _broke("refunds-booked", f"refunded, restored, cross-year {sums}, their running totals "
                   f"{(inbox.refunded_fen, inbox.restored_fen, inbox.cross_year_fen)}")
        log = state.suspensions
        standing: dict[str, str] = {}
        orders = lifts = 0
        for r in log.entries:
            if r.action == "order":
                standing[r.order_key], orders = r.voucher_no, orders + 1
            elif r.action == "lift":
                standing.pop(r.order_key, None)
                lifts += 1
        if (orders, lifts, set(standing)) != (log.orders, log.lifts, set(log.open_orders)):
            _broke("suspensions-consistent", f"the records give {orders} orders, {lifts} lifts, standing "
                   f"{sorted(standing)}; the log says {log.orders}, {log.lifts}, {sorted(log.open_orders)}")
        self.check(state, tsa, vouchers, receipts, budget)


def _check_refunds(inbox: BankInbox) -> None:
    if inbox.restored_fen + inbox.cross_year_fen != inbox.refunded_fen:
        _broke("refunds-booked", f"refunded {fen_to_str(inbox.refunded_fen)}, restored "
               f"{fen_to_str(inbox.restored_fen)} + cross-year {fen_to_str(inbox.cross_year_fen)}")


def _check_suspensions(log: SuspensionLog) -> None:
    if log.lifts > log.orders or len(log.open_orders) != log.orders - log.lifts:
        _broke("suspensions-consistent", f"{len(log.open_orders)} standing, {log.orders} orders less {log.lifts} "
               "lifts")


def _broke(rule: str, detail: str) -> None:
    raise BooksError(CORE, rule, detail)
