"""Evaluate one payment against the catalogue: pure (no IO, no clock), so it is tested directly.

The facts come from the voucher (`PaymentFacts.from_doc`) and, for the rules that look back
(splitting, a payee never seen), from the `History` the store read for that payer and payee.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.monitoring.rules import GRADES, Catalogue, Rule
from messages.errors import InputError
from messages.money import fen_to_str, parse_fen

__all__ = ["RULES", "Checks", "History", "HistoryNeeds", "Hit", "LineNeeds", "PaymentFacts", "evaluate", "lines_of",
           "lines_walked", "outcome_of"]


class Line(NamedTuple):
    """A Detail line as the rules read it. A named tuple, not a frozen dataclass: one is made per
    line of every payment screened, and a frozen dataclass sets each field through
    object.__setattr__ (~12K instructions a payment of 2-3 lines, callgrind)."""

    func: str  # ExpFuncCode (budget subject)
    eco: str  # ExpEcoCode (economic classification)
    project: str  # ProCode
    fen: int


class PaymentFacts(NamedTuple):
    """What the rules read of one payment. A named tuple, not a frozen dataclass (as `Line`): one
    is made for every payment screened, and a frozen dataclass sets each of its twelve fields
    through object.__setattr__."""

    key: str  # AdmDiv/Year/VtCode/No
    voucher_no: str
    vtcode: str
    amount_fen: int
    payer_acct: str
    payee_acct: str
    payee_name: str
    agency_name: str
    summary: str
    lines: tuple[Line, ...]
    at: dt.datetime  # business time of submission
    business_day: bool | None  # None: outside the business calendar

    @classmethod
    def from_doc(cls, key: str, doc: Any, *, at: dt.datetime, business_day: bool | None, shared: bool = False,
                 needs: LineNeeds | None = None) -> PaymentFacts:
        """From a parsed voucher (`messages.voucher.VoucherDoc`): the head through its fields read
        once (the pipeline's checks read them first), the Detail lines' four elements the rules
        read straight from the tree (`lines_of`). `shared`: the doc goes on to an in-process
        recipient, which reads every line (`VoucherDoc.details`): the lines then come from the doc's
        whole walk (`detail_items`, `lines_walked`), made once for both while the tree is hot.
        `needs`: the catalogue's `LineNeeds`; when no rule can read the lines to another verdict,
        they are not read and `lines` is () (the verdicts are those of the lines read)."""
        get = doc.get
        vtcode = get("VtCode")
        if shared:
            lines = lines_walked(doc.detail_items())
        elif needs is None or needs.matter(vtcode, doc.root):
            lines = lines_of(doc.root)
        else:
            lines = ()
        # every field given, in field order, by tuple.__new__: the named tuple's own __new__ is a frame
        return tuple.__new__(cls, (key, get("VoucherNo"), vtcode, doc.amount_fen("PayAmt"), get("PayAcctNo"),
                                   get("PayeeAcctNo"), get("PayeeAcctName"), get("AgencyName"), get("PaySummaryName"),
                                   lines, at, business_day))

    @staticmethod
    def plain_of(doc: Any) -> tuple[Any, ...] | None:
        """What `from_plain` needs of a parsed voucher, as plain values: an admission worker, which
        has the parse, sends them back with the outcome, so the gateway's monitor screens a
        worker's voucher without parsing it again on the event loop. The head fields the rules
        read, the amount, every Detail line (`lines_of`, as plain tuples) and the stripped text
        of every non-empty ExpFuncCode of the tree (what `LineNeeds.matter` looks at). None when
        the amount is not money: the monitor then parses the voucher, as it did before."""
        try:
            fen = doc.amount_fen("PayAmt")
        except InputError:
            return None
        get, root = doc.get, doc.root
        texts = tuple({e.text.strip(): None for e in root.iter("ExpFuncCode") if e.text})  # distinct, in order
        return (get("VoucherNo"), get("VtCode"), fen, get("PayAcctNo"), get("PayeeAcctNo"), get("PayeeAcctName"),
                get("AgencyName"), get("PaySummaryName"), tuple(map(tuple, lines_of(root))), texts)

    @classmethod
    def from_plain(cls, key: str, plain: tuple[Any, ...], *, at: dt.datetime, business_day: bool | None,
                   shared: bool = False, needs: LineNeeds | None = None) -> PaymentFacts:
        """`from_doc` of the voucher `plain_of` was made from: the same facts (lines made only when
        `from_doc` would read them: shared, no needs, or `needs` says they matter)."""
        voucher_no, vtcode, fen, payer, payee, payee_name, agency, summary, lines, texts = plain
        made = (tuple([_new_line(Line, line) for line in lines])
                if shared or needs is None or needs.matter_texts(vtcode, texts) else ())
        return tuple.__new__(cls, (key, voucher_no, vtcode, fen, payer, payee, payee_name, agency, summary, made, at,
                                   business_day))


_LINE_FIELDS = {"ExpFuncCode": 0, "ExpEcoCode": 1, "ProCode": 2, "PayAmt": 3}
_new_line = tuple.__new__
_LINE_TAGS = tuple(_LINE_FIELDS)


def lines_of(root: Any) -> tuple[Line, ...]:
    """The Detail lines' budget subject, economic class, project and amount: what
    `VoucherDoc.details` holds under those names (stripped text, "" when absent, the last of a
    repeated element). lxml matches the four names in C and makes an element only for them: a
    line's other dozen elements are never made, stripped or interned, as the whole walk
    (`VoucherDoc.detail_items`, which nothing else reads when the voucher came over HTTP) would:
    about a quarter of a screening's instructions (bench/results/http-cpu-4.md)."""
    lines = []
    fields = _LINE_FIELDS
    for detail_list in root.iterchildren("DetailList"):
        for detail in detail_list.iterchildren("Detail"):
            values = ["", "", "", "0"]
            for child in detail.iterchildren(*_LINE_TAGS):
                text = child.text
                values[fields[child.tag]] = text.strip() if text else ""
            try:  # validated before; a line that somehow is not money counts 0
                fen = parse_fen(values[3])
            except (ValueError, InputError):
                fen = 0
            # the named tuple made as `Line(...)` makes it, without its Python-level __new__
            lines.append(_new_line(Line, (values[0], values[1], values[2], fen)))
    return tuple(lines)


def lines_walked(details: Iterable[Iterable[tuple[str, str]]]) -> tuple[Line, ...]:
    """`lines_of`, from the doc's whole walk of its lines (`VoucherDoc.detail_items`)."""
    lines = []
    fields = _LINE_FIELDS
    for detail in details:
        values = ["", "", "", "0"]
        for tag, text in detail:
            n = fields.get(tag)
            if n is not None:
                values[n] = text
        try:  # as in `lines_of`
            fen = parse_fen(values[3])
        except (ValueError, InputError):
            fen = 0
        lines.append(_new_line(Line, (values[0], values[1], values[2], fen)))  # as `lines_of` makes it
    return tuple(lines)


class History(NamedTuple):
    """What the store knows before this payment: whether the payee account was paid before, and
    the earlier payments from the same payer account to the same payee within the longest window.
    A named tuple (as `PaymentFacts`): one is made for every payment screened."""

    payee_seen: bool = False
    recent: tuple[tuple[dt.datetime, int], ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryNeeds:
    """Which parts of a payment's `History` the catalogue's rules can read, from its amount: a
    rule that looks back returns before reading the history for most amounts (splitting only
    in its band just under the threshold, new-payee only from its threshold), so the store is
    asked only for what can change a verdict."""

    window_hours: int  # 0: no window rule enabled
    band: tuple[int, int] | None  # splitting: [low, high); None when disabled
    new_payee_fen: int | None  # new-payee-large-amount: its threshold; None when disabled

    @classmethod
    def of(cls, catalogue: Catalogue) -> HistoryNeeds:
        split, new = catalogue.rule("splitting"), catalogue.rule("new-payee-large-amount")
        band = splitting_band(split.params) if split is not None and split.enabled else None
        fen = int(new.params["threshold_fen"]) if new is not None and new.enabled else None
        return cls(window_hours_max(catalogue), band, fen)

    def payee_seen(self, amount_fen: int) -> bool:
        """Whether `History.payee_seen` can change a verdict for this amount (`_new_payee`)."""
        return self.new_payee_fen is not None and amount_fen >= self.new_payee_fen

    def recent(self, amount_fen: int) -> bool:
        """Whether `History.recent` can change a verdict for this amount (`_splitting`)."""
        return self.band is not None and self.band[0] <= amount_fen < self.band[1]


@dataclass(frozen=True, slots=True)
class LineNeeds:
    """Whether a payment's Detail lines can change a verdict, asked before they are read: two rules
    read them, centralized-purchase (not for the VtCodes it exempts) and poverty-funds (only the
    lines it tags, by subject or project). For a payment neither reads, the lines are not made:
    reading them is about two fifths of a screening's instructions (bench/results/http-cpu-7.md),
    asking whether a subject is tagged a fifth of that."""

    exempt: frozenset[str] | None  # centralized-purchase: lines read unless VtCode is one of these; None: never
    always: bool  # poverty-funds tags lines by project code: lines always read
    subjects: tuple[str, ...]  # poverty-funds: lines read when a line's subject starts with one of these

    @classmethod
    def of(cls, catalogue: Catalogue) -> LineNeeds:
        central, poverty = catalogue.rule("centralized-purchase"), catalogue.rule("poverty-funds")
        exempt = (frozenset(central.params["centralized_vtcodes"])
                  if central is not None and central.enabled and central.params["categories"] else None)
        always, subjects = False, ()
        if poverty is not None and poverty.enabled:
            subjects = tuple(poverty.params["subject_prefixes"])
            # an empty prefix would tag a line of no subject, which no element shows
            always = bool(poverty.params["project_codes"]) or "" in subjects
        return cls(exempt, always, subjects)

    def matter(self, vtcode: str, root: Any) -> bool:
        """Whether the lines can change a verdict of this payment. A line's subject is its Detail's
        last ExpFuncCode (`lines_of`); every ExpFuncCode of the tree is looked at here, a superset:
        a subject tagged anywhere reads the lines, which then decide."""
        if self.always or (self.exempt is not None and vtcode not in self.exempt):
            return True
        subjects = self.subjects
        if subjects:
            for element in root.iter("ExpFuncCode"):
                text = element.text
                if text and text.strip().startswith(subjects):
                    return True
        return False

    def matter_texts(self, vtcode: str, texts: Iterable[str]) -> bool:
        """`matter`, from the stripped texts of the tree's non-empty ExpFuncCode elements
        (`PaymentFacts.plain_of`) instead of the tree."""
        if self.always or (self.exempt is not None and vtcode not in self.exempt):
            return True
        subjects = self.subjects
        return bool(subjects) and any(text.startswith(subjects) for text in texts)


@dataclass(frozen=True, slots=True)
class Hit:
    rule_id: str
    grade: str
    reason: str


Check = Callable[[PaymentFacts, History], str | None]
"""A rule bound to its params: the reason the payment breaks it, or None."""


def _large_single(p: Mapping[str, Any]) -> Check:
    threshold = p["threshold_fen"]

    def check(f: PaymentFacts, h: History) -> str | None:
        return (f"amount {fen_to_str(f.amount_fen)} yuan is at or above {fen_to_str(threshold)} yuan"
                if f.amount_fen >= threshold else None)
    return check


def _large_cash(p: Mapping[str, Any]) -> Check:
    markers, limit = tuple(p["cash_markers"]), p["threshold_fen"]

    def check(f: PaymentFacts, h: History) -> str | None:
        if f.amount_fen < limit:
            return None
        summary = f.summary
        for marker in markers:  # the first marker found names the withdrawal
            if marker in summary:
                return (f"cash withdrawal ({marker!r} in PaySummaryName) of {fen_to_str(f.amount_fen)} yuan, "
                        f"limit {fen_to_str(limit)} yuan")
        return None
    return check


def _zero_balance_own(p: Mapping[str, Any]) -> Check:
    approved, related = frozenset(p["approved"]), frozenset(p["related_accounts"])

    def check(f: PaymentFacts, h: History) -> str | None:
        if approved and (f.voucher_no in approved or f.key in approved):
            return None
        if f.payee_name and f.payee_name == f.agency_name:
            return f"payee {f.payee_name!r} is the paying unit itself"
        if f.payee_acct in related:
            return f"payee account {f.payee_acct} is listed as the unit's own or a related unit's account"
        return None
    return check


def _official_card(p: Mapping[str, Any]) -> Check:
    cards, settled = frozenset(p["card_accounts"]), frozenset(p["settlement_list"])

    def check(f: PaymentFacts, h: History) -> str | None:
        if f.payee_acct in cards and f.key not in settled and f.voucher_no not in settled:
            return f"official-card repayment to {f.payee_acct} not on the settlement list"
        return None
    return check


def _centralized(p: Mapping[str, Any]) -> Check:
    exempt = frozenset(p["centralized_vtcodes"])
    categories = tuple((tuple(c["eco_prefixes"]), c["threshold_fen"], "/".join(c["eco_prefixes"]))
                       for c in p["categories"])

    def check(f: PaymentFacts, h: History) -> str | None:
        if f.vtcode in exempt:
            return None
        for prefixes, threshold, names in categories:
            fen = sum(ln.fen for ln in f.lines if ln.eco.startswith(prefixes))
            if fen and fen >= threshold:
                return (f"{fen_to_str(fen)} yuan of {names} purchases by {f.vtcode}; from "
                        f"{fen_to_str(threshold)} yuan they go through centralized payment")
        return None
    return check


def _watch_list(p: Mapping[str, Any]) -> Check:
    accounts, names = frozenset(p["accounts"]), frozenset(p["names"])

    def check(f: PaymentFacts, h: History) -> str | None:
        if f.payee_acct in accounts:
            return f"payee account {f.payee_acct} is on the watch list"
        if f.payee_name in names:
            return f"payee {f.payee_name!r} is on the watch list"
        return None
    return check


def _new_payee(p: Mapping[str, Any]) -> Check:
    new_from = p["threshold_fen"]

    def check(f: PaymentFacts, h: History) -> str | None:
        if f.amount_fen >= new_from and not h.payee_seen:
            return f"payee account {f.payee_acct} never paid before receives {fen_to_str(f.amount_fen)} yuan"
        return None
    return check


def splitting_band(p: Mapping[str, Any]) -> tuple[int, int]:
    """[low, high): the amounts "just under" the threshold."""
    t = p["threshold_fen"]
    return t - t * p["below_pct"] // 100, t


def _splitting(p: Mapping[str, Any]) -> Check:
    low, high = splitting_band(p)
    window, count, hours = dt.timedelta(hours=p["window_hours"]), p["count"], p["window_hours"]

    def check(f: PaymentFacts, h: History) -> str | None:
        if not low <= f.amount_fen < high:
            return None
        since = f.at - window
        earlier = [fen for at, fen in h.recent if since <= at <= f.at and low <= fen < high]
        if len(earlier) + 1 >= count:
            return (f"{len(earlier) + 1} payments of {fen_to_str(low)}..{fen_to_str(high - 1)} yuan to {f.payee_acct} "
                    f"within {hours} h")
        return None
    return check


def _non_business_day(p: Mapping[str, Any]) -> Check:
    def check(f: PaymentFacts, h: History) -> str | None:
        if f.business_day is None:  # never a guess: flagged for a person to decide
            return f"{f.at.date()} lies outside the business calendar: whether it is a business day is unknown"
        return None if f.business_day else f"{f.at.date()} is not a business day"
    return check


def _poverty(p: Mapping[str, Any]) -> Check:
    subjects, projects = tuple(p["subject_prefixes"]), frozenset(p["project_codes"])
    special, allowed = frozenset(p["special_accounts"]), tuple(p["allowed_eco_prefixes"])

    def check(f: PaymentFacts, h: History) -> str | None:
        if not f.lines:
            return None
        tagged = [ln for ln in f.lines if (subjects and ln.func.startswith(subjects)) or ln.project in projects]
        if not tagged:
            return None
        if f.payee_acct in special:
            return f"poverty funds paid into the special account {f.payee_acct}"
        outside = [ln for ln in tagged if not ln.eco.startswith(allowed)]
        if outside:
            return f"poverty funds spent on {outside[0].eco}, outside their purpose"
        return None
    return check


# Each rule reads its params once, when a catalogue is bound (`Checks`): the lists it looks values
# up in as sets, its prefixes as tuples, its band worked out. Screening a payment then costs only
# the rule's own comparisons (bench/results/http-cpu-7.md).
RULES: dict[str, Callable[[Mapping[str, Any]], Check]] = {
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


class Checks:
    """A catalogue's enabled rules, each bound to its params once: what the monitor screens every
    payment with, built again only for a new catalogue."""

    __slots__ = ("_checks", "catalogue")

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._checks = tuple((r.id, r.grade, RULES[r.id](r.params)) for r in catalogue.rules if r.enabled)

    def evaluate(self, facts: PaymentFacts, history: History) -> list[Hit]:
        """Every enabled rule the payment breaks, in catalogue order."""
        hits: list[Hit] = []
        for rule_id, grade, check in self._checks:
            reason = check(facts, history)
            if reason is not None:
                hits.append(Hit(rule_id, grade, reason))
        return hits


def evaluate(catalogue: Catalogue, facts: PaymentFacts, history: History) -> list[Hit]:
    """Every enabled rule the payment breaks, in catalogue order (one payment: the monitor keeps its
    `Checks` for every payment of a catalogue)."""
    return Checks(catalogue).evaluate(facts, history)


def outcome_of(hits: list[Hit]) -> tuple[str, Hit | None]:
    """("pass" | "flag" | "hold" | "block", the deciding hit): the most severe grade wins, the
    first such rule in catalogue order names it."""
    if not hits:
        return "pass", None
    top = max(hits, key=lambda h: GRADES.index(h.grade))
    return {"notice": "flag", "warning": "flag"}.get(top.grade, top.grade), top


def window_hours_max(catalogue: Catalogue) -> int:
    """How far back the store must look for the splitting rule (0: no window rule enabled)."""
    rule: Rule | None = catalogue.rule("splitting")
    return int(rule.params["window_hours"]) if rule is not None and rule.enabled else 0
