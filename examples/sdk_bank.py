"""An agent bank written only against the client SDK: what a bank team's system does, in one file.

It is the system under test in the conformance suite's own tests (`tests/test_conformance.py`,
`docs/conformance.md`): it connects to a gateway over HTTP, or over MQTT (`--mqtt`), with its own
certificate (its seal signs what it sends) and token, and uses only `client.GatewayClient` for the wire,
`messages/` to read and build vouchers, and `business_time/` for the Chinese working-day calendar
(a bank has its own; this one is the project's). Its books are in memory: a real bank keeps them
in its core banking system.

The rules are the agent-bank agreement's (docs/rules.md; the wire: docs/wire.md), as the simulated
bank (`bank_sim`) follows them:

* a payment voucher (5201 direct, 8202 authorized) for this bank is checked first
  (`return_reason`): an element the bank needs is empty, the payee account is this bank's but
  unknown or held under another name, the payee account is a real-fund account of the paying
  unit's own system (itself, its superior or subordinates, another unit under its first-level
  unit, or the old/new account of one) that no approval covers (`OwnAccounts`, from the world's
  accounts.yaml: --accounts), or an authorized payment is more than what is left of the unit's
  authorized quota (7101), or a procurement payment (ProcureFlag 1 or 2, 政府采购) pays someone
  else than the supplier it names (PayeeAcctNo / PayeeAcctName against SupplierAcctNo /
  SupplierName) or, paid on acceptance (ProcureFlag 1), names an AcceptDate after the day it
  arrives: then it is returned unpaid (退票) at once, the receipt with
  Return_Reason "<code>: <message>" and XPayAmt 0.00;
* else, received on a business day before the central bank's clearing cutoff (16:00), it is paid
  at once from the zero-balance account and cleared that day (marked urgent, UrgentFlag 1, before
  16:30: cleared at once by an urgent clearing request, which carries the day's unfiled payments
  of its pay type and fund type too); received later but before the close
  (17:00), it is paid at once as an advance from the clearing reserve; otherwise (after the close,
  on a holiday, reserve short) it is paid at 09:00 on the next business day. Each payment goes
  back to the treasury as the receipt: the voucher with XPayDate, XPayAmt, XAgentBusinessNo and
  XArriveDate (the payee has the money: at once in the same city, two hours later in another city,
  the next business day through another bank) filled;
* an authorized quota notice (7101) is confirmed (its receipt, XConfirmDate) and each unit in it
  is told at once (7102, the quota arrival notice); its lines are of its division (AdmDivCode),
  budget year (StYear) and fund type (FundTypeCode), and an 8202 draws only on lines of its own
  division, year and fund type (a notice is known by AdmDivCode, StYear and VoucherNo: another
  division's or year's of a number seen is applied, not taken for a redelivery); at year
  end a cancellation (7301) takes each line's amount off what is left of year StYear and a
  carry-forward (7302) moves it from year ToYear - 1 to ToYear, each confirmed and told to the
  units the same way (7102 with OriVtCode 7301 / 7302); a quota reduction (7106, 额度追减, 003 §22)
  takes each line's amount off what is left during the year, confirmed and told the same way, and
  one above what is left is neither applied nor confirmed;
* direct funds (直达资金, docs/payment-kinds.md): a 7101 line marked DirectFundFlag 1 is a
  direct-funds line; an 8202 Detail marked 1 draws only on such lines, one not marked never on
  them, else it is returned unpaid `direct-funds-mismatch`; the reports and statement (2206,
  4004, 3501) put direct funds on lines of their own (DirectFundFlag 1, listed first here) and
  total them in DirectFundAmt, and a refund notice marks a refunded direct-funds line;
* a payment suspension order (7501, 暂停支付, SuspendAction 1) is confirmed (XConfirmDate) and,
  while it stands, every payment voucher whose unit (AgencyCode), paying account (PayAcctNo) or
  payee (PayeeAcctNo) it names is returned unpaid with `payment-suspended`; its lift
  (SuspendAction 2, the same OrderNo) is confirmed and ends it; an order is its division's, year's
  and number's (AdmDivCode, StYear, OrderNo: each treasury numbers its own, each year afresh) and
  suspends that division's payments only;
* an account notice (7601: open, change or close a finance or unit zero-balance account, a unit's
  real-fund account or a fiscal special account) is carried out at once and confirmed
  (XConfirmDate, the day it was done: within the agreement's 3 working days); once one arrived, a
  payment voucher whose PayAcctNo is not an open zero-balance account of the registry (the finance
  one for a 5201, the unit's for an 8202) is returned unpaid with `account-not-opened` or
  `account-closed`, and a unit's real-fund account opened on notice is held by the bank and the
  unit's own (`zba-to-own-account` when the unit's zero-balance account pays it);
* it files one clearing request (2301, ClearType 0) per pay type and fund type for the day's
  payments at 15:30, and again at the last instant before 16:00 (the sweep) for those paid since,
  one Detail per payment naming it (Detail/VoucherNo); at 08:45 on the next business day one
  ClearType 1 request (reserve replenishment) for the previous day's advances;
* the central bank's answer (the 2301 receipt) makes the reserve whole, or refuses: then the
  request's payments wait, never split. Refused `after-cutoff` (they missed the clearing time) they
  are made whole from the reserve at the close and asked for with the next morning's
  replenishment (004 part 3 第四条: the reserve is for payments past the clearing time only);
  refused for any other reason (over the quota: the treasury's matter) they are held and filed
  again at the next clearing round (the sweep, then each business day's 15:30), the reserve
  untouched;
* at the close, the reserve detail list (7202) of the day's payments the reserve paid and, once its
  registry holds a unit real-fund or fiscal special account (7601 AcctType 3 or 4), the day's account
  feed (7602): each of its payments paid that day into such an account, a day without one empty; at 09:30
  each business day, the credit notice (7103) of each earlier direct payment and the daily report
  (2206) of each earlier business day: what the central bank cleared that day (an advance counts
  on the day its replenishment was accepted), a nil report when nothing was; on the first
  business day of a month, the monthly report (4004, what was cleared in the month), the
  statement (3501) and the units' statements (7104) of what was paid in the month, and the
  clearing reserve account statement (7203: opening balance, each funding, advance, making whole
  and replenishment, closing balance); the treasury signs the statements off with its receipts;
* several divisions (AdmDivCode): the bank serves the divisions the gateway registered it for (`GET
  /v1/participants/me`, its `adm_div_codes`, the first the configured one; in a scenario world, the
  `world.divisions` listing it) and tells each division's treasury what it did for that division's
  payments, under that AdmDivCode: its own 2206 (nil on a day with nothing), 4004, 3501 and 7104s,
  7202 and 7602, from the bank's first day, each division on the same days; a division it is not
  registered for but paid for all the same from the day it first paid for it (its 2206s) or on a
  day with lines (its 7602s). Clearing requests, refunds and notices go under each payment's own
  division; the 7203 (one reserve account) under the configured one;
* a payee-bank refund notice (2252: the payee's bank sent the money of a paid payment back) is
  refunded to the central bank (2302, naming the payment) once the payment's clearing was
  accepted, and on the central bank's acceptance the unit's authorized quota comes back and the
  treasury is told (2203 direct, 7105 authorized; within 1 working day); refused
  below-clearing-floor, it is filed again after the next accepted clearing (3 filings at most);
  of a batch (a 5201 whose details name their payees, 一次批量), the notice naming one line's payee
  and amount returns that line alone: its own 2302 and 2203, the other lines stay paid;
* a cash withdrawal (an 8202 with CashFlag 1, 现金支取) is checked in real time against the cash
  rules: its CashPurposeCode must be a cash use of the 现金管理暂行条例 §5 (01-08), else
  `cash-purpose-not-allowed`, and the unit's cash of the day may not pass 50,000.00, else
  `cash-over-limit`; inside them it is paid like any payment;
* an official-card repayment (an 8202 with CardRepayFlag 1, 公务卡还款) is paid like any payment,
  and at the close of the day it was paid the bank, as the card-issuing bank, sends the treasury
  its repayment transfer detail (7701): one Detail per card credited (CardNo, CardHolderName,
  PayAmt).

**Business time is the gateway's.** The bank never reads the wall clock: it asks the gateway
(`client.clock()`), and once it has done everything due up to then it waits on the clock
(`client.clock(after=..., wait_s=...)`) after the last instant before the next thing its schedule
has to do (`Bank.done_up_to`): against a simulated clock that is how the conformance runner knows
the bank has caught up, and that it need not stop the clock for it before then. Deliveries are
acked after what they caused has been sent.

Deliberately wrong variants, for the conformance suite's own tests (each fails the expectations it
should): `--late-receipts` (receipts go out at 11:30 the next business day, after the deadline),
`--wrong-xfields` (XPayAmt one fen short, XPayDate a day late), `--over-quota` (each normal
clearing request asks 1,000,000.00 more than was paid), `--skew-reports` (the daily and monthly
reports and the statement state 0.01 more than was paid), `--ignore-returns` (a payee-bank refund
notice, 2252, is never refunded: no 2302, no refund notice to the treasury), `--pay-any-payee` (a
procurement payment is paid whoever its payee is, whatever its acceptance date), `--never-replenish`
(what the reserve advanced after the cutoff is never asked back: no ClearType 1 request).

Its schedule is its own, as a real bank's is, within the rules: `--filing` (first clearing
request of the day, before the 16:00 cutoff), `--replenish` (the next working morning, from the
central bank's opening to the noon deadline: 08:30-12:00 by default; later is accepted but late), `--open` (the overnight queue paid by
10:00). The conformance catalogue passes with any of them (`bench/conformance_schedules.sh`).

    python examples/sdk_bank.py --url http://127.0.0.1:8470 --id bank-a --bank-code 999100000001 \\
        --key world/keys/bank-a.key --cert world/keys/bank-a.pem --token="$BANK_A_TOKEN"

Before anything else it asks the gateway whom its token authenticates (`GET /v1/participants/me`,
`GatewayClient.whoami()`): another participant than `--id` is refused at once, one line on stderr
`tgw-sdk-bank: participant-mismatch: ...` and exit 2 (a token the gateway does not know: its
`unauthenticated`, exit 2); a `--cert` not registered to it is warned about.

Over MQTT (docs/connect-a-bank.md, "Over MQTT"): the bank registered with `--delivery push`, its
vouchers sent, its deliveries pushed and acked through the gateway's broker; the business clock and
message status stay on HTTP (`--url`, `--token`), which MQTT does not carry. A bank registered
`delivery: pull` would get nothing over MQTT: it refuses to start (exit 2) and says how to register.
A refused login, token or broker ACL (`unauthenticated`, `mqtt-not-authorized`) is exit 2 too, one line:

    python examples/sdk_bank.py --url http://127.0.0.1:8470 --mqtt mqtt://bank-a@127.0.0.1:1883 \\
        --mqtt-password-file bank-a.mqtt ... (the same flags)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import aiohttp
import yaml

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at, replenishment_day
from client import ClientError, Delivery, GatewayClient
from messages.envelope import encode_envelope, parse_envelope
from messages.errors import InputError
from messages.files import read_error_code, read_regular_text
from messages.money import fen_to_str, parse_fen
from messages.sealing import seal_as_role, voucher_body
from messages.signing import KeySigner
from messages.voucher import VoucherDoc, build_voucher, fill_receipt, parse_voucher

FILING = dt.time(15, 30)  # the bank's first filing of the day, so a refusal can still be put right (--filing)
WINDOW = ClockConfig()  # the agreement's times (the replenishment window: --replenish is checked against it)
CUTOFF = dt.time(16, 0)  # the central bank's clearing cutoff; the bank sweeps at the last instant before it
URGENT_CUTOFF = dt.time(16, 30)  # the central bank clears urgent payments until then
JUST_BEFORE = dt.timedelta(microseconds=1)
REPLENISH = dt.time(8, 45)  # the next morning, on time: 08:30 to before the 12:00 deadline (--replenish)
OPEN = dt.time(9, 0)  # vouchers held overnight are paid then, by the 10:00 deadline (--open)
REPORT = dt.time(9, 30)  # credit notices and reports of earlier days go out then
CLOSE = dt.time(17, 0)  # the bank's transfer system closes
LATE = dt.time(11, 30)  # --late-receipts: after the 11:00 receipts deadline
OTHER_CITY_LAG = dt.timedelta(hours=2)  # a transfer to this bank in another city arrives then
CLOCK_WAIT_S = 25.0  # one long-poll on the clock; the loop polls again
SCHEDULE_LOOKAHEAD_DAYS = 40  # the next scheduled time is looked for this far ahead (the longest holiday is ~10 days)
INBOX_WAIT_S = 25.0  # one long-poll on the inbox
SEND_BATCH_MAX = 100  # vouchers in one envelope: well under the gateway's envelope size limit
PAY_TYPE = {"5201": "11", "8202": "12"}
FEED_ACCT_TYPES = ("3", "4")  # the account feed (7602) states movements on unit real-fund and fiscal special accounts
OVER_QUOTA_FEN = 1_000_000_00
# A refund refused below-clearing-floor is filed again after the next accepted clearing, at most
# this many filings in all; then a person must look (the money waits).
REFUND_FILINGS_MAX = 3
# The accounts this bank holds (number → holder): synthetic; a real bank asks its core system.
ACCOUNTS = {"9999000000000001": "测试供应商有限公司", "9999000000000002": "示例建筑工程有限公司",
            "9999000000000003": "示例办公用品商店", "9999000000000601": "公务卡还款过渡户"}
# The own-account rule's data (docs/rules.md "Returned before payment"; the world's accounts.yaml,
# `own_account_rule`, read with --accounts): the unit tree (unit → the unit above; None: first-level),
# the units' real-fund accounts (number → unit), old accounts (new → the old one it replaced) and
# the finance bureau's approved exceptions (account, paying unit or None: any unit).
UNITS: dict[str, str | None] = {"101": None, "101001": "101", "101002": "101", "101900": "101", "102": None,
                                "102001": "102", "103": None, "103001": "103"}
UNIT_ACCOUNTS = {"9999000000000101": "101001", "9999000000000201": "101002", "9999000000000301": "101",
                 "9999000000000401": "102001", "9999000000000901": "101900"}
REPLACES = {"9999000000000101": "9999000000000109"}
APPROVED: tuple[tuple[str, str | None], ...] = (("9999000000000901", None),)
# Cash withdrawals (现金支取: an 8202 with CashFlag 1; docs/payment-kinds.md): the purposes the cash rules
# allow (CashPurposeCode, the cash uses of the 现金管理暂行条例 §5) and the most one unit may draw in a day.
CASH_PURPOSES = ("01", "02", "03", "04", "05", "06", "07", "08")
CASH_DAY_LIMIT_FEN = 50_000_00
# Head elements the bank cannot pay without (003 §52(4): incomplete documents).
REQUIRED = ("PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName", "AgencyCode", "SupDepCode", "FundTypeCode")

Send = tuple[bytes, int, str | None]  # voucher bytes, flag, Return_Reason
# a quota line: (AdmDivCode, StYear, FundTypeCode, AgencyCode, ExpFuncCode, ProCode): each division's treasury
# grants its own units, and two divisions may have units of one AgencyCode
QuotaKey = tuple[str, str, str, str, str, str]
Line = tuple[str, ...]  # a classification a report sums by


@dataclass
class Payment:
    doc: VoucherDoc
    amount_fen: int
    mode: str  # clearing, advance, defer, returned
    day: dt.date | None = None  # the day it was paid
    receipt: bytes | None = None
    filing: str | None = None
    covered: bool = False  # its clearing missed the cutoff: made whole from the reserve at the close
    held: bool = False  # its clearing was refused for the treasury to fix: filed again at the next round
    urgent: bool = False  # cleared at once by an urgent clearing request
    returned: str | None = None  # returned unpaid: "<code>: <message>"
    credited: bool = False  # its credit notice (7103) went out
    serial: str = ""  # XAgentBusinessNo: the bank's own number for the payment
    backs: list[Back] = field(default_factory=list)  # what its payee's bank sent back (2252): all, or batch lines
    cleared: dt.date | None = None  # the day the central bank accepted its clearing: the 2206 / 4004 count it then


@dataclass
class Back:
    """Money of a payment its payee's bank returned (2252): the whole payment, or one line of a
    batch (a 5201 whose details name their payees, 一次批量), as a voucher of that line alone."""

    notice: VoucherDoc  # the payee bank's 2252
    part: VoucherDoc  # what came back: the payment's voucher, or the batch line's
    amount_fen: int
    whole: bool = True
    refund: str | None = None  # the VoucherNo of the refund request (2302) filed for it
    refunded: dt.date | None = None  # the day the central bank accepted that refund: reports are net of it
    filings: int = 0  # 2302s filed for it (a below-clearing-floor refusal is filed again)


@dataclass(frozen=True)
class OwnAccounts:
    """The own-account rule (003 §15, 004 part 3 §12(1)): a zero-balance account does not pay a
    real-fund account of the paying unit, its superior or subordinate or another unit of its system
    (the same first-level unit), nor the old or new account of one, unless approved."""

    units: Mapping[str, str | None] = field(default_factory=lambda: dict(UNITS))
    owners: Mapping[str, str] = field(default_factory=lambda: dict(UNIT_ACCOUNTS))
    replaces: Mapping[str, str] = field(default_factory=lambda: dict(REPLACES))
    approved: tuple[tuple[str, str | None], ...] = APPROVED

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> OwnAccounts:
        """From the `own_account_rule` of a world's accounts.yaml."""
        accounts = data.get("unit_accounts") or []
        return cls({str(u["code"]): str(u["superior"]) if u.get("superior") else None for u in data.get("units") or []},
                   {str(a["number"]): str(a["unit"]) for a in accounts},
                   {str(a["number"]): str(a["replaces"]) for a in accounts if a.get("replaces")},
                   tuple((str(a["account"]), str(a["payer"]) if a.get("payer") else None)
                         for a in data.get("approved") or []))

    def _first_level(self, unit: str, above: str | None = None) -> str:
        """The first-level unit `unit` is under (a unit not in the tree hangs under `above`, its
        voucher's SupDepCode)."""
        seen = [unit]
        up = self.units.get(unit, above if above and above != unit else None)
        while up is not None and up not in seen:
            seen.append(up)
            up = self.units.get(up)
        return seen[-1]

    def _linked(self, account: str) -> set[str]:
        """`account` and every account linked to it by old/new replacement, either way."""
        seen, todo = {account}, [account]
        while todo:
            a = todo.pop()
            for new, old in self.replaces.items():
                for other in ((old,) if new == a else ()) + ((new,) if old == a else ()):
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
        return seen

    def refuse(self, payer: str, sup_dep: str, account: str) -> str | None:
        """Why a payment of unit `payer` to `account` is refused, or None."""
        if any(a == account and who in (None, payer) for a, who in self.approved):
            return None
        system = self._first_level(payer, sup_dep)
        for acct in sorted(self._linked(account)):
            owner = self.owners.get(acct)
            if owner is not None and (owner == payer or self._first_level(owner) == system):
                via = "" if acct == account else f" (the old/new account of {acct})"
                return (f"zba-to-own-account: PayeeAcctNo {account}{via} is a real-fund account of unit {owner}, "
                        f"of the paying unit {payer}'s own system (first-level unit {system}), and no approval "
                        "covers it")
        return None


