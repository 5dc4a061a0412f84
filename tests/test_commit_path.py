"""The submit path made cheaper without changing what it does (issue 19): a commit wakes the
deliverer only when a pusher could use the round; an admission writes no trace row, and the trace
shows it where that row stood."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from gateway_helpers import FixedClock, payment, running_gateway
from hypothesis import given
from hypothesis import strategies as st

from gateway.monitoring.monitor import build_monitor
from gateway.outbox import InboxItem
from gateway.service import Gateway
from gateway.trace_rows import ADMITTED_STEP, DELIVERED_DETAIL, DELIVERED_STEP, with_admissions
from messages.envelope import parse_envelope
from runner.world import DevWorld
from storage.db import open_database

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


async def test_a_commit_wakes_the_deliverer_only_when_a_pusher_is_registered(
    world: DevWorld, tmp_path: Path
) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        async with running_gateway(world, db) as gw:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
            assert not gw._wake.is_set()  # pull-only: nobody a round could push to
            pushed: list[InboxItem] = []

            async def pusher(item: InboxItem) -> None:
                pushed.append(item)

            gw.register_pusher("bank-a", pusher)
            await _until(lambda: bool(pushed) and not gw._wake.is_set())  # the round on registering pushed it
            assert [i.message_id for i in pushed] == [r.message_id]
            [r2] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert gw._wake.is_set()  # a pusher is there: the round starts now, not at the next poll
            await _until(lambda: len(pushed) == 2)
            assert [i.message_id for i in pushed] == [r.message_id, r2.message_id]
    finally:
        await db.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (a round claims its rows in a transaction: a real COMMIT) until `condition` holds."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


# ---------------------------------------------------------------------- admissions without a trace row


@given(
    st.lists(st.integers(1, 60), unique=True, max_size=12).map(sorted),
    st.lists(st.integers(0, 61), max_size=4),
)
def test_an_admission_stands_right_after_the_trace_row_its_commit_followed(
    ids: list[int], afters: list[int]
) -> None:
    rows = [(i, 0, None, f"step{i}", "p", i, "t", "") for i in ids]
    messages = [(f"m{n}", "sender", 0, 100 + n, "t", after, b"") for n, after in enumerate(afters)]
    placed = with_admissions(rows, messages)
    assert [r for r in placed if r[2] != ADMITTED_STEP] == [r[1:] for r in rows]  # the stored rows, in order
    for n, after in enumerate(afters):
        at = next(k for k, r in enumerate(placed) if r[1] == f"m{n}")
        before = {int(r[2][4:]) for r in placed[:at] if r[2] != ADMITTED_STEP}
        assert before == {i for i in ids if i <= after}  # all a commit after `after` saw, nothing later
    # A journal written before: the message has its own ADMITTED_STEP row and no trace_after.
    old = [(5, 0, "m0", ADMITTED_STEP, "sender", 100, "t", "1:SN")]
    assert with_admissions(old, [("m0", "sender", 0, 100, "t", None, b"")]) == [old[0][1:]]


async def test_the_trace_shows_an_admission_where_its_row_stood(world: DevWorld, tmp_path: Path) -> None:
    """A refused attempt (earlier commit), the admission and monitoring's flag (one commit), a
    duplicate and the delivery (later commits): the steps in the order the journal's own
    `admitted` row gave them, and no such row written."""
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    gw = Gateway(
        db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT), monitor=build_monitor(db)
    )
    await gw.start()
    try:
        treasury, bank = gw.registry.get(world.treasury.id), gw.registry.get("bank-a")
        assert treasury is not None and bank is not None
        # 300,000 yuan to a payee never paid before: new-payee-large-amount flags it (warning).
        env = world.envelope([payment(world, amount_fen=30_000_000)], sender=world.treasury.id)
        [refused] = await gw.submit(env, bank)  # a bank may not send a treasury's voucher
        assert refused.status == "rejected"
        [accepted] = await gw.submit(env, treasury)
        [again] = await gw.submit(env, treasury)
        assert (accepted.status, again.status) == ("accepted", "duplicate")
        assert accepted.message_id is not None
        assert await gw.ack(bank, [accepted.message_id]) == [accepted.message_id]
        events = await gw.trace(treasury, *accepted.voucher.split("/")[:4])  # type: ignore[union-attr]
        assert events is not None
        assert [e["step"] for e in events] == [
            "rejected",
            "validated",
            "verified",
            "authorized",
            "journaled",
            "monitor-flagged",
            "duplicate",
            "delivered",
        ]
        admission = events[1:5]
        assert {e["message_id"] for e in admission} == {accepted.message_id}
        assert {e["participant"] for e in admission} == {world.treasury.id}
        assert admission[1]["detail"] == ", ".join(
            f"{s.no}:{s.sn}" for s in parse_envelope(env).bodies[0].signatures
        )
        assert admission[3]["detail"] == f"message {accepted.message_id}"
        assert await db.fetch("SELECT count(*) FROM gw_trace WHERE step = $1", ADMITTED_STEP) == [(0,)]
    finally:
        await gw.stop()
        await db.close()


# ---------------------------------------------------------------------- deliveries without a trace row


@given(
    st.lists(st.integers(1, 60), unique=True, max_size=12).map(sorted),
    st.lists(st.tuples(st.integers(0, 61), st.integers(0, 5)), max_size=4),
    st.lists(st.tuples(st.integers(0, 61), st.integers(0, 5)), max_size=4),
)
def test_a_delivery_stands_right_after_the_trace_row_its_ack_followed(
    ids: list[int], admitted: list[tuple[int, int]], acked: list[tuple[int, int]]
) -> None:
    """Each ack is placed after every row its `acked_after` saw and before every later one; an
    admission and a delivery after the same row stand in the order of their wall times."""
    rows = [(i, 0, None, f"step{i}", "p", i, "t", "") for i in ids]
    messages = [(f"m{n}", "sender", 0, wall, "t", after, b"") for n, (after, wall) in enumerate(admitted)]
    deliveries = [(f"d{n}", 0, "bank", wall, "t", after) for n, (after, wall) in enumerate(acked)]
    placed = with_admissions(rows, messages, deliveries)
    assert [r for r in placed if r[2] not in (ADMITTED_STEP, DELIVERED_STEP)] == [r[1:] for r in rows]
    assert [r[2:] for r in placed if r[2] == DELIVERED_STEP] == [
        (DELIVERED_STEP, "bank", wall, "t", DELIVERED_DETAIL) for _, wall in sorted(acked)]
    position = {r[1]: k for k, r in enumerate(placed) if r[2] in (ADMITTED_STEP, DELIVERED_STEP)}
    placed_after = {**{f"m{n}": (a, w) for n, (a, w) in enumerate(admitted)},
                    **{f"d{n}": (a, w) for n, (a, w) in enumerate(acked)}}
    for name, (after, _) in placed_after.items():
        before = {int(r[2][4:]) for r in placed[:position[name]] if r[2].startswith("step")}
        assert before == {i for i in ids if i <= after}
    for a, b in ((a, b) for a in placed_after for b in placed_after if placed_after[a] < placed_after[b]):
        assert position[a] < position[b]


async def test_an_ack_writes_no_trace_row_and_the_trace_shows_it(world: DevWorld, tmp_path: Path) -> None:
    """The delivery is shown from the outbox row, after the row its ack followed; a journal acked
    before (its `delivered` trace row, no `acked_after`) shows that row as it is, once."""
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT))
    await gw.start()
    try:
        treasury, bank = gw.registry.get(world.treasury.id), gw.registry.get("bank-a")
        assert treasury is not None and bank is not None
        first, second = (world.envelope([payment(world)], sender=world.treasury.id) for _ in range(2))
        [a] = await gw.submit(first, treasury)
        [b] = await gw.submit(second, treasury)
        assert a.message_id is not None and b.message_id is not None
        assert await gw.ack(bank, [a.message_id]) == [a.message_id]
        [again] = await gw.submit(first, treasury)  # a trace row after the ack
        assert again.status == "duplicate"
        assert await db.fetch("SELECT count(*) FROM gw_trace WHERE step = $1", DELIVERED_STEP) == [(0,)]
        events = await gw.trace(treasury, *a.voucher.split("/")[:4])  # type: ignore[union-attr]
        assert events is not None
        assert [e["step"] for e in events] == ["validated", "verified", "authorized", "journaled", "delivered",
                                               "duplicate"]
        delivered = events[4]
        assert (delivered["participant"], delivered["message_id"], delivered["detail"]) == (
            "bank-a", a.message_id, DELIVERED_DETAIL)
        assert delivered["business_time"] == AT.isoformat()
        # As a journal acked before this change holds it: a trace row, no acked_after.
        await db.execute_script(
            "INSERT INTO gw_trace (adm_div_code, st_year, vtcode, voucher_no, flag, message_id, step, participant, "
            "wall_us, business_time, detail) SELECT adm_div_code, st_year, vtcode, voucher_no, flag, id, 'delivered', "
            f"'bank-a', 1, 't', 'acknowledged by the recipient' FROM gw_messages WHERE id = '{b.message_id}';"
            f"UPDATE gw_outbox SET state = 'acked', acked_us = 1 WHERE message_id = '{b.message_id}';")
        events = await gw.trace(treasury, *b.voucher.split("/")[:4])  # type: ignore[union-attr]
        assert events is not None
        assert [e["step"] for e in events][-1:] == ["delivered"]
        assert [e["step"] for e in events].count("delivered") == 1
    finally:
        await gw.stop()
        await db.close()


async def test_an_outbox_without_the_ack_columns_gets_them(world: DevWorld, tmp_path: Path) -> None:
    """A journal made before `acked_time`/`acked_after`: the columns are added at start, and an
    ack then fills them."""
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT))
        await gw.start()
        await gw.stop()
        await db.execute_script("ALTER TABLE gw_outbox DROP COLUMN acked_time; ALTER TABLE gw_outbox DROP COLUMN acked_after;")
        gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT))
        await gw.start()
        try:
            columns = {r[1] for r in await db.fetch("PRAGMA table_info(gw_outbox)")}
            assert {"acked_time", "acked_after"} <= columns
            treasury, bank = gw.registry.get(world.treasury.id), gw.registry.get("bank-a")
            assert treasury is not None and bank is not None
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.message_id is not None
            assert await gw.ack(bank, [r.message_id]) == [r.message_id]
            assert await db.fetch("SELECT acked_time, acked_after FROM gw_outbox") == [(AT.isoformat(), 0)]
        finally:
            await gw.stop()
    finally:
        await db.close()
