"""Generated worlds for `tests/test_generated_worlds.py`: a scenario's text drawn by hypothesis
(start day, sends at instants around every cutoff, urgent and normal, same-bank and other-bank
payees, refunds, one or two divisions, delivery faults) and the oracles checked on what the run
observed. The business days come from `chinese_calendar.is_workday` (the library's public answer),
never from the project's calendar, so the oracles do not share the product's arithmetic."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import chinese_calendar
from hypothesis import strategies as st

from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str, parse_fen

CC = ClockConfig()
FIRST, LAST = dt.date(2004, 1, 1), dt.date(2026, 12, 31)
BANKS = {"bank-a": "999100000001", "bank-b": "999100000002"}
SECOND_DIVISION = "990200"
OTHER_BANK_NO = "102100099996"  # another bank (CNAPS: reached the next business day)
HOLD_FEN = 1_000_000_00  # the gateway monitor holds a payment of 1,000,000.00 or more
OWN_PAYEE = ("9999000000000002", "示例建筑工程有限公司")  # an account every simulated bank holds
URGENT = {"UrgentFlag": "1", "UrgentSupDepApproval": "示教认〔2026〕1号", "UrgentGovApproval": "示府批〔2026〕1号"}
# instants around every cutoff of the day (strict "before": the cutoff's own second is after it)
INSTANTS = ("07:00:00", "08:29:59", "08:30:00", "09:59:59", "10:00:00", "11:59:59", "15:30:00", "15:59:59",
            "16:00:00", "16:00:01", "16:29:59", "16:30:00", "16:59:59", "17:00:00", "18:30:00", "23:59:59")
RESERVE_FEN = 20_000_000_00  # the runner's default reserve per bank
# a run's SQLite files in RAM when there is one (crashes of processes are tested, not of disks)
RAM = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def workday(d: dt.date) -> bool:
    return FIRST <= d <= LAST and chinese_calendar.is_workday(d)


def next_workday(d: dt.date) -> dt.date | None:
    """The first working day strictly after `d`, None past the range the library knows."""
    d += dt.timedelta(days=1)
    while d <= LAST:
        if chinese_calendar.is_workday(d):
            return d
        d += dt.timedelta(days=1)
    return None


def prev_workday(d: dt.date) -> dt.date | None:
    """The last working day strictly before `d`, None before the range."""
    d -= dt.timedelta(days=1)
    while d >= FIRST:
        if chinese_calendar.is_workday(d):
            return d
        d -= dt.timedelta(days=1)
    return None


def at(d: dt.date, hhmmss: str) -> dt.datetime:
    return dt.datetime.combine(d, dt.time.fromisoformat(hhmmss), tzinfo=TZ)


@cache
def _special_days() -> dict[str, list[dt.date]]:
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    off = {d for d in days if not chinese_calendar.is_workday(d)}
    holidays = [d for d in days if d in off and d.weekday() < 5]
    makeup = [d for d in days if d not in off and d.weekday() >= 5]
    # the last working day before three or more days off (Spring Festival, National Day, May Day)
    before_long = [d for d in days if d not in off and all(d + dt.timedelta(days=k) in off for k in (1, 2, 3))]
    ends = [d for d in days if (d + dt.timedelta(days=1)).day == 1]
    return {"holiday": holidays, "makeup": makeup, "before-long": before_long, "month-end": ends,
            "year-end": [d for d in days if d.month == 12 and d.day >= 27],
            "last-days": [d for d in days if d >= LAST - dt.timedelta(days=9)]}


def start_days() -> st.SearchStrategy[dt.date]:
    special = _special_days()
    return st.one_of(st.dates(FIRST, LAST), *(st.sampled_from(v) for v in special.values()))


@dataclass
class SendPlan:
    id: str
    day: int  # 0: the start day, 1: the next working day (by the library)
    instant: str
    bank: str
    amount_fen: int
    authorized: bool
    urgent: bool
    payee: str  # own (an account of the paying bank), branch (the same bank's), other (another bank)
    adm: str = ""


@dataclass
class WorldPlan:
    start: dt.date
    sends: list[SendPlan]
    two_divisions: bool = False
    returns: list[str] = field(default_factory=list)  # voucher ids their payee's bank sends back
    duplicate_to: str | None = None  # every payment delivered twice to this bank
    slow: str | None = None  # this bank on the `slow` profile (late on purpose: weaker oracles)
    # a bank offline on the start day from `down` to `up` (HH:MM:SS, across the 16:00 cutoff, back
    # before the close): the gateway keeps what is sent to it, it sees it when back
    offline: tuple[str, str, str] | None = None

    def arrival(self, s: SendPlan) -> dt.datetime | None:
        """When the bank sees the voucher: when sent, or when it is back online."""
        t = self.send_time(s)
        if t is None or self.offline is None:
            return t
        bank, down, up = self.offline
        if bank == s.bank and workday(self.start) and at(self.start, down) <= t < at(self.start, up):
            return at(self.start, up)
        return t

    def missed_cutoff(self, s: SendPlan, day: dt.date) -> bool:
        """Whether the voucher's bank was offline at the cutoff of `day` (its clearing then missed it)."""
        return self.offline is not None and self.offline[0] == s.bank and day == self.start and workday(day)

    def send_time(self, s: SendPlan) -> dt.datetime | None:
        day: dt.date | None = self.start
        for _ in range(s.day):  # the start day, or the n-th working day after it
            day = next_workday(day) if day is not None else None
        return None if day is None else at(day, s.instant)

    def world_start(self) -> dt.date:
        """A world starts on a business day: the last one before a start day that is off."""
        early = any(s.day == 0 and s.instant < "08:00" for s in self.sends)
        return self.start if workday(self.start) and not early else (prev_workday(self.start) or self.start)

    def end(self) -> dt.datetime:
        """The close of the second working day after the last send (its next-morning payment,
        replenishment, refund and receipts all in), or the calendar's last evening."""
        last = max(t for s in self.sends if (t := self.send_time(s)) is not None).date()
        d = last
        for _ in range(2):
            nxt = next_workday(d)
            if nxt is None:
                return at(LAST, "23:59:00")
            d = nxt
        return at(d, "17:30:00")


