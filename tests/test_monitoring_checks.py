"""The rules bound to their params once (`Checks`, and `evaluate` through it) find the hits the rules
read from their params on every call found, reasons word for word (amounts in yuan, as a person reads
them), on generated catalogues, payments
and histories: that earlier definition, kept here as `old_evaluate`, is the oracle."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.monitoring.engine import Checks, History, Hit, Line, PaymentFacts, evaluate, splitting_band
from gateway.monitoring.rules import Catalogue, default_catalogue

# The rules as they were written before they were bound once: the oracle.
Check = Callable[[Mapping[str, Any], PaymentFacts, History], str | None]


def _yuan(fen: int) -> str:
    """What a person reads: yuan with two decimals (amounts here are never negative)."""
    return f"{fen // 100}.{fen % 100:02d}"


def _large_single(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    t = p["threshold_fen"]
    return f"amount {_yuan(f.amount_fen)} yuan is at or above {_yuan(t)} yuan" if f.amount_fen >= t else None


def _large_cash(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    marker = next((m for m in p["cash_markers"] if m in f.summary), None)
    if marker is None or f.amount_fen < p["threshold_fen"]:
        return None
    return (f"cash withdrawal ({marker!r} in PaySummaryName) of {_yuan(f.amount_fen)} yuan, "
            f"limit {_yuan(p['threshold_fen'])} yuan")


def _zero_balance_own(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    if f.voucher_no in p["approved"] or f.key in p["approved"]:
        return None
    if f.payee_name and f.payee_name == f.agency_name:
        return f"payee {f.payee_name!r} is the paying unit itself"
    if f.payee_acct in p["related_accounts"]:
        return f"payee account {f.payee_acct} is listed as the unit's own or a related unit's account"
    return None


def _official_card(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    if f.payee_acct in p["card_accounts"] and f.voucher_no not in p["settlement_list"] and f.key not in p["settlement_list"]:
        return f"official-card repayment to {f.payee_acct} not on the settlement list"
    return None


def _centralized(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    if f.vtcode in p["centralized_vtcodes"]:
        return None
    for cat in p["categories"]:
        fen = sum(ln.fen for ln in f.lines if ln.eco.startswith(tuple(cat["eco_prefixes"])))
        if fen and fen >= cat["threshold_fen"]:
            return (f"{_yuan(fen)} yuan of {'/'.join(cat['eco_prefixes'])} purchases by {f.vtcode}; from "
                    f"{_yuan(cat['threshold_fen'])} yuan they go through centralized payment")
    return None


def _watch_list(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    if f.payee_acct in p["accounts"]:
        return f"payee account {f.payee_acct} is on the watch list"
    if f.payee_name in p["names"]:
        return f"payee {f.payee_name!r} is on the watch list"
    return None


def _new_payee(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    if not h.payee_seen and f.amount_fen >= p["threshold_fen"]:
        return f"payee account {f.payee_acct} never paid before receives {_yuan(f.amount_fen)} yuan"
    return None


def _splitting(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    low, high = splitting_band(p)
    if not low <= f.amount_fen < high:
        return None
    since = f.at - dt.timedelta(hours=p["window_hours"])
    earlier = [fen for at, fen in h.recent if since <= at <= f.at and low <= fen < high]
    if len(earlier) + 1 >= p["count"]:
        return (f"{len(earlier) + 1} payments of {_yuan(low)}..{_yuan(high - 1)} yuan to {f.payee_acct} within "
                f"{p['window_hours']} h")
    return None


def _non_business_day(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    return None if f.business_day else f"{f.at.date()} is not a business day"


def _poverty(p: Mapping[str, Any], f: PaymentFacts, h: History) -> str | None:
    subjects, projects = tuple(p["subject_prefixes"]), set(p["project_codes"])
    tagged = [ln for ln in f.lines if (subjects and ln.func.startswith(subjects)) or ln.project in projects]
    if not tagged:
        return None
    if f.payee_acct in p["special_accounts"]:
        return f"poverty funds paid into the special account {f.payee_acct}"
    allowed = tuple(p["allowed_eco_prefixes"])
    outside = [ln for ln in tagged if not ln.eco.startswith(allowed)]
    if outside:
        return f"poverty funds spent on {outside[0].eco}, outside their purpose"
    return None


OLD_RULES: dict[str, Check] = {
    "large-single-payment": _large_single,
    "large-cash-withdrawal": _large_cash,
    "zero-balance-own-account": _zero_balance_own,
    "official-card-settlement": _official_card,
    "centralized-purchase": _centralized,
    "watch-list-payee": _watch_list,
    "new-payee-large-amount": _new_payee,
    "splitting": _splitting,
    "non-business-day": _non_business_day,
    "poverty-funds": _poverty,
}


def old_evaluate(catalogue: Catalogue, facts: PaymentFacts, history: History) -> list[Hit]:
    """Every enabled rule the payment breaks, in catalogue order."""
    hits: list[Hit] = []
    for rule in catalogue.rules:
        if not rule.enabled:
            continue
        reason = OLD_RULES[rule.id](rule.params, facts, history)
        if reason is not None:
            hits.append(Hit(rule.id, rule.grade, reason))
    return hits


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
def test_checks_find_what_the_unbound_rules_found(cat: Catalogue, facts: PaymentFacts, history: History) -> None:
    assert Checks(cat).evaluate(facts, history) == evaluate(cat, facts, history) == old_evaluate(cat, facts, history)


def test_the_default_catalogue_is_bound_rule_by_rule() -> None:
    checks = Checks(BASE)
    facts = PaymentFacts("990100/2026/5201/R1", "R1", "8202", 100_000_000, "1", "999977770001", "示例单位", "示例单位",
                         "现金支取", (Line("2130501", "39999", "", 100_000_000),), AT, False)
    hits = checks.evaluate(facts, History())
    assert hits == old_evaluate(BASE, facts, History()) and len(hits) >= 6


def test_the_splitting_window_is_closed_at_both_ends() -> None:
    facts = PaymentFacts("k", "R1", "5201", 95_000_000, "1", "2", "", "", "", (), AT, True)
    for hours, hit in ((120, True), (121, False)):
        history = History(True, ((AT - dt.timedelta(hours=hours), 95_000_000), (AT, 95_000_000)))
        hits = Checks(BASE).evaluate(facts, history)
        assert hits == old_evaluate(BASE, facts, history) and bool(hits) is hit


def test_hold_reasons_give_amounts_in_yuan_with_two_decimals() -> None:
    """Before: "amount 150000000 fen is at or above 100000000 fen": a person reads yuan."""
    facts = PaymentFacts("990100/2026/5201/R1", "R1", "8202", 150_000_000, "1", "999977770001", "示例单位", "示例单位",
                         "现金支取", (Line("2130501", "30201", "", 150_000_000),), AT, True)
    reasons = {h.rule_id: h.reason for h in Checks(BASE).evaluate(facts, History())}
    assert reasons["large-single-payment"] == "amount 1500000.00 yuan is at or above 1000000.00 yuan"
    assert "1500000.00 yuan" in reasons["new-payee-large-amount"]
    assert not any(" fen" in r for r in reasons.values()), reasons
