"""Persistence of a simulator core's state: a snapshot plus an append-only log of its inputs.

A core is deterministic: the same inputs in the same order give the same state and the same
effects. So its state is stored as the last snapshot (`core.snapshot()` as JSON) and the inputs
it was fed since (`sim_inputs`, one row per core call: a time step, a delivered voucher, a
refusal fed back). A restart loads the snapshot and replays the inputs.

Costs, per input, amortised O(1) however large the state grows: one row appended per input and
one small head row updated per batch, in the same transaction as that batch's ledger work; a new
snapshot only once the log since the last one holds SNAPSHOT_LOG_FACTOR times as many bytes as
that snapshot (the log is then truncated). Snapshots are taken at sizes growing with the state,
so their total size stays proportional to the inputs logged. The snapshot's row is written only
when a snapshot is taken: a batch updates the head row, never the row holding the snapshot
(SQLite rewrites a whole row, overflow pages and all, on any update of it).

Tables (in the participant's own database: its ledger's, so state and books commit together):

    sim_snapshots  participant, format, snapshot (JSON: its first SNAPSHOT_PART_BYTES), snapshot_bytes,
                   and (format 3 only, since read from sim_log_heads) logged_bytes, log_seq, pending
    sim_snapshot_parts  participant, part (1, 2, ...), data: the snapshot's further SNAPSHOT_PART_BYTES
                   slices (format 5, SQLite; none in format 4 or on PostgreSQL)
    sim_log_heads  participant, logged_bytes, log_seq, pending (the sends of the last committed
                   batch, re-sent after a crash: their first SNAPSHOT_PART_BYTES; on SQLite as
                   `sim.codec.pack` bytes, JSON on PostgreSQL and as written before: `_pending`;
                   format 6: or how many of the last inputs logged give them again when replayed,
                   as digits, where the shell says they do: `append(..., replayable=True)`)
    sim_pending_parts  participant, part, data: the pending sends' further slices (format 5, SQLite)
    sim_inputs     participant, seq, kind, at, flag, reason, data
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from business_time.clock import TZ
from messages.errors import StateError
from messages.voucher import VoucherDoc, parse_voucher
from sim.codec import decode, encode, pack, unpack
from sim.effects import Refusal, SendVoucher
from storage.db import Database, SqliteDatabase, Tx

__all__ = ["SIM_STATE_SCHEMA", "SNAPSHOT_BYTES_MIN", "SNAPSHOT_LOG_FACTOR", "STATE_FORMAT", "Input", "Loaded", "SimStore"]

# The layout of the stored rows (the core's own snapshot carries its own version). 3: refusals
# and pending sends as `sim.codec` bytes; 4: the log's head (logged bytes, last seq, pending sends)
# in `sim_log_heads`, not in the snapshot's row. A format 3 row is moved to 4 when loaded. 5: the
# snapshot's bytes beyond its first SNAPSHOT_PART_BYTES in `sim_snapshot_parts` (a format 4 row has
# none: it loads as it is). 6: a head's pending sends may be a replay mark instead (`REPLAY_MARK`);
# a format 4 or 5 store loads as it is and writes its heads in full until its next snapshot, which
# makes it format 6.
STATE_FORMAT = 6
_FORMAT_3 = 3
_FORMAT_4 = 4
_FORMAT_5 = 5
# The snapshot is written in slices of this many bytes: SQLite copies every value it is given, so a
# snapshot written whole was held twice at once (its bytes and SQLite's copy, tens of megabytes at a
# busy bank); a slice of the bytes (a memoryview, no copy of ours) is copied one at a time.
SNAPSHOT_PART_BYTES = 1 << 20
# A new snapshot waits at least this many logged bytes: below it a snapshot is cheap but so is
# the replay, and snapshotting a tiny state at every batch would cost a write per batch.
SNAPSHOT_BYTES_MIN = 64 * 1024
# The log since the last snapshot may outweigh it this many times before a new one is taken: a
# snapshot rewrites the whole state, a log row only its input; a restart replays at most this
# many snapshots' worth of inputs.
SNAPSHOT_LOG_FACTOR = 4
# Rows per replay read on restore: a row carries a voucher (a few KB), so a page stays small.
REPLAY_PAGE_ROWS = 1000
# Bytes a log row counts for beyond its data (its key, kind, time): keeps a log of many small
# rows (time steps) from never reaching a snapshot.
ROW_OVERHEAD_BYTES = 64

SIM_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_snapshots (
    participant TEXT PRIMARY KEY,
    format INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    snapshot_bytes BIGINT NOT NULL,
    logged_bytes BIGINT NOT NULL,
    log_seq BIGINT NOT NULL,
    pending TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_log_heads (
    participant TEXT PRIMARY KEY,
    logged_bytes BIGINT NOT NULL,
    log_seq BIGINT NOT NULL,
    pending TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_snapshot_parts (
    participant TEXT NOT NULL,
    part INTEGER NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (participant, part)
);
CREATE TABLE IF NOT EXISTS sim_pending_parts (
    participant TEXT NOT NULL,
    part INTEGER NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (participant, part)
);
CREATE TABLE IF NOT EXISTS sim_inputs (
    participant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    flag INTEGER NOT NULL,
    reason TEXT,
    data {blob} NOT NULL,
    PRIMARY KEY (participant, seq)
);
"""

