"""XSD validation: lxml on the hot path, xmlschema for a better account of what failed.

lxml validates a tree we already parsed (no second parse) in microseconds. Only when it
says no do we ask xmlschema, whose errors name the expected content ("expected PayAmt")
and carry an XPath; that costs milliseconds but only rejected input pays it (and only then is
xmlschema imported). The element order builders follow is read from the XSD's own sequences
with lxml (about 40 times less CPU than building the xmlschema model: every process that builds
vouchers of many types paid over a second for it); a schema laid out otherwise (a named type, a
group, a reference) is read by xmlschema as before.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import TYPE_CHECKING, Any

from lxml import etree

from messages.errors import Issue
from xsd import xsd_path

if TYPE_CHECKING:
    import xmlschema

__all__ = ["element_order", "lxml_schema", "validate_tree"]

_XS = "{http://www.w3.org/2001/XMLSchema}"


@cache
def lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_path(name))))


@cache
def _xmlschema(name: str) -> xmlschema.XMLSchema10:
    import xmlschema

    return xmlschema.XMLSchema10(str(xsd_path(name)))


def _element_path(elem: Any) -> str:
    if elem is None:
        return ""
    tree = elem.getroottree()
    return str(tree.getpath(elem))


# xmlschema's account of a refusal costs CPU superlinear in the errors and elements it walks: a
# 21 KB voucher with 2,000 attributes the schema does not allow took 24 s, one with 8,000 unknown
# children 0.6 s. Past these bounds lxml's own messages are given (still coded, with line and path).
DETAILED_ERRORS_MAX = 20
DETAILED_ELEMENTS_MAX = 5_000


def _within(root: etree._Element, n: int) -> bool:
    """Whether the tree has at most n elements (stops counting past n)."""
    return next(itertools.islice(root.iter(), n, None), None) is None


def validate_tree(root: etree._Element, xsd_name: str, *, code: str = "xsd-invalid",
                  detailed: bool = True) -> list[Issue]:
    """Return [] when valid, else one Issue per schema error, each with line and path."""
    schema = lxml_schema(xsd_name)
    if schema.validate(root):
        return []
    if detailed and len(schema.error_log) <= DETAILED_ERRORS_MAX and _within(root, DETAILED_ELEMENTS_MAX):
        issues = _detailed(root, xsd_name, code)
        if issues:
            return issues
    # at most as many as the detailed account gives: 100,000 bad attributes are not 100,000 issues
    return [Issue(code, f"{xsd_name}: {e.message}", e.line or None, e.path or None)
            for e in itertools.islice(schema.error_log, DETAILED_ERRORS_MAX)]


def _detailed(root: etree._Element, xsd_name: str, code: str) -> list[Issue]:
    issues = []
    for err in _xmlschema(xsd_name).iter_errors(root):
        elem = err.elem
        line = getattr(elem, "sourceline", None)
        path = _element_path(elem) if isinstance(elem, etree._Element) else err.path
        reason = err.reason or err.message.splitlines()[0]
        issues.append(Issue(code, f"{xsd_name}: {reason}", line, path))
        if len(issues) >= 20:  # a truly broken file would otherwise print thousands of lines
            break
    return issues


@cache
def element_order(xsd_name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(head element names, Detail element names) in schema order, read from the XSD itself.

    Builders use it so a voucher we emit is always in the order its schema demands.
    """
    plain = _plain_element_order(xsd_name)
    if plain is not None:
        return plain
    return _xmlschema_element_order(xsd_name)


def _sequence_names(sequence: Any) -> list[str] | None:
    """The names of an xs:sequence's elements in order, those of a nested xs:sequence or xs:choice
    in their place (as xmlschema's `iter_elements` gives them); None if it holds anything else (a
    reference, a group, a wildcard: xmlschema's to read)."""
    names = []
    for child in sequence:
        if not isinstance(child.tag, str) or child.tag == f"{_XS}annotation":
            continue  # a comment, a processing instruction, documentation
        if child.tag in (f"{_XS}sequence", f"{_XS}choice"):
            inner = _sequence_names(child)
            if inner is None:
                return None
            names += inner
        elif child.tag == f"{_XS}element" and child.get("name") and not child.get("ref"):
            names.append(str(child.get("name")))
        else:
            return None
    return names


def _plain_element_order(xsd_name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """`element_order` read straight from a schema whose Voucher, DetailList and Detail are each
    an anonymous complexType of one xs:sequence of named elements (every XSD of ours; a choice
    among named elements counts); None for any other layout."""
    root = etree.parse(str(xsd_path(xsd_name))).getroot()
    voucher = root.find(f"{_XS}element[@name='Voucher']")
    sequence = voucher.find(f"{_XS}complexType/{_XS}sequence") if voucher is not None else None
    head = _sequence_names(sequence) if sequence is not None else None
    if sequence is None or head is None:
        return None
    detail: list[str] | None = []
    detail_list = sequence.find(f"{_XS}element[@name='DetailList']")
    if detail_list is not None:
        inner = detail_list.find(f"{_XS}complexType/{_XS}sequence")
        first = [c for c in inner if isinstance(c.tag, str) and c.tag != f"{_XS}annotation"][:1] \
            if inner is not None else []
        items = first[0].find(f"{_XS}complexType/{_XS}sequence") if first and first[0].tag == f"{_XS}element" else None
        detail = _sequence_names(items) if items is not None else None
    if detail is None:
        return None
    return tuple(head), tuple(detail)


def _xmlschema_element_order(xsd_name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    schema = _xmlschema(xsd_name)
    root: Any = schema.elements["Voucher"]  # xmlschema's element/type unions are wider than our XSDs
    head: list[str] = []
    detail: list[str] = []
    for child in root.type.content.iter_elements():
        head.append(str(child.local_name))
        if child.local_name == "DetailList":
            detail_el: Any = next(iter(child.type.content.iter_elements()))
            detail = [str(d.local_name) for d in detail_el.type.content.iter_elements()]
    return tuple(head), tuple(detail)
