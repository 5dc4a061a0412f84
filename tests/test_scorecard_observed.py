"""The scorecard of a real bank (conformance mode), drawn from what it sent through the gateway
and when (runner.scorecard_feed.observed_bank_events): each duty on time when its message came by
the rule's deadline, late or missing otherwise, inaccurate when what it stated is not the
voucher's or the treasury's books. Pure: built from `Observed` values, no gateway."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from runner.observed import (
    ClearingSeen,
    Observed,
    PaymentSeen,
    ReceiptSeen,
    RefundSeen,
    ReportSeen,
    SentVoucher,
    Verdict,
)
from runner.scorecard_feed import NoticeSeen, observed_bank_events, observed_volume
from treasury_sim.scorecard import scorecard

CAL = BusinessCalendar.default()
CC = ClockConfig()
WED = dt.date(2026, 3, 25)  # a business day; Thu 26, Fri 27, Mon 30 are too


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def _sent(no: str, fen: int, when: dt.datetime, vtcode: str = "5201") -> SentVoucher:
    return SentVoucher(no, f"990100/2026/{vtcode}/{no}/0", vtcode, no, 0, "treasury", "bank-a", "999100000001", fen,
                       when, verdicts=(Verdict("gateway", "gateway", True, None, "accepted", when, "accepted"),))


def _paid(no: str, fen: int, arrived: dt.datetime, xpaydate: dt.date, receipt_at: dt.datetime,
          xpayamt: int | None = None, vtcode: str = "5201") -> tuple[SentVoucher, PaymentSeen, ReceiptSeen]:
    paid_fen = fen if xpayamt is None else xpayamt
    return (_sent(no, fen, arrived, vtcode),
            PaymentSeen("bank-a", "999100000001", no, vtcode, paid_fen, "clearing", arrived, xpaydate, None),
            ReceiptSeen(no, vtcode, "bank-a", receipt_at, {"XPayDate": f"{xpaydate:%Y%m%d}",
                                                           "XPayAmt": f"{paid_fen // 100}.{paid_fen % 100:02d}"}))


def _observed(*paid: tuple[SentVoucher, PaymentSeen, ReceiptSeen], **more: object) -> Observed:
    return Observed("s", 1, t(WED, "08:00"), t(dt.date(2026, 4, 10), "17:00"), sent=tuple(p[0] for p in paid),
                    payments=tuple(p[1] for p in paid), receipts=tuple(p[2] for p in paid), **more)  # type: ignore[arg-type]


def _one(events: list, kind: str):  # type: ignore[no-untyped-def,type-arg]
    [e] = [e for e in events if e.kind == kind]
    return e


def _on_time(e) -> bool:  # type: ignore[no-untyped-def]
    return e.done is not None and e.done <= e.due


def test_a_voucher_at_1630_paid_that_day_is_on_time_though_its_receipt_comes_the_next_morning() -> None:
    """The receipt may come by 11:00 the next business day: its arrival is not the payment's time."""
    o = _observed(_paid("A1", 100_00, t(WED, "16:30"), WED, t(WED + dt.timedelta(days=1), "09:30")))
    events = observed_bank_events("bank-a", o, [], CAL, CC)
    assert _on_time(_one(events, "payment")) and _on_time(_one(events, "receipt"))
    assert _one(events, "receipt").accurate


def test_a_voucher_at_1630_paid_the_next_morning_is_late() -> None:
    thu = WED + dt.timedelta(days=1)
    o = _observed(_paid("A1", 100_00, t(WED, "16:30"), thu, t(thu, "09:00")))
    pay = _one(observed_bank_events("bank-a", o, [], CAL, CC), "payment")
    assert not _on_time(pay) and pay.due == t(WED, "17:00")


def test_after_the_close_a_payment_dated_the_next_business_day_is_on_time_and_one_two_days_on_is_late() -> None:
    thu, fri = WED + dt.timedelta(days=1), WED + dt.timedelta(days=2)
    ok = _observed(_paid("A1", 100_00, t(WED, "17:30"), thu, t(thu, "10:40")))
    late = _observed(_paid("A1", 100_00, t(WED, "17:30"), fri, t(fri, "09:00")))
    assert _on_time(_one(observed_bank_events("bank-a", ok, [], CAL, CC), "payment"))
    assert not _on_time(_one(observed_bank_events("bank-a", late, [], CAL, CC), "payment"))


