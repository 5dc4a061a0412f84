"""The central bank (人民银行国库) as a sans-IO core: state + voucher + time → effects.

`PbocCore` never awaits, never reads a clock, never touches a database. Its only entry points:

* `on_voucher(doc, flag, now, return_reason=None)`: a checked, signature-verified voucher arrived;
* `on_time(now)`: the business time is now `now`;
* `on_refused(refusal, now)`: something it asked for did not happen (`sim.effects.Refusal`).

Each returns a list of effects (`sim.effects`) for the shell to perform, in order:
`OpenAccount`, `PostTransfer`, `SendVoucher`, `WakeAt`, `Alarm`.

The core is a dispatcher: each duty is a module of functions over the typed state
(`pboc_sim.state.PbocState`), where its rules are documented:

| voucher / input              | module                  |
|------------------------------|-------------------------|
| 5108 / 5106 quota notice     | `pboc_sim.quota`        |
| 2301 clearing request        | `pboc_sim.clearing` (`CLEARING_RULES`) |
| 2302 refund request          | `pboc_sim.refunds` (`REFUND_RULES`), matched against `pboc_sim.cleared` |
| the business day's close     | `pboc_sim.statements` (7401 daily, 3502 monthly) |
| a refusal of the books       | `pboc_sim.refusals`     |
| 3502 receipt (flag 1)        | its check result is recorded (`reconciliation_results`) |

Anything else: an `Alarm`, nothing sent. A repeat of a decided 2301 / 2302 (same key, e.g.
redelivered after a crash before the ack) gets the very same effects again: the same receipt and
the same transfer id, which the ledger applies once (`pboc_sim.record`).

**The books.** After every input the core checks its own books (`pboc_sim.books`): the TSA never
below zero and equal to its opening balance plus what its movements brought in less what they
took out; the banks' clearing accounts summing to the TSA's net movements; no quota line used
beyond what was notified; nothing refunded beyond what was cleared. A break raises
`sim.books.BooksError` naming the rule.

**Snapshots.** `snapshot()` gives the whole state (`PbocState`) encoded by `sim.codec` (bytes,
deterministic); `load_snapshot(data)` (or `PbocCore.restore(data, ...)`) puts it back into a core
built with the same config, which then behaves exactly as the one snapshotted. The shell stores it
with each delivery's ledger work (see `gateway.sim_shell`). A decided request is kept as its
decision (transfers, X-fields, Return_Reason, refund advice), and the receipt is rebuilt from the
redelivered voucher, which the gateway guarantees is the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import cast

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.voucher import VoucherDoc
from pboc_sim import books
from pboc_sim.clearing import CLEARING_RULES, ClearingRule, on_clearing
from pboc_sim.config import QUOTA_PAY_TYPE, REVENUE_ACCOUNT, TSA_ACCOUNT, Ctx, PbocConfig, clearing_account
from pboc_sim.older import cleared_years
from pboc_sim.quota import on_quota_notice
from pboc_sim.record import answer, balance_before
from pboc_sim.refunds import REFUND_RULES, RefundRule, on_refund
from pboc_sim.refusals import on_refused
from pboc_sim.state import (
    OLDER_VERSIONS,
    SNAPSHOT_VERSION,
    Cleared,
    ClearedKey,
    KeyedView,
    Movement,
    PbocState,
    QuotaKey,
    QuotaLine,
    cleared_key,
    cleared_key_of,
    decision_key,
    quota_key,
    quota_key_of,
)
from pboc_sim.statements import catch_up
from sim.codec import config_fingerprint, decode_snapshot, encode, encode_parts
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, Refusal, SendVoucher, WakeAt

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


class PbocCore:
    """The central bank's state and rules. Feed it vouchers and times; perform its effects."""


    def __init__(self, config: PbocConfig, calendar: BusinessCalendar, clock_config: ClockConfig) -> None:
        if clock_config.bank_system_close < clock_config.urgent_cutoff:
            raise ValueError("bank_system_close before the urgent cutoff: statements would miss clearings")
        self.ctx = Ctx(config, calendar, clock_config)
        self.state = PbocState(config_fingerprint(config, clock_config))

    @property
    def calendar(self) -> BusinessCalendar:
        return self.ctx.calendar

    @property
    def clock_config(self) -> ClockConfig:
        return self.ctx.clock_config

    @property
    def config(self) -> PbocConfig:
        return self.ctx.config

    @config.setter
    def config(self, config: PbocConfig) -> None:
        """Run on under another config from now on (a snapshot then records that one)."""
        self.ctx = Ctx(config, self.calendar, self.clock_config)
        self.state.config = config_fingerprint(config, self.clock_config)

    # --- entry points ------------------------------------------------------------------

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects = catch_up(self.state, self.ctx, now)
        if self.state.next_close is not None:
            effects.append(WakeAt(at(self.state.next_close, self.clock_config.bank_system_close)))
        books.check(self.state)
        return effects

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime,
                   return_reason: str | None = None) -> list[Effect]:
        s = self.state
        effects = catch_up(s, self.ctx, now)
        vtcode = doc.vtcode
        key = VoucherKey.of(doc.get("AdmDivCode"), doc.get("StYear"), vtcode, doc.get("VoucherNo"), flag)
        decided = s.decisions.get(decision_key(key, doc.get("PayBankCode"))) if flag == 0 else None
        if decided is not None:
            books.check(s)
            return effects + answer(doc, decided)  # replay: same receipt, same transfer id
        try:
            if flag == 0 and vtcode in QUOTA_PAY_TYPE:
                effects += on_quota_notice(s, self.ctx, doc, key, now)
            elif flag == 0 and vtcode == "2301":
                effects += on_clearing(s, self.ctx, doc, key, now)
            elif flag == 0 and vtcode == "2302":
                effects += on_refund(s, self.ctx, doc, key, now)
            elif flag == 1 and vtcode == "3502":
                s.reconciliation_results[str(key)] = (doc.get("XCheckResult"), doc.get("XCheckRemark"))
            else:
                effects.append(Alarm("not-authorized", f"the central bank does not handle VtCode {vtcode} "
                                     f"flag {flag}", str(key)))
        except InputError as exc:  # an amount that does not parse: checked upstream, so alarm only
            effects.append(Alarm(exc.code, f"unusable voucher: {exc}", str(key)))
        books.check(s, *books.touched(vtcode, doc.get) if flag == 0 else ((), ()))
        return effects

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> list[Effect]:
        """Put the records right after a refusal (`pboc_sim.refusals`)."""
        effects = on_refused(self.state, refusal, now)
        books.check(self.state, *books.touched_by_refusal(refusal))
        return effects

    # --- public views ---------------------------------------------------------------------

    @property
    def quotas(self) -> Mapping[QuotaKey, QuotaLine]:
        """Each quota line under (bank, pay type, FundTypeCode, ClearDate), in the order added."""
        return KeyedView(self.state.quotas, lambda k: quota_key(*k), quota_key_of)

    @property
    def cleared(self) -> Mapping[ClearedKey, Cleared]:
        """What was cleared under (AdmDivCode, StYear, VtCode, VoucherNo, bank) (`pboc_sim.cleared`)."""
        return KeyedView(cast("Mapping[str, Cleared]", self.state.cleared), lambda k: cleared_key(*k), cleared_key_of)

    @property
    def tsa_balance_fen(self) -> int:
        return self.state.tsa_balance_fen

    @property
    def clearing_balances(self) -> Mapping[str, int]:
        """Bank code → its clearing account at the central bank, as the core moved it."""
        return self.state.clearing_balances

    @property
    def movements(self) -> Mapping[dt.date, list[Movement]]:
        """The TSA movements by business day."""
        return KeyedView(self.state.movements, dt.date.isoformat, dt.date.fromisoformat)

    @property
    def statements(self) -> list[SendVoucher]:
        """Every 7401 / 3502 emitted, for inspection."""
        return self.state.statements

    @property
    def rejected_notices(self) -> list[tuple[str, str, str]]:
        return self.state.rejected_notices

    @property
    def reconciliation_results(self) -> Mapping[str, tuple[str, str]]:
        return self.state.reconciliation_results

    @property
    def refused_sends(self) -> list[tuple[str, str]]:
        return self.state.refused_sends

    @property
    def refused_by_books(self) -> list[tuple[str, str]]:
        return self.state.refused_by_books

    def balance_before(self, day: dt.date) -> int:
        """The TSA balance at the start of `day`, from the core's own record."""
        return balance_before(self.state, self.config.tsa_opening_fen, day)

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state, encoded by `sim.codec` (see the module doc)."""
        return encode(self.state)

    def snapshot_parts(self) -> Iterator[bytes]:
        """`snapshot()`'s bytes in pieces (`sim.codec.encode_parts`): the store writes them as they come."""
        return encode_parts(self.state)

    def load_snapshot(self, data: bytes) -> None:
        """Replace this core's state with a snapshot taken by a core of the same config
        (`StateError` for another core's, another version's or another config's)."""
        state = decode_snapshot(data, PbocState, "pboc", SNAPSHOT_VERSION,
                                config_fingerprint(self.config, self.clock_config), older=OLDER_VERSIONS)
        self.state = cleared_years(state.loaded(self.config.adm_div_code))

    @classmethod
    def restore(cls, data: bytes, config: PbocConfig, calendar: BusinessCalendar,
                clock_config: ClockConfig) -> PbocCore:
        core = cls(config, calendar, clock_config)
        core.load_snapshot(data)
        return core
