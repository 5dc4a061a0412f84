"""An agent bank (代理银行) as a sans-IO core: state + voucher + time → effects.

`BankCore` never awaits, never reads a clock, never touches a database. Its entry points:

* `on_voucher(doc, flag, now, return_reason=None)`: a checked voucher arrived;
* `on_time(now)`: the business time is now `now`;
* `on_refused(refusal, now)`: something it asked for did not happen (`sim.effects.Refusal`).

Both return `gateway.effects` values (`OpenAccount`, `PostTransfer`, `SendVoucher`, `WakeAt`,
`Alarm`) for the shell to perform in order.

Accounts (ids in the bank's ledger; balance = credits - debits):

    bank:<code>:zba-finance           finance zero-balance account: direct payments (ZERO_AT_CLOSE)
    bank:<code>:zba-unit:<agency>     a unit's zero-balance account: authorized payments (ZERO_AT_CLOSE)
    bank:<code>:reserve               clearing reserve account: advances after the cutoff (no overdraft)
    bank:<code>:reserve-funding       where the reserve's opening balance came from (the treasury)
    bank:<code>:payees                what left the bank to the payees
    bank:<code>:pboc-clearing         the bank's mirror of its clearing account at the central bank
                                      (always the negative of the PBOC's `pboc:clearing:<code>`)

**Paying a voucher (5201 direct / 8202 authorized, flag 0).** The first row of `PAYMENT_RULES`
whose condition holds decides (`filing_time` is the bank's own clearing cut, before the
central bank's 16:00 cutoff, so everything it pays before it is in that day's 2301):

| rule           | when                                                        | then                                   |
|----------------|-------------------------------------------------------------|----------------------------------------|
| `not-ours`     | PayBankCode is not this bank                                | Alarm `not-authorized`, nothing paid   |
| `urgent`       | UrgentFlag 1, business day, before the urgent cutoff (16:30)| pay from the ZBA; an urgent 2301 at once, carrying the day's unfiled payments of its pay type and fund type too |
| `clearing`     | business day, before the final sweep (16:00 less 1 µs)      | pay from the ZBA; joins today's 2301   |
| `advance`      | business day, before the system close, reserve covers it    | pay from the reserve (an advance)      |
| `defer`        | otherwise (after the close, a holiday, reserve short)       | queue; paid at the next business day's opening, from the ZBA |

Paid → ledger ZBA (or reserve) → payees, then the receipt (flag 1) with XPayDate, XPayAmt
(= PayAmt) and XAgentBusinessNo (`YH<bank4><yyyymmdd><serial8>`, a deterministic serial).
A redelivered original gets the same transfer id and the same receipt again.

**Clearing requests (2301, to the central bank).** On each business day:

| time                        | action                                                                          |
|-----------------------------|---------------------------------------------------------------------------------|
| `replenish_time` (08:45)    | ClearType 1 per (advance day, pay type, fund type) for the advances of the previous business day; ClearDate = the advance day |
| `open_time` (09:00)         | pay the deferred vouchers (they join today's clearing)                           |
| `filing_time` (15:30)       | ClearType 0 per (pay type, fund type) of today's ZBA payments, DetailList summed by SupDepCode; held payments of earlier days in requests of their own |
| final sweep (15:59:59.999999) | the same for what was paid since, or released by a refused request (`bank_sim.clearing`) |
| bank system close (17:00)   | cover what missed the clearing time from the reserve (Alarm clearing-escalated), send the 7202 list; Alarm clearing-held for what waits for the treasury's quota |
| bank system close (17:00)   | check its zero-balance accounts stand at zero (Alarm if not)                     |

**Clearing receipts (2301, flag 1).** Accepted (XClearAmt > 0, no Return_Reason): the money
arrived in the bank's clearing account, so `pboc-clearing` → each ZBA (or the reserve, for
ClearType 1) for the amounts the request covered: the ZBAs go back to zero, the reserve is
whole. Rejected: an Alarm with the reason's code (its own code when registered, else
`unknown-code`: never relabelled), recorded in `filings`; nothing moves.

**Refused by the books or the gateway (`on_refused`).** The core's own view follows the books: a
payment whose transfer the ledger refused is marked `refused` and is not paid (no receipt went
out; it is in no clearing request), its booking in the core's view undone; a clearing receipt
whose transfers were refused marks the filing rejected with the ledger's reason; an account the
ledger did not open is opened again when next needed. A receipt the gateway refused marks the
payment `receipt_refused`; a clearing request the gateway refused marks the filing rejected.

**Snapshots.** `snapshot()` gives the whole state as JSON-ready plain data (dates as ISO
strings, amounts as int fen, a deferred voucher's bytes in base64); `load_snapshot(data)` (or
`BankCore.restore(data, ...)`) puts it back into a core built with the same bank code and
config. A paid voucher's effects are rebuilt from its `Payment` record and the redelivered
voucher (the same bytes, the gateway guarantees), so a replay after a restart is identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bank_sim import clearing as clearing_rules
from bank_sim import quotas
from bank_sim import suspensions as susp
from bank_sim.advances import RESERVE_LIST_VTCODE, Advanced, reserve_detail_list
from bank_sim.duties import Duties, DutiesConfig
from bank_sim.returns import KNOWN_PAYEES, ReturnFacts, check_return
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at, replenishment_day
from ledger.model import Account, AccountFlags, Transfer
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import (
    Alarm,
    Effect,
    OpenAccount,
    PostTransfer,
    Refusal,
    SendVoucher,
    WakeAt,
    registered_code,
)
from sim.snapshot import (
    Lazy,
    bytes_from_plain,
    bytes_to_plain,
    check_snapshot_header,
    config_fingerprint,
    date_from_plain,
    date_to_plain,
    datetime_from_plain,
    datetime_to_plain,
    key_from_plain,
    key_to_plain,
)

__all__ = [
    "PAYMENT_RULES",
    "BankConfig",
    "BankCore",
    "Filing",
    "Payment",
    "PaymentRule",
    "account_ids",
]

PAY_TYPE: dict[str, str] = {"5201": "11", "8202": "12"}
SUSPENSION_VTCODE = "7501"  # payment suspension order and its lift (000 五(二)3; bank_sim.suspensions)
Mode = Literal["clearing", "advance", "defer", "refuse"]
# The layout of `BankCore.snapshot()`.
SNAPSHOT_VERSION = 2  # 2: quota lines keyed by StYear and FundTypeCode, year-end closing


def account_ids(bank_code: str) -> dict[str, str]:
    """The fixed accounts of a bank, by role."""
    return {role: f"bank:{bank_code}:{role}"
            for role in ("zba-finance", "reserve", "reserve-funding", "payees", "pboc-clearing")}


def unit_zba(bank_code: str, agency_code: str) -> str:
    return f"bank:{bank_code}:zba-unit:{agency_code}"


@dataclass(frozen=True, slots=True)
class BankConfig:
    """Synthetic defaults, never real codes. Times are Asia/Shanghai times of day."""

    bank_name: str = "示例银行"
    adm_div_code: str = "990100"
    clear_bank_code: str = "999000000001"
    clear_bank_name: str = "示例人民银行示例市分行国库"
    filing_time: dt.time = dt.time(15, 30)  # the bank's own clearing cut; before the PBOC's cutoff
    replenish_time: dt.time = dt.time(8, 45)  # inside the replenishment window
    open_time: dt.time = dt.time(9, 0)  # deferred vouchers are paid then
    reserve_fen: int = 5_000_000_00  # the clearing reserve the treasury funded
    duties: DutiesConfig = field(default_factory=DutiesConfig)  # refunds, reports, transfer times, profile (bank_sim.duties)
    payee_accounts: tuple[tuple[str, str], ...] = KNOWN_PAYEES  # accounts held at this bank: (number, holder)

    def __post_init__(self) -> None:
        if not isinstance(self.reserve_fen, int) or self.reserve_fen < 0:
            raise ValueError(f"reserve_fen must be an int >= 0, not {self.reserve_fen!r}")


@dataclass(slots=True)
class Payment:
    key: VoucherKey  # the original's key
    vtcode: str
    pay_type: str
    fund_type: tuple[str, str]  # (FundTypeCode, FundTypeName)
    sup_dep: tuple[str, str]  # (SupDepCode, SupDepName): the first-level unit
    account: str  # where it was paid from
    amount_fen: int
    received_at: dt.datetime
    mode: Mode
    day: dt.date | None = None  # the business day it was paid on
    serial: str = ""
    doc: VoucherDoc | None = None  # kept until paid (deferred)
    filing: str | None = None  # VoucherNo of the 2301 covering it
    refused: str | None = None  # the ledger refused its transfer: the code (then it is not paid)
    receipt_refused: str | None = None  # the gateway refused its receipt: the code
    urgent: bool = False  # UrgentFlag 1: cleared at once by an urgent 2301
    agency: tuple[str, str] = ("", "")  # (AgencyCode, AgencyName)
    pay_acct: str = ""  # PayAcctNo: the zero-balance account's number
    returned: str | None = None  # returned unpaid (退票): "<code>: <message>"
    quota_taken: dict[quotas.LineKey, int] | None = None  # the authorized quota it used (8202)
    covered: bool = False  # its clearing missed the cutoff: made whole from the reserve at the close
    held: str | None = None  # its clearing was refused (this code) for the treasury to fix: filed again next round


@dataclass(slots=True)
class Filing:
    voucher_no: str
    clear_type: int  # 0 normal, 1 reserve replenishment
    pay_type: str
    fund_type: tuple[str, str]
    clear_date: dt.date
    filed_at: dt.datetime
    amount_fen: int
    by_account: dict[str, int]
    payments: list[VoucherKey]
    state: Literal["pending", "accepted", "rejected"] = "pending"
    reason: str | None = None
    cleared_fen: int = 0
    answered_at: dt.datetime | None = None
    urgent: bool = False  # UrgentFlag 1


@dataclass(frozen=True, slots=True)
class _Facts:
    pay_bank: str
    now: dt.datetime
    amount_fen: int
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class PaymentRule:
    name: str
    when: Callable[[BankCore, _Facts], bool]
    mode: Mode


def _business_day(core: BankCore, f: _Facts) -> bool:
    return core.calendar.is_business_day(f.now.date())


def _not_ours(core: BankCore, f: _Facts) -> bool:
    return f.pay_bank != core.bank_code


def _before_filing(core: BankCore, f: _Facts) -> bool:
    return _business_day(core, f) and f.now < clearing_rules.sweep_instant(f.now.date(), core.clock_config)


def _urgent_window(core: BankCore, f: _Facts) -> bool:
    return f.urgent and _business_day(core, f) and f.now < clearing_rules.sweep_instant(
        f.now.date(), core.clock_config, urgent=True)


def _reserve_covers(core: BankCore, f: _Facts) -> bool:
    return (_business_day(core, f) and f.now.time() < core.clock_config.bank_system_close
            and f.amount_fen <= core.reserve_balance_fen)


def _always(core: BankCore, f: _Facts) -> bool:
    return True


# Checked in order; the first whose `when` holds decides (004 part 3 §4, §9(12)).
PAYMENT_RULES: tuple[PaymentRule, ...] = (
    PaymentRule("not-ours", _not_ours, "refuse"),
    PaymentRule("urgent", _urgent_window, "clearing"),
    PaymentRule("clearing", _before_filing, "clearing"),
    PaymentRule("advance", _reserve_covers, "advance"),
    PaymentRule("defer", _always, "defer"),
)


class BankCore:
    """An agent bank's state and rules. Feed it vouchers and times; perform its effects."""

    def __init__(self, bank_code: str, config: BankConfig, calendar: BusinessCalendar,
                 clock_config: ClockConfig) -> None:
        if not config.filing_time < clock_config.clearing_cutoff:
            raise ValueError("filing_time must be before the clearing cutoff, or the 2301 arrives too late")
        if not clock_config.replenishment_window_start <= config.replenish_time < clock_config.replenishment_window_end:
            raise ValueError("replenish_time must be inside the replenishment window")
        if not config.open_time < config.filing_time:
            raise ValueError("open_time must be before filing_time")
        self.bank_code = bank_code
        self.config = config
        self.calendar = calendar
        self.clock_config = clock_config
        self.accounts = account_ids(bank_code)
        self.payments: dict[VoucherKey, Payment] = {}
        self.filings: dict[str, Filing] = {}
        self.balances: dict[str, int] = {}  # the core's own view of its ledger
        self.reserve_balance_fen = 0
        self.unbalanced_closes: list[tuple[dt.date, str, int]] = []  # (day, account, balance)
        self.closes: list[dt.date] = []
        self._zero_at_close: set[str] = set()
        self._opened: set[str] = set()
        self._deferred: list[VoucherKey] = []
        self._cursor: dt.datetime | None = None
        self._serial = 0
        self._filing_seq = 0
        self.quota_book: dict[quotas.LineKey, quotas.QuotaLine] = {}  # authorized quotas (7101)
        self.quota_notices: dict[str, dt.datetime] = {}  # 7101 VoucherNo → when its 7102s went out
        self.year_end_notices: dict[str, dt.datetime] = {}  # "7301/<VoucherNo>", "7302/..." → when applied
        self.reserve_lists: list[str] = []  # VoucherNo of the 7202s sent
        # Standing payment suspension orders (7501, 000 五(二)3) by OrderNo. Bound: one per order the
        # treasury issued and has not lifted; the treasury issues them by hand, a handful at most.
        self.suspensions: dict[str, susp.Order] = {}
        self.lifted_suspensions: list[str] = []  # OrderNo of lifted orders: a redelivered lift is confirmed again
        self.duties = Duties(self)  # after-payment duties and the behaviour profile

    # --- entry points ------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = self._catch_up(now)
        effects.append(WakeAt(self._next_event_after(now)[0]))
        return self.duties.outgoing(effects, now)

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        effects = self._catch_up(now)
        vtcode = doc.vtcode
        key = VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), vtcode, doc.get("VoucherNo"), flag)
        try:
            if self.duties.handles(doc, flag):
                effects += self.duties.on_voucher(doc, flag, now, return_reason)
            elif flag == 0 and vtcode in PAY_TYPE:
                effects += self._payment(doc, key, now)
            elif flag == 1 and vtcode == "2301":
                effects += self._clearing_receipt(doc, key, now, return_reason)
            elif flag == 0 and vtcode == "7101":
                effects += self._quota_notice(doc, key, now)
            elif flag == 0 and vtcode in ("7301", "7302"):
                effects += self._year_end_notice(doc, key, now)
            elif flag == 0 and vtcode == SUSPENSION_VTCODE:
                effects += self._suspension(doc, key, now)
            else:
                effects.append(Alarm("not-authorized", f"the bank does not handle VtCode {vtcode} flag {flag}",
                                     str(key)))
        except InputError as exc:  # an amount that does not parse: checked upstream, so alarm only
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        return self.duties.outgoing(effects, now)

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """Put the records right after a refusal (see the module doc); the shell raised the alarm."""
        absorbed, corrected = self.duties.on_refused(refusal, now)  # a fault of the profile's own
        if absorbed:
            return self.duties.outgoing(corrected, now)
        reason = f"{refusal.code}: {refusal.message}"
        for effect in refusal.dropped:
            if isinstance(effect, OpenAccount):
                self._opened.discard(effect.account.id)
            elif isinstance(effect, PostTransfer):
                t = effect.transfer
                self._unbook(t)
                if t.kind in ("clearing", "reserve-replenishment"):
                    self._filing_refused(t.id.split(":")[3], reason)
                elif t.kind == "reserve-cover":
                    payment = self._payment_of(t.reference)
                    if payment is not None:
                        payment.covered = False
                else:
                    payment = self._payment_of(t.reference)
                    if payment is not None and payment.day is not None:
                        payment.day, payment.refused = None, refusal.code
                        if payment.quota_taken:
                            quotas.release(self.quota_book, payment.quota_taken)
                            payment.quota_taken = None
            elif isinstance(effect, SendVoucher):
                if effect.vtcode == "2301" and effect.flag == 0:
                    self._filing_refused(effect.head["VoucherNo"], reason)
                elif effect.flag == 1 and refusal.source == "gateway":
                    payment = self.payments.get(effect.key.original())
                    if payment is not None:
                        payment.receipt_refused = refusal.code
        return self.duties.outgoing(corrected, now)

    def _unbook(self, t: Transfer) -> None:
        """Undo a transfer in the core's own view of its books."""
        self.balances[t.debit_account] = self.balances.get(t.debit_account, 0) + t.amount_fen
        self.balances[t.credit_account] = self.balances.get(t.credit_account, 0) - t.amount_fen
        if t.debit_account == self.accounts["reserve"]:
            self.reserve_balance_fen += t.amount_fen
        if t.credit_account == self.accounts["reserve"]:
            self.reserve_balance_fen -= t.amount_fen

    def _payment_of(self, reference: str) -> Payment | None:
        # Only after a refusal (rare): a scan is fine.
        return next((p for p in self.payments.values() if str(p.key) == reference), None)

    def _filing_refused(self, voucher_no: str, reason: str) -> None:
        filing = self.filings.get(voucher_no)
        if filing is not None:
            filing.state, filing.reason, filing.cleared_fen = "rejected", reason, 0

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready plain data (see the module doc)."""
        data = self.stored_snapshot()
        data["payments"] = list(data["payments"])
        return data

    def stored_snapshot(self) -> dict[str, Any]:
        """`snapshot()` with the payments as a `Lazy` list, for the shell's store: it encodes them
        one by one (`sim.snapshot.dumps_plain`), not as one plain dict per payment of the day at once."""
        return {
            "core": "bank", "version": SNAPSHOT_VERSION, "bank_code": self.bank_code,
            "config": config_fingerprint(self.config, self.clock_config),
            "cursor": datetime_to_plain(self._cursor), "serial": self._serial, "filing_seq": self._filing_seq,
            "reserve_balance_fen": self.reserve_balance_fen,
            "balances": dict(self.balances),
            "opened": sorted(self._opened), "zero_at_close": sorted(self._zero_at_close),
            "payments": Lazy(lambda: ({
                "key": key_to_plain(p.key), "vtcode": p.vtcode, "pay_type": p.pay_type, "fund_type": list(p.fund_type),
                "sup_dep": list(p.sup_dep), "account": p.account, "amount_fen": p.amount_fen,
                "received_at": datetime_to_plain(p.received_at), "mode": p.mode, "day": date_to_plain(p.day),
                "serial": p.serial, "doc": bytes_to_plain(p.doc.data) if p.doc is not None else None,
                "filing": p.filing, "refused": p.refused, "receipt_refused": p.receipt_refused,
                "urgent": p.urgent, "agency": list(p.agency), "pay_acct": p.pay_acct, "returned": p.returned,
                "quota_taken": None if p.quota_taken is None else [[*k, v] for k, v in p.quota_taken.items()],
                "covered": p.covered, "held": p.held}
                for p in self.payments.values())),
            "deferred": [key_to_plain(k) for k in self._deferred],
            "filings": [{
                "voucher_no": f.voucher_no, "clear_type": f.clear_type, "pay_type": f.pay_type,
                "fund_type": list(f.fund_type), "clear_date": date_to_plain(f.clear_date),
                "filed_at": datetime_to_plain(f.filed_at), "amount_fen": f.amount_fen,
                "by_account": dict(f.by_account), "payments": [key_to_plain(k) for k in f.payments],
                "state": f.state, "reason": f.reason, "cleared_fen": f.cleared_fen,
                "answered_at": datetime_to_plain(f.answered_at), "urgent": f.urgent}
                for f in self.filings.values()],
            "quota_book": quotas.book_to_plain(self.quota_book),
            "quota_notices": [[no, datetime_to_plain(t)] for no, t in self.quota_notices.items()],
            "year_end_notices": [[no, datetime_to_plain(t)] for no, t in self.year_end_notices.items()],
            "reserve_lists": list(self.reserve_lists),
            "suspensions": susp.orders_to_plain(self.suspensions),
            "lifted_suspensions": list(self.lifted_suspensions),
            "unbalanced_closes": [[date_to_plain(d), a, b] for d, a, b in self.unbalanced_closes],
            "closes": [date_to_plain(d) for d in self.closes],
            "duties": self.duties.snapshot(),
        }

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace this core's state with a snapshot taken by a core of the same bank and config."""
        check_snapshot_header(data, "bank", SNAPSHOT_VERSION, config_fingerprint(self.config, self.clock_config))
        if data["bank_code"] != self.bank_code:
            raise ValueError(f"the snapshot is bank {data['bank_code']}'s, not {self.bank_code}'s")
        self._cursor = datetime_from_plain(data["cursor"])
        self._serial = int(data["serial"])
        self._filing_seq = int(data["filing_seq"])
        self.reserve_balance_fen = int(data["reserve_balance_fen"])
        self.balances = {a: int(b) for a, b in data["balances"].items()}
        self._opened = set(data["opened"])
        self._zero_at_close = set(data["zero_at_close"])
        self.payments = {}
        for p in data["payments"]:
            received = datetime_from_plain(p["received_at"])
            assert received is not None
            raw = bytes_from_plain(p["doc"])
            payment = Payment(key_from_plain(p["key"]), p["vtcode"], p["pay_type"], _pair(p["fund_type"]),
                              _pair(p["sup_dep"]), p["account"], int(p["amount_fen"]), received, p["mode"],
                              date_from_plain(p["day"]), p["serial"], parse_voucher(raw) if raw is not None else None,
                              p["filing"], p.get("refused"), p.get("receipt_refused"), bool(p.get("urgent", False)),
                              _pair(p.get("agency", ("", ""))), p.get("pay_acct", ""), p.get("returned"),
                              None if p.get("quota_taken") is None else
                              {quotas.key_from_plain(k): int(v) for *k, v in p["quota_taken"]},
                              bool(p.get("covered", False)), p.get("held"))
            self.payments[payment.key] = payment
        self._deferred = [key_from_plain(k) for k in data["deferred"]]
        self.filings = {}
        for f in data["filings"]:
            clear_date, filed_at = date_from_plain(f["clear_date"]), datetime_from_plain(f["filed_at"])
            assert clear_date is not None and filed_at is not None
            self.filings[f["voucher_no"]] = Filing(
                f["voucher_no"], int(f["clear_type"]), f["pay_type"], _pair(f["fund_type"]), clear_date, filed_at,
                int(f["amount_fen"]), {a: int(v) for a, v in f["by_account"].items()},
                [key_from_plain(k) for k in f["payments"]], f["state"], f["reason"], int(f["cleared_fen"]),
                datetime_from_plain(f["answered_at"]), bool(f.get("urgent", False)))  # an old "interest_fen" is ignored
        self.quota_book = quotas.book_from_plain(data.get("quota_book", []))
        self.quota_notices = {}
        for no, when in data.get("quota_notices", []):
            t = datetime_from_plain(when)
            assert t is not None
            self.quota_notices[no] = t
        self.year_end_notices = {}
        for no, when in data.get("year_end_notices", []):
            t = datetime_from_plain(when)
            assert t is not None
            self.year_end_notices[no] = t
        self.reserve_lists = list(data.get("reserve_lists", []))
        self.suspensions = susp.orders_from_plain(data.get("suspensions", []))
        self.lifted_suspensions = list(data.get("lifted_suspensions", []))
        self.unbalanced_closes = [(dt.date.fromisoformat(d), a, int(b)) for d, a, b in data["unbalanced_closes"]]
        self.closes = [dt.date.fromisoformat(d) for d in data["closes"]]
        self.duties.load_snapshot(data.get("duties"))

    @classmethod
    def restore(cls, data: Mapping[str, Any], bank_code: str, config: BankConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> BankCore:
        core = cls(bank_code, config, calendar, clock_config)
        core.load_snapshot(data)
        return core

    # --- the schedule -------------------------------------------------------------------

    def _events_on(self, day: dt.date) -> list[tuple[dt.datetime, str]]:
        if not self.calendar.is_business_day(day):
            return []
        c = self.config
        return sorted([(at(day, c.replenish_time), "replenish"), (at(day, c.open_time), "open"),
                       (at(day, c.filing_time), "file"), (clearing_rules.sweep_instant(day, self.clock_config), "file"),
                       (at(day, self.clock_config.bank_system_close), "close")])

    def _next_event_after(self, t: dt.datetime) -> tuple[dt.datetime, str]:
        event = self._next_scheduled_after(t)
        duty = self.duties.next_after(t)
        return (duty, "duties") if duty is not None and duty < event[0] else event

    def _next_scheduled_after(self, t: dt.datetime) -> tuple[dt.datetime, str]:
        day = t.date()
        while True:
            for event in self._events_on(day):
                if event[0] > t:
                    return event
            day = self.calendar.next_business_day(day)

    def _catch_up(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        if self._cursor is None:
            effects += self._open_books()
            self._cursor = now - dt.timedelta(microseconds=1)
        while (event := self._next_event_after(self._cursor))[0] <= now:
            when, kind = event
            self._cursor = when
            if kind == "replenish":
                effects += self._file_replenishments(when)
            elif kind == "open":
                effects += self._pay_deferred(when)
            elif kind == "file":
                effects += self._file_clearings(when)
            elif kind == "duties":
                effects += self.duties.on_time(when)
            else:
                effects += self._close(when.date())
        return effects

    def _open_books(self) -> list[Effect]:
        a = self.accounts
        effects: list[Effect] = [
            self._open(a["zba-finance"], "finance zero-balance account", "finance-zero-balance",
                       AccountFlags.ZERO_AT_CLOSE),
            self._open(a["reserve"], "clearing reserve account", "clearing-reserve",
                       AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            self._open(a["reserve-funding"], "clearing reserve funding (treasury)", "reserve-funding"),
            self._open(a["payees"], "payments to payees", "payees"),
            self._open(a["pboc-clearing"], "clearing account at the central bank (mirror)", "bank-clearing"),
        ]
        if self.config.reserve_fen:
            effects.append(self._transfer(f"bank:{self.bank_code}:reserve-opening", a["reserve-funding"],
                                          a["reserve"], self.config.reserve_fen, "reserve-funding", "", None))
            self.reserve_balance_fen = self.config.reserve_fen
        return effects

    def _open(self, account_id: str, name: str, kind: str, flags: AccountFlags = AccountFlags.NONE) -> OpenAccount:
        self._opened.add(account_id)
        self.balances.setdefault(account_id, 0)
        if flags & AccountFlags.ZERO_AT_CLOSE:
            self._zero_at_close.add(account_id)
        return OpenAccount(Account(account_id, name, kind, flags, owner=self.bank_code))

    def _transfer(self, tid: str, debit: str, credit: str, amount: int, kind: str, ref: str,
                  day: dt.date | None) -> PostTransfer:
        self.balances[debit] = self.balances.get(debit, 0) - amount
        self.balances[credit] = self.balances.get(credit, 0) + amount
        return PostTransfer(Transfer(tid, debit, credit, amount, kind, ref, day))

    # --- payments -----------------------------------------------------------------------

    def decide(self, pay_bank: str, amount_fen: int, now: dt.datetime, *, urgent: bool = False) -> PaymentRule:
        facts = _Facts(pay_bank, now, amount_fen, urgent)
        for rule in PAYMENT_RULES:
            if rule.when(self, facts):
                return rule
        raise AssertionError("the last payment rule always matches")

    def _payment(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        known = self.payments.get(key)
        if known is not None:
            # paid: replay (same transfer id, same receipt); returned: the same return; deferred: not paid yet
            if known.returned is not None:
                return [self._returned_receipt(known, doc)]
            return self._paid(known, doc) if known.day is not None else []
        amount = doc.amount_fen("PayAmt")
        urgent = doc.get("UrgentFlag") == "1"
        rule = self.decide(doc.get("PayBankCode"), amount, now, urgent=urgent)
        if rule.mode == "refuse":
            return [Alarm("not-authorized", f"PayBankCode {doc.get('PayBankCode')} is not bank {self.bank_code}",
                          str(key))]
        pay_type = PAY_TYPE[doc.vtcode]
        agency = doc.get("AgencyCode")
        zba = self.accounts["zba-finance"] if pay_type == "11" else unit_zba(self.bank_code, agency)
        payment = Payment(key, doc.vtcode, pay_type, (doc.get("FundTypeCode"), doc.get("FundTypeName")),
                          (doc.get("SupDepCode"), doc.get("SupDepName")), zba, amount, now, rule.mode,
                          doc=doc, urgent=urgent and rule.name == "urgent",
                          agency=(agency, doc.get("AgencyName")), pay_acct=doc.get("PayAcctNo"))
        self.payments[key] = payment
        returned = self._return_reason(payment, doc)
        if returned is not None:
            return self._return(payment, doc, now, returned)
        if rule.mode == "defer":
            self._deferred.append(key)
            return []
        return self._pay(payment, now)

    def _pay(self, p: Payment, now: dt.datetime) -> list[Effect]:
        doc = p.doc
        assert doc is not None
        effects: list[Effect] = []
        if p.account not in self._opened:
            effects.append(self._open(p.account, f"zero-balance account of unit {doc.get('AgencyCode')}",
                                      "unit-zero-balance", AccountFlags.ZERO_AT_CLOSE))
        if p.mode == "advance":
            self.reserve_balance_fen -= p.amount_fen
        p.day = now.date()
        self._serial += 1
        p.serial = f"YH{self.bank_code[-4:]}{format_ymd(p.day)}{self._serial:08d}"
        paid = self._paid(p, doc)
        for effect in paid:  # book its transfers in the core's own view
            if isinstance(effect, PostTransfer):
                t = effect.transfer
                self._transfer(t.id, t.debit_account, t.credit_account, t.amount_fen, t.kind, t.reference, p.day)
        p.doc = None
        self.duties.on_paid(p, doc)
        if p.urgent:  # cleared at once by an urgent request: the 16:30 deadline is the whole request's
            effects += paid
            return effects + self._file([p, *self._urgent_companions(p)], 0, p.day, now, urgent=True)
        return effects + paid

    def _urgent_companions(self, urgent: Payment) -> list[Payment]:
        """The payments an urgent request carries besides its urgent one: the same day's, pay type
        and fund type, paid from a zero-balance account and in no request yet (`bank_sim.clearing`)."""
        return [p for p in self.payments.values() if p is not urgent and p.mode == "clearing" and p.day == urgent.day
                and p.filing is None and p.pay_type == urgent.pay_type and p.fund_type == urgent.fund_type]

    def _paid(self, p: Payment, doc: VoucherDoc) -> list[Effect]:
        """A paid voucher's effects: the transfer to the payees, then the receipt."""
        assert p.day is not None
        effects: list[Effect] = []
        if p.mode == "advance" and p.account != self.accounts["reserve"]:
            # 004 part 3 §9(12): reserve → the zero-balance account → payee
            effects.append(PostTransfer(Transfer(f"bank:{self.bank_code}:advance:{p.key}", self.accounts["reserve"],
                                                 p.account, p.amount_fen, "advance", str(p.key), p.day)))
        kind = ("advance" if p.account == self.accounts["reserve"]  # a snapshot of the days before 7202
                else "direct-payment" if p.pay_type == "11" else "authorized-payment")
        transfer = Transfer(f"bank:{self.bank_code}:pay:{p.key}", p.account, self.accounts["payees"], p.amount_fen,
                            kind, str(p.key), p.day)
        head = {**doc.head(), "XPayDate": format_ymd(p.day), "XPayAmt": fen_to_str(p.amount_fen),
                "XAgentBusinessNo": p.serial, **self.duties.receipt_fields(p, doc)}
        return [*effects, PostTransfer(transfer), SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "treasury",
                                                              original=doc.data, encoding=doc.encoding)]

    def _pay_deferred(self, when: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        keys, self._deferred = self._deferred, []
        for key in keys:
            p = self.payments[key]
            p.mode = "clearing"
            effects += self._pay(p, when)
        return effects

    # --- authorized quotas and returns before payment ---------------------------------------

    def _quota_notice(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        """A 7101: add its lines (`bank_sim.quotas`), confirm it (receipt with XConfirmDate) and send
        each unit its quota arrival notice (7102) at once: within the 1 + 1 working days (004 part 3 §9(2))
        by construction, unless the profile holds it."""
        no = doc.get("VoucherNo")
        head = {**doc.head(), "XConfirmDate": format_ymd(now.date())}
        receipt = SendVoucher("7101", 1, head, tuple(doc.details()), "treasury", original=doc.data,
                              encoding=doc.encoding)
        if no in self.quota_notices:
            return [receipt]  # redelivered: confirmed before, counted once
        lines = quotas.notice_lines(doc.get("StYear"), doc.get("FundTypeCode"), doc.details())
        refused = (f"PayBankCode {doc.get('PayBankCode')} is not bank {self.bank_code}"
                   if doc.get("PayBankCode") != self.bank_code else quotas.grant(self.quota_book, no, lines))
        if refused is not None:
            return [Alarm("quota-notice-invalid", f"authorized quota notice {no} refused: {refused}", str(key))]
        self.quota_notices[no] = now
        effects: list[Effect] = [receipt]
        for n_head, n_details in quotas.arrival_notices(doc.head(), lines, now.date(), self.bank_code,
                                                        self.config.bank_name):
            effects.append(SendVoucher("7102", 0, n_head, n_details, "treasury"))
        return effects

    def _year_end_notice(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        """A 7301 (cancel the remaining quota of year StYear) or 7302 (carry it from ToYear - 1 to
        ToYear), 004 part 5 §6: apply it (`bank_sim.quotas`), confirm it (receipt with
        XConfirmDate) and tell each unit (7102 naming the notice by OriVtCode / OriVoucherNo: the
        seed's 注销到账通知单 / 结转到账通知单). A notice the book cannot honour (a line missing or
        short) is refused whole: no receipt, an alarm, nothing changed."""
        no = doc.get("VoucherNo")
        head = {**doc.head(), "XConfirmDate": format_ymd(now.date())}
        receipt = SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "treasury", original=doc.data,
                              encoding=doc.encoding)
        seen = f"{doc.vtcode}/{no}"
        if seen in self.year_end_notices:
            return [receipt]  # redelivered: confirmed before, applied once
        to_year = doc.get("ToYear")
        year = str(int(to_year) - 1) if doc.vtcode == "7302" and to_year.isdigit() else doc.get("StYear")
        lines = quotas.notice_lines(year, doc.get("FundTypeCode"), doc.details())
        if doc.get("PayBankCode") != self.bank_code:
            refused: str | None = f"PayBankCode {doc.get('PayBankCode')} is not bank {self.bank_code}"
        elif doc.get("PayTypeCode") != "12":
            refused = f"PayTypeCode {doc.get('PayTypeCode')}: the bank keeps authorized quota (12) only"
        elif doc.vtcode == "7301":
            refused = quotas.cancel(self.quota_book, lines)
        else:
            refused = quotas.carry(self.quota_book, no, to_year, lines)
        if refused is not None:
            return [Alarm("quota-notice-invalid", f"year-end quota notice {doc.vtcode} {no} refused: {refused}",
                          str(key))]
        self.year_end_notices[seen] = now
        effects: list[Effect] = [receipt]
        for n_head, n_details in quotas.arrival_notices(doc.head(), lines, now.date(), self.bank_code,
                                                        self.config.bank_name):
            effects.append(SendVoucher("7102", 0, n_head, n_details, "treasury"))
        return effects

    def _suspension(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
        """A 7501 (000 五(二)3): SuspendAction 1 puts the order OrderNo in force, 2 lifts it
        (`bank_sim.suspensions`). Confirmed by a receipt with XConfirmDate; one the bank cannot
        apply (another bank's, a lift of an unknown order, an OrderNo reused for another scope)
        is refused whole: no receipt, an alarm, nothing changed. A redelivery is confirmed again."""
        head = {**doc.head(), "XConfirmDate": format_ymd(now.date())}
        receipt = SendVoucher(doc.vtcode, 1, head, (), "treasury", original=doc.data, encoding=doc.encoding)
        order = susp.order_from_head(doc.head())
        no = doc.get("OrderNo")
        refused: str | None = None
        if doc.get("PayBankCode") != self.bank_code:
            refused = f"PayBankCode {doc.get('PayBankCode')} is not bank {self.bank_code}"
        elif order is None:
            refused = "the order names no scope (AgencyCode, PayAcctNo or PayeeAcctNo) or more than one"
        elif doc.get("SuspendAction") == "1":
            standing = self.suspensions.get(no)
            if no in self.lifted_suspensions:
                refused = f"order {no} was lifted; a new order takes a new OrderNo"
            elif standing is not None and (standing.element, standing.value) != (order.element, order.value):
                refused = f"order {no} stands for {standing.element} {standing.value}, not {order.element} {order.value}"
            else:
                self.suspensions[no] = order
        elif doc.get("SuspendAction") == "2":
            if no in self.suspensions:
                del self.suspensions[no]
                self.lifted_suspensions.append(no)
            elif no not in self.lifted_suspensions:
                refused = f"lift of order {no}, which this bank does not hold"
        else:
            refused = f"SuspendAction {doc.get('SuspendAction')!r} (1 suspend, 2 lift)"
        if refused is not None:
            return [Alarm("suspension-order-invalid", f"payment suspension {doc.get('VoucherNo')} refused: {refused}",
                          str(key))]
        return [receipt]

    def remaining_quota(self, agency: str | None = None) -> dict[str, dict[str, int]]:
        """The authorized quota by unit: granted, spent and remaining fen (all units, or one)."""
        rows = quotas.remaining_by_unit(self.quota_book)
        return rows if agency is None else {agency: rows.get(agency, {"granted": 0, "spent": 0, "remaining": 0})}

    def _return_reason(self, p: Payment, doc: VoucherDoc) -> str | None:
        """Why the voucher is returned unpaid ("<code>: <message>"), or None. An 8202 within its
        unit's quota takes its share of the quota here (given back if it is not paid after all)."""
        suspended = susp.match(self.suspensions.values(), doc.head())
        if suspended is not None:
            return (f"payment-suspended: order {suspended.order_no} suspends payments of {suspended.element} "
                    f"{suspended.value} ({suspended.reason})")
        details = doc.details()
        found = check_return(ReturnFacts(self.bank_code, doc.vtcode, doc.head(), details,
                                         dict(self.config.payee_accounts)))
        if found is not None:
            return f"{found[0]}: {found[1]}"
        if p.pay_type == "12":
            taken = quotas.draw(self.quota_book, p.agency[0], details, doc.get("StYear"), doc.get("FundTypeCode"))
            if isinstance(taken, quotas.Shortfall):
                return f"{taken.code}: {taken.message}"
            quotas.spend(self.quota_book, taken)
            p.quota_taken = taken
        return None

    def _return(self, p: Payment, doc: VoucherDoc, now: dt.datetime, reason: str) -> list[Effect]:
        """Return the voucher unpaid (退票): its receipt with Return_Reason and XPayAmt 0.00, at once."""
        p.mode, p.returned, p.doc = "refuse", reason, None
        self._serial += 1
        p.serial = f"TP{self.bank_code[-4:]}{format_ymd(now.date())}{self._serial:08d}"
        p.received_at = now
        code = reason.split(":", 1)[0]
        return [self._returned_receipt(p, doc), Alarm(registered_code(code), f"returned unpaid: {reason}", str(p.key))]

    def _returned_receipt(self, p: Payment, doc: VoucherDoc) -> SendVoucher:
        head = {**doc.head(), "XPayDate": format_ymd(p.received_at.date()), "XPayAmt": "0.00",
                "XAgentBusinessNo": p.serial}
        return SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "treasury", return_reason=p.returned,
                           original=doc.data, encoding=doc.encoding)

    # --- clearing requests --------------------------------------------------------------

    def _file_clearings(self, when: dt.datetime) -> list[Effect]:
        """Today's unfiled payments, and apart from them those of earlier days held after a refusal
        (`bank_sim.clearing`: filed again at each round until the central bank accepts)."""
        day = when.date()
        due = [p for p in self.payments.values() if p.mode == "clearing" and p.filing is None and p.day is not None
               and (p.day == day or (p.held is not None and p.day < day))]
        return (self._file([p for p in due if p.day == day], 0, day, when)
                + self._file([p for p in due if p.day != day], 0, day, when))

    def _file_replenishments(self, when: dt.datetime) -> list[Effect]:
        due = [p for p in self.payments.values() if (p.mode == "advance" or p.covered) and p.filing is None
               and p.day is not None and replenishment_day(p.day, self.calendar) == when.date()]
        effects: list[Effect] = []
        for advance_day in sorted({p.day for p in due if p.day is not None}):
            effects += self._file([p for p in due if p.day == advance_day], 1, advance_day, when)
        return effects

    def _file(self, payments: list[Payment], clear_type: int, clear_date: dt.date, when: dt.datetime, *,
              urgent: bool = False) -> list[Effect]:
        groups: dict[tuple[str, tuple[str, str]], list[Payment]] = {}
        for p in payments:
            groups.setdefault((p.pay_type, p.fund_type), []).append(p)
        effects: list[Effect] = []
        today = when.date()
        reserve = self.accounts["reserve"]
        for (pay_type, fund_type), group in sorted(groups.items()):
            self._filing_seq += 1
            no = f"HK{self.bank_code[-4:]}{format_ymd(today)}{self._filing_seq:05d}"
            by_dep: dict[tuple[str, str], int] = {}
            by_account: dict[str, int] = {}
            for p in group:
                by_dep[p.sup_dep] = by_dep.get(p.sup_dep, 0) + p.amount_fen
                # what the clearing pays back: the reserve for an advance or a covered payment
                account = reserve if clear_type == 1 else p.account
                by_account[account] = by_account.get(account, 0) + p.amount_fen
                p.filing, p.held = no, None
            total = sum(by_dep.values())
            self.filings[no] = Filing(no, clear_type, pay_type, fund_type, clear_date, when, total, by_account,
                                      [p.key for p in group], urgent=urgent)
            head = {
                "Id": f"V2301{no}", "AdmDivCode": self.config.adm_div_code, "StYear": str(today.year),
                "VouDate": format_ymd(today), "VoucherNo": no, "PayBankCode": self.bank_code,
                "PayBankName": self.config.bank_name, "ClearBankCode": self.config.clear_bank_code,
                "ClearBankName": self.config.clear_bank_name, "ClearDate": format_ymd(clear_date),
                "PayTypeCode": pay_type, "FundTypeCode": fund_type[0], "FundTypeName": fund_type[1],
                "UrgentFlag": "1" if urgent else "0", "ClearType": str(clear_type), "PayAmt": fen_to_str(total),
            }
            details = self.duties.clearing_details(group)  # one Detail per payment (refunds match them)
            effects.append(SendVoucher("2301", 0, head, details, "pboc"))
        return effects

    def _clearing_receipt(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime,
                          return_reason: str | None) -> list[Effect]:
        filing = self.filings.get(doc.get("VoucherNo"))
        if filing is None:
            return [Alarm("unknown-original", "a clearing receipt for a request this bank never filed", str(key))]
        if filing.state != "pending":
            return []  # answered before
        filing.answered_at = now
        cleared = parse_fen(doc.get("XClearAmt") or "0.00")
        if return_reason is not None or cleared == 0:
            filing.state = "rejected"
            filing.reason = return_reason or "rejected without a reason"
            code = filing.reason.split(":", 1)[0].strip()
            return [Alarm(registered_code(code), f"clearing request {filing.voucher_no} refused: {filing.reason}",
                          str(key)), *self._refile(filing, code, now)]
        if cleared != filing.amount_fen:
            filing.state = "rejected"
            filing.reason = f"amount-mismatch: cleared {fen_to_str(cleared)} of {fen_to_str(filing.amount_fen)}"
            return [Alarm("amount-mismatch", f"clearing request {filing.voucher_no}: {filing.reason}", str(key))]
        filing.state = "accepted"
        filing.cleared_fen = cleared
        kind = "reserve-replenishment" if filing.clear_type == 1 else "clearing"
        effects: list[Effect] = []
        for account, fen in sorted(filing.by_account.items()):
            effects.append(self._transfer(f"bank:{self.bank_code}:{kind}:{filing.voucher_no}:{account}",
                                          self.accounts["pboc-clearing"], account, fen, kind, str(key.original()),
                                          now.date()))
            if account == self.accounts["reserve"]:
                self.reserve_balance_fen += fen
        return effects + self.duties.on_cleared(now, filing.payments)

    def _refile(self, filing: Filing, code: str, now: dt.datetime) -> list[Effect]:
        """After a refused clearing request (`bank_sim.clearing.refile_action`) its payments are
        unfiled: held for the next clearing round, or (missed the clearing time) left to the close,
        which makes them whole from the reserve. Nothing is filed here."""
        if filing.clear_type != 0:
            return []  # a refused replenishment is escalated by its alarm; the reserve stays short
        action = clearing_rules.refile_action(code)
        for k in filing.payments:
            p = self.payments.get(k)
            if p is not None and p.filing == filing.voucher_no:
                # a held payment of an earlier day stays held: the reserve covers only the day's own
                p.filing, p.held = None, (code if action == "hold" or p.day != filing.clear_date else None)
        return []

    # --- day close ----------------------------------------------------------------------

    def _cover(self, day: dt.date) -> list[Effect]:
        """At the close: the day's payments from a zero-balance account whose clearing missed the
        cutoff are made whole from the reserve (Alarm clearing-escalated); the next morning's
        replenishment asks for them like any advance. Payments held for the treasury's quota are
        not: Alarm clearing-held (004 part 3 第四条, `bank_sim.clearing`)."""
        unfiled = [p for p in self.payments.values() if p.mode == "clearing" and p.filing is None
                   and p.day is not None and p.day <= day and not p.covered and p.refused is None]
        left = [p for p in unfiled if p.held is None and p.day == day]
        effects: list[Effect] = [
            Alarm("clearing-held", f"payment {p.key} ({fen_to_str(p.amount_fen)}, paid {p.day}) is not cleared: "
                  f"refused {p.held}, it waits for the treasury's quota and is filed again at the next clearing "
                  "round; the clearing reserve is not used", str(p.key))
            for p in sorted(unfiled, key=lambda p: str(p.key)) if p.held is not None]
        for p in sorted(left, key=lambda p: str(p.key)):
            if p.amount_fen > self.reserve_balance_fen:
                effects.append(Alarm("clearing-escalated", f"payment {p.key} was not cleared and the reserve cannot "
                                     f"cover {fen_to_str(p.amount_fen)}", str(p.key)))
                continue
            p.covered = True
            self.reserve_balance_fen -= p.amount_fen
            effects.append(self._transfer(f"bank:{self.bank_code}:cover:{p.key}", self.accounts["reserve"], p.account,
                                          p.amount_fen, "reserve-cover", str(p.key), day))
            effects.append(Alarm("clearing-escalated", f"payment {p.key} ({fen_to_str(p.amount_fen)}) missed the "
                                 "clearing time today: made whole from the clearing reserve", str(p.key)))
        return effects

    def _reserve_list(self, day: dt.date) -> list[Effect]:
        """The day's clearing reserve detail list (7202) to the treasury, if the reserve paid anything."""
        items = [Advanced(p.vtcode, p.key.voucher_no, p.agency[0], p.agency[1] or p.agency[0], p.pay_acct,
                          p.amount_fen, p.covered)
                 for p in sorted(self.payments.values(), key=lambda p: str(p.key))
                 if p.day == day and (p.mode == "advance" or p.covered) and p.account != self.accounts["reserve"]
                 and p.agency[0] and p.pay_acct]
        if not items:
            return []
        head, details = reserve_detail_list(day, len(self.reserve_lists) + 1, self.config.adm_div_code,
                                            self.bank_code, self.config.bank_name, items)
        self.reserve_lists.append(head["VoucherNo"])
        return [SendVoucher(RESERVE_LIST_VTCODE, 0, head, details, "treasury")]

    def _close(self, day: dt.date) -> list[Effect]:
        self.closes.append(day)
        effects: list[Effect] = self._cover(day) + self._reserve_list(day)
        for account in sorted(self._zero_at_close):
            balance = self.balances.get(account, 0)
            if balance != 0:
                self.unbalanced_closes.append((day, account, balance))
                effects.append(Alarm("zero-balance-not-zero", f"zero-balance account {account} stands at "
                                     f"{fen_to_str(balance)} at the close of {day}"))
        return effects

    # --- reading ------------------------------------------------------------------------

    def paid_fen(self, mode: Mode | None = None) -> int:
        return sum(p.amount_fen for p in self.payments.values() if p.day is not None and (mode is None or p.mode == mode))

    def filings_of(self, clear_type: int, state: str | None = None) -> list[Filing]:
        return [f for f in self.filings.values() if f.clear_type == clear_type and (state is None or f.state == state)]


def _pair(value: Any) -> tuple[str, str]:
    first, second = value
    return str(first), str(second)
