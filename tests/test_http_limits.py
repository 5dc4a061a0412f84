"""Connection and memory limits of the HTTP listener, with real sockets against a real server on
127.0.0.1: idle, head and body timeouts, the connection cap, the request-body byte budget, and the
rate-limited log of accept() resource errors (in-process and as `tgw up` under a low descriptor
limit).

Timeouts are configured small so the tests are quick; every wait is bounded and nothing asserts
on speed: a test waits for the server to act, however long that takes within its bound.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from http_raw import open_raw, port_of, read_to_eof, response_parts, served
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import metrics
from gateway.http_limits import (
    ACCEPT_BACKLOG,
    BODY_BUDGET_KEY,
    FDS_RESERVED,
    REFUSED_LINGERING_MAX,
    BodyBudget,
    HttpLimits,
    ResourceErrorLog,
    effective_connections_max,
)
from gateway.service import GatewayConfig
from messages.errors import CODES
from messages.xmlsafe import Limits
from runner.world import DevWorld

TGW = str(Path(sys.executable).with_name("tgw"))
# Every wait on the server is bounded by this; none is expected to come near it, and a loaded machine
# (the full suite on 2 cores) must not fail a test on speed: the tests assert behaviour only.
BOUND_S = 60.0
STARTUP_BOUND_S = 180.0  # `tgw up` in a subprocess: a cold interpreter importing the gateway, under load
STALLED_READ_S = 15.0  # a stalled server's flood: each connection is waited for this long at most

SMALL = HttpLimits(idle_timeout_s=0.6, header_timeout_s=0.3, body_timeout_s=0.6, body_wait_s=0.3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One response (head and Content-Length body), without waiting for the connection to close."""
    async with asyncio.timeout(BOUND_S):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return head + await reader.readexactly(length)


def _status_and_body(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, body = response_parts(raw)
    return status, headers, json.loads(body)


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every_s: float = 0.05) -> None:
    """Send one byte at a time until the server hangs up (a slowloris client)."""
    with suppress(ConnectionError):
        for i in range(len(data)):
            writer.write(data[i:i + 1])
            await writer.drain()
            await asyncio.sleep(every_s)


# ---------------------------------------------------------------------- timeouts


