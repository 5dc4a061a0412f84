"""What a scenario run observed: plain frozen values the runner fills and everything else reads.

The expectations (`runner.expectations`), the reconciliation (`runner.reconcile`) and the
reports (`runner.report`) are pure functions of these values; the runner (simulated or
conformance mode) is the only code that knows where they come from (the cores, the gateway's
journal and traces, the ledgers). Amounts are integer fen, times are Asia/Shanghai business
times, voucher keys are `VoucherKey` strings (`adm/year/vtcode/no/flag`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sim.account_feed import FeedBreak
    from treasury_sim.official_cards import CardBreak
    from treasury_sim.scorecard import BankMonth

__all__ = [
    "BankStatementSeen",
    "Break",
    "BudgetRefusalSeen",
    "ClearingSeen",
    "InvariantSeen",
    "LevelVerdict",
    "MessageSeen",
    "Observed",
    "PaymentSeen",
    "QuotaSeen",
    "ReceiptSeen",
    "Reconciliation",
    "RefundNoticeSeen",
    "RefundSeen",
    "ReportSeen",
    "SentVoucher",
    "TraceEvent",
    "Verdict",
    "VerdictName",
    "VoucherLines",
    "trace_path",
    "tsa_days",
]

Who = Literal["gateway", "bank", "pboc", "treasury"]


def trace_path(key: str) -> str:
    """`GET /v1/trace/{AdmDivCode}/{StYear}/{VtCode}/{VoucherNo}` of a voucher key
    (`adm/year/vtcode/no/flag`): the trace is of the voucher and its receipt, so no flag."""
    return "/v1/trace/" + "/".join(key.split("/")[:4])


@dataclass(frozen=True, slots=True)
class Verdict:
    """One answer about a voucher: the gateway's at send, a bank's or the central bank's later."""

    who: Who
    participant: str
    ok: bool
    code: str | None
    message: str
    at: dt.datetime
    status: str = ""  # the gateway's: accepted, duplicate (the same voucher again), rejected, or released (a hold)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    at: str  # business time as the gateway recorded it (ISO), or ""
    step: str
    participant: str
    detail: str


@dataclass(frozen=True, slots=True)
class SentVoucher:
    """A voucher a scenario step sent (or the generated treasury planned and sent)."""

    id: str  # the scenario's name for it
    key: str  # VoucherKey string of the original (flag 0) or receipt (flag 1)
    vtcode: str
    voucher_no: str
    flag: int
    sender: str  # treasury, pboc or a bank id
    bank: str | None  # the bank it is for (PayBankCode's participant), if any
    bank_code: str | None
    amount_fen: int
    sent_at: dt.datetime
    fault: str | None = None
    verdicts: tuple[Verdict, ...] = ()
    trace: tuple[TraceEvent, ...] = ()
    trace_link: str = ""  # where the full trace is: `trace_path(key)` on the gateway, or a report anchor

    @property
    def reached(self) -> bool:
        """Whether this submission got past the gateway. A refused one (e.g. `duplicate-conflict`
        under an accepted voucher's number) never reached its recipient: nothing a bank or the
        central bank did under that number is its."""
        return any(x.who == "gateway" and x.ok for x in self.verdicts)


@dataclass(frozen=True, slots=True)
class ReceiptSeen:
    """A receipt (flag 1) the treasury got for one of its vouchers."""

    voucher_no: str
    vtcode: str
    sender: str  # the participant the gateway says sent it
    received_at: dt.datetime
    fields: Mapping[str, str]  # the receipt's head (XPayDate, XPayAmt, XAgentBusinessNo...)
    return_reason: str | None = None
    adm: str = ""  # its AdmDivCode ("": not known): each division numbers its own vouchers
    year: str = ""  # its StYear ("": not known, or in `fields`): each year numbered afresh


