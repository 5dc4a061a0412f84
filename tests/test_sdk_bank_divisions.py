"""The SDK example bank (`examples/sdk_bank.py`) serving two divisions: each division's treasury
grants its own units' authorized quota (7101), numbering its notices afresh each budget year, and
two divisions may have units of one AgencyCode. A quota line is (AdmDivCode, StYear, FundTypeCode,
AgencyCode, ExpFuncCode, ProCode) and a notice is known by its voucher key. Before, a line had no
division (one division's quota paid the other's 8202) and a notice was known by VtCode and number
(another division's or year's 7101 of a number seen was confirmed as a redelivery, never granted)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from business_time.clock import at
from messages.factory import UNITS, account_notice, authorized_quota_notice, payment_voucher
from messages.voucher import VoucherDoc, fill_receipt, parse_voucher
from tests.test_sdk_bank import CODE, SUBJECT, _bank, sdk

HOME, OTHER = "990100", "990200"
DAY = dt.date(2026, 3, 10)
AGENCY, AGENCY_NAME = UNITS[0][2], UNITS[0][3]


def _t(minute: int) -> dt.datetime:
    return at(DAY, dt.time(9, 0)) + dt.timedelta(minutes=minute)


def _grant(adm: str, year: int, no: str, fen: int) -> VoucherDoc:
    return parse_voucher(authorized_quota_notice(
        voucher_no=no, vou_date=dt.date(year, 3, 2), pay_bank_code=CODE, adm_div_code=adm,
        lines=[(AGENCY, AGENCY_NAME, *SUBJECT, "P1", "项目", fen)]))


def _payment(adm: str, year: int, no: str, fen: int) -> VoucherDoc:
    return parse_voucher(payment_voucher(voucher_no=no, vou_date=dt.date(year, 3, 2), pay_bank_code=CODE,
                                         amount_fen=fen, vtcode="8202", adm_div_code=adm, rng=random.Random(no),
                                         subject=SUBJECT, unit=UNITS[0]))


def _paid(bank: object, doc: VoucherDoc, minute: int) -> str | None:
    """The Return_Reason code of the 8202's receipt (None: paid)."""
    out = bank.on_delivery(doc, 0, None, _t(minute))  # type: ignore[attr-defined]
    [reason] = [r for data, flag, r in out if flag == 1 and parse_voucher(data).vtcode == "8202"]
    return None if reason is None else reason.split(":", 1)[0]


def test_another_division_s_7101_of_a_number_seen_grants_its_own_unit_only() -> None:
    bank = _bank()
    bank.on_delivery(_grant(HOME, 2026, "ED1", 1000_00), 0, None, _t(0))
    out = bank.on_delivery(_grant(OTHER, 2026, "ED1", 100_00), 0, None, _t(1))
    assert [parse_voucher(d).vtcode for d, _, _ in out] == ["7101", "7102"]  # granted and told, not a redelivery
    assert _paid(bank, _payment(OTHER, 2026, "A1", 600_00), 10) == "over-unit-quota"  # HOME's 1000.00 not its own
    assert _paid(bank, _payment(OTHER, 2026, "A2", 100_00), 11) is None
    assert _paid(bank, _payment(HOME, 2026, "A1", 1000_00), 12) is None  # HOME's whole line left for HOME
    assert sorted((k[0], line) for k, line in bank.quotas.items()) == [(HOME, [1000_00, 1000_00]),
                                                                       (OTHER, [100_00, 100_00])]


def test_a_7101_of_another_year_with_a_number_seen_is_granted() -> None:
    bank = _bank()
    bank.on_delivery(_grant(HOME, 2025, "ED1", 100_00), 0, None, _t(0))
    bank.on_delivery(_grant(HOME, 2026, "ED1", 200_00), 0, None, _t(1))
    bank.on_delivery(_grant(HOME, 2026, "ED1", 200_00), 0, None, _t(2))  # a redelivery: counted once
    assert sorted((k[1], line[0]) for k, line in bank.quotas.items()) == [("2025", 100_00), ("2026", 200_00)]


_GRANTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from([2025, 2026]),
                             st.sampled_from(["ED1", "ED2"]), st.integers(1, 500_00)),
                   max_size=6, unique_by=lambda g: g[:3])
_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from([2025, 2026]),
                               st.integers(1, 400_00)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(grants=_GRANTS, payments=_PAYMENTS)
def test_each_division_s_and_year_s_quota_pays_its_own_payments_as_if_alone(
        grants: list[tuple[str, int, str, int]], payments: list[tuple[str, int, int]]) -> None:
    """Oracle from the agreement (004 part 5 §2, part 3 §9(2): a unit pays within the quota its own
    treasury granted it for the year): each 8202 is paid or returned exactly as it is by a bank
    that was sent only its own division's and year's 7101s and 8202s, in the same order, though
    notice numbers and the unit's AgencyCode collide across divisions and years."""
    together = _bank()
    for adm, year, no, fen in grants:
        together.on_delivery(_grant(adm, year, no, fen), 0, None, _t(0))
    verdicts = [_paid(together, _payment(adm, year, f"A{i}", fen), 10 + i)
                for i, (adm, year, fen) in enumerate(payments)]
    for scope in {(adm, year) for adm, year, _ in payments}:
        alone = _bank()
        for adm, year, no, fen in grants:
            if (adm, year) == scope:
                alone.on_delivery(_grant(adm, year, no, fen), 0, None, _t(0))
        for i, (adm, year, fen) in enumerate(payments):
            if (adm, year) == scope:
                assert _paid(alone, _payment(adm, year, f"A{i}", fen), 10 + i) == verdicts[i], (scope, i)



def test_each_division_s_payments_are_cleared_under_its_own_division() -> None:
    """004 part 3 §8(7): a clearing request is the bank's claim on one treasury's account: two
    divisions' payments of one number are cleared each under its own AdmDivCode, never together."""
    bank = _bank()
    for minute, adm in enumerate((HOME, OTHER)):
        bank.on_delivery(parse_voucher(payment_voucher(voucher_no="Z1", vou_date=DAY, pay_bank_code=CODE,
                                                       amount_fen=(minute + 1) * 100_00, adm_div_code=adm,
                                                       rng=random.Random(adm), subject=SUBJECT, unit=UNITS[0])),
                         0, None, _t(minute))
    filed = [parse_voucher(d) for d, _, _ in bank.on_time(at(DAY, dt.time(15, 30)))]
    assert sorted((d.get("AdmDivCode"), d.get("PayAmt"), tuple(x["VoucherNo"] for x in d.details()))
                  for d in filed if d.vtcode == "2301") == [(HOME, "100.00", ("Z1",)), (OTHER, "200.00", ("Z1",))]


# --- what the bank tells each division's treasury: reports, reserve lists, account feeds ----------

FINANCE_ZBA, SPECIAL = "9999000000009001", "9999000000008001"
SPECIAL_NAME = "示例市财政专户"
DAYS = (dt.date(2026, 3, 30), dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2026, 4, 2))
TOLD = ("2206", "4004", "3501", "7104", "7202", "7602")  # what each division's treasury is told of its own


def _served(*divisions: str) -> Any:
    bank = sdk.Bank("bank-a", CODE, "示例银行", 20_000_000_00, divisions=divisions)
    bank.on_time(at(DAYS[0], dt.time(8, 0)))
    return bank


def _registry(adm: str) -> list[VoucherDoc]:
    """The accounts a division's treasury notifies (7601): its finance zero-balance account and a
    fiscal special account (a feed account) at the bank."""
    return [parse_voucher(account_notice(voucher_no=f"KH{adm}{n}", vou_date=DAYS[0], pay_bank_code=CODE, action="1",
                                         acct_type=kind, acct_no=no, acct_name=name, adm_div_code=adm,
                                         approve_no="CK1" if kind == "4" else ""))
            for n, (kind, no, name) in enumerate((("1", FINANCE_ZBA, "零余额"), ("4", SPECIAL, SPECIAL_NAME)))]


