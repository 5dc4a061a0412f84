"""The voucher document inside an envelope: read it, build it, fill a receipt.

A voucher is `<Voucher>` with head elements (Id, AdmDivCode, StYear, VtCode, VouDate,
VoucherNo, ...), optional X-fields the bank fills when it pays, and a DetailList. Builders
take plain mappings and emit elements in the order the type's XSD demands.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from messages.catalog import VoucherType, get_catalog
from messages.errors import InputError
from messages.money import parse_fen
from messages.schema import element_order
from messages.xmlsafe import DEFAULT_LIMITS, Limits, declared_encoding, parse_xml

__all__ = ["VoucherDoc", "build_voucher", "fill_receipt", "parse_voucher"]


class VoucherDoc:
    """A parsed voucher: its exact bytes and the tree parsed once from them (read-only)."""

    __slots__ = ("_details", "_fields", "data", "encoding", "root")

    def __init__(self, data: bytes, root: etree._Element, encoding: str) -> None:
        self.data, self.root, self.encoding = data, root, encoding
        self._fields: dict[str, str] | None = None
        self._details: tuple[tuple[tuple[str, str], ...], ...] | None = None

    def __repr__(self) -> str:
        return f"VoucherDoc({self.get('VtCode')}/{self.get('VoucherNo')}, {len(self.data)} bytes)"

    def get(self, name: str, default: str = "") -> str:
        """A head element's text, stripped. The head is read into a dict on first use: the
        pipeline asks for a dozen fields of every voucher, and findtext walks the children.
        The texts are interned: a core keeps some of them for every voucher of a day (codes,
        names, dates), and one string per distinct value is what keeps that flat."""
        fields = self._fields  # read inline: ~90 reads a voucher in a simulated day
        return (fields if fields is not None else self._head_fields()).get(name, default)

    def _head_fields(self) -> dict[str, str]:
        fields = self._fields
        if fields is None:
            fields = self._fields = {c.tag: sys.intern((c.text or "").strip())
                                     for c in self.root if isinstance(c.tag, str) and c.tag != "DetailList"}
        return fields

    @property
    def vtcode(self) -> str:
        fields = self._fields
        return (fields if fields is not None else self._head_fields()).get("VtCode", "")

    def amount_fen(self, name: str, *, allow_negative: bool = False) -> int:
        """`name`'s amount in fen; `allow_negative` for a net amount (a statement net of refunds)."""
        return parse_fen(self.get(name), path=f"/Voucher/{name}", allow_negative=allow_negative)

    def details(self) -> list[dict[str, str]]:
        """The Detail lines, new dicts on every call (a caller may change its copy); the tree is
        walked once (a bank reads a payment's details several times)."""
        return [dict(line) for line in self.detail_items()]

    def detail_items(self) -> tuple[tuple[tuple[str, str], ...], ...]:
        """The Detail lines as (element name, stripped text) pairs in document order, the tree
        walked on the first call only, whoever makes it: the gateway's monitor screens a payment
        and the bank it is handed to in-process reads the same lines (one walk of the parse, not
        one per reader). Read-only: `details` gives copies to change."""
        lines = self._details
        if lines is None:
            intern = sys.intern  # as the head's: a core keeps the lines of many vouchers
            walked = []
            for detail in self.root.iterfind("DetailList/Detail"):
                line = []
                for child in detail.iterchildren(etree.Element):  # elements only: not a comment
                    text = child.text
                    line.append((intern(child.tag), intern(text.strip()) if text else ""))
                walked.append(tuple(line))
            lines = self._details = tuple(walked)
        return lines

    def head(self) -> dict[str, str]:
        """The head elements' texts, stripped (no DetailList): a new dict on every call, from the
        fields read once (a bank reads a payment's head several times)."""
        return dict(self._head_fields())


def parse_voucher(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> VoucherDoc:
    """Parse `data` (hardened, `messages.xmlsafe`), every call: a step that already has the parse
    (the gateway's admission, a delivery handed over in-process) passes the VoucherDoc along."""
    root = parse_xml(data, bytes_max=limits.voucher_bytes_max, depth_max=limits.depth_max, what="voucher")
    if root.tag != "Voucher":
        raise InputError("xsd-invalid", f"root element is <{root.tag}>, expected <Voucher>",
                         line=root.sourceline, path=f"/{root.tag}")
    return VoucherDoc(data, root, declared_encoding(data).upper())


def _codec(encoding: str) -> str:
    enc = encoding.upper()
    if enc not in ("UTF-8", "GBK"):
        raise ValueError(f"voucher encoding must be UTF-8 or GBK, not {encoding!r}")
    return "gbk" if enc == "GBK" else "utf-8"


@cache
def _element_names(xsd_name: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str], tuple[str, ...],
                                           frozenset[str]]:
    """`element_order` of a schema, read once per schema: the head's names before and after its
    DetailList (all of them before, if it has none), every head name, the Detail's names in order
    and as a set."""
    head_order, detail_order = element_order(xsd_name)
    at = head_order.index("DetailList") if "DetailList" in head_order else len(head_order)
    return head_order[:at], head_order[at + 1:], frozenset(head_order), detail_order, frozenset(detail_order)


