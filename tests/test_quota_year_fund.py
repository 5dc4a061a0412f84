"""Issue 16, rules 1 and 5: quota has a budget year and a fund type, at the bank (authorized quota
lines, year-end cancel / carry-forward) and at the central bank (clearing quota per fund type);
the treasury's clearing quota notices are the exact sums of the approved vouchers."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import quotas
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from pboc_sim.core import PbocConfig, PbocCore
from sim.codec import decode, encode
from sim.effects import Alarm, Effect, SendVoucher, WakeAt
from treasury_sim.clearing_quotas import Approved, notice_lines
from treasury_sim.core import TreasuryConfig, TreasuryCore

CALENDAR = BusinessCalendar.default()
BANK, BANK2 = "999100000001", "999100000002"
ADM = "990100"
OTHER = "990200"  # a second division the same banks serve
_seq = itertools.count(1)
VOUCHERS = Path(__file__).resolve().parent.parent / "scenarios" / "vouchers"


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


# --- the bank's authorized quota lines (rule 1) ---------------------------------------------

def _line(year: str, fund: str, agency: str, project: str, fen: int) -> quotas.NoticeLine:
    return (ADM, year, fund, agency, "2140104", project), ("unit", "subject", "project"), fen


def _detail(fen: int, project: str = "") -> dict[str, str]:
    return {"AgencyCode": "101001", "ExpFuncCode": "2140104", "ProCode": project, "PayAmt": fen_to_str(fen)}


def _book() -> quotas.QuotaBook:
    book = quotas.QuotaBook()
    assert quotas.grant(book, "ED1", [_line("2025", "1", "101001", "P1", 1000_00)]) is None
    return book


def test_a_december_quota_does_not_pay_a_january_voucher_nor_another_fund_type() -> None:
    book = _book()
    assert isinstance(quotas.draw(book, "101001", [_detail(999_00)], "2025", "1", ADM), dict)
    next_year = quotas.draw(book, "101001", [_detail(999_00)], "2026", "1", ADM)
    assert isinstance(next_year, quotas.Shortfall) and next_year.code == "no-unit-quota"
    assert "StYear 2026" in next_year.message
    other_fund = quotas.draw(book, "101001", [_detail(999_00, "P1")], "2025", "2", ADM)
    assert isinstance(other_fund, quotas.Shortfall) and other_fund.code == "no-unit-quota"
    assert "FundTypeCode 2" in other_fund.message


def test_cancel_takes_the_remaining_off_and_refuses_what_is_not_there() -> None:
    book = _book()
    quotas.spend(book, {(ADM, "2025", "1", "101001", "2140104", "P1"): 600_00})
    # more than remains, or a line the bank does not hold: refused whole, nothing changes
    assert quotas.cancel(book, [_line("2025", "1", "101001", "P1", 400_01)]) is not None
    assert quotas.cancel(book, [_line("2025", "1", "101001", "P1", 1_00),
                                _line("2025", "2", "101001", "P1", 1_00)]) is not None
    assert book[(ADM, "2025", "1", "101001", "2140104", "P1")].remaining_fen == 400_00
    assert quotas.cancel(book, [_line("2025", "1", "101001", "P1", 400_00)]) is None
    assert book[(ADM, "2025", "1", "101001", "2140104", "P1")].remaining_fen == 0
    assert isinstance(quotas.draw(book, "101001", [_detail(1)], "2025", "1", ADM), quotas.Shortfall)


def test_carry_forward_moves_the_remaining_to_next_years_line() -> None:
    book = _book()
    quotas.spend(book, {(ADM, "2025", "1", "101001", "2140104", "P1"): 600_00})
    assert quotas.carry(book, "JZ1", "2026", [_line("2025", "1", "101001", "P1", 400_00)]) is None
    assert book[(ADM, "2025", "1", "101001", "2140104", "P1")].remaining_fen == 0
    new = book[(ADM, "2026", "1", "101001", "2140104", "P1")]
    assert (new.granted_fen, new.remaining_fen, new.notices) == (400_00, 400_00, ["JZ1"])
    assert isinstance(quotas.draw(book, "101001", [_detail(400_00)], "2026", "1", ADM), dict)
    over = quotas.draw(book, "101001", [_detail(400_01)], "2026", "1", ADM)
    assert isinstance(over, quotas.Shortfall) and over.code == "over-unit-quota"
    # a second carry of the same money: nothing is left to carry
    assert quotas.carry(book, "JZ2", "2026", [_line("2025", "1", "101001", "P1", 1)]) is not None
    assert decode(encode(book), quotas.QuotaBook) == book


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["grant", "spend", "cancel", "carry"]), st.sampled_from(["1", "2"]),
                              st.integers(1, 10_000)), max_size=30))
def test_year_end_never_creates_or_loses_quota(ops: list[tuple[str, str, int]]) -> None:
    """Whatever is granted, spent, cancelled or carried: old-year remaining + carried + cancelled +
    spent = granted, per fund type, and a fund type's lines never change another's."""
    book: dict[quotas.LineKey, quotas.QuotaLine] = {}
    granted: dict[str, int] = {"1": 0, "2": 0}
    for i, (op, fund, fen) in enumerate(ops):
        key = (ADM, "2025", fund, "101001", "2140104", "P1")
        line = _line("2025", fund, "101001", "P1", fen)
        if op == "grant":
            assert quotas.grant(book, f"ED{i}", [line]) is None
            granted[fund] += fen
        elif op == "spend":
            taken = quotas.draw(book, "101001", [_detail(fen)], "2025", fund, ADM)
            if isinstance(taken, dict):
                quotas.spend(book, taken)
        elif op == "cancel":
            remaining = book[key].remaining_fen if key in book else 0
            assert (quotas.cancel(book, [line]) is None) == (0 < fen <= remaining)
        else:
            remaining = book[key].remaining_fen if key in book else 0
            assert (quotas.carry(book, f"JZ{i}", "2026", [line]) is None) == (0 < fen <= remaining)
    for fund in ("1", "2"):
        old = book.get((ADM, "2025", fund, "101001", "2140104", "P1"))
        new = book.get((ADM, "2026", fund, "101001", "2140104", "P1"))
        assert (old.granted_fen if old else 0) == granted[fund]
        if old is not None:
            assert old.remaining_fen >= 0 and old.spent_fen + old.closed_fen + old.remaining_fen == granted[fund]
        assert (new.granted_fen if new else 0) <= (old.closed_fen if old else 0)


def _file(name: str) -> VoucherDoc:
    return parse_voucher((VOUCHERS / name).read_bytes())


def test_the_bank_applies_confirms_and_tells_the_units_of_year_end_notices_once() -> None:
    core = BankCore(BANK, BankConfig(), CALENDAR, ClockConfig())
    core.on_time(t("2025-12-30", "08:00"))
    core.on_voucher(_file("7101-2025-12-unit-101001-101002.xml"), 0, t("2025-12-30", "08:40"))
    cancel, carry = _file("7301-2025-cancel-101002-500.xml"), _file("7302-2025-carry-101001-400.xml")
    for doc, when in ((cancel, "14:00"), (carry, "14:10")):
        effects = core.on_voucher(doc, 0, t("2025-12-31", when))
        sent = [e for e in effects if isinstance(e, SendVoucher)]
        assert [(e.vtcode, e.flag, e.head.get("XConfirmDate")) for e in sent if e.flag == 1] == [
            (doc.vtcode, 1, "20251231")]
        notices = [e for e in sent if e.vtcode == "7102"]
        assert [(e.head["OriVtCode"], e.head["OriVoucherNo"], e.head["PayAmt"]) for e in notices] == [
            (doc.vtcode, doc.get("VoucherNo"), doc.get("PayAmt"))]
        assert not [e for e in effects if isinstance(e, Alarm)]
    assert core.quota_book[(ADM, "2025", "1", "101002", "2050203", "99010026A0000")].remaining_fen == 0
    assert core.quota_book[(ADM, "2025", "1", "101001", "2140104", "99010026A0000")].remaining_fen == 600_00
    assert core.quota_book[(ADM, "2026", "1", "101001", "2140104", "99010026A0000")].remaining_fen == 400_00
    # delivered again: confirmed again, applied once (also after a restart from a snapshot)
    restored = BankCore.restore(core.snapshot(), BANK, BankConfig(), CALENDAR, ClockConfig())
    again = restored.on_voucher(carry, 0, t("2025-12-31", "14:20"))
    assert [(e.vtcode, e.flag) for e in again if isinstance(e, SendVoucher)] == [("7302", 1)]
    assert restored.quota_book == core.quota_book
    # the same cancellation under another number: nothing is left of the line, refused whole, no receipt
    second = parse_voucher(build_voucher("7301", {**cancel.head(), "VoucherNo": "ZX2025123100002"}, cancel.details()))
    refused = core.on_voucher(second, 0, t("2025-12-31", "14:30"))
    assert [a.code for a in refused if isinstance(a, Alarm)] == ["quota-notice-invalid"]
    assert not [e for e in refused if isinstance(e, SendVoucher)]


# --- the central bank's clearing quota per fund type (rule 5) --------------------------------

def _quota(day: str, fund: str, fen: int, bank: str = BANK, adm: str = ADM) -> VoucherDoc:
    no = f"QE{day.replace('-', '')}{next(_seq):05d}"
    amount = fen_to_str(fen)
    head = {"Id": f"V{no}", "AdmDivCode": adm, "StYear": day[:4], "VouDate": day.replace("-", ""), "VoucherNo": no,
            "PayTypeCode": "11", "FundTypeCode": fund, "FundTypeName": "资金", "PayBankCode": bank,
            "PayBankName": "测试银行", "ClearDate": day.replace("-", ""), "PayAmt": amount}
    return parse_voucher(build_voucher("5108", head, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "测试局",
                                                        "PayAmt": amount}]))


def _clearing(day: str, fund: str, fen: int, bank: str = BANK, adm: str = ADM) -> VoucherDoc:
    no = f"HK{day.replace('-', '')}{next(_seq):05d}"
    amount = fen_to_str(fen)
    head = {"Id": f"V{no}", "AdmDivCode": adm, "StYear": day[:4], "VouDate": day.replace("-", ""), "VoucherNo": no,
            "PayBankCode": bank, "PayBankName": "测试银行", "ClearDate": day.replace("-", ""), "PayTypeCode": "11",
            "FundTypeCode": fund, "FundTypeName": "资金", "UrgentFlag": "0", "ClearType": "0", "PayAmt": amount}
    return parse_voucher(build_voucher("2301", head, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "测试局",
                                                        "PayAmt": amount}]))


def _answer(effects: list[Effect]) -> str | None:
    """The return reason of the 2301 receipt in `effects` ("" when accepted)."""
    receipts = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "2301" and e.flag == 1]
    assert len(receipts) == 1
    return receipts[0].return_reason or ""


def test_a_request_of_one_fund_type_cannot_draw_anothers_quota() -> None:
    core = PbocCore(PbocConfig(tsa_opening_fen=10**12), CALENDAR, ClockConfig())
    core.on_time(t("2026-03-16", "08:00"))
    core.on_voucher(_quota("2026-03-16", "1", 100_00), 0, t("2026-03-16", "08:30"))
    core.on_voucher(_quota("2026-03-16", "2", 50_00), 0, t("2026-03-16", "08:31"))
    assert (_answer(core.on_voucher(_clearing("2026-03-16", "2", 60_00), 0, t("2026-03-16", "15:30")))
            or "").startswith("over-quota")
    assert (_answer(core.on_voucher(_clearing("2026-03-16", "3", 1_00), 0, t("2026-03-16", "15:31")))
            or "").startswith("no-quota-notice")
    assert _answer(core.on_voucher(_clearing("2026-03-16", "1", 100_00), 0, t("2026-03-16", "15:32"))) == ""
    assert core.quotas[(ADM, BANK, "11", "2", dt.date(2026, 3, 16))].used_fen == 0
    restored = PbocCore.restore(core.snapshot(), PbocConfig(tsa_opening_fen=10**12), CALENDAR, ClockConfig())
    assert restored.quotas == core.quotas


def test_a_request_of_one_division_cannot_draw_anothers_quota() -> None:
    """Before: the quota line had no division, so a bank serving 990100 and 990200 cleared a 990200
    payment on the quota 990100's treasury notified (pooled). Each treasury notifies the quota of
    its own payments and the central bank checks a request against it (003 §33; 004 part 5 §1)."""
    core = PbocCore(PbocConfig(tsa_opening_fen=10**12), CALENDAR, ClockConfig())
    core.on_time(t("2026-03-16", "08:00"))
    core.on_voucher(_quota("2026-03-16", "1", 100_00), 0, t("2026-03-16", "08:30"))
    assert (_answer(core.on_voucher(_clearing("2026-03-16", "1", 50_00, adm=OTHER), 0, t("2026-03-16", "10:00")))
            or "").startswith("no-quota-notice")
    core.on_voucher(_quota("2026-03-16", "1", 30_00, adm=OTHER), 0, t("2026-03-16", "10:01"))
    assert (_answer(core.on_voucher(_clearing("2026-03-16", "1", 30_01, adm=OTHER), 0, t("2026-03-16", "10:02")))
            or "").startswith("over-quota")
    assert _answer(core.on_voucher(_clearing("2026-03-16", "1", 30_00, adm=OTHER), 0, t("2026-03-16", "10:03"))) == ""
    assert _answer(core.on_voucher(_clearing("2026-03-16", "1", 100_00), 0, t("2026-03-16", "10:04"))) == ""
    day = dt.date(2026, 3, 16)
    assert {k: (q.notified_fen, q.used_fen) for k, q in core.quotas.items()} == {
        (ADM, BANK, "11", "1", day): (100_00, 100_00), (OTHER, BANK, "11", "1", day): (30_00, 30_00)}


def test_a_version_7_snapshot_loads_its_quota_lines_as_the_configured_divisions() -> None:
    """Version 8 keys the quota by division; a version 7 snapshot (no division in the key) loads,
    its lines the configured division's, and is written back as the current version (9)."""
    import json

    from test_pboc_refunds import _as_version_8

    from pboc_sim.state import SEP, SNAPSHOT_VERSION

    core = PbocCore(PbocConfig(tsa_opening_fen=10**12), CALENDAR, ClockConfig())
    core.on_time(t("2026-03-16", "08:00"))
    core.on_voucher(_quota("2026-03-16", "1", 100_00), 0, t("2026-03-16", "08:30"))
    core.on_voucher(_clearing("2026-03-16", "1", 40_00), 0, t("2026-03-16", "10:00"))
    data = json.loads(_as_version_8(core.snapshot()))  # no year in what was cleared
    assert data["version"] == 8
    data["version"] = 7
    data["quotas"] = {k.split(SEP, 1)[1]: v for k, v in data["quotas"].items()}
    old = json.dumps(data, ensure_ascii=False).encode()
    after = PbocCore.restore(old, core.config, CALENDAR, ClockConfig())
    assert after.quotas == core.quotas and json.loads(after.snapshot())["version"] == SNAPSHOT_VERSION
    assert _answer(after.on_voucher(_clearing("2026-03-16", "1", 60_01), 0, t("2026-03-16", "10:01"))) \
        .startswith("over-quota")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notices=st.lists(st.tuples(st.sampled_from([BANK, BANK2]), st.sampled_from(["1", "2", "3"]),
                                  st.integers(1, 10**8), st.sampled_from([ADM, OTHER])), max_size=8),
       requests=st.lists(st.tuples(st.sampled_from([BANK, BANK2]), st.sampled_from(["1", "2", "3"]),
                                   st.integers(1, 10**8), st.sampled_from([ADM, OTHER])), min_size=1, max_size=12))