@dataclass
class Filing:
    clear_type: int
    amount_fen: int
    payments: list[str]  # the keys of the payments it clears
    clear_date: dt.date
    state: str = "pending"


@dataclass
class Bank:
    bank_id: str
    code: str
    name: str
    reserve_fen: int
    late_receipts: bool = False
    wrong_xfields: bool = False
    over_quota: bool = False
    filing: dt.time = FILING  # the bank's own schedule, each inside the rules (see main)
    replenish: dt.time = REPLENISH
    open_time: dt.time = OPEN
    skew_reports: bool = False  # wrong on purpose: reports and statement 0.01 too high
    ignore_returns: bool = False  # wrong on purpose: a payee-bank refund notice (2252) is not acted on
    pay_any_payee: bool = False  # wrong on purpose: a procurement payment's supplier and acceptance are not checked
    all_direct: bool = False  # wrong on purpose: every report line marked direct funds (its total agrees with it)
    never_replenish: bool = False  # wrong on purpose: the reserve's advances are never asked back (no ClearType 1)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.default)
    accounts: Mapping[str, str] = field(default_factory=lambda: dict(ACCOUNTS))  # the customer accounts it holds
    own_accounts: OwnAccounts = field(default_factory=OwnAccounts)
    payments: dict[str, Payment] = field(default_factory=dict)  # by the original's voucher key
    filings: dict[str, Filing] = field(default_factory=dict)
    held_receipts: list[tuple[dt.date, bytes]] = field(default_factory=list)  # --late-receipts
    quotas: dict[QuotaKey, list[int]] = field(default_factory=dict)  # authorized quota: [granted, spent] fen
    # the 7101s / 7106s / 7301s / 7302s applied, by voucher key ("<AdmDivCode>/<StYear>/<VtCode>/<No>"): each
    # division numbers its own, each year afresh
    quota_notices: set[str] = field(default_factory=set)
    direct_lines: set[QuotaKey] = field(default_factory=set)  # quota lines of direct funds (7101 DirectFundFlag 1)
    reported: set[str] = field(default_factory=set)  # days reported (yyyymmdd), months ("4004/yyyymm", "3501/yyyymm")
    taken: dict[str, dict[QuotaKey, int]] = field(default_factory=dict)  # 8202's key → its share of each quota line
    # standing payment suspension orders (7501): (AdmDivCode, StYear, OrderNo) → (scope element, value), a
    # handful at most: each division's treasury numbers its own, each year afresh; and the orders lifted
    suspensions: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    lifted: set[tuple[str, str, str]] = field(default_factory=set)
    # the account registry (7601): AcctNo → [AcctType, AgencyCode, "open" | "closed", AcctName, SupDepCode]: one per
    # account the treasury notified (a few per unit)
    registry: dict[str, list[str]] = field(default_factory=dict)
    cursor: dt.datetime | None = None  # everything due up to here is done
    opened: dt.date | None = None  # the first day the books saw time pass (the reserve is funded)
    # the day the treasury's first voucher came (its AdmDivCode known): each business day from it has its 2206
    reporting_from: dt.date | None = None
    # the configured division (AdmDivCode): the first of `divisions`, else the first voucher's; a nil report needs it
    adm_div_code: str = ""
    # the divisions the gateway registered the bank for (`GET /v1/participants/me`), the configured one first:
    # each is owed its reports and feeds from the bank's first day. (): the first voucher's alone
    divisions: tuple[str, ...] = ()
    # the clearing reserve account's movements not stated yet (a 7203 each month): (day, MoveType, OriVtCode,
    # OriVoucherNo, fen: > 0 in, < 0 out), the balance the last statement closed with and its next month
    reserve_moves: list[tuple[dt.date, str, str, str, int]] = field(default_factory=list)
    reserve_stated_fen: int = 0
    reserve_next: str = ""  # yyyymm: the first month not stated yet ("" before the reserve was funded)
    serial: int = 0
    cash_drawn: dict[tuple[dt.date, str], int] = field(default_factory=dict)  # (day, AgencyCode) → cash fen drawn
    card_details: int = 0  # the official-card repayment details (7701) sent so far: their numbers

    # ---- time: the day's schedule, caught up to `now` -----------------------------------------

    def on_time(self, now: dt.datetime) -> list[Send]:
        """What to send for everything due up to `now`."""
        out: list[Send] = []
        if self.cursor is None:
            self.cursor = now
            return out
        if self.opened is None and now > self.cursor:  # the first day in business: the reserve is funded
            self.opened = now.date()
            self.reserve_next = f"{now:%Y%m}"
            funded = self.reserve_fen - sum(m[4] for m in self.reserve_moves)  # as it was before any move
            self.reserve_moves.insert(0, (now.date(), "1", "", "", funded))
        day = self.cursor.date()
        while day <= now.date():
            for t, what in self._schedule(day):
                if self.cursor < t <= now:
                    self.cursor = t
                    out += self._event(what, t)
            day += dt.timedelta(days=1)
        self.cursor = max(self.cursor, now)
        return out

    def _schedule(self, day: dt.date) -> list[tuple[dt.datetime, str]]:
        """What the bank does at which time of `day` (nothing on a day off), in time order."""
        if not self.calendar.is_business_day(day):
            return []
        late = [(at(day, LATE), "late")] if self.late_receipts else []  # held receipts: only --late-receipts
        return sorted([(at(day, self.replenish), "replenish"), (at(day, self.open_time), "open"),
                       (at(day, REPORT), "report"), *late,
                       (at(day, self.filing), "file"), (at(day, CUTOFF) - JUST_BEFORE, "file"),
                       (at(day, CLOSE), "close")])

    def done_up_to(self) -> dt.datetime | None:
        """The last instant before the next time the schedule has something to do (what it waits on
        the clock `after`): everything due up to it is done, unless something is delivered first
        (the inbox loop handles that at once). None before the books first saw time pass (any move
        of the clock opens them) or with nothing scheduled in the days ahead: up to now."""
        if self.cursor is None or self.opened is None:
            return None
        day = self.cursor.date()
        for _ in range(SCHEDULE_LOOKAHEAD_DAYS):
            for t, _what in self._schedule(day):
                if t > self.cursor:
                    return t - JUST_BEFORE
            day += dt.timedelta(days=1)
        return None

    def _event(self, what: str, t: dt.datetime) -> list[Send]:
        if what == "open":
            return [r for p in self.payments.values() if p.mode == "defer" and p.day is None
                    for r in self._pay(p, t)]
        if what == "file":  # today's unfiled payments; held ones of earlier days in requests of their own
            due = [(k, p) for k, p in self.payments.items()
                   if p.mode in ("clearing", "defer") and p.day is not None and not p.filing and not p.covered
                   and (p.day == t.date() or (p.held and p.day < t.date()))]
            return (self._file([(k, p) for k, p in due if p.day == t.date()], 0, t.date(), t)
                    + self._file([(k, p) for k, p in due if p.day != t.date()], 0, t.date(), t))
        if what == "close":  # what missed the clearing time is made whole from the reserve; held waits
            for p in self.payments.values():
                if p.mode in ("clearing", "defer") and p.day == t.date() and not p.filing and not p.covered \
                        and not p.held:
                    p.covered = True
                    self.reserve_fen -= p.amount_fen
                    self.reserve_moves.append((t.date(), "3", p.doc.vtcode, p.doc.get("VoucherNo"), -p.amount_fen))
                    log(f"not cleared today, made whole from the reserve: {p.doc.get('VoucherNo')}")
            return self._reserve_list(t.date()) + self._card_details(t.date()) + self._feeds(t.date())
        if what == "replenish":
            if self.never_replenish:
                return []
            due = [(k, p) for k, p in self.payments.items() if (p.mode == "advance" or p.covered) and p.day is not None
                   and not p.filing and replenishment_day(p.day, self.calendar) == t.date()]
            out = []
            for day in sorted({p.day for _, p in due if p.day is not None}):
                out += self._file([(k, p) for k, p in due if p.day == day], 1, day, t)
            return out
        if what == "report":
            return self._reports(t.date())
        if what == "late":
            late = [r for d, r in self.held_receipts if d < t.date()]
            self.held_receipts = [(d, r) for d, r in self.held_receipts if d >= t.date()]
            return [(r, 1, None) for r in late]
        return []

    # ---- deliveries --------------------------------------------------------------------------

    def on_delivery(self, doc: VoucherDoc, flag: int, reason: str | None, now: dt.datetime) -> list[Send]:
        out = self.on_time(now)
        key = _key(doc)
        if not self.adm_div_code:
            self.adm_div_code = self.divisions[0] if self.divisions else doc.get("AdmDivCode")
            self.reporting_from = now.date()
        if flag == 0 and doc.vtcode in PAY_TYPE:
            known = self.payments.get(key)
            if known is not None:  # delivered again (at least once): the same receipt again, if there is one
                late = self.late_receipts and known.returned is None
                return out + ([(known.receipt, 1, known.returned)] if known.receipt and not late else [])
            if doc.get("PayBankCode") != self.code:
                log(f"not ours: {key} is for bank {doc.get('PayBankCode')}")
                return out
            amount = parse_fen(doc.get("PayAmt"))
            returned = self.return_reason(doc, now.date())
            business = self.calendar.is_business_day(now.date())
            urgent = business and doc.get("UrgentFlag") == "1" and now < at(now.date(), URGENT_CUTOFF) - JUST_BEFORE
            if returned is not None:
                mode = "returned"
            elif urgent or (business and now < at(now.date(), CUTOFF) - JUST_BEFORE):
                mode = "clearing"
            elif business and now.time() < CLOSE and amount <= self.reserve_fen:
                mode = "advance"
            else:
                mode = "defer"
            payment = Payment(doc, amount, mode, urgent=urgent, returned=returned)
            self.payments[key] = payment
            if returned is not None:
                return out + self._return(payment, now)
            out += self._pay(payment, now) if mode != "defer" else []
            if not urgent:
                return out
            # the urgent request's 16:30 is the whole request's: it carries the day's unfiled payments
            # of its pay type and fund type too (004 part 3 §8(7))
            kin = [(k, p) for k, p in self.payments.items() if p is not payment and p.mode == "clearing"
                   and p.day == payment.day and not p.filing and not p.covered and p.doc.vtcode == doc.vtcode
                   and p.doc.get("FundTypeCode") == doc.get("FundTypeCode")]
            return out + self._file([(key, payment), *kin], 0, now.date(), now, urgent=True)
        if flag == 0 and doc.vtcode in ("7101", "7106", "7301", "7302"):
            return out + self._quota_notice(doc, now)
        if flag == 0 and doc.vtcode == "7501":
            return out + self._suspension(doc, now)
        if flag == 0 and doc.vtcode == "7601":
            return out + self._account_notice(doc, now)
        if flag == 1 and doc.vtcode == "2301":
            filing = self.filings.get(doc.get("VoucherNo"))
            if filing is None or filing.state != "pending":
                return out
            if reason is None and parse_fen(doc.get("XClearAmt") or "0.00") == filing.amount_fen:
                filing.state = "accepted"
                for k in filing.payments:  # the day's expenditure report (2206) counts them today
                    if self.payments[k].filing == doc.get("VoucherNo"):
                        self.payments[k].cleared = now.date()
                if filing.clear_type == 1:
                    self.reserve_fen += filing.amount_fen
                    self.reserve_moves.append((now.date(), "4", "2301", doc.get("VoucherNo"), filing.amount_fen))
                # returned payments waiting: this one's clearing, or money in the clearing account at last
                return out + [r for p in self.payments.values() for b in p.backs if b.refund is None
                              and b.refunded is None for r in self._refund(p, b, now)]
            filing.state = "rejected"
            log(f"clearing request {doc.get('VoucherNo')} refused: {reason}")
            return out + self._refile(doc.get("VoucherNo"), (reason or "").split(":", 1)[0].strip(), now)
        if flag == 0 and doc.vtcode == "2252" and not self.ignore_returns:
            return out + self._came_back(doc, now)
        if flag == 1 and doc.vtcode == "2302":
            return out + self._refund_answered(doc, reason, now)
        if flag == 1 and doc.vtcode in ("3501", "7104", "7203"):
            log(f"statement {doc.get('VoucherNo')} signed off: XCheckResult {doc.get('XCheckResult')}")
            return out
        log(f"not handled: VtCode {doc.vtcode} flag {flag}")
        return out

    # ---- returns before payment and authorized quotas ----------------------------------------

    def return_reason(self, doc: VoucherDoc, today: dt.date | None = None) -> str | None:
        """Why the voucher is returned unpaid ("<code>: <message>"), or None: the first rule broken.
        An authorized payment within its unit's quota takes its share of it here, a cash withdrawal
        its share of the unit's cash of `today`. `today`: the day it was received (a procurement
        payment on acceptance is not paid before its AcceptDate)."""
        unusable = self._pay_account(doc)
        if unusable is not None:
            return unusable
        for (adm, _, order_no), (element, value) in self.suspensions.items():
            if adm == doc.get("AdmDivCode") and doc.get(element) == value:  # its own division's orders only
                return f"payment-suspended: order {order_no} of division {adm} suspends payments of {element} {value}"
        details = doc.details()
        missing = [n for n in REQUIRED if not doc.get(n).strip()]
        missing += [f"Detail[{i}]/ExpFuncCode" for i, d in enumerate(details, 1) if not d.get("ExpFuncCode", "").strip()]
        if missing:
            return f"voucher-incomplete: empty or missing: {', '.join(missing)}"
        acct, name = doc.get("PayeeAcctNo"), doc.get("PayeeAcctName")
        held = {**self.accounts, **{no: a[3] for no, a in self.registry.items() if a[2] == "open"}}
        if doc.get("PayeeAcctBankNo") == self.code and acct not in held:
            return f"payee-account-unknown: PayeeAcctNo {acct} is not an account of bank {self.code}"
        if doc.get("PayeeAcctBankNo") == self.code and held[acct] != name:
            return f"payee-name-mismatch: PayeeAcctName {name!r} is not the holder of account {acct}"
        owner = self.registry.get(acct)
        if owner is not None and owner[0] == "3" and (owner[1] == doc.get("AgencyCode")
                                                      or owner[4] in (doc.get("SupDepCode"), doc.get("AgencyCode"))):
            return (f"zba-to-own-account: PayeeAcctNo {acct} is a real-fund account of unit {owner[1]}, the paying "
                    "unit or one of its system")
        own = self.own_accounts.refuse(doc.get("AgencyCode"), doc.get("SupDepCode"), acct)
        if own is not None:
            return own
        procurement = None if self.pay_any_payee else self._procurement(doc, today)
        if procurement is not None:
            return procurement
        cash = (today, doc.get("AgencyCode")) if doc.get("CashFlag") == "1" and today is not None else None
        if cash is not None:  # the cash rules, in real time (003 §31, 004 part 3 §9(7))
            purpose, fen = doc.get("CashPurposeCode").strip(), parse_fen(doc.get("PayAmt"))
            if purpose not in CASH_PURPOSES:
                return (f"cash-purpose-not-allowed: CashPurposeCode {purpose or '(empty)'} is not a cash use of the "
                        f"现金管理暂行条例 §5 ({', '.join(CASH_PURPOSES)})")
            if self.cash_drawn.get(cash, 0) + fen > CASH_DAY_LIMIT_FEN:
                return (f"cash-over-limit: PayAmt {fen_to_str(fen)} with {fen_to_str(self.cash_drawn.get(cash, 0))} "
                        f"drawn already today passes the daily cash limit {fen_to_str(CASH_DAY_LIMIT_FEN)}")
        if doc.vtcode == "8202":
            taken = self._draw(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("FundTypeCode"),
                               doc.get("AgencyCode"), details)
            if isinstance(taken, str):
                return taken
            for k, fen in taken.items():
                self.quotas[k][1] += fen
            self.taken[_key(doc)] = taken
        if cash is not None:
            self.cash_drawn = {k: v for k, v in self.cash_drawn.items() if k[0] == cash[0]}  # today's only
            self.cash_drawn[cash] = self.cash_drawn.get(cash, 0) + parse_fen(doc.get("PayAmt"))
        return None

    @staticmethod
    def _procurement(doc: VoucherDoc, today: dt.date | None) -> str | None:
        """A procurement payment (ProcureFlag 1 or 2) goes to the supplier it names; on acceptance
        (ProcureFlag 1) not before its AcceptDate (docs/payment-kinds.md, docs/rules.md)."""
        if doc.get("ProcureFlag") not in ("1", "2"):
            return None
        for payee, supplier in (("PayeeAcctNo", "SupplierAcctNo"), ("PayeeAcctName", "SupplierName")):
            if doc.get(payee) != doc.get(supplier):
                return (f"procurement-payee-not-supplier: {payee} {doc.get(payee)!r} is not the contract's "
                        f"supplier, {supplier} {doc.get(supplier)!r}")
        day = f"{today:%Y%m%d}" if today else ""
        if doc.get("ProcureFlag") == "1" and day and doc.get("AcceptDate") > day:
            return (f"procurement-before-acceptance: AcceptDate {doc.get('AcceptDate')} is after the day the bank "
                    f"received it, {day}")
        return None

    def _draw(self, adm: str, year: str, fund: str, agency: str,
              details: Iterable[Mapping[str, str]]) -> dict[QuotaKey, int] | str:
        """What each quota line of division `adm`, budget year `year` and fund type `fund` gives to
        pay these details, or why it cannot (nothing taken yet). A detail with a ProCode draws on
        that line; without, on the unit's lines of its subject."""
        taken: dict[QuotaKey, int] = {}
        for d in details:
            unit, subject, project = d.get("AgencyCode") or agency, d.get("ExpFuncCode", ""), d.get("ProCode", "")
            where = (f"AdmDivCode {adm}, StYear {year}, FundTypeCode {fund}, unit {unit}, subject {subject}"
                     + (f", project {project}" if project else ""))
            lines = sorted(k for k in self.quotas
                           if k[:5] == (adm, year, fund, unit, subject) and (not project or k[5] == project))
            if not lines:
                return f"no-unit-quota: no authorized quota for {where}"
            direct = d.get("DirectFundFlag") == "1"
            lines = [k for k in lines if (k in self.direct_lines) == direct]
            if not lines:
                return (f"direct-funds-mismatch: Detail DirectFundFlag {int(direct)} for {where}: the unit's quota "
                        f"there is {'not ' if direct else ''}direct funds")
            want = left = parse_fen(d.get("PayAmt", ""))
            for k in lines:
                share = min(left, max(self.quotas[k][0] - self.quotas[k][1] - taken.get(k, 0), 0))
                taken[k] = taken.get(k, 0) + share
                left -= share
            if left:
                return (f"over-unit-quota: Detail PayAmt {fen_to_str(want)} exceeds the remaining authorized quota "
                        f"{fen_to_str(want - left)} of {where}")
        return taken

    def _return(self, p: Payment, now: dt.datetime) -> list[Send]:
        self.serial += 1
        p.receipt = fill_receipt(p.doc, {"XPayDate": f"{now:%Y%m%d}", "XPayAmt": "0.00",
                                         "XAgentBusinessNo": f"TP{self.code[-4:]}{now:%Y%m%d}{self.serial:08d}"})
        log(f"returned unpaid: {p.doc.get('VoucherNo')}: {p.returned}")
        return [(p.receipt, 1, p.returned)]

    def _suspension(self, doc: VoucherDoc, now: dt.datetime) -> list[Send]:
        """Apply a payment suspension order (SuspendAction 1) or its lift (2) and confirm it. An order is
        its division's, year's and number's; a lift (of its own year, maybe later than its order's)
        ends the latest standing order of its division and number, of its year or before, with its
        scope. Not applied nor confirmed: another bank's, a lifted order again, an order's key for
        another scope, a lift of no order held (unless one was lifted: a redelivery)."""
        adm, year, no = doc.get("AdmDivCode"), doc.get("StYear"), doc.get("OrderNo")
        scope = next(((e, doc.get(e)) for e in ("AgencyCode", "PayAcctNo", "PayeeAcctNo") if doc.get(e)), None)
        ends = max((k for k, s in self.suspensions.items() if (k[0], k[2]) == (adm, no) and k[1] <= year
                    and s == scope), default=None)
        if doc.get("SuspendAction") == "1":
            applies = (adm, year, no) not in self.lifted and self.suspensions.get((adm, year, no), scope) == scope
        else:
            applies = ends is not None or any((k[0], k[2]) == (adm, no) and k[1] <= year for k in self.lifted)
        if doc.get("PayBankCode") != self.code or scope is None or not applies:
            log(f"suspension {doc.get('VoucherNo')} not applied: not ours, no scope, or no such order")
            return []
        if doc.get("SuspendAction") == "1":
            self.suspensions[(adm, year, no)] = scope
        elif ends is not None:
            del self.suspensions[ends]
            self.lifted.add(ends)
        return [(fill_receipt(doc, {"XConfirmDate": f"{now:%Y%m%d}"}), 1, None)]

    def _account_notice(self, doc: VoucherDoc, now: dt.datetime) -> list[Send]:
        """Carry out an account notice (AcctAction 1 open, 2 change, 3 close) at once and confirm it.
        One the bank cannot carry out (another bank's, an account already open or not open) is not
        confirmed."""
        no, action, kind = doc.get("AcctNo"), doc.get("AcctAction"), doc.get("AcctType")
        known, old = self.registry.get(no), doc.get("OldAcctNo")
        is_open = known is not None and known[2] == "open"
        if doc.get("PayBankCode") != self.code or (action == "1" and is_open) or (
                action in ("2", "3") and not old and not is_open):
            log(f"account notice {doc.get('VoucherNo')} not carried out: not ours, or the account is not as it says")
            return []
        if action == "3":
            self.registry[no][2] = "closed"
        elif action == "2" and not old:
            self.registry[no][3] = doc.get("AcctName")
        else:
            if old in self.registry:
                self.registry[old][2] = "closed"
            self.registry[no] = [kind, doc.get("AgencyCode"), "open", doc.get("AcctName"), doc.get("SupDepCode")]
        return [(fill_receipt(doc, {"XConfirmDate": f"{now:%Y%m%d}"}), 1, None)]

    def _pay_account(self, doc: VoucherDoc) -> str | None:
        """Once the registry holds anything: the paying account must be an open zero-balance account of it."""
        if not self.registry or doc.vtcode not in ("5201", "8202"):
            return None
        no = doc.get("PayAcctNo")
        a = self.registry.get(no)
        if a is not None and a[2] == "closed":
            return f"account-closed: PayAcctNo {no} was closed on the treasury's notice"
        if a is None or a[0] != ("1" if doc.vtcode == "5201" else "2") or (
                doc.vtcode == "8202" and a[1] != doc.get("AgencyCode")):
            return f"account-not-opened: PayAcctNo {no} is not an open zero-balance account of this bank's registry"
        return None

    def _quota_notice(self, doc: VoucherDoc, now: dt.datetime) -> list[Send]:
        """Confirm a 7101 (grant), 7106 (reduction, 额度追减), 7301 (cancel) or 7302 (carry forward)
        and, the first time, apply its lines and tell each unit (7102). A reduction or year-end
        notice naming a line the bank does not hold, or more than is left of it, is not applied nor
        confirmed."""
        no, vt = doc.get("VoucherNo"), doc.vtcode
        if doc.get("PayBankCode") != self.code:
            log(f"not ours: quota notice {no} is for bank {doc.get('PayBankCode')}")
            return []
        out: list[Send] = [(fill_receipt(doc, {"XConfirmDate": f"{now:%Y%m%d}"}), 1, None)]
        if _key(doc) in self.quota_notices:  # delivered again: confirmed again, counted once
            return out
        year = str(int(doc.get("ToYear")) - 1) if vt == "7302" else doc.get("StYear")
        fund = doc.get("FundTypeCode")
        keys = [(doc.get("AdmDivCode"), year, fund, d.get("AgencyCode", ""), d.get("ExpFuncCode", ""),
                 d.get("ProCode", "")) for d in doc.details()]
        amounts = [parse_fen(d.get("PayAmt", "")) for d in doc.details()]
        direct = {k for k, d in zip(keys, doc.details(), strict=True) if d.get("DirectFundFlag") == "1"}
        if vt == "7101" and any(k in self.quotas and (k in self.direct_lines) != (k in direct) for k in keys):
            log(f"quota notice {no} not applied: a line marked otherwise than the direct-funds line the bank holds")
            return []
        if vt != "7101" and (len(set(keys)) != len(keys) or any(
                k not in self.quotas or not 0 < fen <= self.quotas[k][0] - self.quotas[k][1]
                for k, fen in zip(keys, amounts, strict=True))):
            log(f"quota notice {vt} {no} not applied: a line is missing or short")
            return []
        self.quota_notices.add(_key(doc))
        units: dict[str, list[dict[str, str]]] = {}
        for d, k, fen in zip(doc.details(), keys, amounts, strict=True):
            if vt == "7101":
                self.quotas.setdefault(k, [0, 0])[0] += fen
                if k in direct:
                    self.direct_lines.add(k)
            else:  # the year's line gives it up (granted less); a carry-forward grants it to ToYear
                self.quotas[k][0] -= fen
                if vt == "7302":
                    to: QuotaKey = (k[0], doc.get("ToYear"), *k[2:])
                    self.quotas.setdefault(to, [0, 0])[0] += fen
                    if k in self.direct_lines:
                        self.direct_lines.add(to)
            units.setdefault(d.get("AgencyCode", ""), []).append(d)
        for i, (agency, lines) in enumerate(sorted(units.items()), start=1):
            dz = f"DZ{no[-16:]}{i:04d}"
            head = {"Id": f"V7102{dz}", "AdmDivCode": doc.get("AdmDivCode"), "StYear": str(now.year),
                    "VouDate": f"{now:%Y%m%d}", "VoucherNo": dz, "FundTypeCode": doc.get("FundTypeCode"),
                    "FundTypeName": doc.get("FundTypeName"), "AgencyCode": agency, "AgencyName": lines[0]["AgencyName"],
                    "ArriveDate": f"{now:%Y%m%d}", "PayBankCode": self.code, "PayBankName": self.name,
                    "OriVtCode": vt, "OriVoucherNo": no,
                    "PayAmt": fen_to_str(sum(parse_fen(d["PayAmt"]) for d in lines))}
            rows = [{"Id": f"D{j:04d}", **{k: d.get(k, "") for k in ("ExpFuncCode", "ExpFuncName", "ProCode", "ProName",
                                                                       "PayAmt")}} for j, d in enumerate(lines, 1)]
            out.append((build_voucher("7102", head, rows), 0, None))
        return out

    # ---- paying and clearing -----------------------------------------------------------------

    def _pay(self, p: Payment, now: dt.datetime) -> list[Send]:
        p.day = now.date()
        if p.mode == "advance":
            self.reserve_fen -= p.amount_fen
            self.reserve_moves.append((p.day, "2", p.doc.vtcode, p.doc.get("VoucherNo"), -p.amount_fen))
        self.serial += 1
        p.serial = f"YH{self.code[-4:]}{p.day:%Y%m%d}{self.serial:08d}"
        paid_amt, paid_day = p.amount_fen, p.day
        if self.wrong_xfields:
            paid_amt, paid_day = p.amount_fen - 1, p.day + dt.timedelta(days=1)
        p.receipt = fill_receipt(p.doc, {"XPayDate": f"{paid_day:%Y%m%d}", "XPayAmt": fen_to_str(paid_amt),
                                         "XAgentBusinessNo": p.serial,
                                         "XArriveDate": f"{self._arrival(now, p.doc.get('PayeeAcctBankNo')):%Y%m%d}"})
        if self.late_receipts:
            self.held_receipts.append((p.day, p.receipt))
            return []
        return [(p.receipt, 1, None)]

    def _arrival(self, paid_at: dt.datetime, payee_bank: str) -> dt.datetime:
        """When the payee has the money (004 part 3 §8(3)). Bank codes: 3 digits the bank, 4 the city."""
        if len(payee_bank) < 7 or payee_bank[:3] != self.code[:3]:  # through the clearing system (CNAPS)
            return at(self.calendar.add_business_days(paid_at.date(), 1), paid_at.time())
        return paid_at if payee_bank[3:7] == self.code[3:7] else paid_at + OTHER_CITY_LAG

    def _refile(self, no: str, code: str, now: dt.datetime) -> list[Send]:
        """A refused normal request: never sent again, never split. Its payments go back to the
        unfiled: refused after-cutoff, the close makes them whole from the reserve; otherwise they
        are held and the next clearing round files them again."""
        filing = self.filings[no]
        mine = [(k, self.payments[k]) for k in filing.payments if self.payments[k].filing == no]
        if filing.clear_type != 0:
            return []  # a refused replenishment: a person must act; the reserve stays short
        for _, p in mine:
            p.filing, p.held = None, code != "after-cutoff"
        return []

    def _file(self, due: list[tuple[str, Payment]], clear_type: int, clear_date: dt.date,
              now: dt.datetime, *, urgent: bool = False) -> list[Send]:
        # one request per division too: each payment is cleared under its own division (AdmDivCode)
        groups: dict[tuple[str, str, str, str], list[tuple[str, Payment]]] = {}
        for k, p in due:
            groups.setdefault((p.doc.get("AdmDivCode"), PAY_TYPE[p.doc.vtcode], p.doc.get("FundTypeCode"),
                               p.doc.get("FundTypeName")), []).append((k, p))
        out: list[Send] = []
        for (_adm, pay_type, fund_code, fund_name), members in sorted(groups.items(), key=lambda g: g[0]):
            group = [p for _, p in members]
            self.serial += 1
            no = f"HK{self.code[-4:]}{now:%Y%m%d}{self.serial:05d}"
            details = [{"Id": f"D{i:04d}", "VoucherNo": p.doc.get("VoucherNo"), "SupDepCode": p.doc.get("SupDepCode"),
                        "SupDepName": p.doc.get("SupDepName"), "PayAmt": fen_to_str(p.amount_fen)}
                       for i, p in enumerate(group, start=1)]
            total = sum(p.amount_fen for p in group)
            if self.over_quota and clear_type == 0:
                details.append({"Id": f"D{len(details) + 1:04d}", "SupDepCode": group[0].doc.get("SupDepCode"),
                                "SupDepName": group[0].doc.get("SupDepName"), "PayAmt": fen_to_str(OVER_QUOTA_FEN)})
                total += OVER_QUOTA_FEN
            head = {"Id": f"V2301{no}", "AdmDivCode": group[0].doc.get("AdmDivCode"), "StYear": str(now.year),
                    "VouDate": f"{now:%Y%m%d}", "VoucherNo": no, "PayBankCode": self.code, "PayBankName": self.name,
                    "ClearDate": f"{clear_date:%Y%m%d}", "PayTypeCode": pay_type, "FundTypeCode": fund_code,
                    "FundTypeName": fund_name, "UrgentFlag": "1" if urgent else "0", "ClearType": str(clear_type),
                    "PayAmt": fen_to_str(total)}
            self.filings[no] = Filing(clear_type, total, [k for k, _ in members], clear_date)
            for p in group:
                p.filing, p.held = no, False
            out.append((build_voucher("2301", head, details), 0, None))
        return out

    # ---- refunds: the payee's bank sent the money back ----------------------------------------

    def _came_back(self, doc: VoucherDoc, now: dt.datetime) -> list[Send]:
        """A payee-bank refund notice (2252): the money of one of our payments came back. It is
        refunded to the central bank (2302) once that payment's clearing was accepted."""
        key = f"{doc.get('OriVtCode')} {doc.get('OriVoucherNo')}"
        p = next((x for x in self.payments.values() if x.doc.vtcode == doc.get("OriVtCode")
                  and x.doc.get("VoucherNo") == doc.get("OriVoucherNo")
                  and x.doc.get("AdmDivCode") == doc.get("AdmDivCode")), None)
        back = None if p is None or p.day is None else self._what_came_back(p, doc)
        if p is None or back is None:
            log(f"payee-bank refund notice {doc.get('VoucherNo')} matches no payment of ours to refund: {key}")
            return []
        p.backs.append(back)
        return self._refund(p, back, now)

    @staticmethod
    def _what_came_back(p: Payment, doc: VoucherDoc) -> Back | None:
        """The payment, or the line of a batch still paid to the notice's payee for its amount."""
        fen = parse_fen(doc.get("PayAmt"))
        details = p.doc.details()
        if not (details and all(x.get("PayeeAcctNo") for x in details)):  # not a batch: all of it
            return Back(doc, p.doc, fen) if not p.backs and fen == p.amount_fen else None
        gone = {b.part.get("PayeeAcctNo") for b in p.backs}
        line = next((x for x in details if x["PayeeAcctNo"] == doc.get("PayeeAcctNo") and x["PayeeAcctNo"] not in gone
                     and parse_fen(x["PayAmt"]) == fen), None)
        if line is None:
            return None
        head = {**p.doc.head(), **{k: line[k] for k in ("PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName")},
                "PayAmt": line["PayAmt"]}
        return Back(doc, parse_voucher(build_voucher(p.doc.vtcode, head, [line])), fen, whole=False)

    def _refund(self, p: Payment, b: Back, now: dt.datetime) -> list[Send]:
        """The refund request (2302) of a returned payment (or batch line) whose clearing was
        accepted, naming the payment (our clearing requests name each payment in a Detail)."""
        filing = self.filings.get(p.filing or "")
        if b.refund is not None or filing is None or filing.state != "accepted":
            return []
        self.serial += 1
        no = f"TK{self.code[-4:]}{now:%Y%m%d}{self.serial:05d}"
        b.refund, b.filings = no, b.filings + 1
        d, back = b.part, b.notice
        head = {"Id": f"V2302{no}", "AdmDivCode": d.get("AdmDivCode"), "StYear": str(now.year),
                "VouDate": f"{now:%Y%m%d}", "VoucherNo": no, "OriVtCode": d.vtcode, "OriVoucherNo": d.get("VoucherNo"),
                "OriVouDate": d.get("VouDate"), "PayBankCode": self.code, "PayBankName": self.name,
                "PayTypeCode": PAY_TYPE[d.vtcode],
                **{k: d.get(k) for k in ("FundTypeCode", "FundTypeName", "AgencyCode", "AgencyName", "PayeeAcctNo",
                                         "PayeeAcctName", "PayeeAcctBankName", "PayAcctNo", "PayAcctName")},
                "ReturnReasonCode": back.get("ReturnReasonCode"), "ReturnReasonName": back.get("ReturnReasonName"),
                "PayAmt": fen_to_str(b.amount_fen)}
        log(f"refund request {no}: {d.get('VoucherNo')} came back ({back.get('ReturnReasonName')})")
        return [(build_voucher("2302", head), 0, None)]

    def _refund_answered(self, doc: VoucherDoc, reason: str | None, now: dt.datetime) -> list[Send]:
        """The central bank's answer to a 2302: accepted, the treasury is told (2203 direct, 7105
        authorized: the refund notice, within 1 working day); refused, a person must look."""
        found = next(((x, b) for x in self.payments.values() for b in x.backs
                      if b.refund == doc.get("VoucherNo") and b.refunded is None), None)
        if found is None:
            return []
        p, b = found
        if reason is not None or parse_fen(doc.get("XRefundAmt") or "0.00") != b.amount_fen:
            log(f"refund request {doc.get('VoucherNo')} refused: {reason or doc.get('XReturnReason')}")
            if (reason or "").startswith("below-clearing-floor") and b.filings < REFUND_FILINGS_MAX:
                b.refund = None  # the clearing account was short: filed again after the next accepted clearing
            return []
        # cleared: the unit's authorized quota comes back (003 §36), and the treasury is told
        for k, fen in (self.taken.pop(_key(p.doc), {}) if b.whole
                       else {}).items():
            self.quotas[k][1] -= fen
        b.refunded = now.date()
        d, back = b.part, b.notice
        vtcode = "2203" if d.vtcode == "5201" else "7105"
        no = f"TP{b.refund[2:]}" if b.refund else ""
        head = {"Id": f"V{vtcode}{no}", "AdmDivCode": d.get("AdmDivCode"), "StYear": str(now.year),
                "VouDate": f"{now:%Y%m%d}", "VoucherNo": no, "OriVtCode": d.vtcode, "OriVoucherNo": d.get("VoucherNo"),
                "OriVouDate": d.get("VouDate"), "OriPayDate": f"{p.day:%Y%m%d}", "PayTypeCode": PAY_TYPE[d.vtcode],
                **{k: d.get(k) for k in ("FundTypeCode", "FundTypeName", "AgencyCode", "AgencyName", "PayeeAcctNo",
                                         "PayeeAcctName", "PayeeAcctBankName", "PayAcctNo", "PayAcctName")},
                "PayBankCode": self.code, "PayBankName": self.name, "ReturnReasonCode": back.get("ReturnReasonCode"),
                "ReturnReasonName": back.get("ReturnReasonName"), "AgentBusinessNo": p.serial,
                "PayAmt": fen_to_str(b.amount_fen)}
        keys = ("AgencyCode", "ExpFuncCode", "ExpFuncName", "ExpEcoCode", "ExpEcoName",
                *(("ProCode", "ProName") if vtcode == "7105" else ()), "DirectFundFlag")
        rows = [{"Id": f"D{i:04d}", **{k: x.get(k) or d.get(k) for k in keys if x.get(k) or d.get(k)},
                 "PayAmt": x.get("PayAmt", "")} for i, x in enumerate(d.details() or [d.head()], start=1)]
        return [(build_voucher(vtcode, head, rows), 0, None)]

    # ---- what the bank tells the treasury after paying ---------------------------------------

    def _served(self) -> tuple[str, ...]:
        """The divisions owed reports and feeds every business day from the first: the registered ones
        (the configured one first), or the first voucher's."""
        return self.divisions or ((self.adm_div_code,) if self.adm_div_code else ())

    def _by_division(self, items: Iterable[tuple[VoucherDoc, Any]]) -> dict[str, list[Any]]:
        """`items` (a payment's voucher, anything) by the voucher's division: each served one (an
        empty list when it has none), the configured one first, then the others by code."""
        out: dict[str, list[Any]] = {adm: [] for adm in self._served()}
        for doc, item in items:
            out.setdefault(doc.get("AdmDivCode"), []).append(item)
        return {adm: out[adm] for adm in [*self._served(), *sorted(set(out) - set(self._served()))]}

    def _reserve_list(self, day: dt.date) -> list[Send]:
        """The day's clearing reserve detail lists (7202), one per division with any: each payment of it
        the reserve paid (AdvanceType 0 paid after the cutoff, 1 made whole after a refused clearing)."""
        paid = sorted((p for p in self.payments.values() if p.day == day and (p.mode == "advance" or p.covered)
                       and p.doc.get("AgencyCode") and p.doc.get("PayAcctNo")), key=lambda p: p.doc.get("VoucherNo"))
        lists = [(adm, mine) for adm, mine in self._by_division((p.doc, p) for p in paid).items() if mine]
        out: list[Send] = []
        for n, (adm, mine) in enumerate(lists, start=1):
            no = f"BY{self.code[-4:]}{day:%Y%m%d}{n:04d}"
            head = {"Id": f"V7202{no}", "AdmDivCode": adm, "StYear": str(day.year), "VouDate": f"{day:%Y%m%d}",
                    "VoucherNo": no, "TransferDate": f"{day:%Y%m%d}", "PayBankCode": self.code,
                    "PayBankName": self.name, "AllNum": str(len(mine)),
                    "PayAmt": fen_to_str(sum(p.amount_fen for p in mine))}
            rows = [{"Id": f"D{i:05d}", "OriVtCode": p.doc.vtcode, "OriVoucherNo": p.doc.get("VoucherNo"),
                     "AgencyCode": p.doc.get("AgencyCode"),
                     "AgencyName": p.doc.get("AgencyName") or p.doc.get("AgencyCode"),
                     "AcctNo": p.doc.get("PayAcctNo"), "AdvanceType": "1" if p.covered else "0",
                     "PayAmt": fen_to_str(p.amount_fen)} for i, p in enumerate(mine, start=1)]
            out.append((build_voucher("7202", head, rows), 0, None))
        return out

    def _feeds(self, day: dt.date) -> list[Send]:
        """The day's account feed (7602, 资金流水), once the registry holds a unit real-fund or fiscal
        special account: each payment paid that day into one (not returned), in the order paid, one
        feed per division, each served division's every business day (empty: no DetailList)."""
        types = {no: a[0] for no, a in self.registry.items() if a[0] in FEED_ACCT_TYPES}
        if not types:
            return []
        paid = sorted((p for p in self.payments.values() if p.day == day and p.returned is None
                       and p.doc.get("PayeeAcctNo") in types), key=lambda p: p.serial)
        no = f"LS{self.code[-4:]}{day:%Y%m%d}"
        out: list[Send] = []
        for adm, mine in self._by_division((p.doc, p) for p in paid).items():
            head = {"Id": f"V7602{no}", "AdmDivCode": adm, "StYear": str(day.year), "VouDate": f"{day:%Y%m%d}",
                    "VoucherNo": no, "TransDate": f"{day:%Y%m%d}", "PayBankCode": self.code, "PayBankName": self.name,
                    "CreditAmt": fen_to_str(sum(p.amount_fen for p in mine)), "DebitAmt": "0.00"}
            rows = [{"Id": f"D{i:05d}", "AcctNo": p.doc.get("PayeeAcctNo"), "AcctType": types[p.doc.get("PayeeAcctNo")],
                     "OriVtCode": p.doc.vtcode, "OriVoucherNo": p.doc.get("VoucherNo"),
                     "CreditAmt": fen_to_str(p.amount_fen), "DebitAmt": "0.00"} for i, p in enumerate(mine, start=1)]
            out.append((build_voucher("7602", head, rows), 0, None))
        return out

    def _card_details(self, day: dt.date) -> list[Send]:
        """The official-card repayment transfer detail (7701) of each repayment (an 8202 with
        CardRepayFlag 1) paid today: the cards credited, one Detail each (004 part 1 二(二)3)."""
        out: list[Send] = []
        for p in self.payments.values():
            if p.day != day or p.returned is not None or p.doc.vtcode != "8202" or p.doc.get("CardRepayFlag") != "1":
                continue
            self.card_details += 1
            no = f"GK{self.code[-4:]}{day:%Y%m%d}{self.card_details:04d}"
            rows = [{"Id": f"D{i:04d}", "CardNo": d["CardNo"], "CardHolderName": d["CardHolderName"],
                     "PayAmt": d["PayAmt"]} for i, d in enumerate(p.doc.details(), start=1)]
            head = {"Id": f"V7701{no}", "AdmDivCode": p.doc.get("AdmDivCode"), "StYear": str(day.year),
                    "VouDate": f"{day:%Y%m%d}", "VoucherNo": no, "TransDate": f"{day:%Y%m%d}", "OriVtCode": "8202",
                    "OriVoucherNo": p.doc.get("VoucherNo"), "AgencyCode": p.doc.get("AgencyCode"),
                    "AgencyName": p.doc.get("AgencyName"), "PayBankCode": self.code, "PayBankName": self.name,
                    "PayAmt": fen_to_str(p.amount_fen)}
            out.append((build_voucher("7701", head, rows), 0, None))
        return out

    def _reports(self, today: dt.date) -> list[Send]:
        """Credit notices (7103) and daily reports (2206) of earlier days; on a new month, the last
        month's report (4004), statement (3501), unit statements (7104) and reserve statement (7203).

        The expenditure reports (2206, 4004) count what the central bank cleared in their period
        (004 part 5 §2: made from the cleared clearing requests), so an advance paid after the
        cutoff counts on the day its replenishment was accepted; every business day from the first
        (from the day of the treasury's first voucher) gets its 2206, a nil one (PayAmt 0.00, no Detail)
        when nothing was cleared. The statements
        (3501, 7104) count what was paid in the month. All are net of the refunds the central bank
        accepted in their period (a refund counts against the day it was accepted). Each division gets
        its own, of its own payments and refunds (`_division_reports`)."""
        paid = [p for p in self.payments.values() if p.day is not None and p.day < today]
        out = [self._credit_notice(p, today) for p in paid if p.doc.vtcode == "5201" and not p.credited]
        refunds = [(b.part, b.refunded, -1) for p in self.payments.values() for b in p.backs
                   if b.refunded is not None and b.refunded < today]
        cleared = [(p.doc, p.cleared, 1) for p in self.payments.values() if p.cleared is not None and p.cleared < today]
        cleared += refunds
        stated = [(p.doc, p.day, 1) for p in paid] + refunds
        if not self.adm_div_code:  # nothing of the treasury's seen yet: the reports wait for its AdmDivCode
            return out
        cleared_of = self._by_division((doc, (doc, d, sign)) for doc, d, sign in cleared)
        stated_of = self._by_division((doc, (doc, d, sign)) for doc, d, sign in stated)
        first_paid: dict[str, dt.date] = {}  # a division not served: its 2206s from the day it was first paid for
        for p in self.payments.values():
            adm = p.doc.get("AdmDivCode")
            if p.day is not None and adm not in self._served() and p.day < first_paid.get(adm, dt.date.max):
                first_paid[adm] = p.day
        for adm in dict.fromkeys([*cleared_of, *stated_of, *first_paid]):
            out += self._division_reports(adm, today, cleared_of.get(adm, []), stated_of.get(adm, []),
                                          self.reporting_from if adm in self._served() else first_paid.get(adm))
        return out + self._reserve_statements(today)

    def _division_reports(self, adm: str, today: dt.date, cleared: list[tuple[VoucherDoc, dt.date | None, int]],
                          stated: list[tuple[VoucherDoc, dt.date | None, int]], since: dt.date | None) -> list[Send]:
        """Division `adm`'s 2206s (a nil one for each business day from `since` with nothing cleared),
        4004s, 3501s and 7104s not sent yet, of its `cleared` and `stated` (voucher, day, sign). Each
        division's are numbered as the configured one's (the voucher key tells them apart)."""
        out: list[Send] = []

        def done(what: str) -> bool:  # sent already; else noted as sent ("/<AdmDivCode>" after another's)
            key = what if adm == self.adm_div_code else f"{what}/{adm}"
            if key in self.reported:
                return True
            self.reported.add(key)
            return False

        days = {f"{d:%Y%m%d}" for _, d, _ in cleared if d}
        d = since  # days before the treasury's first voucher: no business with it yet
        while d is not None and d < today:  # a business day with nothing cleared gets its nil report
            if self.calendar.is_business_day(d):
                days.add(f"{d:%Y%m%d}")
            d += dt.timedelta(days=1)
        for day in sorted(days):
            if done(day):
                continue
            out.append(self._report("2206", f"RB{self.code[-4:]}{day}", today, adm, {"ReportDate": day},
                                    [(p, sign) for p, d, sign in cleared if d and f"{d:%Y%m%d}" == day],
                                    ("PayTypeCode", "FundTypeCode", "FundTypeName", "AgencyCode", "AgencyName",
                                     "ExpFuncCode", "ExpFuncName", "DirectFundFlag")))
        this_month = f"{today:%Y%m}"
        for month in sorted({f"{d:%Y%m}" for _, d, _ in cleared if d}):
            if month >= this_month or done(f"4004/{month}"):
                continue
            out.append(self._report("4004", f"YB{self.code[-4:]}{month}", today, adm, {"ReportMonth": month},
                                    [(p, sign) for p, d, sign in cleared if d and f"{d:%Y%m}" == month],
                                    ("PayTypeCode", "FundTypeCode", "FundTypeName", "SupDepCode", "SupDepName",
                                     "AgencyCode", "AgencyName", "ExpFuncCode", "ExpFuncName", "DirectFundFlag")))
        for month in sorted({f"{d:%Y%m}" for _, d, _ in stated if d}):
            if month >= this_month or done(f"3501/{month}"):
                continue
            mine = [(p, sign) for p, d, sign in stated if d and f"{d:%Y%m}" == month]
            first, last = _month_bounds(month)
            period = {"BeginDate": f"{first:%Y%m%d}", "EndDate": f"{last:%Y%m%d}"}
            out.append(self._report("3501", f"DZ{self.code[-4:]}{month}", today, adm, period, mine,
                                    ("AgencyCode", "AgencyName", "PayTypeCode", "FundTypeCode", "FundTypeName",
                                     "ExpFuncCode", "ExpFuncName", "ProCode", "ProName", "DirectFundFlag")))
            # each unit paid for gets its own statement (7104) with its lines; its receipt is the
            # unit's sign-off sheet, passed back by the treasury
            units = sorted({(d.get("AgencyCode"), d.get("AgencyName")) for d, _ in mine})
            for agency, agency_name in units:
                theirs = [(d, sign) for d, sign in mine if d.get("AgencyCode") == agency]
                out.append(self._report("7104", f"DW{self.code[-4:]}{month}{agency}"[:42], today, adm,
                                        {**period, "AgencyCode": agency, "AgencyName": agency_name}, theirs,
                                        ("PayTypeCode", "FundTypeCode", "FundTypeName", "ExpFuncCode",
                                         "ExpFuncName", "ProCode", "ProName")))
        return out

    def _reserve_statements(self, today: dt.date) -> list[Send]:
        """The clearing reserve account statement (7203) of each month before `today`'s not stated
        yet, from the month the reserve was funded (a month without movements carries the balance):
        BeginBalance the last statement's EndBalance, one Detail per movement in the order booked
        (MoveType 1 funded, 2 advanced after the cutoff, 3 made whole at the close, 4 replenished),
        CreditAmt and DebitAmt their sums, EndBalance = BeginBalance + CreditAmt - DebitAmt."""
        out: list[Send] = []
        while self.reserve_next and self.reserve_next < f"{today:%Y%m}" and self.adm_div_code:
            month = self.reserve_next
            first, last = _month_bounds(month)
            moves = [m for m in self.reserve_moves if f"{m[0]:%Y%m}" <= month]
            self.reserve_moves = [m for m in self.reserve_moves if f"{m[0]:%Y%m}" > month]
            credit, debit = sum(m[4] for m in moves if m[4] > 0), -sum(m[4] for m in moves if m[4] < 0)
            no = f"BZ{self.code[-4:]}{month}"
            head = {"Id": f"V7203{no}", "AdmDivCode": self.adm_div_code, "StYear": str(today.year),
                    "VouDate": f"{today:%Y%m%d}", "VoucherNo": no, "BeginDate": f"{first:%Y%m%d}",
                    "EndDate": f"{last:%Y%m%d}", "PayBankCode": self.code, "PayBankName": self.name,
                    "BeginBalance": fen_to_str(self.reserve_stated_fen), "CreditAmt": fen_to_str(credit),
                    "DebitAmt": fen_to_str(debit), "EndBalance": fen_to_str(self.reserve_stated_fen + credit - debit)}
            rows = [{"Id": f"D{i:05d}", "TransDate": f"{day:%Y%m%d}", "MoveType": kind,
                     **({"OriVtCode": vt, "OriVoucherNo": ori} if ori else {}),
                     "CreditAmt": fen_to_str(max(fen, 0)), "DebitAmt": fen_to_str(max(-fen, 0))}
                    for i, (day, kind, vt, ori, fen) in enumerate(moves, start=1)]
            self.reserve_stated_fen += credit - debit
            out.append((build_voucher("7203", head, rows), 0, None))
            self.reserve_next = f"{last + dt.timedelta(days=1):%Y%m}"
        return out

    def _report(self, vtcode: str, no: str, today: dt.date, adm: str, extra: dict[str, str],
                paid: list[tuple[VoucherDoc, int]], by: tuple[str, ...]) -> Send:
        """A report to division `adm`: the payments' details summed by the elements `by` (a detail's own,
        else its voucher's), each payment added (sign 1) or, refunded (all of it or a batch line), taken
        off (-1)."""
        sums: dict[Line, int] = {}
        for doc, sign in paid:
            for d in doc.details() or [doc.head()]:
                line = tuple(PAY_TYPE[doc.vtcode] if k == "PayTypeCode"
                             else ("1" if d.get(k) == "1" or self.all_direct else "") if k == "DirectFundFlag"
                             else d.get(k) or doc.get(k) or "" for k in by)
                sums[line] = sums.get(line, 0) + sign * parse_fen(d.get("PayAmt", "0.00"))
        if self.skew_reports and sums:  # wrong on purpose: one line, and so the total, a fen too high
            first = min(sums)
            sums[first] += 1
        flagged = "DirectFundFlag" in by and any(line[-1] for line in sums)
        head = {"Id": f"V{vtcode}{no}", "AdmDivCode": adm, "StYear": str(today.year),
                "VouDate": f"{today:%Y%m%d}", "VoucherNo": no, "PayBankCode": self.code, "PayBankName": self.name,
                "PayAmt": fen_to_str(sum(sums.values())), **extra,
                # direct funds (直达资金) totalled on their own, when there are any
                **({"DirectFundAmt": fen_to_str(sum(fen for line, fen in sums.items() if line[-1]))} if flagged else {})}
        # direct-funds lines first (an order of this bank's own: the treasury reads lines, not their order)
        order = sorted(sums.items(), key=lambda item: (not (flagged and item[0][-1]), item[0]))
        rows = [{"Id": f"D{i:05d}", **{k: v for k, v in zip(by, line, strict=True) if v}, "PayAmt": fen_to_str(fen)}
                for i, (line, fen) in enumerate(order, start=1)]
        return build_voucher(vtcode, head, rows), 0, None

    def _credit_notice(self, p: Payment, today: dt.date) -> Send:
        """The credit notice (7103) of a direct payment: the payee was credited on the day it was paid."""
        assert p.day is not None
        p.credited = True
        d, no = p.doc, f"RZ{p.doc.get('VoucherNo')}"[:42]
        head = {"Id": f"V7103{no}", "AdmDivCode": d.get("AdmDivCode"), "StYear": str(today.year),
                "VouDate": f"{today:%Y%m%d}", "VoucherNo": no, "PayBankCode": self.code, "PayBankName": self.name,
                "PayAmt": fen_to_str(p.amount_fen), "OriVtCode": "5201", "OriVoucherNo": d.get("VoucherNo"),
                "OriVouDate": d.get("VouDate"), "CreditDate": f"{p.day:%Y%m%d}",
                **{k: d.get(k) for k in ("FundTypeCode", "FundTypeName", "AgencyCode", "AgencyName", "PayeeAcctNo",
                                         "PayeeAcctName", "PayeeAcctBankName")},
                "AgentBusinessNo": p.serial}
        rows = [{"Id": f"D{i:04d}", "ExpFuncCode": x.get("ExpFuncCode", ""), "ExpFuncName": x.get("ExpFuncName", ""),
                 "PayAmt": x.get("PayAmt", "")} for i, x in enumerate(d.details() or [d.head()], start=1)]
        return build_voucher("7103", head, rows), 0, None


