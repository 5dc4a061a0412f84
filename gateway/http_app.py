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
import json
import sqlite3
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from cryptography import x509
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import metrics
from gateway.participants import Participant
from gateway.service import ACK_IDS_MAX, Gateway
from messages.errors import CODES, StateError
from messages.keys import serial_sn

__all__ = ["GATEWAY_KEY", "make_app"]

log = structlog.get_logger("tgw.http")

# The database failing under a request (locked, disk full, connection lost, pool closing) is the
# service being unavailable, not a bug in the request: a coded 503, never a bare 500.
_DB_ERRORS = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)

_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}

GATEWAY_KEY = web.AppKey("gateway", Gateway)
ACK_SIGNER_KEY = web.AppKey("ack_signer", object)
EXTRA_ROUTES_KEY = web.AppKey("extra", dict)

INBOX_WAIT_S_MAX = 60.0  # long-poll cap: below common proxy idle timeouts


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        metrics.HTTP_REQUESTS.labels(route=route, status=str(exc.status)).inc()
        if exc.status >= 400 and exc.content_type != "application/json":
            # aiohttp's own refusals (no such route, method not allowed, body over the limit)
            # answer in plain text: give them the JSON shape and a code like every other error.
            resp = _error(exc.status, _HTTP_CODES.get(exc.status, "bad-request"), exc.reason)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except StateError as exc:
        resp = _error(503, "unavailable", str(exc))
    except _DB_ERRORS as exc:
        log.error("http.database_error", route=route, error=repr(exc))
        resp = _error(503, "unavailable", f"database unavailable: {type(exc).__name__}")
    metrics.HTTP_REQUESTS.labels(route=route, status=str(resp.status)).inc()
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
    if not auth.startswith("Bearer "):
        return "the Authorization header is not a bearer token"
    by_token = registry.by_token(auth[7:].strip())
    if by_token is None:
        return "missing or unknown bearer token"
    if by_cert is not None and by_token.id != by_cert.id:
        return f"the client certificate (participant {by_cert.id}) and the bearer token disagree"
    return by_token


