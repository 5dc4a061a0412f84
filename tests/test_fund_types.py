"""A voucher names the fund type its code says (003 §2), whichever of the five it is."""

from __future__ import annotations

import datetime as dt

import pytest

from messages.factory import payment_voucher
from messages.fund_types import FUND_TYPES, fund_type_name
from messages.voucher import parse_voucher


@pytest.mark.parametrize(("code", "name"), FUND_TYPES)
def test_a_payment_voucher_carries_the_name_of_its_fund_type(code: str, name: str) -> None:
    data = payment_voucher(voucher_no="SYNFT0001", vou_date=dt.date(2026, 3, 10), pay_bank_code="999100000001",
                           amount_fen=12_345, fund_type_code=code)
    doc = parse_voucher(data)
    assert (doc.get("FundTypeCode"), doc.get("FundTypeName")) == (code, name)


def test_an_unknown_fund_type_is_refused_not_named() -> None:
    with pytest.raises(ValueError, match="FundTypeCode '7'"):
        fund_type_name("7")
