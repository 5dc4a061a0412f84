"""`engine.lines_of` (the four elements of each Detail line the rules read, matched by lxml) gives
what the lines read through `VoucherDoc.detail_items` gave (the oracle below is that definition)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.monitoring.engine import Line, PaymentFacts, lines_of, lines_walked
from messages.errors import InputError
from messages.factory import payment_voucher
from messages.money import parse_fen
from messages.voucher import VoucherDoc, parse_voucher

_FIELDS = {"ExpFuncCode": 0, "ExpEcoCode": 1, "ProCode": 2, "PayAmt": 3}


def _fen(text: str) -> int:
    """A line's amount as the rules read it (the old definition): not money counts 0."""
    try:
        return parse_fen(text)
    except (ValueError, InputError):
        return 0


def _old_facts(key: str, doc: VoucherDoc, at: dt.datetime, business_day: bool) -> PaymentFacts:
    """`PaymentFacts.from_doc` as it was defined: its lines from the whole walk, the named tuple by name."""
    get = doc.get
    return PaymentFacts(key, get("VoucherNo"), get("VtCode"), doc.amount_fen("PayAmt"), get("PayAcctNo"),
                        get("PayeeAcctNo"), get("PayeeAcctName"), get("AgencyName"), get("PaySummaryName"),
                        _old_lines(doc.detail_items()), at, business_day)


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


def _tree(lists: list[tuple[str, list[tuple[str, list[tuple[str, str | None, bool]]]]]], *,
          head: tuple[tuple[str, str], ...] = (("PayAmt", "5.00"),), inner: tuple[str, str] = ("ProCode", "nested")
          ) -> etree._Element:
    """A voucher-like tree; `head`: its head elements (a line's name among them: not a line's);
    `inner`: the element put inside a line's child when asked to."""
    root = etree.Element("Voucher")
    for tag, text in head:
        etree.SubElement(root, tag).text = text
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
                    etree.SubElement(child, inner[0]).text = inner[1]
    return root


@settings(max_examples=300)
@given(st.lists(LIST, max_size=3))
def test_lines_of_reads_what_the_whole_walk_read(lists: list[tuple[str, list[tuple[str, list[tuple[str, str | None,
                                                                                                   bool]]]]]]) -> None:
    root = _tree(lists)
    doc = VoucherDoc(etree.tostring(root), root, "UTF-8")
    assert lines_of(root) == _old_lines(doc.detail_items()) == lines_walked(doc.detail_items())


@settings(max_examples=30)
@given(st.integers(1, 10**9), st.integers(1, 6), st.sampled_from(["5201", "8202"]))
def test_a_real_vouchers_facts_are_unchanged(fen: int, details: int, vtcode: str) -> None:
    at = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    data = payment_voucher(voucher_no="R00001", vou_date=at.date(), pay_bank_code="999100000001", amount_fen=fen,
                           adm_div_code="990100", vtcode=vtcode, details=details)
    facts = PaymentFacts.from_doc("k", parse_voucher(data), at=at, business_day=True)
    assert facts.lines == _old_lines(parse_voucher(data).detail_items())
    assert PaymentFacts.from_doc("k", parse_voucher(data), at=at, business_day=True, shared=True) == facts
    assert facts == _old_facts("k", parse_voucher(data), at, True) and type(facts) is PaymentFacts
    assert (facts.voucher_no, facts.vtcode, facts.amount_fen, facts.at) == ("R00001", vtcode, fen, at)
    assert len(facts.lines) == min(details, fen) and sum(ln.fen for ln in facts.lines) == fen


def test_a_doc_handed_on_in_process_is_walked_once_for_the_monitor_and_its_recipient() -> None:
    """`Monitor.screen(shares=...)`: for a recipient that takes the parse in-process the lines come
    from the doc's whole walk, which the recipient's `details()` then reads without walking again;
    for any other the doc's walk is not made."""
    import asyncio

    from gateway.monitoring.monitor import Monitor
    from gateway.monitoring.rules import default_catalogue
    from gateway.pipeline import Admitted, body_digest, delivery_bytes
    from messages.envelope import VoucherBody

    class NoStore:
        claims = True

        async def priors(self, keys: object) -> dict[object, object]:
            return {}

    class NoWalk:
        def iterfind(self, path: str) -> object:
            raise AssertionError(f"the tree walked again for {path}")

    at = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    data = payment_voucher(voucher_no="R00001", vou_date=at.date(), pay_bank_code="999100000001", amount_fen=12_345,
                           adm_div_code="990100", details=3)
    monitor = Monitor(default_catalogue(), NoStore())  # type: ignore[arg-type]
    for takes in (True, False):
        doc = parse_voucher(data)
        body = VoucherBody("990100", "2026", "5201", "R00001", 0, data)
        o = Admitted(body, "treasury-990100", "bank-a", body_digest(body), delivery_bytes(body), doc)
        asked: list[str] = []
        screened = asyncio.run(monitor.screen([o], at, claim=True, shares=lambda r, t=takes, a=asked: a.append(r) or t))
        assert asked == ["bank-a"] and screened.outcomes == [o]
        root, doc.root = doc.root, NoWalk()  # type: ignore[assignment]
        if takes:
            assert doc.details() == parse_voucher(data).details()  # walked once, by the screening
        else:
            try:
                doc.details()
            except AssertionError:
                pass  # not walked by the screening: the lines were read by lxml's match alone
            else:
                raise AssertionError("the screening walked the doc's lines for nobody")
        doc.root = root
