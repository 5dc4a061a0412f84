"""`sim.store`: a batch between snapshots writes the small `sim_log_heads` row and its input rows,
never the snapshot's row (SQLite rewrites a whole row on UPDATE: a bank's half-megabyte snapshot
went to the WAL at every commit); what it stored loads back the same; a store written before
`sim_log_heads` existed loads as before and carries on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from business_time.clock import TZ
from sim.effects import SendVoucher
from sim.store import SNAPSHOT_BYTES_MIN, Input, SimStore
from storage.db import open_database

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
BIG = b'{"state":"' + b"x" * 200_000 + b'"}'  # a snapshot far above the log a few batches make
SEND = SendVoucher("5201", 0, {"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": "T0001"}, (), "pboc")


async def _stored(path: Path) -> tuple[SimStore, object]:
    db = await open_database(str(path))
    store = SimStore(db, "bank-x")
    await store.open()
    return store, db


async def _batch(store: SimStore, db: object, n: int, pending: list[SendVoucher]) -> None:
    async with db.transaction() as tx:  # type: ignore[attr-defined]
        await store.append(tx, [Input.time(T0 + dt.timedelta(minutes=n))], pending, lambda: BIG)


async def test_a_batch_between_snapshots_leaves_the_snapshot_row_alone_and_loads_back(tmp_path: Path) -> None:
    store, db = await _stored(tmp_path / "s.db")
    await store.create(BIG)
    row = await db.fetchrow("SELECT snapshot_bytes, logged_bytes, log_seq, pending FROM sim_snapshots")  # type: ignore[attr-defined]
    for n in range(3):
        await _batch(store, db, n, [SEND] if n == 2 else [])
    assert store.snapshots == 0 and len(BIG) > SNAPSHOT_BYTES_MIN
    # the snapshot's row is as create() left it; the head says where the log stands
    assert await db.fetchrow("SELECT snapshot_bytes, logged_bytes, log_seq, pending FROM sim_snapshots") == row  # type: ignore[attr-defined]
    head = await db.fetchrow("SELECT log_seq, pending FROM sim_log_heads WHERE participant = 'bank-x'")  # type: ignore[attr-defined]
    assert head is not None and int(head[0]) == 3 and "T0001" in head[1]
    await db.close()  # type: ignore[attr-defined]

    again, db2 = await _stored(tmp_path / "s.db")
    loaded = await again.load()
    assert loaded is not None and loaded.snapshot == BIG and loaded.pending == [SEND]
    assert [i.at for i in loaded.inputs] == [T0 + dt.timedelta(minutes=n) for n in range(3)]
    await db2.close()  # type: ignore[attr-defined]


async def test_a_snapshot_taken_moves_both_rows_and_truncates_the_log(tmp_path: Path) -> None:
    store, db = await _stored(tmp_path / "s.db")
    await store.create(b"{}")  # tiny: the first batch over SNAPSHOT_BYTES_MIN of log takes a snapshot
    async with db.transaction() as tx:  # type: ignore[attr-defined]
        await store.append(tx, [Input("voucher", T0, data=b"v" * SNAPSHOT_BYTES_MIN)], [SEND], lambda: BIG)
    assert store.snapshots == 1
    loaded = await store.load()
    assert loaded is not None and loaded.snapshot == BIG and loaded.inputs == [] and loaded.pending == [SEND]
    await db.close()  # type: ignore[attr-defined]


async def test_a_store_written_before_sim_log_heads_loads_and_carries_on(tmp_path: Path) -> None:
    store, db = await _stored(tmp_path / "s.db")
    await store.create(BIG)
    for n in range(2):
        await _batch(store, db, n, [SEND])
    # as an older store left it: no heads table, the snapshot's row kept the log's position
    async with db.transaction() as tx:  # type: ignore[attr-defined]
        await tx.execute("DROP TABLE sim_log_heads")
        await tx.execute("UPDATE sim_snapshots SET log_seq = 2, logged_bytes = 128, pending = '[]'")
    await db.close()  # type: ignore[attr-defined]

    old, db2 = await _stored(tmp_path / "s.db")
    loaded = await old.load()
    assert loaded is not None and loaded.snapshot == BIG and loaded.pending == [] and len(loaded.inputs) == 2
    await _batch(old, db2, 2, [SEND])  # carries on: the head row was made from the snapshot's
    again = await old.load()
    assert again is not None and len(again.inputs) == 3 and again.pending == [SEND]
    await db2.close()  # type: ignore[attr-defined]
