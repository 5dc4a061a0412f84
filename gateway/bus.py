"""The in-process bus: the embedded default transport, same contract as MQTT.

A participant connected on the bus gets its inbox pushed into an asyncio queue; it acks by
message id, exactly as it would on `tgw/v1/{participant}/ack`. Nothing here is durable and
nothing needs to be: the journal and outbox are, and unacked pushes are redelivered.

A session connected with `push=False` gets nothing pushed: it pulls its inbox (`pull`, the
query behind `GET /v1/inbox`: ready rows after a cursor, in journal order). The simulation
engine reads deliveries this way, so their order never depends on the deliverer's timing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gateway.outbox import InboxItem
from gateway.participants import Participant
from messages.envelope import VoucherKey
from messages.errors import InputError

if TYPE_CHECKING:  # the service imports this module to offer `Gateway.connect`
    from gateway.service import Gateway

__all__ = ["BusConnection", "InProcessBus"]

INBOX_QUEUE_MAX = 1024  # pushes waiting in a participant's queue; the gateway's in-flight cap is below


class BusConnection:
    def __init__(self, bus: InProcessBus, participant_id: str) -> None:
        self.bus = bus
        self.participant_id = participant_id
        self.queue: asyncio.Queue[InboxItem] = asyncio.Queue(INBOX_QUEUE_MAX)
        self._seen: set[str] = set()

    async def _push(self, item: InboxItem) -> None:
        await self.queue.put(item)

    async def pull(self, after_seq: int, limit: int, wait_s: float = 0.0) -> list[InboxItem]:
        """Ready deliveries after `after_seq` (at most `limit`); waits up to `wait_s` for one."""
        return await self.bus.gateway.inbox(self.bus.participant(self.participant_id), after_seq=after_seq,
                                            limit=limit, wait_s=wait_s)

    async def send(self, envelope: bytes) -> list[dict[str, Any]]:
        results = await self.bus.gateway.submit(envelope, self.bus.participant(self.participant_id))
        return [r.as_dict() for r in results]

    async def ack(self, message_ids: list[str]) -> list[str]:
        return await self.bus.gateway.ack(self.bus.participant(self.participant_id), message_ids)

    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None:
        return await self.bus.gateway.trace(self.bus.participant(self.participant_id), key.adm_div_code,
                                            key.st_year, key.vtcode, key.voucher_no)

    def close(self) -> None:
        self.bus.gateway.unregister_pusher(self.participant_id, self._push)


class InProcessBus:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def participant(self, participant_id: str) -> Participant:
        p = self.gateway.registry.get(participant_id)
        if p is None:
            raise InputError("unknown-sender", f"participant {participant_id!r} is not in the registry")
        return p

    def connect(self, participant_id: str, *, push: bool = True) -> BusConnection:
        self.participant(participant_id)
        conn = BusConnection(self, participant_id)
        if push:
            self.gateway.register_pusher(participant_id, conn._push)
        return conn
