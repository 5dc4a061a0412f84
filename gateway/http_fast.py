"""A lean path for the hot route, POST /v1/messages, in front of aiohttp on the same connection.

At one voucher per envelope aiohttp's machinery was most of the HTTP layer's CPU: a request
object, a stream reader, the router, three middleware frames, a response object, a writer, two
tasks; about 70 µs a request above a bare protocol answering the same bytes (about 20 µs here,
bench/results/http-floor.md). `LeanMessagesHandler` is `GuardedRequestHandler` (so the connection
cap, the idle timer and the head timer are the same code) that looks at what a connection sends
first: a plain `POST /v1/messages HTTP/1.1` (only the fields listed below, nothing unusual) is
answered here; anything else, from its first byte on and for the rest of the connection, goes to
aiohttp as before. aiohttp's parser therefore never sees a byte it did not get from the start,
and every unusual request (chunked, `Expect`, a compressed body, a malformed head, an oversized
line) gets exactly aiohttp's treatment and answer.

What a lean request goes through is what `make_app`'s stack does, in the same order with the same
code: `errors_and_metrics` (the requests counter by route and status; a coded 503 for a database
or state failure), `body_limits` (its size taken from the same `BodyBudget`; a body still arriving
after its head is timed by `body_timeout_s`, a coded 408), `authenticated` (`participant_of`: the
client certificate of the TLS connection and/or the bearer token; the same 401 and its counting),
then the handler's answer from `gateway.http_ack`. The answer's bytes are aiohttp's: the same
headers in the same order (tests/test_http_fast.py compares the two paths byte for byte).
Requests on one connection are answered in order: bytes that arrive while one is in flight wait
(reading paused) until it is answered.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from typing import Any, Final, NamedTuple, cast

import asyncpg
import structlog
from aiohttp import web
from cryptography import x509

from gateway import metrics
from gateway.http_ack import ack_answer, json_answer, response_bytes, wants_xml
from gateway.http_common import (
    ACK_SIGNER_KEY,
    DATABASE_RETRY_AFTER_S,
    DATABASE_UNAVAILABLE,
    GATEWAY_KEY,
    UNAUTHENTICATED_HEADERS,
    database_failure_noted,
    is_database_failure,
    note_unauthenticated,
    participant_of,
    transport_certificate,
    unauthenticated_body,
)
from gateway.http_errors import CLIENT_GONE, protocol_error_body
from gateway.http_limits import (
    BODY_BUDGET_KEY,
    BODY_RETRY_AFTER_S,
    BodyBudget,
    GuardedRequestHandler,
    HttpLimits,
)
from gateway.service import Gateway
from messages.errors import StateError
from messages.signing import KeySigner

__all__ = ["LeanHandlerFactory", "LeanMessagesHandler", "LeanRoute", "scan_head"]

log = structlog.get_logger("tgw.http")

ROUTE: Final = "/v1/messages"  # the route label of tgw_http_requests_total, as aiohttp's router names it
REQUEST_LINE: Final = b"POST /v1/messages HTTP/1.1\r\n"
# A head the lean path reads: under aiohttp's line and field limits (8,190 bytes), so a head over
# them always reaches aiohttp, which refuses it as it always has; and at most this many fields
# (aiohttp allows 128).
HEAD_BYTES_MAX: Final = 8190
FIELDS_MAX: Final = 64
# A field name is token characters; a value visible ASCII, spaces and tabs (obs-text, obs-fold and
# control bytes: aiohttp's). Every line of a head is checked by one match of this (C speed; it was
# two bytes.translate a line, each building its 256-byte table: about half of scan_head's
# instructions), at most FIELDS_MAX lines.
_FIELD_LINES: Final = re.compile(rb"(?:[!#$%%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r\n){0,%d}" % FIELDS_MAX)
# Fields that change how aiohttp reads the body or the connection: such a request is aiohttp's.
_NOT_LEAN: Final = frozenset({b"transfer-encoding", b"content-encoding", b"expect", b"upgrade", b"te", b"trailer"})
# Fields a lean request may give once only: those read here (which one counts is aiohttp's business),
# and RFC 9110's singletons, whose repetition aiohttp's parser refuses as a malformed request (400):
# a head repeating one is aiohttp's, so it is refused as it always is.
_ONCE: Final = frozenset({b"content-length", b"authorization", b"accept", b"host", b"connection",
                          b"content-location", b"content-range", b"content-type", b"etag", b"max-forwards",
                          b"server", b"transfer-encoding", b"user-agent"})
_DB_ERRORS = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)
_UNREAD: Final = object()  # LeanMessagesHandler.certificate() not read yet
WAIT: Final = "wait"  # scan_head: the head so far could be a lean request; wait for the rest


class Head(NamedTuple):
    """A lean request's head: where its body starts, its length, and the fields the route reads."""

    end: int  # offset of the body
    length: int
    authorization: str | None
    accept: str


