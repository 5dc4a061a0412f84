"""The HTTP listener of `tgw up` under bytes written by hand and a database that goes away.

Issue 9, "Input and protocol", against a real running server (`gateway.server.start_server`):

* aiohttp's own 400s (oversized header, malformed chunking, a bad method or header character)
  answered in plain text and echoed the request: an `Authorization` header over 8,190 bytes came
  back in the body, bearer token included. Every error is now coded JSON and quotes nothing.
* With PostgreSQL down, `GET /v1/inbox`, `POST /v1/inbox/ack`, `GET /v1/messages/{id}` and
  `GET /v1/trace/...` answered a plain-text 500 (a refused connection is an OSError). Every
  endpoint answers a coded 503 `unavailable`. The outage is made with a TCP proxy the test owns
  in front of the shared PostgreSQL server, which itself is never touched.
* A UTF-16 envelope posted over HTTP was queued for the bank: now `xml-bad-encoding`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import PG_URL
from gateway_helpers import payment
from http_raw import open_raw, port_of, read_to_eof, response_parts, served
from structlog.testing import capture_logs

from gateway.server import ServerConfig, start_server
from messages.errors import CODES
from runner.world import DevWorld

SECRET = "SECRET-TOKEN-5f1d2c"  # must never come back in a response or reach the log


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


async def _raw(port: int, *parts: bytes) -> bytes:
    """Write the parts (yielding to the loop between them) and read until the server closes."""
    reader, writer = await open_raw(port)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0)
        return await read_to_eof(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _head(method: str, path: str, *headers: bytes) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: gw\r\n".encode() + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


_BIG = b"x" * 9000  # over aiohttp's 8,190-byte line limit

PROTOCOL_ERRORS: dict[str, tuple[bytes, ...]] = {
    "oversized-header": (_head("GET", "/v1/inbox", b"X-Padding: " + _BIG),),
    "oversized-authorization": (_head("GET", "/v1/inbox", b"Authorization: Bearer " + SECRET.encode() + _BIG),),
    "authorization-with-a-control-char": (_head("GET", "/v1/inbox", f"Authorization: Bearer {SECRET}\x01".encode()),),
    "oversized-request-line": (_head("GET", "/v1/inbox?" + "a" * 9000),),
    "bad-method": (b"G@T /v1/inbox HTTP/1.1\r\nHost: gw\r\n\r\n",),
    "not-http": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + SECRET.encode() + b"\r\n\r\n",),
    "broken-chunk-size": (_head("POST", "/v1/messages", b"Authorization: Bearer " + SECRET.encode(),
                                b"Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n",),
    "chunk-longer-than-its-size": (_head("POST", "/v1/inbox/ack", b"Authorization: Bearer " + SECRET.encode(),
                                         b"Transfer-Encoding: chunked") + b"2\r\nabcdef\r\n0\r\n\r\n",),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_ERRORS))
async def test_aiohttp_protocol_errors_are_coded_json_and_echo_nothing(world: DevWorld, tmp_path: Path,
                                                                      case: str) -> None:
    async with served(world, tmp_path) as server:
        with capture_logs() as logs:
            raw = await _raw(port_of(server), *PROTOCOL_ERRORS[case])
    status, headers, body = response_parts(raw)
    assert 400 <= status < 500, raw[:300]
    assert headers["content-type"].startswith("application/json"), raw[:300]
    payload = json.loads(body)
    assert payload["code"] in CODES and payload["code"] == "bad-request"
    assert payload["message"]
    assert SECRET.encode() not in raw and b"xxxxxxxx" not in raw  # nothing of the request comes back
    assert SECRET not in repr(logs) and "xxxxxxxx" not in repr(logs)


async def test_a_chunk_broken_after_the_handler_started_reading(world: DevWorld, tmp_path: Path) -> None:
    """The body goes bad once the handler is reading it: still a coded 400, never a 500."""
    token = world.participants[world.treasury.id].token
    head = _head("POST", "/v1/messages", f"Authorization: Bearer {token}".encode(), b"Transfer-Encoding: chunked")
    async with served(world, tmp_path) as server:
        raw = await _raw(port_of(server), head + b"5\r\n<MOF>\r\n", b"zz\r\n" + SECRET.encode() + b"\r\n0\r\n\r\n")
    status, headers, body = response_parts(raw)
    assert status == 400, raw[:300]
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] in CODES
    assert SECRET.encode() not in raw


async def test_a_utf16_envelope_over_http_is_refused_and_not_queued(world: DevWorld, tmp_path: Path) -> None:
    treasury, bank = world.participants[world.treasury.id], world.participants["bank-a"]
    good = world.envelope([payment(world)], sender=treasury.id)
    async with served(world, tmp_path) as server, aiohttp.ClientSession() as session:
        for wide in (good.decode("utf-8").encode("utf-16-le"),  # no BOM, declaration says UTF-8
                     good.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-be"),
                     good.decode("utf-8").encode("utf-32-le")):
            async with session.post(f"{server.http_url}/v1/messages", data=wide,
                                    headers={"Authorization": f"Bearer {treasury.token}"}) as resp:
                assert resp.status == 400
                body = await resp.json()
            assert body["code"] == "xml-bad-encoding"
            assert body["results"][0]["errors"][0]["path"] == "/"
        async with session.get(f"{server.http_url}/v1/inbox",
                               headers={"Authorization": f"Bearer {bank.token}"}) as resp:
            assert (await resp.json())["messages"] == []
        async with session.post(f"{server.http_url}/v1/messages", data=good,
                                headers={"Authorization": f"Bearer {treasury.token}"}) as resp:
            assert resp.status == 200  # the same envelope in UTF-8 passes


# ---------------------------------------------------------------------- the database goes away


class Proxy:
    """A TCP proxy to the shared PostgreSQL server, owned by the test: `down()` closes every
    connection and refuses new ones on the same port; `up()` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def _pg_url_via(port: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(PG_URL)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


async def _pg_target() -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(PG_URL)
    target = (parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*target), 5)
    except (OSError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    writer.close()
    return target


@pytest.mark.postgres
async def test_every_endpoint_answers_a_coded_503_while_postgresql_is_down(world: DevWorld) -> None:
    proxy = Proxy(await _pg_target())
    await proxy.up()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    treasury, bank = world.participants[world.treasury.id], world.participants["bank-a"]
    envelope = world.envelope([payment(world)], sender=treasury.id)
    try:
        cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                           db=_pg_url_via(proxy.port), db_schema=schema, http_port=0)
        server = await start_server(cfg)
        try:
            url = server.http_url
            assert url is not None
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{url}/v1/messages", data=envelope,
                                        headers={"Authorization": f"Bearer {treasury.token}"}) as resp:
                    assert resp.status == 200
                    message_id = (await resp.json())["results"][0]["message_id"]
                await proxy.down()  # PostgreSQL is gone: open connections cut, new ones refused
                key = payment_key(envelope)
                calls: list[tuple[str, str, str, Any]] = [
                    ("POST", "/v1/messages", treasury.token, envelope),
                    ("GET", "/v1/inbox", bank.token, None),
                    ("GET", "/v1/inbox?wait=1", bank.token, None),
                    ("POST", "/v1/inbox/ack", bank.token, json.dumps({"ids": [message_id]})),
                    ("GET", f"/v1/messages/{message_id}", bank.token, None),
                    ("GET", f"/v1/trace/{key}", treasury.token, None),
                ]
                for _round in range(2):  # the first call meets the cut connection, the next a refused one
                    for method, path, token, data in calls:
                        async with session.request(method, url + path, data=data,
                                                   headers={"Authorization": f"Bearer {token}"}) as resp:
                            text = await resp.text()
                            assert resp.status == 503, (method, path, resp.status, text)
                            assert resp.content_type == "application/json", (method, path, text)
                            assert json.loads(text)["code"] == "unavailable", (method, path, text)
                await proxy.up()  # back: the pool reconnects and the endpoints answer again
                async with session.get(f"{url}/v1/messages/{message_id}",
                                       headers={"Authorization": f"Bearer {bank.token}"}) as resp:
                    assert resp.status == 200, await resp.text()
        finally:
            await server.stop()
    finally:
        with contextlib.suppress(AssertionError):
            await proxy.down()
        await _drop_schema(schema)


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def payment_key(envelope: bytes) -> str:
    from messages.envelope import parse_envelope

    body = parse_envelope(envelope).bodies[0]
    return f"{body.adm_div_code}/{body.st_year}/{body.vtcode}/{body.voucher_no}"


