"""The HTTP transport (the app on a local port, gateway_helpers.serving) and `GatewayClient.http`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway_helpers import (
    bad_envelopes,
    deliver_one_payment,
    payment,
    receipt_of,
    running_gateway,
    serving,
    table_count,
    voucher_of_delivery,
)
from lxml import etree

from client import ClientError, GatewayClient
from gateway.service import Gateway, GatewayConfig
from messages.errors import CODES
from messages.keys import issue_participant
from messages.signing import KeySigner, verify_signature
from messages.xmlsafe import Limits
from runner.world import DevWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def ack_signer(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> KeySigner:
    files = issue_participant(tmp_path_factory.mktemp("ackkey"), participant_id="tgw-gateway", role="pboc",
                              ca_dir=world.keys_dir)
    return KeySigner.from_files(files.key, files.cert)


@dataclass
class Http:
    gw: Gateway
    client: aiohttp.ClientSession  # on the server's base URL: client.get("/v1/...")
    world: DevWorld
    url: str

    def auth(self, pid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.participants[pid].token}"}

    def gclient(self, pid: str, **kw: Any) -> GatewayClient:
        return GatewayClient.http(self.url, token=self.world.participants[pid].token, participant_id=pid, **kw)

    async def post(self, pid: str, data: bytes, **headers: str) -> Any:
        return await self.client.post("/v1/messages", data=data, headers={**self.auth(pid), **headers})


@asynccontextmanager
async def http_gateway(world: DevWorld, db: Any, *, config: GatewayConfig | None = None,
                       ack_signer: Any = None) -> AsyncIterator[Http]:
    async with running_gateway(world, db, config=config) as gw, serving(gw, ack_signer=ack_signer) as url, \
            aiohttp.ClientSession(base_url=url) as client:
        yield Http(gw, client, world, url)


# ---------------------------------------------------------------------- round trip


async def test_round_trip_over_http(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h, h.gclient(tid, poll_wait_s=5) as treasury, \
            h.gclient("bank-a", poll_wait_s=5) as bank:
        item = await deliver_one_payment(world, treasury, bank)
        rec = receipt_of(voucher_of_delivery(item.envelope))
        [rres] = await bank.send(world.envelope([rec], sender="bank-a", flag=1))
        assert (rres.status, rres.recipient) == ("accepted", tid)
        [ritem] = await treasury.receive(timeout_s=5)
        assert ritem.message_id == rres.message_id and ritem.key.flag == 1
        await treasury.ack(ritem)

        resp = await h.client.get(f"/v1/messages/{rres.message_id}", headers=h.auth(tid))
        assert resp.status == 200
        body = await resp.json()
        assert body["original_id"] == item.message_id and body["flag"] == 1 and body["delivery_state"] == "acked"
        resp = await h.client.get(f"/v1/messages/{item.message_id}", headers=h.auth("bank-a"))
        assert resp.status == 200 and (await resp.json())["sender"] == tid

        events = await treasury.trace(item.key)
        assert events is not None
        got = {(e["flag"], e["step"]) for e in events}
        for step in ("validated", "verified", "authorized", "journaled", "delivered"):
            assert (0, step) in got
        for step in ("validated", "verified", "authorized", "journaled", "linked", "delivered"):
            assert (1, step) in got
        assert all(e["wall_time"] and e["business_time"] for e in events)
        k = item.key
        resp = await h.client.get(f"/v1/trace/{k.adm_div_code}/{k.st_year}/{k.vtcode}/{k.voucher_no}",
                                  headers=h.auth("bank-a"))
        assert resp.status == 200 and (await resp.json())["events"]


async def test_multi_voucher_envelope_over_http(world: DevWorld, db: Any) -> None:
    from gateway_helpers import rebuild

    tid = world.treasury.id
    vouchers = [payment(world, voucher_no=f"H{i:05d}") for i in range(20)]
    vouchers[7] = rebuild(vouchers[7], VouDate="20260230")
    async with http_gateway(world, db) as h:
        resp = await h.post(tid, world.envelope(vouchers, sender=tid))
        assert resp.status == 200
        body = await resp.json()
        assert [r["voucher_no"] for r in body["results"]] == [f"H{i:05d}" for i in range(20)]
        assert body["results"][7]["status"] == "rejected" and body["results"][7]["code"] == "bad-date"
        assert body["summary"] == {"accepted": 19, "duplicate": 0, "rejected": 1}


# ---------------------------------------------------------------------- rejects


async def test_unauthenticated(world: DevWorld, db: Any) -> None:
    env = world.envelope([payment(world)], sender=world.treasury.id)
    async with http_gateway(world, db) as h:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"},
                        {"Authorization": "Bearer "}):
            for method, path in (("POST", "/v1/messages"), ("GET", "/v1/inbox"), ("POST", "/v1/inbox/ack"),
                                 ("GET", "/v1/messages/x"), ("GET", "/v1/trace/990100/2026/5201/X"),
                                 ("GET", "/v1/participants")):
                resp = await h.client.request(method, path, data=env if method == "POST" else None, headers=headers)
                assert resp.status == 401, (method, path, headers)
                body = await resp.json()
                assert body["code"] == "unauthenticated" and body["code"] in CODES
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert await table_count(db, "gw_messages") == 0
        async with GatewayClient.http(h.url, token="nope", participant_id="x") as c:
            with pytest.raises(ClientError) as exc:
                await c.send(env)
            assert exc.value.status == 401 and exc.value.code == "unauthenticated"


async def test_xml_too_large_is_413(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    small = GatewayConfig(limits=Limits(envelope_bytes_max=4096))
    big = world.envelope([payment(world) for _ in range(5)], sender=tid)
    assert len(big) > 4096
    async with http_gateway(world, db, config=small) as h:
        resp = await h.post(tid, big)
        assert resp.status == 413 and (await resp.json())["code"] == "xml-too-large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the read limit applies
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]

        resp = await h.client.post("/v1/messages", data=chunks(), headers=h.auth(tid))
        assert resp.status == 413 and (await resp.json())["code"] == "xml-too-large"
        assert await table_count(db, "gw_messages") == 0
        # under the limit still works
        resp = await h.post(tid, world.envelope([payment(world)], sender=tid))
        assert resp.status == 200


async def test_reject_codes_over_http(world: DevWorld, db: Any, tmp_path: Path) -> None:
    other = DevWorld.create(tmp_path / "other")
    cases = bad_envelopes(world, other)
    async with http_gateway(world, db) as h:
        for code in ("envelope-invalid", "envelope-count-mismatch"):
            sender, data = cases[code][0]
            resp = await h.post(sender, data)
            assert resp.status == 400
            body = await resp.json()
            assert [r["code"] for r in body["results"]] == [code]
            assert body["results"][0]["voucher"] is None
            assert body["code"] == code  # a whole-envelope refusal says why at the top level too
        for code in ("bad-signature", "xsd-invalid", "not-authorized", "unknown-certificate", "no-recipient"):
            sender, data = cases[code][0]
            resp = await h.post(sender, data)
            assert resp.status == 200, code
            [r] = (await resp.json())["results"]
            assert (r["status"], r["code"]) == ("rejected", code)
            assert r["errors"][0]["code"] == code and r["message"]
        # the client maps the whole-envelope 400 to results, not an exception
        async with h.gclient(world.treasury.id) as c:
            [r] = await c.send(cases["envelope-invalid"][0][1])
            assert (r.status, r.code) == ("rejected", "envelope-invalid")


# ---------------------------------------------------------------------- idempotency


async def test_duplicate_over_http_same_answer(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    env = world.envelope([payment(world)], sender=tid)
    async with http_gateway(world, db) as h:
        answers = []
        for _ in range(3):
            resp = await h.post(tid, env)
            assert resp.status == 200
            answers.append((await resp.json())["results"][0])
        assert [a["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
        assert len({a["message_id"] for a in answers}) == 1
        assert await table_count(db, "gw_outbox") == 1


# ---------------------------------------------------------------------- isolation


async def test_isolation_is_404_not_403(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        resp = await h.post(tid, world.envelope([payment(world, bank="bank-a")], sender=tid))
        [r] = (await resp.json())["results"]
        mid = r["message_id"]
        adm, year, vt, no, _ = r["voucher"].split("/")
        resp = await h.client.get("/v1/inbox", headers=h.auth("bank-b"))
        assert resp.status == 200 and (await resp.json())["messages"] == []
        resp = await h.client.get(f"/v1/messages/{mid}", headers=h.auth("bank-b"))
        assert resp.status == 404 and (await resp.json())["code"] == "not-found"
        resp = await h.client.get("/v1/messages/does-not-exist", headers=h.auth("bank-b"))
        assert resp.status == 404  # the same answer as for someone else's message
        resp = await h.client.get(f"/v1/trace/{adm}/{year}/{vt}/{no}", headers=h.auth("bank-b"))
        assert resp.status == 404
        resp = await h.client.get(f"/v1/trace/{adm}/{year}/{vt}/NOSUCH", headers=h.auth("bank-b"))
        assert resp.status == 404
        resp = await h.client.post("/v1/inbox/ack", json={"ids": [mid]}, headers=h.auth("bank-b"))
        assert resp.status == 200 and (await resp.json())["acked"] == []
        resp = await h.client.get("/v1/inbox", headers=h.auth("bank-a"))
        assert [m["id"] for m in (await resp.json())["messages"]] == [mid]
        resp = await h.client.post("/v1/inbox/ack", json={"ids": [mid]}, headers=h.auth("bank-a"))
        assert (await resp.json())["acked"] == [mid]
        resp = await h.client.get("/v1/inbox", headers=h.auth("bank-a"))
        assert (await resp.json())["messages"] == []


# ---------------------------------------------------------------------- inbox


async def test_long_poll_returns_with_the_committed_voucher(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        poll = asyncio.create_task(h.client.get("/v1/inbox?wait=5", headers=h.auth("bank-a")))
        await asyncio.sleep(0.1)
        assert not poll.done()  # it is waiting: nothing in the inbox yet
        resp = await h.post(tid, world.envelope([payment(world, bank="bank-a")], sender=tid))
        [r] = (await resp.json())["results"]
        got = await asyncio.wait_for(poll, 10)
        assert got.status == 200
        body = await got.json()
        assert [m["id"] for m in body["messages"]] == [r["message_id"]]
        assert body["cursor"] == body["messages"][0]["seq"]


async def test_long_poll_for_someone_else_stays_empty(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        poll = asyncio.create_task(h.client.get("/v1/inbox?wait=0.5", headers=h.auth("bank-b")))
        await asyncio.sleep(0.05)
        await h.post(tid, world.envelope([payment(world, bank="bank-a")], sender=tid))
        body = await (await asyncio.wait_for(poll, 10)).json()
        assert body["messages"] == [] and body["cursor"] == 0


async def test_closing_the_test_server_answers_a_parked_long_poll(world: DevWorld, db: Any) -> None:
    """gateway_helpers.serving closes as tgw up stops (Gateway.stop_accepting, then the listener):
    a long poll parked for 30 s answers, 200 and empty, instead of holding the close (without the
    wake aiohttp cuts it off after the server's shutdown timeout: no answer at all)."""
    auth = {"Authorization": f"Bearer {world.participants['bank-a'].token}"}
    async with running_gateway(world, db) as gw, aiohttp.ClientSession() as session:
        async with serving(gw) as url:
            poll = asyncio.create_task(session.get(f"{url}/v1/inbox?wait=30", headers=auth))
            await asyncio.sleep(0.2)
            assert not poll.done()  # parked: nothing in the inbox
        resp = await asyncio.wait_for(poll, 5)
        assert (resp.status, (await resp.json())["messages"]) == (200, [])


async def test_cursor_paging(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        resp = await h.post(tid, world.envelope([payment(world, bank="bank-a") for _ in range(5)], sender=tid))
        ids = [r["message_id"] for r in (await resp.json())["results"]]
        seen, cursor = [], 0
        for _ in range(5):
            body = await (await h.client.get(f"/v1/inbox?cursor={cursor}&limit=2", headers=h.auth("bank-a"))).json()
            if not body["messages"]:
                break
            assert len(body["messages"]) <= 2
            seen.extend(m["id"] for m in body["messages"])
            assert body["cursor"] > cursor
            cursor = body["cursor"]
        assert seen == ids
        # unacked messages are still there from the start
        body = await (await h.client.get("/v1/inbox", headers=h.auth("bank-a"))).json()
        assert len(body["messages"]) == 5
        resp = await h.client.get("/v1/inbox?cursor=abc", headers=h.auth("bank-a"))
        assert resp.status == 400 and (await resp.json())["code"] == "bad-request"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"ids": "x"}', b'{"ids": [1, 2]}', b"[]",
                                  b'{"ids": [' + b",".join([b'"a"'] * 1001) + b"]}"])
