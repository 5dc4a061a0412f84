"""Feed the bank scorecard (`treasury_sim.scorecard`) from what actually happened in a run.

Pure: reads the bank cores' records after (or during) a run and returns one
`treasury_sim.scorecard.DutyEvent` per duty each bank had. Nothing is assumed: a duty is done
when its message actually left the bank (`bank_sim.duties` `sent`, after the profile held
it), and faulty when a message of it was refused by the gateway, the central bank or the
treasury (`refusals`, which also holds the codes of the faulty profile's own faults).

| duty                   | one per                                  | due (business_time.clock)          | done                                   |
|------------------------|------------------------------------------|------------------------------------|----------------------------------------|
| `payment`              | voucher paid                             | payment_deadline(arrival)          | when paid                              |
| `receipt`              | voucher paid                             | 11:00 the next business day        | the receipt (flag 1) sent              |
| `credit-notice`        | direct payment paid                      | 2 working days after payment       | the credit notice (7103) sent          |
| `clearing`             | clearing request of the day (ClearType 0) | the day's cutoff (urgent: 16:30)  | filed; refused by the central bank: faulty |
| `replenishment`        | reserve replenishment (ClearType 1); an advance day and pay type none names: one never done | noon of the business day after the advance day | filed; refused by the central bank: faulty |
| `quota-arrival-notice` | authorized quota notice (7101) received  | 1 + 1 working days after arrival   | its last 7102 sent                     |
| `refund-notice`        | payment returned by the payee's bank     | 1 working day after the return     | the 2203 / 7105 sent; a refused 2302: faulty |
| `daily-report`         | business day with payments               | the next business day              | the 2206 sent                          |
| `monthly-report`       | month with clearings accepted (`cleared_months`: the 4004 reports what was cleared) | 2 working days after month end | the 4004 sent |
| `monthly-statement`    | month with payments                      | 3 working days after month end     | the 3501 sent; the treasury disagreed: inaccurate |

The faulty profile's extra clearing request over the quota (a probe) is a `clearing` duty of
its own, done on time and faulty.

The simulated budget unit complains of every late payment and notice (`DutyEvent.complained`
left None). Each bank's size comes from what it paid in the run (`volumes`: amount and count,
`treasury_sim.scorecard.bank_sizes`). The simulation has no lost vouchers and no account
opening yet: `scorecard_of` takes them as `incidents` from the caller.

**A real bank** (conformance mode, `runner.conformance`) has no core to read: `observed_bank_events`
draws the same duties from what it sent through the gateway and when (`runner.observed.Observed`
and the `NoticeSeen` the runner taps off the wire), each due by the same deadline:

| duty | one per | done |
|---|---|---|
| `payment` | voucher it paid (a receipt without Return_Reason) | on the receipt's XPayDate: the hour of a payment is not on the wire, so the payment counts from that day's start (or the voucher's arrival, if later), or at the receipt's arrival if that was earlier; due from when the gateway accepted the voucher for it |
| `receipt` | voucher paid | the receipt reached the treasury; inaccurate when its XPayAmt is not the voucher's PayAmt |
| `credit-notice` | direct payment paid | its 7103 naming the payment (OriVoucherNo) reached the treasury |
| `clearing` | clearing request (ClearType 0) | filed; refused by the central bank: faulty (UrgentFlag 1: due by the urgent cutoff) |
| `replenishment` | reserve replenishment (ClearType 1); a day and pay type it advanced on (a payment in mode advance) that none names: not done | filed; refused by the central bank: faulty |
| `quota-arrival-notice` | 7101 delivered to it, one per AdmDivCode, StYear and VoucherNo (another year's of a number seen is a duty of its own) | its last 7102 naming that 7101 (OriVtCode / OriVoucherNo, its AdmDivCode); of two 7101s of one division and number, a 7102 answers the one that reached it last before it went |
| `refund-notice` | 2252 naming a payment it made (its division, number and OriVouDate year), of its amount, each payment its own duty; naming a batch direct payment, a line of it still paid to the notice's payee for its amount | its 2203 / 7105 naming the payment (a line's: of the line's amount and payee); a refused 2302 of it: faulty |
| `daily-report` / `monthly-statement` | day / month it paid in | its 2206 / 3501 of the period reached the treasury; inaccurate when its PayAmt is not what the treasury's books (the 2206: what was cleared; the 3501: its receipts; less its refunds) say |
| `monthly-report` | month in which a clearing request of its, of that division's payments, was accepted (the runner plays the central bank: `cleared_months`, as a simulated bank's) | its 4004 of the month reached the treasury; inaccurate when its PayAmt is not what was cleared in it, less its refunds |

Its size comes from what its receipts say it paid (`observed_volume`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bank_sim.notices import quota_notice_of
from bank_sim.quotas import arrival_notice_prefix
from bank_sim.reporting import sign_off_key
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at, or_calendar_end, to_local
from messages.dates import format_ymd, parse_ymd
from messages.envelope import VoucherKey
from treasury_sim.scorecard import (
    RULES,
    BankMonth,
    DutyEvent,
    DutyKind,
    Incident,
    ScoringRules,
    scorecard,
)
from treasury_sim.scorecard import (
    due_time as _agreement_due_time,
)

if TYPE_CHECKING:
    from runner.observed import Observed, PaymentSeen, ReceiptSeen, ReportSeen

__all__ = ["NoticeSeen", "bank_events", "cleared_months", "duty_events", "observed_bank_events", "observed_volume", "scorecard_of",
           "volumes"]

T = TypeVar("T")

# Codes that say what was sent was wrong (inaccurate) rather than refused for its form (faulty).
INACCURATE = frozenset({"amount-mismatch"})


class _Sent:
    """(VtCode, VoucherNo, flag) → when a bank sent it, StYear (and AdmDivCode) left out: a report is
    sent in the next year. Over `DutiesState.sent` ("adm/year/vtcode/flag" → VoucherNo → when, each
    in time order): when every group has one AdmDivCode and StYear and a flag 0 or 1 (a run within
    a year), a lookup reads its group by VoucherNo, and no index is built; otherwise the index of
    every send (the last sent of the same three wins), as before. A payment sends two or three
    messages: the index was most of what scoring a bank held."""

    def __init__(self, sent: Mapping[str, Mapping[str, dt.datetime]]) -> None:
        self.sent = sent
        prefixes: set[tuple[str, str]] = set()
        canonical = True
        for group, times in sent.items():
            if not times:
                continue
            adm, year, _vtcode, flag = group.split("/", 3)
            prefixes.add((adm, year))
            canonical = canonical and flag in ("0", "1")
        self.prefix = "{}/{}/".format(*next(iter(prefixes))) if len(prefixes) == 1 and canonical else None
        self.index: dict[tuple[str, str, int], dt.datetime] = {}
        # (AdmDivCode, VtCode, flag) → its groups' sends, every year (`of`): a division's sends apart
        # from another's of the same number (a group a division, year, VtCode and flag: a few)
        self.groups: dict[tuple[str, str, int], list[Mapping[str, dt.datetime]]] = {}
        for group, times in sent.items():
            adm, _year, vtcode, flag = group.split("/", 3)
            self.groups.setdefault((adm, vtcode, int(flag)), []).append(times)
        if self.prefix is None:
            for msg, when in sorted(self._all(), key=lambda item: item[1]):  # in the order they were sent
                self.index[msg] = when

    def _all(self) -> Iterator[tuple[tuple[str, str, int], dt.datetime]]:
        for group, times in self.sent.items():
            _adm, _year, vtcode, flag = group.split("/", 3)
            for no, when in times.items():
                yield (vtcode, no, int(flag)), when

    def get(self, msg: tuple[str, str, int], default: dt.datetime | None = None) -> dt.datetime | None:
        if self.prefix is None:
            return self.index.get(msg, default)
        times = self.sent.get(f"{self.prefix}{msg[0]}/{msg[2]}")
        return default if times is None else times.get(msg[1], default)

    def of(self, adm: str, msg: tuple[str, str, int], default: dt.datetime | None = None) -> dt.datetime | None:
        """`get` among the sends of division `adm` alone (any year: the last sent): two divisions
        may send the same VtCode and VoucherNo (a report's number is the bank's and the day's, a
        payment's the treasury's), each its own."""
        if self.prefix is not None:
            return self.get(msg, default) if self.prefix.startswith(f"{adm}/") else default
        found = [w for times in self.groups.get((adm, msg[0], msg[2]), ()) if (w := times.get(msg[1])) is not None]
        return max(found) if found else default

    def __contains__(self, msg: tuple[str, str, int]) -> bool:
        return self.get(msg) is not None

    def items(self) -> Iterator[tuple[tuple[str, str, int], dt.datetime]]:
        if self.prefix is None:
            yield from self.index.items()
            return
        yield from self._all()


def due_time(kind: DutyKind, anchor: dt.datetime | dt.date, calendar: BusinessCalendar, clock: ClockConfig,
             *, urgent: bool = False) -> dt.datetime:
    """`treasury_sim.scorecard.due_time`; a duty started on a day the calendar knows whose deadline
    lies past its end (the last known day's receipts and daily report, December's statements of the
    last year known) is due at `calendar_end`, a lower bound (`or_calendar_end`): pending at any
    time a run reaches, on time if done; it counts in the month after the calendar's last day."""
    start = to_local(anchor).date() if isinstance(anchor, dt.datetime) else anchor
    return or_calendar_end(lambda: _agreement_due_time(kind, anchor, calendar, clock, urgent=urgent), start, calendar)


