"""Connection and memory limits of the HTTP listener: timeouts, a connection cap, a request-body
byte budget, and a rate-limited log of resource errors in `accept()`.

Why each exists (found by clients written to abuse the gateway):

* aiohttp alone never times out a slow client: 200 slowloris connections (one header byte a
  second) stayed open for the whole run, and 1,100 idle connections under a 1,024 descriptor
  limit left no descriptor for anyone else: `accept()` failed with EMFILE and asyncio logged
  "socket.accept() out of system resource" 798,079 times (324 MB of log in 80 s).
* 16 concurrent 31 MB bodies took the process to 530 MB RSS: every handler held its whole body.

The pieces:

* `GuardedSite` (a `web.TCPSite`) makes `GuardedRequestHandler`s, which count open connections
  against `connections_max` (one over the cap is answered a coded 503 and closed at once, so the
  gateway keeps its descriptors for the connections it has and recovers when they go), close a
  connection idle for `idle_timeout_s` (aiohttp's keep-alive timer) and one whose request head
  is not complete `header_timeout_s` after its first byte.
* `body_limits_middleware` gives every request with a body `body_timeout_s` from its head to its
  last byte, and takes its declared size from a `BodyBudget` of `body_bytes_in_flight_max` before
  the handler reads it: waiting at most `body_wait_s`, then a coded 503 with Retry-After.
* `Acceptor` (the site's accept loop, not asyncio's) counts every accepted socket until its
  descriptor closes; with the descriptor limit less FDS_RESERVED held, a new connection is
  answered 503 and closed within the accept callback, so accept() does not run out of
  descriptors: under load asyncio's own loop had several bursts of accepted sockets alive at
  once, not yet seen by any protocol, and hit EMFILE.
* `ResourceErrorLog`, installed as the loop's exception handler, logs an accept() resource error
  once per `resource_log_interval_s` with how many there were (the `Acceptor` also pauses after one).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import math
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from aiohttp import web

from gateway import metrics
from gateway.http_errors import CodedErrorsRequestHandler

__all__ = [
    "BODY_BUDGET_KEY",
    "HANDLER_FACTORY_KEY",
    "Acceptor",
    "BodyBudget",
    "BodyReadTimeout",
    "GuardedRequestHandler",
    "GuardedSite",
    "HttpLimits",
    "ResourceErrorLog",
    "body_limits_middleware",
    "effective_connections_max",
    "effective_sockets_max",
]

log = structlog.get_logger("tgw.http")

# Descriptors `tgw up` keeps for itself beside HTTP connections: the database (a PostgreSQL pool
# or SQLite and its WAL), pipeline worker pipes, the MQTT socket, listening sockets, the event
# loop's own. Measured at rest: 8 to 12; 64 leaves room for the pool and workers under load.
FDS_RESERVED = 64
# The listen backlog (connections the kernel queues while the gateway is not accepting), and how
# many the `Acceptor` takes in one go. The connection cap derived from the descriptor limit leaves
# this many descriptors free above it, for connections refused with a 503.
ACCEPT_BACKLOG = 128
# accept() ran out of descriptors anyway (something else in the process holds them): accepting
# pauses this long, or until an accepted socket closes, instead of failing again at once.
ACCEPT_PAUSE_S = 0.25
# A connection refused over the cap is told to come back after this long: idle connections
# free their slots within idle_timeout_s, most much sooner.
REFUSED_RETRY_AFTER_S = 1
# A refused connection is kept open this long at most (or the head timeout, if shorter) after its
# 503, reading and discarding what the client sends: closing a socket with unread bytes makes the
# kernel send a TCP reset, which can destroy the 503 before the client reads it. A client that
# reads the answer and closes ends it sooner.
REFUSED_LINGER_S_MAX = 2.0
# Refused connections lingering at once: beyond this a refused one is closed at once. The
# derived connection cap leaves this many descriptors free too, beside ACCEPT_BACKLOG's.
REFUSED_LINGERING_MAX = ACCEPT_BACKLOG // 2
# A body refused for lack of budget: the budget frees as soon as the requests ahead are answered
# (milliseconds for ordinary envelopes, at most body_timeout_s for a slow one).
BODY_RETRY_AFTER_S = 1
# errno values of "the process or system ran out of something" in accept(): the ones asyncio's
# `_accept_connection` reports through the loop's exception handler.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class HttpLimits:
    """Named limits of the HTTP listener (`tgw up --idle-timeout ...`, YAML `http:`)."""

    # An open connection with no request in progress is closed after this long. Longer than the
    # 60 s idle timeout common in proxies and load balancers, so one in front of the gateway closes
    # first (never a race on a reused connection); short enough that idle clients free their slot
    # in about a minute. Long polls (`GET /v1/inbox?wait=` up to 60 s) are requests, not idleness.
    idle_timeout_s: float = 75.0
    # From the first byte of a request head to its end. A head is at most a few KiB (aiohttp caps
    # lines and fields at 8 KiB) and any live client sends it in one or two packets; 10 s allows
    # for retransmissions on a poor link. A slowloris at one byte a second gets 10 bytes in.
    header_timeout_s: float = 10.0
    # From the end of the head to the last body byte, whatever the size. A 32 MiB envelope (the
    # largest allowed) needs about 2.2 Mbit/s to arrive in time; a one-voucher envelope of a few
    # KiB takes milliseconds. Raise it for a slower link; it also bounds how long a slow body
    # holds its share of the body budget.
    body_timeout_s: float = 120.0
    # Open HTTP connections at once; None: as many as the descriptor limit allows
    # (RLIMIT_NOFILE soft limit minus FDS_RESERVED, ACCEPT_BACKLOG and REFUSED_LINGERING_MAX).
    # Over it a new connection is answered 503 and closed at once, so accept() never runs out of descriptors and the connections the gateway
    # has keep working. 1,000 is far beyond the participants of one treasury region.
    connections_max: int | None = None
    # Request-body bytes held at once across all requests: 4 of the largest envelopes (32 MiB),
    # or tens of thousands of ordinary ones. The process holds about twice this at the peak
    # (the body, then the parsed envelope), whatever the clients send.
    body_bytes_in_flight_max: int = 128 * 1024 * 1024
    # How long a body waits for budget before a coded 503: below the client SDK's send timeout,
    # so the client hears "unavailable, retry" instead of timing out.
    body_wait_s: float = 5.0
    # An accept() resource error (EMFILE...) is logged at most once per this many seconds, with
    # the number of them since the last line.
    resource_log_interval_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("idle_timeout_s", "header_timeout_s", "body_timeout_s", "body_wait_s",
                     "resource_log_interval_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.connections_max is not None and not (isinstance(self.connections_max, int)
                                                     and self.connections_max >= 1):
            raise ValueError(f"connections_max must be a positive integer, not {self.connections_max!r}")
        if not (isinstance(self.body_bytes_in_flight_max, int) and self.body_bytes_in_flight_max >= 1):
            raise ValueError(f"body_bytes_in_flight_max must be a positive integer, not "
                             f"{self.body_bytes_in_flight_max!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HttpLimits:
        """The `http:` keys of the YAML config that are limits (others are ignored here)."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in names})


