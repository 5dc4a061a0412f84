"""/v1/monitor over HTTP: rules, holds, release / reject (treasury only), decisions, no edit routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment, rebuild
from test_monitoring_gateway import YUAN, _gateway

from gateway.http_app import make_app
from gateway.service import Gateway
from runner.world import DevWorld

Client = TestClient[Any, Any]


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


@pytest.fixture
async def served(world: DevWorld, db: Any) -> AsyncIterator[tuple[Gateway, Client]]:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    client: Client = TestClient(TestServer(make_app(gw)))
    await client.start_server()
    try:
        yield gw, client
    finally:
        await client.close()
        await gw.stop()


def _h(world: DevWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[who].token}"}


async def _submit(client: Client, world: DevWorld, voucher: bytes) -> dict[str, Any]:
    env = world.envelope([voucher], sender=world.treasury.id)
    resp = await client.post("/v1/messages", data=env, headers=_h(world, world.treasury.id))
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_held_released_and_rejected_through_the_api(world: DevWorld,
                                                          served: tuple[Gateway, Client]) -> None:
    _, client = served
    t, bank = _h(world, world.treasury.id), _h(world, "bank-a")
    body = await _submit(client, world, payment(world, amount_fen=1_500_000 * YUAN, voucher_no="H0001"))
    [r] = body["results"]
    assert (r["status"], r["code"], body["summary"]["held"]) == ("held", "monitor-held", 1)
    await _submit(client, world, payment(world, amount_fen=1_600_000 * YUAN, voucher_no="H0002"))

    rules = await (await client.get("/v1/monitor/rules", headers=t)).json()
    assert rules["version"] == "2026.1" and {"id", "grade", "description", "params"} <= set(rules["rules"][0])

    page = await (await client.get("/v1/monitor/holds?status=held&limit=1", headers=t)).json()
    assert len(page["holds"]) == 1 and page["next"] == page["holds"][0]["id"]
    first = page["holds"][0]
    assert first["voucher"]["no"] == "H0001" and first["rule_id"] == "large-single-payment"
    page2 = await (await client.get(f"/v1/monitor/holds?status=held&limit=1&after={page['next']}",
                                    headers=t)).json()
    second = page2["holds"][0]
    assert second["voucher"]["no"] == "H0002"

    # a bank may neither decide nor see the treasury's holds
    resp = await client.post(f"/v1/monitor/holds/{first['id']}/release", json={"reason": "mine"}, headers=bank)
    assert resp.status == 403 and (await resp.json())["code"] == "not-authorized"
    assert (await (await client.get("/v1/monitor/holds", headers=bank)).json())["holds"] == []

    resp = await client.post(f"/v1/monitor/holds/{first['id']}/release", json={"reason": "contract seen"}, headers=t)
    assert resp.status == 200
    released = await resp.json()
    assert (released["status"], released["decided_by"], released["reason"]) == (
        "released", world.treasury.id, "contract seen")
    again = await client.post(f"/v1/monitor/holds/{first['id']}/reject", json={"reason": "x"}, headers=t)
    assert again.status == 409 and (await again.json())["code"] == "hold-decided"
    inbox = await (await client.get("/v1/inbox", headers=bank)).json()
    assert [m["voucher_no"] for m in inbox["messages"]] == ["H0001"]  # released: delivered as normal

    resp = await client.post(f"/v1/monitor/holds/{second['id']}/reject", json={"reason": "no contract"}, headers=t)
    assert (await resp.json())["status"] == "rejected"
    trace = await (await client.get(f"/v1/trace/{world.adm_div_code}/2026/5201/H0002", headers=t)).json()
    assert any(e["step"] == "monitor-rejected" for e in trace["events"])

    ref = f"{world.adm_div_code}/2026/5201/H0001"
    dec = await (await client.get(f"/v1/monitor/decisions?voucher={ref}", headers=t)).json()
    outcomes = [(d["rule_id"], d["outcome"], d["who"]) for d in dec["decisions"]]
    assert ("large-single-payment", "released", world.treasury.id) in outcomes
    assert outcomes[0] == ("large-single-payment", "held", "monitor")
    assert (await client.get(f"/v1/monitor/decisions?voucher={ref}", headers=bank)).status == 200  # its voucher
    other = f"{world.adm_div_code}/2026/5201/H0002"
    assert (await client.get(f"/v1/monitor/decisions?voucher={other}", headers=_h(world, "bank-b"))).status == 404


async def test_bad_requests_are_coded(world: DevWorld, served: tuple[Gateway, Client]) -> None:
    _, client = served
    t = _h(world, world.treasury.id)
    for path in ("/v1/monitor/holds?status=lost", "/v1/monitor/holds?limit=0", "/v1/monitor/holds?limt=3",
                 "/v1/monitor/holds?after=%00", "/v1/monitor/decisions", "/v1/monitor/decisions?voucher=a/b"):
        resp = await client.get(path, headers=t)
        assert resp.status == 400 and (await resp.json())["code"] == "bad-request", path
    for body in ({}, {"reason": ""}, {"reason": 5}, {"reason": "x", "more": 1}, [1]):
        resp = await client.post("/v1/monitor/holds/h1/release", json=body, headers=t)
        assert resp.status == 400 and (await resp.json())["code"] == "bad-request", body
    resp = await client.post("/v1/monitor/holds/hnone/release", json={"reason": "x"}, headers=t)
    assert resp.status == 404 and (await resp.json())["code"] == "not-found"
    assert (await client.get("/v1/monitor/rules")).status == 401


async def test_the_audit_has_no_edit_route(world: DevWorld, served: tuple[Gateway, Client]) -> None:
    _, client = served
    t = _h(world, world.treasury.id)
    await _submit(client, world, rebuild(payment(world, amount_fen=80_000 * YUAN, voucher_no="C0001"),
                                         PaySummaryName="提取现金"))
    ref = f"/v1/monitor/decisions?voucher={world.adm_div_code}/2026/5201/C0001"
    before = await (await client.get(ref, headers=t)).json()
    assert before["decisions"][0]["outcome"] == "blocked"
    for method in ("PUT", "PATCH", "DELETE"):
        resp = await client.request(method, ref, json={"outcome": "passed"}, headers=t)
        assert resp.status == 405 and (await resp.json())["code"] == "method-not-allowed", method
        resp = await client.request(method, "/v1/monitor/holds/h1", json={}, headers=t)
        assert resp.status in (404, 405), method
    assert await (await client.get(ref, headers=t)).json() == before


async def test_every_monitor_route_is_404_on_a_gateway_with_monitoring_off_and_401_first(
        world: DevWorld, served: tuple[Gateway, Client]) -> None:
    gw, client = served
    gw.monitor = None
    t = _h(world, world.treasury.id)
    routes = [("GET", "/v1/monitor/rules"), ("GET", "/v1/monitor/holds"),
              ("POST", "/v1/monitor/holds/h1/release"), ("POST", "/v1/monitor/holds/h1/reject"),
              ("GET", "/v1/monitor/decisions?voucher=990100/2026/5201/X1")]
    for method, path in routes:
        resp = await client.request(method, path, headers=t, json={"reason": "r"} if method == "POST" else None)
        assert (resp.status, (await resp.json())["code"]) == (404, "not-found"), path
        assert "monitoring is off" in (await resp.json())["message"]
        anonymous = await client.request(method, path)
        assert anonymous.status == 401, path
