"""What the gateway does per envelope, made cheaper without changing what it means (issue 9).

SQLite COMMITs go to one long-lived thread of the database (not a pool hand-off per commit) and
still answer only once the COMMIT returned; metric children are looked up once; `tgw up` caches
its loggers. These pin the structure down: the figures are in bench/results/latency.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter
from sqlite_helpers import CommitRecorder

from gateway import metrics
from gateway.logs import configure_logging
from messages.errors import StateError
from storage.db import SqliteDatabase


@contextlib.asynccontextmanager
async def _table(tmp_path: Path) -> AsyncIterator[tuple[SqliteDatabase, CommitRecorder]]:
    """A database with a table `t (x)` whose writer connection records its COMMITs; closed after."""
    db = SqliteDatabase(str(tmp_path / "t.db"))
    rec = CommitRecorder(db._writer)
    db._writer = rec  # type: ignore[assignment]
    try:
        await db.execute_script("CREATE TABLE t (x INTEGER)")
        yield db, rec
    finally:
        db._writer = rec._conn
        await db.close()


async def _insert(db: SqliteDatabase, x: int) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t (x) VALUES ($1)", x)


async def test_every_commit_runs_on_one_long_lived_thread_off_the_event_loop(tmp_path: Path) -> None:
    async with _table(tmp_path) as (db, rec):
        for x in range(5):
            await _insert(db, x)
            # Answered only once the COMMIT returned: the row is visible to the other connection.
            assert await db.fetch("SELECT count(*) FROM t") == [(x + 1,)]
        threads = {t.ident for t in rec.commit_threads}
        assert len(rec.commit_threads) == 5 and len(threads) == 1
        assert rec.commit_threads[0].name == "sqlite-commit"
        assert rec.commit_threads[0] is not threading.current_thread()
    assert not rec.commit_threads[0].is_alive()  # close() ends it


async def test_a_failed_commit_is_raised_rolled_back_and_the_next_one_works(tmp_path: Path) -> None:
    async with _table(tmp_path) as (db, rec):
        rec.fail_next_commit = True
        with pytest.raises(StateError, match="sqlite commit failed: disk I/O error"):
            await _insert(db, 1)
        await _insert(db, 2)
        assert await db.fetch("SELECT x FROM t") == [(2,)]


async def test_commits_from_concurrent_writers_all_land(tmp_path: Path) -> None:
    async with _table(tmp_path) as (db, rec):
        await asyncio.gather(*(_insert(db, x) for x in range(50)))
        assert sorted(r[0] for r in await db.fetch("SELECT x FROM t")) == list(range(50))
        assert len({t.ident for t in rec.commit_threads}) == 1


def _counter() -> Counter:
    return Counter("t_total", "test", ["a", "b"], registry=CollectorRegistry())


@given(st.lists(st.tuples(st.sampled_from(["x", "y", ""]), st.sampled_from(["1", "2"])), max_size=30))
def test_cached_children_count_exactly_as_labels_does(calls: list[tuple[str, str]]) -> None:
    cached, plain = _counter(), _counter()
    children = metrics.Children(cached)
    for a, b in calls:
        children(a, b).inc()
        plain.labels(a, b).inc()
    for a, b in set(calls):
        assert cached.labels(a, b)._value.get() == plain.labels(a, b)._value.get()


def test_children_past_the_cache_bound_are_still_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "CHILDREN_CACHED_MAX", 2)
    counter = _counter()
    children = metrics.Children(counter)
    for n in range(5):
        children(str(n), "s").inc()
        children(str(n), "s").inc()
    assert len(children._cache) == 2
    assert [counter.labels(str(n), "s")._value.get() for n in range(5)] == [2.0] * 5


def test_the_gateway_metrics_have_cached_children() -> None:
    assert metrics.VOUCHERS_BY("5201", "accepted", "") is metrics.VOUCHERS.labels("5201", "accepted", "")
    assert metrics.HTTP_REQUESTS_BY("/v1/messages", "200") is metrics.HTTP_REQUESTS.labels("/v1/messages", "200")


def test_cached_loggers_are_assembled_once_and_still_filter_by_level(capsys: pytest.CaptureFixture[str]) -> None:
    saved = structlog.get_config()
    try:
        configure_logging(json=True, level="WARNING", cache=True)
        log = structlog.get_logger("tgw.test-cache")  # a fresh proxy: no module logger gets cached here
        log.info("below.level")
        first = log.bind()
        log.warning("kept", n=1)
        assert log.bind() is first  # cached at first use
        err = capsys.readouterr().err
        assert '"event": "kept"' in err and "below.level" not in err
        configure_logging(json=True, level="WARNING")  # the default does not cache
        fresh = structlog.get_logger("tgw.test-nocache")
        assert fresh.bind() is not fresh.bind()
    finally:
        structlog.configure(**saved)


async def test_a_cancelled_commit_keeps_the_writer_until_its_commit_ends(tmp_path: Path) -> None:
    """Cancelling a transaction's wait does not stop its COMMIT (it runs on the committer thread):
    the writer stays locked until the COMMIT returned, the cancellation is raised then, and what
    was committed stays committed."""
    async with _table(tmp_path) as (db, rec):
        gate = threading.Event()
        real = rec._conn

        class _Slow:
            def execute(self, sql: str, *args: Any) -> Any:
                if sql == "COMMIT":
                    gate.wait(5)
                return real.execute(sql, *args)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        rec._conn = _Slow()  # type: ignore[assignment]
        task = asyncio.create_task(_insert(db, 1))
        for _ in range(100):
            await asyncio.sleep(0.001)
            if rec.commit_threads:
                break
        assert rec.commit_threads
        task.cancel()
        await asyncio.sleep(0.02)
        task.cancel()  # cancelled again while it waits for the COMMIT: still waits
        await asyncio.sleep(0.02)
        assert not task.done() and db._lock.locked()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not db._lock.locked()
        rec._conn = real
        await _insert(db, 2)
        assert sorted(r[0] for r in await db.fetch("SELECT x FROM t")) == [1, 2]