async def test_slowloris_head_is_cut_off_with_a_coded_408(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, http_limits=SMALL) as server:
        reader, writer = await open_raw(port_of(server))
        sender = asyncio.create_task(_trickle(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: a\r\n" * 999))
        raw = await read_to_eof(reader)
        sender.cancel()
        writer.close()
        status, headers, body = _status_and_body(raw)
        assert status == 408 and body["code"] == "request-timeout" and "head" in body["message"]
        assert headers["connection"] == "close"


async def test_many_slowloris_connections_all_closed(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, http_limits=SMALL) as server:
        conns = [await open_raw(port_of(server)) for _ in range(50)]
        senders = [asyncio.create_task(_trickle(w, b"POST /v1/messages HTTP/1.1\r\n" * 99)) for _, w in conns]
        answers = await asyncio.gather(*(read_to_eof(r) for r, _ in conns))
        for task in senders:
            task.cancel()
        for _, w in conns:
            w.close()
        assert all(_status_and_body(a)[0] == 408 for a in answers)


async def test_idle_connection_closed_before_and_after_a_request(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, http_limits=SMALL) as server:
        reader, writer = await open_raw(port_of(server))
        assert await read_to_eof(reader) == b""  # never sent a byte: closed, nothing said
        writer.close()
        reader, writer = await open_raw(port_of(server))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = await read_to_eof(reader)  # keep-alive: the server closes once idle
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200")


async def test_slow_body_is_cut_off_with_a_coded_408(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, http_limits=SMALL) as server:
        reader, writer = await open_raw(port_of(server))
        writer.write(f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {world.treasury.token}\r\n"
                     "Content-Type: application/xml\r\nContent-Length: 5000\r\n\r\n".encode())
        sender = asyncio.create_task(_trickle(writer, b"<" * 5000))
        raw = await read_to_eof(reader)
        sender.cancel()
        writer.close()
        status, _, body = _status_and_body(raw)
        assert status == 408 and body["code"] == "request-timeout" and "body" in body["message"]
        assert body["code"] in CODES


async def test_a_normal_request_with_a_body_passes(world: DevWorld, tmp_path: Path) -> None:
    import aiohttp

    async with (served(world, tmp_path, http_limits=SMALL) as server, aiohttp.ClientSession() as session,
                session.post(f"{server.http_url}/v1/messages", data=b"<not-xml",
                             headers={"Authorization": f"Bearer {world.treasury.token}"}) as resp):
        assert resp.status == 400  # judged by the pipeline, not by a limit
        assert (await resp.json())["code"] not in ("request-timeout", "unavailable")


# ---------------------------------------------------------------------- connection cap


async def test_connections_over_the_cap_get_503_and_the_gateway_recovers(world: DevWorld, tmp_path: Path) -> None:
    import aiohttp

    async with served(world, tmp_path, http_limits=replace(SMALL, connections_max=3)) as server:
        held = [await open_raw(port_of(server)) for _ in range(3)]
        async with asyncio.timeout(BOUND_S):
            while metrics.HTTP_CONNECTIONS._value.get() < 3:  # noqa: ASYNC110 - the server counted the three
                await asyncio.sleep(0.01)
        reader, writer = await open_raw(port_of(server))
        status, headers, body = _status_and_body(await read_to_eof(reader))
        writer.close()
        assert status == 503 and body["code"] == "unavailable" and headers["retry-after"] == "1"
        # the held ones time out (idle), then a new client is served
        assert [await read_to_eof(r) for r, _ in held] == [b""] * 3
        for _, w in held:
            w.close()
        async with aiohttp.ClientSession() as session, session.get(f"{server.http_url}/healthz") as resp:
            assert resp.status == 200


def test_connection_cap_follows_the_descriptor_limit() -> None:
    assert effective_connections_max(HttpLimits(), 1024) == (1024 - FDS_RESERVED - ACCEPT_BACKLOG
                                                             - REFUSED_LINGERING_MAX)
    assert effective_connections_max(HttpLimits(connections_max=100), 1024) == 100
    with structlog.testing.capture_logs() as logs:
        assert effective_connections_max(HttpLimits(connections_max=5000), 1024) == 5000  # asked for: kept, said
    assert [e["event"] for e in logs] == ["http.connections_max_above_fd_limit"]


@pytest.mark.parametrize("bad", [{"idle_timeout_s": 0}, {"header_timeout_s": float("nan")}, {"connections_max": 0},
                                 {"body_bytes_in_flight_max": -1}, {"body_wait_s": "5"}])
def test_limits_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        HttpLimits(**bad)


# ---------------------------------------------------------------------- body budget


async def test_bodies_over_the_budget_get_503_none_lost_and_the_cap_holds(world: DevWorld, tmp_path: Path) -> None:
    """10 bodies of 60,000 bytes against a budget of 250,000: 4 are held (their bodies arrive
    late), 6 are refused with a coded 503 and Retry-After; every request gets exactly one answer."""
    limits = replace(SMALL, body_bytes_in_flight_max=250_000, body_timeout_s=BOUND_S, idle_timeout_s=BOUND_S,
                     header_timeout_s=BOUND_S)
    size = 60_000
    gateway = GatewayConfig(limits=Limits(envelope_bytes_max=65_536))
    async with served(world, tmp_path, http_limits=limits, gateway=gateway) as server:
        assert server.runner is not None
        budget = server.runner.app[BODY_BUDGET_KEY]
        assert budget.bytes_max == 250_000
        head = (f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {world.treasury.token}\r\n"
                f"Content-Type: application/xml\r\nContent-Length: {size}\r\n\r\n").encode()
        conns = [await open_raw(port_of(server)) for _ in range(10)]
        for _, w in conns:
            w.write(head + b"<" * (size // 2))
        reads = [asyncio.create_task(_read_response(r)) for r, _ in conns]
        async with asyncio.timeout(BOUND_S):  # wait for the six refusals
            for answered, next_answer in enumerate(asyncio.as_completed(reads), start=1):
                await next_answer
                if answered == 6:
                    break
        assert budget.in_flight == 4 * size and metrics.HTTP_BODY_BYTES_IN_FLIGHT._value.get() == 4 * size
        for _, w in conns:  # the rest of every body; refused connections may be gone already
            with suppress(OSError):
                w.write(b"<" * (size - size // 2))
                w.write_eof()
                await w.drain()
        answers = [_status_and_body(raw) for raw in await asyncio.gather(*reads)]
        for _, w in conns:
            w.close()
    refused = [a for a in answers if a[0] == 503]
    assert len(refused) == 6 and len(answers) == 10
    assert all(body["code"] == "unavailable" and headers["retry-after"] == "1" for _, headers, body in refused)
    assert all(status == 400 and body["code"] == "xml-malformed" for status, _, body in answers if status != 503)
    assert budget.peak == 4 * size <= budget.bytes_max and budget.in_flight == 0


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 100), min_size=1, max_size=30), cap=st.integers(100, 300))
def test_budget_never_exceeds_its_cap(sizes: list[int], cap: int) -> None:
    async def run() -> tuple[BodyBudget, list[bool]]:
        budget = BodyBudget(cap)

        async def one(i: int, n: int) -> bool:
            if not await budget.acquire(n, wait_s=0.05):
                return False
            assert budget.in_flight <= cap
            for _ in range(i % 3):
                await asyncio.sleep(0)
            budget.release(n)
            return True

        return budget, list(await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes))))

    budget, got = asyncio.run(run())
    assert budget.peak <= cap and budget.in_flight == 0
    assert got[0]  # the first always fits (each is at most 100 <= cap)


