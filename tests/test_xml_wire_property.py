"""Property: whatever element of a voucher is put in a namespace, and whatever value a processing
instruction or comment is put inside, the parse refuses it with its code at that element. The
oracle is the wire's rule (docs/wire.md section 3: no namespace, no PI, no comment inside a value)
and the element's path in the unchanged voucher, not the refusal code's own walk."""

from __future__ import annotations

from hostile import sample_voucher
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from messages.errors import InputError
from messages.xmlsafe import parse_xml

ROOT = etree.fromstring(sample_voucher())
ELEMENTS = [el for el in ROOT.iter() if isinstance(el.tag, str)]
LEAVES = [el for el in ELEMENTS if len(el) == 0]


def _refusal(data: bytes) -> tuple[str, str | None]:
    try:
        parse_xml(data, bytes_max=1_000_000)
    except InputError as exc:
        return exc.code, exc.issues[0].path
    return "accepted", None


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(ELEMENTS) - 1), uri=st.sampled_from(["urn:x", "http://example.com/v", "a"]),
       prefixed=st.booleans())
def test_an_element_in_a_namespace_is_refused_at_it(index: int, uri: str, prefixed: bool) -> None:
    root = etree.fromstring(sample_voucher())
    el = [e for e in root.iter() if isinstance(e.tag, str)][index]
    path = root.getroottree().getpath(el)
    qname = f"{{{uri}}}{el.tag}"
    el.tag = qname
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    if not prefixed:  # lxml writes ns0:; the default namespace form, spelt by hand
        data = data.replace(b"ns0:", b"").replace(b"xmlns:ns0=", b"xmlns=")
    assert _refusal(data) == ("xml-namespace", path)


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(LEAVES) - 1), cut=st.integers(0, 40), pi=st.booleans())
def test_a_pi_or_comment_inside_a_value_is_refused_at_its_element(index: int, cut: int, pi: bool) -> None:
    root = etree.fromstring(sample_voucher())
    el = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0][index]
    path = root.getroottree().getpath(el)
    text = el.text or ""
    node = etree.ProcessingInstruction("x", "y") if pi else etree.Comment(" y ")
    el.text, node.tail = text[:cut], text[cut:] or None
    el.append(node)
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    assert _refusal(data) == ("xml-forbidden-pi" if pi else "xml-forbidden-comment", path)
