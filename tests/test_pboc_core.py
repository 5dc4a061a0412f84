"""The central bank's sans-IO core, driven with synthetic vouchers at hand-picked times."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from ledger.model import Transfer
from messages.business import business_issues
from messages.catalog import get_catalog
from messages.money import fen_to_str, parse_fen
from messages.schema import validate_tree
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from pboc_sim.core import (
    TSA_ACCOUNT,
    Alarm,
    Effect,
    OpenAccount,
    PbocConfig,
    PbocCore,
    PostTransfer,
    SendVoucher,
    WakeAt,
    clearing_account,
)

BANK = "999100000001"
BANK2 = "999100000002"
ADM = "990100"
OPENING_FEN = 10_000_000_00
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.default()


def t(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=TZ)


def ymd(day: str) -> str:
    return day.replace("-", "")


def quota(day: str, amount: str, *, bank: str = BANK, vtcode: str = "5108") -> VoucherDoc:
    no = f"QE{ymd(day)}{next(_seq):05d}"
    head = {"Id": f"V{no}", "AdmDivCode": ADM, "StYear": day[:4], "VouDate": ymd(day), "VoucherNo": no,
            "PayTypeCode": "11" if vtcode == "5108" else "12", "FundTypeCode": "1", "FundTypeName": "一般公共预算资金",
            "PayBankCode": bank, "PayBankName": "测试银行", "ClearDate": ymd(day), "PayAmt": amount}
    details = [{"Id": "D1", "SupDepCode": "101", "SupDepName": "测试局", "PayAmt": amount}]
    return parse_voucher(build_voucher(vtcode, head, details))


def clearing(day: str, amount: str, *, bank: str = BANK, pay_type: str = "11", urgent: bool = False,
             clear_type: int = 0, detail_amount: str | None = None, vou_day: str | None = None,
             payments: list[tuple[str, str]] | None = None) -> VoucherDoc:
    """A 2301; `payments` [(payment VoucherNo, amount)]: one Detail per payment, naming it."""
    vou_day = vou_day or day
    no = f"HK{ymd(vou_day)}{next(_seq):05d}"
    head = {"Id": f"V{no}", "AdmDivCode": ADM, "StYear": vou_day[:4], "VouDate": ymd(vou_day), "VoucherNo": no,
            "PayBankCode": bank, "PayBankName": "测试银行", "ClearDate": ymd(day), "PayTypeCode": pay_type,
            "FundTypeCode": "1", "FundTypeName": "一般公共预算资金", "UrgentFlag": "1" if urgent else "0",
            "ClearType": str(clear_type), "PayAmt": amount}
    details = [{"Id": "D1", "SupDepCode": "101", "SupDepName": "测试局", "PayAmt": detail_amount or amount}]
    if payments is not None:
        details = [{"Id": f"D{i}", "VoucherNo": no_, "SupDepCode": "101", "SupDepName": "测试局", "PayAmt": amt}
                   for i, (no_, amt) in enumerate(payments, start=1)]
    return parse_voucher(build_voucher("2301", head, details))


def refund(day: str, amount: str, *, bank: str = BANK, ori: VoucherDoc | None = None, ori_vtcode: str = "5201",
           ori_no: str = "ZZ0001", pay_type: str = "11", ori_day: str | None = None) -> VoucherDoc:
    """A 2302 refunding `ori` (a 2301: OriVouDate its VouDate), or else the payment voucher
    `ori_vtcode` `ori_no` (by default one that was never paid) of `ori_day` (OriVouDate; the day's
    by default)."""
    ori_vou_date = ymd(ori_day or day)
    if ori is not None:
        ori_vtcode, ori_no, pay_type = ori.vtcode, ori.get("VoucherNo"), ori.get("PayTypeCode")
        ori_vou_date = ori.get("VouDate")
    no = f"TK{ymd(day)}{next(_seq):05d}"
    head = {"Id": f"V{no}", "AdmDivCode": ADM, "StYear": day[:4], "VouDate": ymd(day), "VoucherNo": no,
            "OriVtCode": ori_vtcode, "OriVoucherNo": ori_no, "OriVouDate": ori_vou_date, "PayBankCode": bank,
            "PayBankName": "测试银行", "PayTypeCode": pay_type, "FundTypeCode": "1", "FundTypeName": "一般公共预算资金",
            "AgencyCode": "101001", "AgencyName": "测试单位", "PayeeAcctNo": "99990000000009999",
            "PayeeAcctName": "测试收款人", "PayeeAcctBankName": "测试支行", "PayAcctNo": "99901000000000099",
            "PayAcctName": "测试零余额账户", "ReturnReasonCode": "02", "ReturnReasonName": "收款账户已销户",
            "PayAmt": amount}
    return parse_voucher(build_voucher("2302", head))


class Books:
    """A tiny in-memory ledger that performs the core's ledger effects and checks them."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = defaultdict(int)
        self.opened: set[str] = set()
        self.transfers: dict[str, Transfer] = {}
        self.sent: list[SendVoucher] = []
        self.alarms: list[Alarm] = []

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for e in effects:
            if isinstance(e, OpenAccount):
                self.opened.add(e.account.id)
            elif isinstance(e, PostTransfer):
                tr = e.transfer
                assert tr.debit_account in self.opened and tr.credit_account in self.opened
                if tr.id in self.transfers:
                    assert self.transfers[tr.id] == tr
                    continue
                self.transfers[tr.id] = tr
                self.balances[tr.debit_account] -= tr.amount_fen
                self.balances[tr.credit_account] += tr.amount_fen
                assert self.balances[TSA_ACCOUNT] >= 0
                for account in (tr.debit_account, tr.credit_account):  # the floor, 0 by default
                    assert not account.startswith("pboc:clearing:") or self.balances[account] >= 0
            elif isinstance(e, SendVoucher):
                self.sent.append(e)
            elif isinstance(e, Alarm):
                self.alarms.append(e)
        assert sum(self.balances.values()) == 0
        return effects


