"""A non-waiting pull on the bus that saw every ready row is not read again until the journal's
mark for its participant moves (`gateway.bus.BusConnection.pull`): what spares the simulation
engine's drain its idle polls. Reads are counted, never timed."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_helpers import payment, running_gateway

from client import GatewayClient
from gateway.bus import InProcessBus
from gateway.service import Gateway
from runner.world import DevWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


def count_reads(gw: Gateway) -> list[int]:
    reads = [0]
    inbox = gw.outbox.inbox

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads[0] += 1
        return await inbox(*args, **kwargs)

    gw.outbox.inbox = counted  # type: ignore[method-assign]
    return reads


async def test_idle_pulls_read_only_after_rows_came_or_a_wake(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        reads = count_reads(gw)
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, GatewayClient.bus(bus, "bank-a", pull=True) as bank:
            assert await bank.receive(timeout_s=0) == []
            assert await bank.receive(timeout_s=0) == [] and reads[0] == 1  # nothing new: not read again
            # Another participant's rows leave bank-a's mark alone.
            await treasury.send(world.envelope([payment(world, bank="bank-b")], sender=tid))
            assert await bank.receive(timeout_s=0) == [] and reads[0] == 1
            [sent] = await treasury.send(world.envelope([payment(world)], sender=tid))
            [got] = await bank.receive(timeout_s=0)
            assert got.message_id == sent.message_id and reads[0] == 2
            # The page was not full: nothing after it until the mark moves.
            assert await bank.receive(timeout_s=0) == [] and reads[0] == 2
            gw.wake_readers()  # a replay, a fault set or lifted: every reader reads again
            assert await bank.receive(timeout_s=0) == [] and reads[0] == 3
            [second] = await treasury.send(world.envelope([payment(world)], sender=tid))
            assert [d.message_id for d in await bank.receive(timeout_s=0)] == [second.message_id]
            await bank.ack(got, second)


async def test_a_full_page_is_read_on(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        reads = count_reads(gw)
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, \
                GatewayClient.bus(bus, "bank-a", pull=True, page_max=2) as bank:
            results = await treasury.send(world.envelope([payment(world) for _ in range(3)], sender=tid))
            first = await bank.receive(timeout_s=0)
            second = await bank.receive(timeout_s=0)  # the first page was full: read on
            assert [d.message_id for d in first + second] == [r.message_id for r in results]
            assert await bank.receive(timeout_s=0) == [] and reads[0] == 2


async def test_a_new_session_reads_from_the_start(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury:
            [sent] = await treasury.send(world.envelope([payment(world)], sender=tid))
            async with GatewayClient.bus(bus, "bank-a", pull=True) as bank:
                assert [d.message_id for d in await bank.receive(timeout_s=0)] == [sent.message_id]
                assert await bank.receive(timeout_s=0) == []
            async with GatewayClient.bus(bus, "bank-a", pull=True) as bank:  # not acked: comes again
                [again] = await bank.receive(timeout_s=0)
                assert again.message_id == sent.message_id
                await bank.ack(again)
