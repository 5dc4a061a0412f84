"""Issue 16 rule 8, statements to each unit (004 part 3 §10(3)): each basic unit paid for in a
month gets its own statement (7104, the project's own code) with its lines of the bank's 3501,
and the treasury returns the unit's sign-off sheet. Before, only the treasury got a statement."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bank_sim import reports as rp
from messages.money import parse_fen
from messages.voucher import build_voucher, parse_voucher
from sim.effects import SendVoucher
from treasury_sim.bank_reports import BankInbox

DAY = dt.date(2026, 4, 1)
BANK = ("999100000001", "示例银行")
NOW = dt.datetime(2026, 4, 1, 10, 0)


def _l(agency: str, pro: str, subject: str = "2050203") -> rp.Line:
    return ("11", "1", "一般公共预算资金", "101", "示例市教育局", agency, "单位" + agency, subject, "初中教育",
            pro, ("项目" + pro) if pro else "")


def test_one_statement_per_unit_with_its_own_lines() -> None:
    lines = {_l("101001", "P1"): 100_00, _l("101001", ""): 7_00, _l("101002", "P1"): 20_00}
    [(a, da), (b, db)] = rp.unit_statements("DW1202603", "202603", DAY, "990100", BANK, lines)
    assert (a["AgencyCode"], a["PayAmt"], b["AgencyCode"], b["PayAmt"]) == ("101001", "107.00", "101002", "20.00")
    assert [(d.get("ProCode"), d["PayAmt"]) for d in da] == [(None, "7.00"), ("P1", "100.00")]
    assert a["VoucherNo"] == "DW1202603101001" and (a["BeginDate"], a["EndDate"]) == ("20260301", "20260331")
    assert len(db) == 1


@given(st.dictionaries(st.tuples(st.sampled_from(["101001", "101002", "102001"]), st.sampled_from(["", "P1"])),
                       st.integers(-10**9, 10**9), min_size=1, max_size=8))
def test_the_units_statements_add_up_to_the_banks_statement(raw: dict[tuple[str, str], int]) -> None:
    lines = {_l(a, p): fen for (a, p), fen in raw.items()}
    whole, _ = rp.monthly_statement("DZ1", "202603", DAY, "990100", BANK, lines)
    units = rp.unit_statements("DW1", "202603", DAY, "990100", BANK, lines)
    assert len(units) == len({a for a, _ in raw})
    assert sum(parse_fen(h["PayAmt"], allow_negative=True) for h, _ in units) == \
        parse_fen(whole["PayAmt"], allow_negative=True)


def _receipt(inbox: BankInbox, vtcode: str, head: dict[str, str], details: tuple[dict[str, str], ...]) -> SendVoucher:
    out = inbox.on_voucher(parse_voucher(build_voucher(vtcode, head, details)), NOW, lambda *_: 0, lambda _: ("", ""))
    [receipt] = out
    assert isinstance(receipt, SendVoucher)
    return receipt


def test_the_treasury_returns_each_units_sign_off_sheet_against_the_3501() -> None:
    lines = {_l("101001", "P1"): 100_00, _l("101002", "P1"): 20_00}
    inbox = BankInbox()
    _receipt(inbox, "3501", *rp.monthly_statement("DZ1", "202603", DAY, "990100", BANK, lines))
    (h1, d1), (h2, d2) = rp.unit_statements("DW1", "202603", DAY, "990100", BANK, lines)
    assert _receipt(inbox, "7104", h1, d1).head["XCheckResult"] == "0"
    off = {**h2, "PayAmt": "21.00"}
    bad = _receipt(inbox, "7104", off, ({**d2[0], "PayAmt": "21.00"},))
    assert bad.head["XCheckResult"] == "1" and "20.00" in bad.head["XCheckRemark"]
    stranger = {**h1, "VoucherNo": "DW9", "Id": "V7104DW9", "AgencyCode": "103001"}
    assert "no line" in _receipt(inbox, "7104", stranger, d1).head["XCheckRemark"]


def test_a_units_statement_before_its_3501_waits_for_it_and_agrees() -> None:
    """Deliveries may come out of order (found by the fault runs over a month's end, tests/
    test_generated_worlds.py): a 7104 reaching the treasury before its 3501 was signed off at once
    "the bank's statement (3501) has no line of the unit", and the bank alarmed amount-mismatch.
    It waits for the 3501 and is answered with it; a unit the 3501 has no line of is still told so."""
    lines = {_l("101001", "P1"): 100_00, _l("101002", "P1"): 20_00}
    inbox = BankInbox()
    (h1, d1), (h2, d2) = rp.unit_statements("DW1", "202603", DAY, "990100", BANK, lines)
    early = parse_voucher(build_voucher("7104", h1, d1))
    assert inbox.on_voucher(early, NOW, lambda *_: 0, lambda _: ("", "")) == []
    assert inbox.on_voucher(early, NOW, lambda *_: 0, lambda _: ("", "")) == []  # delivered again: waits once
    other_month = {**h2, "BeginDate": "20260201", "EndDate": "20260228", "VoucherNo": "DW2", "Id": "V7104DW2"}
    assert inbox.on_voucher(parse_voucher(build_voucher("7104", other_month, d2)), NOW, lambda *_: 0,
                            lambda _: ("", "")) == []  # February's waits for February's 3501
    head, details = rp.monthly_statement("DZ1", "202603", DAY, "990100", BANK, lines)
    out = inbox.on_voucher(parse_voucher(build_voucher("3501", head, details)), NOW, lambda *_: 120_00,
                           lambda _: ("", ""))
    assert [(e.vtcode, e.head["XCheckResult"], e.head["VoucherNo"]) for e in out if isinstance(e, SendVoucher)] == [
        ("3501", "0", head["VoucherNo"]), ("7104", "0", h1["VoucherNo"])]
    assert _receipt(inbox, "7104", h2, d2).head["XCheckResult"] == "0"  # after its 3501: at once
    assert list(inbox.units_waiting) == ["999100000001/20260201/990100"]


def test_the_units_statements_waiting_survive_a_snapshot() -> None:
    from sim.codec import decode, encode

    inbox = BankInbox()
    [(h1, d1)] = rp.unit_statements("DW1", "202603", DAY, "990100", BANK, {_l("101001", "P1"): 100_00})
    inbox.on_voucher(parse_voucher(build_voucher("7104", h1, d1)), NOW, lambda *_: 0, lambda _: ("", ""))
    again = decode(encode(inbox), BankInbox)  # as the treasury core's snapshot keeps it (sim.codec)
    assert again.units_waiting == inbox.units_waiting and len(again.units_waiting) == 1
    old = decode(b'{"received": {}}', BankInbox)  # a version 10 inbox: none waiting
    assert old.units_waiting == {} and old.statements_in == {}
