"""Hardened XML parsing: the only way bytes from outside become an element tree.

No DTD (internal or external), no entity expansion, no network, no XInclude, a size limit
checked before parsing and a depth limit checked after. Each refusal is a typed
`InputError` with a stable code, never a crash and never a guess.

What is parsed here is an envelope or a voucher, and neither has a namespace (xsd/ declares no
targetNamespace): an element in one is refused by name, not left to look like a missing VtCode.
Nor a processing instruction, nor a comment inside a value, nor XML 1.1: the first two split an
element's text (lxml's .text stops there, XSD validation and other parsers read on), and 1.1
reads line ends and control characters otherwise than the 1.0 parsers of the wire
(docs/wire.md section 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from messages.errors import InputError

__all__ = ["DEFAULT_LIMITS", "NAME_BYTES_MAX", "TEXT_BYTES_MAX", "Limits", "declared_encoding", "parse_xml"]


@dataclass(frozen=True, slots=True)
class Limits:
    # An envelope may batch many vouchers (1,000 vouchers of ~1.7 KB is ~2 MB); 32 MiB leaves
    # room for attachments while refusing the 50 MB class of abuse before any parsing.
    envelope_bytes_max: int = 32 * 1024 * 1024
    # A single voucher with a salary batch detail list of ~10,000 lines is ~4 MB.
    voucher_bytes_max: int = 8 * 1024 * 1024
    # Real vouchers are 4 levels deep (Voucher/DetailList/Detail/Field); 32 is generous and
    # far below libxml2's own 256.
    depth_max: int = 32


# One text node (or attribute value): libxml2's own limit without XML_PARSE_HUGE, which is never
# set here (it would lift the depth and name limits too). Not configurable, since libxml2 decides
# it; stated so a refusal can name it: a longer node is `xml-text-too-large`, not `xml-malformed`.
TEXT_BYTES_MAX = 10_000_000
# A name (element, attribute): libxml2's XML_MAX_NAME_LENGTH, likewise.
NAME_BYTES_MAX = 50_000


DEFAULT_LIMITS = Limits()

_ACCEPTED_ENCODINGS = {"utf-8", "utf8", "gbk", "gb2312", "gb18030", "cp936"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        collect_ids=False,
    )


_PARSER = _parser()


_UTF8_BOM = b"\xef\xbb\xbf"
# XML 1.0 EncodingDecl: S 'encoding' Eq ('"' EncName '"' | "'" EncName "'"), Eq ::= S? '=' S?
_ENCODING_DECL = re.compile(rb"""\sencoding\s*=\s*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)')""")
# What libxml2 detects from the first bytes before reading any declaration (XML 1.0 Appendix F):
# byte-order marks of UTF-16 and UTF-32, and the ASCII-free starts of UTF-16/UTF-32/UCS-4.
_WIDE_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe\x00\x00", "UTF-32LE"),
              (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))


def declared_encoding(data: bytes) -> str:
    """The encoding named in the XML declaration (after a UTF-8 byte-order mark, if any), or
    UTF-8 when there is none."""
    start = 3 if data.startswith(_UTF8_BOM) else 0
    if not data.startswith(b"<?xml", start):
        return "UTF-8"
    end = data.find(b"?>", start, start + 200)
    match = _ENCODING_DECL.search(data, start, end if end > 0 else start + 200)
    if match is None:
        return "UTF-8"
    return (match.group(1) or match.group(2)).decode("ascii")


