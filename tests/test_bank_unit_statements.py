"""Issue 16 rule 8, statements to each unit (004 part 3 §10(3)): each basic unit paid for in a
month gets its own statement (7104, the project's own code) with its lines of the bank's 3501,
and the treasury returns the unit's sign-off sheet. Before, only the treasury got a statement."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bank_sim import reports as rp
from messages.money import parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import SendVoucher
from storage.db import Database
from treasury_sim import bank_reports
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


def _month(month: str, fen: int = 100_00) -> tuple[VoucherDoc, VoucherDoc]:
    """The 3501 of 2026's `month` ("01".."12") and its one unit's 7104, as the treasury parses them."""
    lines = {_l("101001", "P1"): fen}
    [(uh, ud)] = rp.unit_statements(f"DW{month}", f"2026{month}", DAY, "990100", BANK, lines)
    head, details = rp.monthly_statement(f"DZ{month}", f"2026{month}", DAY, "990100", BANK, lines)
    return parse_voucher(build_voucher("3501", head, details)), parse_voucher(build_voucher("7104", uh, ud))


def _answers(inbox: BankInbox, doc: VoucherDoc) -> list[tuple[str, str, str]]:
    """(VtCode, VoucherNo, XCheckResult) of each receipt the treasury sends for `doc`."""
    out = inbox.on_voucher(doc, NOW, lambda *_: 0, lambda _: ("", ""))
    return [(e.vtcode, e.head["VoucherNo"], e.head["XCheckResult"]) for e in out if isinstance(e, SendVoucher)]


def test_past_the_bound_of_3501s_kept_a_new_months_7104_is_still_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 3501s checked are kept to KEPT_MAX, the oldest month forgotten first. Was: past the bound
    none was noted, so every 7104 of a new month that came after its 3501 (the usual order) waited
    for good."""
    monkeypatch.setattr(bank_reports, "KEPT_MAX", 3)
    inbox = BankInbox()
    for month in ("01", "02", "03", "04"):
        statement, unit = _month(month)
        assert _answers(inbox, statement)[0][0] == "3501"
        assert _answers(inbox, unit) == [("7104", unit.get("VoucherNo"), "0")]
    assert [k.split("/")[1] for k in inbox.statements_in] == ["20260201", "20260301", "20260401"]
    statement, unit = _month("05")  # its 7104 first, then the 3501: answered with it
    assert _answers(inbox, unit) == []
    assert _answers(inbox, statement)[1:] == [("7104", unit.get("VoucherNo"), "0")]
    assert inbox.units_waiting == {} and inbox.units_waiting_n == 0 and len(inbox.statements_in) == 3


def test_past_the_bound_of_7104s_waiting_the_oldest_is_forgotten_and_a_new_one_waits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 7104s waiting for their 3501 are kept to KEPT_MAX, counted (not summed per 7104), the
    oldest month's forgotten first. Was: past the bound a new one was signed off at once, "the
    bank's statement (3501) has no line of the unit", though its 3501 was still to come."""
    monkeypatch.setattr(bank_reports, "KEPT_MAX", 2)
    inbox = BankInbox()
    months = {m: _month(m) for m in ("01", "02", "03")}
    for _, unit in months.values():
        assert _answers(inbox, unit) == []
    assert inbox.units_waiting_n == 2 == sum(map(len, inbox.units_waiting.values()))
    assert [k.split("/")[1] for k in inbox.units_waiting] == ["20260201", "20260301"]  # January's forgotten
    statement, unit = months["03"]
    assert _answers(inbox, statement)[1:] == [("7104", unit.get("VoucherNo"), "0")]
    assert inbox.units_waiting_n == 1 and _answers(inbox, months["01"][0]) == [("3501", "DZ01", "1")]


@given(st.lists(st.tuples(st.sampled_from(["01", "02", "03", "04", "05"]), st.booleans()), max_size=10, unique=True),
       st.integers(min_value=1, max_value=4))
