"""`client.wire.session_client`: the one MQTT v5 session the gateway's adapter and the SDK's
transport both open (they each built it by hand, the same but for the timeout)."""

from __future__ import annotations

from typing import Any

import aiomqtt

from client.mqtt import MqttClientTransport
from client.wire import PENDING_CALLS_WARN, PUBLISH_IN_FLIGHT_MAX, session_client
from gateway.mqtt_adapter import MqttAdapter


def _session(client: aiomqtt.Client) -> dict[str, Any]:
    """What a client asks of the broker and of paho, read before it connects."""
    paho = client._client
    return {
        "client_id": paho._client_id,
        "v5": paho._protocol == aiomqtt.ProtocolVersion.V5.value,
        "clean_start": client._clean_start,
        "expiry": client._properties.SessionExpiryInterval,
        "keepalive": client._keepalive,
        "in_flight": paho._max_inflight_messages,
        "warn_at": client.pending_calls_threshold,
        "timeout": client.timeout,
    }


async def test_a_session_client_keeps_its_session_and_the_in_flight_window() -> None:
    client = session_client("127.0.0.1", 1, username="treasury-z", password="pw", client_id="treasury-z",
                            session_expiry_s=3_600, keepalive_s=17, tls=None, timeout_s=4.5)
    assert _session(client) == {
        "client_id": b"treasury-z", "v5": True, "clean_start": False, "expiry": 3_600, "keepalive": 17,
        "in_flight": PUBLISH_IN_FLIGHT_MAX, "warn_at": PENDING_CALLS_WARN, "timeout": 4.5,
    }


async def test_the_adapter_and_the_sdk_open_the_same_session_but_for_their_timeout() -> None:
    adapter = MqttAdapter(None, host="127.0.0.1", port=1, username="gw-q", password="p",  # type: ignore[arg-type]
                          session_expiry_s=600, keepalive_s=20, publish_timeout_s=7.0)
    transport = MqttClientTransport("127.0.0.1", 1, username="bank-q", password="p", participant_id="bank-q",
                                    session_expiry_s=600, keepalive_s=20, connect_timeout_s=3.0)
    gateway_side, sdk_side = _session(adapter._make_client()), _session(transport._make_client())
    assert (gateway_side["client_id"], gateway_side["timeout"]) == (b"gw-q", 7.0)  # the adapter: its user name
    assert (sdk_side["client_id"], sdk_side["timeout"]) == (b"bank-q", 3.0)
    for side in (gateway_side, sdk_side):
        del side["client_id"], side["timeout"]
    assert gateway_side == sdk_side == {"v5": True, "clean_start": False, "expiry": 600, "keepalive": 20,
                                        "in_flight": PUBLISH_IN_FLIGHT_MAX, "warn_at": PENDING_CALLS_WARN}