def _refused(refusals: Mapping[str, str]) -> tuple[dict[tuple[str, str, int], str], dict[tuple[str, str, str, int], str]]:
    """The codes sends were refused with, by (VtCode, VoucherNo, flag) and by AdmDivCode too."""
    out: dict[tuple[str, str, int], str] = {}
    by_adm: dict[tuple[str, str, str, int], str] = {}
    for key, code in refusals.items():
        adm, _year, vtcode, no, flag = key.split("/", 4)
        out[(vtcode, no, int(flag))] = by_adm[(adm, vtcode, no, int(flag))] = code
    return out, by_adm


def bank_events(bank: str, core: Any, calendar: BusinessCalendar, clock: ClockConfig) -> list[DutyEvent]:
    """The duties of one bank (`bank_sim.core.BankCore`), named `bank` in the events."""
    duties = core.duties.s
    sent = _Sent(duties.sent)
    refused, refused_in = _refused(duties.refusals)
    code4 = core.bank_code[-4:]
    home = core.config.adm_div_code
    events: list[DutyEvent] = []

    def add(kind: DutyKind, ref: str, due: dt.datetime, done: dt.datetime | None,
            messages: Iterable[tuple[str, str, int]] = (), *, accurate: bool = True, faulty: bool = False,
            adm: str | None = None) -> None:
        """A duty; `adm`: the division whose sends `messages` are (None: their numbers are the bank's own)."""
        codes = [refused[m] for m in messages if m in refused] if adm is None else \
            [refused_in[k] for m in messages if (k := (adm, *m)) in refused_in]
        if codes:  # most duties had nothing refused
            accurate = accurate and not any(c in INACCURATE for c in codes)
            faulty = faulty or any(c not in INACCURATE for c in codes)
        events.append(DutyEvent(bank, kind, ref, due, done, accurate, faulty))

    # A payment's three due times depend on its arrival, its day and when it was paid only, and a
    # day's payments share a few of each (a batch arrives at one instant): each worked out once here.
    dues: dict[tuple[DutyKind, dt.datetime | dt.date], dt.datetime] = {}

    def due_of(kind: DutyKind, anchor: dt.datetime | dt.date) -> dt.datetime:
        when = dues.get((kind, anchor))
        if when is None:
            when = dues[(kind, anchor)] = due_time(kind, anchor, calendar, clock)
        return when

    paid_days: set[tuple[dt.date, str]] = set()  # (day, AdmDivCode): each division is reported its own
    advanced: set[tuple[dt.date, str]] = set()  # (day, pay type) the reserve advanced payments on
    for text, p in core.payments.items():
        if p.day is None:
            continue  # not paid (yet, or returned unpaid, or refused): no payment duties to score
        k = p.key
        paid_days.add((p.day, k.adm_div_code))
        if p.mode == "advance":
            advanced.add((p.day, p.pay_type))
        paid_at = p.received_at if to_local(p.received_at).date() == p.day else at(p.day, core.config.open_time)
        no = p.key.voucher_no
        key = str(p.key)  # the payments' own key text (the same) held by the event, not a copy per payment
        add("payment", text if text == key else key, due_of("payment", p.received_at), paid_at)
        receipt = (p.vtcode, no, 1)
        # its own sends: of its division (another's payment may have its VoucherNo)
        add("receipt", str(VoucherKey(k.adm_div_code, k.st_year, k.vtcode, k.voucher_no, 1)), due_of("receipt", p.day),
            sent.of(k.adm_div_code, receipt), [receipt], adm=k.adm_div_code)
        if p.vtcode == "5201":
            notice = ("7103", core.duties.credit_notice_no(p), 0)
            add("credit-notice", f"{notice[0]}/{notice[1]}" if k.adm_div_code == home else
                f"{notice[0]}/{notice[1]}/{k.adm_div_code}", due_of("credit-notice", paid_at),
                sent.of(k.adm_div_code, notice), [notice], adm=k.adm_div_code)

    for f in core.filings.values():
        msg = ("2301", f.voucher_no, 0)
        # a replenishment is due the next business day's morning (004 part 3 §9(12)), not by the day's cutoff
        duty: DutyKind = "replenishment" if f.clear_type == 1 else "clearing"
        add(duty, f.voucher_no, due_time(duty, f.clear_date, calendar, clock, urgent=f.urgent),
            sent.get(msg, f.filed_at), [msg], faulty=f.state == "rejected")
    events += _never_replenished(bank, advanced, {(f.clear_date, f.pay_type) for f in core.filings.values()
                                                  if f.clear_type == 1}, calendar, clock)
    for no in duties.probes:
        day = parse_ymd(no[7:15])  # HKP<bank 4><yyyyMMdd><seq>: the day of the filing it rode with
        if day is None:
            continue
        due = due_time("clearing", day, calendar, clock)
        add("clearing", no, due, due, faulty=True)  # an extra request over the quota: always a fault

    for seen, arrived in core.quota_notices.items():
        adm, st_year, no = quota_notice_of(seen)  # its 7102s: its division's, numbered after it
        mine = [when for times in sent.groups.get((adm, "7102", 0), ()) for n, when in times.items()
                if n.startswith(arrival_notice_prefix(no, st_year, when.year, adm=adm))]  # its own year's, not another's
        # named by its number as before; another division's or budget year's say which
        name = (no if adm == home else f"{adm}/{no}") + ("" if st_year == str(arrived.year) else f"@{st_year}")
        add("quota-arrival-notice", name, due_time("quota-arrival-notice", arrived, calendar, clock),
            max(mine) if mine else None)

    for r in duties.refunds.values():
        notice = next(((v, r.notice_no, 0) for v in ("2203", "7105", "2252") if (v, r.notice_no, 0) in sent),
                      ("2203", r.notice_no, 0))
        add("refund-notice", r.notice_no, due_time("refund-notice", r.returned_at, calendar, clock), sent.get(notice),
            [notice, ("2302", r.no, 0)], faulty=r.state == "rejected")

    # one report of each kind per division paid for (004 part 3 §10: to the treasury whose payments
    # they were), each numbered as the bank numbers them (the same for every division): a division's
    # report is its own duty, found among its own sends; the configured division's named as before
    def ref(period: str, adm: str) -> str:
        return period if adm == home else f"{period}/{adm}"

    for day, adm in sorted(paid_days):
        msg = ("2206", f"RB{code4}{format_ymd(day)}", 0)
        add("daily-report", ref(format_ymd(day), adm), due_time("daily-report", day, calendar, clock),
            sent.of(adm, msg), [msg], adm=adm)
    # the 4004 reports what was cleared in the month, the 3501 what was paid in it
    for year, month, adm in cleared_months((f.answered_at, (k.adm_div_code for k in f.payments))
                                           for f in core.filings.values() if f.state == "accepted"):
        ym = f"{year:04d}{month:02d}"
        report = ("4004", f"YB{code4}{ym}", 0)
        add("monthly-report", ref(ym, adm), due_time("monthly-report", dt.date(year, month, 1), calendar, clock),
            sent.of(adm, report), [report], adm=adm)
    for year, month, adm in sorted({(d.year, d.month, adm) for d, adm in paid_days}):
        ym = f"{year:04d}{month:02d}"
        first = dt.date(year, month, 1)
        statement = ("3501", f"DZ{code4}{ym}", 0)
        sign_off = duties.sign_offs.get(sign_off_key(ym, adm, home))  # that division's treasury's
        add("monthly-statement", ref(ym, adm), due_time("monthly-statement", first, calendar, clock),
            sent.of(adm, statement), [statement], accurate=sign_off is None or sign_off[0] == "0", adm=adm)
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
    """The scorecard of every bank and month, drawn up at `as_of` (duties due later are pending).

    Drawn one bank at a time: a bank's cards depend only on its own duties and incidents (and on
    every bank's volume, for its size), and `scorecard` sorts its cards by bank, so these are the
    cards of one call over every bank's events, with one bank's duty events held at a time instead
    of every bank's (a duty per payment: megabytes at the end of a busy day)."""
    sizes = volumes(bcores)
    incidents = list(incidents)
    cards: list[BankMonth] = []
    for bank in sorted(set(bcores) | {i.bank for i in incidents}):
        events = bank_events(bank, bcores[bank], calendar, clock) if bank in bcores else []
        cards += scorecard(events, calendar, rules, as_of=as_of, volumes=sizes,
                           incidents=[i for i in incidents if i.bank == bank])
        del events  # not held beside the next bank's while they are made
    return cards


