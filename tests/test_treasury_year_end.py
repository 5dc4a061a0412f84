"""The treasury's year end (issue 17, 004 part 5 §6) and the cross-year refund line (003 §36).

The treasury core sends 7301 (cancel) and 7302 (carry forward) itself on its dates, each line
exactly what is left of the year's authorized quota, records the banks' confirmations, flags one
not confirmed by its deadline (`year-end-unconfirmed`), and its books hold granted = spent +
cancelled + carried + lapsed. A payment or grant from a cross-year refund line beyond what it
holds is refused (`budget-cross-year-exceeded`)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.errors import CODES, InputError
from messages.money import parse_fen
from messages.voucher import parse_voucher
from runner.expectations import evaluate
from runner.observed import YearEndSeen
from runner.scenario_file import ScenarioError, load_text
from sim.books import BooksError
from sim.effects import Alarm, Effect, SendVoucher
from tests.scenario_fixtures import observed
from tests.test_treasury_core import run_until
from treasury_sim.budget import CROSS_YEAR_REFUSAL, cross_year_draws, cross_year_line, cross_year_refusal
from treasury_sim.config import TreasuryConfig, run_days, year_ends
from treasury_sim.core import TreasuryCore
from treasury_sim.year_end import QuotaLedger, line_key

CALENDAR = BusinessCalendar.default()
CC = ClockConfig()
FIRST, LAST = CALENDAR.known_range


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def new_core(**kw: object) -> TreasuryCore:
    config = TreasuryConfig(**{"first_day": dt.date(2025, 12, 29), "days": 5, "vouchers_per_day": 30,
                               "authorized_unspent_pct": 10, **kw})  # type: ignore[arg-type]
    return TreasuryCore(config, CALENDAR, CC)


def sends(effects: list[tuple[dt.datetime, Effect]], vtcode: str) -> list[tuple[dt.datetime, SendVoucher]]:
    return [(at, e) for at, e in effects if isinstance(e, SendVoucher) and e.vtcode == vtcode]


def confirmation(send: SendVoucher, day: str) -> tuple[object, int]:
    doc = parse_voucher(send.data or b"")
    return parse_voucher(SendVoucher(send.vtcode, 1, {**doc.head(), "XConfirmDate": day}, tuple(doc.details()),
                                     "treasury", original=b"-").render()), 1


def unspent_by_bank(effects: list[tuple[dt.datetime, Effect]], year: int) -> dict[str, int]:
    """What the year's 7101s granted less its 8202s sent, by bank: what the year end must close."""
    left: dict[str, int] = {}
    for _, s in sends(effects, "7101"):
        if s.head["StYear"] == str(year):
            left[s.head["PayBankCode"]] = left.get(s.head["PayBankCode"], 0) + parse_fen(s.head["PayAmt"])
    for _, s in sends(effects, "8202"):
        doc = parse_voucher(s.data or b"")
        if doc.get("StYear") == str(year):
            left[doc.get("PayBankCode")] -= parse_fen(doc.get("PayAmt"))
    return left


# ------------------------------------------------------------------------------ the core's dates


def test_the_year_end_goes_out_at_its_time_exactly_what_is_left_to_the_fen() -> None:
    core = new_core()
    before = run_until(core, t("2025-12-31", "17:29"))
    assert sends(before, "7301") == [] and sends(before, "7302") == []
    effects = before + run_until(core, t("2026-01-05", "18:00"), t("2025-12-31", "17:29"))
    cancels, carries = sends(effects, "7301"), sends(effects, "7302")
    assert {at for at, _ in cancels + carries} == {t("2025-12-31", "17:30")}
    assert len(cancels) == len(carries) == 2  # per bank (one fund type in the plain plan)
    closed: dict[str, int] = {}
    for _, s in cancels + carries:
        doc = parse_voucher(s.data or b"")
        assert doc.get("StYear") == "2025" and doc.get("PayTypeCode") == "12"
        assert doc.get("CancelDate" if s.vtcode == "7301" else "ToYear") == ("20251231" if s.vtcode == "7301" else "2026")
        subjects = {d["ExpFuncCode"] for d in doc.details()}
        assert subjects == {"2140104"} if s.vtcode == "7302" else "2140104" not in subjects
        assert all(parse_fen(d["PayAmt"]) > 0 for d in doc.details())
        closed[doc.get("PayBankCode")] = closed.get(doc.get("PayBankCode"), 0) + parse_fen(doc.get("PayAmt"))
    assert closed == unspent_by_bank(effects, 2025)
    totals = core.quotas.years["2025"]
    assert totals.closed and totals.balanced() and totals.cancelled_fen + totals.carried_fen == sum(closed.values())
    # what was carried is 2026's quota, beside January's 7101
    assert core.quotas.years["2026"].granted_fen == totals.carried_fen + sum(
        parse_fen(s.head["PayAmt"]) for _, s in sends(effects, "7101") if s.head["StYear"] == "2026")


