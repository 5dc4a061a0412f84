"""`SqliteArchive`: a core's settled records (`sim.archive`) in a table of its own SQLite database.

    sim_archive  participant, kind, key, data   (a record is written once, never changed)

A record put during a batch waits in memory (`put`) until the shell writes the batch (`write`, in
the batch's own transaction: the records and the inputs that made them commit together) or drops
it (`discard`: the batch was rolled back, or its inputs were replayed from the log, whose records
were committed with them). `get` reads that waiting batch first, then the table, synchronously on
a read-only connection of its own (a primary key lookup: a few microseconds, made on a rare event).
Only a database on a file can be read so (PostgreSQL is not, nor SQLite's ":memory:"):
`archive_for` gives None there and the core keeps its records in its state.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.db import Database, SqliteDatabase, Tx

__all__ = ["ARCHIVE_SCHEMA", "SqliteArchive", "archive_for"]

ARCHIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_archive (
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (participant, kind, key)
);
"""
_INSERT = ("INSERT INTO sim_archive (participant, kind, key, data) VALUES ($1, $2, $3, $4) "
           "ON CONFLICT (participant, kind, key) DO NOTHING")
_SELECT = "SELECT data FROM sim_archive WHERE participant = ? AND kind = ? AND key = ?"


class SqliteArchive:
    """The archive of one participant (see the module doc)."""

    def __init__(self, db: SqliteDatabase, participant: str) -> None:
        self.db = db
        self.participant = participant
        self.waiting: dict[tuple[str, str], bytes] = {}  # put by the batch being made
        self.written = 0  # records written by this process
        self._reader: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.db.execute_script(ARCHIVE_SCHEMA)

    def put(self, kind: str, key: str, data: bytes) -> None:
        self.waiting.setdefault((kind, key), data)

    def get(self, kind: str, key: str) -> bytes | None:
        data = self.waiting.get((kind, key))
        if data is not None:
            return data
        if self._reader is None:
            self._reader = sqlite3.connect(f"{Path(self.db.path).resolve().as_uri()}?mode=ro", uri=True,
                                           check_same_thread=False)
        row = self._reader.execute(_SELECT, (self.participant, kind, key)).fetchone()
        return None if row is None else bytes(row[0])

    async def write(self, tx: Tx) -> None:
        """The waiting records, in the caller's (the batch's) transaction."""
        if self.waiting:
            await tx.executemany(_INSERT, [(self.participant, kind, key, data)
                                           for (kind, key), data in self.waiting.items()])
            self.written += len(self.waiting)
            self.waiting.clear()

    def discard(self) -> None:
        self.waiting.clear()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def archive_for(db: Database | None, participant: str) -> SqliteArchive | None:
    """The participant's archive in `db`, or None where it cannot be read synchronously."""
    if isinstance(db, SqliteDatabase) and db.path != ":memory:":
        return SqliteArchive(db, participant)
    return None
