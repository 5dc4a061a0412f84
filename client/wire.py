"""What the gateway and its participants agree on over MQTT: topics, session and in-flight
limits, MQTT v5 properties, and the publish both sides use. The server (`gateway.mqtt_adapter`)
and the client SDK (`client.mqtt`) both import this module; it imports neither.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "CLOCK_TOPIC",
    "PENDING_CALLS_WARN",
    "PUBLISH_IN_FLIGHT_MAX",
    "SESSION_EXPIRY_S",
    "TOPIC_ROOT",
    "auth_refused",
    "connect_properties",
    "hush_pending_calls",
    "publish_properties",
    "publish_until_lost",
    "session_client",
    "subscription",
]

TOPIC_ROOT = "tgw/v1"
CLOCK_TOPIC = f"{TOPIC_ROOT}/clock"

# QoS 1 publishes awaiting their PUBACK at once. aiomqtt gives every publish its own timeout, and
# paho only keeps `max_inflight_messages` on the wire, queueing the rest: thousands of concurrent
# publishes sat in that queue past their timeout. We hold at most this many, set paho's window to
# the same number (so none waits behind the window) and keep it under the broker's
# max_inflight_messages (100 in conf/mosquitto.conf).
PUBLISH_IN_FLIGHT_MAX = 64
# aiomqtt logs "There are N pending publish calls." at WARNING on every call made while more than
# its threshold (10) are pending: with PUBLISH_IN_FLIGHT_MAX publishes in flight by design that was
# a line per push (20,532 of 40,541 lines in one burst). Pending at once are our publishes plus a
# subscribe or two, so the warning now means what it says: the in-flight bound was broken.
PENDING_CALLS_WARN = PUBLISH_IN_FLIGHT_MAX + 8
# Seconds a session outlives its connection at the broker (queued QoS 1 messages are kept for it).
SESSION_EXPIRY_S = 7 * 24 * 3600
# CONNACK codes of a refused login: v5 bad user name or password / not authorized; v3.1.1 rc 4 / 5.
_AUTH_REFUSED = (134, 135, 4, 5)


def subscription() -> SubscribeOptions:
    """QoS 1, and no retained message sent at subscribe time (MQTT v5 retain handling 2).

    A retained message on a topic someone publishes to the other side (an envelope or an ack
    published with the retain flag) was handled as published, then again at every (re)subscribe:
    the gateway resubscribes at each connect, so each reconnect answered it once more. The gateway
    subscribes with this; the clock, retained on purpose, is subscribed to without it."""
    return SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)


def publish_properties(*, correlation: bytes | None = None, response_topic: str | None = None,
                       content_type: str | None = None,
                       user: list[tuple[str, str]] | None = None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if correlation is not None:
        props.CorrelationData = correlation
    if response_topic is not None:
        props.ResponseTopic = response_topic
    if content_type is not None:
        props.ContentType = content_type
    if user:
        props.UserProperty = user
    return props


async def publish_until_lost(client: aiomqtt.Client, lost: asyncio.Event, topic: str, payload: bytes, *,
                             properties: Properties | None = None, retain: bool = False) -> None:
    """QoS 1 publish that fails as soon as its connection is gone.

    aiomqtt leaves a publish waiting for a PUBACK that a dead connection will never bring (until
    its own timeout, 10 s); the next connection is a new client that will not resend it anyway.
    """
    pub = asyncio.ensure_future(client.publish(topic, payload, qos=1, retain=retain, properties=properties))
    gone = asyncio.ensure_future(lost.wait())
    try:
        await asyncio.wait({pub, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not pub.done():
            pub.cancel()
            pub.add_done_callback(_consume)
    if not pub.done():
        raise aiomqtt.MqttError("connection lost before the broker acknowledged the publish")
    pub.result()


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: nobody else will look at it


def hush_pending_calls(client: aiomqtt.Client) -> aiomqtt.Client:
    """Raise aiomqtt's pending-call warning threshold to PENDING_CALLS_WARN (see there)."""
    client.pending_calls_threshold = PENDING_CALLS_WARN
    return client


def connect_properties(session_expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    return props


def session_client(host: str, port: int, *, username: str, password: str, client_id: str, session_expiry_s: int,
                   keepalive_s: int, tls: ssl.SSLContext | None, timeout_s: float) -> aiomqtt.Client:
    """A client (not yet connected) of the MQTT v5 session both sides keep: `clean_start` false and
    a session expiry (the broker keeps a session's queued QoS 1 messages across a reconnect), paho's
    in-flight window PUBLISH_IN_FLIGHT_MAX, aiomqtt's warning at PENDING_CALLS_WARN (`hush_pending_calls`).
    `timeout_s`: aiomqtt's per-call timeout (connect, subscribe, publish)."""
    return hush_pending_calls(aiomqtt.Client(
        host, port, username=username, password=password, identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=connect_properties(session_expiry_s),
        keepalive=keepalive_s, tls_context=tls, max_inflight_messages=PUBLISH_IN_FLIGHT_MAX, timeout=timeout_s))


def auth_refused(exc: BaseException) -> bool:
    """Whether `exc` is the broker refusing the login itself (bad user name or password, not
    authorized), not the connection failing for any other reason."""
    if not isinstance(exc, MqttConnectError):
        return False
    rc = getattr(exc, "rc", None)
    return getattr(rc, "value", rc) in _AUTH_REFUSED
