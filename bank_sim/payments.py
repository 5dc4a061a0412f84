"""Paying a voucher (5201 direct / 8202 authorized, flag 0): the payment rules, the payment, its
receipt, the vouchers deferred to the next opening, and returns before payment (退票).

The first row of `PAYMENT_RULES` whose condition holds decides (see `bank_sim.core`'s table).
Paid → ledger ZBA (or reserve) → payees, then the receipt (flag 1) with XPayDate, XPayAmt
(= PayAmt), XArriveDate and XAgentBusinessNo (`YH<bank4><yyyymmdd><serial8>`). A redelivered
original gets the same transfer id and the same receipt again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bank_sim import batches, cash, official_cards, quotas, registry
from bank_sim import clearing as clearing_rules
from bank_sim import suspensions as susp
from bank_sim.accounts import open_account, transfer
from bank_sim.config import PAY_TYPE, unit_zba
from bank_sim.filings import file, unfiled_clearing
from bank_sim.flat_lines import flat_pairs
from bank_sim.pay_acct import pack_pay_acct
from bank_sim.reporting import on_paid
from bank_sim.returns import UNIT_RELATIONS, ReturnFacts, check_return
from bank_sim.serials import serial_text
from bank_sim.state import PAID_ON, BankState, Ctx, Mode, Payment
from bank_sim.transfers import arrival, route
from business_time.calendar import if_known
from business_time.clock import at
from ledger.model import AccountFlags, Transfer
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.money import fen_to_str
from messages.return_reason import ReturnReason
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, PostTransfer, SendVoucher

T = TypeVar("T", bound=tuple[Any, ...])
V = TypeVar("V", str, dt.date)

__all__ = ["PAYMENT_RULES", "PaymentRule", "decide", "on_payment", "pay_deferred"]


@dataclass(frozen=True, slots=True)
class Facts:
    pay_bank: str
    now: dt.datetime
    amount_fen: int
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class PaymentRule:
    name: str
    when: Callable[[Ctx, BankState, Facts], bool]
    mode: Mode


def _business_day(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return ctx.calendar.is_business_day(f.now.date())


def _not_ours(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return f.pay_bank != ctx.bank_code


def _before_filing(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return _business_day(ctx, st, f) and f.now < clearing_rules.sweep_instant(f.now.date(), ctx.clock_config)


def _urgent_window(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return f.urgent and _business_day(ctx, st, f) and f.now < clearing_rules.sweep_instant(
        f.now.date(), ctx.clock_config, urgent=True)


def _reserve_covers(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return (_business_day(ctx, st, f) and f.now.time() < ctx.clock_config.bank_system_close
            and f.amount_fen <= st.reserve_balance_fen)


def _always(ctx: Ctx, st: BankState, f: Facts) -> bool:
    return True


# Checked in order; the first whose `when` holds decides (004 part 3 §4, §9(12)).
PAYMENT_RULES: tuple[PaymentRule, ...] = (
    PaymentRule("not-ours", _not_ours, "refuse"),
    PaymentRule("urgent", _urgent_window, "clearing"),
    PaymentRule("clearing", _before_filing, "clearing"),
    PaymentRule("advance", _reserve_covers, "advance"),
    PaymentRule("defer", _always, "defer"),
)


def decide(ctx: Ctx, st: BankState, pay_bank: str, amount_fen: int, now: dt.datetime, *,
           urgent: bool = False) -> PaymentRule:
    facts = Facts(pay_bank, now, amount_fen, urgent)
    for rule in PAYMENT_RULES:
        if rule.when(ctx, st, facts):
            return rule
    raise AssertionError("the last payment rule always matches")


def on_payment(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    known = st.payment(key)
    if known is not None:
        # paid: replay (same transfer id, same receipt); returned: the same return; deferred: not paid yet
        if known.returned is not None:
            return [_returned_receipt(ctx, known, doc)]
        return _paid(ctx, known, doc, doc.head(), doc.details()) if known.day is not None else []
    amount = doc.amount_fen("PayAmt")
    urgent = doc.get("UrgentFlag") == "1"
    rule = decide(ctx, st, doc.get("PayBankCode"), amount, now, urgent=urgent)
    if rule.mode == "refuse":
        return [Alarm("not-authorized", f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}",
                      str(key))]
    pay_type = PAY_TYPE[doc.vtcode]
    agency = doc.get("AgencyCode")
    zba = ctx.accounts["zba-finance"] if pay_type == "11" else _same(unit_zba(ctx.bank_code, agency))
    st.payment_seq += 1
    payment = Payment(key, _shared((doc.get("FundTypeCode"), doc.get("FundTypeName"))),
                      _shared((doc.get("SupDepCode"), doc.get("SupDepName"))), zba, amount, now, rule.mode,
                      agency=_shared((agency, doc.get("AgencyName"))), pay_acct=_own(doc.get("PayAcctNo")),
                      seq=st.payment_seq)
    if urgent and rule.name == "urgent":
        payment.urgent = True
    st.add_payment(payment)
    details = doc.details()  # read once for the checks and the payment (neither changes it)
    # deferred to an opening past the calendar: returned now, before the checks that take a quota share
    returned = _opening_unknown(ctx, now) if rule.mode == "defer" else None
    returned = returned or _arrival_unknown(ctx, doc, now, rule.mode == "defer")
    returned = returned or _return_reason(ctx, st, payment, doc, details)
    if returned is not None:
        return _return(ctx, st, payment, doc, now, returned)
    if rule.mode == "defer":
        payment.raw = doc.data
        st.deferred.append(key)
        return []
    return _pay(ctx, st, payment, doc, now, details)


# One tuple per distinct (code, name) pair and quota line a payment keeps, shared by every payment
# of a day that names it (a busy bank keeps a day's payments: a new tuple each was ~200 bytes a
# payment). A pure memo: the codes of a world are few; cleared if it ever grows past the bound.
_SHARED: dict[tuple[str, ...], Any] = {}
_SHARED_MAX = 100_000


def _shared(t: T) -> T:
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.clear()
    return _SHARED.setdefault(t, t)  # type: ignore[no-any-return]


# The same for the few values every payment of a unit or a day names (its zero-balance account,
# the day it was paid on): one object each instead of one per payment (~50 and 32 bytes).
_SAME: dict[str | dt.date, Any] = {}


def _same(v: V) -> V:
    if len(_SAME) >= _SHARED_MAX:
        _SAME.clear()
    return _SAME.setdefault(v, v)  # type: ignore[no-any-return]


# A text a payment keeps all its day that is not the interned one the parse gave (`VoucherDoc.get`
# interns a head's texts): the interpreter's table of interned texts has a slot for each one alive
# and never shrinks, so a text of its own to each payment (the demo's PayAcctNo) kept until the
# close grew it with the day (a 100,000-voucher day: 2^19 -> 2^20 slots, ~66 bytes a payment). The
# payments naming one text (a unit's account) share one copy while it is in `_OWN` (bounded: a
# unique text each payment would keep the last few thousand alive, no more). An account number of
# digits (no leading zero, at most PACKED_DIGITS_MAX) is kept as its number: a 32-byte int, not an
# 80-byte text (`bank_sim.pay_acct`).
_OWN: dict[str, str | int] = {}
_OWN_MAX = 4_096


def _own(text: str) -> str | int:
    own = _OWN.get(text)
    if own is None:
        if len(_OWN) >= _OWN_MAX:
            _OWN.clear()
        copy = (text + " ")[:-1]  # a new object (a slice of a new text is a copy), not interned
        own = pack_pay_acct(copy)
        _OWN[copy] = own  # keyed by the copy: the interned text is not kept alive by this memo
    return own


def pay_deferred(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    """The opening: pay the vouchers deferred since the last one (they join today's clearing)."""
    effects: list[Effect] = []
    keys, st.deferred = st.deferred, []
    for key in keys:
        p = st.payment(key)
        assert p is not None and p.raw is not None
        doc = parse_voucher(p.raw)
        p.mode = "clearing"
        effects += _pay(ctx, st, p, doc, when)
    return effects


def _pay(ctx: Ctx, st: BankState, p: Payment, doc: VoucherDoc, now: dt.datetime,
         details: list[dict[str, str]] | None = None) -> list[Effect]:
    effects: list[Effect] = []
    if p.account not in st.opened:
        effects.append(open_account(st, ctx, p.account, f"zero-balance account of unit {doc.get('AgencyCode')}",
                                    "unit-zero-balance", AccountFlags.ZERO_AT_CLOSE))
    if p.mode == "advance":
        st.reserve_balance_fen -= p.amount_fen
    day = p.day = _same(now.date())
    if (paid_on := st.__dict__.get(PAID_ON)) is not None:  # `bank_sim.account_feed.paid_on`
        paid_on.setdefault(day, []).append(st.slot(p))
    st.serial += 1
    # the arrival number's int when the two are equal (a bank that pays in the order it receives):
    # one int object a payment, not two (32 bytes each, kept for the run)
    p.serial = p.seq if p.seq == st.serial else st.serial
    # the head and details read once for the receipt and the records below (none of them changes
    # them: each copies what it keeps or changes); each a fresh copy from the doc was ~6 us a payment
    head = doc.head()
    if details is None:
        details = doc.details()
    paid = _paid(ctx, p, doc, head, details)
    for effect in paid:  # book its transfers in the core's own view
        if isinstance(effect, PostTransfer):
            t = effect.transfer
            transfer(st, t.id, t.debit_account, t.credit_account, t.amount_fen, t.kind, t.reference, day)
    p.raw = None
    st.books.paid += 1
    on_paid(ctx, st, p, doc, head, details)
    batches.on_paid(st, p, details)
    official_cards.on_paid(st, p, doc, details)
    if p.urgent:  # cleared at once by an urgent request: the 16:30 deadline is the whole request's
        effects += paid
        return effects + file(ctx, st, [p, *_urgent_companions(st, p)], 0, day, now, urgent=True)
    return effects + paid


def _urgent_companions(st: BankState, urgent: Payment) -> list[Payment]:
    """The payments an urgent request carries besides its urgent one: the same day's, pay type
    and fund type, paid from a zero-balance account and in no request yet (`bank_sim.clearing`).
    Picked from those no request has filed (`filings.unfiled_clearing`), not every payment kept."""
    return [p for p in unfiled_clearing(st) if p is not urgent and p.day == urgent.day
            and p.pay_type == urgent.pay_type and p.fund_type == urgent.fund_type]


def _paid(ctx: Ctx, p: Payment, doc: VoucherDoc, head: dict[str, str], details: list[dict[str, str]],
          ) -> list[Effect]:
    """A paid voucher's effects: the transfer to the payees, then the receipt (`head`, `details`:
    the doc's, read once by the caller; not changed here)."""
    assert p.day is not None
    a = ctx.accounts
    effects: list[Effect] = []
    if p.mode == "advance" and p.account != a["reserve"]:
        # 004 part 3 §9(12): reserve → the zero-balance account → payee
        effects.append(PostTransfer(Transfer(f"bank:{ctx.bank_code}:advance:{p.key}", a["reserve"], p.account,
                                             p.amount_fen, "advance", str(p.key), p.day)))
    kind = ("advance" if p.account == a["reserve"]  # a snapshot of the days before 7202
            else "direct-payment" if p.pay_type == "11" else "authorized-payment")
    t = Transfer(f"bank:{ctx.bank_code}:pay:{p.key}", p.account, a["payees"], p.amount_fen, kind, str(p.key), p.day)
    receipt = {**head, "XPayDate": format_ymd(p.day), "XPayAmt": fen_to_str(p.amount_fen),
               "XAgentBusinessNo": serial_text(ctx.bank_code, p), "XArriveDate": _arrive_date(ctx, p, doc)}
    return [*effects, PostTransfer(t), SendVoucher(doc.vtcode, 1, receipt, tuple(details), "treasury",
                                                   original=doc.data, encoding=doc.encoding)]


def _arrive_date(ctx: Ctx, p: Payment, doc: VoucherDoc) -> str:
    """When the money reaches the payee (`bank_sim.transfers`): the receipt's XArriveDate."""
    assert p.day is not None
    paid_at = p.received_at if p.received_at.date() == p.day else at(p.day, ctx.config.open_time)
    when = arrival(paid_at, route(ctx.bank_code, doc.get("PayeeAcctBankNo")), ctx.calendar,
                   ctx.config.duties.transfers)
    return format_ymd(when.date())


# --- returns before payment ------------------------------------------------------------------


def _next_opening(ctx: Ctx, now: dt.datetime) -> dt.datetime | None:
    """When a voucher deferred at `now` is paid: today's opening if still ahead, else the next
    business day's; None when that day lies past the calendar."""
    day: dt.date | None = now.date()
    if not (ctx.calendar.is_business_day(now.date()) and now.time() < ctx.config.open_time):
        day = ctx.calendar.next_business_day_if_known(now.date())
    return None if day is None else at(day, ctx.config.open_time)


def _opening_unknown(ctx: Ctx, now: dt.datetime) -> str | None:
    """Why a voucher to be paid at the next opening cannot be ("calendar-out-of-range: ..."), or None:
    after the last opening the calendar knows, that opening is on the business day after its last
    day, which nobody described (docs/calendar.md, "The last days known"). Returned unpaid at once,
    the sender told which day is missing, rather than held for a day that may never be simulated."""
    if _next_opening(ctx, now) is not None:
        return None
    return (f"calendar-out-of-range: received {now.isoformat()}, after bank {ctx.bank_code}'s last opening the "
            f"calendar knows: the business day after {ctx.calendar.known_range[1].isoformat()} is unknown "
            "(add the year: `tgw calendar`, docs/calendar.md)")


def _arrival_unknown(ctx: Ctx, doc: VoucherDoc, now: dt.datetime, deferred: bool) -> str | None:
    """Why the receipt of a voucher paid now (or, `deferred`, at the next opening, known) cannot say
    when the money reaches the payee (`XArriveDate`, `bank_sim.transfers`), or None: another bank's
    payee is reached business days later, past the calendar on its last days. Returned unpaid at
    once ("calendar-out-of-range: ..."): the receipt would otherwise carry a guessed day."""
    paid_at = _next_opening(ctx, now) if deferred else now
    if paid_at is None:
        return None  # `_opening_unknown` says why
    how = route(ctx.bank_code, doc.get("PayeeAcctBankNo"))
    if isinstance(if_known(lambda: arrival(paid_at, how, ctx.calendar, ctx.config.duties.transfers)), InputError):
        return (f"calendar-out-of-range: PayeeAcctBankNo {doc.get('PayeeAcctBankNo')} is reached {how}, "
                f"{ctx.config.duties.transfers.other_bank_business_days} business day(s) after "
                f"{paid_at.date().isoformat()}: the business day after "
                f"{ctx.calendar.known_range[1].isoformat()} is unknown (add the year: `tgw calendar`, docs/calendar.md)")
    return None


def _return_reason(ctx: Ctx, st: BankState, p: Payment, doc: VoucherDoc, details: list[dict[str, str]],
                   ) -> str | None:
    """Why the voucher is returned unpaid ("<code>: <message>"), or None. An 8202 within its
    unit's quota takes its share of the quota here (given back if it is not paid after all)."""
    head = doc.head()  # one copy for every check below (none of them changes it)
    unusable = registry.pay_account_problem(st.registry, doc.vtcode, head)  # 7601: open, not closed
    if unusable is not None:
        return unusable
    suspended = susp.match(st.suspensions.values(), head)
    if suspended is not None:
        return (f"payment-suspended: order {suspended.order_no} of division {suspended.adm_div_code} suspends "
                f"payments of {suspended.element} {suspended.value} ({suspended.reason})")
    found = check_return(ReturnFacts(ctx.bank_code, doc.vtcode, head, details,
                                     registry.held(st.registry, dict(ctx.config.payee_accounts)),
                                     registry.relations(st.registry, UNIT_RELATIONS),
                                     pay_day=format_ymd(p.received_at.date())))
    if found is not None:
        return f"{found[0]}: {found[1]}"
    withdrawal = cash.is_cash(head)  # 现金支取: the cash rules, in real time (003 §31; bank_sim.cash)
    day = p.received_at.date()
    if withdrawal:
        refused = cash.check(head, cash.drawn(st.cash_drawn, day, p.agency[0]))
        if refused is not None:
            return f"{refused[0]}: {refused[1]}"
    if p.pay_type == "12":
        taken = quotas.draw(st.quota_book, p.agency[0], details, doc.get("StYear"), doc.get("FundTypeCode"),
                            doc.get("AdmDivCode"))
        if isinstance(taken, quotas.Shortfall):
            return f"{taken.code}: {taken.message}"
        quotas.spend(st.quota_book, taken)
        p.quota_taken = flat_pairs(taken, [p.amount_fen if fen == p.amount_fen else fen for fen in taken.values()])
    if withdrawal:
        cash.record(st.cash_drawn, day, p.agency[0], p.amount_fen)
        p.cash = True
    return None


def _return(ctx: Ctx, st: BankState, p: Payment, doc: VoucherDoc, now: dt.datetime, reason: str) -> list[Effect]:
    """Return the voucher unpaid (退票): its receipt with Return_Reason and XPayAmt 0.00, at once."""
    p.mode, p.returned = "refuse", reason
    p.pay_acct = ""  # never in a reserve list (`bank_sim.close.reserve_list`, its only reader)
    st.serial += 1
    st.books.returned += 1
    p.serial = st.serial
    p.received_at = now
    code = ReturnReason.parse(reason).code
    return [_returned_receipt(ctx, p, doc), Alarm(code, f"returned unpaid: {reason}", str(p.key))]


def _returned_receipt(ctx: Ctx, p: Payment, doc: VoucherDoc) -> SendVoucher:
    head = {**doc.head(), "XPayDate": format_ymd(p.received_at.date()), "XPayAmt": "0.00",
            "XAgentBusinessNo": serial_text(ctx.bank_code, p)}
    return SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "treasury", return_reason=p.returned,
                       original=doc.data, encoding=doc.encoding)