def make(calendar: BusinessCalendar, start: dt.datetime, opening: int = OPENING_FEN) -> tuple[PbocCore, Books]:
    core = PbocCore(PbocConfig(tsa_opening_fen=opening), calendar, ClockConfig())
    books = Books()
    books.apply(core.on_time(start))
    return core, books


def send(core: PbocCore, books: Books, doc: VoucherDoc, now: dt.datetime) -> list[Effect]:
    return books.apply(core.on_voucher(doc, 0, now))


def receipt(effects: list[Effect]) -> SendVoucher:
    [r] = [e for e in effects if isinstance(e, SendVoucher) and e.flag == 1]
    return r


def assert_valid(sv: SendVoucher) -> None:
    """The effect renders to a voucher that passes XSD and the business checks of its flag."""
    doc = parse_voucher(sv.render())
    vt = get_catalog().get(sv.vtcode)
    assert validate_tree(doc.root, vt.xsd) == []
    assert business_issues(doc, vt, sv.flag) == []


def reason_code(sv: SendVoucher) -> str | None:
    return None if sv.return_reason is None else sv.return_reason.split(":", 1)[0]


# ---------------------------------------------------------------- clearing at the cutoffs


def test_within_quota_at_1559_accepted(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "1000.00"), t("2026-03-16", "09:00"))
    effects = send(core, books, clearing("2026-03-16", "600.00"), t("2026-03-16", "15:59"))
    r = receipt(effects)
    assert r.return_reason is None and r.recipient_role == "bank"
    assert r.head["XClearAmt"] == "600.00" and r.head["XClearDate"] == "20260316"
    assert r.head["XPbocSerialNo"].startswith("RH")
    assert_valid(r)
    [post] = [e for e in effects if isinstance(e, PostTransfer)]
    assert post.transfer.debit_account == TSA_ACCOUNT
    assert post.transfer.credit_account == clearing_account(BANK)
    assert post.transfer.kind == "clearing" and post.transfer.business_date == dt.date(2026, 3, 16)
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN - 60000
    assert books.balances[clearing_account(BANK)] == 60000


