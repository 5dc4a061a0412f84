"""A bank not registered for a division is never sent that division's payments: the gateway routes a
payment voucher to the bank of its PayBankCode among those serving its AdmDivCode, and refuses it
`no-recipient` (naming PayBankCode) when that bank does not serve the division. So no bank pays,
clears and reports for a division it does not serve, and no central bank statement (7401) of that
division carries its clearings (docs/connect-a-bank.md, "A bank serving several divisions")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway_helpers import running_gateway

from messages.factory import payment_voucher
from runner.world import DevWorld
from storage.db import open_database

HOME, OTHER = "990100", "990200"


async def test_a_payment_of_a_division_its_bank_does_not_serve_is_refused_no_recipient(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "world", divisions=((HOME, ("bank-a", "bank-b")), (OTHER, ("bank-a",))))
    db = await open_database(str(tmp_path / "gw.db"))

    def pay(bank: str, adm: str, no: str) -> bytes:
        code = world.participants[bank].bank_codes[0]
        voucher = payment_voucher(voucher_no=no, vou_date=dt.date(2026, 3, 16), pay_bank_code=code,
                                  amount_fen=100_00, adm_div_code=adm)
        return world.envelope([voucher], sender=world.treasury.id)

    async with running_gateway(world, db) as gw:
        treasury = gw.registry.get(world.treasury.id)
        assert treasury is not None
        [refused] = await gw.submit(pay("bank-b", OTHER, "ZZ1"), treasury)
        assert (refused.status, refused.code) == ("rejected", "no-recipient")
        assert "serves AdmDivCode 990200" in refused.issues[0].message and refused.issues[0].path.endswith("PayBankCode")
        accepted = [r for bank, adm in (("bank-a", OTHER), ("bank-b", HOME))
                    for r in await gw.submit(pay(bank, adm, "ZZ2"), treasury)]
        assert [(r.status, r.recipient) for r in accepted] == [("accepted", "bank-a"), ("accepted", "bank-b")]
    await db.close()
