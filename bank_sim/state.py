"""The agent bank's state as typed records, saved and restored whole by `sim.codec` (msgspec).

Every duty module (`bank_sim.payments`, `bank_sim.clearing`, ...) is a set of functions of
(`Ctx`, `BankState`, input) → effects that change the records in place; `bank_sim.core`
dispatches the inputs to them. Nothing here is written by hand into plain data: the records
are what the snapshot is. Keys of a JSON object must be strings, so maps keyed by a voucher
key or a tally line use the key's text (`str(VoucherKey)`, `line_id`).

A few maps must keep the order things happened in (a payment's place in its clearing request,
a movement's place in the reserve statement): those records carry a sequence number and
`BankState.__post_init__` puts the maps back in that order when a snapshot is decoded.
"""

from __future__ import annotations

import datetime as dt
from base64 import b64decode
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from bank_sim.config import PAY_TYPE, BankConfig, account_ids
from bank_sim.flat_lines import flat_pairs
from bank_sim.payment_rare import PaymentRare, rare_field
from bank_sim.profiles import BankProfile, load_profile
from bank_sim.quotas import LineKey, QuotaBook
from bank_sim.refunds import PayeeReturn
from bank_sim.reports import Line
from bank_sim.reserve_statement import Movement
from bank_sim.sent_times import send_group, sent_when
from bank_sim.slots import OTHER_KEY
from bank_sim.suspensions import Order
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from messages.envelope import VoucherKey, VoucherKeyError
from sim.archive import Archive
from sim.effects import SendVoucher
from sim.flat import paired

__all__ = [
    "OLDER_VERSIONS",
    "BankState",
    "Batch",
    "BatchLine",
    "Books",
    "Ctx",
    "DutiesState",
    "Filing",
    "Mode",
    "Move",
    "Payment",
    "PendingNotice",
    "Refund",
    "RegAccount",
    "Registry",
    "paired",
]

