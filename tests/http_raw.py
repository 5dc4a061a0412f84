"""A real `tgw up` HTTP listener for tests that speak raw bytes to it (test_http_limits, test_http_protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway.server import RunningServer, ServerConfig, start_server
from runner.world import DevWorld

READ_BOUND_S = 60.0  # bound on every read from the server; none comes near it, even under load


@asynccontextmanager
async def served(world: DevWorld, tmp: Path, **config: Any) -> AsyncIterator[RunningServer]:
    """`start_server` for the world's participants and certificates, SQLite in `tmp`, HTTP on a free
    port of 127.0.0.1; `config` is any other `ServerConfig` field (http_limits, gateway...)."""
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=f"sqlite:///{tmp / 'gw.db'}", http_port=0, **config)
    server = await start_server(cfg)
    try:
        yield server
    finally:
        await server.stop()


class _AnswerKeepingReader(asyncio.StreamReader):
    """A reset after the server's answer ends the stream instead of hiding the answer.

    A server that closes while some of the client's bytes are still unread (a slowloris cut off
    mid-trickle: aiohttp stops reading, then closes) sends a TCP RST. asyncio's StreamReader then
    raises ConnectionResetError on the next read even with the whole answer in its buffer; the more
    loaded the machine, the longer that window. Here a reset or broken pipe is the end of the stream."""

    def set_exception(self, exc: BaseException) -> None:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            self.feed_eof()
        else:
            super().set_exception(exc)


async def open_raw(port: int, host: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection`, with a reader that keeps what the server said if it then resets."""
    loop = asyncio.get_running_loop()
    reader = _AnswerKeepingReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def port_of(server: RunningServer) -> int:
    assert server.http_url is not None
    return int(server.http_url.rsplit(":", 1)[1])


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded by READ_BOUND_S)."""
    async with asyncio.timeout(READ_BOUND_S):
        return await reader.read()


def response_parts(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body
