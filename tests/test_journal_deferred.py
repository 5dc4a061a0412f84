"""The journal's rows are written with its COMMIT, on SQLite's committer thread: a row refused
there fails the whole group commit, every submission in it learns of it, nothing of it is stored,
and the next commit goes through as before."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from gateway_helpers import payment

from gateway.journal import Journal
from gateway.pipeline import Admitted, admit_envelope
from messages.errors import StateError
from runner.world import DevWorld
from storage.db import open_database

BT = "2026-03-16T10:00:00+08:00"


@pytest.fixture(scope="module")
def admitted(tmp_path_factory: pytest.TempPathFactory) -> list[Admitted]:
    world = DevWorld.create(tmp_path_factory.mktemp("world"))
    registry, certs = world.registry(), world.certs()
    treasury = registry.get(world.treasury.id)
    assert treasury is not None
    out = []
    for _ in range(5):
        env = world.envelope([payment(world)], sender=world.treasury.id)
        [item] = admit_envelope(env, treasury, registry, certs, at=dt.datetime.now(dt.UTC))
        assert isinstance(item, Admitted), item
        out.append(item)
    return out


async def test_a_row_refused_at_commit_fails_every_submission_of_its_group(admitted: list[Admitted],
                                                                           tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "j.db"))
    journal = Journal(db)
    await journal.start()
    try:
        # The outbox refuses rows while `refuse` holds one: that INSERT runs on the committer thread.
        await db.execute_script("CREATE TABLE refuse (x INTEGER);"
                                "CREATE TRIGGER refuse_outbox BEFORE INSERT ON gw_outbox "
                                "WHEN EXISTS (SELECT 1 FROM refuse) BEGIN SELECT RAISE(ABORT, 'refused'); END;"
                                "INSERT INTO refuse VALUES (1);")
        group = [asyncio.ensure_future(journal.record([item], business_time=BT)) for item in admitted[:3]]
        done = await asyncio.gather(*group, return_exceptions=True)
        assert all(isinstance(r, StateError) and "journal commit failed" in str(r) for r in done), done
        assert await db.fetch("SELECT count(*) FROM gw_messages") == [(0,)]
        assert await db.fetch("SELECT count(*) FROM gw_outbox") == [(0,)]
        await db.execute_script("DELETE FROM refuse")
        again = await asyncio.gather(*(journal.record([item], business_time=BT) for item in admitted[:4]))
        assert [r.status for [r] in again] == ["accepted"] * 4
        rows = await db.fetch("SELECT m.id, o.seq, m.seq FROM gw_messages m JOIN gw_outbox o ON o.seq = m.seq")
        assert sorted(r[0] for r in rows) == sorted(r.message_id for [r] in again)
    finally:
        await journal.stop()
        await db.close()
