"""The treasury's notices a bank confirms by receipt (XConfirmDate): authorized quota notices
(7101, `bank_sim.quotas`), quota reductions (7106, 额度追减, 003 §22), year-end cancellation and
carry-forward (7301 / 7302) and payment
suspension orders and their lifts (7501, `bank_sim.suspensions`). A notice the bank cannot apply
is refused whole: no receipt, an alarm, nothing changed. A redelivery is confirmed again.
"""

from __future__ import annotations

import datetime as dt

from bank_sim import quotas
from bank_sim import suspensions as susp
from bank_sim.state import BankState, Ctx
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["QUOTA_REDUCTION_VTCODE", "applied_key", "quota_lines_of", "quota_notice", "quota_notice_key", "quota_notice_of",
           "reduction_notice", "suspension",
           "year_end_notice"]

QUOTA_REDUCTION_VTCODE = "7106"  # 财政授权支付额度追减通知书, the project's own code (003 §22)


def quota_lines_of(doc: VoucherDoc) -> list[quotas.LineKey]:
    """The quota lines a 7101 / 7106 / 7301 names (7302: the old year's): what the books check after it."""
    to_year = doc.get("ToYear")
    year = str(int(to_year) - 1) if doc.vtcode == "7302" and to_year.isdigit() else doc.get("StYear")
    fund = doc.get("FundTypeCode")
    return [(doc.get("AdmDivCode"), year, fund, d.get("AgencyCode", ""), d.get("ExpFuncCode", ""), d.get("ProCode", "")) for d in doc.details()]


def _receipt(doc: VoucherDoc, now: dt.datetime, *, details: bool = True) -> SendVoucher:
    head = {**doc.head(), "XConfirmDate": format_ymd(now.date())}
    return SendVoucher(doc.vtcode, 1, head, tuple(doc.details()) if details else (), "treasury", original=doc.data,
                       encoding=doc.encoding)


def _arrivals(ctx: Ctx, doc: VoucherDoc, lines: list[quotas.NoticeLine], now: dt.datetime) -> list[Effect]:
    return [SendVoucher("7102", 0, n_head, n_details, "treasury")
            for n_head, n_details in quotas.arrival_notices(doc.head(), lines, now.date(), ctx.bank_code,
                                                            ctx.config.bank_name)]


def quota_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 7101: add its lines (`bank_sim.quotas`), confirm it (receipt with XConfirmDate) and send
    each unit its quota arrival notice (7102) at once: within the 1 + 1 working days (004 part 3 §9(2))
    by construction, unless the profile holds it."""
    no = doc.get("VoucherNo")
    receipt = _receipt(doc, now)
    # each division's treasury numbers its own notices, each budget year afresh (the voucher's key)
    adm, year = doc.get("AdmDivCode"), doc.get("StYear")
    seen = quota_notice_key(no, adm, year)
    if seen in st.quota_notices:
        return [receipt]  # redelivered: confirmed before, counted once
    lines = quotas.notice_lines(adm, year, doc.get("FundTypeCode"), doc.details())
    refused = (f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}"
               if doc.get("PayBankCode") != ctx.bank_code
               else quotas.grant(st.quota_book, no, lines,
                                 quotas.direct_keys(adm, year, doc.get("FundTypeCode"), doc.details())))
    if refused is not None:
        return [Alarm("quota-notice-invalid", f"authorized quota notice {no} refused: {refused}", str(key))]
    st.quota_notices[seen] = now
    return [receipt, *_arrivals(ctx, doc, lines, now)]


def quota_notice_key(no: str, adm: str, year: str) -> str:
    """Where `BankState.quota_notices` keeps 7101 `no` of division `adm` and budget year `year`:
    "<AdmDivCode>/<StYear>/<VoucherNo>" (`quota_notice_of` reads it back)."""
    return f"{adm}/{year}/{no}"


def applied_key(doc: VoucherDoc) -> str:
    """Where `BankState.year_end_notices` keeps a 7106 / 7301 / 7302 / 5253 applied: its voucher's key
    without the flag, "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>" (each division numbers its own, each
    year afresh)."""
    return f"{doc.get('AdmDivCode')}/{doc.get('StYear')}/{doc.vtcode}/{doc.get('VoucherNo')}"


def quota_notice_of(seen: str) -> tuple[str, str, str]:
    """(AdmDivCode, StYear, VoucherNo) of a `quota_notice_key`."""
    adm, year, no = seen.split("/", 2)
    return adm, year, no


def reduction_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 7106 (额度追减, 003 §22): take each line's amount off what the bank may still pay of it
    (`bank_sim.quotas.reduce`), confirm it (receipt with XConfirmDate) and tell each unit (7102
    with OriVtCode 7106). One the bank cannot apply (another bank's, not authorized quota, a line
    missing or an amount above what remains of it, named) is refused whole: no receipt, an alarm
    `quota-reduction-refused`, nothing changed. A redelivery is confirmed again, applied once."""
    no = doc.get("VoucherNo")
    receipt = _receipt(doc, now)
    seen = applied_key(doc)
    if seen in st.year_end_notices:
        return [receipt]
    lines = quotas.notice_lines(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("FundTypeCode"), doc.details())
    if doc.get("PayBankCode") != ctx.bank_code:
        refused: str | None = f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}"
    elif doc.get("PayTypeCode") != "12":
        refused = f"PayTypeCode {doc.get('PayTypeCode')}: the bank keeps authorized quota (12) only"
    else:
        refused = quotas.reduce(st.quota_book, lines)
    if refused is not None:
        return [Alarm("quota-reduction-refused", f"quota reduction notice {no} refused: {refused}", str(key))]
    st.year_end_notices[seen] = now
    return [receipt, *_arrivals(ctx, doc, lines, now)]


