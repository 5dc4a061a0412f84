"""The monitoring catalogue (schema, CLI) and the pure engine: each rule fires with its grade."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.monitoring.engine import RULES, History, Line, PaymentFacts, evaluate, outcome_of
from gateway.monitoring.rules import (
    DEFAULT_RULES_PATH,
    GRADES,
    RULE_IDS,
    Catalogue,
    CatalogueError,
    default_catalogue,
    parse_catalogue,
)
from tgw import main

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.UTC)
CAT = default_catalogue()


def facts(**kw: Any) -> PaymentFacts:
    base = PaymentFacts(key="990100/2026/5201/N1", voucher_no="N1", vtcode="5201", amount_fen=123_456,
                        payer_acct="9990000000001", payee_acct="9999000000001", payee_name="测试供应商有限公司",
                        agency_name="示例市第一中学", summary="办公用品采购",
                        lines=(Line("2050203", "30201", "", 123_456),), at=AT, business_day=True)
    return base._replace(**kw)


SEEN = History(payee_seen=True)


def fired(f: PaymentFacts, h: History = SEEN) -> dict[str, str]:
    return {hit.rule_id: hit.grade for hit in evaluate(CAT, f, h)}


def test_the_default_catalogue_is_valid_and_names_every_rule_once() -> None:
    assert sorted(r.id for r in CAT.rules) == sorted(RULE_IDS) == sorted(RULES)
    assert CAT.version == "2026.1"


def test_an_ordinary_payment_fires_nothing() -> None:
    assert fired(facts()) == {}


# (rule, the facts that break it, the history): one case per rule of the catalogue.
CASES: list[tuple[str, dict[str, Any], History]] = [
    ("large-single-payment", {"amount_fen": 100_000_000}, SEEN),
    ("large-cash-withdrawal", {"amount_fen": 5_000_000, "summary": "提取现金"}, SEEN),
    ("zero-balance-own-account", {"payee_name": "示例市第一中学"}, SEEN),
    ("zero-balance-own-account", {"payee_acct": "999988880001"}, SEEN),
    ("official-card-settlement", {"payee_acct": "622299990001"}, SEEN),
    ("centralized-purchase", {"vtcode": "8202", "lines": (Line("2050203", "30201", "", 1_000_000),)}, SEEN),
    ("centralized-purchase", {"vtcode": "8202", "lines": (Line("2140104", "30905", "", 20_000_000),)}, SEEN),
    ("watch-list-payee", {"payee_acct": "999977770001"}, SEEN),
    ("watch-list-payee", {"payee_name": "可疑示例贸易有限公司"}, SEEN),
    ("new-payee-large-amount", {"amount_fen": 20_000_000}, History(payee_seen=False)),
    ("splitting", {"amount_fen": 95_000_000},
     History(True, ((AT - dt.timedelta(hours=1), 99_000_000), (AT - dt.timedelta(hours=100), 90_000_000)))),
    ("non-business-day", {"business_day": False}, SEEN),
    ("non-business-day", {"business_day": None}, SEEN),  # outside the calendar: flagged, never guessed
    ("poverty-funds", {"lines": (Line("2130501", "39999", "", 123_456),)}, SEEN),
    ("poverty-funds", {"lines": (Line("2130501", "30201", "", 123_456),), "payee_acct": "999966660001"}, SEEN),
]


@pytest.mark.parametrize(("rule_id", "changes", "history"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fires_with_its_grade(rule_id: str, changes: dict[str, Any], history: History) -> None:
    hits = fired(facts(**changes), history)
    assert hits[rule_id] == CAT.rule(rule_id).grade  # type: ignore[union-attr]


def test_exceptions_the_catalogue_lists_do_not_fire() -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    for r in data["rules"]:
        if r["id"] == "zero-balance-own-account":
            r["params"]["approved"] = ["N1"]
        if r["id"] == "official-card-settlement":
            r["params"]["settlement_list"] = ["N1"]
    cat = parse_catalogue(data)
    hits = {h.rule_id for h in evaluate(cat, facts(payee_acct="999988880001"), SEEN)}
    hits |= {h.rule_id for h in evaluate(cat, facts(payee_acct="622299990001"), SEEN)}
    assert not hits & {"zero-balance-own-account", "official-card-settlement"}


def test_splitting_outside_the_window_or_band_does_not_fire() -> None:
    old = History(True, ((AT - dt.timedelta(hours=121), 99_000_000), (AT - dt.timedelta(hours=130), 95_000_000)))
    assert "splitting" not in fired(facts(amount_fen=95_000_000), old)
    small = History(True, ((AT, 80_000_000), (AT, 80_000_000)))
    assert "splitting" not in fired(facts(amount_fen=95_000_000), small)


@given(st.lists(st.sampled_from(GRADES), max_size=6))
def test_the_most_severe_grade_decides(grades: list[str]) -> None:
    from gateway.monitoring.engine import Hit

    hits = [Hit(f"r{i}", g, "x") for i, g in enumerate(grades)]
    outcome, top = outcome_of(hits)
    if not grades:
        assert (outcome, top) == ("pass", None)
        return
    worst = max(grades, key=GRADES.index)
    assert top is not None and top.grade == worst and top.rule_id == f"r{grades.index(worst)}"
    assert outcome == {"notice": "flag", "warning": "flag", "hold": "hold", "block": "block"}[worst]


@given(amount=st.integers(1, 10**12), earlier=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 2 * 10**8)),
                                                      max_size=8))
def test_splitting_fires_exactly_when_enough_band_payments_fall_in_the_window(
        amount: int, earlier: list[tuple[int, int]]) -> None:
    p = CAT.rule("splitting").params  # type: ignore[union-attr]
    low, high = p["threshold_fen"] * (100 - p["below_pct"]) // 100, p["threshold_fen"]
    history = History(True, tuple((AT - dt.timedelta(hours=h), fen) for h, fen in earlier))
    in_band = [fen for h, fen in earlier if h <= p["window_hours"] and low <= fen < high]
    expected = low <= amount < high and len(in_band) + 1 >= p["count"]
    assert ("splitting" in fired(facts(amount_fen=amount), history)) == expected


@given(amount=st.integers(1, 10**12))
def test_large_single_payment_is_a_threshold(amount: int) -> None:
    assert ("large-single-payment" in fired(facts(amount_fen=amount))) == (amount >= 100_000_000)


def test_disabled_rules_do_not_fire() -> None:
    cat = Catalogue(CAT.version, tuple(dataclasses.replace(r, enabled=False) for r in CAT.rules))
    assert evaluate(cat, facts(amount_fen=10**12, business_day=False), History()) == []


def test_a_bad_catalogue_lists_every_error() -> None:
    bad = {"version": "x", "rules": [{"id": "nope", "grade": "hold", "params": {}},
                                     {"id": "splitting", "grade": "loud", "params": {"threshold_fen": -1}},
                                     {"id": "large-single-payment", "grade": "hold", "params": {"threshold_fen": 5}},
                                     {"id": "large-single-payment", "grade": "hold", "params": {"threshold_fen": 6}}]}
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(bad)
    text = "\n".join(err.value.errors)
    assert "rules/0/id" in text and "rules/1/grade" in text and "rules/1/params/threshold_fen" in text
    bad["rules"] = bad["rules"][2:]
    with pytest.raises(CatalogueError, match="listed twice"):
        parse_catalogue(bad)


def test_cli_validate_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "rules", "validate", str(DEFAULT_RULES_PATH)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: '1'\nrules:\n  - {id: splitting, grade: hold, params: {}}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["monitor", "rules", "validate", str(bad), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and any("count" in e for e in out["errors"])
    assert main(["monitor", "rules", "validate", str(tmp_path / "missing.yaml")]) == 2
    bad.write_text("version: [unclosed\n", encoding="utf-8")
    assert main(["monitor", "rules", "validate", str(bad)]) == 1
    capsys.readouterr()
    assert main(["monitor", "rules", "show", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == CAT.version and [r["id"] for r in shown["rules"]] == [r.id for r in CAT.rules]


def test_a_revised_catalogue_changes_the_outcome_without_code(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["version"] = "2026.2"
    for r in data["rules"]:
        if r["id"] == "large-single-payment":
            r["params"]["threshold_fen"] = 100_000
            r["grade"] = "block"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    from gateway.monitoring.rules import load_catalogue

    cat = load_catalogue(path)
    assert outcome_of(evaluate(cat, facts(), SEEN))[0] == "block"


# --- the lines a payment's facts carry: from the doc's detail items, as the tree reads them ---------

_TEXT = st.text(alphabet=st.sampled_from(" \t0123456789.AB-中"), max_size=8)
_LINE_ELEMENTS = st.lists(st.tuples(st.sampled_from(["ExpFuncCode", "ExpEcoCode", "ProCode", "PayAmt", "Id",
                                                     "AgencyName", "<!--c-->"]), _TEXT), max_size=7)


def _tree_lines(root: Any) -> list[Line]:
    """The lines as the monitor read them from the tree before it read the doc's detail items."""
    from messages.errors import InputError
    from messages.money import parse_fen

    fields = {"ExpFuncCode": 0, "ExpEcoCode": 1, "ProCode": 2, "PayAmt": 3}
    out = []
    for detail in root.iterfind("DetailList/Detail"):
        values = ["", "", "", "0"]
        for child in detail:
            n = fields.get(child.tag)
            if n is not None:
                values[n] = (child.text or "").strip()
        try:
            fen = parse_fen(values[3])
        except InputError:
            fen = 0
        out.append(Line(values[0], values[1], values[2], fen))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE_ELEMENTS, max_size=4))