# ---------------------------------------------------------------- a real bank, from the wire


@dataclass(frozen=True, slots=True)
class NoticeSeen:
    """A message (flag 0) that starts or ends a duty of a real bank, as the runner saw it pass:
    a 7101 or 2252 delivered to the bank (`to_bank`), a 7102, 7103, 2203 or 7105 it sent."""

    vtcode: str
    voucher_no: str
    ori_vtcode: str  # what it names (OriVtCode / OriVoucherNo), "" if nothing
    ori_voucher_no: str
    amount_fen: int
    at: dt.datetime  # business time it reached the gateway (sent) or was accepted for the bank (to it)
    to_bank: bool
    payee_acct: str = ""  # its PayeeAcctNo (a 2252's, a 2203's / 7105's: whose money came back), "" if none
    adm: str = ""  # its AdmDivCode ("": not known): each division numbers its own notices
    year: str = ""  # its StYear ("": not known): a 7101 is its budget year's, each year numbered afresh
    ori_year: str = ""  # the year of its OriVouDate ("": not given): which year's payment of the number it names


class _Divided(Generic[T]):
    """Records by (scope, VtCode, number), the first of each kept; the scope the AdmDivCode (and
    "/<StYear>" for a voucher): each division numbers its own vouchers and reports, each year
    afresh, so one's is never taken for another's of the same number. A record or a lookup whose
    scope is not known ("") matches any scope's."""

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str, str], T] = {}
        self.anywhere: dict[tuple[str, str], T] = {}

    def keep(self, adm: str, vtcode: str, no: str, record: T) -> None:
        self.exact.setdefault((adm, vtcode, no), record)
        self.anywhere.setdefault((vtcode, no), record)

    def get(self, adm: str, vtcode: str, no: str) -> T | None:
        if not adm:
            return self.anywhere.get((vtcode, no))
        found = self.exact.get((adm, vtcode, no))
        return self.exact.get(("", vtcode, no)) if found is None else found


