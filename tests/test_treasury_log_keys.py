"""The treasury core's remaining logs by a voucher key it keeps (`treasury_sim.records.voucher_id`:
AdmDivCode, StYear, VtCode, VoucherNo), as everything else does: the vouchers the gateway refused
(`refused`), the year-end notices (7301 / 7302, `quotas.notices`) and the bank's confirmations of them,
the refund advices (7403, `refunds_advised`) and the payments' refunded totals (`refunded`). Each
division's treasury (and the central bank) numbers its vouchers afresh each year: two years',
divisions' or types' vouchers of one number are two records, and a receipt, a refusal or a later
advice is of the one of its own key. Treasury snapshot version 9; a version 8 snapshot (keyed by
VoucherNo alone) loads as the configured division's, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import TZ
from messages.voucher import fill_receipt, parse_voucher
from sim.effects import Refusal, SendVoucher
from sim.store import SimStore
from storage.db import Database
from tests.test_treasury_refund_cap import (
    CALENDAR,
    CC,
    CONFIG,
    at,
    bank_of,
    morning_payments,
    notice,
    paid_core,
)
from tests.test_treasury_year_end import confirmation, new_core, run_until, sends, t
from treasury_sim.core import TreasuryCore
from treasury_sim.records import voucher_id
from treasury_sim.state import SNAPSHOT_VERSION
from treasury_sim.tsa import TsaBook
from treasury_sim.year_end import QuotaLedger, YearEndNotice

HOME, OTHER = "990100", "990200"


def _key(send: SendVoucher) -> str:
    h = send.head
    return voucher_id(h["AdmDivCode"], h["StYear"], send.vtcode, h["VoucherNo"])


def _as(send: SendVoucher, **head: str) -> SendVoucher:
    """`send` as another voucher of its number: another division's, year's or VtCode's."""
    doc = parse_voucher(send.render())
    other = SendVoucher(send.vtcode, send.flag, {**doc.head(), **head}, tuple(doc.details()), "bank")
    return msgspec.structs.replace(other, data=other.render())


# --- year-end notices (7301 / 7302) ------------------------------------------------------------------

def _year_end() -> tuple[TreasuryCore, list[SendVoucher]]:
    core = new_core()
    effects = run_until(core, t("2025-12-31", "17:31"))
    return core, [s for _, s in sends(effects, "7301") + sends(effects, "7302")]


def test_a_receipt_of_another_year_s_division_s_or_type_s_voucher_of_a_year_end_notice_s_number_confirms_nothing() -> None:
    """Keyed by VoucherNo alone, the bank's receipt of a 2026 voucher (or another division's, or a
    7302) numbered as 2025's 7301 confirmed that 7301."""
    core, notices = _year_end()
    cancel = next(s for s in notices if s.vtcode == "7301")
    carry = next(s for s in notices if s.vtcode == "7302")
    for other in (_as(cancel, StYear="2026"), _as(cancel, AdmDivCode=OTHER), _as(carry, VoucherNo=cancel.head["VoucherNo"])):
        assert other.vtcode != cancel.vtcode or other.head != cancel.head
        doc, flag = confirmation(other, "20251231")
        core.on_voucher(doc, flag, t("2025-12-31", "17:40"))  # type: ignore[arg-type]
    assert [n for n in core.quotas.notices.values() if n.confirmed_at is not None] == []
    doc, flag = confirmation(cancel, "20251231")
    core.on_voucher(doc, flag, t("2025-12-31", "17:41"))  # type: ignore[arg-type]
    assert [(n.vtcode, n.voucher_no, n.year) for n in core.quotas.notices.values() if n.confirmed_at is not None] == [
        (cancel.vtcode, cancel.head["VoucherNo"], "2025")]
    assert set(core.quotas.notices) == {_key(s) for s in notices} and f"{HOME}/2025/7301/" in _key(cancel)


