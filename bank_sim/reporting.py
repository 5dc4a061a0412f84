"""The bank's reports to the treasury (`bank_sim.reports` builds them): tallies kept as it pays
and clears, the daily 2206 (nil on a day with nothing), the monthly 4004, 3501 and 7104s, the
clearing reserve statement (7203, `bank_sim.reserve_statement`), the credit notices (7103) of
direct payments, and the treasury's sign-offs (3501 / 7104 / 7203 receipts).

At `report_time` each business day: the 7103s of the days before, the 2206 of every earlier day
not reported yet (net of refunds cleared back), and on the first business day of a month the
4004, 3501 and 7104s of every earlier month with payments, then the 7203 of every month since
the reserve was funded. A tally line (`reports.Line`) is kept under its `line_id` text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bank_sim import reports as rp
from bank_sim import reserve_statement as rs
from bank_sim.flat_lines import flat_pairs
from bank_sim.payee_records import PAYEE, keep_payee, pack_payee
from bank_sim.pending_credits import VOUCHER_FIELDS, credit_day, credit_of, notice_no, pack_credit
from bank_sim.serials import paid_serial
from bank_sim.slots import archive_key, number_of
from bank_sim.state import (
    BankState,
    Ctx,
    DutiesState,
    Move,
    Payment,
    Tally,
)
from messages.dates import format_ymd
from messages.envelope import VoucherKey, VoucherKeyError
from messages.money import parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, PostTransfer, SendVoucher
from sim.flat import paired

__all__ = ["CREDIT_NOTICES_PER_CALL", "credit_notice_no", "credit_page", "due_credits", "keep_credit", "keep_uncleared",
           "line_id", "lines_of", "on_cleared", "on_paid", "reports", "reserve_moved", "sign_off_key", "signed_off",
           "tally_off", "uncleared_lines"]

# Direct payments whose credit notice (7103) waits for the next report time: a day of a busy bank's.
CREDITS_PENDING_MAX = 200_000
# Credit notices (7103) made per duties call: a busy bank's day of them (tens of thousands) made in
# one call was held whole at once (the notices, their JSON as the batch's pending sends, the
# envelopes), the peak of the simulated day. The rest wait for the next call, a microsecond later
# (`credits_more`), and the day's other reports follow the last page, so the bank's sends keep their
# order. 1,000 = one round of the shell's concurrent envelopes (10 x 100 bodies).
CREDIT_NOTICES_PER_CALL = 1_000
# Reserve movements of the months not stated yet (7203): a month of a busy bank's advances and
# replenishments; beyond it a movement is left out of the statement and the treasury sees a break.
RESERVE_MOVES_MAX = 200_000
# Paid payments whose payee elements are kept in the state so a payee's bank can return one (2252),
# when the bank has no archive (`Ctx.archive`, which keeps them all): a few weeks of a busy bank's
# payments; beyond it the oldest are forgotten (a notice naming one is alarmed `refund-unmatched`,
# for a person to refund by hand).
PAYEES_KEPT_MAX = 200_000
_SEP = "\x1f"


def line_id(line: rp.Line) -> str:
    return _SEP.join(line)


_LINE_PARTS = 12  # a report's line (`rp.Line`): what follows is the division (`lines_of`)


def _by_division(tally: Tally) -> dict[str, dict[rp.Line, int]]:
    """A tally's lines by division ("": the bank's configured one, whose lines carry none), each
    line as a report shows it: 12 parts, a line kept before direct funds (11) read as not direct."""
    out: dict[str, dict[rp.Line, int]] = {}
    for k, fen in tally.items():
        parts = k.split(_SEP)
        division = parts[_LINE_PARTS] if len(parts) > _LINE_PARTS else ""
        line = tuple(parts[:_LINE_PARTS]) if len(parts) >= _LINE_PARTS else (*parts, "")
        mine = out.setdefault(division, {})
        mine[line] = mine.get(line, 0) + fen
    return out


def _divisions(tally: Tally, home: str) -> list[tuple[str, dict[rp.Line, int]]]:
    """(AdmDivCode, lines) of each division of `tally`, the configured one (`home`) first and always
    there (its lines may be none), then the others by code: each division's treasury reads its own."""
    groups = _by_division(tally)
    mine = groups.pop("", {})
    return [(home, mine), *sorted(groups.items())]


