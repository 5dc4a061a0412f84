"""What an agent bank owes after it pays: refunds, reports, transfer times, and its profile.

`Duties` is part of `BankCore` (its `duties`), called from a few hooks in the core; it keeps
its own state in the core's snapshot. Pure like the core: it never reads a clock.

* **Payee returns** (`bank_sim.refunds`): `DutiesConfig.payee_returns` says which payment comes
  back when (a scenario's `returns:`); a return waits until its payment's clearing request was
  accepted, then the money is booked back and the 2302 goes to the central bank. Its receipt,
  accepted, moves the money on, gives an 8202's unit quota line back and sends the refund notice
  (2203 / 7105) to the treasury: the refund is cleared (003 §36). Refused, it raises the central
  bank's code; `below-clearing-floor` is filed again after the next accepted clearing.
* **Reports** (`bank_sim.reports`): at `report_time` each business day, the 2206 of every
  earlier day with payments or accepted refunds not reported yet (net of those refunds, by unit,
  fund type, subject and project); on the first business day of a month, the 4004
  and the 3501 of every earlier month with payments, a 7104 to each unit paid for, and the
  clearing reserve statement (7203) of every month since the reserve was funded. The
  treasury's 3501 receipt is its sign-off (`sign_offs`).
* **Transfer times** (`bank_sim.transfers`): each receipt carries XArriveDate.
* **The profile** (`bank_sim.profiles`): every message the core sends passes `outgoing()`,
  which holds it until the profile's release time (a `slow` or `flaky` bank) and applies the
  profile's fault to it (a `faulty` bank). A faulted send the gateway refuses is sent again
  corrected (the refusal is absorbed here, the core's records stay right); the over-quota
  probe is an extra clearing request the central bank refuses with `over-quota`.
* **Credit notices** (`bank_sim.reports.credit_notice`): the 7103 (财政资金直接支付入账通知书) of each direct
  payment goes out at `report_time` the next business day (due within 2 working days).
* **Duties done** (`sent_at`, `refusals`): when each message actually left, and the codes it
  was refused with, for the scorecard (`runner.scorecard_feed`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from bank_sim import quotas
from bank_sim import refunds as rf
from bank_sim import reports as rp
from bank_sim import reserve_statement as rs
from bank_sim.profiles import BankProfile, Fault, SendKind, load_profile
from bank_sim.refunds import PayeeReturn
from bank_sim.transfers import TransferConfig, arrival, route
from business_time.clock import at
from messages.dates import format_ymd
from messages.envelope import VoucherKey, VoucherKeyError
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, PostTransfer, Refusal, SendVoucher, WakeAt, registered_code
from sim.snapshot import datetime_from_plain, datetime_to_plain, send_from_plain, send_to_plain

if TYPE_CHECKING:
    from bank_sim.core import BankCore, Filing, Payment

__all__ = ["Duties", "DutiesConfig", "PayeeReturn", "Refund", "send_kind"]

# Send times and refusal codes kept for the scorecard: a year of a busy bank's messages. Beyond
# it the oldest are forgotten (their month was scored long ago).
SENT_KEEP_MAX = 2_000_000
# Messages a slow or flaky bank holds back at once: a few days of a busy bank's receipts.
HELD_MAX = 200_000
# Corrected re-sends per faulted message: one correction is what a faulty bank does; a
# correction refused again is a bug, alarmed, not retried forever.
CORRECTIONS_MAX = 1
# A refund the central bank refused `below-clearing-floor` is filed again (a new 2302) after the
# bank's next accepted clearing has put money in its clearing account; after this many filings
# the refusal stands (alarmed, the money stays in the refunds account).
REFUND_FILINGS_MAX = 3
# Refusals of a 2302 that filing it again can cure: the clearing account was short for now.
REFILABLE = frozenset({"below-clearing-floor"})

_KINDS: Mapping[str, SendKind] = {"2301": "clearing", "2302": "refund", "2203": "refund-notice",
                                  "7105": "refund-notice", "2206": "daily-report", "4004": "monthly-report",
                                  "3501": "monthly-statement", "7103": "credit-notice",
                                  "7102": "quota-arrival-notice"}
# Direct payments whose credit notice (7103) waits for the next report time: a day of a busy bank's.
CREDITS_PENDING_MAX = 200_000
# Payments paid and not cleared yet (advances wait a business day, a holiday week longer): a few
# days of a busy bank's payments; beyond it a payment is left out of the expenditure reports.
UNCLEARED_MAX = 1_000_000
# Reserve movements of the months not stated yet (7203): a month of a busy bank's advances and
# replenishments; beyond it a movement is left out of the statement and the treasury sees a break.
RESERVE_MOVES_MAX = 200_000
# Paid payments whose payee elements are kept so a payee's bank can return one (2252): a few
# weeks of a busy bank's payments; beyond it the oldest are forgotten (a notice naming one is
# alarmed `refund-unmatched`, for a person to refund by hand).
PAYEES_KEPT_MAX = 200_000
# The payee-bank refund notice (收款行退款通知): a payee's bank tells the paying bank money came back.
PAYEE_BANK_NOTICE = "2252"


def send_kind(send: SendVoucher) -> SendKind:
    if send.flag == 1 and send.vtcode in ("5201", "8202"):
        return "receipt"
    return _KINDS.get(send.vtcode, "other") if send.flag == 0 else "other"


@dataclass(frozen=True, slots=True)
class DutiesConfig:
    payee_returns: tuple[PayeeReturn, ...] = ()
    report_time: dt.time = dt.time(9, 30)  # daily / monthly reports go out then (before the 11:00 receipts)
    transfers: TransferConfig = field(default_factory=TransferConfig)
    profile: str = "prompt"
    profile_params: tuple[tuple[str, Any], ...] = ()  # (name, value), as the scenario or config says
    seed: int = 1

    def __post_init__(self) -> None:
        if len({r.voucher_no for r in self.payee_returns}) != len(self.payee_returns):
            raise ValueError("payee_returns names a voucher twice")


@dataclass(slots=True)
class Refund:
    no: str  # the 2302's VoucherNo
    voucher: str  # the payment's VoucherNo
    amount_fen: int
    reason: str
    returned_at: dt.datetime
    state: str = "pending"  # pending, accepted, rejected
    code: str | None = None
    notice_no: str = ""


@dataclass(slots=True)
class _State:
    returns: dict[str, PayeeReturn] = field(default_factory=dict)  # still to happen, by VoucherNo
    payees: dict[str, dict[str, Any]] = field(default_factory=dict)  # VoucherNo → what a return copies
    refunds: dict[str, Refund] = field(default_factory=dict)
    daily: dict[str, dict[rp.Line, int]] = field(default_factory=dict)  # yyyymmdd → lines
    monthly: dict[str, dict[rp.Line, int]] = field(default_factory=dict)  # yyyymm → lines
    reported_days: set[str] = field(default_factory=set)
    reported_months: set[str] = field(default_factory=set)
    sign_offs: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # yyyymm → (result, date, remark)
    held: list[tuple[dt.datetime, SendVoucher]] = field(default_factory=list)  # sorted by release time
    seen: dict[str, int] = field(default_factory=dict)  # send key → 1 sent, 0 held
    sent_at: dict[str, dt.datetime] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)  # send key → code (gateway or central bank)
    counts: dict[str, int] = field(default_factory=dict)  # SendKind → messages of it so far (fault index)
    corrections: dict[str, SendVoucher] = field(default_factory=dict)  # faulted send key → the clean one
    corrupt: set[str] = field(default_factory=set)  # send keys to seal with a broken signature
    probes: dict[str, str | None] = field(default_factory=dict)  # over-quota probe 2301 → the code it got
    credits: dict[str, dict[str, Any]] = field(default_factory=dict)  # 5201 VoucherNo → its credit notice's elements
    refund_lines: dict[str, list[tuple[rp.Line, int]]] = field(default_factory=dict)  # 2302 no → lines it takes off
    uncleared: dict[str, list[tuple[rp.Line, int]]] = field(default_factory=dict)  # payment key → lines, till cleared
    # 2302 no → the refund notice (2203 / 7105) that goes to the treasury once that 2302 is cleared
    # (003 §36: the quota comes back only "退回资金清算后")
    notices: dict[str, SendVoucher] = field(default_factory=dict)
    requests: dict[str, tuple[dict[str, str], int]] = field(default_factory=dict)  # 2302 no → (head, filing no.)
    # refused 2302 no → the 2302 filed again for it: at most REFUND_FILINGS_MAX - 1 per refund
    refiled: dict[str, str] = field(default_factory=dict)
    stated: dict[str, dict[rp.Line, int]] = field(default_factory=dict)  # yyyymm → lines paid (the 3501's)
    next_day: str = ""  # yyyymmdd: the first day not yet given its daily report ("" before the first day)
    # the clearing reserve statement (7203): month → {transfer id: movement}, in booking order
    reserve_moves: dict[str, dict[str, rs.Movement]] = field(default_factory=dict)
    reserve_balance: int = 0  # the reserve's balance at the end of the last month stated
    reserve_next: str = ""  # yyyymm: the first month not stated yet ("" before the reserve moved)
    # yyyymm (7203) or yyyymm/AgencyCode (7104) → (result, date, remark)
    reserve_sign_offs: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    seq: int = 0


class Duties:
    def __init__(self, core: BankCore) -> None:
        self.core = core
        self.config: DutiesConfig = core.config.duties
        self.profile: BankProfile = load_profile(self.config.profile, dict(self.config.profile_params),
                                                 self.config.seed)
        self.s = _State(returns={r.voucher_no: r for r in self.config.payee_returns})

    # --- hooks called by the core ---------------------------------------------------------------

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The next time the duties need the core woken, strictly after `t`."""
        cands = [r.at for r in self.s.returns.values() if r.at > t]
        cands += [when for when, _ in self.s.held[:1] if when > t]
        cal = self.core.calendar
        day = t.date() if cal.is_business_day(t.date()) else cal.next_business_day(t.date())
        report = at(day, self.config.report_time)
        if report <= t:
            report = at(cal.next_business_day(day), self.config.report_time)
        cands.append(report)  # every business day: at least the day before's daily report, nil or not
        return min(cands, default=None)

    def on_time(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        self.s.next_day = self.s.next_day or format_ymd(now.date())
        if self.core.calendar.is_business_day(now.date()) and now.time() >= self.config.report_time:
            effects += self._reports(now)
        effects += self._due_returns(now)
        return effects

    def on_paid(self, p: Payment, doc: VoucherDoc) -> None:
        """A voucher was just paid (once; not on a replay): tally it, keep what a return needs."""
        assert p.day is not None
        self.s.next_day = self.s.next_day or format_ymd(p.day)
        lines = _lines(p, doc.head(), doc.details())
        self._state_month(rp.month_of(p.day), lines, 1)
        if len(self.s.uncleared) < UNCLEARED_MAX:
            self.s.uncleared[str(p.key)] = lines  # into the 2206 / 4004 when its clearing is accepted
        if len(self.s.payees) >= PAYEES_KEPT_MAX and p.key.voucher_no not in self.s.returns:
            del self.s.payees[next(iter(self.s.payees))]  # the oldest: its return is unlikely now
        if len(self.s.payees) < PAYEES_KEPT_MAX or p.key.voucher_no in self.s.returns:
            self.s.payees[p.key.voucher_no] = {**{f: doc.get(f) for f in rf.PAYEE_FIELDS},
                                               "details": [dict(d) for d in doc.details()]}
        if p.vtcode == "5201" and len(self.s.credits) < CREDITS_PENDING_MAX:
            self.s.credits[p.key.voucher_no] = {
                **{f: doc.get(f) for f in rf.PAYEE_FIELDS}, "day": format_ymd(p.day), "serial": p.serial, "no": self.credit_notice_no(p),
                "fund": list(p.fund_type), "amount": p.amount_fen, "year": p.key.st_year,
                "subjects": [[d.get("ExpFuncCode", ""), d.get("ExpFuncName", ""), d.get("PayAmt", "0.00")]
                             for d in doc.details()] or [[doc.get("ExpFuncCode"), doc.get("ExpFuncName"),
                                                          doc.get("PayAmt")]]}

    def _tally(self, day: dt.date, lines: Sequence[tuple[rp.Line, int]], sign: int) -> None:
        """Add (sign 1: cleared) or take off (sign -1: refund cleared back) `lines` in the tally of
        `day` and its month: the daily (2206) and monthly (4004) expenditure reports."""
        for line, fen in lines:
            for table, k in ((self.s.daily, format_ymd(day)), (self.s.monthly, rp.month_of(day))):
                tally = table.setdefault(k, {})
                tally[line] = tally.get(line, 0) + sign * fen

    def _state_month(self, month: str, lines: Sequence[tuple[rp.Line, int]], sign: int) -> None:
        """Add (paid) or take off (refunded) `lines` in the month's statement (3501) tally."""
        tally = self.s.stated.setdefault(month, {})
        for line, fen in lines:
            tally[line] = tally.get(line, 0) + sign * fen

    def credit_notice_no(self, p: Payment) -> str:
        """The VoucherNo of the credit notice (7103) of direct payment `p`: "RZ" + its VoucherNo,
        cut to the 42 characters a VoucherNo may have."""
        return f"RZ{p.key.voucher_no}"[:42]

    def receipt_fields(self, p: Payment, doc: VoucherDoc) -> dict[str, str]:
        """The X-fields the duties add to a payment's receipt: when the money arrives."""
        assert p.day is not None
        paid_at = p.received_at if p.received_at.date() == p.day else at(p.day, self.core.config.open_time)
        when = arrival(paid_at, route(self.core.bank_code, doc.get("PayeeAcctBankNo")), self.core.calendar,
                       self.config.transfers)
        return {"XArriveDate": format_ymd(when.date())}

    def clearing_details(self, payments: Sequence[Payment]) -> tuple[dict[str, str], ...]:
        return rf.clearing_details([(p.key.voucher_no, p.sup_dep, p.amount_fen) for p in payments])

    def on_cleared(self, now: dt.datetime, payments: Sequence[VoucherKey] = ()) -> list[Effect]:
        """A clearing request of `payments` was accepted: they count in today's expenditure
        report (004 part 5 §2: made from the cleared vouchers); returns waiting for it may go now."""
        for k in payments:
            self._tally(now.date(), self.s.uncleared.pop(str(k), []), 1)
        return self._refile(now) + self._due_returns(now)

    def handles(self, doc: VoucherDoc, flag: int) -> bool:
        if flag == 0 and doc.vtcode == PAYEE_BANK_NOTICE:
            return True
        if flag == 1 and doc.vtcode in ("2302", "3501", "7104", rs.RESERVE_STATEMENT_VTCODE):
            return True
        return flag == 1 and doc.vtcode == "2301" and doc.get("VoucherNo") in self.s.probes

    def on_voucher(self, doc: VoucherDoc, flag: int, now: dt.datetime, return_reason: str | None) -> list[Effect]:
        key = str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"), flag))
        no = doc.get("VoucherNo")
        if doc.vtcode == PAYEE_BANK_NOTICE:
            return self._payee_bank_notice(doc, key, now)
        if doc.vtcode == "2301":
            code = registered_code((return_reason or "").split(":", 1)[0].strip() or None)
            if self.s.probes.get(no) is not None:
                return []
            self.s.probes[no] = code
            self.s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), "2301", no, 0))] = code
            return [Alarm(code, f"faulty profile: probe clearing request {no} refused: {return_reason}", key)]
        if doc.vtcode in (rs.RESERVE_STATEMENT_VTCODE, "7104"):
            return self._reserve_signed_off(doc, key)
        if doc.vtcode == "3501":
            month = doc.get("BeginDate")[:6]
            if month in self.s.sign_offs:
                return []
            self.s.sign_offs[month] = (doc.get("XCheckResult"), doc.get("XCheckDate"), doc.get("XCheckRemark"))
            if doc.get("XCheckResult") != "0":
                self.s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), "3501", no, 0))] = \
                    "amount-mismatch"
                return [Alarm("amount-mismatch", f"the treasury disagrees with statement {no}: "
                              f"{doc.get('XCheckRemark')}", key)]
            return []
        if no in self.s.refiled:
            return []  # a redelivered receipt of a refusal already answered by filing again
        refund = self.s.refunds.get(no)
        if refund is None:
            return [Alarm("unknown-original", "a refund receipt for a request this bank never sent", key)]
        if refund.state != "pending":
            return []
        amount = parse_fen(doc.get("XRefundAmt") or "0.00")
        if return_reason is not None or amount != refund.amount_fen:
            refund.state = "rejected"
            refund.code = registered_code((return_reason or "amount-mismatch").split(":", 1)[0].strip())
            self.s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), "2302", no, 0))] = refund.code
            again = refund.code in REFILABLE and self.s.requests.get(no, ({}, REFUND_FILINGS_MAX))[1] < REFUND_FILINGS_MAX
            return [Alarm(refund.code, f"refund request {no} refused: {return_reason or 'amount differs'}; "
                          f"{fen_to_str(refund.amount_fen)} stays in the refunds account"
                          + ("; filed again after the next accepted clearing" if again else ""), key)]
        refund.state = "accepted"
        self.s.requests.pop(no, None)
        effects: list[Effect] = []
        # cleared back: the unit's quota line is given back (003 §36, "预算单位可按照规定程序重新办理支付申请")
        # and the treasury is told now, so it restores the quota only for money cleared
        payment = next((p for p in self.core.payments.values() if p.key.voucher_no == refund.voucher), None)
        if payment is not None and payment.quota_taken:
            quotas.release(self.core.quota_book, payment.quota_taken)
            payment.quota_taken = None
        notice = self.s.notices.pop(no, None)
        if notice is not None:
            head = {**notice.head, "VouDate": format_ymd(now.date()), "StYear": str(now.year)}
            effects.append(SendVoucher(notice.vtcode, 0, head, notice.details, "treasury"))
        # cleared back today: the day's and month's reports are net of it (004 part 5 §2)
        lines = self.s.refund_lines.pop(no, [])
        self._tally(now.date(), lines, -1)
        self._state_month(rp.month_of(now.date()), lines, -1)
        a = self.core.accounts
        return [self.core._transfer(f"bank:{self.core.bank_code}:refund:{no}", self._refunds_account(),
                                    a["pboc-clearing"], amount, "refund", key, now.date()), *effects]

    def on_refused(self, refusal: Refusal, now: dt.datetime) -> tuple[bool, list[Effect]]:
        """Record a refused send (for the scorecard). A send this module faulted on purpose is
        absorbed here (True: the core's records need no correction) and sent again corrected:
        the same voucher sealed properly, or the clean version of what was spoiled."""
        absorbed, effects = False, list[Effect]()
        for t in refusal.transfers():  # a transfer the books refused never moved the reserve
            for moves in self.s.reserve_moves.values():
                moves.pop(t.id, None)
        for send in refusal.sends():
            key = str(send.key)
            self.s.refusals.setdefault(key, refusal.code)
            if refusal.source != "gateway":
                continue
            if send.head.get("VoucherNo") in self.s.probes:
                absorbed = True
            if key in self.s.corrupt:
                self.s.corrupt.discard(key)
                absorbed = True
                effects.append(send)
            clean = self.s.corrections.pop(key, None)
            if clean is not None:
                absorbed = True
                if clean != send:
                    effects.append(clean)
        return absorbed, effects

    def outgoing(self, effects: list[Effect], now: dt.datetime) -> list[Effect]:
        """Every effect the core returns passes here: sends are held, faulted, recorded."""
        out: list[Effect] = []
        held = False
        for e in effects:
            if not isinstance(e, SendVoucher):
                if isinstance(e, PostTransfer):
                    self._reserve_moved(e, now)
                out.append(e)
                continue
            key = str(e.key)
            seen = self.s.seen.get(key)
            if seen is not None:
                if seen == 1:
                    out.append(e)  # a replay (redelivery) or a correction: the gateway dedups
                continue
            kind = send_kind(e)
            release = max(now, self.profile.release(kind, e.key.voucher_no, now, self.core.calendar))
            index = self.s.counts.get(kind, 0)
            self.s.counts[kind] = index + 1
            fault = self.profile.fault(kind, index)
            sends = self._fault(e, fault) if fault is not None else [e]
            if release > now and len(self.s.held) < HELD_MAX:
                self.s.seen[key] = 0
                self.s.held.extend((release, s) for s in sends)
                self.s.held.sort(key=lambda h: h[0])
                held = True
                continue
            self._mark_sent(key, now)
            out.extend(sends)
        out += self._release(now)
        if held:  # wake the core when the first held message is due
            out.append(WakeAt(self.core._next_event_after(now)[0]))
        return out

    # --- internals --------------------------------------------------------------------------------

    def _mark_sent(self, key: str, now: dt.datetime) -> None:
        self.s.seen[key] = 1
        self.s.sent_at.setdefault(key, now)
        while len(self.s.seen) > SENT_KEEP_MAX:
            self.s.seen.pop(next(iter(self.s.seen)))
        while len(self.s.sent_at) > SENT_KEEP_MAX:
            self.s.sent_at.pop(next(iter(self.s.sent_at)))

    def _release(self, now: dt.datetime) -> list[Effect]:
        out: list[Effect] = []
        while self.s.held and self.s.held[0][0] <= now:
            _, send = self.s.held.pop(0)
            self._mark_sent(str(send.key), now)
            out.append(send)
        return out

    def _fault(self, e: SendVoucher, fault: Fault) -> list[SendVoucher]:
        key = str(e.key)
        if fault == "bad-signature":
            self.s.corrupt.add(key)
            return [e]
        if fault == "missing-x-fields":
            self.s.corrections[key] = e
            return [msgspec.structs.replace(e, head={**e.head, "XAgentBusinessNo": ""})]
        if fault == "duplicate":
            twin = msgspec.structs.replace(e, head={**e.head, "XAgentBusinessNo": e.head["XAgentBusinessNo"][:-1] + "X"})
            self.s.corrections[str(twin.key)] = twin  # its refusal (duplicate-conflict) is ours to absorb
            return [e, twin]
        if fault == "wrong-sum" and e.details:
            self.s.corrections[key] = e
            first = {**e.details[0], "PayAmt": fen_to_str(parse_fen(e.details[0]["PayAmt"]) + 1)}
            return [msgspec.structs.replace(e, details=(first, *e.details[1:]))]
        if fault == "over-quota":
            self.s.seq += 1
            no = f"HKP{self.core.bank_code[-4:]}{e.head['VouDate']}{self.s.seq:04d}"
            over = parse_fen(e.head["PayAmt"]) + 10**12  # ten billion yuan more: beyond any day's quota
            probe = msgspec.structs.replace(
                e, head={**e.head, "Id": f"V2301{no}", "VoucherNo": no, "PayAmt": fen_to_str(over)},
                details=({"Id": "D00001", "SupDepCode": e.details[0]["SupDepCode"],
                          "SupDepName": e.details[0]["SupDepName"], "PayAmt": fen_to_str(over)},))
            self.s.probes[no] = None
            return [e, probe]
        return [e]

    def _refunds_account(self) -> str:
        return f"bank:{self.core.bank_code}:refunds"

    def _refile(self, now: dt.datetime) -> list[Effect]:
        """File again (a new 2302, same refund) each refund refused for a cause a clearing cures."""
        effects: list[Effect] = []
        today = now.date()
        for old, refund in sorted(self.s.refunds.items()):
            head, filings = self.s.requests.get(old, ({}, REFUND_FILINGS_MAX))
            if refund.state != "rejected" or refund.code not in REFILABLE or filings >= REFUND_FILINGS_MAX:
                continue
            self.s.seq += 1
            no = f"TK{self.core.bank_code[-4:]}{format_ymd(today)}{self.s.seq:05d}"
            new = {**head, "Id": f"V2302{no}", "VoucherNo": no, "VouDate": format_ymd(today), "StYear": str(today.year)}
            del self.s.refunds[old], self.s.requests[old]
            self.s.refiled[old] = no
            self.s.refunds[no] = Refund(no, refund.voucher, refund.amount_fen, refund.reason, refund.returned_at,
                                        notice_no=refund.notice_no)
            self.s.requests[no] = (new, filings + 1)
            if old in self.s.notices:
                self.s.notices[no] = self.s.notices.pop(old)
            if old in self.s.refund_lines:
                self.s.refund_lines[no] = self.s.refund_lines.pop(old)
            effects.append(SendVoucher("2302", 0, new, (), "pboc"))
        return effects

    def _payee_bank_notice(self, doc: VoucherDoc, key: str, now: dt.datetime) -> list[Effect]:
        """A payee's bank returned the money of one of our payments (2252): refund it as soon as its
        clearing was accepted (now, or when it is). A notice naming no payment of ours, or one
        already returned, is alarmed, nothing moves."""
        ori = doc.get("OriVoucherNo")
        paid = next((p for p in self.core.payments.values() if p.key.voucher_no == ori
                     and p.vtcode == doc.get("OriVtCode") and p.day is not None), None)
        reason = next((r for r, (code, _) in rf.RETURN_REASONS.items() if code == doc.get("ReturnReasonCode")),
                      "account-closed")
        try:
            fen = parse_fen(doc.get("PayAmt") or "0.00")
        except ValueError:
            fen = -1
        if paid is None or ori not in self.s.payees or ori in self.s.returns or fen != paid.amount_fen:
            why = "names no payment of this bank" if paid is None else \
                f"does not match payment {ori} (already returned, or not its amount)"
            return [Alarm("refund-unmatched", f"payee-bank refund notice {doc.get('VoucherNo')} {why}", key)]
        self.s.returns[ori] = PayeeReturn(ori, now, reason)
        return self._due_returns(now)

    def _due_returns(self, now: dt.datetime) -> list[Effect]:
        effects: list[Effect] = []
        if not self.s.returns:
            return effects
        by_no = {p.key.voucher_no: p for p in self.core.payments.values()
                 if p.key.voucher_no in self.s.returns}
        for no, ret in sorted(self.s.returns.items(), key=lambda kv: (kv[1].at, kv[0])):
            p = by_no.get(no)
            if ret.at > now or p is None or p.day is None or p.filing is None:
                continue
            filing = self.core.filings.get(p.filing)
            if filing is None or filing.state != "accepted" or no not in self.s.payees:
                continue
            del self.s.returns[no]
            effects += self._refund(p, filing, ret, now)
        return effects

    def _refund(self, p: Payment, filing: Filing, ret: PayeeReturn, now: dt.datetime) -> list[Effect]:
        core, c = self.core, self.core.config
        today = now.date()
        payee = self.s.payees.pop(p.key.voucher_no)
        self.s.seq += 1
        no = f"TK{core.bank_code[-4:]}{format_ymd(today)}{self.s.seq:05d}"
        zba = core.accounts["zba-finance"] if p.pay_type == "11" else \
            f"bank:{core.bank_code}:zba-unit:{payee['AgencyCode']}"
        effects: list[Effect] = []
        if self._refunds_account() not in core._opened:
            effects.append(core._open(self._refunds_account(), "returned money awaiting refund to the TSA", "refunds"))
        if zba not in core._opened:
            effects.append(core._open(zba, f"zero-balance account of unit {payee['AgencyCode']}", "unit-zero-balance"))
        ref = str(p.key)
        effects.append(core._transfer(f"bank:{core.bank_code}:payee-return:{p.key}", core.accounts["payees"], zba,
                                      p.amount_fen, "payee-return", ref, today))
        effects.append(core._transfer(f"bank:{core.bank_code}:refund-pending:{p.key}", zba, self._refunds_account(),
                                      p.amount_fen, "refund-pending", ref, today))
        named = len(filing.payments) <= rf.CLEARING_DETAILS_MAX  # its 2301 named each payment
        ori = (p.vtcode, p.key.voucher_no, payee["VouDate"]) if named else \
            ("2301", filing.voucher_no, format_ymd(filing.filed_at.date()))
        head = rf.refund_request(no=no, today=today, adm_div_code=c.adm_div_code, bank_code=core.bank_code,
                                 bank_name=c.bank_name, clear_bank=(c.clear_bank_code, c.clear_bank_name), ori=ori,
                                 pay_type=p.pay_type, fund_type=p.fund_type, payee=payee, reason=ret.reason,
                                 amount_fen=p.amount_fen)
        effects.append(SendVoucher("2302", 0, head, (), "pboc"))
        notice_no = f"TP{core.bank_code[-4:]}{format_ymd(today)}{self.s.seq:05d}"
        vtcode, nhead, ndetails = rf.notice(no=notice_no, today=today, adm_div_code=c.adm_div_code,
                                            bank_code=core.bank_code, bank_name=c.bank_name, vtcode=p.vtcode,
                                            ori_no=p.key.voucher_no, paid_day=p.day or today, fund_type=p.fund_type,
                                            payee=payee, details=payee["details"], reason=ret.reason,
                                            serial=p.serial, amount_fen=p.amount_fen)
        self.s.notices[no] = SendVoucher(vtcode, 0, nhead, ndetails, "treasury")
        self.s.requests[no] = (head, 1)
        self.s.refunds[no] = Refund(no, p.key.voucher_no, p.amount_fen, ret.reason, now, notice_no=notice_no)
        self.s.refund_lines[no] = _lines(p, payee, payee["details"])
        return effects

    def _reports(self, now: dt.datetime) -> list[Effect]:
        core, c = self.core, self.core.config
        today = now.date()
        bank = (core.bank_code, c.bank_name)
        effects: list[Effect] = []
        for no, cr in sorted(self.s.credits.items(), key=lambda kv: (kv[1]["day"], kv[0])):
            if cr["day"] >= format_ymd(today):
                continue
            del self.s.credits[no]
            head, details = rp.credit_notice(no=cr["no"], today=today, adm_div_code=c.adm_div_code, bank=bank,
                                             payment=no, credit=cr)
            effects.append(SendVoucher("7103", 0, head, details, "treasury"))
        for day in sorted(d for d in self.s.daily if d < format_ymd(today) and d not in self.s.reported_days):
            self.s.reported_days.add(day)
            lines = self.s.daily.pop(day)
            head, details = rp.daily_report(f"RB{core.bank_code[-4:]}{day}", dt.date(int(day[:4]), int(day[4:6]),
                                            int(day[6:])), today, c.adm_div_code, bank, lines)
            effects.append(SendVoucher("2206", 0, head, details, "treasury"))
        effects += self._nil_reports(today)
        for month in sorted(m for m in {*self.s.monthly, *self.s.stated}
                            if m < rp.month_of(today) and m not in self.s.reported_months):
            self.s.reported_months.add(month)
            lines = self.s.monthly.pop(month, {})
            if lines:
                head, details = rp.monthly_report(f"YB{core.bank_code[-4:]}{month}", month, today, c.adm_div_code,
                                                  bank, lines)
                effects.append(SendVoucher("4004", 0, head, details, "treasury"))
            stated = self.s.stated.pop(month, {})
            if stated:
                head, details = rp.monthly_statement(f"DZ{core.bank_code[-4:]}{month}", month, today,
                                                     c.adm_div_code, bank, stated)
                effects.append(SendVoucher("3501", 0, head, details, "treasury"))
                for head, details in rp.unit_statements(f"DW{core.bank_code[-4:]}{month}", month, today,
                                                        c.adm_div_code, bank, stated):
                    effects.append(SendVoucher("7104", 0, head, details, "treasury"))
        return effects + self._reserve_statements(today)

    def _reserve_moved(self, e: PostTransfer, now: dt.datetime) -> None:
        """Note a booking on the clearing reserve account for the month's reserve statement."""
        t, reserve = e.transfer, self.core.accounts["reserve"]
        if reserve not in (t.debit_account, t.credit_account):
            return
        day = t.business_date or now.date()
        self.s.reserve_next = self.s.reserve_next or rp.month_of(day)
        month = max(rp.month_of(day), self.s.reserve_next)  # a booking dated in a month stated: in the next
        moves = self.s.reserve_moves.setdefault(month, {})
        if t.id in moves or sum(len(m) for m in self.s.reserve_moves.values()) >= RESERVE_MOVES_MAX:
            return
        try:  # a voucher key names the voucher moved for; another reference (a clearing request) none
            ori = VoucherKey.parse(t.reference)
            vt, no = ori.vtcode, ori.voucher_no
        except VoucherKeyError:
            vt, no = "", ""
        fen = t.amount_fen if t.credit_account == reserve else -t.amount_fen
        moves[t.id] = rs.Movement(format_ymd(day), rs.MOVE_TYPES.get(t.kind, rs.OTHER_MOVE), vt, no, fen)

    def _reserve_statements(self, today: dt.date) -> list[Effect]:
        """The reserve statement (7203) of every month before `today`'s not stated yet, from the
        month the reserve first moved: a month without movements carries the balance."""
        core, c = self.core, self.core.config
        effects: list[Effect] = []
        while self.s.reserve_next and self.s.reserve_next < rp.month_of(today):
            month = self.s.reserve_next
            moves = list(self.s.reserve_moves.pop(month, {}).values())
            head, details = rs.reserve_statement(f"BZ{core.bank_code[-4:]}{month}", month, today, c.adm_div_code,
                                                 (core.bank_code, c.bank_name), self.s.reserve_balance, moves)
            self.s.reserve_balance += sum(m.fen for m in moves)
            effects.append(SendVoucher(rs.RESERVE_STATEMENT_VTCODE, 0, head, details, "treasury"))
            _, last = rs.month_bounds(month)
            self.s.reserve_next = rp.month_of(last + dt.timedelta(days=1))
        return effects

    def _reserve_signed_off(self, doc: VoucherDoc, key: str) -> list[Effect]:
        """The treasury's receipt of a reserve statement (7203) or a unit's statement (7104, the
        unit's sign-off sheet): the sign-off; a disagreement is alarmed."""
        month = doc.get("BeginDate")[:6] + (f"/{doc.get('AgencyCode')}" if doc.vtcode == "7104" else "")
        if month in self.s.reserve_sign_offs:
            return []
        self.s.reserve_sign_offs[month] = (doc.get("XCheckResult"), doc.get("XCheckDate"), doc.get("XCheckRemark"))
        if doc.get("XCheckResult") == "0":
            return []
        self.s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"),
                                       0))] = "amount-mismatch"
        return [Alarm("amount-mismatch", f"the treasury disagrees with reserve statement {doc.get('VoucherNo')}: "
                      f"{doc.get('XCheckRemark')}", key)]

    def _nil_reports(self, today: dt.date) -> list[Effect]:
        """The nil 2206 (PayAmt 0.00, no Detail) of every business day before `today` with nothing
        cleared or refunded: a day with nothing still gets its report."""
        if not self.s.next_day:
            return []
        core, c = self.core, self.core.config
        effects: list[Effect] = []
        d = dt.date(int(self.s.next_day[:4]), int(self.s.next_day[4:6]), int(self.s.next_day[6:]))
        while d < today:
            day = format_ymd(d)
            if core.calendar.is_business_day(d) and day not in self.s.reported_days and day not in self.s.daily:
                self.s.reported_days.add(day)
                head, details = rp.daily_report(f"RB{core.bank_code[-4:]}{day}", d, today, c.adm_div_code,
                                                (core.bank_code, c.bank_name), {})
                effects.append(SendVoucher("2206", 0, head, details, "treasury"))
            d += dt.timedelta(days=1)
        self.s.next_day = max(self.s.next_day, format_ymd(today))
        return effects

    # --- snapshots ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        s = self.s
        return {
            "returns": [[r.voucher_no, datetime_to_plain(r.at), r.reason] for _, r in sorted(s.returns.items())],
            "payees": s.payees,
            "refunds": [[r.no, r.voucher, r.amount_fen, r.reason, datetime_to_plain(r.returned_at), r.state, r.code,
                         r.notice_no] for r in s.refunds.values()],
            "daily": {k: [[list(line), fen] for line, fen in v.items()] for k, v in s.daily.items()},
            "monthly": {k: [[list(line), fen] for line, fen in v.items()] for k, v in s.monthly.items()},
            "reported_days": sorted(s.reported_days), "reported_months": sorted(s.reported_months),
            "sign_offs": {k: list(v) for k, v in s.sign_offs.items()},
            "held": [[datetime_to_plain(t), send_to_plain(e)] for t, e in s.held],
            "seen": s.seen, "sent_at": {k: datetime_to_plain(v) for k, v in s.sent_at.items()},
            "refusals": s.refusals, "counts": s.counts,
            "corrections": {k: send_to_plain(v) for k, v in s.corrections.items()},
            "corrupt": sorted(s.corrupt), "probes": s.probes, "seq": s.seq, "credits": s.credits,
            "refund_lines": {k: [[list(line), fen] for line, fen in v] for k, v in s.refund_lines.items()},
            "next_day": s.next_day,
            "uncleared": {k: [[list(line), fen] for line, fen in v] for k, v in s.uncleared.items()},
            "stated": {k: [[list(line), fen] for line, fen in v.items()] for k, v in s.stated.items()},
            "reserve_moves": {k: [[tid, *m] for tid, m in v.items()] for k, v in s.reserve_moves.items()},
            "reserve_balance": s.reserve_balance, "reserve_next": s.reserve_next,
            "reserve_sign_offs": {k: list(v) for k, v in s.reserve_sign_offs.items()},
            "notices": {k: send_to_plain(v) for k, v in s.notices.items()},
            "requests": {k: [h, n] for k, (h, n) in s.requests.items()}, "refiled": s.refiled,
        }

    def load_snapshot(self, data: Mapping[str, Any] | None) -> None:
        returns = {r.voucher_no: r for r in self.config.payee_returns}
        if data is None:
            self.s = _State(returns=returns)
            return
        s = _State(returns={})
        for r in data["returns"]:
            if isinstance(r, str):  # a snapshot of before notices: the return of the configuration
                s.returns[r] = returns[r]
            else:
                when = datetime_from_plain(r[1])
                assert when is not None
                s.returns[r[0]] = PayeeReturn(r[0], when, r[2])
        s.payees = dict(data["payees"])
        for no, voucher, fen, reason, when, state, code, notice_no in data["refunds"]:
            returned = datetime_from_plain(when)
            assert returned is not None
            s.refunds[no] = Refund(no, voucher, int(fen), reason, returned, state, code, notice_no)
        s.daily = {k: {_line(line): int(fen) for line, fen in v} for k, v in data["daily"].items()}
        s.monthly = {k: {_line(line): int(fen) for line, fen in v} for k, v in data["monthly"].items()}
        s.reported_days, s.reported_months = set(data["reported_days"]), set(data["reported_months"])
        s.sign_offs = {k: (v[0], v[1], v[2]) for k, v in data["sign_offs"].items()}
        s.held = []
        for when, e in data["held"]:
            t = datetime_from_plain(when)
            assert t is not None
            s.held.append((t, send_from_plain(e)))
        s.seen = {k: int(v) for k, v in data["seen"].items()}
        s.sent_at = {k: t for k, v in data["sent_at"].items() if (t := datetime_from_plain(v)) is not None}
        s.refusals, s.counts = dict(data["refusals"]), {k: int(v) for k, v in data["counts"].items()}
        s.corrections = {k: send_from_plain(v) for k, v in data["corrections"].items()}
        s.corrupt, s.probes, s.seq = set(data["corrupt"]), dict(data["probes"]), int(data["seq"])
        s.credits = {k: dict(v) for k, v in data.get("credits", {}).items()}
        s.refund_lines = {k: [(_line(line), int(fen)) for line, fen in v] for k, v in data.get("refund_lines", {}).items()}
        s.uncleared = {k: [(_line(line), int(fen)) for line, fen in v] for k, v in data.get("uncleared", {}).items()}
        s.next_day = str(data.get("next_day", ""))
        s.stated = {k: {_line(line): int(fen) for line, fen in v} for k, v in data.get("stated", {}).items()}
        s.reserve_moves = {k: {str(tid): rs.Movement(str(day), str(mt), str(vt), str(no), int(fen))
                               for tid, day, mt, vt, no, fen in v} for k, v in data.get("reserve_moves", {}).items()}
        s.reserve_balance, s.reserve_next = int(data.get("reserve_balance", 0)), str(data.get("reserve_next", ""))
        s.reserve_sign_offs = {k: (v[0], v[1], v[2]) for k, v in data.get("reserve_sign_offs", {}).items()}
        s.notices = {k: send_from_plain(v) for k, v in data.get("notices", {}).items()}
        s.requests = {k: (dict(h), int(n)) for k, (h, n) in data.get("requests", {}).items()}
        s.refiled = dict(data.get("refiled", {}))
        self.s = s