def test_no_year_end_without_crossing_it_or_when_switched_off() -> None:
    assert sends(run_until(new_core(first_day=dt.date(2025, 12, 29), days=3), t("2025-12-31", "23:00")), "7301") == []
    assert sends(run_until(new_core(year_end=False), t("2026-01-05", "18:00")), "7301") == []
    assert year_ends(TreasuryConfig(first_day=dt.date(2026, 2, 13)), CALENDAR,
                     run_days(TreasuryConfig(first_day=dt.date(2026, 2, 13)), CALENDAR)) == []


def test_the_dates_are_configurable_and_a_holiday_moves_the_year_end_earlier() -> None:
    # 2025-12-27 is a Saturday: the year end of year_end_on 27 is Friday the 26th
    config = TreasuryConfig(first_day=dt.date(2025, 12, 22), days=12, year_end_on=27, year_end_time=dt.time(18, 0),
                            year_end_confirm_days=2)
    [ye] = year_ends(config, CALENDAR, run_days(config, CALENDAR))
    assert ye.at == t("2025-12-26", "18:00") and ye.deadline == t("2025-12-30", "18:00")
    for bad in ({"year_end_on": 0}, {"year_end_on": 32}, {"year_end_confirm_days": 0},
                {"year_end_time": dt.time(16, 0)}, {"authorized_unspent_pct": 101}):
        with pytest.raises(ValueError):
            TreasuryConfig(**bad)  # type: ignore[arg-type]


def test_a_payment_returned_unpaid_before_the_year_end_is_closed_with_the_rest() -> None:
    plain, returned = new_core(), new_core()
    run_until(plain, t("2026-01-05", "18:00"))
    effects = run_until(returned, t("2025-12-30", "12:00"))
    first = next(s for _, s in sends(effects, "8202"))
    doc = parse_voucher(first.data or b"")
    back = parse_voucher(SendVoucher("8202", 1, {**doc.head(), "XPayDate": "", "XPayAmt": "0.00"}, tuple(doc.details()),
                                     "treasury", original=b"-").render())
    returned.on_voucher(back, 1, t("2025-12-30", "12:00"), return_reason="payee-account-closed")
    run_until(returned, t("2026-01-05", "18:00"), t("2025-12-30", "12:00"))
    a, b = plain.quotas.years["2025"], returned.quotas.years["2025"]
    assert b.cancelled_fen + b.carried_fen == a.cancelled_fen + a.carried_fen + parse_fen(doc.get("PayAmt"))
    assert b.balanced() and b.lapsed_fen == 0


def test_confirmations_are_recorded_and_a_bank_that_does_not_confirm_is_flagged_once() -> None:
    core = new_core()
    effects = run_until(core, t("2025-12-31", "17:30"))
    notices = sends(effects, "7301") + sends(effects, "7302")
    bank_a = [s for _, s in notices if s.head["PayBankCode"] == "999100000001"]
    for s in bank_a:
        doc, flag = confirmation(s, "20251231")
        core.on_voucher(doc, flag, t("2025-12-31", "17:40"))  # type: ignore[arg-type]
    later = run_until(core, t("2026-01-05", "18:00"), t("2025-12-31", "17:40"))
    alarms = [(at, a) for at, a in later if isinstance(a, Alarm)]
    assert {a.code for _, a in alarms} == {"year-end-unconfirmed"} and "year-end-unconfirmed" in CODES
    assert {at for at, _ in alarms} == {t("2026-01-04", "17:30")}  # the deadline: one business day later
    flagged = {n.voucher_no for n in core.quotas.notices.values() if n.flagged}
    assert flagged == {s.head["VoucherNo"] for _, s in notices if s.head["PayBankCode"] == "999100000002"}
    assert len(alarms) == len(flagged) == 2
    assert all(core.quotas.notices[f"{s.head['AdmDivCode']}/{s.head['StYear']}/{s.vtcode}/{s.head['VoucherNo']}"].confirmed_at == t("2025-12-31", "17:40") for s in bank_a)


