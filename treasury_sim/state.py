"""The treasury core's saved state: what went out and what came back, as msgspec records saved and
restored by `sim.codec` (no hand-written codec).

The plan is not stored: it is regenerated from the seed (the same bytes), so the state names only
how far each planned day's vouchers went out (`progress`, in send order) and which the gateway
refused. Lists where order is behaviour (receipts in arrival order), maps where it is not (a
snapshot keeps maps sorted by key, so their keys are text: ISO dates, vouchers' keys).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec

from business_time.clock import ClockConfig
from messages.errors import StateError
from sim.codec import config_fingerprint
from treasury_sim.account_feed import FeedBook
from treasury_sim.account_notices import AccountNoticeLog
from treasury_sim.bank_reports import BankInbox
from treasury_sim.config import TreasuryConfig
from treasury_sim.receipt_book import ReceiptLog
from treasury_sim.records import PlannedVoucher, Receipt, StatementCheck, voucher_id
from treasury_sim.suspensions import SuspensionLog
from treasury_sim.year_end import QuotaLedger

__all__ = ["CORE", "DIVIDED_FEEDS", "DIVIDED_REFUNDS", "KEYED_LOGS", "KEYED_NOTICES", "KEYED_SIGN_OFFS", "OLDER_VERSIONS",
           "SNAPSHOT_VERSION", "TreasuryState", "fingerprint", "keyed_logs", "upgrade"]

CORE = "treasury"
# The layout of `TreasuryState` (1: the hand-written plain form). 3: the receipts packed
# (`receipt_log`, `treasury_sim.receipt_book`); version 2's list of receipts still loads. 4: a
# receipt of a bank's serial (a prefix and 8 digits) keeps the prefix in its head, the number in its
# record (26 bytes); version 3's records (every serial as text) read as they are. 5: `refunded`, each
# refunded payment's running total (the cap is cumulative); a version 4 snapshot loads with none.
# 6: the refunds noticed by each bank and day (`BankInbox.refunded`, `refunded_direct`) and a unit's
# statement lines (`by_unit`) are each division's (AdmDivCode last in the key): a version 5 (or older)
# snapshot's load as the configured one's. 7: the account feeds (7602) checked and the payments kept
# for them (`feeds`) are each division's (AdmDivCode last in the key, `FeedBook`): a version 6 (or
# older) snapshot's load as the configured one's. 8: the account notices (7601, `account_notices`) and
# the suspension orders (7501, `suspensions`) are keyed by their voucher's key (AdmDivCode, StYear,
# VtCode, VoucherNo), not by VoucherNo alone: a version 7 (or older) snapshot's load as the configured
# division's, each of the year it was sent. 9: the remaining logs by a voucher are keyed by its whole key
# (`treasury_sim.records.voucher_id`), not by VoucherNo alone: the vouchers the gateway refused
# (`refused`), the payments' refunded totals (`refunded`), the refund advices (7403, `refunds_advised`)
# and the year-end notices (7301 / 7302, `quotas.notices`): a version 8 (or older) snapshot's load as the
# configured division's (`TreasuryCore.load_snapshot`). 10: the statements signed off (`BankInbox.sign_offs`)
# are keyed by their voucher's whole key, not by VoucherNo alone (a bank numbers each division's 3501 alike:
# one division's sign-off replaced the other's): a version 9 (or older) snapshot's load as the statement of
# the number received last (`BankInbox.keyed_sign_offs`). 11: the 3501s checked and the units'
# statements (7104) waiting for theirs (`BankInbox.statements_in`, `units_waiting`): a version 10 (or
# older) snapshot loads with none (every 7104 it answered, it answered at once). 12: those waiting
# counted (`BankInbox.units_waiting_n`): a version 11 snapshot's counted as it loads.
SNAPSHOT_VERSION = 12
OLDER_VERSIONS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
DIVIDED_REFUNDS = 6  # the first version whose refunds name their division
DIVIDED_FEEDS = 7  # the first version whose account feeds name their division
KEYED_NOTICES = 8  # the first version whose account notices and suspension orders are keyed by the whole key
KEYED_LOGS = 9  # the first version whose refusals, refunds, refund advices and year-end notices are too
KEYED_SIGN_OFFS = 10  # the first version whose sign-offs are too


def fingerprint(config: TreasuryConfig, clock_config: ClockConfig) -> str:
    """What a snapshot was taken under: a core refuses to load one taken with another config."""
    return config_fingerprint(config, clock_config)


class TreasuryState(msgspec.Struct):
    config: str  # `fingerprint` of the config the state was taken under
    core: str = CORE
    version: int = SNAPSHOT_VERSION
    cursor: dt.datetime | None = None  # inputs up to this time are handled
    progress: dict[str, int] = msgspec.field(default_factory=dict)  # planned day (ISO) → its first vouchers sent
    # the key (`treasury_sim.records.voucher_id`) of a voucher the gateway refused → its code
    refused: dict[str, str] = msgspec.field(default_factory=dict)
    # the first receipt of each voucher, as they came: packed (version 3), or a version 2 snapshot's
    # list, packed into `receipt_log` when it is loaded (then empty)
    receipts: list[Receipt] = msgspec.field(default_factory=list)
    receipt_log: ReceiptLog = msgspec.field(default_factory=ReceiptLog)
    duplicate_receipts: list[Receipt] = msgspec.field(default_factory=list)
    statements: dict[str, StatementCheck] = msgspec.field(default_factory=dict)  # day (ISO) → its 7401 checked
    other: list[tuple[str, dt.datetime]] = msgspec.field(default_factory=list)  # (key, received) of 7403 / 3502 ...
    # the key (`voucher_id`) of a paid 5201 / 8202 → fen its refund notices (2203 / 7105) brought back so
    # far: only payments refunded, so bounded by the refunds; `refund_problem` keeps it ≤ what the receipt paid
    refunded: dict[str, int] = msgspec.field(default_factory=dict)
    # the key (`voucher_id`) of a refund advice (7403) → (CreditDate, fen): a later one of its key replaces it
    refunds_advised: dict[str, tuple[dt.date, int]] = msgspec.field(default_factory=dict)
    bank_inbox: BankInbox = msgspec.field(default_factory=BankInbox)  # the banks' refund notices, reports, statements
    suspensions: SuspensionLog = msgspec.field(default_factory=SuspensionLog)  # orders, lifts, confirmations
    account_notices: AccountNoticeLog = msgspec.field(default_factory=AccountNoticeLog)  # 7601 sent, confirmed
    quotas: QuotaLedger = msgspec.field(default_factory=QuotaLedger)  # authorized quota lines, year-end notices
    feeds: FeedBook = msgspec.field(default_factory=FeedBook)  # payments to feed accounts, the banks' 7602 checked


def upgrade(state: TreasuryState, version: int, adm_div_code: str) -> None:
    """A version `version` snapshot's state as this version keeps it, but for the logs by a planned
    voucher (`keyed_logs`, once the plan is regenerated): `adm_div_code` is the configured division."""
    if version < DIVIDED_REFUNDS:  # its refunds were all the configured division's
        state.bank_inbox.of_division(adm_div_code)
    if version < DIVIDED_FEEDS:  # its account feeds and their payments too
        state.feeds.of_division(adm_div_code)
    if version < KEYED_NOTICES:  # its account notices and suspension orders by VoucherNo alone
        state.account_notices.keyed(adm_div_code)
        state.suspensions.keyed(adm_div_code)
    if version < KEYED_SIGN_OFFS:  # its sign-offs by VoucherNo alone
        state.bank_inbox.keyed_sign_offs(adm_div_code)


def keyed_logs(state: TreasuryState, planned: Callable[[str], PlannedVoucher | None], adm_div_code: str) -> None:
    """A version 8 (or older) snapshot's logs by VoucherNo alone keyed by the whole key (`voucher_id`),
    once its plan is regenerated (`planned`: VoucherNo → the planned voucher): a refused voucher and a
    refunded payment are the planned voucher of their number (numbers were unique then); a refund advice
    (7403) division `adm_div_code`'s (the configured one's), of its CreditDate's year (its StYear but for
    one sent on a year's last day after the cutoff, credited the next); the year-end notices the
    configured division's (`QuotaLedger.keyed`)."""
    def plan_id(no: str, what: str) -> str:
        v = planned(no)
        if v is None:
            raise StateError(f"the snapshot's {what} voucher {no} is not in the regenerated plan")
        return v.id

    refused = {plan_id(no, "refused"): code for no, code in state.refused.items()}
    state.refused.clear()  # in place: the packed plans read this map
    state.refused.update(refused)
    state.refunded = {plan_id(no, "refunded"): fen for no, fen in state.refunded.items()}
    state.refunds_advised = {voucher_id(adm_div_code, str(credit.year), "7403", no): (credit, fen)
                             for no, (credit, fen) in state.refunds_advised.items()}
    state.quotas.keyed(adm_div_code)