def _key(doc: VoucherDoc) -> str:
    """A voucher's key without the flag, "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>": what names one
    voucher (each division's treasury numbers its own, each budget year afresh)."""
    return f"{doc.get('AdmDivCode')}/{doc.get('StYear')}/{doc.vtcode}/{doc.get('VoucherNo')}"


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of `month` (yyyymm)."""
    first = dt.date(int(month[:4]), int(month[4:]), 1)
    return first, (first + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)


def log(text: str) -> None:
    print(f"sdk_bank: {text}", file=sys.stderr, flush=True)


class Runner:
    """The bank's two loops over one client: the clock and the inbox, one at a time on the books.

    A test gateway that was reset (`POST /v1/sim/reset`: a conformance run of many scenarios on one
    gateway) shows a new `epoch` in `GET /v1/clock`: the bank starts over with fresh books, as a
    freshly started bank would (docs/conformance.md), and keeps of the deliveries on their way only
    those the gateway still has."""

    def __init__(self, make_bank: Callable[[], Bank], client: GatewayClient, signer: KeySigner,
                 http: GatewayClient | None = None) -> None:
        # `client` sends, receives and acks (HTTP or MQTT); `http` reads the clock and message status,
        # which go over HTTP only (the same client over HTTP)
        self.make_bank, self.client, self.signer = make_bank, client, signer
        self.http = http or client
        self.bank = make_bank()
        self.epoch: int | None = None  # the gateway's epoch these books are of (None: a gateway that has none)
        self.lock = asyncio.Lock()

    def _start_over(self, view: Mapping[str, Any]) -> bool:
        """Fresh books if the gateway's epoch is not these books' (under the lock)."""
        if view.get("epoch") == self.epoch:
            return False
        if self.epoch is not None:
            log(f"the gateway was reset (epoch {view.get('epoch')}): starting over with fresh books")
        self.bank, self.epoch = self.make_bank(), view.get("epoch")
        self.bank.cursor = dt.datetime.fromisoformat(view["now"])
        return True

    async def send(self, vouchers: list[Send]) -> None:
        for i in range(0, len(vouchers), SEND_BATCH_MAX):
            bodies = [seal_as_role(voucher_body(v, flag=flag, return_reason=reason), self.signer, "bank")
                      for v, flag, reason in vouchers[i:i + SEND_BATCH_MAX]]
            for r in await self.client.send(encode_envelope(bodies)):
                if not r.ok:
                    log(f"refused {r.voucher}: {r.code}: {r.message}")

    async def clock_loop(self) -> None:
        """Everything due up to the clock's `now`, then wait on the clock `after` the last instant
        before the next scheduled thing to do: "done up to there" (docs/conformance.md), so a
        conformance runner need not stop the clock in between for this bank's sake."""
        seen: str | None = None  # the `now` last handled
        after: str | None = None
        while True:
            view = await (self.http.clock(after=after, wait_s=CLOCK_WAIT_S, epoch=self.epoch) if after
                          else self.http.clock())
            if view["now"] == seen and view.get("epoch") == self.epoch:  # timed out: the clock did not move
                continue
            now = dt.datetime.fromisoformat(view["now"])
            async with self.lock:
                self._start_over(view)
                await self.send(self.bank.on_time(now))
                done = self.bank.done_up_to()
            seen = view["now"]
            after = done.isoformat() if done is not None and done > now else seen

    async def inbox_loop(self) -> None:
        while True:
            epoch = self.epoch
            items: list[Delivery] = await self.client.receive(timeout_s=INBOX_WAIT_S)
            if not items:
                continue
            async with self.lock:
                view = await self.http.clock()
                self._start_over(view)
                if epoch != self.epoch:  # the gateway was reset meanwhile: what it no longer has is of before
                    items = [i for i in items if await self.http.message(i.message_id) is not None]
                now = dt.datetime.fromisoformat(view["now"])
                out: list[Send] = []
                for item in items:
                    [body] = parse_envelope(item.envelope).bodies
                    out += self.bank.on_delivery(parse_voucher(body.voucher), body.flag, body.return_reason, now)
                await self.send(out)
                if items:
                    await self.client.ack(*items)  # after what they caused has been sent

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.clock_loop())
            group.create_task(self.inbox_loop())