# ---------------------------------------------------------------------- `tgw up` waits for the database


class FakeSleep:
    """Stands in for asyncio.sleep: records the delays and brings the database up after `n` waits."""

    def __init__(self, proxy: Proxy, up_after: int) -> None:
        self.proxy, self.up_after = proxy, up_after
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) == self.up_after:
            await self.proxy.up()


async def _closed_proxy() -> Proxy:
    proxy = Proxy(await _pg_target())
    await proxy.up()
    await proxy.down()  # its port is now closed, and the test may open it again
    return proxy


@pytest.mark.postgres
async def test_open_database_waits_with_backoff_until_postgresql_answers() -> None:
    from storage.db import DB_WAIT_MAX_S, open_database_waiting

    proxy = await _closed_proxy()
    sleep = FakeSleep(proxy, up_after=9)
    waits: list[tuple[int, float, str]] = []
    db = await open_database_waiting(_pg_url_via(proxy.port), sleep=sleep,
                                     on_wait=lambda n, d, e: waits.append((n, d, type(e).__name__)))
    try:
        assert await db.fetchrow("SELECT 1") == (1,)
    finally:
        await db.close()
        await proxy.down()
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, DB_WAIT_MAX_S, DB_WAIT_MAX_S, DB_WAIT_MAX_S]
    assert waits == [(n, d, "StateError") for n, d in enumerate(sleep.delays, start=1)]


