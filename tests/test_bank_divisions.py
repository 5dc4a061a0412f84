"""A bank serving two divisions (AdmDivCode 990100, its configured one, and 990200) reports to each
division's treasury what it did for that division: the daily (2206) and monthly (4004) expenditure
reports, the monthly statement (3501) and the units' statements (7104), the credit notices (7103),
the clearing reserve detail list (7202) and the account feed (7602). Each division's treasury reads its own (004 part 3 §10:
the bank reports to "甲方", the treasury whose payments it made; §9(12): the reserve list "报市财政局
国库科和支付中心备案"). Before, every one of them went under the configured division, the other
division's payments in it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from messages.factory import payment_voucher
from messages.money import parse_fen
from messages.voucher import parse_voucher
from sim.effects import SendVoucher
from tests.test_bank_duties import BANK, CAL, DAY, World, t

HOME, OTHER = "990100", "990200"
APRIL = dt.date(2026, 4, 1)


def _pay(w: World, no: str, fen: int, now: dt.datetime, adm: str) -> None:
    doc = parse_voucher(payment_voucher(voucher_no=no, vou_date=now.date(), pay_bank_code=BANK, amount_fen=fen,
                                        adm_div_code=adm))
    w.apply(w.bank.on_voucher(doc, 0, now), now)


def _sent(w: World, vtcode: str) -> list[tuple[str, int]]:
    """(AdmDivCode, fen) of each `vtcode` sent to the treasury, in order."""
    return [(s.head["AdmDivCode"], parse_fen(s.head.get("PayAmt") or s.head.get("CreditAmt") or "0.00"))
            for s in w.to_treasury if s.vtcode == vtcode]


def _world() -> World:
    w = World(DutiesConfig())
    for adm in (HOME, OTHER):
        w.quota(DAY, 10_000_00, adm_div_code=adm)
    _pay(w, "ZZHOME001", 300_00, t(DAY, "10:00"), HOME)
    _pay(w, "ZZOTHER01", 200_00, t(DAY, "10:01"), OTHER)
    w.tick(t(DAY, "16:05"))  # the day's clearing filed, one 2301 per division
    _pay(w, "ZZOTHER02", 50_00, t(DAY, "16:10"), OTHER)  # after the cutoff: the reserve advances it
    return w


def test_each_division_gets_its_own_daily_reports_and_reserve_list() -> None:
    w = _world()
    w.tick(t(DAY, "23:00"))
    assert not w.alarms, w.alarms
    assert _sent(w, "7202") == [(OTHER, 50_00)]  # the advance is 990200's: on 990200's list only
    nxt = CAL.next_business_day(DAY)
    w.tick(t(nxt, "12:00"))  # the day's reports go out; the 990200 advance is replenished
    assert sorted(_sent(w, "2206")) == [(HOME, 300_00), (OTHER, 200_00)]
    # each direct payment's credit notice (7103) under its own division too
    assert sorted(_sent(w, "7103")) == [(HOME, 300_00), (OTHER, 50_00), (OTHER, 200_00)]
    later = CAL.next_business_day(nxt)
    w.tick(t(later, "12:00"))
    # the next day: the replenished advance is 990200's expenditure of that day; 990100 had nothing
    # but still gets its (nil) report, every business day, as the agreement asks (004 part 3 §10(2))
    assert sorted(_sent(w, "2206")[2:]) == [(HOME, 0), (OTHER, 50_00)]
    quiet = CAL.next_business_day(later)
    w.tick(t(quiet, "12:00"))
    assert sorted(_sent(w, "2206")[4:]) == [(HOME, 0), (OTHER, 0)]  # a division served gets its nil report too
    for s in w.to_treasury:
        assert s.head["AdmDivCode"] in (HOME, OTHER)


def test_each_division_gets_its_own_monthly_report_statement_and_unit_statements() -> None:
    w = _world()
    w.tick(t(CAL.next_business_day(APRIL), "12:00"))
    assert not w.alarms, w.alarms
    assert _sent(w, "4004") == [(HOME, 300_00), (OTHER, 250_00)]
    assert _sent(w, "3501") == [(HOME, 300_00), (OTHER, 250_00)]
    units = [s for s in w.to_treasury if s.vtcode == "7104"]
    assert {s.head["AdmDivCode"] for s in units} == {HOME, OTHER}
    for adm, fen in ((HOME, 300_00), (OTHER, 250_00)):
        assert sum(parse_fen(s.head["PayAmt"]) for s in units if s.head["AdmDivCode"] == adm) == fen


def test_a_one_division_bank_reports_as_before() -> None:
    """The other direction: a bank that served only its configured division sends one report of
    each kind, under that division, and no other division's nil report."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    _pay(w, "ZZHOME001", 300_00, t(DAY, "10:00"), HOME)
    w.tick(t(DAY, "16:05"))
    _pay(w, "ZZHOME002", 50_00, t(DAY, "16:10"), HOME)
    w.tick(t(CAL.next_business_day(APRIL), "12:00"))
    assert {adm for s in w.to_treasury for adm in [s.head["AdmDivCode"]]} == {HOME}
    assert _sent(w, "7202") == [(HOME, 50_00)]
    assert _sent(w, "4004") == [(HOME, 350_00)] and _sent(w, "3501") == [(HOME, 350_00)]
    days = [s.head["ReportDate"] for s in w.to_treasury if s.vtcode == "2206"]
    assert len(days) == len(set(days))  # one 2206 a day


