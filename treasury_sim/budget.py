"""Budget indicators (预算指标) and the treasury's check of a payment request against them.

003 §6: "先有预算、再有指标、后有支出": money is paid only against a budget indicator, by unit, fund
type, budget subject (ExpFuncCode) and project (ProCode). 003 §52: the finance department refuses
a request with no budget or over budget (一) or that widens the scope of its budget (二). The
refusal codes (registered in `messages.errors`):

| code                  | when                                                                   | 003     |
|-----------------------|------------------------------------------------------------------------|---------|
| `budget-none`         | the unit has no indicator of that fund type at all                     | §52(一) 无预算 |
| `budget-out-of-scope` | it has indicators of that fund type, none for that subject and project | §52(二) 自行扩大预算支出范围 |
| `budget-exceeded`     | the indicator is there, but less of it is left than the request asks   | §52(一) 超预算 |

`BudgetBook` keeps what each indicator has left; `take(request)` spends it or says why not.

**Cross-year refund lines (跨年度退款指标, 003 §36).** A refund of an earlier year's payment is booked
as a line of the unit, `<AgencyCode>/<year paid>` (`treasury_sim.bank_reports`); the unit pays from
it by naming it as project `KN<year><AgencyCode>` (`cross_year_line`). What the treasury grants
(7101) or pays (8202) from a line is bounded by what the line holds, its refunds booked less the
payments already sent from it: beyond it the treasury refuses (`budget-cross-year-exceeded`,
`cross_year_refusal`) and sends nothing. A payment sent consumes the line.
`generate_budget(tree, seed)`: a salary indicator for every paying unit (general budget, 行政运行)
and one to three project indicators, mostly general budget, some of the other fund types;
amounts log-normal (many small, a few large). Pure and seeded.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from messages.money import fen_to_str, parse_fen
from treasury_sim.units import FUND_TYPES, UnitTree

__all__ = ["BUDGET_REFUSALS", "CROSS_YEAR_REFUSAL", "PAYMENT_MAX_FEN", "SALARY_SUBJECT", "SUBJECTS", "BudgetBook",
           "Indicator", "RefusedRequest", "Request", "cross_year_draws", "cross_year_line", "cross_year_refusal",
           "generate_budget", "indicator_key", "lognormal_fen"]

BUDGET_REFUSALS = ("budget-none", "budget-out-of-scope", "budget-exceeded")
CROSS_YEAR_REFUSAL = "budget-cross-year-exceeded"
SALARY_SUBJECT = ("2010101", "行政运行")
# (ExpFuncCode, ExpFuncName) of project indicators: functional classification subjects
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("2050203", "初中教育"), ("2100201", "综合医院"), ("2140104", "公路建设"), ("2080501", "行政单位离退休"),
    ("2120501", "城乡社区环境卫生"), ("2130101", "农业农村行政运行"), ("2070101", "文化和旅游行政运行"))
_FUND_WEIGHTS = (70, 12, 5, 8, 5)  # general budget mostly (FUND_TYPES order)
# One payment's ceiling (a unit's month of salaries, a big procurement): under the gateway's
# large-single-payment review (gateway/monitoring/rules.yaml, 1,000,000.00 yuan), so a generated
# run pays without a treasury officer releasing held payments.
PAYMENT_MAX_FEN = 900_000_00


def indicator_key(unit: str, fund_type: str, subject: str, project: str) -> str:
    return f"{unit}/{fund_type}/{subject}/{project}"


class Indicator(msgspec.Struct, frozen=True):
    no: str  # the indicator's number
    unit: str  # AgencyCode
    fund_type: str  # FundTypeCode
    subject: tuple[str, str]  # (ExpFuncCode, ExpFuncName)
    project: tuple[str, str]  # (ProCode, ProName)
    amount_fen: int  # the year's budget
    salary: bool = False  # the unit's salaries (统发工资, 003 §26)

    @property
    def key(self) -> str:
        return indicator_key(self.unit, self.fund_type, self.subject[0], self.project[0])


class Request(msgspec.Struct, frozen=True):
    """A unit's payment request (支付申请): what it asks to pay, against which budget line."""

    no: str
    unit: str
    fund_type: str
    subject: tuple[str, str]
    project: tuple[str, str]
    amount_fen: int
    salary: bool = False

    @property
    def key(self) -> str:
        return indicator_key(self.unit, self.fund_type, self.subject[0], self.project[0])


class RefusedRequest(msgspec.Struct, frozen=True):
    """A request the treasury refused (never a voucher): why (a `BUDGET_REFUSALS` code) and when."""

    request: Request
    code: str
    at: dt.datetime