async def test_budget_waiter_gets_in_when_room_frees() -> None:
    budget = BodyBudget(100)
    assert await budget.acquire(80, wait_s=1)
    waiting = asyncio.create_task(budget.acquire(50, wait_s=BOUND_S))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.release(80)
    assert await waiting and budget.in_flight == 50
    assert not await budget.acquire(101, wait_s=BOUND_S)  # can never fit: refused at once


# ---------------------------------------------------------------------- resource errors


async def test_resource_errors_are_logged_once_per_interval_with_a_count() -> None:
    now = [0.0]
    seen: list[dict[str, Any]] = []
    handler = ResourceErrorLog(10.0, lambda _loop, ctx: seen.append(ctx), monotonic=lambda: now[0])
    loop = asyncio.get_running_loop()
    emfile = {"message": "socket.accept() out of system resource", "exception": OSError(errno.EMFILE, "Too many")}
    with structlog.testing.capture_logs() as logs:
        for i in range(100_000):  # 100,000 failed accepts over 25 s
            now[0] = i * 25.0 / 100_000
            handler(loop, emfile)
        handler(loop, {"message": "something else", "exception": ValueError("x")})
        handler._write(emfile)  # what the pending flush timer does
    lines = [e for e in logs if e["event"] == "http.accept_resource_error"]
    assert len(lines) == 4  # at 0, 10, 20 s, and the flush of the rest
    assert sum(e["count"] for e in lines) == 100_000 == handler.total
    assert [c["message"] for c in seen] == ["something else"]  # others go to the previous handler


def _tgw_up_low_fds(world: DevWorld, tmp: Path, fd_limit: int, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    ready, log_path = tmp / "ready", tmp / "tgw.log"

    def limit_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([TGW, "up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                             "--db", f"sqlite:///{tmp / 'gw.db'}", "--http", "127.0.0.1:0", "--ready-file", str(ready),
                             "--workers", "0", *extra], stdout=log_file, stderr=subprocess.STDOUT,
                            preexec_fn=limit_fds)
    deadline = time.monotonic() + STARTUP_BOUND_S
    while time.monotonic() < deadline and proc.poll() is None:
        if ready.exists() and ready.read_text().startswith("http"):
            return proc, ready.read_text().strip(), log_path
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"tgw up did not start: {log_path.read_text()[-2000:]}")