def test_a_receipt_after_1100_the_next_business_day_is_late_and_one_a_fen_short_is_inaccurate() -> None:
    thu = WED + dt.timedelta(days=1)
    late = _observed(_paid("A1", 100_00, t(WED, "10:00"), WED, t(thu, "11:30")))
    short = _observed(_paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01"), xpayamt=99_99))
    assert not _on_time(_one(observed_bank_events("bank-a", late, [], CAL, CC), "receipt"))
    receipt = _one(observed_bank_events("bank-a", short, [], CAL, CC), "receipt")
    assert _on_time(receipt) and not receipt.accurate


def test_only_the_bank_under_test_is_scored() -> None:
    o = _observed(_paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01")))
    assert observed_bank_events("bank-b", o, [], CAL, CC) == []
    assert observed_volume("bank-a", o) == (100_00, 1) and observed_volume("bank-b", o) == (0, 0)


def test_notices_are_matched_by_what_they_name_and_counted_on_time_or_missing() -> None:
    thu, fri, mon = (WED + dt.timedelta(days=n) for n in (1, 2, 5))
    o = _observed(_paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01")))
    quota = NoticeSeen("7101", "QN1", "", "", 500_00, t(WED, "09:00"), True)
    on_time = [quota, NoticeSeen("7102", "DZ1", "7101", "QN1", 500_00, t(fri, "23:00"), False),
               NoticeSeen("7103", "RZA1", "5201", "A1", 100_00, t(thu, "09:30"), False)]
    events = observed_bank_events("bank-a", o, on_time, CAL, CC)
    assert _on_time(_one(events, "quota-arrival-notice")) and _on_time(_one(events, "credit-notice"))
    # the 7102 on the third working day is late; a 7102 naming another 7101 and a 7103 naming
    # another payment end no duty of these: missing
    wrong = [quota, NoticeSeen("7102", "DZ1", "7101", "QN1", 500_00, t(mon, "09:00"), False),
             NoticeSeen("7103", "RZX", "5201", "OTHER", 100_00, t(thu, "09:30"), False)]
    events = observed_bank_events("bank-a", o, wrong, CAL, CC)
    assert not _on_time(_one(events, "quota-arrival-notice"))
    assert _one(events, "credit-notice").done is None


def test_a_returned_payment_needs_its_refund_notice_within_a_working_day() -> None:
    thu, fri = WED + dt.timedelta(days=1), WED + dt.timedelta(days=2)
    o = _observed(_paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01")),
                  refunds=(RefundSeen("bank-a", "A1", "TK1", 100_00, t(thu, "10:00"), "accepted"),))
    back = NoticeSeen("2252", "ST1", "5201", "A1", 100_00, t(thu, "10:00"), True)
    told = NoticeSeen("2203", "TP1", "5201", "A1", 100_00, t(thu, "10:05"), False)
    assert _on_time(_one(observed_bank_events("bank-a", o, [back, told], CAL, CC), "refund-notice"))
    slow = NoticeSeen("2203", "TP1", "5201", "A1", 100_00, t(fri + dt.timedelta(days=3), "09:00"), False)
    assert not _on_time(_one(observed_bank_events("bank-a", o, [back, slow], CAL, CC), "refund-notice"))
    # a 2252 naming no payment of the bank (or not its amount) is no duty of it
    stray = NoticeSeen("2252", "ST2", "5201", "A1", 99_00, t(thu, "10:00"), True)
    assert [e for e in observed_bank_events("bank-a", o, [stray], CAL, CC) if e.kind == "refund-notice"] == []


def _cleared(no: str, payments: tuple[str, ...], answered: dt.datetime, *, clear_type: int = 0,
             keys: tuple[str, ...] = (), state: str = "accepted") -> ClearingSeen:
    """bank-a's clearing request `no` of `payments`, filed and answered (`state`) at `answered`."""
    return ClearingSeen("bank-a", "999100000001", no, clear_type, "11", answered.date(), answered, 100_00, payments,
                        state, answered_at=answered, keys=keys)  # type: ignore[arg-type]


def test_reports_are_due_by_their_deadline_and_inaccurate_when_they_disagree_with_the_books() -> None:
    thu = WED + dt.timedelta(days=1)
    apr2 = dt.date(2026, 4, 2)
    paid = _paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01"))
    # cleared that day: the month's 4004 (what was cleared) is owed, as its 3501 (what was paid)
    cleared = (_cleared("C1", ("A1",), t(WED, "15:30")),)
    reports = (ReportSeen("bank-a", "2206", "RB1", "20260325", "20260325", 100_01, 100_00, t(thu, "09:30")),
               ReportSeen("bank-a", "4004", "YB1", "20260301", "20260331", 100_00, 100_00, t(apr2, "09:30")),
               ReportSeen("bank-a", "3501", "DZ1", "20260301", "20260331", 100_00, 100_00, t(apr2, "09:30")))
    events = observed_bank_events("bank-a", _observed(paid, reports=reports, clearings=cleared), [], CAL, CC)
    daily, monthly, statement = (_one(events, k) for k in ("daily-report", "monthly-report", "monthly-statement"))
    assert _on_time(daily) and not daily.accurate  # 0.01 too much
    assert _on_time(monthly) and monthly.accurate and _on_time(statement) and statement.accurate
    none = observed_bank_events("bank-a", _observed(paid, clearings=cleared), [], CAL, CC)
    assert all(_one(none, k).done is None for k in ("daily-report", "monthly-report", "monthly-statement"))


def test_a_refused_clearing_request_is_faulty_and_one_filed_after_the_cutoff_late() -> None:
    def filing(no: str, when: dt.datetime, state: str) -> ClearingSeen:
        return ClearingSeen("bank-a", "999100000001", no, 0, "11", WED, when, 100_00, ("A1",), state)  # type: ignore[arg-type]

    o = _observed(clearings=(filing("C1", t(WED, "15:30"), "rejected"), filing("C2", t(WED, "16:10"), "accepted")))
    c1, c2 = (e for e in observed_bank_events("bank-a", o, [], CAL, CC) if e.kind == "clearing")
    assert _on_time(c1) and c1.faulty and not _on_time(c2) and not c2.faulty
    # an urgent request (UrgentFlag 1) is due by the urgent cutoff, 16:30
    urgent = [e for e in observed_bank_events("bank-a", o, [], CAL, CC, urgent=["C2"]) if e.ref == "C2"]
    assert _on_time(urgent[0])


@given(st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=6),
       st.integers(min_value=1, max_value=3 * 24 * 60), st.integers(min_value=0, max_value=3 * 24 * 60))
def test_a_later_payment_date_or_receipt_never_scores_the_payment_better(day_a: int, day_b: int, minutes_a: int,
                                                                         minutes_b: int) -> None:
    """Lateness is monotonic: the same payment dated later, or its receipt coming later, is never
    on time where the earlier one was late, and never costs fewer points."""
    arrived = t(WED, "16:30")

    def payment(days: int, minutes: int):  # type: ignore[no-untyped-def]
        day = CAL.add_business_days(WED, days)
        receipt = max(arrived + dt.timedelta(minutes=minutes), t(day, "08:00"))
        pay = _one(observed_bank_events("bank-a", _observed(_paid("A1", 100_00, arrived, day, receipt)), [], CAL, CC),
                   "payment")
        [card] = scorecard([pay], CAL, as_of=t(dt.date(2026, 4, 30), "17:00"))
        return _on_time(pay), card.deducted

    early, late = sorted([(day_a, minutes_a), (day_b, minutes_b)])
    late = (late[0], max(late[1], early[1]))
    (early_ok, early_cost), (late_ok, late_cost) = payment(*early), payment(*late)
    assert early_ok or not late_ok
    assert late_cost >= early_cost
    assert payment(0, 1)[0] and not payment(1, 1)[0]  # paid the day it came at 16:30, or the next: late


MAR31, APR1 = dt.date(2026, 3, 31), dt.date(2026, 4, 1)  # March's last business day (a Tuesday), the next


def _card(events: list, month: int, kind: str):  # type: ignore[no-untyped-def,type-arg]
    """bank-a's scorecard line of `kind` in 2026's `month`, drawn up on 10 April (None: no duty in it)."""
    cards = scorecard(events, CAL, as_of=t(dt.date(2026, 4, 10), "17:00"), volumes={"bank-a": (1, 1)})
    return next((line for m in cards if m.month == month for line in m.lines if line.kind == kind), None)


def test_a_month_whose_only_payment_cleared_the_next_owes_no_monthly_report() -> None:
    """The 4004 reports what was cleared in the month (docs/rules.md, "What each report counts") and
    its XSD needs a Detail: March's one payment, advanced at 16:20 on its last business day and
    replenished on 1 April, leaves March nothing to report. A real bank that (as the simulated
    ones and the example bank) sends no 4004 for March is not missing one (was: a duty of every
    month with payments, counted late in April); its 3501 of March (what was paid) is owed."""
    paid = _paid("A1", 90_00, t(MAR31, "16:20"), MAR31, t(MAR31, "16:21"))
    refill = _cleared("R1", ("A1",), t(APR1, "08:40"), clear_type=1)
    statement = ReportSeen("bank-a", "3501", "DZ1", "20260301", "20260331", 90_00, 90_00, t(APR1, "09:30"))
    events = observed_bank_events("bank-a", _observed(paid, clearings=(refill,), reports=(statement,)), [], CAL, CC)
    assert [e.ref for e in events if e.kind == "monthly-report"] == ["4004/20260401"]  # April's, due in May
    assert _card(events, 4, "monthly-report") is None
    line = _card(events, 4, "monthly-statement")
    assert line is not None and line.on_time == 1 and not line.late and not line.missing


def test_a_month_with_clearings_owes_its_monthly_report_and_one_not_sent_is_missing() -> None:
    """The other way: a payment of 31 March cleared that day makes March owe a 4004; a bank that
    sends none is missing it (and one that sends it by 2 April is on time). Nor does a request
    the central bank refused, or one of another bank, make a month owe one."""
    paid = _paid("A1", 90_00, t(MAR31, "10:00"), MAR31, t(MAR31, "10:01"))
    same_day = _cleared("C1", ("A1",), t(MAR31, "15:30"))
    events = observed_bank_events("bank-a", _observed(paid, clearings=(same_day,)), [], CAL, CC)
    assert _one(events, "monthly-report").ref == "4004/20260301"
    line = _card(events, 4, "monthly-report")
    assert line is not None and line.missing == 1 and line.on_time == 0
    report = ReportSeen("bank-a", "4004", "YB1", "20260301", "20260331", 90_00, 90_00, t(APR1, "09:30"))
    sent = observed_bank_events("bank-a", _observed(paid, clearings=(same_day,), reports=(report,)), [], CAL, CC)
    assert _on_time(_one(sent, "monthly-report"))
    refused = _cleared("C1", ("A1",), t(MAR31, "15:30"), state="rejected")
    theirs = dataclasses.replace(same_day, bank="bank-b")
    for clearings in ((refused,), (theirs,)):
        owed = observed_bank_events("bank-a", _observed(paid, clearings=clearings), [], CAL, CC)
        assert [e for e in owed if e.kind == "monthly-report"] == []


DIVISIONS = ("990100", "990200")


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=70), st.sampled_from(DIVISIONS),
                          st.sampled_from(("accepted", "rejected", "pending"))), max_size=6),
       st.lists(st.tuples(st.integers(min_value=0, max_value=70), st.sampled_from(DIVISIONS)), max_size=4))