# The element layouts `build_voucher` has written: (schema, part, the names a mapping holds, in its
# own order) -> the names to write, in the schema's order, and the tags around their texts. A
# voucher's fields come from a few builders, each naming the same elements in the same order, so a
# day's builds share a handful of layouts; each is worked out once instead of a lookup per schema
# element per build (a 5201's head has 41 of them). Derived from the schema and the names alone,
# never from a value; cleared if it ever holds LAYOUTS_MAX (a caller building ever new name sets).
LAYOUTS_MAX = 1024
_layouts: dict[tuple[str, int, tuple[str, ...]], tuple[list[str], tuple[str, ...]]] = {}


def _layout(xsd: str, part: int, names: tuple[str, ...], values: Mapping[str, object],
            ) -> tuple[list[str], tuple[str, ...]]:
    """The names of `names` that `values` holds, in the order of `names`, and the tags to write
    between their texts: [<a>, "", </a><b>, "", ..., </z>] (the texts go in the odd places)."""
    key = (xsd, part, tuple(values))
    layout = _layouts.get(key)
    if layout is None:
        order = tuple(name for name in names if name in values)
        tags = [f"<{order[0]}>"] if order else []
        for before, name in itertools.pairwise(order):
            tags += ["", f"</{before}><{name}>"]
        if order:
            tags += ["", f"</{order[-1]}>"]
        if len(_layouts) >= LAYOUTS_MAX:
            _layouts.clear()
        layout = _layouts[key] = (tags, order)
    return layout


def _elements(parts: list[str], layout: tuple[list[str], tuple[str, ...]], values: Mapping[str, object]) -> None:
    """`<name>text</name>` of each name of the layout, its text from `values`, escaped only when
    some text needs it (most are codes, amounts and names). A value that is not a str is written
    as `str()` writes it; a str (or a str subclass) as the text it holds."""
    tags, order = layout
    if not order:
        return
    texts: list[Any] = [values[name] for name in order]
    try:
        joined = "".join(texts)
    except TypeError:  # a value that is not a str (an int, ...): written as str() writes it
        texts = [value if type(value) is str else str(value) for value in texts]
        joined = "".join(texts)
    if "&" in joined or "<" in joined or ">" in joined:
        texts = [escape(text) for text in texts]
    filled = tags.copy()
    filled[1::2] = texts
    parts += filled


def build_voucher(vtcode: str, head: Mapping[str, str], details: Sequence[Mapping[str, str]] = (),
                  *, encoding: str = "UTF-8") -> bytes:
    """Build a voucher's bytes with elements in XSD order. Unknown element names are an error."""
    vt: VoucherType = get_catalog().get(vtcode)
    xsd = vt.xsd
    before, after, head_names, detail_order, detail_names = _element_names(xsd)
    if not head_names.issuperset(head):
        raise ValueError(f"{vtcode}: unknown head elements {sorted(set(head) - head_names)}")
    parts = [f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n<Voucher>']
    fields = {**head, "VtCode": vtcode}
    _elements(parts, _layout(xsd, 0, before, fields), fields)
    if details and "DetailList" in head_names:  # a DetailList field in `head` is never written
        parts.append("<DetailList>")
        for detail in details:
            if not detail_names.issuperset(detail):
                raise ValueError(f"{vtcode}: unknown Detail elements {sorted(set(detail) - detail_names)}")
            parts.append("<Detail>")
            _elements(parts, _layout(xsd, 1, detail_order, detail), detail)
            parts.append("</Detail>")
        parts.append("</DetailList>")
    if after:
        _elements(parts, _layout(xsd, 2, after, fields), fields)
    parts.append("</Voucher>\n")
    return "".join(parts).encode(_codec(encoding))


def fill_receipt(doc: VoucherDoc, xfields: Mapping[str, str]) -> bytes:
    """The receipt: the original voucher with the X-fields filled, in the original's encoding."""
    vt = get_catalog().get(doc.vtcode)
    if not vt.has_receipt:
        raise InputError("receipt-not-allowed", f"VtCode {vt.vtcode} has no receipt")
    missing = [f for f in vt.receipt_fields if not str(xfields.get(f, "")).strip()]
    if missing:
        raise ValueError(f"receipt for {vt.vtcode} needs {missing}")
    head = doc.head()
    head.update({k: str(v) for k, v in xfields.items()})
    return build_voucher(vt.vtcode, head, doc.details(), encoding=doc.encoding)