Mode = Literal["clearing", "advance", "defer", "refuse"]
# The layout of the snapshot (`BankState`): 3, msgspec records. 4: a payment's serial is its
# number (`serial_text` makes the text); version 3 (the text kept) still loads. 5: a payment holds
# its tally lines until cleared (`Payment.uncleared`, not `DutiesState.uncleared`), its quota lines
# flat, not its VtCode twice; payments by VoucherNo (`BankState.payments`); a pending credit notice
# packs only what it shows (`bank_sim.pending_credits`); versions 3 and 4 still load. 6: a day's
# reserve list (7202) goes in pages, the rest due a microsecond later (`BankState.reserve_more`);
# version 5 (no page left, ever) still loads. 7: what few payments have (returned, refused, deferred,
# held, covered, urgent, cash) is in the payment's `rare` record, not eight fields of every payment;
# versions 3 to 6 (those fields in the payment) still load (`decode_state`); nor its pay type,
# which its VtCode says (`Payment.pay_type`); a PayAcctNo of digits is kept as its int (an older
# snapshot's text reads as it is). 8: a tally line of another division than the configured one
# carries its AdmDivCode (13 parts), and `DutiesState.divisions` the day each such division was
# first paid for: a bank serving several divisions reports to each; version 7 (every line the
# configured division's) still loads as it is. 9: an authorized quota line names its division
# (`bank_sim.quotas.LineKey`, AdmDivCode first) and a 7101 applied is kept by division, StYear and
# number (`bank_sim.notices.quota_notice_key`), a 7106, 7301, 7302 or 5253 applied by its key
# (`bank_sim.notices.applied_key`): two divisions' units of one AgencyCode no longer share a line,
# nor a notice of one division or year pass for the same number's of another; versions 3 to 8 load
# with the configured division's AdmDivCode on every line and notice, a notice's StYear the year
# it was applied (`decode_state`). 10: a suspension order (7501) is kept by its division, StYear and
# OrderNo (`bank_sim.suspensions.order_key`), not OrderNo alone; version 9 loads with the configured
# division's AdmDivCode on every order, its StYear the year of the snapshot's cursor.
SNAPSHOT_VERSION = 10
OLDER_VERSIONS = (3, 4, 5, 6, 7, 8, 9)


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a bank is, not what it did: fixed at construction, never in the snapshot."""

    bank_code: str
    config: BankConfig
    calendar: BusinessCalendar
    clock_config: ClockConfig
    accounts: dict[str, str]
    profile: BankProfile
    # where settled records go (the shell's, `sim.archive`); None: they stay in the state
    archive: Archive | None = None

    @classmethod
    def of(cls, bank_code: str, config: BankConfig, calendar: BusinessCalendar, clock_config: ClockConfig) -> Ctx:
        d = config.duties
        return cls(bank_code, config, calendar, clock_config, account_ids(bank_code),
                   load_profile(d.profile, dict(d.profile_params), d.seed))


# Not tracked by the cycle collector (`gc=False`): a payment refers to texts, numbers and tuples,
# never back to anything that refers to it, and a busy day keeps 100,000s of them (16 bytes each
# less, and a full collection no longer walks them).
class Payment(msgspec.Struct, gc=False):
    key: VoucherKey  # the original's key (its VtCode is `vtcode`: version 4 kept it twice)
    fund_type: tuple[str, str]  # (FundTypeCode, FundTypeName)
    sup_dep: tuple[str, str]  # (SupDepCode, SupDepName): the first-level unit
    account: str  # where it was paid from
    amount_fen: int
    received_at: dt.datetime
    mode: Mode
    day: dt.date | None = None  # the business day it was paid on
    # its serial's number, given when paid or returned (the text is `serial_text`'s, derived: one
    # text a payment less); a version 3 snapshot's payment holds the text itself
    serial: int | str = ""
    filing: str | None = None  # VoucherNo of the 2301 covering it
    agency: tuple[str, str] = ("", "")  # (AgencyCode, AgencyName)
    # PayAcctNo: the zero-balance account's number, kept as an int when it is digits alone with no
    # leading zero (`bank_sim.pay_acct`); "" once let go
    pay_acct: str | int = ""
    # the authorized quota it used (8202), flat: line, fen, line, fen, ... (`quota_lines`), each line
    # the one tuple every payment naming it shares; version 4 kept (line, fen) pairs
    quota_taken: tuple[Any, ...] | None = None
    seq: int = 0  # its arrival number: the order of `BankState.payments`
    # its tally lines from when it is paid until its clearing is accepted (then they count in the
    # expenditure reports): flat, line, fen, line, fen, ... (`bank_sim.reporting.uncleared_lines`),
    # each line the one tuple every payment naming it shares. Version 4 kept them in
    # `DutiesState.uncleared` by key text (~650 bytes a payment of the day; this ~130).
    uncleared: tuple[Any, ...] | None = None
    rare: PaymentRare | None = None  # what few payments have (the properties below); None: none of it

    raw = rare_field("raw", "the voucher's bytes, kept until paid (deferred)")
    refused = rare_field("refused", "the ledger refused its transfer: the code (then it is not paid)")
    receipt_refused = rare_field("receipt_refused", "the gateway refused its receipt: the code")
    urgent = rare_field("urgent", "UrgentFlag 1: cleared at once by an urgent 2301")
    returned = rare_field("returned", 'returned unpaid (退票): "<code>: <message>"')
    covered = rare_field("covered", "its clearing missed the cutoff: made whole from the reserve at the close")
    held = rare_field("held", "its clearing was refused (this code) for the treasury to fix: filed again next round")
    cash = rare_field("cash", "a cash withdrawal counted in the unit's cash of its day (`bank_sim.cash`)")

    @property
    def vtcode(self) -> str:
        return self.key.vtcode

    @property
    def pay_type(self) -> str:
        """11 direct (5201), 12 authorized (8202): its VtCode's (version 6 kept it, a field more)."""
        return PAY_TYPE[self.key.vtcode]

    def quota_lines(self) -> list[tuple[LineKey, int]]:
        """The authorized quota lines it drew on and their fen (none: not an 8202, or given back)."""
        return paired(self.quota_taken or ())