def test_pboc_accepts_exactly_the_requests_within_their_own_fund_types_quota(
        notices: list[tuple[str, str, int, str]], requests: list[tuple[str, str, int, str]]) -> None:
    """Oracle: a request draws only on the quota its own division's treasury notified for its bank,
    pay type, fund type and day (003 §33; 004 part 5 §1), never another's."""
    core = PbocCore(PbocConfig(tsa_opening_fen=10**12), CALENDAR, ClockConfig())
    core.on_time(t("2026-03-16", "08:00"))
    left: dict[tuple[str, str, str], int] = {}
    for bank, fund, fen, adm in notices:
        core.on_voucher(_quota("2026-03-16", fund, fen, bank, adm), 0, t("2026-03-16", "08:30"))
        left[(adm, bank, fund)] = left.get((adm, bank, fund), 0) + fen
    for i, (bank, fund, fen, adm) in enumerate(requests):
        reason = _answer(core.on_voucher(_clearing("2026-03-16", fund, fen, bank, adm), 0,
                                         t("2026-03-16", "10:00") + dt.timedelta(minutes=i)))
        if (adm, bank, fund) not in left:
            assert (reason or "").startswith("no-quota-notice")
        elif fen <= left[(adm, bank, fund)]:
            assert reason == ""
            left[(adm, bank, fund)] -= fen
        else:
            assert (reason or "").startswith("over-quota")


