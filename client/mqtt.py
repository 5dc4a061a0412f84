"""The participant's side of MQTT: a `ClientTransport` for `GatewayClient.mqtt(...)`.

    async with GatewayClient.mqtt("127.0.0.1", 1883, username="bank-a", password=..., participant_id="bank-a") as c:
        results = await c.send(envelope)        # publish on tgw/v1/bank-a/outbox, await tgw/v1/bank-a/result
        for d in await c.receive(timeout_s=5):  # pushed on tgw/v1/bank-a/inbox
            ...
            await c.ack(d)                       # tgw/v1/bank-a/ack, confirmed by the gateway

One persistent MQTT v5 session (client id = participant id unless given; the shipped broker
configuration replaces it with the MQTT username, `use_username_as_clientid`, so nobody can take
over another's session by naming its client id). A lost broker is
invisible to the caller: the transport reconnects with backoff and jitter, resubscribes, and
re-publishes every request still waiting for its answer (same correlation id, same bytes; the
gateway answers identical envelopes `duplicate` and acks are idempotent). Deliveries are at least
once: de-duplicate by `Delivery.message_id`. At most INBOX_QUEUE_MAX deliveries wait for `receive`
(a push past them is dropped and counted, `inbox_dropped`: the gateway pushes it again until it is
acked). An envelope over the gateway's 32 MiB is refused here (`xml-too-large`), not published.
At each connect it publishes an empty ack: a broker that refuses it (PUBACK "not authorized": the
login is not this participant's) makes `open` raise `mqtt-not-authorized`, not wait for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import uuid
from collections.abc import Sequence
from typing import Any

import aiomqtt
import structlog

from client.backoff import backoff
from client.results import ClientError, Delivery, SendResult
from client.wire import (
    PUBLISH_IN_FLIGHT_MAX,
    SESSION_EXPIRY_S,
    TOPIC_ROOT,
    auth_refused,
    publish_properties,
    publish_until_lost,
    session_client,
)
from messages.envelope import VoucherKey
from messages.xmlsafe import DEFAULT_LIMITS

__all__ = ["MqttClientTransport"]

log = structlog.get_logger("tgw.mqtt.client")

_STATUS = {"unknown-sender": 401, "unauthenticated": 401, "unavailable": 503, "internal-error": 500,
           "xml-too-large": 413}
# The largest envelope the gateway takes (it answers a larger one `xml-too-large`). Not published
# at all: a packet past the broker's max_packet_size (conf/mosquitto.conf: this + 64 KiB) makes it
# drop the connection, and the SDK reconnected and re-published it until its send timeout.
ENVELOPE_BYTES_MAX = DEFAULT_LIMITS.envelope_bytes_max
# Deliveries received and not yet taken by `receive`. The gateway pushes at most its window per
# recipient and pushes again what is not acked, so a full queue drops a push (counted, logged): it
# comes again after its ack timeout. Without a bound a consumer that stopped reading grew it for ever.
INBOX_QUEUE_MAX = 4096
EMPTY_ACK = b'{"ids": []}'  # published at each connect: the broker's PUBACK tells whether the ACL lets this login


def _delivery(message: aiomqtt.Message) -> Delivery | None:
    props = dict(getattr(message.properties, "UserProperty", None) or [])
    try:
        key = VoucherKey.parse(props["voucher"])
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        return Delivery(props["message-id"], key, props["sender"], bytes(payload), int(props.get("seq", 0)))
    except (KeyError, IndexError, ValueError) as exc:
        log.warning("mqtt.client.bad_delivery", topic=str(message.topic), error=str(exc))
        return None


class MqttClientTransport:
    def __init__(self, host: str, port: int, *, username: str, password: str, participant_id: str,
                 client_id: str | None = None, tls: ssl.SSLContext | None = None, send_timeout_s: float = 60.0,
                 resend_after_s: float = 10.0, connect_timeout_s: float = 10.0, reconnect_base_s: float = 0.1,
                 reconnect_max_s: float = 5.0, session_expiry_s: int = SESSION_EXPIRY_S, keepalive_s: int = 30,
                 confirm_acks: bool = True) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.participant_id = participant_id
        self.client_id = client_id or participant_id
        self.tls = tls
        self.send_timeout_s = send_timeout_s
        self.resend_after_s = resend_after_s  # no answer while connected → publish again (idempotent)
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_base_s, self.reconnect_max_s = reconnect_base_s, reconnect_max_s
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.confirm_acks = confirm_acks
        base = f"{TOPIC_ROOT}/{participant_id}"
        self.outbox_topic, self.ack_topic = f"{base}/outbox", f"{base}/ack"
        self.inbox_topic, self.result_topic = f"{base}/inbox", f"{base}/result"
        self._client: aiomqtt.Client | None = None
        self._up = asyncio.Event()
        self._lost = asyncio.Event()  # replaced at every connection; set when that connection ends
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._closing = False
        self._pending: dict[bytes, asyncio.Future[dict[str, Any]]] = {}
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue(INBOX_QUEUE_MAX)
        self.inbox_dropped = 0  # pushes dropped on a full queue (pushed again by the gateway)
        self._refused: str | None = None  # a PUBACK refusing a publish (ACL) on this connection
        self._publish_slots = asyncio.Semaphore(PUBLISH_IN_FLIGHT_MAX)
        self.connects = 0
        self.resends = 0
        self.clock: dict[str, Any] | None = None  # last retained business clock seen on tgw/v1/clock

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._closing = False
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"mqtt-client-{self.participant_id}")
        try:
            await asyncio.wait_for(asyncio.shield(self._first), timeout=self.connect_timeout_s)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ClientError(503, "closed", "the MQTT transport was closed"))
                fut.add_done_callback(lambda f: f.exception())  # a waiter may already be gone
        self._down()

    def _down(self) -> None:
        self._client = None
        self._up.clear()
        self._lost.set()

    def _make_client(self) -> aiomqtt.Client:
        client = session_client(self.host, self.port, username=self.username, password=self.password,
                                client_id=self.client_id, session_expiry_s=self.session_expiry_s,
                                keepalive_s=self.keepalive_s, tls=self.tls, timeout_s=self.connect_timeout_s)
        # The broker refuses a publish its ACL does not grant with a PUBACK "not authorized" (0x87),
        # which aiomqtt 2.5 drops (private: paho's callback, as gateway.mqtt_adapter uses paho's ack).
        # The participant's only publishes are to its own outbox and ack: a refusal means this login
        # is not that participant's (or the ACL predates it), and every send would only time out.
        aiomqtt_on_publish: Any = client._client.on_publish

        def on_publish(paho: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
            if getattr(reason, "value", 0) >= 0x80:
                self._refused = str(reason)
            aiomqtt_on_publish(paho, userdata, mid, reason, properties)

        client._client.on_publish = on_publish
        return client

    def _refused_error(self) -> ClientError:
        return ClientError(403, "mqtt-not-authorized",
                           f"the broker refused {self.username!r} a publish on tgw/v1/{self.participant_id}/... "
                           f"({self._refused}): is {self.participant_id!r} that login's participant, and the "
                           "broker's ACL written (`tgw mqtt-acl`) since it was registered?")

    def _check_refused(self) -> None:
        if self._refused is not None:
            raise self._refused_error()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with self._make_client() as client:
                    for topic in (self.inbox_topic, self.result_topic, f"{TOPIC_ROOT}/clock"):
                        await client.subscribe(topic, qos=1)  # always: a killed broker forgets sessions
                    self._lost = asyncio.Event()
                    self._refused = None  # a new connection: the broker's ACL may have been reloaded
                    # The broker grants any subscription and delivers nothing its ACL denies: a login
                    # that is not this participant's would wait for pushes for ever. An empty ack
                    # (changes nothing, answered by nobody) asks the broker's PUBACK whether it may.
                    await publish_until_lost(client, self._lost, self.ack_topic, EMPTY_ACK)
                    if self._refused is not None:
                        first = self._first
                        if first is not None and not first.done():
                            first.set_exception(self._refused_error())
                            return
                        log.error("mqtt.client.not_authorized", error=str(self._refused_error()))
                    self._client = client
                    self._up.set()
                    self.connects += 1
                    attempt = 0
                    if self._first is not None and not self._first.done():
                        self._first.set_result(None)
                    log.info("mqtt.client.connected", participant=self.participant_id, connects=self.connects)
                    async for message in client.messages:
                        self._dispatch(message)
            except aiomqtt.MqttError as exc:
                first = self._first
                if auth_refused(exc) and first and not first.done():
                    first.set_exception(ClientError(401, "unauthenticated",
                                                          f"the broker refused {self.username!r}: {exc}"))
                    self._down()
                    return
                log.warning("mqtt.client.disconnected", participant=self.participant_id,
                            error=str(exc) or type(exc).__name__)
            finally:
                self._down()
            if self._closing:
                return
            attempt += 1
            await asyncio.sleep(backoff(attempt, base=self.reconnect_base_s, cap=self.reconnect_max_s))

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        if topic == self.inbox_topic:
            delivery = _delivery(message)
            if delivery is None:
                return
            try:
                self._inbox.put_nowait(delivery)
            except asyncio.QueueFull:
                self.inbox_dropped += 1
                log.warning("mqtt.client.inbox_full", message_id=delivery.message_id, queued=INBOX_QUEUE_MAX,
                            dropped=self.inbox_dropped)
            return
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError):
            log.warning("mqtt.client.bad_json", topic=topic)
            return
        if not isinstance(body, dict):  # not an answer (nor a clock): `"code" in 5` ended the run loop
            log.warning("mqtt.client.bad_json", topic=topic, error="not a JSON object")
            return
        if topic == f"{TOPIC_ROOT}/clock":
            self.clock = body
            return
        correlation = getattr(message.properties, "CorrelationData", None)
        fut = self._pending.get(bytes(correlation)) if correlation is not None else None
        if fut is not None and not fut.done():
            fut.set_result(body)
        elif correlation is None and "code" in body:
            log.warning("mqtt.client.gateway_error", code=body.get("code"), message=body.get("message"))

    # ------------------------------------------------------------------ request / response

    async def _request(self, topic: str, payload: bytes, *, content_type: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        correlation = uuid.uuid4().hex.encode("ascii")
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[correlation] = fut
        deadline = loop.time() + self.send_timeout_s
        props = publish_properties(correlation=correlation, response_topic=self.result_topic,
                                   content_type=content_type)
        published = 0
        try:
            while not fut.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ClientError(504, "timeout", f"no answer on {self.result_topic} within "
                                                      f"{self.send_timeout_s}s")
                try:
                    await asyncio.wait_for(self._up.wait(), timeout=remaining)
                except TimeoutError:
                    continue
                lost, client = self._lost, self._client
                if client is None:
                    continue
                published += 1
                if published > 1:
                    self.resends += 1  # after a lost connection or no answer within resend_after_s
                try:
                    async with self._publish_slots:
                        await publish_until_lost(client, lost, topic, payload, properties=props)
                except aiomqtt.MqttError:
                    # The connection is going; wait for the run loop to notice, then publish again.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=min(1.0, max(0.0, deadline - loop.time())))
                    continue
                self._check_refused()
                lost_wait = asyncio.ensure_future(lost.wait())
                either: set[asyncio.Future[Any]] = {fut, lost_wait}
                try:
                    await asyncio.wait(either, timeout=min(self.resend_after_s,
                                                                     max(0.0, deadline - loop.time())),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    lost_wait.cancel()
            return fut.result()
        finally:
            self._pending.pop(correlation, None)

    @staticmethod
    def _raise_for(body: dict[str, Any]) -> None:
        if "code" in body and "results" not in body:
            code = str(body["code"])
            raise ClientError(_STATUS.get(code, 400), code, str(body.get("message", "")))

    async def send(self, envelope: bytes) -> list[SendResult]:
        if len(envelope) > ENVELOPE_BYTES_MAX:
            raise ClientError(413, "xml-too-large", f"the envelope is {len(envelope)} bytes; the gateway takes at "
                                                    f"most {ENVELOPE_BYTES_MAX} (not published)")
        body = await self._request(self.outbox_topic, envelope, content_type="application/xml")
        self._raise_for(body)
        return [SendResult.from_dict(r) for r in body["results"]]

    async def receive(self, timeout_s: float) -> list[Delivery]:
        try:
            if timeout_s > 0:
                first = await asyncio.wait_for(self._inbox.get(), timeout=timeout_s)
            else:
                first = self._inbox.get_nowait()
        except (TimeoutError, asyncio.QueueEmpty):
            return []
        items = [first]
        while not self._inbox.empty():
            items.append(self._inbox.get_nowait())
        return items

    async def ack(self, message_ids: Sequence[str]) -> None:
        payload = json.dumps({"ids": list(message_ids)}).encode("utf-8")
        if self.confirm_acks:
            self._raise_for(await self._request(self.ack_topic, payload, content_type="application/json"))
            return
        await asyncio.wait_for(self._up.wait(), timeout=self.send_timeout_s)
        client, lost = self._client, self._lost
        if client is None:
            raise ClientError(503, "unavailable", "MQTT broker not connected")
        async with self._publish_slots:
            await publish_until_lost(client, lost, self.ack_topic, payload)
        self._check_refused()

    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None:
        raise NotImplementedError(f"trace is served over HTTP: GET /v1/trace/{key.adm_div_code}/{key.st_year}/"
                                  f"{key.vtcode}/{key.voucher_no}")