async def test_ack_bad_body_is_400(world: DevWorld, tmp_path: Path, body: bytes) -> None:
    from storage.db import open_database

    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with http_gateway(world, db) as h:
            resp = await h.client.post("/v1/inbox/ack", data=body,
                                       headers={**h.auth("bank-a"), "Content-Type": "application/json"})
            assert resp.status == 400
            assert (await resp.json())["code"] == "bad-request"
    finally:
        await db.close()


# ---------------------------------------------------------------------- signed XML acknowledgement


async def test_xml_ack_is_signed_by_the_gateway_key(world: DevWorld, db: Any, ack_signer: KeySigner) -> None:
    tid = world.treasury.id
    vouchers = [payment(world), payment(world)]
    from gateway_helpers import rebuild

    vouchers[1] = rebuild(vouchers[1], VouDate="20260230")
    async with http_gateway(world, db, ack_signer=ack_signer) as h:
        resp = await h.post(tid, world.envelope(vouchers, sender=tid), Accept="application/xml")
        assert resp.status == 200 and resp.content_type == "application/xml"
        root = etree.fromstring(await resp.read())
        assert root.tag == "TGWAck"
        inner = base64.b64decode(root.findtext("Ack"))
        [sig] = root.findall("SignatureList/Signature")
        assert sig.get("SN") == ack_signer.sn
        assert verify_signature(ack_signer.public_key, inner, base64.b64decode(sig.text))
        assert not verify_signature(ack_signer.public_key, inner.replace(b"accepted", b"rejected"),
                                    base64.b64decode(sig.text))
        results = etree.fromstring(inner).findall("Result")
        assert [r.get("Status") for r in results] == ["accepted", "rejected"]
        assert results[0].get("MessageId") and results[1].get("Code") == "bad-date"
        # without a signer: the same shape, an empty SignatureList
    async with http_gateway(world, db) as h:
        resp = await h.post(tid, world.envelope([payment(world)], sender=tid), Accept="application/xml")
        root = etree.fromstring(await resp.read())
        assert root.findall("SignatureList/Signature") == []


