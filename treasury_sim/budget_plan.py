"""A day's plan from the units' payment requests, each checked against its budget indicator.

With `TreasuryConfig.units` set, the treasury plans from a generated unit tree
(`treasury_sim.units`) and its indicators (`treasury_sim.budget`), not from the four fixed units:

* on the first business day of a month, every paying unit's salaries (统发工资, 003 §26): a twelfth
  of its salary indicator, a direct payment at `window_start`, as a batch voucher (一次批量) whose
  lines each name their payee (`PlannedVoucher.payees`);
* `vouchers_per_day` requests, each from a paying unit against one of its project indicators,
  direct or authorized, in the window or late as in the plain plan; amounts log-normal around
  8,000 yuan (many small, a few large);
* `budget_anomaly_permille` of them ask for what the budget does not allow: a fund type the unit
  has no indicator of, a project outside its budget, or more than the indicator has left;
* every voucher pays from its bank's registered zero-balance account (the finance one for a
  direct payment, the unit's for an authorized one), and every `SPECIAL_EVERY`-th request that is
  a direct payment pays into the bank's fiscal special account (`treasury_sim.unit_accounts`).

Every request goes through `BudgetBook.take`: approved ones become the day's vouchers (their
subject, project and fund type on every detail), refused ones are kept with their code (003 §52)
and never sent. Pure and seeded: the same day's plan from the same seed and the same days planned
before it (the indicators' balances carry from day to day, so days are planned in order).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from messages.dates import format_ymd
from treasury_sim import unit_accounts as ua
from treasury_sim.budget import PAYMENT_MAX_FEN, BudgetBook, Indicator, RefusedRequest, Request, lognormal_fen
from treasury_sim.config import TreasuryConfig
from treasury_sim.planning import direct_draw, quota_notices, slots
from treasury_sim.records import DayPlan, PlannedVoucher
from treasury_sim.units import FUND_TYPES, BudgetUnit, UnitTree

__all__ = ["REQUEST_MEDIAN_FEN", "SALARY_LINES_MIN", "SALARY_LINES_SPREAD", "Budgeting", "first_business_day", "plan_budget_day"]

REQUEST_MEDIAN_FEN = 8_000_00
# A unit's salaries go as one batch voucher (一次批量, 003 §26) of this many lines, each to its own
# payee: SALARY_LINES_MIN + k % SALARY_LINES_SPREAD for the k-th paying unit (no draw: the plan's
# generator, and so every other voucher of the day, stays as it was).
SALARY_LINES_MIN, SALARY_LINES_SPREAD = 3, 4


@dataclass(slots=True)
class Budgeting:
    """The units and their indicators as the planner looks them up (built once per run)."""

    tree: UnitTree
    book: BudgetBook  # what each indicator has left: carried from day to day
    paying: tuple[BudgetUnit, ...] = ()
    named: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # AgencyCode → as a voucher names it
    salaries: dict[str, Indicator] = field(default_factory=dict)  # AgencyCode → its salary indicator
    projects: dict[str, list[Indicator]] = field(default_factory=dict)  # AgencyCode → its project indicators

    @classmethod
    def of(cls, tree: UnitTree, indicators: tuple[Indicator, ...]) -> Budgeting:
        units = tree.by_code()
        out = cls(tree, BudgetBook.of(indicators), tree.paying())
        for u in out.paying:
            first = units[u.first]
            out.named[u.code] = (first.code, first.name, u.code, u.name)
        for ind in indicators:
            if ind.salary:
                out.salaries[ind.unit] = ind
            else:
                out.projects.setdefault(ind.unit, []).append(ind)
        return out


def plan_budget_day(config: TreasuryConfig, clock_config: ClockConfig, day: dt.date, budgeting: Budgeting,
                    salary_day: bool) -> DayPlan:
    c, b = config, budgeting
    book, paying, salaries, projects = b.book, b.paying, b.salaries, b.projects
    rng = random.Random(f"{c.seed}:{day.isoformat()}:budget")
    regular = slots(day, c.window_start, c.window_end, c.slot_minutes)
    late_slots = slots(day, clock_config.clearing_cutoff, c.late_end, c.slot_minutes)
    vouchers: list[PlannedVoucher] = []
    refused: list[RefusedRequest] = []
    ymd = format_ymd(day)

    def decide(request: Request, vtcode: str, bank: str, send_at: dt.datetime, late: bool, details: int,
               payees: int = 0, special: bool = False) -> None:
        code = book.take(request)
        if code is not None:
            refused.append(RefusedRequest(request, code, send_at))
            return
        pay_acct = ua.finance_zba(bank) if vtcode == "5201" else ua.unit_zba(bank, request.unit)
        vouchers.append(PlannedVoucher(day, send_at, vtcode, request.no, bank, request.amount_fen,
                                       b.named[request.unit], late, details, c.adm_div_code, c.seed,
                                       fund_type=request.fund_type, subject=request.subject, project=request.project,
                                       payees=payees, direct=vtcode == "5201" and not payees
                                       and direct_draw(c.seed, request.no) < c.direct_share_pct, pay_acct=pay_acct,
                                       payee=(ua.special_account(bank), ua.SPECIAL_NAME) if special else None))

    if salary_day:
        for k, unit in enumerate(paying, start=1):
            salary = salaries.get(unit.code)
            if salary is not None:
                request = Request(f"GZ{ymd}{k:05d}", unit.code, salary.fund_type, salary.subject, salary.project,
                                  salary.amount_fen // 12, salary=True)
                lines = SALARY_LINES_MIN + k % SALARY_LINES_SPREAD
                decide(request, "5201", rng.choice(c.banks)[0], at(day, c.window_start), False, lines, payees=lines)
    for i in range(1, c.vouchers_per_day + 1):
        bank = rng.choice(c.banks)[0]
        vtcode = "8202" if rng.randrange(100) < c.authorized_share_pct else "5201"
        late = rng.randrange(100) < c.late_share_pct
        send_at = rng.choice(late_slots if late else regular)
        unit = rng.choice(paying)
        indicator = rng.choice(projects[unit.code])
        amount = lognormal_fen(rng, REQUEST_MEDIAN_FEN, 1.3, c.amount_min_fen, PAYMENT_MAX_FEN)
        fund, subject, project = indicator.fund_type, indicator.subject, indicator.project
        if rng.randrange(1000) < c.budget_anomaly_permille:
            kind = rng.randrange(3)
            others = [code for code, _ in FUND_TYPES if code not in book.funds.get(unit.code, ())]
            if kind == 0 and others:  # a fund type it has no budget of
                fund = rng.choice(others)
            elif kind == 2:  # more than the indicator has left
                amount += book.left(indicator.key)
            else:  # a project outside its budget
                project = (f"XM{unit.code}99", "预算外项目")
        no = f"{'ZZ' if vtcode == '5201' else 'SQ'}{ymd}{i:05d}"
        decide(Request(no, unit.code, fund, subject, project, amount), vtcode, bank, send_at, late,
               rng.randint(1, 3), special=ua.pays_special(i, vtcode))
    vouchers.sort(key=lambda v: (v.send_at, v.voucher_no))
    return DayPlan(vouchers, quota_notices(config, day, vouchers), refused=refused)


def first_business_day(day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """The first business day of `day`'s month: salaries are paid then."""
    first = day.replace(day=1)
    while not calendar.is_business_day(first):
        first += dt.timedelta(days=1)
    return first