def scan_head(buf: bytes, body_max: int) -> Head | str | None:
    """`buf` (a connection's first unanswered bytes) as a lean POST /v1/messages: its `Head` once
    the head is complete, `WAIT` while it could still become one, None when it is aiohttp's."""
    end = buf.find(b"\r\n\r\n", 0, HEAD_BYTES_MAX + 4)
    if end < 0:
        if len(buf) >= HEAD_BYTES_MAX + 4:
            return None
        if len(buf) < len(REQUEST_LINE):
            return WAIT if REQUEST_LINE.startswith(buf) else None
        return WAIT if buf.startswith(REQUEST_LINE) else None
    if not buf.startswith(REQUEST_LINE):
        return None
    block = buf[len(REQUEST_LINE):end + 2]  # every field line with its CRLF ("" when there is none)
    if _FIELD_LINES.fullmatch(block) is None:
        return None
    fields: dict[bytes, bytes] = {}
    for line in block.split(b"\r\n")[:-1] if block else ():
        name, _, value = line.partition(b":")
        name = name.lower()
        if name in fields and name in _ONCE:
            return None
        fields[name] = value.strip(b" \t")
    if not _NOT_LEAN.isdisjoint(fields):
        return None
    connection = fields.get(b"connection")
    if connection is not None and connection.lower() != b"keep-alive":
        return None
    length = fields.get(b"content-length", b"0")  # none: no body (aiohttp reads none either)
    if not length.isdigit() or len(length) > 12 or int(length) > body_max:
        return None  # over the limit: aiohttp's 413, and its lingering read of the refused body
    authorization = fields.get(b"authorization")
    return Head(end + 4, int(length), None if authorization is None else authorization.decode("ascii"),
                fields.get(b"accept", b"").decode("ascii"))


class LeanRoute:
    """What the lean POST /v1/messages reads of its app (the same objects aiohttp's route uses)."""

    def __init__(self, app: web.Application, limits: HttpLimits) -> None:
        self.app, self.limits = app, limits
        self.answered = 0  # requests answered on this path (tests check that it is taken)

    # Read from the app at the first request, when it is frozen (aiohttp freezes it on start-up),
    # rather than looked up again for every request.
    @functools.cached_property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY_KEY]

    @functools.cached_property
    def budget(self) -> BodyBudget:
        return self.app[BODY_BUDGET_KEY]

    @functools.cached_property
    def signer(self) -> KeySigner | None:
        return self.app.get(ACK_SIGNER_KEY)

    async def answer(self, conn: LeanMessagesHandler, head: Head, body: bytes, *, taken: bool) -> tuple[bytes, bool]:
        """(the answer's bytes, close the connection after it): the two middlewares, then the handler.
        `taken`: the body's size was taken from the budget already (it arrived after its head)."""
        self.answered += 1
        budget = self.budget
        n = head.length
        # body_limits: aiohttp makes no body for Content-Length 0, and the middleware takes nothing then.
        if n and not taken and not (budget.try_acquire(n) or await budget.acquire(n, self.limits.body_wait_s)):
            metrics.HTTP_BODIES_REFUSED.inc()
            metrics.HTTP_REQUESTS_BY(ROUTE, "503").inc()
            return json_answer(503, {"code": "unavailable", "message": (
                f"the gateway holds {budget.in_flight} bytes of request bodies and this one ({n} bytes) does not "
                f"fit under {budget.bytes_max}; retry shortly")},
                before=(("Retry-After", str(BODY_RETRY_AFTER_S)),), close=True), True
        try:
            status, answer = await self._handled(conn, head, body)
        finally:
            if n:
                budget.release(n)
        metrics.HTTP_REQUESTS_BY(ROUTE, str(status)).inc()
        return answer, False

    async def _handled(self, conn: LeanMessagesHandler, head: Head, body: bytes) -> tuple[int, bytes]:
        """errors_and_metrics around `authenticated(post_messages)`."""
        gateway = self.gateway
        try:
            cert = conn.certificate()
            participant = participant_of(gateway, cert, head.authorization)
            if isinstance(participant, str):
                note_unauthenticated(self.app, head.authorization is not None, cert is not None, conn.remote(),
                                     ROUTE, participant)
                return 401, json_answer(401, unauthenticated_body(participant), before=tuple(
                    UNAUTHENTICATED_HEADERS.items()))
            results = await gateway.submit(body, participant)
            del body  # not held while the answer is made
            status, payload, content_type = ack_answer(results, wants_xml(head.accept), self.signer)
            return status, response_bytes(status, payload, (("Content-Type", content_type),))
        except (StateError, *_DB_ERRORS) as exc:
            if is_database_failure(exc):
                database_failure_noted(self.app, exc, ROUTE)
                message = DATABASE_UNAVAILABLE
            else:  # draining, no admission worker, broker down: our own words, safe to tell
                message = str(exc)
            return 503, json_answer(503, {"code": "unavailable", "message": message},
                                     after=(("Retry-After", str(DATABASE_RETRY_AFTER_S)),))