def test_a_refusal_of_another_year_s_voucher_of_a_year_end_notice_s_number_is_not_its() -> None:
    core, notices = _year_end()
    cancel = next(s for s in notices if s.vtcode == "7301")
    core.on_refused(Refusal("gateway", "bad-signature", "x", (_as(cancel, StYear="2026"),)), t("2025-12-31", "17:32"))
    assert [n.refused for n in core.quotas.notices.values()] == [None] * len(notices)
    core.on_refused(Refusal("gateway", "bad-signature", "x", (cancel,)), t("2025-12-31", "17:33"))
    assert {k: n.refused for k, n in core.quotas.notices.items() if n.refused} == {_key(cancel): "bad-signature"}


def _notice(adm: str, year: str, vtcode: str, no: str) -> YearEndNotice:
    sent = dt.datetime(int(year), 12, 31, 17, 30, tzinfo=TZ)
    return YearEndNotice(vtcode, no, "999100000001", "1", year, 100, sent, sent + dt.timedelta(days=2),
                         adm_div_code=adm, st_year=year)


def test_two_years_year_end_notices_of_one_number_are_two_records() -> None:
    ledger = QuotaLedger()
    for n in (_notice(HOME, "2025", "7301", "ZX1"), _notice(HOME, "2026", "7301", "ZX1")):
        ledger.notices[n.key] = n
    assert ledger.confirmed(voucher_id(HOME, "2026", "7301", "ZX1"), dt.datetime(2027, 1, 4, tzinfo=TZ))
    assert not ledger.confirmed(voucher_id(HOME, "2026", "7302", "ZX1"), dt.datetime(2027, 1, 4, tzinfo=TZ))
    assert [n.confirmed_at is not None for n in ledger.notices.values()] == [False, True]


_KEYS = st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]), st.sampled_from(["7301", "7302"]),
                  st.sampled_from(["ZX1", "ZX2"]))


@settings(max_examples=80, deadline=None)
@given(notices=st.lists(_KEYS, min_size=1, max_size=8, unique=True),
       inputs=st.lists(st.tuples(st.sampled_from(["confirmed", "refused"]), _KEYS, st.integers(0, 5)), max_size=12))
def test_each_year_end_notice_is_confirmed_or_refused_as_if_it_were_alone(
        notices: list[tuple[str, str, str, str]], inputs: list[tuple[str, tuple[str, str, str, str], int]]) -> None:
    """Oracle "each voucher alone" (004 part 5 §6: the bank confirms each notice; a voucher is its key):
    each notice in a ledger of all of them, given every receipt and refusal, is the notice in a ledger
    holding it alone given the same; and the overdue ones are those overdue alone."""
    both, alone = QuotaLedger(), {}
    for adm, year, vtcode, no in notices:
        n, key = _notice(adm, year, vtcode, no), f"{adm}/{year}/{vtcode}/{no}"
        both.notices[n.key] = msgspec.structs.replace(n)
        alone[key] = QuotaLedger(notices={n.key: msgspec.structs.replace(n)})
    for what, key, day in inputs:
        for ledger in (both, *alone.values()):
            if what == "confirmed":
                ledger.confirmed(voucher_id(*key), dt.datetime(int(key[1]) + 1, 1, 1 + day, tzinfo=TZ))
            else:
                ledger.refused(voucher_id(*key), "bad-signature")
    now = dt.datetime(2027, 1, 3, tzinfo=TZ)
    assert sorted(n.key for n in both.overdue(now)) == sorted(n.key for a in alone.values() for n in a.overdue(now))
    assert set(both.notices) == set(alone)
    assert both.notices == {k: n for a in alone.values() for k, n in a.notices.items()}


# --- refusals -----------------------------------------------------------------------------------------

