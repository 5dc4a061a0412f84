"""Read a scenario file (`scenarios/*.yaml`) into frozen values, or say exactly what is wrong.

Three passes, each error naming the file, the line and the field (`file:line: steps[3].send.amount: ...`):

1. YAML, composed into nodes so every value keeps its line. Dates and times stay strings
   (YAML 1.1 would read an unquoted `16:00` as the integer 960 and `2026-03-10` as a date).
2. The JSON Schema (`runner.scenario_schema.SCHEMA`, published as `docs/scenario.schema.json`).
3. What a schema cannot say: ids defined once and before they are used, banks and units that
   exist, times that move forward and that the business calendar knows, head fields that the
   voucher type's XSD has.

Times are resolved here, against the start day and the business calendar: "HH:MM" is on the
start day, "D+N HH:MM" on the N-th business day after it, "YYYY-MM-DD HH:MM" as written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig, at
from messages.errors import InputError, Issue
from messages.factory import ADM_DIV_CODE
from messages.files import open_regular
from messages.money import parse_fen
from messages.yamlsafe import DEPTH_MAX, check_expansion
from runner.scenario_schema import ACCOUNT_TYPES, PATTERN_HELP, SCHEMA

__all__ = [
    "CATALOGUE_DIR",
    "AccountSpec",
    "BankSpec",
    "DivisionSpec",
    "Expectation",
    "ReturnSpec",
    "Scenario",
    "ScenarioError",
    "SendSpec",
    "Step",
    "UnitSpec",
    "World",
    "catalogue",
    "load_scenario",
    "load_text",
    "resolve_targets",
]

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO_BYTES_MAX = 2 << 20  # a scenario is a page or two of YAML; a larger file is a mistake
ERRORS_MAX = 50  # errors reported per file: the first few are the ones to fix
DEFAULT_START_TIME = dt.time(8, 0)

DEFAULT_BANKS: tuple[tuple[str, str, str], ...] = (
    ("bank-a", "999100000001", "示例银行甲分行"),
    ("bank-b", "999100000002", "示例银行乙分行"),
)
# (SupDepCode, SupDepName, AgencyCode, AgencyName), synthetic, as messages.factory.UNITS.
DEFAULT_UNITS: tuple[tuple[str, str, str, str], ...] = (
    ("101", "示例市教育局", "101001", "示例市第一中学"),
    ("101", "示例市教育局", "101002", "示例市实验小学"),
    ("102", "示例市卫生健康委员会", "102001", "示例市人民医院"),
)
TEMPLATE_VTCODE = {"direct-payment": "5201", "authorized-payment": "8202", "quota-direct": "5108",
                   "quota-authorized": "5106", "salary-batch": "5201", "union-fees": "5201", "procurement": "5201",
                   "card-repayment": "8202"}
# Templates of payment vouchers (a payee's bank may return them; the auto quota counts them).
PAYMENT_TEMPLATES = ("direct-payment", "authorized-payment", "salary-batch", "union-fees", "procurement",
                     "card-repayment")
# Templates whose voucher is an authorized payment (8202): the unit's quota (7101) is sent for them.
AUTHORIZED_TEMPLATES = ("authorized-payment", "card-repayment")
# Templates whose steps list their lines (`lines:`): a salary batch's payees, a card repayment's cards.
LINES_TEMPLATES = ("salary-batch", "card-repayment")


class ScenarioError(InputError):
    """A scenario file is wrong; `issues` has one entry per problem, each `path` 'file:line: field'."""

    def __init__(self, file: str, problems: Sequence[tuple[int | None, str, str]],
                 codes: Mapping[int, str] | None = None) -> None:
        # `codes`: the code of a problem (by its index) more precise than scenario-invalid
        issues = [Issue((codes or {}).get(i, "scenario-invalid"), message, line, f"{file}:{line or 0}: {where}")
                  for i, (line, where, message) in enumerate(problems[:ERRORS_MAX])]
        super().__init__(issues[0].code, issues[0].message, issues[0].line, issues[0].path, more=issues[1:])
        self.file = file

    def lines(self) -> list[str]:
        return [f"{i.path}: {i.message}" + (f" ({i.code})" if i.code != "scenario-invalid" else "")
                for i in self.issues]


# ----------------------------------------------------------------------------- the values


@dataclass(frozen=True, slots=True)
class BankSpec:
    id: str
    code: str
    name: str
    profile: str = "standard"
    reserve_fen: int | None = None
    filing_time: dt.time | None = None
    open_time: dt.time | None = None
    replenish_time: dt.time | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # the behaviour profile's parameters
    returns: tuple[ReturnSpec, ...] = ()  # payments the payee's bank sends back
    account_open_days: int = 0  # working days to carry out an account notice (7601)

    @property
    def behaviour(self) -> str:
        """The bank_sim profile it runs with (`standard` is `prompt`)."""
        return "prompt" if self.profile in ("standard", "external") else self.profile


@dataclass(frozen=True, slots=True)
class ReturnSpec:
    """A payment of the steps that the payee's bank returns at `at` (bank_sim.refunds.PayeeReturn)."""

    voucher: str  # the scenario id of the payment voucher
    voucher_no: str  # its VoucherNo (the send gives it explicitly)
    at: dt.datetime
    reason: str = "account-closed"
    line: int = 0
    batch_line: int = 0  # a salary batch's line (1-based) that came back alone; 0: the whole payment


