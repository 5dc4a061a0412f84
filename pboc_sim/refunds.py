"""Refund requests: 2302, flag 0, checked against `REFUND_RULES`, first failing rule wins.

Accepted: bank clearing account → TSA (`refund`), receipt with XRefundDate / XRefundAmt, and a
7403 refund-credited advice to the treasury. Booked on today if a business day before the bank
system close, else on the next business day (so a day's statement, emitted at its close, is
final). Refused: the receipt carries `Return_Reason` "<code>: <message>" (`refund-unmatched`,
`already-refunded`, `refund-exceeds-payment`, `below-clearing-floor`), XRefundDate today and
**XRefundAmt "0.00"**; nothing moves, no 7403.

A 2302 names what it refunds by OriVtCode / OriVoucherNo of its AdmDivCode and OriVouDate's year
(matched against `pboc_sim.cleared`, `refund_year`: two budget years' payments of a number are
two); it must be of the same bank (PayBankCode) and pay type as the clearing, and PayAmt must not
exceed what was cleared for it and not yet refunded. A bank whose 2301 details are unit sums
refunds by naming the 2301.

**The clearing floor.** Each bank's clearing account at the central bank must not go below its
floor (`PbocConfig.clearing_floor_fen`, or a per-bank value in `clearing_floors`; 0 by
default). Clearings only credit it; a refund debits it, and one that would take it below its
floor is refused `below-clearing-floor`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str
from messages.voucher import VoucherDoc
from pboc_sim.cleared import refund_targets, refund_year
from pboc_sim.config import PAYMENT_VTCODE, Ctx, booking_day_unknown
from pboc_sim.record import decide, move, next_serial
from pboc_sim.state import ClearedBook, Decision, PbocState, cleared_key, cleared_key_of, flat_matched
from sim.effects import Effect

__all__ = ["REFUND_RULES", "RefundRequest", "RefundRule", "check_refund", "on_refund", "refund_request"]


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """The facts of a 2302 the refund rules look at."""

    key: VoucherKey
    bank: str
    pay_type: str
    ori: str  # cleared_key(AdmDivCode, its year, OriVtCode, OriVoucherNo, PayBankCode): what it says it refunds
    amount_fen: int


def refund_request(doc: VoucherDoc, key: VoucherKey, book: ClearedBook) -> RefundRequest:
    """`doc`'s facts; `book`: what was cleared, for the year of the payment it names (`refund_year`)."""
    bank, adm, vtcode, no = doc.get("PayBankCode"), doc.get("AdmDivCode"), doc.get("OriVtCode"), doc.get("OriVoucherNo")
    year = refund_year(book, adm, vtcode, no, bank, doc.get("OriVouDate")[:4])
    return RefundRequest(key, bank, doc.get("PayTypeCode"), cleared_key(adm, year, vtcode, no, bank),
                         doc.amount_fen("PayAmt"))


# A refund rule returns None when the refund passes, else the human message of the refusal.
RefundCheck = Callable[[Ctx, PbocState, RefundRequest], str | None]


@dataclass(frozen=True, slots=True)
class RefundRule:
    code: str
    check: RefundCheck
    why: str  # the rule's source, for the docs


def _f_matched(ctx: Ctx, s: PbocState, r: RefundRequest) -> str | None:
    adm, year, vtcode, no, _bank = cleared_key_of(r.ori)
    if vtcode != "2301" and vtcode not in PAYMENT_VTCODE.values():
        return (f"OriVtCode {vtcode} is neither a payment voucher ({'/'.join(sorted(PAYMENT_VTCODE.values()))}) "
                "nor a clearing request (2301)")
    item = s.cleared.get(r.ori)
    if item is None:
        return f"nothing was cleared under {vtcode} {no} (AdmDivCode {adm}, year {year}) for PayBankCode {r.bank}"
    if item.pay_type != r.pay_type:
        return f"{vtcode} {no} was cleared as PayTypeCode {item.pay_type}, not {r.pay_type}"
    return None


def _f_not_refunded(ctx: Ctx, s: PbocState, r: RefundRequest) -> str | None:
    for key, item in refund_targets(s, r.ori):
        if item.refundable_fen <= 0:
            _, _, vtcode, no, _ = cleared_key_of(key)
            return (f"{vtcode} {no} was cleared for {fen_to_str(item.cleared_fen)} and refunded in full "
                    f"({fen_to_str(item.refunded_fen)})")
    return None


