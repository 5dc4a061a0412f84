"""The web dashboard (`/ui/`) and the read endpoints it uses, on the gateway's aiohttp app.

Pages are static files shipped in the package (gateway/static/ui: HTML, CSS, vanilla JS, the
zh/en dictionary); no build step, nothing fetched from elsewhere, so the dashboard works offline.
The page keeps the participant's bearer token in sessionStorage and sends it as the
Authorization header on every call: no cookie, so no cross-site request can carry it (CSRF-safe
by construction), and the strict Content-Security-Policy below allows no inline or foreign
script to read it. Every data call is authorized here, on the server, per participant
(`gateway.ui_index.scope_sql`); the page only hides what the server would refuse anyway.

Endpoints: GET /v1/overview, /v1/search, /v1/dlq (+ POST /v1/dlq/replay), /v1/scorecard,
/v1/events (server-sent events). The page logs in with GET /v1/me, which `gateway.http_app` serves
with GET /v1/participants/me (one handler, one answer); the trace page reuses GET /v1/trace; the
risk page calls the monitoring API (/v1/monitor/...) and says "monitoring not enabled" when it
answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from importlib import resources
from typing import Any

from aiohttp import web

from gateway.http_common import GATEWAY_KEY, JSON_BYTES_MAX_KEY, authenticated, clock_view, error_response
from gateway.http_json import JsonBodyError, read_json
from gateway.participants import Participant
from gateway.ui_index import SearchQuery, VoucherIndex, scope_sql

__all__ = ["INDEX_KEY", "SCORECARD_KEY", "ScorecardBoard", "add_ui_routes"]

# The files of gateway/static/ui the server hands out: a fixed list, so no path from the URL ever
# reaches the file system.
UI_FILES = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css",
            "i18n.json": "application/json"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
EVENT_SUBSCRIBERS_MAX = 64  # open dashboards at once; each holds a connection and polls the index
EVENT_PAGE_MAX = 100  # rows one push carries: the per-connection queue is this page, nothing more
EVENT_POLL_S = 1.0  # how often a live connection looks for new rows (wall time: it is a display)
EVENT_HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing an idle stream
DLQ_LIMIT_MAX = 200  # one page of dead letters
REPLAY_IDS_MAX = 200  # ids per replay request

INDEX_KEY = web.AppKey("ui_index", VoucherIndex)
SUBSCRIBERS_KEY = web.AppKey("ui_subscribers", set)


class ScorecardBoard:
    """The latest bank scorecard someone published (`tgw demo --serve` does); None in plain `tgw up`."""

    def __init__(self) -> None:
        self.latest: list[dict[str, Any]] | None = None
        self.as_of: str | None = None

    def publish(self, cards: list[dict[str, Any]], as_of: str) -> None:
        self.latest, self.as_of = cards, as_of


SCORECARD_KEY = web.AppKey("ui_scorecard", ScorecardBoard)


def _index(request: web.Request) -> VoucherIndex:
    return request.app[INDEX_KEY]


def _secure(resp: web.StreamResponse) -> web.StreamResponse:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def ui_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    content_type = UI_FILES.get(name)
    if content_type is None:
        return error_response(404, "not-found", "no such dashboard file")
    body = resources.files("gateway").joinpath("static", "ui", name).read_bytes()
    return _secure(web.Response(body=body, content_type=content_type, charset="utf-8"))


def _bad(parameter: str, why: str) -> web.Response:
    return error_response(400, "bad-request", f"{parameter}: {why}", parameter=parameter)


@authenticated
async def get_search(request: web.Request, participant: Participant) -> web.StreamResponse:
    q = SearchQuery.parse(request.query)
    if isinstance(q, tuple):
        return _bad(*q)
    return web.json_response(await _index(request).search(participant, q))


def _today(request: web.Request) -> str:
    clock = request.app[GATEWAY_KEY].clock
    now = clock.now() if clock is not None else dt.datetime.now(dt.UTC)
    return str(now.date().isoformat())


@authenticated
async def get_overview(request: web.Request, participant: Participant) -> web.StreamResponse:
    unknown = sorted(set(request.query) - {"date"})
    if unknown:
        return _bad(unknown[0], "unknown query parameter; /v1/overview takes date")
    day = request.query["date"] if "date" in request.query else _today(request)
    try:
        dt.date.fromisoformat(day)
        if len(day) != 10:
            raise ValueError
    except ValueError:
        return _bad("date", "a date YYYY-MM-DD")
    body = await _index(request).overview(participant, day)
    from messages.catalog import get_catalog

    body["vtcode_names"] = {vt.vtcode: {"zh": vt.name_zh, "en": vt.name_en} for vt in get_catalog()}
    clock = request.app[GATEWAY_KEY].clock
    if clock is not None:
        body["clock"] = clock_view(clock)
    return web.json_response(body)


def _may_operate(participant: Participant) -> bool:
    return participant.role == "treasury"


@authenticated
async def get_dlq(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Dead letters of the treasury's region (a bank or the central bank: 404, like anything unseen)."""
    if not _may_operate(participant):
        return error_response(404, "not-found", "the dead-letter queue is the treasury's")
    after_text, limit_text = request.query.get("after", "0"), request.query.get("limit", "50")
    if not after_text.isdigit() or len(after_text) > 18:
        return _bad("after", "the `next` of the previous page")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= DLQ_LIMIT_MAX:
        return _bad("limit", f"an integer from 1 to {DLQ_LIMIT_MAX}")
    limit = int(limit_text)
    where, params = scope_sql(participant, 3)
    rows = await request.app[GATEWAY_KEY].db.fetch(
        "SELECT o.seq, o.message_id, o.recipient, o.attempts, o.last_error, v.adm_div_code, v.st_year, v.vtcode, "
        "v.voucher_no, v.flag FROM gw_outbox o JOIN gw_messages v ON v.seq = o.seq "
        f"WHERE o.state = 'dead' AND o.seq > $1 AND {where} ORDER BY o.seq LIMIT $2",
        int(after_text), limit + 1, *params)
    items = [{"seq": int(r[0]), "id": r[1], "recipient": r[2], "attempts": int(r[3]), "last_error": r[4],
              "voucher": f"{r[5]}/{r[6]}/{r[7]}/{r[8]}", "flag": int(r[9])} for r in rows[:limit]]
    return web.json_response({"items": items, "next": items[-1]["seq"] if len(rows) > limit and items else None})


