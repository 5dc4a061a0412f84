"""`SimStore.append(..., replayable=True)`: a batch whose sends a restart can replay keeps only their
number in the log's head (format 6), not the sends; a batch that takes a snapshot (the log is
truncated) or a store of format 4 or 5 (until its next snapshot) keeps them in full, as before. Both
backends (the `db` fixture)."""

from __future__ import annotations

import datetime as dt

import pytest

from business_time.clock import TZ
from sim import store as sim_store
from sim.effects import SendVoucher
from sim.store import STATE_FORMAT, Input, SimStore
from storage.db import Database

AT = dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ)
SENDS = [SendVoucher("5201", 0, {"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": f"SV000{n}"}, (), "bank",
                     data=b"<Voucher/>") for n in range(3)]
SNAPSHOT = b'{"state": "' + b"x" * 100_000 + b'"}'  # far above the few inputs below: no snapshot taken


def _inputs(n: int, minute: int = 0) -> list[Input]:
    return [Input.time(AT + dt.timedelta(minutes=minute + i)) for i in range(n)]


async def _head(db: Database) -> bytes:
    row = await db.fetchrow("SELECT pending FROM sim_log_heads WHERE participant = 'bank-x'")
    assert row is not None
    value = row[0]
    return value.encode() if isinstance(value, str) else bytes(value)


async def test_a_replayable_batch_keeps_the_number_of_its_inputs_not_its_sends(db: Database) -> None:
    store = SimStore(db, "bank-x")
    await store.open()
    await store.create(SNAPSHOT)
    async with db.transaction() as tx:
        await store.append(tx, _inputs(2), SENDS[:1], lambda: SNAPSHOT, replayable=True)
    async with db.transaction() as tx:
        await store.append(tx, _inputs(3, minute=10), SENDS, lambda: SNAPSHOT, replayable=True)
    assert await _head(db) == b"3"  # the last batch's three inputs give its sends again
    loaded = await SimStore(db, "bank-x").load()
    assert loaded is not None
    assert loaded.pending == [] and loaded.replay_last == 3 and len(loaded.inputs) == 5
    async with db.transaction() as tx:  # not replayable (a careful batch): the sends in full, as before
        await store.append(tx, _inputs(1, minute=20), SENDS[1:], lambda: SNAPSHOT)
    loaded = await SimStore(db, "bank-x").load()
    assert loaded is not None and loaded.pending == SENDS[1:] and loaded.replay_last == 0


async def test_a_batch_that_takes_a_snapshot_keeps_its_sends_in_full(db: Database) -> None:
    store = SimStore(db, "bank-x")
    await store.open()
    await store.create(b'{"s": 1}')
    big = Input("voucher", AT, 0, None, b"v" * sim_store.SNAPSHOT_BYTES_MIN)  # past the threshold at once
    async with db.transaction() as tx:
        await store.append(tx, [big], SENDS, lambda: b'{"s": 2}', replayable=True)
    assert store.snapshots == 1
    loaded = await SimStore(db, "bank-x").load()
    assert loaded is not None
    assert loaded.inputs == [] and loaded.pending == SENDS and loaded.replay_last == 0


@pytest.mark.parametrize("old", [4, 5])
async def test_a_format_4_or_5_store_keeps_sends_in_full_until_its_next_snapshot(db: Database, old: int) -> None:
    store = SimStore(db, "bank-x")
    await store.open()
    await store.create(b'{"s": 1}')
    async with db.transaction() as tx:
        await tx.execute("UPDATE sim_snapshots SET format = $1", old)
    store = SimStore(db, "bank-x")  # a process of this version opening the older store
    assert await store.load() is not None
    async with db.transaction() as tx:
        await store.append(tx, _inputs(1), SENDS, lambda: b'{"s": 1}', replayable=True)
    loaded = await SimStore(db, "bank-x").load()
    assert loaded is not None and loaded.pending == SENDS and loaded.replay_last == 0  # an older reader's head
    big = Input("voucher", AT, 0, None, b"v" * sim_store.SNAPSHOT_BYTES_MIN)
    async with db.transaction() as tx:  # its next snapshot makes it format 6
        await store.append(tx, [big], [], lambda: b'{"s": 2}', replayable=True)
    row = await db.fetchrow("SELECT format FROM sim_snapshots")
    assert row is not None and row[0] == STATE_FORMAT == 6
    async with db.transaction() as tx:
        await store.append(tx, _inputs(2), SENDS, lambda: b'{"s": 2}', replayable=True)
    assert await _head(db) == b"2"


async def test_a_mark_beyond_the_log_is_refused(db: Database) -> None:
    from messages.errors import StateError

    store = SimStore(db, "bank-x")
    await store.open()
    await store.create(SNAPSHOT)
    async with db.transaction() as tx:
        await store.append(tx, _inputs(2), SENDS, lambda: SNAPSHOT, replayable=True)
        await tx.execute("UPDATE sim_log_heads SET pending = '7'")
    with pytest.raises(StateError, match="not all in the log"):
        await SimStore(db, "bank-x").load()