async def _stall(pid: int, stop: asyncio.Event) -> None:
    """Stop and continue the process over and over: a server starved of CPU on a loaded machine.
    While it is stopped the kernel completes handshakes into its listen queue; each time it runs
    it finds a whole queue of connections to accept at once."""
    try:
        while not stop.is_set():
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0.05)
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(0.003)
    finally:
        os.kill(pid, signal.SIGCONT)


async def _flood_then_healthz(url: str, n: int, *, stall_pid: int | None = None) -> int:
    """Open `n` idle connections (all at once when stalling the server `stall_pid` meanwhile), wait
    until the server has dropped them all, then GET /healthz."""
    import aiohttp

    host, port = url.split("//")[1].split(":")
    conns = []

    async def connect() -> None:
        with suppress(OSError):
            conns.append(await open_raw(int(port), host))

    if stall_pid is None:
        for _ in range(n):
            await connect()
    else:
        stop = asyncio.Event()
        stalling = asyncio.create_task(_stall(stall_pid, stop))
        try:
            await asyncio.gather(*(connect() for _ in range(n)))
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await stalling
    if stall_pid is None:
        await asyncio.gather(*(read_to_eof(r) for r, _ in conns))  # each answered 503 or timed out idle
    else:
        # A connection the kernel completed while the listen queue was full may have had its last
        # ACK dropped: the client holds it open, the server never saw it, and nothing will come.
        # Those are the kernel's, not the gateway's: give every connection a while, then go on.
        async def answer(reader: asyncio.StreamReader) -> None:
            with suppress(TimeoutError):
                async with asyncio.timeout(STALLED_READ_S):
                    await reader.read()

        await asyncio.gather(*(answer(r) for r, _ in conns))
    for _, w in conns:
        w.close()
    async with asyncio.timeout(BOUND_S):
        while True:  # accept() may still be catching up on its backlog
            with suppress(aiohttp.ClientError):
                async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as resp:
                    return resp.status
            await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("cap_args", [[], ["--connections-max", "1000"]], ids=["cap-from-fd-limit", "cap-above-it"])
