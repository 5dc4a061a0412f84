"""Synthetic vouchers for tests, demos and benchmarks. Every name, code and account is invented.

Deterministic given a `random.Random`: the same seed yields the same vouchers, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Sequence

from messages.dates import format_ymd
from messages.fund_types import fund_type_name
from messages.money import fen_to_str
from messages.voucher import build_voucher

__all__ = ["ADM_DIV_CODE", "CLEAR_BANK_CODE", "CLEAR_BANK_NAME", "DEFAULT_PROJECT", "SALARY_SUBJECT", "SUBJECTS", "UNITS", "URGENT_APPROVAL", "BatchPayee",
           "authorized_quota_notice", "batch_voucher", "correction_notice", "payment_voucher", "payment_voucher_fields",
           "quota_notice", "split_fen", "year_end_notice"]

# The synthetic region and the central bank branch (its treasury) that clears for it: what the
# vouchers here and the simulators' configurations (bank_sim, pboc_sim) default to.
ADM_DIV_CODE = "990100"  # not a real region
CLEAR_BANK_CODE = "999000000001"
CLEAR_BANK_NAME = "示例人民银行示例市分行国库"
# (SupDepCode, SupDepName, AgencyCode, AgencyName): a small synthetic budget-unit tree.
UNITS: tuple[tuple[str, str, str, str], ...] = (
    ("101", "示例市教育局", "101001", "示例市第一中学"),
    ("101", "示例市教育局", "101002", "示例市实验小学"),
    ("102", "示例市卫生健康委员会", "102001", "示例市人民医院"),
    ("103", "示例市交通运输局", "103001", "示例市公路养护中心"),
)
_SUBJECTS = (("2050203", "初中教育", "30201", "办公费"), ("2100201", "综合医院", "30213", "维修（护）费"),
             ("2140104", "公路建设", "31002", "办公设备购置"))
# (ExpFuncCode, ExpFuncName): the budget subjects payment vouchers are drawn from.
SUBJECTS: tuple[tuple[str, str], ...] = tuple((f, n) for f, n, _, _ in _SUBJECTS)
# (ProCode, ProName): the project of a quota line when none is named (a payment detail without
# ProCode draws on any project of its subject).
DEFAULT_PROJECT = ("99010026A0000", "示例通用项目")
# The approval of a special urgent payment (5201, 004 part 3 §8(6)): synthetic references.
URGENT_APPROVAL: dict[str, str] = {"UrgentSupDepApproval": "示教认〔2026〕1号", "UrgentGovApproval": "示府批〔2026〕1号"}


def split_fen(total_fen: int, parts: int, rng: random.Random) -> list[int]:
    """Split an amount into `parts` positive fen amounts that add up exactly."""
    if parts < 1 or total_fen < parts:
        raise ValueError("need at least one fen per part")
    cuts = sorted(rng.sample(range(1, total_fen), parts - 1)) if parts > 1 else []
    edges = [0, *cuts, total_fen]
    return [b - a for a, b in itertools.pairwise(edges)]


def payment_voucher(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, amount_fen: int,
                    adm_div_code: str = ADM_DIV_CODE, vtcode: str = "5201", details: int = 2,
                    rng: random.Random | None = None, encoding: str = "UTF-8",
                    fund_type_code: str = "1", subject: tuple[str, str] | None = None,
                    project: tuple[str, str] | None = None, urgent: bool = False,
                    unit: tuple[str, str, str, str] | None = None, direct: bool = False, pay_acct: str = "",
                    payee: tuple[str, str] | None = None) -> bytes:
    """A direct (5201, PayTypeCode 11) or authorized (8202, 12) payment voucher. `subject`
    (ExpFuncCode, ExpFuncName) / `project` (ProCode, ProName): every detail's, instead of drawn
    ones / none; `urgent`: UrgentFlag 1 (特别紧急) with its approval (`URGENT_APPROVAL`); `unit`: the budget unit (one of `UNITS`), instead of
    the first draw; `direct`: every detail marked DirectFundFlag 1 (direct funds, 直达资金, the
    project's own element); `pay_acct`: the paying zero-balance account (PayAcctNo) and `payee`
    (PayeeAcctNo, PayeeAcctName), instead of drawn ones (drawn all the same, so the rest stays as it
    was). Without them the bytes are as before."""
    head, lines = payment_voucher_fields(voucher_no=voucher_no, vou_date=vou_date, pay_bank_code=pay_bank_code,
                                         amount_fen=amount_fen, adm_div_code=adm_div_code, vtcode=vtcode,
                                         details=details, rng=rng, fund_type_code=fund_type_code, subject=subject,
                                         project=project, urgent=urgent, unit=unit, direct=direct,
                                         pay_acct=pay_acct, payee=payee)
    return build_voucher(vtcode, head, lines, encoding=encoding)


def payment_voucher_fields(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, amount_fen: int,
                           adm_div_code: str = ADM_DIV_CODE, vtcode: str = "5201", details: int = 2,
                           rng: random.Random | None = None, fund_type_code: str = "1",
                           subject: tuple[str, str] | None = None, project: tuple[str, str] | None = None,
                           urgent: bool = False, unit: tuple[str, str, str, str] | None = None,
                           direct: bool = False, pay_acct: str = "",
                           payee: tuple[str, str] | None = None) -> tuple[dict[str, str], list[dict[str, str]]]:
    """`payment_voucher`'s head and Detail lines (the same draws), before they are rendered: for a
    caller that needs the fields, not the bytes."""
    rng = rng or random.Random(voucher_no)
    sup_code, sup_name, agency_code, agency_name = unit if unit is not None else rng.choice(UNITS)
    amounts = split_fen(amount_fen, min(details, amount_fen), rng)
    head = {
        "Id": f"V{vtcode}{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "FundTypeCode": fund_type_code,
        "FundTypeName": fund_type_name(fund_type_code), "PayTypeCode": "11" if vtcode == "5201" else "12",
        "SupDepCode": sup_code, "SupDepName": sup_name, "AgencyCode": agency_code, "AgencyName": agency_name,
        "PayeeAcctNo": f"9999{rng.randrange(10**12):012d}", "PayeeAcctName": "测试供应商有限公司",
        "PayeeAcctBankName": "示例银行城东支行", "PayeeAcctBankNo": "999100000027",
        "PayAcctNo": f"999{rng.randrange(10**13):013d}", "PayAcctName": f"{agency_name}零余额账户",
        "PayAcctBankName": "示例银行示例市分行", "PayBankCode": pay_bank_code, "PayBankName": "示例银行示例市分行",
        "PaySummaryCode": "01", "PaySummaryName": "办公用品采购", **({"UrgentFlag": "1"} if urgent else {}),
        **(URGENT_APPROVAL if urgent and vtcode == "5201" else {}),
        "PayAmt": fen_to_str(amount_fen),
    }
    if pay_acct:
        head["PayAcctNo"] = pay_acct
    if payee is not None:
        head["PayeeAcctNo"], head["PayeeAcctName"] = payee
    lines = []
    for index, fen in enumerate(amounts, start=1):
        func, func_name, eco, eco_name = rng.choice(_SUBJECTS)
        if subject is not None:
            func, func_name = subject
        lines.append({"Id": f"D{index:04d}", "VoucherBillId": head["Id"], "AgencyCode": agency_code,
                      "AgencyName": agency_name, "ExpFuncCode": func, "ExpFuncName": func_name,
                      "ExpEcoCode": eco, "ExpEcoName": eco_name,
                      **({"ProCode": project[0], "ProName": project[1]} if project else {}),
                      **({"DirectFundFlag": "1"} if direct else {}), "PayAmt": fen_to_str(fen)})
    return head, lines


# (ExpFuncCode, ExpFuncName, ExpEcoCode, ExpEcoName) of a salary line: 行政运行 / 基本工资.
SALARY_SUBJECT = ("2010101", "行政运行", "30101", "基本工资")
# (PayeeAcctNo, PayeeAcctName, PayeeAcctBankName, PayeeAcctBankNo, fen): one line of a batch.
BatchPayee = tuple[str, str, str, str, int]


def batch_voucher(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, payees: Sequence[BatchPayee],
                  adm_div_code: str = ADM_DIV_CODE, unit: tuple[str, str, str, str] | None = None,
                  subject: tuple[str, str, str, str] = SALARY_SUBJECT, summary: tuple[str, str] = ("02", "统发工资"),
                  fund_type_code: str = "1", pay_acct: str = "") -> bytes:
    """A batch direct payment voucher (5201, 一次批量; 003 §26): one Detail per payee, each naming
    its payee (the project's own detail elements), PayAmt their sum. The head's payee stands for
    the batch (批量代发)."""
    sup_code, sup_name, agency_code, agency_name = unit if unit is not None else UNITS[0]
    rng = random.Random(voucher_no)
    total = sum(p[4] for p in payees)
    head = {
        "Id": f"V5201{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "FundTypeCode": fund_type_code,
        "FundTypeName": "一般公共预算资金", "PayTypeCode": "11", "SupDepCode": sup_code, "SupDepName": sup_name,
        "AgencyCode": agency_code, "AgencyName": agency_name, "PayeeAcctNo": f"9998{rng.randrange(10**12):012d}",
        "PayeeAcctName": f"{agency_name}批量代发", "PayeeAcctBankName": "示例银行示例市分行",
        "PayAcctNo": f"999{rng.randrange(10**13):013d}", "PayAcctName": f"{agency_name}零余额账户",
        "PayAcctBankName": "示例银行示例市分行", "PayBankCode": pay_bank_code, "PayBankName": "示例银行示例市分行",
        "PaySummaryCode": summary[0], "PaySummaryName": summary[1], "PayAmt": fen_to_str(total),
    }
    if pay_acct:  # the paying zero-balance account, instead of the drawn one
        head["PayAcctNo"] = pay_acct
    func, func_name, eco, eco_name = subject
    lines = [{"Id": f"D{i:04d}", "VoucherBillId": head["Id"], "AgencyCode": agency_code, "AgencyName": agency_name,
              "ExpFuncCode": func, "ExpFuncName": func_name, "ExpEcoCode": eco, "ExpEcoName": eco_name,
              "PayeeAcctNo": acct, "PayeeAcctName": name, "PayeeAcctBankName": bank_name,
              **({"PayeeAcctBankNo": bank_no} if bank_no else {}), "PayAmt": fen_to_str(fen)}
             for i, (acct, name, bank_name, bank_no, fen) in enumerate(payees, start=1)]
    return build_voucher("5201", head, lines)


def quota_notice(*, voucher_no: str, clear_date: dt.date, pay_bank_code: str,
                 amounts_by_unit: Sequence[tuple[str, str, int]], adm_div_code: str = ADM_DIV_CODE,
                 vtcode: str = "5108", fund_type_code: str = "1") -> bytes:
    """A clearing quota notice (5108 direct / 5106 authorized) with one detail per first-level unit."""
    total = sum(a for _, _, a in amounts_by_unit)
    head = {
        "Id": f"V{vtcode}{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(clear_date.year),
        "VouDate": format_ymd(clear_date), "VoucherNo": voucher_no,
        "PayTypeCode": "11" if vtcode == "5108" else "12", "FundTypeCode": fund_type_code,
        "FundTypeName": fund_type_name(fund_type_code), "PayBankCode": pay_bank_code, "PayBankName": "示例银行示例市分行",
        "ClearBankCode": CLEAR_BANK_CODE, "ClearBankName": CLEAR_BANK_NAME,
        "ClearDate": format_ymd(clear_date), "PayAmt": fen_to_str(total),
    }
    lines = [{"Id": f"D{i:04d}", "SupDepCode": code, "SupDepName": name, "PayAmt": fen_to_str(fen)}
             for i, (code, name, fen) in enumerate(amounts_by_unit, start=1)]
    return build_voucher(vtcode, head, lines)


def authorized_quota_notice(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str,
                            lines: Sequence[tuple[str, str, str, str, str, str, int]],
                            adm_div_code: str = ADM_DIV_CODE, fund_type_code: str = "1") -> bytes:
    """An authorized quota notice (7101, PayTypeCode 12): one detail per line (AgencyCode, AgencyName,
    ExpFuncCode, ExpFuncName, ProCode, ProName, fen)."""
    total = sum(line[6] for line in lines)
    head = {
        "Id": f"V7101{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "FundTypeCode": fund_type_code,
        "FundTypeName": fund_type_name(fund_type_code), "PayTypeCode": "12", "PayBankCode": pay_bank_code,
        "PayBankName": "示例银行示例市分行", "QuotaMonth": f"{vou_date:%Y%m}", "PayAmt": fen_to_str(total),
    }
    details = [{"Id": f"D{i:04d}", "AgencyCode": agency, "AgencyName": agency_name, "ExpFuncCode": func,
                "ExpFuncName": func_name, "ProCode": pro, "ProName": pro_name, "PayAmt": fen_to_str(fen)}
               for i, (agency, agency_name, func, func_name, pro, pro_name, fen) in enumerate(lines, start=1)]
    return build_voucher("7101", head, details)


def year_end_notice(*, vtcode: str, voucher_no: str, vou_date: dt.date, pay_bank_code: str, pay_bank_name: str,
                    lines: Sequence[tuple[str, str, str, str, str, str, int]], adm_div_code: str = ADM_DIV_CODE,
                    fund_type_code: str = "1") -> bytes:
    """A year-end cancellation (7301, CancelDate) or carry-forward (7302, ToYear the next year) notice
    of the authorized quota of year `vou_date.year` (PayTypeCode 12): one detail per line (AgencyCode,
    AgencyName, ExpFuncCode, ExpFuncName, ProCode, ProName, fen > 0)."""
    if vtcode not in ("7301", "7302"):
        raise ValueError(f"a year-end notice is a 7301 or a 7302, not {vtcode}")
    head = {
        "Id": f"V{vtcode}{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "PayTypeCode": "12",
        "FundTypeCode": fund_type_code, "FundTypeName": fund_type_name(fund_type_code),
        "PayBankCode": pay_bank_code, "PayBankName": pay_bank_name,
        **({"CancelDate": format_ymd(vou_date)} if vtcode == "7301" else {"ToYear": str(vou_date.year + 1)}),
        "PayAmt": fen_to_str(sum(line[6] for line in lines)),
    }
    details = [{"Id": f"D{i:04d}", "AgencyCode": agency, "AgencyName": agency_name, "ExpFuncCode": func,
                "ExpFuncName": func_name, "ProCode": pro, "ProName": pro_name, "PayAmt": fen_to_str(fen)}
               for i, (agency, agency_name, func, func_name, pro, pro_name, fen) in enumerate(lines, start=1)]
    return build_voucher(vtcode, head, details)


def quota_reduction_notice(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str,
                           lines: Sequence[tuple[str, str, str, str, str, str, int]],
                           adm_div_code: str = ADM_DIV_CODE, fund_type_code: str = "1") -> bytes:
    """A quota reduction notice (7106, 额度追减, 003 §22, PayTypeCode 12): one detail per line taken
    off (AgencyCode, AgencyName, ExpFuncCode, ExpFuncName, ProCode, ProName, fen > 0)."""
    head = {
        "Id": f"V7106{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "PayTypeCode": "12",
        "FundTypeCode": fund_type_code, "FundTypeName": fund_type_name(fund_type_code),
        "PayBankCode": pay_bank_code, "PayBankName": "示例银行示例市分行", "ReduceDate": format_ymd(vou_date),
        "PayAmt": fen_to_str(sum(line[6] for line in lines)),
    }
    details = [{"Id": f"D{i:04d}", "AgencyCode": agency, "AgencyName": agency_name, "ExpFuncCode": func,
                "ExpFuncName": func_name, "ProCode": pro, "ProName": pro_name, "PayAmt": fen_to_str(fen)}
               for i, (agency, agency_name, func, func_name, pro, pro_name, fen) in enumerate(lines, start=1)]
    return build_voucher("7106", head, details)


def correction_notice(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, ori_vtcode: str,
                      ori_voucher_no: str, ori_vou_date: dt.date, agency: tuple[str, str],
                      moves: Sequence[tuple[str, str, str, str, int]], adm_div_code: str = ADM_DIV_CODE,
                      fund_type_code: str = "1", pay_amt_fen: int | None = None) -> bytes:
    """A payment correction notice (5253, 支付更正通知书, 004 part 5 §3-4): one detail per part moved
    (OriExpFuncCode, OriExpFuncName, ExpFuncCode, ExpFuncName, fen); PayAmt their sum unless given."""
    head = {
        "Id": f"V5253{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "OriVtCode": ori_vtcode,
        "OriVoucherNo": ori_voucher_no, "OriVouDate": format_ymd(ori_vou_date),
        "PayTypeCode": "11" if ori_vtcode == "5201" else "12", "FundTypeCode": fund_type_code,
        "FundTypeName": fund_type_name(fund_type_code), "AgencyCode": agency[0], "AgencyName": agency[1],
        "PayBankCode": pay_bank_code, "PayBankName": "示例银行示例市分行", "CorrectReason": "功能科目录入错误",
        "PayAmt": fen_to_str(sum(m[4] for m in moves) if pay_amt_fen is None else pay_amt_fen),
    }
    details = [{"Id": f"D{i:04d}", "OriExpFuncCode": ori, "OriExpFuncName": ori_name, "OriExpEcoCode": "30201",
                "OriExpEcoName": "办公费", "ExpFuncCode": func, "ExpFuncName": func_name, "ExpEcoCode": "30201",
                "ExpEcoName": "办公费", "PayAmt": fen_to_str(fen)}
               for i, (ori, ori_name, func, func_name, fen) in enumerate(moves, start=1)]
    return build_voucher("5253", head, details)


def suspension_order(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, order_no: str,
                     scope: tuple[str, str], reason: str, lift: bool = False,
                     adm_div_code: str = ADM_DIV_CODE) -> bytes:
    """A payment suspension order (7501, SuspendAction 1) or its lift (2), 000 五(二)3. `scope`:
    (AgencyCode | PayAcctNo | PayeeAcctNo, value); a lift repeats its order's scope."""
    head = {
        "Id": f"V7501{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "PayBankCode": pay_bank_code,
        "PayBankName": "示例银行示例市分行", "SuspendAction": "2" if lift else "1", "OrderNo": order_no,
        scope[0]: scope[1], "Reason": reason,
    }
    return build_voucher("7501", head)


def account_notice(*, voucher_no: str, vou_date: dt.date, pay_bank_code: str, action: str, acct_type: str,
                   acct_no: str, acct_name: str, agency: str = "", sup_dep: str = "", old_acct_no: str = "", approve_no: str = "",
                   file_no: str = "", adm_div_code: str = ADM_DIV_CODE) -> bytes:
    """An account opening (AcctAction 1), change (2) or closure (3) notice (7601; 004 part 3 §9(1)).
    `acct_type`: 1 finance zero-balance, 2 unit zero-balance, 3 unit real-fund, 4 fiscal special."""
    head = {
        "Id": f"V7601{voucher_no}", "AdmDivCode": adm_div_code, "StYear": str(vou_date.year),
        "VouDate": format_ymd(vou_date), "VoucherNo": voucher_no, "PayBankCode": pay_bank_code,
        "PayBankName": "示例银行示例市分行", "AcctAction": action, "AcctType": acct_type, "AcctNo": acct_no,
        "AcctName": acct_name, **({"AgencyCode": agency} if agency else {}), **({"SupDepCode": sup_dep} if sup_dep else {}),
        **({"OldAcctNo": old_acct_no} if old_acct_no else {}), **({"ApproveNo": approve_no} if approve_no else {}),
        **({"FileNo": file_no} if file_no else {}),
    }
    return build_voucher("7601", head)
