"""The central bank's thin async shell: a `sim.shell.SimShell` in the pboc role.

It owns a `GatewayClient`, a `Ledger`, a signer and a business clock, and feeds a `PbocCore`:

* inbox loop: delivery → parse → `core.on_voucher(doc, flag, clock.now())` → commit the ledger
  work and the core's snapshot in one transaction → send the receipts → ack. A crash in between
  means redelivery; the core (restored from its snapshot) answers a redelivered request with the
  same effects (same receipt, same transfer id: the ledger applies it once).
* time loop: sleep on the clock until the core's next `WakeAt`, then `core.on_time(now)`.

On start the core is restored from the snapshot in the ledger's database (`sim_state`), so a
restarted central bank still knows the day's quotas and its decisions.

Core calls and their effects are serialized by one lock, so the two loops never interleave.
"""

from __future__ import annotations

from typing import Any

from client import GatewayClient
from ledger.store import Ledger
from messages.signing import Signer
from pboc_sim.core import PbocCore
from sim.shell import SimShell

__all__ = ["PbocShell"]


class PbocShell(SimShell):
    core: PbocCore

    def __init__(self, core: PbocCore, client: GatewayClient, ledger: Ledger, signer: Signer, clock: Any) -> None:
        super().__init__(core, client, ledger, signer, "pboc", clock)
