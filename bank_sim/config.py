"""An agent bank's configuration and fixed accounts (synthetic defaults, never real codes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bank_sim.refunds import PayeeReturn
from bank_sim.returns import KNOWN_PAYEES
from bank_sim.transfers import TransferConfig
from messages.factory import ADM_DIV_CODE, CLEAR_BANK_CODE, CLEAR_BANK_NAME
from sim.divisions import ServesDivisions

__all__ = ["PAY_TYPE", "SUSPENSION_VTCODE", "BankConfig", "DutiesConfig", "account_ids", "unit_zba"]

PAY_TYPE: dict[str, str] = {"5201": "11", "8202": "12"}
SUSPENSION_VTCODE = "7501"  # payment suspension order and its lift (000 五(二)3; bank_sim.suspensions)


def account_ids(bank_code: str) -> dict[str, str]:
    """The fixed accounts of a bank, by role."""
    return {role: f"bank:{bank_code}:{role}"
            for role in ("zba-finance", "reserve", "reserve-funding", "payees", "pboc-clearing", "bank-own")}


def unit_zba(bank_code: str, agency_code: str) -> str:
    return f"bank:{bank_code}:zba-unit:{agency_code}"


def refunds_account(bank_code: str) -> str:
    return f"bank:{bank_code}:refunds"


@dataclass(frozen=True, slots=True)
class DutiesConfig:
    payee_returns: tuple[PayeeReturn, ...] = ()
    report_time: dt.time = dt.time(9, 30)  # daily / monthly reports go out then (before the 11:00 receipts)
    transfers: TransferConfig = field(default_factory=TransferConfig)
    profile: str = "prompt"
    profile_params: tuple[tuple[str, Any], ...] = ()  # (name, value), as the scenario or config says
    seed: int = 1

    def __post_init__(self) -> None:
        if len({r.key for r in self.payee_returns}) != len(self.payee_returns):
            raise ValueError("payee_returns names a voucher twice")


@dataclass(frozen=True, slots=True, repr=False)  # repr: ServesDivisions
class BankConfig(ServesDivisions):
    """Synthetic defaults, never real codes. Times are Asia/Shanghai times of day."""

    bank_name: str = "示例银行"
    adm_div_code: str = ADM_DIV_CODE
    clear_bank_code: str = CLEAR_BANK_CODE
    clear_bank_name: str = CLEAR_BANK_NAME
    filing_time: dt.time = dt.time(15, 30)  # the bank's own clearing cut; before the PBOC's cutoff
    replenish_time: dt.time = dt.time(8, 45)  # inside the replenishment window
    open_time: dt.time = dt.time(9, 0)  # deferred vouchers are paid then
    reserve_fen: int = 5_000_000_00  # the clearing reserve the treasury funded
    duties: DutiesConfig = field(default_factory=DutiesConfig)  # refunds, reports, transfer times, profile
    payee_accounts: tuple[tuple[str, str], ...] = KNOWN_PAYEES  # accounts held at this bank: (number, holder)
    # the account registry (bank_sim.registry): accounts open from the start, (AcctNo, AcctType, AcctName,
    # AgencyCode); any puts the registry in force. And the working days the bank takes to carry out an
    # account notice (7601): 0 at once; the agreement allows 3 (004 part 3 §9(1)).
    registry_accounts: tuple[tuple[str, str, str, str], ...] = ()
    account_open_days: int = 0
    # the other divisions (AdmDivCode) the bank serves besides `adm_div_code` (004 part 3 §10: it
    # reports and feeds each from the same day as the configured one); a division not named here is
    # reported to from the day it was first paid for
    divisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.check_divisions()
        if not isinstance(self.reserve_fen, int) or self.reserve_fen < 0:
            raise ValueError(f"reserve_fen must be an int >= 0, not {self.reserve_fen!r}")
        if not isinstance(self.account_open_days, int) or not 0 <= self.account_open_days <= 30:
            raise ValueError(f"account_open_days must be an int in 0..30, not {self.account_open_days!r}")
