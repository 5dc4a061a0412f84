"""What every HTTP route module shares: the app keys, the coded error shape, authentication,
the database-failure answer, and the query bounds /openapi.json states.

Apart from `gateway.http_app` so that the route modules it assembles (`gateway.http_clock`,
`gateway.monitoring.http`, `gateway.ui`) and the spec (`gateway.openapi`) use these without
importing the app that imports them.
"""

from __future__ import annotations

import math
import sqlite3
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import asyncpg
import structlog
from aiohttp import web
from cryptography import x509

from gateway import metrics
from gateway.log_tally import LogTally
from gateway.outbox import INBOX_PAGE_MAX
from gateway.participants import Participant
from gateway.service import Gateway
from messages.errors import StateError
from messages.keys import serial_sn
from messages.signing import KeySigner

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
INBOX_QUERY_PARAMETERS = ("cursor", "limit", "wait")
# One move of a simulated clock: a year at most (a longer jump is several moves, each of which
# fires the cutoffs it passes); also keeps a huge float from overflowing the datetime.
CLOCK_ADVANCE_S_MAX = 366 * 86_400
# One long-poll of GET /v1/clock?after=...: below common proxy idle timeouts; the client polls again.
CLOCK_WAIT_S_MAX = 60.0
CLOCK_QUERY_PARAMETERS = ("after", "wait", "epoch")
# Participants parked in a GET /v1/clock long-poll → (the `after` they gave, the request's mark);
# one entry per participant (its latest long-poll), so the map is bounded by the registry.
CLOCK_WAITING_KEY = web.AppKey("clock_waiting", dict)


def query_refused(query: Any, route: str, takes: tuple[str, ...]) -> web.Response | None:
    """A 400 when the query names a parameter `route` does not take, or names one twice: strict,
    like the spec (a misspelt "limt" is refused, never silently ignored). None when it is fine."""
    unknown = sorted(set(query) - set(takes))
    if unknown:
        listed = f"{', '.join(takes[:-1])} and {takes[-1]}" if len(takes) > 1 else takes[0]
        return error_response(400, "bad-request", f"unknown query parameter {unknown[0]!r}; {route} takes {listed}")
    if any(len(query.getall(k)) > 1 for k in query):
        return error_response(400, "bad-request", "a query parameter is given more than once")
    return None


def int_param(name: str, text: str, low: int, high: int) -> int | str:
    """The whole number `text` if it is from `low` to `high`, or why it is refused (naming the parameter)."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        return f"{name} must be an integer from {low} to {high}"
    return value


def wait_param(text: str, most: float) -> float | str:
    """A long-poll's `wait` in seconds if it is from 0 to `most`, or why it is refused."""
    try:
        wait = float(text)
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= most:  # NaN fails both comparisons
        return f"wait must be a number of seconds from 0 to {most:g}"
    return wait


def inbox_query(cursor_text: str, limit_text: str, wait_text: str) -> tuple[int, int, float] | str:
    """(cursor, limit, wait_s) from `GET /v1/inbox`'s query, or why it is refused (naming the parameter)."""
    cursor = int_param("cursor", cursor_text, 0, INBOX_CURSOR_MAX)
    if isinstance(cursor, str):
        return cursor
    limit = int_param("limit", limit_text, 1, INBOX_LIMIT_MAX)
    if isinstance(limit, str):
        return limit
    wait = wait_param(wait_text, INBOX_WAIT_S_MAX)
    if isinstance(wait, str):
        return wait
    return cursor, limit, wait


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


def tally(request: web.Request, event: str) -> LogTally:
    return app_tally(request.app, event)


def app_tally(app: web.Application, event: str) -> LogTally:
    tallies: dict[str, LogTally] = app[TALLIES_KEY]
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
    database_failure_noted(request.app, exc, route)
    resp = error_response(503, "unavailable", DATABASE_UNAVAILABLE)
    resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return resp


def database_failure_noted(app: web.Application, exc: BaseException, route: str) -> None:
    """Count a request refused because the database failed, and note it in the interval's log line."""
    metrics.HTTP_DATABASE_UNAVAILABLE.inc()
    app_tally(app, "http.database_unavailable").note(route=route, error=f"{type(exc).__name__}: {exc}")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        metrics.HTTP_REQUESTS_BY(route, str(exc.status)).inc()
        if exc.status >= 400 and exc.content_type != "application/json":
            # aiohttp's own refusals (no such route, method not allowed, body over the limit)
            # answer in plain text: give them the JSON shape and a code like every other error.
            resp = error_response(exc.status, _HTTP_CODES.get(exc.status, "bad-request"), exc.reason)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except (StateError, *_DB_ERRORS) as exc:
        if is_database_failure(exc):
            resp = database_unavailable(request, exc, route)
        else:  # draining, no admission worker, broker down: our own words, safe to tell
            resp = error_response(503, "unavailable", str(exc))
            resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    metrics.HTTP_REQUESTS_BY(route, str(resp.status)).inc()
    return resp


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate the TLS handshake verified against the client CA, if any.

    Only when the server asked for client certificates (verify_mode not CERT_NONE): then OpenSSL
    has already refused the handshake for a certificate that does not chain to the client CA, is
    outside its validity or lacks the clientAuth purpose, so one that is here is verified.
    """
    return transport_certificate(request.transport)


def transport_certificate(transport: Any) -> x509.Certificate | None:
    """`peer_certificate` of a connection's transport (the lean POST /v1/messages has no request)."""
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