BatchLineState = Literal["paid", "bounced", "refunded"]


class BatchLine(msgspec.Struct):
    """One line of a batch voucher (一次批量): its payee and state (`bank_sim.batches`)."""

    detail: dict[str, str]  # the Detail as the voucher had it
    fen: int
    state: BatchLineState = "paid"
    refund: str = ""  # the 2302 VoucherNo that refunds it (bounced / refunded)


class Batch(msgspec.Struct):
    """A batch voucher's lines, with running sums of their states (paid + bounced + refunded = total)."""

    voucher_no: str
    total_fen: int  # the voucher's PayAmt
    lines: dict[str, BatchLine]  # Detail Id → line
    paid_fen: int = 0
    bounced_fen: int = 0
    refunded_fen: int = 0


class Filing(msgspec.Struct):
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
    seq: int = 0  # the filing number: the order of `BankState.filings`


class Refund(msgspec.Struct):
    no: str  # the 2302's VoucherNo
    voucher: str  # the payment's slot (`BankState.slot`: its VoucherNo, unless another payment has it)
    amount_fen: int
    reason: str
    returned_at: dt.datetime
    state: str = "pending"  # pending, accepted, rejected
    code: str | None = None
    notice_no: str = ""
    line: str = ""  # the Detail Id of the batch line it refunds ("" for the whole payment)


class Move(msgspec.Struct):
    """A reserve movement and its booking number (the 7203 lists them in booking order)."""

    seq: int
    movement: Movement


Tally = dict[str, int]  # line_id(line) → fen
TallyLines = list[tuple[Line, int]]  # (line, fen)


