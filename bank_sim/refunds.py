"""Refunds after payment (资金退回), pure: what the bank sends when a payee's bank returns money.

A paid and cleared payment comes back (the payee's account is closed, the account number or
name was wrong...). The bank (004 part 3 §8(5), §9(9); 003 §35):

1. books the money back: payees → the zero-balance account it was paid from → `refunds`, the
   account where returned money waits for the central bank (so the zero-balance account still
   stands at zero at the close);
2. sends the refund request **2302** to the central bank by the original channel, naming the
   payment it refunds (OriVtCode 5201 / 8202, OriVoucherNo) when its clearing request named the
   payment in a Detail (`clearing_details`), else the clearing request itself (OriVtCode 2301);
3. on the central bank's receipt: accepted (XRefundAmt > 0, no Return_Reason) → `refunds` →
   the mirror of its clearing account, the unit's authorized quota line given back (8202), and
   only now the refund notice to the treasury: **2203** (财政直接支付退票通知书) for a direct
   payment, **7105** (财政资金授权支付退票通知书, 004 part 3 §9(9); the project's own code) for an
   authorized one; refused → an Alarm
   with the central bank's code, the money stays in `refunds` (a break to explain, never netted
   away), no notice; a `below-clearing-floor` refusal is filed again after the bank's next
   accepted clearing (`bank_sim.duties.REFUND_FILINGS_MAX`).

The treasury restores the unit's quota for a same-year refund on the notice, so only for a
refund cleared: "退回资金清算后" (003 §36; treasury_sim).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from messages.dates import format_ymd
from messages.money import fen_to_str

__all__ = ["CLEARING_DETAILS_MAX", "RETURN_REASONS", "PayeeReturn", "clearing_details", "notice", "payee_bank_notice",
           "refund_request"]

# One Detail per payment keeps each payment refundable on its own; a clearing request of more
# payments than this (a voucher near the 8 MB limit) falls back to sums by first-level unit,
# and a refund then names the clearing request itself.
CLEARING_DETAILS_MAX = 20_000
# Why a payee's bank returns money: reason → (ReturnReasonCode, ReturnReasonName). Synthetic codes.
RETURN_REASONS: Mapping[str, tuple[str, str]] = {
    "account-closed": ("01", "收款账户已销户"),
    "wrong-account": ("02", "收款账号户名不符"),
    "account-frozen": ("03", "收款账户冻结"),
}
# The payee and payer elements a refund and its notice copy from the original voucher.
PAYEE_FIELDS = ("VouDate", "AgencyCode", "AgencyName", "PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName",
                "PayeeAcctBankNo", "PayAcctNo", "PayAcctName")


@dataclass(frozen=True, slots=True)
class PayeeReturn:
    """A payee's bank sends the money of payment `voucher_no` back at `at` (scenario or config):
    its slot in `BankState.payments` (its VoucherNo, unless another payment has that number)."""

    voucher_no: str
    at: dt.datetime
    reason: str = "account-closed"
    line: str = ""  # a batch voucher's Detail Id: only that line came back (bank_sim.batches)

    def __post_init__(self) -> None:
        if self.reason not in RETURN_REASONS:
            raise ValueError(f"unknown return reason {self.reason!r}; one of {', '.join(RETURN_REASONS)}")
        if self.at.tzinfo is None:
            raise ValueError("a payee return's time must be timezone-aware")

    @property
    def key(self) -> str:
        """Its key among the returns due: the VoucherNo, with "#<Detail Id>" for a batch line."""
        return f"{self.voucher_no}#{self.line}" if self.line else self.voucher_no


def clearing_details(payments: Sequence[tuple[str, tuple[str, str], int]]) -> tuple[dict[str, str], ...]:
    """A clearing request's DetailList from (VoucherNo, (SupDepCode, SupDepName), fen) of the
    payments it covers: one Detail per payment, by first-level unit then voucher; beyond
    `CLEARING_DETAILS_MAX`, sums by first-level unit (no VoucherNo)."""
    if len(payments) <= CLEARING_DETAILS_MAX:
        rows = sorted(payments, key=lambda p: (p[1], p[0]))
        return tuple({"Id": f"D{i:05d}", "VoucherNo": no, "SupDepCode": dep[0], "SupDepName": dep[1],
                      "PayAmt": fen_to_str(fen)} for i, (no, dep, fen) in enumerate(rows, start=1))
    by_dep: dict[tuple[str, str], int] = {}
    for _, dep, fen in payments:
        by_dep[dep] = by_dep.get(dep, 0) + fen
    return tuple({"Id": f"D{i:05d}", "SupDepCode": code, "SupDepName": name, "PayAmt": fen_to_str(fen)}
                 for i, ((code, name), fen) in enumerate(sorted(by_dep.items()), start=1))


def names_payments(details: Iterable[Mapping[str, str]]) -> bool:
    return all(d.get("VoucherNo") for d in details)


def refund_request(*, no: str, today: dt.date, adm_div_code: str, bank_code: str, bank_name: str,
                   clear_bank: tuple[str, str], ori: tuple[str, str, str], pay_type: str,
                   fund_type: tuple[str, str], payee: Mapping[str, str], reason: str,
                   amount_fen: int) -> dict[str, str]:
    """The head of a 2302. `ori`: (OriVtCode, OriVoucherNo, OriVouDate yyyyMMdd)."""
    code, name = RETURN_REASONS[reason]
    return {
        "Id": f"V2302{no}", "AdmDivCode": adm_div_code, "StYear": str(today.year), "VouDate": format_ymd(today),
        "VoucherNo": no, "OriVtCode": ori[0], "OriVoucherNo": ori[1], "OriVouDate": ori[2],
        "PayBankCode": bank_code, "PayBankName": bank_name, "ClearBankCode": clear_bank[0],
        "ClearBankName": clear_bank[1], "PayTypeCode": pay_type, "FundTypeCode": fund_type[0],
        "FundTypeName": fund_type[1], "AgencyCode": payee.get("AgencyCode", ""),
        "AgencyName": payee.get("AgencyName", ""), "PayeeAcctNo": payee["PayeeAcctNo"],
        "PayeeAcctName": payee["PayeeAcctName"], "PayeeAcctBankName": payee["PayeeAcctBankName"],
        "PayAcctNo": payee["PayAcctNo"], "PayAcctName": payee["PayAcctName"], "ReturnReasonCode": code,
        "ReturnReasonName": name, "PayAmt": fen_to_str(amount_fen),
    }


def notice(*, no: str, today: dt.date, adm_div_code: str, bank_code: str, bank_name: str, vtcode: str,
           ori_no: str, paid_day: dt.date, fund_type: tuple[str, str], payee: Mapping[str, str],
           details: Sequence[Mapping[str, str]], reason: str, serial: str,
           amount_fen: int) -> tuple[str, dict[str, str], tuple[dict[str, str], ...]]:
    """(VtCode, head, details) of the refund notice to the treasury, with the original's
    classification details: 2203 (财政直接支付退票通知书) for a direct payment (5201), 7105
    (财政资金授权支付退票通知书, 004 part 3 §9(9)) for an authorized one (8202)."""
    code, name = RETURN_REASONS[reason]
    notice_vtcode = "2203" if vtcode == "5201" else "7105"
    head = {
        "Id": f"V{notice_vtcode}{no}", "AdmDivCode": adm_div_code, "StYear": str(today.year),
        "VouDate": format_ymd(today), "VoucherNo": no, "OriVtCode": vtcode, "OriVoucherNo": ori_no,
        "OriVouDate": payee["VouDate"], "OriPayDate": format_ymd(paid_day),
        "PayeeAcctNo": payee["PayeeAcctNo"], "PayeeAcctName": payee["PayeeAcctName"],
        "PayeeAcctBankName": payee["PayeeAcctBankName"], "PayBankCode": bank_code, "PayBankName": bank_name,
        "ReturnReasonCode": code, "ReturnReasonName": name, "AgentBusinessNo": serial,
        "PayAmt": fen_to_str(amount_fen),
    }
    head.update({"FundTypeCode": fund_type[0], "FundTypeName": fund_type[1],
                 "PayTypeCode": "11" if notice_vtcode == "2203" else "12",
                 "AgencyCode": payee["AgencyCode"], "AgencyName": payee["AgencyName"],
                 "PayAcctNo": payee["PayAcctNo"], "PayAcctName": payee["PayAcctName"]})
    project = ("ProCode", "ProName") if notice_vtcode == "7105" else ()  # 2203's details have no project
    lines = tuple({"Id": f"D{i:04d}", "AgencyCode": d.get("AgencyCode") or payee["AgencyCode"], "ExpFuncCode": d["ExpFuncCode"],
                   "ExpFuncName": d["ExpFuncName"], "ExpEcoCode": d["ExpEcoCode"], "ExpEcoName": d["ExpEcoName"],
                   **{k: d[k] for k in project if d.get(k)},
                   **({"DirectFundFlag": "1"} if d.get("DirectFundFlag") == "1" else {}), "PayAmt": d["PayAmt"]}
                  for i, d in enumerate(details, start=1))
    return notice_vtcode, head, lines


def payee_bank_notice(payment: Mapping[str, str], *, no: str, today: dt.date, paid_day: dt.date,
                      payee_bank: tuple[str, str], reason: str, serial: str) -> dict[str, str]:
    """The head of a payee-bank refund notice (2252, 收款行退款通知): the payee's bank
    `payee_bank` (bank code, name; the sender, named by PayeeAcctBankNo) tells the paying bank
    (PayBankCode, the recipient) that the money of `payment` (the head of its 5201 / 8202) came
    back. The paying bank then refunds it (2302) and tells the treasury."""
    code, name = RETURN_REASONS[reason]
    return {
        "Id": f"V2252{no}", "AdmDivCode": payment["AdmDivCode"], "StYear": str(today.year),
        "VouDate": format_ymd(today), "VoucherNo": no, "OriVtCode": payment["VtCode"],
        "OriVoucherNo": payment["VoucherNo"], "OriVouDate": payment["VouDate"], "OriPayDate": format_ymd(paid_day),
        "PayeeAcctNo": payment["PayeeAcctNo"], "PayeeAcctName": payment["PayeeAcctName"],
        "PayeeAcctBankName": payee_bank[1], "PayeeAcctBankNo": payee_bank[0],
        "PayBankCode": payment["PayBankCode"], "PayBankName": payment["PayBankName"],
        "ReturnReasonCode": code, "ReturnReasonName": name, "AgentBusinessNo": serial, "PayAmt": payment["PayAmt"],
    }
