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

import datetime as dt
import hmac
import json
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from business_time.calendar import BusinessCalendar
from gateway import metrics
from gateway.horizon import CALENDAR_WARN_DAYS_DEFAULT, CalendarHorizon
from gateway.http_ack import XML_CONTENT_TYPE, ack_answer, wants_xml
from gateway.http_clock import add_clock_routes
from gateway.http_common import (
    ACK_SIGNER_KEY,
    CALENDAR_WARN_DAYS_KEY,
    DATABASE_RETRY_AFTER_S,
    GATEWAY_KEY,
    INBOX_LIMIT_DEFAULT,
    INBOX_QUERY_PARAMETERS,
    JSON_BYTES_MAX_KEY,
    OPS_TOKEN_KEY,
    TALLIES_KEY,
    authenticated,
    bearer_token,
    error_response,
    errors_and_metrics,
    inbox_query,
    peer_certificate,
    query_refused,
    tally,
    unauthenticated,
)
from gateway.http_fast import LeanHandlerFactory
from gateway.http_json import JSON_BODY_BYTES_MAX, JsonBodyError, read_json
from gateway.http_limits import (
    BODY_BUDGET_KEY,
    HANDLER_FACTORY_KEY,
    BodyBudget,
    HttpLimits,
    body_limits_middleware,
)
from gateway.monitoring.http import add_monitor_routes
from gateway.openapi import openapi_document
from gateway.participants import Participant
from gateway.service import ACK_IDS_MAX, Gateway
from gateway.ui import add_ui_routes  # the dashboard (/ui/) and its read endpoints
from gateway.whoami import participant_view
from messages.errors import CODES
from messages.signing import KeySigner

__all__ = ["GATEWAY_KEY", "OPS_TOKEN_KEY", "make_app"]

@authenticated
async def post_messages(request: web.Request, participant: Participant) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    limit = gateway.config.limits.envelope_bytes_max
    declared = request.content_length
    if declared is not None and declared > limit:
        return error_response(413, "xml-too-large", f"envelope is {declared} bytes; the limit is {limit}",
                      line=1, path="/")
    content = request.content
    if declared is not None and content.is_eof():
        # The usual case: a one-voucher envelope arrives with its head, complete (the parser has
        # counted Content-Length bytes, at most `limit`): take it in one go, no read loop.
        data = content.read_nowait()
    else:
        read = await _read_capped(content, limit)
        if read is None:
            return error_response(413, "xml-too-large", f"envelope exceeds {limit} bytes", line=1, path="/")
        data = read
    results = await gateway.submit(data, participant)
    del data  # not held while the answer is made
    status, body, content_type = ack_answer(results, wants_xml(request.headers.get("Accept", "")),
                                            request.app.get(ACK_SIGNER_KEY))
    if content_type == XML_CONTENT_TYPE:
        return web.Response(body=body, status=status, content_type=XML_CONTENT_TYPE)
    return web.Response(body=body, status=status, headers={"Content-Type": content_type})


