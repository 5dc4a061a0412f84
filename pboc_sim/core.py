"""The central bank (人民银行国库) as a sans-IO core: state + voucher + time → effects.

`PbocCore` never awaits, never reads a clock, never touches a database. Its only entry points:

* `on_voucher(doc, flag, now, return_reason=None)`: a checked, signature-verified voucher arrived;
* `on_time(now)`: the business time is now `now`;
* `on_refused(refusal, now)`: something it asked for did not happen (`sim.effects.Refusal`).

Both return a list of effects (frozen dataclasses) for the shell to perform, in order:
`OpenAccount`, `PostTransfer`, `SendVoucher`, `WakeAt`, `Alarm`.

Accounts (ids in the ledger):

    pboc:tsa                  treasury single account (no overdraft)
    pboc:clearing:<bank>      each agent bank's clearing account at the central bank
    pboc:fiscal-revenue       where the TSA's opening balance comes from (double entry)

What the core does with each voucher:

* **5108 / 5106 quota notice** (direct 11 / authorized 12), flag 0. Adds to the clearing quota of
  (PayBankCode, pay type, FundTypeCode, ClearDate): quota is never pooled across fund types, so a
  2301 of one fund type draws only on its own fund type's quota (003 §33, 004 part 5 §1). A notice whose ClearDate is not today, or arriving on a
  day that is not a business day, is refused `wrong-day`; one whose details do not add up,
  `amount-mismatch`. Quota notices have no receipt in the catalog, so a refusal is recorded
  (`rejected_notices`) and raised as an `Alarm`; nothing is sent back. Several notices for the
  same key add up (a supplementary notice).
* **2301 clearing request**, flag 0, checked against `CLEARING_RULES` (below), first failing rule
  wins. Accepted: TSA → bank clearing account (`clearing`, or `reserve-replenishment` for
  ClearType 1), and the receipt goes back.
* **2302 refund request**, flag 0, checked against `REFUND_RULES` (below), first failing rule
  wins. Accepted: bank clearing account → TSA (`refund`), receipt with XRefundDate /
  XRefundAmt, and a 7403 refund-credited advice to the treasury. Booked on today if a business
  day before the bank system close, else on the next business day (so a day's statement,
  emitted at its close, is final). Refused: the receipt carries `Return_Reason` "<code>:
  <message>" (`refund-unmatched`, `already-refunded`, `refund-exceeds-payment`,
  `below-clearing-floor`), XRefundDate today and **XRefundAmt "0.00"**; nothing moves, no 7403.
* **3502 receipt** (flag 1) from the treasury: its check result is recorded.
* Anything else: an `Alarm`, nothing sent.

**The rejection convention (2301).** Every clearing request gets exactly one answer, a
VoucherFlag 1 body of the same voucher key:

* accepted: X-fields XClearDate (today), XClearAmt (= PayAmt), XPbocSerialNo (`RH…`), no
  Return_Reason;
* rejected: `Return_Reason` = "<code>: <message>" with a stable code from `messages.errors`
  (`after-cutoff`, `over-quota`, `no-quota-notice`, `amount-mismatch`, `wrong-day`,
  `outside-window`, `insufficient-funds`), and the X-fields filled so the receipt validates:
  XClearDate (today), **XClearAmt "0.00"** (nothing was cleared) and XPbocSerialNo `RJ…`.

A reader can rely on either signal: Return_Reason present ⇔ XClearAmt is 0.00 ⇔ rejected.
The bank sends a corrected request under a new VoucherNo. A repeat of a decided request
(same key, e.g. redelivered after a crash before the ack) gets the very same effects again:
the same receipt and the same transfer id, which the ledger applies once.

**Refused by the books (`on_refused`).** The core's records follow its ledger. A clearing the
ledger refused (the TSA would be overdrawn: the core's view and the books disagree) is undone (its
movement, the quota it used, the TSA balance) and answered as a rejection after all: the receipt
goes back with `Return_Reason` "<ledger code>: ..." and XClearAmt 0.00, and a redelivery gets the
same rejection. A refund the ledger refused is undone and recorded in `refused_by_books` (no
receipt, no 7403). An account the ledger did not open is opened again when next needed. A send
the gateway refused is recorded in `refused_sends` (the shell raised the alarm).

**What a refund is matched against (`cleared`).** The central bank sees payments only through
the clearing requests: an accepted 2301 records what it cleared under the request's own key
(VtCode 2301) and, for each Detail that names its payment voucher (Detail/VoucherNo, optional:
a detail without it is a sum by first-level unit), under that payment's key (VtCode 5201 for
pay type 11, 8202 for 12). A 2302 names what it refunds by OriVtCode / OriVoucherNo; it must
be of the same bank (PayBankCode) and pay type as the clearing, and PayAmt must not exceed what
was cleared for it and not yet refunded; a refund of a payment also counts against the 2301
that cleared it, so the two ways of naming it never refund the same money twice. OriVouDate is
not compared (a Detail does not carry the payment's date). A bank whose 2301 details are unit
sums refunds by naming the 2301. `CLEARED_MAX` bounds what is kept: the oldest are forgotten,
and a refund naming one of those is refused `refund-unmatched`.

**The clearing floor.** Each bank's clearing account at the central bank must not go below its
floor (`PbocConfig.clearing_floor_fen`, or a per-bank value in `clearing_floors`; 0 by
default). Clearings only credit it; a refund debits it, and one that would take it below its
floor is refused `below-clearing-floor`. The core keeps each bank's balance
(`clearing_balances`), moved with every movement it records.

**Reserve replenishment (ClearType 1).** A payment the bank makes after the clearing cutoff is
advanced from its clearing reserve account; the central bank cannot see those payments, only
the quota the treasury notified. So the *advance cap* of (bank, pay type, day D) is the part of
D's quota not cleared by D's cutoff. A ClearType 1 request names the advance day as ClearDate;
it is accepted only on `replenishment_day(D)` (the next business day) inside the replenishment
window, up to the advance cap less what was already replenished, and it does not use D's quota
(it is the rest of it). The receipt keeps ClearType 1 and the transfer kind is
`reserve-replenishment`.

**Statements.** At each business day's bank system close the core emits the 7401 daily TSA
statement for that day, from its own record of transfers (BeginBalance, DebitAmt, CreditAmt,
EndBalance, one Detail per movement). A day without movements gets one too, with no DetailList,
DebitAmt and CreditAmt 0.00 and EndBalance = BeginBalance: the treasury expects a statement
every business day, and an empty one says "nothing moved". The first statement is for the day
the core starts on (the next business day if it starts after that day's close). At the close of
the first business day of a month it also emits the 3502 reconciliation for the previous
calendar month (debits by bank and pay type; no DetailList if nothing was debited), for every
month the core kept the books in.

**Snapshots.** `snapshot()` gives the whole state as JSON-ready plain data (dates as ISO
strings, amounts as int fen); `load_snapshot(data)` (or `PbocCore.restore(data, ...)`) puts it
back into a core built with the same config, which then behaves exactly as the one snapshotted.
The shell stores it with each delivery's ledger work (see `gateway.sim_shell`). A decided
request is kept as its decision (transfers, X-fields, Return_Reason, refund advice), and the
receipt is rebuilt from the redelivered voucher, which the gateway guarantees is the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from business_time.calendar import BusinessCalendar
from business_time.clock import (
    ClockConfig,
    at,
    is_before_clearing_cutoff,
    replenishment_day,
    replenishment_window,
)
from ledger.model import Account, AccountFlags, Transfer
from messages.dates import format_ymd, parse_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, Refusal, SendVoucher, WakeAt
from sim.snapshot import (
    Lazy,
    check_snapshot_header,
    config_fingerprint,
    date_from_plain,
    date_to_plain,
    key_from_plain,
    key_to_plain,
    send_from_plain,
    send_to_plain,
    transfer_from_plain,
    transfer_to_plain,
)

__all__ = [
    "CLEARING_RULES",
    "REFUND_RULES",
    "REVENUE_ACCOUNT",
    "TSA_ACCOUNT",
    "Alarm",
    "Cleared",
    "ClearingRule",
    "Effect",
    "Movement",
    "OpenAccount",
    "PbocConfig",
    "PbocCore",
    "PostTransfer",
    "QuotaLine",
    "RefundRule",
    "SendVoucher",
    "WakeAt",
    "clearing_account",
]

TSA_ACCOUNT = "pboc:tsa"
REVENUE_ACCOUNT = "pboc:fiscal-revenue"

# Quota notice VtCode → the pay type it sets the quota for.
QUOTA_PAY_TYPE: Mapping[str, str] = {"5108": "11", "5106": "12"}

# Decided requests kept for replay. A busy day is a few thousand clearing requests per bank;
# beyond this many the oldest decisions are forgotten (the gateway's own dedup covers them).
DECISIONS_MAX = 1_000_000
# Pay type → the payment voucher a 2301 Detail/VoucherNo names (what a 2302's OriVtCode says).
PAYMENT_VTCODE: Mapping[str, str] = {"11": "5201", "12": "8202"}
# What was cleared, kept for matching refunds: one entry per accepted 2301 and per payment its
# details name. A refund can come months later (cross-year refunds exist, 003 §36), so the
# bound is generous: a year of a big city's payments. Beyond it the oldest are forgotten.
CLEARED_MAX = 2_000_000
# The layout of `PbocCore.snapshot()`. 2: refunds matched to what was cleared, clearing balances.
# 3: quotas keyed by fund type too. 4: decisions and what was cleared are kept per bank (each
# bank numbers its own vouchers).
SNAPSHOT_VERSION = 4


def clearing_account(bank_code: str) -> str:
    return f"pboc:clearing:{bank_code}"


# ---------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class PbocConfig:
    """Who this central bank branch is. Synthetic defaults, never real codes."""

    adm_div_code: str = "990100"
    clear_bank_code: str = "999000000001"
    clear_bank_name: str = "示例人民银行示例市分行国库"
    tsa_acct_no: str = "99900000000000001"
    tsa_acct_name: str = "示例市国库单一账户"
    tsa_opening_fen: int = 0  # posted once, from REVENUE_ACCOUNT, before anything else
    # The lowest balance a bank's clearing account may reach (int fen; negative = an allowed
    # overdraft): `clearing_floors` per bank code, `clearing_floor_fen` for every other bank.
    clearing_floor_fen: int = 0
    clearing_floors: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.tsa_opening_fen, int) or self.tsa_opening_fen < 0:
            raise ValueError(f"tsa_opening_fen must be an int >= 0, not {self.tsa_opening_fen!r}")
        for bank, floor in (("*", self.clearing_floor_fen), *self.clearing_floors):
            if not isinstance(floor, int) or isinstance(floor, bool):
                raise ValueError(f"clearing floor of bank {bank} must be an int (fen), not {floor!r}")
        if len({bank for bank, _ in self.clearing_floors}) != len(self.clearing_floors):
            raise ValueError("clearing_floors names a bank twice")

    def clearing_floor(self, bank_code: str) -> int:
        """The lowest balance bank `bank_code`'s clearing account may reach."""
        return dict(self.clearing_floors).get(bank_code, self.clearing_floor_fen)