@authenticated
async def post_dlq_replay(request: web.Request, participant: Participant) -> web.StreamResponse:
    if not _may_operate(participant):
        return error_response(404, "not-found", "the dead-letter queue is the treasury's")
    try:
        body = await read_json(request, bytes_max=request.app[JSON_BYTES_MAX_KEY])
        ids = body["ids"] if isinstance(body, dict) else None
        if (not isinstance(ids, list) or not ids or len(ids) > REPLAY_IDS_MAX
                or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)):
            raise ValueError
    except JsonBodyError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return _bad("ids", f'the body is {{"ids": [1 to {REPLAY_IDS_MAX} message ids]}}')
    gateway = request.app[GATEWAY_KEY]
    marks = ",".join(f"${i + 1}" for i in range(len(ids)))
    where, params = scope_sql(participant, len(ids) + 1)
    rows = await gateway.db.fetch(f"SELECT v.id FROM gw_messages v WHERE v.id IN ({marks}) AND {where}",
                                  *ids, *params)
    mine = [r[0] for r in rows]  # ids outside the region are left alone, as if they did not exist
    replayed = await gateway.outbox.replay(mine) if mine else 0
    return web.json_response({"replayed": replayed})


@authenticated
async def get_scorecard(request: web.Request, participant: Participant) -> web.StreamResponse:
    board = request.app[SCORECARD_KEY]
    if board.latest is None:
        return web.json_response({"available": False, "cards": []})
    cards = board.latest
    if participant.role != "treasury":
        own = {participant.id, participant.name, *participant.bank_codes}
        cards = [c for c in cards if str(c.get("bank")) in own]
    return web.json_response({"available": True, "as_of": board.as_of, "cards": cards})


@authenticated
async def get_events(request: web.Request, participant: Participant) -> web.StreamResponse:
    """Server-sent events: `voucher` (a newly journaled message this participant may see, as a
    search row) and `clock` (the business time), polled every EVENT_POLL_S."""
    subscribers: set[object] = request.app[SUBSCRIBERS_KEY]
    if len(subscribers) >= EVENT_SUBSCRIBERS_MAX:
        return error_response(503, "unavailable", f"at most {EVENT_SUBSCRIBERS_MAX} live dashboards at once; retry later")
    token = object()
    subscribers.add(token)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    try:
        index = _index(request)
        await index.catch_up()
        after = index.last_seq  # only what happens from now on: fixed before the client sees the answer
        await resp.prepare(request)
        clock = request.app[GATEWAY_KEY].clock
        last_clock = ""
        quiet = 0.0
        while True:
            bound = index.last_seq  # every row up to here is in the index before the search below
            page = await index.search(participant, SearchQuery(limit=EVENT_PAGE_MAX, after=after))
            for item in page["items"]:
                await resp.write(f"event: voucher\ndata: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
            # past what this participant may not see, too: the next poll starts at the index's end
            last = page["items"][-1]["seq"] if page["items"] else after
            after = last if page["next"] is not None else max(last, bound)
            if clock is not None:
                view = json.dumps(clock_view(clock), ensure_ascii=False)
                if view != last_clock:
                    await resp.write(f"event: clock\ndata: {view}\n\n".encode())
                    last_clock, quiet = view, 0.0
            quiet += EVENT_POLL_S
            if quiet >= EVENT_HEARTBEAT_S:
                await resp.write(b": keep-alive\n\n")
                quiet = 0.0
            if page["next"] is None:
                await asyncio.sleep(EVENT_POLL_S)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        subscribers.discard(token)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await resp.write_eof()
    return resp


def add_ui_routes(app: web.Application) -> None:
    """The dashboard and its endpoints (called by `gateway.http_app.make_app`)."""
    gateway = app[GATEWAY_KEY]
    app[INDEX_KEY] = VoucherIndex(gateway.db, gateway.registry)
    app[SUBSCRIBERS_KEY] = set()
    if SCORECARD_KEY not in app:
        app[SCORECARD_KEY] = ScorecardBoard()
    app.router.add_get("/ui/", ui_file)
    app.router.add_get("/ui/{name}", ui_file)
    app.router.add_get("/v1/overview", get_overview)
    app.router.add_get("/v1/search", get_search)
    app.router.add_get("/v1/dlq", get_dlq)
    app.router.add_post("/v1/dlq/replay", post_dlq_replay)
    app.router.add_get("/v1/scorecard", get_scorecard)
    app.router.add_get("/v1/events", get_events)