def _payment_key(p: PaymentSeen) -> str:
    """A payment's key (adm/year/vtcode/no), or "//<VtCode>/<VoucherNo>" when not known."""
    return p.key or f"//{p.vtcode}/{p.voucher_no}"


def _division(p: PaymentSeen) -> str:
    """A payment's AdmDivCode, from its key (adm/year/vtcode/no); "" when not known."""
    return p.key.split("/", 1)[0] if p.key else ""


def _scope(key: str) -> str:
    """"<AdmDivCode>/<StYear>" of a voucher key text (adm/year/vtcode/no[/flag]); "" when not known."""
    return "/".join(key.split("/", 2)[:2]) if key else ""


def _receipt_scope(r: ReceiptSeen) -> str:
    """"<AdmDivCode>/<StYear>" of the voucher a receipt answers; "" when its division is not known."""
    return f"{r.adm}/{r.fields.get('StYear', '')}" if r.adm else ""


def _same(a: str, b: str) -> bool:
    """Two AdmDivCodes that may be one division's ("": not known, any)."""
    return a == b or not a or not b


def cleared_months(accepted: Iterable[tuple[dt.datetime | None, Iterable[str]]]) -> list[tuple[int, int, str]]:
    """The (year, month, AdmDivCode) a monthly expenditure report (4004) is owed for: a month in
    which the central bank accepted a clearing request covering a payment of that division.
    `accepted`: each accepted request's answer time (None: not answered yet, none) and its
    payments' divisions. The 4004 reports what was cleared in the month, not what was paid
    (docs/rules.md, "What each report counts"), and its XSD needs a Detail: a month whose payments
    all cleared in the next (an advance on its last business day) has none. The one rule for a
    simulated bank (its filings) and a real one (the requests the runner, as the central bank, answered)."""
    months: set[tuple[int, int, str]] = set()
    for answered_at, divisions in accepted:
        if answered_at is not None:
            day = to_local(answered_at).date()
            months.update((day.year, day.month, adm) for adm in divisions)
    return sorted(months)


