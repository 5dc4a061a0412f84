"""What runs again and again on the outbox reads the backlog, never every row ever delivered.

`/healthz` (a container health check every 30 s, with a 2 s timeout) counted the outbox by state
with a GROUP BY over the whole table, and a page of the DLQ searched every row after its cursor for
the dead ones: both cost what the journal holds, not what waits. `Outbox.backlog` and
`Outbox.dead_page` now read the partial indexes gw_outbox_pending and gw_outbox_dead. Counted here
as SQLite virtual-machine steps (a progress handler called at every instruction), never wall time.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest
from gateway_helpers import payment
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gateway_http import http_gateway
from test_gateway_http import world as world  # the module's fixture

from gateway.journal_schema import SCHEMA, SHAPES
from gateway.outbox import Outbox
from runner.world import DevWorld
from storage.db import _to_sqlite

STATES = ("ready", "acked", "dead")


class _Recorder:
    """A stand-in database that keeps the statements an `Outbox` method runs."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql.append(sql)
        return []

    async def fetchrow(self, sql: str, *args: Any) -> tuple[int, ...]:
        self.sql.append(sql)
        return (0, 0)


async def _statements(method: str, **kwargs: Any) -> list[str]:
    rec = _Recorder()
    await getattr(Outbox(rec), method)(**kwargs)  # type: ignore[arg-type]
    return [_to_sqlite(s) for s in rec.sql]


def _journal(states: Sequence[tuple[str, str]]) -> sqlite3.Connection:
    """An in-memory journal (the gateway's own schema) with one message and outbox row per
    (recipient, state), in that order."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA.format(blob="BLOB", **SHAPES["sqlite"]))
    conn.executemany(
        "INSERT INTO gw_messages (seq, id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
        "recipient, payload, received_us, business_time, owner) "
        "VALUES (?, ?, '990100', '2026', '5201', ?, 0, x'00', 'treasury-990100', ?, x'00', 0, 't', 'treasury-990100')",
        [(i + 1, f"M{i:08d}", f"N{i:08d}", r) for i, (r, _) in enumerate(states)])
    conn.executemany("INSERT INTO gw_outbox (seq, message_id, recipient, state) VALUES (?, ?, ?, ?)",
                     [(i + 1, f"M{i:08d}", r, s) for i, (r, s) in enumerate(states)])
    return conn


def _steps(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
    """(virtual-machine instructions, rows) of one statement."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return steps, rows


async def test_backlog_and_dlq_page_cost_follow_the_backlog_not_the_journal() -> None:
    """The same 3 ready rows and 2 dead letters behind 200 or 5,000 acked rows: the same count of
    VM steps for the health counts and for a DLQ page (before: the GROUP BY visited every row,
    ~5,000 rows' steps more; the DLQ page visited every row after its cursor)."""
    backlog = await _statements("backlog")
    page = await _statements("dead_page", limit=10, after_seq=0)
    assert len(backlog) == 1 and len(page) == 2
    costs = []
    for acked in (200, 5000):
        rows = [("bank-a", "acked")] * acked + [("bank-a", "ready")] * 3 + [("bank-b", "dead")] * 2
        conn = _journal(rows)
        steps_backlog, [counted] = _steps(conn, backlog[0], ())
        assert counted == (3, 2)
        steps_page, listed = _steps(conn, page[0], (0, 11))
        assert [r[0] for r in listed] == [f"M{i:08d}" for i in (acked + 3, acked + 4)]
        steps_total, [(total,)] = _steps(conn, page[1], ())
        assert total == 2
        costs.append((steps_backlog, steps_page, steps_total))
    assert costs[0] == costs[1], costs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("bank-a", "bank-b", "pboc-990100")), st.sampled_from(STATES)),
                max_size=60))
def test_backlog_counts_what_waits_and_what_died(rows: list[tuple[str, str]]) -> None:
    """Oracle: a row waits for delivery while `ready` and is a dead letter once `dead` (the outbox's
    three states); acked rows are not counted. States with no row are left out."""
    import asyncio

    [sql] = asyncio.run(_statements("backlog"))
    [counted] = _journal(rows).execute(sql).fetchall()
    expected = collections.Counter(s for _, s in rows if s != "acked")
    assert dict(zip(("ready", "dead"), counted, strict=True)) == {"ready": expected["ready"],
                                                                   "dead": expected["dead"]}


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_healthz_reads_the_backlog_not_every_state(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        await h.post(tid, world.envelope([payment(world), payment(world)], sender=tid))

        async def whole_table() -> dict[str, int]:
            raise AssertionError("/healthz counted every outbox row")
        h.gw.outbox.counts = whole_table  # type: ignore[method-assign]
        body = await (await h.client.get("/healthz")).json()
        assert body["status"] == "ok" and body["outbox"] == {"ready": 2}
