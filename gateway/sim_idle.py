"""`GET /v1/sim/idle?participant=ID&wait=S`: has a participant caught up with a test gateway's clock?

A conformance run (runner/conformance.py) moves the simulated clock and then waits until the
system under test has caught up: every delivery to it acked, and it waiting on the clock
(`GET /v1/clock?after=...`) at the current time in the current epoch. Asking that by polling
(the clock, each unacked message, every inbox, again and again) was most of a run's cost; this
long-poll answers once it holds, or after `wait` seconds with what holds then, woken by what can
change it: a commit, an ack, a participant starting to wait on the clock, a move of the clock, a
reset. Nothing here polls.

The answer: `caught_up` (the above), `waiting` (the participant's `after`, or null), `unacked`
(deliveries to it not yet acked and not withheld by a delivery fault), and `ready` (how many
deliveries wait for each participant, the runner's own included: it reads only those inboxes).

Open only on a simulated clock and only to the treasury, like `POST /v1/sim/faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

from aiohttp import web

from gateway.http_common import (
    CLOCK_WAIT_S_MAX,
    CLOCK_WAITING_KEY,
    GATEWAY_KEY,
    authenticated,
    clock_view,
    clock_waiting,
    error_response,
    query_refused,
    wait_param,
)
from gateway.participants import Participant

__all__ = ["SIM_IDLE_QUERY_PARAMETERS", "get_sim_idle", "idle_view"]

SIM_IDLE_QUERY_PARAMETERS = ("participant", "wait")


async def idle_view(gateway: Any, waiting_map: dict[str, Any], pid: str) -> dict[str, Any]:
    """What holds now for `pid` (see the module doc)."""
    clock = gateway.clock
    now = clock.now()
    rows = await gateway.db.fetch("SELECT recipient, message_id FROM gw_outbox WHERE state = 'ready'")
    ready: dict[str, int] = {}
    mine: set[str] = set()
    for recipient, message_id in rows:
        ready[recipient] = ready.get(recipient, 0) + 1
        if recipient == pid:
            mine.add(message_id)
    if gateway.sim_faults:  # withheld (offline, lost on the way): not the participant's to ack
        faults = gateway.sim_faults.view()
        until = (faults.get("offline") or {}).get(pid, False)
        if until is None or (until and dt.datetime.fromisoformat(until) > now):
            mine = set()
        mine -= set(faults.get("withheld") or {})
    waiting = clock_waiting(waiting_map, getattr(clock, "epoch", 0)).get(pid)
    caught_up = not mine and waiting is not None and dt.datetime.fromisoformat(waiting) >= now
    return {**clock_view(clock), "participant": pid, "caught_up": caught_up, "waiting": waiting,
            "unacked": len(mine), "ready": dict(sorted(ready.items()))}


@authenticated
async def get_sim_idle(request: web.Request, participant: Participant) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    clock = gateway.clock
    if clock is None or not getattr(clock, "is_simulated", False):
        return error_response(409, "clock-live", "GET /v1/sim/idle is for test gateways on a simulated clock")
    if participant.role != "treasury":
        return error_response(403, "not-authorized", "only the treasury (a conformance runner) may ask who is idle")
    refused = query_refused(request.query, "GET /v1/sim/idle", SIM_IDLE_QUERY_PARAMETERS)
    if refused is not None:
        return refused
    pid = request.query.get("participant", "")
    if gateway.registry.get(pid) is None:
        return error_response(400, "bad-request", f"participant: no participant {pid!r}")
    wait = wait_param(request.query.get("wait", "0"), CLOCK_WAIT_S_MAX)
    if isinstance(wait, str):
        return error_response(400, "bad-request", wait)
    deadline = time.monotonic() + wait
    waiting_map = request.app[CLOCK_WAITING_KEY]
    while True:
        # Taken before looking, so nothing that happens while we look is missed.
        activity, committed = gateway.activity, gateway.journal.committed
        moved = asyncio.Event()
        unsubscribe = clock.on_change(lambda _now, moved=moved: moved.set())
        try:
            view = await idle_view(gateway, waiting_map, pid)
            remaining = deadline - time.monotonic()
            if view["caught_up"] or remaining <= 0 or not gateway.accepting:
                return web.json_response(view)
            waits = [asyncio.ensure_future(e.wait()) for e in (activity, committed, moved)]
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), remaining)
            finally:
                for w in waits:
                    w.cancel()
        finally:
            unsubscribe()