def _never_replenished(bank: str, advanced: set[tuple[dt.date, str]], filed: set[tuple[dt.date, str]],
                       calendar: BusinessCalendar, clock: ClockConfig) -> list[DutyEvent]:
    """A replenishment never filed: one undone duty per (advance day, pay type) the reserve paid on
    and no ClearType 1 request names (ClearDate, PayTypeCode). The reserve is made whole the next
    working morning (004 part 3 §9(12)); a bank that never asks for it is missing it, not only late."""
    return [DutyEvent(bank, "replenishment", f"{format_ymd(day)}/{pay_type}",
                      due_time("replenishment", day, calendar, clock))
            for day, pay_type in sorted(advanced - filed)]


def _day_start(day: dt.date) -> dt.datetime:
    return at(day, dt.time.min)


BatchLine = tuple[str, str, int]  # a batch voucher's Detail: (Id, PayeeAcctNo, fen)


def observed_bank_events(bank: str, o: Observed, notices: Sequence[NoticeSeen], calendar: BusinessCalendar,
                         clock: ClockConfig, *, urgent: Iterable[str] = (),
                         batches: Mapping[str, Sequence[BatchLine]] | None = None, home: str = "") -> list[DutyEvent]:
    """The duties of a real bank `bank` (its scenario name), drawn from what it sent and when
    (see the module doc). `urgent`: the VoucherNo of its clearing requests with UrgentFlag 1.
    `batches`: the lines of each batch direct payment (a 5201 whose details name their payees) a
    2252 names, by the payment's key (adm/year/5201/no; a bare VoucherNo is taken for hand-made
    records): such a notice returns one line, not the payment. A refused refund request (2302)
    makes a duty faulty only for the payment of its division and OriVouDate year. A bank serving
    several divisions owes each its own: a payment's receipt and notices, a period's reports and a
    7101's arrival notices are looked for among what names that division (AdmDivCode), each its own
    duty; `home`: the world's division, whose duties are named as before (another's name it)."""
    urgent_nos = frozenset(urgent)
    events: list[DutyEvent] = []

    def named(ref: str, adm: str) -> str:
        return ref if adm in ("", home) else f"{ref}/{adm}"

    voucher_fen: _Divided[int] = _Divided()
    for v in o.sent:
        if v.bank == bank and v.flag == 0 and v.reached:
            voucher_fen.keep(_scope(v.key), v.vtcode, v.voucher_no, v.amount_fen)
    receipts: _Divided[ReceiptSeen] = _Divided()
    for r in sorted(o.receipts, key=lambda r: r.received_at):
        if r.sender == bank and r.return_reason is None:
            receipts.keep(_receipt_scope(r), r.vtcode, r.voucher_no, r)
    sent = [n for n in notices if not n.to_bank]

    def first_sent(vtcodes: tuple[str, ...], ori_no: str, adm: str) -> dt.datetime | None:
        return min((n.at for n in sent if n.vtcode in vtcodes and n.ori_voucher_no == ori_no and _same(n.adm, adm)),
                   default=None)

    paid = [p for p in o.payments if p.bank == bank and p.paid_day is not None]
    paid_days: set[tuple[dt.date, str]] = set()
    advanced: set[tuple[dt.date, str]] = set()
    for p in paid:
        assert p.paid_day is not None
        adm, scope = _division(p), _scope(p.key)
        paid_days.add((p.paid_day, adm))
        if p.mode == "advance":
            advanced.add((p.paid_day, "11" if p.vtcode == "5201" else "12"))
        receipt = receipts.get(scope, p.vtcode, p.voucher_no)
        got = receipt.received_at if receipt is not None else None
        paid_at = max(_day_start(p.paid_day), p.received_at)
        if got is not None:
            paid_at = min(paid_at, got)
        st_year = scope.partition("/")[2]  # another budget year's than the day it was paid (January): said
        ref = named(f"{p.vtcode}/{p.voucher_no}", adm) + ("" if st_year in ("", str(p.paid_day.year)) else f"@{st_year}")
        events.append(DutyEvent(bank, "payment", ref, due_time("payment", p.received_at, calendar, clock), paid_at))
        ordered = voucher_fen.get(scope, p.vtcode, p.voucher_no)
        events.append(DutyEvent(bank, "receipt", f"{ref}/1", due_time("receipt", p.paid_day, calendar, clock), got,
                                accurate=ordered is None or ordered == p.amount_fen))
        if p.vtcode == "5201":
            events.append(DutyEvent(bank, "credit-notice", named(f"7103/{p.voucher_no}", adm),
                                    due_time("credit-notice", paid_at, calendar, clock),
                                    first_sent(("7103",), p.voucher_no, adm)))

    for c in o.clearings:
        if c.bank != bank:
            continue
        duty: DutyKind = "replenishment" if c.clear_type == 1 else "clearing"  # due the next business morning
        events.append(DutyEvent(bank, duty, c.voucher_no,
                                due_time(duty, c.clear_date, calendar, clock, urgent=c.voucher_no in urgent_nos),
                                c.filed_at, faulty=c.state == "rejected"))
    events += _never_replenished(bank, advanced, {(c.clear_date, c.pay_type) for c in o.clearings
                                                  if c.bank == bank and c.clear_type == 1}, calendar, clock)

    # (AdmDivCode, StYear, VoucherNo) → when it reached the bank: each division numbers its own
    # 7101s, each budget year afresh, so another year's of a number seen is a duty of its own
    quota_notices: dict[tuple[str, str, str], dt.datetime] = {}
    for n in sorted(notices, key=lambda n: n.at):
        if n.to_bank and n.vtcode == "7101":
            quota_notices.setdefault((n.adm, n.year, n.voucher_no), n.at)
    answered = _arrival_notices(quota_notices, sent)
    for (adm, st_year, no), arrived in quota_notices.items():
        ref = named(no, adm) + ("" if st_year in ("", str(arrived.year)) else f"@{st_year}")
        events.append(DutyEvent(bank, "quota-arrival-notice", ref,
                                due_time("quota-arrival-notice", arrived, calendar, clock),
                                max(answered.get((adm, st_year, no), ()), default=None)))
    events += _returns(bank, o, paid, notices, batches or {}, calendar, clock, named)

    reports: _Divided[ReportSeen] = _Divided()
    for rep in sorted(o.reports, key=lambda r: r.received_at):
        if rep.bank == bank:
            reports.keep(rep.adm, rep.vtcode, rep.begin, rep)

    def report(kind: DutyKind, vtcode: str, begin: str, due: dt.datetime, adm: str) -> None:
        rep = reports.get(adm, vtcode, begin)
        events.append(DutyEvent(bank, kind, named(f"{vtcode}/{begin}", adm), due, rep.received_at if rep else None,
                                accurate=rep is None or rep.agrees))

    for day, adm in sorted(paid_days):
        report("daily-report", "2206", format_ymd(day), due_time("daily-report", day, calendar, clock), adm)
    # the 4004 of a month with clearings the runner (the central bank) accepted, as a simulated bank's;
    # a hand-made record naming no payment's key: of any division ("")
    for year, month, adm in cleared_months((c.answered_at, [k.split("/", 1)[0] for k in c.keys] or [""])
                                           for c in o.clearings if c.bank == bank and c.state == "accepted"):
        first = dt.date(year, month, 1)
        report("monthly-report", "4004", format_ymd(first), due_time("monthly-report", first, calendar, clock), adm)
    for year, month, adm in sorted({(d.year, d.month, adm) for d, adm in paid_days}):
        first = dt.date(year, month, 1)
        report("monthly-statement", "3501", format_ymd(first), due_time("monthly-statement", first, calendar, clock),
               adm)
    return events