def lines_of(p: Payment, head: Mapping[str, Any], details: Sequence[Mapping[str, Any]],
             home: str) -> list[tuple[rp.Line, int]]:
    """The tally lines of payment `p` (its voucher's head and details), with the fen of each; a
    payment of another division than the bank's configured one (`home`) has its AdmDivCode last on
    each line, so its reports go to that division's treasury (a tally of the configured division
    alone is as before divisions were told apart)."""
    rows = details or [{"AgencyCode": head.get("AgencyCode"), "AgencyName": head.get("AgencyName"),
                        "ExpFuncCode": head.get("ExpFuncCode"), "ExpFuncName": head.get("ExpFuncName"),
                        "PayAmt": head.get("PayAmt")}]
    division: tuple[str, ...] = () if p.key.adm_div_code == home else (p.key.adm_div_code,)
    return [((p.pay_type, p.fund_type[0], p.fund_type[1], p.sup_dep[0], p.sup_dep[1],
              str(d.get("AgencyCode") or head.get("AgencyCode") or ""),
              str(d.get("AgencyName") or head.get("AgencyName") or ""), str(d.get("ExpFuncCode") or ""),
              str(d.get("ExpFuncName") or ""), str(d.get("ProCode") or ""), str(d.get("ProName") or ""),
              "1" if d.get("DirectFundFlag") == "1" else "", *division),
             parse_fen(str(d.get("PayAmt") or "0.00"))) for d in rows]


def credit_notice_no(p: Payment) -> str:
    """The VoucherNo of the credit notice (7103) of direct payment `p`: "RZ" + its VoucherNo,
    cut to the 42 characters a VoucherNo may have."""
    return notice_no(p.key.voucher_no)


def on_paid(ctx: Ctx, st: BankState, p: Payment, doc: VoucherDoc, head: Mapping[str, str],
            details: Sequence[Mapping[str, str]]) -> None:
    """A voucher was just paid (once; not on a replay): tally it, keep what a return needs (`head`,
    `details`: the doc's, read once by the caller; only read here)."""
    assert p.day is not None
    s = st.duties
    s.next_day = s.next_day or format_ymd(p.day)
    if p.key.adm_div_code != ctx.config.adm_div_code:
        s.divisions.setdefault(p.key.adm_div_code, format_ymd(p.day))
    lines = lines_of(p, head, details, ctx.config.adm_div_code)
    _state_month(s, rp.month_of(p.day), lines, 1)
    keep_uncleared(p, lines)  # into the 2206 / 4004 when its clearing is accepted
    # kept by the payment's slot (`BankState.slot`: its VoucherNo, unless a payment of another
    # division, year or kind has that number): each payment's own payee and notice
    no = st.slot(p)
    if ctx.archive is not None:  # out of the state: read back on a return (`payee_refunds`)
        ctx.archive.put(PAYEE, archive_key(no), pack_payee(head, details))
    else:
        if len(s.payees) >= PAYEES_KEPT_MAX and no not in s.returns:
            oldest = next(iter(s.payees))  # its return is unlikely now
            del s.payees[oldest]
            s.payees_order.pop(oldest, None)
        if len(s.payees) < PAYEES_KEPT_MAX or no in s.returns:
            keep_payee(s, no, pack_payee(head, details))
    if p.vtcode == "5201" and len(s.credits) < CREDITS_PENDING_MAX:
        keep_credit(st, no, pack_credit(format_ymd(p.day), {
            **{f: doc.get(f) for f in VOUCHER_FIELDS},
            "serial": p.serial,  # its number (the payment's own int): the text is made with the notice
            "fund": list(p.fund_type), "amount": p.amount_fen,
            "subjects": [[d.get("ExpFuncCode", ""), d.get("ExpFuncName", ""), d.get("PayAmt", "0.00")]
                         for d in details] or [[doc.get("ExpFuncCode"), doc.get("ExpFuncName"),
                                                      doc.get("PayAmt")]]},
            "" if p.key.adm_div_code == ctx.config.adm_div_code else p.key.adm_div_code))


