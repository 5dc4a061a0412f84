"""Feed the bank scorecard (`treasury_sim.scorecard`) from what actually happened in a run.

Pure: reads the bank cores' records after (or during) a run and returns one
`treasury_sim.scorecard.DutyEvent` per duty each bank had. Nothing is assumed: a duty is done
when its message actually left the bank (`bank_sim.duties` `sent_at`, after the profile held
it), and faulty when a message of it was refused by the gateway, the central bank or the
treasury (`refusals`, which also holds the codes of the faulty profile's own faults).

| duty                   | one per                                  | due (business_time.clock)          | done                                   |
|------------------------|------------------------------------------|------------------------------------|----------------------------------------|
| `payment`              | voucher paid                             | payment_deadline(arrival)          | when paid                              |
| `receipt`              | voucher paid                             | 11:00 the next business day        | the receipt (flag 1) sent              |
| `credit-notice`        | direct payment paid                      | 2 working days after payment       | the credit notice (7103) sent          |
| `clearing`             | clearing request of the day (ClearType 0) | the day's cutoff (urgent: 16:30)  | filed; refused by the central bank: faulty |
| `quota-arrival-notice` | authorized quota notice (7101) received  | 1 + 1 working days after arrival   | its last 7102 sent                     |
| `refund-notice`        | payment returned by the payee's bank     | 1 working day after the return     | the 2203 / 7105 sent; a refused 2302: faulty |
| `daily-report`         | business day with payments               | the next business day              | the 2206 sent                          |
| `monthly-report`       | month with payments                      | 2 working days after month end     | the 4004 sent                          |
| `monthly-statement`    | month with payments                      | 3 working days after month end     | the 3501 sent; the treasury disagreed: inaccurate |

The faulty profile's extra clearing request over the quota (a probe) is a `clearing` duty of
its own, done on time and faulty.

The simulated budget unit complains of every late payment and notice (`DutyEvent.complained`
left None). Each bank's size comes from what it paid in the run (`volumes`: amount and count,
`treasury_sim.scorecard.bank_sizes`). The simulation has no lost vouchers and no account
opening yet: `scorecard_of` takes them as `incidents` from the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at, to_local
from messages.dates import format_ymd, parse_ymd
from treasury_sim.scorecard import (
    RULES,
    BankMonth,
    DutyEvent,
    DutyKind,
    Incident,
    ScoringRules,
    due_time,
    scorecard,
)

__all__ = ["bank_events", "duty_events", "scorecard_of", "volumes"]

# Codes that say what was sent was wrong (inaccurate) rather than refused for its form (faulty).
INACCURATE = frozenset({"amount-mismatch"})


def _index(sent_at: Mapping[str, dt.datetime]) -> dict[tuple[str, str, int], dt.datetime]:
    """(VtCode, VoucherNo, flag) → when it was sent (StYear left out: a report is sent in the next year)."""
    out: dict[tuple[str, str, int], dt.datetime] = {}
    for key, when in sent_at.items():
        _adm, _year, vtcode, no, flag = key.split("/", 4)
        out[(vtcode, no, int(flag))] = when
    return out


def _refused(refusals: Mapping[str, str]) -> dict[tuple[str, str, int], str]:
    out: dict[tuple[str, str, int], str] = {}
    for key, code in refusals.items():
        _adm, _year, vtcode, no, flag = key.split("/", 4)
        out[(vtcode, no, int(flag))] = code
    return out


def bank_events(bank: str, core: Any, calendar: BusinessCalendar, clock: ClockConfig) -> list[DutyEvent]:
    """The duties of one bank (`bank_sim.core.BankCore`), named `bank` in the events."""
    duties = core.duties.s
    sent = _index(duties.sent_at)
    refused = _refused(duties.refusals)
    code4 = core.bank_code[-4:]
    events: list[DutyEvent] = []

    def add(kind: DutyKind, ref: str, due: dt.datetime, done: dt.datetime | None,
            messages: Iterable[tuple[str, str, int]] = (), *, accurate: bool = True, faulty: bool = False) -> None:
        codes = [refused[m] for m in messages if m in refused]
        accurate = accurate and not any(c in INACCURATE for c in codes)
        faulty = faulty or any(c not in INACCURATE for c in codes)
        events.append(DutyEvent(bank, kind, ref, due, done, accurate, faulty))

    paid_days: set[dt.date] = set()
    for p in core.payments.values():
        if p.day is None:
            continue  # not paid (yet, or returned unpaid, or refused): no payment duties to score
        paid_days.add(p.day)
        paid_at = p.received_at if to_local(p.received_at).date() == p.day else at(p.day, core.config.open_time)
        no = p.key.voucher_no
        add("payment", str(p.key), due_time("payment", p.received_at, calendar, clock), paid_at)
        receipt = (p.vtcode, no, 1)
        add("receipt", str(p.key._replace(flag=1)), due_time("receipt", p.day, calendar, clock), sent.get(receipt),
            [receipt])
        if p.vtcode == "5201":
            notice = ("7103", core.duties.credit_notice_no(p), 0)
            add("credit-notice", f"{notice[0]}/{notice[1]}", due_time("credit-notice", paid_at, calendar, clock),
                sent.get(notice), [notice])

    for f in core.filings.values():
        if f.clear_type != 0:
            continue  # a replenishment is the morning's duty of the reserve, not the day's clearing
        msg = ("2301", f.voucher_no, 0)
        add("clearing", f.voucher_no, due_time("clearing", f.clear_date, calendar, clock, urgent=f.urgent),
            sent.get(msg, f.filed_at), [msg], faulty=f.state == "rejected")
    for no in duties.probes:
        day = parse_ymd(no[7:15])  # HKP<bank 4><yyyyMMdd><seq>: the day of the filing it rode with
        if day is None:
            continue
        due = due_time("clearing", day, calendar, clock)
        add("clearing", no, due, due, faulty=True)  # an extra request over the quota: always a fault

    for no, arrived in core.quota_notices.items():
        mine = [when for (vtcode, n, _), when in sent.items() if vtcode == "7102" and n.startswith(f"DZ{no[-16:]}")]
        add("quota-arrival-notice", no, due_time("quota-arrival-notice", arrived, calendar, clock),
            max(mine) if mine else None)

    for r in duties.refunds.values():
        notice = next(((v, r.notice_no, 0) for v in ("2203", "7105", "2252") if (v, r.notice_no, 0) in sent),
                      ("2203", r.notice_no, 0))
        add("refund-notice", r.notice_no, due_time("refund-notice", r.returned_at, calendar, clock), sent.get(notice),
            [notice, ("2302", r.no, 0)], faulty=r.state == "rejected")

    for day in sorted(paid_days):
        msg = ("2206", f"RB{code4}{format_ymd(day)}", 0)
        add("daily-report", format_ymd(day), due_time("daily-report", day, calendar, clock), sent.get(msg), [msg])
    for month in sorted({(d.year, d.month) for d in paid_days}):
        ym = f"{month[0]:04d}{month[1]:02d}"
        first = dt.date(month[0], month[1], 1)
        report = ("4004", f"YB{code4}{ym}", 0)
        add("monthly-report", ym, due_time("monthly-report", first, calendar, clock), sent.get(report), [report])
        statement = ("3501", f"DZ{code4}{ym}", 0)
        sign_off = duties.sign_offs.get(ym)
        add("monthly-statement", ym, due_time("monthly-statement", first, calendar, clock), sent.get(statement),
            [statement], accurate=sign_off is None or sign_off[0] == "0")
    return events


def duty_events(bcores: Mapping[str, Any], calendar: BusinessCalendar, clock: ClockConfig) -> list[DutyEvent]:
    """Every bank's duties, `bcores` by the bank's name in the run (its participant id)."""
    return [e for bank, core in bcores.items() for e in bank_events(bank, core, calendar, clock)]


def volumes(bcores: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Each bank's (amount in fen, count) of the payments it paid: what its size is judged by."""
    return {bank: (sum(p.amount_fen for p in paid), len(paid))
            for bank, core in bcores.items() for paid in [[p for p in core.payments.values() if p.day is not None]]}


def scorecard_of(bcores: Mapping[str, Any], calendar: BusinessCalendar, clock: ClockConfig, as_of: dt.datetime,
                 rules: ScoringRules = RULES, incidents: Iterable[Incident] = ()) -> list[BankMonth]:
    """The scorecard of every bank and month, drawn up at `as_of` (duties due later are pending)."""
    return scorecard(duty_events(bcores, calendar, clock), calendar, rules, as_of=as_of, incidents=incidents,
                     volumes=volumes(bcores))
