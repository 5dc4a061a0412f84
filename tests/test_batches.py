"""Batch vouchers (一次批量, 003 §26; bank_sim.batches): one 5201, many payees, a bounced line
refunded on its own, the rest paid, the reports net of that line only."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from bank_sim.refunds import payee_bank_notice
from messages.factory import BatchPayee, batch_voucher
from messages.money import fen_to_str, parse_fen
from messages.validate import validate_bytes
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.books import BooksError
from tests.test_bank_duties import BANK, DAY, World, t

NXT = dt.date(2026, 3, 17)


def _payees(fens: list[int]) -> list[BatchPayee]:
    return [(f"62220000{i:08d}", f"职工{i:03d}", "示例银行城东支行", "999100000027", fen)
            for i, fen in enumerate(fens, start=1)]


def _pay_batch(w: World, no: str, fens: list[int], now: dt.datetime) -> VoucherDoc:
    data = batch_voucher(voucher_no=no, vou_date=now.date(), pay_bank_code=BANK, payees=_payees(fens))
    assert validate_bytes(data, flag=0)[1] == []
    doc = parse_voucher(data)
    w.apply(w.bank.on_voucher(doc, 0, now), now)
    return doc


def _bounce(w: World, batch: VoucherDoc, line: int, now: dt.datetime, *, amount: str | None = None) -> None:
    """The payee's bank of line `line` (1-based) returns its money (2252 naming that payee)."""
    d = batch.details()[line - 1]
    no = f"ST0002{now:%Y%m%d}{line:05d}"
    head = payee_bank_notice({**batch.head(), "PayeeAcctNo": d["PayeeAcctNo"], "PayeeAcctName": d["PayeeAcctName"],
                              "PayAmt": amount or d["PayAmt"]}, no=no, today=now.date(), paid_day=DAY,
                             payee_bank=("999100000002", "示例银行乙分行"), reason="account-closed", serial=no)
    data = build_voucher("2252", head)
    assert validate_bytes(data, flag=0)[1] == []
    w.apply(w.bank.on_voucher(parse_voucher(data), 0, now), now)


def test_a_bounced_salary_line_is_refunded_on_its_own_the_rest_stay_paid() -> None:
    """Before: a 2252 for one line's amount did not match the voucher's PayAmt (refund-unmatched),
    and a refund could only return a whole voucher."""
    w = World(DutiesConfig())
    w.quota(DAY, 100_000_00)
    batch = _pay_batch(w, "GZ2026031600001", [5_000_00, 4_500_00, 3_210_55], t(DAY, "10:00"))
    [receipt] = [s for s in w.to_treasury if s.vtcode == "5201"]
    assert receipt.head["XPayAmt"] == "12710.55"  # the voucher is paid as one
    w.tick(t(DAY, "17:00"))
    _bounce(w, batch, 2, t(NXT, "10:00"))
    [refund] = w.bank.duties.s.refunds.values()
    assert (refund.voucher, refund.line, refund.amount_fen, refund.state) == (
        "GZ2026031600001", "D0002", 4_500_00, "accepted"), w.alarms
    [notice] = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert (notice.head["PayAmt"], notice.head["PayeeAcctNo"], notice.head["PayeeAcctName"]) == (
        "4500.00", "6222000000000002", "职工002")
    assert [d["PayAmt"] for d in notice.details] == ["4500.00"]  # only the bounced line
    b = w.bank._st.batches["GZ2026031600001"]
    assert {lid: ln.state for lid, ln in b.lines.items()} == {"D0001": "paid", "D0002": "refunded", "D0003": "paid"}
    assert (b.paid_fen, b.bounced_fen, b.refunded_fen) == (8_210_55, 0, 4_500_00)
    w.tick(t(dt.date(2026, 4, 1), "09:30"))
    reports = {s.head["ReportDate"]: s.head["PayAmt"] for s in w.to_treasury if s.vtcode == "2206"}
    assert (reports["20260316"], reports["20260317"]) == ("12710.55", "-4500.00")
    [statement] = [s for s in w.to_treasury if s.vtcode == "3501"]
    assert statement.head["PayAmt"] == "8210.55"  # net of the bounced line only
    assert not w.alarms