def keep_credit(st: BankState, no: str, rec: Any) -> None:
    """Payment `no`'s credit notice (7103) waits for the next report time: `rec` is its packed record
    (`pack_credit`; a version 3 snapshot's dict reads too), kept in `DutiesState.credits`. One kept
    again, or due by a morning's pages already queued (`credit_page`), drops their queue."""
    credits = st.duties.credits
    queued = st.__dict__.get(_CREDIT_QUEUE)
    # a packed record's day compared as its bytes (as `due_credits` does: no text made a payment)
    if queued is not None and (no in credits or (rec[:8] if type(rec) is bytes else credit_day(rec).encode())
                               < queued[3]):
        del st.__dict__[_CREDIT_QUEUE]
    credits[no] = rec


def credit_page(st: BankState, first_day: str, limit: int) -> tuple[list[str], bool]:
    """The VoucherNo of the first `limit` pending credit notices of a day before `first_day`
    (yyyymmdd) in (day, VoucherNo) order (`due_credits`' first `limit`, sorted), and whether more are
    due. The first call of a morning sorts the due ones once into a queue kept beside
    `DutiesState.credits` (not in the snapshot, only the VoucherNo texts the map holds already); the
    next pages are taken off it, and every later duties call of the day (none due) finds it empty,
    without a walk of the notices left. The caller sends the page and drops its notices."""
    credits = st.duties.credits
    queued: tuple[dict[str, Any], str, list[str], bytes] | None = st.__dict__.get(_CREDIT_QUEUE)
    if queued is None or queued[0] is not credits or queued[1] != first_day:
        due = sorted(due_credits(credits, first_day), reverse=True)  # the first last: taken off the end
        queued = st.__dict__[_CREDIT_QUEUE] = (credits, first_day, [no for _, no in due], first_day.encode())
    queue = queued[2]
    page: list[str] = []
    while queue:
        if queue[-1] not in credits:  # its notice gone (the caller drops the page's): passed over
            queue.pop()
        elif len(page) == limit:
            return page, True
        else:
            page.append(queue.pop())
    return page, False


# `credit_page`'s queue in the state's `__dict__` (an attribute, not a field: not in the snapshot):
# (the credits map it is of, the first day not due, the due VoucherNo in reverse page order, that
# first day's bytes)
_CREDIT_QUEUE = "_credit_queue"


def on_cleared(st: BankState, now: dt.datetime, payments: Iterable[VoucherKey]) -> None:
    """A clearing request of `payments` was accepted: they count in today's expenditure report
    (004 part 5 §2: made from the cleared vouchers). Their PayAcctNo goes: a payment cleared is in
    no reserve list after (`bank_sim.close.reserve_list`, its only reader; an advance's went with
    its list the day before, a clearing payment's filed is never covered)."""
    s = st.duties
    for k in payments:
        p = st.payment(k)
        if p is None:
            continue
        p.pay_acct = ""
        if (lines := uncleared_lines(p)) is not None:
            p.uncleared = None
            _tally(s, now.date(), lines, 1)


def keep_uncleared(p: Payment, lines: Iterable[tuple[rp.Line, int]]) -> None:
    """Payment `p`'s tally `lines` wait on it for its clearing (`Payment.uncleared`)."""
    pairs = list(lines)  # a line's fen is often the payment's amount: then its int, not one more
    p.uncleared = flat_pairs([line for line, _ in pairs],
                             [p.amount_fen if fen == p.amount_fen else fen for _, fen in pairs])


