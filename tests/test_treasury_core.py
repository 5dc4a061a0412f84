"""The treasury's sans-IO core: seeded plans, quota notices, vouchers on time, receipts, statements."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher, WakeAt
from treasury_sim.core import TreasuryConfig, TreasuryCore

CALENDAR = BusinessCalendar.default()
CC = ClockConfig()
OPENING = 100_000_000_00


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def new_core(**kw: object) -> TreasuryCore:
    config = TreasuryConfig(**{"vouchers_per_day": 40, "days": 2, "tsa_opening_fen": OPENING, **kw})  # type: ignore[arg-type]
    return TreasuryCore(config, CALENDAR, CC)


def run_until(core: TreasuryCore, end: dt.datetime,
              now: dt.datetime | None = None) -> list[tuple[dt.datetime, Effect]]:
    """Follow the core's WakeAts from `now` (08:00 of its first day) to `end`, as the shell would."""
    now = now or dt.datetime.combine(core.days[0], dt.time(8, 0), tzinfo=TZ)
    out: list[tuple[dt.datetime, Effect]] = []
    while now <= end:
        effects = core.on_time(now)
        out += [(now, e) for e in effects if not isinstance(e, WakeAt)]
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            break
        assert wakes[-1] > now
        now = wakes[-1]
    return out


def full(send: SendVoucher) -> SendVoucher:
    """A payment voucher's send with its whole head and details (the core sends the bytes in `data`
    and only the key in `head`)."""
    if send.data is None:
        return send
    doc = parse_voucher(send.data)
    return SendVoucher(send.vtcode, send.flag, doc.head(), tuple(doc.details()), send.recipient_role, data=send.data)


def receipt_for(send: SendVoucher, paid: str | None = None, day: str = "20260213", serial: str = "YH1") -> VoucherDoc:
    send = full(send)
    head = {**send.head, "XPayDate": day, "XPayAmt": paid or send.head["PayAmt"], "XAgentBusinessNo": serial}
    return parse_voucher(SendVoucher(send.vtcode, 1, head, send.details, "treasury", original=b"-").render())


def test_the_run_skips_the_holiday() -> None:
    core = new_core(days=3)
    assert core.days == [dt.date(2026, 2, 13), dt.date(2026, 2, 14), dt.date(2026, 2, 24)]


def test_plan_is_deterministic_and_seeded() -> None:
    day = dt.date(2026, 2, 13)
    a = [v.doc.data for v in new_core().plan(day).vouchers]
    b = [v.doc.data for v in new_core().plan(day).vouchers]
    c = [v.doc.data for v in new_core(seed=2).plan(day).vouchers]
    assert a == b and a != c


