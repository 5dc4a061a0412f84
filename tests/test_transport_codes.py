"""Every code a transport can answer with is in `/v1/codes` (`messages.errors.CODES`).

Two nets. The first drives the real HTTP app and the MQTT adapter's handler through each error
path and checks every `code` they answer with against the table the gateway serves. The second
reads the source of the transports, the CLI and the client SDK (`ast`, not regexes) for every
code written as a literal, so a new refusal added without its registration fails here even
before a test drives it.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from gateway.clock import BusinessClock
from gateway.http_app import make_app
from gateway.mqtt_adapter import MqttAdapter
from gateway.service import Gateway, GatewayConfig
from messages.errors import CODES
from messages.xmlsafe import Limits
from runner.world import DevWorld
from storage.db import Database, open_database

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE_MAX = 4096  # small limits so that "too large" needs only a few kilobytes
BODY_MAX = ENVELOPE_MAX + 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@asynccontextmanager
async def served(world: DevWorld, db: Database, clock: Any) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock,
                 config=GatewayConfig(limits=Limits(envelope_bytes_max=ENVELOPE_MAX)))
    await gw.start()
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(gw, client_max_size=BODY_MAX)))
    await client.start_server()
    try:
        yield gw, client
    finally:
        await client.close()
        await gw.stop()


def _clock(*, simulated: bool) -> BusinessClock:
    calendar, config = BusinessCalendar.default(), ClockConfig()
    if simulated:
        return BusinessClock.simulated(calendar, config, dt.datetime(2026, 3, 16, 10, 0, tzinfo=TZ))
    return BusinessClock.live(calendar, config)


async def _served_codes(client: TestClient[Any, Any]) -> dict[str, str]:
    resp = await client.get("/v1/codes")
    assert resp.status == 200
    table: dict[str, str] = await resp.json()
    assert table == CODES
    return table


async def test_every_http_error_path_answers_a_served_code(world: DevWorld, tmp_path: Path) -> None:
    """Each refusal the HTTP app can make, made for real: its `code` is in the served table."""
    auth = {"Authorization": f"Bearer {world.participants['bank-a'].token}"}
    tid = world.treasury.id
    treasury = {"Authorization": f"Bearer {world.treasury.token}"}
    seen: dict[str, str] = {}  # code -> the request that produced it

    async def expect(client: TestClient[Any, Any], status: int, what: str, method: str, path: str,
                     **kw: Any) -> None:
        resp = await client.request(method, path, **kw)
        assert resp.status == status, (what, resp.status, await resp.text())
        assert resp.content_type == "application/json", (what, await resp.text())
        body = await resp.json()
        seen.setdefault(body["code"], what)

    db = await open_database(str(tmp_path / "gw.db"))
    async with served(world, db, _clock(simulated=True)) as (_, client):
        table = await _served_codes(client)
        await expect(client, 404, "no such route", "GET", "/v1/nowhere")
        await expect(client, 405, "wrong method", "DELETE", "/v1/messages")
        await expect(client, 413, "JSON body over the app's limit", "POST", "/v1/inbox/ack",
                     data=b'{"ids": ["' + b"x" * (2 * BODY_MAX) + b'"]}',
                     headers={**auth, "Content-Type": "application/json"})
        big = world.envelope([payment(world) for _ in range(5)], sender=tid)
        assert len(big) > ENVELOPE_MAX
        await expect(client, 413, "envelope over the limit", "POST", "/v1/messages", data=big, headers=treasury)
        await expect(client, 400, "malformed JSON", "POST", "/v1/inbox/ack", data=b"{not json",
                     headers={**auth, "Content-Type": "application/json"})
        await expect(client, 400, "bad query", "GET", "/v1/inbox?cursor=-1", headers=auth)
        await expect(client, 400, "not an envelope", "POST", "/v1/messages", data=b"<NotMOF/>", headers=treasury)
        await expect(client, 401, "no credentials", "GET", "/v1/inbox")
        await expect(client, 404, "no such message", "GET", "/v1/messages/nope", headers=auth)
        await expect(client, 404, "no such voucher", "GET", "/v1/trace/990100/2026/5201/NONE", headers=auth)
        await expect(client, 400, "clock: bad body", "POST", "/v1/clock", json={"nothing": 1}, headers=auth)
        await expect(client, 409, "clock: backwards", "POST", "/v1/clock",
                     json={"advance_to": "2026-01-01T09:00:00+08:00"}, headers=auth)
    await db.close()

    db = await open_database(str(tmp_path / "live.db"))
    async with served(world, db, _clock(simulated=False)) as (_, client):
        await expect(client, 409, "clock: live", "POST", "/v1/clock", json={"advance_by_s": 60}, headers=auth)
    await db.close()

    db = await open_database(str(tmp_path / "noclock.db"))
    async with served(world, db, None) as (gw, client):
        await expect(client, 404, "clock: none", "GET", "/v1/clock", headers=auth)
        await gw.stop()  # draining: a submission is refused as unavailable
        await expect(client, 503, "draining", "POST", "/v1/messages",
                     data=world.envelope([payment(world)], sender=tid), headers=treasury)
        await gw.start()
    await db.close()

    db = await open_database(str(tmp_path / "closed.db"))
    async with served(world, db, None) as (_, client):
        await db.close()  # the database goes away under a running gateway
        await expect(client, 503, "database closed", "GET", "/v1/messages/any", headers=auth)

    unregistered = {code: what for code, what in seen.items() if code not in table}
    assert not unregistered, f"codes answered but not in /v1/codes: {unregistered}"
    # The paths above really were taken (a path that silently stopped erroring would not count).
    assert {"not-found", "method-not-allowed", "too-large", "xml-too-large", "bad-request", "envelope-invalid",
            "unauthenticated", "clock-live", "clock-refused", "unavailable"} <= set(seen), seen


class _Replies:
    """Stands in for the broker: what the adapter would publish, by topic."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def publish(self, topic: str, payload: bytes, props: Any = None, **_: Any) -> None:
        import json

        self.bodies.append(json.loads(payload))


