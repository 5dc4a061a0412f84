"""HTTP transport (aiohttp): thin handlers over `Gateway`.

Authentication: `Authorization: Bearer <token>` (token hashed in the registry) and/or, over
HTTPS with client certificates enabled (`tgw up --tls-client-ca`), the client certificate the
TLS handshake verified: its serial (`messages.keys.serial_sn`) names the participant through
`Registry.by_sn`. A certificate alone authenticates; a certificate and a token must name the
same participant; without a certificate the token is required as before. A participant only
ever sees its own inbox and the vouchers it sent or received; anything else is 404, not 403, so
that existence does not leak.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import math
import sqlite3
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from cryptography import x509
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from business_time.calendar import BusinessCalendar
from gateway import metrics
from gateway.horizon import CALENDAR_WARN_DAYS_DEFAULT, CalendarHorizon
from gateway.http_json import JSON_BODY_BYTES_MAX, JsonBodyError, read_json
from gateway.http_limits import BODY_BUDGET_KEY, BodyBudget, HttpLimits, body_limits_middleware
from gateway.log_tally import LogTally
from gateway.outbox import INBOX_PAGE_MAX
from gateway.participants import Participant
from gateway.service import ACK_IDS_MAX, Gateway
from messages.errors import CODES, StateError
from messages.keys import serial_sn
from messages.signing import KeySigner

__all__ = ["GATEWAY_KEY", "OPS_TOKEN_KEY", "make_app"]

log = structlog.get_logger("tgw.http")

# The database failing under a request (locked, disk full, connection lost, pool closing) is the
# service being unavailable, not a bug in the request: a coded 503, never a bare 500.
_DB_ERRORS = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)

_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}
# A request refused because the database failed under it: retry after this long (a restart or a
# fail-over of PostgreSQL takes seconds; the client SDK backs off on its own beyond this).
DATABASE_RETRY_AFTER_S = 5
# What a client is told when the database fails: nothing of the database's address, user or name,
# nothing of the driver's internals (those go to the log, summarised per interval).
DATABASE_UNAVAILABLE = "database unavailable; retry later"
# StateError texts that are the database failing (storage.db, gateway.journal): told as above.
_DB_STATE_PREFIXES = ("database unavailable", "journal commit failed", "sqlite commit failed",
                      "cannot connect to PostgreSQL")

GATEWAY_KEY = web.AppKey("gateway", Gateway)
ACK_SIGNER_KEY = web.AppKey("ack_signer", KeySigner)
CALENDAR_WARN_DAYS_KEY = web.AppKey("calendar_warn_days", int)
# The operator's token for /metrics and the detailed /healthz (`tgw up --ops-token-file`, or
# TGW_OPS_TOKEN); absent: both stay open as before (docs/operations.md says when that is fine).
OPS_TOKEN_KEY = web.AppKey("ops_token", str)
TALLIES_KEY = web.AppKey("tallies", dict)
JSON_BYTES_MAX_KEY = web.AppKey("json_bytes_max", int)  # JSON_BODY_BYTES_MAX, or the app's body cap if lower

INBOX_WAIT_S_MAX = 60.0  # long-poll cap: below common proxy idle timeouts
# The inbox query's bounds, the ones /openapi.json states; a value outside is a coded 400, never
# silently clamped, so the spec and the server agree.
INBOX_CURSOR_MAX = 2**63 - 1  # a cursor is a BIGINT sequence number
INBOX_LIMIT_MAX = INBOX_PAGE_MAX  # one answer; a slow client pages (LIMIT -1 is "no limit" in SQLite: never passed)
INBOX_LIMIT_DEFAULT = 100
INBOX_QUERY_PARAMETERS = frozenset({"cursor", "limit", "wait"})
# One move of a simulated clock: a year at most (a longer jump is several moves, each of which
# fires the cutoffs it passes); also keeps a huge float from overflowing the datetime.
CLOCK_ADVANCE_S_MAX = 366 * 86_400
# One long-poll of GET /v1/clock?after=...: below common proxy idle timeouts; the client polls again.
CLOCK_WAIT_S_MAX = 60.0
CLOCK_QUERY_PARAMETERS = frozenset({"after", "wait"})
# Participants parked in a GET /v1/clock long-poll → (the `after` they gave, the request's mark);
# one entry per participant (its latest long-poll), so the map is bounded by the registry.
CLOCK_WAITING_KEY = web.AppKey("clock_waiting", dict)


def inbox_query(cursor_text: str, limit_text: str, wait_text: str) -> tuple[int, int, float] | str:
    """(cursor, limit, wait_s) from `GET /v1/inbox`'s query, or why it is refused (naming the parameter)."""
    try:
        cursor = int(cursor_text)
    except ValueError:
        cursor = -1
    if not 0 <= cursor <= INBOX_CURSOR_MAX:
        return f"cursor must be an integer from 0 to {INBOX_CURSOR_MAX}"
    try:
        limit = int(limit_text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= INBOX_LIMIT_MAX:
        return f"limit must be an integer from 1 to {INBOX_LIMIT_MAX}"
    try:
        wait = float(wait_text)
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= INBOX_WAIT_S_MAX:  # NaN fails both comparisons
        return f"wait must be a number of seconds from 0 to {INBOX_WAIT_S_MAX:g}"
    return cursor, limit, wait


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


def _tally(request: web.Request, event: str) -> LogTally:
    tallies: dict[str, LogTally] = request.app[TALLIES_KEY]
    tally = tallies.get(event)
    if tally is None:  # a handful of event names, fixed in this module
        tally = tallies[event] = LogTally(event, logger=log)
    return tally


def is_database_failure(exc: BaseException) -> bool:
    """The database failed (down, cut, a commit refused), whichever layer wrapped the error."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is a few links; a cycle must not loop forever
        if seen is None:
            return False
        if isinstance(seen, _DB_ERRORS) or (isinstance(seen, StateError)
                                            and str(seen).startswith(_DB_STATE_PREFIXES)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def database_unavailable(request: web.Request, exc: BaseException, route: str) -> web.Response:
    """503 "database unavailable" with Retry-After; counted, and logged once per interval."""
    metrics.HTTP_DATABASE_UNAVAILABLE.inc()
    _tally(request, "http.database_unavailable").note(route=route, error=f"{type(exc).__name__}: {exc}")
    resp = _error(503, "unavailable", DATABASE_UNAVAILABLE)
    resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        metrics.HTTP_REQUESTS_BY(route, str(exc.status)).inc()
        if exc.status >= 400 and exc.content_type != "application/json":
            # aiohttp's own refusals (no such route, method not allowed, body over the limit)
            # answer in plain text: give them the JSON shape and a code like every other error.
            resp = _error(exc.status, _HTTP_CODES.get(exc.status, "bad-request"), exc.reason)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except (StateError, *_DB_ERRORS) as exc:
        if is_database_failure(exc):
            resp = database_unavailable(request, exc, route)
        else:  # draining, no admission worker, broker down: our own words, safe to tell
            resp = _error(503, "unavailable", str(exc))
            resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    metrics.HTTP_REQUESTS_BY(route, str(resp.status)).inc()
    return resp


def _peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate the TLS handshake verified against the client CA, if any.

    Only when the server asked for client certificates (verify_mode not CERT_NONE): then OpenSSL
    has already refused the handshake for a certificate that does not chain to the client CA, is
    outside its validity or lacks the clientAuth purpose, so one that is here is verified.
    """
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None or ssl_object.context.verify_mode == ssl.CERT_NONE:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return x509.load_der_x509_certificate(der)


def bearer_token(header: str) -> str | None:
    """The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 11.1)."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _participant(request: web.Request) -> Participant | str:
    """The authenticated participant, or why the request is not authenticated."""
    gateway = request.app[GATEWAY_KEY]
    registry = gateway.registry
    by_cert: Participant | None = None
    cert = _peer_certificate(request)
    if cert is not None:
        sn = serial_sn(cert)
        by_cert = registry.by_sn(sn)
        if by_cert is None:
            return f"client certificate SN {sn} belongs to no participant"
        known = gateway.certs.get(sn)
        if known is not None and known.certificate != cert:
            # Same serial, different certificate: another issuer trusted by the client CA file.
            return f"client certificate SN {sn} is not the certificate registered under that SN"
    auth = request.headers.get("Authorization")
    if auth is None:
        return by_cert if by_cert is not None else "missing or unknown bearer token"
    token = bearer_token(auth)
    if token is None:
        return "the Authorization header is not a bearer token"
    by_token = registry.by_token(token)
    if by_token is None:
        return "missing or unknown bearer token"
    if by_cert is not None and by_token.id != by_cert.id:
        return f"the client certificate (participant {by_cert.id}) and the bearer token disagree"
    return by_token


def unauthenticated(request: web.Request, reason: str) -> web.Response:
    """401, counted by kind (tgw_http_auth_failures_total) and logged once per interval with the
    latest peer and reason (which never holds the token)."""
    kind = ("no-credentials" if "Authorization" not in request.headers and _peer_certificate(request) is None
            else "certificate" if reason.startswith("client certificate") or "disagree" in reason
            else "bad-credentials")
    metrics.HTTP_AUTH_FAILURES.labels(reason=kind).inc()
    _tally(request, "http.auth_failed").note(peer=request.remote, path=request.path, reason=kind, detail=reason)
    return web.json_response({"code": "unauthenticated", "message": reason},
                             status=401, headers={"WWW-Authenticate": 'Bearer realm="tgw"'})


def _auth(handler: Callable[[web.Request, Participant], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        participant = _participant(request)
        if isinstance(participant, str):
            return unauthenticated(request, participant)
        return await handler(request, participant)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@_auth
async def post_messages(request: web.Request, participant: Participant) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    limit = gateway.config.limits.envelope_bytes_max
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "xml-too-large", f"envelope is {request.content_length} bytes; the limit is {limit}",
                      line=1, path="/")
    # Read to EOF in chunks with a running cap: `content.read(n)` returns what has arrived so
    # far (a large envelope comes in many chunks), and a chunked body has no Content-Length.
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return _error(413, "xml-too-large", f"envelope exceeds {limit} bytes", line=1, path="/")
        chunks.append(chunk)
    data = b"".join(chunks)
    chunks.clear()  # not held twice while the pipeline works on `data`
    results = await gateway.submit(data, participant)
    whole_envelope_refused = len(results) == 1 and results[0].voucher is None
    status = 400 if whole_envelope_refused else 200
    if "application/xml" in request.headers.get("Accept", ""):
        return web.Response(body=_signed_ack(request, results), status=status, content_type="application/xml")
    summary = {s: sum(1 for r in results if r.status == s) for s in ("accepted", "duplicate", "rejected")}
    if any(r.status == "held" for r in results):  # monitoring (docs/monitoring.md): only when there is one
        summary["held"] = sum(1 for r in results if r.status == "held")
    body: dict[str, Any] = {"results": [r.as_dict() for r in results], "summary": summary}
    if whole_envelope_refused and results[0].issues:
        # The whole envelope was refused: say why at the top level too, like every other 4xx.
        body["code"], body["message"] = results[0].issues[0].code, results[0].issues[0].message
    return web.json_response(body, status=status)


def _signed_ack(request: web.Request, results: list[Any]) -> bytes:
    """`<TGWAck>`: the per-voucher results, signed by the gateway's own key when it has one."""
    from xml.sax.saxutils import quoteattr

    rows = "".join(
        f"<Result Voucher={quoteattr(r.voucher or '')} Status={quoteattr(r.status)} "
        f"Code={quoteattr(r.code or '')} MessageId={quoteattr(r.message_id or '')}>"
        f"{_xml_text(r.issues[0].message if r.issues else '')}</Result>" for r in results)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Ack>{rows}</Ack>\n'.encode()
    signer = request.app.get(ACK_SIGNER_KEY)
    sig = ""
    if signer is not None:
        value = base64.b64encode(signer.sign(body)).decode()
        sig = f'<Signature SN="{signer.sn}">{value}</Signature>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<TGWAck><Ack>{base64.b64encode(body).decode()}</Ack>'
            f"<SignatureList>{sig}</SignatureList></TGWAck>\n").encode()


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