async def test_a_refused_login_is_not_waited_for() -> None:
    from messages.errors import StateError
    from storage.db import open_database_waiting

    async def never(_: float) -> None:
        raise AssertionError("must not wait for a URL that cannot work")

    with pytest.raises(StateError, match="unsupported database url"):
        await open_database_waiting("mysql://nope", sleep=never)


@pytest.mark.postgres
async def test_tgw_up_started_while_postgresql_is_down_waits_and_logs_each_attempt(
        world: DevWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    import gateway.server
    from storage.db import open_database_waiting

    proxy = await _closed_proxy()
    sleep = FakeSleep(proxy, up_after=3)
    monkeypatch.setattr(gateway.server, "open_database_waiting", functools.partial(open_database_waiting, sleep=sleep))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=_pg_url_via(proxy.port), db_schema=schema, http_port=0)
    with capture_logs() as logs:
        server = await start_server(cfg)
    try:
        waits = [e for e in logs if e["event"] == "database.unavailable"]
        assert [(e["attempt"], e["retry_in_s"]) for e in waits] == [(1, 0.5), (2, 1.0), (3, 2.0)]
        assert all("Connect call failed" in e["error"] or "refused" in e["error"].lower() for e in waits), waits
        async with aiohttp.ClientSession() as session, session.get(f"{server.http_url}/healthz") as resp:
            assert resp.status == 200
    finally:
        await server.stop()
        await proxy.down()
        await _drop_schema(schema)