def test_facts_lines_are_the_tree_lines(details: list[list[tuple[str, str]]]) -> None:
    """Repeated elements (the last counts), comments between them, blanks around texts, texts that
    are not money, a line without PayAmt: the same lines as the tree gave."""
    from xml.sax.saxutils import escape

    from messages.voucher import VoucherDoc

    body = "".join("<Detail>" + "".join(name if name.startswith("<!--") else f"<{name}>{escape(text)}</{name}>"
                                        for name, text in line) + "</Detail>" for line in details)
    data = f"<Voucher><VtCode>5201</VtCode><PayAmt>1.00</PayAmt><DetailList>{body}</DetailList></Voucher>".encode()
    from lxml import etree

    doc = VoucherDoc(data, etree.fromstring(data), "UTF-8")
    f = PaymentFacts.from_doc("k", doc, at=dt.datetime(2026, 3, 16, 9), business_day=True)
    assert list(f.lines) == _tree_lines(etree.fromstring(data))


def test_a_day_outside_the_calendar_is_flagged_as_unknown_never_taken_for_a_business_day() -> None:
    from gateway.monitoring.monitor import Monitor
    from messages.errors import InputError

    def beyond(day: dt.date) -> bool:
        raise InputError("calendar-out-of-range", f"the business calendar does not know {day}")

    def broken(day: dt.date) -> bool:
        raise InputError("config-invalid", "not a calendar problem")

    day = dt.date(2027, 1, 1)
    assert Monitor(CAT, None, is_business_day=beyond)._business_day(day) is None  # type: ignore[arg-type]
    assert Monitor(CAT, None, is_business_day=lambda d: False)._business_day(day) is False  # type: ignore[arg-type]
    with pytest.raises(InputError):
        Monitor(CAT, None, is_business_day=broken)._business_day(day)  # type: ignore[arg-type]
    [hit] = [h for h in evaluate(CAT, facts(business_day=None), SEEN) if h.rule_id == "non-business-day"]
    assert "outside the business calendar" in hit.reason
    assert "non-business-day" not in fired(facts(business_day=True))
