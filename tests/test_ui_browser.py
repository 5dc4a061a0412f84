"""End to end in headless Chromium: the dashboard over a simulated business day (the demo world).

The treasury logs in, loads every page, searches a voucher, opens its trace, releases a hold and
replays a dead letter; a bank logs in and cannot see another bank's voucher, not even by URL.
Screenshots go to tests/artifacts/ui-*.png. The risk page runs against a small fake of the
monitoring API contract (/v1/monitor/...) unless the gateway serves the real one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser import ARTIFACTS, png_size
from cdp import Page, chromium

from gateway.http_app import make_app
from gateway.http_common import GATEWAY_KEY
from gateway.ui import SCORECARD_KEY

DAY = dt.date(2026, 3, 16)
STOP = dt.time(15, 45)  # before the clearing cutoff (16:00): the countdown shows, the clearing is filed


class FakeMonitor:
    """The monitoring API contract (h-monitor's), in memory: one hold on one real voucher."""

    def __init__(self, voucher: dict[str, str], amount_fen: int, sender: str, recipient: str) -> None:
        self.hold: dict[str, Any] = {
            "id": "h-1", "voucher": voucher, "rule_id": "large-amount", "grade": "hold", "amount_fen": amount_fen,
            "payee": "测试供应商有限公司", "sender": sender, "recipient": recipient,
            "held_at": f"{DAY.isoformat()}T10:00:00+08:00", "status": "held", "decided_by": None,
            "decided_at": None, "reason": None}

    def routes(self, app: web.Application) -> None:
        registry = app[GATEWAY_KEY].registry

        def who(request: web.Request) -> Any:
            return registry.by_token(request.headers.get("Authorization", "").removeprefix("Bearer "))

        async def holds(request: web.Request) -> web.Response:
            if who(request) is None:
                return web.json_response({"code": "unauthenticated", "message": "token"}, status=401)
            status = request.query.get("status", "held")
            return web.json_response({"holds": [self.hold] if self.hold["status"] == status else [], "next": None})

        async def decide(request: web.Request) -> web.Response:
            p = who(request)
            if p is None or p.role != "treasury" or request.match_info["id"] != "h-1":
                return web.json_response({"code": "not-found", "message": "no such hold"}, status=404)
            body = await request.json()
            self.hold.update(status="released" if request.match_info["verb"] == "release" else "rejected",
                             decided_by=p.id, decided_at=f"{DAY.isoformat()}T15:45:00+08:00", reason=body["reason"])
            return web.json_response(self.hold)

        async def decisions(request: web.Request) -> web.Response:
            return web.json_response({"decisions": []})

        app.router.add_get("/v1/monitor/holds", holds)
        app.router.add_post("/v1/monitor/holds/{id}/{verb}", decide)
        app.router.add_get("/v1/monitor/decisions", decisions)


@pytest.fixture
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    from business_time.calendar import BusinessCalendar
    from business_time.clock import at
    from runner.demo import build_world
    from runner.scorecard_feed import scorecard_of
    from treasury_sim.scorecard import render_json

    w = await build_world(tmp_path_factory.mktemp("day"), seed=7, vouchers=40, days=1, start=DAY)
    try:
        await w.engine.start()
        await w.engine.run_until(at(DAY, STOP))
        app = make_app(w.gateway)
        rows = await w.gateway.db.fetch(
            "SELECT voucher_no, recipient, id FROM gw_messages WHERE vtcode = '5201' AND flag = 0 ORDER BY id")
        by_bank: dict[str, list[tuple[str, str]]] = {}
        for no, recipient, mid in rows:
            by_bank.setdefault(recipient, []).append((no, mid))
        monitor = None
        if not any(r.resource is not None and r.resource.canonical == "/v1/monitor/holds" for r in app.router.routes()):
            no, _ = by_bank["bank-a"][0]
            monitor = FakeMonitor({"adm": w.world.adm_div_code, "year": "2026", "vtcode": "5201", "no": no},
                                  123_456_00, w.world.treasury.id, "bank-a")
            monitor.routes(app)
        elif w.gateway.monitor is not None:  # the real monitoring: a payment over its large-payment threshold is held
            from messages.factory import payment_voucher

            large = payment_voucher(voucher_no="HOLD0001", vou_date=DAY, amount_fen=1_500_000_00,
                                    adm_div_code=w.world.adm_div_code,
                                    pay_bank_code=w.world.participants["bank-a"].bank_codes[0])
            treasury = w.gateway.registry.get(w.world.treasury.id)
            [held] = await w.gateway.submit(w.world.envelope([large], sender=w.world.treasury.id), treasury)
            assert held.status == "held", held.as_dict()
        cards = scorecard_of(w.bcores, BusinessCalendar.default(), w.clock_config, as_of=at(DAY, STOP))
        app[SCORECARD_KEY].publish(render_json(cards), at(DAY, STOP).isoformat())
        # one dead letter to replay
        await w.gateway.db.execute_script(f"UPDATE gw_outbox SET state = 'dead', last_error = 'push timed out' "
                                          f"WHERE message_id = '{by_bank['bank-b'][-1][1]}'")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield {"url": f"http://127.0.0.1:{port}", "world": w.world, "by_bank": by_bank, "monitor": monitor,
               "gateway": w.gateway}
        await runner.cleanup()
    finally:
        await w.close()


async def _login(page: Page, url: str, token: str, role: str) -> None:
    await page.goto(f"{url}/ui/")
    await page.wait("document.body.dataset.ready === '1'", "the page to start")
    await page.eval("sessionStorage.clear(); document.querySelector('#logout').hidden || document.querySelector('#logout').click()")
    await page.type("#token", token)
    await page.click("#login-form button[type=submit]")
    await page.wait(f"document.querySelector('#who').dataset.role === '{role}'", f"logged in as {role}")
    await _ready(page)


async def _ready(page: Page) -> None:
    await page.wait("document.querySelector('#page').dataset.ready === '1'", "the page to render")


async def _go(page: Page, hash_: str) -> None:
    await page.eval(f"document.querySelector('#page').dataset.ready = '0'; location.hash = {json.dumps(hash_)}")
    await _ready(page)


# a GET of the API as the logged-in participant, from the page: its JSON, or null when not 200
_API_JSON = ("fetch('{path}', {{headers: {{Authorization: 'Bearer ' + sessionStorage.getItem('tgw.token')}}}})"
             ".then(r => r.status === 200 ? r.json() : null)")


def _shot(name: str, data: bytes) -> None:
    assert png_size(data) == (1280, 900), name


async def test_treasury_and_bank_walk_through_the_dashboard(served: dict[str, Any], tmp_path: Path) -> None:
    url, world, by_bank = served["url"], served["world"], served["by_bank"]
    async with chromium(tmp_path / "profile") as page:
        # --- the treasury: overview (Chinese), then English
        await _login(page, url, world.participants[world.treasury.id].token, "treasury")
        count = int(await page.eval("document.querySelector('#ov-count').textContent"))
        assert count >= 40  # the day's payments at least
        cutoff = await page.eval("document.querySelector('#ov-cutoff').textContent")
        assert cutoff.startswith("清算截止 0:1"), cutoff  # the clearing cutoff, 15 min away, named in Chinese
        assert await page.eval("document.querySelector('#nav a').textContent") == "概览"
        _shot("overview", await page.screenshot(ARTIFACTS / "ui-overview-zh.png"))
        # live: a voucher journaled now reaches the open page over the event stream
        await page.wait("document.querySelector('#clock').textContent.includes('15:45')", "the clock event")
        from messages.factory import payment_voucher

        voucher = payment_voucher(voucher_no="LIVE0001", vou_date=DAY, amount_fen=777_00, adm_div_code=world.adm_div_code,
                                  pay_bank_code=world.participants["bank-a"].bank_codes[0])
        treasury = served["gateway"].registry.get(world.treasury.id)
        [result] = await served["gateway"].submit(world.envelope([voucher], sender=world.treasury.id), treasury)
        assert result.status == "accepted"
        await page.wait(f"document.querySelector('#ov-count').textContent === '{count + 1}'", "the live count")
        await page.click("#lang")
        await page.wait("document.querySelector('#nav a').textContent === 'Overview'", "English labels")
        await _ready(page)
        cutoff = await page.eval("document.querySelector('#ov-cutoff').textContent")
        assert cutoff.startswith("clearing cutoff 0:"), cutoff
        _shot("overview-en", await page.screenshot(ARTIFACTS / "ui-overview-en.png"))

        # --- search a voucher by number, open its trace
        no_b = by_bank["bank-b"][0][0]
        await _go(page, "#/search")
        await page.type("#q-no", no_b)
        await page.click("#search-go")
        await page.wait(f"[...document.querySelectorAll('#search-results a.voucher-link')].some(a => a.textContent === '{no_b}')",
                        "the voucher in the results")
        _shot("search", await page.screenshot(ARTIFACTS / "ui-search.png"))
        await page.eval("document.querySelector('#page').dataset.ready = '0'; "
                        "document.querySelector('#search-results a.voucher-link').click()")
        await _ready(page)
        steps = await page.wait("document.querySelectorAll('#trace li').length >= 4 && "
                                "[...document.querySelectorAll('#trace li strong')].map(s => s.textContent)", "the trace")
        assert steps[:4] == ["validated", "verified", "authorized", "journaled"]
        _shot("trace", await page.screenshot(ARTIFACTS / "ui-trace.png"))

        # --- risk: release a hold with a reason (the fake's, or the real monitoring's if it held one)
        await _go(page, "#/risk")
        held = await page.eval(_API_JSON.format(path="/v1/monitor/holds?status=held&limit=10"))
        if held and held["holds"]:
            hold = held["holds"][0]["id"]
            row = f"[data-hold={json.dumps(hold)}]"
            await page.wait(f"!!document.querySelector('#holds {row} button.release')", "the hold")
            _shot("risk", await page.screenshot(ARTIFACTS / "ui-risk.png"))
            await page.type(f"#holds {row} input.reason", "已电话核实 / confirmed by phone")
            await page.eval("document.querySelector('#page').dataset.ready = '0'")
            await page.click(f"#holds {row} button.release")
            await _ready(page)
            await page.wait(f"!!document.querySelector('#decided {row}')", "the released hold")
            released = await page.eval(_API_JSON.format(path="/v1/monitor/holds?status=released&limit=100"))
            [decided] = [h for h in released["holds"] if h["id"] == hold]
            assert decided["reason"] == "已电话核实 / confirmed by phone"
            assert decided["decided_by"] == world.treasury.id
        else:
            pytest.fail(f"no hold to release: {held}")
        if served["monitor"] is not None:
            assert served["monitor"].hold["status"] == "released"

        # --- scorecard, dead letters (replay)
        await _go(page, "#/scorecard")
        assert await page.eval("document.querySelectorAll('#page table tbody tr').length") >= 2
        _shot("scorecard", await page.screenshot(ARTIFACTS / "ui-scorecard.png"))
        await _go(page, "#/dlq")
        await page.wait("!!document.querySelector('#dlq button.replay')", "the dead letter")
        _shot("dlq", await page.screenshot(ARTIFACTS / "ui-dlq.png"))
        await page.eval("document.querySelector('#page').dataset.ready = '0'")
        await page.click("#dlq button.replay")
        await _ready(page)
        await page.wait("!!document.querySelector('#dlq-empty')", "the queue empty after the replay")

        # --- a bank: its own traffic only, not another bank's voucher even by URL
        await page.click("#logout")
        await _login(page, url, world.participants["bank-a"].token, "bank")
        await _go(page, f"#/search?no={no_b}")
        await page.wait("!!document.querySelector('#search-results p.muted')", "no result for bank-b's voucher")
        await _go(page, f"#/trace/{world.adm_div_code}/2026/5201/{no_b}")
        await page.wait("!!document.querySelector('#trace-missing')", "the trace refused")
        _shot("bank-denied", await page.screenshot(ARTIFACTS / "ui-bank-denied.png"))
        status = await page.eval(f"fetch('/v1/trace/{world.adm_div_code}/2026/5201/{no_b}', {{headers: "
                                 "{Authorization: 'Bearer ' + sessionStorage.getItem('tgw.token')}}).then(r => r.status)")
        assert status == 404
        await _go(page, "#/dlq")
        assert await page.eval("document.querySelector('#dlq')") is None
        await _go(page, "#/risk")
        assert await page.eval("document.querySelector('button.release')") is None  # only the treasury decides
        await _go(page, "#/overview")
        banks = await page.eval("[...document.querySelectorAll('#page table')[0].querySelectorAll('tbody tr td:first-child')]"
                                ".map(td => td.textContent)")
        assert set(banks) == {"bank-a"}
        assert page.errors == []
