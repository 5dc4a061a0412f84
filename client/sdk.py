"""`GatewayClient`: one async client for every transport (in-process bus, HTTP, MQTT).

Used by every simulator and usable by a bank's own test code:

    async with GatewayClient.http("http://127.0.0.1:8470", token=..., participant_id="bank-a") as client:
        results = await client.send(envelope_bytes)          # per-voucher results
        async for item in client.inbox():                    # deliveries, at least once
            handle(item.envelope)
            await client.ack(item)                           # after handling is durable

Over HTTPS, `client_ssl_context(ca_pem, cert_pem, key_pem)` trusts the gateway's CA and, given a
participant's certificate and key, presents it as a client certificate; with one the token may
be left out (the certificate's SN names the participant):

    ctx = client_ssl_context("world/keys/ca.pem", "world/keys/bank-a.pem", "world/keys/bank-a.key")
    async with GatewayClient.http("https://gw:8470", ssl=ctx, participant_id="bank-a") as client: ...

The transport behind it is a small protocol (`ClientTransport`); MQTT lives in
`client.mqtt` and plugs in the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl as _ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from client.results import ClientError, ClientTransport, Delivery, SendResult
from messages.envelope import VoucherKey

__all__ = ["ClientError", "ClientTransport", "Delivery", "GatewayClient", "LocalConnection", "LocalEndpoint", "SendResult",
           "client_ssl_context"]


# Deliveries one pull-mode in-process read returns at most (the gateway caps a page at its
# INBOX_PAGE_MAX, 500).
BUS_PAGE_MAX = 100

class GatewayClient:
    def __init__(self, transport: ClientTransport, participant_id: str) -> None:
        self.transport = transport
        self.participant_id = participant_id

    # -------------------------------------------------------------- constructors

    @classmethod
    def bus(cls, endpoint: LocalEndpoint, participant_id: str, *, pull: bool = False,
            page_max: int = BUS_PAGE_MAX, parsed: bool = False) -> GatewayClient:
        """In-process: `endpoint` is a `gateway.service.Gateway` (or its `InProcessBus`).

        By default the gateway pushes deliveries into the session's queue. With `pull=True`
        nothing is pushed: `receive` reads the participant's inbox (the one `GET /v1/inbox`
        serves, from a cursor, at most `page_max` per read); `receive(0)` never waits, which is
        what the simulation engine needs to read deliveries in a deterministic order.
        `parsed=True`: a delivery comes with the gateway's parse of it when the gateway has one
        (`Delivery.body`, `Delivery.doc`), so the recipient parses nothing the gateway parsed."""
        return cls(_BusTransport(endpoint, participant_id, pull=pull, page_max=page_max, parsed=parsed),
                   participant_id)

    @classmethod
    def http(cls, base_url: str, *, token: str | None = None, participant_id: str, poll_wait_s: float = 25.0,
             ssl: _ssl.SSLContext | None = None) -> GatewayClient:
        """`token` authenticates by bearer token; `ssl` (see `client_ssl_context`) verifies an HTTPS
        gateway and may carry a client certificate, which authenticates on its own."""
        if token is None and ssl is None:
            raise ValueError("give a bearer token, or an ssl context with a client certificate")
        return cls(_HttpTransport(base_url, token, poll_wait_s, ssl), participant_id)

    @classmethod
    def mqtt(cls, host: str, port: int, *, username: str, password: str, participant_id: str,
             **kwargs: Any) -> GatewayClient:
        from client.mqtt import MqttClientTransport

        return cls(MqttClientTransport(host, port, username=username, password=password,
                                       participant_id=participant_id, **kwargs), participant_id)

    async def __aenter__(self) -> GatewayClient:
        await self.transport.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.close()

    # -------------------------------------------------------------- operations

    async def send(self, envelope: bytes) -> list[SendResult]:
        return await self.transport.send(envelope)

    async def receive(self, timeout_s: float = 5.0) -> list[Delivery]:
        """Whatever is delivered within timeout_s (possibly nothing)."""
        return await self.transport.receive(timeout_s)

    async def inbox(self, *, idle_timeout_s: float | None = None) -> AsyncIterator[Delivery]:
        """Deliveries forever (or until nothing came for idle_timeout_s)."""
        while True:
            items = await self.transport.receive(idle_timeout_s if idle_timeout_s is not None else 30.0)
            if not items and idle_timeout_s is not None:
                return
            for item in items:
                yield item

    async def ack(self, *items: Delivery | str) -> None:
        ids = [i if isinstance(i, str) else i.message_id for i in items]
        if ids:
            await self.transport.ack(ids)

    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None:
        return await self.transport.trace(key)

    # -------------------------------------------------------------- HTTP only: clock, message status, registration

    def _http(self) -> _HttpTransport:
        if not isinstance(self.transport, _HttpTransport):
            raise ClientError(501, "not-implemented",
                              "clock(), advance_clock(), message(), registration() and whoami() go over HTTP only: open a "
                              "GatewayClient.http "
                              "beside this one for them (over MQTT the business clock is also published, "
                              "retained, on topic tgw/v1/clock: docs/asyncapi.yaml)")
        return self.transport

    async def clock(self, *, after: str | None = None, wait_s: float = 0.0, epoch: int | None = None) -> dict[str, Any]:
        """The gateway's business clock (`GET /v1/clock`): `now`, `business_day`, `next_cutoffs`.
        With `after` (an ISO time, e.g. the last `now` you handled) and `wait_s`, a long-poll that
        answers once the clock is past `after`: a system driven by a simulated clock waits here
        once it has done everything due up to `after` (see docs/conformance.md). With `epoch` (the
        `epoch` the view showed), it also answers at once when a test gateway was reset since: the
        view's `epoch` differs, and a system starts over from fresh state."""
        return await self._http().clock(after, wait_s, epoch)

    async def advance_clock(self, to: str) -> dict[str, Any]:
        """Advance a simulated clock to the ISO time `to` (`POST /v1/clock`); test drivers only."""
        return await self._http().advance_clock(to)

    async def message(self, message_id: str) -> dict[str, Any] | None:
        """A message this participant sent or received (`GET /v1/messages/{id}`): its
        `delivery_state` is `ready`, `acked` or `dead`. None if there is no such message."""
        return await self._http().message(message_id)

    async def registration(self) -> dict[str, Any]:
        """This participant's registry entry, as `GET /v1/participants` shows it (no secrets): `id`,
        `role`, `name`, `adm_div_codes`, `bank_codes`, `cert_sns` and `delivery`. With `delivery`
        `pull` nothing is published on MQTT `tgw/v1/<id>/inbox`: deliveries are read from
        `GET /v1/inbox` only; with `push` they are published there and may be read over HTTP too.
        ClientError 404 `not-found` when the gateway has no participant by this client's id."""
        return await self._http().registration(self.participant_id)

    async def whoami(self) -> dict[str, Any]:
        """Which participant this client's credentials name (`GET /v1/participants/me`): `id`,
        `role`, `delivery`, `authenticated_by` (token, certificate or both), `certificates` (each
        with `fingerprint_sha256`, `not_before`/`not_after` and whether it is `usable` now),
        `client_certificate` and `voucher_types` (what the role may send and receive). It may name
        another participant than `participant_id`, the id this client was told it is: compare
        them before sending (`examples/sdk_bank.py` does). ClientError 401 `unauthenticated` for
        credentials the gateway does not know."""
        return await self._http().whoami()