@dataclass(frozen=True, slots=True)
class UnitSpec:
    sup_dep: str
    sup_dep_name: str
    agency: str
    agency_name: str


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account of the registry (docs/accounts.md): declared by the world, or named by an account step."""

    bank: str  # the bank's id
    acct_type: str  # AcctType: 1 finance zero-balance, 2 unit zero-balance, 3 unit real-fund, 4 fiscal special
    number: str
    name: str
    unit: str = ""  # AgencyCode (types 2, 3)
    approval: str = ""  # ApproveNo (type 4)


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """A procurement contract the treasury holds (政府采购, 003 §28; 004 part 4 §11; docs/payment-kinds.md)."""

    number: str  # ContractNo
    unit: str  # the buying unit's AgencyCode
    supplier_account: str
    supplier_name: str
    supplier_bank: str  # PayeeAcctBankName of its payments
    amount_fen: int
    acceptance_required: bool = True  # False: the contract allows payment before acceptance (ProcureFlag 2)


@dataclass(frozen=True, slots=True)
class DivisionSpec:
    """A division (AdmDivCode) of the world: the treasury and the central bank serve every one, each
    bank the divisions that list it (the registry's adm_div_codes, by which the gateway routes)."""

    code: str
    banks: tuple[str, ...]  # ids of world.banks serving it
    name: str = ""


@dataclass(frozen=True, slots=True)
class World:
    start: dt.datetime
    seed: int
    clock: ClockConfig
    banks: tuple[BankSpec, ...]
    units: tuple[UnitSpec, ...]
    treasury_profile: str = "scripted"
    quota_mode: str = "auto"
    quota_time: dt.time = dt.time(8, 30)
    vouchers_per_day: int = 0
    days: int = 1
    budget_units: int = 0  # generated treasury: units generated with budget indicators (treasury_sim.units)
    budget_anomaly_permille: int = 20  # ... and its requests that ask what the budget does not allow
    unspent_pct: int = 0  # generated treasury: its 7101s grant the plan plus this share left unspent
    tsa_opening_fen: int = 500_000_000_00
    pboc_profile: str = "standard"
    clearing_floor_fen: int = 0  # world.pboc.clearing_floor: every bank's, at the central bank
    end: dt.datetime | None = None
    accounts: tuple[AccountSpec, ...] = ()  # open at the start (docs/accounts.md)
    contracts: tuple[ContractSpec, ...] = ()  # procurement contracts the treasury holds (docs/payment-kinds.md)
    # the divisions (AdmDivCode), the first the default of a step's adm; empty: one, ADM_DIV_CODE, every bank's
    division_specs: tuple[DivisionSpec, ...] = ()

    @property
    def divisions(self) -> tuple[DivisionSpec, ...]:
        return self.division_specs or (DivisionSpec(ADM_DIV_CODE, tuple(b.id for b in self.banks)),)

    @property
    def adm(self) -> str:
        """The first division's AdmDivCode: a step's when it names none."""
        return self.divisions[0].code

    def divisions_of(self, bank_id: str) -> tuple[str, ...]:
        """The AdmDivCodes bank `bank_id` serves, in the world's order."""
        return tuple(d.code for d in self.divisions if bank_id in d.banks)

    def bank(self, bank_id: str) -> BankSpec:
        return next(b for b in self.banks if b.id == bank_id)

    @property
    def external(self) -> tuple[str, ...]:
        out = [b.id for b in self.banks if b.profile == "external"]
        if self.treasury_profile == "external":
            out.insert(0, "treasury")
        if self.pboc_profile == "external":
            out.append("pboc")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class SendSpec:
    """One voucher to send: a template with overrides, or a literal file."""

    id: str
    sender: str  # treasury, pboc or a bank id
    template: str | None = None
    file: Path | None = None
    bank: str | None = None
    unit: str | None = None
    amount_fen: int | None = None
    voucher_no: str | None = None
    of: str | None = None  # template receipt: the id of the original
    fields: Mapping[str, str] = field(default_factory=dict)
    fault: str | None = None  # drop, duplicate, corrupt-signature
    delay: dt.timedelta | None = None
    line: int = 0
    # template salary-batch: (PayeeAcctNo, PayeeAcctName, PayeeAcctBankName, fen) of each line
    lines: tuple[tuple[str, str, str, int], ...] = ()
    contract: str | None = None  # template procurement: the ContractNo it pays on (its elements are in fields)
    adm: str = ""  # its division (AdmDivCode); empty: the world's first (in conformance mode the gateway world's)

    @property
    def vtcode(self) -> str | None:
        return TEMPLATE_VTCODE.get(self.template or "")


@dataclass(frozen=True, slots=True)
class Step:
    at: dt.datetime
    action: str  # send, batch, quota, advance, offline, online, fault, monitor, suspend, lift, account
    sends: tuple[SendSpec, ...] = ()
    quota: Mapping[str, Any] = field(default_factory=dict)  # bank, pay_type, amount_fen, id, day
    target: str | None = None  # offline / online / fault: the participant
    fault: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    line: int = 0
    order: Mapping[str, Any] = field(default_factory=dict)  # suspend / lift (runner.suspension_steps), account


@dataclass(frozen=True, slots=True)
class Expectation:
    index: int
    kind: str
    params: Mapping[str, Any]
    by: dt.datetime | None
    name: str
    line: int
    # `before:` (the agreement's 前: "16:00前", at 16:00:00 is late) rather than `by:` (at or before)
    strict: bool = False

    @property
    def voucher(self) -> str | None:
        v = self.params.get("voucher")
        return v if isinstance(v, str) else None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    world: World
    steps: tuple[Step, ...]
    expectations: tuple[Expectation, ...]
    path: str
    voucher_ids: tuple[str, ...] = ()

    @property
    def end(self) -> dt.datetime:
        """Where the run stops: world.end, else the latest step or deadline, at the day's bank close
        (so the day's statement and zero-balance check are in)."""
        if self.world.end is not None:
            return self.world.end
        times = [self.world.start, *(s.at for s in self.steps), *(e.by for e in self.expectations if e.by)]
        last = max(times)
        close = at(last.date(), self.world.clock.bank_system_close)
        return max(last, close)


# ----------------------------------------------------------------------------- YAML with lines


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp and base-60 resolvers: times and dates stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int",
                                                  "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9_]+([eE][-+][0-9]+)?$"), list("-+0123456789."))


class _CLoader(getattr(yaml, "CSafeLoader", _Loader)):  # type: ignore[misc]
    """The same loader on libyaml's parser when PyYAML has it (about 9 times less CPU over the
    catalogue, the same nodes and lines); a file it refuses is parsed again by `_Loader`, whose
    words the errors keep."""


_CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

Path_ = tuple[str | int, ...]


def _plain(node: yaml.Node, loader: _Loader, path: Path_, marks: dict[Path_, int], problems: list[Any]) -> Any:
    marks[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                problems.append((key_node.start_mark.line + 1, _dotted((*path, key)), f"duplicate key {key!r}"))
            out[key] = _plain(value_node, loader, (*path, key), marks, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loader, (*path, i), marks, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int], list[tuple[int | None, str, str]]]:
    """The data, the line of every path in it, and the problems that did not stop the parse
    (duplicate keys: the last one wins, and the schema pass still runs, so every error of the
    file is reported at once)."""
    try:
        return _parse_with(_CLoader, text, file)
    except ScenarioError:
        return _parse_with(_Loader, text, file)  # said again in the pure-Python parser's words


