"""Every message the core sends passes `outgoing()`: the bank's profile (`bank_sim.profiles`)
holds it until its release time (a `slow` or `flaky` bank) and applies its fault (a `faulty`
bank); when each message actually left is recorded (`DutiesState.sent`) for the scorecard
(`runner.scorecard_feed`). A faulted send the gateway refuses is sent again corrected (the
refusal is absorbed here, the core's records stay right); the over-quota probe is an extra
clearing request the central bank refuses with `over-quota`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import msgspec

from bank_sim.profiles import Fault, SendKind
from bank_sim.reporting import reserve_moved, reserve_unmoved
from bank_sim.schedule import next_event_after
from bank_sim.sent_times import mark_sent, sent_when
from bank_sim.state import BankState, Ctx, DutiesState
from business_time.calendar import if_known
from business_time.clock import calendar_end
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen
from messages.return_reason import reason_code
from messages.voucher import VoucherDoc
from sim.effects import Alarm, Effect, PostTransfer, Refusal, SendVoucher, WakeAt

__all__ = ["absorb_refusal", "is_probe_receipt", "outgoing", "probe_receipt", "send_kind"]

# Send times and refusal codes kept for the scorecard: a year of a busy bank's messages. Beyond
# it the oldest are forgotten (their month was scored long ago).
SENT_KEEP_MAX = 2_000_000
# Messages a slow or flaky bank holds back at once: a few days of a busy bank's receipts.
HELD_MAX = 200_000

_KINDS: Mapping[str, SendKind] = {"2301": "clearing", "2302": "refund", "2203": "refund-notice",
                                  "7105": "refund-notice", "2206": "daily-report", "4004": "monthly-report",
                                  "3501": "monthly-statement", "7103": "credit-notice",
                                  "7102": "quota-arrival-notice"}


def send_kind(send: SendVoucher) -> SendKind:
    if send.flag == 1 and send.vtcode in ("5201", "8202"):
        return "receipt"
    return _KINDS.get(send.vtcode, "other") if send.flag == 0 else "other"


def outgoing(ctx: Ctx, st: BankState, effects: list[Effect], now: dt.datetime) -> list[Effect]:
    """Every effect the core returns passes here: sends are held, faulted, recorded."""
    s = st.duties
    out: list[Effect] = []
    held = False
    for e in effects:
        if not isinstance(e, SendVoucher):
            if isinstance(e, PostTransfer):
                reserve_moved(ctx, s, e, now)
            out.append(e)
            continue
        vkey = e.key  # made anew on every read: read once
        if sent_when(s.sent, vkey) is not None:
            out.append(e)  # a replay (redelivery) or a correction: the gateway dedups
            continue
        key = str(vkey)
        if key in s.held_sends:
            continue
        kind = send_kind(e)
        release = _release_time(ctx, kind, vkey.voucher_no, now)
        index = s.counts.get(kind, 0)
        s.counts[kind] = index + 1
        fault = ctx.profile.fault(kind, index)
        sends = _fault(ctx, s, e, fault) if fault is not None else [e]
        if release > now and len(s.held) < HELD_MAX:
            s.held_sends.add(key)
            s.held.extend((release, x) for x in sends)
            s.held.sort(key=lambda h: h[0])
            held = True
            continue
        _mark_sent(s, vkey, key, now)
        out.extend(sends)
    out += _release(s, now)
    if held:  # wake the core when the first held message is due
        out.append(WakeAt(next_event_after(ctx, st, now)[0]))
    return out


def _release_time(ctx: Ctx, kind: SendKind, ref: str, now: dt.datetime) -> dt.datetime:
    """When the profile lets a message ready at `now` go. A profile holding it to a business day
    past the calendar (a `slow` bank on the last days) holds it to the last instant the calendar
    knows instead: as late as the calendar allows, never onto a day nobody described, and never
    the core's refusal (which would end the bank's shell on every delivery of the voucher)."""
    wanted = if_known(lambda: ctx.profile.release(kind, ref, now, ctx.calendar))
    if isinstance(wanted, InputError):
        wanted = calendar_end(ctx.calendar) - dt.timedelta(microseconds=1)
    return max(now, wanted)


def _mark_sent(s: DutiesState, vkey: VoucherKey, key: str, now: dt.datetime) -> None:
    if s.held_sends:
        s.held_sends.discard(key)
    mark_sent(s.sent, vkey, now, SENT_KEEP_MAX)


def _release(s: DutiesState, now: dt.datetime) -> list[Effect]:
    out: list[Effect] = []
    while s.held and s.held[0][0] <= now:
        _, send = s.held.pop(0)
        vkey = send.key
        _mark_sent(s, vkey, str(vkey), now)
        out.append(send)
    return out


def _fault(ctx: Ctx, s: DutiesState, e: SendVoucher, fault: Fault) -> list[SendVoucher]:
    key = str(e.key)
    if fault == "bad-signature":
        s.corrupt.add(key)
        return [e]
    if fault == "missing-x-fields":
        s.corrections[key] = e
        return [msgspec.structs.replace(e, head={**e.head, "XAgentBusinessNo": ""})]
    if fault == "duplicate":
        twin = msgspec.structs.replace(e, head={**e.head, "XAgentBusinessNo": e.head["XAgentBusinessNo"][:-1] + "X"})
        s.corrections[str(twin.key)] = twin  # its refusal (duplicate-conflict) is ours to absorb
        return [e, twin]
    if fault == "wrong-sum" and e.details:
        s.corrections[key] = e
        first = {**e.details[0], "PayAmt": fen_to_str(parse_fen(e.details[0]["PayAmt"]) + 1)}
        return [msgspec.structs.replace(e, details=(first, *e.details[1:]))]
    if fault == "over-quota":
        s.seq += 1
        no = f"HKP{ctx.bank_code[-4:]}{e.head['VouDate']}{s.seq:04d}"
        over = parse_fen(e.head["PayAmt"]) + 10**12  # ten billion yuan more: beyond any day's quota
        probe = msgspec.structs.replace(
            e, head={**e.head, "Id": f"V2301{no}", "VoucherNo": no, "PayAmt": fen_to_str(over)},
            details=({"Id": "D00001", "SupDepCode": e.details[0]["SupDepCode"],
                      "SupDepName": e.details[0]["SupDepName"], "PayAmt": fen_to_str(over)},))
        s.probes[no] = None
        return [e, probe]
    return [e]


def is_probe_receipt(st: BankState, doc: VoucherDoc, flag: int) -> bool:
    return flag == 1 and doc.vtcode == "2301" and doc.get("VoucherNo") in st.duties.probes


def probe_receipt(st: BankState, doc: VoucherDoc, key: str, return_reason: str | None) -> list[Effect]:
    """The central bank's answer to an over-quota probe: recorded as that 2301's refusal."""
    s = st.duties
    no = doc.get("VoucherNo")
    code = reason_code(return_reason) or "unknown-code"
    if s.probes.get(no) is not None:
        return []
    s.probes[no] = code
    s.refusals[str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), "2301", no, 0))] = code
    return [Alarm(code, f"faulty profile: probe clearing request {no} refused: {return_reason}", key)]


def absorb_refusal(st: BankState, refusal: Refusal) -> tuple[bool, list[Effect]]:
    """Record a refused send (for the scorecard). A send this module faulted on purpose is
    absorbed here (True: the core's records need no correction) and sent again corrected:
    the same voucher sealed properly, or the clean version of what was spoiled."""
    s = st.duties
    absorbed, effects = False, list[Effect]()
    for t in refusal.transfers():  # a transfer the books refused never moved the reserve
        reserve_unmoved(s, t.id)
    for send in refusal.sends():
        key = str(send.key)
        s.refusals.setdefault(key, refusal.code)
        if refusal.source != "gateway":
            continue
        if send.head.get("VoucherNo") in s.probes:
            absorbed = True
        if key in s.corrupt:
            s.corrupt.discard(key)
            absorbed = True
            effects.append(send)
        clean = s.corrections.pop(key, None)
        if clean is not None:
            absorbed = True
            if clean != send:
                effects.append(clean)
    return absorbed, effects
