"""The agent bank's thin async shell: a `sim.shell.SimShell` in the bank role.

Inbox → `BankCore.on_voucher` (with the body's Return_Reason, how a refused clearing request
comes back) → ledger effects, then receipts and clearing requests → ack. Time → `on_time` at
the bank's schedule (replenishment filing, opening, clearing filing, close). The core's state
(payments, filings, advances) is kept in the bank's ledger database with each call's ledger
work and restored on start (`gateway.sim_shell`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bank_sim.core import BankCore
from client import GatewayClient
from ledger.store import Ledger
from messages.envelope import encode_envelope_spans
from messages.sealing import seal_as_role, voucher_body
from messages.signing import Signer
from sim.effects import SendVoucher
from sim.shell import SimShell

__all__ = ["BankShell"]


class BankShell(SimShell):
    core: BankCore

    def __init__(self, core: BankCore, client: GatewayClient, ledger: Ledger, signer: Signer, clock: Any) -> None:
        super().__init__(core, client, ledger, signer, "bank", clock)

    def _envelope(self, effects: list[SendVoucher]) -> bytes:
        """As `SimShell._envelope`, but a send the profile marked (`faulty`: bad-signature) goes
        out with its first signature broken, so the gateway refuses it `bad-signature`."""
        corrupt = self.core.duties.s.corrupt
        if not corrupt:
            return super()._envelope(effects)
        bodies = []
        for e in effects:
            body = seal_as_role(voucher_body(e.render(), flag=e.flag, return_reason=e.return_reason), self.signer,
                                self.role)
            if str(e.key) in corrupt:
                first = body.signatures[0]
                broken = bytes([first.value[0] ^ 0xFF]) + first.value[1:]
                body = dataclasses.replace(body, signatures=(dataclasses.replace(first, value=broken),
                                                             *body.signatures[1:]))
            bodies.append(body)
        return encode_envelope_spans(bodies)
