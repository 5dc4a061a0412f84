"""HTTP routes of the business clock and of test gateways on a simulated clock (`make_app` adds them).

`GET /v1/clock` (its `after` long-poll lists who waits on the clock), `POST /v1/clock` (advance a
simulated clock), `POST`/`GET /v1/sim/faults`, `POST /v1/sim/reset` and `GET /v1/sim/idle`
(gateway/sim_idle.py).
"""

from __future__ import annotations

import contextlib
import json

from aiohttp import web

from gateway.http_common import (
    CLOCK_ADVANCE_S_MAX,
    CLOCK_QUERY_PARAMETERS,
    CLOCK_WAIT_S_MAX,
    CLOCK_WAITING_KEY,
    GATEWAY_KEY,
    JSON_BYTES_MAX_KEY,
    authenticated,
    clock_view,
    clock_waiting,
    error_response,
    parse_epoch,
    query_refused,
    wait_param,
)
from gateway.http_json import JsonBodyError, read_json
from gateway.participants import Participant
from gateway.sim_idle import get_sim_idle
from messages.errors import StateError

__all__ = ["add_clock_routes"]



@authenticated
async def get_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    """The clock; with `after` (ISO time) and `wait` (s), a long-poll that answers once now() is past
    `after` (a move to `after` or before does not answer it), or a reset began a new epoch, or `wait`
    seconds passed, or the server is shutting down. While parked, the participant is listed under `waiting` with its `after`: a system
    driven by the clock says "I have done everything due up to `after`" by waiting on it, which
    is how a conformance run (`tgw scenario run --external`) knows it has caught up."""
    import asyncio
    import datetime as dt

    clock = request.app[GATEWAY_KEY].clock
    if clock is None:
        return error_response(404, "not-found", "this gateway runs without a business clock")
    refused = query_refused(request.query, "GET /v1/clock", CLOCK_QUERY_PARAMETERS)
    if refused is not None:
        return refused
    waiting: dict[str, tuple[dt.datetime, asyncio.Event, int | None]] = request.app[CLOCK_WAITING_KEY]
    # Both are checked whenever given, `wait` even without `after` (the spec bounds it either way).
    wait = wait_param(request.query.get("wait", "0"), CLOCK_WAIT_S_MAX)
    if isinstance(wait, str):
        return error_response(400, "bad-request", wait)
    epoch = parse_epoch(request.query.get("epoch"))
    if epoch is False:
        return error_response(400, "bad-request", "epoch must be a whole number from 0 (the epoch GET /v1/clock showed)")
    if "after" in request.query:
        try:
            after: dt.datetime | None = dt.datetime.fromisoformat(request.query["after"])
        except ValueError:
            after = None
        if after is None or after.tzinfo is None:
            return error_response(400, "bad-request", "after must be an ISO time with a UTC offset, e.g. "
                          "2026-03-16T16:01:00+08:00")
        # Given the epoch it last saw, a caller of an epoch gone by (the gateway was reset) is answered at once.
        if wait > 0 and clock.now() <= after and epoch in (None, getattr(clock, "epoch", 0)):
            changed = asyncio.Event()  # set by a move past `after`, a new epoch, or the server shutting down
            parked_in = getattr(clock, "epoch", 0)

            def moved(now: dt.datetime) -> None:
                if now > after or getattr(clock, "epoch", 0) != parked_in:
                    changed.set()

            unsubscribe = clock.on_change(moved)
            waiting[participant.id] = (after, changed, epoch)
            request.app[GATEWAY_KEY].poke()  # GET /v1/sim/idle may be waiting for this one to wait
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=wait)
            finally:
                unsubscribe()
                if waiting.get(participant.id, (None, None, None))[1] is changed:
                    del waiting[participant.id]
    view = clock_view(clock)
    view["waiting"] = clock_waiting(waiting, getattr(clock, "epoch", 0))
    return web.json_response(view)


