"""The agent bank's thin async shell: a `sim.shell.SimShell` in the bank role.

Inbox → `BankCore.on_voucher` (with the body's Return_Reason, how a refused clearing request
comes back) → ledger effects, then receipts and clearing requests → ack. Time → `on_time` at
the bank's schedule (replenishment filing, opening, clearing filing, close). The core's state
(payments, filings, advances) is kept in the bank's ledger database with each call's ledger
work and restored on start (`gateway.sim_shell`).
"""

from __future__ import annotations

from typing import Any

from bank_sim.core import BankCore
from client import GatewayClient
from ledger.store import Ledger
from messages.signing import Signer
from sim.shell import SimShell

__all__ = ["BankShell"]


class BankShell(SimShell):
    core: BankCore

    def __init__(self, core: BankCore, client: GatewayClient, ledger: Ledger, signer: Signer, clock: Any) -> None:
        super().__init__(core, client, ledger, signer, "bank", clock)
