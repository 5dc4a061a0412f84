"""What the client SDK hands back, and the transport protocol every transport implements.

Apart from `client.sdk` so that a transport module (`client.mqtt`) can use them without
importing the SDK that imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from messages.envelope import VoucherBody, VoucherKey
from messages.voucher import VoucherDoc

__all__ = ["ClientError", "ClientTransport", "Delivery", "SendResult"]


class ClientError(Exception):
    """The gateway refused a request as a whole (auth, size, unavailable)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class SendResult:
    voucher: str | None
    status: str  # accepted | duplicate | rejected
    vtcode: str | None = None
    voucher_no: str | None = None
    message_id: str | None = None
    recipient: str | None = None
    code: str | None = None
    message: str | None = None
    errors: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return self.status in ("accepted", "duplicate")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SendResult:
        return cls(d.get("voucher"), d["status"], d.get("vtcode"), d.get("voucher_no"), d.get("message_id"),
                   d.get("recipient"), d.get("code"), d.get("message"), tuple(d.get("errors") or ()))


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    key: VoucherKey
    sender: str
    envelope: bytes  # a one-voucher MOF envelope, signatures as the sender made them
    seq: int = 0
    # In-process only (`GatewayClient.bus(..., parsed=True)`), when the gateway hands it over: the
    # envelope's one body as the gateway admitted it and its voucher as the gateway parsed and
    # checked it, so the recipient need not parse `envelope` again. None otherwise: parse it.
    body: VoucherBody | None = field(default=None, compare=False, repr=False)
    doc: VoucherDoc | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delivery:
        return cls(d["id"], VoucherKey.parse(d["voucher"]), d["sender"], d["envelope"].encode("utf-8"), int(d.get("seq", 0)))


class ClientTransport(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def send(self, envelope: bytes) -> list[SendResult]: ...
    async def receive(self, timeout_s: float) -> list[Delivery]: ...
    async def ack(self, message_ids: Sequence[str]) -> None: ...
    async def trace(self, key: VoucherKey) -> list[dict[str, Any]] | None: ...
