"""Payee returns refunded to the central bank (`bank_sim.refunds` builds the messages).

`DutiesConfig.payee_returns` (a scenario's `returns:`) or a payee bank's notice (2252) says
which payment comes back when; a return waits until its payment's clearing request was
accepted, then the money is booked back and the 2302 goes to the central bank. Its receipt,
accepted, moves the money on, gives an 8202's unit quota line back and sends the refund notice
(2203 / 7105) to the treasury: the refund is cleared (003 §36). Refused, it raises the central
bank's code; `below-clearing-floor` is filed again after the next accepted clearing.
"""

from __future__ import annotations

import datetime as dt

from bank_sim import batches, quotas
from bank_sim import refunds as rf
from bank_sim.accounts import open_account, transfer
from bank_sim.config import refunds_account
from bank_sim.payee_records import keep_payee, packed_payee, payee_of, pop_payee
from bank_sim.refunds import PayeeReturn
from bank_sim.reporting import lines_of, tally_off
from bank_sim.serials import serial_text
from bank_sim.state import (
    BankState,
    Ctx,
    DutiesState,
    Filing,
    Payment,
    Refund,
)
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.return_reason import reason_code
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["PAYEE_BANK_NOTICE", "after_clearing", "due_returns", "numbered", "payee_bank_notice", "refund_receipt"]

# A refund the central bank refused `below-clearing-floor` is filed again (a new 2302) after the
# bank's next accepted clearing has put money in its clearing account; after this many filings
# the refusal stands (alarmed, the money stays in the refunds account).
REFUND_FILINGS_MAX = 3
# Refusals of a 2302 that filing it again can cure: the clearing account was short for now.
REFILABLE = frozenset({"below-clearing-floor"})
# The payee-bank refund notice (收款行退款通知): a payee's bank tells the paying bank money came back.
PAYEE_BANK_NOTICE = "2252"


def after_clearing(ctx: Ctx, st: BankState, now: dt.datetime) -> list[Effect]:
    """A clearing was accepted: refunds refused for want of money go again, returns waiting for it go."""
    return _refile(ctx, st, now) + due_returns(ctx, st, now)


def payee_bank_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: str, now: dt.datetime) -> list[Effect]:
    """A payee's bank returned the money of one of our payments (2252): refund it as soon as its
    clearing was accepted (now, or when it is). The notice must name a payment this bank paid
    (OriVtCode, OriVoucherNo, AdmDivCode), its payee (PayeeAcctNo) and its whole PayAmt, or a
    batch line still paid to that payee for the line's amount: so notices for one payment never
    return more than it paid (a payment or a line comes back once). Anything else (a payment
    never paid, another amount, a return already made or a notice told again) is alarmed and
    nothing moves."""
    s = st.duties
    ori = doc.get("OriVoucherNo")
    reason = next((r for r, (code, _) in rf.RETURN_REASONS.items() if code == doc.get("ReturnReasonCode")),
                  "account-closed")
    try:
        fen = parse_fen(doc.get("PayAmt") or "0.00")
    except ValueError:
        fen = -1
    # the payments it names: its number of its division (AdmDivCode) and kind (OriVtCode), paid; of
    # several (other years), the latest it matches (payee and amount, or a batch line)
    named = [p for p in numbered(st, ori)
             if p.vtcode == doc.get("OriVtCode") and p.key.adm_div_code == doc.get("AdmDivCode") and p.day is not None]
    ret: PayeeReturn | None = None
    batch = False
    for paid in reversed(named):
        slot = st.slot(paid)
        payee = payee_of(s, slot, ctx.archive)  # None: used up by a return
        batch = batch or slot in st.batches
        if payee is None:
            continue
        line = batches.line_of_notice(st, slot, doc) if slot in st.batches and batches.is_batch(payee["details"]) \
            else None
        whole = slot not in st.batches and fen == paid.amount_fen and payee["PayeeAcctNo"] == doc.get("PayeeAcctNo")
        if (whole or line) and PayeeReturn(slot, now, reason, line or "").key not in s.returns:
            ret = PayeeReturn(slot, now, reason, line or "")
            break
    if ret is None:
        why = "names no payment of this bank" if not named else \
            f"does not match payment {ori} (already returned, or not its payee and amount" + \
            (", nor a line of the batch still paid to that payee)" if batch else ")")
        return [Alarm("refund-unmatched", f"payee-bank refund notice {doc.get('VoucherNo')} {why}", key)]
    s.returns[ret.key] = ret
    return due_returns(ctx, st, now)


def numbered(st: BankState, no: str) -> list[Payment]:
    """Every payment kept whose original's VoucherNo is `no`, in arrival order (`BankState.numbered`)."""
    return st.numbered(no)


