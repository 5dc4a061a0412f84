"""XSD validation: lxml on the hot path, xmlschema for a better account of what failed.

lxml validates a tree we already parsed (no second parse) in microseconds. Only when it
says no do we ask xmlschema, whose errors name the expected content ("expected PayAmt")
and carry an XPath; that costs milliseconds but only rejected input pays it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import xmlschema
from lxml import etree

from messages.errors import Issue
from xsd import xsd_path

__all__ = ["element_order", "lxml_schema", "validate_tree"]


@cache
def lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_path(name))))


@cache
def _xmlschema(name: str) -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(xsd_path(name)))


def _element_path(elem: Any) -> str:
    if elem is None:
        return ""
    tree = elem.getroottree()
    return str(tree.getpath(elem))


def validate_tree(root: etree._Element, xsd_name: str, *, code: str = "xsd-invalid",
                  detailed: bool = True) -> list[Issue]:
    """Return [] when valid, else one Issue per schema error, each with line and path."""
    schema = lxml_schema(xsd_name)
    if schema.validate(root):
        return []
    if detailed:
        issues = _detailed(root, xsd_name, code)
        if issues:
            return issues
    return [Issue(code, f"{xsd_name}: {e.message}", e.line or None, e.path or None)
            for e in schema.error_log]


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
