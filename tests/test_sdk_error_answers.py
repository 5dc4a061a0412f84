"""The HTTP client SDK against answers the gateway never gives but what stands in front of it may:
a proxy's page in another encoding, a JSON error that is not an object, a 200 that is not the
gateway's JSON (a base URL pointing at some other web server). Each is a `ClientError` with the
stable code `http-error` and the status, never an AttributeError, KeyError or UnicodeDecodeError."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from client import ClientError, GatewayClient
from messages.envelope import VoucherKey

ANSWERS = {
    "gbk-page": (502, "网关错误".encode("gbk") + b"\xff", "text/html"),
    "json-list": (503, b'["down"]', "application/json"),
    "json-string": (500, b'"oops"', "application/json"),
    "json-null": (404, b"null", "application/json"),
    "html-200": (200, b"<html>captive portal</html>", "text/html"),
    "empty-200": (200, b"", "text/plain"),
    "json-200-no-fields": (200, b"{}", "application/json"),
    "json-200-list": (200, b"[1, 2]", "application/json"),
}


@pytest.fixture(params=sorted(ANSWERS))
async def stub(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    status, body, content_type = ANSWERS[request.param]

    async def answer(_: web.Request) -> web.Response:
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")), status
    finally:
        await server.close()


CALLS = {
    "send": lambda c: c.send(b"<MOF/>"),
    "receive": lambda c: c.receive(timeout_s=0),
    "ack": lambda c: c.ack("m1"),
    "trace": lambda c: c.trace(VoucherKey("990100", "2026", "5201", "V1", 0)),
    "clock": lambda c: c.clock(),
    "message": lambda c: c.message("m1"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_an_answer_not_the_gateways_is_a_client_error(stub: tuple[str, int], call: str) -> None:
    url, status = stub
    async with GatewayClient.http(url, token="t", participant_id="bank-a") as client:
        try:
            await CALLS[call](client)
        except ClientError as exc:
            assert exc.status == status and exc.code == "http-error", exc
        else:  # a 404 read of a trace or a message is "none" by design
            assert status == 404 and call in ("trace", "message")


@pytest.mark.parametrize("call", ["clock", "message"])
async def test_an_http_only_call_on_another_transport_says_what_to_use(call: str) -> None:
    """A treasury core on MQTT asking the SDK for business time learns where it is (was: "only the
    HTTP client reads the clock and message status", and nothing on what to do)."""
    from client.mqtt import MqttClientTransport

    client = GatewayClient(MqttClientTransport("127.0.0.1", 1, username="bank-a", password="x",
                                               participant_id="bank-a"), "bank-a")
    with pytest.raises(ClientError) as refused:
        await (client.clock() if call == "clock" else client.message("m1"))
    assert refused.value.code == "not-implemented"
    assert "GatewayClient.http" in str(refused.value) and "tgw/v1/clock" in str(refused.value)