def uncleared_lines(p: Payment) -> list[tuple[rp.Line, int]] | None:
    """The tally lines payment `p` holds until its clearing is accepted (None: cleared, or not paid)."""
    flat = p.uncleared
    return None if flat is None else paired(flat)


def tally_off(s: DutiesState, today: dt.date, lines: Sequence[tuple[rp.Line, int]]) -> None:
    """A refund was cleared back today: the day's and month's reports are net of it (004 part 5 §2)."""
    _tally(s, today, lines, -1)
    _state_month(s, rp.month_of(today), lines, -1)


def _tally(s: DutiesState, day: dt.date, lines: Sequence[tuple[rp.Line, int]], sign: int) -> None:
    """Add (sign 1: cleared) or take off (sign -1: refund cleared back) `lines` in the tally of
    `day` and its month: the daily (2206) and monthly (4004) expenditure reports."""
    if not lines:
        return
    tallies = (s.daily.setdefault(format_ymd(day), {}), s.monthly.setdefault(rp.month_of(day), {}))
    for line, fen in lines:
        k = line_id(line)
        for tally in tallies:
            tally[k] = tally.get(k, 0) + sign * fen


def _state_month(s: DutiesState, month: str, lines: Sequence[tuple[rp.Line, int]], sign: int) -> None:
    """Add (paid) or take off (refunded) `lines` in the month's statement (3501) tally."""
    tally = s.stated.setdefault(month, {})
    for line, fen in lines:
        k = line_id(line)
        tally[k] = tally.get(k, 0) + sign * fen


def reports(ctx: Ctx, st: BankState, now: dt.datetime) -> list[Effect]:
    c, s = ctx.config, st.duties
    today = now.date()
    code4 = ctx.bank_code[-4:]
    bank = (ctx.bank_code, c.bank_name)
    effects: list[Effect] = []
    first_day = format_ymd(today)
    # this page: the first CREDIT_NOTICES_PER_CALL in (day, VoucherNo) order
    page, more = credit_page(st, first_day, CREDIT_NOTICES_PER_CALL)
    for slot in page:
        no = number_of(slot)
        cr = credit_of(s.credits.pop(slot), no)
        if isinstance(cr["serial"], int):  # a paid payment's serial (`serial_text`); a version 3 snapshot kept the text
            cr["serial"] = paid_serial(ctx.bank_code, cr["day"], cr["serial"])
        head, details = rp.credit_notice(no=cr["no"], today=today, adm_div_code=cr.get("division") or c.adm_div_code,
                                         bank=bank,
                                         payment=no, credit=cr)
        effects.append(SendVoucher("7103", 0, head, details, "treasury"))
    if not s.credits:  # emptied: its table (one slot per payment of the day) goes with it, and its queue
        s.credits = {}
        st.__dict__[_CREDIT_QUEUE] = (s.credits, first_day, [], first_day.encode())
    s.credits_more = more
    if s.credits_more:  # the other reports after the last page of credit notices
        return effects
    # one report per division (004 part 3 §10: to "甲方", the treasury of the payments reported)
    for day in sorted(d for d in s.daily if d < format_ymd(today) and d not in s.reported_days):
        s.reported_days.add(day)
        for adm, lines in _divisions(s.daily.pop(day), c.adm_div_code):
            s.reported_days.add(_reported(day, adm, c.adm_div_code))
            head, details = rp.daily_report(f"RB{code4}{day}", dt.date(int(day[:4]), int(day[4:6]), int(day[6:])),
                                            today, adm, bank, lines)
            effects.append(SendVoucher("2206", 0, head, details, "treasury"))
    effects += _nil_reports(ctx, st, today)
    for month in sorted(m for m in {*s.monthly, *s.stated}
                        if m < rp.month_of(today) and m not in s.reported_months):
        s.reported_months.add(month)
        monthly = dict(_divisions(s.monthly.pop(month, {}), c.adm_div_code))
        stated_all = dict(_divisions(s.stated.pop(month, {}), c.adm_div_code))
        for adm in dict.fromkeys([*monthly, *stated_all]):  # the configured division first
            if reported := monthly.get(adm):
                head, details = rp.monthly_report(f"YB{code4}{month}", month, today, adm, bank, reported)
                effects.append(SendVoucher("4004", 0, head, details, "treasury"))
            if stated := stated_all.get(adm):
                head, details = rp.monthly_statement(f"DZ{code4}{month}", month, today, adm, bank, stated)
                effects.append(SendVoucher("3501", 0, head, details, "treasury"))
                for head, details in rp.unit_statements(f"DW{code4}{month}", month, today, adm, bank, stated):
                    effects.append(SendVoucher("7104", 0, head, details, "treasury"))
    return effects + _reserve_statements(ctx, st, today)


