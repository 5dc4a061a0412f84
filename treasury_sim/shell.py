"""The treasury's thin async shell: a `sim.shell.SimShell` in the treasury role.

Time → `TreasuryCore.on_time` (quota notices at 08:30, payment vouchers at their slots);
inbox → `on_voucher` (receipts, 7401 statements). The treasury keeps no ledger here: its
books are the TSA at the central bank, which it checks through the 7401 statements. Its state
(which vouchers went out, what came back) is kept in `db` (table `sim_state`) when one is given,
as `gateway.sim_shell` describes; without one it lives in memory only.
"""

from __future__ import annotations

from typing import Any

from client import GatewayClient
from messages.signing import Signer
from sim.shell import SimShell
from storage.db import Database
from treasury_sim.core import TreasuryCore

__all__ = ["TreasuryShell"]


class TreasuryShell(SimShell):
    core: TreasuryCore

    def __init__(self, core: TreasuryCore, client: GatewayClient, signer: Signer, clock: Any, *,
                 db: Database | None = None) -> None:
        super().__init__(core, client, None, signer, "treasury", clock, db=db)