def test_the_kept_months_stay_bounded_and_counted_and_a_7104_is_answered_once(
        deliveries: list[tuple[str, bool]], bound: int) -> None:
    """Oracle: whatever the order of 3501s and 7104s (each delivered once), what is kept stays within
    the bound and the count is what waits; a 7104 is answered at most once; with room for every
    month delivered, each whose 3501 came is answered, with its 3501 or after it."""
    from unittest import mock

    with mock.patch.object(bank_reports, "KEPT_MAX", bound):
        inbox = BankInbox()
        answered: list[str] = []
        for month, is_statement in deliveries:
            statement, unit = _month(month)
            answered += [no for vt, no, _ in _answers(inbox, statement if is_statement else unit) if vt == "7104"]
            assert inbox.units_waiting_n == sum(map(len, inbox.units_waiting.values())) <= bound
            assert len(inbox.statements_in) <= bound
        assert len(answered) == len(set(answered))
        both = {m for m, s in deliveries if s} & {m for m, s in deliveries if not s}
        if len({m for m, _ in deliveries}) <= bound:
            assert set(answered) == {f"DW{m}101001" for m in both}


def test_a_version_11_inbox_loads_counted_and_oldest_month_first() -> None:
    """A snapshot sorts the months by key (bank first): restored, they are oldest first again, and a
    version 11 inbox (no count) is counted as it loads."""
    from sim.codec import decode

    old = (b'{"statements_in": {"999100000001/20260301/990100": 1, "999100000002/20260201/990100": 1},'
           b' "units_waiting": {"999100000001/20260501/990100": ["YQ==", "Yg=="],'
           b' "999100000002/20260401/990100": ["Yw=="]}}')
    inbox = decode(old, BankInbox)
    assert inbox.units_waiting_n == 3
    assert [k.split("/")[1] for k in inbox.statements_in] == ["20260201", "20260301"]
    assert [k.split("/")[1] for k in inbox.units_waiting] == ["20260401", "20260501"]


async def test_a_version_11_snapshot_with_7104s_waiting_loads_counted_on_both_backends(db: Database) -> None:
    """A treasury holding two units' statements (7104) waiting for their 3501, saved as version 11
    wrote it (no count), through the simulator's store (SQLite and PostgreSQL): restored, they are
    counted, the 3501 answers its own, and written back it is this version."""
    from business_time.clock import at
    from sim.store import SimStore
    from tests.test_treasury_refund_cap import CALENDAR, CC, CONFIG
    from tests.test_treasury_sign_off_keys import BANK as BANK_A
    from tests.test_treasury_sign_off_keys import HOME, LINE
    from treasury_sim.core import TreasuryCore
    from treasury_sim.state import SNAPSHOT_VERSION

    core = TreasuryCore(CONFIG, CALENDAR, CC)
    now = at(dt.date(2026, 4, 1), dt.time(9, 30))
    for month in ("202602", "202603"):
        [(head, details)] = rp.unit_statements(f"DW0001{month}", month, now.date(), HOME, BANK_A, {LINE: 10_00})
        assert core.on_voucher(parse_voucher(SendVoucher("7104", 0, head, details, "treasury").render()), 0, now) == []
    state = json.loads(core.snapshot())
    assert state["version"] == SNAPSHOT_VERSION == 12 and state["bank_inbox"].pop("units_waiting_n") == 2
    state["version"] = 11
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(json.dumps(state).encode())
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    after = TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC)
    assert after.state.bank_inbox.units_waiting_n == 2
    head, details = rp.monthly_statement("DZ0001202603", "202603", now.date(), HOME, BANK_A, {LINE: 10_00})
    out = after.on_voucher(parse_voucher(SendVoucher("3501", 0, head, details, "treasury").render()), 0, now)
    assert [(e.vtcode, e.head["XCheckResult"]) for e in out if isinstance(e, SendVoucher) and e.vtcode == "7104"] == [
        ("7104", "0")]
    assert after.state.bank_inbox.units_waiting_n == 1
    again = SimStore(db, "treasury-12")
    await again.open()
    await again.create(after.snapshot())
    reloaded = await SimStore(db, "treasury-12").load()
    assert reloaded is not None and json.loads(reloaded.snapshot)["version"] == SNAPSHOT_VERSION
    assert TreasuryCore.restore(reloaded.snapshot, CONFIG, CALENDAR, CC).state.bank_inbox.units_waiting_n == 1
