"""Hardened XML parsing: the only way bytes from outside become an element tree.

No DTD (internal or external), no entity expansion, no network, no XInclude, a size limit
checked before parsing and a depth limit checked after. Each refusal is a typed
`InputError` with a stable code, never a crash and never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from messages.errors import InputError

__all__ = ["DEFAULT_LIMITS", "Limits", "declared_encoding", "parse_xml"]


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


def declared_encoding(data: bytes) -> str:
    """The encoding named in the XML declaration, or UTF-8 when there is none."""
    if not data.startswith(b"<?xml"):
        return "UTF-8"
    end = data.find(b"?>", 0, 200)
    decl = data[: end if end > 0 else 200]
    idx = decl.find(b"encoding=")
    if idx < 0:
        return "UTF-8"
    rest = decl[idx + 9 :]
    if not rest or rest[:1] not in (b'"', b"'"):
        return "UTF-8"
    close = rest.find(rest[:1], 1)
    return rest[1:close].decode("ascii", "replace") if close > 0 else "UTF-8"


@lru_cache(maxsize=64)
def _depth_probe(depth_max: int) -> etree.XPath:
    # True when any element sits deeper than depth_max: one C-level walk, no Python loop.
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth_max + 1)) + ")")


def _classify(exc: etree.XMLSyntaxError) -> str:
    msg = (exc.msg or "").lower()
    if "excessive depth" in msg:
        return "xml-too-deep"
    if "encoding" in msg or "not proper utf-8" in msg or "char out of allowed range" in msg:
        return "xml-bad-encoding"
    if "entity" in msg:
        return "xml-forbidden-entity"
    return "xml-malformed"


def parse_xml(data: bytes, *, bytes_max: int, depth_max: int = DEFAULT_LIMITS.depth_max,
              what: str = "document") -> etree._Element:
    """Parse untrusted bytes into an element tree or raise a typed InputError."""
    if len(data) > bytes_max:
        raise InputError("xml-too-large", f"{what} is {len(data)} bytes; the limit is {bytes_max}")
    if not data.strip():
        raise InputError("xml-malformed", f"{what} is empty")
    encoding = declared_encoding(data)
    if encoding.lower() not in _ACCEPTED_ENCODINGS:
        raise InputError("xml-bad-encoding",
                         f"{what} declares encoding {encoding!r}; only UTF-8 and GBK are accepted", line=1)
    if encoding.lower() in ("utf-8", "utf8"):
        # libxml2 repairs some invalid sequences silently; a wrong declaration must be refused.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputError("xml-bad-encoding",
                             f"{what} declares UTF-8 but byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8",
                             line=line) from None
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        code = _classify(exc)
        if code == "xml-malformed" and b"<!DOCTYPE" in data:
            # e.g. a parameter entity libxml2 refuses to load: the attack, not the syntax, is the news
            code = "xml-forbidden-entity" if b"<!ENTITY" in data else "xml-forbidden-dtd"
        raise InputError(code, f"{what}: {exc.msg}", line=exc.lineno) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        if b"<!ENTITY" in data or docinfo.system_url:
            code = "xml-forbidden-entity"
            message = f"{what} declares entities or an external DTD; neither is ever accepted"
        else:
            code = "xml-forbidden-dtd"
            message = f"{what} has a DOCTYPE; DTDs are never accepted"
        raise InputError(code, message, line=1)
    if _depth_probe(depth_max)(root):
        raise InputError("xml-too-deep", f"{what} nests elements deeper than {depth_max} levels")
    return root
