"""One two-division world for the tests of divisions (AdmDivCode): two divisions' treasuries, 990100
(the configured one of the cores the tests build) and 990200, paying through one bank that serves
both, each numbering its own vouchers so that their VoucherNos collide.

The evaluation-level tests (`test_account_feed_divisions`, `test_treasury_refund_divisions`,
`test_bank_quota_divisions`) build their vouchers and bank here, and the scenario tests
(`test_scenario_divisions`) the same world as a scenario file (`world_yaml`). Every code is synthetic.
"""

from __future__ import annotations

import datetime as dt

from bank_sim.duties import DutiesConfig
from messages.money import fen_to_str
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from tests.test_bank_duties import DAY, World

__all__ = ["BANK", "HOME", "OTHER", "UNITS", "bank_world", "paid_receipt", "world_yaml"]

HOME, OTHER = "990100", "990200"  # the cores' configured division, and another the bank serves
BANK = ("999100000001", "示例银行甲分行")  # bank-a: its code and name
# each division's unit (AgencyCode, AgencyName); in a scenario world both are world.budget_units
UNITS = {HOME: ("101001", "示例市第一中学"), OTHER: ("201001", "示例县第一中学")}


def paid_receipt(adm: str, no: str, fen: int, *, year: str = "2026", payee: str = "",
                 paid_on: str = "20260310") -> VoucherDoc:
    """The receipt (5201 flag 1) by which the bank says it paid division `adm`'s voucher `no` of
    budget year `year` (dated the 10th of March of that year) for the division's unit, `fen` into
    account `payee` (if named) on `paid_on`."""
    head = {"AdmDivCode": adm, "StYear": year, "VoucherNo": no, "VouDate": f"{year}0310", "PayBankCode": BANK[0],
            "AgencyCode": UNITS[adm][0], **({"PayeeAcctNo": payee} if payee else {}), "PayAmt": fen_to_str(fen),
            "XPayDate": paid_on, "XPayAmt": fen_to_str(fen)}
    return parse_voucher(build_voucher("5201", head, [{"Id": "D1", "PayAmt": fen_to_str(fen)}]))


def bank_world(quota_fen: int = 10**9, vtcode: str = "5106") -> World:
    """The bank (`test_bank_duties.World`, configured for HOME) and the central bank, with each
    division's quota notice (`vtcode`) of DAY: the central bank keeps each division's lines apart."""
    w = World(DutiesConfig())
    for adm in (HOME, OTHER):
        w.quota(DAY, quota_fen, vtcode, adm_div_code=adm)
    return w


def world_yaml(start: dt.date, end: str, *, divisions: tuple[str, ...] = (HOME, OTHER), accounts: str = "") -> str:
    """The `world:` of a scenario with these divisions (default both) in this order, each served by
    bank-a and bank-b; the two divisions' units; `accounts` (YAML list items) open from the start."""
    return (f'world:\n  start: "{start:%Y-%m-%d}"\n  end: "{end}"\n  divisions:\n'
            + "".join(f'    - {{code: "{adm}"}}\n' for adm in divisions)
            + "  banks:\n    - {id: bank-a, code: \"999100000001\"}\n    - {id: bank-b, code: \"999100000002\"}\n"
            + "  budget_units:\n"
            + "".join(f'    - {{sup_dep: "{u[:3]}", agency: "{u}", agency_name: {name}}}\n'
                      for u, name in UNITS.values())
            + (f"  accounts:\n{accounts}" if accounts else ""))
