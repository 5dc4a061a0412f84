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
| `replenish_time` (08:45)    | ClearType 1 per (advance day, pay type, fund type) for the advances of the previous business day, and apart for what the bank's own funds made whole at its close; ClearDate = that day |
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

**Snapshots.** The state is one typed record (`bank_sim.state.BankState`); `snapshot()` gives
its bytes (`sim.codec`, msgspec: deterministic JSON, a deferred voucher's bytes in base64) and
`load_snapshot(data)` (or `BankCore.restore(data, ...)`) puts it back into a core built with the
same bank code and config. A paid voucher's effects are rebuilt from its `Payment` record and
the redelivered voucher (the same bytes, the gateway guarantees), so a replay after a restart is
identical.

**Books.** After every input the core checks its own books (`bank_sim.books`): the reserve
never below zero and agreeing with its account, every payment paid, deferred, returned or
refused; a break raises `sim.books.BooksError` naming the rule.

**Modules.** This module only dispatches; each duty is a module of functions over the state
record: `payments` (the rules, paying, returns before payment; the cash rules in `cash`, official-card
repayments and their 7701 in `official_cards`), `filings` (2301 and its
receipt; the rules in `clearing`), `close` (cover, 7202, zero-balance check), `notices` (7101,
7106 reduction, 7301 / 7302, 7501), `corrections` (5253: a subject corrected after payment), `registry` (7601: accounts opened, changed, closed on notice), `payee_refunds`
(2252, 2302), `reporting` (2206, 4004, 3501, 7104, 7103, 7203 and their sign-offs), `outgoing` (the profile: held, faulted and corrected sends),
`refusals`, `accounts` (the core's view of its ledger) and `schedule`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView

from bank_sim import (
    batches,
    books,
    corrections,
    filings,
    notices,
    outgoing,
    payee_refunds,
    payments,
    quotas,
    refusals,
    reporting,
)
from bank_sim.accounts import open_books
from bank_sim.close import close, next_reserve_page
from bank_sim.config import PAY_TYPE, SUSPENSION_VTCODE, BankConfig, account_ids
from bank_sim.duties import Duties
from bank_sim.payments import PAYMENT_RULES, PaymentRule
from bank_sim.registry import ACCOUNT_NOTICE_VTCODE, account_notice, carry_out_due, declared
from bank_sim.reserve_statement import RESERVE_STATEMENT_VTCODE
from bank_sim.schedule import NextEvent, next_event_after, refuse_past_calendar
from bank_sim.state import BankState, Ctx, DutiesState, Filing, Mode, Payment
from bank_sim.state_load import decode_state
from bank_sim.suspensions import Order
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError, StateError
from messages.voucher import VoucherDoc
from sim import codec
from sim.archive import Archive
from sim.codec import config_fingerprint
from sim.effects import Alarm, Effect, Refusal, WakeAt

__all__ = ["PAYMENT_RULES", "BankConfig", "BankCore", "Filing", "Payment", "PaymentRule", "PaymentsView", "account_ids"]

_NOTICES = {"7101": notices.quota_notice, "7301": notices.year_end_notice, "7302": notices.year_end_notice,
            notices.QUOTA_REDUCTION_VTCODE: notices.reduction_notice, SUSPENSION_VTCODE: notices.suspension,
            ACCOUNT_NOTICE_VTCODE: account_notice, corrections.CORRECTION_VTCODE: corrections.correction_notice}
_QUOTA_NOTICES = ("7101", notices.QUOTA_REDUCTION_VTCODE, "7301", "7302")  # the books check the lines they name
_SIGN_OFFS = ("3501", "7104", RESERVE_STATEMENT_VTCODE)


def _key_of(key: object) -> VoucherKey | None:
    """A `VoucherKey`, or a plain tuple equal to one (as a dict keyed by VoucherKey finds it)."""
    if isinstance(key, VoucherKey):
        return key
    if isinstance(key, tuple) and len(key) == len(VoucherKey._fields):
        return VoucherKey(*key)
    return None


class _PaymentItems(ItemsView[VoucherKey, Payment]):
    _mapping: PaymentsView

    def __iter__(self) -> Iterator[tuple[VoucherKey, Payment]]:
        return ((p.key, p) for p in self._mapping.state.payments.values())


class PaymentsView(Mapping[VoucherKey, Payment]):
    """The payments by their original's key (`VoucherKey`), over the state's index."""

    __slots__ = ("state",)

    def __init__(self, state: BankState) -> None:
        self.state = state

    def __getitem__(self, key: VoucherKey) -> Payment:
        k = _key_of(key)
        p = None if k is None else self.state.payment(k)
        if p is None:
            raise KeyError(key)
        return p

    def __contains__(self, key: object) -> bool:
        k = _key_of(key)
        return k is not None and self.state.payment(k) is not None

    def __iter__(self) -> Iterator[VoucherKey]:
        return (p.key for p in self.state.payments.values())

    def __len__(self) -> int:
        return len(self.state.payments)

    def values(self) -> ValuesView[Payment]:
        return self.state.payments.values()

    def items(self) -> ItemsView[VoucherKey, Payment]:
        return _PaymentItems(self)


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
        self._ctx = Ctx.of(bank_code, config, calendar, clock_config)
        self._next_event = NextEvent(self._ctx)  # the cursor's next event, asked on every input
        self._fingerprint = config_fingerprint(config, clock_config)
        self._st = self._fresh()

    def _fresh(self) -> BankState:
        returns = {r.key: r for r in self.config.duties.payee_returns}
        return BankState(bank_code=self.bank_code, config=self._fingerprint, duties=DutiesState(returns=returns),
                         registry=declared(self.config.registry_accounts))

    # --- entry points ------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = self._catch_up(now)
        effects.append(WakeAt(next_event_after(self._ctx, self._st, now)[0]))
        return self._out(effects, now)

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        ctx, st = self._ctx, self._st
        effects = self._catch_up(now)
        vtcode = doc.vtcode
        key = VoucherKey.of(doc.get("AdmDivCode"), doc.get("StYear"), vtcode, doc.get("VoucherNo"), flag)
        try:
            if flag == 0 and vtcode == payee_refunds.PAYEE_BANK_NOTICE:
                effects += payee_refunds.payee_bank_notice(ctx, st, doc, str(key), now)
            elif flag == 1 and vtcode == "2302":
                effects += payee_refunds.refund_receipt(ctx, st, doc, str(key), now, return_reason)
            elif flag == 1 and vtcode in _SIGN_OFFS:
                effects += reporting.signed_off(st, doc, str(key), ctx.config.adm_div_code)
            elif outgoing.is_probe_receipt(st, doc, flag):
                effects += outgoing.probe_receipt(st, doc, str(key), return_reason)
            elif flag == 0 and vtcode in PAY_TYPE:
                effects += payments.on_payment(ctx, st, doc, key, now)
            elif flag == 1 and vtcode == "2301":
                effects += filings.clearing_receipt(ctx, st, doc, key, now, return_reason)
            elif flag == 0 and vtcode in _NOTICES:
                effects += _NOTICES[vtcode](ctx, st, doc, key, now)
            else:
                effects.append(Alarm("not-authorized", f"the bank does not handle VtCode {vtcode} flag {flag}",
                                     str(key)))
        except InputError as exc:  # an amount that does not parse: checked upstream, so alarm only
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        touched = st.payment(key) if flag == 0 and vtcode in PAY_TYPE else None
        lines = notices.quota_lines_of(doc) if flag == 0 and vtcode in _QUOTA_NOTICES else ()
        return self._out(effects, now, touched, batches.touched(st, doc, flag), lines)

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """Put the records right after a refusal (`bank_sim.refusals`); the shell raised the alarm."""
        absorbed, corrected = outgoing.absorb_refusal(self._st, refusal)  # a fault of the profile's own
        if not absorbed:
            refusals.on_refused(self._ctx, self._st, refusal)
        return self._out(corrected, now)

    def _out(self, effects: list[Effect], now: dt.datetime, touched: Payment | None = None,
             batch: tuple[str, str] | None = None, lines: Sequence[quotas.LineKey] = ()) -> list[Effect]:
        """Every effect passes the profile (`bank_sim.outgoing`); then the books are checked."""
        out = outgoing.outgoing(self._ctx, self._st, effects, now)
        books.check(self._ctx, self._st, touched, batch, lines)
        return out

    def _catch_up(self, now: dt.datetime) -> list[Effect]:
        ctx, st = self._ctx, self._st
        effects: list[Effect] = []
        if st.cursor is None:
            effects += open_books(st, ctx)
            st.cursor = now - dt.timedelta(microseconds=1)
        while (event := self._next_event(st, st.cursor))[0] <= now:
            when, kind = event
            st.cursor = when
            refuse_past_calendar(ctx, kind, now)  # the clock went past the last day the calendar knows
            if kind == "replenish":
                effects += filings.file_replenishments(ctx, st, when)
            elif kind == "open":  # account notices due first: a deferred voucher may be on the account
                effects += carry_out_due(ctx, st, when) + payments.pay_deferred(ctx, st, when)
            elif kind == "file":
                effects += filings.file_clearings(ctx, st, when)
            elif kind == "duties":
                effects += self._duties_due(when)
            else:  # the close, or the next page of a day's reserve list ("reserve")
                effects += close(ctx, st, when.date()) if kind == "close" else next_reserve_page(ctx, st)
        return effects

    def _duties_due(self, now: dt.datetime) -> list[Effect]:
        ctx, st = self._ctx, self._st
        effects: list[Effect] = []
        st.duties.next_day = st.duties.next_day or format_ymd(now.date())
        if ctx.calendar.is_business_day(now.date()) and now.time() >= ctx.config.duties.report_time:
            effects += reporting.reports(ctx, st, now)
            if st.duties.credits_more:  # a page of credit notices: the rest (and the returns) next call
                return effects
        return effects + payee_refunds.due_returns(ctx, st, now)

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes (`sim.codec`; see the module doc)."""
        return codec.encode(self._st)

    def use_archive(self, archive: Archive) -> None:
        """Settled records (the payees a return copies) go to `archive` from now on, not the state
        (`sim.archive`; the shell gives its database's)."""
        self._ctx = dataclasses.replace(self._ctx, archive=archive)

    def snapshot_parts(self) -> Iterator[bytes]:
        """`snapshot()`'s bytes in pieces (`sim.codec.encode_parts`): the store writes them as they come."""
        return codec.encode_parts(self._st)

    def load_snapshot(self, data: bytes) -> None:
        """Replace this core's state with a snapshot taken by a core of the same bank and config."""
        state = decode_state(data, self._fingerprint, self._ctx.config.adm_div_code)
        if state.bank_code != self.bank_code:
            raise StateError(f"the snapshot is bank {state.bank_code}'s, not {self.bank_code}'s")
        self._st = state

    @classmethod
    def restore(cls, data: bytes, bank_code: str, config: BankConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> BankCore:
        core = cls(bank_code, config, calendar, clock_config)
        core.load_snapshot(data)
        return core

    # --- public views (the runner, the scorecard, tests) ----------------------------------

    @property
    def state(self) -> BankState:
        """The state record itself: read it, never write it (the core checks its books against it)."""
        return self._st

    @property
    def payments(self) -> PaymentsView:
        """Every payment by its original's key, in arrival order: a read-only view of the state's
        index, not a copy (a copy was a dict of every payment made at each read: ~2.5 MB per bank
        at the end of a 100,000-voucher day, where the run peaks)."""
        return PaymentsView(self._st)

    @property
    def filings(self) -> dict[str, Filing]:
        return self._st.filings

    @property
    def duties(self) -> Duties:
        return Duties(self._st.duties)

    @property
    def balances(self) -> dict[str, int]:
        """The core's own view of its ledger."""
        return self._st.balances

    @property
    def reserve_balance_fen(self) -> int:
        return self._st.reserve_balance_fen

    @property
    def unbalanced_closes(self) -> list[tuple[dt.date, str, int]]:
        return self._st.unbalanced_closes

    @property
    def closes(self) -> list[dt.date]:
        return self._st.closes

    @property
    def quota_book(self) -> quotas.QuotaBook:
        return self._st.quota_book

    @property
    def quota_notices(self) -> dict[str, dt.datetime]:
        return self._st.quota_notices

    @property
    def year_end_notices(self) -> dict[str, dt.datetime]:
        return self._st.year_end_notices

    @property
    def reserve_lists(self) -> list[str]:
        return self._st.reserve_lists

    @property
    def suspensions(self) -> dict[str, Order]:
        return self._st.suspensions

    @property
    def lifted_suspensions(self) -> list[str]:
        return self._st.lifted_suspensions

    def next_event_after(self, t: dt.datetime) -> tuple[dt.datetime, str]:
        """The bank's next event strictly after `t`: (when, kind)."""
        return next_event_after(self._ctx, self._st, t)

    def decide(self, pay_bank: str, amount_fen: int, now: dt.datetime, *, urgent: bool = False) -> PaymentRule:
        return payments.decide(self._ctx, self._st, pay_bank, amount_fen, now, urgent=urgent)

    def remaining_quota(self, agency: str | None = None) -> dict[str, dict[str, int]]:
        """The authorized quota by unit: granted, spent and remaining fen (all units, or one)."""
        rows = quotas.remaining_by_unit(self._st.quota_book)
        return rows if agency is None else {agency: rows.get(agency, {"granted": 0, "spent": 0, "remaining": 0})}

    def paid_fen(self, mode: Mode | None = None) -> int:
        return sum(p.amount_fen for p in self._st.payments.values()
                   if p.day is not None and (mode is None or p.mode == mode))

    def filings_of(self, clear_type: int, state: str | None = None) -> list[Filing]:
        return [f for f in self._st.filings.values()
                if f.clear_type == clear_type and (state is None or f.state == state)]