def due_returns(ctx: Ctx, st: BankState, now: dt.datetime) -> list[Effect]:
    s = st.duties
    effects: list[Effect] = []
    # only the returns already due look their payments up (a return planned days ahead made every
    # clearing receipt and every duties wake-up scan all the bank's payments)
    if not any(r.at <= now for r in s.returns.values()):
        return effects
    for rkey, ret in sorted(s.returns.items(), key=lambda kv: (kv[1].at, kv[0])):
        # a return names its payment's slot (`BankState.slot`): a 2252's the payment it matched, a
        # configured one's a VoucherNo (the first payment of it)
        no = ret.voucher_no
        p = st.payments.get(no)
        if ret.at > now or p is None or p.day is None or p.filing is None:
            continue
        filing = st.filings.get(p.filing)
        if filing is None or filing.state != "accepted" or not _payee_at_hand(ctx, s, no):
            continue
        del s.returns[rkey]
        effects += _refund(ctx, st, p, filing, ret, now)
    return effects


def _payee_at_hand(ctx: Ctx, s: DutiesState, no: str) -> bool:
    """The payee of payment `no` is in the state for its return: brought back from the archive if
    need be (a return takes it from the state)."""
    if no in s.payees:
        return True
    packed = packed_payee(s, no, ctx.archive)
    if packed is None:
        return False
    keep_payee(s, no, packed)
    return True


def _refund(ctx: Ctx, st: BankState, p: Payment, filing: Filing, ret: PayeeReturn, now: dt.datetime) -> list[Effect]:
    c, s = ctx.config, st.duties
    today = now.date()
    s.seq += 1
    no = f"TK{ctx.bank_code[-4:]}{format_ymd(today)}{s.seq:05d}"
    slot = ret.voucher_no  # the payment's (`due_returns`)
    if ret.line:  # one line of a batch: the rest stay paid (bank_sim.batches)
        line = batches.bounce(st, slot, ret.line, no)
        kept = payee_of(s, slot)
        assert kept is not None  # due_returns: only payments whose payee is kept
        payee, details, amount, ref = batches.payee_of(kept, line), [line.detail], \
            line.fen, f"{p.key}#{ret.line}"
    else:
        payee = pop_payee(s, slot)
        details, amount, ref = payee["details"], p.amount_fen, str(p.key)
    zba = ctx.accounts["zba-finance"] if p.pay_type == "11" else f"bank:{ctx.bank_code}:zba-unit:{payee['AgencyCode']}"
    refunds = refunds_account(ctx.bank_code)
    effects: list[Effect] = []
    if refunds not in st.opened:
        effects.append(open_account(st, ctx, refunds, "returned money awaiting refund to the TSA", "refunds"))
    if zba not in st.opened:
        effects.append(open_account(st, ctx, zba, f"zero-balance account of unit {payee['AgencyCode']}",
                                    "unit-zero-balance"))
    effects.append(transfer(st, f"bank:{ctx.bank_code}:payee-return:{ref}", ctx.accounts["payees"], zba,
                            amount, "payee-return", str(p.key), today))
    effects.append(transfer(st, f"bank:{ctx.bank_code}:refund-pending:{ref}", zba, refunds,
                            amount, "refund-pending", str(p.key), today))
    named = len(filing.payments) <= rf.CLEARING_DETAILS_MAX  # its 2301 named each payment
    # the refund and its notice go to the division that paid (a bank may serve several), not the bank's own
    adm = p.key.adm_div_code
    ori = (p.vtcode, p.key.voucher_no, payee["VouDate"]) if named else \
        ("2301", filing.voucher_no, format_ymd(filing.filed_at.date()))
    head = rf.refund_request(no=no, today=today, adm_div_code=adm, bank_code=ctx.bank_code,
                             bank_name=c.bank_name, clear_bank=(c.clear_bank_code, c.clear_bank_name), ori=ori,
                             pay_type=p.pay_type, fund_type=p.fund_type, payee=payee, reason=ret.reason,
                             amount_fen=amount)
    effects.append(SendVoucher("2302", 0, head, (), "pboc"))
    notice_no = f"TP{ctx.bank_code[-4:]}{format_ymd(today)}{s.seq:05d}"
    vtcode, nhead, ndetails = rf.notice(no=notice_no, today=today, adm_div_code=adm,
                                        bank_code=ctx.bank_code, bank_name=c.bank_name, vtcode=p.vtcode,
                                        ori_no=p.key.voucher_no, paid_day=p.day or today, fund_type=p.fund_type,
                                        payee=payee, details=details, reason=ret.reason,
                                        serial=serial_text(ctx.bank_code, p), amount_fen=amount)
    s.notices[no] = SendVoucher(vtcode, 0, nhead, ndetails, "treasury")
    s.requests[no] = (head, 1)
    s.refunds[no] = Refund(no, slot, amount, ret.reason, now, notice_no=notice_no, line=ret.line)
    s.refund_lines[no] = lines_of(p, payee, details, c.adm_div_code)
    return effects


