"""A real bank's refund notice duty for one line of a batch (conformance mode,
runner.scorecard_feed.observed_bank_events): a payee-bank notice (2252) naming a batch direct
payment with one line's payee account and that line's amount returns that line alone (003 §26,
§35; docs/rules.md "A batch's line comes back alone"), and the bank owes the treasury a notice of
it within 1 working day (004 part 3 §8(5)). Before, the wire's feed matched a 2252 to a payment's
whole amount only: a line's return made no duty, and a bank that never told the treasury of it
lost nothing. The property drives the simulated bank with the same notices and checks the wire's
feed finds the duties the simulator's own feed does."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from bank_sim.refunds import payee_bank_notice
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from messages.factory import batch_voucher
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.observed import Observed, PaymentSeen, RefundSeen
from runner.scorecard_feed import NoticeSeen, bank_events, observed_bank_events
from sim.effects import Effect, SendVoucher
from tests.test_bank_duties import BANK, DAY, World, t

CAL = BusinessCalendar.default()
CC = ClockConfig()
NXT = CAL.next_business_day(DAY)
LATER = CAL.next_business_day(CAL.next_business_day(NXT))
BATCH = "GZOBS0001"
# (PayeeAcctNo, fen) of the lines: two share a payee and an amount, one shares the payee only
LINES = [("6222000000000001", 300_00), ("6222000000000002", 450_00), ("6222000000000001", 300_00),
         ("6222000000000001", 125_50)]
LINES_OF = {BATCH: tuple((f"D{i:04d}", acct, fen) for i, (acct, fen) in enumerate(LINES, start=1))}
WHOLE = sum(fen for _, fen in LINES)


def _paid(no: str = BATCH, fen: int = WHOLE) -> PaymentSeen:
    return PaymentSeen("bank-a", BANK, no, "5201", fen, "clearing", t(DAY, "10:00"), DAY, "HK1")


def _back(acct: str, fen: int, when: dt.datetime, no: str = BATCH, seq: int = 1) -> NoticeSeen:
    return NoticeSeen("2252", f"ST{seq:04d}", "5201", no, fen, when, True, acct)


def _told(acct: str, fen: int, when: dt.datetime, no: str = BATCH, seq: int = 1) -> NoticeSeen:
    return NoticeSeen("2203", f"TP{seq:04d}", "5201", no, fen, when, False, acct)


def _duties(notices: list[NoticeSeen], refunds: tuple[RefundSeen, ...] = (),
            batches: dict[str, tuple[tuple[str, str, int], ...]] | None = None) -> list[tuple[str, dt.datetime | None,
                                                                                              bool]]:
    o = Observed("s", 1, t(DAY, "08:00"), t(dt.date(2026, 3, 31), "17:00"), payments=(_paid(),), refunds=refunds)
    return sorted((e.ref, e.done, e.faulty) for e in observed_bank_events(
        "bank-a", o, notices, CAL, CC, batches=LINES_OF if batches is None else batches) if e.kind == "refund-notice")


def test_a_line_returned_is_a_refund_notice_duty_done_by_the_notice_of_that_line() -> None:
    """Before: no duty at all (the 2252's 450.00 is not the batch's 1,175.50)."""
    back = _back("6222000000000002", 450_00, t(NXT, "10:00"))
    assert _duties([back]) == [(f"{BATCH}#D0002", None, False)]  # never told: not done
    told = _told("6222000000000002", 450_00, t(NXT, "15:00"))
    assert _duties([back, told]) == [(f"{BATCH}#D0002", told.at, False)]


def test_a_notice_of_the_whole_batch_or_another_line_does_not_end_a_lines_duty() -> None:
    back = _back("6222000000000002", 450_00, t(NXT, "10:00"))
    wrong = [_told("6222000000000002", WHOLE, t(NXT, "15:00")),  # the whole batch's amount
             _told("6222000000000001", 450_00, t(NXT, "15:00"), seq=2)]  # another payee
    assert _duties([back, *wrong]) == [(f"{BATCH}#D0002", None, False)]
    # a bank whose notice carries no payee account (the element is optional there) is not marked down
    told = _told("", 450_00, t(NXT, "15:01"), seq=3)
    assert _duties([back, *wrong, told]) == [(f"{BATCH}#D0002", told.at, False)]


def test_each_line_comes_back_once_and_two_alike_lines_are_two_duties() -> None:
    a, b = _back("6222000000000001", 300_00, t(NXT, "10:00")), _back("6222000000000001", 300_00, t(NXT, "10:05"), seq=2)
    c = _back("6222000000000001", 300_00, t(NXT, "10:10"), seq=3)  # a third: no line of it left
    assert [r for r, *_ in _duties([a, b, c])] == [f"{BATCH}#D0001", f"{BATCH}#D0003"]
    # one notice to the treasury ends one line's duty, not both
    told = _told("6222000000000001", 300_00, t(NXT, "15:00"))
    assert [d for _, d, _ in _duties([a, b, told])] == [told.at, None]


def test_notices_matching_no_line_make_no_duty() -> None:
    """The whole batch's amount, a line's amount from a stranger's account, a fen more: nothing to
    refund, so nothing owed (the simulated bank alarms refund-unmatched)."""
    stray = [_back("6222000000000002", WHOLE, t(NXT, "10:00")), _back("6299999999999999", 450_00, t(NXT, "10:00")),
             _back("6222000000000002", 450_01, t(NXT, "10:00")),
             NoticeSeen("2252", "ST9", "8202", BATCH, 450_00, t(NXT, "10:00"), True, "6222000000000002")]
    assert _duties(stray) == []


def test_a_payment_not_a_batch_is_still_returned_whole() -> None:
    back = _back("6222000000000002", WHOLE, t(NXT, "10:00"))
    told = _told("6222000000000002", WHOLE, t(NXT, "15:00"))
    assert _duties([back, told], batches={}) == [(BATCH, told.at, False)]
    assert _duties([_back("6222000000000002", 450_00, t(NXT, "10:00"))], batches={}) == []


def test_a_refused_refund_of_the_line_is_faulty() -> None:
    back = _back("6222000000000002", 450_00, t(NXT, "10:00"))
    refused = RefundSeen("bank-a", BATCH, "TK1", 450_00, t(NXT, "10:05"), "rejected", "refund-unmatched")
    other = RefundSeen("bank-a", BATCH, "TK2", 300_00, t(NXT, "10:05"), "rejected", "refund-unmatched")
    assert _duties([back], (other,)) == [(f"{BATCH}#D0002", None, False)]
    assert _duties([back], (refused,)) == [(f"{BATCH}#D0002", None, True)]


# --- property: the wire's feed finds the line duties the simulator's own feed does ---

class _Timed(World):
    """The World, keeping when the bank sent each notice to the treasury."""

    def __init__(self) -> None:
        self.told_at: list[tuple[SendVoucher, dt.datetime]] = []
        super().__init__(DutiesConfig())

    def apply(self, effects: list[Effect], now: dt.datetime) -> None:
        self.told_at += [(e, now) for e in effects if isinstance(e, SendVoucher) and e.recipient_role == "treasury"
                         and e.vtcode in ("2203", "7105")]
        super().apply(effects, now)


def _pay(w: World) -> VoucherDoc:
    payees = [(acct, f"职工{i:03d}", "示例银行城东支行", "999100000027", fen) for i, (acct, fen) in enumerate(LINES, 1)]
    doc = parse_voucher(batch_voucher(voucher_no=BATCH, vou_date=DAY, pay_bank_code=BANK, payees=payees))
    w.apply(w.bank.on_voucher(doc, 0, t(DAY, "10:00")), t(DAY, "10:00"))
    return doc


ACCTS = ["6222000000000001", "6222000000000002", "6299999999999999"]
FENS = [300_00, 450_00, 125_50, 300_01, WHOLE]


@settings(max_examples=40, deadline=None)
@given(notices=st.lists(st.tuples(st.sampled_from(ACCTS), st.sampled_from(FENS)), min_size=1, max_size=6),
       drop=st.integers(0, 5))
def test_the_wire_and_the_simulator_find_the_same_line_returns(notices: list[tuple[str, int]], drop: int) -> None:
    w = _Timed()
    w.quota(DAY, 100_000_00)
    doc = _pay(w)
    w.tick(t(DAY, "17:00"))
    seen: list[NoticeSeen] = []
    for seq, (acct, fen) in enumerate(notices, start=1):
        now = t(NXT, "09:00") + dt.timedelta(minutes=seq)
        head = payee_bank_notice({**doc.head(), "PayeeAcctNo": acct, "PayAmt": fen_to_str(fen)}, no=f"ST{seq:04d}",
                                 today=NXT, paid_day=DAY, payee_bank=("999100000002", "示例银行乙分行"),
                                 reason="account-closed", serial=f"ST{seq:04d}")
        w.apply(w.bank.on_voucher(parse_voucher(build_voucher("2252", head)), 0, now), now)
        seen.append(NoticeSeen("2252", f"ST{seq:04d}", "5201", BATCH, fen, now, True, acct))
    w.tick(t(LATER, "17:00"))
    # the oracle, from the rule: a notice returns the first line (in detail order) not yet back that
    # was paid to its account for exactly its amount; nothing else is returned
    back: list[str] = []
    for acct, fen in notices:
        line = next((f"D{i:04d}" for i, (a, f) in enumerate(LINES, 1) if (a, f) == (acct, fen)
                     and f"D{i:04d}" not in back), None)
        if line is not None:
            back.append(line)
    sim = sorted(r.line for r in w.bank.duties.s.refunds.values())
    assert sim == sorted(back)
    sim_duties = [e for e in bank_events("bank-a", w.bank, CAL, CC) if e.kind == "refund-notice"]
    assert len(sim_duties) == len(back) and all(e.done is not None for e in sim_duties)
    # the wire: what the simulated bank told the treasury, as the runner records it
    told = [NoticeSeen(e.vtcode, e.head["VoucherNo"], e.head["OriVtCode"], e.head["OriVoucherNo"],
                       parse_fen(e.head["PayAmt"]), when, False, e.head["PayeeAcctNo"]) for e, when in w.told_at]
    o = Observed("s", 1, t(DAY, "08:00"), t(LATER, "17:00"), payments=(_paid(),))
    wire = [e for e in observed_bank_events("bank-a", o, seen + told, CAL, CC, batches=LINES_OF)
            if e.kind == "refund-notice"]
    assert sorted(e.ref for e in wire) == sorted(f"{BATCH}#{line}" for line in back)
    assert all(e.done is not None for e in wire)  # the bank that told the treasury of each is not marked down
    if told:  # one notice to the treasury fewer: exactly one line's duty is not done
        fewer = told[:drop % len(told)] + told[drop % len(told) + 1:]
        wire = [e for e in observed_bank_events("bank-a", o, seen + fewer, CAL, CC, batches=LINES_OF)
                if e.kind == "refund-notice"]
        assert sum(e.done is None for e in wire) == 1