@pytest.mark.postgres
async def test_sigterm_while_waiting_for_the_database_ends_tgw_up(world: DevWorld,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    import gateway.server
    from gateway.server import serve
    from storage.db import open_database_waiting

    proxy = await _closed_proxy()
    stop = asyncio.Event()
    waited: list[float] = []

    async def sleep_then_stop(delay: float) -> None:
        waited.append(delay)
        stop.set()  # as SIGTERM would
        await asyncio.Event().wait()  # the database never comes back

    monkeypatch.setattr(gateway.server, "open_database_waiting",
                        functools.partial(open_database_waiting, sleep=sleep_then_stop))
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=_pg_url_via(proxy.port), http_port=0)
    await asyncio.wait_for(serve(cfg, stop=stop), 30)
    assert waited == [0.5]


# ---------------------------------------------------------------------- the spec and the server agree


def _inbox_params() -> dict[str, dict[str, Any]]:
    from gateway.openapi import openapi_document

    op = openapi_document()["paths"]["/v1/inbox"]["get"]
    assert "400" in op["responses"] and "503" in op["responses"]
    return {p["name"]: p["schema"] for p in op["parameters"]}


def test_the_inbox_parameters_have_their_bounds_in_the_spec() -> None:
    params = _inbox_params()
    assert params["cursor"]["minimum"] == 0 and params["cursor"]["maximum"] == 2**63 - 1
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)
    assert (params["wait"]["minimum"], params["wait"]["maximum"]) == (0, 60)


async def test_the_server_refuses_exactly_what_the_spec_puts_out_of_range(world: DevWorld, tmp_path: Path) -> None:
    params = _inbox_params()
    inside = {"cursor": [0, params["cursor"]["maximum"]], "limit": [1, params["limit"]["maximum"]],
              "wait": [0, params["wait"]["maximum"]]}
    outside = {"cursor": [-1, params["cursor"]["maximum"] + 1], "limit": [0, params["limit"]["maximum"] + 1],
               "wait": [-0.5, params["wait"]["maximum"] + 0.001, "nan", "inf"]}
    bank, treasury = world.participants["bank-a"], world.participants[world.treasury.id]
    async with served(world, tmp_path) as server, aiohttp.ClientSession() as session:
        # One delivery waiting: a long poll with the largest wait answers at once.
        async with session.post(f"{server.http_url}/v1/messages", data=world.envelope([payment(world)],
                                sender=treasury.id), headers={"Authorization": f"Bearer {treasury.token}"}) as resp:
            assert resp.status == 200
        headers = {"Authorization": f"Bearer {bank.token}"}
        for name, values in inside.items():
            for value in values:
                async with session.get(f"{server.http_url}/v1/inbox", params={name: str(value)},
                                       headers=headers) as resp:
                    assert resp.status == 200, (name, value, await resp.text())
        for name, values in outside.items():
            for value in values:
                async with session.get(f"{server.http_url}/v1/inbox", params={name: str(value)},
                                       headers=headers) as resp:
                    assert resp.status == 400, (name, value, await resp.text())
                    body = await resp.json()
                    assert body["code"] == "bad-request" and name in body["message"]


@pytest.mark.parametrize("token", [b"\xff\xfe", b"caf\xc3", "令牌".encode("gbk")], ids=["ff-fe", "cut-utf8", "gbk"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/inbox"), ("GET", "/v1/me"), ("POST", "/v1/messages"),
                                              ("GET", "/v1/clock")])
async def test_a_bearer_token_that_is_no_utf8_is_unauthenticated(world: DevWorld, tmp_path: Path, token: bytes,
                                                                 method: str, path: str) -> None:
    body = b"<MOF/>" if method == "POST" else b""
    head = _head(method, path, b"Authorization: Bearer " + token, b"Connection: close",
                 f"Content-Length: {len(body)}".encode())
    async with served(world, tmp_path) as server:
        raw = await _raw(port_of(server), head + body)
    status, _, answer = response_parts(raw)
    # was: 500 internal-error (the token's hash met a UnicodeEncodeError)
    assert status == 401 and json.loads(answer)["code"] == "unauthenticated", raw[:300]
