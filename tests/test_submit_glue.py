"""The submit path's and the bus's per-voucher bookkeeping (issue 19): the vouchers counter counted
once per label set of an envelope, the inbox and bus records made as named tuples."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import given
from hypothesis import strategies as st

from client import GatewayClient
from gateway import metrics
from gateway.bus import BusItem, ParsedHandoff
from gateway.outbox import InboxItem, _item
from gateway.service import Gateway
from messages.envelope import VoucherKey
from runner.world import DevWorld
from storage.db import open_database

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture
async def gw(world: DevWorld, tmp_path: Path) -> AsyncIterator[Gateway]:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db, at=AT) as g:
            yield g
    finally:
        await db.close()


def _counts() -> dict[tuple[str, ...], float]:
    """tgw_vouchers_total by (vtcode, status, code), as /metrics would show it."""
    out: dict[tuple[str, ...], float] = {}
    for family in metrics.REGISTRY.collect():
        if family.name == "tgw_vouchers":
            for s in family.samples:
                if s.name == "tgw_vouchers_total":
                    out[(s.labels["vtcode"], s.labels["status"], s.labels["code"])] = s.value
    return out


async def test_the_vouchers_counter_counts_every_voucher_of_an_envelope_under_its_own_labels(
        world: DevWorld, gw: Gateway) -> None:
    """The old definition, one inc() per result with (vtcode or "-", status, code or ""), is the
    oracle: the counter moves by exactly those counts, whatever the mix of outcomes."""
    good = [payment(world, voucher_no=f"TAL{i:04d}") for i in range(5)]
    other_bank = [payment(world, bank="bank-b", voucher_no=f"TBL{i:04d}") for i in range(2)]
    async with GatewayClient.bus(gw, world.treasury.id, pull=True) as treasury:
        first = await treasury.send(world.envelope(good[:2], sender=world.treasury.id))
        before = _counts()
        # duplicates, new ones and another bank's in one envelope
        results = await treasury.send(world.envelope([*good, *other_bank], sender=world.treasury.id))
        after = _counts()
    assert [r.status for r in first] == ["accepted"] * 2
    expected = collections.Counter((r.vtcode or "-", r.status, r.code or "") for r in results)
    assert len(expected) >= 2, results  # the envelope did mix outcomes
    moved = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    assert {k: v for k, v in moved.items() if v} == dict(expected)


async def test_a_refused_voucher_is_counted_under_its_code(world: DevWorld, gw: Gateway) -> None:
    bad = payment(world, voucher_no="TRF0001")
    async with GatewayClient.bus(gw, "bank-a", pull=True) as bank:
        before = _counts()
        [res] = await bank.send(world.envelope([bad], sender="bank-a", flag=1))  # a receipt of nothing
        after = _counts()
    assert res.status == "rejected" and res.code
    key = (res.vtcode or "-", "rejected", res.code)
    assert after[key] - before.get(key, 0.0) == 1


# ---------------------------------------------------------------------- the records

_KEY = VoucherKey("990100", "2026", "5201", "N1", 0)


def test_an_inbox_row_becomes_the_item_its_fields_say() -> None:
    row = (7, "m7", "990100", "2026", "5201", "N1", 0, "treasury", "bank-a", memoryview(b"<MOF/>"), 2)
    item = _item(row)
    assert type(item) is InboxItem and type(item.key) is VoucherKey
    assert item == InboxItem(7, "m7", _KEY, "treasury", "bank-a", b"<MOF/>", 2)
    assert (item.seq, item.message_id, item.key, item.sender, item.recipient, item.payload, item.attempts) == (
        7, "m7", _KEY, "treasury", "bank-a", b"<MOF/>", 2)
    assert type(item.payload) is bytes
    assert item.as_dict()["voucher"] == str(_KEY)
    assert InboxItem(1, "m", _KEY, "s", "r", b"x").attempts == 0  # the default


def test_the_hand_off_gives_bus_items_by_name_with_or_without_the_parse() -> None:
    handoff = ParsedHandoff()
    handoff.opened("bank-a")
    body: Any = object()
    doc: Any = object()
    handoff.offer("m1", "bank-a", body, doc)
    item = InboxItem(1, "m1", _KEY, "treasury", "bank-a", b"x")
    taken = handoff.take(item)
    assert type(taken) is BusItem
    assert taken == BusItem(1, "m1", _KEY, "treasury", b"x", body, doc)
    assert taken.body is body and taken.doc is doc and taken.payload == b"x"
    bare = handoff.take(item)  # taken once: the second read is bytes only
    assert bare == BusItem(1, "m1", _KEY, "treasury", b"x") and bare.body is None and bare.doc is None


def _unknown_vtcode_envelope(vtcode: str, no: str) -> bytes:
    from gateway_helpers import raw_body

    return raw_body(b"<Voucher/>", vtcode=vtcode, no=no)


async def test_vtcodes_outside_the_catalog_share_one_label(world: DevWorld, gw: Gateway) -> None:
    """A VtCode is any four digits a sender writes; each label set is a series /metrics keeps for
    the life of the process. 40 distinct unknown VtCodes: one series, "other", counted 40 times;
    the catalog's VtCodes keep their own label."""
    from messages.catalog import get_catalog

    catalog = get_catalog()
    unknown = [c for c in (f"{n:04d}" for n in range(9999, 0, -1)) if c not in catalog][:40]
    treasury = gw.registry.get(world.treasury.id)
    assert treasury is not None
    before = _counts()
    for i, code in enumerate(unknown):
        [res] = await gw.submit(_unknown_vtcode_envelope(code, f"TUV{i:04d}"), treasury)
        assert res.status == "rejected" and res.code == "unknown-vtcode" and res.vtcode == code
    [ok] = await gw.submit(world.envelope([payment(world, voucher_no="TUV9999")], sender=world.treasury.id), treasury)
    after = _counts()
    moved = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    assert {k: v for k, v in moved.items() if v} == {("other", "rejected", "unknown-vtcode"): 40,
                                                     ("5201", ok.status, ""): 1}
    assert not {k for k in after if k[0] in unknown}


@given(st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_a_vtcode_label_is_the_catalogs_or_other(vtcode: str) -> None:
    """Oracle: the catalog's own list of VtCodes (messages/catalog.yaml)."""
    from messages.catalog import get_catalog

    label = metrics.vtcode_label(vtcode)
    assert label == (vtcode if vtcode in get_catalog().codes() else "other")
    assert metrics.vtcode_label(None) == "-"
