"""The SDK's MQTT side as it handles what arrives, without a broker: its queue of deliveries not yet
received has a bound (a push dropped on a full queue comes again: the gateway pushes until acked),
and a result or clock payload that is no JSON object (asyncapi.yaml: both are objects) is logged
and skipped, never an exception that ends the transport's run loop."""

from __future__ import annotations

import json
from typing import Any

import aiomqtt
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from client.mqtt import INBOX_QUEUE_MAX, MqttClientTransport
from client.wire import publish_properties


def _transport() -> MqttClientTransport:
    return MqttClientTransport("127.0.0.1", 1, username="bank-a", password="x", participant_id="bank-a")


def _push(i: int) -> aiomqtt.Message:
    props = publish_properties(user=[("message-id", f"m{i}"), ("voucher", "990100/2026/5201/P1/0"),
                                     ("sender", "treasury-990100"), ("seq", str(i))])
    return aiomqtt.Message("tgw/v1/bank-a/inbox", b"<MOF/>", 1, False, i, props)


async def test_deliveries_not_yet_received_are_bounded_and_the_overflow_counted() -> None:
    t = _transport()
    for i in range(INBOX_QUEUE_MAX + 25):
        t._dispatch(_push(i))
    got = await t.receive(0)
    assert len(got) == INBOX_QUEUE_MAX and t.inbox_dropped == 25
    assert [d.message_id for d in got[:2]] == ["m0", "m1"]  # the oldest kept, in order
    t._dispatch(_push(99_999))
    assert [d.message_id for d in await t.receive(0)] == ["m99999"]


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=8)


@given(value=_JSON, topic=st.sampled_from(["tgw/v1/bank-a/result", "tgw/v1/clock"]),
       correlated=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=32)))
def test_whatever_comes_on_result_or_clock_never_raises(value: Any, topic: str, correlated: bool,
                                                        raw: bytes | None) -> None:
    t = _transport()
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if correlated:
        props.CorrelationData = b"c"
    payload = raw if raw is not None else json.dumps(value).encode()
    t._dispatch(aiomqtt.Message(topic, payload, 1, False, 1, props))
    if topic == "tgw/v1/clock" and raw is None:
        assert t.clock == (value if isinstance(value, dict) else None)


def test_a_nesting_past_json_s_recursion_on_result_is_skipped() -> None:
    t = _transport()
    t._dispatch(aiomqtt.Message("tgw/v1/bank-a/result", b"[" * 100_000 + b"]" * 100_000, 1, False, 1, None))
    t._dispatch(aiomqtt.Message("tgw/v1/clock", b"5", 1, False, 2, None))
    assert t.clock is None