def _hh_mm(text: str) -> dt.time:
    try:
        return dt.datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day HH:MM") from None


def _read(p: argparse.ArgumentParser, flag: str, path: str) -> str:
    """The text of a file named by `flag`, or one usage line (exit 2): missing, a directory, a pipe
    (never waited on), not UTF-8."""
    try:
        return read_regular_text(path)
    except OSError as exc:
        p.error(f"{flag} {path}: {read_error_code(exc)}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        p.error(f"{flag} {path}: io-unreadable: not UTF-8 text")


def _secrets(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """This bank's entry of --secrets ({id: {token, mqtt_password}}), {} when it has none."""
    try:
        raw = json.loads(_read(p, "--secrets", args.secrets))
    except json.JSONDecodeError as exc:
        p.error(f"--secrets {args.secrets}: io-unreadable: not JSON ({exc})")
    mine = raw.get(args.id) if isinstance(raw, dict) else None
    if mine is not None and not isinstance(mine, dict):
        p.error(f"--secrets {args.secrets}: io-unreadable: expected {{id: {{token, mqtt_password}}}}")
    return mine or {}


def _mqtt_login(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, int, str, str]:
    """--mqtt's host, port and user (by default the bank's id), and the password from
    --mqtt-password-file or --secrets (never from the URL: the process list shows it to every user)."""
    try:
        url = urlparse(args.mqtt)
    except ValueError as exc:  # an unclosed [IPv6
        p.error(f"--mqtt {args.mqtt}: {exc}")
    try:
        port = url.port or 1883
    except ValueError:
        p.error(f"--mqtt {args.mqtt}: the port is not a number")
    if url.scheme != "mqtt" or not url.hostname or url.path not in ("", "/"):
        p.error(f"--mqtt {args.mqtt}: give mqtt://[USER@]HOST:PORT")
    if url.password is not None:
        p.error("--mqtt must not carry the password (the process list shows it): use --mqtt-password-file or --secrets")
    if args.mqtt_password_file:
        password = _read(p, "--mqtt-password-file", args.mqtt_password_file).strip()
        if not password:
            p.error(f"--mqtt-password-file {args.mqtt_password_file} is empty")
    elif args.secrets and "mqtt_password" in (mine := _secrets(p, args)):
        password = str(mine["mqtt_password"])
    else:
        p.error("--mqtt needs the password: --mqtt-password-file, or --secrets with mqtt_password under the id")
    return url.hostname, port, unquote(url.username or args.id), password


async def _not_pushed(http: GatewayClient) -> str | None:
    """Why this bank cannot take its deliveries over MQTT, or None: the gateway publishes to
    `tgw/v1/<id>/inbox` only for a participant registered `delivery: push`; a `pull` one would wait
    there for ever while its deliveries pile up unacked on `GET /v1/inbox`."""
    pid = http.participant_id
    try:
        delivery = (await http.registration()).get("delivery")
    except ClientError as exc:
        if exc.status != 404:
            raise
        return f"the gateway has no participant {pid} (--id): register it with --delivery push"
    if delivery == "push":
        return None
    return (f"{pid} is registered `delivery: {delivery}`: over MQTT it would receive nothing, the gateway publishes "
            f"to tgw/v1/{pid}/inbox only for `delivery: push`. Switch it to --delivery push "
            f"(tgw participants set --file PARTICIPANTS --db GATEWAY_DB --id {pid} --delivery push: its token and "
            "MQTT password stay, the running gateway takes it within a second: docs/connect-a-bank.md, "
            "\"Over MQTT\"), or leave out --mqtt to read its deliveries over HTTP")


async def _not_me(http: GatewayClient, signer: KeySigner) -> str | tuple[str, ...]:
    """Why this bank must not start under these credentials, or the divisions (AdmDivCode) it is
    registered for, the configured one first: the gateway names the participant its token
    authenticates (`GET /v1/participants/me`, `GatewayClient.whoami`); one that is not --id would
    send and take deliveries as someone else. A token the gateway does not know is its own refusal
    (`unauthenticated`). A --cert not registered to it is said, not refused: its seals are refused
    voucher by voucher, with their codes."""
    pid = http.participant_id
    try:
        me = await http.whoami()
    except ClientError as exc:
        return f"{exc.code}: {exc.message or 'the gateway refused the credentials'} (--token/--secrets for {pid})"
    if me["id"] != pid:
        return (f"participant-mismatch: the token authenticates participant {me['id']} ({me['role']}), not --id {pid}: "
                f"give {pid}'s own token (tgw participants add printed it once), or --id {me['id']}")
    if signer.sn.upper() not in {str(sn).upper() for sn in me.get("cert_sns", [])}:
        log(f"warning: --cert SN {signer.sn} is not one of {pid}'s registered certificates "
            f"({', '.join(me.get('cert_sns', [])) or 'none'}): the gateway will refuse its seals")
    return tuple(dict.fromkeys(str(code) for code in me.get("adm_div_codes") or ()))


def _why(exc: BaseException) -> str:
    """What an exception that ended the connection says; its type, errno and strerror where its text
    is empty (a connect timeout is `TimeoutError()`, a reset `ConnectionResetError()`)."""
    text = str(exc)
    if text:
        return f"{type(exc).__name__}: {text}"
    errno, strerror = getattr(exc, "errno", None), getattr(exc, "strerror", None)
    said = ", ".join(x for x in (f"errno {errno}" if errno is not None else "", strerror or "") if x)
    if isinstance(exc, TimeoutError) and not said:
        said = "no connection in time; the log above says why each try failed"
    return f"{type(exc).__name__}" + (f" ({said})" if said else "")


EXIT_CODES = (
    "Exit codes: it runs until stopped; 0 stopped by Ctrl-C (SIGINT) or SIGTERM (docker stop, kill): what "
    "it was doing is cancelled and its connections closed; 2 usage or a file it cannot read "
    "(argparse's usage line, or --secrets / --accounts / --key / --cert / --mqtt-password-file unreadable), the "
    "gateway's refusal of its credentials (unauthenticated, participant-mismatch: the token is another "
    "participant's), --mqtt for a bank not registered delivery push, or a gateway or broker it cannot reach "
    "('unavailable: cannot reach WHAT: WHY'); 1 an unexpected error (a traceback).")


def build_parser() -> argparse.ArgumentParser:
    """tgw-sdk-bank's options (its --help; `main` checks what argparse cannot)."""
    p = argparse.ArgumentParser(prog="tgw-sdk-bank", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES)
    p.add_argument("--url", required=True, help="the gateway, e.g. http://127.0.0.1:8470")
    p.add_argument("--id", required=True, help="this bank's participant id, e.g. bank-a")
    p.add_argument("--bank-code", required=True, help="this bank's 12-digit code (PayBankCode)")
    p.add_argument("--name", default="示例银行", help="this bank's name (PayBankName of its clearing requests)")
    p.add_argument("--key", required=True, help="this bank's private key (PEM)")
    p.add_argument("--cert", required=True, help="its certificate (PEM): the SN the gateway checks the seal with")
    p.add_argument("--token", help="bearer token (or --secrets FILE with {id: {token}}, e.g. a world's secrets.json)")
    p.add_argument("--secrets", help="JSON file with this bank's token (and mqtt_password) under its id")
    p.add_argument("--mqtt", metavar="URL",
                   help="mqtt://[USER@]HOST:PORT of the gateway's broker (USER: --id by default): send, receive and "
                        "ack over MQTT, the bank registered with --delivery push; the clock and message status stay "
                        "on --url. The password comes from --mqtt-password-file or --secrets, never from this URL")
    p.add_argument("--mqtt-password-file", metavar="FILE", help="a file holding this bank's MQTT password")
    p.add_argument("--accounts", help="the world's accounts.yaml (docs/rules.md \"The world's accounts\"): the customer "
                   "accounts this bank holds and the own-account rule's data (default: the example world's, built in)")
    p.add_argument("--reserve", default="20000000.00", help="the clearing reserve (yuan, default 20000000.00)")
    p.add_argument("--late-receipts", action="store_true", help="wrong on purpose: receipts the next day at 11:30")
    p.add_argument("--wrong-xfields", action="store_true", help="wrong on purpose: XPayAmt short, XPayDate late")
    p.add_argument("--over-quota", action="store_true", help="wrong on purpose: clearing requests ask too much")
    p.add_argument("--skew-reports", action="store_true",
                   help="wrong on purpose: the daily and monthly reports and the statement state 0.01 too much")
    p.add_argument("--ignore-returns", action="store_true",
                   help="wrong on purpose: money a payee's bank sends back (its 2252) is never refunded")
    p.add_argument("--pay-any-payee", action="store_true",
                   help="wrong on purpose: a procurement payment is paid whoever its payee and whatever its acceptance")
    p.add_argument("--all-direct", action="store_true",
                   help="wrong on purpose: the reports and statement mark every line direct funds (直达资金), "
                        "their DirectFundAmt the whole")
    p.add_argument("--never-replenish", action="store_true",
                   help="wrong on purpose: what the reserve advanced after the cutoff is never asked back (2301 "
                        "ClearType 1)")
    p.add_argument("--filing", type=_hh_mm, default=FILING,
                   help="when the bank first files the day's clearing requests, before the 16:00 cutoff "
                        "(default 15:30; it sweeps again just before 16:00 in any case)")
    p.add_argument("--replenish", type=_hh_mm, default=REPLENISH,
                   help="when it asks for yesterday's advances back, in the central bank's window 08:30-12:00 "
                        "(default 08:45)")
    p.add_argument("--open", type=_hh_mm, default=OPEN,
                   help="when it pays what waited overnight, by the 10:00 deadline (default 09:00)")
    return p


def _stop(signum: int, frame: object) -> None:
    """SIGTERM stops the bank as Ctrl-C does (a container's stop, a CI job's kill): asyncio.run
    cancels what runs and the connections close on the way out; exit 0."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    for flag, value, lo, hi in (("--filing", args.filing, dt.time(0, 0), CUTOFF),
                                ("--replenish", args.replenish, WINDOW.replenishment_window_start, WINDOW.replenishment_window_end),
                                ("--open", args.open, dt.time(0, 0), dt.time(10, 0))):
        if not lo <= value < hi:
            p.error(f"{flag} {value:%H:%M}: the rules want it from {lo:%H:%M} and before {hi:%H:%M}")
    try:
        url = urlparse(args.url)
        url.port  # noqa: B018 - raises on a port past 65535 or no number
    except ValueError as exc:
        p.error(f"--url {args.url}: {exc}")
    if url.scheme not in ("http", "https") or not url.hostname:
        p.error(f"--url {args.url}: give http(s)://HOST:PORT")
    try:
        reserve_fen = parse_fen(args.reserve)
    except InputError as exc:
        p.error(f"--reserve {args.reserve}: {exc}")
    if reserve_fen < 0:
        p.error(f"--reserve {args.reserve}: a reserve is not negative")
    if args.token:
        token = args.token
    elif args.secrets:
        token = _secrets(p, args).get("token")
        if not isinstance(token, str) or not token:
            p.error(f"--secrets {args.secrets}: no token under {args.id!r}")
    else:
        p.error("give --token or --secrets")
    mqtt = _mqtt_login(p, args) if args.mqtt else None
    calendar = BusinessCalendar.default()  # one for every start over
    accounts, own_accounts = dict(ACCOUNTS), OwnAccounts()
    if args.accounts:
        try:
            world = yaml.safe_load(_read(p, "--accounts", args.accounts)) or {}
        except yaml.YAMLError as exc:
            p.error(f"--accounts {args.accounts}: io-unreadable: not YAML ({exc})")
        if not isinstance(world, dict) or not isinstance(world.get("banks") or [], list):
            p.error(f"--accounts {args.accounts}: io-unreadable: expected a mapping with banks: (docs/rules.md)")
        mine = [b for b in world.get("banks") or [] if isinstance(b, dict) and str(b.get("code")) == args.bank_code]
        if not mine:
            p.error(f"--accounts {args.accounts}: no bank with code {args.bank_code}")
        accounts = {str(a["number"]): str(a["holder"]) for a in mine[0].get("accounts") or []}
        own_accounts = OwnAccounts.of(world.get("own_account_rule") or {})

    def make_bank(divisions: tuple[str, ...]) -> Bank:
        return Bank(args.id, args.bank_code, args.name, reserve_fen, args.late_receipts,
                    args.wrong_xfields, args.over_quota, args.filing, args.replenish, args.open, args.skew_reports,
                    args.ignore_returns, calendar=calendar, accounts=accounts, own_accounts=own_accounts,
                    pay_any_payee=args.pay_any_payee, all_direct=args.all_direct,
                    never_replenish=args.never_replenish, divisions=divisions)

    try:
        signer = KeySigner.from_files(args.key, args.cert)
    except InputError as exc:
        p.error(f"--key {args.key} / --cert {args.cert}: {exc}")

    reaching = [f"the gateway at {args.url} (--url)"]  # what a connection error is about (the broker, once tried)

    async def go() -> int:
        async with GatewayClient.http(args.url, token=token, participant_id=args.id) as http:
            divisions = await _not_me(http, signer)
            if isinstance(divisions, str):
                print(f"tgw-sdk-bank: {divisions}", file=sys.stderr)
                return 2
            if len(divisions) > 1:
                log(f"serving divisions {', '.join(divisions)} (the gateway's registration of {args.id})")
            books = functools.partial(make_bank, divisions)  # every start over serves the same divisions
            if mqtt is None:
                await Runner(books, http, signer).run()
                return 0
            if (refusal := await _not_pushed(http)) is not None:
                log(f"--mqtt: {refusal}")
                return 2
            host, port, username, password = mqtt
            reaching.append(f"the broker at mqtt://{username}@{host}:{port} (--mqtt)")
            async with GatewayClient.mqtt(host, port, username=username, password=password,
                                          participant_id=args.id) as client:
                log(f"over MQTT: {username}@{host}:{port}; the clock over HTTP: {args.url}")
                await Runner(books, client, signer, http=http).run()
        return 0

    on_main = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    previous = signal.signal(signal.SIGTERM, _stop) if on_main else None
    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # the runner's task group wraps what ended it
        first: BaseException = exc
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, ClientError):  # refused as a whole: a login, a token, the broker's ACL
            print(f"tgw-sdk-bank: {first.code}: {first.message}", file=sys.stderr)
            return 2
        if not isinstance(first, aiohttp.ClientConnectionError | OSError | TimeoutError):
            raise
        # a gateway or broker it cannot reach: unavailable, exit 2 as for every command of the project. aiohttp's
        # errors are the gateway's (HTTP); another, once --mqtt was tried, the broker's
        target = reaching[0] if isinstance(first, aiohttp.ClientError) else reaching[-1]
        print(f"tgw-sdk-bank: unavailable: cannot reach {target}: {_why(first)}", file=sys.stderr)
        return 2
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
