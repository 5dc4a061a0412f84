"""What keeps a big simulated day cheap: one parse per voucher and hop, a plan without bytes, a
world funded for its volume, simulator databases without an fsync per batch, GC settings undone.

Speed itself is measured by `tgw bench --sim` (bench/results/sim.json), never asserted here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from messages.errors import InputError
from messages.factory import payment_voucher
from messages.voucher import parse_voucher
from messages.xmlsafe import parse_xml
from runner.demo import OPENING_TSA_FEN, RESERVE_FEN, build_world, simulate, world_scale
from treasury_sim.core import TreasuryConfig, TreasuryCore

DAY = dt.date(2026, 3, 16)


def voucher(no: str = "ZZ2026031600001", *, details: int = 2) -> bytes:
    return payment_voucher(voucher_no=no, vou_date=DAY, pay_bank_code="999100000001", amount_fen=123_45,
                           details=details, rng=random.Random(no))


# --- the parsed voucher (handed along in-process: tests/test_bus_handoff.py) ----------------------


def test_details_are_new_dicts_on_every_call() -> None:
    doc = parse_voucher(voucher(details=3))
    first = doc.details()
    first[0]["PayAmt"] = "changed"
    first.append({})
    again = doc.details()
    assert len(again) == 3 and again[0]["PayAmt"] != "changed"
    assert again == [{c.tag: (c.text or "").strip() for c in d} for d in doc.root.iterfind("DetailList/Detail")]


# --- the hardened parse: the cheaper checks refuse what the old ones refused ---------------------


@given(st.binary(min_size=0, max_size=12).map(lambda b: bytes(c for c in b if c in b" \t\n\r\x0b\x0c")))
def test_empty_or_blank_input_is_refused_as_empty(blank: bytes) -> None:
    with pytest.raises(InputError) as exc:
        parse_xml(blank, bytes_max=100)
    assert exc.value.code == "xml-malformed" and "empty" in str(exc.value)


@settings(max_examples=50)
@given(st.binary(min_size=1, max_size=3).filter(lambda b: not _is_utf8(b)))
def test_bytes_that_are_not_utf8_are_refused_after_an_ascii_start(junk: bytes) -> None:
    data = b'<?xml version="1.0" encoding="UTF-8"?><a>' + junk + b"</a>"
    with pytest.raises(InputError) as exc:
        parse_xml(data, bytes_max=1000)
    assert exc.value.code == "xml-bad-encoding"


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_an_ascii_document_still_parses() -> None:
    assert parse_xml(b'<?xml version="1.0" encoding="UTF-8"?><a>b</a>', bytes_max=100).text == "b"


# --- the treasury's plan keeps no bytes ----------------------------------------------------------


def test_a_planned_voucher_keeps_no_bytes_and_renders_the_same_ones_every_time() -> None:
    config = TreasuryConfig(vouchers_per_day=30, days=1, first_day=DAY, seed=7)
    core = TreasuryCore(config, BusinessCalendar.default(), ClockConfig())
    plan = core.plan(DAY)
    assert not any(isinstance(getattr(v, f.name), bytes) for v in plan.vouchers for f in dataclasses.fields(v))
    again = TreasuryCore(config, BusinessCalendar.default(), ClockConfig()).plan(DAY)
    for v, w in zip(plan.vouchers, again.vouchers, strict=True):
        assert v.data == v.data == w.data
        doc = parse_voucher(v.data)
        # what the quota notices were summed from is what the voucher says
        assert (doc.get("SupDepCode"), doc.get("SupDepName")) == v.sup_dep
        assert (doc.get("VoucherNo"), doc.get("PayBankCode"), doc.amount_fen("PayAmt")) == (
            v.voucher_no, v.bank, v.amount_fen)
        assert len(doc.details()) == v.details


# --- the demo world ------------------------------------------------------------------------------


def test_world_scale() -> None:
    assert [world_scale(n) for n in (0, 1, 10_000, 10_001, 100_000)] == [1, 1, 1, 2, 10]


async def test_the_demo_world_is_funded_for_its_volume(tmp_path: Path) -> None:
    """A day of 100,000 vouchers (~25,000 yuan each) must not run the TSA dry (it did, at 500 million
    yuan: every clearing refused from mid-day on) nor the reserves (late payments deferred)."""
    w = await build_world(tmp_path, seed=1, vouchers=100_000, days=1, start=DAY)
    try:
        c = w.tcore.config
        average = (c.amount_min_fen + c.amount_max_fen) // 2
        assert w.pcore.config.tsa_opening_fen == c.tsa_opening_fen >= 3 * c.vouchers_per_day * average // 2
        late_per_bank = c.vouchers_per_day * c.late_share_pct // 100 * average // len(w.bcores)
        assert all(core.config.reserve_fen >= 3 * late_per_bank // 2 for core in w.bcores.values())
    finally:
        await w.close()
    small = await build_world(tmp_path / "small", seed=1, vouchers=1_000, days=1, start=DAY)
    try:  # a run of up to 10,000 vouchers is as before
        assert small.tcore.config.tsa_opening_fen == OPENING_TSA_FEN
        assert all(core.config.reserve_fen == RESERVE_FEN for core in small.bcores.values())
    finally:
        await small.close()


async def test_simulator_databases_commit_without_fsync_and_the_gateway_with(tmp_path: Path) -> None:
    w = await build_world(tmp_path, seed=1, vouchers=10, days=1, start=DAY)
    try:
        for ledger in w.ledgers.values():
            assert await ledger.db.fetchrow("PRAGMA synchronous") == (1,)  # NORMAL (WAL: crash-safe)
        assert await w.gateway.db.fetchrow("PRAGMA synchronous") == (2,)  # FULL
    finally:
        await w.close()


async def test_a_run_puts_the_collector_back_as_it_found_it(tmp_path: Path) -> None:
    before = gc.get_threshold()
    report = await simulate(tmp_path, seed=1, vouchers=8, days=1, start=DAY)
    assert report["ok"]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