def _auth(handler: Callable[[web.Request, Participant], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        participant = _participant(request)
        if isinstance(participant, str):
            return web.json_response({"code": "unauthenticated", "message": participant},
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="tgw"'})
        return await handler(request, participant)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@_auth
async def post_messages(request: web.Request, participant: Participant) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    limit = gateway.config.limits.envelope_bytes_max
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "xml-too-large", f"envelope is {request.content_length} bytes; the limit is {limit}")
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
            return _error(413, "xml-too-large", f"envelope exceeds {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    results = await gateway.submit(data, participant)
    whole_envelope_refused = len(results) == 1 and results[0].voucher is None
    status = 400 if whole_envelope_refused else 200
    if "application/xml" in request.headers.get("Accept", ""):
        return web.Response(body=_signed_ack(request, results), status=status, content_type="application/xml")
    summary = {s: sum(1 for r in results if r.status == s) for s in ("accepted", "duplicate", "rejected")}
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
        value = base64.b64encode(signer.sign(body)).decode()  # type: ignore[attr-defined]
        sig = f'<Signature SN="{signer.sn}">{value}</Signature>'  # type: ignore[attr-defined]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<TGWAck><Ack>{base64.b64encode(body).decode()}</Ack>'
            f"<SignatureList>{sig}</SignatureList></TGWAck>\n").encode()


def _xml_text(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


@_auth
async def get_inbox(request: web.Request, participant: Participant) -> web.StreamResponse:
    try:
        cursor = int(request.query.get("cursor", "0"))
        wait = min(float(request.query.get("wait", "0")), INBOX_WAIT_S_MAX)
        limit = int(request.query.get("limit", "100"))
        if not 0 <= cursor < 2**63 or limit < 1:  # a cursor is a BIGINT seq; LIMIT -1 is "no limit" in SQLite
            raise ValueError
    except ValueError:
        return _error(400, "bad-request", "cursor is a non-negative integer, limit a positive one, wait is seconds")
    items = await request.app[GATEWAY_KEY].inbox(participant, after_seq=cursor, limit=limit, wait_s=wait)
    next_cursor = max([cursor, *(i.seq for i in items)])
    return web.json_response({"messages": [i.as_dict() for i in items], "cursor": next_cursor})


@_auth
async def post_inbox_ack(request: web.Request, participant: Participant) -> web.StreamResponse:
    try:
        body = await request.json()
        ids = body["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > ACK_IDS_MAX:
            raise ValueError
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


async def healthz(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    try:
        counts = await gateway.outbox.counts()
    except Exception as exc:  # noqa: BLE001 - health reports it instead of failing
        return web.json_response({"status": "unhealthy", "error": str(exc)}, status=503)
    status = "ok" if gateway.accepting else "draining"
    return web.json_response({"status": status, "outbox": counts}, status=200 if gateway.accepting else 503)


async def get_metrics(request: web.Request) -> web.StreamResponse:
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def get_openapi(request: web.Request) -> web.StreamResponse:
    from gateway.openapi import openapi_document

    return web.json_response(openapi_document())


async def get_codes(request: web.Request) -> web.StreamResponse:
    return web.json_response(CODES)


def make_app(gateway: Gateway, *, ack_signer: Any = None, client_max_size: int | None = None) -> web.Application:
    limit = client_max_size or gateway.config.limits.envelope_bytes_max + 1024
    app = web.Application(middlewares=[_errors_and_metrics], client_max_size=limit)
    app[GATEWAY_KEY] = gateway
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
    return app


# ---------------------------------------------------------------------- the business clock


def clock_view(clock: Any) -> dict[str, Any]:
    from business_time.clock import next_cutoffs

    now = clock.now()
    view: dict[str, Any] = {"now": now.isoformat(), "simulated": bool(getattr(clock, "is_simulated", False))}
    calendar, config = getattr(clock, "calendar", None), getattr(clock, "config", None)
    if calendar is not None and config is not None:
        try:
            view["business_day"] = calendar.is_business_day(now.date())
            view["next_cutoffs"] = [{"name": n, "at": t.isoformat()} for n, t in next_cutoffs(now, calendar, config)]
        except Exception as exc:  # noqa: BLE001 - outside the calendar's range: say so, don't guess
            view["calendar_error"] = str(exc)
    return view


@_auth
async def get_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    clock = request.app[GATEWAY_KEY].clock
    if clock is None:
        return _error(404, "not-found", "this gateway runs without a business clock")
    return web.json_response(clock_view(clock))


@_auth
async def post_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Simulated mode only: {"advance_to": ISO datetime} or {"advance_by_s": seconds}."""
    import datetime as dt

    clock = request.app[GATEWAY_KEY].clock
    if clock is None or not getattr(clock, "is_simulated", False):
        return _error(409, "clock-live", "the clock is live; only a simulated clock can be advanced")
    try:
        body = await request.json()
        if "advance_to" in body:
            target = dt.datetime.fromisoformat(body["advance_to"])
            if target.tzinfo is None:
                raise ValueError("advance_to needs a UTC offset, e.g. 2026-03-16T16:01:00+08:00")
            await clock.advance_to(target)
        elif "advance_by_s" in body:
            await clock.advance_by(float(body["advance_by_s"]))
        else:
            raise ValueError('give "advance_to" or "advance_by_s"')
    except (ValueError, TypeError, KeyError, OverflowError, json.JSONDecodeError) as exc:
        # OverflowError: a target beyond the datetime range (advance_by_s 1e300, "inf").
        return _error(400, "bad-request", str(exc))
    except StateError as exc:
        return _error(409, "clock-refused", str(exc))
    return web.json_response(clock_view(clock))


def add_clock_routes(app: web.Application) -> None:
    app.router.add_get("/v1/clock", get_clock)
    app.router.add_post("/v1/clock", post_clock)
