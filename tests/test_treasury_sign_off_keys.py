"""The treasury's sign-offs of the banks' statements (3501, 7104, 7203; `BankInbox.sign_offs`) are
kept by the statement's voucher key (AdmDivCode, StYear, VtCode, VoucherNo). A bank serving two
divisions numbers each division's monthly statement alike (`DZ<bank4><yyyymm>`, bank_sim and the
example bank): keyed by VoucherNo alone (treasury snapshot version 9 and before), the second
division's sign-off replaced the first's, so one division's statement had no sign-off on record and
the other's record could be the other division's verdict. Treasury snapshot version 10; a version 9
snapshot's sign-offs load under the key of the statement of that number received last (the one
whose verdict was kept), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import reports as rp
from business_time.clock import at
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import SendVoucher
from sim.store import SimStore
from storage.db import Database
from tests.test_treasury_refund_cap import CALENDAR, CC, CONFIG
from treasury_sim.bank_reports import BankInbox
from treasury_sim.core import TreasuryCore
from treasury_sim.records import voucher_id
from treasury_sim.state import SNAPSHOT_VERSION

BANK = ("999100000001", "示例银行甲分行")
HOME, OTHER = "990100", "990200"
LINE: rp.Line = ("11", "1", "一般公共预算资金", "101", "示例市教育局", "101001", "示例市第一中学", "2050203", "初中教育",
                 "99010026A0000", "示例通用项目")
NO = "DZ0001202603"


def _statement(adm: str, fen: int, year: int = 2026, no: str = NO) -> VoucherDoc:
    """A bank's 3501 of March `year` to division `adm`, stating `fen` (the treasury's books: 1000.00)."""
    head, details = rp.monthly_statement(no, f"{year}03", dt.date(year, 4, 1), adm, BANK, {LINE: fen})
    return parse_voucher(SendVoucher("3501", 0, head, details, "treasury").render())


def _sign(inbox: BankInbox, doc: VoucherDoc, minute: int = 0) -> None:
    now = at(dt.date(int(doc.get("StYear")), 4, 1), dt.time(9, 30)) + dt.timedelta(minutes=minute)
    inbox.on_voucher(doc, now, lambda bank, begin, end: 1000_00, lambda _: ("", ""))


def test_two_divisions_statements_of_one_number_each_keep_their_own_sign_off() -> None:
    """HOME's statement agrees, OTHER's (same VoucherNo) states 0.01 too much: both verdicts are on
    record, each under its own key. Before: one entry, "DZ0001202603", OTHER's verdict alone."""
    inbox = BankInbox()
    _sign(inbox, _statement(HOME, 1000_00))
    _sign(inbox, _statement(OTHER, 1000_01), 1)
    assert inbox.sign_offs == {voucher_id(HOME, "2026", "3501", NO): "0",
                               voucher_id(OTHER, "2026", "3501", NO): "1: statement 1000.01, receipts less refunds 1000.00"}


_STATEMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from([2025, 2026]),
                                 st.sampled_from(["DZ1", "DZ2"]), st.sampled_from([1000_00, 1000_01])),
                       min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(statements=_STATEMENTS)
def test_each_statement_s_sign_off_is_what_it_alone_would_get(statements: list[tuple[str, int, str, int]]) -> None:
    """Oracle: the sign-off on record for each statement key is the one an inbox sent only the
    statements of that key gets (the first of a key: a redelivery with other bytes is not signed again),
    though numbers collide across divisions and years."""
    together = BankInbox()
    for i, (adm, year, no, fen) in enumerate(statements):
        _sign(together, _statement(adm, fen, year, no), i)
    expected: dict[str, str] = {}
    for adm, year, no, _ in statements:
        alone = BankInbox()
        for i, (a, y, n, fen) in enumerate(statements):
            if (a, y, n) == (adm, year, no):
                _sign(alone, _statement(a, fen, y, n), i)
        expected.update(alone.sign_offs)
    assert together.sign_offs == expected


# --- version 9 snapshots: sign-offs by VoucherNo alone --------------------------------------------------

def _core_with_sign_offs() -> TreasuryCore:
    """A treasury (990100, serving 990200's statements too) that signed off HOME's March statement,
    then OTHER's of the same number (not agreed), and HOME's unit statement (7104) of another number."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    now = at(dt.date(2026, 4, 1), dt.time(9, 30))
    for i, doc in enumerate((_statement(HOME, 0), _statement(OTHER, 1_00))):
        core.on_voucher(doc, 0, now + dt.timedelta(minutes=i))
    for head, details in rp.unit_statements("DW0001202603", "202603", dt.date(2026, 4, 1), HOME, BANK, {LINE: 0}):
        core.on_voucher(parse_voucher(SendVoucher("7104", 0, head, details, "treasury").render()), 0,
                        now + dt.timedelta(minutes=5))
    assert len(core.state.bank_inbox.sign_offs) == 3
    return core


def _as_version_9(snapshot: bytes) -> bytes:
    """The snapshot as version 9 wrote it: the sign-offs by VoucherNo alone, the last one of a number kept."""
    state: dict[str, Any] = json.loads(snapshot)
    assert state["version"] == SNAPSHOT_VERSION == 12
    inbox = state["bank_inbox"]
    arrived = inbox["received"]
    old: dict[str, str] = {}
    for key, result in sorted(inbox["sign_offs"].items(), key=lambda kv: arrived[f"{kv[0]}/0"]):
        old[key.split("/", 3)[-1]] = result  # in arrival order: the last of a number replaced the first
    inbox["sign_offs"] = old
    state["version"] = 9
    return json.dumps(state).encode()


def _check_loaded(loaded: TreasuryCore) -> None:
    # HOME's 3501 verdict was lost in version 9 (OTHER's replaced it); what was kept is OTHER's, under its key
    assert loaded.state.bank_inbox.sign_offs == {
        voucher_id(OTHER, "2026", "3501", NO): "1: statement 1.00, receipts less refunds 0.00",
        voucher_id(HOME, "2026", "7104", "DW0001202603101001"): "0"}
    assert json.loads(loaded.snapshot())["version"] == SNAPSHOT_VERSION


def test_a_version_9_snapshot_s_sign_offs_load_keyed_by_the_statement_received_last() -> None:
    core = _core_with_sign_offs()
    old = _as_version_9(core.snapshot())
    assert f'"{NO}":' in old.decode()
    _check_loaded(TreasuryCore.restore(old, CONFIG, CALENDAR, CC))


def test_a_sign_off_whose_statement_is_no_longer_kept_loads_as_the_configured_division_s() -> None:
    inbox = BankInbox(sign_offs={"DZ9": "0"})
    inbox.keyed_sign_offs(HOME)
    assert inbox.sign_offs == {f"{HOME}///DZ9": "0"}


async def test_a_version_9_snapshot_in_the_sim_database_loads_as_this_version(db: Database) -> None:
    """The same through the simulator's store, on both backends (SQLite and PostgreSQL); written back
    as this version, it loads again."""
    core = _core_with_sign_offs()
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(_as_version_9(core.snapshot()))
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    after = TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC)
    _check_loaded(after)
    again = SimStore(db, "treasury-10")
    await again.open()
    await again.create(after.snapshot())
    reloaded = await SimStore(db, "treasury-10").load()
    assert reloaded is not None and json.loads(reloaded.snapshot)["version"] == SNAPSHOT_VERSION
    _check_loaded(TreasuryCore.restore(reloaded.snapshot, CONFIG, CALENDAR, CC))
