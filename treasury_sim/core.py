"""The treasury core (财政 / 国库支付中心) as a sans-IO core: plan + voucher + time → effects.

`TreasuryCore` never awaits, never reads a clock and draws every random number from a
`random.Random` seeded by (seed, day), so a day's vouchers are the same bytes on every run.
Entry points `on_time(now)`, `on_voucher(doc, flag, now, return_reason=None)` and
`on_refused(refusal, now)` (the `sim.shell.SimCore` protocol) return `sim.effects` values.

Cost: a call costs O(what it does), not O(the day): the vouchers of a day are planned once in
send order and an index per day marks the first not sent yet, so catching up and finding the
next wake-up never scan the plan. A planned voucher keeps its bytes, not a parsed tree.

**The day (each business day of the run).**

| time                            | action                                                                  |
|---------------------------------|-------------------------------------------------------------------------|
| `quota_time` (08:30)            | plan the day (N approved vouchers: bank, 5201 or 8202, amount, unit, send time); send per bank, pay type and fund type a 5108 (direct) / 5106 (authorized) clearing quota notice: the exact sum of the day's approved vouchers by first-level unit (SupDepCode), no margin (`treasury_sim.clearing_quotas`) |
| `window_start`..`window_end`    | most vouchers, at `slot_minutes` slots (09:00-15:20: before the banks' 15:30 clearing filing) |
| clearing cutoff..`late_end`     | `late_share_pct` of them (16:00-16:50): the banks pay these as advances from the reserve |

**What comes back.**

* 5201 / 8202 receipts (flag 1): matched to the original by VoucherNo; XPayAmt must equal
  PayAmt. A second receipt for the same voucher is a double payment (Alarm
  `duplicate-conflict`); a receipt for nothing it sent, `unknown-original`.
* 7401 daily TSA statements, one every business day (a day without movements gets one with no
  DetailList and zero debits and credits): checked against what the treasury expects from its
  own plan and the refund advices it got. The day's debits are its vouchers sent before the
  cutoff that day plus the advances of the previous business day (replenished that morning);
  its credits are the refunds advised (7403) with that CreditDate; BeginBalance follows from the
  opening balance and the earlier days; EndBalance = BeginBalance + CreditAmt - DebitAmt; the D
  and C details add up to DebitAmt and CreditAmt. A difference is an Alarm `amount-mismatch` and
  is kept in `statements` (never netted away). `missing_statements(through)` lists the business
  days of the run with no statement yet.
* A receipt paid on a later business day than the voucher's own (the bank carried it over: it
  arrived after the bank's close, or the bank was offline) gets that day's quota: the treasury
  sends at once a supplementary 5108 / 5106 for that day covering exactly that voucher, if it is
  still before the clearing cutoff (after it, the bank's 2301 of the day could not use it).
* 7101 / 7301 / 7302 receipts (the bank confirmed a quota, cancellation or carry-forward notice)
  and 7102 arrival notices: recorded.
* 7403 refund advices (credits expected on their CreditDate) and 3502 reconciliations: recorded.
* 7501 receipts (the bank confirmed a payment suspension order or its lift, 000 五(二)3): appended
  to the audit record `suspensions` (`treasury_sim.suspensions`), beside the orders and lifts sent.
* A voucher the gateway refused (`on_refused`): marked refused with the gateway's code
  (`refused`); the treasury no longer expects it to be paid or debited from the TSA.

**Snapshots.** `snapshot()` / `load_snapshot(data)` (or `TreasuryCore.restore(data, ...)`): the
plan is not stored (it is regenerated from the seed, the same bytes), only which days were
planned, which vouchers went out, and what came back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at, replenishment_day
from messages.dates import format_ymd, parse_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.factory import DEFAULT_PROJECT, UNITS, authorized_quota_notice, payment_voucher, quota_notice
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, Refusal, SendVoucher, WakeAt
from sim.snapshot import (
    check_snapshot_header,
    config_fingerprint,
    datetime_from_plain,
    datetime_to_plain,
    key_from_plain,
    key_to_plain,
)
from treasury_sim.bank_reports import HANDLED, BankInbox
from treasury_sim.clearing_quotas import QUOTA_VTCODE, Approved, notice_lines
from treasury_sim.suspensions import SuspensionLog

__all__ = ["PlannedVoucher", "Receipt", "StatementCheck", "TreasuryConfig", "TreasuryCore"]

VOUCHERS_PER_DAY_MAX = 100_000  # a big city's busiest day is a few tens of thousands
# The layout of `TreasuryCore.snapshot()`.
SNAPSHOT_VERSION = 1

@dataclass(frozen=True, slots=True)
class TreasuryConfig:
    """Who the treasury pays through and how its days look. Synthetic defaults."""

    banks: tuple[tuple[str, str], ...] = (("999100000001", "示例银行甲分行"), ("999100000002", "示例银行乙分行"))
    adm_div_code: str = "990100"
    first_day: dt.date = dt.date(2026, 2, 13)
    days: int = 3
    vouchers_per_day: int = 200
    seed: int = 1
    quota_time: dt.time = dt.time(8, 30)
    window_start: dt.time = dt.time(9, 0)
    window_end: dt.time = dt.time(15, 20)
    late_end: dt.time = dt.time(16, 50)  # late vouchers go from the clearing cutoff to here
    slot_minutes: int = 5
    late_share_pct: int = 10
    authorized_share_pct: int = 40
    amount_min_fen: int = 100_00
    amount_max_fen: int = 50_000_00
    tsa_opening_fen: int = 0  # the TSA balance the treasury expects the first statement to open with

    def __post_init__(self) -> None:
        if not self.banks:
            raise ValueError("a treasury pays through at least one bank")
        if not 0 <= self.vouchers_per_day <= VOUCHERS_PER_DAY_MAX:
            raise ValueError(f"vouchers_per_day must be 0..{VOUCHERS_PER_DAY_MAX}")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        for name in ("late_share_pct", "authorized_share_pct"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be 0..100")
        if not 0 < self.amount_min_fen <= self.amount_max_fen:
            raise ValueError("need 0 < amount_min_fen <= amount_max_fen")
        if not self.quota_time < self.window_start < self.window_end:
            raise ValueError("need quota_time < window_start < window_end")
        if not 1 <= self.slot_minutes <= 60:
            raise ValueError("slot_minutes must be 1..60")


@dataclass(slots=True)
class PlannedVoucher:
    day: dt.date
    send_at: dt.datetime
    vtcode: str
    voucher_no: str
    bank: str
    amount_fen: int
    unit: tuple[str, str, str, str]  # (SupDepCode, SupDepName, AgencyCode, AgencyName): one of `UNITS`
    late: bool  # sent after the clearing cutoff: the bank advances it
    details: int  # Detail lines
    adm_div_code: str
    seed: int  # the run's seed: with the day and VoucherNo, the seed of the voucher's own generator
    sent: bool = False
    refused: str | None = None  # the gateway refused it: its code

    @property
    def pay_type(self) -> str:
        return "11" if self.vtcode == "5201" else "12"

    @property
    def sup_dep(self) -> tuple[str, str]:
        return self.unit[0], self.unit[1]

    @property
    def fund_type(self) -> str:
        return "1"  # the generated plan pays general public budget funds only (the factory's default)

    @property
    def approved(self) -> Approved:
        return Approved(self.bank, self.pay_type, self.fund_type, self.sup_dep, self.amount_fen)

    @property
    def data(self) -> bytes:
        """The voucher's bytes, rendered anew (the same bytes every time: the rest is drawn from the
        voucher's own seeded generator). A plan of 100,000 vouchers keeps these fields, ~200 bytes
        each, not ~1.8 KB of bytes each; a voucher is rendered when it is sent."""
        return payment_voucher(voucher_no=self.voucher_no, vou_date=self.day, pay_bank_code=self.bank,
                               amount_fen=self.amount_fen, adm_div_code=self.adm_div_code, vtcode=self.vtcode,
                               details=self.details, unit=self.unit,
                               rng=random.Random(f"{self.seed}:{self.day.isoformat()}:{self.voucher_no}"))

    @property
    def doc(self) -> VoucherDoc:
        """The voucher parsed (anew, from `data`)."""
        return parse_voucher(self.data)


@dataclass(frozen=True, slots=True)
class Receipt:
    key: VoucherKey
    paid_date: str
    paid_fen: int
    serial: str
    received_at: dt.datetime
    return_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StatementCheck:
    day: dt.date
    begin_fen: int
    debit_fen: int
    credit_fen: int
    end_fen: int
    expected_begin_fen: int
    expected_debit_fen: int
    expected_credit_fen: int = 0
    detail_debit_fen: int = 0  # the D details added up
    detail_credit_fen: int = 0  # the C details added up

    @property
    def ok(self) -> bool:
        return (self.begin_fen == self.expected_begin_fen and self.debit_fen == self.expected_debit_fen
                and self.credit_fen == self.expected_credit_fen
                and self.end_fen == self.begin_fen + self.credit_fen - self.debit_fen
                and (self.detail_debit_fen, self.detail_credit_fen) == (self.debit_fen, self.credit_fen))


@dataclass(slots=True)
class _DayPlan:
    vouchers: list[PlannedVoucher]  # in send order
    quota_notices: list[SendVoucher] = field(default_factory=list)
    next_unsent: int = 0  # vouchers[:next_unsent] are sent


class TreasuryCore:
    def __init__(self, config: TreasuryConfig, calendar: BusinessCalendar, clock_config: ClockConfig) -> None:
        if not config.window_end < clock_config.clearing_cutoff < config.late_end:
            raise ValueError("need window_end < clearing cutoff < late_end")
        if not config.late_end < clock_config.bank_system_close:
            raise ValueError("late vouchers must reach the banks before their system closes")
        self.config = config
        self.calendar = calendar
        self.clock_config = clock_config
        first = config.first_day if calendar.is_business_day(config.first_day) else \
            calendar.next_business_day(config.first_day)
        self.days: list[dt.date] = [first]
        while len(self.days) < config.days:
            self.days.append(calendar.next_business_day(self.days[-1]))
        self.plans: dict[dt.date, _DayPlan] = {}
        self.vouchers: dict[str, PlannedVoucher] = {}  # VoucherNo → plan
        self.receipts: dict[str, Receipt] = {}  # VoucherNo → the first receipt
        self.duplicate_receipts: list[Receipt] = []
        self.statements: dict[dt.date, StatementCheck] = {}
        self.other: list[tuple[str, dt.datetime]] = []  # (voucher key, received) of 7403 / 3502 ...
        self.refunds_advised: dict[str, tuple[dt.date, int]] = {}  # 7403 VoucherNo → (CreditDate, fen)
        self._cursor: dt.datetime | None = None
        self.bank_inbox = BankInbox()  # the banks' refund notices, reports and statements
        # payment suspension orders, lifts and the banks' confirmations (000 五(二)3): the audit record
        self.suspensions = SuspensionLog()

    def _paid_in(self, bank: str, begin: str, end: str) -> int:
        """What `bank`'s receipts paid from `begin` to `end` (yyyyMMdd, inclusive): a 3501's check."""
        return sum(r.paid_fen for no, r in self.receipts.items() if r.return_reason is None
                   and begin <= r.paid_date <= end and self.vouchers[no].bank == bank)

    def _agency_of(self, voucher_no: str) -> str:
        v = self.vouchers.get(voucher_no)
        return v.doc.get("AgencyCode") if v is not None else ""

    # --- planning (pure, seeded) --------------------------------------------------------

    def plan(self, day: dt.date) -> _DayPlan:
        if day in self.plans:
            return self.plans[day]
        c = self.config
        rng = random.Random(f"{c.seed}:{day.isoformat()}")
        regular_slots = _slots(day, c.window_start, c.window_end, c.slot_minutes)
        late_slots = _slots(day, self.clock_config.clearing_cutoff, c.late_end, c.slot_minutes)
        vouchers = []
        for i in range(1, c.vouchers_per_day + 1):
            bank = rng.choice(c.banks)[0]
            vtcode = "8202" if rng.randrange(100) < c.authorized_share_pct else "5201"
            late = rng.randrange(100) < c.late_share_pct
            send_at = rng.choice(late_slots if late else regular_slots)
            amount = rng.randint(c.amount_min_fen, c.amount_max_fen)
            no = f"{'ZZ' if vtcode == '5201' else 'SQ'}{format_ymd(day)}{i:05d}"
            details = rng.randint(1, 3)
            vouchers.append(PlannedVoucher(day, send_at, vtcode, no, bank, amount, rng.choice(UNITS), late, details,
                                           c.adm_div_code, c.seed))
        vouchers.sort(key=lambda v: (v.send_at, v.voucher_no))
        plan = _DayPlan(vouchers)
        for (bank, pay_type, fund_type), lines in notice_lines(v.approved for v in vouchers).items():
            no = f"QE{format_ymd(day)}{bank[-4:]}{pay_type}{fund_type}"
            plan.quota_notices.append(self._clearing_quota(no, day, bank, pay_type, fund_type, lines))
        self.plans[day] = plan
        for v in vouchers:
            self.vouchers[v.voucher_no] = v
        return plan

    def _clearing_quota(self, no: str, day: dt.date, bank: str, pay_type: str, fund_type: str,
                        lines: list[tuple[str, str, int]]) -> SendVoucher:
        vtcode = QUOTA_VTCODE[pay_type]
        qdoc = parse_voucher(quota_notice(voucher_no=no, clear_date=day, pay_bank_code=bank, amounts_by_unit=lines,
                                          adm_div_code=self.config.adm_div_code, vtcode=vtcode,
                                          fund_type_code=fund_type))
        return SendVoucher(vtcode, 0, qdoc.head(), tuple(qdoc.details()), "pboc")

    # --- entry points -------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = self._catch_up(now)
        wake = self._next_event_after(now)
        if wake is not None:
            effects.append(WakeAt(wake))
        return effects

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        effects = self._catch_up(now)
        key = VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"), flag)
        try:
            if flag == 1 and doc.vtcode in ("5201", "8202"):
                effects += self._receipt(doc, key, now, return_reason)
            elif flag == 0 and doc.vtcode in HANDLED:  # refund notices, reports, statements (bank_reports)
                effects += self.bank_inbox.on_voucher(doc, now, self._paid_in, self._agency_of)
            elif flag == 0 and doc.vtcode == "7401":
                effects += self._statement(doc, key)
            elif flag == 1 and doc.vtcode == "7501":  # the bank confirmed a payment suspension order or lift
                self.suspensions.confirmed(doc.head(), now)
            elif doc.vtcode in ("7403", "3502", "7101", "7102", "7202", "7301", "7302"):
                # 7101 / 7301 / 7302 flag 1: the bank confirmed a quota, cancellation or carry-forward
                self.other.append((str(key), now))
                credit_date = parse_ymd(doc.get("CreditDate")) if doc.vtcode == "7403" else None
                if credit_date is not None:
                    self.refunds_advised[doc.get("VoucherNo")] = (credit_date, doc.amount_fen("PayAmt"))
            else:
                effects.append(Alarm("not-authorized", f"the treasury does not handle VtCode {doc.vtcode} "
                                     f"flag {flag}", str(key)))
        except InputError as exc:
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        return effects

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """The gateway refused a send: a payment voucher is marked refused (never paid, never
        debited); a refused quota notice leaves nothing to correct (the shell raised the alarm)."""
        for send in refusal.sends():
            planned = self.vouchers.get(send.head.get("VoucherNo", ""))
            if planned is not None and planned.vtcode == send.vtcode and planned.refused is None:
                planned.refused = refusal.code
        return []

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-ready plain data; the plans themselves are regenerated on load."""
        return {
            "core": "treasury", "version": SNAPSHOT_VERSION,
            "config": config_fingerprint(self.config, self.clock_config),
            "cursor": datetime_to_plain(self._cursor),
            "planned": [d.isoformat() for d in self.plans],
            "sent": sorted(no for no, v in self.vouchers.items() if v.sent),
            "refused": sorted([no, v.refused] for no, v in self.vouchers.items() if v.refused is not None),
            "receipts": [_receipt_to_plain(r) for r in self.receipts.values()],
            "duplicate_receipts": [_receipt_to_plain(r) for r in self.duplicate_receipts],
            "statements": [[c.day.isoformat(), c.begin_fen, c.debit_fen, c.credit_fen, c.end_fen, c.expected_begin_fen,
                            c.expected_debit_fen, c.expected_credit_fen, c.detail_debit_fen, c.detail_credit_fen]
                           for c in self.statements.values()],
            "other": [[k, datetime_to_plain(when)] for k, when in self.other],
            "refunds_advised": [[no, d.isoformat(), fen] for no, (d, fen) in self.refunds_advised.items()],
            "bank_inbox": self.bank_inbox.to_plain(),
            "suspensions": self.suspensions.to_plain(),
        }

    def load_snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace this core's state with a snapshot taken by a core of the same config."""
        check_snapshot_header(data, "treasury", SNAPSHOT_VERSION, config_fingerprint(self.config, self.clock_config))
        self.plans, self.vouchers = {}, {}
        for day in data["planned"]:
            self.plan(dt.date.fromisoformat(day))
        for no in data["sent"]:
            if no not in self.vouchers:
                raise ValueError(f"the snapshot's voucher {no} is not in the regenerated plan")
            self.vouchers[no].sent = True
        for no, code in data.get("refused", []):
            self.vouchers[no].refused = code
        for plan in self.plans.values():
            plan.next_unsent = next((i for i, v in enumerate(plan.vouchers) if not v.sent), len(plan.vouchers))
        self._cursor = datetime_from_plain(data["cursor"])
        receipts = [_receipt_from_plain(r) for r in data["receipts"]]
        self.receipts = {r.key.voucher_no: r for r in receipts}
        self.duplicate_receipts = [_receipt_from_plain(r) for r in data["duplicate_receipts"]]
        self.statements = {}
        for day, *amounts in data["statements"]:
            check = StatementCheck(dt.date.fromisoformat(day), *(int(a) for a in amounts))
            self.statements[check.day] = check
        self.other = []
        for k, when in data["other"]:
            received = datetime_from_plain(when)
            assert received is not None
            self.other.append((k, received))
        self.refunds_advised = {no: (dt.date.fromisoformat(d), int(fen)) for no, d, fen in data["refunds_advised"]}
        self.bank_inbox = BankInbox.from_plain(data.get("bank_inbox"))
        self.suspensions = SuspensionLog.from_plain(data.get("suspensions", []))

    @classmethod
    def restore(cls, data: Mapping[str, Any], config: TreasuryConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> TreasuryCore:
        core = cls(config, calendar, clock_config)
        core.load_snapshot(data)
        return core

    # --- the schedule -------------------------------------------------------------------

    def _next_event_after(self, t: dt.datetime) -> dt.datetime | None:
        """Called right after a catch-up to `t`: every voucher due by `t` is sent, so the first
        unsent voucher of a planned day is that day's next send (O(days), not O(vouchers))."""
        for day in self.days:
            quota = at(day, self.config.quota_time)
            if quota > t:
                return quota
            plan = self.plans.get(day)
            if plan is not None:
                for v in plan.vouchers[plan.next_unsent:]:
                    if v.send_at > t:
                        return v.send_at
        return None

    def _catch_up(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        if self._cursor is None:
            self._cursor = now - dt.timedelta(microseconds=1)
        for day in self.days:
            quota = at(day, self.config.quota_time)
            if self._cursor < quota <= now:
                effects += self.plan(day).quota_notices + self._authorized_quotas(day)
            plan = self.plans.get(day)
            if plan is None:
                continue
            vouchers = plan.vouchers
            while plan.next_unsent < len(vouchers) and vouchers[plan.next_unsent].send_at <= now:
                v = vouchers[plan.next_unsent]
                plan.next_unsent += 1
                if not v.sent:
                    v.sent = True
                    # `data` given: the head need only name the key (rendering, not parsing, per send)
                    head = {"AdmDivCode": v.adm_div_code, "StYear": str(v.day.year), "VoucherNo": v.voucher_no}
                    effects.append(SendVoucher(v.vtcode, 0, head, (), "bank", data=v.data))
        self._cursor = max(self._cursor, now)
        return effects

    def _authorized_quotas(self, day: dt.date) -> list[Effect]:
        """On the first run day of each month, per bank, the month's authorized quota notice (7101):
        a line per (unit, budget subject) of the month's approved 8202 plan, its exact sum (004
        part 5 §2: made from the approved plan, no margin), on the default project (a payment detail without ProCode draws on any project of its subject)."""
        month = [d for d in self.days if (d.year, d.month) == (day.year, day.month)]
        if not month or month[0] != day:
            return []
        c = self.config
        lines: dict[str, dict[tuple[str, str, str, str], int]] = {}
        for d in month:
            for v in self.plan(d).vouchers:
                if v.vtcode != "8202":
                    continue
                for detail in v.doc.details():
                    k = (detail["AgencyCode"], detail["AgencyName"], detail["ExpFuncCode"], detail["ExpFuncName"])
                    by_bank = lines.setdefault(v.bank, {})
                    by_bank[k] = by_bank.get(k, 0) + parse_fen(detail["PayAmt"])
        effects: list[Effect] = []
        for bank, by_line in sorted(lines.items()):
            doc = parse_voucher(authorized_quota_notice(
                voucher_no=f"ED{day:%Y%m}{bank[-4:]}", vou_date=day, pay_bank_code=bank, adm_div_code=c.adm_div_code,
                lines=[(*k, *DEFAULT_PROJECT, fen) for k, fen in sorted(by_line.items())]))
            effects.append(SendVoucher("7101", 0, doc.head(), tuple(doc.details()), "bank", data=doc.data))
        return effects

    # --- what comes back ----------------------------------------------------------------

    def _receipt(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime,
                 return_reason: str | None) -> list[Effect]:
        planned = self.vouchers.get(doc.get("VoucherNo"))
        if planned is None or planned.vtcode != doc.vtcode:
            return [Alarm("unknown-original", "a receipt for a voucher the treasury never sent", str(key))]
        paid = parse_fen(doc.get("XPayAmt") or "0.00")
        receipt = Receipt(key, doc.get("XPayDate"), paid, doc.get("XAgentBusinessNo"), now, return_reason)
        known = self.receipts.get(planned.voucher_no)
        if known is not None and dataclasses.replace(known, received_at=now) == receipt:
            return []  # the same receipt delivered again (at-least-once delivery), not a second payment
        if known is not None:
            self.duplicate_receipts.append(receipt)
            return [Alarm("duplicate-conflict", f"a second receipt for {planned.voucher_no}: paid twice?", str(key))]
        self.receipts[planned.voucher_no] = receipt
        if return_reason is None and paid != planned.amount_fen:
            return [Alarm("amount-mismatch", f"paid {fen_to_str(paid)} of {fen_to_str(planned.amount_fen)}",
                          str(key))]
        return self._carried_quota(planned, receipt, now)

    def _carried_quota(self, v: PlannedVoucher, receipt: Receipt, now: dt.datetime) -> list[Effect]:
        """A voucher the bank paid on a later business day than its own (carried over) is cleared
        that day: a supplementary clearing quota notice for that day covering exactly it, sent now
        if the day is today and its clearing cutoff has not passed. Advances (paid on the voucher's
        day after the cutoff) are not carried: they are replenished against their own day's quota."""
        paid_day = parse_ymd(receipt.paid_date)
        if (receipt.return_reason is not None or receipt.paid_fen <= 0 or paid_day is None or paid_day <= v.day
                or paid_day != now.date() or not self.calendar.is_business_day(paid_day)
                or now >= at(paid_day, self.clock_config.clearing_cutoff)):
            return []
        ((bank, pay_type, fund_type), lines), = notice_lines([v.approved]).items()
        return [self._clearing_quota(f"QS{v.voucher_no}", paid_day, bank, pay_type, fund_type, lines)]

    def expected_debit_fen(self, day: dt.date) -> int:
        """TSA debits the treasury expects on `day`: its vouchers sent that day before the cutoff
        (cleared that day) and the late ones of the day the reserve is replenished for."""
        total = 0
        for v in self.vouchers.values():
            if v.refused is not None:
                continue  # the gateway refused it: never paid
            cleared_that_day = not v.late and v.day == day
            replenished_that_day = v.late and replenishment_day(v.day, self.calendar) == day
            if cleared_that_day or replenished_that_day:
                total += v.amount_fen
        return total

    def expected_credit_fen(self, day: dt.date) -> int:
        """TSA credits the treasury expects on `day`: the refunds advised (7403) for that day."""
        return sum(fen for credit_date, fen in self.refunds_advised.values() if credit_date == day)

    def expected_balance_before(self, day: dt.date) -> int:
        days = {v.day for v in self.vouchers.values()} | {replenishment_day(d, self.calendar) for d in self.days}
        credits = sum(fen for credit_date, fen in self.refunds_advised.values() if credit_date < day)
        return self.config.tsa_opening_fen + credits - sum(self.expected_debit_fen(d) for d in days if d < day)

    def missing_statements(self, through: dt.date) -> list[dt.date]:
        """Business days of the run (its first day through `through`) with no 7401 yet."""
        missing, day = [], self.days[0]
        while day <= through:
            if day not in self.statements:
                missing.append(day)
            day = self.calendar.next_business_day(day)
        return missing

    def _statement(self, doc: VoucherDoc, key: VoucherKey) -> list[Effect]:
        day = parse_ymd(doc.get("StatementDate"))
        if day is None:  # the gateway's bad-date check makes this unreachable for a delivered 7401
            return [Alarm("bad-date", f"7401 {key}: StatementDate {doc.get('StatementDate')!r}", str(key))]
        details = doc.details()  # none on a day without movements
        by_direction = {"D": 0, "C": 0}
        for d in details:
            direction = d.get("Direction", "")
            by_direction[direction] = by_direction.get(direction, 0) + parse_fen(d.get("Amt", ""))
        check = StatementCheck(day, parse_fen(doc.get("BeginBalance")), parse_fen(doc.get("DebitAmt")),
                               parse_fen(doc.get("CreditAmt")), parse_fen(doc.get("EndBalance")),
                               self.expected_balance_before(day), self.expected_debit_fen(day),
                               self.expected_credit_fen(day), by_direction["D"], by_direction["C"])
        self.statements[day] = check
        if check.ok:
            return []
        return [Alarm("amount-mismatch", f"7401 of {day}: begin {fen_to_str(check.begin_fen)} (expected "
                      f"{fen_to_str(check.expected_begin_fen)}), debits {fen_to_str(check.debit_fen)} (expected "
                      f"{fen_to_str(check.expected_debit_fen)}, details {fen_to_str(check.detail_debit_fen)}), "
                      f"credits {fen_to_str(check.credit_fen)} (expected {fen_to_str(check.expected_credit_fen)}, "
                      f"details {fen_to_str(check.detail_credit_fen)}), end {fen_to_str(check.end_fen)}", str(key))]

    # --- reading ------------------------------------------------------------------------

    def sent_vouchers(self, day: dt.date | None = None) -> list[PlannedVoucher]:
        return [v for v in self.vouchers.values() if v.sent and (day is None or v.day == day)]


def _slots(day: dt.date, start: dt.time, end: dt.time, minutes: int) -> list[dt.datetime]:
    slots = []
    t = at(day, start)
    stop = at(day, end)
    while t < stop:
        slots.append(t)
        t += dt.timedelta(minutes=minutes)
    return slots


def _receipt_to_plain(r: Receipt) -> dict[str, Any]:
    return {"key": key_to_plain(r.key), "paid_date": r.paid_date, "paid_fen": r.paid_fen, "serial": r.serial,
            "received_at": datetime_to_plain(r.received_at), "return_reason": r.return_reason}


def _receipt_from_plain(d: Mapping[str, Any]) -> Receipt:
    received = datetime_from_plain(d["received_at"])
    assert received is not None
    return Receipt(key_from_plain(d["key"]), d["paid_date"], int(d["paid_fen"]), d["serial"], received,
                   d["return_reason"])