def test_the_books_catch_a_year_end_off_by_a_fen() -> None:
    core = new_core()
    run_until(core, t("2025-12-31", "17:30"))
    core.quotas.years["2025"].cancelled_fen += 1
    with pytest.raises(BooksError, match="year-end-balanced"):
        core.on_time(t("2025-12-31", "17:31"))


def test_a_snapshot_taken_before_the_year_end_gives_the_same_notices() -> None:
    whole = new_core()
    expected = [(at, s.data) for at, s in sends(run_until(whole, t("2026-01-05", "18:00")), "7301")]
    first = new_core()
    run_until(first, t("2025-12-30", "12:00"))
    again = TreasuryCore.restore(first.snapshot(), first.config, CALENDAR, CC)
    got = [(at, s.data) for at, s in sends(run_until(again, t("2026-01-05", "18:00"), t("2025-12-30", "12:00")), "7301")]
    assert got == expected and expected


# ------------------------------------------------------------------------------ the calendar's range


@settings(max_examples=60, deadline=None)
@given(year=st.integers(FIRST.year - 2, LAST.year + 1), start_day=st.integers(15, 31), days=st.integers(1, 12),
       on=st.integers(1, 31), confirm=st.integers(1, 20))
def test_year_end_dates_inside_the_calendar_or_refused_never_guessed(year: int, start_day: int, days: int, on: int,
                                                                       confirm: int) -> None:
    config = TreasuryConfig(first_day=dt.date(year, 12, start_day), days=days, year_end_on=on,
                            year_end_confirm_days=confirm)
    try:
        run = run_days(config, CALENDAR)
        ends = year_ends(config, CALENDAR, run)
    except InputError as exc:
        assert exc.code == "calendar-out-of-range"
        assert dt.date(year, 12, start_day) < FIRST or dt.date(year + 1, 1, 31) > LAST
        return
    assert run[0] >= FIRST and run[-1] <= LAST
    for ye in ends:
        assert ye.at.date() <= dt.date(ye.year, 12, on) and CALENDAR.is_business_day(ye.at.date())
        assert ye.at.date() >= run[0] and ye.deadline.date() <= LAST
        assert CALENDAR.business_days_between(ye.at.date(), ye.deadline.date()) == confirm
    assert len(ends) == (1 if run[-1].year > run[0].year and ends else 0)


def test_a_run_crossing_into_a_year_the_calendar_does_not_know_is_refused() -> None:
    with pytest.raises(InputError, match=r"does not know|past the known range") as info:
        TreasuryCore(TreasuryConfig(first_day=dt.date(LAST.year, 12, 28), days=10), CALENDAR, CC)
    assert info.value.code == "calendar-out-of-range"
    with pytest.raises(InputError) as info:  # the confirmation deadline beyond the known range
        year_ends(TreasuryConfig(year_end_confirm_days=20), CALENDAR, [dt.date(LAST.year, 12, 1), dt.date(LAST.year + 1, 1, 4)])
    assert info.value.code == "calendar-out-of-range" and info.value.code in CODES


# ------------------------------------------------------------------------------ the ledger (pure)


LINES = [line_key(y, "1", "B1", "101001", s, "P1") for y in ("2025",) for s in ("2140104", "2050203", "2100201")]


@settings(max_examples=200, deadline=None)
@given(grants=st.lists(st.tuples(st.sampled_from(LINES), st.integers(1, 10**9)), min_size=1, max_size=8),
       spends=st.lists(st.tuples(st.sampled_from(LINES), st.integers(0, 100)), max_size=8),
       late=st.lists(st.integers(0, 7), max_size=3))
