"""Shared fixtures: database backends (SQLite always, PostgreSQL when reachable), a private Mosquitto."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from storage.db import PostgresDatabase, SqliteDatabase, open_database

if TYPE_CHECKING:
    from mqtt_broker import MosquittoBroker

    from runner.world import DevWorld

# Tests never race wall time: on a loaded 2-core machine an example may take seconds, so no
# hypothesis deadline and no "generation too slow" health check by default (a test's own
# @settings still sets its examples; the checks that are not about time stay on).
settings.register_profile("no-wall-time", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("no-wall-time")

PG_URL = os.environ.get("TGW_TEST_PG", "postgresql://root@127.0.0.1:5432/test")

# The suite starts a few hundred Python subprocesses (`tgw up`, the example bank, `python -m tgw`).
# Where PYTHONDONTWRITEBYTECODE is set (as on the project's machines), each compiled the project's
# modules again: ~0.25 s of CPU for every `tgw up`. They write their bytecode instead (__pycache__,
# ignored by git; a stale one is recompiled by its source's mtime and size). This process is unchanged.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(autouse=True)
def _structlog_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An in-process `tgw sim` or `tgw up` configures structlog for the whole process (`tgw sim`
    filters to CRITICAL): each test starts from the configuration the one before it found, so a
    later test's `capture_logs` sees its lines whatever ran first. `tgw up` also caches each
    module's logger at its first use (`configure_logging(cache=True)`), which no later configure
    undoes: in-process it would fix every module logger it touched at its level and format for
    the rest of the session (a later `scenario run --quiet` printed `gateway.started` at INFO).
    Tests that want the cache call `configure_logging` from their own import, not through here."""
    import structlog

    import gateway.logs

    real = gateway.logs.configure_logging

    def uncached(*, json: bool = True, level: str = "INFO", cache: bool = False) -> None:
        real(json=json, level=level, cache=False)

    monkeypatch.setattr(gateway.logs, "configure_logging", uncached)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _pg_required() -> bool:
    # In CI the PostgreSQL backend is part of the contract: a missing server is a failure, not a skip.
    return os.environ.get("CI") == "true" or os.environ.get("TGW_REQUIRE_SERVICES") == "1"


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path,
                         name: str = "test.db") -> AsyncIterator[SqliteDatabase | PostgresDatabase]:
    """A new, empty database: a SQLite file `name` in `tmp_path`, or a PostgreSQL schema of its
    own (dropped afterwards). A test may open several at once."""
    if backend == "sqlite":
        database = await open_database(str(tmp_path / name))
        try:
            yield database
        finally:
            await database.close()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        database = await open_database(PG_URL, schema=schema)
    except Exception as exc:  # noqa: BLE001 - the reason is reported in the skip/fail message
        if _pg_required():
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield database
    finally:
        await database.close()
        import asyncpg

        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteDatabase | PostgresDatabase]:
    """Every storage test runs on both backends; each PostgreSQL test gets its own schema."""
    async with fresh_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def broker(world: DevWorld, tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto (tests/mqtt_broker.py) for the participants of the test module's own
    `world` fixture; the gateway logs in as mqtt_broker.GW_USER / GW_PASSWORD (GW_USER_2: a second
    gateway login, same password). Stopped afterwards."""
    from mqtt_broker import GW_PASSWORD, GW_USER, GW_USER_2, MosquittoBroker

    b = MosquittoBroker.start_for(world.registry(), tmp_path, gateway_user=[GW_USER, GW_USER_2],
                                  gateway_password=GW_PASSWORD)
    yield b
    b.stop()
