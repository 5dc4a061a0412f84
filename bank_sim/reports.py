"""The bank's reports and statements to the treasury (004 part 3 §10), pure builders.

| VtCode | what                                   | covers                  | due (business_time.clock)          |
|--------|----------------------------------------|-------------------------|------------------------------------|
| 2206   | daily expenditure report (财政支出日报) | one business day        | the next business day (end of it)  |
| 4004   | monthly expenditure report (月报)       | one calendar month      | 2 working days after month end     |
| 3501   | monthly statement for sign-off (对账单) | one calendar month      | 3 working days after month end     |
| 7104   | unit statement + sign-off sheet (单位支出对账单, own code) | one calendar month, one unit | with the 3501       |
| 7103   | credit notice (财政资金直接支付入账通知书, invented code) | one direct payment    | 2 working days after paying        |

The expenditure reports (2206, 4004) count what the central bank cleared that day, less the
refunds (payee returns) it cleared back that day (004 part 5 §2: the daily report is made from
the cleared 划退款凭证, "即财政支出日报"): an advance paid after the cutoff counts on the day its
replenishment is cleared. The statement (3501) counts what was paid in the month less the
month's refunds, to match the treasury's receipts. All are by basic unit, fund type, subject and
project (004 part 3 §10(3) "按基层预算单位,分资金性质、预算科目及项目"): the 2206 by pay type, fund
type, unit, subject and project; the 4004 by pay type, fund type, first-level unit, basic unit, subject
and project; the 3501 by unit, pay type, fund type, subject and project. A refund makes its line
smaller (negative when the payment was in an earlier day or month). A business day with
nothing cleared still gets its nil 2206 (PayAmt 0.00, no DetailList); a month without payments
has no 4004 or 3501 (their XSDs need a Detail). Each basic unit with payments in the month gets
its own statement (7104, by pay type, fund type, subject and project: its lines of the 3501),
through the treasury, whose receipt is the unit's sign-off sheet. The treasury signs the 3501 off with its receipt (XCheckResult 0 agree / 1 disagree,
XCheckDate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from messages.dates import format_ymd
from messages.money import fen_to_str

__all__ = ["Line", "credit_notice", "daily_report", "month_of", "monthly_report", "monthly_statement",
           "unit_statements"]

# (PayTypeCode, FundTypeCode, FundTypeName, SupDepCode, SupDepName, AgencyCode, AgencyName,
#  ExpFuncCode, ExpFuncName, ProCode, ProName, DirectFundFlag): one classification of money paid
#  (ProCode and ProName empty when the payment named no project; DirectFundFlag "1" for direct
#  funds, 直达资金, else empty).
#  A tally line of a division other than the bank's configured one carries that AdmDivCode as a
#  13th part (`bank_sim.reporting.lines_of`): each division's treasury gets its own reports. A
#  line kept before direct funds has 11 parts (read as not direct).
Line = tuple[str, ...]


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def _head(vtcode: str, no: str, today: dt.date, adm_div_code: str, bank: tuple[str, str], total: int) -> dict[str, str]:
    return {"Id": f"V{vtcode}{no}", "AdmDivCode": adm_div_code, "StYear": str(today.year),
            "VouDate": format_ymd(today), "VoucherNo": no, "PayBankCode": bank[0], "PayBankName": bank[1],
            "PayAmt": fen_to_str(total)}


def _direct(head: dict[str, str], lines: Mapping[Line, int]) -> dict[str, str]:
    """`head` with DirectFundAmt (the project's own element) after PayAmt: the direct funds (直达资金,
    001, 002) of `lines`, when any line is direct funds (absent otherwise, which means 0.00)."""
    direct = sum(fen for line, fen in lines.items() if len(line) > _DIRECT_AT and line[_DIRECT_AT])
    if direct or any(len(line) > _DIRECT_AT and line[_DIRECT_AT] for line in lines):
        head["DirectFundAmt"] = fen_to_str(direct)
    return head


def _details(lines: Mapping[Line, int], fields: tuple[tuple[str, int], ...]) -> tuple[dict[str, str], ...]:
    """One Detail per distinct value of `fields` ((element, index in Line), in element order) with the
    fen paid under it as PayAmt, sorted by that value."""
    out: dict[tuple[str, ...], int] = {}
    for line, fen in lines.items():
        k = tuple(line[i] if i < len(line) else "" for _, i in fields)  # a line without its DirectFundFlag: not direct
        out[k] = out.get(k, 0) + fen
    return tuple({"Id": f"D{n:05d}", **{name: k[j] for j, (name, _) in enumerate(fields) if k[j] or name not in _OPTIONAL},
                  "PayAmt": fen_to_str(fen)}
                 for n, (k, fen) in enumerate(sorted(out.items()), start=1))


_OPTIONAL = frozenset({"ProCode", "ProName", "DirectFundFlag"})  # left out of a Detail when empty
_DIRECT_AT = 11  # DirectFundFlag in a Line


_PAY_FUND = (("PayTypeCode", 0), ("FundTypeCode", 1), ("FundTypeName", 2))
_SUBJECT = (("ExpFuncCode", 7), ("ExpFuncName", 8), ("ProCode", 9), ("ProName", 10))  # subject and project
_FLAG = (("DirectFundFlag", _DIRECT_AT),)  # direct funds on lines of their own (2206, 4004, 3501)
_DAILY_BY = (*_PAY_FUND, ("AgencyCode", 5), ("AgencyName", 6), *_SUBJECT, *_FLAG)  # 2206: by basic unit
_MONTHLY_BY = (*_PAY_FUND, ("SupDepCode", 3), ("SupDepName", 4), ("AgencyCode", 5), ("AgencyName", 6),
               *_SUBJECT, *_FLAG)  # 4004: by basic unit (under its first-level unit)
_STATEMENT_BY = (("AgencyCode", 5), ("AgencyName", 6), *_PAY_FUND, *_SUBJECT, *_FLAG)  # 3501: unit first


def daily_report(no: str, day: dt.date, today: dt.date, adm_div_code: str, bank: tuple[str, str],
                 lines: Mapping[Line, int]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    head = _direct({**_head("2206", no, today, adm_div_code, bank, sum(lines.values())), "ReportDate": format_ymd(day)},
                   lines)
    return head, _details(lines, _DAILY_BY)


def monthly_report(no: str, month: str, today: dt.date, adm_div_code: str, bank: tuple[str, str],
                   lines: Mapping[Line, int]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    head = _direct({**_head("4004", no, today, adm_div_code, bank, sum(lines.values())), "ReportMonth": month}, lines)
    return head, _details(lines, _MONTHLY_BY)


def monthly_statement(no: str, month: str, today: dt.date, adm_div_code: str, bank: tuple[str, str],
                      lines: Mapping[Line, int]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    first = dt.date(int(month[:4]), int(month[4:]), 1)
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    head = _direct({**_head("3501", no, today, adm_div_code, bank, sum(lines.values())),
                    "BeginDate": format_ymd(first), "EndDate": format_ymd(last)}, lines)
    return head, _details(lines, _STATEMENT_BY)


def unit_statements(no: str, month: str, today: dt.date, adm_div_code: str, bank: tuple[str, str],
                    lines: Mapping[Line, int]) -> list[tuple[dict[str, str], tuple[dict[str, str], ...]]]:
    """One statement (7104) per basic unit of `lines` (the month's 3501 lines), sorted by unit:
    VoucherNo `no` + the unit's code, cut to the 42 characters a VoucherNo may have."""
    first = dt.date(int(month[:4]), int(month[4:]), 1)
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    units: dict[tuple[str, str], dict[Line, int]] = {}
    for line, fen in lines.items():
        units.setdefault((line[5], line[6]), {})[line] = fen
    out = []
    for (code, name), mine in sorted(units.items()):
        head = {**_head("7104", f"{no}{code}"[:42], today, adm_div_code, bank, sum(mine.values())),
                "BeginDate": format_ymd(first), "EndDate": format_ymd(last), "AgencyCode": code, "AgencyName": name}
        head["PayAmt"] = head.pop("PayAmt")  # after the unit, as the XSD has it
        out.append((head, _details(mine, (*_PAY_FUND, *_SUBJECT))))
    return out


def credit_notice(*, no: str, today: dt.date, adm_div_code: str, bank: tuple[str, str], payment: str,
                  credit: Mapping[str, Any]) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    """The credit notice (7103, 财政资金直接支付入账通知书) of one direct payment: it was credited to the payee on
    `credit["day"]` (yyyyMMdd). `credit` holds the payment's elements (`bank_sim.duties`)."""
    amount = int(credit["amount"])
    head = _head("7103", no, today, adm_div_code, bank, amount)
    head.update({"OriVtCode": "5201", "OriVoucherNo": payment, "OriVouDate": credit["VouDate"],
                 "CreditDate": credit["day"], "FundTypeCode": credit["fund"][0], "FundTypeName": credit["fund"][1],
                 "AgencyCode": credit["AgencyCode"], "AgencyName": credit["AgencyName"],
                 "PayeeAcctNo": credit["PayeeAcctNo"], "PayeeAcctName": credit["PayeeAcctName"],
                 "PayeeAcctBankName": credit["PayeeAcctBankName"], "AgentBusinessNo": credit["serial"]})
    details = tuple({"Id": f"D{i:04d}", "ExpFuncCode": code, "ExpFuncName": name, "PayAmt": amt}
                    for i, (code, name, amt) in enumerate(credit["subjects"], start=1))
    return head, details