@dataclass(frozen=True, slots=True)
class PaymentSeen:
    """A bank's record of paying (or holding) a voucher."""

    bank: str  # bank participant id
    bank_code: str
    voucher_no: str
    vtcode: str
    amount_fen: int
    mode: str  # clearing, advance, defer
    received_at: dt.datetime
    paid_day: dt.date | None
    filing: str | None  # VoucherNo of the 2301 that covers it
    key: str = ""  # the original's voucher key without the flag (adm/year/vtcode/no), when known


@dataclass(frozen=True, slots=True)
class ClearingSeen:
    """A clearing request (2301) a bank filed and how the central bank answered it."""

    bank: str
    bank_code: str
    voucher_no: str
    clear_type: int  # 0 normal, 1 reserve replenishment
    pay_type: str
    clear_date: dt.date
    filed_at: dt.datetime
    amount_fen: int
    payments: tuple[str, ...]  # VoucherNo of every payment it covers
    state: Literal["pending", "accepted", "rejected"]
    code: str | None = None
    reason: str | None = None
    cleared_fen: int = 0
    answered_at: dt.datetime | None = None
    # the key (adm/year/vtcode/no) of each payment in `payments`, when known (): two divisions' or
    # years' payments of one VoucherNo are two
    keys: tuple[str, ...] = ()
    # of an accepted ClearType 1, what went back to the clearing reserve (None: not known, all of it):
    # none of one for payments the bank's own funds made whole (docs/rules.md "Paying a voucher")
    reserve_fen: int | None = None


@dataclass(frozen=True, slots=True)
class RefundSeen:
    """A refund request (2302) a bank filed for a payment its payee's bank returned, and the
    central bank's answer (bank_sim.duties)."""

    bank: str
    voucher_no: str  # the payment's VoucherNo
    refund_no: str  # the 2302's VoucherNo
    amount_fen: int
    returned_at: dt.datetime
    state: Literal["pending", "accepted", "rejected"]
    code: str | None = None
    notice_no: str = ""  # the 2203 / 7105 to the treasury
    # the payment's division (the 2302's AdmDivCode) and year (its OriVouDate's; "": not known): two
    # divisions' or years' payments of one VoucherNo are two
    adm: str = ""
    ori_year: str = ""


@dataclass(frozen=True, slots=True)
class YearEndSeen:
    """A year-end notice the (generated) treasury sent (004 part 5 §6) and what came of it."""

    vtcode: str  # 7301 (cancel) | 7302 (carry forward)
    voucher_no: str
    bank: str  # the scenario's bank id
    year: str  # the budget year closed
    amount_fen: int
    confirmed_at: dt.datetime | None  # the bank's receipt (XConfirmDate)
    flagged: bool  # year-end-unconfirmed: not confirmed by its deadline


@dataclass(frozen=True, slots=True)
class BudgetRefusalSeen:
    """A unit's payment request the (generated) treasury refused for its budget (003 §52): never a voucher."""

    request_no: str
    unit: str  # AgencyCode
    code: str  # budget-none, budget-out-of-scope, budget-exceeded
    amount_fen: int
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReportSeen:
    """A bank's daily report (2206), monthly report (4004) or statement (3501) as the treasury got
    it, beside what the treasury's own books (the bank's receipts, by XPayDate) say it paid in the
    same period."""

    bank: str  # the bank's scenario id (from PayBankCode), or its code when the world has no such bank
    vtcode: str
    voucher_no: str
    begin: str  # yyyymmdd: the period it reports
    end: str
    stated_fen: int  # its PayAmt
    books_fen: int  # what the treasury's receipts from that bank paid in the period, less refunds noticed in it
    received_at: dt.datetime
    subjects: Mapping[str, int] = field(default_factory=dict)  # its lines summed by ExpFuncCode (fen)
    direct_stated_fen: int = 0  # its DirectFundAmt (direct funds, 直达资金; absent: 0)
    direct_books_fen: int = 0  # the direct funds of `books_fen`: the receipts' lines marked DirectFundFlag 1
    adm: str = ""  # its AdmDivCode ("": not known): each division is reported its own payments

    @property
    def agrees(self) -> bool:
        """It states what the treasury's books say, in all and in direct funds."""
        return self.stated_fen == self.books_fen and self.direct_stated_fen == self.direct_books_fen