def _arrival_notices(quota_notices: Mapping[tuple[str, str, str], dt.datetime],
                     sent: Sequence[NoticeSeen]) -> dict[tuple[str, str, str], list[dt.datetime]]:
    """When each arrival notice (7102) answering a 7101 went, by the 7101's (AdmDivCode, StYear,
    VoucherNo). A 7102 names its 7101 by OriVoucherNo alone, under its division (AdmDivCode); of
    two 7101s of the division and number (two budget years') it answers the one that had reached
    the bank last when it went (of those arrived together, the one of its own StYear), or, sent
    before any had, the first to arrive."""
    by_no: dict[str, list[tuple[dt.datetime, tuple[str, str, str]]]] = {}
    for key, arrived in quota_notices.items():
        by_no.setdefault(key[2], []).append((arrived, key))
    out: dict[tuple[str, str, str], list[dt.datetime]] = {}
    for n in sent:
        if n.vtcode != "7102" or n.ori_vtcode != "7101":
            continue
        mine = [(arrived, key) for arrived, key in by_no.get(n.ori_voucher_no, ()) if _same(n.adm, key[0])]
        if not mine:
            continue
        before = [c for c in mine if c[0] <= n.at]
        chosen = (max(before, key=lambda c: (c[0], c[1][1] == n.year)) if before
                  else min(mine, key=lambda c: (c[0], c[1][1] != n.year)))
        out.setdefault(chosen[1], []).append(n.at)
    return out


