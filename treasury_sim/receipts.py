"""Payment receipts (5201 / 8202 flag 1): matched to the voucher sent, once.

A receipt is matched by VoucherNo; XPayAmt must equal PayAmt (else an Alarm `amount-mismatch`).
The same receipt delivered again (at-least-once delivery) is nothing; a second, different receipt
for the same voucher is a double payment (Alarm `duplicate-conflict`, kept in `duplicates`); a
receipt for nothing the treasury sent, `unknown-original`.

A receipt paid on a later business day than the voucher's own (the bank carried it over) gets
that day's quota: `carried_quota` gives a supplementary 5108 / 5106 for that day covering exactly
that voucher, if it is still before the clearing cutoff (after it, the bank's 2301 of the day
could not use it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import msgspec

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from messages.dates import parse_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect
from treasury_sim.clearing_quotas import notice_lines
from treasury_sim.config import TreasuryConfig
from treasury_sim.planning import clearing_quota
from treasury_sim.records import PlannedVoucher, Receipt

__all__ = ["REFUND_NOTICE_OF", "Match", "carried_quota", "is_own", "match_receipt", "paid_in", "refund_problem"]

Match = Literal["unknown", "again", "duplicate", "first"]

# A refund notice's VtCode → the VtCode of the payment it refunds (the notices whose total is capped).
REFUND_NOTICE_OF = {"2203": "5201", "7105": "8202"}


def match_receipt(known: Receipt | None, planned: PlannedVoucher | None, doc: VoucherDoc, key: VoucherKey,
                  now: dt.datetime, return_reason: str | None) -> tuple[Match, Receipt | None, list[Effect]]:
    """What a receipt is, given the voucher planned under its VoucherNo and the receipt `known` for
    it: "unknown" (nothing sent), "again" (the same one redelivered), "duplicate" (a second,
    different one: paid twice?) or "first"; the receipt to keep, and the alarms."""
    if planned is None or planned.vtcode != doc.vtcode or not is_own(planned, key.adm_div_code, key.st_year):
        return "unknown", None, [Alarm("unknown-original", "a receipt for a voucher the treasury never sent", str(key))]
    paid = parse_fen(doc.get("XPayAmt") or "0.00")
    receipt = Receipt(key, doc.get("XPayDate"), paid, doc.get("XAgentBusinessNo"), now, return_reason)
    if known is not None and msgspec.structs.replace(known, received_at=now) == receipt:
        return "again", None, []  # at-least-once delivery, not a second payment
    if known is not None:
        return "duplicate", receipt, [Alarm("duplicate-conflict", f"a second receipt for {planned.voucher_no}: "
                                            "paid twice?", str(key))]
    if return_reason is None and paid != planned.amount_fen:
        return "first", receipt, [Alarm("amount-mismatch", f"paid {fen_to_str(paid)} of "
                                        f"{fen_to_str(planned.amount_fen)}", str(key))]
    return "first", receipt, []


def is_own(planned: PlannedVoucher, adm: str, year: str) -> bool:
    """Whether the voucher of division `adm` and budget year `year` ("": not named) is `planned`:
    a voucher is its key (AdmDivCode, StYear, VtCode, VoucherNo), another division's or year's of
    the same number is not this treasury's."""
    return planned.adm_div_code == adm and year in ("", str(planned.day.year))


def carried_quota(config: TreasuryConfig, calendar: BusinessCalendar, clock_config: ClockConfig,
                  v: PlannedVoucher, receipt: Receipt, now: dt.datetime) -> list[Effect]:
    """A voucher the bank paid on a later business day than its own (carried over) is cleared
    that day: a supplementary clearing quota notice for that day covering exactly it, sent now
    if the day is today and its clearing cutoff has not passed. Advances (paid on the voucher's
    day after the cutoff) are not carried: they are replenished against their own day's quota."""
    paid_day = parse_ymd(receipt.paid_date)
    if (receipt.return_reason is not None or receipt.paid_fen <= 0 or paid_day is None or paid_day <= v.day
            or paid_day != now.date() or not calendar.is_business_day(paid_day)
            or now >= at(paid_day, clock_config.clearing_cutoff)):
        return []
    ((bank, pay_type, fund_type), lines), = notice_lines([v.approved]).items()
    return [clearing_quota(config, f"QS{v.voucher_no}", paid_day, bank, pay_type, fund_type, lines, v.direct_fen)]


def paid_in(receipts: Mapping[str, Receipt], vouchers: Mapping[str, PlannedVoucher], bank: str, begin: str, end: str,
            *, direct: bool = False) -> int:
    """What `bank`'s receipts paid from `begin` to `end` (yyyyMMdd, inclusive): a 3501's check; with
    `direct`, the direct funds (直达资金) of it (the vouchers planned as direct funds)."""
    return sum(vouchers[no].direct_fen if direct else r.paid_fen for no, r in receipts.items()
               if r.return_reason is None and r.paid_fen > 0 and begin <= r.paid_date <= end
               and vouchers[no].bank == bank)


def refund_problem(receipts: Mapping[str, Receipt], vouchers: Mapping[str, PlannedVoucher],
                   refunded: Mapping[str, int], doc: VoucherDoc) -> Alarm | None:
    """Why a refund notice (2203 / 7105) restores nothing: quota comes back for money that came
    back (003 §36), never more than its bank paid. It must name (OriVoucherNo) a payment of its
    kind this treasury sent to that bank (PayBankCode) and the bank paid, for no more than the
    payment paid less what its earlier notices (`refunded`, the payment's key `PlannedVoucher.id` → fen)
    brought back."""
    no, adm = doc.get("OriVoucherNo"), doc.get("AdmDivCode")
    planned, receipt = vouchers.get(no), receipts.get(no)
    kind = REFUND_NOTICE_OF.get(doc.vtcode)
    key = f"{doc.vtcode} {doc.get('VoucherNo')}"
    # the payment of the notice's division (and of its OriVouDate's year, when given): a voucher is its key
    if (planned is None or planned.vtcode != kind or not is_own(planned, adm, doc.get("OriVouDate")[:4])
            or planned.bank != doc.get("PayBankCode") or receipt is None
            or receipt.return_reason is not None or receipt.paid_fen <= 0):
        return Alarm("refund-unmatched", f"refund notice {key} names {kind} {no} of AdmDivCode {adm}, bank "
                     f"{doc.get('PayBankCode')}, which the treasury never saw that bank pay: no quota restored", key)
    fen, already = doc.amount_fen("PayAmt"), refunded.get(planned.id, 0)
    if already + fen > receipt.paid_fen:  # cumulative: two notices each within it may not exceed it together
        return Alarm("refund-exceeds-payment", f"refund notice {key} returns {fen_to_str(fen)} of {kind} {no}, "
                     f"which paid {fen_to_str(receipt.paid_fen)}, {fen_to_str(already)} of it refunded "
                     "already: no quota restored", key)
    return None