# What a statement line counts money under (004 part 3 §10(3) "按基层预算单位,分资金性质、预算科目及项目"):
# (AgencyCode, PayTypeCode, FundTypeCode, ExpFuncCode, ProCode); ProCode "" when no project is named.
LineKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class VoucherLines:
    """A payment voucher the treasury sent (5201 / 8202), as its own books classify it: the lines
    a bank's statement must count it under, with the fen of each."""

    voucher_no: str
    bank: str | None  # the bank it is for (PayBankCode's scenario id)
    lines: tuple[tuple[LineKey, int], ...]
    # its key's other parts ("": not known): two divisions' or years' vouchers of one number are two
    adm: str = ""  # AdmDivCode
    year: str = ""  # StYear
    vtcode: str = ""


@dataclass(frozen=True, slots=True)
class RefundNoticeSeen:
    """A refund notice (2203 direct / 7105 authorized) a bank sent the treasury: a payment came
    back and its refund was cleared."""

    bank: str  # the bank's scenario id (from PayBankCode)
    vtcode: str
    voucher_no: str  # the notice's VoucherNo
    ori_voucher_no: str  # the payment it returns
    day: dt.date  # its VouDate: the day the refund was cleared back
    amount_fen: int
    received_at: dt.datetime
    adm: str = ""  # its AdmDivCode: the division of the payment it returns ("": not known)
    ori_year: str = ""  # the year of its OriVouDate: the payment's budget year ("": not known)


@dataclass(frozen=True, slots=True)
class BankStatementSeen:
    """A bank's monthly statement as it reached the treasury, and the treasury's sign-off of it
    (004 part 3 §10(3)): the statement to the treasury (3501), a unit's statement (7104, whose
    receipt is the unit's sign-off sheet) or the clearing reserve statement (7203)."""

    bank: str  # the bank's scenario id (from PayBankCode)
    vtcode: str
    voucher_no: str
    month: str  # YYYY-MM of its BeginDate
    received_at: dt.datetime
    head: Mapping[str, str]
    details: tuple[Mapping[str, str], ...]
    check: str | None = None  # the receipt's XCheckResult as it reached the bank: "0" agreed, "1" not; None: none
    check_remark: str = ""
    checked_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class MovementSeen:
    """A TSA movement in the central bank's books."""

    day: dt.date
    direction: Literal["D", "C"]
    amount_fen: int
    bank_code: str
    kind: str
    ref_voucher_no: str  # the 2301 / 2302 it answers


@dataclass(frozen=True, slots=True)
class StatementSeen:
    """A daily TSA statement (7401) as the central bank sent it, to division `adm` ("": not known)."""

    day: dt.date
    begin_fen: int
    debit_fen: int
    credit_fen: int
    end_fen: int
    adm: str = ""


def tsa_days(statements: Iterable[StatementSeen]) -> list[StatementSeen]:
    """The TSA's statement of each day: the divisions' 7401s of the day added up (a central bank
    serving several divisions states each its own movements, the opening balance the first's), by day."""
    last = {(s.day, s.adm): s for s in statements}  # a division's statement of a day sent twice: the last
    days: dict[dt.date, StatementSeen] = {}
    for s in last.values():
        if (seen := days.get(s.day)) is None:
            days[s.day] = dataclasses.replace(s, adm="")
        else:
            days[s.day] = StatementSeen(s.day, seen.begin_fen + s.begin_fen, seen.debit_fen + s.debit_fen,
                                        seen.credit_fen + s.credit_fen, seen.end_fen + s.end_fen)
    return [days[d] for d in sorted(days)]