def test_a_version_7_snapshot_with_tallies_loads_as_the_configured_divisions() -> None:
    """Version 8 tells another division's tally lines by a 13th part; a version 7 snapshot (none
    had one) loads, its lines the configured division's, and is written back as the current version."""
    import msgspec

    from bank_sim.core import BankCore

    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    _pay(w, "ZZHOME001", 300_00, t(DAY, "10:00"), HOME)
    w.tick(t(DAY, "17:00"))
    state = msgspec.json.decode(w.bank.snapshot())
    assert state["version"] == 10 and state["duties"]["daily"] and "divisions" in state["duties"]
    state["version"] = 7
    del state["duties"]["divisions"]
    after = BankCore.restore(msgspec.json.encode(state), BANK, w.bank.config, CAL, w.bank.clock_config)
    effects = after.on_time(t(CAL.next_business_day(DAY), "12:00"))
    reports = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "2206"]
    assert [(r.head["AdmDivCode"], r.head["PayAmt"]) for r in reports] == [(HOME, "300.00")]
    assert msgspec.json.decode(after.snapshot())["version"] == 10


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.integers(1, 500_00),
                               st.sampled_from(["09:30", "11:00", "15:00", "16:20"])), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(payments=_PAYMENTS)
def test_every_division_is_reported_exactly_what_was_paid_for_it(payments: list[tuple[str, int, str]]) -> None:
    """Oracle from the agreement, not the code: each division's treasury is reported its own
    payments (004 part 3 §10): over the month, its 2206s and its 4004 add up to what the bank paid
    for it (all cleared by the month's end, an advance by its replenishment) and its 3501 too; a
    division with no payment gets no 4004 or 3501."""
    w = World(DutiesConfig())
    for adm in (HOME, OTHER):
        w.quota(DAY, 10**9, adm_div_code=adm)
    for n, (adm, fen, hhmm) in enumerate(sorted(payments, key=lambda p: p[2])):
        w.tick(t(DAY, hhmm))
        _pay(w, f"ZZPROP{n:04d}", fen, t(DAY, hhmm), adm)
    w.tick(t(CAL.next_business_day(APRIL), "12:00"))
    assert not w.alarms, w.alarms
    for adm in (HOME, OTHER):
        paid = sum(fen for a, fen, _ in payments if a == adm)
        assert sum(fen for a, fen in _sent(w, "2206") if a == adm) == paid
        assert [fen for a, fen in _sent(w, "4004") if a == adm] == ([paid] if paid else [])
        assert [fen for a, fen in _sent(w, "3501") if a == adm] == ([paid] if paid else [])
