"""Budget units and money (issue 17): a unit tree and indicators generated from a seed and a size,
and the treasury refusing a request with no budget, outside its scope or over budget (003 §6, §52)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.errors import CODES
from messages.money import parse_fen
from sim.books import BooksError
from sim.effects import SendVoucher, WakeAt
from treasury_sim.budget import BUDGET_REFUSALS, BudgetBook, Indicator, Request, generate_budget
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.units import FUND_TYPES, UnitTree, generate_tree, tree_problems

CALENDAR, CC = BusinessCalendar.default(), ClockConfig()
MONDAY = dt.date(2026, 3, 2)  # the first business day of March 2026


def run(core: TreasuryCore) -> list[SendVoucher]:
    now, sends = dt.datetime.combine(core.days[0], dt.time(8), tzinfo=TZ), []
    while True:
        effects = core.on_time(now)
        sends += [e for e in effects if isinstance(e, SendVoucher)]
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            return sends
        now = wakes[-1]


def budget_core(**kw: object) -> TreasuryCore:
    config = TreasuryConfig(**{"units": 40, "vouchers_per_day": 40, "days": 2, "first_day": MONDAY, **kw})  # type: ignore[arg-type]
    return TreasuryCore(config, CALENDAR, CC)


# ------------------------------------------------------------------ the tree and the indicators


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), size=st.integers(2, 3000))
def test_the_tree_is_well_formed_exactly_its_size_and_the_same_per_seed(seed: int, size: int) -> None:
    tree = generate_tree(seed, size)
    assert len(tree.units) == size and tree_problems(tree) == []
    assert generate_tree(seed, size) == tree
    assert any(u.level == "first" for u in tree.units) and tree.paying()
    indicators = generate_budget(tree, seed)
    assert indicators == generate_budget(tree, seed)
    for unit in tree.paying():  # every paying unit: its salaries and one to three projects
        mine = [i for i in indicators if i.unit == unit.code]
        assert sum(i.salary for i in mine) == 1 and 2 <= len(mine) <= 4
    assert {i.fund_type for i in indicators} <= {code for code, _ in FUND_TYPES}
    assert len({i.key for i in indicators}) == len(indicators) and all(i.amount_fen > 0 for i in indicators)


def test_another_seed_gives_another_tree_and_the_largest_size_is_quick_enough() -> None:
    assert generate_tree(1, 200) != generate_tree(2, 200)
    assert tree_problems(generate_tree(7, 20_000)) == []
    with pytest.raises(ValueError, match=r"2\.\."):
        generate_tree(1, 1)


def test_a_broken_tree_is_seen() -> None:
    good = generate_tree(1, 30)
    orphan = good.units[5].__class__("999999", "无上级单位", "basic", "998", "998")
    problems = tree_problems(UnitTree((*good.units, orphan)))
    assert problems == ["999999: parent 998 missing or after it"]
    assert "101: twice" in tree_problems(UnitTree((*good.units, good.units[0])))


# ------------------------------------------------------------------ the check (003 §52)


def test_a_request_is_refused_with_no_budget_outside_scope_or_over_budget_and_paid_up_to_exactly_the_left() -> None:
    line = Indicator("ZB1", "101001", "1", ("2050203", "初中教育"), ("XM1", "项目"), 1000_00)
    book = BudgetBook.of((line,))

    def ask(fen: int, fund: str = "1", project: str = "XM1") -> str | None:
        return book.take(Request("R", "101001", fund, ("2050203", "初中教育"), (project, "项目"), fen))

    assert ask(100_00, fund="2") == "budget-none"  # no indicator of that fund type
    assert ask(100_00, project="XM9") == "budget-out-of-scope"  # its fund type, not that project
    assert book.take(Request("R", "101999", "1", ("2050203", "初中教育"), ("XM1", "项目"), 1)) == "budget-none"
    assert ask(600_00) is None and book.left(line.key) == 400_00
    assert ask(400_01) == "budget-exceeded" and book.left(line.key) == 400_00  # a refusal spends nothing
    assert ask(400_00) is None and book.left(line.key) == 0  # exactly what is left: paid
    assert ask(1) == "budget-exceeded"
    assert all(code in CODES for code in BUDGET_REFUSALS)


# ------------------------------------------------------------------ the treasury core with units


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), units=st.integers(2, 120), n=st.integers(0, 60),
       anomaly=st.integers(0, 1000))
def test_indicators_cover_every_voucher_and_the_quotas_issued(seed: int, units: int, n: int, anomaly: int) -> None:
    core = budget_core(seed=seed, units=units, vouchers_per_day=n, budget_anomaly_permille=anomaly)
    sends = run(core)
    book = core.budget
    assert book is not None
    by_key: Counter[str] = Counter()
    for v in core.vouchers.values():
        assert v.subject is not None and v.project is not None
        key = f"{v.unit[2]}/{v.fund_type}/{v.subject[0]}/{v.project[0]}"
        assert key in book.indicators  # paid only against an indicator (003 §6)
        by_key[key] += v.amount_fen
    assert all(fen <= book.indicators[k].amount_fen for k, fen in by_key.items())
    assert dict(by_key) == {k: fen for k, fen in book.spent.items() if fen}
    quota = sum(parse_fen(e.head["PayAmt"]) for e in sends if e.vtcode in ("5108", "5106"))
    assert quota == sum(by_key.values())  # the clearing quotas issued: exactly the approved vouchers
    payments = {e.head["VoucherNo"] for e in sends if e.vtcode in ("5201", "8202")}
    assert payments == set(core.vouchers) and not payments & {r.request.no for r in core.refused_requests()}
    for r in core.refused_requests():
        assert r.code in BUDGET_REFUSALS


def test_salaries_on_the_first_business_day_of_the_month_only_and_amounts_many_small_few_large() -> None:
    core = budget_core(units=200, vouchers_per_day=200, days=3)
    run(core)
    salaries = [v for v in core.vouchers.values() if v.voucher_no.startswith("GZ")]
    assert {v.day for v in salaries} == {MONDAY} and {v.send_at.time() for v in salaries} == {dt.time(9)}
    assert core.unit_tree is not None and len(salaries) == len(core.unit_tree.paying())
    line = {i.unit: i for i in core.indicators if i.salary}
    assert all(v.amount_fen == line[v.unit[2]].amount_fen // 12 for v in salaries)
    others = sorted(v.amount_fen for v in core.vouchers.values() if not v.voucher_no.startswith("GZ"))
    top = others[-len(others) // 10:]
    assert sum(top) > sum(others) * 4 // 10 and others[len(others) // 2] < sum(others) // len(others)
    later = budget_core(units=200, vouchers_per_day=20, days=1, first_day=dt.date(2026, 3, 10))
    run(later)
    assert not any(v.voucher_no.startswith("GZ") for v in later.vouchers.values())


def test_the_plan_with_units_is_the_same_per_seed_and_survives_a_restore() -> None:
    a, b, c = budget_core(seed=5), budget_core(seed=5), budget_core(seed=6)
    sa, sb, sc = run(a), run(b), run(c)
    assert [e.render() for e in sa] == [e.render() for e in sb] != [e.render() for e in sc]
    assert a.refused_requests() == b.refused_requests() and a.snapshot() == b.snapshot()
    again = TreasuryCore.restore(a.snapshot(), a.config, CALENDAR, CC)
    assert again.refused_requests() == a.refused_requests() and again.budget == a.budget


def test_every_refusal_kind_comes_up_and_a_voucher_names_its_fund_subject_and_project() -> None:
    core = budget_core(units=60, vouchers_per_day=100, budget_anomaly_permille=300)
    run(core)
    assert {r.code for r in core.refused_requests()} == set(BUDGET_REFUSALS)
    v = next(v for v in core.vouchers.values() if v.fund_type != "1")
    doc = v.doc
    assert doc.get("FundTypeCode") == v.fund_type and doc.get("AgencyCode") == v.unit[2]
    assert v.subject and v.project
    assert {(d["ExpFuncCode"], d["ProCode"]) for d in doc.details()} == {(v.subject[0], v.project[0])}


def test_an_indicator_spent_beyond_its_amount_breaks_the_books() -> None:
    core = budget_core(days=1)
    run(core)
    book = core.budget
    assert book is not None
    key = next(iter(book.spent))
    book.spent[key] = book.indicators[key].amount_fen + 1  # corrupt
    book.touched.append(key)
    with pytest.raises(BooksError) as caught:
        core.on_time(dt.datetime.combine(MONDAY, dt.time(23), tzinfo=TZ))
    assert caught.value.rule == "indicator-non-negative"


def test_units_are_checked() -> None:
    with pytest.raises(ValueError, match="units"):
        TreasuryConfig(units=1)
    assert TreasuryConfig().units == 0  # the plain plan: the four fixed units, no budget