# A head whose pending sends are "the sends the last N inputs logged give when replayed" holds N as
# ASCII digits: neither JSON (`[`) nor a MessagePack array (0x90-0x9f, 0xdc, 0xdd) starts with one.
REPLAY_MARK = b"0123456789"
_INSERT_INPUT = ("INSERT INTO sim_inputs (participant, seq, kind, at, flag, reason, data) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7)")
_UPDATE_HEAD = "UPDATE sim_log_heads SET logged_bytes = $2, log_seq = $3, pending = $4 WHERE participant = $1"


@dataclass(slots=True)
class Input:
    """One core call: `time` (on_time), `voucher` (on_voucher) or `refused` (on_refused)."""

    kind: str
    at: dt.datetime
    flag: int = 0
    reason: str | None = None
    data: bytes = b""  # the voucher's bytes, or the refusal (`sim.codec` JSON)
    doc: VoucherDoc | None = None  # parsed once (not stored)
    refusal: Refusal | None = None  # (not stored: `data` is)

    @classmethod
    def time(cls, at: dt.datetime) -> Input:
        return cls("time", at)

    @classmethod
    def voucher(cls, at: dt.datetime, doc: VoucherDoc, flag: int, reason: str | None) -> Input:
        return cls("voucher", at, flag, reason, doc.data, doc)

    @classmethod
    def refused(cls, at: dt.datetime, refusal: Refusal) -> Input:
        return cls("refused", at, data=encode(refusal), refusal=refusal)

    def parsed(self) -> Input:
        """The voucher or refusal decoded from `data` (after a read from the log)."""
        if self.kind == "voucher" and self.doc is None:
            self.doc = parse_voucher(self.data)
        elif self.kind == "refused" and self.refusal is None:
            self.refusal = decode(self.data, Refusal)
        return self

    @property
    def size(self) -> int:
        return len(self.data) + ROW_OVERHEAD_BYTES


@dataclass(slots=True)
class Loaded:
    snapshot: bytes  # what the core's `snapshot()` gave
    inputs: list[Input]
    pending: list[SendVoucher]
    # the last batch's sends are those its inputs, the last `replay_last` of `inputs`, give when
    # replayed (`SimStore.append(..., replayable=True)`); 0: they are `pending`
    replay_last: int = 0