def _direct(adm: str, no: str, fen: int, special: bool) -> VoucherDoc:
    payee = (SPECIAL, SPECIAL_NAME) if special else None
    doc = parse_voucher(payment_voucher(voucher_no=no, vou_date=DAYS[0], pay_bank_code=CODE, amount_fen=fen,
                                        adm_div_code=adm, rng=random.Random(no), subject=SUBJECT, unit=UNITS[0],
                                        pay_acct=FINANCE_ZBA, payee=payee))
    if special:  # into the special account the bank holds
        el = doc.root.find("PayeeAcctBankNo")
        assert el is not None
        el.text = CODE
        doc = parse_voucher(etree.tostring(doc.root, xml_declaration=True, encoding="UTF-8"))
    return doc


def _drive(bank: Any, deliveries: list[tuple[dt.datetime, VoucherDoc]]) -> list[VoucherDoc]:
    """Everything the bank sends over DAYS, the clock moved every 15 minutes (08:00-17:45) and each
    voucher delivered at its time; the central bank accepts every clearing request as it comes."""
    sent: list[VoucherDoc] = []

    def take(out: list[tuple[bytes, int, str | None]], now: dt.datetime) -> None:
        for data, flag, _ in out:
            doc = parse_voucher(data)
            sent.append(doc)
            if doc.vtcode == "2301" and flag == 0:
                answer = fill_receipt(doc, {"XClearDate": f"{now:%Y%m%d}", "XClearAmt": doc.get("PayAmt"),
                                            "XPbocSerialNo": f"PB{doc.get('VoucherNo')}"})
                take(bank.on_delivery(parse_voucher(answer), 1, None, now), now)

    waiting = sorted(deliveries, key=lambda d: d[0])
    for day in DAYS:
        for step in range(40):
            now = at(day, dt.time(8, 0)) + dt.timedelta(minutes=15 * step)
            while waiting and waiting[0][0] <= now:
                when, doc = waiting.pop(0)
                take(bank.on_delivery(doc, 0, None, when), when)
            take(bank.on_time(now), now)
    return sent


def _told(sent: list[VoucherDoc], adm: str) -> list[tuple[str, dict[str, str], list[dict[str, str]]]]:
    """What division `adm`'s treasury was told (TOLD), each as (VtCode, head, lines) less the
    bank's own numbering of its lists (Id, VoucherNo)."""
    return [(d.vtcode, {k: v for k, v in d.head().items() if k not in ("Id", "VoucherNo")},
             [{k: v for k, v in x.items() if k != "Id"} for x in d.details()])
            for d in sent if d.vtcode in TOLD and d.get("AdmDivCode") == adm]