# The effects live in `gateway.effects` (shared by every simulator) and are re-exported here.


# ---------------------------------------------------------------- state records


@dataclass(slots=True)
class QuotaLine:
    """Clearing quota of one (bank, pay type, fund type, day)."""

    notified_fen: int = 0
    used_fen: int = 0  # cleared by normal (ClearType 0) requests on the day
    replenished_fen: int = 0  # cleared by ClearType 1 on the next business day
    notices: list[str] = field(default_factory=list)

    @property
    def remaining_fen(self) -> int:
        return self.notified_fen - self.used_fen

    @property
    def advance_cap_fen(self) -> int:
        """What may still be replenished: the quota not cleared on the day, less replenishments."""
        return self.notified_fen - self.used_fen - self.replenished_fen


@dataclass(frozen=True, slots=True)
class Movement:
    """One TSA movement as the core recorded it (the statements are built from these)."""

    business_date: dt.date
    direction: Literal["D", "C"]  # D: out of the TSA, C: into it
    amount_fen: int
    bank_code: str
    bank_name: str
    pay_type: str
    kind: str
    ref: VoucherKey
    transfer_id: str


# What was cleared is keyed (AdmDivCode, VtCode, VoucherNo, bank code): VtCode 2301 for a clearing
# request, 5201 / 8202 for a payment one of its details named; the bank that cleared it, since each
# bank numbers its own vouchers (two banks' 2301 No. X are two requests).
ClearedKey = tuple[str, str, str, str]
# A decided 2301 / 2302: its key and the bank that sent it (its PayBankCode, which the gateway
# checked names the sender), for the same reason.
DecisionKey = tuple[VoucherKey, str]
# A clearing quota is keyed (PayBankCode, PayTypeCode, FundTypeCode, ClearDate).
QuotaKey = tuple[str, str, str, dt.date | None]


