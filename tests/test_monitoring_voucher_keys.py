"""The monitoring catalogue's voucher lists (`approved` of zero-balance-own-account, `settlement_list`
of official-card-settlement) name a voucher by its key, AdmDivCode/StYear/VtCode/VoucherNo
(docs/monitoring.md): each division's treasury numbers its own vouchers, each year afresh. A bare
VoucherNo still works (matching that number of every division and year) and is warned of at load;
a slashed item that is not a whole key is refused. Before, `settlement_list` took only a bare
VoucherNo: another division's or year's repayment of a listed number passed as settled."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.monitoring.engine import evaluate
from gateway.monitoring.rules import DEFAULT_RULES_PATH, CatalogueError, parse_catalogue
from tests.test_monitoring_rules import SEEN, facts
from tgw import main

CARD, OWN = "622299990001", "999988880001"  # in the bundled card_accounts / related_accounts
RULE_OF = {"approved": "zero-balance-own-account", "settlement_list": "official-card-settlement"}
PAYEE_OF = {"approved": OWN, "settlement_list": CARD}


def _catalogue(listed: dict[str, list[str]]) -> Any:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    for r in data["rules"]:
        for name, items in listed.items():
            if r["id"] == RULE_OF[name]:
                r["params"][name] = items
    return parse_catalogue(data, source="test")


def _fires(cat: Any, name: str, adm: str, year: str, no: str) -> bool:
    f = facts(key=f"{adm}/{year}/5201/{no}", voucher_no=no, payee_acct=PAYEE_OF[name])
    return RULE_OF[name] in {h.rule_id for h in evaluate(cat, f, SEEN)}


@pytest.mark.parametrize("name", ["approved", "settlement_list"])
def test_a_listed_key_excuses_that_voucher_alone(name: str) -> None:
    cat = _catalogue({name: ["990100/2026/5201/N1"]})
    assert cat.warnings == ()
    assert not _fires(cat, name, "990100", "2026", "N1")
    assert _fires(cat, name, "990200", "2026", "N1")  # another division's N1
    assert _fires(cat, name, "990100", "2025", "N1")  # last year's N1


@pytest.mark.parametrize("name", ["approved", "settlement_list"])
def test_a_bare_voucher_no_still_works_and_is_warned_of(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tgw.monitoring"):
        cat = _catalogue({name: ["N1"]})
    assert len(cat.warnings) == 1 and "'N1' is a bare VoucherNo" in cat.warnings[0] and name in cat.warnings[0]
    assert any("bare VoucherNo" in r.getMessage() for r in caplog.records)
    assert not _fires(cat, name, "990100", "2026", "N1") and not _fires(cat, name, "990200", "2025", "N1")


@pytest.mark.parametrize("item", ["990100/2026/N1", "990100//5201/N1", "a/b/c/d/e"])
def test_a_slashed_item_that_is_not_a_key_is_refused(item: str) -> None:
    with pytest.raises(CatalogueError, match="not a voucher key"):
        _catalogue({"settlement_list": [item]})


def test_the_bundled_catalogue_has_no_warnings() -> None:
    assert _catalogue({}).warnings == ()


_KEYS = st.tuples(st.sampled_from(["990100", "990200"]), st.sampled_from(["2025", "2026"]),
                  st.sampled_from(["N1", "N2"]))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["approved", "settlement_list"]), st.lists(_KEYS, max_size=4), _KEYS)
def test_a_voucher_is_excused_exactly_when_its_key_is_listed(name: str, listed: list[tuple[str, str, str]],
                                                             voucher: tuple[str, str, str]) -> None:
    """Oracle from the agreement (003 §15, §30: the exception and the settlement list name
    vouchers, a voucher being its key): excused iff its own key is on the list."""
    cat = _catalogue({name: ["/".join((a, y, "5201", n)) for a, y, n in listed]})
    assert _fires(cat, name, *voucher) is (voucher not in listed)


def test_validate_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    for r in data["rules"]:
        if r["id"] == "official-card-settlement":
            r["params"]["settlement_list"] = ["N1", "990100/2026/8202/N2"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["monitor", "rules", "validate", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True and len(out["warnings"]) == 1 and "'N1'" in out["warnings"][0]
    assert main(["monitor", "rules", "validate", str(path)]) == 0
    assert "warning: rules/" in capsys.readouterr().out