def due_credits(credits: Mapping[str, Any], first_day: str) -> list[tuple[bytes, str]]:
    """(day, VoucherNo) of the pending credit notices of a day before `first_day` (yyyymmdd), the day
    as its bytes (UTF-8 keeps the order of the text). Every page call of a busy morning walks the
    day's notices left, and every later duties call of the day today's: a packed record's day is
    compared as its first 8 bytes, not decoded."""
    if not credits:
        return []
    first = first_day.encode()
    try:  # most calls (every duties call of the day after the report time) find none due: told in C
        low = min(credits.values())  # packed, the smallest record has the earliest day
    except TypeError:  # a version 3 snapshot's dict records among packed ones: walked one by one below
        low = None
    if type(low) is bytes and low[:8] >= first:
        return []
    return [(day, no) for no, rec in credits.items()
            if (day := rec[:8] if type(rec) is bytes else credit_day(rec).encode()) < first]


def _reported(day: str, adm: str, home: str) -> str:
    """The `reported_days` entry of `day`'s 2206 to division `adm` (the configured one's: the day)."""
    return day if adm == home else f"{day}/{adm}"


def _nil_reports(ctx: Ctx, st: BankState, today: dt.date) -> list[Effect]:
    """The nil 2206 (PayAmt 0.00, no Detail) of every business day before `today` with nothing
    cleared or refunded: a day with nothing still gets its report, to each division the bank is
    configured to serve (`BankConfig.served`) from the bank's first day, to another division from
    the day it was first paid for."""
    s = st.duties
    if not s.next_day:
        return []
    c = ctx.config
    served = c.served
    effects: list[Effect] = []
    d = dt.date(int(s.next_day[:4]), int(s.next_day[4:6]), int(s.next_day[6:]))
    while d < today:
        day = format_ymd(d)
        if ctx.calendar.is_business_day(d) and day not in s.daily:
            paid = sorted(a for a, first in s.divisions.items() if first <= day and a not in served)
            for adm in (*served, *paid):
                if (done := _reported(day, adm, c.adm_div_code)) in s.reported_days:
                    continue
                s.reported_days.add(done)
                head, details = rp.daily_report(f"RB{ctx.bank_code[-4:]}{day}", d, today, adm,
                                                (ctx.bank_code, c.bank_name), {})
                effects.append(SendVoucher("2206", 0, head, details, "treasury"))
        d += dt.timedelta(days=1)
    s.next_day = max(s.next_day, format_ymd(today))
    return effects


