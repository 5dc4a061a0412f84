"""The in-process bus: the embedded default transport, same contract as MQTT.

A participant connected on the bus gets its inbox pushed into an asyncio queue; it acks by
message id, exactly as it would on `tgw/v1/{participant}/ack`. Nothing here is durable and
nothing needs to be: the journal and outbox are, and unacked pushes are redelivered.

A session connected with `push=False` gets nothing pushed: it pulls its inbox (`pull`, the
query behind `GET /v1/inbox`: ready rows after a cursor, in journal order). The simulation
engine reads deliveries this way, so their order never depends on the deliverer's timing.

**Parsed hand-off.** Both ends of this hop are in one process, so a voucher need not be parsed
twice on it: a session opened with `parsed=True` receives each delivery with the gateway's own
parse of it beside the bytes (`BusItem.body`, `BusItem.doc`: what the admission checked, XSD,
business rules and seals, before it acknowledged the sender). The gateway keeps those parses in
its `ParsedHandoff` from the moment it journals a message until its recipient's session reads it
(once: a read again after a lost connection parses the bytes), at most HANDOFF_MAX of them, the
oldest dropped first, and none for a recipient with no such session. A delivery without them
(dropped, restarted, pushed before the hand-off was offered) is only bytes, as over any transport.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

from gateway.outbox import INBOX_PAGE_MAX, InboxItem
from gateway.participants import Participant, Registry
from messages.envelope import VoucherBody, VoucherKey
from messages.errors import InputError
from messages.voucher import VoucherDoc


class _Result(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class _Marks(Protocol):
    def mark(self, recipient: str) -> tuple[int, int]: ...


class BusGateway(Protocol):
    """What the bus uses of `gateway.service.Gateway` (which imports this module to offer
    `Gateway.connect`, so the bus names the service by what it does, not by import)."""

    registry: Registry
    handoff: ParsedHandoff
    sim_faults: Any  # truthy while simulated delivery faults may withhold ready rows

    @property
    def journal(self) -> _Marks: ...  # `Journal.mark`: moves when a commit gives a recipient rows, or on a wake

    async def submit(self, data: bytes, sender: Participant) -> Sequence[_Result]: ...
    async def inbox(self, participant: Participant, *, after_seq: int = 0, limit: int = 100,
                    wait_s: float = 0.0) -> list[InboxItem]: ...
    async def ack(self, participant: Participant, message_ids: Sequence[str]) -> list[str]: ...
    async def trace(self, participant: Participant, adm_div_code: str, st_year: str, vtcode: str,
                    voucher_no: str) -> list[dict[str, Any]] | None: ...
    def register_pusher(self, participant_id: str, pusher: Callable[[InboxItem], Awaitable[None]]) -> None: ...
    def unregister_pusher(self, participant_id: str,
                          pusher: Callable[[InboxItem], Awaitable[None]] | None = None) -> None: ...

__all__ = ["HANDOFF_MAX", "BusConnection", "BusItem", "InProcessBus", "ParsedHandoff"]

INBOX_QUEUE_MAX = 1024  # pushes waiting in a participant's queue; the gateway's in-flight cap is below
# Parsed vouchers waiting for their in-process recipient at most. In a simulated day they wait
# from the sender's batch (a 100,000-voucher day's busiest tick sends ~1,200 payments) to the
# recipient's next read at the same instant; a parsed payment is ~16 KB (libxml2 tree and the
# VoucherDoc), so the bound caps ~32 MB.
HANDOFF_MAX = 2048
# A named tuple's own `__new__` is a Python function (a frame a call): a delivery's record is made
# by tuple.__new__ with every field given, in field order.
_new_tuple = tuple.__new__


class BusItem(NamedTuple):
    """A delivery on the bus: the inbox row's fields, and the gateway's parse of its one body
    when handed over (`body` as admitted, its source lines those of the sender's envelope; `doc`
    its voucher, read-only), else None. A named tuple (one a delivery): see `InboxItem`."""

    seq: int
    message_id: str
    key: VoucherKey
    sender: str
    payload: bytes
    body: VoucherBody | None = None
    doc: VoucherDoc | None = None


class ParsedHandoff:
    """Parses the gateway made at admission, waiting for an in-process recipient (module doc)."""

    def __init__(self, max_items: int = HANDOFF_MAX) -> None:
        self.max_items = max_items
        self._takers: collections.Counter[str] = collections.Counter()  # participant -> sessions
        self._waiting: collections.OrderedDict[str, tuple[str, VoucherBody, VoucherDoc]] = collections.OrderedDict()
        self.offered = 0
        self.taken = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def wants(self, recipient: str) -> bool:
        return self._takers[recipient] > 0

    def opened(self, participant: str) -> None:
        self._takers[participant] += 1

    def closed(self, participant: str) -> None:
        """A session ended; with its participant's last one, the parses waiting for it go."""
        self._takers[participant] -= 1
        if self._takers[participant] <= 0:
            del self._takers[participant]
            for message_id in [m for m, (r, _, _) in self._waiting.items() if r == participant]:
                del self._waiting[message_id]

    def offer(self, message_id: str, recipient: str, body: VoucherBody, doc: VoucherDoc) -> None:
        if not self.wants(recipient):
            return
        self._waiting[message_id] = (recipient, body, doc)
        self.offered += 1
        while len(self._waiting) > self.max_items:
            self._waiting.popitem(last=False)

    def take(self, item: InboxItem) -> BusItem:
        """The item with its parse, which leaves the hand-off (or without, if none waits)."""
        waiting = self._waiting.pop(item.message_id, None) if self._waiting else None
        if waiting is None or waiting[0] != item.recipient:
            return _new_tuple(BusItem, (item.seq, item.message_id, item.key, item.sender, item.payload, None, None))
        self.taken += 1
        return _new_tuple(BusItem, (item.seq, item.message_id, item.key, item.sender, item.payload, waiting[1],
                                    waiting[2]))