def effective_sockets_max(nofile_soft: int | None = None) -> int:
    """Accepted sockets held at once (admitted, refused and closing together): the descriptor
    limit less FDS_RESERVED. Beyond it the `Acceptor` answers a new connection 503 and closes it
    at once."""
    if nofile_soft is None:
        nofile_soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile_soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, nofile_soft - FDS_RESERVED)


def effective_connections_max(limits: HttpLimits, nofile_soft: int | None = None) -> int:
    """The connection cap in force: the configured one, or what the descriptor limit allows.

    A configured cap above what the descriptor limit allows is kept (the operator asked for it)
    but logged: beyond `effective_sockets_max` held sockets, a new connection is answered 503 and
    closed at once by the `Acceptor`.
    """
    if nofile_soft is None:
        nofile_soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    reserved = FDS_RESERVED + ACCEPT_BACKLOG + REFUSED_LINGERING_MAX
    allowed = max(1, nofile_soft - reserved) if nofile_soft != resource.RLIM_INFINITY else 1 << 20
    if limits.connections_max is None:
        return allowed
    if limits.connections_max > allowed:
        log.warning("http.connections_max_above_fd_limit", connections_max=limits.connections_max,
                    fd_limit=nofile_soft, fds_reserved=reserved, allowed=allowed)
    return limits.connections_max


# ---------------------------------------------------------------------- responses on the wire