@pytest.mark.parametrize("case", ["wrong-amount", "twice"])
def test_a_notice_matching_no_paid_line_is_alarmed_and_moves_nothing(case: str) -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 100_000_00)
    batch = _pay_batch(w, "GZ2026031600002", [1_000_00, 2_000_00], t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    if case == "twice":
        _bounce(w, batch, 1, t(NXT, "10:00"))
        assert len(w.bank.duties.s.refunds) == 1 and not w.alarms
    before = dict(w.books)
    _bounce(w, batch, 1, t(NXT, "10:05"), amount="999.99" if case == "wrong-amount" else None)
    assert w.books == before and [a.code for a in w.alarms] == ["refund-unmatched"]
    assert len(w.bank.duties.s.refunds) == (1 if case == "twice" else 0)


def test_the_books_check_catches_a_batch_whose_lines_do_not_add_up() -> None:
    """The `batch-lines` rule holds the other way too: a batch off by one fen is a BooksError."""
    w = World(DutiesConfig())
    w.quota(DAY, 100_000_00)
    batch = _pay_batch(w, "GZ2026031600003", [1_000_00, 2_000_00], t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    w.bank._st.batches["GZ2026031600003"].paid_fen -= 1
    with pytest.raises(BooksError, match="batch-lines"):
        _bounce(w, batch, 1, t(NXT, "10:00"))


@settings(max_examples=15, deadline=None)
@given(fens=st.lists(st.integers(min_value=1, max_value=2_000_000_00), min_size=1, max_size=12),
       data=st.data())
def test_paid_plus_refunded_is_the_batch_total_and_the_reports_are_net_of_the_bounced_lines(
        fens: list[int], data: st.DataObject) -> None:
    bounced = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=len(fens)))))
    w = World(DutiesConfig())
    w.quota(DAY, 10**12)
    batch = _pay_batch(w, "GZ2026031600009", fens, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    for line in bounced:
        _bounce(w, batch, line, t(NXT, "10:00"))
    b = w.bank._st.batches["GZ2026031600009"]
    refunded = sum(fens[i - 1] for i in bounced)
    assert not w.alarms
    assert b.paid_fen + b.refunded_fen == sum(fens) and b.refunded_fen == refunded and b.bounced_fen == 0
    notices = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert sorted(parse_fen(n.head["PayAmt"]) for n in notices) == sorted(fens[i - 1] for i in bounced)
    w.tick(t(NXT, "17:00"))
    w.tick(t(dt.date(2026, 3, 18), "09:30"))
    reports = {s.head["ReportDate"]: s.head["PayAmt"] for s in w.to_treasury if s.vtcode == "2206"}
    assert reports["20260316"] == fen_to_str(sum(fens))
    assert reports["20260317"] == fen_to_str(-refunded)


def test_a_batch_naming_the_payee_on_some_lines_only_is_refused_naming_the_line() -> None:
    """Before: accepted, and the bank would have paid the whole voucher to the head's payee."""
    data = batch_voucher(voucher_no="GZ2026031600004", vou_date=DAY, pay_bank_code=BANK,
                         payees=_payees([1_00, 2_00, 3_00]))
    assert validate_bytes(data, flag=0)[1] == []
    broken = data.replace(b"<PayeeAcctName>\xe8\x81\x8c\xe5\xb7\xa5002</PayeeAcctName>", b"", 1)
    assert broken != data
    issues = validate_bytes(broken, flag=0)[1]
    assert [(i.code, i.path) for i in issues] == [("batch-payee-incomplete", "/Voucher/DetailList/Detail[2]")]
    assert "PayeeAcctName" in issues[0].message


def test_a_batch_survives_a_snapshot_and_its_line_is_refunded_after_the_restore() -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 100_000_00)
    batch = _pay_batch(w, "GZ2026031600005", [1_000_00, 2_000_00], t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    data = w.bank.snapshot()
    w.bank.load_snapshot(data)
    assert w.bank.snapshot() == data
    _bounce(w, batch, 2, t(NXT, "10:00"))
    b = w.bank._st.batches["GZ2026031600005"]
    assert (b.paid_fen, b.refunded_fen, b.lines["D0002"].state) == (1_000_00, 2_000_00, "refunded") and not w.alarms
