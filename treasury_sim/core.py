"""The treasury core (财政 / 国库支付中心) as a sans-IO core: plan + voucher + time → effects.

`TreasuryCore` never awaits, never reads a clock and draws every random number from a
`random.Random` seeded by (seed, day), so a day's vouchers are the same bytes on every run.
Entry points `on_time(now)`, `on_voucher(doc, flag, now, return_reason=None)` and
`on_refused(refusal, now)` (the `sim.shell.SimCore` protocol) return `sim.effects` values.
The core is a thin dispatcher over one module per duty:

| module            | duty                                                                          |
|-------------------|-------------------------------------------------------------------------------|
| `planning`        | the day's plan (seeded), its 5108 / 5106 clearing quota notices, the month's 7101 |
| `budget_plan`     | with `units`: the plan from units' requests checked against their indicators (`budget`, `units`) |
| `receipts`        | 5201 / 8202 receipts matched once; a supplementary quota for a carried-over payment |
| `tsa`             | the TSA's expected debits and credits by day; 7401 statements checked against them |
| `bank_reports`    | refund notices, reports and statements of the banks, signed off              |
| `suspensions`     | payment suspension orders, lifts and confirmations (000 五(二)3)              |
| `year_end`        | authorized quota lines granted and spent; on its dates 7301 / 7302 for what is left (004 part 5 §6) |
| `state`           | what is saved (`TreasuryState`); the plan is regenerated from the seed        |

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

* 5201 / 8202 receipts (flag 1): `treasury_sim.receipts`.
* 7401 daily TSA statements, one every business day (a day without movements gets one with no
  DetailList and zero debits and credits): checked against the treasury's own books
  (`treasury_sim.tsa`) and kept in `statements`. `missing_statements(through)` lists the business
  days of the run with no statement yet.
* 7101 / 7106 / 7301 / 7302 / 5253 receipts (the bank confirmed a quota, reduction (003 §22),
  cancellation, carry-forward or payment correction) and 7102 arrival notices: recorded; 7602 account
  feeds: matched against its payments to feed accounts in `feeds` (`treasury_sim.account_feed`).
* 7403 refund advices (credits expected on their CreditDate) and 3502 reconciliations: recorded.
* 7501 receipts (the bank confirmed a payment suspension order or its lift, 000 五(二)3): appended
  to the audit record `suspensions` (`treasury_sim.suspensions`), beside the orders and lifts sent.
* A voucher the gateway refused (`on_refused`): marked refused with the gateway's code
  (`refused`); the treasury no longer expects it to be paid or debited from the TSA.

**Snapshots.** `snapshot()` / `load_snapshot(data)` (or `TreasuryCore.restore(data, ...)`): the
plan is not stored (it is regenerated from the seed, the same bytes), only which days were
planned, which vouchers went out, and what came back (`treasury_sim.state`).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Mapping

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from messages.dates import parse_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError, StateError
from messages.voucher import VoucherDoc
from sim.codec import SnapshotHeader, decode, decode_snapshot, encode, encode_parts
from sim.effects import Alarm, Effect, Refusal, SendVoucher, WakeAt
from treasury_sim.account_notices import AccountNoticeLog
from treasury_sim.bank_reports import HANDLED, BankInbox
from treasury_sim.books import TreasuryBooks
from treasury_sim.budget import BudgetBook, RefusedRequest, generate_budget
from treasury_sim.budget_plan import Budgeting, first_business_day, plan_budget_day
from treasury_sim.config import TreasuryConfig, check_clock, run_days, year_ends
from treasury_sim.open_days import OpenDays
from treasury_sim.packed_plan import PackedVouchers, PlanIndex
from treasury_sim.planning import authorized_quotas, plan_day
from treasury_sim.receipt_book import ReceiptBook
from treasury_sim.receipts import (
    REFUND_NOTICE_OF,
    carried_quota,
    is_own,
    match_receipt,
    paid_in,
    refund_problem,
)
from treasury_sim.records import DayPlan, PlannedVoucher, Receipt, SentRow, StatementCheck, voucher_id
from treasury_sim.state import (
    CORE,
    KEYED_LOGS,
    OLDER_VERSIONS,
    SNAPSHOT_VERSION,
    TreasuryState,
    fingerprint,
    keyed_logs,
    upgrade,
)
from treasury_sim.suspensions import SuspensionLog
from treasury_sim.tsa import TsaBook, check_statement, missing_statements
from treasury_sim.units import generate_tree
from treasury_sim.year_end import Drawn, QuotaLedger, granted, year_end_due

__all__ = ["PlannedVoucher", "Receipt", "StatementCheck", "TreasuryConfig", "TreasuryCore"]

OTHER_VTCODES = frozenset({"7403", "3502", "7101", "7102", "7106", "7202", "7301", "7302", "7602", "7701",
                           "5253"})


class TreasuryCore:
    def __init__(self, config: TreasuryConfig, calendar: BusinessCalendar, clock_config: ClockConfig) -> None:
        check_clock(config, clock_config)
        self.config, self.calendar, self.clock_config = config, calendar, clock_config
        self.days: list[dt.date] = run_days(config, calendar)
        self.year_ends = year_ends(config, calendar, self.days)  # calendar-out-of-range: refused, never guessed
        # with `config.units`: the unit tree and the year's indicators (regenerated from the seed, never stored)
        self.unit_tree = generate_tree(config.seed, config.units) if config.units else None
        self.indicators = generate_budget(self.unit_tree, config.seed) if self.unit_tree is not None else ()
        self._reset(TreasuryState(fingerprint(config, clock_config)))

    def _reset(self, state: TreasuryState, *, keyed: bool = True) -> None:
        """Take `state` and rebuild what derives from it: the plans, the voucher, receipt and
        statement indexes, the TSA book and the running totals of the books."""
        self.state = state
        self.plans: dict[dt.date, DayPlan] = {}
        self.open_days = OpenDays(self.days, self.config.quota_time)  # where the schedule's walk starts
        self.vouchers = PlanIndex()  # VoucherNo → plan
        self.tsa = TsaBook()
        self.books = TreasuryBooks()
        self.budgeting = Budgeting.of(self.unit_tree, self.indicators) if self.unit_tree is not None else None
        # VoucherNo → the first receipt, packed (a version 2 snapshot's list packed into it)
        self._receipts = ReceiptBook(state.receipt_log.reordered(), state.receipts)
        state.receipts = []
        self._statements = {dt.date.fromisoformat(d): c for d, c in state.statements.items()}
        self.drawn: dict[str, Drawn] = {}  # 8202 VoucherNo → line key, fen, ... it draws (flat)
        progress = dict(state.progress)
        state.progress.clear()
        for text, sent in progress.items():
            day = dt.date.fromisoformat(text)
            plan = self.plan(day)
            if not 0 <= sent <= len(plan.vouchers):
                raise StateError(f"the snapshot sent {sent} vouchers of {day}, the regenerated plan has "
                                 f"{len(plan.vouchers)}")
            for i in range(sent):
                v = plan.vouchers[i]
                v.sent = True
                self.books.sent(v)
            self._set_progress(day, sent)
        for text in progress:  # what the months granted draw (the ledger itself is saved)
            authorized_quotas(self.config, self.days, dt.date.fromisoformat(text), self.plan, self.drawn)
        if not keyed:  # a version 8 (or older) snapshot's: its refusals, refunds, advices, year-end notices too
            keyed_logs(state, self.vouchers.get, self.config.adm_div_code)
        for key, code in state.refused.items():
            refused = self.vouchers.get(key.split("/", 3)[-1])
            if refused is None or refused.id != key:
                raise StateError(f"the snapshot's refused voucher {key} is not in the regenerated plan")
            refused.refused = code
            self.tsa.refused(refused, self.calendar)
            self.books.refused()
        for advice in state.refunds_advised.values():
            self.tsa.advised(None, advice)

    def _set_progress(self, day: dt.date, sent: int) -> None:
        self.plans[day].next_unsent = sent
        self.state.progress[day.isoformat()] = sent

    def _checked(self, effects: list[Effect]) -> list[Effect]:
        """The books after an input (BooksError if they do not add up), then the input's effects."""
        self.books.check(self.state, self.tsa, len(self.vouchers), len(self._receipts),
                         None if self.budgeting is None else self.budgeting.book)
        return effects

    # --- public views ---------------------------------------------------------------------

    @property
    def receipts(self) -> Mapping[str, Receipt]:
        """VoucherNo → the first receipt, in arrival order."""
        return self._receipts

    def receipts_received_on(self, day: dt.date) -> int:
        """How many first receipts came on `day`, without making them."""
        return self._receipts.received_on(day)

    def receipt_numbers(self) -> Iterator[tuple[str, str]]:
        """(VoucherNo in `receipts`, its receipt key's VoucherNo) of each, without making them."""
        return self._receipts.numbered()

    @property
    def duplicate_receipts(self) -> list[Receipt]:
        return self.state.duplicate_receipts

    @property
    def statements(self) -> Mapping[dt.date, StatementCheck]:
        return self._statements

    @property
    def refunds_advised(self) -> Mapping[str, tuple[dt.date, int]]:
        return self.state.refunds_advised

    @property
    def bank_inbox(self) -> BankInbox:
        """The banks' refund notices, reports and statements."""
        return self.state.bank_inbox

    @property
    def suspensions(self) -> SuspensionLog:
        """Payment suspension orders, lifts and the banks' confirmations (000 五(二)3): the audit record."""
        return self.state.suspensions

    @property
    def account_notices(self) -> AccountNoticeLog:
        """Account notices (7601) sent and the banks' confirmations (treasury_sim.account_notices)."""
        return self.state.account_notices

    @property
    def quotas(self) -> QuotaLedger:
        """Authorized quota lines granted, spent and closed at year end, with the year-end notices."""
        return self.state.quotas

    @property
    def budget(self) -> BudgetBook | None:
        """The indicators and what each has left (with `config.units`), else None."""
        return None if self.budgeting is None else self.budgeting.book

    def refused_requests(self, day: dt.date | None = None) -> list[RefusedRequest]:
        """The payment requests refused for their budget (003 §52), of the days planned (or of `day`)."""
        return [r for d, plan in self.plans.items() if day is None or d == day for r in plan.refused]

    def sent_count(self, day: dt.date | None = None) -> int:
        """len(sent_vouchers(day)), without making the vouchers."""
        return sum(plan.next_unsent for d, plan in self.plans.items() if day is None or d == day)

    def sent_vouchers(self, day: dt.date | None = None) -> list[PlannedVoucher]:
        return list(self.iter_sent(day))

    def iter_sent(self, day: dt.date | None = None) -> Iterator[PlannedVoucher]:
        """`sent_vouchers(day)` one at a time: a packed day's vouchers are made as they are read,
        so a reader that keeps none holds one, not a list of the day's (~250 bytes a voucher)."""
        # the first `next_unsent` of each day planned are its sent ones (in the order planned)
        for d, plan in self.plans.items():
            if day is None or d == day:
                vouchers = plan.vouchers
                for i in range(plan.next_unsent):
                    yield vouchers[i]

    def iter_sent_rows(self, day: dt.date | None = None) -> Iterator[SentRow]:
        """`iter_sent(day)`'s vouchers as `SentRow`s: a packed day's read from its columns, no
        `PlannedVoucher` made (the run's end reads these fields of every sent voucher, several times)."""
        for d, plan in self.plans.items():
            if day is None or d == day:
                vouchers, n = plan.vouchers, plan.next_unsent
                if isinstance(vouchers, PackedVouchers):
                    pday = vouchers.day
                    for no, vtcode, bank, fen, send_at, refused in vouchers.rows(n):
                        yield SentRow(pday, no, vtcode, bank, fen, send_at, refused)
                else:
                    for i in range(n):
                        v = vouchers[i]
                        yield v.sent_row()

    def expected_debit_fen(self, day: dt.date) -> int:
        """TSA debits the treasury expects on `day`: its vouchers sent that day before the cutoff
        (cleared that day) and the late ones of the day the reserve is replenished for."""
        return self.tsa.debit(day)

    def expected_credit_fen(self, day: dt.date) -> int:
        """TSA credits the treasury expects on `day`: the refunds advised (7403) for that day."""
        return self.tsa.credit(day)

    def expected_balance_before(self, day: dt.date) -> int:
        return self.tsa.balance_before(self.config.tsa_opening_fen, day)

    def missing_statements(self, through: dt.date) -> list[dt.date]:
        """Business days of the run (its first day through `through`) with no 7401 yet."""
        return missing_statements(self.days[0], through, self._statements, self.calendar)

    # --- planning ---------------------------------------------------------------------------

    def plan(self, day: dt.date) -> DayPlan:
        """The day's plan, made (from the seed) the first time it is asked for."""
        if day in self.plans:
            return self.plans[day]
        if self.budgeting is None:
            plan = plan_day(self.config, self.clock_config, day)
        else:
            plan = plan_budget_day(self.config, self.clock_config, day, self.budgeting,
                                   salary_day=day == first_business_day(day, self.calendar))
        self.plans[day] = plan
        self.state.progress[day.isoformat()] = 0
        if isinstance(plan.vouchers, PackedVouchers):
            plan.vouchers.refused = self.state.refused
        self.vouchers.add(plan.vouchers)
        if isinstance(plan.vouchers, PackedVouchers):  # booked from its columns, no voucher made
            self.tsa.planned_day(plan.vouchers.day, plan.vouchers.late_amounts(), self.calendar)
        else:
            for v in plan.vouchers:
                self.tsa.planned(v, self.calendar)
        self.books.planned(day, plan)
        return plan

    # --- entry points -------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = self._catch_up(now)
        wake = self._next_event_after(now)
        if wake is not None:
            effects.append(WakeAt(wake))
        return self._checked(effects)

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        effects = self._catch_up(now)
        key = VoucherKey.of(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"), flag)
        try:
            if flag == 1 and doc.vtcode in ("5201", "8202"):
                effects += self._receipt(doc, key, now, return_reason)
            elif flag == 0 and (problem := self._refund_problem(doc, key)) is not None:
                effects.append(problem)
            elif flag == 0 and doc.vtcode in HANDLED:  # refund notices, reports, statements (bank_reports)
                self._refund_releases(doc, key, now)
                effects += self.state.bank_inbox.on_voucher(doc, now, self._paid_in, self._paid_of,
                                                            lambda b, s, e: self._paid_in(b, s, e, True),
                                                            home=self.config.adm_div_code)
            elif flag == 0 and doc.vtcode == "7401":
                check, alarms = check_statement(doc, key, self.tsa, self.config.tsa_opening_fen)
                if check is not None:
                    self.state.statements[check.day.isoformat()] = check
                    self._statements[check.day] = check
                effects += alarms
            elif flag == 1 and doc.vtcode == "7501":  # the bank confirmed a payment suspension order or lift
                self.state.suspensions.confirmed(doc.head(), now)
            elif flag == 1 and doc.vtcode == "7601":  # the bank carried out an account notice
                self.state.account_notices.confirmed(doc.head(), now)
            elif doc.vtcode in OTHER_VTCODES:
                if flag == 1 and doc.vtcode in ("7301", "7302"):  # the bank confirmed a year-end notice
                    self.state.quotas.confirmed(voucher_id(*key[:4]), now)
                # 7101 / 7106 / 7301 / 7302 flag 1: the bank confirmed a quota, reduction, cancellation or carry-forward
                self.state.other.append((str(key), now))
                self.state.feeds.on_voucher(doc, flag, self.config, self.state.account_notices)  # a 7602: matched
                credit_date = parse_ymd(doc.get("CreditDate")) if doc.vtcode == "7403" else None
                if credit_date is not None:
                    self._advised(voucher_id(*key[:4]), (credit_date, doc.amount_fen("PayAmt")))
            else:
                effects.append(Alarm("not-authorized", f"the treasury does not handle VtCode {doc.vtcode} "
                                     f"flag {flag}", str(key)))
        except InputError as exc:
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        return self._checked(effects)

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """The gateway refused a send: a payment voucher is marked refused (never paid, never
        debited); a refused quota notice leaves nothing to correct (the shell raised the alarm)."""
        for send in refusal.sends():
            h = send.head  # the voucher of the send's key: another division's or year's of its number is not it
            key = voucher_id(h.get("AdmDivCode", ""), h.get("StYear", ""), send.vtcode, h.get("VoucherNo", ""))
            planned = self.vouchers.get(send.head.get("VoucherNo", ""))
            if planned is not None and planned.id == key and planned.refused is None:
                planned.refused = refusal.code
                self.state.refused[key] = refusal.code
                self.tsa.refused(planned, self.calendar)
                self.books.refused()
                self.state.quotas.release(self.drawn.get(planned.voucher_no, ()))
            self.state.quotas.refused(key, refusal.code)
        return self._checked([])

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The state (`TreasuryState`) as `sim.codec` bytes; the plans are regenerated on load."""
        return encode(self.state)

    def snapshot_parts(self) -> Iterator[bytes]:
        """`snapshot()`'s bytes in pieces (`sim.codec.encode_parts`): the store writes them as they come."""
        return encode_parts(self.state)

    def load_snapshot(self, data: bytes) -> None:
        """Replace this core's state with a snapshot taken by a core of the same config; its books
        are checked from scratch (BooksError if they do not add up)."""
        version = decode(data, SnapshotHeader).version
        state = decode_snapshot(data, TreasuryState, CORE, SNAPSHOT_VERSION, fingerprint(self.config, self.clock_config),
                                older=OLDER_VERSIONS)
        upgrade(state, version, self.config.adm_div_code)  # an older version's, as this version keeps it
        self._reset(state, keyed=version >= KEYED_LOGS)  # (its logs by the planned vouchers': once planned)
        self.books.verify(self.state, self.tsa, len(self.vouchers), len(self._receipts),
                          None if self.budgeting is None else self.budgeting.book)

    @classmethod
    def restore(cls, data: bytes, config: TreasuryConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> TreasuryCore:
        core = cls(config, calendar, clock_config)
        core.load_snapshot(data)
        return core

    # --- the schedule -------------------------------------------------------------------

    def _next_event_after(self, t: dt.datetime) -> dt.datetime | None:
        """Called right after a catch-up to `t`: every voucher due by `t` is sent, so the first
        unsent voucher of a planned day is that day's next send (O(days), not O(vouchers))."""
        year_end = min((x for ye in self.year_ends for x in (ye.at, ye.deadline) if x > t), default=None)
        for day in self.open_days.walk(self.state.cursor, t):
            quota = at(day, self.config.quota_time)
            if quota > t:
                return quota if year_end is None else min(quota, year_end)
            plan = self.plans.get(day)
            if plan is not None:
                vouchers = plan.vouchers
                for i in range(plan.next_unsent, len(vouchers)):  # not a slice: a copy of the rest each call
                    send_at = vouchers.send_at(i) if isinstance(vouchers, PackedVouchers) else vouchers[i].send_at
                    if send_at > t:
                        return send_at if year_end is None else min(send_at, year_end)
        return year_end

    def _catch_up(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        cursor = self.state.cursor
        if cursor is None:
            cursor = now - dt.timedelta(microseconds=1)
        for day in self.open_days.walk(self.state.cursor, until=now):
            quota = at(day, self.config.quota_time)
            if cursor < quota <= now:
                effects += self.plan(day).quota_notices
                grants = authorized_quotas(self.config, self.days, day, self.plan, self.drawn)
                granted(self.state.quotas, grants)
                effects += grants
            plan = self.plans.get(day)
            if plan is None:
                continue
            vouchers, sent = plan.vouchers, plan.next_unsent
            packed = vouchers if isinstance(vouchers, PackedVouchers) else None  # its send times read, not made
            while sent < len(vouchers) and (vouchers[sent].send_at if packed is None else packed.send_at(sent)) <= now:
                v = vouchers[sent]
                sent += 1
                if not v.sent:
                    v.sent = True
                    self.books.sent(v)
                    self.state.quotas.spend(self.drawn.get(v.voucher_no, ()))
                    # `data` given: the head need only name the key (rendering, not parsing, per send)
                    # (the year's text interned: a shell keeps its recent sends, one "2026" for them all)
                    head = {"AdmDivCode": v.adm_div_code, "StYear": sys.intern(str(v.day.year)), "VoucherNo": v.voucher_no}
                    effects.append(SendVoucher(v.vtcode, 0, head, (), "bank", data=v.data))
            if sent != plan.next_unsent:
                self._set_progress(day, sent)
        effects += year_end_due(self.state.quotas, self.config, self.year_ends, cursor, now)  # 004 part 5 §6
        self.state.cursor = max(cursor, now)
        self.open_days.advance(self.state.cursor, self.plans)
        return effects

    # --- what comes back ----------------------------------------------------------------

    def _receipt(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime,
                 return_reason: str | None) -> list[Effect]:
        planned = self.vouchers.get(doc.get("VoucherNo"))
        known = self._receipts.get(planned.voucher_no) if planned is not None else None
        match, receipt, effects = match_receipt(known, planned, doc, key, now, return_reason)
        if match == "duplicate" and receipt is not None:
            self.state.duplicate_receipts.append(receipt)
        elif match == "first" and receipt is not None and planned is not None:
            self._receipts.add(planned.voucher_no, receipt)
            if receipt.return_reason is not None:  # returned unpaid: its quota lines were not drawn
                self.state.quotas.release(self.drawn.get(planned.voucher_no, ()))
            self.state.feeds.on_paid(doc, receipt, planned.amount_fen, self.config, self.state.account_notices)
            if not effects:
                effects += carried_quota(self.config, self.calendar, self.clock_config, planned, receipt, now)
        return effects

    def _refund_problem(self, doc: VoucherDoc, key: VoucherKey) -> Alarm | None:
        """Why a refund notice restores nothing (`refund_problem`); its redelivery is nothing, not checked
        again against its own amount already counted."""
        if doc.vtcode not in REFUND_NOTICE_OF or str(key) in self.state.bank_inbox.received:
            return None
        return refund_problem(self._receipts, self.vouchers, self.state.refunded, doc)

    def _refund_releases(self, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> None:
        """A refund's first notice (a redelivery is nothing): a 2203 / 7105 adds to its payment's
        refunded total (`refund_problem` caps it); a same-year refund of an 8202 gives its quota
        lines back (003 §36)."""
        if str(key) in self.state.bank_inbox.received:
            return
        no = doc.get("OriVoucherNo")
        planned = self.vouchers.get(no)
        if doc.vtcode in REFUND_NOTICE_OF and planned is not None:  # its payment's (`refund_problem` found it)
            self.state.refunded[planned.id] = self.state.refunded.get(planned.id, 0) + doc.amount_fen("PayAmt")
        # the lines the payment drew, if it is this treasury's (the notice's division) and of this year
        if (doc.vtcode in ("2252", "7105") and planned is not None and planned.day.year == now.year
                and is_own(planned, doc.get("AdmDivCode"), doc.get("OriVouDate")[:4])):
            self.state.quotas.release(self.drawn.get(no, ()))

    def _advised(self, key: str, advice: tuple[dt.date, int]) -> None:
        """The refund advice (7403) of `key` (`voucher_id`): it replaces the earlier one of its key only."""
        self.tsa.advised(self.state.refunds_advised.get(key), advice)
        self.state.refunds_advised[key] = advice

    def _paid_in(self, bank: str, begin: str, end: str, direct: bool = False) -> int:
        """What `bank`'s receipts paid from `begin` to `end` (or its direct funds): a 3501's check."""
        return paid_in(self._receipts, self.vouchers, bank, begin, end, direct=direct)

    def _paid_of(self, doc: VoucherDoc) -> tuple[str, str]:
        """(AgencyCode, StYear) of the payment a refund notice names, if it is this treasury's."""
        v = self.vouchers.get(doc.get("OriVoucherNo"))
        if v is None or not is_own(v, doc.get("AdmDivCode"), doc.get("OriVouDate")[:4]):
            return "", ""
        return v.agency_code, str(v.day.year)

