"""`Checks` (each enabled rule bound to its params once) finds the hits `evaluate` finds, reasons
word for word, on generated catalogues, payments and histories: `evaluate` is the oracle."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.monitoring.engine import Checks, History, Line, PaymentFacts, evaluate
from gateway.monitoring.rules import Catalogue, default_catalogue

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
BASE = default_catalogue()
ACCOUNTS = ["999988880001", "622299990001", "999977770001", "999966660001", "1", ""]
NAMES = ["可疑示例贸易有限公司", "示例单位", "", "测试供应商有限公司"]
CODES = ["21305", "2130501", "302", "30201", "31002", "309", "310", "2050203", "", "P1"]
FENS = st.one_of(st.sampled_from([0, 1, 900_000, 1_000_000, 5_000_000, 20_000_000, 89_999_999, 90_000_000,
                                  99_999_999, 100_000_000]), st.integers(0, 10**10))
SMALL_LISTS = st.lists(st.sampled_from(ACCOUNTS + NAMES + CODES + ["R1", "990100/2026/5201/R1", "现金", "提现"]),
                       max_size=3)


def _params(draw: st.DrawFn, rule_id: str, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in ("threshold_fen",):
            out[name] = draw(st.sampled_from([value, value, 1, 1_000_000, 100_000_000]))
        elif name == "categories":
            out[name] = draw(st.lists(st.fixed_dictionaries({
                "eco_prefixes": st.lists(st.sampled_from(CODES[:8]), min_size=1, max_size=3),
                "threshold_fen": st.sampled_from([1, 1_000_000, 20_000_000])}), max_size=3))
        elif name in ("below_pct", "count", "window_hours"):
            out[name] = draw(st.sampled_from([value, value, 1, 2, 50]))
        else:
            out[name] = draw(st.one_of(st.just(list(value)), SMALL_LISTS))
    return out


@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    rules = [dataclasses.replace(r, params=_params(draw, r.id, dict(r.params)), enabled=draw(st.booleans()),
                                 grade=draw(st.sampled_from(["notice", "warning", "hold", "block"])))
             for r in draw(st.permutations(BASE.rules))]
    return dataclasses.replace(BASE, rules=tuple(rules))


LINES = st.lists(st.builds(Line, st.sampled_from(CODES), st.sampled_from(CODES), st.sampled_from(CODES), FENS),
                 max_size=4).map(tuple)
FACTS = st.builds(
    PaymentFacts, st.sampled_from(["990100/2026/5201/R1", "k"]), st.sampled_from(["R1", "R2"]),
    st.sampled_from(["5201", "8202"]), FENS, st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS),
    st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(["办公用品采购", "现金支取", "提现", ""]),
    LINES, st.sampled_from([AT, AT + dt.timedelta(hours=3)]), st.booleans())
HISTORY = st.builds(History, st.booleans(), st.lists(st.tuples(
    st.sampled_from([AT - dt.timedelta(hours=h) for h in (0, 1, 2, 49, 50, 120, 200)]
                    + [AT + dt.timedelta(hours=h) for h in (1, 2, 3)]),
    FENS), max_size=6).map(tuple))


@settings(max_examples=1000)
@given(catalogues(), FACTS, HISTORY)
def test_checks_find_what_evaluate_finds(cat: Catalogue, facts: PaymentFacts, history: History) -> None:
    assert Checks(cat).evaluate(facts, history) == evaluate(cat, facts, history)


def test_the_default_catalogue_is_bound_rule_by_rule() -> None:
    checks = Checks(BASE)
    facts = PaymentFacts("990100/2026/5201/R1", "R1", "8202", 100_000_000, "1", "999977770001", "示例单位", "示例单位",
                         "现金支取", (Line("2130501", "39999", "", 100_000_000),), AT, False)
    hits = checks.evaluate(facts, History())
    assert hits == evaluate(BASE, facts, History()) and len(hits) >= 6


def test_the_splitting_window_is_closed_at_both_ends() -> None:
    facts = PaymentFacts("k", "R1", "5201", 95_000_000, "1", "2", "", "", "", (), AT, True)
    for hours, hit in ((120, True), (121, False)):
        history = History(True, ((AT - dt.timedelta(hours=hours), 95_000_000), (AT, 95_000_000)))
        hits = Checks(BASE).evaluate(facts, history)
        assert hits == evaluate(BASE, facts, history) and bool(hits) is hit
