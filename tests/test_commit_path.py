"""The submit path made cheaper without changing what it does (issue 19): a commit wakes the
deliverer only when a pusher could use the round."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from gateway_helpers import payment, running_gateway

from gateway.outbox import InboxItem
from runner.world import DevWorld
from storage.db import open_database


async def test_a_commit_wakes_the_deliverer_only_when_a_pusher_is_registered(world: DevWorld, tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        async with running_gateway(world, db) as gw:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            [r] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert r.status == "accepted"
            assert not gw._wake.is_set()  # pull-only: nobody a round could push to
            pushed: list[InboxItem] = []

            async def pusher(item: InboxItem) -> None:
                pushed.append(item)

            gw.register_pusher("bank-a", pusher)
            await _until(lambda: bool(pushed) and not gw._wake.is_set())  # the round on registering pushed it
            assert [i.message_id for i in pushed] == [r.message_id]
            [r2] = await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), treasury)
            assert gw._wake.is_set()  # a pusher is there: the round starts now, not at the next poll
            await _until(lambda: len(pushed) == 2)
            assert [i.message_id for i in pushed] == [r.message_id, r2.message_id]
    finally:
        await db.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (a round claims its rows in a transaction: a real COMMIT) until `condition` holds."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))