@dataclass(slots=True)
class Cleared:
    """What the central bank cleared under one voucher, and how much of it came back."""

    bank: str
    pay_type: str
    cleared_fen: int
    refunded_fen: int = 0
    clearing: ClearedKey | None = None  # a payment: the 2301 that cleared it

    @property
    def refundable_fen(self) -> int:
        return self.cleared_fen - self.refunded_fen


@dataclass(frozen=True, slots=True)
class _Decision:
    """How a 2301 / 2302 was answered: enough to give the same effects again for the same voucher."""

    transfers: tuple[Transfer, ...]
    xfields: Mapping[str, str]
    return_reason: str | None = None
    advice: Mapping[str, str] | None = None  # the head of the 7403 a refund sends the treasury
    # What it did to `PbocCore.cleared`, to undo it if the books refuse the movement: a clearing
    # added (key, fen) to each entry; a refund refunded (key, fen) of each.
    matched: tuple[tuple[ClearedKey, int], ...] = ()


@dataclass(frozen=True, slots=True)
class _Request:
    """The facts of a 2301 the rules look at."""

    key: VoucherKey
    bank: str
    pay_type: str
    fund_type: str  # FundTypeCode: the request draws on this fund type's quota only
    clear_date: dt.date | None
    clear_type: int
    urgent: bool
    amount_fen: int
    detail_sum_fen: int | None  # None: no details
    payments: tuple[tuple[str, int], ...] = ()  # (Detail/VoucherNo, fen) of the details naming one

    @property
    def quota_key(self) -> QuotaKey:
        return self.bank, self.pay_type, self.fund_type, self.clear_date


@dataclass(frozen=True, slots=True)
class _RefundRequest:
    """The facts of a 2302 the refund rules look at."""

    key: VoucherKey
    bank: str
    pay_type: str
    ori: ClearedKey  # (AdmDivCode, OriVtCode, OriVoucherNo, PayBankCode): what it says it refunds
    amount_fen: int


# ---------------------------------------------------------------- the rules table

# A rule returns None when the request passes, else the human message of the refusal.
RuleCheck = Callable[["PbocCore", _Request, dt.datetime], str | None]


@dataclass(frozen=True, slots=True)
class ClearingRule:
    code: str
    clear_types: frozenset[int]  # 0 normal, 1 reserve replenishment
    check: RuleCheck
    why: str  # the agreement clause, for the docs


