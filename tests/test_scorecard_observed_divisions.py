"""The scorecard of a real bank read off the wire (`runner.scorecard_feed.observed_bank_events`)
when it serves two divisions: a voucher is its key (AdmDivCode, StYear, VtCode, VoucherNo), each
division's treasury numbering its own vouchers afresh each year, and each division is owed its own
reports (004 part 3 §10) and arrival notices (§9(2)). Before, receipts were looked up by (VtCode,
VoucherNo), reports by (VtCode, period) and 7101s by number: another division's (or year's)
receipt, report or 7102 of the same number or period was taken for this one's."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from runner.observed import Observed, PaymentSeen, ReceiptSeen, ReportSeen, SentVoucher, Verdict
from runner.scorecard_feed import NoticeSeen, observed_bank_events

CAL = BusinessCalendar.default()
CC = ClockConfig()
WED = dt.date(2026, 3, 25)
HOME, OTHER = "990100", "990200"
CODE = "999100000001"


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def _voucher(adm: str, year: str, no: str, fen: int, receipt: tuple[dt.datetime, int] | None,
             ) -> tuple[SentVoucher, PaymentSeen, ReceiptSeen | None]:
    """A 5201 of division `adm` and year `year` paid on WED; its receipt (when, XPayAmt), if sent."""
    key = f"{adm}/{year}/5201/{no}"
    arrived = t(WED, "10:00")
    sent = SentVoucher(no, f"{key}/0", "5201", no, 0, "treasury", "bank-a", CODE, fen, arrived,
                       verdicts=(Verdict("gateway", "gateway", True, None, "accepted", arrived, "accepted"),))
    paid_fen = fen if receipt is None else receipt[1]  # what its receipt says was paid
    paid = PaymentSeen("bank-a", CODE, no, "5201", paid_fen, "clearing", arrived, WED, None, key)
    seen = None if receipt is None else ReceiptSeen(
        no, "5201", "bank-a", receipt[0], {"AdmDivCode": adm, "StYear": year, "XPayDate": f"{WED:%Y%m%d}",
                                           "XPayAmt": f"{receipt[1] // 100}.{receipt[1] % 100:02d}"}, None, adm)
    return sent, paid, seen


def _observed(vouchers: list[tuple[SentVoucher, PaymentSeen, ReceiptSeen | None]],
              reports: tuple[ReportSeen, ...] = ()) -> Observed:
    return Observed("s", 1, t(WED, "08:00"), t(dt.date(2026, 4, 10), "17:00"), sent=tuple(v[0] for v in vouchers),
                    payments=tuple(v[1] for v in vouchers), receipts=tuple(v[2] for v in vouchers if v[2]),
                    reports=reports)


def _daily(adm: str, at_: dt.datetime) -> ReportSeen:
    return ReportSeen("bank-a", "2206", f"RB{adm}", f"{WED:%Y%m%d}", f"{WED:%Y%m%d}", 100_00, 100_00, at_, adm=adm)


def test_another_division_s_receipt_report_and_arrival_notice_of_the_same_number_are_not_this_one_s() -> None:
    home = _voucher(HOME, "2026", "A1", 100_00, (t(WED, "10:30"), 100_00))
    other = _voucher(OTHER, "2026", "A1", 100_00, None)  # its receipt never came
    notices = [NoticeSeen("7101", "QN1", "", "", 500_00, t(WED, "09:00"), True, adm=HOME),
               NoticeSeen("7101", "QN1", "", "", 500_00, t(WED, "09:00"), True, adm=OTHER),
               NoticeSeen("7102", "DZ1", "7101", "QN1", 500_00, t(WED, "09:30"), False, adm=HOME)]
    events = observed_bank_events("bank-a", _observed([home, other], (_daily(HOME, t(WED, "18:00")),)), notices,
                                  CAL, CC, home=HOME)
    done = {(e.kind, e.ref): e.done for e in events}
    assert done[("receipt", "5201/A1/1")] == t(WED, "10:30") and done[("receipt", f"5201/A1/{OTHER}/1")] is None
    assert done[("daily-report", "2206/20260325")] is not None
    assert done[("daily-report", f"2206/20260325/{OTHER}")] is None
    assert done[("quota-arrival-notice", "QN1")] is not None and done[("quota-arrival-notice", f"QN1/{OTHER}")] is None


_VOUCHERS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["A1", "A2"]), st.integers(1, 500_00),
                               st.one_of(st.none(), st.tuples(st.sampled_from(["10:30", "12:00", "17:30"]),
                                                              st.booleans()))),
                     min_size=1, max_size=8, unique_by=lambda v: v[:3])


@settings(max_examples=60, deadline=None)
@given(vouchers=_VOUCHERS, reported=st.sets(st.sampled_from([HOME, OTHER])))
def test_each_voucher_s_receipt_and_each_division_s_report_are_its_own(
        vouchers: list[tuple[str, str, str, int, tuple[str, bool] | None]], reported: set[str]) -> None:
    """Oracle from the agreement: a voucher's receipt duty is done when its own receipt (its
    division, year and number) came, accurate when that receipt's XPayAmt is its own PayAmt; a
    division's daily report duty is done when its own 2206 of the day came. Numbers and years
    collide across the two divisions; every duty is named apart."""
    made = [_voucher(adm, year, no, fen, None if r is None else (t(WED, r[0]), fen if r[1] else fen + 1))
            for adm, year, no, fen, r in vouchers]
    reports = tuple(_daily(adm, t(WED, "18:00")) for adm in sorted(reported))
    events = observed_bank_events("bank-a", _observed(made, reports), [], CAL, CC, home=HOME)
    receipts = [e for e in events if e.kind == "receipt"]
    assert len({e.ref for e in receipts}) == len(made)  # each its own duty
    for (adm, year, no, _fen, r), e in zip(vouchers, receipts, strict=True):  # in the payments' order
        assert e.done == (None if r is None else t(WED, r[0])), (adm, year, no)
        assert e.accurate == (r is None or r[1]), (adm, year, no)
    daily = {e.ref: e.done for e in events if e.kind == "daily-report"}
    expected = {adm for adm, *_ in vouchers}
    assert len(daily) == len(expected)
    for adm in expected:
        ref = "2206/20260325" if adm == HOME else f"2206/20260325/{adm}"
        assert (daily[ref] is not None) == (adm in reported)
