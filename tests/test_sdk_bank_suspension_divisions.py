"""Payment suspension orders (7501, 000 五(二)3) of two divisions at the SDK example bank
(`examples/sdk_bank.py`), which serves every division it is registered for. Each division's treasury
numbers its own vouchers, each year afresh: an order is known by AdmDivCode, StYear (as its 7501
carries it) and OrderNo, and suspends its own division's payments only. Before, the bank kept orders
by OrderNo alone: one division's lift ended the other's order of that number, and an order
suspended every division's payments of its scope."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from hypothesis import given, settings

from business_time.clock import at
from messages.factory import UNITS, payment_voucher, suspension_order
from messages.voucher import parse_voucher
from tests.suspension_oracle import AGENCY, HOME, OPS, OTHER, Op, Oracle
from tests.test_sdk_bank import CODE, SUBJECT
from tests.test_sdk_bank_divisions import _served

DAY = dt.date(2026, 3, 30)
_seq = itertools.count(1)


def _t(minute: int) -> dt.datetime:
    return at(DAY, dt.time(9, 0)) + dt.timedelta(minutes=minute)


def _order(bank: Any, adm: str, no: str, scope: tuple[str, str], minute: int, *, lift: bool = False,
           year: int = 2026) -> bool:
    """Division `adm`'s 7501 (StYear `year`) delivered: whether the bank confirmed it (its receipt)."""
    doc = parse_voucher(suspension_order(voucher_no=f"ZT{next(_seq):08d}", vou_date=dt.date(year, 3, 30),
                                         pay_bank_code=CODE, order_no=no, scope=scope, reason="示例审计整改",
                                         lift=lift, adm_div_code=adm))
    out = bank.on_delivery(doc, 0, None, _t(minute))
    return any(flag == 1 and parse_voucher(data).vtcode == "7501" for data, flag, _ in out)


def _reason(bank: Any, adm: str, minute: int) -> str | None:
    """The Return_Reason of division `adm`'s new 5201 of the unit (None: paid)."""
    no = f"ZZ{next(_seq):08d}"
    doc = parse_voucher(payment_voucher(voucher_no=no, vou_date=DAY, pay_bank_code=CODE, amount_fen=120_00,
                                        adm_div_code=adm, rng=random.Random(no), subject=SUBJECT, unit=UNITS[0]))
    [reason] = [r for data, flag, r in bank.on_delivery(doc, 0, None, _t(minute))
                if flag == 1 and parse_voucher(data).vtcode == "5201"]
    return reason


def _suspended(bank: Any, adm: str, minute: int) -> bool:
    reason = _reason(bank, adm, minute)
    return reason is not None and reason.startswith("payment-suspended")


def test_one_division_s_lift_leaves_the_other_division_s_order_of_that_number_in_force() -> None:
    bank = _served(HOME, OTHER)
    assert _order(bank, HOME, "ZT-1", AGENCY, 0) and _order(bank, OTHER, "ZT-1", AGENCY, 1)
    assert _suspended(bank, HOME, 2) and _suspended(bank, OTHER, 3)
    assert _order(bank, HOME, "ZT-1", AGENCY, 10, lift=True)
    assert not _suspended(bank, HOME, 11)
    assert _suspended(bank, OTHER, 12)  # OTHER's order stands: its lift has not come
    assert _order(bank, OTHER, "ZT-1", AGENCY, 20, lift=True)
    assert not _suspended(bank, OTHER, 21)


def test_an_order_suspends_its_own_division_s_payments_only_and_another_s_lift_is_not_confirmed() -> None:
    bank = _served(HOME, OTHER)
    assert _order(bank, OTHER, "ZT-2", AGENCY, 0)
    assert _reason(bank, HOME, 1) is None  # HOME's unit of that code: not under OTHER's order
    reason = _reason(bank, OTHER, 2)
    assert reason is not None and reason.startswith(f"payment-suspended: order ZT-2 of division {OTHER}")
    assert not _order(bank, HOME, "ZT-2", AGENCY, 3, lift=True)  # HOME holds no order ZT-2: no receipt
    assert _suspended(bank, OTHER, 4)


def test_a_lift_sent_the_next_year_ends_last_year_s_order() -> None:
    bank = _served(HOME, OTHER)
    assert _order(bank, HOME, "ZT-3", AGENCY, 0)
    assert _order(bank, HOME, "ZT-3", AGENCY, 1, lift=True, year=2027)
    assert not _suspended(bank, HOME, 2)
    assert _order(bank, HOME, "ZT-3", AGENCY, 3, lift=True, year=2027)  # a redelivery: confirmed again


@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_a_payment_is_suspended_iff_an_order_of_its_own_division_covering_it_is_in_force(ops: list[Op]) -> None:
    """The oracle of `tests.suspension_oracle` (from docs/rules.md), as for the simulated bank."""
    bank, oracle = _served(HOME, OTHER), Oracle()
    for i, (what, adm, year, no, scope) in enumerate(ops):
        if what == "pay":
            assert _suspended(bank, adm, i) == oracle.suspended(adm), (i, oracle)
        else:
            expect = oracle.apply(what, adm, year, no, scope)
            assert _order(bank, adm, no, scope, i, lift=what == "lift", year=year) == expect, (i, what)