def _line(value: Sequence[str]) -> rp.Line:
    """A tally line from a snapshot (one written before projects were tallied has 9 fields)."""
    a, b, c, d, e, f, g, h, i, *pro = (str(x) for x in value)
    j, k = [*pro, "", ""][:2]
    return (a, b, c, d, e, f, g, h, i, j, k)


def _lines(p: Payment, head: Mapping[str, Any], details: Sequence[Mapping[str, Any]]) -> list[tuple[rp.Line, int]]:
    """The tally lines of payment `p` (its voucher's head and details), with the fen of each."""
    rows = details or [{"AgencyCode": head.get("AgencyCode"), "AgencyName": head.get("AgencyName"),
                        "ExpFuncCode": head.get("ExpFuncCode"), "ExpFuncName": head.get("ExpFuncName"),
                        "PayAmt": head.get("PayAmt")}]
    return [((p.pay_type, p.fund_type[0], p.fund_type[1], p.sup_dep[0], p.sup_dep[1],
              str(d.get("AgencyCode") or head.get("AgencyCode") or ""),
              str(d.get("AgencyName") or head.get("AgencyName") or ""), str(d.get("ExpFuncCode") or ""),
              str(d.get("ExpFuncName") or ""), str(d.get("ProCode") or ""), str(d.get("ProName") or "")),
             parse_fen(str(d.get("PayAmt") or "0.00"))) for d in rows]