def test_quota_notices_at_0830_then_vouchers_in_their_windows() -> None:
    core = new_core()
    sent = run_until(core, t("2026-02-13", "23:00"))
    quota = [(now, e) for now, e in sent if isinstance(e, SendVoucher) and e.vtcode in ("5108", "5106")]
    assert quota and all(now == t("2026-02-13", "08:30") and e.recipient_role == "pboc" for now, e in quota)
    payments = [(now, full(e)) for now, e in sent if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
    assert len(payments) == 40 and len({e.key for _, e in payments}) == 40
    for now, e in payments:
        v = core.vouchers[e.head["VoucherNo"]]
        assert now == v.send_at and e.recipient_role == "bank"
        if v.late:
            assert dt.time(16, 0) <= now.time() < dt.time(16, 50)
        else:
            assert dt.time(9, 0) <= now.time() < dt.time(15, 20)
    # each bank's notice covers its planned payments of that pay type, by first-level unit
    for _, notice in quota:
        bank, pay_type = notice.head["PayBankCode"], notice.head["PayTypeCode"]
        planned = sum(v.amount_fen for v in core.vouchers.values()
                      if v.bank == bank and v.pay_type == pay_type and v.day == dt.date(2026, 2, 13))
        assert planned <= parse_fen(notice.head["PayAmt"]) <= planned * 11 // 10 + len(notice.details)
        assert sum(parse_fen(d["PayAmt"]) for d in notice.details) == parse_fen(notice.head["PayAmt"])


def test_receipts_are_matched_once() -> None:
    core = new_core()
    sent = [full(e) for _, e in run_until(core, t("2026-02-13", "10:00"))
            if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
    first = sent[0]
    now = t("2026-02-13", "10:01")
    assert core.on_voucher(receipt_for(first), 1, now) == []
    assert core.receipts[first.head["VoucherNo"]].paid_fen == parse_fen(first.head["PayAmt"])
    # the same receipt delivered again (at-least-once delivery) is not a second payment
    assert core.on_voucher(receipt_for(first), 1, now) == []
    assert core.duplicate_receipts == []
    # a second receipt with another bank serial is: paid twice?
    assert [a.code for a in core.on_voucher(receipt_for(first, serial="YH2"), 1, now) if isinstance(a, Alarm)] == [
        "duplicate-conflict"]
    assert len(core.duplicate_receipts) == 1
    wrong = receipt_for(sent[1], paid=fen_to_str(parse_fen(sent[1].head["PayAmt"]) + 1))
    assert [a.code for a in core.on_voucher(wrong, 1, now) if isinstance(a, Alarm)] == ["amount-mismatch"]


def statement(day: str, begin: int, debit: int) -> VoucherDoc:
    d = day.replace("-", "")
    head = {"Id": f"V7401RZ{d}", "AdmDivCode": "990100", "StYear": day[:4], "VouDate": d, "VoucherNo": f"RZ{d}",
            "StatementDate": d, "ClearBankCode": "999000000001", "ClearBankName": "示例国库", "AcctNo": "9990001",
            "AcctName": "示例国库单一账户", "BeginBalance": fen_to_str(begin), "DebitAmt": fen_to_str(debit),
            "CreditAmt": "0.00", "EndBalance": fen_to_str(begin - debit)}
    details = ({"Id": "D00001", "Direction": "D", "Amt": fen_to_str(debit), "CounterBankCode": "999100000001",
                "CounterBankName": "示例银行", "RefAdmDivCode": "990100", "RefStYear": day[:4], "RefVtCode": "2301",
                "RefVoucherNo": "HK1"},)
    return parse_voucher(SendVoucher("7401", 0, head, details, "treasury").render())


def test_statements_are_checked_against_the_plan() -> None:
    core = new_core()
    run_until(core, t("2026-02-14", "23:00"))
    d1, d2 = dt.date(2026, 2, 13), dt.date(2026, 2, 14)
    early1 = sum(v.amount_fen for v in core.vouchers.values() if v.day == d1 and not v.late)
    late1 = sum(v.amount_fen for v in core.vouchers.values() if v.day == d1 and v.late)
    assert core.expected_debit_fen(d1) == early1
    assert core.on_voucher(statement("2026-02-13", OPENING, early1), 0, t("2026-02-13", "17:00")) == []
    early2 = sum(v.amount_fen for v in core.vouchers.values() if v.day == d2 and not v.late)
    assert core.expected_debit_fen(d2) == early2 + late1  # the Friday's advances are replenished on Saturday
    bad = core.on_voucher(statement("2026-02-14", OPENING - early1, early2), 0, t("2026-02-14", "17:00"))
    assert [a.code for a in bad if isinstance(a, Alarm)] == (["amount-mismatch"] if late1 else [])
    assert core.statements[d1].ok


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), late=st.integers(0, 100), auth=st.integers(0, 100))
def test_every_planned_voucher_goes_out_once_within_quota(seed: int, n: int, late: int, auth: int) -> None:
    core = new_core(seed=seed, vouchers_per_day=n, late_share_pct=late, authorized_share_pct=auth, days=1)
    sent = [full(e) for _, e in run_until(core, t("2026-02-13", "23:59")) if isinstance(e, SendVoucher)]
    payments = [e for e in sent if e.vtcode in ("5201", "8202")]
    assert sorted(e.head["VoucherNo"] for e in payments) == sorted(core.vouchers)
    assert all(v.sent for v in core.vouchers.values())
    quota: dict[tuple[str, str], int] = {}
    for e in sent:
        if e.vtcode in ("5108", "5106"):
            quota[(e.head["PayBankCode"], e.head["PayTypeCode"])] = parse_fen(e.head["PayAmt"])
    for e in payments:
        key = (e.head["PayBankCode"], e.head["PayTypeCode"])
        quota[key] -= parse_fen(e.head["PayAmt"])
    assert all(left >= 0 for left in quota.values())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), auth=st.integers(0, 100))
def test_a_planned_vouchers_drawn_fields_are_what_its_bytes_carry(seed: int, auth: int) -> None:
    """The 7101 lines and a refund's unit are read from the plan's draws, not from the voucher
    rendered and parsed again: the draws must be exactly what the bytes say."""
    core = new_core(seed=seed, vouchers_per_day=30, authorized_share_pct=auth, days=1)
    for v in core.plan(core.days[0]).vouchers:
        doc = parse_voucher(v.data)
        assert v.detail_lines() == doc.details()
        assert v.agency_code == doc.get("AgencyCode")