def test_a_refusal_of_another_year_s_or_division_s_voucher_of_a_planned_number_marks_nothing() -> None:
    """Keyed by VoucherNo alone, the gateway's refusal of a 2027 voucher (or 990200's) numbered as a
    planned 2026 payment marked that payment refused: never paid, never debited."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    first = morning_payments(core)[0]
    for other in (_as(first, StYear="2027"), _as(first, AdmDivCode=OTHER)):
        assert core.on_refused(Refusal("gateway", "bad-signature", "x", (other,)), at("12:00")) == []
    assert core.vouchers[first.head["VoucherNo"]].refused is None and core.tsa.refused_fen == 0
    assert core.state.refused == {}
    core.on_refused(Refusal("gateway", "bad-signature", "x", (first,)), at("12:01"))
    assert core.vouchers[first.head["VoucherNo"]].refused == "bad-signature"
    assert core.state.refused == {f"{HOME}/2026/{first.vtcode}/{first.head['VoucherNo']}": "bad-signature"}


# --- refund advices (7403) ----------------------------------------------------------------------------

def _advice(year: str, no: str, credit: str, fen: int, adm: str = HOME) -> Any:
    head = {"Id": f"V7403{no}", "AdmDivCode": adm, "StYear": year, "VouDate": credit, "VoucherNo": no,
            "OriVtCode": "2302", "OriVoucherNo": "TH0001", "OriVouDate": credit, "CreditDate": credit,
            "PayBankCode": "999100000001", "PayBankName": "示例银行", "ClearBankCode": "011100000003",
            "ClearBankName": "人民银行", "PayTypeCode": "11", "FundTypeCode": "1", "FundTypeName": "一般公共预算资金",
            "AcctNo": "270000000001", "AcctName": "国库单一账户", "PbocSerialNo": no, "PayAmt": f"{fen // 100}.{fen % 100:02d}"}
    return parse_voucher(SendVoucher("7403", 0, head, (), "treasury").render())


def test_two_years_refund_advices_of_one_number_are_two_credits() -> None:
    """Keyed by VoucherNo alone, 2026's advice RH1 replaced 2025's (the TSA expected only 2026's credit)."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    core.on_voucher(_advice("2025", "RH1", "20251231", 300), 0, at("09:00"))
    core.on_voucher(_advice("2026", "RH1", "20260316", 500), 0, at("09:01"))
    core.on_voucher(_advice("2026", "RH1", "20260316", 700), 0, at("09:02"))  # 2026's again: it replaces 2026's
    assert core.tsa.credit_by_day == {dt.date(2025, 12, 31): 300, dt.date(2026, 3, 16): 700}
    assert core.refunds_advised == {f"{HOME}/2025/7403/RH1": (dt.date(2025, 12, 31), 300),
                                    f"{HOME}/2026/7403/RH1": (dt.date(2026, 3, 16), 700)}


@settings(max_examples=60, deadline=None)
@given(advices=st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                                  st.sampled_from(["RH1", "RH2"]), st.integers(0, 3), st.integers(1, 10**6)),
                        max_size=10))
def test_each_refund_advice_is_credited_as_if_it_were_alone(advices: list[tuple[str, str, str, int, int]]) -> None:
    """Oracle "each voucher alone" (a later advice of one key replaces its earlier one, never another
    key's): the TSA's expected credits of all the advices are the sum of each key's alone."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    alone: dict[str, TsaBook] = {}
    last: dict[str, tuple[dt.date, int]] = {}
    for i, (adm, year, no, day, fen) in enumerate(advices):
        credit = dt.date(int(year), 3, 16 + day)
        core.on_voucher(_advice(year, no, f"{credit:%Y%m%d}", fen, adm), 0, at("09:00") + dt.timedelta(seconds=i))
        key = voucher_id(adm, year, "7403", no)
        alone.setdefault(key, TsaBook()).advised(last.get(key), (credit, fen))
        last[key] = (credit, fen)
    expected: dict[dt.date, int] = {}
    for book in alone.values():
        for day, fen in book.credit_by_day.items():
            expected[day] = expected.get(day, 0) + fen
    assert {d: f for d, f in core.tsa.credit_by_day.items() if f} == {d: f for d, f in expected.items() if f}
    assert core.refunds_advised == last


# --- refunded totals ----------------------------------------------------------------------------------

def test_a_payment_s_refunded_total_is_kept_under_its_whole_key() -> None:
    core, paid, _ = paid_core()
    core.on_voucher(parse_voucher(notice("TK0001", paid, 1, bank_of(paid))), 0, at("14:00"))
    assert core.state.refunded == {f"{HOME}/2026/{paid.vtcode}/{paid.head['VoucherNo']}": 1}


# --- version 8 snapshots: keyed by VoucherNo alone ----------------------------------------------------

def _core_with_logs() -> TreasuryCore:
    """A treasury (990100) with a payment refunded in part, a payment refused, a refund advice of 2025
    and one of 2026, and a year-end notice of 2025 confirmed and one not."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    paid, _, refused = morning_payments(core)
    doc = parse_voucher(paid.render())
    receipt = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": doc.get("PayAmt"), "XAgentBusinessNo": "B1"})
    assert core.on_voucher(parse_voucher(receipt), 1, at("12:01")) == []
    core.on_voucher(parse_voucher(notice("TK0001", paid, 1, bank_of(paid))), 0, at("14:00"))
    core.on_refused(Refusal("gateway", "bad-signature", "x", (refused,)), at("14:01"))
    core.on_voucher(_advice("2025", "RH1", "20251231", 300), 0, at("14:02"))
    core.on_voucher(_advice("2026", "RH2", "20260316", 500), 0, at("14:03"))
    for vtcode, no in (("7301", "ZX1"), ("7302", "JZ1")):
        n = _notice(HOME, "2025", vtcode, no)
        core.state.quotas.notices[n.key] = n
    core.state.quotas.confirmed(voucher_id(HOME, "2025", "7301", "ZX1"), dt.datetime(2025, 12, 31, 17, 40, tzinfo=TZ))
    assert core.state.refused and core.state.refunded
    return core