async def _read_capped(content: Any, limit: int) -> bytes | None:
    """The body to EOF in chunks with a running cap, None past `limit`: `content.read(n)` returns
    what has arrived so far (a large envelope comes in many chunks), and a chunked body has no
    Content-Length."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    data = b"".join(chunks)
    chunks.clear()  # not held twice while the pipeline works on `data`
    return data


@authenticated
async def get_inbox(request: web.Request, participant: Participant) -> web.StreamResponse:
    refused = query_refused(request.query, "GET /v1/inbox", INBOX_QUERY_PARAMETERS)
    if refused is not None:
        return refused
    query = inbox_query(request.query.get("cursor", "0"), request.query.get("limit", str(INBOX_LIMIT_DEFAULT)),
                        request.query.get("wait", "0"))
    if isinstance(query, str):
        return error_response(400, "bad-request", query)
    cursor, limit, wait = query
    items = await request.app[GATEWAY_KEY].inbox(participant, after_seq=cursor, limit=limit, wait_s=wait)
    next_cursor = max([cursor, *(i.seq for i in items)])
    return web.json_response({"messages": [i.as_dict() for i in items], "cursor": next_cursor})


@authenticated
async def post_inbox_ack(request: web.Request, participant: Participant) -> web.StreamResponse:
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        ids = body["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > ACK_IDS_MAX:
            raise ValueError
    except JsonBodyError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return error_response(400, "bad-request", f'body must be {{"ids": [message ids]}} with at most {ACK_IDS_MAX} ids')
    changed = await request.app[GATEWAY_KEY].ack(participant, ids)
    return web.json_response({"acked": changed})


@authenticated
async def get_message(request: web.Request, participant: Participant) -> web.StreamResponse:
    msg = await request.app[GATEWAY_KEY].message(participant, request.match_info["id"])
    if msg is None:
        return error_response(404, "not-found", "no such message")
    return web.json_response(msg)


@authenticated
async def get_trace(request: web.Request, participant: Participant) -> web.StreamResponse:
    m = request.match_info
    events = await request.app[GATEWAY_KEY].trace(participant, m["adm"], m["year"], m["vtcode"], m["no"])
    if events is None:
        return error_response(404, "not-found", "no such voucher")
    return web.json_response({"voucher": f"{m['adm']}/{m['year']}/{m['vtcode']}/{m['no']}", "events": events})


@authenticated
async def get_participants(request: web.Request, participant: Participant) -> web.StreamResponse:
    registry = request.app[GATEWAY_KEY].registry
    return web.json_response({"participants": [p.as_public_dict() for p in registry]})


@authenticated
async def get_me(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Which participant these credentials name (gateway/whoami.py); 401 as every route when none.
    Serves GET /v1/participants/me and the dashboard's GET /v1/me: one answer under two paths."""
    view = participant_view(participant, request.app[GATEWAY_KEY].certs, token="Authorization" in request.headers,
                            client_certificate=peer_certificate(request), at=dt.datetime.now(dt.UTC))
    return web.json_response(view)


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
        counts = await gateway.outbox.backlog()  # partial indexes: never a scan of every row delivered
    except Exception as exc:  # noqa: BLE001 - health reports it instead of failing
        metrics.HTTP_DATABASE_UNAVAILABLE.inc()
        tally(request, "http.database_unavailable").note(route="/healthz", error=f"{type(exc).__name__}: {exc}")
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

    return web.json_response(openapi_document())


async def get_codes(request: web.Request) -> web.StreamResponse:
    return web.json_response(CODES)


def make_app(gateway: Gateway, *, ack_signer: KeySigner | None = None, client_max_size: int | None = None,
             limits: HttpLimits | None = None, calendar_warn_days: int = CALENDAR_WARN_DAYS_DEFAULT,
             ops_token: str | None = None, lean_messages: bool = True) -> web.Application:
    """The gateway's HTTP app. Served by a `GuardedSite`, plain POST /v1/messages requests are
    answered by the lean path in front of aiohttp (`gateway.http_fast`) unless `lean_messages` is
    False; the answers are the same either way."""
    limit = client_max_size or gateway.config.limits.envelope_bytes_max + 1024
    limits = limits or HttpLimits()
    budget = BodyBudget(max(limits.body_bytes_in_flight_max, limit))  # the largest body allowed always fits
    app = web.Application(middlewares=[errors_and_metrics, body_limits_middleware(limits, budget, limit)],
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
    if lean_messages:
        app[HANDLER_FACTORY_KEY] = LeanHandlerFactory(app, limits)
    app.router.add_post("/v1/messages", post_messages)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_get("/v1/inbox", get_inbox)
    app.router.add_post("/v1/inbox/ack", post_inbox_ack)
    app.router.add_get("/v1/trace/{adm}/{year}/{vtcode}/{no}", get_trace)
    app.router.add_get("/v1/participants", get_participants)
    app.router.add_get("/v1/participants/me", get_me)
    app.router.add_get("/v1/me", get_me)  # the same answer, the path the dashboard logs in with
    app.router.add_get("/v1/codes", get_codes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/openapi.json", get_openapi)
    add_clock_routes(app)

    add_monitor_routes(app)

    add_ui_routes(app)
    return app
