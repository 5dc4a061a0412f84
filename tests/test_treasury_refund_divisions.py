"""Refunds follow the refunded payment's own division and year (003 §36: "退回资金清算后,财政部门区分
当年退回和跨年度退回资金"): a voucher is its key (AdmDivCode, StYear, VtCode, VoucherNo), each
division's treasury numbering its own afresh each year.

- The treasury core (`treasury_sim`) restores quota only for a refund notice (2203 / 7105) naming
  a payment of its own division (the notice's AdmDivCode) and of the notice's OriVouDate year; a
  receipt is its voucher's only when its division and year are the voucher's. Before, both were
  matched by VoucherNo: another division's notice of a number the treasury paid restored that
  voucher's quota, and another division's receipt was taken for its voucher's.
- The refunds each bank noticed (`BankInbox.refunded`, `refunded_direct`) are each division's: a
  division's monthly statement (3501) and reports are checked against its own payments less its own
  refunds. Before, they were kept by bank and day: one division's refund was taken off the other's
  statement, which was then signed off as a break. Treasury snapshot version 6; a version 5
  snapshot's refunds load as the configured division's (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import reports as rp
from bank_sim.refunds import notice as refund_notice
from business_time.clock import at
from messages.money import fen_to_str
from messages.voucher import VoucherDoc, build_voucher, fill_receipt, parse_voucher
from runner.scenario_run import _NullCore
from sim.effects import SendVoucher
from sim.store import SimStore
from storage.db import Database
from tests.test_treasury_refund_cap import (
    CALENDAR,
    CC,
    CONFIG,
    alarms_of,
    bank_of,
    morning_payments,
    paid_core,
)
from tests.test_treasury_refund_cap import DAY as REFUND_CAP_DAY
from tests.two_divisions import BANK, HOME, OTHER, UNITS, paid_receipt
from treasury_sim.bank_reports import BankInbox
from treasury_sim.core import TreasuryCore
from treasury_sim.state import SNAPSHOT_VERSION

MARCH = dt.date(2026, 3, 16)


def _t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def _notice_for(original: SendVoucher, no: str, *, adm: str, ori_vou_date: str | None = None) -> VoucherDoc:
    """A refund notice (2203 / 7105) of the whole of `original`, under division `adm`."""
    h = parse_voucher(original.render()).head()
    fen = parse_voucher(original.render()).amount_fen("PayAmt")
    head = {"AdmDivCode": adm, "StYear": "2026", "VoucherNo": no, "VouDate": "20260316",
            "OriVoucherNo": h["VoucherNo"], "OriVouDate": ori_vou_date or h["VouDate"], "AgencyCode": h["AgencyCode"],
            "PayBankCode": h["PayBankCode"], "PayAmt": fen_to_str(fen)}
    vtcode = "2203" if original.vtcode == "5201" else "7105"
    return parse_voucher(SendVoucher(vtcode, 0, head, (), "treasury").render())


# --- the treasury core: its own division's vouchers only ------------------------------------------

def test_another_division_s_refund_notice_of_a_number_paid_restores_nothing() -> None:
    core, paid, _ = paid_core()
    effects = core.on_voucher(_notice_for(paid, "TK0001", adm=OTHER), 0, _t(MARCH, "14:00"))
    assert alarms_of(effects) == ["refund-unmatched"] and core.bank_inbox.refunded_fen == 0
    assert core.state.refunded == {}
    last_year = _notice_for(paid, "TK0002", adm=HOME, ori_vou_date="20250316")  # another year's voucher
    assert alarms_of(core.on_voucher(last_year, 0, _t(MARCH, "14:01"))) == ["refund-unmatched"]
    assert alarms_of(core.on_voucher(_notice_for(paid, "TK0003", adm=HOME), 0, _t(MARCH, "14:02"))) == []
    assert core.bank_inbox.restored_fen == parse_voucher(paid.render()).amount_fen("PayAmt")


def test_another_division_s_or_year_s_receipt_of_a_number_sent_is_not_its_receipt() -> None:
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    assert MARCH == REFUND_CAP_DAY
    doc = parse_voucher(morning_payments(core)[0].render())
    for adm, year in ((OTHER, "2026"), (HOME, "2025")):
        other = parse_voucher(build_voucher(doc.vtcode, {**doc.head(), "AdmDivCode": adm, "StYear": year},
                                            list(doc.details())))
        receipt = fill_receipt(other, {"XPayDate": "20260316", "XPayAmt": "0.01", "XAgentBusinessNo": "B9"})
        assert alarms_of(core.on_voucher(parse_voucher(receipt), 1, _t(MARCH, "14:00"))) == ["unknown-original"]
    assert doc.get("VoucherNo") not in core.receipts
    own = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": doc.get("PayAmt"), "XAgentBusinessNo": "B1"})
    assert alarms_of(core.on_voucher(parse_voucher(own), 1, _t(MARCH, "14:01"))) == []  # its first receipt
    assert core.receipts[doc.get("VoucherNo")].paid_fen == doc.amount_fen("PayAmt")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notices=st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"])),
                        min_size=1, max_size=6))
def test_the_treasury_restores_only_its_own_division_s_and_year_s_payment(notices: list[tuple[str, str]]) -> None:
    """Oracle: the treasury (division HOME) paid one 2026 voucher; refund notices naming its number
    under either division and either year's OriVouDate restore its quota exactly as the notices of
    HOME and 2026 alone would (the first; the payment comes back once), the others nothing."""
    core, paid, _ = paid_core()
    fen = parse_voucher(paid.render()).amount_fen("PayAmt")
    own = 0
    for i, (adm, year) in enumerate(notices):
        doc = _notice_for(paid, f"TK{i:04d}", adm=adm, ori_vou_date=f"{year}0316")
        alarms = alarms_of(core.on_voucher(doc, 0, _t(MARCH, "14:00") + dt.timedelta(minutes=i)))
        if (adm, year) == (HOME, "2026"):
            assert alarms == ([] if own == 0 else ["refund-exceeds-payment"])
            own += 1
        else:
            assert alarms == ["refund-unmatched"], (adm, year)
    assert core.bank_inbox.restored_fen == (fen if own else 0)


# --- each division's refunds against its own statement ---------------------------------------------

def _refund(adm: str, year: str, no: str, fen: int, seq: int) -> VoucherDoc:
    unit = UNITS[adm]
    payee = {"VouDate": f"{year}0310", "AgencyCode": unit[0], "AgencyName": unit[1],
             "PayeeAcctNo": "99990000000001234", "PayeeAcctName": "测试供应商有限公司",
             "PayeeAcctBankName": "示例银行城东支行", "PayAcctNo": "99901000000000018",
             "PayAcctName": "示例市财政局零余额账户"}
    details = [{"AgencyCode": unit[0], "ExpFuncCode": "2050203", "ExpFuncName": "初中教育", "ExpEcoCode": "30213",
                "ExpEcoName": "维修（护）费", "PayAmt": fen_to_str(fen)}]
    vtcode, head, lines = refund_notice(no=f"TP{seq:04d}", today=dt.date(2026, 3, 20), adm_div_code=adm,
                                        bank_code=BANK[0], bank_name=BANK[1], vtcode="5201", ori_no=no,
                                        paid_day=dt.date(2026, 3, 11), fund_type=("1", "一般公共预算资金"), payee=payee,
                                        details=details, reason="account-closed", serial=f"YH{seq}", amount_fen=fen)
    return parse_voucher(SendVoucher(vtcode, 0, head, lines, "treasury").render())


def _statement(adm: str, fen: int) -> VoucherDoc:
    line: rp.Line = ("11", "1", "一般公共预算资金", "101", "示例市教育局", UNITS[adm][0], UNITS[adm][1], "2050203",
                     "初中教育", "", "")
    head, details = rp.monthly_statement(f"DZ{adm}202603", "202603", dt.date(2026, 4, 1), adm, BANK, {line: fen})
    return parse_voucher(SendVoucher("3501", 0, head, details, "treasury").render())


def _sign_off(core: _NullCore, adm: str, fen: int) -> str:
    [signed] = core.on_voucher(_statement(adm, fen), 0, _t(dt.date(2026, 4, 1), "09:30"))
    assert isinstance(signed, SendVoucher)
    return signed.head["XCheckResult"]


def test_a_division_s_statement_is_net_of_its_own_refunds_only() -> None:
    core = _NullCore()
    for adm in (HOME, OTHER):
        core.on_voucher(paid_receipt(adm, "ZZ1", 500_00, paid_on="20260311"), 1, _t(dt.date(2026, 3, 11), "10:00"))
    core.on_voucher(_refund(OTHER, "2026", "ZZ1", 500_00, 1), 0, _t(dt.date(2026, 3, 20), "10:00"))
    assert _sign_off(core, HOME, 500_00) == "0"  # before: 1 (OTHER's refund taken off HOME's statement)
    assert _sign_off(core, OTHER, 0) == "0"
    assert core.inbox.quota_restored == {f"{UNITS[OTHER][0]}/2026": 500_00}


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["ZZ1", "ZZ2"]), st.integers(1, 900_00), st.booleans()),
                     min_size=1, max_size=8, unique_by=lambda p: p[:3])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments=_PAYMENTS)
def test_each_refund_s_effect_is_its_own_division_s_and_year_s(
        payments: list[tuple[str, str, str, int, bool]]) -> None:
    """Oracle from the agreement (003 §36; 004 part 3 §10(3): each treasury signs off its own
    statement, net of refunds, 004 part 5 §2): paid in March 2026, some refunded whole on 20 March,
    numbers colliding across divisions and budget years. Each division's statement of what its
    receipts paid less its own refunds is agreed, and the quota restored (a 2026 payment's) or booked
    cross-year (a 2025 one's) for its unit is what it would be were that division's vouchers alone."""
    def run(only: str | None) -> tuple[_NullCore, dict[str, int]]:
        core, net = _NullCore(), {HOME: 0, OTHER: 0}
        for i, (adm, year, no, fen, refunded) in enumerate(payments):
            if only in (None, adm):
                core.on_voucher(paid_receipt(adm, no, fen, year=year, paid_on="20260311"), 1, _t(dt.date(2026, 3, 11), "10:00"))
                net[adm] += fen
                if refunded:
                    core.on_voucher(_refund(adm, year, no, fen, i), 0, _t(dt.date(2026, 3, 20), "10:00"))
                    net[adm] -= fen
        return core, net

    together, net = run(None)
    for adm in {p[0] for p in payments}:
        assert _sign_off(together, adm, net[adm]) == "0", adm
        alone, _ = run(adm)
        unit = UNITS[adm][0]
        for book in ("quota_restored", "cross_year_refunds"):
            mine = {k: v for k, v in getattr(together.inbox, book).items() if k.startswith(f"{unit}/")}
            assert mine == getattr(alone.inbox, book), (adm, book)
        expected = {f"{unit}/{year}": 0 for a, year, _, _, r in payments if a == adm and r}
        for a, year, _, fen, r in payments:
            if a == adm and r:
                expected[f"{unit}/{year}"] += fen
        assert {**together.inbox.quota_restored, **together.inbox.cross_year_refunds}.keys() >= expected.keys()
        assert {k: v for k, v in {**together.inbox.quota_restored, **together.inbox.cross_year_refunds}.items()
                if k.startswith(f"{unit}/")} == expected


# --- the snapshot: version 5's refunds and unit lines are the configured division's ---------------------------------

def _version_5() -> tuple[TreasuryCore, bytes]:
    """A treasury that was noticed a refund, and its snapshot as version 5 wrote it (no division)."""
    core, paid, _ = paid_core()
    assert alarms_of(core.on_voucher(_notice_for(paid, "TK0001", adm=HOME), 0, _t(MARCH, "14:00"))) == []
    state = json.loads(core.snapshot())
    assert state["version"] == SNAPSHOT_VERSION
    [key] = state["bank_inbox"]["refunded"]
    assert key == f"{bank_of(paid)}/20260316/{HOME}"
    state["bank_inbox"]["refunded"] = {key.rsplit("/", 1)[0]: v for key, v in state["bank_inbox"]["refunded"].items()}
    state["bank_inbox"]["by_unit"] = {f"{BANK[0]}/20260301/101001": 500}  # a 3501's unit line, not 7104'd yet
    state["refunded"] = {k.split("/", 3)[-1]: v for k, v in state["refunded"].items()}  # by VoucherNo then
    state["version"] = 5
    return core, json.dumps(state).encode()


def test_a_version_5_snapshot_s_refunds_load_as_the_configured_division_s() -> None:
    core, old = _version_5()
    again = TreasuryCore.restore(old, CONFIG, CALENDAR, CC)
    assert again.bank_inbox.refunded == core.bank_inbox.refunded
    assert again.bank_inbox.by_unit == {f"{BANK[0]}/20260301/101001/{HOME}": 500}
    assert json.loads(again.snapshot())["version"] == SNAPSHOT_VERSION


async def test_a_version_5_snapshot_in_the_sim_database_loads_as_version_6(db: Database) -> None:
    """The same through the simulator's store, on both backends (SQLite and PostgreSQL)."""
    core, old = _version_5()
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(old)
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    again = TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC)
    assert again.bank_inbox.refunded == core.bank_inbox.refunded
    assert again.bank_inbox.by_unit == {f"{BANK[0]}/20260301/101001/{HOME}": 500}
    assert json.loads(again.snapshot())["version"] == SNAPSHOT_VERSION


# --- a unit's statement (7104) against its own division's 3501 ---------------------------------------

def _unit_line(fen: int) -> tuple[rp.Line, int]:
    return ("11", "1", "一般公共预算资金", "101", "示例市教育局", "101001", "示例市第一中学", "2050203", "初中教育",
            "", ""), fen


@settings(max_examples=40, deadline=None)
@given(amounts=st.fixed_dictionaries({HOME: st.integers(1, 10**8), OTHER: st.integers(1, 10**8)}),
       order=st.permutations([HOME, OTHER]), skew=st.sampled_from([None, HOME, OTHER]))
def test_each_division_s_unit_statement_is_signed_off_against_its_own_3501(
        amounts: dict[str, int], order: list[str], skew: str | None) -> None:
    """Oracle from the agreement (004 part 3 §10(3): each unit signs off its own statement against
    the bank's statement to its treasury): two divisions' units of one AgencyCode; each division's
    7104 agrees exactly when it states that division's 3501 line of the unit (one 7104 is skewed by
    0.01 when `skew` names it), whichever division's statements come first."""
    inbox = BankInbox()
    for adm in order:
        line, fen = _unit_line(amounts[adm])
        head, details = rp.monthly_statement(f"DZ{adm}", "202603", dt.date(2026, 4, 1), adm, BANK, {line: fen})
        inbox.on_voucher(parse_voucher(build_voucher("3501", head, details)), _t(dt.date(2026, 4, 1), "09:00"),
                         lambda *_, fen=fen: fen, lambda _: ("", ""))
    for adm in order:
        line, fen = _unit_line(amounts[adm] + (1 if skew == adm else 0))
        [(head, details)] = rp.unit_statements(f"DW{adm}", "202603", dt.date(2026, 4, 1), adm, BANK, {line: fen})
        [signed] = inbox.on_voucher(parse_voucher(build_voucher("7104", head, details)),
                                    _t(dt.date(2026, 4, 1), "09:30"), lambda *_: 0, lambda _: ("", ""))
        assert isinstance(signed, SendVoucher)
        assert signed.head["XCheckResult"] == ("1" if skew == adm else "0"), (adm, amounts, skew)
