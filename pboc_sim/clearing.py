"""Clearing requests: 2301, flag 0, checked against `CLEARING_RULES`, first failing rule wins.

Accepted: TSA → bank clearing account (`clearing`, or `reserve-replenishment` for ClearType 1),
and the receipt goes back.

**The rejection convention.** Every clearing request gets exactly one answer, a VoucherFlag 1
body of the same voucher key:

* accepted: X-fields XClearDate (today), XClearAmt (= PayAmt), XPbocSerialNo (`RH…`), no
  Return_Reason;
* rejected: `Return_Reason` = "<code>: <message>" with a stable code from `messages.errors`
  (`after-cutoff`, `over-quota`, `no-quota-notice`, `amount-mismatch`, `already-cleared`,
  `wrong-day`, `outside-window`, `insufficient-funds`), and the X-fields filled so the receipt validates:
  XClearDate (today), **XClearAmt "0.00"** (nothing was cleared) and XPbocSerialNo `RJ…`.

A reader can rely on either signal: Return_Reason present ⇔ XClearAmt is 0.00 ⇔ rejected.
The bank sends a corrected request under a new VoucherNo.

**Reserve replenishment (ClearType 1).** A payment the bank makes after the clearing cutoff is
advanced from its clearing reserve account; the central bank cannot see those payments, only
the quota the treasury notified. So the *advance cap* of (bank, pay type, day D) is the part of
D's quota not cleared by D's cutoff. A ClearType 1 request names the advance day as ClearDate;
it is due on `replenishment_day(D)` (the next business day) in the morning ("在下一工作日上午",
004 part 3 §9(12); `replenishment_deadline`), and accepted from then on, on a business day once
the central bank opens (`replenishment_window_start`, the project's own), up to the advance cap
less what was already replenished; it does not use D's quota (it is the rest of it). One that
comes after the morning is late, not refused: the seed sets the bank a deadline, not the central
bank a ground to keep the treasury's reserve short (the scorecard counts it late, `replenishment`). The receipt keeps ClearType 1 and the transfer kind is
`reserve-replenishment`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from business_time.clock import at, is_before_clearing_cutoff, replenishment_day
from messages.dates import format_ymd, parse_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from pboc_sim.cleared import cleared_again, record_cleared
from pboc_sim.config import Ctx, booking_day_unknown
from pboc_sim.quota import quota_line
from pboc_sim.record import decide, move, next_serial
from pboc_sim.state import Decision, PbocState, quota_key
from sim.effects import Effect

__all__ = ["CLEARING_RULES", "ClearingRule", "Request", "check_clearing", "on_clearing", "request"]


@dataclass(frozen=True, slots=True)
class Request:
    """The facts of a 2301 the rules look at."""

    key: VoucherKey
    bank: str
    pay_type: str
    fund_type: str  # FundTypeCode: the request draws on this fund type's quota only
    clear_date: dt.date | None
    clear_type: int
    urgent: bool
    amount_fen: int
    detail_sum_fen: int | None  # None: no details
    payments: tuple[tuple[str, int], ...] = ()  # (Detail/VoucherNo, fen) of the details naming one
    quota_key: str = ""  # the quota line it draws on: quota_key(division, bank, pay type, fund type, ClearDate)


def request(doc: VoucherDoc, key: VoucherKey) -> Request:
    details = doc.details()
    bank, pay_type, fund_type = doc.get("PayBankCode"), doc.get("PayTypeCode"), doc.get("FundTypeCode")
    clear_date = parse_ymd(doc.get("ClearDate"))
    return Request(
        key=key,
        bank=bank,
        pay_type=pay_type,
        fund_type=fund_type,
        clear_date=clear_date,
        clear_type=1 if doc.get("ClearType") == "1" else 0,
        urgent=doc.get("UrgentFlag") == "1",
        amount_fen=doc.amount_fen("PayAmt"),
        detail_sum_fen=sum(parse_fen(d.get("PayAmt", "")) for d in details) if details else None,
        payments=tuple((d["VoucherNo"], parse_fen(d.get("PayAmt", ""))) for d in details if d.get("VoucherNo")),
        quota_key=quota_key(key.adm_div_code, bank, pay_type, fund_type, clear_date),
    )


# ---------------------------------------------------------------- the rules table

# A rule returns None when the request passes, else the human message of the refusal.
RuleCheck = Callable[[Ctx, PbocState, Request, dt.datetime], str | None]


@dataclass(frozen=True, slots=True)
class ClearingRule:
    code: str
    clear_types: frozenset[int]  # 0 normal, 1 reserve replenishment
    check: RuleCheck
    why: str  # the agreement clause, for the docs


def _r_amount(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if r.detail_sum_fen is not None and r.detail_sum_fen != r.amount_fen:
        return f"details add up to {fen_to_str(r.detail_sum_fen)}, PayAmt is {fen_to_str(r.amount_fen)}"
    return None


def _r_cleared(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    no = cleared_again(s.cleared, r.key.adm_div_code, r.bank, r.pay_type, r.payments, (r.clear_date or now.date()).year)
    if no is not None:
        year = (r.clear_date or now.date()).year
        return (f"Detail/VoucherNo {no}: its payments of {year - 1} and {year} (AdmDivCode {r.key.adm_div_code}, "
                f"pay type {r.pay_type}) were both cleared already")
    return None


def _r_today(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if r.clear_date != now.date():
        return f"ClearDate {r.clear_date} is not today {now.date()}"
    return None


def _r_cutoff(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if is_before_clearing_cutoff(now, ctx.calendar, ctx.clock_config, urgent=r.urgent):
        return None
    if not ctx.calendar.is_business_day(now.date()):
        return f"{now.date()} is not a business day"
    cutoff = ctx.clock_config.urgent_cutoff if r.urgent else ctx.clock_config.clearing_cutoff
    kind = "urgent clearing cutoff" if r.urgent else "clearing cutoff"
    return f"received {now:%H:%M:%S}, after the {kind} {cutoff:%H:%M}"


def _r_replenish_day(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if r.clear_date is None:
        return f"ClearDate {r.clear_date} is not a date"
    day = replenishment_day(r.clear_date, ctx.calendar)
    if now.date() < day or not ctx.calendar.is_business_day(now.date()):
        return f"advances of {r.clear_date} are replenished on a business day from {day}, not on {now.date()}"
    return None


def _r_window(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    opens = at(now.date(), ctx.clock_config.replenishment_window_start)
    if now < opens:
        return f"received {now:%H:%M:%S}, before the central bank takes replenishments ({opens:%H:%M})"
    return None


def _r_quota_exists(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if r.quota_key not in s.quotas:
        return (f"no quota notice of AdmDivCode {r.key.adm_div_code} for bank {r.bank}, pay type {r.pay_type}, "
                f"FundTypeCode {r.fund_type}, day {r.clear_date}")
    return None


def _r_quota(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    line = s.quotas[r.quota_key]
    if r.amount_fen > line.remaining_fen:
        return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds the remaining quota {fen_to_str(line.remaining_fen)}"
                f" of {fen_to_str(line.notified_fen)} (FundTypeCode {r.fund_type})")
    return None


def _r_advances(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    line = s.quotas[r.quota_key]
    if r.amount_fen > line.advance_cap_fen:
        return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds the advances of {r.clear_date} left to replenish "
                f"{fen_to_str(line.advance_cap_fen)}")
    return None


def _r_funds(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    if r.amount_fen > s.tsa_balance_fen:
        return f"PayAmt {fen_to_str(r.amount_fen)} exceeds the TSA balance {fen_to_str(s.tsa_balance_fen)}"
    return None


def _r_booking_day(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> str | None:
    return booking_day_unknown(ctx, now)


_N, _R, _BOTH = frozenset({0}), frozenset({1}), frozenset({0, 1})

# Checked in order; the first failure is the answer. (004 part 3 §8(7), §9(11)-(12), 003 §33.)
CLEARING_RULES: tuple[ClearingRule, ...] = (
    ClearingRule("amount-mismatch", _BOTH, _r_amount, "the clearing list sums to the request"),
    ClearingRule("already-cleared", _BOTH, _r_cleared, "a payment is cleared once (the money actually paid)"),
    ClearingRule("wrong-day", _N, _r_today, "a day's payments are cleared that day"),
    ClearingRule("after-cutoff", _N, _r_cutoff, "in by 16:00, urgent (UrgentFlag 1) by 16:30"),
    ClearingRule("wrong-day", _R, _r_replenish_day, "advances are replenished from the next business day"),
    # due that morning (§9(12)); a later one is still the reserve's money: accepted, scored late
    ClearingRule("outside-window", _R, _r_window, "... once the central bank opens (the project's own)"),
    ClearingRule("no-quota-notice", _BOTH, _r_quota_exists, "checked against the treasury's quota"),
    ClearingRule("over-quota", _N, _r_quota, "within the remaining quota of the day"),
    ClearingRule("over-quota", _R, _r_advances, "within the quota left uncleared at the cutoff"),
    ClearingRule("insufficient-funds", _BOTH, _r_funds, "the TSA pays only what it holds"),
    # after the last known day's close: booked on a day nobody described (docs/calendar.md)
    ClearingRule("calendar-out-of-range", _BOTH, _r_booking_day, "money moves on a business day the calendar knows"),
)


def check_clearing(ctx: Ctx, s: PbocState, r: Request, now: dt.datetime) -> tuple[str, str] | None:
    """(code, message) of the first rule the request breaks, or None."""
    for rule in CLEARING_RULES:
        if r.clear_type in rule.clear_types:
            message = rule.check(ctx, s, r, now)
            if message is not None:
                return rule.code, message
    return None


def on_clearing(s: PbocState, ctx: Ctx, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    r = request(doc, key)
    today = now.date()
    refusal = check_clearing(ctx, s, r, now)
    if refusal is not None:
        serial = next_serial(s, "RJ", today)
        return decide(s, key, doc, [], Decision(
            (), {"XClearDate": format_ymd(today), "XClearAmt": "0.00", "XPbocSerialNo": serial},
            return_reason=f"{refusal[0]}: {refusal[1]}"))
    line = quota_line(s, r.quota_key)
    kind = "clearing"
    if r.clear_type == 1:
        line.replenished_fen += r.amount_fen
        kind = "reserve-replenishment"
    else:
        line.used_fen += r.amount_fen
    serial = next_serial(s, "RH", today)
    # a late replenishment may come after the close: booked on the next business day, as a refund is
    booked = ctx.booking_day(now)
    opens, transfer = move(s, doc, key, "D", r.amount_fen, kind, booked, f"pboc:{kind}:{r.bank}:{key}")
    matched = record_cleared(s, r.key.adm_div_code, r.key.st_year, r.key.voucher_no, r.bank, r.pay_type,
                             r.amount_fen, r.payments, (r.clear_date or today).year)
    return decide(s, key, doc, opens, Decision(
        (transfer,), {"XClearDate": format_ymd(booked), "XClearAmt": fen_to_str(r.amount_fen),
                      "XPbocSerialNo": serial}, matched=matched))