def year_end_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 7301 (cancel the remaining quota of year StYear) or 7302 (carry it from ToYear - 1 to
    ToYear), 004 part 5 §6: apply it (`bank_sim.quotas`), confirm it (receipt with
    XConfirmDate) and tell each unit (7102 naming the notice by OriVtCode / OriVoucherNo: the
    seed's 注销到账通知单 / 结转到账通知单). A notice the book cannot honour (a line missing or
    short) is refused whole: no receipt, an alarm, nothing changed."""
    no = doc.get("VoucherNo")
    receipt = _receipt(doc, now)
    seen = applied_key(doc)
    if seen in st.year_end_notices:
        return [receipt]  # redelivered: confirmed before, applied once
    to_year = doc.get("ToYear")
    year = str(int(to_year) - 1) if doc.vtcode == "7302" and to_year.isdigit() else doc.get("StYear")
    lines = quotas.notice_lines(doc.get("AdmDivCode"), year, doc.get("FundTypeCode"), doc.details())
    if doc.get("PayBankCode") != ctx.bank_code:
        refused: str | None = f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}"
    elif doc.get("PayTypeCode") != "12":
        refused = f"PayTypeCode {doc.get('PayTypeCode')}: the bank keeps authorized quota (12) only"
    elif doc.vtcode == "7301":
        refused = quotas.cancel(st.quota_book, lines)
    else:
        refused = quotas.carry(st.quota_book, no, to_year, lines)
    if refused is not None:
        return [Alarm("quota-notice-invalid", f"year-end quota notice {doc.vtcode} {no} refused: {refused}",
                      str(key))]
    st.year_end_notices[seen] = now
    return [receipt, *_arrivals(ctx, doc, lines, now)]


def suspension(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 7501 (000 五(二)3): SuspendAction 1 puts the order of its division, year and OrderNo in
    force, 2 lifts it (`bank_sim.suspensions`: `order_key`, `ended_by`). Confirmed by a receipt with
    XConfirmDate; one the bank cannot apply (another bank's, a lift of an order not held, an
    order's key reused for another scope) is refused whole: no receipt, an alarm, nothing changed.
    A redelivery is confirmed again."""
    receipt = _receipt(doc, now, details=False)
    order = susp.order_from_head(doc.head())
    refused: str | None = None
    if doc.get("PayBankCode") != ctx.bank_code:
        refused = f"PayBankCode {doc.get('PayBankCode')} is not bank {ctx.bank_code}"
    elif order is None:
        refused = "the order names no scope (AgencyCode, PayAcctNo or PayeeAcctNo) or more than one"
    elif doc.get("SuspendAction") == "1":
        standing = st.suspensions.get(order.key)
        if order.key in st.lifted_suspensions:
            refused = f"order {order.key} was lifted; a new order takes a new OrderNo"
        elif standing is not None and (standing.element, standing.value) != (order.element, order.value):
            refused = f"order {order.key} stands for {standing.element} {standing.value}, not {order.element} {order.value}"
        else:
            st.suspensions[order.key] = order
    elif doc.get("SuspendAction") == "2":
        ends = susp.ended_by(st.suspensions, order)
        if ends is not None:
            del st.suspensions[ends]
            st.lifted_suspensions.append(ends)
        elif not susp.lifted_before(st.lifted_suspensions, order):
            refused = (f"lift of order {order.order_no} of division {order.adm_div_code} for {order.element} "
                       f"{order.value}, which this bank does not hold")
    else:
        refused = f"SuspendAction {doc.get('SuspendAction')!r} (1 suspend, 2 lift)"
    if refused is not None:
        return [Alarm("suspension-order-invalid", f"payment suspension {doc.get('VoucherNo')} refused: {refused}",
                      str(key))]
    return [receipt]