def _f_amount(ctx: Ctx, s: PbocState, r: RefundRequest) -> str | None:
    for key, item in refund_targets(s, r.ori):
        if r.amount_fen > item.refundable_fen:
            _, _, vtcode, no, _ = cleared_key_of(key)
            return (f"PayAmt {fen_to_str(r.amount_fen)} exceeds what is left to refund of {vtcode} {no}: "
                    f"{fen_to_str(item.refundable_fen)} (cleared {fen_to_str(item.cleared_fen)}, refunded "
                    f"{fen_to_str(item.refunded_fen)})")
    return None


def _f_floor(ctx: Ctx, s: PbocState, r: RefundRequest) -> str | None:
    balance, floor = s.clearing_balances.get(r.bank, 0), ctx.config.clearing_floor(r.bank)
    if balance - r.amount_fen < floor:
        return (f"PayAmt {fen_to_str(r.amount_fen)} would take the clearing account of bank {r.bank} from "
                f"{fen_to_str(balance)} below its floor {fen_to_str(floor)}")
    return None


# Checked in order; the first failure is the answer. (003 §35: returned by the original channel;
# 004 part 3 §8(5), §9(9).) Only a refund debits a bank's clearing account, so the floor is checked here.
REFUND_RULES: tuple[RefundRule, ...] = (
    RefundRule("refund-unmatched", _f_matched, "a refund returns a payment this bank had cleared"),
    RefundRule("already-refunded", _f_not_refunded, "money comes back once"),
    RefundRule("refund-exceeds-payment", _f_amount, "no more than was cleared and not yet refunded"),
    RefundRule("below-clearing-floor", _f_floor, "the bank's clearing account stays at or above its floor"),
)


def check_refund(ctx: Ctx, s: PbocState, r: RefundRequest) -> tuple[str, str] | None:
    """(code, message) of the first refund rule the request breaks, or None."""
    for rule in REFUND_RULES:
        message = rule.check(ctx, s, r)
        if message is not None:
            return rule.code, message
    return None


def on_refund(s: PbocState, ctx: Ctx, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    r = refund_request(doc, key, s.cleared)
    refusal = check_refund(ctx, s, r)
    unknown = booking_day_unknown(ctx, now) if refusal is None else None
    if unknown is not None:  # after the last known day's close: refused, not booked on a guessed day
        refusal = ("calendar-out-of-range", unknown)
    if refusal is not None:
        return decide(s, key, doc, [], Decision(
            (), {"XRefundDate": format_ymd(now.date()), "XRefundAmt": "0.00"},
            return_reason=f"{refusal[0]}: {refusal[1]}"))
    day = ctx.booking_day(now)
    amount = r.amount_fen
    targets = [item_key for item_key, _ in refund_targets(s, r.ori)]
    for item_key in targets:
        item = s.cleared.modify(item_key)
        assert item is not None  # a refund target is known
        item.refunded_fen += amount
    matched = flat_matched((item_key, amount) for item_key in targets)
    opens, transfer = move(s, doc, key, "C", amount, "refund", day, f"pboc:refund:{r.bank}:{key}")
    serial = next_serial(s, "RH", now.date())
    head = {
        "Id": f"V7403{serial}", "AdmDivCode": doc.get("AdmDivCode"), "StYear": str(now.year),
        "VouDate": format_ymd(now.date()), "VoucherNo": serial,
        "OriVtCode": "2302", "OriVoucherNo": doc.get("VoucherNo"), "OriVouDate": doc.get("VouDate"),
        "CreditDate": format_ymd(day), "PayBankCode": doc.get("PayBankCode"), "PayBankName": doc.get("PayBankName"),
        "ClearBankCode": ctx.config.clear_bank_code, "ClearBankName": ctx.config.clear_bank_name,
        "PayTypeCode": doc.get("PayTypeCode"), "FundTypeCode": doc.get("FundTypeCode"),
        "FundTypeName": doc.get("FundTypeName"), "AcctNo": ctx.config.tsa_acct_no,
        "AcctName": ctx.config.tsa_acct_name, "PbocSerialNo": serial, "PayAmt": fen_to_str(amount),
    }
    return decide(s, key, doc, opens, Decision(
        (transfer,), {"XRefundDate": format_ymd(day), "XRefundAmt": fen_to_str(amount)}, advice=head,
        matched=matched))