def test_a_real_bank_owes_a_monthly_report_for_each_month_and_division_cleared(
        clearings: list[tuple[int, str, str]], payments: list[tuple[int, str]]) -> None:
    """Oracle: a 4004 is owed for each (month, division) with a clearing request of that division's
    payments accepted in it, whatever was paid when; a 3501 for each (month, division) paid in."""
    first = dt.date(2026, 2, 20)
    paid = [(_sent(f"P{i}", 1_00, t(first, "09:00")),
             PaymentSeen("bank-a", "999100000001", f"P{i}", "5201", 1_00, "clearing", t(first, "09:00"),
                         first + dt.timedelta(days=d), None, f"{adm}/2026/5201/P{i}"),
             ReceiptSeen(f"P{i}", "5201", "bank-a", t(first, "09:01"), {}))
            for i, (d, adm) in enumerate(payments)]
    requests = tuple(_cleared(f"C{i}", (f"X{i}",), t(first + dt.timedelta(days=d), "15:00"),
                              keys=(f"{adm}/2026/5201/X{i}",), state=state)
                     for i, (d, adm, state) in enumerate(clearings))
    events = observed_bank_events("bank-a", _observed(*paid, clearings=requests), [], CAL, CC, home="990100")

    def refs(vtcode: str, days: list[tuple[int, str]]) -> set[str]:
        return {f"{vtcode}/{first + dt.timedelta(days=d):%Y%m}01" + ("" if adm == "990100" else f"/{adm}")
                for d, adm in days}

    assert {e.ref for e in events if e.kind == "monthly-report"} == \
        refs("4004", [(d, adm) for d, adm, state in clearings if state == "accepted"])
    assert {e.ref for e in events if e.kind == "monthly-statement"} == refs("3501", payments)
