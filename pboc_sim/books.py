"""The central bank checks its own books after every input, raising `sim.books.BooksError`.

O(1) per input: the global rules read the running totals of `PbocState.totals` (kept by
`pboc_sim.record` as movements are recorded and taken back), the per-record rules only the
records the input named (`touched`), never every quota line or everything cleared.

| rule                      | what holds                                                          |
|---------------------------|---------------------------------------------------------------------|
| `tsa-below-zero`          | the TSA never goes below zero (it has no overdraft)                  |
| `tsa-off-movements`       | the TSA balance = its opening balance + movements in − movements out |
| `clearing-off-movements`  | the banks' clearing accounts add up to the TSA's movements out − in  |
| `quota-overdrawn`         | a quota line: 0 ≤ used, 0 ≤ replenished, used + replenished ≤ notified |
| `refund-over-cleared`     | what was cleared: 0 ≤ refunded ≤ cleared                             |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial

from messages.dates import parse_ymd
from pboc_sim.config import QUOTA_PAY_TYPE
from pboc_sim.state import PbocState, cleared_key, cleared_key_of, quota_key, quota_key_of
from sim.books import BooksError
from sim.effects import Refusal

__all__ = ["RULES", "check", "touched", "touched_by_refusal"]

RULES = ("tsa-below-zero", "tsa-off-movements", "clearing-off-movements", "quota-overdrawn", "refund-over-cleared")


def touched(vtcode: str, get: Callable[[str], str]) -> tuple[list[str], list[str]]:
    """(quota keys, cleared keys) a 5108 / 5106 / 2301 / 2302 (or its receipt) can change; `get`
    reads a head field ("" when absent)."""
    bank, day = get("PayBankCode"), parse_ymd(get("ClearDate"))
    if vtcode in QUOTA_PAY_TYPE:
        return [quota_key(get("AdmDivCode"), bank, QUOTA_PAY_TYPE[vtcode], get("FundTypeCode"), day)], []
    if vtcode == "2301":
        return ([quota_key(get("AdmDivCode"), bank, get("PayTypeCode"), get("FundTypeCode"), day)],
                [cleared_key(get("AdmDivCode"), get("StYear"), "2301", get("VoucherNo"), bank)])
    if vtcode == "2302":  # the payment's year as the refund rules read it (its payments: read below)
        ori_year = get("OriVouDate")[:4]
        keys = [cleared_key(get("AdmDivCode"), year, get("OriVtCode"), get("OriVoucherNo"), bank)
                for year in (ori_year, str(int(ori_year) + 1) if ori_year.isdigit() else ori_year)]
        return [], keys
    return [], []


def touched_by_refusal(refusal: Refusal) -> tuple[list[str], list[str]]:
    """(quota keys, cleared keys) the receipts a refusal dropped name."""
    quota_keys: list[str] = []
    cleared_keys: list[str] = []
    for send in refusal.sends():
        if send.flag == 1:
            quotas, cleared = touched(send.vtcode, partial(_field, send.head))
            quota_keys += quotas
            cleared_keys += cleared
    return quota_keys, cleared_keys


def _field(head: Mapping[str, str], name: str) -> str:
    return head.get(name, "")


def check(s: PbocState, quota_keys: Iterable[str] = (), cleared_keys: Iterable[str] = ()) -> None:
    """Raise `BooksError` for the first rule the state breaks (see the module doc)."""
    t = s.totals
    if s.tsa_balance_fen < 0:
        _fail("tsa-below-zero", f"the TSA stands at {s.tsa_balance_fen} fen")
    if s.tsa_balance_fen != t.opening_fen + t.tsa_in_fen - t.tsa_out_fen:
        _fail("tsa-off-movements", f"the TSA stands at {s.tsa_balance_fen} fen, its movements make "
              f"{t.opening_fen} + {t.tsa_in_fen} - {t.tsa_out_fen}")
    if t.clearing_sum_fen != t.tsa_out_fen - t.tsa_in_fen:
        _fail("clearing-off-movements", f"the clearing accounts add up to {t.clearing_sum_fen} fen, the TSA's "
              f"movements to {t.tsa_out_fen} - {t.tsa_in_fen}")
    for key in quota_keys:
        line = s.quotas.get(key)
        if line is not None and not (line.used_fen >= 0 and line.replenished_fen >= 0
                                     and line.used_fen + line.replenished_fen <= line.notified_fen):
            _fail("quota-overdrawn", f"quota line {quota_key_of(key)}: used {line.used_fen} + replenished "
                  f"{line.replenished_fen} of {line.notified_fen} fen notified")
    for key in cleared_keys:
        item = s.cleared.get(key)
        items = [] if item is None else [(key, item)]
        if item is not None and item.clearing is not None and item.clearing in s.cleared:
            items.append((item.clearing, s.cleared[item.clearing]))
        for k, c in items:
            if not 0 <= c.refunded_fen <= c.cleared_fen:
                _fail("refund-over-cleared", f"{cleared_key_of(k)}: refunded {c.refunded_fen} of "
                      f"{c.cleared_fen} fen cleared")


def _fail(rule: str, detail: str) -> None:
    raise BooksError("pboc", rule, detail)
