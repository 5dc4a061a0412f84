"""/v1/monitor routes: the catalogue, holds (list, release, reject) and a voucher's decisions.

Release and reject are for the treasury role only (403 `not-authorized` for anyone else). Holds
are listed for the treasury (all) and for a sender (its own); a voucher's decisions for the
treasury and the voucher's sender and recipient, 404 for anyone else (existence does not leak).
The audit has no update or delete route: PUT / PATCH / DELETE answer 405.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.http_common import (
    GATEWAY_KEY,
    JSON_BYTES_MAX_KEY,
    Handler,
    authenticated,
    error_response,
    int_param,
    query_refused,
)
from gateway.http_json import JsonBodyError, read_json
from gateway.monitoring.monitor import HoldStateError, Monitor
from gateway.monitoring.store import HOLDS_PAGE_MAX
from gateway.participants import Participant
from messages.envelope import VoucherKey

__all__ = ["HOLDS_LIMIT_DEFAULT", "HOLD_STATUSES", "REASON_CHARS_MAX", "add_monitor_routes"]

HOLD_STATUSES = ("held", "released", "rejected")
HOLDS_LIMIT_DEFAULT = 100
REASON_CHARS_MAX = 2000  # a sentence or a paragraph; the audit keeps it whole
_HOLDS_QUERY = ("status", "limit", "after")
_CURSOR_CHARS_MAX = 64  # a hold id is "h" + 25 hex characters


def _monitored(handler: Callable[[web.Request, Participant, Monitor], Awaitable[web.StreamResponse]]) -> Handler:
    """`authenticated`, then 404 `not-found` on a gateway with monitoring off; else `handler` gets the monitor."""
    async def with_monitor(request: web.Request, participant: Participant) -> web.StreamResponse:
        monitor = request.app[GATEWAY_KEY].monitor
        if monitor is None:
            return error_response(404, "not-found", "monitoring is off on this gateway")
        return await handler(request, participant, monitor)

    with_monitor.__name__ = handler.__name__
    with_monitor.__doc__ = handler.__doc__
    return authenticated(with_monitor)


@_monitored
async def get_rules(request: web.Request, participant: Participant, monitor: Monitor) -> web.StreamResponse:
    cat = monitor.catalogue
    return web.json_response({"version": cat.version, "rules": [
        {"id": r.id, "grade": r.grade, "description": r.description, "params": dict(r.params)}
        for r in cat.rules if r.enabled]})


@_monitored
async def get_holds(request: web.Request, participant: Participant, monitor: Monitor) -> web.StreamResponse:
    q = request.query
    refused = query_refused(q, "GET /v1/monitor/holds", _HOLDS_QUERY)
    if refused is not None:
        return refused
    status = q.get("status")
    if status is not None and status not in HOLD_STATUSES:
        return error_response(400, "bad-request", f"status must be one of {', '.join(HOLD_STATUSES)}")
    limit = int_param("limit", q.get("limit", str(HOLDS_LIMIT_DEFAULT)), 1, HOLDS_PAGE_MAX)
    if isinstance(limit, str):
        return error_response(400, "bad-request", limit)
    after = q.get("after", "")
    if len(after) > _CURSOR_CHARS_MAX or not after.isascii() or not all(c.isalnum() for c in after):
        return error_response(400, "bad-request", "after must be the `next` cursor of the previous page")
    sender = None if participant.role == "treasury" else participant.id
    holds = await monitor.store.holds(status=status, after=after, limit=limit, sender=sender)
    nxt = holds[-1].id if len(holds) == limit else None
    return web.json_response({"holds": [h.as_dict() for h in holds], "next": nxt})


async def _decide(request: web.Request, participant: Participant, monitor: Monitor,
                  action: str) -> web.StreamResponse:
    if participant.role != "treasury":
        return error_response(403, "not-authorized", f"only a treasury officer may {action} a held payment")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        if not isinstance(body, dict) or set(body) != {"reason"}:
            raise ValueError
        reason = body["reason"]
        if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_CHARS_MAX \
                or "\x00" in reason:
            raise ValueError
    except JsonBodyError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeError):
        return error_response(400, "bad-request", f'body must be {{"reason": "..."}}: a non-empty text of at most '
                      f"{REASON_CHARS_MAX} characters")
    hold_id = request.match_info["id"]
    if len(hold_id) > _CURSOR_CHARS_MAX or not hold_id.isascii() or not hold_id.isalnum():
        return error_response(404, "not-found", "no such hold")
    at = request.app[GATEWAY_KEY].business_now()
    decide = monitor.release if action == "release" else monitor.reject
    try:
        hold = await decide(hold_id, who=participant.id, reason=reason.strip(), at=at)
    except HoldStateError as exc:
        return error_response(409, "hold-decided", str(exc))
    if hold is None:
        return error_response(404, "not-found", "no such hold")
    return web.json_response(hold.as_dict())


@_monitored
async def post_release(request: web.Request, participant: Participant, monitor: Monitor) -> web.StreamResponse:
    return await _decide(request, participant, monitor, "release")


@_monitored
async def post_reject(request: web.Request, participant: Participant, monitor: Monitor) -> web.StreamResponse:
    return await _decide(request, participant, monitor, "reject")


def parse_voucher_ref(text: str) -> VoucherKey | None:
    parts = text.split("/")
    if len(parts) != 4 or not all(p and len(p) <= 64 and p.isprintable() and "\x00" not in p for p in parts):
        return None
    return VoucherKey(parts[0], parts[1], parts[2], parts[3], 0)


@_monitored
async def get_decisions(request: web.Request, participant: Participant, monitor: Monitor) -> web.StreamResponse:
    q = request.query
    if set(q) != {"voucher"} or len(q.getall("voucher")) != 1:
        return error_response(400, "bad-request", "GET /v1/monitor/decisions takes exactly one query parameter: "
                      "voucher=adm/year/vtcode/no")
    key = parse_voucher_ref(q["voucher"])
    if key is None:
        return error_response(400, "bad-request", "voucher must be adm/year/vtcode/no (AdmDivCode/StYear/VtCode/VoucherNo)")
    if participant.role != "treasury":
        parties = await monitor.store.parties(key)
        if parties is None or participant.id not in parties:
            return error_response(404, "not-found", "no monitoring decisions visible for that voucher")
    decisions: list[dict[str, Any]] = await monitor.store.decisions(key)
    if not decisions:
        return error_response(404, "not-found", "no monitoring decisions for that voucher")
    return web.json_response({"decisions": decisions})


def add_monitor_routes(app: web.Application) -> None:
    app.router.add_get("/v1/monitor/rules", get_rules)
    app.router.add_get("/v1/monitor/holds", get_holds)
    app.router.add_post("/v1/monitor/holds/{id}/release", post_release)
    app.router.add_post("/v1/monitor/holds/{id}/reject", post_reject)
    app.router.add_get("/v1/monitor/decisions", get_decisions)