# ------------------------------------------------------------------ in-process bus


class LocalConnection(Protocol):
    """One participant's session on an in-process gateway (`gateway.bus.BusConnection`)."""

    queue: asyncio.Queue[Any]  # pushed inbox items: message_id, key, sender, payload, seq, body, doc

    async def pull(self, after_seq: int, limit: int, wait_s: float) -> list[Any]: ...
    async def send(self, envelope: bytes) -> list[dict[str, Any]]: ...
    async def ack(self, message_ids: list[str]) -> list[str]: ...
    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None: ...
    def close(self) -> None: ...


class LocalEndpoint(Protocol):
    """An in-process gateway: `gateway.service.Gateway` or `gateway.bus.InProcessBus`. The client
    names only this shape, so importing it loads no server module."""

    def connect(self, participant_id: str, *, push: bool = True, parsed: bool = False) -> LocalConnection: ...


class _BusTransport:
    def __init__(self, endpoint: LocalEndpoint, participant_id: str, *, pull: bool = False,
                 page_max: int = BUS_PAGE_MAX, parsed: bool = False) -> None:
        if page_max < 1:
            raise ValueError("page_max must be >= 1")
        self._endpoint = endpoint
        self._participant_id = participant_id
        self._conn: LocalConnection | None = None
        self._pull = pull
        self._parsed = parsed
        self._page_max = page_max
        self._cursor = 0

    def _connection(self) -> LocalConnection:
        if self._conn is None:
            raise ClientError(503, "unavailable", "the in-process client is not open")
        return self._conn

    async def open(self) -> None:
        self._conn = (self._endpoint.connect(self._participant_id, push=not self._pull, parsed=True) if self._parsed
                      else self._endpoint.connect(self._participant_id, push=not self._pull))
        self._cursor = 0

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def send(self, envelope: bytes) -> list[SendResult]:
        return [SendResult.from_dict(r) for r in await self._connection().send(envelope)]

    async def receive(self, timeout_s: float) -> list[Delivery]:
        if self._pull:
            pulled = await self._connection().pull(self._cursor, self._page_max, max(0.0, timeout_s))
            if pulled:
                self._cursor = max(self._cursor, max(i.seq for i in pulled))
            return [Delivery(i.message_id, i.key, i.sender, i.payload, i.seq, i.body, i.doc) for i in pulled]
        queue = self._connection().queue
        items = []
        try:
            first = await asyncio.wait_for(queue.get(), timeout=timeout_s) if timeout_s > 0 else queue.get_nowait()
        except (TimeoutError, asyncio.QueueEmpty):
            return []
        items.append(first)
        while not queue.empty():
            items.append(queue.get_nowait())
        return [Delivery(i.message_id, i.key, i.sender, i.payload, i.seq, i.body, i.doc) for i in items]

    async def ack(self, message_ids: Sequence[str]) -> None:
        await self._connection().ack(list(message_ids))

    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None:
        return await self._connection().trace(key)