def test_each_division_gets_its_own_reports_feed_and_reserve_list_from_the_first_day() -> None:
    """004 part 3 §10: the bank reports to each treasury (甲方) what it did for that treasury's
    payments. Both divisions pay through the bank under one VoucherNo, HOME also into the special
    account and one after the cutoff (advanced). Each division's 2206s start on the first day (OTHER's
    quiet days nil), its 7602 of each business day states only its own payment into the special
    account, its 7202 only its own advance, and the 3501 / 7104 of March only its own payments."""
    bank = _served(HOME, OTHER)
    first = at(DAYS[0], dt.time(8, 30))
    sent = _drive(bank, [(first, n) for n in _registry(HOME)]
                  + [(at(DAYS[0], dt.time(10)), _direct(HOME, "ZZ1", 1000_00, special=True)),
                     (at(DAYS[0], dt.time(10, 5)), _direct(OTHER, "ZZ1", 250_50, special=False)),
                     (at(DAYS[0], dt.time(16, 20)), _direct(HOME, "ZZ2", 88_00, special=False))])
    home, other = _told(sent, HOME), _told(sent, OTHER)
    assert [(v, h["ReportDate"], h["PayAmt"]) for v, h, _ in other if v == "2206"] == [
        ("2206", "20260330", "250.50"), ("2206", "20260331", "0.00"), ("2206", "20260401", "0.00")]
    assert [(v, h["ReportDate"], h["PayAmt"]) for v, h, _ in home if v == "2206"] == [
        ("2206", "20260330", "1000.00"), ("2206", "20260331", "88.00"), ("2206", "20260401", "0.00")]
    assert [(h["TransDate"], [x["OriVoucherNo"] for x in lines]) for v, h, lines in home if v == "7602"] == [
        ("20260330", ["ZZ1"]), ("20260331", []), ("20260401", []), ("20260402", [])]
    assert [(h["TransDate"], lines) for v, h, lines in other if v == "7602"] == [
        ("20260330", []), ("20260331", []), ("20260401", []), ("20260402", [])]  # its payment went to a supplier
    assert [(h["PayAmt"], [x["OriVoucherNo"] for x in lines]) for v, h, lines in home if v == "7202"] == [
        ("88.00", ["ZZ2"])]
    assert not [v for v, _, _ in other if v == "7202"]
    statements = {(adm, h["PayAmt"]) for adm, told in ((HOME, home), (OTHER, other)) for v, h, _ in told
                  if v == "3501"}
    assert statements == {(HOME, "1088.00"), (OTHER, "250.50")}
    assert {(adm, v, h["PayAmt"]) for adm, told in ((HOME, home), (OTHER, other)) for v, h, _ in told
            if v == "7104"} == {(HOME, "7104", "1088.00"), (OTHER, "7104", "250.50")}
    assert {d.get("AdmDivCode") for d in sent if d.vtcode == "7203"} == {HOME}  # one reserve account


def test_a_division_the_bank_is_not_registered_for_is_reported_from_the_day_it_was_first_paid_for() -> None:
    """docs/rules.md: a division the bank is not configured for but paid for all the same gets its
    2206s from the day it first paid for it, no earlier."""
    bank = _served(HOME)
    sent = _drive(bank, [(at(DAYS[0], dt.time(10)), _direct(HOME, "ZZ1", 10_00, special=False)),
                         (at(DAYS[1], dt.time(10)), _direct(OTHER, "ZZ1", 20_00, special=False))])
    assert [(h["ReportDate"], h["PayAmt"]) for v, h, _ in _told(sent, OTHER) if v == "2206"] == [
        ("20260331", "20.00"), ("20260401", "0.00")]
    assert [h["ReportDate"] for v, h, _ in _told(sent, HOME) if v == "2206"] == ["20260330", "20260331", "20260401"]


_MOVES = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.integers(0, 2), st.sampled_from([9, 11, 15, 16]),
                            st.booleans(), st.integers(1, 900_00)), max_size=8)


@settings(max_examples=25, deadline=None)
@given(moves=_MOVES)
def test_each_division_is_told_what_a_bank_serving_it_alone_would_tell_it(
        moves: list[tuple[str, int, int, bool, int]]) -> None:
    """Oracle: a bank serving two divisions tells each division's treasury (2206, 4004, 3501, 7104,
    7202, 7602) exactly what a bank registered for that division alone, sent only that division's
    vouchers at the same times, tells it (but for the lists' own numbers), though the two divisions'
    payments share VoucherNos. Both divisions' treasuries open their accounts on the first morning."""
    def deliveries(divisions: tuple[str, ...]) -> list[tuple[dt.datetime, VoucherDoc]]:
        out = [(at(DAYS[0], dt.time(8, 30)), n) for adm in divisions for n in _registry(adm)]
        return out + [(at(DAYS[day], dt.time(hour, 10)), _direct(adm, f"ZZ{i}", fen, special))
                      for i, (adm, day, hour, special, fen) in enumerate(moves) if adm in divisions]

    together = _drive(_served(HOME, OTHER), deliveries((HOME, OTHER)))
    for adm in (HOME, OTHER):
        alone = _drive(_served(adm), deliveries((adm,)))
        assert _told(together, adm) == _told(alone, adm), adm