@_auth
async def get_inbox(request: web.Request, participant: Participant) -> web.StreamResponse:
    unknown = sorted(set(request.query) - INBOX_QUERY_PARAMETERS)
    if unknown or any(len(request.query.getall(k)) > 1 for k in request.query):
        # Strict, like the spec: a misspelt parameter ("limt") is refused, never silently ignored.
        return _error(400, "bad-request", f"unknown query parameter {unknown[0]!r}; GET /v1/inbox takes "
                      "cursor, limit and wait" if unknown else "a query parameter is given more than once")
    query = inbox_query(request.query.get("cursor", "0"), request.query.get("limit", str(INBOX_LIMIT_DEFAULT)),
                        request.query.get("wait", "0"))
    if isinstance(query, str):
        return _error(400, "bad-request", query)
    cursor, limit, wait = query
    items = await request.app[GATEWAY_KEY].inbox(participant, after_seq=cursor, limit=limit, wait_s=wait)
    next_cursor = max([cursor, *(i.seq for i in items)])
    return web.json_response({"messages": [i.as_dict() for i in items], "cursor": next_cursor})


@_auth
async def post_inbox_ack(request: web.Request, participant: Participant) -> web.StreamResponse:
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        ids = body["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > ACK_IDS_MAX:
            raise ValueError
    except JsonBodyError as exc:
        return _error(exc.status, exc.code, str(exc))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return _error(400, "bad-request", f'body must be {{"ids": [message ids]}} with at most {ACK_IDS_MAX} ids')
    changed = await request.app[GATEWAY_KEY].ack(participant, ids)
    return web.json_response({"acked": changed})


@_auth
async def get_message(request: web.Request, participant: Participant) -> web.StreamResponse:
    msg = await request.app[GATEWAY_KEY].message(participant, request.match_info["id"])
    if msg is None:
        return _error(404, "not-found", "no such message")
    return web.json_response(msg)


@_auth
async def get_trace(request: web.Request, participant: Participant) -> web.StreamResponse:
    m = request.match_info
    events = await request.app[GATEWAY_KEY].trace(participant, m["adm"], m["year"], m["vtcode"], m["no"])
    if events is None:
        return _error(404, "not-found", "no such voucher")
    return web.json_response({"voucher": f"{m['adm']}/{m['year']}/{m['vtcode']}/{m['no']}", "events": events})


@_auth
async def get_participants(request: web.Request, participant: Participant) -> web.StreamResponse:
    registry = request.app[GATEWAY_KEY].registry
    return web.json_response({"participants": [p.as_public_dict() for p in registry]})


def _ops_allowed(request: web.Request) -> bool:
    """True when no ops token is configured, or the request carries it as a bearer token."""
    expected = request.app.get(OPS_TOKEN_KEY)
    if expected is None:
        return True
    given = bearer_token(request.headers.get("Authorization", ""))
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness for anyone ({"status"} only, when an ops token is configured and not given); the
    outbox counts and the calendar horizon for the operator."""
    gateway = request.app[GATEWAY_KEY]
    detailed = _ops_allowed(request)
    try:
        counts = await gateway.outbox.counts()
    except Exception as exc:  # noqa: BLE001 - health reports it instead of failing
        metrics.HTTP_DATABASE_UNAVAILABLE.inc()
        _tally(request, "http.database_unavailable").note(route="/healthz", error=f"{type(exc).__name__}: {exc}")
        return web.json_response({"status": "unhealthy", "error": "database unavailable"}, status=503,
                                 headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
    status = "ok" if gateway.accepting else "draining"
    if not detailed:
        return web.json_response({"status": status}, status=200 if gateway.accepting else 503)
    body: dict[str, Any] = {"status": status, "outbox": counts}
    calendar = getattr(gateway.clock, "calendar", None)
    if isinstance(calendar, BusinessCalendar):  # the last day it knows: add a year before it (docs/calendar.md)
        horizon = CalendarHorizon(calendar, request.app[CALENDAR_WARN_DAYS_KEY])
        body["calendar"] = horizon.view(gateway.clock.now().date())
    return web.json_response(body, status=200 if gateway.accepting else 503)


async def get_metrics(request: web.Request) -> web.StreamResponse:
    if not _ops_allowed(request):
        return unauthenticated(request, "GET /metrics needs the operator's token (Authorization: Bearer)")
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def get_openapi(request: web.Request) -> web.StreamResponse:
    from gateway.openapi import openapi_document

    return web.json_response(openapi_document())


async def get_codes(request: web.Request) -> web.StreamResponse:
    return web.json_response(CODES)


def make_app(gateway: Gateway, *, ack_signer: KeySigner | None = None, client_max_size: int | None = None,
             limits: HttpLimits | None = None, calendar_warn_days: int = CALENDAR_WARN_DAYS_DEFAULT,
             ops_token: str | None = None) -> web.Application:
    limit = client_max_size or gateway.config.limits.envelope_bytes_max + 1024
    limits = limits or HttpLimits()
    budget = BodyBudget(max(limits.body_bytes_in_flight_max, limit))  # the largest body allowed always fits
    app = web.Application(middlewares=[_errors_and_metrics, body_limits_middleware(limits, budget, limit)],
                          client_max_size=limit)
    app[GATEWAY_KEY] = gateway
    app[BODY_BUDGET_KEY] = budget
    app[CALENDAR_WARN_DAYS_KEY] = calendar_warn_days
    app[TALLIES_KEY] = {}
    app[JSON_BYTES_MAX_KEY] = min(JSON_BODY_BYTES_MAX, limit)
    if ops_token:
        app[OPS_TOKEN_KEY] = ops_token
    if ack_signer is not None:
        app[ACK_SIGNER_KEY] = ack_signer
    app.router.add_post("/v1/messages", post_messages)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_get("/v1/inbox", get_inbox)
    app.router.add_post("/v1/inbox/ack", post_inbox_ack)
    app.router.add_get("/v1/trace/{adm}/{year}/{vtcode}/{no}", get_trace)
    app.router.add_get("/v1/participants", get_participants)
    app.router.add_get("/v1/codes", get_codes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/openapi.json", get_openapi)
    add_clock_routes(app)
    from gateway.monitoring.http import add_monitor_routes  # it imports this module's helpers

    add_monitor_routes(app)
    from gateway.ui import add_ui_routes  # the dashboard (/ui/) and its read endpoints; imports this module

    add_ui_routes(app)
    return app


# ---------------------------------------------------------------------- the business clock


def clock_view(clock: Any) -> dict[str, Any]:
    from business_time.clock import cutoffs_view

    now = clock.now()
    view: dict[str, Any] = {"now": now.isoformat(), "simulated": bool(getattr(clock, "is_simulated", False))}
    calendar, config = getattr(clock, "calendar", None), getattr(clock, "config", None)
    if calendar is not None and config is not None:
        try:
            view.update(cutoffs_view(now, calendar, config))  # each cutoff stamped `provisional`
        except Exception as exc:  # noqa: BLE001 - outside the calendar's range: say so, don't guess
            view["calendar_error"] = str(exc)
    return view


@_auth
async def get_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    """The clock; with `after` (ISO time) and `wait` (s), a long-poll that answers once now() is past
    `after`. While parked, the participant is listed under `waiting` with its `after`: a system
    driven by the clock says "I have done everything due up to `after`" by waiting on it, which
    is how a conformance run (`tgw scenario run --external`) knows it has caught up."""
    import asyncio
    import datetime as dt

    clock = request.app[GATEWAY_KEY].clock
    if clock is None:
        return _error(404, "not-found", "this gateway runs without a business clock")
    unknown = sorted(set(request.query) - CLOCK_QUERY_PARAMETERS)
    if unknown or any(len(request.query.getall(k)) > 1 for k in request.query):
        return _error(400, "bad-request", f"unknown query parameter {unknown[0]!r}; GET /v1/clock takes after and "
                      "wait" if unknown else "a query parameter is given more than once")
    waiting: dict[str, tuple[dt.datetime, asyncio.Event]] = request.app[CLOCK_WAITING_KEY]
    # Both are checked whenever given, `wait` even without `after` (the spec bounds it either way).
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= CLOCK_WAIT_S_MAX:  # NaN fails both comparisons
        return _error(400, "bad-request", f"wait must be a number of seconds from 0 to {CLOCK_WAIT_S_MAX:g}")
    if "after" in request.query:
        try:
            after: dt.datetime | None = dt.datetime.fromisoformat(request.query["after"])
        except ValueError:
            after = None
        if after is None or after.tzinfo is None:
            return _error(400, "bad-request", "after must be an ISO time with a UTC offset, e.g. "
                          "2026-03-16T16:01:00+08:00")
        if wait > 0 and clock.now() <= after:
            changed = asyncio.Event()  # set by a move of the clock, or by the server shutting down
            unsubscribe = clock.on_change(lambda _now: changed.set())
            waiting[participant.id] = (after, changed)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=wait)
            finally:
                unsubscribe()
                if waiting.get(participant.id, (None, None))[1] is changed:
                    del waiting[participant.id]
    view = clock_view(clock)
    view["waiting"] = {pid: after.isoformat() for pid, (after, _) in sorted(waiting.items())}
    return web.json_response(view)


@_auth
async def post_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Simulated mode only: {"advance_to": ISO datetime} or {"advance_by_s": seconds}."""
    import datetime as dt

    clock = request.app[GATEWAY_KEY].clock
    if clock is None or not getattr(clock, "is_simulated", False):
        return _error(409, "clock-live", "the clock is live; only a simulated clock can be advanced")
    if not hasattr(clock, "advance_to"):  # the simulation engine's clock (tgw demo --serve) moves itself
        return _error(409, "clock-live", "the simulation engine moves this clock; it cannot be advanced over HTTP")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        if not isinstance(body, dict) or set(body) - {"advance_to", "advance_by_s"}:
            raise ValueError('the body is {"advance_to": ISO datetime} or {"advance_by_s": seconds}, nothing else')
        if "advance_to" in body:
            target = dt.datetime.fromisoformat(body["advance_to"])
            if target.tzinfo is None:
                raise ValueError("advance_to needs a UTC offset, e.g. 2026-03-16T16:01:00+08:00")
            await clock.advance_to(target)
        elif "advance_by_s" in body:
            seconds = float(body["advance_by_s"])
            if not 0 <= seconds <= CLOCK_ADVANCE_S_MAX:  # NaN fails both comparisons
                raise ValueError(f"advance_by_s must be from 0 to {CLOCK_ADVANCE_S_MAX} seconds")
            await clock.advance_by(seconds)
        else:
            raise ValueError('give "advance_to" or "advance_by_s"')
    except JsonBodyError as exc:
        return _error(exc.status, exc.code, str(exc))
    except (ValueError, TypeError, KeyError, OverflowError, json.JSONDecodeError) as exc:
        # OverflowError: a target beyond the datetime range (advance_by_s 1e300, "inf").
        return _error(400, "bad-request", str(exc))
    except StateError as exc:
        return _error(409, "clock-refused", str(exc))
    return web.json_response(clock_view(clock))


@_auth
async def post_sim_faults(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Test gateways on a simulated clock, the treasury only: withhold or lose deliveries
    (gateway.sim_faults): {"offline": ID, "until"?: ISO}, {"online": ID}, {"drop": {"to": ID, ...}}."""
    from gateway.sim_faults import parse_fault

    gateway = request.app[GATEWAY_KEY]
    if gateway.clock is None or not getattr(gateway.clock, "is_simulated", False):
        return _error(409, "clock-live", "delivery faults are for test gateways on a simulated clock")
    if participant.role != "treasury":
        return _error(403, "not-authorized", "only the treasury (a conformance runner) may inject delivery faults")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        kind, who, detail = parse_fault(body)
        if gateway.registry.get(who) is None:
            raise ValueError(f"{'drop.to' if kind == 'drop' else kind}: no participant {who!r}")
        gateway.sim_faults.apply(kind, who, detail)
    except JsonBodyError as exc:
        return _error(exc.status, exc.code, str(exc))
    except OverflowError as exc:
        return _error(409, "sim-faults-full", str(exc))
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        return _error(400, "bad-request", str(exc))
    gateway.wake_readers()
    return web.json_response(gateway.sim_faults.view())


@_auth
async def get_sim_faults(request: web.Request, participant: Participant) -> web.StreamResponse:
    """The delivery faults in force (the treasury only, on a simulated clock)."""
    gateway = request.app[GATEWAY_KEY]
    if gateway.clock is None or not getattr(gateway.clock, "is_simulated", False):
        return _error(409, "clock-live", "delivery faults are for test gateways on a simulated clock")
    if participant.role != "treasury":
        return _error(403, "not-authorized", "only the treasury (a conformance runner) may see delivery faults")
    return web.json_response(gateway.sim_faults.view())


async def _wake_clock_waiters(app: web.Application) -> None:
    """Shutting down: answer the parked clock long-polls now, so the drain does not wait for them."""
    for _, changed in list(app[CLOCK_WAITING_KEY].values()):
        changed.set()


def add_clock_routes(app: web.Application) -> None:
    app[CLOCK_WAITING_KEY] = {}
    app.on_shutdown.append(_wake_clock_waiters)
    app.router.add_get("/v1/clock", get_clock)
    app.router.add_post("/v1/clock", post_clock)
    app.router.add_get("/v1/sim/faults", get_sim_faults)
    app.router.add_post("/v1/sim/faults", post_sim_faults)