def _as_version_8(snapshot: bytes) -> bytes:
    """The snapshot as version 8 wrote it: these logs by VoucherNo alone, the notices with no division or year."""
    state: dict[str, Any] = json.loads(snapshot)
    assert state["version"] == SNAPSHOT_VERSION == 12
    assert not state["bank_inbox"]["sign_offs"]  # none signed off here: keyed alike in version 8

    def no(key: str) -> str:
        return key.split("/", 3)[-1]

    for log in ("refused", "refunded", "refunds_advised"):
        state[log] = {no(k): v for k, v in state[log].items()}
    state["quotas"]["notices"] = {n["voucher_no"]: {k: v for k, v in n.items() if k not in ("adm_div_code", "st_year")}
                                  for n in state["quotas"]["notices"].values()}
    state["version"] = 8
    return json.dumps(state).encode()


def _check_loaded(loaded: TreasuryCore, core: TreasuryCore) -> None:
    assert loaded.state.refused == core.state.refused
    assert loaded.state.refunded == core.state.refunded
    assert loaded.state.refunds_advised == core.state.refunds_advised
    assert loaded.state.quotas.notices == core.state.quotas.notices
    assert loaded.tsa.credit_by_day == core.tsa.credit_by_day and loaded.tsa.refused_fen == core.tsa.refused_fen
    assert [v.voucher_no for v in loaded.iter_sent() if v.refused] == [v.voucher_no for v in core.iter_sent() if v.refused]
    assert json.loads(loaded.snapshot())["version"] == SNAPSHOT_VERSION


def test_a_version_8_snapshot_s_logs_load_keyed_by_the_whole_key() -> None:
    core = _core_with_logs()
    old = _as_version_8(core.snapshot())
    assert '"RH1":' in old.decode() and '"ZX1":' in old.decode()
    _check_loaded(TreasuryCore.restore(old, CONFIG, CALENDAR, CC), core)
    # from here a receipt or advice of the whole key is the record's: 2026's RH1 is a second credit
    loaded = TreasuryCore.restore(old, CONFIG, CALENDAR, CC)
    loaded.on_voucher(_advice("2026", "RH1", "20260317", 200), 0, at("15:00"))
    assert loaded.tsa.credit_by_day[dt.date(2025, 12, 31)] == 300


async def test_a_version_8_snapshot_in_the_sim_database_loads_as_this_version(db: Database) -> None:
    """The same through the simulator's store, on both backends (SQLite and PostgreSQL); written back
    as this version, it loads again."""
    core = _core_with_logs()
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(_as_version_8(core.snapshot()))
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    after = TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC)
    _check_loaded(after, core)
    again = SimStore(db, "treasury-9")
    await again.open()
    await again.create(after.snapshot())
    reloaded = await SimStore(db, "treasury-9").load()
    assert reloaded is not None and json.loads(reloaded.snapshot)["version"] == SNAPSHOT_VERSION
    _check_loaded(TreasuryCore.restore(reloaded.snapshot, CONFIG, CALENDAR, CC), core)