def test_at_1601_after_cutoff_but_urgent_until_1630(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "1000.00"), t("2026-03-16", "09:00"))
    late = receipt(send(core, books, clearing("2026-03-16", "100.00"), t("2026-03-16", "16:01")))
    assert reason_code(late) == "after-cutoff" and late.head["XClearAmt"] == "0.00"
    assert late.head["XPbocSerialNo"].startswith("RJ")
    assert_valid(late)
    urgent = receipt(send(core, books, clearing("2026-03-16", "100.00", urgent=True), t("2026-03-16", "16:29")))
    assert urgent.return_reason is None
    too_late = receipt(send(core, books, clearing("2026-03-16", "100.00", urgent=True), t("2026-03-16", "16:31")))
    assert reason_code(too_late) == "after-cutoff"
    assert books.balances[clearing_account(BANK)] == 10000


def test_over_quota_and_no_quota_notice(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    no_notice = receipt(send(core, books, clearing("2026-03-16", "1.00"), t("2026-03-16", "09:00")))
    assert reason_code(no_notice) == "no-quota-notice"
    send(core, books, quota("2026-03-16", "1000.00"), t("2026-03-16", "09:00"))
    assert receipt(send(core, books, clearing("2026-03-16", "999.99"), t("2026-03-16", "10:00"))).return_reason is None
    over = receipt(send(core, books, clearing("2026-03-16", "0.02"), t("2026-03-16", "10:01")))
    assert reason_code(over) == "over-quota"
    assert receipt(send(core, books, clearing("2026-03-16", "0.01"), t("2026-03-16", "10:02"))).return_reason is None
    # the authorized quota is separate: no 5106 was sent
    auth = receipt(send(core, books, clearing("2026-03-16", "1.00", pay_type="12"), t("2026-03-16", "10:03")))
    assert reason_code(auth) == "no-quota-notice"
    # another bank has no quota
    other = receipt(send(core, books, clearing("2026-03-16", "1.00", bank=BANK2), t("2026-03-16", "10:04")))
    assert reason_code(other) == "no-quota-notice"
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN - 100000


def test_amount_mismatch_and_wrong_clear_date(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "1000.00"), t("2026-03-16", "09:00"))
    bad = receipt(send(core, books, clearing("2026-03-16", "10.00", detail_amount="11.00"), t("2026-03-16", "09:30")))
    assert reason_code(bad) == "amount-mismatch"
    # a request for yesterday's day, sent today
    stale = receipt(send(core, books, clearing("2026-03-13", "10.00", vou_day="2026-03-16"), t("2026-03-16", "09:31")))
    assert reason_code(stale) == "wrong-day"