class LeanMessagesHandler(GuardedRequestHandler):
    """`GuardedRequestHandler` answering plain one-shot POST /v1/messages itself (see the module doc)."""

    def __init__(self, manager: web.Server, gate: Any, limits: HttpLimits, route: LeanRoute, **kwargs: Any) -> None:
        super().__init__(manager, gate, limits, **kwargs)
        self._route = route
        self._lean = True  # every byte so far was read here: aiohttp's parser has seen none
        self._held = b""  # bytes not answered yet: a head still arriving, or requests behind the one in flight
        self._in_flight: asyncio.Task[None] | None = None
        self._held_paused = False  # reading paused while bytes wait behind a request in flight
        self._body_of: Head | None = None  # a head whose body is still arriving (its size taken from the budget)
        self._body_timer: asyncio.TimerHandle | None = None
        self._certificate: object = _UNREAD

    def certificate(self) -> x509.Certificate | None:
        """The verified client certificate of this TLS connection, read once: it cannot change
        under the connection (build_ssl_context refuses renegotiation)."""
        if self._certificate is _UNREAD:
            self._certificate = transport_certificate(self.transport)
        return cast(x509.Certificate | None, self._certificate)

    def remote(self) -> str | None:
        """The peer's address, as aiohttp's `request.remote` gives it."""
        peer = self.peername
        if peer is None:
            return None
        return str(peer[0]) if isinstance(peer, list | tuple) else str(peer)

    def data_received(self, data: bytes) -> None:
        if not (self._lean and self._admitted) or self._force_close or self._close:
            super().data_received(data)
            return
        held = self._held + data if self._held else data
        if self._in_flight is not None:
            self._held = held
            if not self._held_paused:  # one read's worth at most waits: the client's TCP window holds the rest
                self._held_paused = True
                self._pause_reading_for_buffer()
            return
        head = self._body_of
        if head is not None:  # the rest of a body
            self._held = held
            if len(held) >= head.end + head.length:
                self._body_of = None
                self._cancel_body_timer()
                self._start(head, taken=True)
            return
        self._take(held)

    def _take(self, held: bytes) -> None:
        """Answer the request at the front of `held` here, wait for more of it, or give it all to aiohttp."""
        limit = self._route.gateway.config.limits.envelope_bytes_max
        head = scan_head(held, limit)
        if head == WAIT:
            self._held = held
            if self._head_timer is None and self.transport is not None:  # from a head's first byte, as aiohttp's path
                self._head_timer = self._loop.call_later(self._header_timeout_s, self._head_timed_out)
            return
        if not isinstance(head, Head):
            self._hand_over(held)
            return
        self._held = held
        if len(held) < head.end + head.length:
            # The body is still arriving (a network cuts an envelope into segments): it waits here,
            # its size taken from the budget first and timed from the end of the head, as body_limits
            # does; if the budget has no room now, aiohttp's path waits for it (and refuses) as always.
            if not self._route.budget.try_acquire(head.length):
                self._hand_over(held)
                return
            self._cancel_head_timer()
            self._body_of = head
            self._body_timer = self._loop.call_later(self._route.limits.body_timeout_s, self._body_timed_out)
            return
        self._cancel_head_timer()
        self._start(head, taken=False)

    def _start(self, head: Head, *, taken: bool) -> None:
        """Answer the complete request at the front of the held bytes; keep what follows it."""
        held = self._held
        self._held = held[head.end + head.length:]
        body = held[head.end:head.end + head.length]
        self._in_flight = self._loop.create_task(self._serve(head, body, taken))

    def _body_timed_out(self) -> None:
        """body_limits' 408: the body did not arrive within body_timeout_s of its head."""
        self._body_timer = None
        head, self._body_of = self._body_of, None
        if head is None:
            return
        self._route.budget.release(head.length)
        metrics.HTTP_TIMEOUTS.labels(phase="body").inc()
        metrics.HTTP_REQUESTS_BY(ROUTE, "408").inc()
        if self.transport is not None:
            self.transport.write(json_answer(408, {"code": "request-timeout", "message": (
                f"the request body did not arrive within {self._route.limits.body_timeout_s:g} s")}, close=True))
        self.force_close()

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        head, self._body_of = self._body_of, None
        if head is not None:  # gone while its body was arriving: aiohttp's path counts it so, answers no one
            self._cancel_body_timer()
            self._route.budget.release(head.length)
            metrics.HTTP_CLIENT_DISCONNECTS.inc()
            CLIENT_GONE.note(peer=self.remote(), method="POST", path=ROUTE)
        super().connection_lost(exc)

    def _hand_over(self, held: bytes) -> None:
        """From here on this connection is aiohttp's: `held` is its first byte."""
        self._lean = False
        self._held = b""
        if self._held_paused:
            self._held_paused = False
            self._resume_reading_for_buffer()
        super().data_received(held)

    async def _serve(self, head: Head, body: bytes, taken: bool) -> None:
        close = True
        try:
            answer, close = await self._route.answer(self, head, body, taken=taken)
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:  # as aiohttp: the client is gone, nobody reads an answer
            metrics.HTTP_CLIENT_DISCONNECTS.inc()
            CLIENT_GONE.note(peer=self.remote(), method="POST", path=ROUTE)
            answer = b""
        except Exception as exc:
            status = 504 if isinstance(exc, TimeoutError) else 500
            log.error("http.request_failed", status=status, error=type(exc).__name__ if status == 500 else None,
                      exc_info=exc if status == 500 else None)
            code, text = protocol_error_body(status, exc if status == 500 else None)
            answer = json_answer(status, {"code": code, "message": text}, close=True)
        finally:
            self._in_flight = None
        transport = self.transport
        if transport is None:
            return  # gone meanwhile; the submission was made all the same, as on aiohttp's path
        if answer:
            transport.write(answer)
        if close:
            self.force_close()
            return
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        if self._paused:  # the client is not reading its answers: wait before taking the next request
            try:
                await self._drain_helper()
            except ConnectionError:
                return
        held, self._held = self._held, b""
        if self._held_paused:
            self._held_paused = False
            self._resume_reading_for_buffer()
        if held and self.transport is not None:
            self._take(held)

    def _process_keepalive(self) -> None:
        if self._in_flight is not None or self._body_of is not None:  # a lean request is under way: not idle
            self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        super()._process_keepalive()

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 - aiohttp's signature
        """aiohttp's graceful close, after the lean request in flight (if any) is answered."""
        task = self._in_flight
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
        await super().shutdown(timeout)


class LeanHandlerFactory:
    """What `GuardedSite` makes each connection's handler with, for an app from `make_app`."""

    def __init__(self, app: web.Application, limits: HttpLimits) -> None:
        self.route = LeanRoute(app, limits)

    def __call__(self, manager: web.Server, gate: Any, limits: HttpLimits, **kwargs: Any) -> LeanMessagesHandler:
        return LeanMessagesHandler(manager, gate, limits, self.route, **kwargs)
