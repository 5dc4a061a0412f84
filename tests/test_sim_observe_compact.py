"""`runner.sim_observe` at the run's end: the generated vouchers' gateway answers are shared values
(one per code and time) and a generated receipt's X fields are read from its record, equal to the
dict they were."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from business_time.clock import TZ
from messages.envelope import VoucherKey
from runner.observed import Verdict
from runner.sim_observe import generated_receipts, generated_sent
from treasury_sim.records import Receipt

AT = dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ)


def _planned(no: str, refused: str | None, at: dt.datetime) -> SimpleNamespace:
    return SimpleNamespace(voucher_no=no, day=at.date(), vtcode="5201", bank="999100000001", amount_fen=100,
                           send_at=at, refused=refused)


def test_generated_vouchers_share_one_answer_per_code_and_time() -> None:
    later = AT + dt.timedelta(minutes=5)
    vouchers = [_planned("A", None, AT), _planned("B", None, AT), _planned("C", None, later),
                _planned("D", "xsd-invalid", AT)]
    tcore = SimpleNamespace(iter_sent_rows=lambda: iter(vouchers))
    a, b, c, d = generated_sent(tcore, "990100", {"999100000001": "bank-a"})
    assert a.verdicts is b.verdicts and a.verdicts is not c.verdicts and a.verdicts is not d.verdicts
    assert a.verdicts == (Verdict("gateway", "gateway", True, None, "accepted", AT),)
    assert c.verdicts == (Verdict("gateway", "gateway", True, None, "accepted", later),)
    assert d.verdicts == (Verdict("gateway", "gateway", False, "xsd-invalid", "xsd-invalid", AT),) and not d.reached
    assert (a.key, a.bank, a.reached) == ("990100/2026/5201/A/0", "bank-a", True)


def test_a_generated_receipt_s_fields_read_as_the_dict_they_were() -> None:
    receipt = Receipt(VoucherKey("990100", "2026", "5201", "A", 1), "20260316", 123_45, "YH0001", AT)
    tcore = SimpleNamespace(receipts={"A": receipt}, duplicate_receipts=[])
    [seen] = generated_receipts(tcore, {"A": "bank-a"})
    want = {"XPayDate": "20260316", "XPayAmt": "123.45", "XAgentBusinessNo": "YH0001"}
    assert dict(seen.fields) == want and seen.fields == want and len(seen.fields) == 3
    assert seen.fields.get("XPayAmt") == "123.45" and seen.fields.get("XConfirmDate", "") == ""
    assert (seen.voucher_no, seen.sender, seen.received_at) == ("A", "bank-a", AT)