class BusConnection:
    def __init__(self, bus: InProcessBus, participant_id: str, *, parsed: bool = False) -> None:
        self.bus = bus
        self.participant_id = participant_id
        self.parsed = parsed
        self.queue: asyncio.Queue[BusItem] = asyncio.Queue(INBOX_QUEUE_MAX)
        self._closed = False
        # (cursor after it, journal mark before it) of this session's last pull that saw every
        # ready row and withheld none: `pull`.
        self._empty_at: tuple[int, tuple[int, int]] | None = None
        if parsed:
            bus.gateway.handoff.opened(participant_id)

    def _item(self, item: InboxItem) -> BusItem:
        if self.parsed:
            return self.bus.gateway.handoff.take(item)
        return _new_tuple(BusItem, (item.seq, item.message_id, item.key, item.sender, item.payload, None, None))

    async def _push(self, item: InboxItem) -> None:
        await self.queue.put(self._item(item))

    async def pull(self, after_seq: int, limit: int, wait_s: float = 0.0) -> list[BusItem]:
        """Ready deliveries after `after_seq` (at most `limit`); waits up to `wait_s` for one.

        A non-waiting pull after the last row this session's previous pull saw, when that pull
        saw every ready row (less than a page), answers nothing without reading if the journal's
        mark for the participant has not changed since: rows come ready for it only in a journal
        commit that gives it rows (which moves the mark) or by a wake (`Gateway.wake_readers`: a
        replay, a fault set or lifted, the simulated clock moving while faults are set), and
        this process is the only writer of its gateway's database (the long poll of
        `Gateway.inbox` waits on the same mark). A pull that filled its page, or ran while
        simulated faults could withhold rows, always reads next time. This spares the
        simulation engine's drain its idle polls of every inbox (0.53 a voucher of 0.63 reads in a
        3,000-voucher day).
        """
        gateway = self.bus.gateway
        participant = self.bus.participant(self.participant_id)
        mark = gateway.journal.mark(self.participant_id)  # before the read: a commit during it moves it
        if wait_s <= 0 and self._empty_at == (after_seq, mark):
            return []
        quiet = not gateway.sim_faults
        items = await gateway.inbox(participant, after_seq=after_seq, limit=limit, wait_s=wait_s)
        whole = len(items) < min(limit, INBOX_PAGE_MAX) and quiet and not gateway.sim_faults
        self._empty_at = (max((i.seq for i in items), default=after_seq), mark) if whole else None
        return [self._item(i) for i in items]

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
        if self.parsed and not self._closed:
            self.bus.gateway.handoff.closed(self.participant_id)
        self._closed = True


class InProcessBus:
    def __init__(self, gateway: BusGateway) -> None:
        self.gateway = gateway

    def participant(self, participant_id: str) -> Participant:
        p = self.gateway.registry.get(participant_id)
        if p is None:
            raise InputError("unknown-sender", f"participant {participant_id!r} is not in the registry")
        return p

    def connect(self, participant_id: str, *, push: bool = True, parsed: bool = False) -> BusConnection:
        """`parsed`: deliveries come with the gateway's parse of them when it has one (module doc)."""
        self.participant(participant_id)
        conn = BusConnection(self, participant_id, parsed=parsed)
        if push:
            self.gateway.register_pusher(participant_id, conn._push)
        return conn