def test_cancelled_plus_carried_plus_spent_is_granted_to_the_fen(grants: list[tuple[str, int]],
                                                                spends: list[tuple[str, int]], late: list[int]) -> None:
    ledger = QuotaLedger()
    for key, fen in grants:
        ledger.grant(key, ("单位", "科目", "项目"), fen)
    paid = []
    for key, pct in spends:  # a payment draws what the line has left, at most
        fen = ledger.lines[key].left_fen * pct // 100 if key in ledger.lines else 0
        if fen:
            ledger.spend((key, fen))  # flat: line key, fen (`Drawn`)
            paid.append((key, fen))
    closing = ledger.close_year("2025", ("2140104",))
    t25 = ledger.years["2025"]
    assert t25.balanced() and t25.closed and t25.lapsed_fen == 0
    assert all(line.left_fen == 0 for k, line in ledger.lines.items() if k.startswith("2025/"))
    for vtcode, _, _, lines in closing:
        assert all(fen > 0 and (k.split("/")[4] == "2140104") == (vtcode == "7302") for k, _, fen in lines)
    assert ledger.years.get("2026", type(t25)()).granted_fen == t25.carried_fen
    for i in late:  # a payment coming back after the year closed lapses with the year
        if i < len(paid):
            ledger.release(paid[i])
    assert ledger.years["2025"].balanced() and ledger.unbalanced() == []
    ledger.years["2025"].spent_fen += 1
    assert ledger.unbalanced() and "2025" in ledger.unbalanced()[0]


# ------------------------------------------------------------------------------ the cross-year refund line


def test_a_cross_year_line_is_named_by_its_project_only() -> None:
    assert cross_year_line("101001", "KN2025101001") == "101001/2025"
    for agency, code in (("101001", "KN2025101002"), ("101001", "KN25101001"), ("101001", "KNabcd101001"),
                         ("101001", "P0000"), ("", "KN2025")):
        assert cross_year_line(agency, code) is None
    assert cross_year_draws("101001", [{"ProCode": "KN2025101001", "PayAmt": "1.00"},
                                       {"ProCode": "P1", "PayAmt": "2.00"},
                                       {"AgencyCode": "101002", "ProCode": "KN2024101002", "PayAmt": "3.00"}]) == \
        {"101001/2025": 100, "101002/2024": 300}
    assert CROSS_YEAR_REFUSAL in CODES and CROSS_YEAR_REFUSAL.startswith("budget-")


@settings(max_examples=200, deadline=None)
@given(booked=st.integers(0, 10**10), asks=st.lists(st.integers(1, 10**10), max_size=10))
def test_the_line_pays_what_it_holds_and_not_one_fen_more(booked: int, asks: list[int]) -> None:
    lines, paid = {"101001/2025": booked}, {}  # type: dict[str, int], dict[str, int]
    for fen in asks:
        held = booked - paid.get("101001/2025", 0)
        why = cross_year_refusal(lines, paid, {"101001/2025": fen})
        assert (why is None) == (fen <= held)
        if why is None:
            paid["101001/2025"] = paid.get("101001/2025", 0) + fen
        else:
            assert "101001/2025" in why and "KN2025101001" in why
    assert booked - paid.get("101001/2025", 0) >= 0
    assert cross_year_refusal({}, {}, {"101001/2025": 1}) is not None  # no line booked: nothing to pay from


# ------------------------------------------------------------------------------ the expectation


GENERATED = """scenario: year-end-fixture
world:
  start: "2025-12-29"
  treasury: {profile: generated, vouchers_per_day: 5, days: 5, unspent_pct: 10}
expect:
"""
AT = t("2025-12-31", "17:30")
SEEN = (YearEndSeen("7301", "ZX2025123100011", "bank-a", "2025", 420_38, AT + dt.timedelta(minutes=1), False),
        YearEndSeen("7302", "JZ2025123100011", "bank-a", "2025", 108_52, AT + dt.timedelta(minutes=1), False),
        YearEndSeen("7301", "ZX2025123100021", "bank-b", "2025", 1_00, None, True))
TOTALS = {"2025": (1000_00, 470_10, 421_38, 108_52, 0, True)}