@dataclass(frozen=True, slots=True)
class QuotaSeen:
    bank_code: str
    pay_type: str
    day: dt.date
    notified_fen: int
    used_fen: int
    replenished_fen: int
    fund_type: str = "1"  # FundTypeCode: a clearing quota is never pooled across fund types
    # AdmDivCode: each division's treasury notifies its own quota, never pooled with another's ("": not known)
    adm_div_code: str = ""


@dataclass(frozen=True, slots=True)
class MessageSeen:
    """One message the gateway journaled (for counts and the charts)."""

    vtcode: str
    flag: int
    sender: str
    recipient: str
    at: dt.datetime
    voucher_no: str = ""
    adm: str = ""  # its AdmDivCode ("": not known)


@dataclass(frozen=True, slots=True)
class InvariantSeen:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Break:
    """One reconciliation break: never netted away, always with its vouchers and cause."""

    cause: str  # a stable name, e.g. not-paid, no-receipt, not-cleared, statement-mismatch
    day: dt.date | None
    vouchers: tuple[str, ...]  # VoucherNo
    detail: str
    expected_fen: int | None = None
    actual_fen: int | None = None
    period: Literal["day", "month"] = "day"


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One business day as each of the three parties sees it (fen)."""

    day: dt.date
    treasury_sent_fen: int
    treasury_receipts_fen: int
    bank_paid_fen: int
    bank_cleared_fen: int  # accepted 2301 of the day (ClearType 0) + replenishments filed that day
    pboc_debits_fen: int
    statement_debits_fen: int | None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    days: tuple[DayTotals, ...]
    months: tuple[tuple[str, int, int, int], ...]  # (YYYY-MM, treasury paid, bank cleared, pboc debits)
    breaks: tuple[Break, ...]

    @property
    def clean(self) -> bool:
        return not self.breaks


Level = Literal["bank-treasury", "bank-unit", "bank-pboc", "treasury-pboc"]
VerdictName = Literal["agreed", "differs", "missing", "not-due"]
LEVELS: tuple[Level, ...] = ("bank-treasury", "bank-unit", "bank-pboc", "treasury-pboc")


@dataclass(frozen=True, slots=True)
class LevelVerdict:
    """One month at one level of the monthly reconciliation and sign-off (对账签证, 003 §40,
    004 part 3 §10(3); runner.monthly_signoff): agreed, differs (with its breaks), missing (the
    statement did not come by its deadline) or not-due (the run ended before the deadline)."""

    month: str  # YYYY-MM
    level: Level
    bank: str | None  # the bank's scenario id (None for treasury-pboc)
    unit: str | None  # AgencyCode (bank-unit only)
    verdict: VerdictName
    statements: tuple[str, ...]  # VoucherNo of the statements compared (3501, 7104, 7203, the month's 7401)
    books_fen: int  # what the other side's books say for the month
    stated_fen: int | None  # what the statement says (None: none came)
    breaks: tuple[Break, ...] = ()
    signed_off: bool | None = None  # the receipt's XCheckResult: True 0, False 1, None no receipt (or none due)
    sign_remark: str = ""
    late: bool = False  # the statement came after its deadline
    # timing items, not breaks: money on one side's books in this month and on the other's in
    # another (an advance paid on the month's last day, replenished the next business day)
    timing: tuple[str, ...] = ()
    adm: str = ""  # the division (AdmDivCode) whose books (bank-treasury, bank-unit); "" for a bank's or none

    @property
    def agreed(self) -> bool:
        return self.verdict == "agreed"


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything a run saw. `start`/`end` are the business times the run covered."""

    scenario: str
    seed: int
    start: dt.datetime
    end: dt.datetime
    sent: tuple[SentVoucher, ...] = ()
    receipts: tuple[ReceiptSeen, ...] = ()
    payments: tuple[PaymentSeen, ...] = ()
    clearings: tuple[ClearingSeen, ...] = ()
    movements: tuple[MovementSeen, ...] = ()
    statements: tuple[StatementSeen, ...] = ()
    quotas: tuple[QuotaSeen, ...] = ()
    messages: tuple[MessageSeen, ...] = ()
    invariants: tuple[InvariantSeen, ...] = ()
    # balances: owner → account → fen, at the end of the run and at each business day's close
    balances: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    closes: Mapping[dt.date, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    zero_balance_accounts: tuple[str, ...] = ()  # "owner:account" of every account flagged zero at close
    reconciliation: Reconciliation | None = None
    participants: Mapping[str, str] = field(default_factory=dict)  # scenario name → gateway participant id
    refunds: tuple[RefundSeen, ...] = ()
    # what was refused of each bank's own sends: (bank, voucher key, code), by the gateway, the
    # central bank or the treasury (the faulty profile's faults among them)
    bank_refusals: tuple[tuple[str, str, str], ...] = ()
    scorecard: tuple[BankMonth, ...] = ()  # per bank per month, from what happened (runner.scorecard_feed)
    reports: tuple[ReportSeen, ...] = ()  # the banks' 2206 / 4004 / 3501 the (scripted) treasury got
    # a unit's remaining authorized quota (fen) at the end of the run: owner ("treasury" or a bank's
    # scenario id) → AgencyCode → fen
    unit_quotas: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # the treasury's refund lines: "<AgencyCode>/<year>" → fen restored to the quota (a refund of the
    # same year), and booked as cross-year refund lines (a refund of an earlier year's payment)
    quota_restored: Mapping[str, int] = field(default_factory=dict)
    cross_year_refunds: Mapping[str, int] = field(default_factory=dict)
    budget_refusals: tuple[BudgetRefusalSeen, ...] = ()  # with world.treasury.units
    # the generated treasury's year end: its notices, and each budget year's authorized quota
    # (granted, spent, cancelled, carried, lapsed, closed)
    year_end: tuple[YearEndSeen, ...] = ()
    year_totals: Mapping[str, tuple[int, int, int, int, int, bool]] = field(default_factory=dict)
    # what is left of each cross-year refund line ("<AgencyCode>/<year paid>" → fen) after the payments from it
    cross_year_left: Mapping[str, int] = field(default_factory=dict)
    # the monthly sign-off level (runner.monthly_signoff): the banks' statements as they came with
    # the treasury's sign-offs, the treasury's own lines of its payment vouchers, the refund
    # notices it got, each month's statement deadline (YYYY-MM → business time), and the verdicts
    bank_statements: tuple[BankStatementSeen, ...] = ()
    voucher_lines: tuple[VoucherLines, ...] = ()
    refund_notices: tuple[RefundNoticeSeen, ...] = ()
    signoffs: tuple[LevelVerdict, ...] = ()
    # the scenario's divisions (AdmDivCode, world.divisions): a `count` counts only their messages, so a
    # one-division scenario run against a bank that serves a bigger world (conformance mode) does not
    # count what the bank owes the divisions the scenario has not got (their nil reports, say); (): all
    divisions: tuple[str, ...] = ()
    # the banks' account feeds (7602) the treasury checked: "<bank id>/<yyyymmdd>" → (VoucherNo, lines, breaks)
    account_feeds: Mapping[str, tuple[str, int, tuple[FeedBreak, ...]]] = field(default_factory=dict)
    # the official-card repayment details (7701) the treasury matched: repayment VoucherNo → ((7701 VoucherNo,
    # breaks), ...) (runner.card_repayments)
    card_details: Mapping[str, tuple[tuple[str, tuple[CardBreak, ...]], ...]] = field(default_factory=dict)

    def by_id(self, voucher_id: str) -> SentVoucher | None:
        return next((s for s in self.sent if s.id == voucher_id), None)
