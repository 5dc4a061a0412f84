"""A real bank's refund requests (2302) and returned batch lines read off the wire (conformance
mode) are keyed by the payment's division and year, not its VoucherNo alone: each division's
treasury numbers its vouchers afresh each year, so two divisions' or years' payments of one number
are two (003 §36). Before, a refused 2302 for one year's payment made every payment of its number
a faulty refund-notice duty, a batch's lines were found by number (another year's batch of the
number taken for it), and the run kept its 2302s by VoucherNo alone (a second division's 2302 of a
number seen was dropped, and either's answer taken for the other's)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from messages.voucher import VoucherDoc
from runner.conformance import _ConformanceRun
from runner.observed import Observed, PaymentSeen, RefundSeen
from runner.scorecard_feed import NoticeSeen, observed_bank_events
from tests.test_scorecard_observed_years import CAL, CC, DEC, HOME, JAN, OTHER, _back, _payment, _told, t


def _refused(adm: str, year: str, no: str, fen: int, seq: int) -> RefundSeen:
    return RefundSeen("bank-a", no, f"TK{seq:04d}", fen, t(JAN, "10:30"), "rejected", "refund-unknown",
                      adm=adm, ori_year=year)


def _duties(payments: list[PaymentSeen], notices: list[NoticeSeen], refunds: Sequence[RefundSeen] = (),
            batches: dict[str, Any] | None = None) -> list[tuple[str, dt.datetime | None, bool]]:
    o = Observed("s", 1, t(DEC, "08:00"), t(dt.date(2026, 2, 27), "17:00"), payments=tuple(payments),
                 refunds=tuple(refunds))
    return [(e.ref, e.done, e.faulty) for e in observed_bank_events("bank-a", o, notices, CAL, CC, home=HOME,
                                                                    batches=batches) if e.kind == "refund-notice"]


def test_a_refused_refund_of_one_year_s_payment_is_not_the_other_year_s() -> None:
    payments = [_payment(HOME, "2025", "A1", 100_00), _payment(HOME, "2026", "A1", 100_00)]
    notices = [_back(HOME, "2025", "A1", 100_00, t(JAN, "10:00"), 1), _back(HOME, "2026", "A1", 100_00, t(JAN, "10:01"), 2),
               _told(HOME, "2025", "A1", 100_00, t(JAN, "11:00"), 1), _told(HOME, "2026", "A1", 100_00, t(JAN, "11:01"), 2)]
    duties = _duties(payments, notices, [_refused(HOME, "2025", "A1", 100_00, 1)])
    assert [(ref, faulty) for ref, _, faulty in duties] == [("A1@2025", True), ("A1", False)]
    other = _duties(payments, notices, [_refused(OTHER, "2026", "A1", 100_00, 1)])  # another division's
    assert [faulty for _, _, faulty in other] == [False, False]


def test_a_batch_line_is_found_in_its_own_year_s_batch() -> None:
    """Two years' batch direct payments GZ1, each with a line D0001 of another payee: a 2252 naming
    the 2026 payment's line is that line's return (its duty), not a whole payment's, not 2025's."""
    payments = [_payment(HOME, "2025", "GZ1", 300_00 + 200_00), _payment(HOME, "2026", "GZ1", 450_00 + 50_00)]
    batches = {f"{HOME}/2025/5201/GZ1": (("D0001", "6222000000000001", 300_00), ("D0002", "6222000000000009", 200_00)),
               f"{HOME}/2026/5201/GZ1": (("D0001", "6222000000000002", 450_00), ("D0002", "6222000000000009", 50_00))}
    back = dataclasses.replace(_back(HOME, "2026", "GZ1", 450_00, t(JAN, "10:00"), 1), payee_acct="6222000000000002")
    told = dataclasses.replace(_told(HOME, "2026", "GZ1", 450_00, t(JAN, "11:00"), 1), payee_acct="6222000000000002")
    assert _duties(payments, [back, told], batches=batches) == [("GZ1#D0001", t(JAN, "11:00"), False)]
    wrong_year = dataclasses.replace(back, ori_year="2025")  # 2025's batch has no such line: nothing returned
    assert _duties(payments, [wrong_year], batches=batches) == []


class _Clock:
    def now(self) -> dt.datetime:
        return t(JAN, "10:00")


def _doc(vtcode: str, head: dict[str, str]) -> VoucherDoc:
    from messages.voucher import build_voucher, parse_voucher

    return parse_voucher(build_voucher(vtcode, head))


def test_the_run_keeps_each_division_s_2302_of_one_number_and_its_own_answer() -> None:
    run: Any = _ConformanceRun.__new__(_ConformanceRun)
    run.refunds, run.ext, run.clock = {}, "bank-a", _Clock()
    for adm in (HOME, OTHER):
        run._refund_filed(_doc("2302", {"AdmDivCode": adm, "StYear": "2026", "VoucherNo": "TK0001", "OriVtCode": "5201",
                                        "OriVoucherNo": "A1", "OriVouDate": "20251229", "PayAmt": "1.00"}))
    run._refund_answered(_doc("2302", {"AdmDivCode": OTHER, "StYear": "2026", "VoucherNo": "TK0001",
                                       "XRefundAmt": "0.00"}), "no such payment")
    states = {(r.adm, r.ori_year): r.state for r in run.refunds.values()}
    assert states == {(HOME, "2025"): "pending", (OTHER, "2025"): "rejected"}


_RETURNS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                              st.sampled_from(["A1", "A2"]), st.booleans(), st.booleans()),
                    min_size=1, max_size=8, unique_by=lambda r: r[:3])


@settings(max_examples=80, deadline=None)
@given(returns=_RETURNS)
def test_each_returned_payment_s_duty_and_refusal_are_as_if_it_were_alone(
        returns: list[tuple[str, str, str, bool, bool]]) -> None:
    """Oracle from the agreement (004 part 3 §8(5): each payment that came back is told of; a
    refused 2302 of it faults that duty): each payment's duty, when done and whether faulty, is the
    same together as alone, though numbers collide across divisions and years."""
    payments, notices, refunds, own = [], [], [], []
    for i, (adm, year, no, told, refused) in enumerate(returns):
        fen = (i + 1) * 100
        p = _payment(adm, year, no, fen)
        mine = [_back(adm, year, no, fen, t(JAN, "10:00") + dt.timedelta(minutes=i), i)]
        if told:
            mine.append(_told(adm, year, no, fen, t(JAN, "14:00") + dt.timedelta(minutes=i), i))
        theirs = [_refused(adm, year, no, fen, i)] if refused else []
        payments.append(p)
        notices += mine
        refunds += theirs
        own.append(([p], mine, theirs))
    together = _duties(payments, notices, refunds)
    assert len(together) == len(returns)
    for duty, (p_alone, n_alone, r_alone) in zip(together, own, strict=True):
        assert [duty] == _duties(p_alone, n_alone, r_alone)