def results(expect_yaml: str, **kw: object) -> list[bool]:
    s = load_text(GENERATED + expect_yaml, "year-end.yaml")
    o = dataclasses.replace(observed(), **{"year_end": SEEN, "year_totals": TOTALS, **kw})  # type: ignore[arg-type]
    return [x.ok for x in evaluate(s.expectations, o)]


def test_the_year_end_expectation_holds_and_fails_both_ways() -> None:
    assert results("""
  - year_end: {year: "2025", bank: bank-a, cancelled: "420.38", carried: "108.52", confirmed: true}
  - year_end: {year: "2025", bank: bank-b, confirmed: false}
  - year_end: {year: "2025", balanced: true}
""") == [True, True, True]
    assert results("""
  - year_end: {year: "2025", bank: bank-a, cancelled: "420.39"}
  - year_end: {year: "2025", bank: bank-a, carried: "108.51"}
  - year_end: {year: "2025", confirmed: true}
  - year_end: {year: "2025", bank: bank-a, confirmed: false}
  - year_end: {year: "2024", balanced: true}
""") == [False, False, False, False, False]
    assert results("  - year_end: {year: \"2025\", balanced: true}\n",
                   year_totals={"2025": (1000_00, 470_10, 421_38, 108_51, 0, True)}) == [False]


def test_year_end_needs_the_generated_treasury() -> None:
    with pytest.raises(ScenarioError, match="generated"):
        load_text("scenario: x\nworld: {start: \"2025-12-29\"}\nexpect:\n  - year_end: {year: \"2025\"}\n", "x.yaml")


# ------------------------------------------------------------------------------ the demo


@pytest.mark.slow
def test_a_demo_crossing_31_december_closes_the_year_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tgw import main
    from tgw.demo import render_text

    assert main(["demo", "--start", "2025-12-29", "--days", "5", "--vouchers", "20", "--format", "json",
                 "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["invariants"]["no_alarms"]["ok"]
    ye = report["year_end"]["2025"]
    assert ye["balanced"] and ye["cancelled_fen"] > 0 and ye["carried_fen"] > 0
    assert ye["granted_fen"] == ye["spent_fen"] + ye["cancelled_fen"] + ye["carried_fen"] + ye["lapsed_fen"]
    assert {n["vtcode"] for n in ye["notices"]} == {"7301", "7302"}
    assert all(n["confirmed_at"] and not n["flagged"] and n["sent_at"].startswith("2025-12-31T17:30")
               for n in ye["notices"])
    assert "Year end 2025: 4 notices" in render_text(report) and "balanced" in render_text(report)
    # a demo that does not cross it has no year end
    assert main(["demo", "--days", "1", "--vouchers", "5", "--format", "json", "--quiet"]) == 0
    assert "year_end" not in json.loads(capsys.readouterr().out)


def test_the_treasury_refuses_a_payment_beyond_the_cross_year_line_and_sends_nothing(tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    from runner.scenario_run import run_scenario

    path = Path(__file__).resolve().parent.parent / "scenarios" / "refund-cross-year-line-bounds-the-payment.yaml"
    text = path.read_text(encoding="utf-8").replace("file: vouchers/", f"file: {path.parent}/vouchers/")
    text += ("  - name: a false expectation fails\n"
             "    receipt: {voucher: beyond, from: bank-a, fields: {XPayAmt: \"200.01\"}}\n"
             "  - name: so does a wrong bound\n"
             "    quota_restored: {unit: \"101001\", cross_year: true, left: true, equals: \"0.01\"}\n")
    r = asyncio.run(run_scenario(load_text(text, "bounds.yaml"), Path(str(tmp_path))))
    assert r.error is None and r.observed is not None
    assert [o.ok for o in r.outcomes] == [True] * 10 + [False, False]
    beyond = next(v for v in r.observed.sent if v.id == "beyond")
    assert [(x.who, x.ok, x.code) for x in beyond.verdicts] == [("treasury", False, CROSS_YEAR_REFUSAL)]
    assert "101001/2025" in beyond.verdicts[0].message and "holds 200.00" in beyond.verdicts[0].message
    assert r.observed.cross_year_left == {"101001/2025/990100": 0}  # the observed books name the division
