"""The central bank's cleared payments by budget year too (`pboc_sim.state.cleared_key`: AdmDivCode,
StYear, VtCode, VoucherNo, bank). Each division's treasury numbers its vouchers afresh each year, so
two years' payments may share a number. Before, what was cleared was kept by (division, kind, number,
bank): a second year's payment of the number added up to the first year's (seen as already cleared),
and a refund of one year's was matched to what both years cleared. A 2301 Detail names no year: the
payment of its number, of the ClearDate's year or the year before, not yet cleared, the latest
(`pboc_sim.cleared.payment_year`); a 2302 names it by OriVouDate's year. Snapshot version 9: a version
8 snapshot loads, through the sim store on SQLite and PostgreSQL, its entries of their 2301's StYear."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pboc_core import ADM, BANK, clearing, make, quota, receipt, refund, send, t
from test_pboc_refunds import _as_version_8
from test_wire_clearing_cover import _Filed

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from pboc_sim.cleared import payment_year
from pboc_sim.core import PbocCore
from pboc_sim.state import SNAPSHOT_VERSION
from runner.wire_mode import clearing_cover
from sim.store import SimStore
from storage.db import Database

OTHER = "990200"
# a business day late in 2025 and one early in 2026 (test_pboc_core's calendar)
DAYS = {"2025": "2025-12-30", "2026": "2026-01-06"}


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.default()


def _of(doc: VoucherDoc, adm: str) -> VoucherDoc:
    """`doc` of division `adm`."""
    return parse_voucher(build_voucher(doc.vtcode, {**doc.head(), "AdmDivCode": adm}, doc.details()))


def _clear(core: PbocCore, books: object, adm: str, year: str, no: str, amount: str) -> None:
    day = DAYS[year]
    send(core, books, _of(quota(day, amount), adm), t(day, "09:00"))  # type: ignore[arg-type]
    r = receipt(send(core, books, _of(clearing(day, amount, payments=[(no, amount)]), adm), t(day, "10:00")))  # type: ignore[arg-type]
    assert r.return_reason is None, r.return_reason


def _refund(core: PbocCore, books: object, adm: str, year: str, no: str, amount: str, *, day: str = "2026-01-07") -> str | None:
    """A 2302 of `adm`'s payment `no` of `year` (OriVouDate in it): None if accepted, else its reason."""
    doc = _of(refund(day, amount, ori_no=no, ori_day=DAYS[year]), adm)
    return receipt(send(core, books, doc, t(day, "11:00"))).return_reason  # type: ignore[arg-type]


def test_two_years_payments_of_one_number_are_cleared_and_refunded_each_alone(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2025-12-30", "08:00"))
    _clear(core, books, ADM, "2025", "ZF0001", "100.00")
    _clear(core, books, ADM, "2026", "ZF0001", "30.00")
    assert core.cleared[(ADM, "2025", "5201", "ZF0001", BANK)].cleared_fen == 100_00
    assert core.cleared[(ADM, "2026", "5201", "ZF0001", BANK)].cleared_fen == 30_00  # not added to 2025's
    # 2026's refunded in full, then 2025's in full: each against its own
    assert _refund(core, books, ADM, "2026", "ZF0001", "30.00") is None
    assert _refund(core, books, ADM, "2025", "ZF0001", "100.00") is None
    assert "already-refunded" in (_refund(core, books, ADM, "2026", "ZF0001", "0.01") or "")
    assert core.cleared[(ADM, "2025", "5201", "ZF0001", BANK)].refundable_fen == 0


def test_a_refund_of_a_year_s_payment_is_not_matched_to_another_division_s(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2025-12-30", "08:00"))
    _clear(core, books, ADM, "2026", "ZF0002", "10.00")
    assert "refund-unmatched" in (_refund(core, books, OTHER, "2026", "ZF0002", "5.00") or "")
    assert "refund-exceeds-payment" in (_refund(core, books, ADM, "2026", "ZF0002", "10.01") or "")


def test_a_payment_paid_late_in_its_year_and_cleared_in_the_next_is_refunded(calendar: BusinessCalendar) -> None:
    """Cleared in January under the ClearDate's year (the central bank sees no StYear), a refund
    naming it by its December OriVouDate still finds it (`refund_year`)."""
    assert payment_year(2026, lambda y: False) == 2026
    assert payment_year(2026, lambda y: y == 2026) == 2025
    assert payment_year(2026, lambda y: True) is None  # both cleared: the Detail names a payment cleared already
    core, books = make(calendar, t("2025-12-30", "08:00"))
    _clear(core, books, ADM, "2026", "ZF0003", "10.00")  # 2025's voucher, cleared on 2026-01-06
    assert _refund(core, books, ADM, "2025", "ZF0003", "10.00") is None


def test_two_namings_of_a_number_take_both_years_latest_first() -> None:
    """Of two years' payments of a number, the one not yet cleared, the latest year first (as
    `runner.wire_mode.clearing_cover` reads a real bank's when both were paid by the ClearDate)."""
    taken: set[int] = set()
    for _ in range(2):
        taken.add(payment_year(2026, taken.__contains__))
    assert taken == {2025, 2026}


# (division, year, number, fen cleared) and refunds (index of a payment, fen)
_PAYMENTS = st.lists(st.tuples(st.sampled_from([ADM, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["ZF1", "ZF2"]), st.integers(1, 500)),
                     min_size=1, max_size=6, unique_by=lambda p: p[:3])
_REFUNDS = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 600)), max_size=8)


