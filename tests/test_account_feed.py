"""The account transaction feed (资金流水, 000 五(二)3, (四)2): the bank states the day's movements on
the registered unit real-fund and fiscal special accounts (`bank_sim.account_feed`); the treasury
matches each line against its own payments (`treasury_sim.account_feed`, `sim.account_feed.match`)
and records coded breaks naming the feed, the account, the voucher and the fen."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.account_feed import day_lines
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.factory import UNITS, account_notice, payment_voucher
from messages.money import parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.account_feed import BREAK_CODES, FeedLine, match
from treasury_sim.account_feed import FeedBook, Paid, expected_lines, feed_lines

BANK = "999100000001"
DAY = dt.date(2026, 3, 10)  # a Tuesday
UNIT = UNITS[0]
REAL = "9999000000007001"  # the hospital's real-fund account (AcctType 3): another system, so 101001 may pay it
SPECIAL = "9999000000008001"  # a fiscal special account (AcctType 4)
OTHER = "6222000000000001"  # a payee's account the registry does not hold
_seq = itertools.count(1)


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def bank_with_accounts() -> BankCore:
    c = BankCore(BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    c.on_time(at("08:00"))
    for acct, kind, extra in ((REAL, "3", {"agency": UNITS[2][2], "sup_dep": UNITS[2][0]}), (SPECIAL, "4", {"approve_no": "财库〔2026〕1号"}),
                              ("9999000000009001", "1", {})):
        doc = parse_voucher(account_notice(voucher_no=f"ZH{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                           action="1", acct_type=kind, acct_no=acct, acct_name="示例账户", **extra))
        c.on_voucher(doc, 0, at("08:30"))
    return c


def direct(payee: str, fen: int) -> VoucherDoc:
    doc = parse_voucher(payment_voucher(voucher_no=f"ZJ{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                        amount_fen=fen, vtcode="5201", unit=UNIT))
    return parse_voucher(build_voucher("5201", {**doc.head(), "PayAcctNo": "9999000000009001", "PayeeAcctNo": payee},
                                       doc.details()))


def test_the_bank_states_its_payments_to_registered_real_fund_and_special_accounts_only() -> None:
    bank = bank_with_accounts()
    a, b, c = direct(REAL, 100_00), direct(SPECIAL, 250_50), direct(OTHER, 99_99)
    for n, doc in enumerate((a, b, c)):
        bank.on_voucher(doc, 0, at(f"10:0{n}"))
    assert day_lines(bank.state, DAY) == [FeedLine(REAL, "5201", a.get("VoucherNo"), 100_00),
                                          FeedLine(SPECIAL, "5201", b.get("VoucherNo"), 250_50)]
    assert day_lines(bank.state, DAY + dt.timedelta(days=1)) == []


def test_the_bank_feed_matches_the_treasury_s_own_payments() -> None:
    bank = bank_with_accounts()
    a = direct(REAL, 100_00)
    bank.on_voucher(a, 0, at("10:00"))
    book = FeedBook()
    paid = [Paid(BANK, "20260310", "5201", a.get("VoucherNo"), REAL, 100_00),
            Paid(BANK, "20260310", "5201", "ZJX", OTHER, 5_00), Paid(BANK, "20260311", "5201", "ZJY", REAL, 7_00)]
    expected = expected_lines(BANK, "20260310", {REAL, SPECIAL}, paid)
    assert book.check(BANK, "20260310", "990100", "LS0001", expected, day_lines(bank.state, DAY)) == []
    assert book.outcome(BANK, "20260310", "990100") == []
    assert book.outcome(BANK, "20260311", "990100") is None


def test_a_feed_line_off_by_a_fen_is_one_break_naming_the_feed_the_voucher_and_the_fen() -> None:
    book = FeedBook()
    (brk,) = book.check(BANK, "20260310", "990100", "LS0001", [FeedLine(REAL, "5201", "ZJ1", 100_00)],
                        [FeedLine(REAL, "5201", "ZJ1", 100_01)])
    assert (brk.code, brk.feed_no, brk.ori_voucher_no, brk.expected_fen, brk.stated_fen) == \
        ("feed-amount-differs", "LS0001", "ZJ1", 100_00, 100_01)
    assert "off by 0.01" in brk.message() and "LS0001" in brk.message() and "ZJ1" in brk.message()


def test_missing_and_unknown_movements_and_a_line_stated_twice() -> None:
    want = [FeedLine(REAL, "5201", "ZJ1", 5_00), FeedLine(SPECIAL, "8202", "SQ2", 7_00)]
    got = [FeedLine(REAL, "5201", "ZJ1", 5_00), FeedLine(REAL, "5201", "ZJ1", 5_00), FeedLine(REAL, "5201", "ZJ9", 1)]
    assert [(b.code, b.ori_voucher_no) for b in match("LS1", want, got)] == [
        ("feed-unknown-movement", "ZJ1"), ("feed-unknown-movement", "ZJ9"), ("feed-missing-movement", "SQ2")]
    assert {b.code for b in match("LS1", want, got)} <= set(BREAK_CODES)


_lines = st.lists(st.builds(FeedLine, st.sampled_from([REAL, SPECIAL]), st.sampled_from(["5201", "8202"]),
                            st.text("0123456789", min_size=1, max_size=6), st.integers(-10**12, 10**12)),
                  max_size=20, unique_by=lambda line: line.key)


@given(_lines)
def test_a_feed_built_from_the_same_payments_always_matches(lines: list[FeedLine]) -> None:
    assert match("LS1", lines, list(reversed(lines))) == []


@given(_lines.filter(bool), st.data(), st.sampled_from([1, -1]))
def test_one_fen_changed_is_always_exactly_one_break(lines: list[FeedLine], data: st.DataObject, sign: int) -> None:
    i = data.draw(st.integers(0, len(lines) - 1))
    changed = [*lines[:i], lines[i]._replace(fen=lines[i].fen + sign), *lines[i + 1:]]
    (brk,) = match("LS1", lines, changed)
    assert (brk.code, brk.ori_voucher_no, brk.expected_fen, brk.stated_fen) == \
        ("feed-amount-differs", lines[i].ori_voucher_no, lines[i].fen, lines[i].fen + sign)


def test_the_bank_sends_the_day_s_feed_at_its_close_and_it_validates() -> None:
    from messages.business import business_issues
    from messages.catalog import get_catalog
    from messages.schema import validate_tree
    from sim.effects import SendVoucher

    bank = bank_with_accounts()
    a = direct(REAL, 100_00)
    bank.on_voucher(a, 0, at("10:00"))
    effects = bank.on_time(at("17:30"))
    (f,) = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "7602"]
    assert (f.head["VoucherNo"], f.head["TransDate"], f.head["CreditAmt"], f.recipient_role) == \
        ("LS000120260310", "20260310", "100.00", "treasury")
    assert [(d["AcctNo"], d["AcctType"], d["OriVoucherNo"], d["CreditAmt"]) for d in f.details] == \
        [(REAL, "3", a.get("VoucherNo"), "100.00")]
    doc = parse_voucher(build_voucher("7602", f.head, f.details))
    vt = get_catalog().get("7602")
    assert validate_tree(doc.root, vt.xsd) == [] and business_issues(doc, vt, 0) == []
    assert feed_lines(doc) == day_lines(bank.state, DAY)  # the treasury reads back what the bank stated


def test_a_bank_without_feed_accounts_sends_no_feed() -> None:
    from sim.effects import SendVoucher

    c = BankCore(BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    c.on_time(at("08:00"))
    assert not [e for e in c.on_time(at("17:30")) if isinstance(e, SendVoucher) and e.vtcode == "7602"]


def test_the_account_feed_expectation_holds_or_fails_on_what_the_treasury_matched() -> None:
    """Both directions: a true expectation holds, a false one fails and shows the break."""
    import dataclasses

    from runner.expectations import evaluate
    from runner.scenario_file import load_text
    from sim.account_feed import FeedBreak
    from tests.scenario_fixtures import WORLD_AND_STEPS, observed

    def results(expect: str, feeds: Mapping[str, tuple[str, int, tuple[FeedBreak, ...]]]) -> list[tuple[bool, str]]:
        s = load_text("scenario: feed-fixture\n" + WORLD_AND_STEPS + "expect:\n" + expect, "feed.yaml")
        o = dataclasses.replace(observed(), account_feeds=feeds)
        return [(x.ok, x.actual) for x in evaluate(s.expectations, o)]

    brk = FeedBreak("feed-amount-differs", "LS000220260310", REAL, "5201", "ZZ003", 20_00, 20_01)
    off = {"bank-b/20260310/990100": ("LS000220260310", 1, (brk,))}
    clean = {"bank-b/20260310/990100": ("LS000220260310", 1, ())}
    matched = "  - account_feed: {bank: bank-b, day: 2026-03-10, matched: true}\n"
    named = ("  - account_feed: {bank: bank-b, day: 2026-03-10, breaks: 1, code: feed-amount-differs, voucher: v3, "
             "off_by: \"0.01\"}\n")
    assert [ok for ok, _ in results(matched, clean)] == [True]
    ((ok, actual),) = results(matched, off)
    assert not ok and "off by 0.01" in actual and "ZZ003" in actual
    assert [ok for ok, _ in results(named, off)] == [True]
    assert [ok for ok, _ in results(named, clean)] == [False]
    assert [ok for ok, _ in results(named.replace('"0.01"', '"0.02"'), off)] == [False]
    assert results(matched, {}) == [(False, "no feed of that day was checked")]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([REAL, SPECIAL, OTHER]), st.integers(1, 10**8)), min_size=1, max_size=6),
       st.data())
def test_the_bank_s_feed_of_the_treasury_s_own_payments_matches_and_one_fen_off_is_one_break(
        pays: list[tuple[str, int]], data: st.DataObject) -> None:
    bank = bank_with_accounts()
    paid = []
    for n, (acct, fen) in enumerate(pays):
        doc = direct(acct, fen)
        bank.on_voucher(doc, 0, at(f"10:{n:02d}"))
        paid.append(Paid(BANK, "20260310", "5201", doc.get("VoucherNo"), acct, fen))
    expected = expected_lines(BANK, "20260310", {REAL, SPECIAL}, paid)
    stated = day_lines(bank.state, DAY)
    assert match("LS1", expected, stated) == []
    if stated:
        i = data.draw(st.integers(0, len(stated) - 1))
        stated[i] = stated[i]._replace(fen=stated[i].fen + 1)
        (brk,) = match("LS1", expected, stated)
        assert (brk.code, brk.ori_voucher_no) == ("feed-amount-differs", stated[i].ori_voucher_no)


def _sent(effects: list[object], vtcode: str, flag: int) -> list[VoucherDoc]:
    from sim.effects import SendVoucher

    return [parse_voucher(build_voucher(e.vtcode, e.head, e.details)) for e in effects
            if isinstance(e, SendVoucher) and e.vtcode == vtcode and e.flag == flag]


def test_the_treasury_s_feed_book_keeps_its_payments_to_feed_accounts_and_matches_the_bank_s_feed() -> None:
    """What the treasury core does with its receipts and a bank's 7602 (`FeedBook.on_receipt` /
    `on_feed`): a feed of its own payments matches; a fen off is a break; a movement on an account
    it did not know as a feed account when the payment's receipt came is one it does not know."""
    bank = bank_with_accounts()
    receipts = []
    for n, doc in enumerate((direct(SPECIAL, 250_50), direct(REAL, 100_00), direct(OTHER, 99_99))):
        receipts += _sent(bank.on_voucher(doc, 0, at(f"10:0{n}")), "5201", 1)
    (feed,) = _sent(bank.on_time(at("17:30")), "7602", 0)

    def book(known: set[str]) -> FeedBook:
        b = FeedBook()
        for r in receipts:
            b.on_receipt(r, parse_fen(r.get("PayAmt")), known)
        return b

    both = book({SPECIAL, REAL})
    assert both.paid_count == 2
    assert sorted(p.payee_acct for p in both.day_paid(BANK, "20260310", "990100")) == sorted([SPECIAL, REAL])  # OTHER is no feed account
    assert both.on_feed(feed, {SPECIAL, REAL}) == [] and both.outcome(BANK, "20260310", "990100") == []
    off = parse_voucher(build_voucher("7602", feed.head(), [
        {**d, "CreditAmt": "250.51"} if d["AcctNo"] == SPECIAL else d for d in feed.details()]))
    (b,) = book({SPECIAL, REAL}).on_feed(off, {SPECIAL, REAL})
    assert (b.code, b.acct_no, b.expected_fen, b.stated_fen) == ("feed-amount-differs", SPECIAL, 250_50, 250_51)
    (u,) = book({SPECIAL}).on_feed(feed, {SPECIAL})
    assert (u.code, u.acct_no, u.stated_fen) == ("feed-unknown-movement", REAL, 100_00)


