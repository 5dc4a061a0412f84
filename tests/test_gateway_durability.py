"""A real `tgw up` process: SIGKILL after acknowledging loses nothing; SIGTERM drains.

Runs on a SQLite file and on a PostgreSQL schema (skipped like the `db` fixture when
PostgreSQL is not reachable outside CI).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import PG_URL, _pg_required
from gateway_helpers import payment

from runner.world import DevWorld

TGW = str(Path(sys.executable).with_name("tgw"))
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def db_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield ["--db", f"sqlite:///{tmp_path / 'gw.db'}"]
        return
    import asyncpg

    schema = f"d_{uuid.uuid4().hex[:12]}"

    async def ping() -> None:
        conn = await asyncpg.connect(PG_URL)
        await conn.close()

    try:
        asyncio.run(ping())
    except Exception as exc:  # noqa: BLE001 - reported in the skip/fail message
        if _pg_required():
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield ["--db", PG_URL, "--db-schema", schema]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


class Server:
    def __init__(self, world: DevWorld, db_args: list[str], tmp: Path) -> None:
        self.world, self.db_args, self.tmp = world, db_args, tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self) -> str:
        self.starts += 1
        ready = self.tmp / f"ready-{self.starts}"
        log = open(self.tmp / f"tgw-{self.starts}.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [TGW, "up", "--participants", str(self.world.registry_path), "--certs", str(self.world.keys_dir),
             *self.db_args, "--http", "127.0.0.1:0", "--ready-file", str(ready), "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ready.exists() and ready.read_text().startswith("http"):
                self.url = ready.read_text().strip()
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"tgw up did not start: {(self.tmp / f'tgw-{self.starts}.log').read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


@pytest.fixture
def server(world: DevWorld, db_args: list[str], tmp_path: Path) -> Iterator[Server]:
    s = Server(world, db_args, tmp_path)
    yield s
    s.close()


def auth(world: DevWorld, pid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[pid].token}"}


async def post_all(url: str, world: DevWorld, envelopes: list[bytes]) -> list[dict[str, Any]]:
    tid = world.treasury.id
    async with aiohttp.ClientSession(headers=auth(world, tid)) as session:
        async def one(env: bytes) -> list[dict[str, Any]]:
            async with session.post(f"{url}/v1/messages", data=env) as resp:
                assert resp.status == 200, await resp.text()
                results: list[dict[str, Any]] = (await resp.json())["results"]
                return results

        answers = await asyncio.gather(*(one(e) for e in envelopes))
    return [r for rs in answers for r in rs]


async def pull(url: str, world: DevWorld, pid: str, *, ack_first: int | None = None) -> list[dict[str, Any]]:
    """Everything in the inbox (cursor paging); acks all of it, or only the first `ack_first`."""
    got: list[dict[str, Any]] = []
    cursor = 0
    async with aiohttp.ClientSession(headers=auth(world, pid)) as session:
        while True:
            async with session.get(f"{url}/v1/inbox", params={"cursor": str(cursor), "limit": "100"}) as resp:
                assert resp.status == 200
                body = await resp.json()
            if not body["messages"]:
                break
            got.extend(body["messages"])
            cursor = body["cursor"]
        ids = [m["id"] for m in got][:ack_first]
        for i in range(0, len(ids), 500):
            async with session.post(f"{url}/v1/inbox/ack", json={"ids": ids[i:i + 500]}) as resp:
                assert resp.status == 200
    return got


def test_sigkill_after_ack_then_restart_delivers_everything_once(server: Server, world: DevWorld) -> None:
    tid = world.treasury.id
    envelopes = [world.envelope([payment(world, bank="bank-a", voucher_no=f"K{e:03d}{i:02d}") for i in range(10)],
                                sender=tid) for e in range(30)]
    url = server.start()
    results = asyncio.run(post_all(url, world, envelopes))
    assert server.kill() == -signal.SIGKILL  # right after the last acknowledgement
    assert len(results) == 300 and all(r["status"] == "accepted" for r in results)
    acknowledged = {r["voucher"]: r["message_id"] for r in results}
    assert len(acknowledged) == 300

    # restart; the bank pulls, but acks only part before the gateway dies again
    url = server.start()
    first = asyncio.run(pull(url, world, "bank-a", ack_first=120))
    assert server.kill() == -signal.SIGKILL
    url = server.start()
    second = asyncio.run(pull(url, world, "bank-a"))
    # after an ack-everything pull, nothing is left
    assert asyncio.run(pull(url, world, "bank-a")) == []
    assert server.kill(signal.SIGTERM) == 0

    deliveries = first + second
    assert len(deliveries) >= 300  # at least once
    by_id: dict[str, str] = {}
    for d in deliveries:
        assert by_id.setdefault(d["id"], d["voucher"]) == d["voucher"]
    by_key: dict[str, set[str]] = {}
    for mid, key in by_id.items():
        by_key.setdefault(key, set()).add(mid)
    assert all(len(ids) == 1 for ids in by_key.values()), "one message id per voucher key"
    assert set(by_key) == set(acknowledged), "every acknowledged voucher, nothing else"
    assert {k: next(iter(v)) for k, v in by_key.items()} == acknowledged
    # the 120 acked before the second kill were not delivered again
    acked_first = {d["id"] for d in first[:120]}
    assert not acked_first & {d["id"] for d in second}


def test_sigterm_drains_in_flight_posts(server: Server, world: DevWorld) -> None:
    tid = world.treasury.id
    envelopes = [world.envelope([payment(world, bank="bank-b", voucher_no=f"S{e:03d}{i:03d}") for i in range(50)],
                                sender=tid) for e in range(12)]
    url = server.start()
    proc = server.proc
    assert proc is not None

    async def run() -> list[tuple[int, dict[str, Any]]]:
        async with aiohttp.ClientSession(headers=auth(world, tid)) as session:
            async def one(env: bytes) -> tuple[int, dict[str, Any]]:
                async with session.post(f"{url}/v1/messages", data=env) as resp:
                    return resp.status, await resp.json()

            tasks = [asyncio.create_task(one(e)) for e in envelopes]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            proc.send_signal(signal.SIGTERM)  # the others are in flight
            return [await t for t in tasks]

    answers = asyncio.run(run())
    assert proc.wait(30) == 0
    server.proc = None
    assert all(status in (200, 503) for status, _ in answers), [s for s, _ in answers]
    assert answers and any(status == 200 for status, _ in answers)
    accepted = {r["voucher"] for status, body in answers if status == 200 for r in body["results"]
                if r["status"] == "accepted"}
    for status, body in answers:
        if status == 503:
            assert body["code"] == "unavailable"
        else:
            assert len(body["results"]) == 50
    # everything acknowledged before the exit is there after a restart
    url = server.start()
    delivered = {m["voucher"] for m in asyncio.run(pull(url, world, "bank-b"))}
    assert delivered == accepted
