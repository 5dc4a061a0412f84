"""Issue 14, the HTTP listener's smaller defects, each against a real `start_server` on 127.0.0.1:
aborted uploads, deep JSON, the connection cap's 503, the bearer scheme, the 413's location,
failed logins, the operator's token for /metrics and /healthz, a database outage's 503s, a
stalled TLS handshake, the per-envelope INFO line.

Every wait on the server is bounded (BOUND_S) and nothing asserts on speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway_helpers import payment
from http_raw import open_raw, port_of, response_parts, served
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway import metrics
from gateway.http_common import bearer_token, is_database_failure
from gateway.http_errors import CLIENT_GONE
from gateway.http_json import JSON_DEPTH_MAX, json_depth
from gateway.http_limits import HttpLimits
from gateway.server import ServerConfig
from gateway.service import GatewayConfig
from messages.errors import CODES, StateError
from messages.keys import issue_server
from messages.xmlsafe import Limits
from runner.world import DevWorld

BOUND_S = 60.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


def _auth(world: DevWorld, pid: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[pid or world.treasury.id].token}"}


def _sender(server: Any, world: DevWorld) -> Any:
    """The treasury as the gateway's registry knows it (what Gateway.submit takes)."""
    return server.gateway.registry.by_token(world.treasury.token)


def _value(counter: Any, **labels: str) -> float:
    return float((counter.labels(**labels) if labels else counter)._value.get())


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(BOUND_S):
        while not predicate():  # noqa: ASYNC110 - the server acts on its own time
            await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- VoucherCount over HTTP and the pipeline


async def test_a_huge_voucher_count_is_a_coded_400_over_http_and_a_refusal_for_mqtt(world: DevWorld,
                                                                                      tmp_path: Path) -> None:
    tid = world.treasury.id
    env = world.envelope([payment(world)], sender=tid).replace(
        b"<VoucherCount>1</VoucherCount>", b"<VoucherCount>" + b"5" * 5000 + b"</VoucherCount>")
    async with served(world, tmp_path) as server:
        async with aiohttp.ClientSession(headers=_auth(world)) as s, \
                s.post(f"{server.http_url}/v1/messages", data=env) as resp:
            status, body = resp.status, await resp.json()
        assert status == 400 and body["code"] == "envelope-count-mismatch"
        assert body["results"][0]["errors"][0]["path"] == "/MOF/VoucherCount"
        # The MQTT adapter hands envelopes to the same Gateway.submit
        results = await server.gateway.submit(env, _sender(server, world))
        assert [r.code for r in results] == ["envelope-count-mismatch"]


# ---------------------------------------------------------------------- a client that goes away


async def test_uploads_aborted_mid_body_are_counted_not_500s_with_tracebacks(world: DevWorld, tmp_path: Path) -> None:
    n = 20
    CLIENT_GONE.reset()  # one tally per process: an earlier test's disconnect would defer this test's line 10 s
    async with served(world, tmp_path) as server:
        before = _value(metrics.HTTP_CLIENT_DISCONNECTS)
        head = (f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {world.treasury.token}\r\n"
                "Content-Length: 100000\r\n\r\n").encode()
        with capture_logs() as logs:
            for _ in range(n):
                _, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                writer.write(head + b"<" * 1000)
                await writer.drain()
                await _until(lambda: metrics.HTTP_BODY_BYTES_IN_FLIGHT._value.get() > 0)  # the handler reads it
                writer.transport.abort()
            await _until(lambda: _value(metrics.HTTP_CLIENT_DISCONNECTS) >= before + n)
    assert _value(metrics.HTTP_CLIENT_DISCONNECTS) == before + n
    assert not [e for e in logs if e["log_level"] == "error"], [e["event"] for e in logs]
    gone = [e for e in logs if e["event"] == "http.client_disconnected"]
    assert 1 <= len(gone) <= n // 5 and all("exc_info" not in e for e in gone)  # a line per 10 s, not per event


# ---------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"[" * 100_000, 400, "bad-request"),
    (b'{"ids": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "bad-request"),
    (b'{"ids": ["' + b"a" * 300_000 + b'"]}', 413, "too-large"),
    (b'{"ids": "\xff"}', 400, "bad-request"),
])
async def test_deep_or_large_json_on_ack_is_a_coded_refusal(world: DevWorld, tmp_path: Path, body: bytes,
                                                            status: int, code: str) -> None:
    async with served(world, tmp_path) as server:
        for chunked in (False, True):
            data: Any = body
            if chunked:
                async def gen(b: bytes = body) -> Any:
                    yield b
                data = gen()
            async with aiohttp.ClientSession(headers=_auth(world, "bank-a")) as s, \
                    s.post(f"{server.http_url}/v1/inbox/ack", data=data) as resp:
                assert resp.status == status, await resp.text()
                assert (await resp.json())["code"] == code


