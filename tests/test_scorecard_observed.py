"""The scorecard of a real bank (conformance mode), drawn from what it sent through the gateway
and when (runner.scorecard_feed.observed_bank_events): each duty on time when its message came by
the rule's deadline, late or missing otherwise, inaccurate when what it stated is not the
voucher's or the treasury's books. Pure: built from `Observed` values, no gateway."""

from __future__ import annotations

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


def test_reports_are_due_by_their_deadline_and_inaccurate_when_they_disagree_with_the_books() -> None:
    thu = WED + dt.timedelta(days=1)
    apr2 = dt.date(2026, 4, 2)
    paid = _paid("A1", 100_00, t(WED, "10:00"), WED, t(WED, "10:01"))
    reports = (ReportSeen("bank-a", "2206", "RB1", "20260325", "20260325", 100_01, 100_00, t(thu, "09:30")),
               ReportSeen("bank-a", "4004", "YB1", "20260301", "20260331", 100_00, 100_00, t(apr2, "09:30")),
               ReportSeen("bank-a", "3501", "DZ1", "20260301", "20260331", 100_00, 100_00, t(apr2, "09:30")))
    events = observed_bank_events("bank-a", _observed(paid, reports=reports), [], CAL, CC)
    daily, monthly, statement = (_one(events, k) for k in ("daily-report", "monthly-report", "monthly-statement"))
    assert _on_time(daily) and not daily.accurate  # 0.01 too much
    assert _on_time(monthly) and monthly.accurate and _on_time(statement) and statement.accurate
    none = observed_bank_events("bank-a", _observed(paid), [], CAL, CC)
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