def _parse_with(kind: type[Any], text: str, file: str) -> tuple[Any, dict[Path_, int], list[tuple[int | None, str, str]]]:
    try:
        loader = kind(text)  # the pure-Python reader refuses control characters here already
    except yaml.YAMLError as exc:
        raise ScenarioError(file, [(None, "(yaml)", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from exc
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ScenarioError(file, [(None, "(yaml)", f"nested deeper than {DEPTH_MAX} levels")]) from None
        if node is None:
            raise ScenarioError(file, [(1, "(top)", "the file is empty")])
        check_expansion(node)  # before `_plain` copies what aliases share (a billion laughs of anchors)
        marks: dict[Path_, int] = {}
        problems: list[tuple[int | None, str, str]] = []
        data = _plain(node, loader, (), marks, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(file, [(line, "(yaml)", f"not valid YAML: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(file, [(None, "(yaml)", f"not valid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    return data, marks, problems


def _line(marks: Mapping[Path_, int], path: Sequence[str | int]) -> int | None:
    p = tuple(path)
    while True:
        if p in marks:
            return marks[p]
        if not p:
            return None
        p = p[:-1]


# ----------------------------------------------------------------------------- schema pass


def _schema_problems(data: Any, marks: Mapping[Path_, int]) -> list[tuple[int | None, str, str]]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: (_line(marks, _error_path(e)) or 0,
                                                                    list(map(str, e.absolute_path)))):
        path = _error_path(error)
        message = _message(error)
        problems.append((_line(marks, path), _dotted(path), message))
    return problems


def _error_path(error: Any) -> list[str | int]:
    """Where the error is; for an unknown key, the key itself (so the line is the key's)."""
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            path.append(extra[0])
    if _none_with(error):
        path.append("none")
    return path


def _none_with(error: Any) -> list[str]:
    """What an expectation that is `none: true` has besides (`scenario_schema._none_alone`), else []."""
    if error.validator != "not" or not isinstance(error.instance, dict) or not error.instance.get("none"):
        return []
    alternatives = error.validator_value.get("anyOf", []) if isinstance(error.validator_value, dict) else []
    return [s["required"][0] for s in alternatives if s.get("required", [None])[0] in error.instance]


def _message(error: Any) -> str:
    """A reader's message for a jsonschema error (oneOf of `required` alternatives made plain)."""
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in error.validator_value):
        names = [s["required"][0] for s in error.validator_value]
        present = [n for n in names if isinstance(error.instance, dict) and n in error.instance]
        if present:
            return f"exactly one of {', '.join(names)}; found {', '.join(present)}"
        return f"needs one of {', '.join(names)}"
    if extra := _none_with(error):
        kind = error.absolute_path[-1] if error.absolute_path else "expectation"
        return f"a {kind} that is none has no {', '.join(extra)}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        return f"unknown key {', '.join(map(repr, extra))}; known: {', '.join(allowed)}"
    if error.validator in ("pattern", "type") and error.schema.get("pattern") in PATTERN_HELP:
        return f"{error.instance!r} is not {PATTERN_HELP[error.schema['pattern']]}"
    if error.validator == "oneOf" and isinstance(error.instance, str):  # the fault shorthand
        return f"{error.instance!r} is not one of drop, duplicate, corrupt-signature or {{delay: DURATION}}"
    if error.validator == "anyOf" and all(set(s) == {"required"} for s in error.validator_value):
        return f"needs one of {', '.join(s['required'][0] for s in error.validator_value)}"
    return str(error.message)


# ----------------------------------------------------------------------------- semantic pass


_DAY_REL = re.compile(r"^D\+([0-9]{1,3})$")


class _Build:
    def __init__(self, file: str, base: Path, marks: Mapping[Path_, int], calendar: BusinessCalendar) -> None:
        self.file, self.base, self.marks, self.calendar = file, base, marks, calendar
        self.problems: list[tuple[int | None, str, str]] = []
        self.codes: dict[int, str] = {}  # a problem's code (by index), when more precise than scenario-invalid
        self.start_day = dt.date(2000, 1, 1)
        self.divisions: Mapping[str, tuple[str, ...]] = {}  # AdmDivCode → the ids of the banks serving it
        self.order_adm: dict[str, str] = {}  # suspend step id → its division ("": the first)

    def fail(self, path: Sequence[str | int], message: str, code: str = "") -> None:
        if code:
            self.codes[len(self.problems)] = code
        self.problems.append((_line(self.marks, path), _dotted(path), message))

    def division(self, raw: Mapping[str, Any], path: Sequence[str | int], bank: str | None) -> str | None:
        """A step's `adm`, checked: a division of the world, served by `bank` when it names one; ""
        when it names none (the world's first: in conformance mode the gateway's world's first).
        None when it is wrong (the problem is recorded)."""
        adm = raw.get("adm") or next(iter(self.divisions), "")
        if adm not in self.divisions:
            self.fail([*path, "adm"], f"no division {adm!r} in world.divisions; known: "
                      f"{', '.join(self.divisions)}", "scenario-unknown-division")
            return None
        if bank and bank in self.banks and bank not in self.divisions.get(adm, ()):
            self.fail([*path, "adm" if "adm" in raw else "bank"], f"bank {bank!r} does not serve division {adm} "
                      f"(world.divisions: {', '.join(self.divisions[adm])})", "scenario-unknown-division")
            return None
        return str(raw.get("adm", ""))

    @property
    def banks(self) -> set[str]:
        return {b for banks in self.divisions.values() for b in banks}

    def day(self, text: str, path: Sequence[str | int]) -> dt.date | None:
        m = _DAY_REL.match(text)
        try:
            if m:
                return self.calendar.add_business_days(self.start_day, int(m.group(1))) if int(m.group(1)) else \
                    self.start_day
            day = dt.date.fromisoformat(text)
            self.calendar.is_business_day(day)  # a day the calendar does not know: calendar-out-of-range here,
            return day                          # not a traceback when the run reaches it
        except InputError as exc:
            self.fail(path, f"{text!r}: {exc}")
        except ValueError:
            self.fail(path, f"{text!r} is not a real date")
        return None

    def time(self, text: str, path: Sequence[str | int]) -> dt.datetime | None:
        text = text.strip()
        if text.startswith("D+"):
            rel, _, tod = text.partition(" ")
            day = self.day(rel, path)
        elif len(text) > 8:
            day_text, tod = text[:10], text[11:]
            day = self.day(day_text, path)
        else:
            day, tod = self.start_day, text
        t = self.tod(tod, path)
        return at(day, t) if day is not None and t is not None else None

    def tod(self, text: str, path: Sequence[str | int]) -> dt.time | None:
        try:
            return dt.time.fromisoformat(text)
        except ValueError:
            self.fail(path, f"{text!r} is not a time of day HH:MM")
            return None

    def money(self, text: str, path: Sequence[str | int]) -> int | None:
        try:
            return parse_fen(text, allow_negative=True)
        except InputError as exc:
            self.fail(path, f"{text!r}: {exc}")
            return None


def _duration(text: str, calendar: BusinessCalendar, now: dt.datetime) -> dt.datetime:
    number, unit = int(text.rstrip("smhbd")), text.lstrip("0123456789")
    if unit == "bd":
        return at(calendar.add_business_days(now.date(), number), now.timetz().replace(tzinfo=None))
    return now + dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours"}[unit]: number})


def _delta(text: str) -> dt.timedelta:
    number, unit = int(text.rstrip("smhbd")), text.lstrip("0123456789")
    if unit == "bd":
        return dt.timedelta(days=number)
    return dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours"}[unit]: number})


def _head_fields(vtcode: str) -> set[str]:
    from messages.catalog import get_catalog
    from messages.schema import element_order

    head, _ = element_order(get_catalog().get(vtcode).xsd)
    return set(head)


def _build(data: Mapping[str, Any], b: _Build, calendar: BusinessCalendar) -> Scenario:
    w = data["world"]
    start_text = w["start"]
    start_day = dt.date(2000, 1, 1)
    try:
        start_day = dt.date.fromisoformat(start_text[:10])
        if not calendar.is_business_day(start_day):  # the rest is still checked, counting from that day
            b.fail(["world", "start"], f"{start_day} is not a business day")
    except InputError as exc:
        b.fail(["world", "start"], str(exc))
        raise ScenarioError(b.file, b.problems) from None  # off the calendar: no time of the file resolves
    except ValueError:
        b.fail(["world", "start"], f"{start_text!r} is not a real date")
        raise ScenarioError(b.file, b.problems) from None
    b.start_day = start_day
    start_tod = b.tod(start_text[11:], ["world", "start"]) if len(start_text) > 10 else DEFAULT_START_TIME
    start = at(start_day, start_tod or DEFAULT_START_TIME)
    try:
        clock = ClockConfig.from_dict(dict(w.get("clock") or {}))
    except InputError as exc:
        b.fail(["world", "clock"], str(exc))
        clock = ClockConfig()
    banks = []
    for i, spec in enumerate(w.get("banks") or [{"id": bid, "code": code, "name": name}
                                                 for bid, code, name in DEFAULT_BANKS]):
        times = {k: b.tod(spec[k], ["world", "banks", i, k]) if k in spec else None
                 for k in ("filing_time", "open_time", "replenish_time")}
        profile = spec.get("profile", "standard")
        _check_profile(profile, dict(spec.get("params") or {}), ["world", "banks", i], b)
        banks.append(BankSpec(spec["id"], spec["code"], spec.get("name", f"示例银行{spec['id']}"),
                              profile,
                              b.money(spec["reserve"], ["world", "banks", i, "reserve"]) if "reserve" in spec else None,
                              times["filing_time"], times["open_time"], times["replenish_time"],
                              params=dict(spec.get("params") or {}),
                              account_open_days=int(spec.get("account_open_days", 0))))
    seen: dict[str, int] = {}
    for i, bank in enumerate(banks):
        if bank.id in ("treasury", "pboc", *seen):
            b.fail(["world", "banks", i, "id"], f"bank id {bank.id!r} is used twice or is a reserved name")
        seen[bank.id] = i
    if len({bk.code for bk in banks}) != len(banks):
        b.fail(["world", "banks"], "two banks have the same code")
    units = tuple(UnitSpec(u.get("sup_dep", u["agency"][:3]), u.get("sup_dep_name", f"示例主管部门{u['agency'][:3]}"),
                           u["agency"], u.get("agency_name", f"示例单位{u['agency']}"))
                  for u in (w.get("budget_units") or [])) or tuple(UnitSpec(*u) for u in DEFAULT_UNITS)
    t, p = w.get("treasury") or {}, w.get("pboc") or {}
    world = World(
        start=start, seed=int(w.get("seed", 1)), clock=clock, banks=tuple(banks), units=units,
        treasury_profile=t.get("profile", "scripted"), quota_mode=t.get("quota", "auto"),
        quota_time=b.tod(t["quota_time"], ["world", "treasury", "quota_time"]) or dt.time(8, 30)
        if "quota_time" in t else dt.time(8, 30),
        vouchers_per_day=int(t.get("vouchers_per_day", 0)),
        days=int(t.get("days", 1)),
        budget_units=int(t.get("units", 0)), budget_anomaly_permille=int(t.get("budget_anomalies", 20)),
        unspent_pct=int(t.get("unspent_pct", 0)),
        tsa_opening_fen=(b.money(t["tsa_opening"], ["world", "treasury", "tsa_opening"]) or 0)
        if "tsa_opening" in t else (b.money(p["tsa_opening"], ["world", "pboc", "tsa_opening"]) or 0)
        if "tsa_opening" in p else 500_000_000_00,
        pboc_profile=p.get("profile", "standard"),
        clearing_floor_fen=(b.money(p["clearing_floor"], ["world", "pboc", "clearing_floor"]) or 0)
        if "clearing_floor" in p else 0,
        end=b.time(w["end"], ["world", "end"]) if "end" in w else None,
        accounts=tuple(_account(a, ["world", "accounts", i], b, {bk.id for bk in banks}, {u.agency for u in units})
                       for i, a in enumerate(w.get("accounts") or [])),
        contracts=_contracts(w.get("contracts") or [], b, {u.agency for u in units}),
        division_specs=_divisions(w.get("divisions") or [], banks, b),
    )
    b.divisions = {d.code: d.banks for d in world.divisions}
    if len(world.divisions) > 1 and world.treasury_profile == "generated":
        b.fail(["world", "divisions"], "a generated treasury plans the vouchers of one division: name one division "
               "(or use profile: scripted)")
    participants = {"treasury", "pboc", *(bk.id for bk in banks)}
    agencies = {u.agency for u in units}

    steps: list[Step] = []
    ids: dict[str, tuple[str, str | None]] = {}  # voucher id → (sender, vtcode)
    orders: dict[str, str] = {}  # suspend step id → bank id, while not lifted
    now = start
    for i, raw in enumerate(data.get("steps") or []):
        path: list[str | int] = ["steps", i]
        when = now
        if "at" in raw:
            resolved = b.time(raw["at"], [*path, "at"])
            if resolved is not None:
                if resolved < now:
                    b.fail([*path, "at"], f"{raw['at']} ({resolved:%Y-%m-%d %H:%M}) is before the previous step "
                           f"({now:%Y-%m-%d %H:%M}): steps move forward in time")
                else:
                    when = resolved
        line = _line(b.marks, path) or 0
        note = raw.get("note", "")
        if "send" in raw:
            spec = _send(raw["send"], [*path, "send"], b, ids, participants, agencies, f"s{i}", world.contracts)
            steps.append(Step(when, "send", (spec,) if spec else (), note=note, line=line))
        elif "batch" in raw:
            batch = raw["batch"]
            specs: list[SendSpec] = []
            if "vouchers" in batch:
                for j, item in enumerate(batch["vouchers"]):
                    spec = _send(item, [*path, "batch", "vouchers", j], b, ids, participants, agencies, f"s{i}-{j}",
                                 world.contracts)
                    if spec:
                        specs.append(spec)
            else:
                like = batch["like"]
                base_id = like.get("id", f"b{i}")
                for j in range(1, batch["count"] + 1):
                    item = {**like, "id": f"{base_id}-{j}"}
                    if "voucher_no" in like:
                        item["voucher_no"] = f"{like['voucher_no']}{j:05d}"
                    spec = _send(item, [*path, "batch", "like"], b, ids, participants, agencies, f"s{i}-{j}",
                                 world.contracts)
                    if spec is None:
                        break
                    specs.append(spec)
            if len({s.sender for s in specs}) > 1:
                b.fail([*path, "batch"], "a batch is one envelope: every voucher in it has the same sender")
            steps.append(Step(when, "batch", tuple(specs), note=note, line=line))
        elif "quota" in raw:
            q = raw["quota"]
            if q["bank"] not in seen:
                b.fail([*path, "quota", "bank"], f"no bank {q['bank']!r} in world.banks")
            day = b.day(q["day"], [*path, "quota", "day"]) if "day" in q else when.date()
            qid = q.get("id", f"q{i}")
            if qid in ids:
                b.fail([*path, "quota", "id"], f"id {qid!r} is used twice")
            ids[qid] = ("treasury", "5108" if q["pay_type"] == "direct" else "5106")
            adm = b.division(q, [*path, "quota"], q["bank"] if q["bank"] in seen else None) or ""
            steps.append(Step(when, "quota", quota={"bank": q["bank"], "pay_type": q["pay_type"], "id": qid,
                                                     "adm": adm,
                                                     "amount_fen": b.money(q["amount"], [*path, "quota", "amount"]),
                                                     "day": day, "fund_type": q.get("fund_type", "1")},
                              note=note, line=line))
        elif "advance" in raw:
            adv = raw["advance"]
            try:
                target = b.time(adv["to"], [*path, "advance", "to"]) if "to" in adv else \
                    _duration(adv["by"], calendar, when)
            except InputError as exc:
                b.fail([*path, "advance", "by"], str(exc))
                target = None
            if target is not None and target < when:
                b.fail([*path, "advance"], "the clock never goes back")
            elif target is not None:
                when = target
            steps.append(Step(when, "advance", note=note, line=line))
        elif "offline" in raw or "online" in raw:
            action = "offline" if "offline" in raw else "online"
            who = raw[action]
            if who not in participants:
                b.fail([*path, action], f"no participant {who!r}; known: {', '.join(sorted(participants))}")
            steps.append(Step(when, action, target=who, note=note, line=line))
        elif "fault" in raw:
            f = dict(raw["fault"])
            if f["to"] not in participants:
                b.fail([*path, "fault", "to"], f"no participant {f['to']!r}")
            if f["kind"] == "delay" and "delay" not in f:
                b.fail([*path, "fault"], "a delay fault says how long: delay: 30m")
            if "delay" in f:
                f["delay"] = _delta(f["delay"])
            steps.append(Step(when, "fault", target=f["to"], fault=f, note=note, line=line))
        elif "monitor" in raw:
            m = raw["monitor"]
            verb = "release" if "release" in m else "reject"
            if m[verb] not in ids:
                b.fail([*path, "monitor", verb], f"no voucher {m[verb]!r} is sent before this step")
            steps.append(Step(when, "monitor", target=m[verb], fault={"action": verb, "reason": m["reason"]},
                              note=note, line=line))
        elif "suspend" in raw or "lift" in raw:
            steps.append(_suspension_step(raw, path, b, ids, seen, orders, when, f"z{i}", note, line))
        elif "account" in raw:
            a = raw["account"]
            aid = a.get("id", f"a{i}")
            if aid in ids:
                b.fail([*path, "account", "id"], f"id {aid!r} is used twice")
            ids[aid] = ("treasury", "7601")
            spec = _account(a, [*path, "account"], b, set(seen), agencies)
            adm = b.division(a, [*path, "account"], a["bank"] if a["bank"] in seen else None) or ""
            steps.append(Step(when, "account", note=note, line=line, order={
                "adm": adm,
                "id": aid, "action": a["action"], "account": spec, "replaces": a.get("replaces", ""),
                "filing": a.get("filing", "")}))
        now = when

    banks = _returns(w.get("banks") or [], banks, steps, b)
    world = dataclasses.replace(world, banks=tuple(banks))

    expectations = []
    for i, raw in enumerate(data["expect"]):
        path = ["expect", i]
        kind = next(k for k in raw if k not in ("name", "by", "before"))
        params: dict[str, Any] = dict(raw[kind])
        ref = params.get("voucher")
        if isinstance(ref, str) and ref not in ids:
            b.fail([*path, kind, "voucher"], f"no voucher {ref!r} is sent in the steps")
        for key in ("from", "owner", "sender", "recipient"):
            if key in params and params[key] not in participants:
                b.fail([*path, kind, key], f"no participant {params[key]!r}")
        if kind == "clearing" and params["includes"] is False and "state" in params:
            b.fail([*path, kind, "state"], "state: is how the clearing request covering the voucher was answered; "
                   "with includes: false there is none (drop state:, or expect includes: true)")
        if kind == "account_notice" and ids.get(params["notice"], ("", None))[1] != "7601":
            b.fail([*path, kind, "notice"], f"no account step {params['notice']!r} in the steps")
        if kind in ("scorecard", "refused", "reports_match", "clearings_sum",
                    "report_subject", "report_direct_funds", "account_feed") and params["bank"] not in seen:
            b.fail([*path, kind, "bank"], f"no bank {params['bank']!r} in world.banks")
        if kind == "signoff":
            _check_signoff(params, [*path, kind], b, seen, ids)
        if kind == "reconciliation":
            for j, brk in enumerate(params.get("breaks", [])):
                for v in brk.get("vouchers", []):
                    if v not in ids:
                        b.fail([*path, kind, "breaks", j, "vouchers"], f"no voucher {v!r} is sent in the steps")
        for key in ("close_of", "day"):
            if key in params:
                params[key] = b.day(params[key], [*path, kind, key])
        for key in ("cancelled", "carried"):
            if kind == "year_end" and key in params:
                params[f"{key}_fen"] = b.money(params[key], [*path, kind, key])
        if kind == "year_end" and "bank" in params and params["bank"] not in seen:
            b.fail([*path, kind, "bank"], f"no bank {params['bank']!r} in world.banks")
        if kind == "year_end" and world.treasury_profile != "generated":
            b.fail([*path, kind], "year_end expects the generated treasury's own year end (profile: generated)")
        if "equals" in params and kind in ("balance", "unit_quota", "quota_restored", "clearings_sum",
                                           "report_subject", "report_direct_funds"):
            params["equals_fen"] = b.money(params["equals"], [*path, kind, "equals"])
        if kind == "refused" and "adm" in params and b.divisions:  # a division of the world, served by the bank
            b.division(params, [*path, kind], params["bank"] if params["bank"] in seen else None)
        if kind == "refund" and "amount" in params:
            params["amount_fen"] = b.money(params["amount"], [*path, kind, "amount"])
        deadline = "before" if "before" in raw else "by"
        by = b.time(raw[deadline], [*path, deadline]) if deadline in raw else None
        name = raw.get("name") or _default_name(kind, params)
        expectations.append(Expectation(i, kind, params, by, name, _line(b.marks, path) or 0, deadline == "before"))

    if world.budget_units and world.treasury_profile != "generated":
        b.fail(["world", "treasury", "units"], "units are generated with their budgets by a generated treasury "
               "(profile: generated); a scripted one names its units in world.budget_units")
    if not world.budget_units and any(e.kind == "budget_refused" for e in expectations):
        b.fail(["world", "treasury"], "budget_refused expects the generated treasury's budget check: "
               "set world.treasury.units")
    if world.treasury_profile == "generated" and any(s.action in ("send", "batch", "quota") for s in steps):
        b.fail(["world", "treasury", "profile"], "a generated treasury plans its own vouchers: no send, batch "
               "or quota steps (use profile: scripted)")
    return Scenario(data["scenario"], data.get("title", data["scenario"]), data.get("description", ""),
                    tuple(data.get("tags", [])), world, tuple(steps), tuple(expectations), b.file, tuple(ids))


def _divisions(raw: Sequence[Mapping[str, Any]], banks: Sequence[BankSpec], b: _Build) -> tuple[DivisionSpec, ...]:
    """world.divisions: codes once each, banks of world.banks, every bank serving at least one
    (a participant of the registry serves some division). Empty: the default single division."""
    if not raw:
        return ()
    ids = [bk.id for bk in banks]
    out: list[DivisionSpec] = []
    for i, d in enumerate(raw):
        path: list[str | int] = ["world", "divisions", i]
        if any(x.code == d["code"] for x in out):
            b.fail([*path, "code"], f"division {d['code']} is named twice")
        served = tuple(d.get("banks") or ids)
        for j, bank in enumerate(served):
            if bank not in ids:
                b.fail([*path, "banks", j], f"no bank {bank!r} in world.banks")
        out.append(DivisionSpec(d["code"], served, d.get("name", "")))
    for i, bank in enumerate(ids):
        if not any(bank in d.banks for d in out):
            b.fail(["world", "banks", i, "id"], f"bank {bank!r} serves no division of world.divisions")
    return tuple(out)


def _check_signoff(params: dict[str, Any], path: list[str | int], b: _Build, banks: Mapping[str, int],
                   ids: Mapping[str, tuple[str, str | None]]) -> None:
    """A `signoff:` expectation: its bank in the world, a unit only at bank-unit, no bank at
    treasury-pboc, its vouchers sent in the steps; `off_by` read to fen."""
    if "bank" in params and params["bank"] not in banks:
        b.fail([*path, "bank"], f"no bank {params['bank']!r} in world.banks")
    if params["level"] == "treasury-pboc" and "bank" in params:
        b.fail([*path, "bank"], "treasury-pboc is the treasury's and the central bank's: it names no bank")
    if "unit" in params and params["level"] != "bank-unit":
        b.fail([*path, "unit"], "a unit is named at level bank-unit only")
    if "adm" in params and params["level"] not in ("bank-treasury", "bank-unit"):
        b.fail([*path, "adm"], "a division (adm) is named at bank-treasury and bank-unit only: the bank-pboc and "
               "treasury-pboc verdicts are not kept by division")
    if params.get("agreed") is True and any(k in params for k in ("cause", "off_by", "vouchers")):
        b.fail([*path, "agreed"], "agreed: true has no breaks: drop cause/off_by/vouchers, or expect agreed: false")
    for v in params.get("vouchers", []):
        if v not in ids:
            b.fail([*path, "vouchers"], f"no voucher {v!r} is sent in the steps")
    if "off_by" in params:
        params["off_by_fen"] = b.money(params["off_by"], [*path, "off_by"])


def _check_profile(profile: str, params: dict[str, Any], path: list[str | int], b: _Build) -> None:
    """A bank's behaviour profile must exist and take these parameters (bank_sim.profiles)."""
    from bank_sim.profiles import available_profiles, load_profile

    if profile in ("standard", "external"):
        if params:
            b.fail([*path, "params"], f"profile {profile} takes no params (a behaviour profile does: "
                   f"{', '.join(sorted(available_profiles()))})")
        return
    if profile not in available_profiles():
        b.fail([*path, "profile"], f"no bank profile {profile!r}; known: standard, external, "
               f"{', '.join(sorted(available_profiles()))}")
        return
    try:
        load_profile(profile, params, 1)
    except (ValueError, TypeError) as exc:
        b.fail([*path, "params"], str(exc))


def _returns(raw_banks: Sequence[Mapping[str, Any]], banks: list[BankSpec], steps: Sequence[Step],
             b: _Build) -> list[BankSpec]:
    """Each bank's `returns:` resolved: the payment must be sent to that bank in the steps, with an
    explicit voucher_no (the bank knows a payment by its VoucherNo), before the return."""
    sends = {spec.id: (spec, step.at) for step in steps for spec in step.sends}
    out = []
    for i, bank in enumerate(banks):
        returns: list[ReturnSpec] = []
        for j, r in enumerate((raw_banks[i].get("returns") if i < len(raw_banks) else None) or []):
            path: list[str | int] = ["world", "banks", i, "returns", j]
            found = sends.get(r["voucher"])
            when = b.time(r["at"], [*path, "at"])
            if found is None:
                b.fail([*path, "voucher"], f"no voucher {r['voucher']!r} is sent in the steps")
                continue
            spec, sent_at = found
            if spec.template not in PAYMENT_TEMPLATES or spec.bank != bank.id:
                b.fail([*path, "voucher"], f"{r['voucher']!r} is not a payment voucher to {bank.id}")
                continue
            if not spec.voucher_no:
                b.fail([*path, "voucher"], f"the payment {r['voucher']!r} needs an explicit voucher_no: to be "
                       "returned (the bank knows it by its VoucherNo)")
                continue
            if when is None:
                continue
            if when <= sent_at:
                b.fail([*path, "at"], f"the money comes back after it was sent ({sent_at:%Y-%m-%d %H:%M})")
                continue
            if len(banks) < 2:
                b.fail([*path, "voucher"], "a payee's return needs another bank in the world to stand for the "
                       "payee's bank (it sends the payee-bank refund notice, 2252)")
                continue
            line = int(r.get("batch_line", 0))
            n = 2 if spec.template == "union-fees" else len(spec.lines)  # the union's line, the federation's
            if line and not 1 <= line <= n:
                b.fail([*path, "batch_line"], f"{r['voucher']!r} is not a batch voucher with a line {line}"
                       + (f" (it has {n})" if n else ""))
                continue
            # by the voucher (its id): two divisions' payments of one VoucherNo are two
            if any(x.voucher == r["voucher"] and x.batch_line in (0, line) for x in returns) or \
                    (not line and any(x.voucher == r["voucher"] for x in returns)):
                b.fail([*path, "voucher"], f"{r['voucher']!r} is returned twice")
                continue
            returns.append(ReturnSpec(r["voucher"], spec.voucher_no, when, r.get("reason", "account-closed"),
                                      _line(b.marks, path) or 0, line))
        out.append(dataclasses.replace(bank, returns=tuple(returns)))
    return out


def _default_name(kind: str, p: Mapping[str, Any]) -> str:
    if kind == "rejected":
        return f"{p['voucher']} rejected {p['code']}" + (f" by {p['who']}" if "who" in p else "")
    if kind == "accepted":
        return f"{p['voucher']} accepted" + (f" by {p['who']}" if "who" in p else "")
    if kind == "receipt":
        return f"no receipt for {p['voucher']}" if p.get("none") else f"receipt for {p['voucher']}"
    if kind == "clearing":
        return f"clearing {'includes' if p['includes'] else 'excludes'} {p['voucher']}"
    if kind == "balance":
        return f"{p['owner']} {p['account']} = {p['equals']}"
    if kind == "refund" and p.get("none"):
        return f"no refund of {p['voucher']}"
    if kind == "refund":
        return f"refund of {p['voucher']}" + (f" {p['state']}" if "state" in p else "") + (
            f" {p['code']}" if "code" in p else "")
    if kind == "refused":
        return f"{p['bank']}'s {p.get('vtcode', '')} refused {p['code']}".replace("  ", " ") + (
            f" ({p['adm']})" if "adm" in p else "")
    if kind == "scorecard":
        return f"scorecard of {p['bank']}" + (f" {p['month']}" if "month" in p else "") + (
            " flagged" if p.get("flagged") else " not flagged" if p.get("flagged") is False else "")
    if kind == "report_subject":
        return f"{p['bank']}'s {p['vtcode']}" + (f" of {p['adm']}" if "adm" in p else "") + (
            f" under subject {p['subject']} = {p['equals']}")
    if kind == "report_direct_funds":
        return f"{p['bank']}'s {p['vtcode']}" + (f" of {p['adm']}" if "adm" in p else "") + f" direct funds = {p['equals']}"
    if kind == "reports_match":
        return f"reports of {p['bank']}" + (f" to {p['adm']}" if "adm" in p else "") + " match the treasury's books" + (
            f" ({p['vtcode']})" if "vtcode" in p else "")
    if kind == "unit_quota":
        return f"{p['unit']}" + (f" of {p['adm']}" if "adm" in p else "") + f"'s quota left at {p['owner']} = {p['equals']}"
    if kind == "quota_restored":
        what = "cross-year refund lines" + (" left" if p.get("left") else "") if p.get("cross_year") else "quota restored"
        return f"{p['unit']}" + (f" of {p['adm']}" if "adm" in p else "") + f"'s {what} = {p['equals']}"
    if kind == "year_end":
        return f"year end {p['year']}" + (f" of {p['bank']}" if "bank" in p else "") + "".join(
            f" {k} {p[k]}" for k in ("cancelled", "carried", "balanced", "confirmed") if k in p)
    if kind == "clearings_sum":
        return f"{p['bank']}'s {p.get('clear_type', '')} clearings of {p['day']} = {p['equals']}".replace("  ", " ")
    if kind == "budget_refused":
        bound = next(f"{k.replace('_', ' ')} {p[k]}" for k in ("equals", "at_least", "at_most") if k in p)
        return "requests refused " + (p.get("code") or "for their budget") + (
            f" of {p['unit']}" if "unit" in p else "") + f" {bound}"
    if kind == "signoff":
        return (f"{p['level']} {p['month']}" + (f" {p['bank']}" if "bank" in p else "")
                + (f" division {p['adm']}" if "adm" in p else "") + (f" unit {p['unit']}" if "unit" in p else "") + "".join(
                    f" {k} {p[k]}" for k in ("agreed", "verdict", "signed_off", "cause", "off_by") if k in p))
    if kind == "count":
        bound = next(f"{k.replace('_', ' ')} {p[k]}" for k in ("equals", "at_least", "at_most") if k in p)
        return f"count of {p['vtcode']}" + (f" flag {p['flag']}" if "flag" in p else "") + f" {bound}"
    return kind.replace("_", " ")


def _account(raw: Mapping[str, Any], path: list[str | int], b: _Build, banks: set[str],
             agencies: set[str]) -> AccountSpec:
    """A world's declared account or an account step's: its bank must exist, a unit account name a unit."""
    kind = ACCOUNT_TYPES[raw["type"]]
    unit = str(raw.get("unit", ""))
    if raw["bank"] not in banks:
        b.fail([*path, "bank"], f"no bank {raw['bank']!r} in world.banks")
    if kind in ("2", "3") and not unit:
        b.fail([*path, "unit"], f"a {raw['type']} account names its unit (unit: AgencyCode)")
    elif unit and kind in ("1", "4"):
        b.fail([*path, "unit"], f"a {raw['type']} account belongs to the finance bureau, not to a unit")
    elif unit and unit not in agencies:
        b.fail([*path, "unit"], f"no unit {unit!r} in world.budget_units")
    default = {"1": "财政零余额账户", "2": "零余额账户", "3": "实有资金账户", "4": "财政专户"}[kind]
    return AccountSpec(raw["bank"], kind, str(raw["number"]), raw.get("name", f"示例{unit}{default}"), unit,
                       str(raw.get("approval", "")))


# A suspend step's scope key → the 7501 head element it fills (xsd/7501.xsd).
SUSPEND_SCOPES: dict[str, str] = {"unit": "AgencyCode", "account": "PayAcctNo", "payee": "PayeeAcctNo"}


def _suspension_step(raw: Mapping[str, Any], path: list[str | int], b: _Build, ids: dict[str, tuple[str, str | None]],
                     banks: Mapping[str, int], orders: dict[str, str], when: dt.datetime, default_id: str,
                     note: str, line: int) -> Step:
    """A `suspend:` (the treasury orders a bank to suspend payments in a scope) or `lift:` step
    (it lifts a standing order of the steps), 000 五(二)3; both send a 7501 as the treasury."""
    if "suspend" in raw:
        z = raw["suspend"]
        if z["bank"] not in banks:
            b.fail([*path, "suspend", "bank"], f"no bank {z['bank']!r} in world.banks")
        key = next(k for k in SUSPEND_SCOPES if k in z)
        zid = z.get("id", default_id)
        if zid in ids:
            b.fail([*path, "suspend", "id"], f"id {zid!r} is used twice")
        ids[zid] = ("treasury", "7501")
        orders[zid] = z["bank"]
        adm = b.division(z, [*path, "suspend"], z["bank"] if z["bank"] in banks else None) or ""
        b.order_adm[zid] = adm
        return Step(when, "suspend", note=note, line=line, order={
            "id": zid, "bank": z["bank"], "scope": (SUSPEND_SCOPES[key], str(z[key])), "reason": z["reason"],
            **({"adm": adm} if adm else {})})
    lift = raw["lift"]
    if lift["order"] not in orders:
        b.fail([*path, "lift", "order"], f"no standing order {lift['order']!r}: a lift names a suspend step before it")
    lid = lift.get("id", default_id)
    if lid in ids:
        b.fail([*path, "lift", "id"], f"id {lid!r} is used twice")
    ids[lid] = ("treasury", "7501")
    bank = orders.pop(lift["order"], "")
    return Step(when, "lift", note=note, line=line, order={
        "id": lid, "order": lift["order"], "bank": bank, "reason": lift.get("reason", "暂停支付解除"),
        **({"adm": b.order_adm[lift["order"]]} if b.order_adm.get(lift["order"]) else {})})  # the order's division


def _contracts(raw: Sequence[Mapping[str, Any]], b: _Build, agencies: set[str]) -> tuple[ContractSpec, ...]:
    """world.contracts: the procurement contracts the treasury holds (docs/payment-kinds.md)."""
    out: list[ContractSpec] = []
    for i, c in enumerate(raw):
        path: list[str | int] = ["world", "contracts", i]
        if c["number"] in {x.number for x in out}:
            b.fail([*path, "number"], f"contract {c['number']!r} is declared twice")
        if c["unit"] not in agencies:
            b.fail([*path, "unit"], f"no budget unit with agency {c['unit']!r}")
        amount = b.money(c["amount"], [*path, "amount"])
        if amount is not None and amount <= 0:
            b.fail([*path, "amount"], "a contract amount is more than 0.00")
        out.append(ContractSpec(c["number"], c["unit"], c["supplier_account"], c["supplier_name"],
                                c.get("supplier_bank", "示例银行城西支行"), amount or 0,
                                bool(c.get("acceptance_required", True))))
    return tuple(out)


def _procurement_fields(raw: Mapping[str, Any], path: list[str | int], b: _Build,
                        contracts: Sequence[ContractSpec]) -> tuple[ContractSpec | None, dict[str, str]]:
    """Template procurement: the contract it pays on and the head elements it makes (the payee is the
    contract's supplier; with `acceptance:` ProcureFlag 1 and the acceptance report, else 2)."""
    c = next((x for x in contracts if x.number == raw.get("contract")), None)
    if c is None:
        b.fail([*path, "contract"], f"no contract {raw.get('contract')!r} in world.contracts"
               if "contract" in raw else "template procurement needs contract: <world.contracts number>")
        return None, {}
    head = {"ProcureFlag": "2", "ContractNo": c.number, "SupplierAcctNo": c.supplier_account,
            "SupplierName": c.supplier_name, "PayeeAcctNo": c.supplier_account, "PayeeAcctName": c.supplier_name,
            "PayeeAcctBankName": c.supplier_bank, "PaySummaryName": "政府采购"}
    acceptance = raw.get("acceptance")
    if acceptance is not None:
        day = b.day(acceptance["date"], [*path, "acceptance", "date"])
        head.update({"ProcureFlag": "1", "AcceptDocNo": acceptance["doc"],
                     "AcceptDate": f"{day:%Y%m%d}" if day else ""})
    return c, head


def _send(raw: Mapping[str, Any], path: list[str | int], b: _Build, ids: dict[str, tuple[str, str | None]],
          participants: set[str], agencies: set[str], default_id: str,
          contracts: Sequence[ContractSpec] = ()) -> SendSpec | None:
    template = raw.get("template")
    sender = raw.get("from", "treasury" if template != "receipt" else None)
    vid = raw.get("id", raw.get("voucher_no", default_id))
    ok = True
    if vid in ids:
        b.fail([*path, "id"], f"id {vid!r} is used twice")
        ok = False
    if template == "receipt":
        if "of" not in raw:
            b.fail([*path], "a receipt names its original: of: <voucher id>")
            return None
        if raw["of"] not in ids:
            b.fail([*path, "of"], f"no voucher {raw['of']!r} is sent before this step")
            return None
        if sender is None:
            b.fail([*path], "a receipt says who sends it: from: <bank id>")
            return None
    if sender not in participants:
        b.fail([*path, "from"], f"no participant {sender!r}")
        return None
    if template in TEMPLATE_VTCODE and "bank" not in raw:
        b.fail([*path], f"template {template} needs bank: <bank id>")
        ok = False
    if "bank" in raw and raw["bank"] not in participants - {"treasury", "pboc"}:
        b.fail([*path, "bank"], f"no bank {raw['bank']!r} in world.banks")
        ok = False
    if "unit" in raw and raw["unit"] not in agencies:
        b.fail([*path, "unit"], f"no budget unit with agency {raw['unit']!r}")
        ok = False
    lines = _batch_lines(raw, path, b, template or "") if template in LINES_TEMPLATES else ()
    if template in LINES_TEMPLATES and not lines:
        ok = False
    elif template in TEMPLATE_VTCODE and "amount" not in raw and template not in LINES_TEMPLATES:
        b.fail([*path], f"template {template} needs amount: \"12.34\"")
        ok = False
    vtcode = TEMPLATE_VTCODE.get(template or "") or (ids[raw["of"]][1] if template == "receipt" else None)
    if vtcode is not None and raw.get("fields"):
        unknown = sorted(set(raw["fields"]) - _head_fields(vtcode))
        if unknown:
            b.fail([*path, "fields"], f"VtCode {vtcode} has no head element {', '.join(unknown)}")
            ok = False
    file = None
    if "file" in raw:
        file = (b.base / raw["file"]).resolve()
        if not file.is_file():
            b.fail([*path, "file"], f"no file {raw['file']!r} next to the scenario")
            ok = False
    fault, delay = raw.get("fault"), None
    if isinstance(fault, dict):
        delay, fault = _delta(fault["delay"]), "delay"
    amount = b.money(raw["amount"], [*path, "amount"]) if "amount" in raw else None
    if lines and amount is not None and amount != sum(x[3] for x in lines):
        b.fail([*path, "amount"], f"amount {raw['amount']} is not the sum of the lines, "
               f"{sum(x[3] for x in lines) / 100:.2f}")
        ok = False
    amount = sum(x[3] for x in lines) if lines else amount
    if amount is not None and amount <= 0:
        b.fail([*path, "amount"], "a payment pays a positive amount")
        ok = False
    if template == "union-fees" and amount is not None and amount < 100:
        b.fail([*path, "amount"], "union fees are paid to two accounts, the union's and the federation's: at least "
               "1.00")
        ok = False
    adm = ""
    if template == "receipt" or file is not None:
        if "adm" in raw:
            b.fail([*path, "adm"], "a receipt or a voucher file carries its own AdmDivCode: no adm")
            ok = False
    elif template in TEMPLATE_VTCODE:
        named = b.division(raw, path, raw.get("bank") if raw.get("bank") in participants else None)
        ok, adm = ok and named is not None, named or ""
    fields, unit = dict(raw.get("fields") or {}), raw.get("unit")
    if template == "procurement":
        contract, made = _procurement_fields(raw, path, b, contracts)
        if contract is None or unit not in (None, contract.unit):
            if contract is not None:
                b.fail([*path, "unit"], f"contract {contract.number} is unit {contract.unit}'s")
            ok = False
        else:
            fields, unit = {**made, **fields}, contract.unit
    if not ok:
        return None
    ids[vid] = (sender, vtcode)
    return SendSpec(vid, sender, template, file, raw.get("bank"), unit, amount, raw.get("voucher_no"),
                    raw.get("of"), fields, fault, delay, _line(b.marks, path) or 0, lines,
                    raw.get("contract") if template == "procurement" else None, adm)


def _batch_lines(raw: Mapping[str, Any], path: list[str | int], b: _Build,
                 template: str = "salary-batch") -> tuple[tuple[str, str, str, int], ...]:
    """A salary batch's `lines:` (each a payee's account, name, bank and amount), or a card
    repayment's (each a card's number as `account`, its holder as `payee`, and amount), or () after
    a failure."""
    if not raw.get("lines"):
        b.fail([*path], f"template {template} needs lines: [{{account, payee, amount}}, ...]")
        return ()
    out = []
    for k, x in enumerate(raw["lines"]):
        fen = b.money(x["amount"], [*path, "lines", k, "amount"])
        if fen is None:
            return ()
        if fen <= 0:
            b.fail([*path, "lines", k, "amount"], "a line pays a positive amount")
            return ()
        out.append((str(x["account"]), x["payee"], x.get("bank_name", "示例银行城东支行"), fen))
    if template == "card-repayment" and not all(re.fullmatch(r"[0-9]{16,19}", x[0]) for x in out):
        b.fail([*path, "lines"], "a card repayment's account is the card's number (CardNo): 16 to 19 digits")
        return ()
    if len({x[0] for x in out}) != len(out):
        b.fail([*path, "lines"], "a payee account appears on two lines (a payee's bank names the line by it)")
        return ()
    return tuple(out)


# ----------------------------------------------------------------------------- entry points


def load_text(text: str, file: str = "<scenario>", *, base: Path | None = None,
              calendar: BusinessCalendar | None = None) -> Scenario:
    """Parse and check a scenario's text; raise `ScenarioError` listing every problem found."""
    data, marks, problems = _parse_yaml(text, file)
    problems = sorted([*problems, *_schema_problems(data, marks)], key=lambda p: (p[0] or 0, p[1]))
    if problems:
        raise ScenarioError(file, problems)
    calendar = calendar or BusinessCalendar.default()
    builder = _Build(file, base or Path.cwd(), marks, calendar)
    scenario = _build(data, builder, calendar)
    if builder.problems:
        raise ScenarioError(file, builder.problems, builder.codes)
    return scenario


def load_scenario(path: str | Path, *, calendar: BusinessCalendar | None = None) -> Scenario:
    path = Path(path)
    try:
        with open_regular(path) as (fh, _):
            raw = fh.read(SCENARIO_BYTES_MAX + 1)
    except OSError as exc:
        raise ScenarioError(str(path), [(None, "(file)", f"cannot read: {exc.strerror or exc}")]) from exc
    if len(raw) > SCENARIO_BYTES_MAX:
        raise ScenarioError(str(path), [(None, "(file)", f"larger than {SCENARIO_BYTES_MAX} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), [(None, "(file)", f"not UTF-8: {exc}")]) from exc
    return load_text(text, str(path), base=path.parent, calendar=calendar)


def catalogue(directory: Path = CATALOGUE_DIR) -> list[Path]:
    """The scenario files of a directory, sorted by name."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def resolve_targets(targets: Sequence[str], directory: Path = CATALOGUE_DIR) -> Iterator[Path]:
    """NAME (a catalogue scenario), FILE or DIR, each to scenario files."""
    for target in targets:
        p = Path(target)
        if p.is_dir():
            yield from catalogue(p)
        elif p.is_file():
            yield p
        elif (directory / f"{target}.yaml").is_file():
            yield directory / f"{target}.yaml"
        else:
            raise ScenarioError(target, [(None, "(target)", f"no scenario file, directory or catalogue name {target!r}")])