def _message(topic: str, payload: bytes) -> aiomqtt.Message:
    return aiomqtt.Message(topic, payload, qos=1, retain=False, mid=1, properties=None)


async def test_every_mqtt_error_path_answers_a_registered_code(world: DevWorld, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = await open_database(str(tmp_path / "gw.db"))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs())
    await gw.start()
    adapter = MqttAdapter(gw, host="127.0.0.1", port=1, username="u", password="p")
    replies = _Replies()
    monkeypatch.setattr(adapter, "_publish", replies.publish)
    tid = world.treasury.id
    try:
        await adapter._handle(_message("tgw/v1/nobody/outbox", b"<MOF/>"))
        await adapter._handle(_message(f"tgw/v1/{tid}/ack", b"{not json"))
        await adapter._handle(_message(f"tgw/v1/{tid}/outbox", b"<NotMOF/>"))

        async def boom(*_: Any) -> Any:
            raise RuntimeError("unexpected")

        with monkeypatch.context() as m:
            m.setattr(gw, "submit", boom)
            await adapter._handle(_message(f"tgw/v1/{tid}/outbox", b"<MOF/>"))
        await gw.stop()
        await adapter._handle(_message(f"tgw/v1/{tid}/outbox", world.envelope([payment(world)], sender=tid)))
    finally:
        await db.close()
    # A refused envelope answers per voucher (`results[].code`), everything else at the top level.
    codes = [b.get("code") or b["results"][0]["code"] for b in replies.bodies]
    assert codes == ["unknown-sender", "bad-request", "envelope-invalid", "internal-error", "unavailable"]
    assert not [c for c in codes if c not in CODES]


# ---------------------------------------------------------------------- the static net

SCANNED = ("gateway", "client", "tgw")
_CODE_ARG = {"error_response": 1, "_error": 1, "ClientError": 1, "Issue": 0, "InputError": 0}  # call -> code's index
_CODE_TABLES = {"_HTTP_CODES": "values", "_STATUS": "keys"}  # module dicts naming codes


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _codes_in(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):  # {"code": "x", ...}
            for k, v in zip(node.keys, node.values, strict=True):
                if _literal(k) == "code" and (code := _literal(v)) is not None:
                    yield node.lineno, code
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            index = _CODE_ARG.get(name)
            if name == "_error" and not (node.args and isinstance(node.args[0], ast.Constant)
                                         and isinstance(node.args[0].value, int)):
                index = None  # the CLI's _error(cmd, message) prints text; the HTTP one is error_response(status, code, ...)
            if index is not None and len(node.args) > index and (code := _literal(node.args[index])):
                yield node.lineno, code
            for kw in node.keywords:  # code="x"
                if kw.arg == "code" and (code := _literal(kw.value)) is not None:
                    yield node.lineno, code
            # body.get("code", "fallback")
            if (name == "get" and len(node.args) == 2 and _literal(node.args[0]) == "code"
                    and (code := _literal(node.args[1])) is not None):
                yield node.lineno, code
        elif isinstance(node, ast.Assign):
            targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
            for table, side in _CODE_TABLES.items():
                if table in targets and isinstance(node.value, ast.Dict):
                    for item in (node.value.values if side == "values" else node.value.keys):
                        if (code := _literal(item)) is not None:
                            yield node.lineno, code
            # body["code"] = "x"
            if (any(isinstance(t, ast.Subscript) and _literal(t.slice) == "code" for t in node.targets)
                    and (code := _literal(node.value)) is not None):
                yield node.lineno, code


def _scan() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, code in _codes_in(tree):
                found.setdefault(code, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_every_code_literal_in_the_transports_is_registered() -> None:
    found = _scan()
    # The scanner sees the codes it must (else it would pass by finding nothing).
    assert {"not-found", "method-not-allowed", "too-large", "unavailable", "internal-error", "unknown-sender",
            "bad-request", "clock-live", "clock-refused", "timeout", "http-error", "unauthenticated"} <= set(found)
    unregistered = {code: where for code, where in found.items() if code not in CODES}
    assert not unregistered, f"add these to messages/errors.py CODES with their meaning: {unregistered}"


def test_the_scanner_catches_an_unregistered_code() -> None:
    src = ('def h():\n    x = {"code": "made-up-1"}\n    error_response(400, "made-up-2", "m")\n'
           '    raise ClientError(500, "made-up-3", "m")\n    log(code="made-up-4")\n'
           '    _HTTP_CODES = {418: "made-up-5"}\n    body.get("code", "made-up-6")\n    body["code"] = "made-up-7"\n')
    assert {c for _, c in _codes_in(ast.parse(src))} == {f"made-up-{i}" for i in range(1, 8)}


def test_mqtt_acl_refuses_with_its_registered_code(world: DevWorld) -> None:
    """Was a ValueError "unregistered error code" instead of the participant at fault."""
    from messages.errors import InputError
    from tgw.mqtt_acl import passwd_text

    registry = world.registry()
    bank = registry.get("bank-a")
    assert bank is not None and bank.mqtt_username
    with pytest.raises(InputError) as exc:
        passwd_text(registry, gateway_user=bank.mqtt_username, gateway_password="secret")
    assert exc.value.code == "mqtt-credentials" and "bank-a" in exc.value.issues[0].message
