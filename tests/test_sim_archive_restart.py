"""End to end, through the gateway: a bank shell over SQLite hands its payees to the archive
(`sim.archive_store`), and a payee's return (2252) after a restart, from a replayed log or a fresh
snapshot (`snapshot_every`), still finds the payee and is refunded once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from test_sim_restart import BANK, BANK2, World, _seq, make_world, snapshot_every, t

from bank_sim.refunds import payee_bank_notice
from messages.factory import payment_voucher
from messages.voucher import build_voucher, parse_voucher

__all__ = ["make_world", "snapshot_every"]  # the fixtures, imported for pytest


async def test_a_payee_archived_before_a_restart_is_returned_after_it(make_world: Any) -> None:
    day = dt.date(2026, 3, 16)
    w: World = await make_world(t("2026-03-16", "08:00"))
    await w.start("pboc")
    bank = await w.start("bank")
    await w.at("2026-03-16", "09:00")
    await w.quota("2026-03-16", "1000.00")
    await w.settle()
    await w.at("2026-03-16", "10:00")
    no = f"ZZ20260316{next(_seq):05d}"
    data = payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=BANK, amount_fen=300_00,
                           adm_div_code=w.world.adm_div_code)
    data = data.replace(b"<PayeeAcctBankNo>999100000027<", f"<PayeeAcctBankNo>{BANK2}<".encode())
    [result] = await w.treasury.send(w.world.envelope([data], sender=w.world.treasury.id))
    assert result.ok, result
    [(_, receipt)] = await w.received(w.treasury, "5201", 1)
    assert receipt.get("VoucherNo") == no
    assert bank.shell.archive is not None and bank.shell.archive.written == 1
    assert not bank.shell.core.duties.s.payees  # in the archive, not the state (nor its snapshots)
    await w.crash("bank")

    bank = await w.start("bank")  # a new process over the same database
    assert bank.shell.restored
    await w.at("2026-03-16", "17:00")  # its 15:30 clearing request accepted
    head = payee_bank_notice(parse_voucher(data).head(), no="ST0002202603160001", today=day, paid_day=day,
                             payee_bank=(BANK2, "示例银行乙分行"), reason="account-closed", serial="ST0002202603160001")
    other = await w.client("bank-b")
    [result] = await other.send(w.world.envelope([build_voucher("2252", head)], sender="bank-b"))
    assert result.ok, result
    await w.at("2026-03-16", "17:30")
    [refund] = bank.shell.core.duties.s.refunds.values()
    assert (refund.voucher, refund.amount_fen, refund.state) == (no, 300_00, "accepted"), bank.shell.alarms
    assert no in bank.shell.core.duties.s.payees_gone and not bank.shell.alarms