@authenticated
async def post_clock(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Simulated mode only: {"advance_to": ISO datetime} or {"advance_by_s": seconds}."""
    import datetime as dt

    clock = request.app[GATEWAY_KEY].clock
    if clock is None or not getattr(clock, "is_simulated", False):
        return error_response(409, "clock-live", "the clock is live; only a simulated clock can be advanced")
    if not hasattr(clock, "advance_to"):  # the simulation engine's clock (tgw demo --serve) moves itself
        return error_response(409, "clock-live", "the simulation engine moves this clock; it cannot be advanced over HTTP")
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
        return error_response(exc.status, exc.code, str(exc))
    except (ValueError, TypeError, KeyError, OverflowError, json.JSONDecodeError) as exc:
        # OverflowError: a target beyond the datetime range (advance_by_s 1e300, "inf").
        return error_response(400, "bad-request", str(exc))
    except StateError as exc:
        return error_response(409, "clock-refused", str(exc))
    return web.json_response(clock_view(clock))


@authenticated
async def post_sim_faults(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Test gateways on a simulated clock, the treasury only: withhold or lose deliveries
    (gateway.sim_faults): {"offline": ID, "until"?: ISO}, {"online": ID}, {"drop": {"to": ID, ...}}."""
    from gateway.sim_faults import parse_fault

    gateway = request.app[GATEWAY_KEY]
    if gateway.clock is None or not getattr(gateway.clock, "is_simulated", False):
        return error_response(409, "clock-live", "delivery faults are for test gateways on a simulated clock")
    if participant.role != "treasury":
        return error_response(403, "not-authorized", "only the treasury (a conformance runner) may inject delivery faults")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        kind, who, detail = parse_fault(body)
        if gateway.registry.get(who) is None:
            raise ValueError(f"{'drop.to' if kind == 'drop' else kind}: no participant {who!r}")
        gateway.sim_faults.apply(kind, who, detail)
    except JsonBodyError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except OverflowError as exc:
        return error_response(409, "sim-faults-full", str(exc))
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        return error_response(400, "bad-request", str(exc))
    gateway.wake_readers()
    return web.json_response(gateway.sim_faults.view())


@authenticated
async def get_sim_faults(request: web.Request, participant: Participant) -> web.StreamResponse:
    """The delivery faults in force (the treasury only, on a simulated clock)."""
    gateway = request.app[GATEWAY_KEY]
    if gateway.clock is None or not getattr(gateway.clock, "is_simulated", False):
        return error_response(409, "clock-live", "delivery faults are for test gateways on a simulated clock")
    if participant.role != "treasury":
        return error_response(403, "not-authorized", "only the treasury (a conformance runner) may see delivery faults")
    return web.json_response(gateway.sim_faults.view())


@authenticated
async def post_sim_reset(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Test gateways on a simulated clock, the treasury only: forget every message and set the clock
    back (gateway.sim_reset): {} (to where it started) or {"to": ISO time}."""
    import datetime as dt

    from business_time.clock import to_local

    gateway = request.app[GATEWAY_KEY]
    clock = gateway.clock
    if clock is None or not getattr(clock, "is_simulated", False) or not hasattr(clock, "rewind"):
        return error_response(409, "clock-live", "a reset is for test gateways on a simulated clock")
    if participant.role != "treasury":
        return error_response(403, "not-authorized", "only the treasury (a conformance runner) may reset the gateway")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        if not isinstance(body, dict) or set(body) - {"to"}:
            raise ValueError('the body is {} or {"to": ISO time}, nothing else')
        to = dt.datetime.fromisoformat(body["to"]) if "to" in body else None
        if to is not None and to.tzinfo is None:
            raise ValueError("to needs a UTC offset, e.g. 2026-03-16T08:00:00+08:00")
        if to is not None:
            to = to_local(to)  # OverflowError: a time at the edge of the datetime range
    except JsonBodyError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError) as exc:
        return error_response(400, "bad-request", f"to: {exc}" if isinstance(exc, OverflowError) else str(exc))
    await gateway.reset(to)
    return web.json_response(clock_view(clock))


async def _wake_clock_waiters(app: web.Application) -> None:
    """Shutting down: answer the parked clock long-polls now, so the drain does not wait for them."""
    for _, changed, _ in list(app[CLOCK_WAITING_KEY].values()):
        changed.set()


def add_clock_routes(app: web.Application) -> None:
    app[CLOCK_WAITING_KEY] = {}
    app.on_shutdown.append(_wake_clock_waiters)
    app.router.add_get("/v1/clock", get_clock)
    app.router.add_post("/v1/clock", post_clock)
    app.router.add_get("/v1/sim/faults", get_sim_faults)
    app.router.add_post("/v1/sim/faults", post_sim_faults)
    app.router.add_post("/v1/sim/reset", post_sim_reset)
    app.router.add_get("/v1/sim/idle", get_sim_idle)