def _returns(bank: str, o: Observed, paid: Sequence[PaymentSeen], notices: Sequence[NoticeSeen],
             batches: Mapping[str, Sequence[BatchLine]], calendar: BusinessCalendar,
             clock: ClockConfig, named: Callable[[str, str], str]) -> list[DutyEvent]:
    """The refund-notice duties of a real bank: one per payment a 2252 returned whole (its amount),
    and, as the simulated bank's (`bank_sim.batches.line_of_notice`), one per line of a batch direct
    payment a 2252 returned (the first line still paid to its PayeeAcctNo for its PayAmt; a line
    comes back once). A whole return is done by the first 2203 / 7105 naming the payment; a line's
    by the first naming it for the line's amount and payee (each notice ends one line's duty).
    The notices name the payment's division (AdmDivCode) and, by OriVouDate, its year: another
    division's or year's payment of the same number is not the one returned (of two a notice cannot
    tell apart, a 2252 returns the latest paid of its amount not returned yet), and each payment
    returned whole is a duty of its own, each 2203 / 7105 ending one."""
    by_no: dict[tuple[str, str], list[PaymentSeen]] = {}  # (VtCode, VoucherNo) → the payments, in order
    for p in paid:
        by_no.setdefault((p.vtcode, p.voucher_no), []).append(p)

    def named_by(n: NoticeSeen, key: str) -> bool:  # whether notice `n` may name the payment of `key`
        adm, year = key.split("/")[:2] if key.count("/") == 3 else ("", "")
        return _same(n.adm, adm) and (not year or n.ori_year in ("", year))

    whole: dict[str, tuple[str, str, dt.datetime]] = {}  # payment key → (AdmDivCode, VoucherNo, returned)
    # (payment key, Id) → AdmDivCode, VoucherNo, payee, fen, returned
    lines: dict[tuple[str, str], tuple[str, str, str, int, dt.datetime]] = {}
    left = {key: list(ls) for key, ls in batches.items()}  # by payment key (a bare VoucherNo: hand-made)
    for n in sorted((n for n in notices if n.to_bank and n.vtcode == "2252"), key=lambda n: n.at):
        candidates = [p for p in by_no.get((n.ori_vtcode, n.ori_voucher_no), ()) if named_by(n, _payment_key(p))]
        if not candidates:
            continue  # names no payment of this bank: nothing to refund
        of = next((_payment_key(c) for c in reversed(candidates)
                   if n.ori_vtcode == "5201" and _payment_key(c) in left), None)
        batch = left[of] if of is not None else left.get(n.ori_voucher_no) if n.ori_vtcode == "5201" else None
        if batch is None:
            hit = next((c for c in reversed(candidates)
                        if c.amount_fen == n.amount_fen and _payment_key(c) not in whole), None)
            if hit is not None:
                whole[_payment_key(hit)] = (n.adm or _division(hit), n.ori_voucher_no, n.at)
            continue
        line = next((x for x in batch if x[1] == n.payee_acct and x[2] == n.amount_fen), None)
        if line is not None:
            batch.remove(line)
            lines[(of or f"{n.adm}//5201/{n.ori_voucher_no}", line[0])] = (n.adm, n.ori_voucher_no, line[1], line[2],
                                                                           n.at)
    # each notice once (a redelivery is the same notice), in the order they went
    told = list({(n.vtcode, n.voucher_no, n.adm, n.year): n for n in sorted(
        (n for n in notices if not n.to_bank and n.vtcode in ("2203", "7105")), key=lambda n: n.at,
        reverse=True)}.values())[::-1]

    def refused(key: str, no: str, fen: int | None = None) -> bool:  # a refused 2302 of the payment of `key`
        adm, year = key.split("/")[:2] if key.count("/") == 3 else ("", "")
        return any(r.bank == bank and r.voucher_no == no and r.state == "rejected" and _same(r.adm, adm)
                   and (not year or r.ori_year in ("", year)) and (fen is None or r.amount_fen == fen)
                   for r in o.refunds)

    events = []
    ended: set[int] = set()  # the notices that ended a whole return's duty
    for key, (adm, no, returned) in whole.items():
        i = next((i for i, n in enumerate(told) if i not in ended and n.ori_voucher_no == no
                  and named_by(n, key)), None)
        if i is not None:
            ended.add(i)
        year = key.split("/")[1] if key.count("/") == 3 else ""
        ref = named(no, adm) + ("" if year in ("", str(returned.year)) else f"@{year}")
        events.append(DutyEvent(bank, "refund-notice", ref, due_time("refund-notice", returned, calendar, clock),
                                told[i].at if i is not None else None, faulty=refused(key, no)))
    used: set[int] = set()
    for (key, line_id), (adm, no, acct, fen, returned) in lines.items():
        i = next((i for i, n in enumerate(told) if i not in used and n.ori_voucher_no == no and n.amount_fen == fen
                  and n.payee_acct in ("", acct) and _same(n.adm, adm) and named_by(n, key)), None)
        if i is not None:
            used.add(i)
        year = key.split("/")[1] if key.count("/") == 3 else ""
        events.append(DutyEvent(bank, "refund-notice", named(f"{no}#{line_id}", adm)
                                + ("" if year in ("", str(returned.year)) else f"@{year}"),
                                due_time("refund-notice", returned, calendar, clock),
                                told[i].at if i is not None else None, faulty=refused(key, no, fen)))
    return events


def observed_volume(bank: str, o: Observed) -> tuple[int, int]:
    """A real bank's (amount in fen, count) of what its receipts say it paid: what its size is judged by."""
    paid = [p for p in o.payments if p.bank == bank and p.paid_day is not None]
    return sum(p.amount_fen for p in paid), len(paid)