# ---------------------------------------------------------------------- operational endpoints


async def test_healthz_metrics_participants(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with http_gateway(world, db) as h:
        await h.post(tid, world.envelope([payment(world)], sender=tid))
        resp = await h.client.get("/healthz")
        assert resp.status == 200
        body = await resp.json()
        assert body["status"] == "ok" and body["outbox"] == {"ready": 1}
        text = await (await h.client.get("/metrics")).text()
        assert "tgw_vouchers_total" in text and 'status="accepted"' in text
        resp = await h.client.get("/v1/participants", headers=h.auth("bank-b"))
        people = (await resp.json())["participants"]
        assert {p["id"] for p in people} == set(world.participants)
        assert all("token_sha256" not in p and "mqtt_password_hash" not in p for p in people)
        assert world.participants[tid].token not in await resp.text()
        resp = await h.client.get("/v1/codes")
        assert await resp.json() == CODES


async def test_healthz_503_while_draining(world: DevWorld, db: Any) -> None:
    async with http_gateway(world, db) as h:
        await h.gw.stop()
        try:
            resp = await h.client.get("/healthz")
            assert resp.status == 503 and (await resp.json())["status"] == "draining"
            resp = await h.post(world.treasury.id, world.envelope([payment(world)], sender=world.treasury.id))
            assert resp.status == 503 and (await resp.json())["code"] == "unavailable"
        finally:
            await h.gw.start()




@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "cursor=-5", "cursor=99999999999999999999",
                                   "wait=abc", "limit=1.5"])