AMOUNTS = st.one_of(st.integers(1, 99), st.integers(100, 10_000_00), st.integers(10_000_00, 30_000_000_00),
                    st.sampled_from([1, RESERVE_FEN // 3, RESERVE_FEN // 2 + 1, RESERVE_FEN, RESERVE_FEN + 1]))


@st.composite
def worlds(draw: Any, *, faults: bool = True) -> WorldPlan:
    start = draw(start_days())
    two = draw(st.booleans())
    sends = []
    for i in range(draw(st.integers(1, 6))):
        authorized = draw(st.booleans())
        sends.append(SendPlan(
            id=f"v{i}", day=draw(st.sampled_from([0, 0, 1, 2])), instant=draw(st.sampled_from(INSTANTS)),
            bank=draw(st.sampled_from(sorted(BANKS))), amount_fen=draw(AMOUNTS), authorized=authorized,
            urgent=not authorized and draw(st.integers(0, 3)) == 0, payee=draw(st.sampled_from(["own", "branch", "other"])),
            adm=SECOND_DIVISION if two and draw(st.booleans()) else ""))
    if prev_workday(start) is None:  # the range's first days: nothing before the world's opening
        start = start if workday(start) else (next_workday(start) or start)
        for s in sends:
            s.instant = max(s.instant, "08:30:00")
    plan = WorldPlan(start, sends, two)
    plan.sends = [s for s in sends if plan.send_time(s) is not None]  # none past the calendar's last day
    if not plan.sends:
        plan.sends = [SendPlan("v0", 0, "10:00:00", "bank-a", 100_00, False, False, "other")]
    plan.sends.sort(key=lambda s: (plan.send_time(s), s.id))  # steps move forward in time
    plan.returns = [s.id for s in plan.sends if draw(st.integers(0, 4)) == 0 and (d := pay_day(plan, s))
                    and next_workday(d) is not None]
    if faults:
        plan.duplicate_to = draw(st.sampled_from([None, None, None, "bank-a", "bank-b"]))
        plan.slow = draw(st.sampled_from([None, None, None, None, "bank-b"]))
        if plan.slow is None and draw(st.integers(0, 2)) == 0:
            plan.offline = (draw(st.sampled_from(sorted(BANKS))), draw(st.sampled_from(["15:35:00", "15:59:00"])),
                            draw(st.sampled_from(["16:00:30", "16:29:59", "16:45:00", "16:59:00"])))
    return plan


def scenario_text(p: WorldPlan) -> str:
    banks = []
    for bid, code in BANKS.items():
        lines = [f"    - id: {bid}", f'      code: "{code}"']
        if p.slow == bid:
            lines.append("      profile: slow")
        mine = [s for s in p.sends if s.bank == bid and s.id in p.returns]
        if mine:
            lines.append("      returns:")
            for s in mine:
                lines.append(f'        - {{voucher: {s.id}, at: "{_when(p, s, returned=True)}", reason: account-closed}}')
        banks.append("\n".join(lines))
    divisions = ""
    if p.two_divisions:
        divisions = ('  divisions:\n    - {code: "990100", banks: [bank-a, bank-b]}\n'
                     f'    - {{code: "{SECOND_DIVISION}", banks: [bank-a, bank-b]}}\n')
    steps = []
    for s in p.sends:
        fields: dict[str, str] = {}
        if s.urgent:
            fields |= URGENT
        if s.payee == "own":
            fields |= {"PayeeAcctBankNo": BANKS[s.bank], "PayeeAcctNo": OWN_PAYEE[0], "PayeeAcctName": OWN_PAYEE[1]}
        elif s.payee == "other":
            fields["PayeeAcctBankNo"] = OTHER_BANK_NO
        f = ", ".join(f'{k}: "{v}"' for k, v in fields.items())
        template = "authorized-payment" if s.authorized else "direct-payment"
        adm = f', adm: "{s.adm}"' if s.adm else ""
        steps.append(f'  - at: "{_when(p, s)}"\n    send: {{id: {s.id}, template: {template}, bank: {s.bank}, '
                     f'amount: "{fen_to_str(s.amount_fen)}", voucher_no: GW{p.start:%Y%m%d}{s.id}{adm}' + (f", fields: {{{f}}}" if f else "") + "}")
        if s.amount_fen >= HOLD_FEN:  # an officer releases it at once: it reaches the bank then
            steps.append(f'  - at: "{_when(p, s)}"\n    monitor: {{release: {s.id}, reason: checked}}')
    if p.offline:
        bank, down, up = p.offline
        steps += [f'  - at: "{p.start} {down}"\n    offline: {bank}', f'  - at: "{p.start} {up}"\n    online: {bank}']
    if p.duplicate_to:
        first = min(t for s in p.sends if (t := p.send_time(s)) is not None)
        steps.insert(0, f'  - at: "{first:%Y-%m-%d %H:%M:%S}"\n    fault: {{kind: duplicate, to: {p.duplicate_to}, '
                     'vtcode: "5201", count: 20}')
    steps.sort(key=lambda text: text.split('"')[1])  # steps move forward in time (stable: the sends' order kept)
    return (f"scenario: generated-world\ntitle: a generated world\nworld:\n  start: {p.world_start().isoformat()}\n"
            f'  end: "{p.end():%Y-%m-%d %H:%M:%S}"\n{divisions}  banks:\n' + "\n".join(banks) + "\n"
            "steps:\n" + "\n".join(steps) + "\n"
            "expect:\n  - invariants: {}\n  - zero_balance_at_close: {}\n  - reconciliation: {clean: true}\n")


def _when(p: WorldPlan, s: SendPlan, *, returned: bool = False) -> str:
    t = p.send_time(s)
    assert t is not None
    if returned:  # the payee's bank sends it back the working day after it was paid, mid-morning
        paid = pay_day(p, s)
        nxt = next_workday(paid) if paid else None
        t = at(nxt, "11:00:00") if nxt else t
    return f"{t:%Y-%m-%d %H:%M:%S}"


def pay_day(p: WorldPlan, s: SendPlan) -> dt.date | None:
    """The day the rules say the bank pays: that day on a working day before the close, else the
    next working day (its 10:00 deadline). Past the cutoff it is an advance while the day's
    advances of its bank, in the order sent, stay within the reserve; beyond, the next opening."""
    sent = p.arrival(s)
    assert sent is not None
    advanced = 0
    for x in sorted(p.sends, key=lambda x: p.arrival(x) or sent):
        t = p.arrival(x)
        assert t is not None
        open_ = workday(t.date()) and t.time() < CC.bank_system_close
        late = t.time() >= (CC.urgent_cutoff if x.urgent else CC.clearing_cutoff)
        covered = open_ and late and advanced + x.amount_fen <= RESERVE_FEN
        if covered and x.bank == s.bank and t.date() == sent.date():
            advanced += x.amount_fen
        if x is s:
            return t.date() if open_ and (covered or not late) else next_workday(t.date())
    raise AssertionError("a send of the plan")


def needs_past_calendar(p: WorldPlan) -> bool:
    """Whether a send needs the business day after the calendar's last (paid there, or reached)."""
    for s in p.sends:
        day = pay_day(p, s)
        if day is None or (s.payee == "other" and next_workday(day) is None):
            return True
    return False


def run(p: WorldPlan) -> Any:
    from runner.scenario_file import load_text
    from runner.scenario_run import run_scenario

    s = load_text(scenario_text(p))
    with tempfile.TemporaryDirectory(prefix="tgw-gen-", dir=RAM) as tmp:
        return asyncio.run(run_scenario(s, Path(tmp), seed=1))


def check(p: WorldPlan, result: Any) -> list[str]:
    """Every oracle's breaks (empty: the world held)."""
    if result.error is not None:
        if needs_past_calendar(p) and "calendar-out-of-range" in result.error:
            return []
        return [f"run error: {result.error}"]
    o = result.observed
    bad = [f"runner check {x.expected}: {x.actual}" for x in result.outcomes
           if not x.ok and x.expectation.kind != "reconciliation"]
    # the three-way reconciliation: clean, but for the vouchers returned unpaid (listed not-paid) and
    # the calendar's last day's advances (their replenishment is past it: not cleared yet)
    returned = {r.voucher_no for r in o.receipts if r.return_reason is not None}
    bad += [f"reconciliation: {b.cause} {b.day} {b.vouchers}: {b.detail}" for b in o.reconciliation.breaks
            if not (b.cause == "not-paid" and set(b.vouchers) <= returned)
            and not (b.cause == "not-cleared" and b.day == LAST and "(advance)" in b.detail)]
    sent = {v.id: v for v in o.sent}
    # each payment paid at most once: one bank payment per voucher key, one paying receipt
    paid = Counter(x.key or x.voucher_no for x in o.payments if x.paid_day is not None)
    bad += [f"{k} paid {n} times" for k, n in paid.items() if n > 1]
    paying: dict[tuple[str, str], set[str]] = {}
    for r in o.receipts:
        if r.return_reason is None and parse_fen(r.fields.get("XPayAmt", "0.00")) > 0:
            paying.setdefault((r.adm, r.voucher_no), set()).add(r.fields.get("XAgentBusinessNo", ""))
    bad += [f"{k} two paying receipts {sorted(v)}" for k, v in paying.items() if len(v) > 1]
    for s in p.sends:
        v = sent[s.id]
        if not v.reached:
            bad.append(f"{s.id}: refused at the gateway {[x.code for x in v.verdicts]}")
            continue
        mine = [r for r in o.receipts if r.voucher_no == v.voucher_no and (r.adm or "990100") == (s.adm or "990100")]
        bad += _receipt_oracle(p, s, v, mine, o)
        if s.id in p.returns and any(r.return_reason is None for r in mine):
            bad += _refund_oracle(p, s, v, o)
    return bad + _scorecard_oracle(p, o) + _owed_oracle(p, o)


def _owed_oracle(p: WorldPlan, o: Any) -> list[str]:
    """Every payment a bank made is answered or still owed with a duty the scorecard counts: its
    receipts (due 11:00 the working day after the pay day) are counted, and each that came after
    that deadline is counted late (the slow bank is late on purpose)."""
    bad = []
    for bank in BANKS:
        paid = [x for x in o.payments if x.bank == bank and x.paid_day is not None]
        lines = [line for m in o.scorecard if m.bank == bank for line in m.lines if line.kind == "receipt"]
        counted = sum(line.counted + line.pending for line in lines)
        if counted < len(paid):
            bad.append(f"{bank}: {len(paid)} payments, {counted} receipt duties on its scorecard")
        late = 0
        for x in paid:
            r = next((r for r in o.receipts if r.voucher_no == x.voucher_no and r.return_reason is None
                      and r.sender == bank and (not x.key or (r.adm or "990100") == x.key.split("/")[0])), None)
            nxt = next_workday(x.paid_day)
            if r is not None and nxt is not None and r.received_at >= at(nxt, "11:00:00"):
                late += 1
        if late > sum(line.late for line in lines):
            bad.append(f"{bank}: {late} receipts after 11:00 of the next working day, scorecard late "
                       f"{sum(line.late for line in lines)}")
    return bad


def _scorecard_oracle(p: WorldPlan, o: Any) -> list[str]:
    """A bank that did each duty on time (no slow profile, never offline, every late voucher within its
    reserve) has nothing late, missing or faulty on its scorecard."""
    deferred = {s.bank for s in p.sends if (t := p.arrival(s)) and workday(t.date())
                and t.time() < CC.bank_system_close and pay_day(p, s) != t.date()}
    prompt = set(BANKS) - {p.slow, p.offline[0] if p.offline else None} - deferred
    return [f"{m.bank} {m.year}-{m.month:02d}: {line.kind} late {line.late} missing {line.missing} faulty "
            f"{line.faulty} errors {line.errors}"
            for m in o.scorecard if m.bank in prompt
            for line in m.lines if line.late or line.missing or line.faulty or line.errors]


def _refund_oracle(p: WorldPlan, s: SendPlan, v: Any, o: Any) -> list[str]:
    """A paid payment its payee's bank sent back: one 2302 of its whole amount, accepted by the run's
    end (the payee's bank sends it at 11:00 the working day after it was paid, once cleared)."""
    adm = s.adm or "990100"
    refunds = [r for r in o.refunds if r.voucher_no == v.voucher_no and (r.adm or "990100") == adm]
    accepted = [r for r in refunds if r.state == "accepted"]
    if p.slow == s.bank or (p.offline and p.offline[0] == s.bank):
        return []
    if len(accepted) != 1 or accepted[0].amount_fen != s.amount_fen:
        return [f"{s.id}: returned by its payee's bank; refunds {[(r.refund_no, r.amount_fen, r.state, r.code) for r in refunds]}"]
    return []


def _receipt_oracle(p: WorldPlan, s: SendPlan, v: Any, mine: list[Any], o: Any) -> list[str]:
    bad: list[str] = []
    t = p.arrival(s)
    assert t is not None
    day = pay_day(p, s)
    end = o.end
    if not mine:
        due = at(day, "10:00:00") if day and day != t.date() else t + dt.timedelta(minutes=1)
        if p.slow != s.bank and day is not None and due <= end:
            bad.append(f"{s.id}: no receipt by {end} (sent {t}, pay day {day})")
        return bad
    first = min(mine, key=lambda r: r.received_at)
    if first.return_reason is not None:  # returned unpaid: 0.00, never with a guessed day
        if parse_fen(first.fields.get("XPayAmt", "0.00")) != 0:
            bad.append(f"{s.id}: returned with XPayAmt {first.fields.get('XPayAmt')}")
        if not first.return_reason.startswith("calendar-out-of-range") or not needs_past_calendar(
                WorldPlan(p.start, [s])):  # nothing else in these worlds is a reason to return a voucher
            bad.append(f"{s.id}: returned {first.return_reason!r} (sent {t}, pay day {day})")
        return bad
    amount = parse_fen(first.fields.get("XPayAmt", "0.00"))
    if amount != s.amount_fen:
        bad.append(f"{s.id}: receipt pays {fen_to_str(amount)}, voucher {fen_to_str(s.amount_fen)}")
    if day is None:
        bad.append(f"{s.id}: paid {first.fields.get('XPayDate')} though its pay day is past the calendar")
        return bad
    if first.fields.get("XPayDate") != day.strftime("%Y%m%d"):
        bad.append(f"{s.id}: XPayDate {first.fields.get('XPayDate')}, the rules' day {day} (sent {t})")
    if p.slow != s.bank and day != t.date() and first.received_at > at(day, "10:00:00"):
        bad.append(f"{s.id}: sent {t}, receipt at {first.received_at}, after 10:00 of {day}")
    reached = next_workday(day) if s.payee == "other" else day
    if reached is not None and first.fields.get("XArriveDate") != reached.strftime("%Y%m%d"):
        bad.append(f"{s.id}: XArriveDate {first.fields.get('XArriveDate')}, the rules' {reached} ({s.payee} payee)")
    bad += _clearing_oracle(p, s, v, day, o)
    return bad


def _clearing_oracle(p: WorldPlan, s: SendPlan, v: Any, day: dt.date, o: Any) -> list[str]:
    """Paid before the cutoff on its day: cleared that day before the cutoff; after it: an advance
    made whole by an accepted replenishment (ClearType 1, ClearDate the pay day) the next working
    day, 08:30 to 12:00 (the slow profile is allowed late). A bank offline at the cutoff files late:
    what it paid before is made whole at the close and replenished the same way."""
    t = p.arrival(s)
    assert t is not None
    covering = [c for c in o.clearings if v.voucher_no in c.payments and c.state == "accepted"
                and (not c.keys or any(k.startswith(f"{s.adm or '990100'}/") for k in c.keys))]
    cutoff = CC.urgent_cutoff if s.urgent else CC.clearing_cutoff
    advance = day == t.date() and t.time() >= cutoff
    if not advance:
        kinds = (0, 1) if p.missed_cutoff(s, day) else (0,)
        ok = [c for c in covering if c.clear_type in kinds and c.clear_date == day]
        if not ok and at(day, "17:00:00") <= o.end and p.slow != s.bank:
            return [f"{s.id}: no accepted normal clearing of {day} (sent {t}); saw "
                    f"{[(c.voucher_no, c.clear_type, c.clear_date, c.state) for c in o.clearings if v.voucher_no in c.payments]}"]
        return []
    nxt = next_workday(day)
    if nxt is None or at(nxt, "12:00:00") > o.end:
        return []
    ok = [c for c in covering if c.clear_type == 1 and c.clear_date == day]
    if not ok:
        return [f"{s.id}: advance of {day} (sent {t}) never replenished; saw "
                f"{[(c.voucher_no, c.clear_type, c.clear_date, c.state, c.code) for c in o.clearings if v.voucher_no in c.payments]}"]
    c = ok[0]
    if p.slow != s.bank and not (at(nxt, "08:30:00") <= c.filed_at < at(nxt, "12:00:00")):
        return [f"{s.id}: replenishment of {day} filed {c.filed_at}, not in {nxt}'s morning"]
    return []
