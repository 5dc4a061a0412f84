"""The scorecard of a bank serving two divisions (runner.scorecard_feed): each division is owed its
own reports (2206, 4004, 3501: 004 part 3 §10, to the treasury whose payments they were), numbered
by the bank alike for both, and each payment its own receipt and credit notice, though another
division's payment has its VoucherNo. Before, the duties were looked up by VtCode, VoucherNo and
flag alone: a division's report done was the other's too (one duty per day for both), a payment's
receipt time was whichever same-number receipt went last; and the second division's sign-off of
its statement (3501) was dropped by the bank (its month already signed off)."""

from __future__ import annotations

import datetime as dt

from bank_sim.duties import DutiesConfig
from business_time.clock import ClockConfig
from messages.voucher import build_voucher, parse_voucher
from runner.scorecard_feed import bank_events
from sim.effects import Alarm
from tests.test_bank_duties import CAL, DAY, World, t
from tests.test_bank_shared_numbers import HOME, OTHER, _pay, _world

CC = ClockConfig()
APRIL = dt.date(2026, 4, 1)


def _events(w: World, kind: str) -> dict[str, tuple[dt.datetime | None, bool]]:
    return {e.ref: (e.done, e.accurate) for e in bank_events("bank-a", w.bank, CAL, CC) if e.kind == kind}


def test_each_division_is_owed_its_own_reports_and_each_payment_its_own_receipt() -> None:
    w = _world()
    _pay(w, HOME, "5201", "ZZSAME001", 300_00, t(DAY, "10:00"))
    w.tick(t(DAY, "12:00"))
    _pay(w, OTHER, "5201", "ZZSAME001", 200_00, t(DAY, "14:00"))
    w.tick(t(CAL.next_business_day(APRIL), "12:00"))
    assert not w.alarms, w.alarms
    day = f"{DAY:%Y%m%d}"
    daily = _events(w, "daily-report")
    assert set(daily) == {day, f"{day}/{OTHER}"} and all(done is not None for done, _ in daily.values())
    for kind in ("monthly-report", "monthly-statement"):
        assert set(_events(w, kind)) == {"202603", f"202603/{OTHER}"}
    receipts = _events(w, "receipt")
    home_at = receipts[f"{HOME}/2026/5201/ZZSAME001/1"][0]
    other_at = receipts[f"{OTHER}/2026/5201/ZZSAME001/1"][0]
    assert home_at is not None and other_at is not None and home_at < other_at  # each its own send
    notices = _events(w, "credit-notice")
    assert set(notices) == {"7103/RZZZSAME001", f"7103/RZZZSAME001/{OTHER}"}


def test_each_division_signs_off_its_own_statement() -> None:
    """The first division agrees, the second disagrees: the bank alarms the second (before: taken
    as the month's sign-off already had, dropped) and only that division's statement is inaccurate."""
    w = _world()
    _pay(w, HOME, "5201", "ZZSAME003", 300_00, t(DAY, "10:00"))
    _pay(w, OTHER, "5201", "ZZSAME003", 200_00, t(DAY, "10:01"))
    w.tick(t(CAL.next_business_day(APRIL), "12:00"))
    statements = {s.head["AdmDivCode"]: s for s in w.to_treasury if s.vtcode == "3501"}
    assert set(statements) == {HOME, OTHER}
    now = t(CAL.next_business_day(APRIL), "13:00")
    alarms: list[str] = []
    for adm, result in ((HOME, "0"), (OTHER, "1")):
        s = statements[adm]
        data = build_voucher("3501", {**s.head, "XCheckResult": result, "XCheckDate": f"{now:%Y%m%d}",
                                      **({"XCheckRemark": "statement 200.00, receipts 100.00"} if result == "1" else {})},
                             s.details)
        alarms += [e.code for e in w.bank.on_voucher(parse_voucher(data), 1, now) if isinstance(e, Alarm)]
    assert alarms == ["amount-mismatch"]
    statement = _events(w, "monthly-statement")
    assert statement["202603"][1] and not statement[f"202603/{OTHER}"][1]


def test_each_division_s_quota_line_is_seen_apart() -> None:
    """The central bank keeps each division's quota line apart (its state's key); what the runner
    sees of them (QuotaSeen) names the division. Before, two lines of one bank, pay type and day
    were seen alike: which division's was which could not be told."""
    from runner.sim_observe import quotas_of

    w = World(DutiesConfig())
    w.quota(DAY, 300_00, adm_div_code=HOME)
    w.quota(DAY, 200_00, adm_div_code=OTHER)
    seen = {(q.adm_div_code, q.pay_type, q.day): q.notified_fen for q in quotas_of(w.pboc)}
    assert seen == {(HOME, "11", DAY): 3 * 300_00, (OTHER, "11", DAY): 3 * 200_00}


def test_two_divisions_quota_notices_of_one_number_are_each_granted_and_noticed() -> None:
    """Two divisions' treasuries each send an authorized quota notice (7101) numbered alike: each
    is granted, confirmed and noticed to its units (7102, under its division), each its own duty.
    Before, the second was taken for a redelivery of the first: confirmed, its quota not granted."""
    from messages.factory import DEFAULT_PROJECT, SUBJECTS, UNITS, authorized_quota_notice
    from tests.test_bank_duties import BANK

    w = World(DutiesConfig())
    now = t(DAY, "09:00")
    for adm, unit in ((HOME, UNITS[0]), (OTHER, UNITS[1])):
        data = authorized_quota_notice(voucher_no="SQ7101SAME", vou_date=DAY, pay_bank_code=BANK, adm_div_code=adm,
                                       lines=[(unit[2], unit[3], *SUBJECTS[0], *DEFAULT_PROJECT, 500_00)])
        w.apply(w.bank.on_voucher(parse_voucher(data), 0, now), now)
    assert not w.alarms, w.alarms
    assert [w.bank.remaining_quota(u[2])[u[2]]["remaining"] for u in UNITS[:2]] == [500_00, 500_00]
    assert sorted(s.head["AdmDivCode"] for s in w.to_treasury if s.vtcode == "7102") == [HOME, OTHER]
    duties = _events(w, "quota-arrival-notice")
    assert set(duties) == {"SQ7101SAME", f"{OTHER}/SQ7101SAME"} and all(d is not None for d, _ in duties.values())
