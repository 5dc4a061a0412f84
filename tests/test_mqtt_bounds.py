"""MQTT red-team cases against a real Mosquitto (a private broker per test, so no two tests share a
topic): the largest envelope the gateway takes fits in the broker's packet limit, and one over it
gets the gateway's coded `xml-too-large` on the result topic, not a disconnect; the SDK refuses
locally what no broker would pass (no reconnect storm ending in `timeout`); an SDK whose
participant id is not its login's gets `mqtt-not-authorized` at open, not a `timeout` per send; a
retained envelope or ack is handled once, as published, not again at every gateway (re)connect;
a response topic below the participant's own result topic is one it can read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from gateway_helpers import payment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_broker import MosquittoBroker, shipped_settings
from test_mqtt import V5, mqtt_client, mqtt_gateway

from client import ClientError, GatewayClient
from client.mqtt import MqttClientTransport
from client.wire import publish_properties
from messages.envelope import encode_envelope
from messages.sealing import seal_as_role, voucher_body
from messages.xmlsafe import DEFAULT_LIMITS
from runner.world import DevWorld

pytestmark = pytest.mark.mqtt

LIMIT = DEFAULT_LIMITS.envelope_bytes_max


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


def _envelope_of(size: int) -> bytes:
    """Not XML worth parsing, just `size` bytes that start like an envelope."""
    head, tail = b"<MOF>", b"</MOF>"
    return head + b" " * (size - len(head) - len(tail)) + tail


def _raw(world: DevWorld, broker: MosquittoBroker, pid: str, ident: str) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, username=pid, password=world.participants[pid].mqtt_password,
                          protocol=V5, identifier=ident, timeout=30)


async def _answers(raw: aiomqtt.Client, n: int, within_s: float) -> list[tuple[str, dict[str, Any]]]:
    got: list[tuple[str, dict[str, Any]]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            async for message in raw.messages:
                got.append((str(message.topic), json.loads(message.payload)))
                if len(got) >= n:
                    break
    return got


def test_the_broker_takes_a_packet_of_the_largest_envelope_with_its_topic_and_properties() -> None:
    settings_ = {line.split()[0]: line.split()[1] for line in shipped_settings()}
    assert int(settings_["max_packet_size"]) >= LIMIT + 4096


async def test_envelopes_at_and_over_the_limit_get_the_gateways_answer(world: DevWorld, broker: MosquittoBroker,
                                                                      tmp_path: Path) -> None:
    async with mqtt_gateway(world, broker, tmp_path) as (_gw, adapter), \
            _raw(world, broker, "bank-a", "bank-a-raw") as raw:
        await raw.subscribe("tgw/v1/bank-a/result", qos=1)
        for corr, size in ((b"at", LIMIT), (b"over", LIMIT + 1)):
            await raw.publish("tgw/v1/bank-a/outbox", _envelope_of(size), qos=1, properties=publish_properties(
                correlation=corr, response_topic="tgw/v1/bank-a/result"))
            [(topic, body)] = await _answers(raw, 1, 60)
            codes = [r["code"] for r in body["results"]]
            assert topic == "tgw/v1/bank-a/result" and len(codes) == 1
            # at the limit: parsed (and refused, spaces are no envelope); one byte over: refused by its size
            assert (codes[0] == "xml-too-large") == (corr == b"over") and codes[0]
        assert adapter.connected


async def test_the_sdk_refuses_what_no_gateway_takes_without_publishing_it(world: DevWorld, broker: MosquittoBroker,
                                                                          tmp_path: Path) -> None:
    async with mqtt_gateway(world, broker, tmp_path), \
            mqtt_client(world, broker, "bank-a", send_timeout_s=20, resend_after_s=2) as client:
        transport = client.transport
        assert isinstance(transport, MqttClientTransport)
        with pytest.raises(ClientError) as caught:
            async with asyncio.timeout(5):
                await client.send(_envelope_of(LIMIT + 70_000))
        assert (caught.value.status, caught.value.code) == (413, "xml-too-large")
        assert str(LIMIT) in str(caught.value)
        assert transport.connects == 1 and transport.resends == 0
        results = await client.send(_envelope_of(LIMIT))  # at the limit: published, the gateway answers
        assert len(results) == 1 and results[0].code not in (None, "xml-too-large")
        assert transport.connects == 1 and transport.resends == 0


async def test_an_sdk_named_for_another_participant_is_told_so_at_open(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    """The broker grants the subscriptions and delivers nothing: before, the SDK opened, waited for
    pushes for ever and timed out every send (504 after 60 s)."""
    async with mqtt_gateway(world, broker, tmp_path):
        client = GatewayClient.mqtt(broker.host, broker.port, username="bank-a",
                                    password=world.participants["bank-a"].mqtt_password, participant_id="bank-b",
                                    send_timeout_s=30)
        with pytest.raises(ClientError) as caught:
            async with asyncio.timeout(10):
                await client.__aenter__()
        assert (caught.value.status, caught.value.code) == (403, "mqtt-not-authorized")
        assert "bank-a" in str(caught.value) and "tgw/v1/bank-b/" in str(caught.value)
        async with mqtt_client(world, broker, "bank-a", send_timeout_s=20) as own:  # its own participant: fine
            await own.transport.ack(["m1"])


async def test_a_retained_envelope_or_ack_is_not_handled_again_at_each_gateway_connect(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    async with _raw(world, broker, "bank-a", "bank-a-raw") as raw:
        await raw.subscribe("tgw/v1/bank-a/result", qos=1)
        async with mqtt_gateway(world, broker, tmp_path):
            for topic, payload in (("outbox", b"not xml"), ("ack", b'{"ids": []}')):
                await raw.publish(f"tgw/v1/bank-a/{topic}", payload, qos=1, retain=True,
                                  properties=publish_properties(correlation=topic.encode(),
                                                                response_topic="tgw/v1/bank-a/result"))
            assert len(await _answers(raw, 2, 15)) == 2  # handled once, as published
        for _ in range(2):  # the gateway comes back (its session kept): the retained two stay retained
            async with mqtt_gateway(world, broker, tmp_path):
                assert await _answers(raw, 1, 3) == []


async def test_an_answer_below_the_result_topic_reaches_its_participant(world: DevWorld, broker: MosquittoBroker,
                                                                       tmp_path: Path) -> None:
    async with mqtt_gateway(world, broker, tmp_path), _raw(world, broker, "bank-a", "bank-a-raw") as raw:
        await raw.subscribe("tgw/v1/bank-a/result/mine", qos=1)
        await raw.publish("tgw/v1/bank-a/ack", b'{"ids": []}', qos=1, properties=publish_properties(
            correlation=b"x", response_topic="tgw/v1/bank-a/result/mine"))
        assert await _answers(raw, 1, 10) == [("tgw/v1/bank-a/result/mine", {"acked": []})]


_PAYLOADS = st.one_of(st.just(b""), st.binary(max_size=64), st.sampled_from([b"not xml", b"<MOF/>", b'{"ids": []}',
                                                                             b'{"ids": ["no-such-id"]}']))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pid=st.sampled_from(["bank-a", "treasury-990100"]),
       messages=st.lists(st.tuples(st.sampled_from(["outbox", "ack"]), _PAYLOADS, st.booleans()),
                         min_size=1, max_size=4),
       reconnects=st.integers(1, 2))
def test_each_request_is_answered_once_retained_or_not(world: DevWorld, broker: MosquittoBroker, tmp_path: Path,
                                                       pid: str, messages: list[tuple[str, bytes, bool]],
                                                       reconnects: int) -> None:
    """asyncapi.yaml: every request is answered on `result` with its correlation data; the retain
    flag changes nothing, however often the gateway reconnects afterwards."""
    pid = pid if pid in world.participants else world.treasury.id
    tag = uuid.uuid4().hex.encode()

    async def run() -> None:
        async with _raw(world, broker, pid, f"{pid}-raw") as raw:
            await raw.subscribe(f"tgw/v1/{pid}/result", qos=1)
            mine = [tag + str(i).encode() for i in range(len(messages))]

            async def answers_within(seconds: float, n: int) -> list[bytes]:
                got: list[bytes] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        async for message in raw.messages:
                            corr = bytes(getattr(message.properties, "CorrelationData", b"") or b"")
                            if corr in mine:
                                got.append(corr)
                            if len(got) >= n:
                                break
                return got

            async with mqtt_gateway(world, broker, tmp_path):
                for corr, (kind, payload, retain) in zip(mine, messages, strict=True):
                    await raw.publish(f"tgw/v1/{pid}/{kind}", payload, qos=1, retain=retain,
                                      properties=publish_properties(correlation=corr,
                                                                    response_topic=f"tgw/v1/{pid}/result"))
                assert sorted(await answers_within(20, len(mine))) == sorted(mine)
            for _ in range(reconnects):
                async with mqtt_gateway(world, broker, tmp_path):
                    assert await answers_within(1.5, 1) == []

    asyncio.run(run())


async def test_without_the_acl_another_login_gets_no_voucher_admitted_but_acks_are_the_acls_alone(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    """docs/security.md: the gateway takes the topic's participant as the sender; on a broker
    without `tgw mqtt-acl`'s files the seals still refuse a voucher another login signed, while an
    ack is bound by the ACL alone (which, as shipped, refuses it: test_mqtt.py, each other's topics)."""
    treasury = world.treasury.id
    # the treasury's payment, bank-b's certificate at the treasury's seal positions
    forged = encode_envelope([seal_as_role(voucher_body(payment(world, bank="bank-a")), world.signer("bank-b"),
                                           "treasury")])
    (broker.root / "acl").write_text("pattern readwrite tgw/v1/#\nuser tgw-gateway\ntopic readwrite tgw/v1/#\n"
                                     "topic read $share/+/tgw/v1/#\nuser tgw-gateway-acks\ntopic readwrite tgw/v1/#\n"
                                     "topic read $share/+/tgw/v1/#\n", encoding="utf-8")
    broker.restart()
    async with mqtt_gateway(world, broker, tmp_path) as (gw, _adapter), \
            _raw(world, broker, "bank-b", "bank-b-raw") as raw:
        await raw.subscribe(f"tgw/v1/{treasury}/result", qos=1)
        await raw.subscribe("tgw/v1/bank-a/result", qos=1)
        await raw.publish(f"tgw/v1/{treasury}/outbox", forged, qos=1, properties=publish_properties(
            correlation=b"f", response_topic=f"tgw/v1/{treasury}/result"))
        [(_topic, body)] = await _answers(raw, 1, 20)
        [result] = body["results"]
        assert result["status"] == "rejected" and result["code"] in ("wrong-seal-position", "not-authorized")
        # an ack carries no seal: bank-b's login acks bank-a's delivery, only the ACL stops that
        [accepted] = await gw.submit(world.envelope([payment(world, bank="bank-a")], sender=treasury),
                                     gw.registry.get(treasury))
        await raw.publish("tgw/v1/bank-a/ack", json.dumps({"ids": [accepted.message_id]}).encode(), qos=1,
                          properties=publish_properties(correlation=b"a", response_topic="tgw/v1/bank-a/result"))
        assert await _answers(raw, 1, 20) == [("tgw/v1/bank-a/result", {"acked": [accepted.message_id]})]


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(qos_order=st.permutations([0, 1, 2, 1]))
def test_one_voucher_published_at_every_qos_is_journaled_and_delivered_once(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path, qos_order: list[int]) -> None:
    """The agreement's rule (a voucher key is paid once): the same envelope four times, at QoS 0,
    1 and 2 in any order, is one `accepted` and the rest `duplicate`, one row for the bank."""
    treasury = world.treasury.id
    voucher_no = f"Q{uuid.uuid4().int % 10**8:08d}"
    envelope = world.envelope([payment(world, bank="bank-a", voucher_no=voucher_no)], sender=treasury)

    async def run() -> None:
        async with mqtt_gateway(world, broker, tmp_path) as (gw, _adapter), \
                _raw(world, broker, treasury, f"{treasury}-raw") as raw:
            await raw.subscribe(f"tgw/v1/{treasury}/result", qos=1)
            statuses = []
            for i, qos in enumerate(qos_order):
                await raw.publish(f"tgw/v1/{treasury}/outbox", envelope, qos=qos, properties=publish_properties(
                    correlation=str(i).encode(), response_topic=f"tgw/v1/{treasury}/result"))
                [(_topic, body)] = await _answers(raw, 1, 20)
                statuses += [r["status"] for r in body["results"]]
            assert sorted(statuses) == ["accepted", "duplicate", "duplicate", "duplicate"]
            rows = await gw.inbox(gw.registry.get("bank-a"), after_seq=0, limit=1000)
            assert [r.key.voucher_no for r in rows].count(voucher_no) == 1

    asyncio.run(run())


@pytest.mark.parametrize("case", ["wrong-mqtt-password", "another-banks-login", "wrong-http-token"])
async def test_tgw_sdk_bank_refused_by_the_broker_or_gateway_says_so_in_one_line(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path, case: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A refusal (broker login, broker ACL, gateway token) ends the example bank with exit 2 and
    one line naming the code, as every other thing it cannot use does, not a traceback."""
    from aiohttp.test_utils import TestClient, TestServer

    from examples.sdk_bank import main
    from gateway.http_app import make_app

    secrets = json.loads((world.root / "secrets.json").read_text(encoding="utf-8"))
    if case == "wrong-http-token":
        secrets["bank-a"]["token"] = "not-the-token"
    (tmp_path / "secrets.json").write_text(json.dumps(secrets), encoding="utf-8")
    (tmp_path / "mqtt-pw").write_text("not-the-password" if case == "wrong-mqtt-password"
                                      else world.participants[("bank-b" if case == "another-banks-login"
                                                               else "bank-a")].mqtt_password, encoding="utf-8")
    login = "bank-b" if case == "another-banks-login" else "bank-a"
    async with mqtt_gateway(world, broker, tmp_path) as (gw, _adapter):
        http = TestClient(TestServer(make_app(gw)))
        await http.start_server()
        try:
            args = ["--url", str(http.make_url("")).rstrip("/"), "--id", "bank-a", "--bank-code", "999100000001",
                    "--key", str(world.keys_dir / "bank-a.key"), "--cert", str(world.keys_dir / "bank-a.pem"),
                    "--secrets", str(tmp_path / "secrets.json"),
                    "--mqtt", f"mqtt://{login}@{broker.host}:{broker.port}",
                    "--mqtt-password-file", str(tmp_path / "mqtt-pw")]
            code = await asyncio.wait_for(asyncio.to_thread(main, args), timeout=60)
        finally:
            await http.close()
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    expected = {"wrong-mqtt-password": "unauthenticated", "another-banks-login": "mqtt-not-authorized",
                "wrong-http-token": "unauthenticated"}[case]
    assert err.strip().splitlines()[-1].startswith(f"tgw-sdk-bank: {expected}: "), err