def reserve_moved(ctx: Ctx, s: DutiesState, e: PostTransfer, now: dt.datetime) -> None:
    """Note a booking on the clearing reserve account for the month's reserve statement."""
    t, reserve = e.transfer, ctx.accounts["reserve"]
    if reserve not in (t.debit_account, t.credit_account):
        return
    day = t.business_date or now.date()
    s.reserve_next = s.reserve_next or rp.month_of(day)
    month = max(rp.month_of(day), s.reserve_next)  # a booking dated in a month stated: in the next
    moves = s.reserve_moves.setdefault(month, {})
    if t.id in moves or s.reserve_moves_count >= RESERVE_MOVES_MAX:
        return
    try:  # a voucher key names the voucher moved for; another reference (a clearing request) none
        ori = VoucherKey.parse(t.reference)
        vt, no = ori.vtcode, ori.voucher_no
    except VoucherKeyError:
        vt, no = "", ""
    fen = t.amount_fen if t.credit_account == reserve else -t.amount_fen
    s.reserve_move_seq += 1
    s.reserve_moves_count += 1
    moves[t.id] = Move(s.reserve_move_seq,
                       rs.Movement(format_ymd(day), rs.MOVE_TYPES.get(t.kind, rs.OTHER_MOVE), vt, no, fen))


def reserve_unmoved(s: DutiesState, transfer_id: str) -> None:
    """A transfer the books refused never moved the reserve."""
    for moves in s.reserve_moves.values():
        if moves.pop(transfer_id, None) is not None:
            s.reserve_moves_count -= 1


def _reserve_statements(ctx: Ctx, st: BankState, today: dt.date) -> list[Effect]:
    """The reserve statement (7203) of every month before `today`'s not stated yet, from the
    month the reserve first moved: a month without movements carries the balance."""
    c, s = ctx.config, st.duties
    effects: list[Effect] = []
    while s.reserve_next and s.reserve_next < rp.month_of(today):
        month = s.reserve_next
        booked = s.reserve_moves.pop(month, {})
        s.reserve_moves_count -= len(booked)
        moves = [m.movement for m in sorted(booked.values(), key=lambda m: m.seq)]
        head, details = rs.reserve_statement(f"BZ{ctx.bank_code[-4:]}{month}", month, today, c.adm_div_code,
                                             (ctx.bank_code, c.bank_name), s.reserve_balance, moves)
        s.reserve_balance += sum(m.fen for m in moves)
        effects.append(SendVoucher(rs.RESERVE_STATEMENT_VTCODE, 0, head, details, "treasury"))
        _, last = rs.month_bounds(month)
        s.reserve_next = rp.month_of(last + dt.timedelta(days=1))
    return effects


def signed_off(st: BankState, doc: VoucherDoc, key: str, home: str = "") -> list[Effect]:
    """The treasury's receipt of a statement: the 3501 (`sign_offs`), a reserve statement (7203)
    or a unit's statement (7104, the unit's sign-off sheet; `reserve_sign_offs`). A
    disagreement is alarmed and recorded as the statement's refusal. Each division's treasury signs
    off its own statement (numbered alike): one of another division than `home` (the configured
    one) is kept under its month + "/" + its AdmDivCode (`sign_off_key`)."""
    s = st.duties
    no = doc.get("VoucherNo")
    if doc.vtcode == "3501":
        book, month, what = s.sign_offs, doc.get("BeginDate")[:6], "statement"
    else:
        book, what = s.reserve_sign_offs, "reserve statement"
        month = doc.get("BeginDate")[:6] + (f"/{doc.get('AgencyCode')}" if doc.vtcode == "7104" else "")
    month = sign_off_key(month, doc.get("AdmDivCode"), home)
    if month in book:
        return []
    book[month] = (doc.get("XCheckResult"), doc.get("XCheckDate"), doc.get("XCheckRemark"))
    if doc.get("XCheckResult") == "0":
        return []
    s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, no, 0))] = "amount-mismatch"
    return [Alarm("amount-mismatch", f"the treasury disagrees with {what} {no}: {doc.get('XCheckRemark')}", key)]


def sign_off_key(period: str, adm: str, home: str) -> str:
    """Where a sign-off of `period` (yyyymm, or yyyymm/AgencyCode) by division `adm`'s treasury is
    kept: the period itself for the configured division (`home`; "": every division's), else with
    "/" + its AdmDivCode."""
    return period if not home or adm == home else f"{period}/{adm}"