def _nested(depth: int) -> Any:
    return st.recursive(st.integers() | st.text(alphabet='[]{}"\\ab', max_size=5),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                      max_size=3),
                        max_leaves=depth)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_nested(30))
def test_json_depth_agrees_with_the_parsed_structure(value: Any) -> None:
    assert json_depth(json.dumps(value)) == _depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False, indent=1)) == _depth(value)


def test_json_depth_max_admits_the_bodies_the_gateway_takes() -> None:
    assert json_depth('{"ids": ["a", "b"]}') == 2 <= JSON_DEPTH_MAX


# ---------------------------------------------------------------------- the connection cap


def _refused_client(port: int, request: bytes, sent: threading.Semaphore) -> tuple[int, dict[str, Any]] | str:
    """A plain blocking client: the whole request, then the answer; a reset at any point is a failure."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        try:
            sock.sendall(request)
        except OSError as exc:
            return f"send failed: {exc!r}"
        finally:
            sent.release()
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            return f"reset after {len(data)} bytes"
    status, _, body = response_parts(data)
    return status, json.loads(body)


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/inbox/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + b" " * 20000,
], ids=["get", "post-with-body"])
async def test_every_client_over_the_connection_cap_reads_the_coded_503(world: DevWorld, tmp_path: Path,
                                                                        request_bytes: bytes) -> None:
    """Clients whose request is already in when the gateway accepts them (a busy loop, a backlog):
    closing such a socket with the request unread sent a TCP reset, and the 503 was lost."""
    n = 20
    limits = HttpLimits(connections_max=2, idle_timeout_s=30)
    async with served(world, tmp_path, http_limits=limits) as server:
        held = [await open_raw(port_of(server)) for _ in range(2)]
        await _until(lambda: metrics.HTTP_CONNECTIONS._value.get() >= 2)
        sent = threading.Semaphore(0)
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(_refused_client, port_of(server), request_bytes, sent) for _ in range(n)]
            for _ in range(n):  # the loop is held here: it accepts nothing until every request is in
                assert sent.acquire(timeout=BOUND_S)
            answers = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        for _, w in held:
            w.close()
    failed = [a for a in answers if isinstance(a, str)]
    assert not failed, f"{len(failed)} of {n} clients did not read the 503: {failed[:3]}"
    assert all(a[0] == 503 and a[1]["code"] == "unavailable" for a in answers if not isinstance(a, str))


# ---------------------------------------------------------------------- authentication


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
async def test_the_bearer_scheme_is_case_insensitive(world: DevWorld, tmp_path: Path, scheme: str) -> None:
    async with served(world, tmp_path) as server:
        headers = {"Authorization": f"{scheme} {world.participants['bank-a'].token}"}
        async with aiohttp.ClientSession(headers=headers) as s, s.get(f"{server.http_url}/v1/participants") as resp:
            assert resp.status == 200


def test_bearer_token_parsing() -> None:
    assert bearer_token("bearer abc") == bearer_token("Bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer") is None and bearer_token("") is None


async def test_failed_logins_are_counted_and_logged_once_per_interval(world: DevWorld, tmp_path: Path) -> None:
    n = 50
    async with served(world, tmp_path) as server:
        before = _value(metrics.HTTP_AUTH_FAILURES, reason="bad-credentials")
        none_before = _value(metrics.HTTP_AUTH_FAILURES, reason="no-credentials")
        with capture_logs() as logs:
            async with aiohttp.ClientSession(headers={"Authorization": "Bearer wrong-token"}) as s:
                for _ in range(n):
                    async with s.get(f"{server.http_url}/v1/inbox") as resp:
                        assert resp.status == 401
            async with aiohttp.ClientSession() as s, s.get(f"{server.http_url}/v1/inbox") as resp:
                assert resp.status == 401
    assert _value(metrics.HTTP_AUTH_FAILURES, reason="bad-credentials") == before + n
    assert _value(metrics.HTTP_AUTH_FAILURES, reason="no-credentials") == none_before + 1
    lines = [e for e in logs if e["event"] == "http.auth_failed"]
    assert 1 <= len(lines) <= n // 10 and lines[0]["peer"] == "127.0.0.1"
    assert all("wrong-token" not in json.dumps(e, default=str) for e in lines)


# ---------------------------------------------------------------------- the 413's location


@pytest.mark.parametrize("chunked", [False, True])
async def test_the_413_names_line_and_path_like_every_refusal(world: DevWorld, tmp_path: Path, chunked: bool) -> None:
    gateway = GatewayConfig(limits=Limits(envelope_bytes_max=2000))
    body = world.envelope([payment(world)], sender=world.treasury.id)
    assert len(body) > 2000
    async with served(world, tmp_path, gateway=gateway) as server:
        async def gen() -> Any:
            yield body
        async with aiohttp.ClientSession(headers=_auth(world)) as s, \
                s.post(f"{server.http_url}/v1/messages", data=gen() if chunked else body) as resp:
            status, err = resp.status, await resp.json()
    assert status == 413 and err["code"] == "xml-too-large"
    assert err["line"] == 1 and err["path"] == "/"


# ---------------------------------------------------------------------- /metrics and /healthz


async def test_the_ops_token_guards_metrics_and_the_detailed_healthz(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path, ops_token="ops-secret-1") as server:
        url = server.http_url
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/metrics") as resp:
                assert resp.status == 401 and (await resp.json())["code"] == "unauthenticated"
            async with s.get(f"{url}/metrics", headers=_auth(world)) as resp:  # a participant is not the operator
                assert resp.status == 401
            async with s.get(f"{url}/metrics", headers={"Authorization": "Bearer ops-secret-1"}) as resp:
                assert resp.status == 200 and "tgw_http_requests_total" in await resp.text()
            async with s.get(f"{url}/healthz") as resp:  # liveness for anyone: the status, nothing else
                assert resp.status == 200 and await resp.json() == {"status": "ok"}
            async with s.get(f"{url}/healthz", headers={"Authorization": "bearer ops-secret-1"}) as resp:
                assert resp.status == 200 and "outbox" in await resp.json()


async def test_without_an_ops_token_metrics_and_healthz_stay_open(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path) as server, aiohttp.ClientSession() as s:
        async with s.get(f"{server.http_url}/metrics") as resp:
            assert resp.status == 200
        async with s.get(f"{server.http_url}/healthz") as resp:
            assert resp.status == 200 and "outbox" in await resp.json()


def test_the_ops_token_and_mqtt_password_come_from_files_in_the_yaml(world: DevWorld, tmp_path: Path) -> None:
    (tmp_path / "ops.token").write_text("tok-1\n")
    (tmp_path / "mqtt.pw").write_text("pw-1\n")
    (tmp_path / "c.yaml").write_text(f"participants: {world.registry_path}\ncerts: {world.keys_dir}\n"
                                     "http: {ops_token_file: ops.token}\n"
                                     "mqtt: {url: 'mqtt://gw@127.0.0.1:1883', password_file: mqtt.pw}\n")
    cfg = ServerConfig.from_file(tmp_path / "c.yaml")
    assert cfg.ops_token == "tok-1" and cfg.mqtt_password == "pw-1"
    assert "tok-1" not in repr(cfg) and "pw-1" not in repr(cfg)


# ---------------------------------------------------------------------- a database outage


DB_DETAIL = "tgw_admin@db.internal.example:5432/treasury_prod"


async def test_a_database_outage_says_unavailable_with_retry_after_and_a_count(world: DevWorld, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    n = 30
    async with served(world, tmp_path) as server:
        gateway = server.gateway

        async def down(*_: Any, **__: Any) -> Any:
            raise StateError(f"database unavailable: PostgreSQL at {DB_DETAIL}: ConnectionRefusedError: refused")

        async def commit_failed(*_: Any, **__: Any) -> Any:
            raise StateError("journal commit failed: cannot call Transaction.__aexit__(): the underlying "
                             "connection is closed")

        monkeypatch.setattr(gateway.outbox, "backlog", down)  # what /healthz reads
        monkeypatch.setattr(gateway.outbox, "counts", down)
        monkeypatch.setattr(gateway.journal, "record", commit_failed)
        before = _value(metrics.HTTP_DATABASE_UNAVAILABLE)
        env = world.envelope([payment(world)], sender=world.treasury.id)
        with capture_logs() as logs:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{server.http_url}/healthz") as resp:
                    status, text, retry = resp.status, await resp.text(), resp.headers.get("Retry-After")
                assert status == 503 and retry and int(retry) > 0
                assert json.loads(text) == {"status": "unhealthy", "error": "database unavailable"}
                for _ in range(n):
                    async with s.post(f"{server.http_url}/v1/messages", data=env, headers=_auth(world)) as resp:
                        status, text, retry = resp.status, await resp.text(), resp.headers.get("Retry-After")
                    assert status == 503 and retry and int(retry) > 0, text
                    body = json.loads(text)
                    assert body["code"] == "unavailable" and body["message"].startswith("database unavailable")
                    assert "Transaction" not in text and "db.internal" not in text and "5432" not in text
    assert _value(metrics.HTTP_DATABASE_UNAVAILABLE) == before + n + 1
    lines = [e for e in logs if e["event"] == "http.database_unavailable"]
    assert 1 <= len(lines) <= n // 5 and "db.internal" in lines[0]["error"]  # the operator's log has the detail


def test_database_failures_are_recognised_through_wrapping() -> None:
    import asyncpg

    try:
        try:
            raise asyncpg.InterfaceError("cannot call Transaction.__aexit__()")
        except asyncpg.InterfaceError as inner:
            raise StateError("something else") from inner
    except StateError as exc:
        assert is_database_failure(exc)
    assert not is_database_failure(StateError("gateway is shutting down"))
    assert is_database_failure(StateError("journal commit failed: x"))


# ---------------------------------------------------------------------- TLS handshake


async def test_a_stalled_tls_handshake_is_closed_after_the_header_timeout(world: DevWorld, tmp_path: Path) -> None:
    files = issue_server(tmp_path / "tls", name="gateway", hosts=["127.0.0.1"], ca_dir=world.keys_dir)
    limits = HttpLimits(header_timeout_s=0.3)
    async with served(world, tmp_path, http_limits=limits, tls_cert=str(files.cert), tls_key=str(files.key)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))  # TCP only: no ClientHello
        # asyncio's default handshake timeout is 60 s: far past this bound, which the head timeout is far below
        async with asyncio.timeout(30):
            with suppress(ConnectionError):
                assert await reader.read() == b""
        writer.close()
        # and a real TLS client is still served
        ctx = ssl.create_default_context(cafile=str(world.keys_dir / "ca.pem"))
        async with aiohttp.ClientSession() as s, s.get(f"{server.http_url}/healthz", ssl=ctx) as resp:
            assert resp.status == 200


# ---------------------------------------------------------------------- the per-envelope log line


class _RecordingLog:
    """Stands in for a module's structlog logger: (level, event) of every call."""

    def __init__(self, debug: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        self.debug_on = debug  # not `debug`: that is the logger method recorded below

    def is_enabled_for(self, level: int) -> bool:
        return self.debug_on or level > logging.DEBUG

    def bind(self) -> _RecordingLog:  # as structlog's lazy logger: the logger it stands for
        return self

    def __getattr__(self, level: str) -> Any:
        return lambda event, *_, **__: self.calls.append((level, event))


@pytest.mark.parametrize("debug", [True, False])
async def test_envelope_submitted_is_not_an_info_line_per_envelope(world: DevWorld, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    debug: bool) -> None:
    """A DEBUG line per envelope, and not even called (its arguments made) when DEBUG is off."""
    import gateway.service

    recorded = _RecordingLog(debug)
    monkeypatch.setattr(gateway.service, "log", recorded)
    async with served(world, tmp_path) as server:
        for _ in range(3):
            env = world.envelope([payment(world)], sender=world.treasury.id)
            results = await server.gateway.submit(env, _sender(server, world))
            assert results[0].status == "accepted"
    submitted = [level for level, event in recorded.calls if event == "envelope.submitted"]
    assert submitted == (["debug"] * 3 if debug else [])


def test_codes_used_here_are_registered() -> None:
    for code in ("unavailable", "unauthenticated", "bad-request", "too-large", "xml-too-large",
                 "envelope-count-mismatch"):
        assert code in CODES


def test_log_tally_writes_one_line_per_interval_with_the_counts() -> None:
    from gateway.log_tally import LogTally

    lines: list[dict[str, Any]] = []

    class Logger:
        def info(self, event: str, **fields: Any) -> None:
            lines.append({"event": event, **fields})

    now = [0.0]
    tally = LogTally("x.happened", interval_s=10, level="info", logger=Logger(), monotonic=lambda: now[0])
    for i in range(5):
        tally.note(n=i)
    assert [(e["count"], e["n"]) for e in lines] == [(1, 0)]  # the first at once
    now[0] = 5.0
    for i in range(3):
        tally.note(n=10 + i)
    assert len(lines) == 1  # within the interval: counted, not written
    now[0] = 10.5
    tally.note(n=99)
    assert [(e["count"], e["total"], e["n"]) for e in lines] == [(1, 1, 0), (8, 9, 99)]
    tally.flush()
    assert len(lines) == 2  # nothing new: no empty line
    now[0] = 11.0
    tally.note(n=100)
    assert len(lines) == 2  # inside the new interval: held back
    tally.reset()
    tally.note(n=101)
    assert [(e["count"], e["total"], e["n"]) for e in lines[2:]] == [(1, 1, 101)]  # reset: at once, counts anew