@settings(max_examples=40, deadline=None)
@given(payments=_PAYMENTS, refunds=_REFUNDS)
def test_each_payment_is_refunded_as_if_it_were_alone(calendar: BusinessCalendar,
                                                      payments: list[tuple[str, str, str, int]],
                                                      refunds: list[tuple[int, int]]) -> None:
    """Oracle from 003 §35 / 004 part 3 §9(9) and the interface rules (a voucher is its key): a
    refund of a payment is accepted iff it is at most what that payment, alone, has left; two
    divisions' or years' payments of one number never count for each other."""
    core, books = make(calendar, t("2025-12-30", "08:00"))
    for adm, year, no, fen in sorted(payments, key=lambda p: p[1]):  # in the order of the days
        _clear(core, books, adm, year, no, f"{fen // 100}.{fen % 100:02d}")
    left = {p[:3]: p[3] for p in payments}
    for i, fen in refunds:
        adm, year, no, _ = payments[i % len(payments)]
        reason = _refund(core, books, adm, year, no, f"{fen // 100}.{fen % 100:02d}")
        assert (reason is None) is (fen <= left[(adm, year, no)]), (adm, year, no, fen, left, reason)
        if reason is None:
            left[(adm, year, no)] -= fen
    for (adm, year, no), fen in left.items():
        assert core.cleared[(adm, year, "5201", no, BANK)].refundable_fen == fen


async def test_a_version_8_snapshot_loads_through_the_store(calendar: BusinessCalendar, db: Database) -> None:
    """A version 8 snapshot (no year in what was cleared) stored, loaded back on SQLite and
    PostgreSQL: its entries are of their 2301's StYear; written back as version 9, it loads again."""
    core, books = make(calendar, t("2025-12-30", "08:00"))
    _clear(core, books, ADM, "2025", "ZF0001", "100.00")
    _clear(core, books, ADM, "2026", "ZF0009", "30.00")
    old = _as_version_8(core.snapshot())
    assert json.loads(old)["version"] == 8
    store = SimStore(db, "pboc")
    await store.open()
    await store.create(old)
    loaded = await SimStore(db, "pboc").load()
    assert loaded is not None and loaded.snapshot == old
    after = PbocCore.restore(loaded.snapshot, core.config, calendar, core.clock_config)
    assert dict(after.cleared.items()) == dict(core.cleared.items())
    assert (ADM, "2025", "5201", "ZF0001", BANK) in after.cleared and (ADM, "2026", "5201", "ZF0009", BANK) in after.cleared
    again = SimStore(db, "pboc-9")
    await again.open()
    await again.create(after.snapshot())
    reloaded = await SimStore(db, "pboc-9").load()
    assert reloaded is not None and json.loads(reloaded.snapshot)["version"] == SNAPSHOT_VERSION
    assert dict(PbocCore.restore(reloaded.snapshot, core.config, calendar, core.clock_config).cleared.items()) \
        == dict(core.cleared.items())
    # and it refunds 2025's payment as the core before it would
    assert _refund(after, books, ADM, "2025", "ZF0001", "100.00") is None


def _file(core: PbocCore, books: object, adm: str, year: str, no: str, amount: str, hhmm: str = "10:00") -> str | None:
    """A 2301 of division `adm` on `year`'s day naming payment `no`: None if accepted, else its reason."""
    day = DAYS[year]
    send(core, books, _of(quota(day, amount), adm), t(day, "09:00"))  # type: ignore[arg-type]
    doc = _of(clearing(day, amount, payments=[(no, amount)]), adm)
    return receipt(send(core, books, doc, t(day, hhmm))).return_reason  # type: ignore[arg-type]