# --- the treasury's clearing quota notices: exact, per fund type (rule 5) -------------------

_approved = st.builds(Approved, st.sampled_from([BANK, BANK2]), st.sampled_from(["11", "12"]),
                      st.sampled_from(["1", "2", "3"]), st.sampled_from([("101", "教育局"), ("102", "卫健委")]),
                      st.integers(1, 10**9))


@given(vouchers=st.lists(_approved, max_size=40))
def test_notices_sum_exactly_per_bank_pay_type_and_fund_type(vouchers: list[Approved]) -> None:
    lines = notice_lines(vouchers)
    expected: dict[tuple[str, str, str], int] = {}
    for v in vouchers:
        expected[(v.bank, v.pay_type, v.fund_type)] = expected.get((v.bank, v.pay_type, v.fund_type), 0) + v.amount_fen
    assert {k: sum(fen for _, _, fen in ls) for k, ls in lines.items()} == expected
    for (bank, pay_type, fund), ls in lines.items():
        for code, _, fen in ls:
            assert fen == sum(v.amount_fen for v in vouchers if (v.bank, v.pay_type, v.fund_type, v.sup_dep[0])
                              == (bank, pay_type, fund, code))


def _treasury(**kw: object) -> TreasuryCore:
    config = TreasuryConfig(**{"vouchers_per_day": 40, "days": 2, **kw})  # type: ignore[arg-type]
    return TreasuryCore(config, CALENDAR, ClockConfig())