def _refuse_wide(data: bytes, what: str) -> None:
    """Only UTF-8 and GBK may pass, whatever the first bytes look like: libxml2 would switch to
    UTF-16 or UTF-32 on a byte-order mark or on NUL bytes among the first four, declaration or
    not, so those are refused before it sees them."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise InputError("xml-bad-encoding", f"{what} starts with a {name} byte-order mark; only UTF-8 and "
                             "GBK are accepted", line=1, path="/")
    if b"\x00" in data[:4]:
        raise InputError("xml-bad-encoding", f"{what} starts with NUL bytes (UTF-16 or UTF-32 text); only UTF-8 "
                         "and GBK are accepted", line=1, path="/")


@lru_cache(maxsize=64)
def _depth_probe(depth_max: int) -> etree.XPath:
    # The first element deeper than depth_max, if any: one C-level walk, no Python loop.
    return etree.XPath("(/" + "/".join(["*"] * (depth_max + 1)) + ")[1]")


# The first element in a namespace, if any: one C-level walk, run only when a declaration is there.
_NAMESPACED = etree.XPath("(//*[namespace-uri() != ''])[1]")


def _local_path(el: etree._Element) -> str:
    """/Voucher/DetailList/Detail[1]/PayAmt: local names, an index where a name repeats."""
    parts = []
    node: etree._Element | None = el
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [s for s in parent.iterchildren(etree.Element) if etree.QName(s).localname == name]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _refuse_namespaces(root: etree._Element, data: bytes, what: str) -> None:
    if b"xmlns" not in data and b"<xml:" not in data:  # no element can be in a namespace
        return
    found = _NAMESPACED(root)
    if found:
        el = found[0]
        qname = etree.QName(el)
        raise InputError("xml-namespace", f"{what}: <{qname.localname}> is in XML namespace {qname.namespace!r}; "
                         "envelopes and vouchers have no namespace (their XSDs declare none): remove the xmlns "
                         "declaration", line=el.sourceline, path=_local_path(el))


_PI = etree.XPath("(//processing-instruction())[1]")  # the prolog's and epilog's too
_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[ \t\r\n]")


def _refuse_pis(root: etree._Element, data: bytes, what: str) -> None:
    if data.count(b"<?") <= (1 if _DECLARATION.match(data) else 0):  # none besides the declaration
        return
    found = _PI(root)
    if found:
        pi = found[0]
        parent = pi.getparent()
        raise InputError("xml-forbidden-pi", f"{what}: a processing instruction <?{pi.target} ...?> is present; "
                         "the wire has none (inside an element's text it splits the value)",
                         line=pi.sourceline, path="/" if parent is None else _local_path(parent))


# A comment whose element has no element child: it sits inside a value, and splits it as a PI does.
_COMMENT_IN_VALUE = etree.XPath("(//comment()[not(../*)])[1]")


def _refuse_comments_in_values(root: etree._Element, data: bytes, what: str) -> None:
    if b"<!--" not in data:
        return
    found = _COMMENT_IN_VALUE(root)
    if found:
        comment = found[0]
        parent = comment.getparent()
        name = etree.QName(parent).localname
        raise InputError("xml-forbidden-comment", f"{what}: a comment inside the value of <{name}>; parsers read "
                         "such a value differently (comments between elements are fine)",
                         line=comment.sourceline, path=_local_path(parent))


# The name is possessive (*+): where libxml2 stopped inside a long name, the tag has no ">" before
# the offset, and a name free to give characters back to [^<>]*? was tried at every length, each
# scanning on to the end: quadratic, 44 s of CPU for one 50 KB name. It matches what it matched.
_TAG = re.compile(rb"<(/?)([A-Za-z_][A-Za-z0-9._:-]*+)[^<>]*?(/?)>")


def _open_element_path(data: bytes, offset: int) -> tuple[str, str]:
    """(element name, XPath) of the element open at byte `offset` of a document libxml2 stopped
    reading: a scan of the tags before it (a refusal's path, not a parser)."""
    stack: list[tuple[str, dict[str, int]]] = [("", {})]
    indexed: list[str] = []
    for m in _TAG.finditer(data, 0, offset):
        closing, name, empty = m.group(1), m.group(2).decode("ascii", "replace"), m.group(3)
        if closing:
            if len(stack) > 1:
                stack.pop()
                indexed.pop()
            continue
        counts = stack[-1][1]
        counts[name] = counts.get(name, 0) + 1
        if not empty:
            stack.append((name, {}))
            indexed.append(name if len(stack) == 2 else f"{name}[{counts[name]}]")
    if not indexed:
        return "", "/"
    return stack[-1][0], "/" + "/".join(indexed)


def _offset(data: bytes, line: int, column: int) -> int:
    start = 0
    for _ in range(max(0, line - 1)):
        nl = data.find(b"\n", start)
        if nl < 0:
            break
        start = nl + 1
    return min(len(data), start + max(0, column - 1))


def _classify(exc: etree.XMLSyntaxError) -> str:
    msg = (exc.msg or "").lower()
    if "resource limit exceeded" in msg or "too long" in msg:
        return "xml-text-too-large"
    if "excessive depth" in msg:
        return "xml-too-deep"
    if "unsupported version" in msg:
        return "xml-version"
    if "encoding" in msg or "not proper utf-8" in msg or "char out of allowed range" in msg:
        return "xml-bad-encoding"
    if "entity" in msg:
        return "xml-forbidden-entity"
    return "xml-malformed"


def parse_xml(data: bytes, *, bytes_max: int, depth_max: int = DEFAULT_LIMITS.depth_max,
              what: str = "document") -> etree._Element:
    """Parse untrusted bytes into an element tree or raise a typed InputError.

    Every refusal names where it is: the file-level path "/" at least (the element's own path
    when one is at fault) and the line, 1 for what concerns the whole file.
    """
    if len(data) > bytes_max:
        raise InputError("xml-too-large", f"{what} is {len(data)} bytes; the limit is {bytes_max}", line=1, path="/")
    if not data or data.isspace():  # (no copy of the input, unlike `not data.strip()`)
        raise InputError("xml-malformed", f"{what} is empty", line=1, path="/")
    _refuse_wide(data, what)
    encoding = declared_encoding(data)
    lowered = encoding.lower()
    if lowered not in _ACCEPTED_ENCODINGS:
        raise InputError("xml-bad-encoding",
                         f"{what} declares encoding {encoding!r}; only UTF-8 and GBK are accepted", line=1, path="/")
    if data.startswith(_UTF8_BOM) and lowered not in ("utf-8", "utf8"):
        raise InputError("xml-bad-encoding", f"{what} starts with a UTF-8 byte-order mark but declares "
                         f"{encoding!r}", line=1, path="/")
    if lowered in ("utf-8", "utf8") and not data.isascii():
        # libxml2 repairs some invalid sequences silently; a wrong declaration must be refused.
        # (ASCII is UTF-8: an envelope, all base64, needs no decode, which would copy it.)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputError("xml-bad-encoding",
                             f"{what} declares UTF-8 but byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8",
                             line=line, path="/") from None
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, data, what) from None
    docinfo = root.getroottree().docinfo
    used = (docinfo.encoding or "UTF-8").lower()
    if used not in _ACCEPTED_ENCODINGS:
        # Whatever libxml2 decided from the bytes, only UTF-8 and GBK pass (defence in depth).
        raise InputError("xml-bad-encoding", f"{what} was read as {docinfo.encoding}; only UTF-8 and GBK are "
                         "accepted", line=1, path="/")
    if docinfo.xml_version != "1.0":
        raise InputError("xml-version", f"{what} declares XML version {docinfo.xml_version}; only 1.0 is "
                         "accepted", line=1, path="/")
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        if b"<!ENTITY" in data or docinfo.system_url:
            code = "xml-forbidden-entity"
            message = f"{what} declares entities or an external DTD; neither is ever accepted"
        else:
            code = "xml-forbidden-dtd"
            message = f"{what} has a DOCTYPE; DTDs are never accepted"
        raise InputError(code, message, line=1, path="/")
    deep = _depth_probe(depth_max)(root)
    if deep:
        el = deep[0]
        raise InputError("xml-too-deep", f"{what} nests elements deeper than {depth_max} levels",
                         line=el.sourceline, path=el.getroottree().getpath(el))
    _refuse_namespaces(root, data, what)
    _refuse_pis(root, data, what)
    _refuse_comments_in_values(root, data, what)
    return root


