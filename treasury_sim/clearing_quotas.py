"""Clearing quota notices (5108 direct / 5106 authorized) from approved vouchers: a pure function.

The treasury tells the central bank, per agent bank, per pay type, per fund type and per day,
how much it may clear (003 §33: the central bank checks the quota "the treasury sent the same
day"). A direct-payment notice is "the approved direct payment vouchers summed"
(审批通过的直接支付凭证汇总生成, 004 part 5 §1); the authorized notice is made from the same
approved plan as the units' quota notices (004 part 5 §2). So a notice is the **exact** sum of the
approved vouchers it covers, by first-level unit (SupDepCode), never a forecast with a margin, and
one notice never mixes fund types (the central bank keeps one quota per fund type).

`notice_lines(vouchers)` groups approved vouchers by (bank, pay type, fund type) and sums them by
first-level unit; the treasury core renders one notice per group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["QUOTA_VTCODE", "Approved", "NoticeKey", "direct_totals", "notice_lines"]

QUOTA_VTCODE = {"11": "5108", "12": "5106"}  # pay type → its clearing quota notice

NoticeKey = tuple[str, str, str]  # (PayBankCode, PayTypeCode, FundTypeCode)


@dataclass(frozen=True, slots=True)
class Approved:
    """An approved payment voucher as a clearing quota notice counts it."""

    bank: str  # PayBankCode
    pay_type: str  # PayTypeCode: 11 direct, 12 authorized
    fund_type: str  # FundTypeCode
    sup_dep: tuple[str, str]  # (SupDepCode, SupDepName): the first-level unit
    amount_fen: int


def notice_lines(vouchers: Iterable[Approved]) -> dict[NoticeKey, list[tuple[str, str, int]]]:
    """{(bank, pay type, fund type): [(SupDepCode, SupDepName, fen), ...]}: one notice's lines per
    key, sorted by unit, each the exact sum of that unit's approved vouchers. Keys with nothing
    approved are absent (no empty notice)."""
    sums: dict[NoticeKey, dict[tuple[str, str], int]] = {}
    for v in vouchers:
        by_dep = sums.setdefault((v.bank, v.pay_type, v.fund_type), {})
        by_dep[v.sup_dep] = by_dep.get(v.sup_dep, 0) + v.amount_fen
    return {key: [(code, name, fen) for (code, name), fen in sorted(by_dep.items())]
            for key, by_dep in sorted(sums.items())}


def direct_totals(vouchers: Iterable[tuple[Approved, int]]) -> dict[NoticeKey, int]:
    """{(bank, pay type, fund type): fen}: the direct funds (直达资金, 001, 002) among the approved
    vouchers of each notice, from (voucher, its direct fen) pairs; keys with none are absent."""
    out: dict[NoticeKey, int] = {}
    for v, fen in vouchers:
        if fen:
            key = (v.bank, v.pay_type, v.fund_type)
            out[key] = out.get(key, 0) + fen
    return out
