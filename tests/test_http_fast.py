"""The lean POST /v1/messages (gateway.http_fast) answers byte for byte what aiohttp's route answers.

Two real listeners (`start_server`), each with its own database, one with the lean path and one
without (`http_lean_messages=False`), get the same bytes in the same order; their answers must be
identical but for the Date header and the message ids (time-based: gateway.message_ids). Cases:
accepted, duplicate, refused, malformed, unauthenticated, the XML ack, heads split across
writes, pipelined requests, requests the lean path leaves to aiohttp, and failures of the gateway
under a request. The guards (head timer, idle timer, body budget) are checked on the lean path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import sqlite3
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import payment
from http_raw import open_raw, port_of, read_to_eof, response_parts, served
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from client.sdk import client_ssl_context
from gateway import metrics
from gateway.http_app import make_app
from gateway.http_common import errors_and_metrics
from gateway.http_fast import WAIT, Head, LeanHandlerFactory, scan_head
from gateway.http_limits import BODY_BUDGET_KEY, HANDLER_FACTORY_KEY, HttpLimits
from gateway.server import RunningServer
from gateway.service import GatewayConfig
from messages.errors import StateError
from messages.keys import issue_server
from runner.world import DevWorld

BOUND_S = 30.0  # on every read; none comes near it
QUICK = HttpLimits(header_timeout_s=0.5, idle_timeout_s=1.0, body_wait_s=0.2, body_timeout_s=0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def envelopes(world: DevWorld) -> list[bytes]:
    """Signed one-voucher envelopes; each pair of servers starts from empty databases."""
    return [world.envelope([payment(world)], sender=world.treasury.id) for _ in range(24)]


@contextlib.asynccontextmanager
async def pair(world: DevWorld, tmp: Path, **config: Any) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    (tmp / "lean").mkdir(parents=True, exist_ok=True)
    (tmp / "aiohttp").mkdir(parents=True, exist_ok=True)
    async with (served(world, tmp / "lean", **config) as lean,
                served(world, tmp / "aiohttp", http_lean_messages=False, **config) as old):
        yield lean, old


def lean_answered(server: RunningServer) -> int:
    assert server.runner is not None
    factory = server.runner.app[HANDLER_FACTORY_KEY]
    assert isinstance(factory, LeanHandlerFactory)
    return factory.route.answered


async def _read_answers(reader: asyncio.StreamReader, most: int) -> bytes:
    """Up to `most` answers (by Content-Length), fewer if the server closes or says it will."""
    out = b""
    async with asyncio.timeout(BOUND_S):
        for _ in range(most):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                return out + exc.partial
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            out += head + await reader.readexactly(length)
            if b"\r\nConnection: close\r\n" in head:
                return out + await reader.read()
    return out


async def exchange(server: RunningServer, parts: list[bytes], answers: int = 1,
                   tls: ssl.SSLContext | None = None) -> bytes:
    """Write `parts` on one connection (a short pause between them), read `answers` answers."""
    if tls is None:
        reader, writer = await open_raw(port_of(server))
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server), ssl=tls)
    try:
        for i, part in enumerate(parts):
            if i:
                await asyncio.sleep(0.05)
            writer.write(part)
            await writer.drain()
        return await _read_answers(reader, answers)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def normalized(raw: bytes) -> bytes:
    """`raw` with the Date and the message ids (JSON, or inside the XML ack's base64) blanked."""
    raw = re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", raw)
    raw = re.sub(rb'"message_id":"[0-9a-f]{25}"', b'"message_id":"-"', raw)

    def ack(m: re.Match[bytes]) -> bytes:
        inner = re.sub(rb'MessageId="[0-9a-f]{25}"', b'MessageId="-"', base64.b64decode(m.group(1)))
        return b"<TGWAck><Ack>" + base64.b64encode(inner) + b"</Ack>"

    return re.sub(rb"<TGWAck><Ack>([A-Za-z0-9+/=]+)</Ack>", ack, raw)


def post(body: bytes, *fields: bytes, token: str | None = None, length: int | None = None) -> bytes:
    auth = [f"Authorization: Bearer {token}".encode()] if token is not None else []
    head = [b"POST /v1/messages HTTP/1.1", b"Host: gw", *auth, b"Content-Type: application/xml", *fields,
            f"Content-Length: {len(body) if length is None else length}".encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def same_answer(lean: RunningServer, old: RunningServer, parts: list[bytes], answers: int = 1,
                      tls: ssl.SSLContext | None = None) -> bytes:
    a = await exchange(lean, parts, answers, tls)
    b = await exchange(old, parts, answers, tls)
    assert normalized(a) == normalized(b), (a[:600], b[:600])
    assert a, "no answer"
    return a


def http_counters() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every tgw_http_*_total sample (the counters both paths keep) by name and labels."""
    return {(x.name, tuple(sorted(x.labels.items()))): x.value for m in metrics.REGISTRY.collect()
            for x in m.samples if x.name.startswith("tgw_http_") and x.name.endswith("_total")}


async def _each(server: RunningServer, cases: list[tuple[list[bytes], int]]) -> tuple[list[bytes], dict[Any, float]]:
    """The answers to `cases` one after another, and what the HTTP counters counted meanwhile."""
    before = http_counters()
    answers = [await exchange(server, parts, n) for parts, n in cases]
    after = http_counters()
    return answers, {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def tampered(envelope: bytes) -> bytes:
    at = envelope.index(b"<Signature") + 200  # inside the signature value
    return envelope[:at] + (b"A" if envelope[at:at + 1] != b"A" else b"B") + envelope[at + 1:]


async def test_accepted_refused_malformed_and_unauthenticated_answers_are_identical(
        world: DevWorld, envelopes: list[bytes], tmp_path: Path) -> None:
    token = world.treasury.token
    async with pair(world, tmp_path) as (lean, old):
        e0, e1, e2, e3 = envelopes[:4]
        cases: list[tuple[list[bytes], int]] = [
            ([post(e0, token=token)], 1),  # accepted
            ([post(e0, token=token)], 1),  # duplicate
            ([post(tampered(e1), token=token)], 1),  # refused: bad signature
            ([post(b"<not-xml", token=token)], 1),  # malformed
            ([post(b"", token=token)], 1),  # empty
            ([post(e1)], 1),  # no credentials
            ([post(e1, token="not-a-token")], 1),
            ([post(e1, b"Authorization: Basic dXNlcjpwdw==")], 1),
            ([post(b"<not-xml", b"Accept: application/xml", token=token)], 1),  # the XML ack
            ([post(e1, token=token).replace(b"Content-Length", b"content-LENGTH")
              .replace(b"Authorization", b"AUTHORIZATION")], 1),
            ([post(e2, b"Connection: keep-alive", b"X-Pad:   spaced\t ", token=token)], 1),
            ([post(e3, token=token)[:20], post(e3, token=token)[20:]], 1),  # a head in two writes
            ([post(envelopes[4], token=token)[:-100], post(envelopes[4], token=token)[-100:]], 1),  # body split
            ([post(envelopes[5], token=token) + post(b"<x", token=token)], 2),  # pipelined, both lean
            ([post(envelopes[6], token=token) + b"GET /v1/codes HTTP/1.1\r\nHost: gw\r\n\r\n"], 2),  # then aiohttp
            ([post(envelopes[7], b"Connection: close", token=token)], 1),  # aiohttp's (closes)
            ([post(b"1\r\n<\r\n0\r\n\r\n", b"Transfer-Encoding: chunked", token=token).replace(
                b"Content-Length: 14\r\n", b"")], 1),  # chunked: aiohttp's
            ([post(b"<x", token=token, length=64 << 20)], 1),  # declared over the limit: aiohttp's 413
            ([post(b"<x", token=token).replace(b"/v1/messages", b"/v1/messages?x=1")], 1),
            ([post(b"<x", b"Bad Header: x", token=token)], 1),  # aiohttp's 400
            # a singleton field twice: aiohttp's parser refuses it as malformed (400), credentials or not
            ([post(e1, b"User-Agent: t/1 (x)", b"User-Agent: t/1 (x)")], 1),
            ([post(e1, b"Content-Type: application/xml", token=token)], 1),
        ]
        lean_answers, lean_counted = await _each(lean, cases)
        old_answers, old_counted = await _each(old, cases)
        for a, b in zip(lean_answers, old_answers, strict=True):
            assert normalized(a) == normalized(b), (a[:600], b[:600])
        assert lean_counted == old_counted  # tgw_http_*_total: the same requests, statuses and failures counted
        assert lean_counted[("tgw_http_requests_total", (("route", "/v1/messages"), ("status", "401")))] == 3
        assert lean_answered(lean) == 16  # the lean path was taken where it could be, and only there
        assert old.runner is not None and HANDLER_FACTORY_KEY not in old.runner.app


def _failing(exc: BaseException) -> Callable[..., Any]:
    async def submit(*_args: Any) -> Any:
        raise exc

    return submit


async def test_failures_under_a_request_are_answered_alike(world: DevWorld, envelopes: list[bytes],
                                                           tmp_path: Path) -> None:
    token = world.treasury.token
    async with pair(world, tmp_path) as (lean, old):
        failures: list[Callable[[], BaseException]] = [
            lambda: StateError("the gateway is draining"),  # 503 in our own words
            lambda: sqlite3.OperationalError("disk I/O error"),  # 503 database unavailable
            lambda: RuntimeError("a bug"),  # aiohttp's coded 500, connection closed
            lambda: TimeoutError(),  # 504
        ]
        for make in failures:
            for server in (lean, old):
                server.gateway.submit = _failing(make())  # type: ignore[method-assign]
            case = [([post(envelopes[0], token=token)], 1)]
            (raw,), lean_counted = await _each(lean, case)
            (raw_old,), old_counted = await _each(old, case)
            assert normalized(raw) == normalized(raw_old) and lean_counted == old_counted
            assert response_parts(raw)[0] in (500, 503, 504)


async def test_a_body_over_the_budget_is_refused_alike(world: DevWorld, envelopes: list[bytes],
                                                       tmp_path: Path) -> None:
    async with pair(world, tmp_path, http_limits=QUICK) as (lean, old):
        for server in (lean, old):  # someone else holds every byte of the budget
            assert server.runner is not None
            budget = server.runner.app[BODY_BUDGET_KEY]
            assert budget.try_acquire(budget.bytes_max)
        raw = await same_answer(lean, old, [post(envelopes[0], token=world.treasury.token)])
        status, headers, _ = response_parts(raw)
        assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close"


async def test_a_body_that_stops_arriving_is_cut_off_alike_and_its_budget_given_back(
        world: DevWorld, envelopes: list[bytes], tmp_path: Path) -> None:
    request = post(envelopes[0], token=world.treasury.token)
    async with pair(world, tmp_path, http_limits=QUICK) as (lean, old):
        raw = await same_answer(lean, old, [request[:-500]])  # the last 500 bytes never come
        status, headers, _ = response_parts(raw)
        assert status == 408 and headers["connection"] == "close"
        _reader, writer = await open_raw(port_of(lean))  # and one whose client goes away mid-body
        writer.write(request[:-500])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        for server in (lean, old):
            assert server.runner is not None
            budget = server.runner.app[BODY_BUDGET_KEY]
            async with asyncio.timeout(BOUND_S):
                while budget.in_flight:  # noqa: ASYNC110 - the budget has no event to wait on
                    await asyncio.sleep(0.02)
        assert lean_answered(lean) == 0  # neither body was ever complete


async def test_the_lean_path_keeps_the_head_timer_and_the_idle_timer(world: DevWorld, envelopes: list[bytes],
                                                                    tmp_path: Path) -> None:
    async with served(world, tmp_path, http_limits=QUICK) as server:
        reader, writer = await open_raw(port_of(server))
        writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\n")  # and nothing more
        raw = await asyncio.wait_for(read_to_eof(reader), BOUND_S)
        writer.close()
        status, headers, _ = response_parts(raw)
        assert status == 408 and headers["connection"] == "close"
        reader, writer = await open_raw(port_of(server))
        writer.write(post(envelopes[0], token=world.treasury.token))
        raw = await asyncio.wait_for(read_to_eof(reader), BOUND_S)  # answered, then closed once idle
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200 OK") and lean_answered(server) == 1


async def test_client_certificates_authenticate_on_the_lean_path_alike(world: DevWorld, envelopes: list[bytes],
                                                                      tmp_path: Path) -> None:
    server = issue_server(tmp_path / "tls", name="gateway", hosts=["127.0.0.1"], ca_dir=world.keys_dir)
    keys, treasury = world.keys_dir, world.treasury.id
    tls = {"tls_cert": str(server.cert), "tls_key": str(server.key), "tls_client_ca": str(keys / "ca.pem")}
    async with pair(world, tmp_path, **tls) as (lean, old):
        as_treasury = client_ssl_context(keys / "ca.pem", keys / f"{treasury}.pem", keys / f"{treasury}.key")
        as_bank = client_ssl_context(keys / "ca.pem", keys / "bank-a.pem", keys / "bank-a.key")
        no_cert = client_ssl_context(keys / "ca.pem")
        raw = await same_answer(lean, old, [post(envelopes[0])], tls=as_treasury)  # the certificate alone
        assert response_parts(raw)[0] == 200 and b'"accepted":1' in raw
        raw = await same_answer(lean, old, [post(envelopes[1], token=world.treasury.token)], tls=as_bank)
        assert response_parts(raw)[0] == 401  # certificate and token disagree
        raw = await same_answer(lean, old, [post(envelopes[1], token=world.treasury.token)], tls=as_treasury)
        assert response_parts(raw)[0] == 200
        raw = await same_answer(lean, old, [post(envelopes[2])], tls=no_cert)
        assert response_parts(raw)[0] == 401
        assert lean_answered(lean) == 4


def test_the_app_has_the_two_middlewares_the_lean_path_mirrors(world: DevWorld) -> None:
    class StandIn:
        registry = db = None
        config = GatewayConfig()

    app = make_app(StandIn(), lean_messages=True)  # type: ignore[arg-type]
    assert [m.__name__ for m in app.middlewares] == [errors_and_metrics.__name__, "body_limits"]
    assert HANDLER_FACTORY_KEY in app
    assert HANDLER_FACTORY_KEY not in make_app(StandIn(), lean_messages=False)  # type: ignore[arg-type]


def test_scan_head_waits_for_a_lean_head_and_leaves_the_rest_to_aiohttp() -> None:
    request = post(b"<x>", token="t")
    for cut in range(len(request) - 3):
        assert scan_head(request[:cut], 100) == WAIT  # the head is not complete yet
    head = scan_head(request, 100)
    assert isinstance(head, Head) and request[head.end:head.end + head.length] == b"<x>"
    assert head.authorization == "Bearer t"
    assert scan_head(b"GET /healthz HTTP/1.1\r\n", 100) is None
    assert scan_head(b"POST /v1/messages/ HTTP/1.1\r\n", 100) is None
    assert scan_head(post(b"<x>", b"Expect: 100-continue"), 100) is None
    assert scan_head(post(b"<x>", b"Content-Length: 3"), 100) is None  # twice: aiohttp's
    for singleton in (b"User-Agent", b"Content-Type", b"Host", b"Server", b"ETag", b"Max-Forwards"):
        assert scan_head(post(b"<x>", singleton + b": a", singleton.upper() + b": b"), 100) is None
        assert isinstance(scan_head(post(b"<x>", b"X-" + singleton + b": a", b"X-" + singleton + b": b"), 100), Head)
    assert scan_head(post(b"<x>", b" folded"), 100) is None
    assert scan_head(post(b"<x>" * 50), 100) is None  # over the envelope limit: aiohttp's 413
    assert scan_head(b"POST /v1/messages HTTP/1.1\r\n" + b"X: y\r\n" * 2000, 100) is None


# ---------------------------------------------------------------------- any head, both paths

_FIELDS = st.sampled_from([
    b"X-Trace: abc", b"x-empty:", b"Accept: application/json", b"Accept: application/xml", b"Accept: */*",
    b"Connection: keep-alive", b"Connection: Keep-Alive", b"Connection: close", b"User-Agent: t/1 (x)",
    b"X-Tab:\tv\t", b"X-Odd: \xc3\xa9", b"X Bad: v", b"X-Nul: a\x00b", b" folded", b"Content-Encoding: identity",
    b"Transfer-Encoding: identity", b"Upgrade: h2c", b"Authorization: Bearer nope", b"Host: other",
    b"Cookie: a=b", b"X-Long: " + b"v" * 3000])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.tuples(st.lists(_FIELDS, max_size=4), st.sampled_from(["fresh", "again", "bad", "empty"]),
                                   st.booleans(), st.integers(0, 400)), min_size=1, max_size=10))
def test_any_request_gets_the_same_answer_on_both_paths(world: DevWorld, envelopes: list[bytes], tmp_path_factory:
                                                         pytest.TempPathFactory,
                                                         requests: list[tuple[list[bytes], str, bool, int]]) -> None:
    async def run() -> None:
        fresh = iter(envelopes)
        last = next(fresh)
        async with pair(world, tmp_path_factory.mktemp("pair")) as (lean, old):
            for fields, kind, with_token, split in requests:
                if kind == "fresh":
                    last = next(fresh)
                body = {"fresh": last, "again": last, "bad": b"<not-xml", "empty": b""}[kind]
                data = post(body, *fields, token=world.treasury.token if with_token else None)
                parts = [data[:split], data[split:]] if 0 < split < len(data) else [data]
                await same_answer(lean, old, parts)

    asyncio.run(run())


# ---------------------------------------------------------------------- scan_head against its old definition

_OLD_TCHAR = bytes(c for c in range(128) if chr(c).isalnum() or chr(c) in "!#$%&'*+-.^_`|~")
_OLD_VCHAR = bytes(range(0x20, 0x7F)) + b"\t"


def _old_scan_head(buf: bytes, body_max: int) -> Head | str | None:
    """scan_head as it was (each line checked with two bytes.translate): the oracle."""
    from gateway.http_fast import _NOT_LEAN, _ONCE, FIELDS_MAX, HEAD_BYTES_MAX, REQUEST_LINE

    end = buf.find(b"\r\n\r\n", 0, HEAD_BYTES_MAX + 4)
    if end < 0:
        if len(buf) >= HEAD_BYTES_MAX + 4:
            return None
        if len(buf) < len(REQUEST_LINE):
            return WAIT if REQUEST_LINE.startswith(buf) else None
        return WAIT if buf.startswith(REQUEST_LINE) else None
    if not buf.startswith(REQUEST_LINE):
        return None
    lines = buf[len(REQUEST_LINE):end].split(b"\r\n") if end >= len(REQUEST_LINE) else []
    if len(lines) > FIELDS_MAX:
        return None
    fields: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _OLD_TCHAR) or value.translate(None, _OLD_VCHAR):
            return None
        name = name.lower()
        if name in fields and name in _ONCE:
            return None
        fields[name] = value.strip(b" \t")
    if not _NOT_LEAN.isdisjoint(fields):
        return None
    connection = fields.get(b"connection")
    if connection is not None and connection.lower() != b"keep-alive":
        return None
    length = fields.get(b"content-length", b"0")
    if not length.isdigit() or len(length) > 12 or int(length) > body_max:
        return None
    authorization = fields.get(b"authorization")
    return Head(end + 4, int(length), None if authorization is None else authorization.decode("ascii"),
                fields.get(b"accept", b"").decode("ascii"))


_HEAD_PIECES = st.sampled_from([b"Host: a", b"Content-Length: 12", b"content-length:3", b"Content-Length: 1x",
                                b"Authorization: Bearer t0k3n", b"Accept: application/xml", b"Connection: close",
                                b"Connection: Keep-Alive", b"Expect: 100-continue", b"X-A: b\tc", b"Bad Name: v",
                                b": v", b"NoColon", b"X: caf\xc3\xa9", b"X: a\x00", b"X:", b"X-Y:  spaced  ", b"\n",
                                b"Transfer-Encoding: chunked", b"TE: x", b"Host: b"])


_START = st.sampled_from([b"POST /v1/messages HTTP/1.1\r\n"] * 4 + [b"POST /v1/messages", b"GET / HTTP/1.1\r\n", b""])
_TAIL = st.sampled_from([b"\r\n\r\n"] * 4 + [b"\r\n", b"", b"\r\n\r\nbody"])


@settings(max_examples=600)
@given(st.lists(_HEAD_PIECES, max_size=6), _START, _TAIL, st.integers(0, 20), st.sampled_from([0, 0, 0, 63, 64, 65]))
@example([b"Bad Name: v"], b"POST /v1/messages HTTP/1.1\r\n", b"\r\n\r\n", 5, 0)
@example([], b"POST /v1/messages HTTP/1.1\r\n", b"\r\n\r\n", 5, 65)
@example([b"Host: a"], b"POST /v1/messages HTTP/1.1\r\n", b"\r\n\r\n", 5, 64)
def test_scan_head_decides_as_it_did_with_a_translate_a_line(pieces: list[bytes], start: bytes, tail: bytes,
                                                             body_max: int, more: int) -> None:
    lines = pieces + [b"X-More: m"] * more  # on and past FIELDS_MAX too
    buf = start + b"\r\n".join(lines) + tail if lines else start + tail
    assert scan_head(buf, body_max) == _old_scan_head(buf, body_max)