def refund_receipt(ctx: Ctx, st: BankState, doc: VoucherDoc, key: str, now: dt.datetime,
                   return_reason: str | None) -> list[Effect]:
    """The central bank's receipt of a 2302: accepted, the money moves on to the clearing account,
    the quota comes back and the treasury is told; refused, the money stays (alarmed)."""
    s = st.duties
    no = doc.get("VoucherNo")
    if no in s.refiled:
        return []  # a redelivered receipt of a refusal already answered by filing again
    refund = s.refunds.get(no)
    if refund is None:
        return [Alarm("unknown-original", "a refund receipt for a request this bank never sent", key)]
    if refund.state != "pending":
        return []
    amount = parse_fen(doc.get("XRefundAmt") or "0.00")
    if return_reason is not None or amount != refund.amount_fen:
        refund.state = "rejected"
        refund.code = reason_code(return_reason) or "amount-mismatch"
        s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), "2302", no, 0))] = refund.code
        again = refund.code in REFILABLE and s.requests.get(no, ({}, REFUND_FILINGS_MAX))[1] < REFUND_FILINGS_MAX
        return [Alarm(refund.code, f"refund request {no} refused: {return_reason or 'amount differs'}; "
                      f"{fen_to_str(refund.amount_fen)} stays in the refunds account"
                      + ("; filed again after the next accepted clearing" if again else ""), key)]
    refund.state = "accepted"
    s.requests.pop(no, None)
    effects: list[Effect] = []
    # cleared back: the unit's quota line is given back (003 §36, "预算单位可按照规定程序重新办理支付申请")
    # and the treasury is told now, so it restores the quota only for money cleared
    if refund.line:  # one line of a batch (a 5201: no unit quota line to give back)
        batches.refunded(st, refund.voucher, refund.line)
    payment = None if refund.line else st.payments.get(refund.voucher)
    if payment is not None and payment.quota_taken:
        # a refund of an earlier budget year's payment does not restore that year's quota: the
        # treasury opens a cross-year refund line for it instead (跨年度退款指标, 003 §36)
        if all(key[1] == str(now.year) for key, _ in payment.quota_lines()):
            quotas.release(st.quota_book, dict(payment.quota_lines()))
        payment.quota_taken = None
    notice = s.notices.pop(no, None)
    if notice is not None:
        head = {**notice.head, "VouDate": format_ymd(now.date()), "StYear": str(now.year)}
        effects.append(SendVoucher(notice.vtcode, 0, head, notice.details, "treasury"))
    tally_off(s, now.date(), s.refund_lines.pop(no, []))
    return [transfer(st, f"bank:{ctx.bank_code}:refund:{no}", refunds_account(ctx.bank_code),
                     ctx.accounts["pboc-clearing"], amount, "refund", key, now.date()), *effects]


def _refile(ctx: Ctx, st: BankState, now: dt.datetime) -> list[Effect]:
    """File again (a new 2302, same refund) each refund refused for a cause a clearing cures."""
    s = st.duties
    effects: list[Effect] = []
    today = now.date()
    for old, refund in sorted(s.refunds.items()):
        head, filings = s.requests.get(old, ({}, REFUND_FILINGS_MAX))
        if refund.state != "rejected" or refund.code not in REFILABLE or filings >= REFUND_FILINGS_MAX:
            continue
        s.seq += 1
        no = f"TK{ctx.bank_code[-4:]}{format_ymd(today)}{s.seq:05d}"
        new = {**head, "Id": f"V2302{no}", "VoucherNo": no, "VouDate": format_ymd(today), "StYear": str(today.year)}
        del s.refunds[old], s.requests[old]
        s.refiled[old] = no
        s.refunds[no] = Refund(no, refund.voucher, refund.amount_fen, refund.reason, refund.returned_at,
                               notice_no=refund.notice_no, line=refund.line)
        if refund.line:
            batches.refiled(st, refund.voucher, refund.line, no)
        s.requests[no] = (new, filings + 1)
        if old in s.notices:
            s.notices[no] = s.notices.pop(old)
        if old in s.refund_lines:
            s.refund_lines[no] = s.refund_lines.pop(old)
        effects.append(SendVoucher("2302", 0, new, (), "pboc"))
    return effects