def _r_amount(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    if r.detail_sum_fen is not None and r.detail_sum_fen != r.amount_fen:
        return f"details add up to {fen_to_str(r.detail_sum_fen)}, PayAmt is {fen_to_str(r.amount_fen)}"
    return None


def _r_today(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    if r.clear_date != now.date():
        return f"ClearDate {r.clear_date} is not today {now.date()}"
    return None


def _r_cutoff(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    if is_before_clearing_cutoff(now, core.calendar, core.clock_config, urgent=r.urgent):
        return None
    if not core.calendar.is_business_day(now.date()):
        return f"{now.date()} is not a business day"
    cutoff = core.clock_config.urgent_cutoff if r.urgent else core.clock_config.clearing_cutoff
    kind = "urgent clearing cutoff" if r.urgent else "clearing cutoff"
    return f"received {now:%H:%M:%S}, after the {kind} {cutoff:%H:%M}"


def _r_replenish_day(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    assert r.clear_date is not None
    day = replenishment_day(r.clear_date, core.calendar)
    if day != now.date():
        return f"advances of {r.clear_date} are replenished on {day}, not on {now.date()}"
    return None


def _r_window(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    assert r.clear_date is not None
    start, end = replenishment_window(r.clear_date, core.calendar, core.clock_config)
    if not start <= now < end:
        return f"received {now:%H:%M:%S}, outside the replenishment window {start:%H:%M}-{end:%H:%M}"
    return None


def _r_quota_exists(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    if r.quota_key not in core.quotas:
        return (f"no quota notice for bank {r.bank}, pay type {r.pay_type}, FundTypeCode {r.fund_type}, "
                f"day {r.clear_date}")
    return None


def _r_quota(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    line = core.quotas[r.quota_key]
    if r.amount_fen > line.remaining_fen:
        return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds the remaining quota {fen_to_str(line.remaining_fen)}"
                f" of {fen_to_str(line.notified_fen)} (FundTypeCode {r.fund_type})")
    return None


def _r_advances(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    line = core.quotas[r.quota_key]
    if r.amount_fen > line.advance_cap_fen:
        return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds the advances of {r.clear_date} left to replenish "
                f"{fen_to_str(line.advance_cap_fen)}")
    return None


def _r_funds(core: PbocCore, r: _Request, now: dt.datetime) -> str | None:
    if r.amount_fen > core.tsa_balance_fen:
        return f"PayAmt {fen_to_str(r.amount_fen)} exceeds the TSA balance {fen_to_str(core.tsa_balance_fen)}"
    return None


_N, _R, _BOTH = frozenset({0}), frozenset({1}), frozenset({0, 1})

# Checked in order; the first failure is the answer. (004 part 3 §8(7), §9(11)-(12), 003 §33.)
CLEARING_RULES: tuple[ClearingRule, ...] = (
    ClearingRule("amount-mismatch", _BOTH, _r_amount, "the clearing list sums to the request"),
    ClearingRule("wrong-day", _N, _r_today, "a day's payments are cleared that day"),
    ClearingRule("after-cutoff", _N, _r_cutoff, "in by 16:00, urgent (UrgentFlag 1) by 16:30"),
    ClearingRule("wrong-day", _R, _r_replenish_day, "advances are replenished the next business day"),
    ClearingRule("outside-window", _R, _r_window, "... in the morning (replenishment window)"),
    ClearingRule("no-quota-notice", _BOTH, _r_quota_exists, "checked against the treasury's quota"),
    ClearingRule("over-quota", _N, _r_quota, "within the remaining quota of the day"),
    ClearingRule("over-quota", _R, _r_advances, "within the quota left uncleared at the cutoff"),
    ClearingRule("insufficient-funds", _BOTH, _r_funds, "the TSA pays only what it holds"),
)


# A refund rule returns None when the refund passes, else the human message of the refusal.
RefundCheck = Callable[["PbocCore", _RefundRequest], str | None]


@dataclass(frozen=True, slots=True)
class RefundRule:
    code: str
    check: RefundCheck
    why: str  # the rule's source, for the docs


def _f_matched(core: PbocCore, r: _RefundRequest) -> str | None:
    adm, vtcode, no, _bank = r.ori
    if vtcode != "2301" and vtcode not in PAYMENT_VTCODE.values():
        return (f"OriVtCode {vtcode} is neither a payment voucher ({'/'.join(sorted(PAYMENT_VTCODE.values()))}) "
                "nor a clearing request (2301)")
    item = core.cleared.get(r.ori)
    if item is None:
        return f"nothing was cleared under {vtcode} {no} (AdmDivCode {adm}) for PayBankCode {r.bank}"
    if item.pay_type != r.pay_type:
        return f"{vtcode} {no} was cleared as PayTypeCode {item.pay_type}, not {r.pay_type}"
    return None


def _f_not_refunded(core: PbocCore, r: _RefundRequest) -> str | None:
    for key, item in core.refund_targets(r.ori):
        if item.refundable_fen <= 0:
            return (f"{key[1]} {key[2]} was cleared for {fen_to_str(item.cleared_fen)} and refunded in full "
                    f"({fen_to_str(item.refunded_fen)})")
    return None


def _f_amount(core: PbocCore, r: _RefundRequest) -> str | None:
    for key, item in core.refund_targets(r.ori):
        if r.amount_fen > item.refundable_fen:
            return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds what is left to refund of {key[1]} {key[2]}: "
                    f"{fen_to_str(item.refundable_fen)} (cleared {fen_to_str(item.cleared_fen)}, refunded "
                    f"{fen_to_str(item.refunded_fen)})")
    return None


def _f_floor(core: PbocCore, r: _RefundRequest) -> str | None:
    balance, floor = core.clearing_balances.get(r.bank, 0), core.config.clearing_floor(r.bank)
    if balance - r.amount_fen < floor:
        return (f"PayAmt {fen_to_str(r.amount_fen)} would take the clearing account of bank {r.bank} from "
                f"{fen_to_str(balance)} below its floor {fen_to_str(floor)}")
    return None


# Checked in order; the first failure is the answer. (003 §35: returned by the original channel;
# 004 part 3 §8(5), §9(9).) Only a refund debits a bank's clearing account, so the floor is checked here.
REFUND_RULES: tuple[RefundRule, ...] = (
    RefundRule("refund-unmatched", _f_matched, "a refund returns a payment this bank had cleared"),
    RefundRule("already-refunded", _f_not_refunded, "money comes back once"),
    RefundRule("refund-exceeds-payment", _f_amount, "no more than was cleared and not yet refunded"),
    RefundRule("below-clearing-floor", _f_floor, "the bank's clearing account stays at or above its floor"),
)


# ---------------------------------------------------------------- the core


class PbocCore:
    """The central bank's state and rules. Feed it vouchers and times; perform its effects."""

    def __init__(self, config: PbocConfig, calendar: BusinessCalendar, clock_config: ClockConfig) -> None:
        if clock_config.bank_system_close < clock_config.urgent_cutoff:
            raise ValueError("bank_system_close before the urgent cutoff: statements would miss clearings")
        self.config = config
        self.calendar = calendar
        self.clock_config = clock_config
        self.quotas: dict[QuotaKey, QuotaLine] = {}  # (bank, pay type, FundTypeCode, ClearDate)
        self.rejected_notices: list[tuple[str, str, str]] = []  # (key, code, message)
        self.reconciliation_results: dict[str, tuple[str, str]] = {}  # 3502 key → (result, remark)
        self.tsa_balance_fen = 0
        self.cleared: dict[ClearedKey, Cleared] = {}  # what refunds are matched against (module doc)
        self.clearing_balances: dict[str, int] = {}  # bank code → its clearing account, as the core moved it
        self.movements: dict[dt.date, list[Movement]] = {}
        self.statements: list[SendVoucher] = []  # every 7401 / 3502 emitted, for inspection
        self._decisions: dict[DecisionKey, _Decision] = {}
        self._banks: set[str] = set()
        self._notice_keys: set[VoucherKey] = set()
        self._bank_names: dict[str, str] = {}
        self.refused_sends: list[tuple[str, str]] = []  # (voucher key, code) the gateway refused
        self.refused_by_books: list[tuple[str, str]] = []  # (voucher key, code) the ledger refused
        self._started = False
        self._first_day: dt.date | None = None  # the first business day whose books the core kept
        self._next_close: dt.date | None = None
        self._serial = 0

    # --- entry points ------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = self._catch_up(now)
        assert self._next_close is not None
        effects.append(WakeAt(at(self._next_close, self.clock_config.bank_system_close)))
        return effects

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        effects = self._catch_up(now)
        vtcode = doc.vtcode
        key = VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), vtcode, doc.get("VoucherNo"), flag)
        decided = self._decisions.get((key, doc.get("PayBankCode"))) if flag == 0 else None
        if decided is not None:
            return effects + self._answer(doc, decided)  # replay: same receipt, same transfer id
        try:
            if flag == 0 and vtcode in QUOTA_PAY_TYPE:
                effects += self._quota_notice(doc, key, now)
            elif flag == 0 and vtcode == "2301":
                effects += self._clearing(doc, key, now)
            elif flag == 0 and vtcode == "2302":
                effects += self._refund(doc, key, now)
            elif flag == 1 and vtcode == "3502":
                self.reconciliation_results[str(key)] = (doc.get("XCheckResult"), doc.get("XCheckRemark"))
            else:
                effects.append(Alarm("not-authorized", f"the central bank does not handle VtCode {vtcode} "
                                     f"flag {flag}", str(key)))
        except InputError as exc:  # an amount that does not parse: checked upstream, so alarm only
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        return effects

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """Put the records right after a refusal (see the module doc)."""
        if refusal.source == "gateway":
            self.refused_sends.extend((str(e.key), refusal.code) for e in refusal.sends())
            return []
        effects: list[Effect] = []
        receipts = {(e.key.original(), e.head.get("PayBankCode", "")): e for e in refusal.sends() if e.flag == 1}
        for effect in refusal.dropped:
            if isinstance(effect, OpenAccount):
                self._banks.discard(effect.account.id.removeprefix("pboc:clearing:"))
            elif isinstance(effect, PostTransfer):
                effects += self._unmove(effect.transfer, refusal, receipts, now)
        return effects

    def _unmove(self, t: Transfer, refusal: Refusal, receipts: Mapping[DecisionKey, SendVoucher],
                now: dt.datetime) -> list[Effect]:
        """Undo a TSA movement the ledger refused; a refused clearing becomes a rejection."""
        if t.id == "pboc:opening:tsa":
            self.tsa_balance_fen -= t.amount_fen
            return []
        moves = self.movements.get(t.business_date) if t.business_date is not None else None
        move = next((m for m in moves or [] if m.transfer_id == t.id), None)
        if moves is None or move is None:
            return []
        moves.remove(move)
        self.tsa_balance_fen += move.amount_fen if move.direction == "D" else -move.amount_fen
        self.clearing_balances[move.bank_code] = (self.clearing_balances.get(move.bank_code, 0)
                                                  + (-move.amount_fen if move.direction == "D" else move.amount_fen))
        key = (move.ref, move.bank_code)
        receipt = receipts.get(key)
        decided = self._decisions.get(key)
        if decided is not None:
            self._unmatch(decided, refund=move.kind == "refund")
        reason = f"{refusal.code}: the books refused it: {refusal.message}"
        if move.kind == "refund" or receipt is None:
            self.refused_by_books.append((str(move.ref), refusal.code))
            self._decisions.pop(key, None)
            return []
        line = self.quotas.get((move.bank_code, move.pay_type, receipt.head.get("FundTypeCode", ""),
                                parse_ymd(receipt.head.get("ClearDate", ""))))
        if line is not None:
            if move.kind == "reserve-replenishment":
                line.replenished_fen -= move.amount_fen
            else:
                line.used_fen -= move.amount_fen
        decision = _Decision((), {"XClearDate": format_ymd(now.date()), "XClearAmt": "0.00",
                                  "XPbocSerialNo": self._next_serial("RJ", now.date())}, return_reason=reason)
        self._decisions[key] = decision
        head = {**receipt.head, **decision.xfields}
        return [SendVoucher(receipt.vtcode, 1, head, receipt.details, "bank", return_reason=reason,
                            original=receipt.original, encoding=receipt.encoding)]

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready plain data (see the module doc)."""
        data = self.stored_snapshot()
        data["cleared"] = list(data["cleared"])
        return data

    def stored_snapshot(self) -> dict[str, Any]:
        """`snapshot()` with what was cleared (an entry per payment) as a `Lazy` list, for the
        shell's store: encoded entry by entry (`sim.snapshot.dumps_plain`), not built whole first."""
        return {
            "core": "pboc", "version": SNAPSHOT_VERSION,
            "config": config_fingerprint(self.config, self.clock_config),
            "started": self._started, "first_day": date_to_plain(self._first_day),
            "next_close": date_to_plain(self._next_close), "serial": self._serial,
            "tsa_balance_fen": self.tsa_balance_fen,
            "cleared": Lazy(lambda: ([list(k), {"bank": c.bank, "pay_type": c.pay_type, "cleared_fen": c.cleared_fen,
                                                "refunded_fen": c.refunded_fen,
                                                "clearing": None if c.clearing is None else list(c.clearing)}]
                                     for k, c in self.cleared.items())),
            "clearing_balances": dict(self.clearing_balances),
            "quotas": [{"bank": bank, "pay_type": pay_type, "fund_type": fund_type, "day": date_to_plain(day),
                        "notified_fen": line.notified_fen, "used_fen": line.used_fen,
                        "replenished_fen": line.replenished_fen, "notices": list(line.notices)}
                       for (bank, pay_type, fund_type, day), line in self.quotas.items()],
            "notice_keys": sorted(key_to_plain(k) for k in self._notice_keys),
            "rejected_notices": [list(r) for r in self.rejected_notices],
            "reconciliation_results": {k: list(v) for k, v in self.reconciliation_results.items()},
            "banks": sorted(self._banks),
            "bank_names": dict(self._bank_names),
            "movements": [[day.isoformat(), [
                {"direction": m.direction, "amount_fen": m.amount_fen, "bank": m.bank_code, "bank_name": m.bank_name,
                 "pay_type": m.pay_type, "kind": m.kind, "ref": key_to_plain(m.ref), "transfer_id": m.transfer_id}
                for m in moves]] for day, moves in self.movements.items()],
            "decisions": [[key_to_plain(k), bank, {
                "transfers": [transfer_to_plain(t) for t in d.transfers], "xfields": dict(d.xfields),
                "return_reason": d.return_reason, "advice": None if d.advice is None else dict(d.advice),
                "matched": [[list(mk), fen] for mk, fen in d.matched]}]
                for (k, bank), d in self._decisions.items()],
            "statements": [send_to_plain(e) for e in self.statements],
            "refused_sends": [list(r) for r in self.refused_sends],
            "refused_by_books": [list(r) for r in self.refused_by_books],
        }

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace this core's state with a snapshot taken by a core of the same config."""
        check_snapshot_header(data, "pboc", SNAPSHOT_VERSION, config_fingerprint(self.config, self.clock_config))
        self._started = bool(data["started"])
        self._first_day = date_from_plain(data["first_day"])
        self._next_close = date_from_plain(data["next_close"])
        self._serial = int(data["serial"])
        self.tsa_balance_fen = int(data["tsa_balance_fen"])
        self.cleared = {_cleared_key(k): Cleared(c["bank"], c["pay_type"], int(c["cleared_fen"]), int(c["refunded_fen"]),
                                                 None if c["clearing"] is None else _cleared_key(c["clearing"]))
                        for k, c in data["cleared"]}
        self.clearing_balances = {bank: int(fen) for bank, fen in data["clearing_balances"].items()}
        self.quotas = {(q["bank"], q["pay_type"], q["fund_type"], date_from_plain(q["day"])): QuotaLine(
            int(q["notified_fen"]), int(q["used_fen"]), int(q["replenished_fen"]), list(q["notices"]))
            for q in data["quotas"]}
        self._notice_keys = {key_from_plain(k) for k in data["notice_keys"]}
        self.rejected_notices = [(k, c, m) for k, c, m in data["rejected_notices"]]
        self.reconciliation_results = {k: (r, remark) for k, (r, remark) in data["reconciliation_results"].items()}
        self._banks = set(data["banks"])
        self._bank_names = dict(data["bank_names"])
        self.movements = {}
        for day_text, moves in data["movements"]:
            day = dt.date.fromisoformat(day_text)
            self.movements[day] = [Movement(day, m["direction"], int(m["amount_fen"]), m["bank"], m["bank_name"],
                                            m["pay_type"], m["kind"], key_from_plain(m["ref"]), m["transfer_id"])
                                   for m in moves]
        self._decisions = {(key_from_plain(k), str(bank)): _Decision(
            tuple(transfer_from_plain(t) for t in d["transfers"]), dict(d["xfields"]), d["return_reason"],
            None if d["advice"] is None else dict(d["advice"]),
            tuple((_cleared_key(mk), int(fen)) for mk, fen in d["matched"])) for k, bank, d in data["decisions"]}
        self.statements = [send_from_plain(e) for e in data["statements"]]
        self.refused_sends = [(k, c) for k, c in data.get("refused_sends", [])]
        self.refused_by_books = [(k, c) for k, c in data.get("refused_by_books", [])]

    @classmethod
    def restore(cls, data: Mapping[str, Any], config: PbocConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> PbocCore:
        core = cls(config, calendar, clock_config)
        core.load_snapshot(data)
        return core

    # --- start and day close ------------------------------------------------------------

    def _catch_up(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        if not self._started:
            self._started = True
            effects += self._open_books()
            today = now.date()
            open_today = self.calendar.is_business_day(today) and now < at(today, self.clock_config.bank_system_close)
            self._next_close = today if open_today else self.calendar.next_business_day(today)
            self._first_day = self._next_close
        assert self._next_close is not None
        while at(self._next_close, self.clock_config.bank_system_close) <= now:
            effects += self._close_day(self._next_close)
            self._next_close = self.calendar.next_business_day(self._next_close)
        return effects

    def _open_books(self) -> list[Effect]:
        effects: list[Effect] = [
            OpenAccount(Account(TSA_ACCOUNT, self.config.tsa_acct_name, "tsa",
                                AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, owner="pboc")),
            OpenAccount(Account(REVENUE_ACCOUNT, "fiscal revenue (opening balance source)", "revenue-source",
                                owner="pboc")),
        ]
        if self.config.tsa_opening_fen:
            effects.append(PostTransfer(Transfer("pboc:opening:tsa", REVENUE_ACCOUNT, TSA_ACCOUNT,
                                                 self.config.tsa_opening_fen, "opening-balance")))
            self.tsa_balance_fen = self.config.tsa_opening_fen
        return effects

    def _close_day(self, day: dt.date) -> list[Effect]:
        effects: list[Effect] = [self._daily_statement(day)]
        try:
            previous: dt.date | None = self.calendar.previous_business_day(day)
        except InputError:  # the first business day the calendar knows
            previous = None
        if previous is None or previous.month != day.month:
            recon = self._monthly_reconciliation(day)
            if recon is not None:
                effects.append(recon)
        self.statements.extend(e for e in effects if isinstance(e, SendVoucher))
        return effects

    # --- quota notices ------------------------------------------------------------------

    def _quota_notice(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        if key in self._notice_keys:
            return []  # the same notice again: already counted
        bank, pay_type = doc.get("PayBankCode"), QUOTA_PAY_TYPE[doc.vtcode]
        clear_date = parse_ymd(doc.get("ClearDate"))
        amount = doc.amount_fen("PayAmt")
        details = doc.details()
        refusal: tuple[str, str] | None = None
        if details and sum(parse_fen(d.get("PayAmt", "")) for d in details) != amount:
            refusal = ("amount-mismatch", "the details do not add up to PayAmt")
        elif doc.get("PayTypeCode", pay_type) != pay_type:
            refusal = ("amount-mismatch", f"PayTypeCode {doc.get('PayTypeCode')} in a {doc.vtcode} notice")
        elif clear_date != now.date() or not self.calendar.is_business_day(now.date()):
            refusal = ("wrong-day", f"quota notice for {doc.get('ClearDate')} received on {now.date()}"
                       + ("" if self.calendar.is_business_day(now.date()) else ", not a business day"))
        if refusal is not None:
            self.rejected_notices.append((str(key), *refusal))
            return [Alarm(refusal[0], f"quota notice refused: {refusal[1]}", str(key))]
        line = self.quotas.setdefault((bank, pay_type, doc.get("FundTypeCode"), clear_date), QuotaLine())
        line.notified_fen += amount
        line.notices.append(str(key))
        self._notice_keys.add(key)
        self._bank_names.setdefault(bank, doc.get("PayBankName"))
        return []

    # --- clearing requests --------------------------------------------------------------

    def _request(self, doc: VoucherDoc, key: VoucherKey) -> _Request:
        details = doc.details()
        return _Request(
            key=key,
            bank=doc.get("PayBankCode"),
            pay_type=doc.get("PayTypeCode"),
            fund_type=doc.get("FundTypeCode"),
            clear_date=parse_ymd(doc.get("ClearDate")),
            clear_type=1 if doc.get("ClearType") == "1" else 0,
            urgent=doc.get("UrgentFlag") == "1",
            amount_fen=doc.amount_fen("PayAmt"),
            detail_sum_fen=sum(parse_fen(d.get("PayAmt", "")) for d in details) if details else None,
            payments=tuple((d["VoucherNo"], parse_fen(d.get("PayAmt", ""))) for d in details if d.get("VoucherNo")),
        )

    def check_clearing(self, r: _Request, now: dt.datetime) -> tuple[str, str] | None:
        """(code, message) of the first rule the request breaks, or None."""
        for rule in CLEARING_RULES:
            if r.clear_type in rule.clear_types:
                message = rule.check(self, r, now)
                if message is not None:
                    return rule.code, message
        return None

    def _clearing(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        r = self._request(doc, key)
        today = now.date()
        refusal = self.check_clearing(r, now)
        if refusal is not None:
            serial = self._next_serial("RJ", today)
            return self._decide(key, doc, [], _Decision(
                (), {"XClearDate": format_ymd(today), "XClearAmt": "0.00", "XPbocSerialNo": serial},
                return_reason=f"{refusal[0]}: {refusal[1]}"))
        line = self.quotas[r.quota_key]
        kind = "clearing"
        if r.clear_type == 1:
            line.replenished_fen += r.amount_fen
            kind = "reserve-replenishment"
        else:
            line.used_fen += r.amount_fen
        serial = self._next_serial("RH", today)
        opens, transfer = self._move(doc, key, "D", r.amount_fen, kind, today, f"pboc:{kind}:{r.bank}:{key}")
        return self._decide(key, doc, opens, _Decision(
            (transfer,), {"XClearDate": format_ymd(today), "XClearAmt": fen_to_str(r.amount_fen),
                          "XPbocSerialNo": serial}, matched=self._record_cleared(r)))

    def _record_cleared(self, r: _Request) -> tuple[tuple[ClearedKey, int], ...]:
        """Remember what an accepted request cleared: itself, and each payment its details name."""
        own: ClearedKey = (r.key.adm_div_code, "2301", r.key.voucher_no, r.bank)
        added: dict[ClearedKey, int] = {own: r.amount_fen}
        vtcode = PAYMENT_VTCODE.get(r.pay_type, "")
        for voucher_no, fen in r.payments if vtcode else ():
            payment: ClearedKey = (r.key.adm_div_code, vtcode, voucher_no, r.bank)
            added[payment] = added.get(payment, 0) + fen
        for item_key, fen in added.items():
            item = self.cleared.get(item_key)
            if item is None:
                while len(self.cleared) >= CLEARED_MAX:
                    self.cleared.pop(next(iter(self.cleared)))
                item = self.cleared[item_key] = Cleared(r.bank, r.pay_type, 0,
                                                        clearing=None if item_key == own else own)
            item.cleared_fen += fen  # a payment named by two requests (a bank's mistake) adds up
        return tuple(added.items())

    def _unmatch(self, decision: _Decision, *, refund: bool) -> None:
        """Take back what a decision did to `cleared` (the books refused its movement)."""
        for item_key, fen in decision.matched:
            item = self.cleared.get(item_key)
            if item is None:
                continue  # forgotten since (CLEARED_MAX)
            if refund:
                item.refunded_fen -= fen
            else:
                item.cleared_fen -= fen
                if item.cleared_fen <= 0 and item.refunded_fen == 0:
                    del self.cleared[item_key]

    def refund_targets(self, ori: ClearedKey) -> list[tuple[ClearedKey, Cleared]]:
        """What a refund of `ori` counts against: `ori` itself and, for a payment, the 2301 that
        cleared it (when still known)."""
        item = self.cleared.get(ori)
        if item is None:
            return []
        targets = [(ori, item)]
        if item.clearing is not None and item.clearing in self.cleared:
            targets.append((item.clearing, self.cleared[item.clearing]))
        return targets

    def check_refund(self, r: _RefundRequest) -> tuple[str, str] | None:
        """(code, message) of the first refund rule the request breaks, or None."""
        for rule in REFUND_RULES:
            message = rule.check(self, r)
            if message is not None:
                return rule.code, message
        return None

    # --- refunds ------------------------------------------------------------------------

    def _refund(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        day = now.date()
        if not (self.calendar.is_business_day(day) and now.time() < self.clock_config.bank_system_close):
            day = self.calendar.next_business_day(day)
        amount = doc.amount_fen("PayAmt")
        r = _RefundRequest(key, doc.get("PayBankCode"), doc.get("PayTypeCode"),
                           (doc.get("AdmDivCode"), doc.get("OriVtCode"), doc.get("OriVoucherNo"), doc.get("PayBankCode")),
                           amount)
        refusal = self.check_refund(r)
        if refusal is not None:
            return self._decide(key, doc, [], _Decision(
                (), {"XRefundDate": format_ymd(now.date()), "XRefundAmt": "0.00"},
                return_reason=f"{refusal[0]}: {refusal[1]}"))
        matched = tuple((item_key, amount) for item_key, _ in self.refund_targets(r.ori))
        for item_key, _ in matched:
            self.cleared[item_key].refunded_fen += amount
        opens, transfer = self._move(doc, key, "C", amount, "refund", day, f"pboc:refund:{r.bank}:{key}")
        serial = self._next_serial("RH", now.date())
        head = {
            "Id": f"V7403{serial}", "AdmDivCode": doc.get("AdmDivCode"), "StYear": str(now.year),
            "VouDate": format_ymd(now.date()), "VoucherNo": serial,
            "OriVtCode": "2302", "OriVoucherNo": doc.get("VoucherNo"), "OriVouDate": doc.get("VouDate"),
            "CreditDate": format_ymd(day), "PayBankCode": doc.get("PayBankCode"), "PayBankName": doc.get("PayBankName"),
            "ClearBankCode": self.config.clear_bank_code, "ClearBankName": self.config.clear_bank_name,
            "PayTypeCode": doc.get("PayTypeCode"), "FundTypeCode": doc.get("FundTypeCode"),
            "FundTypeName": doc.get("FundTypeName"), "AcctNo": self.config.tsa_acct_no,
            "AcctName": self.config.tsa_acct_name, "PbocSerialNo": serial, "PayAmt": fen_to_str(amount),
        }
        return self._decide(key, doc, opens, _Decision(
            (transfer,), {"XRefundDate": format_ymd(day), "XRefundAmt": fen_to_str(amount)}, advice=head,
            matched=matched))

    # --- shared helpers -------------------------------------------------------------------

    def _move(self, doc: VoucherDoc, key: VoucherKey, direction: Literal["D", "C"], amount: int, kind: str,
              day: dt.date, transfer_id: str) -> tuple[list[Effect], Transfer]:
        """Record a TSA movement: the accounts to open first (the bank's, once) and the transfer."""
        bank = doc.get("PayBankCode")
        opens: list[Effect] = []
        if bank not in self._banks:
            self._banks.add(bank)
            opens.append(OpenAccount(Account(clearing_account(bank), f"clearing account {bank}",
                                             "bank-clearing", owner=bank)))
        self._bank_names.setdefault(bank, doc.get("PayBankName"))
        debit, credit = ((TSA_ACCOUNT, clearing_account(bank)) if direction == "D"
                         else (clearing_account(bank), TSA_ACCOUNT))
        transfer = Transfer(transfer_id, debit, credit, amount, kind, str(key), day)
        self.clearing_balances[bank] = self.clearing_balances.get(bank, 0) + (amount if direction == "D" else -amount)
        self.tsa_balance_fen += amount if direction == "C" else -amount
        self.movements.setdefault(day, []).append(Movement(
            day, direction, amount, bank, self._bank_names[bank], doc.get("PayTypeCode"), kind, key, transfer_id))
        return opens, transfer

    def _receipt(self, doc: VoucherDoc, xfields: Mapping[str, str], *, return_reason: str | None = None) -> SendVoucher:
        head = {**doc.head(), **xfields}
        return SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "bank", return_reason=return_reason,
                           original=doc.data, encoding=doc.encoding)

    def _decide(self, key: VoucherKey, doc: VoucherDoc, opens: list[Effect], decision: _Decision) -> list[Effect]:
        """Remember the decision (for a redelivery) and return its effects, accounts opened first."""
        if len(self._decisions) >= DECISIONS_MAX:
            self._decisions.pop(next(iter(self._decisions)))
        self._decisions[(key, doc.get("PayBankCode"))] = decision
        return opens + self._answer(doc, decision)

    def _answer(self, doc: VoucherDoc, decision: _Decision) -> list[Effect]:
        """The effects of a decision: the money first, then the receipt (and a refund's advice)."""
        effects: list[Effect] = [PostTransfer(t) for t in decision.transfers]
        effects.append(self._receipt(doc, decision.xfields, return_reason=decision.return_reason))
        if decision.advice is not None:
            effects.append(SendVoucher("7403", 0, decision.advice, (), "treasury"))
        return effects

    def _next_serial(self, prefix: str, day: dt.date) -> str:
        self._serial += 1
        return f"{prefix}{format_ymd(day)}{self._serial:010d}"

    def balance_before(self, day: dt.date) -> int:
        """The TSA balance at the start of `day`, from the core's own record."""
        total = self.config.tsa_opening_fen
        for d, moves in self.movements.items():
            if d < day:
                total += sum(m.amount_fen if m.direction == "C" else -m.amount_fen for m in moves)
        return total

    # --- statements -----------------------------------------------------------------------

    def _statement_head(self, vtcode: str, prefix: str, day: dt.date) -> dict[str, str]:
        no = f"{prefix}{format_ymd(day)}"
        return {"Id": f"V{vtcode}{no}", "AdmDivCode": self.config.adm_div_code, "StYear": str(day.year),
                "VouDate": format_ymd(day), "VoucherNo": no}

    def _daily_statement(self, day: dt.date) -> SendVoucher:
        moves = self.movements.get(day, [])
        begin = self.balance_before(day)
        debit = sum(m.amount_fen for m in moves if m.direction == "D")
        credit = sum(m.amount_fen for m in moves if m.direction == "C")
        head = {
            **self._statement_head("7401", "RZ", day), "StatementDate": format_ymd(day),
            "ClearBankCode": self.config.clear_bank_code, "ClearBankName": self.config.clear_bank_name,
            "AcctNo": self.config.tsa_acct_no, "AcctName": self.config.tsa_acct_name,
            "BeginBalance": fen_to_str(begin), "DebitAmt": fen_to_str(debit), "CreditAmt": fen_to_str(credit),
            "EndBalance": fen_to_str(begin + credit - debit),
        }
        details = tuple(
            {"Id": f"D{i:05d}", "Direction": m.direction, "Amt": fen_to_str(m.amount_fen),
             "CounterBankCode": m.bank_code, "CounterBankName": m.bank_name,
             "RefAdmDivCode": m.ref.adm_div_code, "RefStYear": m.ref.st_year, "RefVtCode": m.ref.vtcode,
             "RefVoucherNo": m.ref.voucher_no}
            for i, m in enumerate(moves, start=1))
        return SendVoucher("7401", 0, head, details, "treasury")

    def _monthly_reconciliation(self, day: dt.date) -> SendVoucher | None:
        end = day.replace(day=1) - dt.timedelta(days=1)
        start = end.replace(day=1)
        if self._first_day is None or self._first_day > end:
            return None  # the core kept no books that month
        moves = [m for d, ms in self.movements.items() if start <= d <= end for m in ms]
        debits: dict[tuple[str, str], int] = {}
        for m in moves:
            if m.direction == "D":
                debits[(m.bank_code, m.pay_type)] = debits.get((m.bank_code, m.pay_type), 0) + m.amount_fen
        begin = self.balance_before(start)
        debit = sum(debits.values())
        credit = sum(m.amount_fen for m in moves if m.direction == "C")
        head = {
            **self._statement_head("3502", "GKDZ", day), "BeginDate": format_ymd(start), "EndDate": format_ymd(end),
            "ClearBankCode": self.config.clear_bank_code, "ClearBankName": self.config.clear_bank_name,
            "AcctNo": self.config.tsa_acct_no, "AcctName": self.config.tsa_acct_name,
            "BeginBalance": fen_to_str(begin), "DebitAmt": fen_to_str(debit), "CreditAmt": fen_to_str(credit),
            "EndBalance": fen_to_str(begin + credit - debit),
        }
        details = tuple(
            {"Id": f"D{i:05d}", "PayBankCode": bank, "PayBankName": self._bank_names.get(bank, bank),
             "PayTypeCode": pay_type, "DebitAmt": fen_to_str(amount)}
            for i, ((bank, pay_type), amount) in enumerate(sorted(debits.items()), start=1))
        return SendVoucher("3502", 0, head, details, "treasury")


def _cleared_key(value: Any) -> ClearedKey:
    adm, vtcode, no, bank = value
    return str(adm), str(vtcode), str(no), str(bank)