def _syntax_error(exc: etree.XMLSyntaxError, data: bytes, what: str) -> InputError:
    code = _classify(exc)
    line = exc.lineno or 1
    if code == "xml-text-too-large" and "name too long" in (exc.msg or "").lower():
        name, path = _open_element_path(data, _offset(data, line, exc.position[1] if exc.position else 1))
        inside = f" inside <{name}>" if name else ""
        return InputError(code, f"{what}: an element or attribute name{inside} is longer than {NAME_BYTES_MAX:,} "
                          "bytes, the parser's limit for a name", line=line, path=path)
    if code == "xml-text-too-large":
        name, path = _open_element_path(data, _offset(data, line, exc.position[1] if exc.position else 1))
        element = f"the text of <{name}>" if name else "a text node, attribute value or name"
        return InputError(code, f"{what}: {element} is longer than {TEXT_BYTES_MAX:,} bytes, the parser's limit "
                          "for one node", line=line, path=path)
    if code == "xml-malformed" and b"<!DOCTYPE" in data:
        # e.g. a parameter entity libxml2 refuses to load: the attack, not the syntax, is the news
        code = "xml-forbidden-entity" if b"<!ENTITY" in data else "xml-forbidden-dtd"
    return InputError(code, f"{what}: {exc.msg}", line=line, path="/")
