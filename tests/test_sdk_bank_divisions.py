"""The SDK example bank (`examples/sdk_bank.py`) serving two divisions: each division's treasury
grants its own units' authorized quota (7101), numbering its notices afresh each budget year, and
two divisions may have units of one AgencyCode. A quota line is (AdmDivCode, StYear, FundTypeCode,
AgencyCode, ExpFuncCode, ProCode) and a notice is known by its voucher key. Before, a line had no
division (one division's quota paid the other's 8202) and a notice was known by VtCode and number
(another division's or year's 7101 of a number seen was confirmed as a redelivery, never granted)."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import at
from messages.factory import UNITS, authorized_quota_notice, payment_voucher
from messages.voucher import VoucherDoc, parse_voucher
from tests.test_sdk_bank import CODE, SUBJECT, _bank

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