async def test_inbox_bad_query_is_400_not_500(world: DevWorld, db: Any, query: str) -> None:
    async with http_gateway(world, db) as h:
        resp = await h.client.get(f"/v1/inbox?{query}", headers=h.auth("bank-a"))
        assert resp.status == 400, (query, resp.status, await resp.text())
        assert (await resp.json())["code"] == "bad-request"


async def test_inbox_limit_over_its_maximum_is_refused_not_clamped(world: DevWorld, db: Any) -> None:
    # Issue 9: the spec states limit <= 500 and the server agrees (it used to clamp silently).
    async with http_gateway(world, db) as h:
        resp = await h.client.get("/v1/inbox?limit=99999999999999999999", headers=h.auth("bank-a"))
        assert resp.status == 400 and (await resp.json())["code"] == "bad-request"
        resp = await h.client.get("/v1/inbox?limit=500", headers=h.auth("bank-a"))
        assert resp.status == 200


async def test_a_large_envelope_arriving_in_many_chunks_is_read_whole(tmp_path: Path) -> None:
    """500 vouchers (~2 MB) sent chunked: every voucher is accepted, none lost to a short read."""
    from storage.db import open_database

    world = DevWorld.create(tmp_path / "big")
    db = await open_database(str(tmp_path / "big.db"))
    envelope = world.envelope([payment(world) for _ in range(500)], sender=world.treasury.id)
    assert len(envelope) > 1_000_000

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(envelope), 16_384):
            yield envelope[start:start + 16_384]

    async with running_gateway(world, db) as gw, serving(gw) as url:
        headers = {"Authorization": f"Bearer {world.treasury.token}", "Content-Type": "application/xml"}
        async with aiohttp.ClientSession() as session, \
                session.post(f"{url}/v1/messages", data=body(), headers=headers) as resp:
            assert resp.status == 200
            answer = await resp.json()
    assert answer["summary"] == {"accepted": 500, "duplicate": 0, "rejected": 0}
    await db.close()