# ------------------------------------------------------------------ HTTP


def client_ssl_context(ca_pem: str | os.PathLike[str], cert_pem: str | os.PathLike[str] | None = None,
                       key_pem: str | os.PathLike[str] | None = None) -> _ssl.SSLContext:
    """A TLS client context that trusts only `ca_pem` (the gateway's CA), checks the host name,
    speaks TLS 1.2+, and presents `cert_pem`/`key_pem` as the client certificate if given."""
    if (cert_pem is None) != (key_pem is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    ctx = _ssl.create_default_context(_ssl.Purpose.SERVER_AUTH, cafile=os.fspath(ca_pem))
    ctx.minimum_version = _ssl.TLSVersion.TLSv1_2
    if cert_pem is not None and key_pem is not None:
        ctx.load_cert_chain(os.fspath(cert_pem), os.fspath(key_pem))
    return ctx


class _HttpTransport:
    def __init__(self, base_url: str, token: str | None, poll_wait_s: float,
                 ssl: _ssl.SSLContext | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self._ssl = ssl
        self._poll_wait_s = poll_wait_s
        self._cursor = 0
        self._session: Any = None

    async def open(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl is not None else None
        self._session = aiohttp.ClientSession(headers=self._headers, connector=connector,
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _json(self, resp: Any, *fields: str) -> Any:
        """The gateway's JSON object, with `fields`; anything else (a proxy's page in any encoding,
        a JSON list, a 200 from some other server) is `http-error`, never taken for an answer."""
        raw = await resp.read()
        try:
            body = json.loads(raw)
        except ValueError:  # not JSON, or not UTF-8
            body = None
        if not isinstance(body, dict):
            raise ClientError(resp.status, "http-error", raw[:200].decode("utf-8", "replace"))
        if resp.status >= 400 and not (resp.status == 400 and "results" in body):
            raise ClientError(resp.status, str(body.get("code") or "http-error"), str(body.get("message", "")))
        if missing := [f for f in fields if f not in body]:
            raise ClientError(resp.status, "http-error", f"the answer has no {', '.join(missing)}: {raw[:200]!r}")
        return body

    async def send(self, envelope: bytes) -> list[SendResult]:
        async with self._session.post(f"{self._base}/v1/messages", data=envelope,
                                      headers={"Content-Type": "application/xml"}) as resp:
            body = await self._json(resp, "results")
        return [SendResult.from_dict(r) for r in body["results"]]

    async def receive(self, timeout_s: float) -> list[Delivery]:
        wait = max(0.0, min(timeout_s, self._poll_wait_s))
        params = {"cursor": str(self._cursor), "wait": f"{wait:.3f}"}
        async with self._session.get(f"{self._base}/v1/inbox", params=params) as resp:
            body = await self._json(resp, "messages")
        items = [Delivery.from_dict(d) for d in body["messages"]]
        if items:
            self._cursor = max(self._cursor, max(i.seq for i in items))
        return items

    async def ack(self, message_ids: Sequence[str]) -> None:
        async with self._session.post(f"{self._base}/v1/inbox/ack", json={"ids": list(message_ids)}) as resp:
            await self._json(resp, "acked")

    async def clock(self, after: str | None, wait_s: float, epoch: int | None = None) -> dict[str, Any]:
        params = {"after": after, "wait": f"{max(0.0, wait_s):.3f}"} if after is not None else {}
        if epoch is not None:
            params["epoch"] = str(epoch)
        async with self._session.get(f"{self._base}/v1/clock", params=params) as resp:
            body: dict[str, Any] = await self._json(resp, "now")
        return body

    async def advance_clock(self, to: str) -> dict[str, Any]:
        async with self._session.post(f"{self._base}/v1/clock", json={"advance_to": to}) as resp:
            body: dict[str, Any] = await self._json(resp, "now")
        return body

    async def message(self, message_id: str) -> dict[str, Any] | None:
        async with self._session.get(f"{self._base}/v1/messages/{message_id}") as resp:
            if resp.status == 404:
                return None
            body: dict[str, Any] = await self._json(resp, "id")
        return body

    async def registration(self, participant_id: str) -> dict[str, Any]:
        async with self._session.get(f"{self._base}/v1/participants") as resp:
            body = await self._json(resp, "participants")
        for entry in body["participants"]:
            if isinstance(entry, dict) and entry.get("id") == participant_id:
                return entry
        raise ClientError(404, "not-found", f"the gateway has no participant {participant_id!r}")

    async def whoami(self) -> dict[str, Any]:
        async with self._session.get(f"{self._base}/v1/participants/me") as resp:
            body: dict[str, Any] = await self._json(resp, "id", "role", "delivery")
        return body

    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None:
        url = f"{self._base}/v1/trace/{key.adm_div_code}/{key.st_year}/{key.vtcode}/{key.voucher_no}"
        async with self._session.get(url) as resp:
            if resp.status == 404:
                return None
            body = await self._json(resp, "events")
        events: list[dict[str, Any]] = body["events"]
        return events

