"""Settled records a core keeps out of its memory: written once, read back on a rare event.

A busy day leaves a core with records it needs again only now and then (a bank keeps what a
payee's return copies for every payment it made: needed when a payee's bank sends the money
back, a handful a day). Held in the core's state they are most of its memory and most of every
snapshot. With an `Archive` the core hands such a record over once, when it settles, and asks for
it back by its kind and key when the rare event comes.

The archive is the shell's (`sim.store.SqliteArchive`: a table in the participant's own
database, the record written in the transaction of the batch that made it) and is read
synchronously: a record once put is never changed (a change to a settled record stays in the
core's state, which the core checks first), so a lookup gives the same bytes whenever it is made,
on the first run or on a replay after a restart, and the core stays a function of its inputs. A
core with no archive keeps such records in its state, as before.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Archive", "MemoryArchive"]


class Archive(Protocol):
    def put(self, kind: str, key: str, data: bytes) -> None:
        """Keep `data` as the record `key` of `kind` (once: a record is never changed)."""

    def get(self, kind: str, key: str) -> bytes | None:
        """The record put as `key` of `kind`, or None."""


class MemoryArchive:
    """An archive in a dict (tests; a shell whose database cannot be read synchronously keeps the
    records in the core's state instead)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], bytes] = {}

    def put(self, kind: str, key: str, data: bytes) -> None:
        self.records.setdefault((kind, key), data)

    def get(self, kind: str, key: str) -> bytes | None:
        return self.records.get((kind, key))
