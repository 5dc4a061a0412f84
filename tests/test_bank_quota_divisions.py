"""A bank's authorized quota lines belong to one division and one budget year (004 part 3 §9(2),
(4): the quota is the unit's, granted by its own treasury's notice, 7101; a voucher is its key,
AdmDivCode, StYear, VtCode and VoucherNo). Two divisions' units may share an AgencyCode, subject
and project, and each treasury numbers its own notices afresh each year: a unit's 8202 draws only
on its own division's lines, and a 7101 is a redelivery only if division, year and number agree.
Before, the lines had no division (one division's quota paid the other's voucher) and a 7101 of
another year with a number seen was taken for a redelivery (confirmed, its quota not granted)."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.core import BankCore
from messages.factory import (
    DEFAULT_PROJECT,
    SUBJECTS,
    UNITS,
    authorized_quota_notice,
    payment_voucher,
    year_end_notice,
)
from messages.voucher import build_voucher, parse_voucher
from runner.scorecard_feed import bank_events
from sim.effects import SendVoucher
from sim.store import SimStore
from storage.db import Database
from tests.test_bank_duties import BANK, CAL, DAY, World, t
from tests.two_divisions import HOME, OTHER, bank_world

UNIT, SUBJECT = UNITS[0], SUBJECTS[0]
YEARS = ("2025", "2026")


def _in_year(data: bytes, year: str) -> bytes:
    """The voucher as of budget year `year` (its StYear; an earlier year's dated on its last day)."""
    doc = parse_voucher(data)
    dated = {} if year == str(DAY.year) else {"VouDate": f"{year}1231"}
    return build_voucher(doc.vtcode, {**doc.head(), "StYear": year, **dated}, doc.details())


def _grant(w: World, adm: str, year: str, fen: int, no: str = "SQ7101SAME", at: str = "09:00") -> list[str]:
    """A 7101 of division `adm` and year `year` granting `fen` to UNIT's line: the alarms it raised."""
    data = authorized_quota_notice(voucher_no=no, vou_date=DAY, pay_bank_code=BANK, adm_div_code=adm,
                                   lines=[(UNIT[2], UNIT[3], *SUBJECT, *DEFAULT_PROJECT, fen)])
    before = len(w.alarms)
    w.apply(w.bank.on_voucher(parse_voucher(_in_year(data, year)), 0, t(DAY, at)), t(DAY, at))
    return [a.code for a in w.alarms[before:]]


def _pay(w: World, adm: str, year: str, no: str, fen: int, at: dt.datetime) -> str | None:
    """An 8202 of UNIT: None if paid, else the return reason."""
    data = payment_voucher(voucher_no=no, vou_date=at.date(), pay_bank_code=BANK, amount_fen=fen, adm_div_code=adm,
                           vtcode="8202", unit=UNIT, subject=SUBJECT, project=DEFAULT_PROJECT, details=1)
    effects = w.bank.on_voucher(parse_voucher(_in_year(data, year)), 0, at)
    w.apply(effects, at)
    reasons = [e.return_reason for e in effects if isinstance(e, SendVoucher) and e.return_reason]
    return reasons[0] if reasons else None


def test_another_division_s_unit_of_the_same_code_does_not_draw_on_this_division_s_quota() -> None:
    w = bank_world()
    assert _grant(w, HOME, "2026", 500_00) == []
    assert _pay(w, HOME, "2026", "ZZQ0001", 300_00, t(DAY, "10:00")) is None
    refused = _pay(w, OTHER, "2026", "ZZQ0001", 100_00, t(DAY, "10:01"))
    assert refused is not None and "no-unit-quota" in refused
    assert _grant(w, OTHER, "2026", 100_00) == []
    assert _pay(w, OTHER, "2026", "ZZQ0002", 100_00, t(DAY, "10:02")) is None
    over = _pay(w, OTHER, "2026", "ZZQ0003", 1, t(DAY, "10:03"))  # its 100.00 spent; HOME's 200.00 not its own
    assert over is not None and "over-unit-quota" in over


def test_a_7101_of_another_year_with_a_number_seen_is_granted_not_taken_for_a_redelivery() -> None:
    w = bank_world()
    assert _grant(w, HOME, "2025", 100_00) == [] and _grant(w, HOME, "2026", 200_00, at="09:01") == []
    assert _grant(w, HOME, "2026", 200_00, at="09:02") == []  # a redelivery: confirmed, counted once
    book = w.bank.quota_book
    assert sorted((k[1], line.granted_fen) for k, line in book.items()) == [("2025", 100_00), ("2026", 200_00)]
    arrivals = {e.ref: e.done for e in bank_events("bank-a", w.bank, CAL, w.bank.clock_config)
                if e.kind == "quota-arrival-notice"}
    assert set(arrivals) == {"SQ7101SAME", "SQ7101SAME@2025"} and None not in arrivals.values()


def test_a_year_end_notice_of_another_division_with_a_number_seen_is_applied_to_its_own_lines() -> None:
    """Each division's treasury cancels (7301) its own units' quota; before, the second division's
    7301 of a number seen was taken for a redelivery: confirmed, nothing cancelled."""
    w = bank_world()
    for adm in (HOME, OTHER):
        assert _grant(w, adm, "2026", 500_00) == []
    for adm, fen in ((HOME, 200_00), (OTHER, 100_00)):
        data = year_end_notice(vtcode="7301", voucher_no="ZXSAME", vou_date=DAY, pay_bank_code=BANK,
                               pay_bank_name="示例银行示例市分行", adm_div_code=adm,
                               lines=[(UNIT[2], UNIT[3], *SUBJECT, *DEFAULT_PROJECT, fen)])
        w.apply(w.bank.on_voucher(parse_voucher(data), 0, t(DAY, "15:00")), t(DAY, "15:00"))
    assert not w.alarms, w.alarms
    assert {k[0]: line.remaining_fen for k, line in w.bank.quota_book.items()} == {HOME: 300_00, OTHER: 400_00}


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(YEARS), st.integers(1, 400_00)),
                     min_size=1, max_size=10)
