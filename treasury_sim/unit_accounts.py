"""The accounts a treasury with generated budget units (`TreasuryConfig.units`) pays through, pure:
numbers derived from the bank's code and the unit's, never drawn, so the treasury's vouchers and
each bank's account registry (`bank_sim.registry`, declared by the world) name the same ones.

At every bank (000; 003 §12-13, §18):

| AcctType | account                                   | number                    | paid from / into                    |
|----------|-------------------------------------------|---------------------------|-------------------------------------|
| 1        | the finance zero-balance account          | `97<bank4>1000000000`     | pays the direct payments (5201)     |
| 2        | each paying unit's zero-balance account   | `97<bank4>2<AgencyCode, 9 digits>` | pays the unit's 8202s      |
| 4        | a fiscal special account (社会保险基金财政专户) | `97<bank4>4000000001`  | receives every `SPECIAL_EVERY`-th request that is a direct payment |

The special account's movements are what the bank states in its daily account feed (资金流水,
VtCode 7602, 000 五(二)3) and the treasury matches (`treasury_sim.account_feed`).
"""

from __future__ import annotations

from collections.abc import Iterable

from treasury_sim.units import BudgetUnit

__all__ = ["SPECIAL_EVERY", "SPECIAL_NAME", "finance_zba", "pays_special", "registry", "special_account", "unit_zba"]

SPECIAL_EVERY = 40  # of a day's requests, the multiples of this that are direct payments pay the special account
SPECIAL_NAME = "社会保险基金财政专户"


def _prefix(bank: str) -> str:
    return f"97{bank[-4:]}"


def finance_zba(bank: str) -> str:
    return f"{_prefix(bank)}1000000000"


def unit_zba(bank: str, agency: str) -> str:
    return f"{_prefix(bank)}2{int(agency):09d}"


def special_account(bank: str) -> str:
    return f"{_prefix(bank)}4000000001"


def pays_special(request_index: int, vtcode: str) -> bool:
    """Whether the day's `request_index`-th request (from 1) pays into its bank's special account."""
    return vtcode == "5201" and request_index % SPECIAL_EVERY == 0


def registry(bank: tuple[str, str], paying: Iterable[BudgetUnit]) -> tuple[tuple[str, str, str, str], ...]:
    """The accounts `bank` ((code, name)) holds for the treasury, as `BankConfig.registry_accounts`
    takes them ((AcctNo, AcctType, AcctName, AgencyCode))."""
    code, name = bank
    return ((finance_zba(code), "1", f"{name}财政零余额账户", ""),
            *((unit_zba(code, u.code), "2", f"{u.name}零余额账户", u.code) for u in paying),
            (special_account(code), "4", SPECIAL_NAME, ""))