class DutiesState(msgspec.Struct):
    """What the bank owes after it pays: refunds, reports, the profile's held and faulted sends."""

    # A payment's records here are keyed by its slot (`BankState.slot`: its VoucherNo, unless a
    # payment of another division, year or kind has that number): each keeps its own.
    returns: dict[str, PayeeReturn] = msgspec.field(default_factory=dict)  # still to happen, by slot
    payees: dict[str, Any] = msgspec.field(default_factory=dict)  # slot → what a return copies (`pack_payee`)
    refunds: dict[str, Refund] = msgspec.field(default_factory=dict)
    daily: dict[str, Tally] = msgspec.field(default_factory=dict)  # yyyymmdd → lines
    monthly: dict[str, Tally] = msgspec.field(default_factory=dict)  # yyyymm → lines
    reported_days: set[str] = msgspec.field(default_factory=set)
    reported_months: set[str] = msgspec.field(default_factory=set)
    sign_offs: dict[str, tuple[str, str, str]] = msgspec.field(default_factory=dict)  # yyyymm → (result, date, remark)
    held: list[tuple[dt.datetime, SendVoucher]] = msgspec.field(default_factory=list)  # sorted by release time
    # A send is in `sent` once it left (when: the scorecard's; `sent_when`, `mark_sent`), its key
    # in `held_sends` while the profile holds it; either way it is not sent again as new. `sent` is
    # by "AdmDivCode/StYear/VtCode/flag" (`send_group`), then by VoucherNo: the number is the text
    # the payment's key holds already, one dict slot a send instead of a key text more (~85 bytes,
    # 1.6 sends a voucher). Snapshots of version 3 kept `sent_at` (key text → when) and, older,
    # `seen` (key → 1 sent / 0 held): each read once, then empty.
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    sent_at: dict[str, dt.datetime] = msgspec.field(default_factory=dict)
    sent: dict[str, dict[str, dt.datetime]] = msgspec.field(default_factory=dict)
    held_sends: set[str] = msgspec.field(default_factory=set)
    refusals: dict[str, str] = msgspec.field(default_factory=dict)  # send key → code (gateway or central bank)
    counts: dict[str, int] = msgspec.field(default_factory=dict)  # SendKind → messages of it so far (fault index)
    corrections: dict[str, SendVoucher] = msgspec.field(default_factory=dict)  # faulted send key → the clean one
    corrupt: set[str] = msgspec.field(default_factory=set)  # send keys to seal with a broken signature
    probes: dict[str, str | None] = msgspec.field(default_factory=dict)  # over-quota probe 2301 → the code it got
    # 5201 slot → its 7103's elements, packed (`pack_credit`: one bytes object a direct payment,
    # held until the next morning, instead of a dict of sixteen; base64 text in a snapshot). Version
    # 3 kept the dict itself (`credit_of` reads both).
    credits: dict[str, Any] = msgspec.field(default_factory=dict)
    credits_more: bool = False  # credit notices due beyond the last call's page: the duties go on at once
    refund_lines: dict[str, TallyLines] = msgspec.field(default_factory=dict)  # 2302 no → lines it takes off
    # payment key → lines, till cleared: version 4's (`Payment.uncleared` now), moved there on load
    uncleared: dict[str, TallyLines] = msgspec.field(default_factory=dict)
    corrected: dict[str, TallyLines] = msgspec.field(default_factory=dict)  # payment key → lines as last corrected (5253)
    # 2302 no → the refund notice (2203 / 7105) that goes to the treasury once that 2302 is cleared
    # (003 §36: the quota comes back only "退回资金清算后")
    notices: dict[str, SendVoucher] = msgspec.field(default_factory=dict)
    requests: dict[str, tuple[dict[str, str], int]] = msgspec.field(default_factory=dict)  # 2302 no → (head, filings)
    # refused 2302 no → the 2302 filed again for it: at most REFUND_FILINGS_MAX - 1 per refund
    refiled: dict[str, str] = msgspec.field(default_factory=dict)
    stated: dict[str, Tally] = msgspec.field(default_factory=dict)  # yyyymm → lines paid (the 3501's)
    next_day: str = ""  # yyyymmdd: the first day not yet given its daily report ("" before the first day)
    # AdmDivCode → yyyymmdd of its first payment, for each division other than the configured one the
    # bank paid for: from that day it gets its daily report (2206), nil on a day with nothing
    divisions: dict[str, str] = msgspec.field(default_factory=dict)
    # the clearing reserve statement (7203): month → {transfer id: movement}
    reserve_moves: dict[str, dict[str, Move]] = msgspec.field(default_factory=dict)
    reserve_move_seq: int = 0
    reserve_moves_count: int = 0  # movements in `reserve_moves` (kept, so no input counts them)
    reserve_balance: int = 0  # the reserve's balance at the end of the last month stated
    reserve_next: str = ""  # yyyymm: the first month not stated yet ("" before the reserve moved)
    # yyyymm (7203) or yyyymm/AgencyCode (7104) → (result, date, remark)
    reserve_sign_offs: dict[str, tuple[str, str, str]] = msgspec.field(default_factory=dict)
    seq: int = 0
    payee_seq: int = 0  # the last number given in `payees_order`
    payees_order: dict[str, int] = msgspec.field(default_factory=dict)  # slot → when its payee was kept
    # slots of payments returned whole: their payee is used up, though the archive still holds it
    payees_gone: set[str] = msgspec.field(default_factory=set)

    def __post_init__(self) -> None:
        """Decoded maps come back sorted by key: put the ones whose order counts back in it."""
        if self.payees_order:
            self.payees = dict(sorted(self.payees.items(), key=lambda kv: self.payees_order.get(kv[0], 0)))
        if any(isinstance(rec, str) for rec in self.payees.values()):  # packed records, as base64 text
            self.payees = {no: b64decode(rec) if isinstance(rec, str) else rec for no, rec in self.payees.items()}
        if self.credits:
            self.credits = {no: b64decode(rec) if isinstance(rec, str) else rec for no, rec in self.credits.items()}
        # sent in time order (the oldest is forgotten first)
        self.sent = {group: dict(sorted(times.items(), key=lambda kv: kv[1])) for group, times in self.sent.items()}
        if self.sent_at:  # a version 3 snapshot's
            for text, when in sorted(self.sent_at.items(), key=lambda kv: kv[1]):
                key = VoucherKey.parse(text)
                self.sent.setdefault(send_group(key), {}).setdefault(key.voucher_no, when)
            self.sent_at = {}
        if self.seen:  # an older snapshot's: its sent keys are those of `sent`, its held ones 0
            self.held_sends.update(k for k, v in self.seen.items()
                                   if v == 0 and sent_when(self.sent, VoucherKey.parse(k)) is None)
            self.seen = {}