def _run(core: TreasuryCore, end: dt.datetime) -> list[SendVoucher]:
    now = dt.datetime.combine(core.days[0], dt.time(8, 0), tzinfo=TZ)
    out: list[SendVoucher] = []
    while now <= end:
        effects = core.on_time(now)
        out += [e for e in effects if isinstance(e, SendVoucher)]
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            break
        now = wakes[-1]
    return out


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60))
def test_the_days_5108_and_5106_are_the_exact_sum_of_its_approved_vouchers(seed: int, n: int) -> None:
    core = _treasury(seed=seed, vouchers_per_day=n, days=1)
    sent = _run(core, t("2026-02-13", "23:59"))
    notified: dict[tuple[str, str, str], int] = {}
    for e in sent:
        if e.vtcode in ("5108", "5106"):
            key = (e.head["PayBankCode"], e.head["PayTypeCode"], e.head["FundTypeCode"])
            assert key not in notified  # one notice per bank, pay type and fund type
            notified[key] = parse_fen(e.head["PayAmt"])
    approved: dict[tuple[str, str, str], int] = {}
    for v in core.vouchers.values():
        key = (v.bank, v.pay_type, v.doc.get("FundTypeCode"))
        approved[key] = approved.get(key, 0) + v.amount_fen
    assert notified == approved
    # the month's authorized quota notices (7101) are the exact 8202 plan too
    unit_quota = sum(parse_fen(e.head["PayAmt"]) for e in sent if e.vtcode == "7101")
    assert unit_quota == sum(v.amount_fen for v in core.vouchers.values() if v.vtcode == "8202")


