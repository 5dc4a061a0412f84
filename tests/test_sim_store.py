"""`sim.store.SimStore`: a batch writes the log and its head, never the snapshot's row; a snapshot
waits for SNAPSHOT_LOG_FACTOR times its own bytes of log; a format 3 store (the head beside the
snapshot) is moved on load and carries on where it was; a snapshot larger than a part is written in
slices and read back whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from business_time.clock import TZ
from sim import store as sim_store
from sim.codec import encode, pack
from sim.effects import SendVoucher
from sim.store import SNAPSHOT_LOG_FACTOR, STATE_FORMAT, Input, SimStore
from storage.db import Database, open_database

AT = dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ)
SEND = SendVoucher("5201", 0, {"AdmDivCode": "990100", "StYear": "2026", "VoucherNo": "SV0001"}, (), "bank",
                   data=b"<Voucher/>")


async def _snapshot_row_updates(db: Database) -> int:
    row = await db.fetchrow("SELECT n FROM snapshot_row_updates")
    assert row is not None
    return int(row[0])


async def _store(tmp_path: Path) -> tuple[Database, SimStore]:
    db = await open_database(str(tmp_path / "sim.db"))
    store = SimStore(db, "bank-x")
    await store.open()
    await db.execute_script("CREATE TABLE snapshot_row_updates (n INTEGER NOT NULL);"
                            "INSERT INTO snapshot_row_updates VALUES (0);"
                            "CREATE TRIGGER count_snapshot_row AFTER UPDATE ON sim_snapshots BEGIN "
                            "UPDATE snapshot_row_updates SET n = n + 1; END;")
    return db, store


async def test_a_batch_below_the_snapshot_threshold_leaves_the_snapshot_row_alone(tmp_path: Path) -> None:
    db, store = await _store(tmp_path)
    try:
        snapshot = b'{"state": "' + b"x" * 100_000 + b'"}'
        await store.create(snapshot)
        for minute in range(20):  # 20 small inputs: far below the snapshot's bytes
            async with db.transaction() as tx:
                await store.append(tx, [Input.time(AT + dt.timedelta(minutes=minute))], [SEND], lambda: snapshot)
        assert store.snapshots == 0
        assert await _snapshot_row_updates(db) == 0  # the old layout updated it at every batch
        loaded = await store.load()
        assert loaded is not None
        assert loaded.snapshot == snapshot
        assert [i.at for i in loaded.inputs] == [AT + dt.timedelta(minutes=m) for m in range(20)]
        assert loaded.pending == [SEND]
    finally:
        await db.close()


async def test_a_snapshot_waits_for_the_log_factor_times_its_bytes(tmp_path: Path) -> None:
    db, store = await _store(tmp_path)
    try:
        snapshot = b'{"s": "' + b"y" * 200_000 + b'"}'  # well above SNAPSHOT_BYTES_MIN
        await store.create(snapshot)
        rows = 0
        while store.snapshots == 0:
            rows += 1
            async with db.transaction() as tx:
                item = Input("voucher", AT, 0, None, b"v" * 10_000)
                await store.append(tx, [item], [], lambda: snapshot)
        logged = rows * (10_000 + sim_store.ROW_OVERHEAD_BYTES)
        assert logged >= SNAPSHOT_LOG_FACTOR * len(snapshot) > logged - (10_000 + sim_store.ROW_OVERHEAD_BYTES)  # not a row sooner
        assert await _snapshot_row_updates(db) == 1
        row = await db.fetchrow("SELECT count(*) FROM sim_inputs")
        assert row is not None and row[0] == 0  # the log was truncated with the snapshot
    finally:
        await db.close()


async def test_a_format_3_store_is_moved_to_format_4_and_carries_on(tmp_path: Path) -> None:
    db, store = await _store(tmp_path)
    try:
        snapshot = b'{"old": 1}'
        pending = encode([SEND]).decode("utf-8")
        async with db.transaction() as tx:  # as format 3 stored it: the head in the snapshot's row
            await tx.execute("INSERT INTO sim_snapshots (participant, format, snapshot, snapshot_bytes, logged_bytes, "
                             "log_seq, pending) VALUES ('bank-x', 3, $1, $2, $3, 7, $4)",
                             snapshot.decode(), len(snapshot), 64, pending)
            await tx.execute("INSERT INTO sim_inputs (participant, seq, kind, at, flag, reason, data) "
                             "VALUES ('bank-x', 7, 'time', $1, 0, NULL, $2)", AT.isoformat(), b"")
        loaded = await store.load()
        assert loaded is not None
        assert loaded.snapshot == snapshot and loaded.pending == [SEND] and [i.kind for i in loaded.inputs] == ["time"]
        row = await db.fetchrow("SELECT format FROM sim_snapshots WHERE participant = 'bank-x'")
        assert row is not None and row[0] == STATE_FORMAT == 6
        async with db.transaction() as tx:
            await store.append(tx, [Input.time(AT + dt.timedelta(hours=1))], [], lambda: snapshot)
        again = await SimStore(db, "bank-x").load()
        assert again is not None
        assert [i.at for i in again.inputs] == [AT, AT + dt.timedelta(hours=1)] and again.pending == []
    finally:
        await db.close()


async def test_a_snapshot_is_kept_as_its_bytes_and_a_text_one_still_loads(tmp_path: Path) -> None:
    """SQLite keeps the snapshot's JSON bytes (a BLOB: no str of it, no UTF-8 copy of that str);
    a row written as text before still loads, byte for byte."""
    db, store = await _store(tmp_path)
    try:
        snapshot = encode({"payee": "示例单位", "fen": 123})
        await store.create(snapshot)
        row = await db.fetchrow("SELECT typeof(snapshot), snapshot, snapshot_bytes FROM sim_snapshots")
        assert row is not None and row[0] == "blob" and bytes(row[1]) == snapshot and row[2] == len(snapshot)
        async with db.transaction() as tx:
            await store.append(tx, [Input.time(AT)], [SEND], lambda: snapshot)
        row = await db.fetchrow("SELECT typeof(pending), pending FROM sim_log_heads")
        assert row is not None and row[0] == "blob"  # the last batch's sends: bytes too
        assert bytes(row[1]) == pack([SEND])  # MessagePack: the originals' bytes not as base64
        loaded = await store.load()
        assert loaded is not None and loaded.snapshot == snapshot and loaded.pending == [SEND]
        async with db.transaction() as tx:  # the sends as JSON bytes, as stored before
            await tx.execute("UPDATE sim_log_heads SET pending = $1", encode([SEND]))
        again = await SimStore(db, "bank-x").load()
        assert again is not None and again.pending == [SEND]
        async with db.transaction() as tx:  # as stored before
            await tx.execute("UPDATE sim_snapshots SET snapshot = $1", snapshot.decode("utf-8"))
            await tx.execute("UPDATE sim_log_heads SET pending = $1", encode([SEND]).decode("utf-8"))
        row = await db.fetchrow("SELECT typeof(snapshot) FROM sim_snapshots")
        assert row is not None and row[0] == "text"
        again = await SimStore(db, "bank-x").load()
        assert again is not None and again.snapshot == snapshot and again.pending == [SEND]
    finally:
        await db.close()


async def test_a_large_snapshot_is_written_in_parts_and_reads_back_whole(tmp_path: Path) -> None:
    """Beyond SNAPSHOT_PART_BYTES the snapshot goes in slices (SQLite copies one at a time, not the
    whole); a smaller one written later leaves no stale slice behind."""
    db, store = await _store(tmp_path)
    try:
        step = sim_store.SNAPSHOT_PART_BYTES
        big = b'{"s": "' + bytes(range(97, 123)) * (step * 2 // 26 + 7) + b'"}'
        await store.create(big)
        row = await db.fetchrow("SELECT count(*) FROM sim_snapshot_parts")
        assert row is not None and row[0] == 2  # 2 slices beyond the row's own
        loaded = await store.load()
        assert loaded is not None and loaded.snapshot == big
        small = b'{"s": 1}'
        rows = 0
        while store.snapshots == 0:
            rows += 1
            async with db.transaction() as tx:
                await store.append(tx, [Input("voucher", AT, 0, None, b"v" * step)], [SEND], lambda: small)
        row = await db.fetchrow("SELECT count(*) FROM sim_snapshot_parts")
        assert row is not None and row[0] == 0
        again = await SimStore(db, "bank-x").load()
        assert again is not None and again.snapshot == small and again.pending == [SEND]
        row = await db.fetchrow("SELECT format FROM sim_snapshots")
        assert row is not None and row[0] == STATE_FORMAT
    finally:
        await db.close()


async def test_a_format_4_store_loads_as_it_is(tmp_path: Path) -> None:
    db, store = await _store(tmp_path)
    try:
        snapshot = b'{"four": 4}'
        await store.create(snapshot)
        async with db.transaction() as tx:
            await tx.execute("UPDATE sim_snapshots SET format = 4")
        loaded = await SimStore(db, "bank-x").load()
        assert loaded is not None and loaded.snapshot == snapshot
    finally:
        await db.close()


async def test_large_pending_sends_are_kept_in_parts_and_a_small_batch_after_leaves_none(tmp_path: Path) -> None:
    db, store = await _store(tmp_path)
    try:
        await store.create(b'{"s": 0}')
        big = [SendVoucher("7103", 0, {"VoucherNo": f"CN{n:06d}", "Remark": "示例" * 40}, (), "treasury")
               for n in range(12_000)]
        async with db.transaction() as tx:
            await store.append(tx, [Input.time(AT)], big, lambda: b'{"s": 0}')
        row = await db.fetchrow("SELECT count(*) FROM sim_pending_parts")
        assert row is not None and row[0] >= 1
        loaded = await SimStore(db, "bank-x").load()
        assert loaded is not None and loaded.pending == big
        async with db.transaction() as tx:
            await store.append(tx, [Input.time(AT)], [SEND], lambda: b'{"s": 0}')
        row = await db.fetchrow("SELECT count(*) FROM sim_pending_parts")
        assert row is not None and row[0] == 0
        again = await SimStore(db, "bank-x").load()
        assert again is not None and again.pending == [SEND]
    finally:
        await db.close()


async def test_a_snapshot_given_in_pieces_is_written_slice_by_slice_and_reads_back_whole(tmp_path: Path) -> None:
    """A core's `snapshot_parts` pieces go to the parts table as they come: the store never joins
    them (each slice it writes is about SNAPSHOT_PART_BYTES), and a load gives the same bytes."""
    db, store = await _store(tmp_path)
    try:
        await store.create(b"{}")
        step = sim_store.SNAPSHOT_PART_BYTES
        pieces = [bytes([97 + i % 26]) * (step // 3) for i in range(10)]  # 3.3 slices' worth
        drawn: list[int] = []

        def parts() -> Iterator[bytes]:
            for piece in pieces:
                drawn.append(len(piece))
                yield piece

        while store.snapshots == 0:
            async with db.transaction() as tx:
                await store.append(tx, [Input("voucher", AT, 0, None, b"v" * step)], [SEND], parts)
        rows = await db.fetch("SELECT length(data) FROM sim_snapshot_parts ORDER BY part")
        # the row's own slice and 2 more: each at least a slice, short of a slice and a piece
        assert len(rows) == 2 and step <= rows[0][0] < step + step // 3 and rows[1][0] < step
        loaded = await SimStore(db, "bank-x").load()
        assert loaded is not None and loaded.snapshot == b"".join(pieces) and loaded.pending == [SEND]
        assert sum(drawn) == len(loaded.snapshot)
    finally:
        await db.close()