@dataclass(slots=True)
class BudgetBook:
    """The indicators and what each has left (running, per indicator)."""

    indicators: dict[str, Indicator] = field(default_factory=dict)  # key → indicator
    spent: dict[str, int] = field(default_factory=dict)  # key → fen approved against it
    funds: dict[str, set[str]] = field(default_factory=dict)  # unit → its fund types with an indicator
    touched: list[str] = field(default_factory=list)  # keys spent from by the input being handled

    @classmethod
    def of(cls, indicators: tuple[Indicator, ...]) -> BudgetBook:
        book = cls()
        for i in indicators:
            if i.key in book.indicators:
                raise ValueError(f"indicator {i.key} twice")
            book.indicators[i.key] = i
            book.funds.setdefault(i.unit, set()).add(i.fund_type)
        return book

    def left(self, key: str) -> int:
        indicator = self.indicators.get(key)
        return 0 if indicator is None else indicator.amount_fen - self.spent.get(key, 0)

    def check(self, request: Request) -> str | None:
        """Why the request is refused (a `BUDGET_REFUSALS` code), or None: within its indicator."""
        if request.fund_type not in self.funds.get(request.unit, ()):
            return "budget-none"
        if request.key not in self.indicators:
            return "budget-out-of-scope"
        if request.amount_fen > self.left(request.key):
            return "budget-exceeded"
        return None

    def take(self, request: Request) -> str | None:
        """Approve the request (its amount spent from the indicator) or say why not."""
        refusal = self.check(request)
        if refusal is None:
            self.spent[request.key] = self.spent.get(request.key, 0) + request.amount_fen
            self.touched.append(request.key)
        return refusal


def cross_year_line(agency: str, pro_code: str) -> str | None:
    """The cross-year refund line a detail's ProCode names (`KN<year><AgencyCode>` →
    `<AgencyCode>/<year>`), or None: not a cross-year line of that unit."""
    year = pro_code[2:6]
    if agency and pro_code == f"KN{year}{agency}" and year.isdigit():
        return f"{agency}/{year}"
    return None


def cross_year_draws(agency: str, details: Iterable[Mapping[str, str]]) -> dict[str, int]:
    """What a 7101's or 8202's details ask of cross-year refund lines: line → fen (empty: none)."""
    out: dict[str, int] = {}
    for d in details:
        line = cross_year_line(d.get("AgencyCode") or agency, d.get("ProCode") or "")
        if line is not None:
            out[line] = out.get(line, 0) + parse_fen(d.get("PayAmt") or "0.00")
    return out


def cross_year_refusal(booked: Mapping[str, int], paid: Mapping[str, int], draws: Mapping[str, int]) -> str | None:
    """Why the treasury refuses to grant or pay `draws` from cross-year refund lines that hold
    `booked` less `paid` (a message naming the first line short), or None: within every line."""
    for line, fen in sorted(draws.items()):
        left = booked.get(line, 0) - paid.get(line, 0)
        if fen > left:
            return (f"the cross-year refund line {line} (ProCode KN{line[line.index('/') + 1:]}"
                    f"{line[:line.index('/')]}) holds {fen_to_str(max(left, 0))}, the voucher asks {fen_to_str(fen)}")
    return None


def lognormal_fen(rng: random.Random, median_fen: int, sigma: float, low: int, high: int) -> int:
    """An amount in whole yuan (fen multiple of 100) drawn log-normal around `median_fen`,
    clipped to low..high: many small, a few large."""
    fen = int(median_fen * rng.lognormvariate(0.0, sigma)) // 100 * 100
    return max(low, min(high, fen))


def generate_budget(tree: UnitTree, seed: int) -> tuple[Indicator, ...]:
    """The year's indicators of every paying unit: its salaries and one to three projects."""
    rng = random.Random(f"budget:{seed}:{len(tree.units)}")
    out: list[Indicator] = []
    for unit in tree.paying():
        monthly = lognormal_fen(rng, 150_000_00, 0.9, 20_000_00, PAYMENT_MAX_FEN)
        out.append(Indicator(f"ZB{unit.code}GZ", unit.code, "1", SALARY_SUBJECT, (f"GZ{unit.code}", "人员工资"),
                             monthly * 12, salary=True))
        for n in range(1, rng.randint(1, 3) + 1):
            fund = rng.choices([code for code, _ in FUND_TYPES], weights=_FUND_WEIGHTS)[0]
            subject = rng.choice(SUBJECTS)
            out.append(Indicator(f"ZB{unit.code}XM{n:02d}", unit.code, fund, subject,
                                 (f"XM{unit.code}{n:02d}", f"{unit.name}项目{n}"),
                                 lognormal_fen(rng, 500_000_00, 1.2, 50_000_00, 500_000_000_00)))
    return tuple(out)