def _receipt(core: TreasuryCore, voucher_no: str, pay_day: str) -> VoucherDoc:
    doc = core.vouchers[voucher_no].doc
    head = {**doc.head(), "XPayDate": pay_day, "XPayAmt": doc.get("PayAmt"), "XAgentBusinessNo": "YH1"}
    return parse_voucher(SendVoucher(doc.vtcode, 1, head, tuple(doc.details()), "treasury", original=b"-").render())


def test_a_voucher_carried_to_the_next_business_day_gets_that_days_quota() -> None:
    core = _treasury(late_share_pct=0, authorized_share_pct=0)
    _run(core, t("2026-02-13", "23:00"))
    first, second, third = sorted(no for no, v in core.vouchers.items() if v.day == dt.date(2026, 2, 13))[:3]
    # paid on its own day: covered by that day's notice, nothing more
    assert core.on_voucher(_receipt(core, first, "20260213"), 1, t("2026-02-13", "17:00")) == []
    # paid on the next business day (02-14, a make-up Saturday), before its cutoff: a notice for that day
    core.on_time(t("2026-02-14", "09:00"))  # (that day's own notices went out at 08:30)
    effects = core.on_voucher(_receipt(core, second, "20260214"), 1, t("2026-02-14", "09:05"))
    notices = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode in ("5108", "5106")]
    v = core.vouchers[second]
    assert [(e.vtcode, e.recipient_role, e.head["ClearDate"], e.head["PayBankCode"], e.head["FundTypeCode"],
             parse_fen(e.head["PayAmt"])) for e in notices] == [("5108", "pboc", "20260214", v.bank, "1",
                                                                  v.amount_fen)]
    # after the day's clearing cutoff it could not be used: none
    late = core.on_voucher(_receipt(core, third, "20260214"), 1, t("2026-02-14", "16:00"))
    assert [e for e in late if isinstance(e, SendVoucher) and e.vtcode in ("5108", "5106")] == []