async def test_tgw_up_under_a_low_fd_limit_stays_reachable_and_logs_little(world: DevWorld, tmp_path: Path,
                                                                            cap_args: list[str]) -> None:
    """`tgw up` with 400 descriptors, 500 idle connections. With the cap derived from the limit no
    accept() fails; with a cap above it the acceptor refuses at the descriptor limit, and
    an accept() that runs out of descriptors all the same is logged once per interval, not per
    attempt. Either way /healthz answers a new client once idle ones go."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    interval_s = 0.5
    proc, url, log_path = _tgw_up_low_fds(world, tmp_path, 400, "--idle-timeout", "1", "--header-timeout", "0.5",
                                          "--resource-log-interval", str(interval_s), *cap_args)
    started = time.monotonic()
    try:
        status = await _flood_then_healthz(url, 500)
    finally:
        elapsed_s = time.monotonic() - started
        proc.terminate()
        proc.wait(BOUND_S)
    log_text = log_path.read_text()
    assert status == 200, log_text[-3000:]
    assert '"calendar_last_day": "2026-12-31"' in log_text
    asyncio_lines = log_text.count("out of system resource")
    ours = [json.loads(line) for line in log_text.splitlines() if "http.accept_resource_error" in line]
    assert asyncio_lines == 0  # never once per attempt
    assert len(ours) <= 2 + elapsed_s / interval_s  # once per interval, plus the last flush
    if not cap_args:
        assert ours == []  # the cap kept accept() from running out


@pytest.mark.slow
async def test_tgw_up_starved_of_cpu_during_a_flood_never_runs_out_of_descriptors(world: DevWorld,
                                                                                tmp_path: Path) -> None:
    """The flood of the test above, all at once, while the server is stopped and continued every
    50 ms (a loaded machine, exaggerated): each time it runs it accepts a full listen queue. Old
    code (asyncio's own accept loop) held several such bursts before any protocol saw them and
    closed refused ones a loop turn late: accept() failed with EMFILE in 3 of 5 such floods on
    the shared 2-core machine at load 12 (none at load 4). The `Acceptor` counts each socket from
    accept() to close and, at the limit, answers 503 and closes within the accept itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    proc, url, log_path = _tgw_up_low_fds(world, tmp_path, 400, "--idle-timeout", "1", "--header-timeout", "0.5",
                                          "--resource-log-interval", "0.5")
    try:
        status = await _flood_then_healthz(url, 500, stall_pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(BOUND_S)
    log_text = log_path.read_text()
    assert status == 200, log_text[-3000:]
    assert "out of system resource" not in log_text
    assert "http.accept_resource_error" not in log_text, log_text[-3000:]


async def _until(done: Any) -> None:
    async with asyncio.timeout(BOUND_S):
        while True:
            if done():
                return
            await asyncio.sleep(0.005)


async def test_acceptor_holds_at_most_sockets_max_and_answers_the_rest_503_at_once() -> None:
    """Three clients, room for two sockets: the third is accepted, answered a coded 503 and closed
    in the same callback (never held); once one of the two closes, a fourth is taken as usual."""
    import socket

    from gateway.http_limits import Acceptor

    made: list[asyncio.Transport] = []

    class Keep(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            made.append(transport)

    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    listener.setblocking(False)
    acceptor = Acceptor(listener, Keep, sockets_max=2)
    acceptor.start()
    port = listener.getsockname()[1]
    try:
        clients = [await open_raw(port) for _ in range(2)]
        await _until(lambda: len(made) == 2)
        reader, writer = await open_raw(port)
        status, headers, body = response_parts(await read_to_eof(reader))  # closed by the server
        assert status == 503 and json.loads(body)["code"] == "unavailable" and "retry-after" in headers
        assert len(made) == 2 and acceptor.held == 2 and acceptor.refused_at_max == 1
        writer.close()
        made[0].close()
        await _until(lambda: acceptor.held == 1)
        clients.append(await open_raw(port))
        await _until(lambda: len(made) == 3)
        assert acceptor.held == 2 and acceptor.refused_at_max == 1
        for t in made[1:]:
            t.close()
        await _until(lambda: acceptor.held == 0)
        for _, w in clients:
            w.close()
    finally:
        acceptor.close()


async def test_acceptor_pauses_after_emfile_instead_of_retrying_at_once() -> None:
    """accept() out of descriptors: one report to the loop's exception handler, then no accept()
    until ACCEPT_PAUSE_S has passed (asyncio's own loop retried within the same turn)."""
    import socket

    from gateway.http_limits import ACCEPT_PAUSE_S, Acceptor

    class Exhausted:
        def __init__(self) -> None:
            self.real = socket.create_server(("127.0.0.1", 0), backlog=8)
            self.real.setblocking(False)
            self.calls = 0

        def fileno(self) -> int:
            return self.real.fileno()

        def accept(self) -> Any:
            self.calls += 1
            raise OSError(errno.EMFILE, "Too many open files")

        def close(self) -> None:
            self.real.close()

    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))
    listener = Exhausted()
    acceptor = Acceptor(listener, asyncio.Protocol, sockets_max=10)  # type: ignore[arg-type]
    acceptor.start()
    try:
        client = await asyncio.open_connection("127.0.0.1", listener.real.getsockname()[1])
        await _until(lambda: bool(seen))
        # One failed accept(), then the listener is off the loop with a timer to resume it.
        assert listener.calls == 1 and len(seen) == 1 and ResourceErrorLog.is_resource_error(seen[0])
        assert not acceptor._reading and acceptor._resume_timer is not None
        assert acceptor._resume_timer.when() - loop.time() <= ACCEPT_PAUSE_S
        await _until(lambda: listener.calls >= 2)  # resumed: it tries again (and pauses again)
        client[1].close()
    finally:
        acceptor.close()
        loop.set_exception_handler(previous)