# ---------------------------------------------------------------------- answers against the OpenAPI document


def _documented(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with a real answer by docs/openapi.json: its status, its content type, and
    (JSON) its body against the schema the document gives for them."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from gateway.openapi import openapi_document

    doc = openapi_document()
    responses = doc["paths"][path][method]["responses"]
    if str(status) not in responses:
        return [f"{method} {path}: status {status} not documented"]
    content = responses[str(status)].get("content", {})
    if content_type not in content:
        return [f"{method} {path} {status}: content type {content_type} not documented ({sorted(content)})"]
    if content_type != "application/json":
        return []
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1")
                       for p in ("paths", path, method, "responses", str(status), "content", content_type, "schema"))
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    validator = jsonschema.Draft202012Validator({"$ref": f"urn:openapi#/{pointer}"}, registry=registry)
    return [f"{method} {path} {status}: {list(e.absolute_path)}: {e.message}" for e in
            validator.iter_errors(json.loads(body))]


async def test_real_answers_are_what_the_openapi_document_says(world: DevWorld, db: Any,
                                                                ack_signer: KeySigner) -> None:
    """The fuzz tests (test_api_fuzz.py) never get a voucher accepted, delivered or traced, nor
    ask for the XML ack: these are the answers a treasury core or a bank reads every day."""
    tid = world.treasury.id
    wrong: list[str] = []
    async with http_gateway(world, db, ack_signer=ack_signer) as h:
        async def check(method: str, path: str, resp: Any) -> bytes:
            body: bytes = await resp.read()
            wrong.extend(_documented(method, path, resp.status, resp.content_type, body))
            return body

        resp = await h.post(tid, world.envelope([payment(world)], sender=tid))
        message_id = json.loads(await check("post", "/v1/messages", resp))["results"][0]["message_id"]
        await check("post", "/v1/messages", await h.post(tid, world.envelope([payment(world)], sender=tid),
                                                         Accept="application/xml"))
        await check("post", "/v1/messages", await h.post(tid, b"<not-xml", Accept="application/xml"))
        await check("post", "/v1/messages", await h.post(tid, b"<not-xml"))
        message = json.loads(await check("get", "/v1/messages/{id}",
                                         await h.client.get(f"/v1/messages/{message_id}", headers=h.auth(tid))))
        inbox = json.loads(await check("get", "/v1/inbox", await h.client.get(
            "/v1/inbox?cursor=0&wait=5", headers=h.auth("bank-a"))))
        assert inbox["messages"], "a delivery to check the inbox's shape with"
        ack = await h.client.post("/v1/inbox/ack", json={"ids": [m["id"] for m in inbox["messages"]]},
                                  headers=h.auth("bank-a"))
        await check("post", "/v1/inbox/ack", ack)
        key = inbox["messages"][0]["voucher"].rsplit("/", 1)[0]
        trace = json.loads(await check("get", "/v1/trace/{AdmDivCode}/{StYear}/{VtCode}/{VoucherNo}",
                                       await h.client.get(f"/v1/trace/{key}", headers=h.auth(tid))))
        await check("get", "/v1/clock", await h.client.get("/v1/clock", headers=h.auth(tid)))
    # was: POST /v1/messages 200 and 400: content type application/xml not documented (['application/json'])
    assert wrong == []
    # every field a reader gets is named in the document (was: `{"type": "object"}` for both)
    from gateway.openapi import openapi_document

    paths = openapi_document()["paths"]
    documented = {p: paths[p]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                  for p in ("/v1/messages/{id}", "/v1/trace/{AdmDivCode}/{StYear}/{VtCode}/{VoucherNo}")}
    message_fields = set(documented["/v1/messages/{id}"].get("properties", {}))
    trace_doc = documented["/v1/trace/{AdmDivCode}/{StYear}/{VtCode}/{VoucherNo}"]
    event_fields = set(trace_doc.get("properties", {}).get("events", {}).get("items", {}).get("properties", {}))
    assert set(message) - message_fields == set()
    assert set(trace) - set(trace_doc.get("properties", {})) == set()
    assert {k for e in trace["events"] for k in e} - event_fields == set()
