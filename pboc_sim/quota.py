"""Quota notices: 5108 / 5106 (direct 11 / authorized 12), flag 0.

A notice adds to the clearing quota of (AdmDivCode, PayBankCode, pay type, FundTypeCode, ClearDate):
quota is never pooled across fund types nor divisions, so a 2301 of one fund type draws only on its
own fund type's quota (003 §33, 004 part 5 §1), and one of a division only on the quota that
division's treasury notified (each treasury notifies the quota of its own payments, 003 §33). A notice whose ClearDate is not today, or arriving on a day that
is not a business day, is refused `wrong-day`; one whose details do not add up,
`amount-mismatch`. Quota notices have no receipt in the catalog, so a refusal is recorded
(`rejected_notices`) and raised as an `Alarm`; nothing is sent back. Several notices for the
same key add up (a supplementary notice); the same notice again is counted once.
"""

from __future__ import annotations

import datetime as dt

from messages.dates import parse_ymd
from messages.envelope import VoucherKey
from messages.money import parse_fen
from messages.voucher import VoucherDoc
from pboc_sim.config import QUOTA_PAY_TYPE, Ctx
from pboc_sim.state import PbocState, QuotaLine, quota_key
from sim.effects import Alarm, Effect

__all__ = ["on_quota_notice", "quota_line", "refusal"]


def refusal(ctx: Ctx, doc: VoucherDoc, now: dt.datetime) -> tuple[str, str] | None:
    """(code, message) when the notice is refused, else None."""
    pay_type = QUOTA_PAY_TYPE[doc.vtcode]
    amount = doc.amount_fen("PayAmt")  # raises InputError first, as the other checks would not
    details = doc.details()
    if details and sum(parse_fen(d.get("PayAmt", "")) for d in details) != amount:
        return "amount-mismatch", "the details do not add up to PayAmt"
    if doc.get("PayTypeCode", pay_type) != pay_type:
        return "amount-mismatch", f"PayTypeCode {doc.get('PayTypeCode')} in a {doc.vtcode} notice"
    business_day = ctx.calendar.is_business_day(now.date())
    if parse_ymd(doc.get("ClearDate")) != now.date() or not business_day:
        return "wrong-day", (f"quota notice for {doc.get('ClearDate')} received on {now.date()}"
                             + ("" if business_day else ", not a business day"))
    return None


def quota_line(s: PbocState, key: str) -> QuotaLine:
    """The quota line of `key`, a new (empty) one the first time."""
    line = s.quotas.get(key)
    if line is None:
        line = s.quotas[key] = QuotaLine(seq=s.next_seq())
    return line


def on_quota_notice(s: PbocState, ctx: Ctx, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    if str(key) in s.notice_keys:
        return []  # the same notice again: already counted
    refused = refusal(ctx, doc, now)
    if refused is not None:
        s.rejected_notices.append((str(key), *refused))
        return [Alarm(refused[0], f"quota notice refused: {refused[1]}", str(key))]
    bank = doc.get("PayBankCode")
    line = quota_line(s, quota_key(key.adm_div_code, bank, QUOTA_PAY_TYPE[doc.vtcode], doc.get("FundTypeCode"),
                                   parse_ymd(doc.get("ClearDate"))))
    line.notified_fen += doc.amount_fen("PayAmt")
    line.notices.append(str(key))
    s.notice_keys.add(str(key))
    s.bank_names.setdefault(bank, doc.get("PayBankName"))
    return []
