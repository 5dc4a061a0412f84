"""The effects every simulator core returns: one vocabulary for the central bank, the agent
banks and the treasury.

A sans-IO core (no sockets, no database, no clock of its own) has two entry points, "a voucher
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

What did not happen comes back to the core as an input, a `Refusal` (`SimCore.on_refused`): the
ledger refused a call's ledger work (none of that call's ledger work is applied, and its sends are
dropped with it: no receipt for money that did not move), or the gateway refused a send. The core
puts its own records right (a payment marked refused, a clearing decision turned into a
rejection, ...) so its state never runs ahead of its books, and may answer with more effects.

The effects are frozen, tagged `msgspec.Struct`s: a core's state can hold them (a held send, a
pending receipt) and `sim.codec` saves and restores them, unions included, with no codec of
their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import msgspec

from ledger.model import Account, Transfer
from messages.catalog import RETURN_REASON_FIELD, Role
from messages.envelope import VoucherKey
from messages.errors import CODES
from messages.voucher import build_voucher

__all__ = ["Alarm", "Effect", "OpenAccount", "PostTransfer", "Refusal", "SendVoucher", "WakeAt", "registered_code"]


class OpenAccount(msgspec.Struct, frozen=True, tag=True):
    account: Account


class PostTransfer(msgspec.Struct, frozen=True, tag=True):
    transfer: Transfer


class SendVoucher(msgspec.Struct, frozen=True, tag=True):
    """A voucher to sign and send. For a receipt (flag 1), `head`/`details` are the original's
    with the X-fields filled (exactly what `fill_receipt` builds) and `original` its bytes.

    `data`: the voucher's bytes when the core holds them already (a planned voucher): `render()`
    returns them as they are, and `head` need only name the key (AdmDivCode, StYear, VoucherNo);
    rendering a head and details back into the same bytes would cost a parse and a build."""

    vtcode: str
    flag: int
    head: Mapping[str, str]
    details: tuple[Mapping[str, str], ...]
    recipient_role: Role
    return_reason: str | None = None
    original: bytes | None = None
    encoding: str = "UTF-8"
    data: bytes | None = None

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
        return VoucherKey.of(h["AdmDivCode"], h["StYear"], self.vtcode, h["VoucherNo"], self.flag)

    @property
    def rejected(self) -> bool:
        return self.return_reason is not None

    def render(self) -> bytes:
        """The voucher bytes (pure: elements in XSD order, in the original's encoding)."""
        if self.data is not None:
            return self.data
        head = self.head
        if self.flag == 1 and self.return_reason is not None:
            # The reason goes under the receipt's seals, not only into the envelope (docs/security.md).
            head = {**head, RETURN_REASON_FIELD: self.return_reason}
        return build_voucher(self.vtcode, head, self.details, encoding=self.encoding)


class WakeAt(msgspec.Struct, frozen=True, tag=True):
    """Call `on_time` again at `at`. The latest WakeAt a core returned replaces earlier ones."""

    at: dt.datetime


class Alarm(msgspec.Struct, frozen=True, tag=True):
    code: str
    message: str
    key: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered alarm code {self.code!r}")


Effect = OpenAccount | PostTransfer | SendVoucher | WakeAt | Alarm


class Refusal(msgspec.Struct, frozen=True, tag=True):
    """Feedback to a core: effects it asked for that did not happen.

    `source` "ledger": the books refused the ledger work of one core call; `dropped` holds all of
    that call's ledger effects (none was applied) and its sends (none was sent). "gateway": the
    gateway refused a send; `dropped` is that one `SendVoucher`. `code` is the refusal's own code
    when it is registered in `messages.errors.CODES`, else `unknown-code` (the original is in
    `message`): a code is never relabelled as another one."""

    source: str  # "ledger" | "gateway"
    code: str
    message: str
    dropped: tuple[Effect, ...]

    def __post_init__(self) -> None:
        if self.source not in ("ledger", "gateway"):
            raise ValueError(f"a refusal comes from the ledger or the gateway, not {self.source!r}")
        if self.code not in CODES:
            raise ValueError(f"unregistered refusal code {self.code!r}")

    def transfers(self) -> list[Transfer]:
        return [e.transfer for e in self.dropped if isinstance(e, PostTransfer)]

    def sends(self) -> list[SendVoucher]:
        return [e for e in self.dropped if isinstance(e, SendVoucher)]


def registered_code(code: str | None) -> str:
    """`code` if it is a registered code, else the generic `unknown-code` (never another one)."""
    return code if code is not None and code in CODES else "unknown-code"
