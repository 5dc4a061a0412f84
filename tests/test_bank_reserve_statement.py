"""Issue 16 rule 8, the clearing reserve account statement (清算备用金账户对账单, 004 part 3
§10(3)): the bank's monthly 7203 to the treasury, opening balance + money in - money out =
closing balance = the ledger's reserve at the month's end, each advance naming its payment; the
treasury checks it against the reserve transfer detail lists (7202) it received and signs it
off. Before, the bank sent no such statement."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import reserve_statement as rs
from bank_sim.core import BankCore, account_ids
from bank_sim.duties import DutiesConfig
from business_time.clock import ClockConfig
from messages.money import parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import Alarm, SendVoucher
from tests.test_bank_duties import BANK, CAL, World, doc_of, t
from treasury_sim.bank_reports import BankInbox

LATE_DAYS = (dt.date(2026, 3, 27), dt.date(2026, 3, 30), dt.date(2026, 3, 31))  # Fri, Mon, Tue
APRIL_1 = dt.date(2026, 4, 1)


def _fen(doc: VoucherDoc, name: str) -> int:
    return parse_fen(doc.get(name), allow_negative=True)


def _month(paid: list[tuple[int, int]]) -> tuple[World, int, list[VoucherDoc]]:
    """bank-a pays (day index, fen) after the 16:00 cutoff (advances from the reserve), from 27 to
    31 March; returns the world on 1 April after the reports, the ledger's reserve at the close
    of 31 March, and what went to the treasury."""
    w = World(DutiesConfig())
    w.tick(t(dt.date(2026, 3, 26), "08:00"))
    for n, day in enumerate(LATE_DAYS):
        w.quota(day, 10**9)
        w.tick(t(day, "16:20"))
        for i, (d, fen) in enumerate(paid):
            if d == n:
                w.pay(f"ZZLATE{day:%m%d}{i:03d}", fen, t(day, "16:30"))
    w.tick(t(LATE_DAYS[-1], "23:59"))
    reserve = w.books[account_ids(BANK)["reserve"]]
    w.tick(t(APRIL_1, "10:00"))
    return w, reserve, [doc_of(s) for s in w.to_treasury]


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5_000_000_00)), min_size=0, max_size=5))
def test_opening_plus_in_minus_out_is_the_closing_balance_and_the_ledgers(paid: list[tuple[int, int]]) -> None:
    _, reserve, docs = _month(paid)
    [st7203] = [d for d in docs if d.vtcode == "7203"]
    begin, credit, debit, end = (_fen(st7203, f) for f in ("BeginBalance", "CreditAmt", "DebitAmt", "EndBalance"))
    assert begin + credit - debit == end == reserve
    assert (st7203.get("BeginDate"), st7203.get("EndDate")) == ("20260301", "20260331")
    advances = sorted((d.get("OriVoucherNo"), parse_fen(d.get("DebitAmt"))) for d in st7203.details()
                      if d.get("MoveType") == "2")
    assert advances == sorted((f"ZZLATE{LATE_DAYS[n]:%m%d}{i:03d}", fen) for i, (n, fen) in enumerate(paid))
    # the treasury, having the month's 7202 lists, agrees
    inbox = BankInbox()
    for d in docs:
        if d.vtcode in ("7202", "7203"):
            out = inbox.on_voucher(d, t(APRIL_1, "10:00"), lambda *_: 0, lambda _: ("", ""))
    [receipt] = out
    assert isinstance(receipt, SendVoucher) and receipt.head["XCheckResult"] == "0", receipt


def test_the_bank_takes_the_sign_off_and_alarms_a_disagreement() -> None:
    w, _, docs = _month([(2, 100_00)])
    [st7203] = [d for d in docs if d.vtcode == "7203"]
    no = st7203.get("VoucherNo")
    agree = build_voucher("7203", {**st7203.head(), "XCheckResult": "0", "XCheckDate": "20260401"},
                          st7203.details())
    assert not [e for e in w.bank.on_voucher(parse_voucher(agree), 1, t(APRIL_1, "11:00")) if isinstance(e, Alarm)]
    assert w.bank.duties.s.reserve_sign_offs["202603"][0] == "0"
    w2, _, docs2 = _month([(2, 100_00)])
    [st2] = [d for d in docs2 if d.vtcode == "7203"]
    disagree = build_voucher("7203", {**st2.head(), "XCheckResult": "1", "XCheckDate": "20260401",
                                      "XCheckRemark": "advances 100.00 in 1 payments, the reserve lists (7202) 0.00 in 0"},
                             st2.details())
    alarms = [e for e in w2.bank.on_voucher(parse_voucher(disagree), 1, t(APRIL_1, "11:00"))
              if isinstance(e, Alarm)]
    assert [a.code for a in alarms] == ["amount-mismatch"] and no == st2.get("VoucherNo")


def test_the_treasury_reports_a_break_when_an_advance_was_not_listed_or_the_balance_does_not_add_up() -> None:
    moves = [rs.Movement("20260331", "2", "5201", "ZZ1", -100_00)]
    head, details = rs.reserve_statement("BZ1", "202603", APRIL_1, "990100", (BANK, "示例银行"), 1_000_00, moves)
    doc = parse_voucher(build_voucher("7203", head, details))
    [receipt] = BankInbox().on_voucher(doc, t(APRIL_1, "10:00"), lambda *_: 0, lambda _: ("", ""))
    assert isinstance(receipt, SendVoucher)
    assert receipt.head["XCheckResult"] == "1" and "7202" in receipt.head["XCheckRemark"]
    bad = parse_voucher(build_voucher("7203", {**head, "EndBalance": "1.00"}, details))
    [receipt] = BankInbox().on_voucher(bad, t(APRIL_1, "10:00"), lambda *_: 0, lambda _: ("", ""))
    assert isinstance(receipt, SendVoucher)
    assert receipt.head["XCheckResult"] == "1" and "EndBalance" in receipt.head["XCheckRemark"]


def test_a_quiet_month_carries_the_balance_and_a_snapshot_keeps_the_movements() -> None:
    w, reserve, _ = _month([(1, 7_00)])
    w.tick(t(dt.date(2026, 6, 1), "10:00"))  # April (a replenishment) and May (nothing) stated
    docs = [doc_of(s) for s in w.to_treasury if s.vtcode == "7203"]
    assert [d.get("BeginDate") for d in docs] == ["20260301", "20260401", "20260501"]
    assert _fen(docs[1], "BeginBalance") == _fen(docs[0], "EndBalance") == reserve
    assert _fen(docs[2], "BeginBalance") == _fen(docs[2], "EndBalance") == w.books[account_ids(BANK)["reserve"]]
    assert not docs[2].details()
    snap = w.bank.snapshot()
    again = BankCore.restore(snap, BANK, w.bank.config, CAL, ClockConfig())
    assert again.snapshot() == snap and again.state.duties.reserve_moves == w.bank.state.duties.reserve_moves
