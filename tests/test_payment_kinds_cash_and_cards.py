"""Cash withdrawals (现金支取, 003 §15, §31; 004 part 3 §9(7)) and official-card repayments (公务卡还款,
003 §30; 004 part 1 二(二)3): the rules (hypothesis), the bank core, the gateway's check, the
treasury's match, the example bank agreeing with the simulated one (docs/payment-kinds.md)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import cash
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.business import business_issues
from messages.catalog import get_catalog
from messages.factory import UNITS, authorized_quota_notice, payment_voucher
from messages.money import fen_to_str
from messages.schema import validate_tree
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import Alarm, SendVoucher
from tests.test_sdk_bank import sdk as sdk_bank  # the example bank, loaded once
from treasury_sim.official_cards import CardBook, Issued, match, settlement_list

BANK = "999100000001"
DAY = dt.date(2026, 3, 10)  # a Tuesday
UNIT = UNITS[0]
SUBJECT = ("2050203", "初中教育")
_seq = itertools.count(1)


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def bank_with_quota(fen: int = 1_000_000_00) -> BankCore:
    c = BankCore(BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    c.on_time(at("08:00"))
    notice = authorized_quota_notice(voucher_no=f"ED{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                     lines=[(UNIT[2], UNIT[3], *SUBJECT, "P0000", "示例项目", fen)])
    c.on_voucher(parse_voucher(notice), 0, at("08:30"))
    return c


def authorized(fen: int, **head: str) -> VoucherDoc:
    doc = parse_voucher(payment_voucher(voucher_no=f"SQ{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                        amount_fen=fen, vtcode="8202", unit=UNIT, subject=SUBJECT, details=1))
    return parse_voucher(build_voucher("8202", {**doc.head(), **head}, doc.details()))


def withdrawal(fen: int, purpose: str = "06") -> VoucherDoc:
    return authorized(fen, CashFlag="1", CashPurposeCode=purpose, PaySummaryName="提取现金")


def repayment(cards: list[tuple[str, str, int]], no: str | None = None) -> VoucherDoc:
    doc = authorized(sum(c[2] for c in cards), CardRepayFlag="1")
    (line,) = doc.details()
    details = [{**line, "Id": f"D{i:04d}", "CardNo": card, "CardHolderName": holder, "PayAmt": fen_to_str(fen)}
               for i, (card, holder, fen) in enumerate(cards, start=1)]
    return parse_voucher(build_voucher("8202", {**doc.head(), **({"VoucherNo": no} if no else {})}, details))


def receipt_of(effects: list, doc: VoucherDoc) -> SendVoucher:
    (r,) = [e for e in effects if isinstance(e, SendVoucher) and e.flag == 1
            and e.head["VoucherNo"] == doc.get("VoucherNo")]
    return r


# --- cash: the rule -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(purpose=st.sampled_from([*cash.CASH_PURPOSES, "", "00", "09", "99", "1"]),
       drawn=st.integers(0, 60_000_00), fen=st.integers(1, 60_000_00))
def test_the_cash_rule_pays_exactly_a_lawful_purpose_within_the_day_s_limit(purpose: str, drawn: int,
                                                                            fen: int) -> None:
    found = cash.check({"CashPurposeCode": purpose, "PayAmt": fen_to_str(fen), "AgencyCode": "101001"}, drawn)
    if purpose not in cash.CASH_PURPOSES:
        assert found is not None and found[0] == "cash-purpose-not-allowed" and "CashPurposeCode" in found[1]
    elif drawn + fen > cash.CASH_DAY_LIMIT_FEN:
        assert found is not None and found[0] == "cash-over-limit" and f"PayAmt {fen_to_str(fen)}" in found[1]
    else:
        assert found is None


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["101001", "101002"]), st.integers(1, 10_000_00)),
                max_size=30))
def test_the_cash_book_keeps_the_day_s_sums_and_forgets_earlier_days(draws: list[tuple[int, str, int]]) -> None:
    book: dict[str, int] = {}
    days = sorted(draws, key=lambda x: x[0])
    for offset, unit, fen in days:
        cash.record(book, DAY + dt.timedelta(days=offset), unit, fen)
    if days:
        last = days[-1][0]
        want = {u: sum(f for o, x, f in days if o == last and x == u) for o, u, _ in days if o == last}
        assert {k.split("/")[1]: v for k, v in book.items()} == want
        assert all(k.startswith(f"{DAY + dt.timedelta(days=last):%Y%m%d}/") for k in book)


# --- cash: at the bank --------------------------------------------------------------------------


def test_a_withdrawal_within_the_rules_is_paid_at_once_and_one_past_the_day_s_limit_returned() -> None:
    bank = bank_with_quota()
    first = withdrawal(30_000_00, "01")
    r = receipt_of(bank.on_voucher(first, 0, at("10:00")), first)
    assert r.return_reason is None and r.head["XPayAmt"] == "30000.00" and r.head["XPayDate"] == "20260310"
    over = withdrawal(25_000_00, "01")
    effects = bank.on_voucher(over, 0, at("11:00"))
    r = receipt_of(effects, over)
    assert r.return_reason is not None and r.return_reason.startswith("cash-over-limit: PayAmt 25000.00")
    assert r.head["XPayAmt"] == "0.00" and any(isinstance(e, Alarm) and e.code == "cash-over-limit" for e in effects)
    fits = withdrawal(20_000_00, "01")  # 50,000.00 in all: at the limit, not past it
    assert receipt_of(bank.on_voucher(fits, 0, at("11:30")), fits).return_reason is None
    bad = withdrawal(100_00, "09")
    r = receipt_of(bank.on_voucher(bad, 0, at("11:40")), bad)
    assert r.return_reason is not None and r.return_reason.startswith("cash-purpose-not-allowed: CashPurposeCode 09")
    nxt = withdrawal(25_000_00, "01")  # the limit is a day's
    assert receipt_of(bank.on_voucher(nxt, 0, at("10:00", DAY + dt.timedelta(days=1))), nxt).return_reason is None


def test_a_withdrawal_returned_for_the_quota_takes_nothing_from_the_day_s_cash() -> None:
    bank = bank_with_quota(10_000_00)
    big = withdrawal(40_000_00, "01")  # within the cash limit, over the unit's quota
    r = receipt_of(bank.on_voucher(big, 0, at("10:00")), big)
    assert r.return_reason is not None and r.return_reason.startswith("over-unit-quota")
    assert cash.drawn(bank.state.cash_drawn, DAY, UNIT[2]) == 0


def test_an_ordinary_payment_is_not_held_to_the_cash_rules() -> None:
    bank = bank_with_quota()
    doc = authorized(60_000_00, CashPurposeCode="09")  # no CashFlag: a transfer, whatever else it says
    assert receipt_of(bank.on_voucher(doc, 0, at("10:00")), doc).return_reason is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["01", "06", "07", "09", ""]), st.integers(1, 30_000_00)),
                min_size=1, max_size=6))
def test_the_example_bank_and_the_simulated_bank_agree_on_every_withdrawal(draws: list[tuple[str, int]]) -> None:
    """A correct bank built from docs/ only (examples/sdk_bank.py) decides as the simulated one does."""
    sim = bank_with_quota()
    ext = sdk_bank.Bank("bank-a", BANK, "示例银行", 0)
    q = parse_voucher(authorized_quota_notice(voucher_no="ED-EXT", vou_date=DAY, pay_bank_code=BANK,
                                              lines=[(UNIT[2], UNIT[3], *SUBJECT, "P0000", "示例项目", 1_000_000_00)]))
    ext._quota_notice(q, at("08:30"))
    for i, (purpose, fen) in enumerate(draws):
        doc = withdrawal(fen, purpose)
        theirs = ext.return_reason(doc, DAY)
        ours = receipt_of(sim.on_voucher(doc, 0, at(f"10:{i:02d}")), doc).return_reason
        assert (theirs or "").split(":")[0] == (ours or "").split(":")[0], (purpose, fen, theirs, ours)


# --- official cards: the gateway's check ----------------------------------------------------------


def test_a_repayment_line_without_its_card_and_a_card_without_the_flag_are_refused_naming_the_line() -> None:
    vt = get_catalog().get("8202")
    ok = repayment([("6222999900000011", "张示例", 100_00), ("6222999900000029", "李示例", 50_00)])
    assert validate_tree(ok.root, vt.xsd) == [] and business_issues(ok, vt, 0) == []
    details = [dict(d) for d in ok.details()]
    del details[1]["CardHolderName"]
    missing = parse_voucher(build_voucher("8202", ok.head(), details))
    (issue,) = business_issues(missing, vt, 0)
    assert issue.code == "card-repay-incomplete" and issue.path == "/Voucher/DetailList/Detail[2]"
    assert "CardHolderName" in issue.message
    unflagged = parse_voucher(build_voucher("8202", {k: v for k, v in ok.head().items() if k != "CardRepayFlag"},
                                            ok.details()))
    codes = {i.code for i in business_issues(unflagged, vt, 0)}
    assert codes == {"card-repay-incomplete"}


# --- official cards: the treasury's match -----------------------------------------------------------

cards_st = st.dictionaries(st.from_regex(r"62229999[0-9]{8}", fullmatch=True), st.integers(1, 10_000_00),
                           min_size=1, max_size=6)


@given(cards_st)
def test_a_detail_stating_the_settlement_list_always_matches(cards: dict[str, int]) -> None:
    issued = Issued(BANK, sum(cards.values()), cards)
    assert match("GK1", "GW1", issued, BANK, sum(cards.values()), list(cards.items())) == []


@given(cards_st, st.data())
def test_every_difference_from_the_settlement_list_is_a_break_never_netted(cards: dict[str, int],
                                                                           data: st.DataObject) -> None:
    issued = Issued(BANK, sum(cards.values()), cards)
    stated = dict(cards)
    card = data.draw(st.sampled_from(sorted(cards)))
    kind = data.draw(st.sampled_from(["fen", "other-card", "dropped"]))
    if kind == "fen":
        stated[card] += data.draw(st.sampled_from([-1, 1])) if stated[card] > 1 else 1
    elif kind == "other-card":
        stated["6222000000000000"] = stated.pop(card)  # same total, another card
    else:
        del stated[card]
    breaks = match("GK1", "GW1", issued, BANK, sum(stated.values()), list(stated.items()))
    codes = sorted(b.code for b in breaks)
    if kind == "other-card":
        assert codes == ["card-amount-differs", "card-not-on-settlement-list"]  # the total agrees: not netted
        assert {b.card_no for b in breaks} == {card, "6222000000000000"}
    else:
        assert codes == ["card-amount-differs", "card-detail-sum-differs"]
        assert [b.card_no for b in breaks if b.code == "card-amount-differs"] == [card]


def test_a_detail_naming_no_repayment_of_that_bank_is_a_break() -> None:
    doc = repayment([("6222999900000011", "张示例", 100_00)])
    issued = settlement_list(doc)
    assert issued is not None
    (b,) = match("GK1", doc.get("VoucherNo"), issued, "999100000002", 100_00, [("6222999900000011", 100_00)])
    assert b.code == "card-detail-unknown-voucher"
    (b,) = match("GK1", "GW-NONE", None, BANK, 100_00, [("6222999900000011", 100_00)])
    assert b.code == "card-detail-unknown-voucher" and "GW-NONE" in b.message()


# --- official cards: the bank's detail, matched by the treasury -------------------------------------


@pytest.mark.parametrize("maker", ["simulated", "example"])
def test_the_bank_s_repayment_detail_at_its_close_validates_and_matches_the_voucher(maker: str) -> None:
    cards = [("6222999900000011", "张示例", 1200_00), ("6222999900000029", "李示例", 380_30)]
    doc = repayment(cards)
    if maker == "simulated":
        bank = bank_with_quota()
        assert receipt_of(bank.on_voucher(doc, 0, at("10:00")), doc).return_reason is None
        assert not [e for e in bank.on_time(at("16:59")) if isinstance(e, SendVoucher) and e.vtcode == "7701"]
        (d,) = [e for e in bank.on_time(at("17:30")) if isinstance(e, SendVoucher) and e.vtcode == "7701"]
        assert d.recipient_role == "treasury"
        data = build_voucher("7701", d.head, d.details)
        assert not bank.state.card_repayments  # reported: nothing kept
    else:
        ext = sdk_bank.Bank("bank-a", BANK, "示例银行", 0)
        ext.on_time(at("08:00"))
        q = parse_voucher(authorized_quota_notice(voucher_no="ED-EXT", vou_date=DAY, pay_bank_code=BANK,
                                                  lines=[(UNIT[2], UNIT[3], *SUBJECT, "P0000", "示例项目", 1_000_000_00)]))
        ext.on_delivery(q, 0, None, at("08:30"))
        ext.on_delivery(doc, 0, None, at("10:00"))
        (data,) = [v for v, flag, _ in ext.on_time(at("17:30")) if parse_voucher(v).vtcode == "7701"]
    detail = parse_voucher(data)
    vt = get_catalog().get("7701")
    assert validate_tree(detail.root, vt.xsd) == [] and business_issues(detail, vt, 0) == []
    assert (detail.get("OriVoucherNo"), detail.get("PayAmt"), detail.get("TransDate")) == \
        (doc.get("VoucherNo"), "1580.30", "20260310")
    book = CardBook()
    book.issue(doc)
    assert book.check(detail) == [] and book.of_voucher(doc.get("VoucherNo")) == [(detail.get("VoucherNo"), [])]


def test_an_ordinary_authorized_payment_sends_no_repayment_detail() -> None:
    bank = bank_with_quota()
    doc = authorized(100_00)
    bank.on_voucher(doc, 0, at("10:00"))
    assert not [e for e in bank.on_time(at("17:30")) if isinstance(e, SendVoucher) and e.vtcode == "7701"]


def test_a_repayment_survives_a_snapshot_and_is_reported_after_the_restore() -> None:
    bank = bank_with_quota()
    doc = repayment([("6222999900000011", "张示例", 100_00)])
    bank.on_voucher(doc, 0, at("10:00"))
    again = BankCore.restore(bank.snapshot(), BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
    (d,) = [e for e in again.on_time(at("17:30")) if isinstance(e, SendVoucher) and e.vtcode == "7701"]
    assert d.head["OriVoucherNo"] == doc.get("VoucherNo") and d.head["VoucherNo"] == "GK0001202603100001"


def test_the_books_stop_a_core_whose_cash_book_passed_the_day_s_limit() -> None:
    from sim.books import BooksError

    bank = bank_with_quota()
    bank.state.cash_drawn[cash.day_key(DAY, UNIT[2])] = cash.CASH_DAY_LIMIT_FEN + 1  # a defect, on purpose
    with pytest.raises(BooksError, match="cash-within-limit"):
        bank.on_voucher(authorized(100_00), 0, at("10:00"))


# --- the scenarios: a false expectation fails ------------------------------------------------------

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize(("name", "wrong"), [
    # the over-the-limit withdrawal paid after all: it is not
    ("cash-withdrawal-outside-the-cash-rules-returned",
     ("rejected: {voucher: over-the-day, code: cash-over-limit, who: bank}",
      'receipt: {voucher: over-the-day, from: bank-a, fields: {XPayAmt: "25000.00"}}')),
    # the card not on the list, said to match: it does not
    ("card-repayment-detail-card-not-on-the-list-is-a-break",
     ("card_detail: {voucher: repay, code: card-amount-differs,", "card_detail: {voucher: repay, matched: true,")),
    # a break on the matching detail: there is none
    ("card-repayment-detail-matches-the-settlement-list",
     ("card_detail: {voucher: repay, matched: true, breaks: 0}",
      "card_detail: {voucher: repay, code: card-not-on-settlement-list}")),
])
def test_a_wrong_expectation_of_cash_or_cards_fails(name: str, wrong: tuple[str, str], tmp_path: Path) -> None:
    import asyncio

    from runner.scenario_file import load_text
    from runner.scenario_run import run_scenario

    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    r = asyncio.run(run_scenario(load_text(text.replace(wrong[0], wrong[1]), "wrong.yaml", base=SCENARIOS), tmp_path))
    assert r.error is None and len(r.failed) == 1, [(o.name, o.actual) for o in r.failed]


def test_a_withdrawal_the_ledger_refused_gives_its_cash_back_to_the_day_and_sends_no_detail() -> None:
    from sim.effects import PostTransfer, Refusal

    bank = bank_with_quota()
    first = withdrawal(40_000_00, "01")
    effects = bank.on_voucher(first, 0, at("10:00"))
    dropped = tuple(e for e in effects if isinstance(e, PostTransfer | SendVoucher))
    bank.on_refused(Refusal("ledger", "ledger-overdraft", "refused in the test", dropped), at("10:00"))
    assert cash.drawn(bank.state.cash_drawn, DAY, UNIT[2]) == 0  # not paid: it counts nothing
    again = withdrawal(40_000_00, "01")
    assert receipt_of(bank.on_voucher(again, 0, at("10:05")), again).return_reason is None
    rep = repayment([("6222999900000011", "张示例", 100_00)])
    effects = bank.on_voucher(rep, 0, at("10:10"))
    dropped = tuple(e for e in effects if isinstance(e, PostTransfer | SendVoucher))
    bank.on_refused(Refusal("ledger", "ledger-overdraft", "refused in the test", dropped), at("10:10"))
    assert not [e for e in bank.on_time(at("17:30")) if isinstance(e, SendVoucher) and e.vtcode == "7701"]