class Books(msgspec.Struct):
    """Running counts the core checks its books against after every input (`bank_sim.books`)."""

    paid: int = 0  # payments paid (day set)
    returned: int = 0  # returned unpaid (退票)
    refused: int = 0  # paid, then their transfer was refused by the ledger: not paid
    # lines of batch vouchers (`bank_sim.batches`) by state: each line is in exactly one
    batch_lines_paid: int = 0
    batch_lines_bounced: int = 0  # its payee's bank returned it, its 2302 not cleared yet
    batch_lines_refunded: int = 0


class CardRepayment(msgspec.Struct):
    """An official-card repayment (公务卡还款, 003 §30) the bank paid and has not reported yet in its
    repayment detail (7701, `bank_sim.official_cards`): the cards it credited."""

    voucher_no: str  # the 8202's VoucherNo
    key: str  # the payment's key (str(VoucherKey))
    day: dt.date  # the day it was paid: its 7701 goes at that day's close
    adm_div_code: str
    agency: tuple[str, str]  # (AgencyCode, AgencyName)
    lines: list[tuple[str, str, int]]  # (CardNo, CardHolderName, fen) in detail order


class RegAccount(msgspec.Struct):
    """An account of the bank's registry (`bank_sim.registry`), opened on the treasury's notice (7601)."""

    number: str  # AcctNo
    acct_type: str  # AcctType: 1 finance ZBA, 2 unit ZBA, 3 unit real-fund, 4 fiscal special
    name: str
    agency: str = ""  # AgencyCode (types 2, 3)
    state: Literal["open", "closed"] = "open"
    opened: dt.date | None = None  # None: declared by the world, open from the start
    closed: dt.date | None = None
    replaces: str = ""  # the old account it replaced (新旧账户)
    approve_no: str = ""  # the Ministry's approval of a special account (003 §18)
    file_no: str = ""  # the filing of its closure
    sup_dep: str = ""  # SupDepCode: the unit's first-level unit (its system)


class PendingNotice(msgspec.Struct):
    """An account notice received and not carried out yet: done at the opening of `due`."""

    voucher_no: str
    key: str
    due: dt.date
    raw: bytes


class Registry(msgspec.Struct):
    """The account registry. Bound: one record per account the treasury notified (a unit has a
    handful) and one date per notice, as the treasury's notices are."""

    in_force: bool = False  # the world declared accounts, or a notice arrived: PayAcctNo is checked
    accounts: dict[str, RegAccount] = msgspec.field(default_factory=dict)  # AcctNo → account
    notices: dict[str, dt.date] = msgspec.field(default_factory=dict)  # VoucherNo → the day carried out
    pending: list[PendingNotice] = msgspec.field(default_factory=list)  # in arrival order
    notified: set[str] = msgspec.field(default_factory=set)  # AcctNo notified for opening, not opened yet


