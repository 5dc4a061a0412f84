"""The gateway's MQTT side: Mosquitto in front, `Gateway` behind, aiomqtt in between.

Topics (participant P is its registry id; the broker's ACL lets only P's MQTT user touch them):

    tgw/v1/P/outbox   P → gateway   MOF envelope bytes; MQTT5 correlation data + response topic
    tgw/v1/P/result   gateway → P   JSON {"results": [...], "summary": {...}} or {"code", "message"}
    tgw/v1/P/inbox    gateway → P   one-voucher MOF envelope; user properties message-id, voucher, sender, seq
    tgw/v1/P/ack      P → gateway   JSON {"ids": [...]}; answered {"acked": [...]} when a response topic is set
    tgw/v1/clock      gateway → all retained JSON business clock

QoS 1 everywhere, and the broker's QoS is not the guarantee: an envelope is acknowledged only
after the journal commit (the client re-sends until it gets a result; identical bytes are
idempotent) and an inbox push is repeated by the gateway until the recipient acks it on
`…/ack`. So a broker restart can cost duplicates, never a voucher.

The gateway's own PUBACK to the broker is manual, too: an incoming PUBLISH is acknowledged only
once it has been handled (the envelope journaled and answered, the ack recorded). A gateway that
dies between receiving and committing leaves it unacknowledged, and the broker delivers it again
when the session reconnects (`clean_start` false), so the sender's re-send is a second line, not
the only one. aiomqtt 2.5 has no public switch for this (empicano/aiomqtt#345); paho-mqtt ≥ 2.0,
under it, has `manual_ack` and `ack(mid, qos)`, reached through `aiomqtt.Client._client`.

Acks come in on a session of their own (the "ack lane": user `<gateway user>-acks`, written by
`tgw mqtt-acl`): the broker sends a session at most `max_inflight_messages` unacknowledged
PUBLISHes, and the gateway acknowledges an envelope only once it is journaled, so during a
submission burst the window was full of envelopes and acks queued behind them at the broker
(a push bank's window stayed full for 11 s). A broker that refuses the ack user (files written
before the lane existed) gets the acks on the main session, as before, with an error logged.

The gateway subscribes with retain handling 2 (`client.wire.subscription`): a participant's envelope
or ack published with the retain flag is handled once, as published, and not again each time the
gateway (re)subscribes (it did, at every reconnect).

The adapter keeps its MQTT v5 sessions (clean_start false, a session expiry) and reconnects with
exponential backoff and jitter; while it is down its pushers are unregistered, so the deliverer
leaves the rows in the outbox. Several gateway workers share the outbox and ack subscriptions
through `$share/<group>/…`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.properties import Properties

from client.backoff import backoff
from client.wire import (
    CLOCK_TOPIC,
    PUBLISH_IN_FLIGHT_MAX,
    SESSION_EXPIRY_S,
    TOPIC_ROOT,
    auth_refused,
    publish_properties,
    publish_until_lost,
    session_client,
    subscription,
)
from gateway import metrics
from gateway.http_json import JSON_DEPTH_MAX, json_depth
from gateway.log_tally import LogTally
from gateway.outbox import InboxItem
from gateway.participants import Participant
from gateway.service import ACK_IDS_MAX, Gateway
from gateway.service_types import results_summary
from messages.errors import InputError, StateError

__all__ = ["HANDLE_IN_FLIGHT_MAX", "MqttAdapter"]

log = structlog.get_logger("tgw.mqtt")

# Incoming messages (envelopes, acks) handled concurrently; concurrency is what lets the journal's
# group commit batch them. Reading stops while this many are in progress.
HANDLE_IN_FLIGHT_MAX = 256

Pusher = Callable[[InboxItem], Awaitable[None]]


class MqttAdapter:
    """Connects a `Gateway` to a Mosquitto broker; see the module docstring for the contract."""

    def __init__(self, gateway: Gateway, *, host: str, port: int, username: str, password: str,
                 client_id: str | None = None, shared_group: str | None = "tgw",
                 tls: ssl.SSLContext | None = None, reconnect_base_s: float = 0.1, reconnect_max_s: float = 5.0,
                 session_expiry_s: int = SESSION_EXPIRY_S, keepalive_s: int = 30,
                 publish_timeout_s: float = 10.0, ack_lane: bool = True) -> None:
        self.gateway = gateway
        self.host, self.port = host, port
        self.username, self.password = username, password
        # The shipped broker configuration binds client ids to usernames (use_username_as_clientid:
        # nobody takes over another's session by naming its client id), so the id is the username
        # unless a test broker without that binding is told otherwise. Several gateway workers on
        # one broker therefore log in as different users (`tgw mqtt-acl --gateway-user` repeated).
        self.client_id = client_id or username
        self.shared_group = shared_group
        self.tls = tls
        self.reconnect_base_s = reconnect_base_s
        self.reconnect_max_s = reconnect_max_s
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.publish_timeout_s = publish_timeout_s
        self._client: aiomqtt.Client | None = None
        self._up = asyncio.Event()
        self._lost = asyncio.Event()  # replaced at every connection; set when that connection ends
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._publish_slots = asyncio.Semaphore(PUBLISH_IN_FLIGHT_MAX)
        self._handle_slots = asyncio.Semaphore(HANDLE_IN_FLIGHT_MAX)
        self._handlers: set[asyncio.Task[None]] = set()
        self._pushers: dict[str, Pusher] = {}
        self.connects = 0  # successful connections so far (1 + reconnects)
        # A lost broker fails every reply in flight at once: one line per interval, with a count.
        self._reply_failed_log = LogTally("mqtt.reply_failed", logger=log)
        self.kinds: tuple[str, ...] = ("outbox", "ack")  # what this session subscribes to
        self.pushes = True  # this session carries the inbox pushes and the clock
        self._lane_refused: Callable[[], Awaitable[None]] | None = None  # an ack lane's "not allowed in"
        self.ack_lane: MqttAdapter | None = None
        self._acks_moved_here = asyncio.Event()  # the broker refused the ack lane: acks come on this session
        if ack_lane:
            self.kinds = ("outbox",)
            lane = MqttAdapter(gateway, host=host, port=port, username=f"{username}-acks" if username else "",
                               password=password, client_id=f"{self.client_id}-acks", shared_group=shared_group,
                               tls=tls, reconnect_base_s=reconnect_base_s, reconnect_max_s=reconnect_max_s,
                               session_expiry_s=session_expiry_s, keepalive_s=keepalive_s,
                               publish_timeout_s=publish_timeout_s, ack_lane=False)
            lane.kinds, lane.pushes, lane._lane_refused = ("ack",), False, self._acks_here
            self.ack_lane = lane

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="mqtt-adapter")
        if self.ack_lane is not None:
            await self.ack_lane.start()

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            await self._up.wait()
            if self.ack_lane is not None:  # connected, or refused (then the acks come here)
                waits = [asyncio.ensure_future(e.wait()) for e in (self.ack_lane._up, self._acks_moved_here)]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()

    async def _acks_here(self) -> None:
        """The broker refused the ack lane's user: take the acks on this session, as before."""
        log.error("mqtt.ack_lane_refused", user=f"{self.username}-acks",
                  hint="write the broker's files again with `tgw mqtt-acl`; acks share the envelopes' session")
        self.kinds = ("outbox", "ack")
        self._acks_moved_here.set()
        client = self._client
        if client is not None:
            for topic in self._topics():
                await client.subscribe(topic, options=subscription())

    async def stop(self) -> None:
        """Unregister the pushers, let handlers in progress finish (bounded), disconnect."""
        if self.ack_lane is not None:
            await self.ack_lane.stop()
        self._stopping = True
        self._unregister_pushers()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=self.publish_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._mark_down()
        self._reply_failed_log.flush()

    def _topics(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        topics = [f"{TOPIC_ROOT}/+/{kind}" for kind in (self.kinds if kinds is None else kinds)]
        if self.shared_group:
            topics = [f"$share/{self.shared_group}/{t}" for t in topics]
        return topics

    def _make_client(self) -> aiomqtt.Client:
        client = session_client(self.host, self.port, username=self.username, password=self.password,
                                client_id=self.client_id, session_expiry_s=self.session_expiry_s,
                                keepalive_s=self.keepalive_s, tls=self.tls, timeout_s=self.publish_timeout_s)
        client._client.manual_ack_set(True)  # private: see the module docstring
        return client

    def _puback(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Acknowledge a handled PUBLISH to the broker, on the connection it came in on. If that
        connection is gone, the broker delivers it again to the session: handled twice, which the
        journal makes idempotent."""
        if message.qos > 0 and client is self._client:
            client._client.ack(message.mid, message.qos)  # private: no public API in aiomqtt 2.5

    async def _run(self) -> None:
        attempt = 0
        watcher: asyncio.Task[None] | None = None
        while not self._stopping:
            try:
                async with self._make_client() as client:
                    kinds = self.kinds
                    for topic in self._topics(kinds):
                        # Always resubscribe: a broker killed before saving has forgotten the session.
                        await client.subscribe(topic, options=subscription())
                    others = tuple(k for k in ("outbox", "ack") if k not in kinds)
                    if others:  # a session kept from before the ack lane still holds those filters
                        await client.unsubscribe(self._topics(others))
                    self._lost = asyncio.Event()
                    self._client = client
                    if self.kinds != kinds:  # the ack lane was refused meanwhile (_acks_here)
                        for topic in self._topics():
                            await client.subscribe(topic, options=subscription())
                    self._up.set()
                    metrics.MQTT_CONNECTED.set(1)
                    self.connects += 1
                    attempt = 0
                    log.info("mqtt.connected", host=self.host, port=self.port, client_id=self.client_id,
                             topics=self._topics(), connects=self.connects)
                    self._register_pushers()
                    watcher = asyncio.create_task(self._watch(client), name="mqtt-adapter-watch")
                    async for message in client.messages:
                        await self._handle_slots.acquire()
                        task = asyncio.create_task(self._handle_then_puback(client, message))
                        self._handlers.add(task)
                        task.add_done_callback(self._handler_done)
            except MqttConnectError as exc:
                if self._lane_refused is not None and auth_refused(exc):
                    await self._lane_refused()
                    return
                log.warning("mqtt.disconnected", error=str(exc) or type(exc).__name__, attempt=attempt)
            except aiomqtt.MqttError as exc:
                log.warning("mqtt.disconnected", error=str(exc) or type(exc).__name__, attempt=attempt)
            except Exception as exc:  # noqa: BLE001 - never end the adapter silently: log, back off, reconnect
                log.error("mqtt.adapter_error", error=repr(exc), attempt=attempt)
            finally:
                if watcher is not None:
                    watcher.cancel()
                    watcher = None
                self._mark_down()
            if self._stopping:
                break
            attempt += 1
            await asyncio.sleep(backoff(attempt, base=self.reconnect_base_s, cap=self.reconnect_max_s))

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Mark the connection down the moment paho sees it end. The read loop notices only at its
        next message, and under a backlog it waits for a free handler slot first, while every
        handler waits for a PUBACK a dead connection will never bring: the loss was seen 7 s late.
        Setting `lost` fails those publishes at once, which frees the handlers and the loop."""
        with contextlib.suppress(Exception):
            await asyncio.shield(client._disconnected)  # private: aiomqtt's "this connection ended"
        if self._client is client and not self._stopping:
            log.warning("mqtt.connection_lost", host=self.host, port=self.port)
            self._mark_down()

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._handle_slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("mqtt.handler_crashed", error=repr(task.exception()))

    def _mark_down(self) -> None:
        self._client = None
        self._up.clear()
        self._lost.set()
        metrics.MQTT_CONNECTED.set(0)
        self._unregister_pushers()

    # ------------------------------------------------------------------ pushers

    def _register_pushers(self) -> None:
        if not self.pushes:
            return
        for p in self.gateway.registry:
            if p.delivery == "push":
                pusher = self._pusher_for(p.id)
                self._pushers[p.id] = pusher
                self.gateway.register_pusher(p.id, pusher)

    def sync_pushers(self) -> None:
        """After a delivery mode changed (`gateway.delivery_modes`): a pusher for each participant
        now `push`, none for one now `pull`. While disconnected nothing: the next connection
        registers the pushers of the registry as it then is."""
        if not self.pushes or self._client is None:
            return
        for p in self.gateway.registry:
            pusher = self._pushers.get(p.id)
            if p.delivery == "push" and pusher is None:
                self._pushers[p.id] = pusher = self._pusher_for(p.id)
                self.gateway.register_pusher(p.id, pusher)
            elif p.delivery != "push" and pusher is not None:
                del self._pushers[p.id]
                self.gateway.unregister_pusher(p.id, pusher)

    def _unregister_pushers(self) -> None:
        for pid, pusher in self._pushers.items():
            self.gateway.unregister_pusher(pid, pusher)
        self._pushers.clear()

    def _pusher_for(self, participant_id: str) -> Pusher:
        topic = f"{TOPIC_ROOT}/{participant_id}/inbox"

        async def push(item: InboxItem) -> None:
            props = publish_properties(content_type="application/xml", user=[
                ("message-id", item.message_id), ("voucher", str(item.key)), ("sender", item.sender),
                ("seq", str(item.seq))])
            # No waiting for a reconnect: a failed push is retried by the deliverer with backoff.
            await self._publish(topic, item.payload, props, wait_up=False)

        return push

    # ------------------------------------------------------------------ publishing

    async def _publish(self, topic: str, payload: bytes, props: Properties | None = None, *,
                       retain: bool = False, wait_up: bool = True) -> None:
        async with self._publish_slots:
            if wait_up and not self._up.is_set():
                await asyncio.wait_for(self._up.wait(), timeout=self.publish_timeout_s)
            client, lost = self._client, self._lost
            if client is None:
                raise StateError("MQTT broker not connected")
            await publish_until_lost(client, lost, topic, payload, properties=props, retain=retain)

    async def publish_clock(self, payload: dict[str, Any]) -> None:
        """The business clock, retained on `tgw/v1/clock` so a participant connecting later sees it."""
        await self._publish(CLOCK_TOPIC, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                            publish_properties(content_type="application/json"), retain=True)

    async def _reply(self, participant_id: str, request: aiomqtt.Message, body: dict[str, Any]) -> None:
        props = request.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        asked = str(getattr(props, "ResponseTopic", None) or "") if props is not None else ""
        own = f"{TOPIC_ROOT}/{participant_id}/result"
        # The gateway may write anywhere under tgw/v1: never let a participant aim it at someone else's topic.
        # A wildcard is no topic to publish to (paho raises): answer on the participant's own topic.
        wild = bool(asked) and ("+" in asked or "#" in asked)
        topic = asked if asked and not wild and (asked == own or asked.startswith(own + "/")) else own
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            await self._publish(topic, data, publish_properties(correlation=correlation,
                                                                content_type="application/json"))
        except (aiomqtt.MqttError, StateError, TimeoutError, ValueError) as exc:
            # ValueError: paho refusing the topic or payload. The sender re-sends after its own timeout or reconnect; the journal makes that idempotent.
            self._reply_failed_log.note(topic=topic, error=str(exc) or type(exc).__name__)

    # ------------------------------------------------------------------ incoming

    def _participant(self, topic_id: str) -> Participant | None:
        registry = self.gateway.registry
        return registry.get(topic_id) or registry.by_mqtt_username(topic_id)

    async def _handle_then_puback(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        # Every handled message is acknowledged, refused ones too (they have their answer): an
        # unacknowledged one would hold a slot of the broker's in-flight window until a reconnect.
        # Only a handler that never finishes (the process dies, the task is cancelled) leaves it
        # to the broker to deliver again.
        await self._handle(message)
        self._puback(client, message)

    async def _handle(self, message: aiomqtt.Message) -> None:
        parts = str(message.topic).split("/")
        if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT or parts[3] not in ("outbox", "ack"):
            log.warning("mqtt.unexpected_topic", topic=str(message.topic))
            return
        topic_id, kind = parts[2], parts[3]
        participant = self._participant(topic_id)
        if participant is None:
            log.warning("mqtt.unknown_participant", topic=str(message.topic))
            await self._reply(topic_id, message, {"code": "unknown-sender",
                                                  "message": f"participant {topic_id!r} is not in the registry"})
            return
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else \
            str(message.payload or "").encode("utf-8")
        try:
            if kind == "outbox":
                body = await self._submit(bytes(payload), participant)
            else:
                body = await self._ack(bytes(payload), participant)
                correlated = message.properties is not None and (
                    getattr(message.properties, "CorrelationData", None) is not None
                    or getattr(message.properties, "ResponseTopic", None) is not None)
                if "acked" in body and not correlated:
                    return  # a fire-and-forget ack: nobody waits for the answer
        except StateError as exc:
            body = {"code": "unavailable", "message": str(exc)}
        except Exception as exc:  # one bad message must not take the adapter down
            log.exception("mqtt.handle_failed", topic=str(message.topic))
            body = {"code": "internal-error", "message": type(exc).__name__}
        await self._reply(topic_id, message, body)

    async def _submit(self, payload: bytes, participant: Participant) -> dict[str, Any]:
        try:
            results = await self.gateway.submit(payload, participant)
        except InputError as exc:
            return {"code": exc.code, "message": exc.issues[0].message}
        return {"results": [r.as_dict() for r in results], "summary": results_summary(results)}

    async def _ack(self, payload: bytes, participant: Participant) -> dict[str, Any]:
        try:
            text = payload.decode("utf-8")
            # as `read_json` does for the HTTP ack: 100,000 `[` would be a RecursionError in json.loads
            if text.count("[") + text.count("{") > JSON_DEPTH_MAX and json_depth(text) > JSON_DEPTH_MAX:
                raise ValueError(f"the JSON nests deeper than {JSON_DEPTH_MAX} levels")
            body = json.loads(text)
            ids = body["ids"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise TypeError("ids must be a list of message id strings")
            if len(ids) > ACK_IDS_MAX:
                raise ValueError(f"at most {ACK_IDS_MAX} ids per ack")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("mqtt.bad_ack", participant=participant.id, error=str(exc))
            return {"code": "bad-request", "message": f'expected JSON {{"ids": [...]}}: {exc}'}
        changed = await self.gateway.ack(participant, ids)
        return {"acked": changed}
