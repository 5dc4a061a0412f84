"""`LineNeeds`: a payment's Detail lines are read only when a rule can read them to another verdict.
The oracle is the screening as it was, every payment's lines read (`PaymentFacts.from_doc` without
`needs`): on generated trees and catalogues the hits are the same."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from test_monitoring_lines import _tree as lines_tree  # the generated trees' builder

from gateway.monitoring.engine import History, LineNeeds, PaymentFacts, evaluate
from gateway.monitoring.rules import Catalogue, default_catalogue
from messages.factory import payment_voucher
from messages.voucher import VoucherDoc, parse_voucher

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
BASE = default_catalogue()
PREFIXES = ["21305", "2130", "30201", "9", "2050203"]

TAGS = st.sampled_from(["ExpFuncCode", "ExpFuncCode", "ExpEcoCode", "ProCode", "PayAmt", "{urn:x}ExpFuncCode",
                        "Detail", "comment"])
TEXTS = st.one_of(st.none(), st.sampled_from(["", "2130501", " 21305 ", "\u300021305", "213", "2050203", "30201 ",
                                              "\t31002\n", "30901", "P1", "1000000.00", "12.30", "x", "9"]))
CHILD = st.tuples(TAGS, TEXTS, st.booleans())  # (tag, text, with a nested ExpFuncCode)
DETAIL = st.tuples(st.sampled_from(["Detail", "Detail", "Other"]), st.lists(CHILD, max_size=6))
LIST = st.tuples(st.sampled_from(["DetailList", "DetailList", "Elsewhere"]), st.lists(DETAIL, max_size=3))


def _tree(vtcode: str, head_subject: str | None, lists: list[tuple[str, list[tuple[str, list[tuple[
        str, str | None, bool]]]]]]) -> etree._Element:
    head = (("VoucherNo", "R1"), ("VtCode", vtcode), ("PayAmt", "100000.00"), ("PayeeAcctNo", "1"))
    if head_subject is not None:  # a head element of a line's name: not a line's
        head += (("ExpFuncCode", head_subject),)
    return lines_tree(lists, head=head, inner=("ExpFuncCode", "2130501"))


@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    rules = []
    for rule in BASE.rules:
        params = dict(rule.params)
        if rule.id == "centralized-purchase":
            params["centralized_vtcodes"] = draw(st.lists(st.sampled_from(["5201", "8202"]), max_size=2))
            if draw(st.booleans()):
                params["categories"] = []
        elif rule.id == "poverty-funds":
            params["subject_prefixes"] = draw(st.lists(st.sampled_from(PREFIXES), max_size=2))
            params["project_codes"] = draw(st.sampled_from([[], [], ["P1"], ["Q"]]))
            params["allowed_eco_prefixes"] = draw(st.sampled_from([["302"], [], ["3"]]))
            params["special_accounts"] = draw(st.sampled_from([[], ["1"]]))
        rules.append(dataclasses.replace(rule, params=params, enabled=draw(st.booleans()) or rule.id not in (
            "centralized-purchase", "poverty-funds")))
    return dataclasses.replace(BASE, rules=tuple(rules))


def _both(cat: Catalogue, doc: VoucherDoc) -> tuple[PaymentFacts, PaymentFacts]:
    old = PaymentFacts.from_doc("k", doc, at=AT, business_day=True)
    new = PaymentFacts.from_doc("k", doc, at=AT, business_day=True, needs=LineNeeds.of(cat))
    return old, new


@settings(max_examples=500)
@given(catalogues(), st.sampled_from(["5201", "8202", ""]), st.one_of(st.none(), st.sampled_from(PREFIXES)),
       st.lists(LIST, max_size=3), st.booleans())
def test_the_hits_are_those_of_every_line_read(cat: Catalogue, vtcode: str, head_subject: str | None,
                                               lists: list[tuple[str, list[tuple[str, list[tuple[str, str | None,
                                                                                                 bool]]]]]],
                                               seen: bool) -> None:
    root = _tree(vtcode, head_subject, lists)
    old, new = _both(cat, VoucherDoc(etree.tostring(root), root, "UTF-8"))
    assert new._replace(lines=old.lines) == old
    assert new.lines in (old.lines, ())
    history = History(seen)
    assert evaluate(cat, new, history) == evaluate(cat, old, history)


@settings(max_examples=40)
@given(catalogues(), st.sampled_from(["5201", "8202"]), st.integers(1, 10**9), st.integers(1, 4),
       st.sampled_from([None, ("2130501", "扶贫"), ("2050203", "初中教育")]), st.sampled_from([None, ("P1", "项目")]))
def test_a_real_vouchers_hits_are_unchanged(cat: Catalogue, vtcode: str, fen: int, details: int,
                                            subject: tuple[str, str] | None, project: tuple[str, str] | None) -> None:
    data = payment_voucher(voucher_no="R00001", vou_date=AT.date(), pay_bank_code="999100000001", amount_fen=fen,
                           adm_div_code="990100", vtcode=vtcode, details=details, subject=subject, project=project)
    old, new = _both(cat, parse_voucher(data))
    assert evaluate(cat, new, History()) == evaluate(cat, old, History())


def test_the_default_catalogue_reads_no_lines_of_an_untagged_direct_payment() -> None:
    """The common case: a 5201 (exempt from centralized-purchase) with no poverty subject."""
    data = payment_voucher(voucher_no="R00001", vou_date=AT.date(), pay_bank_code="999100000001",
                           amount_fen=12_345, adm_div_code="990100", details=3, subject=("2050203", "初中教育"))
    needs = LineNeeds.of(BASE)
    assert not needs.matter("5201", parse_voucher(data).root)
    assert needs.matter("8202", parse_voucher(data).root)  # centralized-purchase reads an authorized one's lines
    tagged = payment_voucher(voucher_no="R00002", vou_date=AT.date(), pay_bank_code="999100000001",
                             amount_fen=12_345, adm_div_code="990100", details=3, subject=("2130501", "扶贫"))
    assert needs.matter("5201", parse_voucher(tagged).root)


def test_a_subject_is_read_as_the_lines_read_it() -> None:
    """Stripped (an ideographic space too), the last of a Detail's ExpFuncCode elements."""
    for texts in ([" 2130501 "], ["\u30002130501"], ["2050203", "2130501"]):
        root = _tree("5201", None, [("DetailList", [("Detail", [("ExpFuncCode", t, False) for t in texts]
                                                     + [("ExpEcoCode", "39999", False)])])])
        old, new = _both(BASE, VoucherDoc(etree.tostring(root), root, "UTF-8"))
        assert new.lines == old.lines and evaluate(BASE, new, History())[0].rule_id == "poverty-funds", texts
