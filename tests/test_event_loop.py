"""The event loop `tgw up` runs on (gateway.event_loop): the choice, and the gateway itself served
on uvloop, limits included. Other tests run the server on asyncio's own loop (pytest-asyncio's).

Nothing here asserts on speed: every wait is bounded and only behaviour is checked.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from gateway_helpers import payment
from http_raw import open_raw, port_of, read_to_eof, response_parts, served

from gateway.event_loop import loop_factory, loop_name, run_on
from gateway.http_limits import Acceptor, HttpLimits
from gateway.server import ServerConfig
from messages.errors import InputError
from runner.world import DevWorld

uvloop = pytest.importorskip("uvloop")

BOUND_S = 60.0  # every wait on the server; none comes near it, even on a loaded machine
SMALL = HttpLimits(idle_timeout_s=5.0, header_timeout_s=0.3, body_timeout_s=5.0, body_wait_s=0.3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


def test_the_choice_of_loop() -> None:
    assert loop_factory("asyncio") is None
    factory = loop_factory("uvloop")
    assert factory is not None and loop_factory("auto") is not None  # auto: uvloop, installed here
    loop = factory()
    try:
        assert loop_name(loop) == "uvloop"
    finally:
        loop.close()
    with pytest.raises(InputError) as exc:
        loop_factory("trio")
    assert exc.value.code == "config-invalid"

    async def where() -> str:
        return loop_name(asyncio.get_running_loop())

    assert run_on("uvloop", where()) == "uvloop"
    assert run_on("asyncio", where()) == "asyncio"
    with pytest.raises(InputError):
        run_on("nonsense", where())  # the coroutine is closed, never left unawaited


def test_the_config_file_names_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "tgw.yaml"
    path.write_text("participants: p.yaml\ncerts: keys\nevent_loop: asyncio\n", encoding="utf-8")
    assert ServerConfig.from_file(path).event_loop == "asyncio"
    assert ServerConfig.from_file(path, event_loop="uvloop").event_loop == "uvloop"


def _acceptors(server: object) -> list[Acceptor]:
    runner = server.runner  # type: ignore[attr-defined]
    return [a for site in runner.sites for a in site._server.acceptors]


@pytest.mark.parametrize("workers", [0, 1])
def test_the_gateway_on_uvloop_acks_keeps_its_limits_and_gives_every_descriptor_back(
        world: DevWorld, tmp_path: Path, workers: int) -> None:
    """A voucher accepted over keep-alive (inline and with an admission worker, whose socket pair
    the loop reads), a slowloris cut off with a coded 408, and every accepted socket counted back
    when its connection closes (uvloop detaches the socket object instead of closing it)."""
    import aiohttp

    async def main() -> None:
        assert loop_name(asyncio.get_running_loop()) == "uvloop"
        async with served(world, tmp_path, http_limits=SMALL,
                          admission_workers=workers) as server:
            headers = {"Authorization": f"Bearer {world.treasury.token}", "Content-Type": "application/xml"}
            async with aiohttp.ClientSession() as session:
                for _ in range(2):  # the second on the same connection
                    env = world.envelope([payment(world)], sender=world.treasury.id)
                    async with session.post(f"{server.http_url}/v1/messages", data=env, headers=headers) as resp:
                        body = await resp.json()
                        assert resp.status == 200, body
                        assert body["summary"] == {"accepted": 1, "duplicate": 0, "rejected": 0}
            reader, writer = await open_raw(port_of(server))
            writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n")  # never finished
            status, _, raw = response_parts(await read_to_eof(reader))
            writer.close()
            assert status == 408 and json.loads(raw)["code"] == "request-timeout"
            acceptors = _acceptors(server)
            assert acceptors
            async with asyncio.timeout(BOUND_S):
                while sum(a.held for a in acceptors):  # noqa: ASYNC110 - the server closes its ends
                    await asyncio.sleep(0.01)

    run_on("uvloop", main())
