"""`engine.lines_of` (the four elements of each Detail line the rules read, matched by lxml) gives
what the lines read through `VoucherDoc.detail_items` gave (the oracle below is that definition)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.monitoring.engine import Line, PaymentFacts, _fen, lines_of
from messages.factory import payment_voucher
from messages.voucher import VoucherDoc, parse_voucher

_FIELDS = {"ExpFuncCode": 0, "ExpEcoCode": 1, "ProCode": 2, "PayAmt": 3}


def _old_lines(details: Iterable[Iterable[tuple[str, str]]]) -> tuple[Line, ...]:
    """The lines as they were read: from the doc's whole walk of the Detail elements."""
    lines = []
    for detail in details:
        values = ["", "", "", "0"]
        for tag, text in detail:
            n = _FIELDS.get(tag)
            if n is not None:
                values[n] = text
        lines.append(Line(values[0], values[1], values[2], _fen(values[3])))
    return tuple(lines)


TAGS = st.sampled_from(["ExpFuncCode", "ExpEcoCode", "ProCode", "PayAmt", "PayeeAcctNo", "{urn:x}PayAmt",
                        "{urn:x}ProCode", "Detail", "comment"])
TEXTS = st.one_of(st.none(), st.sampled_from(["", " 12.30 ", "2130501", "30201 ", "\t31002\n", "x", "-1.00",
                                              "1000000.00", "9"]))
CHILD = st.tuples(TAGS, TEXTS, st.booleans())  # (tag, text, with a nested element)
DETAIL = st.tuples(st.sampled_from(["Detail", "Detail", "Other", "{urn:x}Detail"]), st.lists(CHILD, max_size=8))
LIST = st.tuples(st.sampled_from(["DetailList", "DetailList", "Elsewhere"]), st.lists(DETAIL, max_size=4))


def _tree(lists: list[tuple[str, list[tuple[str, list[tuple[str, str | None, bool]]]]]]) -> etree._Element:
    root = etree.Element("Voucher")
    etree.SubElement(root, "PayAmt").text = "5.00"  # a head element of a line's name: not a line's
    for list_tag, details in lists:
        parent = etree.SubElement(root, list_tag)
        for detail_tag, children in details:
            detail = etree.SubElement(parent, detail_tag)
            for tag, text, nested in children:
                if tag == "comment":
                    detail.append(etree.Comment(text or "c"))
                    continue
                child = etree.SubElement(detail, tag)
                child.text = text
                if nested:
                    etree.SubElement(child, "ProCode").text = "nested"
    return root


@settings(max_examples=300)
@given(st.lists(LIST, max_size=3))
def test_lines_of_reads_what_the_whole_walk_read(lists: list[tuple[str, list[tuple[str, list[tuple[str, str | None,
                                                                                                   bool]]]]]]) -> None:
    root = _tree(lists)
    doc = VoucherDoc(etree.tostring(root), root, "UTF-8")
    assert lines_of(root) == _old_lines(doc.detail_items())


@settings(max_examples=30)
@given(st.integers(1, 10**9), st.integers(1, 6), st.sampled_from(["5201", "8202"]))
def test_a_real_vouchers_facts_are_unchanged(fen: int, details: int, vtcode: str) -> None:
    at = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    data = payment_voucher(voucher_no="R00001", vou_date=at.date(), pay_bank_code="999100000001", amount_fen=fen,
                           adm_div_code="990100", vtcode=vtcode, details=details)
    facts = PaymentFacts.from_doc("k", parse_voucher(data), at=at, business_day=True)
    assert facts.lines == _old_lines(parse_voucher(data).detail_items())
    assert len(facts.lines) == min(details, fen) and sum(ln.fen for ln in facts.lines) == fen