def test_a_two_division_bank_sends_each_division_the_feed_of_its_own_payments() -> None:
    """Before: one feed under the configured division (990100) stated a 990200 payment too, and
    990200's treasury got none. Each treasury watches the accounts its own payments reach (000
    五(二)3): one feed per division with lines; the configured division's every business day."""
    from bank_sim.account_feed import feed

    bank = bank_with_accounts()
    home = direct(REAL, 100_00)
    other = parse_voucher(build_voucher("5201", {**direct(SPECIAL, 250_50).head(), "AdmDivCode": "990200"},
                                        direct(SPECIAL, 250_50).details()))
    for n, doc in enumerate((home, other)):
        bank.on_voucher(doc, 0, at(f"10:0{n}"))
    ctx = bank._ctx
    sent = {e.head["AdmDivCode"]: feed_lines(parse_voucher(e.render())) for e in feed(ctx, bank.state, DAY)}
    assert sent == {"990100": [FeedLine(REAL, "5201", home.get("VoucherNo"), 100_00)],
                    "990200": [FeedLine(SPECIAL, "5201", other.get("VoucherNo"), 250_50)]}
    # a day with nothing: the configured division's empty feed only
    [quiet] = feed(ctx, bank.state, DAY + dt.timedelta(days=1))
    assert quiet.head["AdmDivCode"] == "990100" and not quiet.details