def test_quota_notice_for_the_wrong_day_is_refused(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    effects = send(core, books, quota("2026-03-17", "1000.00"), t("2026-03-16", "09:00"))
    [alarm] = [e for e in effects if isinstance(e, Alarm)]
    assert alarm.code == "wrong-day" and not [e for e in effects if isinstance(e, SendVoucher)]
    assert core.rejected_notices[0][1] == "wrong-day"
    # so a clearing for the 17th on the 17th finds no quota
    r = receipt(send(core, books, clearing("2026-03-17", "1.00"), t("2026-03-17", "09:00")))
    assert reason_code(r) == "no-quota-notice"
    # a notice sent on a Sunday for that Sunday
    effects = send(core, books, quota("2026-03-22", "1.00"), t("2026-03-22", "09:00"))
    assert [e.code for e in effects if isinstance(e, Alarm)] == ["wrong-day"]


def test_supplementary_notices_add_up_and_repeats_do_not(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    first = quota("2026-03-16", "100.00")
    send(core, books, first, t("2026-03-16", "09:00"))
    send(core, books, first, t("2026-03-16", "09:01"))  # the same notice again
    send(core, books, quota("2026-03-16", "50.00"), t("2026-03-16", "09:02"))
    assert core.quotas[(ADM, BANK, "11", "1", dt.date(2026, 3, 16))].notified_fen == 15000


def test_replayed_request_gets_the_same_answer(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "100.00"), t("2026-03-16", "09:00"))
    doc = clearing("2026-03-16", "100.00")
    first = send(core, books, doc, t("2026-03-16", "09:00"))
    again = send(core, books, doc, t("2026-03-16", "16:45"))  # redelivered after a crash
    assert receipt(first) == receipt(again)
    assert [e for e in first if isinstance(e, PostTransfer)] == [e for e in again if isinstance(e, PostTransfer)]
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN - 10000


def test_insufficient_tsa_funds(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"), opening=5000)
    send(core, books, quota("2026-03-16", "100.00"), t("2026-03-16", "09:00"))
    r = receipt(send(core, books, clearing("2026-03-16", "50.01"), t("2026-03-16", "09:00")))
    assert reason_code(r) == "insufficient-funds"


# ---------------------------------------------------------------- reserve replenishment


def _advance(calendar: BusinessCalendar, day: str, quota_amt: str, cleared: str) -> tuple[PbocCore, Books]:
    core, books = make(calendar, t(day, "08:00"))
    send(core, books, quota(day, quota_amt), t(day, "09:00"))
    assert receipt(send(core, books, clearing(day, cleared), t(day, "15:00"))).return_reason is None
    return core, books


def test_replenishment_after_national_day_lands_on_oct_9(calendar: BusinessCalendar) -> None:
    core, books = _advance(calendar, "2025-09-30", "1000.00", "600.00")  # 400.00 advanced after cutoff
    # the holiday: 2025-10-01..08 are off
    for day in ("2025-10-01", "2025-10-08"):
        r = receipt(send(core, books, clearing("2025-09-30", "400.00", clear_type=1, vou_day=day), t(day, "09:00")))
        assert reason_code(r) == "wrong-day", r.return_reason
    # 10-09 before and after the window
    early = receipt(send(core, books, clearing("2025-09-30", "400.00", clear_type=1, vou_day="2025-10-09"),
                         t("2025-10-09", "08:00")))
    assert reason_code(early) == "outside-window"
    over = receipt(send(core, books, clearing("2025-09-30", "400.01", clear_type=1, vou_day="2025-10-09"),
                        t("2025-10-09", "09:00")))
    assert reason_code(over) == "over-quota"
    effects = send(core, books, clearing("2025-09-30", "400.00", clear_type=1, vou_day="2025-10-09"),
                   t("2025-10-09", "09:00"))
    ok = receipt(effects)
    assert ok.return_reason is None and ok.head["ClearType"] == "1" and ok.head["XClearDate"] == "20251009"
    assert_valid(ok)
    [post] = [e for e in effects if isinstance(e, PostTransfer)]
    assert post.transfer.kind == "reserve-replenishment"
    assert post.transfer.business_date == dt.date(2025, 10, 9)
    again = receipt(send(core, books, clearing("2025-09-30", "0.01", clear_type=1, vou_day="2025-10-09"),
                         t("2025-10-09", "09:10")))
    assert reason_code(again) == "over-quota"
    late = receipt(send(core, books, clearing("2025-09-30", "0.01", clear_type=1, vou_day="2025-10-09"),
                        t("2025-10-09", "12:00")))
    assert reason_code(late) == "over-quota"  # after the morning it is late, not refused; but all was replenished
    assert books.balances[clearing_account(BANK)] == 100000


@pytest.mark.parametrize(("hhmm", "code"), [("08:29", "outside-window"), ("10:30", None), ("11:59", None),
                                            ("12:00", None), ("15:00", None)])
def test_replenishment_is_accepted_all_the_next_working_morning(calendar: BusinessCalendar, hhmm: str,
                                                                code: str | None) -> None:
    # 004 part 3 §9(12): "在下一工作日上午…补平清算备用金账户": the morning runs to noon (ClockConfig);
    # after it the replenishment is late (scored, tests/test_replenishment_rule.py), still accepted
    core, books = _advance(calendar, "2026-03-10", "1000.00", "600.00")
    r = receipt(send(core, books, clearing("2026-03-10", "400.00", clear_type=1, vou_day="2026-03-11"),
                     t("2026-03-11", hhmm)))
    assert (reason_code(r) if r.return_reason else None) == code, r.return_reason


@pytest.mark.parametrize(("hhmm", "booked"), [("16:59", "2026-03-11"), ("17:00", "2026-03-12"), ("21:30", "2026-03-12")])
def test_replenishment_after_the_close_is_booked_on_the_next_business_day(calendar: BusinessCalendar, hhmm: str,
                                                                          booked: str) -> None:
    # A late replenishment may come after the central bank's close (17:00), when the day's 7401 has
    # gone: it is booked on the next business day, as a refund after the close is, so every statement
    # still ties to the books (before, it was booked on the closed day, under its statement).
    core, books = _advance(calendar, "2026-03-10", "1000.00", "600.00")
    effects = send(core, books, clearing("2026-03-10", "400.00", clear_type=1, vou_day="2026-03-11"),
                   t("2026-03-11", hhmm))
    ok = receipt(effects)
    assert ok.return_reason is None and ok.head["XClearDate"] == ymd(booked)
    [post] = [e for e in effects if isinstance(e, PostTransfer)]
    assert post.transfer.business_date == dt.date.fromisoformat(booked)
    books.apply(core.on_time(t("2026-03-12", "23:00")))
    end = {st.head["StatementDate"]: parse_fen(st.head["EndBalance"]) for st in _statements(books, "7401")}
    opening = OPENING_FEN - 600_00  # the 600.00 cleared on 03-10
    assert end["20260311"] == (opening if booked == "2026-03-12" else opening - 400_00)
    assert end["20260312"] == opening - 400_00


def test_replenishment_day_after_friday_before_spring_festival(calendar: BusinessCalendar) -> None:
    # 2026-02-13 (Friday) → 2026-02-14 (Saturday, a make-up working day)
    core, books = _advance(calendar, "2026-02-13", "500.00", "100.00")
    not_monday = receipt(send(core, books, clearing("2026-02-13", "400.00", clear_type=1, vou_day="2026-02-16"),
                              t("2026-02-16", "09:00")))
    assert reason_code(not_monday) == "wrong-day"
    r = receipt(send(core, books, clearing("2026-02-13", "400.00", clear_type=1, vou_day="2026-02-14"),
                     t("2026-02-14", "09:00")))
    assert r.return_reason is None
    # and 2026-02-14's own advances wait for 2026-02-24, after the holiday
    send(core, books, quota("2026-02-14", "300.00"), t("2026-02-14", "09:30"))
    before = receipt(send(core, books, clearing("2026-02-14", "300.00", clear_type=1, vou_day="2026-02-23"),
                          t("2026-02-23", "09:00")))
    assert reason_code(before) == "wrong-day"
    on_day = receipt(send(core, books, clearing("2026-02-14", "300.00", clear_type=1, vou_day="2026-02-24"),
                          t("2026-02-24", "09:00")))
    assert on_day.return_reason is None


def test_replenishment_does_not_use_the_days_quota(calendar: BusinessCalendar) -> None:
    core, books = _advance(calendar, "2026-03-13", "100.00", "40.00")
    send(core, books, quota("2026-03-16", "10.00"), t("2026-03-16", "08:00"))
    r = receipt(send(core, books, clearing("2026-03-13", "60.00", clear_type=1, vou_day="2026-03-16"),
                     t("2026-03-16", "09:00")))
    assert r.return_reason is None
    assert core.quotas[(ADM, BANK, "11", "1", dt.date(2026, 3, 16))].remaining_fen == 1000


# ---------------------------------------------------------------- refunds and statements


def _cleared(calendar: BusinessCalendar, day: str, amount: str, **kw: Any) -> tuple[PbocCore, Books, VoucherDoc]:
    """A core that accepted one clearing of `amount` on `day` at 09:00 (the request is returned)."""
    core, books = make(calendar, t(day, "08:00"))
    send(core, books, quota(day, amount, bank=kw.get("bank", BANK),
                            vtcode="5106" if kw.get("pay_type") == "12" else "5108"), t(day, "09:00"))
    doc = clearing(day, amount, **kw)
    assert receipt(send(core, books, doc, t(day, "09:00"))).return_reason is None
    return core, books, doc


def test_refund_restores_tsa_and_tells_the_treasury(calendar: BusinessCalendar) -> None:
    core, books, cleared = _cleared(calendar, "2026-03-16", "100.00")
    effects = send(core, books, refund("2026-03-16", "30.00", ori=cleared), t("2026-03-16", "11:00"))
    r = receipt(effects)
    assert r.head["XRefundAmt"] == "30.00" and r.head["XRefundDate"] == "20260316"
    assert_valid(r)
    [advice] = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "7403"]
    assert advice.recipient_role == "treasury" and advice.head["PayAmt"] == "30.00"
    assert advice.head["OriVoucherNo"] == r.head["VoucherNo"]
    assert_valid(advice)
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN - 7000
    assert books.balances[clearing_account(BANK)] == 7000


def test_refund_after_close_is_booked_next_business_day(calendar: BusinessCalendar) -> None:
    core, books, cleared = _cleared(calendar, "2026-03-13", "30.00")
    effects = send(core, books, refund("2026-03-13", "30.00", ori=cleared), t("2026-03-13", "17:30"))  # a Friday
    [post] = [e for e in effects if isinstance(e, PostTransfer)]
    assert post.transfer.business_date == dt.date(2026, 3, 16)
    assert receipt(effects).head["XRefundDate"] == "20260316"


def _statements(books: Books, vtcode: str) -> list[SendVoucher]:
    return [s for s in books.sent if s.vtcode == vtcode]


def test_daily_statement_ties_to_the_books(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "100.00"), t("2026-03-16", "09:00"))
    cleared = clearing("2026-03-16", "80.00")
    send(core, books, cleared, t("2026-03-16", "15:00"))
    send(core, books, refund("2026-03-16", "5.00", ori=cleared), t("2026-03-16", "11:00"))
    effects = books.apply(core.on_time(t("2026-03-16", "16:59")))
    assert not _statements(books, "7401")
    assert effects[-1] == WakeAt(t("2026-03-16", "17:00"))
    effects = books.apply(core.on_time(t("2026-03-16", "17:00")))
    [st7401] = _statements(books, "7401")
    assert_valid(st7401)
    h = st7401.head
    assert h["BeginBalance"] == fen_to_str(OPENING_FEN) and h["DebitAmt"] == "80.00" and h["CreditAmt"] == "5.00"
    assert parse_fen(h["EndBalance"]) == books.balances[TSA_ACCOUNT]
    assert [d["Direction"] for d in st7401.details] == ["D", "C"]
    assert effects[-1] == WakeAt(t("2026-03-17", "17:00"))
    # a quiet day gets a statement without movements; the next one begins where the last ended
    books.apply(core.on_time(t("2026-03-17", "18:00")))
    first, quiet = _statements(books, "7401")
    assert_valid(quiet)
    assert quiet.details == () and b"<DetailList>" not in quiet.render()
    assert quiet.head["StatementDate"] == "20260317"
    assert (quiet.head["BeginBalance"], quiet.head["DebitAmt"], quiet.head["CreditAmt"], quiet.head["EndBalance"]) \
        == (first.head["EndBalance"], "0.00", "0.00", first.head["EndBalance"])
    send(core, books, quota("2026-03-18", "1.00"), t("2026-03-18", "09:00"))
    send(core, books, clearing("2026-03-18", "1.00"), t("2026-03-18", "09:00"))
    books.apply(core.on_time(t("2026-03-18", "17:00")))
    _, _, third = _statements(books, "7401")
    assert third.head["BeginBalance"] == quiet.head["EndBalance"]
    assert parse_fen(third.head["EndBalance"]) == books.balances[TSA_ACCOUNT]


