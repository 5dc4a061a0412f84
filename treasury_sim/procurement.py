"""Government procurement payments (政府采购支出): the treasury's check of a payment request against
the procurement contract before it issues the voucher. Pure: contracts and amounts in, a refusal or
None out; no IO.

003 §28: "政府采购支出,由预算单位依据年度预算、工程进度及验收报告、合同等有关支付凭证,提出支付申请。财政部门
预设校验规则,对支付申请进行动态监控,监控无异常的,向代理银行发送支付凭证". 004 part 4 §11: the unit sends
the project's contract to the finance bureau with its spending plan ("同时将项目实施合同送县财政局"), so the
treasury holds the contracts; §13 puts procurement funds in the scope of direct payment. The
treasury's preset rules (the project's reading of "预设校验规则", in the order they are checked):

| code | refused when |
|---|---|
| `procurement-contract-unknown` | no contract of that number (ContractNo) for the paying unit (AgencyCode) |
| `procurement-payee-not-supplier` | the payee (PayeeAcctNo) is not the contract's supplier account |
| `procurement-before-acceptance` | the contract requires acceptance and the request is an advance (ProcureFlag 2), or its acceptance is dated after the request (AcceptDate after VouDate) |
| `procurement-over-contract` | with what was issued against the contract and not given back, more than the contract amount |

What counts against a contract: every voucher the treasury issued on it, less those refused at the
gateway or returned unpaid by the bank (their money never left). A payment the payee's bank sent
back after it was paid is not given back to the contract (the supplier was paid; paying again is a
new request the treasury decides on). The gateway checks only that the documents are named
(`procurement-documents-missing`, messages/business.py); the bank what it can see on the voucher
(bank_sim/returns.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from messages.money import fen_to_str

__all__ = ["Contract", "ContractBook", "ProcurementRefusal", "ProcurementRequest", "check", "give_back", "issue",
           "request_of"]


class Contract(msgspec.Struct, frozen=True):
    """A procurement contract the treasury holds (004 part 4 §11)."""

    number: str  # ContractNo
    unit: str  # the buying unit's AgencyCode
    supplier_acct: str  # the supplier's account: every payment on the contract goes there
    supplier_name: str
    amount_fen: int  # the contract amount: what all payments on it add up to at most
    acceptance_required: bool = True  # False: the contract allows payment before acceptance (an advance)

    def __post_init__(self) -> None:
        if self.amount_fen <= 0:
            raise ValueError(f"contract {self.number}: amount {self.amount_fen} fen, not positive")


class ProcurementRequest(msgspec.Struct, frozen=True):
    """What a procurement payment request (a 5201 with ProcureFlag) says, as the treasury reads it."""

    contract_no: str
    unit: str
    payee_acct: str
    amount_fen: int
    flag: str  # ProcureFlag: 1 paid on acceptance, 2 before acceptance (an advance)
    vou_date: str  # yyyymmdd
    accept_date: str = ""  # yyyymmdd, or "" for an advance


class ProcurementRefusal(msgspec.Struct, frozen=True):
    code: str
    element: str  # the element at fault, /Voucher/<name>
    message: str


class ContractBook(msgspec.Struct):
    """The treasury's contracts and what it has issued against each (fen), given-back amounts deducted."""

    contracts: dict[str, Contract] = msgspec.field(default_factory=dict)
    issued_fen: dict[str, int] = msgspec.field(default_factory=dict)


def request_of(head: Mapping[str, str], amount_fen: int) -> ProcurementRequest | None:
    """The procurement request a voucher head makes, or None: not a procurement payment."""
    flag = head.get("ProcureFlag", "")
    if flag not in ("1", "2"):
        return None
    return ProcurementRequest(head.get("ContractNo", ""), head.get("AgencyCode", ""), head.get("PayeeAcctNo", ""),
                              amount_fen, flag, head.get("VouDate", ""), head.get("AcceptDate", ""))


def check(book: ContractBook, req: ProcurementRequest) -> ProcurementRefusal | None:
    """The first preset rule the request breaks, or None: the treasury may issue the voucher."""
    c = book.contracts.get(req.contract_no)
    if c is None or c.unit != req.unit:
        return ProcurementRefusal("procurement-contract-unknown", "/Voucher/ContractNo",
                                  f"no procurement contract {req.contract_no!r} of unit {req.unit} is on the "
                                  "treasury's books (004 part 4 §11)")
    if req.payee_acct != c.supplier_acct:
        return ProcurementRefusal("procurement-payee-not-supplier", "/Voucher/PayeeAcctNo",
                                  f"PayeeAcctNo {req.payee_acct} is not the account of contract {c.number}'s "
                                  f"supplier {c.supplier_name} ({c.supplier_acct}): a procurement payment goes to "
                                  "the supplier (003 §28)")
    if c.acceptance_required and req.flag == "2":
        return ProcurementRefusal("procurement-before-acceptance", "/Voucher/ProcureFlag",
                                  f"contract {c.number} is paid on acceptance (验收报告, 003 §28); an advance "
                                  "(ProcureFlag 2) before it is not allowed")
    if c.acceptance_required and req.accept_date > req.vou_date:
        return ProcurementRefusal("procurement-before-acceptance", "/Voucher/AcceptDate",
                                  f"AcceptDate {req.accept_date} is after the request's VouDate {req.vou_date}: "
                                  f"contract {c.number} is paid on acceptance, not before (003 §28)")
    issued = book.issued_fen.get(c.number, 0)
    if issued + req.amount_fen > c.amount_fen:
        return ProcurementRefusal("procurement-over-contract", "/Voucher/PayAmt",
                                  f"PayAmt {fen_to_str(req.amount_fen)} with {fen_to_str(issued)} issued before "
                                  f"is more than contract {c.number}'s {fen_to_str(c.amount_fen)} (left: "
                                  f"{fen_to_str(c.amount_fen - issued)})")
    return None


def issue(book: ContractBook, req: ProcurementRequest) -> ProcurementRefusal | None:
    """Check the request and, if it passes, count it against its contract."""
    refused = check(book, req)
    if refused is None:
        book.issued_fen[req.contract_no] = book.issued_fen.get(req.contract_no, 0) + req.amount_fen
    return refused


def give_back(book: ContractBook, contract_no: str, amount_fen: int) -> None:
    """A voucher issued on the contract whose money never left (refused at the gateway, returned
    unpaid by the bank): it no longer counts against the contract."""
    issued = book.issued_fen.get(contract_no, 0)
    if not 0 < amount_fen <= issued:
        raise ValueError(f"contract {contract_no}: giving back {amount_fen} fen of {issued} issued")
    book.issued_fen[contract_no] = issued - amount_fen