_GRANTS = st.fixed_dictionaries({(adm, year): st.integers(0, 600_00) for adm in (HOME, OTHER) for year in YEARS})


@settings(max_examples=20, deadline=None)
@given(grants=_GRANTS, payments=_PAYMENTS)
def test_each_division_and_year_pays_from_its_own_quota_only(grants: dict[tuple[str, str], int],
                                                              payments: list[tuple[str, str, int]]) -> None:
    """Oracle from the agreement (004 part 3 §9(4): the bank pays a unit's authorized payment only
    within its quota; the quota is its own treasury's, of its budget year): four 7101s numbered
    alike, one per (division, year); then 8202s whose numbers collide across divisions and years,
    each paid iff what its own (division, year) paid before plus it stays within that one's grant."""
    w = bank_world()
    for (adm, year), fen in grants.items():
        if fen:
            assert _grant(w, adm, year, fen) == []
    paid: dict[tuple[str, str], int] = {}
    seq: dict[tuple[str, str], int] = {}
    for i, (adm, year, fen) in enumerate(payments):
        n = seq[(adm, year)] = seq.get((adm, year), 0) + 1  # the n-th of its (division, year): numbers collide
        expect = grants[(adm, year)] > 0 and paid.get((adm, year), 0) + fen <= grants[(adm, year)]
        got = _pay(w, adm, year, f"ZZQ{n:04d}", fen, t(DAY, "10:00") + dt.timedelta(seconds=i))
        assert (got is None) == expect, (adm, year, fen, got)
        if expect:
            paid[(adm, year)] = paid.get((adm, year), 0) + fen
    spent = {(k[0], k[1]): line.spent_fen for k, line in w.bank.quota_book.items()}
    assert {k: v for k, v in spent.items() if v} == {k: v for k, v in paid.items() if v}


def test_a_version_8_snapshot_loads_its_quota_lines_and_notices_as_the_configured_division_s() -> None:
    """Version 9 keys a quota line and a 7101 by division (and the 7101 by year); a version 8
    snapshot (neither) loads, every line and notice the configured division's, the payments' lines
    too, and is written back as version 9: a redelivered 7101 is still counted once."""
    w, old_bytes = _version_8()
    old = BankCore.restore(old_bytes, BANK, w.bank.config, CAL, w.bank.clock_config)
    assert old.quota_book == w.bank.quota_book
    assert list(old.quota_notices) == [f"{HOME}/2026/SQ7101SAME", f"{OTHER}/2026/SQ7101OTH"]
    assert list(old.year_end_notices) == [f"{HOME}/2026/7106/XZ1"]
    assert [p.quota_lines() for p in old.payments.values()] == [p.quota_lines() for p in w.bank.payments.values()]
    assert msgspec.json.decode(old.snapshot())["version"] == 10
    w.bank = old
    assert _grant(w, HOME, "2026", 500_00, at="11:00") == []  # redelivered: not granted again
    assert _pay(w, HOME, "2026", "ZZQ0002", 200_01, t(DAY, "11:01")) is not None
    assert _pay(w, HOME, "2026", "ZZQ0003", 200_00, t(DAY, "11:02")) is None


async def test_a_version_8_snapshot_stored_in_the_database_loads_as_this_version(db: Database) -> None:
    """The same through the simulator's store, on both backends: the snapshot's bytes as stored."""
    w, old_bytes = _version_8()
    store = SimStore(db, "bank-a")
    await store.open()
    await store.create(old_bytes)
    loaded = await SimStore(db, "bank-a").load()
    assert loaded is not None
    again = BankCore.restore(loaded.snapshot, BANK, w.bank.config, CAL, w.bank.clock_config)
    assert again.quota_book == w.bank.quota_book and msgspec.json.decode(again.snapshot())["version"] == 10


def _version_8() -> tuple[World, bytes]:
    """A world whose bank granted and paid from a quota line, and its snapshot as version 8 wrote it."""
    w = bank_world()
    assert _grant(w, HOME, "2026", 500_00) == []
    assert _pay(w, HOME, "2026", "ZZQ0001", 300_00, t(DAY, "10:00")) is None
    state = msgspec.json.decode(w.bank.snapshot())
    assert state["version"] == 10 and list(state["quota_notices"]) == [f"{HOME}/2026/SQ7101SAME"]
    state["version"] = 8
    state["quota_book"]["lines"] = {k.split("\x1f", 1)[1]: v for k, v in state["quota_book"]["lines"].items()}
    state["year_end_notices"] = {"7106/XZ1": t(DAY, "09:30").isoformat()}  # version 8: "<VtCode>/<no>"
    (when,) = state["quota_notices"].values()
    state["quota_notices"] = {"SQ7101SAME": when, f"{OTHER}/SQ7101OTH": when}  # version 8: "<no>", "<adm>/<no>"
    for p in state["payments"].values():
        if p.get("quota_taken"):
            p["quota_taken"] = [x[1:] if isinstance(x, list) else x for x in p["quota_taken"]]
    return w, msgspec.json.encode(state)