def test_a_statement_every_business_day_and_none_on_holidays(calendar: BusinessCalendar) -> None:
    # 2025-09-30 is the last business day before National Day (10-01..08 off)
    core, books = make(calendar, t("2025-09-29", "08:00"))
    books.apply(core.on_time(t("2025-10-10", "17:30")))
    days = [s.head["StatementDate"] for s in _statements(books, "7401")]
    assert days == ["20250929", "20250930", "20251009", "20251010"]
    for st7401 in _statements(books, "7401"):
        assert_valid(st7401)
        assert st7401.head["BeginBalance"] == st7401.head["EndBalance"] == fen_to_str(OPENING_FEN)
    # started after the close: the first statement is the next business day's
    core, books = make(calendar, t("2026-03-16", "17:30"))
    books.apply(core.on_time(t("2026-03-17", "17:00")))
    assert [s.head["StatementDate"] for s in _statements(books, "7401")] == ["20260317"]


def test_monthly_reconciliation_on_first_business_day(calendar: BusinessCalendar) -> None:
    core, books = _advance(calendar, "2025-09-29", "100.00", "70.00")
    send(core, books, quota("2025-09-30", "50.00", vtcode="5106"), t("2025-09-30", "09:00"))
    send(core, books, clearing("2025-09-30", "50.00", pay_type="12"), t("2025-09-30", "10:00"))
    books.apply(core.on_time(t("2025-10-08", "23:00")))
    assert not _statements(books, "3502")
    books.apply(core.on_time(t("2025-10-09", "17:00")))
    [recon] = _statements(books, "3502")
    assert_valid(recon)
    h = recon.head
    assert (h["BeginDate"], h["EndDate"], h["VouDate"]) == ("20250901", "20250930", "20251009")
    assert h["DebitAmt"] == "120.00" and parse_fen(h["EndBalance"]) == books.balances[TSA_ACCOUNT]
    assert [(d["PayTypeCode"], d["DebitAmt"]) for d in recon.details] == [("11", "70.00"), ("12", "50.00")]