# `dict=True`: it may hold attributes that are not fields, not in the snapshot (indexes derived
# when first asked: `bank_sim.filings.unfiled` and `reserve_paid`, `bank_sim.reporting.credit_page`'s queue).
class BankState(msgspec.Struct, dict=True):
    core: str = "bank"
    version: int = SNAPSHOT_VERSION
    bank_code: str = ""
    config: str = ""  # `sim.codec.config_fingerprint` of the bank's config
    cursor: dt.datetime | None = None
    serial: int = 0
    filing_seq: int = 0
    filings_more: bool = False  # payments due to file beyond the last filing call's page: filed next
    # the day whose reserve list (7202) has payments left beyond the pages sent: listed next
    # (`bank_sim.close.reserve_list`); None (as a version 5 snapshot loads) when none are left
    reserve_more: dt.date | None = None
    payment_seq: int = 0
    reserve_balance_fen: int = 0
    balances: dict[str, int] = msgspec.field(default_factory=dict)  # the core's own view of its ledger
    opened: set[str] = msgspec.field(default_factory=set)
    zero_at_close: set[str] = msgspec.field(default_factory=set)
    # payment by its original's VoucherNo (the text its key holds: no key text more, ~85 bytes a
    # payment); one whose VoucherNo another payment of another key has already, by OTHER_KEY + its
    # key text (`payment`, `add_payment`). Version 4 keyed every payment by its key text.
    payments: dict[str, Payment] = msgspec.field(default_factory=dict)
    deferred: list[VoucherKey] = msgspec.field(default_factory=list)
    filings: dict[str, Filing] = msgspec.field(default_factory=dict)
    quota_book: QuotaBook = msgspec.field(default_factory=QuotaBook)  # authorized quotas (7101)
    quota_notices: dict[str, dt.datetime] = msgspec.field(default_factory=dict)  # 7101 VoucherNo → when its 7102s went
    # "<AdmDivCode>/<StYear>/7301/<VoucherNo>" (7302, 7106, 5253; `bank_sim.notices.applied_key`) → when applied
    year_end_notices: dict[str, dt.datetime] = msgspec.field(default_factory=dict)
    reserve_lists: list[str] = msgspec.field(default_factory=list)  # VoucherNo of the 7202s sent
    # Standing payment suspension orders (7501, 000 五(二)3) by `suspensions.order_key`. Bound: one per order
    # the treasury issued and has not lifted; the treasury issues them by hand, a handful at most.
    suspensions: dict[str, Order] = msgspec.field(default_factory=dict)
    lifted_suspensions: list[str] = msgspec.field(default_factory=list)  # lifted orders' keys: a redelivery is confirmed
    unbalanced_closes: list[tuple[dt.date, str, int]] = msgspec.field(default_factory=list)  # (day, account, fen)
    closes: list[dt.date] = msgspec.field(default_factory=list)
    books: Books = msgspec.field(default_factory=Books)
    batches: dict[str, Batch] = msgspec.field(default_factory=dict)  # batch vouchers' lines, by slot (`slot`)
    registry: Registry = msgspec.field(default_factory=Registry)  # accounts opened on notice (7601)
    # cash withdrawn by unit on the current day ("<yyyymmdd>/<AgencyCode>" → fen, `bank_sim.cash`): only
    # the latest day's entries are kept, one per unit that drew cash that day
    cash_drawn: dict[str, int] = msgspec.field(default_factory=dict)
    # official-card repayments paid, not yet in a 7701 (by slot, `slot`; sent and dropped at the day's close)
    card_repayments: dict[str, CardRepayment] = msgspec.field(default_factory=dict)
    card_detail_seq: int = 0  # the last 7701 number given
    duties: DutiesState = msgspec.field(default_factory=DutiesState)

    def __post_init__(self) -> None:
        """Decoded maps come back sorted by key: put payments and filings back in their order (the
        payments keyed again as this version keys them)."""
        payments, self.payments = sorted(self.payments.values(), key=lambda p: p.seq), {}
        for p in payments:
            self.add_payment(p)
        self.filings = dict(sorted(self.filings.items(), key=lambda kv: kv[1].seq))
        for p in self.payments.values():  # decoded: the lines as lists, made the shared tuples again
            if p.uncleared is not None:
                p.uncleared = flat_pairs(p.uncleared[0::2], p.uncleared[1::2])
            if p.quota_taken and self.version < 5:  # (line, fen) pairs
                p.quota_taken = flat_pairs([line for line, _ in p.quota_taken], [fen for _, fen in p.quota_taken])
            elif p.quota_taken:
                p.quota_taken = flat_pairs(p.quota_taken[0::2], p.quota_taken[1::2])
        if self.duties.uncleared:  # a version 4 snapshot's: onto the payments
            for text, lines in self.duties.uncleared.items():
                waiting = self.payment(VoucherKey.parse(text))
                if waiting is not None:
                    waiting.uncleared = flat_pairs([line for line, _ in lines], [fen for _, fen in lines])
            self.duties.uncleared = {}

    def payment(self, key: VoucherKey) -> Payment | None:
        """The payment of original `key`, or None."""
        p = self.payments.get(key.voucher_no)
        if p is not None and p.key == key:
            return p
        return None if p is None else self.payments.get(OTHER_KEY + str(key))

    def payment_named(self, text: str) -> Payment | None:
        """The payment whose key text (`str(VoucherKey)`: a transfer's reference) is `text`, or None."""
        try:
            key = VoucherKey.parse(text)
        except VoucherKeyError:
            return None
        return self.payment(key)

    def slot(self, p: Payment) -> str:
        """The key of payment `p` (one kept) in `payments`: its VoucherNo, unless another has it."""
        no = p.key.voucher_no
        return no if self.payments.get(no) is p else OTHER_KEY + str(p.key)

    def numbered(self, no: str) -> list[Payment]:
        """Every payment kept whose original's VoucherNo is `no`, in arrival order, without a walk of
        the payments: the first is under `no` itself (`add_payment`; none are dropped), the others
        (another key, the same VoucherNo: rare) under OTHER_KEY + their key text, listed by
        VoucherNo in an index that is not in the snapshot: derived from the payments at the first
        call after a load, then kept by `add_payment`."""
        first = self.payments.get(no)
        if first is None:
            return []
        others: dict[str, list[str]] | None = self.__dict__.get(OTHERS)
        if others is None:
            others = self.__dict__[OTHERS] = {}
            for k, p in self.payments.items():
                if k.startswith(OTHER_KEY):
                    others.setdefault(p.key.voucher_no, []).append(k)
        more = others.get(no)
        return [first, *(self.payments[k] for k in more)] if more else [first]

    def add_payment(self, p: Payment) -> None:
        """Keep a new payment (last in arrival order) under its VoucherNo, if no other has it."""
        no = p.key.voucher_no
        k = OTHER_KEY + str(p.key) if no in self.payments else no
        self.payments[k] = p
        indexes = self.__dict__
        unfiled = indexes.get(UNFILED)
        if unfiled is not None:  # `bank_sim.filings.unfiled`: kept as payments come
            unfiled[k] = None
        if p.mode == "advance" and (reserve_paid := indexes.get(RESERVE_PAID)) is not None:
            reserve_paid[k] = None  # `bank_sim.filings.reserve_paid`
        if k is not no and (others := indexes.get(OTHERS)) is not None:
            others.setdefault(no, []).append(k)  # `numbered`


# Where `bank_sim.filings.unfiled`, `bank_sim.filings.reserve_paid`, `BankState.numbered`
# and `bank_sim.account_feed.paid_on` keep their indexes in the state (attributes, not fields).
UNFILED = "_unfiled"
RESERVE_PAID = "_reserve_paid"
OTHERS = "_others"  # `BankState.numbered`
PAID_ON = "_paid_on"  # `bank_sim.account_feed.paid_on`
