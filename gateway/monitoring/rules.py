"""The monitoring rule catalogue: YAML, versioned, checked against a JSON Schema.

The catalogue is data: thresholds, lists and grades change without a code change
(`tgw monitor rules validate|show`). Which rule ids exist is code (`engine.RULES`): a catalogue
naming an unknown id, a bad grade or malformed params is refused with every error at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from messages.files import read_regular
from messages.yamlsafe import load_yaml

__all__ = ["DEFAULT_RULES_PATH", "GRADES", "RULE_IDS", "SCHEMA", "Catalogue", "CatalogueError", "Rule",
           "default_catalogue", "load_catalogue", "parse_catalogue"]

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yaml")
# Least to most severe: notice/warning flag and go on, hold waits for a treasury officer, block refuses.
GRADES = ("notice", "warning", "hold", "block")
CATALOGUE_BYTES_MAX = 1_000_000  # a catalogue is a few KB; a larger file is a mistake, not a catalogue
LIST_ITEMS_MAX = 10_000  # accounts / names / voucher numbers in one list: looked up as sets

# The voucher lists a rule's params name vouchers by (`approved`, `settlement_list`): each item a
# voucher key "AdmDivCode/StYear/VtCode/VoucherNo", or a bare VoucherNo, which matches that number of
# every division and year (each division's treasury numbers its own vouchers, each year afresh):
# accepted for the catalogues written so, with a warning at load.
VOUCHER_LISTS = {"zero-balance-own-account": "approved", "official-card-settlement": "settlement_list"}
log = logging.getLogger("tgw.monitoring")

_fen = {"type": "integer", "minimum": 1, "maximum": 10**15}
_strings = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200},
            "maxItems": LIST_ITEMS_MAX}


def _params(required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": props}


PARAMS: dict[str, dict[str, Any]] = {
    "large-single-payment": _params(["threshold_fen"], {"threshold_fen": _fen}),
    "large-cash-withdrawal": _params(["threshold_fen", "cash_markers"],
                                     {"threshold_fen": _fen, "cash_markers": _strings}),
    "zero-balance-own-account": _params(["related_accounts", "approved"],
                                        {"related_accounts": _strings, "approved": _strings}),
    "official-card-settlement": _params(["card_accounts", "settlement_list"],
                                        {"card_accounts": _strings, "settlement_list": _strings}),
    "centralized-purchase": _params(["centralized_vtcodes", "categories"], {
        "centralized_vtcodes": _strings,
        "categories": {"type": "array", "maxItems": 100, "items": _params(
            ["eco_prefixes", "threshold_fen"], {"eco_prefixes": _strings, "threshold_fen": _fen})}}),
    "watch-list-payee": _params(["accounts", "names"], {"accounts": _strings, "names": _strings}),
    "new-payee-large-amount": _params(["threshold_fen"], {"threshold_fen": _fen}),
    "splitting": _params(["threshold_fen", "below_pct", "count", "window_hours"], {
        "threshold_fen": _fen, "below_pct": {"type": "integer", "minimum": 1, "maximum": 99},
        "count": {"type": "integer", "minimum": 2, "maximum": 1000},
        "window_hours": {"type": "integer", "minimum": 1, "maximum": 24 * 366}}),
    "non-business-day": _params([], {}),
    "poverty-funds": _params(["subject_prefixes", "project_codes", "allowed_eco_prefixes", "special_accounts"], {
        "subject_prefixes": _strings, "project_codes": _strings, "allowed_eco_prefixes": _strings,
        "special_accounts": _strings}),
}
RULE_IDS = tuple(PARAMS)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.invalid/tgw/monitor-rules.schema.json",
    "title": "tgw monitoring rule catalogue",
    "type": "object",
    "required": ["version", "rules"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": "string", "minLength": 1, "maxLength": 64},
        "applies_to": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}$"}, "maxItems": 100},
        "rules": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "required": ["id", "grade", "params"], "additionalProperties": False,
            "properties": {
                "id": {"enum": list(RULE_IDS)},
                "grade": {"enum": list(GRADES)},
                "description": {"type": "string", "maxLength": 2000},
                "enabled": {"type": "boolean"},
                "params": {"type": "object"},
            },
            "allOf": [{"if": {"properties": {"id": {"const": rid}}, "required": ["id"]},
                       "then": {"properties": {"params": schema}}} for rid, schema in PARAMS.items()],
        }},
    },
}


class CatalogueError(ValueError):
    """A catalogue that cannot be used; `errors` lists every problem as "where: what"."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    grade: str
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "grade": self.grade, "description": self.description, "params": dict(self.params),
                "enabled": self.enabled}


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    rules: tuple[Rule, ...]
    applies_to: frozenset[str] = frozenset({"5201", "8202"})
    source: str = "catalogue"
    # "where: what" of each bare VoucherNo in a voucher list (`VOUCHER_LISTS`): valid, but matching
    # that number of every division and year
    warnings: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "applies_to": sorted(self.applies_to),
                "rules": [r.as_dict() for r in self.rules]}


def parse_catalogue(data: Any, *, source: str = "catalogue") -> Catalogue:
    """A catalogue from already-loaded YAML/JSON data; CatalogueError lists every problem."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
              for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
    if not errors:
        seen: set[str] = set()
        for n, r in enumerate(data["rules"]):
            if r["id"] in seen:
                errors.append(f"rules/{n}/id: rule {r['id']!r} is listed twice")
            seen.add(r["id"])
    warnings = _voucher_lists(data["rules"], errors) if not errors else []
    if errors:
        raise CatalogueError(source, errors)
    for w in warnings:
        log.warning("monitoring rules %s: %s", source, w)
    rules = tuple(Rule(r["id"], r["grade"], " ".join(str(r.get("description", "")).split()), r["params"],
                       r.get("enabled", True)) for r in data["rules"])
    applies = frozenset(data.get("applies_to", ["5201", "8202"]))
    return Catalogue(str(data["version"]), rules, applies, source, tuple(warnings))


def _voucher_lists(rules: list[dict[str, Any]], errors: list[str]) -> list[str]:
    """The warnings of the voucher lists' bare VoucherNos; an item that is neither a bare VoucherNo
    nor a whole voucher key (four parts, none empty) is an error (it would match nothing)."""
    warnings = []
    for n, r in enumerate(rules):
        name = VOUCHER_LISTS.get(r["id"])
        for i, item in enumerate(r["params"].get(name, ()) if name else ()):
            where = f"rules/{n}/params/{name}/{i}"
            parts = item.split("/")
            if len(parts) == 1:
                warnings.append(f"{where}: {item!r} is a bare VoucherNo: it matches voucher {item} of every "
                                "division and year; write its key AdmDivCode/StYear/VtCode/VoucherNo")
            elif len(parts) != 4 or not all(parts):
                errors.append(f"{where}: {item!r} is not a voucher key AdmDivCode/StYear/VtCode/VoucherNo")
    return warnings


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and check a catalogue file. OSError if unreadable; CatalogueError if it is not a catalogue."""
    p = Path(path)
    raw = read_regular(p)
    if len(raw) > CATALOGUE_BYTES_MAX:
        raise CatalogueError(str(p), [f"(top): the file is {len(raw)} bytes; a catalogue is at most "
                                      f"{CATALOGUE_BYTES_MAX}"])
    try:
        data = load_yaml(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogueError(str(p), [f"(top): not YAML: {exc}"]) from exc
    return parse_catalogue(data, source=str(p))


def default_catalogue() -> Catalogue:
    return load_catalogue(DEFAULT_RULES_PATH)