def authenticated_participant(request: web.Request) -> Participant | str:
    """The authenticated participant, or why the request is not authenticated."""
    return participant_of(request.app[GATEWAY_KEY], peer_certificate(request), request.headers.get("Authorization"))


def participant_of(gateway: Gateway, cert: x509.Certificate | None, auth: str | None) -> Participant | str:
    """The participant a verified client certificate and/or an Authorization header name, or why
    they name none (`authenticated_participant` without a request object)."""
    registry = gateway.registry
    by_cert: Participant | None = None
    if cert is not None:
        sn = serial_sn(cert)
        by_cert = registry.by_sn(sn)
        if by_cert is None:
            return f"client certificate SN {sn} belongs to no participant"
        known = gateway.certs.get(sn)
        if known is not None and known.certificate != cert:
            # Same serial, different certificate: another issuer trusted by the client CA file.
            return f"client certificate SN {sn} is not the certificate registered under that SN"
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
    note_unauthenticated(request.app, "Authorization" in request.headers, peer_certificate(request) is not None,
                         request.remote, request.path, reason)
    return web.json_response(unauthenticated_body(reason), status=401, headers=UNAUTHENTICATED_HEADERS)


UNAUTHENTICATED_HEADERS = {"WWW-Authenticate": 'Bearer realm="tgw"'}


def unauthenticated_body(reason: str) -> dict[str, str]:
    """The 401's JSON (both paths to POST /v1/messages make it here)."""
    return {"code": "unauthenticated", "message": reason}


def note_unauthenticated(app: web.Application, has_authorization: bool, has_certificate: bool, remote: str | None,
                         path: str, reason: str) -> None:
    """Count a 401 by kind and note it in the interval's log line (`unauthenticated`'s bookkeeping)."""
    kind = ("no-credentials" if not has_authorization and not has_certificate
            else "certificate" if reason.startswith("client certificate") or "disagree" in reason
            else "bad-credentials")
    metrics.HTTP_AUTH_FAILURES.labels(reason=kind).inc()
    app_tally(app, "http.auth_failed").note(peer=remote, path=path, reason=kind, detail=reason)


def authenticated(handler: Callable[[web.Request, Participant], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        participant = authenticated_participant(request)
        if isinstance(participant, str):
            return unauthenticated(request, participant)
        return await handler(request, participant)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped



# The last view made: a simulated clock is read many times at one time (the move's answer, every
# long-poll it wakes, a conformance runner's look), and the next cutoffs are the same each time.
_last_view: list[Any] = [None, None]


def clock_view(clock: Any) -> dict[str, Any]:
    from business_time.clock import cutoffs_view

    now = clock.now()
    calendar, config = getattr(clock, "calendar", None), getattr(clock, "config", None)
    simulated = bool(getattr(clock, "is_simulated", False))
    epoch = getattr(clock, "epoch", None) if simulated else None
    key, cached = _last_view
    if key is not None and key[0] == now and key[1] is calendar and key[2] is config and key[3] == epoch:
        return _copy_view(cached)
    view: dict[str, Any] = {"now": now.isoformat(), "simulated": simulated}
    if isinstance(epoch, int):
        view["epoch"] = epoch  # a test gateway's resets (POST /v1/sim/reset): a new epoch starts over
    if calendar is not None and config is not None:
        try:
            view.update(cutoffs_view(now, calendar, config))  # each cutoff stamped `provisional`
        except Exception as exc:  # noqa: BLE001 - outside the calendar's range: say so, don't guess
            view["calendar_error"] = str(exc)
    if simulated:  # a live clock's now is new at every read
        _last_view[:] = [(now, calendar, config, epoch), view]
        return _copy_view(view)
    return view


def _copy_view(view: dict[str, Any]) -> dict[str, Any]:
    """A copy a caller may add to (`waiting`) without touching the cached one."""
    out = dict(view)
    if "next_cutoffs" in out:
        out["next_cutoffs"] = [dict(c) for c in out["next_cutoffs"]]
    return out


def parse_epoch(text: str | None) -> int | Literal[False] | None:
    """The `epoch` query parameter of GET /v1/clock: None if not given, False if not a whole number from 0."""
    if text is None:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else False


def clock_waiting(waiting: dict[str, tuple[Any, Any, int | None]], epoch: int) -> dict[str, str]:
    """Who waits on the clock, and after when: those who gave the current epoch, and, before the
    first reset, those who gave none. After a reset, a caller still parked from before (or one that
    never says its epoch) is not listed: nobody can tell whether it has started over."""
    return {pid: after.isoformat() for pid, (after, _, given) in sorted(waiting.items())
            if given == epoch or (given is None and epoch == 0)}