class SimStore:
    """The stored state of one participant's core (see the module doc)."""

    def __init__(self, db: Database, participant: str) -> None:
        self.db = db
        self.participant = participant
        self.snapshots = 0  # snapshots written by this process
        self._snapshot_bytes = 0
        self._logged_bytes = 0
        self._seq = 0
        self._pending_parts = 0  # rows in sim_pending_parts (read on load)
        self._format = STATE_FORMAT  # the stored row's: a replay mark is written only in format 6

    async def open(self) -> None:
        await self.db.execute_script(SIM_STATE_SCHEMA.format(blob=self.db.blob_type))

    async def load(self) -> Loaded | None:
        """The stored snapshot, the inputs logged since, the last batch's sends; None if nothing is stored."""
        row = await self.db.fetchrow("SELECT format, snapshot, snapshot_bytes FROM sim_snapshots WHERE participant = $1",
                                     self.participant)
        if row is None:
            return None
        if int(row[0]) == _FORMAT_3:
            await self._upgrade_format_3()
        elif int(row[0]) not in (_FORMAT_4, _FORMAT_5, STATE_FORMAT):
            raise StateError(f"sim state of {self.participant}: unknown format {row[0]}")
        self._format = STATE_FORMAT if int(row[0]) == _FORMAT_3 else int(row[0])  # 3 is moved to 6 above
        head = await self.db.fetchrow("SELECT logged_bytes, log_seq, pending FROM sim_log_heads WHERE participant = $1",
                                      self.participant)
        if head is None:
            raise StateError(f"sim state of {self.participant}: a snapshot without its log head")
        self._snapshot_bytes, self._logged_bytes, self._seq = int(row[2]), int(head[0]), int(head[1])
        inputs: list[Input] = []
        after = -1
        while True:
            rows = await self.db.fetch("SELECT seq, kind, at, flag, reason, data FROM sim_inputs "
                                       "WHERE participant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                       self.participant, after, REPLAY_PAGE_ROWS)
            for seq, kind, at, flag, reason, data in rows:
                inputs.append(Input(kind, _stored_time(at), int(flag), reason, bytes(data)).parsed())
                after = int(seq)
            if len(rows) < REPLAY_PAGE_ROWS:
                break
        pending_parts = await self._read_parts("sim_pending_parts")
        self._pending_parts = len(pending_parts)
        stored = _joined(head[2], pending_parts)
        replay_last = int(stored) if stored[:1] and stored[:1] in REPLAY_MARK else 0
        if replay_last > len(inputs):
            raise StateError(f"sim state of {self.participant}: the last batch's {replay_last} inputs "
                             f"are not all in the log ({len(inputs)})")
        pending = [] if replay_last else _pending(stored)
        snapshot = _joined(row[1], await self._read_parts("sim_snapshot_parts"))
        if int(row[0]) in (_FORMAT_5, STATE_FORMAT) and len(snapshot) != int(row[2]):
            raise StateError(f"sim state of {self.participant}: a snapshot of {len(snapshot)} bytes, "
                             f"{row[2]} written")
        return Loaded(snapshot, inputs, pending, replay_last)

    async def _read_parts(self, table: str) -> list[bytes]:
        rows = await self.db.fetch(f"SELECT data FROM {table} WHERE participant = $1 ORDER BY part", self.participant)
        return [bytes(r[0]) for r in rows]

    async def _upgrade_format_3(self) -> None:
        """A format 3 row kept the log's head beside the snapshot: move it to `sim_log_heads`."""
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO sim_log_heads (participant, logged_bytes, log_seq, pending) "
                             "SELECT participant, logged_bytes, log_seq, pending FROM sim_snapshots "
                             "WHERE participant = $1 AND format = $2", self.participant, _FORMAT_3)
            await tx.execute("UPDATE sim_snapshots SET format = $2, pending = '[]' WHERE participant = $1",
                             self.participant, STATE_FORMAT)

    async def create(self, snapshot: bytes) -> None:
        """Store the first snapshot (a fresh core's), so state = snapshot + log from the start."""
        first, rest = self._parts(snapshot)
        size = len(snapshot)
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO sim_snapshots (participant, format, snapshot, snapshot_bytes, "
                             "logged_bytes, log_seq, pending) VALUES ($1, $2, $3, $4, 0, 0, '[]')",
                             self.participant, STATE_FORMAT, first, size)
            await self._write_parts(tx, "sim_snapshot_parts", rest)
            await tx.execute("INSERT INTO sim_log_heads (participant, logged_bytes, log_seq, pending) "
                             "VALUES ($1, 0, 0, '[]')", self.participant)
        self._snapshot_bytes, self._logged_bytes, self._seq, self._pending_parts = size, 0, 0, 0
        self._format = STATE_FORMAT

    def _parts(self, snapshot: bytes) -> tuple[bytes | str | memoryview, list[memoryview]]:
        """The snapshot (or the pending sends) as its row's column takes it, and the further slices:
        SQLite gets memoryviews of SNAPSHOT_PART_BYTES of the JSON bytes (no copy made here; a TEXT
        column holds a BLOB unchanged and `load` reads either: decoding them first made a str of up
        to 4 bytes a character and its UTF-8 copy again). PostgreSQL's TEXT takes the whole text in
        the row (a byte slice could cut a character)."""
        if not isinstance(self.db, SqliteDatabase):
            return snapshot.decode("utf-8"), []
        view = memoryview(snapshot)
        step = SNAPSHOT_PART_BYTES
        return view[:step], [view[i:i + step] for i in range(step, len(snapshot), step)]

    async def _write_parts(self, tx: Tx, table: str, parts: Sequence[memoryview]) -> None:
        """Replace the further slices in `table` by `parts` (one row each, copied by SQLite one at a time)."""
        await tx.execute(f"DELETE FROM {table} WHERE participant = $1", self.participant)
        for n, part in enumerate(parts, start=1):
            await tx.execute(f"INSERT INTO {table} (participant, part, data) VALUES ($1, $2, $3)",
                             self.participant, n, part)

    async def _write_head(self, tx: Tx, logged: int, seq: int, pending: Sequence[SendVoucher],
                          replay_last: int = 0) -> None:
        """The log's head and the batch's sends (a day's reports: megabytes at a busy bank), in slices
        as the snapshot is; the slices table is touched only when this batch's or the last one's needs it.
        `replay_last` > 0: the sends are what the last `replay_last` inputs logged give when replayed,
        so only that number is written."""
        # Rewritten at every batch and read only after a crash: MessagePack on SQLite (the
        # originals' bytes as they are, not base64; half the encoding time of JSON), JSON in
        # PostgreSQL's TEXT column; a replay mark as its digits.
        if replay_last:
            data = str(replay_last).encode("ascii")
        else:
            data = pack(list(pending)) if isinstance(self.db, SqliteDatabase) else encode(list(pending))
        first, rest = self._parts(data)
        await tx.execute(_UPDATE_HEAD, self.participant, logged, seq, first)
        if rest or self._pending_parts:
            await self._write_parts(tx, "sim_pending_parts", rest)
        self._pending_parts = len(rest)

    async def _write_snapshot(self, tx: Tx, snapshot: bytes | Iterable[bytes], seq: int) -> int:
        """Replace the stored snapshot by `snapshot` (its bytes, or its pieces in order, as
        `sim.codec.encode_parts` gives them); its size. On SQLite the pieces go to
        `sim_snapshot_parts` as they come (one slice of SNAPSHOT_PART_BYTES or so held at a time, not
        the whole snapshot), the first slice to the snapshot's own row."""
        pieces: Iterable[bytes] = (snapshot,) if isinstance(snapshot, bytes) else snapshot
        first: bytes | str | memoryview
        if not isinstance(self.db, SqliteDatabase):  # the whole text in the row (`_parts`)
            data = b"".join(pieces)
            first, rest = self._parts(data)
            await self._write_parts(tx, "sim_snapshot_parts", rest)
            size = len(data)
        else:
            await tx.execute("DELETE FROM sim_snapshot_parts WHERE participant = $1", self.participant)
            first, size, n = b"", 0, 0
            buf = bytearray()
            for piece in pieces:
                buf += piece
                size += len(piece)
                if len(buf) >= SNAPSHOT_PART_BYTES:
                    first, n = await self._slice(tx, first, n, buf)
            if buf or n == 0:
                first, n = await self._slice(tx, first, n, buf)
        await tx.execute("UPDATE sim_snapshots SET format = $5, snapshot = $2, snapshot_bytes = $3, log_seq = $4 "
                         "WHERE participant = $1", self.participant, first, size, seq, STATE_FORMAT)
        self._format = STATE_FORMAT
        return size

    async def _slice(self, tx: Tx, first: bytes | str | memoryview, n: int,
                     buf: bytearray) -> tuple[bytes | str | memoryview, int]:
        """One slice of a snapshot written (`buf`, emptied): the first is kept for the row, the
        rest go to `sim_snapshot_parts` as part 1, 2, ...; (the first slice, slices so far)."""
        data = bytes(buf)
        buf.clear()
        if n == 0:
            return data, 1
        await tx.execute("INSERT INTO sim_snapshot_parts (participant, part, data) VALUES ($1, $2, $3)",
                         self.participant, n, data)
        return first, n + 1

    async def append(self, tx: Tx, inputs: Sequence[Input], pending: Sequence[SendVoucher],
                     snapshot: Callable[[], bytes | Iterable[bytes]], *, replayable: bool = False) -> None:
        """In the caller's transaction: log `inputs`, keep `pending` as the sends to re-send after a
        crash, and take a new snapshot (truncating the log) once the log outweighs the last one
        SNAPSHOT_LOG_FACTOR times. `snapshot` gives the core's snapshot, whole or in pieces.
        `replayable`: `pending` is exactly the sends the core gives for `inputs` (replayed in order
        after the inputs logged before them): unless this batch takes a snapshot (which truncates
        the log), the head keeps only their number and a restart gets them by the replay it does
        anyway (`Loaded.replay_last`), instead of a copy of the sends written at every batch."""
        rows = []
        logged = self._logged_bytes
        seq = self._seq
        for item in inputs:
            seq += 1
            logged += item.size
            rows.append((self.participant, seq, item.kind, item.at.isoformat(), item.flag, item.reason,
                         item.data))
        if logged >= max(SNAPSHOT_LOG_FACTOR * self._snapshot_bytes, SNAPSHOT_BYTES_MIN):
            size = await self._write_snapshot(tx, snapshot(), seq)
            await tx.execute("DELETE FROM sim_inputs WHERE participant = $1", self.participant)
            await self._write_head(tx, 0, seq, pending)
            self._snapshot_bytes, self._logged_bytes = size, 0
            self.snapshots += 1
        else:
            if rows:
                await tx.executemany(_INSERT_INPUT, rows)
            replay_last = len(rows) if replayable and rows and self._format == STATE_FORMAT else 0
            await self._write_head(tx, logged, seq, pending, replay_last)
            self._logged_bytes = logged
        self._seq = seq


def _joined(stored: bytes | memoryview | str, parts: list[bytes]) -> bytes:
    """A value stored in slices: the row's own (bytes, or text as written before) and the further ones."""
    first = bytes(stored) if isinstance(stored, bytes | memoryview) else stored.encode("utf-8")
    return b"".join([first, *parts]) if parts else first


def _pending(data: bytes) -> list[SendVoucher]:
    """The pending sends as stored: JSON (a list: `[`; PostgreSQL, and SQLite rows written before)
    or `sim.codec.pack` bytes (a MessagePack array never starts with `[`, a positive integer)."""
    if data[:1] == b"[":
        return decode(data, list[SendVoucher])
    return unpack(data, list[SendVoucher])


def _stored_time(text: str) -> dt.datetime:
    """A logged input's time: aware ISO text, back in Asia/Shanghai (a naive one is refused)."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise StateError(f"naive datetime {text!r} in the sim input log")
    return when.astimezone(TZ)
