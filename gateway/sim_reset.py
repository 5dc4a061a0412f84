"""A test gateway's reset (`POST /v1/sim/reset`): one `tgw up --clock simulated` for many scenarios.

A conformance run of the whole catalogue (`tgw scenario run DIR --external ... --shared-gateway`,
docs/conformance.md) used to start one gateway per scenario, because the clock never goes back.
A reset makes the same gateway as good as a fresh one: every message, delivery, trace,
monitoring window and hold, and dashboard row is deleted (the monitoring audit, append-only, is
kept; the monitor shows only the decisions made after the reset), the delivery faults are lifted, and the simulated
clock is set back to where it started (or to a given time), counting a new `epoch` that
`GET /v1/clock` shows. What stays is what is not a scenario's: the participants, certificates,
connections, and two counters that only ever go up, so nothing of before can be mistaken for
something of after: message ids (`journal.MessageIds` goes on from its last id) and the inbox
sequence (the tables' own sequences: PostgreSQL sequences and SQLite AUTOINCREMENT are not reset
by DELETE, nor is the journal's high-water mark on SQLite, `journal_schema.SEQ_HIGH_WATER_SQLITE`),
so an inbox cursor or an ack of before names nothing of after.

Open only on a simulated clock and only to the treasury, like `POST /v1/sim/faults`.
"""

from __future__ import annotations

from storage.db import Database, SqliteDatabase

__all__ = ["RESET_TABLES", "forget_everything"]

# Every table a gateway keeps its messages and what follows from them in, children first (the
# outbox refers to the messages). A table a gateway never created (the dashboard's index before
# its first search) is skipped.
# The monitoring audit (`mon_decisions`) is append-only everywhere, a test gateway too: it is kept,
# and the monitor shows only the decisions of the current epoch (`MonitorStore.new_epoch`).
RESET_TABLES = ("gw_outbox", "gw_trace", "gw_ui_vouchers", "mon_holds", "mon_payments", "gw_messages")


async def existing_tables(db: Database) -> set[str]:
    if isinstance(db, SqliteDatabase):
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {str(r[0]) for r in rows}


async def forget_everything(db: Database) -> list[str]:
    """Delete every row of the gateway's tables (one transaction); the tables it emptied."""
    present = await existing_tables(db)
    emptied = [t for t in RESET_TABLES if t in present]
    async with db.transaction() as tx:
        for table in emptied:
            await tx.execute(f"DELETE FROM {table}")  # a fixed name from RESET_TABLES
    return emptied
