"""Issue 17: a quota reduction (额度追减, 003 §22; VtCode 7106, the project's own code) lowers what
the bank may still pay of a unit's authorized quota line, never below what is paid."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import books, quotas
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.catalog import get_catalog
from messages.errors import CODES
from messages.factory import quota_reduction_notice
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.books import BooksError
from sim.effects import Alarm, SendVoucher

CALENDAR = BusinessCalendar.default()
BANK = "999100000001"
VOUCHERS = Path(__file__).resolve().parent.parent / "scenarios" / "vouchers"
ADM = "990100"  # messages.factory.ADM_DIV_CODE: the configured division
KEY = (ADM, "2026", "1", "101001", "2100201", "99010026A0000")



def t(hhmm: str, day: str = "2026-03-10") -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def _file(name: str) -> VoucherDoc:
    return parse_voucher((VOUCHERS / name).read_bytes())


def _line(fen: int, project: str = "99010026A0000") -> quotas.NoticeLine:
    return (ADM, "2026", "1", "101001", "2100201", project), ("unit", "subject", "project"), fen


def _book(granted: int = 1000_00) -> quotas.QuotaBook:
    book = quotas.QuotaBook()
    assert quotas.grant(book, "ED1", [_line(granted)]) is None
    return book


def test_reduce_lowers_the_line_and_refuses_more_than_remains_naming_it() -> None:
    book = _book()
    quotas.spend(book, {KEY: 300_00})
    assert quotas.reduce(book, [_line(500_00)]) is None
    assert book[KEY].remaining_fen == 200_00 and book[KEY].reduced_fen == 500_00
    refused = quotas.reduce(book, [_line(200_01)])
    assert refused is not None and "unit 101001" in refused and "subject 2100201" in refused
    assert "200.01" in refused and "200.00" in refused
    missing = quotas.reduce(book, [_line(1_00, "OTHER")])
    assert missing is not None and "project OTHER" in missing
    assert book[KEY].remaining_fen == 200_00  # refused whole: nothing changed
    draw = quotas.draw(book, "101001", [{"ExpFuncCode": "2100201", "ProCode": KEY[5], "PayAmt": "200.01"}],
                       "2026", "1", ADM)
    assert isinstance(draw, quotas.Shortfall) and draw.code == "over-unit-quota"
    assert isinstance(quotas.draw(book, "101001", [{"ExpFuncCode": "2100201", "ProCode": KEY[5],
                                                   "PayAmt": "200.00"}], "2026", "1", ADM), dict)


def test_reduce_to_exactly_what_is_paid_is_allowed_and_zero_is_refused() -> None:
    book = _book()
    quotas.spend(book, {KEY: 400_00})
    assert quotas.reduce(book, [_line(0)]) is not None  # an empty reduction is not a notice
    assert quotas.reduce(book, [_line(600_00)]) is None
    assert book[KEY].remaining_fen == 0


def _core() -> BankCore:
    core = BankCore(BANK, BankConfig(), CALENDAR, ClockConfig())
    core.on_time(t("08:00"))
    core.on_voucher(_file("7101-unit-101001-2100201-1000.xml"), 0, t("08:40"))
    return core


def test_the_bank_applies_a_7106_confirms_it_and_tells_the_unit_once() -> None:
    core = _core()
    doc = _file("7106-unit-101001-reduce-500.xml")
    effects = core.on_voucher(doc, 0, t("11:00"))
    sent = [e for e in effects if isinstance(e, SendVoucher)]
    assert [(e.vtcode, e.flag, e.head.get("XConfirmDate")) for e in sent if e.flag == 1] == [("7106", 1, "20260310")]
    assert [(e.vtcode, e.head["OriVtCode"], e.head["PayAmt"]) for e in sent if e.flag == 0] == [
        ("7102", "7106", "500.00")]
    assert not [e for e in effects if isinstance(e, Alarm)]
    assert core.quota_book[KEY].remaining_fen == 500_00
    # delivered again (also after a restart from a snapshot): confirmed again, applied once
    restored = BankCore.restore(core.snapshot(), BANK, BankConfig(), CALENDAR, ClockConfig())
    again = restored.on_voucher(doc, 0, t("11:10"))
    assert [(e.vtcode, e.flag) for e in again if isinstance(e, SendVoucher)] == [("7106", 1)]
    assert restored.quota_book[KEY].remaining_fen == 500_00


def test_the_bank_refuses_a_7106_above_what_remains_whole_with_its_code() -> None:
    core = _core()
    core.on_voucher(_file("7106-unit-101001-reduce-500.xml"), 0, t("11:00"))
    big = _file("7106-unit-101001-reduce-200.01.xml")
    over = parse_voucher(build_voucher("7106", {**big.head(), "PayAmt": "500.01"},
                                       [{**big.details()[0], "PayAmt": "500.01"}]))
    refused = core.on_voucher(over, 0, t("11:30"))
    alarms = [a for a in refused if isinstance(a, Alarm)]
    assert [a.code for a in alarms] == ["quota-reduction-refused"]
    assert "unit 101001" in alarms[0].message and "500.00" in alarms[0].message
    assert not [e for e in refused if isinstance(e, SendVoucher)]
    assert core.quota_book[KEY].remaining_fen == 500_00
    # another bank's reduction: refused too
    other = parse_voucher(build_voucher("7106", {**big.head(), "VoucherNo": "ZJ2026031000009",
                                                 "PayBankCode": "999100000002"}, big.details()))
    assert [a.code for a in core.on_voucher(other, 0, t("11:40")) if isinstance(a, Alarm)] == [
        "quota-reduction-refused"]


def test_the_factory_builds_a_7106_the_bank_applies() -> None:
    core = _core()
    data = quota_reduction_notice(voucher_no="ZJ2026031000077", vou_date=dt.date(2026, 3, 10), pay_bank_code=BANK,
                                  lines=[("101001", "示例市第一中学", "2100201", "综合医院", KEY[5], "示例通用项目",
                                          250_00)])
    effects = core.on_voucher(parse_voucher(data), 0, t("11:00"))
    assert not [e for e in effects if isinstance(e, Alarm)]
    assert core.quota_book[KEY].remaining_fen == 750_00


def test_the_code_and_the_catalog_entry_are_registered() -> None:
    assert "quota-reduction-refused" in CODES
    spec = get_catalog().get("7106")
    assert (spec.sender, spec.recipient, spec.has_receipt) == ("treasury", "bank", True)


def test_the_books_catch_a_line_reduced_below_what_is_paid() -> None:
    core = _core()
    doc = _file("7106-unit-101001-reduce-500.xml")
    core.on_voucher(doc, 0, t("11:00"))
    core.quota_book[KEY].reduced_fen += 600_00  # a broken reduction: the books must catch it
    st_ = core._st
    with pytest.raises(BooksError, match="quota-non-negative"):
        books.check(core._ctx, st_, lines=[KEY])
    core.quota_book[KEY].reduced_fen -= 600_00
    books.check(core._ctx, st_, lines=[KEY])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["reduce", "pay", "refund"]), st.integers(0, 600_00)), max_size=30),
       st.integers(1, 2000_00))
def test_remaining_is_granted_less_reductions_less_paid_plus_cleared_refunds_never_negative(
        ops: list[tuple[str, int]], granted: int) -> None:
    book = _book(granted)
    reduced = paid = refunded = 0
    payments: list[int] = []
    for op, fen in ops:
        if op == "reduce":
            if quotas.reduce(book, [_line(fen)]) is None:
                reduced += fen
        elif op == "pay":
            taken = quotas.draw(book, "101001", [{"ExpFuncCode": "2100201", "ProCode": KEY[5],
                                                  "PayAmt": f"{fen // 100}.{fen % 100:02d}"}], "2026", "1", ADM)
            if isinstance(taken, dict):
                quotas.spend(book, taken)
                paid += fen
                payments.append(fen)
        elif payments:  # a cleared refund gives one payment back to the line
            back = payments.pop(fen % len(payments))
            quotas.release(book, {KEY: back})
            refunded += back
        line = book[KEY]
        assert line.remaining_fen == granted - reduced - paid + refunded
        assert line.remaining_fen >= 0 and line.spent_fen >= 0


# --- the example bank (examples/sdk_bank.py) plays the reduction scenario as bank-a ----------------

@pytest.mark.slow
def test_the_reduction_scenario_passes_against_the_example_bank(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from runner.world import DevWorld
    from tests.test_conformance import _failures, _gateway_and_bank
    from tgw import main as tgw_main

    world = DevWorld.create(tmp_path / "world")
    junit = tmp_path / "junit.xml"
    with _gateway_and_bank(world, tmp_path / "procs") as url:
        code = tgw_main(["scenario", "run", str(VOUCHERS.parent / "quota-reduction-lowers-the-line-over-returned.yaml"),
                         "--external", "bank-a", "--url", url, "--world", str(world.root), "--junit", str(junit),
                         "--quiet"])
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3  # run, not skipped whole
    assert _failures(junit) == {} and code == 0


# --- the scenario, simulated: both directions ------------------------------------------------------

SCENARIO = VOUCHERS.parent / "quota-reduction-lowers-the-line-over-returned.yaml"
REFUSED_BY_CODE = '''
  - rejected: {voucher: toomuch, code: quota-reduction-refused, who: bank}
    by: "11:30"
'''


def _run(text: str, tmp: Path) -> list[tuple[str, str]]:
    import asyncio

    from runner.scenario_file import load_text
    from runner.scenario_run import run_scenario

    r = asyncio.run(run_scenario(load_text(text, "reduction.yaml", base=SCENARIO.parent), tmp))
    assert r.error is None
    return [(o.expected, o.actual) for o in r.failed]


def test_the_simulated_bank_names_the_refusal_code_in_the_scenario(tmp_path: Path) -> None:
    assert _run(SCENARIO.read_text(encoding="utf-8") + REFUSED_BY_CODE, tmp_path) == []


@pytest.mark.parametrize("wrong", [
    ('unit_quota: {owner: treasury, unit: "101001", equals: "0.00"}',
     'unit_quota: {owner: treasury, unit: "101001", equals: "500.00"}'),  # the reduction not taken off
    ('unit_quota: {owner: bank-a, unit: "101001", equals: "0.00"}',
     'unit_quota: {owner: bank-a, unit: "101001", equals: "0.01"}'),
    ("rejected: {voucher: over, code: over-unit-quota, who: bank}",
     "accepted: {voucher: over, who: bank}"),
])
def test_a_wrong_expectation_of_the_reduction_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = SCENARIO.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    assert len(_run(text.replace(wrong[0], wrong[1]), tmp_path)) == 1


# --- a cross-year refund (跨年度退款指标, 003 §36) ---------------------------------------------------

CROSS_YEAR = VOUCHERS.parent / "refund-cross-year-opens-a-line-the-unit-pays-from.yaml"


def test_a_cross_year_refund_opens_a_line_the_unit_pays_from(tmp_path: Path) -> None:
    assert _run(CROSS_YEAR.read_text(encoding="utf-8"), tmp_path) == []


@pytest.mark.parametrize("wrong", [
    ('quota_restored: {unit: "101001", cross_year: true, equals: "600.00"}',
     'quota_restored: {unit: "101001", cross_year: true, equals: "0.00"}'),
    ('quota_restored: {unit: "101001", year: "2025", equals: "0.00"}',
     'quota_restored: {unit: "101001", year: "2025", equals: "600.00"}'),
    # the bank gave last year's line back (the old behaviour): 2,400.00 + 600.00
    ('unit_quota: {owner: bank-a, unit: "101001", equals: "2400.00"}',
     'unit_quota: {owner: bank-a, unit: "101001", equals: "3000.00"}'),
])
def test_a_wrong_expectation_of_the_cross_year_refund_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = CROSS_YEAR.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    assert len(_run(text.replace(wrong[0], wrong[1]), tmp_path)) == 1