def _raw_error(status: int, reason: str, code: str, message: str, *, retry_after_s: int | None = None) -> bytes:
    """A complete HTTP/1.1 error response with the JSON error shape, written before any request
    is read (the connection is closed right after)."""
    body = json.dumps({"code": code, "message": message}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}", "Connection: close"]
    if retry_after_s is not None:
        head.append(f"Retry-After: {retry_after_s}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------------- connections


@dataclass
class ConnectionGate:
    """Open connections of one listener against the cap."""

    connections_max: int
    open: int = 0
    refused: int = 0
    lingering: int = 0  # refused connections still draining their request (at most REFUSED_LINGERING_MAX)


class GuardedRequestHandler(CodedErrorsRequestHandler):
    """aiohttp's connection handler with a connection cap and a request-head timeout.

    The idle timeout is aiohttp's own keep-alive timer (`keepalive_timeout`), which closes a
    connection waiting for its next request head: from the connection's start, and from the end
    of each response. The head timer here starts at the first byte of a head and closes the
    connection (after a coded 408) if the head is not complete `header_timeout_s` later.
    "Waiting for a head" is aiohttp's own test in its keep-alive timer: `_waiter` pending.
    """

    def __init__(self, manager: web.Server, gate: ConnectionGate, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(manager, **{**kwargs, "keepalive_timeout": limits.idle_timeout_s})
        self._gate = gate
        self._header_timeout_s = limits.header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._admitted = False
        self._refused: asyncio.Transport | None = None  # a refused connection draining its request
        self._linger_timer: asyncio.TimerHandle | None = None
        self._fresh = True  # no message parsed yet on this connection (see _awaiting_head)

    def _awaiting_head(self) -> bool:
        waiter = self._waiter
        if waiter is not None:
            return not waiter.done()
        # uvloop may hand a new connection its first bytes before the handler task has first run
        # (and so before it waits): until a first message is parsed, nothing else is in progress.
        return self._fresh and not self._messages

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        gate = self._gate
        if gate.open >= gate.connections_max:
            gate.refused += 1
            metrics.HTTP_CONNECTIONS_REFUSED.inc()
            # cast, not an isinstance assert: uvloop's transports are not asyncio.Transport subclasses
            transport = cast(asyncio.Transport, transport)
            transport.write(_raw_error(503, "Service Unavailable", "unavailable",
                                       f"the gateway has {gate.connections_max} connections open, its limit; "
                                       "retry shortly", retry_after_s=REFUSED_RETRY_AFTER_S))
            if gate.lingering >= REFUSED_LINGERING_MAX:
                transport.close()
                return
            # Read (and drop) the request while the client reads the answer: see REFUSED_LINGER_S_MAX.
            gate.lingering += 1
            self._refused = transport
            if transport.can_write_eof():
                transport.write_eof()  # the answer is complete: the client sees it end at once
            linger_s = min(REFUSED_LINGER_S_MAX, self._header_timeout_s)
            self._linger_timer = asyncio.get_running_loop().call_later(linger_s, self._end_refused)
            return
        self._admitted = True
        gate.open += 1
        metrics.HTTP_CONNECTIONS.set(gate.open)
        assert gate.open <= gate.connections_max
        super().connection_made(transport)

    def _end_refused(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if self._refused is not None:
            self._refused.close()
            self._refused = None
            self._gate.lingering -= 1

    def eof_received(self) -> None:
        if self._refused is not None:  # the client has sent all it will: nothing unread is left
            self._end_refused()
            return
        super().eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            self._end_refused()
            return
        self._admitted = False
        self._gate.open -= 1
        metrics.HTTP_CONNECTIONS.set(self._gate.open)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if data and self._head_timer is None and self._awaiting_head():
            # The first bytes of a head: if they hold all of it (the usual case: a head is one
            # packet), no timer is needed; otherwise time the rest from now.
            super().data_received(data)
            if self._messages:
                self._fresh = False
            if self._awaiting_head() and self.transport is not None:
                loop = asyncio.get_running_loop()
                self._head_timer = loop.call_later(self._header_timeout_s, self._head_timed_out)
            return
        super().data_received(data)
        if self._head_timer is not None and not self._awaiting_head():
            self._cancel_head_timer()  # the head is complete: the request is being handled
        if self._messages:
            self._fresh = False

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head() or self.transport is None:
            return
        metrics.HTTP_TIMEOUTS.labels(phase="header").inc()
        self.transport.write(_raw_error(408, "Request Timeout", "request-timeout",
                                        f"the request head did not arrive within {self._header_timeout_s:g} s"))
        self.force_close()


class CountedSocket(socket.socket):
    """An accepted connection's socket that gives its descriptor back to its `Acceptor` when it
    closes, whoever closes it: asyncio's transport after `connection_lost`, a TLS handshake that
    failed (no protocol ever hears of it), or the acceptor itself."""

    __slots__ = ("_acceptor",)

    def __init__(self, acceptor: Acceptor, fd: int) -> None:
        super().__init__(fileno=fd)
        self._acceptor: Acceptor | None = acceptor

    def close(self) -> None:
        acceptor, self._acceptor = self._acceptor, None
        super().close()
        if acceptor is not None:
            acceptor.released()

    def detach(self) -> int:
        """uvloop's transport closes the descriptor itself (libuv), then detaches the socket
        object instead of closing it: that is the descriptor given back too."""
        acceptor, self._acceptor = self._acceptor, None
        fd = super().detach()
        if acceptor is not None:
            acceptor.released()
        return fd


class Acceptor:
    """accept() on one listening socket, run by us rather than by asyncio's server.

    asyncio accepts up to `backlog` connections per loop turn and only later (a task, then a
    callback) lets a protocol see them, and a closed transport gives its descriptor back a turn
    after that: under load three or more bursts of accepted sockets were alive at once, beyond
    any reserve, and accept() failed with EMFILE. Here every accepted socket is counted from
    accept() until its descriptor is closed (`CountedSocket`). With `sockets_max` held, a new
    connection is still taken from the listen queue, answered a coded 503 and closed within the
    same callback (its descriptor is never held past it), so the queue keeps draining and every
    client hears an answer. If accept() runs out of descriptors all the same (something else in
    the process took them), the error goes to the loop's exception handler once
    (`ResourceErrorLog` counts and rate-limits it) and accepting pauses for ACCEPT_PAUSE_S, or
    until a socket closes, instead of retrying at once.
    """

    def __init__(self, listener: socket.socket, factory: Callable[[], asyncio.Protocol], *, sockets_max: int,
                 ssl_context: Any = None, ssl_handshake_timeout: float | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.listener = listener
        self._factory = factory
        self.sockets_max = sockets_max
        self._ssl, self._handshake_s = ssl_context, ssl_handshake_timeout
        self.held = 0  # accepted sockets whose descriptor is still open
        self.refused_at_max = 0  # connections answered 503 and closed at once with sockets_max held
        self._reading = False
        self._resume_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong refs: the loop keeps only weak ones

    def start(self) -> None:
        self._resume()

    def close(self) -> None:
        self._pause()
        self.listener.close()

    def _resume(self) -> None:
        if self._resume_timer is not None:
            self._resume_timer.cancel()
            self._resume_timer = None
        if not self._reading and self.listener.fileno() >= 0:
            self._loop.add_reader(self.listener.fileno(), self._accept)
            self._reading = True

    def _pause(self, for_s: float | None = None) -> None:
        if self._reading:
            self._loop.remove_reader(self.listener.fileno())
            self._reading = False
        if for_s is not None and self._resume_timer is None:
            self._resume_timer = self._loop.call_later(for_s, self._resume)

    def released(self) -> None:
        """A counted socket closed: its descriptor is free again."""
        self.held -= 1
        if not self._reading and self.held < self.sockets_max:
            self._resume()

    def _accept(self) -> None:
        for _ in range(ACCEPT_BACKLOG):  # what is queued now, as asyncio does
            try:
                conn, _addr = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    raise  # the loop reports it through its exception handler
                self._loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                                   "exception": exc})
                self._pause(ACCEPT_PAUSE_S)
                return
            if self.held >= self.sockets_max:
                self._refuse_at_once(conn)
                continue
            sock = CountedSocket(self, conn.detach())
            self.held += 1
            sock.setblocking(False)
            task = self._loop.create_task(self._serve(sock))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _refuse_at_once(self, conn: socket.socket) -> None:
        """No descriptor to spare for this connection: a 503 if it fits the socket buffer now
        (plain HTTP only: a TLS client could not read it), then closed, all before returning."""
        self.refused_at_max += 1
        metrics.HTTP_CONNECTIONS_REFUSED.inc()
        with conn:
            if self._ssl is None:
                conn.setblocking(False)
                with contextlib.suppress(OSError):
                    conn.send(_raw_error(503, "Service Unavailable", "unavailable",
                                         f"the gateway holds {self.sockets_max} connections, all its descriptors "
                                         "allow; retry shortly", retry_after_s=REFUSED_RETRY_AFTER_S))

    async def _serve(self, sock: CountedSocket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, sock, ssl=self._ssl,
                                                     ssl_handshake_timeout=self._handshake_s)
        except Exception:  # noqa: BLE001 - a failed TLS handshake or a client gone: asyncio's own accept says nothing either
            sock.close()  # a no-op if the transport closed it already


class _Listening:
    """What aiohttp's site holds as its server: the listening sockets and their acceptors."""

    def __init__(self, acceptors: list[Acceptor]) -> None:
        self.acceptors = acceptors

    @property
    def sockets(self) -> list[socket.socket]:
        return [a.listener for a in self.acceptors if a.listener.fileno() >= 0]

    def close(self) -> None:
        for a in self.acceptors:
            a.close()

    async def wait_closed(self) -> None:
        return None


def _listeners(host: str | None, port: int, backlog: int, reuse_port: bool | None) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of `host` (all interfaces if none)."""
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    out: list[socket.socket] = []
    try:
        for family, _type, _proto, _name, address in dict.fromkeys((i[0], i[1], i[2], i[3], i[4]) for i in infos):
            out.append(socket.create_server(address, family=family, backlog=backlog, reuse_port=bool(reuse_port)))
            out[-1].setblocking(False)
    except BaseException:
        for s in out:
            s.close()
        raise
    return out


class GuardedSite(web.TCPSite):
    """A TCP site whose connections are `GuardedRequestHandler`s sharing one `ConnectionGate`,
    accepted by `Acceptor`s that hold at most `sockets_max` accepted sockets at once."""

    __slots__ = ("gate", "limits", "sockets_max")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, limits: HttpLimits,
                 connections_max: int, ssl_context: Any = None, sockets_max: int | None = None) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, backlog=ACCEPT_BACKLOG)
        self.limits = limits
        self.gate = ConnectionGate(connections_max)
        self.sockets_max = sockets_max if sockets_max is not None else effective_sockets_max()

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner (TCPSite.start, own factory)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        # The handler options the runner was given (access log, header sizes...), as aiohttp's
        # own `Server.__call__` passes them.
        options: dict[str, Any] = dict(getattr(server, "_kwargs", {}))

        # An app may say what handles its connections (make_app: the lean POST /v1/messages in
        # front of aiohttp); it is a GuardedRequestHandler either way.
        app = getattr(self._runner, "app", None)
        make = app.get(HANDLER_FACTORY_KEY, GuardedRequestHandler) if app is not None else GuardedRequestHandler

        def factory() -> GuardedRequestHandler:
            handler: GuardedRequestHandler = make(server, self.gate, self.limits, loop=loop, **options)
            return handler

        # A TLS handshake is part of getting a request head in: bounded by the head timeout, not
        # asyncio's 60 s default (a client that connects and stalls held its descriptor a minute).
        handshake_s = self.limits.header_timeout_s if self._ssl_context else None
        listeners = _listeners(self._host, self._port, self._backlog, self._reuse_port)
        acceptors = [Acceptor(s, factory, sockets_max=self.sockets_max, ssl_context=self._ssl_context,
                              ssl_handshake_timeout=handshake_s) for s in listeners]
        for a in acceptors:
            a.start()
        self._server = _Listening(acceptors)  # type: ignore[assignment]
        self._bound_port = listeners[0].getsockname()[1] if listeners else self._port


# ---------------------------------------------------------------------- request bodies


class BodyReadTimeout(TimeoutError):
    """The body did not arrive within body_timeout_s. A TimeoutError, so that aiohttp's own
    lingering read after the response treats it as the timeout it is."""


@dataclass
class BodyBudget:
    """Request-body bytes held at once across all requests: never more than `bytes_max`.

    A request takes its declared size before its body is read and gives it back once answered.
    One that does not fit waits (any request that fits may go first: a small voucher never
    queues behind a large envelope), at most its wait, then is refused.
    """

    bytes_max: int
    in_flight: int = 0
    peak: int = 0  # the most ever taken at once (tests check it against bytes_max)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)  # bounded by connections_max

    def try_acquire(self, n: int) -> bool:
        """Take `n` bytes if they fit now (no coroutine: the common case of every request)."""
        if self.in_flight + n > self.bytes_max:
            return False
        self.in_flight += n
        self.peak = max(self.peak, self.in_flight)
        metrics.HTTP_BODY_BYTES_IN_FLIGHT.set(self.in_flight)
        return True

    async def acquire(self, n: int, wait_s: float) -> bool:
        """Take `n` bytes, waiting at most `wait_s`; False if they never fit in time."""
        if n > self.bytes_max:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while self.in_flight + n > self.bytes_max:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            wake: asyncio.Future[None] = loop.create_future()
            self._waiters.append(wake)
            try:
                await asyncio.wait_for(asyncio.shield(wake), remaining)
            except TimeoutError:
                pass
            finally:
                if wake in self._waiters:
                    self._waiters.remove(wake)
        self.in_flight += n
        self.peak = max(self.peak, self.in_flight)
        assert 0 <= self.in_flight <= self.bytes_max
        metrics.HTTP_BODY_BYTES_IN_FLIGHT.set(self.in_flight)
        return True

    def release(self, n: int) -> None:
        self.in_flight -= n
        assert 0 <= self.in_flight <= self.bytes_max
        metrics.HTTP_BODY_BYTES_IN_FLIGHT.set(self.in_flight)
        waiters, self._waiters = self._waiters, []
        for wake in waiters:  # every waiter checks again whether it fits now
            if not wake.done():
                wake.set_result(None)


BODY_BUDGET_KEY = web.AppKey("body_budget", BodyBudget)
# What makes an app's connection handlers: (manager, gate, limits, **options) -> a GuardedRequestHandler.
HANDLER_FACTORY_KEY: web.AppKey[Any] = web.AppKey("connection_handler_factory")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    resp = web.json_response({"code": code, "message": message}, status=status, headers=headers)
    resp.force_close()  # the client may still be sending the body we refused: no keep-alive after it
    return resp


def body_limits_middleware(limits: HttpLimits, budget: BodyBudget, body_bytes_max: int) -> Any:
    """Every request with a body: `body_timeout_s` for all of it, its declared size (at most
    `body_bytes_max`, the app's own cap; a chunked body counts as that) taken from `budget`."""

    @web.middleware
    async def body_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        declared = request.content_length
        n = body_bytes_max if declared is None else min(declared, body_bytes_max)
        if not (budget.try_acquire(n) or await budget.acquire(n, limits.body_wait_s)):
            metrics.HTTP_BODIES_REFUSED.inc()
            return _json_error(503, "unavailable", f"the gateway holds {budget.in_flight} bytes of request bodies "
                               f"and this one ({n} bytes) does not fit under {budget.bytes_max}; retry shortly",
                               **{"Retry-After": str(BODY_RETRY_AFTER_S)})
        content = request.content
        if content.is_eof():
            # The whole body is here already (a small one comes with the head): nothing to time.
            try:
                return await handler(request)
            finally:
                budget.release(n)

        def expire() -> None:
            if not content.is_eof():
                metrics.HTTP_TIMEOUTS.labels(phase="body").inc()
                content.set_exception(BodyReadTimeout())

        timer = asyncio.get_running_loop().call_later(limits.body_timeout_s, expire)
        try:
            return await handler(request)
        except BodyReadTimeout:
            return _json_error(408, "request-timeout",
                               f"the request body did not arrive within {limits.body_timeout_s:g} s")
        finally:
            timer.cancel()
            budget.release(n)

    return body_limits


# ---------------------------------------------------------------------- resource errors


class ResourceErrorLog:
    """The loop's exception handler: accept() resource errors (EMFILE...) are logged at most
    once per `interval_s`, with how many occurred; anything else goes to the previous handler.

    asyncio reports each failed accept() through the loop's exception handler, and on 3.11 it
    retries in a loop that multiplies them: thousands of lines a second otherwise.
    """

    def __init__(self, interval_s: float, previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]
                 | None = None, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.previous = previous
        self.monotonic = monotonic
        self.total = 0  # resource errors seen
        self.unlogged = 0  # seen since the last line
        self.lines = 0  # lines written
        self._next_line_at = -math.inf
        self._flush: asyncio.TimerHandle | None = None

    @staticmethod
    def is_resource_error(context: dict[str, Any]) -> bool:
        exc = context.get("exception")
        return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS and "accept" in str(context.get("message"))

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not self.is_resource_error(context):
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.total += 1
        self.unlogged += 1
        metrics.HTTP_ACCEPT_ERRORS.inc()
        now = self.monotonic()
        if now >= self._next_line_at:
            self._write(context)
        elif self._flush is None:  # say how many more there were, once the interval is over
            self._flush = loop.call_later(self._next_line_at - now, self._write, context)

    def _write(self, context: dict[str, Any]) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self.unlogged:
            return
        exc = context.get("exception")
        log.error("http.accept_resource_error", error=str(exc), count=self.unlogged, total=self.total,
                  interval_s=self.interval_s,
                  hint="out of file descriptors: lower http.connections_max or raise the descriptor limit")
        self.lines += 1
        self.unlogged = 0
        self._next_line_at = self.monotonic() + self.interval_s
