"""tests/http_raw.py: a server's answer survives the reset that follows it (the slowloris tests' reader)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
from http_raw import open_raw, read_to_eof

ANSWER = b'HTTP/1.1 408 Request Timeout\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'


Opener = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


async def _answer_then_reset(opener: Opener) -> bytes:
    """A server that answers, stops reading, and closes with the client's later bytes unread (a TCP
    RST, as aiohttp cutting off a slow client); the client reads only after the reset came in."""
    answered, reset = asyncio.Event(), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.transport.pause_reading()
        writer.write(ANSWER)
        await writer.drain()
        answered.set()
        await reset.wait()  # the client's next bytes sit unread in the kernel
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    reader, writer = await opener(port)
    try:
        writer.write(b"G")
        async with asyncio.timeout(30):
            await answered.wait()
            writer.write(b"ET / HTTP/1.1\r\n")  # the trickle goes on
            await writer.drain()
            reset.set()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()  # the reset has come in
        return await read_to_eof(reader)
    finally:
        writer.close()
        server.close()


async def test_the_answer_is_read_although_the_server_then_resets() -> None:
    assert await _answer_then_reset(open_raw) == ANSWER


async def test_asyncio_s_own_reader_loses_it() -> None:
    """Why open_raw exists: the stock StreamReader raises with the answer in its buffer."""
    with pytest.raises(ConnectionResetError):
        await _answer_then_reset(lambda port: asyncio.open_connection("127.0.0.1", port))
