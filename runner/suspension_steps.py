"""Scenario steps `suspend:` and `lift:` (payment suspension, 暂停支付, 000 五(二)3): the treasury
sends a bank a 7501 ordering it to suspend payments of a unit, a paying account or a payee, and
later one lifting the order. Each is appended to the treasury's audit record
(`treasury_sim.suspensions.SuspensionLog`); the bank's confirmations arrive as 7501 receipts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from messages.dates import format_ymd
from runner.scenario_file import SendSpec, Step
from treasury_sim.suspensions import Scope, SuspensionLog

__all__ = ["suspension_send"]


class _SentVoucher(Protocol):
    @property
    def key(self) -> str: ...  # its VoucherKey string, "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>/<flag>"


class _World(Protocol):
    def bank(self, bank_id: str) -> Any: ...


def suspension_send(log: SuspensionLog, step: Step, world: _World, adm_div_code: str,
                    sent: Mapping[str, _SentVoucher], now: dt.datetime) -> tuple[SendSpec, bytes, int]:
    """The 7501 (flag 0) of a suspend / lift step, recorded in `log`, to hand to the runner's delivery.
    An order's OrderNo is its own VoucherNo, numbered by its division (`adm_div_code`); a lift names it through the suspend step's id (the order's
    key: its division's and year's order of the number, `treasury_sim.suspensions.order_key`)."""
    o = step.order
    # each division's treasury numbers its own 7501s: two divisions' orders may share a number
    voucher_no = f"ZT{format_ymd(now.date())}{sum(r.adm_div_code == adm_div_code for r in log.entries) + 1:04d}"
    spec = SendSpec(o["id"], "treasury", None, bank=o["bank"], line=step.line)
    if step.action == "suspend":
        scope: tuple[Scope, str] = o["scope"]
        data = log.order(voucher_no=voucher_no, bank=world.bank(o["bank"]).code, scope=scope, reason=o["reason"],
                         now=now, adm_div_code=adm_div_code)
    else:
        data = log.lift(voucher_no=voucher_no, order=sent[o["order"]].key.rsplit("/", 1)[0], reason=o["reason"],
                        now=now)
    return spec, data, 0
