"""The effects every simulator core returns: one vocabulary for the central bank, the agent
banks and the treasury.

A sans-IO core (see ARCHITECTURE.md, "Sans-IO cores") has two entry points, "a voucher
arrived" and "the business time is now T", and answers each with a list of these frozen
values. The shell (`sim.shell.SimShell`) performs them in order:

| effect        | the shell                                                              |
|---------------|------------------------------------------------------------------------|
| `OpenAccount` | opens the ledger account (idempotent: same definition → no-op)          |
| `PostTransfer`| applies the ledger transfer (idempotent by transfer id)                 |
| `SendVoucher` | renders, seals at the sender role's positions, sends through the gateway|
| `WakeAt`      | calls the core's `on_time` again at that business time                  |
| `Alarm`       | logs and keeps it for inspection; nothing is sent                        |

A core lists ledger effects before the sends that depend on them, so a receipt goes out only
once the money it reports has moved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.model import Account, Transfer
from messages.catalog import Role
from messages.envelope import VoucherKey
from messages.errors import CODES
from messages.voucher import build_voucher

__all__ = ["Alarm", "Effect", "OpenAccount", "PostTransfer", "SendVoucher", "WakeAt"]


@dataclass(frozen=True, slots=True)
class OpenAccount:
    account: Account


@dataclass(frozen=True, slots=True)
class PostTransfer:
    transfer: Transfer


@dataclass(frozen=True, slots=True)
class SendVoucher:
    """A voucher to sign and send. For a receipt (flag 1), `head`/`details` are the original's
    with the X-fields filled (exactly what `fill_receipt` builds) and `original` its bytes."""

    vtcode: str
    flag: int
    head: Mapping[str, str]
    details: tuple[Mapping[str, str], ...]
    recipient_role: Role
    return_reason: str | None = None
    original: bytes | None = None
    encoding: str = "UTF-8"

    def __post_init__(self) -> None:
        if self.flag not in (0, 1):
            raise ValueError(f"flag must be 0 or 1, not {self.flag!r}")
        if self.flag == 1 and self.original is None:
            raise ValueError("a receipt carries its original voucher")
        if self.head.get("VtCode", self.vtcode) != self.vtcode:
            raise ValueError(f"head VtCode {self.head.get('VtCode')} is not {self.vtcode}")

    @property
    def key(self) -> VoucherKey:
        h = self.head
        return VoucherKey(h["AdmDivCode"], h["StYear"], self.vtcode, h["VoucherNo"], self.flag)

    @property
    def rejected(self) -> bool:
        return self.return_reason is not None

    def render(self) -> bytes:
        """The voucher bytes (pure: elements in XSD order, in the original's encoding)."""
        return build_voucher(self.vtcode, self.head, self.details, encoding=self.encoding)


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Call `on_time` again at `at`. The latest WakeAt a core returned replaces earlier ones."""

    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Alarm:
    code: str
    message: str
    key: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered alarm code {self.code!r}")


Effect = OpenAccount | PostTransfer | SendVoucher | WakeAt | Alarm