def test_a_detail_naming_a_payment_cleared_in_both_years_is_refused_already_cleared(calendar: BusinessCalendar) -> None:
    """Both years' ZF1 cleared, a third 2301 naming ZF1 asks the treasury's account for money the
    bank was paid already (a request clears the money actually paid, once: 004 part 3 §8(7), §9(11);
    003 §33). It added up to 2026's before; now it is refused `already-cleared`, nothing moves. Another
    number, another division's ZF1, or the same 2301 in a year whose ZF1 is not cleared pass."""
    core, books = make(calendar, t("2025-12-30", "08:00"))
    assert _file(core, books, ADM, "2026", "ZF1", "30.00") is None  # 2026's
    assert _file(core, books, ADM, "2026", "ZF1", "20.00", "10:05") is None  # then 2025's (paid late in it)
    balance = core.state.tsa_balance_fen
    reason = _file(core, books, ADM, "2026", "ZF1", "5.00", "10:10")
    assert reason is not None and reason.startswith("already-cleared: Detail/VoucherNo ZF1"), reason
    assert core.state.tsa_balance_fen == balance
    assert core.cleared[(ADM, "2026", "5201", "ZF1", BANK)].cleared_fen == 30_00
    assert core.cleared[(ADM, "2025", "5201", "ZF1", BANK)].cleared_fen == 20_00
    assert _file(core, books, ADM, "2026", "ZF2", "5.00", "10:15") is None
    assert _file(core, books, OTHER, "2026", "ZF1", "5.00", "10:20") is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["2025", "2026"]), st.sampled_from(["ZF1", "ZF2"])), min_size=1, max_size=6))
def test_the_central_bank_and_the_conformance_reading_take_a_detail_for_the_same_payment(
        calendar: BusinessCalendar, named: list[tuple[str, str]]) -> None:
    """Each year's payments of ZF1 and ZF2 paid on its day (2025's ZF2 late); 2301s (in the order of the
    days) each name one, the third naming of a number included. One rule (`pboc_sim.cleared.payment_year`):
    oracle "a payment is cleared once" (004 part 3 §8(7)): the central bank refuses `already-cleared`
    exactly when the ClearDate year's and the year before's payments of the number were both cleared,
    and then the conformance reading (`clearing_cover`, told what was refused) covers no payment by it;
    accepted, whenever a payment of the number paid by the ClearDate is not yet covered, the central
    bank keeps the Detail under the year the conformance reading takes it for; no payment is covered
    by two accepted requests."""
    paid = {f"{ADM}/{y}/5201/{no}": ("5201", dt.date.fromisoformat(d), dt.datetime.fromisoformat(d).replace(hour=9, tzinfo=TZ))
            for y, d in DAYS.items() for no in ("ZF1", "ZF2")}
    # 2025's ZF2 paid late, in 2026's first days, after 2026's: still the ClearDate year's is named first
    paid[f"{ADM}/2025/5201/ZF2"] = ("5201", dt.date(2026, 1, 6), dt.datetime(2026, 1, 6, 9, 30, tzinfo=TZ))
    named = sorted(named)
    filed = [_Filed(ADM, "11", dt.date.fromisoformat(DAYS[y]), t(DAYS[y], f"10:{i:02d}"), (no,))
             for i, (y, no) in enumerate(named)]
    core, books = make(calendar, t("2025-12-30", "08:00"))
    reasons: list[str | None] = []
    grown_keys: list[list[tuple[str, ...]]] = []
    cleared_years: dict[str, set[int]] = {"ZF1": set(), "ZF2": set()}
    for f, (y, no) in zip(filed, named, strict=True):
        before = {k: c.cleared_fen for k, c in core.cleared.items()}
        reasons.append(_file(core, books, ADM, y, no, "1.00", f"{f.filed_at:%H:%M}"))
        grown_keys.append([k for k, c in core.cleared.items() if k[2] == "5201" and c.cleared_fen != before.get(k)])
        both = {int(y), int(y) - 1} <= cleared_years[no]
        assert (reasons[-1] is not None) is both, (named, reasons)
        if reasons[-1] is None:
            assert len(grown_keys[-1]) == 1
            cleared_years[no].add(int(grown_keys[-1][0][1]))
        else:
            assert reasons[-1].startswith("already-cleared:") and grown_keys[-1] == []
    refused = {id(f) for f, r in zip(filed, reasons, strict=True) if r is not None}
    read = clearing_cover(filed, paid, lambda f: id(f) in refused)
    covered: set[str] = set()
    for f, (_, no), keys, reason, grown in zip(filed, named, read, reasons, grown_keys, strict=True):
        (key,) = keys
        if reason is not None:
            assert key == f"{ADM}//5201/{no}", (named, read)
            continue
        due = [k for k, (_, day, _) in paid.items() if k.endswith(f"/{no}") and k not in covered and day <= f.clear_date]
        if due:
            assert key == f"{ADM}/{grown[0][1]}/5201/{no}", (named, read, grown)
        if key.split("/")[1]:
            assert key not in covered, (named, read)  # a payment covered by two accepted requests
            covered.add(key)