def test_monthly_reconciliation_of_a_quiet_month(calendar: BusinessCalendar) -> None:
    core, books, cleared = _cleared(calendar, "2025-08-29", "10.00")  # cleared in August
    send(core, books, refund("2025-09-29", "5.00", ori=cleared), t("2025-09-29", "10:00"))  # a credit, no debit
    books.apply(core.on_time(t("2025-10-09", "17:00")))
    [recon] = [s for s in _statements(books, "3502") if s.head["BeginDate"] == "20250901"]
    assert_valid(recon)
    assert recon.details == () and b"<DetailList>" not in recon.render()
    h = recon.head
    assert (h["BeginDate"], h["EndDate"], h["DebitAmt"], h["CreditAmt"]) == ("20250901", "20250930", "0.00", "5.00")
    assert parse_fen(h["EndBalance"]) == OPENING_FEN - 1000 + 500
    # no reconciliation for a month before the core kept the books
    core, books = make(calendar, t("2025-11-03", "08:00"))  # the first business day of November
    books.apply(core.on_time(t("2025-11-03", "17:00")))
    assert not _statements(books, "3502")


def test_unexpected_voucher_raises_an_alarm(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    doc = clearing("2026-03-16", "1.00")
    effects = books.apply(core.on_voucher(doc, 1, t("2026-03-16", "09:00")))
    assert [e.code for e in effects if isinstance(e, Alarm)] == ["not-authorized"]


# ---------------------------------------------------------------- property


_DAYS = [dt.date(2025, 1, 2) + dt.timedelta(days=n) for n in range(0, 700, 7)]
_event = st.tuples(
    st.sampled_from(["quota", "clear", "urgent", "replenish", "refund"]),
    st.sampled_from([BANK, BANK2]),
    st.sampled_from(["11", "12"]),
    st.integers(0, 3),  # day offset from the run's first day
    st.integers(8 * 60, 18 * 60),  # minute of day
    st.integers(1, 50_000),  # fen
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sampled_from(_DAYS), events=st.lists(_event, max_size=40))
def test_random_traffic_keeps_the_rules(calendar: BusinessCalendar, first: dt.date,
                                        events: list[tuple[str, str, str, int, int, int]]) -> None:
    days = [first]
    for _ in range(4):
        days.append(calendar.next_business_day(days[-1]))
    timed = sorted(((days[off] if off < len(days) else days[-1],
                     dt.time(minute // 60, minute % 60)), kind, bank, pt, amount)
                   for kind, bank, pt, off, minute, amount in events)
    core, books = make(calendar, dt.datetime.combine(first, dt.time(0), tzinfo=TZ), opening=1_000_000)
    notified: dict[tuple[str, str, dt.date], int] = defaultdict(int)
    accepted: dict[tuple[str, str, dt.date], int] = defaultdict(int)
    cleared: dict[str, list[VoucherDoc]] = defaultdict(list)  # bank → its accepted 2301s
    refunded: dict[str, int] = defaultdict(int)  # 2301 VoucherNo → refunds accepted against it
    for (day, tod), kind, bank, pt, amount in timed:
        now = dt.datetime.combine(day, tod, tzinfo=TZ)
        s, amt = day.isoformat(), fen_to_str(amount)
        if kind == "quota":
            effects = send(core, books, quota(s, amt, bank=bank, vtcode="5108" if pt == "11" else "5106"), now)
            if not any(isinstance(e, Alarm) for e in effects):
                notified[(bank, pt, day)] += amount
            continue
        if kind == "refund":
            # against the bank's latest accepted clearing (or, with none, a payment never cleared)
            ori = cleared[bank][-1] if cleared[bank] else None
            before = {k: v for k, v in books.balances.items() if v}
            r = receipt(send(core, books, refund(s, amt, bank=bank, ori=ori, pay_type=pt), now))
            if r.return_reason is None:
                assert ori is not None
                refunded[ori.get("VoucherNo")] += amount
                assert refunded[ori.get("VoucherNo")] <= ori.amount_fen("PayAmt"), "refunded more than cleared"
            else:
                assert {k: v for k, v in books.balances.items() if v} == before, "a refused refund moved money"
                assert r.head["XRefundAmt"] == "0.00"
            continue
        if kind == "replenish":
            prev = calendar.previous_business_day(day)
            doc = clearing(prev.isoformat(), amt, bank=bank, pay_type=pt, clear_type=1, vou_day=s)
        else:
            doc = clearing(s, amt, bank=bank, pay_type=pt, urgent=kind == "urgent")
        r = receipt(send(core, books, doc, now))
        if r.return_reason is None:
            if kind == "replenish":
                # from the central bank's opening on; after the morning it is late (scored), not refused
                assert tod >= core.clock_config.replenishment_window_start, "accepted before the opening"
                accepted[(bank, pt, calendar.previous_business_day(day))] += amount
            else:
                cutoff = core.clock_config.urgent_cutoff if kind == "urgent" else core.clock_config.clearing_cutoff
                assert tod < cutoff, "accepted after the cutoff"
                accepted[(bank, pt, day)] += amount
            cleared[bank].append(doc)
            assert r.head["XClearAmt"] == amt
        else:
            assert r.head["XClearAmt"] == "0.00"
    for key, total in accepted.items():
        assert total <= notified[key], f"{key}: accepted {total} > quota {notified[key]}"
    assert sum(books.balances.values()) == 0
    assert books.balances[TSA_ACCOUNT] == core.tsa_balance_fen
    # every statement ties to the books' running balance
    books.apply(core.on_time(dt.datetime.combine(days[-1], dt.time(23, 0), tzinfo=TZ)))
    net: dict[dt.date, int] = defaultdict(int)
    for tr in books.transfers.values():
        if tr.business_date is not None:
            net[tr.business_date] += tr.amount_fen if tr.credit_account == TSA_ACCOUNT else -tr.amount_fen
    for st7401 in _statements(books, "7401"):
        day = dt.datetime.strptime(st7401.head["StatementDate"], "%Y%m%d").date()
        expected_end = 1_000_000 + sum(v for d, v in net.items() if d <= day)
        assert parse_fen(st7401.head["EndBalance"]) == expected_end


def test_a_replenishment_naming_no_real_day_is_refused_wrong_day(calendar: BusinessCalendar) -> None:
    """ClearDate 20260230 passes the XSD pattern (the gateway's business checks refuse it, so this is
    a core fed directly); a ClearType 1 request naming it was an AssertionError in the rules
    (issue 16: no assert in the core), now a wrong-day rejection."""
    core, books = make(calendar, t("2026-03-16", "08:00"))
    doc = clearing("2026-03-16", "10.00", clear_type=1)
    head = {**doc.head(), "ClearDate": "20260230"}
    doc = parse_voucher(build_voucher("2301", head, doc.details()))
    r = receipt(send(core, books, doc, t("2026-03-16", "09:00")))
    assert reason_code(r) == "wrong-day" and r.head["XClearAmt"] == "0.00"
    [statement] = [e for e in core.on_time(t("2026-03-16", "17:00")) if isinstance(e, SendVoucher)]
    assert statement.vtcode == "7401" and not statement.details  # nothing moved
