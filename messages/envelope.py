"""The MOF envelope ⇄ typed objects.

```
<MOF><VoucherCount>1</VoucherCount>
  <VoucherBody AdmDivCode=".." StYear=".." VtCode=".." VoucherNo="..">
    <VoucherFlag>0</VoucherFlag> <Return_Reason/>? <Attach/>?
    <Voucher>base64 of the exact voucher bytes</Voucher>
    <SignStampList/>? <SignatureList><Signature No=".." SN="..">base64</Signature></SignatureList>
  </VoucherBody></MOF>
```

The inner voucher travels as base64, so its bytes (and the signatures over them) survive any
re-encoding of the envelope: `VoucherBody.voucher` is exactly what was signed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from messages.errors import InputError, Issue
from messages.schema import validate_tree
from messages.xmlsafe import DEFAULT_LIMITS, Limits, parse_xml

__all__ = [
    "EncodedEnvelope",
    "Envelope",
    "SignatureEntry",
    "VoucherBody",
    "VoucherKey",
    "VoucherKeyError",
    "encode_envelope",
    "encode_envelope_spans",
    "is_envelope",
    "parse_envelope",
    "single_envelope",
    "voucher_count",
]


class VoucherKey(NamedTuple):
    """The identity of a voucher in the library; a receipt differs from its original by flag."""

    adm_div_code: str
    st_year: str
    vtcode: str
    voucher_no: str
    flag: int

    def original(self) -> VoucherKey:
        return _new_key(VoucherKey, (self.adm_div_code, self.st_year, self.vtcode, self.voucher_no, 0))  # see `of`

    @classmethod
    def of(cls, adm_div_code: str, st_year: str, vtcode: str, voucher_no: str, flag: int) -> VoucherKey:
        """`VoucherKey(...)` without the named tuple's own `__new__` (a Python call; tuple's
        directly, the same object): a day makes ~25 keys a voucher from fields already checked."""
        return _new_key(VoucherKey, (adm_div_code, st_year, vtcode, voucher_no, flag))

    def __str__(self) -> str:
        return f"{self.adm_div_code}/{self.st_year}/{self.vtcode}/{self.voucher_no}/{self.flag}"

    @classmethod
    def parse(cls, text: str) -> VoucherKey:
        """The key `str(key)` wrote: "adm/year/vtcode/no/flag". The VoucherNo may itself hold "/"
        (it is everything between the third and the last one); the flag is a whole number.
        Raises `VoucherKeyError` (code voucher-key-invalid, path the part at fault)."""
        if not isinstance(text, str):
            raise VoucherKeyError(f"a voucher key is text, not {type(text).__name__}", "key")
        parts = text.split("/")
        if len(parts) < 5:
            raise VoucherKeyError(f"{text!r} has {len(parts)} of the 5 parts adm/year/vtcode/no/flag", "key")
        named = zip(_KEY_PARTS, (*parts[:3], "/".join(parts[3:-1]), parts[-1]), strict=True)
        values: dict[str, str] = {}
        for name, value in named:
            if not value:
                raise VoucherKeyError(f"{text!r}: the {name} part is empty", name)
            if not value.isprintable():
                raise VoucherKeyError(f"{text!r}: the {name} part holds a control character", name)
            values[name] = value
        flag = values["flag"]
        if not (flag.isascii() and flag.isdigit()):
            raise VoucherKeyError(f"{text!r}: the flag {flag!r} is not a whole number", "flag")
        return cls(values["adm_div_code"], values["st_year"], values["vtcode"], values["voucher_no"], int(flag))


_KEY_PARTS = ("adm_div_code", "st_year", "vtcode", "voucher_no", "flag")
_new_key = tuple.__new__


class VoucherKeyError(InputError):
    """A voucher key string is malformed; `.issues[0].path` names the part at fault."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__("voucher-key-invalid", message, path=part)


@dataclass(frozen=True, slots=True)
class SignatureEntry:
    no: str
    sn: str
    value: bytes  # raw signature bytes (DER for ECDSA)
    line: int | None = field(default=None, compare=False)  # where it stood in the envelope

    def __post_init__(self) -> None:
        if not self.no or not self.sn or not self.value:
            raise ValueError("a signature needs a position, a certificate SN and a value")


@dataclass(frozen=True, slots=True)
class VoucherBody:
    adm_div_code: str
    st_year: str
    vtcode: str
    voucher_no: str
    flag: int
    voucher: bytes
    signatures: tuple[SignatureEntry, ...] = ()
    return_reason: str | None = None
    attach: str | None = None
    sign_stamps: tuple[tuple[str, str], ...] = ()
    line: int | None = field(default=None, compare=False)  # where it stood in the envelope

    def __post_init__(self) -> None:
        if self.flag not in (0, 1):
            raise ValueError(f"VoucherFlag must be 0 or 1, not {self.flag!r}")

    @property
    def key(self) -> VoucherKey:
        return _new_key(VoucherKey, (self.adm_div_code, self.st_year, self.vtcode, self.voucher_no, self.flag))

    def with_signature(self, sig: SignatureEntry) -> VoucherBody:
        """Add a signature, replacing any earlier one at the same seal position."""
        return self.with_signatures((sig,))

    def with_signatures(self, sigs: Sequence[SignatureEntry]) -> VoucherBody:
        """`with_signature` of each of `sigs` in turn, as one new body (a seal at two positions
        was two copies of the body)."""
        kept = list(self.signatures)
        for sig in sigs:
            kept = [s for s in kept if s.no != sig.no]
            kept.append(sig)
        # the fields by position, as `replace` would pass them by name (a third of its cost: a
        # body is sealed once per send)
        return VoucherBody(self.adm_div_code, self.st_year, self.vtcode, self.voucher_no, self.flag, self.voucher,
                           tuple(kept), self.return_reason, self.attach, self.sign_stamps, self.line)


@dataclass(frozen=True, slots=True)
class Envelope:
    bodies: tuple[VoucherBody, ...]

    def __post_init__(self) -> None:
        if not self.bodies:
            raise ValueError("an envelope carries at least one voucher")


def is_envelope(root: etree._Element) -> bool:
    return bool(root.tag == "MOF")


def _text(elem: etree._Element | None) -> str | None:
    return None if elem is None else (elem.text or "")


def _all_text(elem: etree._Element) -> str:
    """Every text node of a simple-content element: a comment or processing instruction inside
    it splits its text, and `elem.text` is only the part before the first of them."""
    return (elem.text or "") if len(elem) == 0 else "".join(elem.itertext())


# A VoucherCount with more digits than this cannot match: an envelope holding 10**9 vouchers
# would be far beyond `Limits.envelope_bytes_max`. Also keeps `int()` under Python's own limit on
# the digits it converts (4,300), which a count of 5,000 digits crossed with a ValueError.
VOUCHER_COUNT_DIGITS_MAX = 9
_COUNT = re.compile(r"[ \t\r\n]*\+?0*([0-9]+)[ \t\r\n]*")  # XML whitespace only


def voucher_count(text: str, *, line: int | None = None) -> int:
    """The value of a `<VoucherCount>` (xs:positiveInteger: optional sign and leading zeros,
    surrounding blanks), or a coded refusal naming /MOF/VoucherCount: never a bare ValueError."""
    path = "/MOF/VoucherCount"
    match = _COUNT.fullmatch(text)
    digits = match.group(1) if match else ""
    if not digits or digits.strip("0") == "":
        raise InputError("envelope-invalid", f"VoucherCount {text[:20]!r} is not a positive integer",
                         line=line, path=path)
    if len(digits) > VOUCHER_COUNT_DIGITS_MAX:
        raise InputError("envelope-count-mismatch", f"VoucherCount is a number of {len(digits)} digits; no envelope "
                         f"carries that many VoucherBody", line=line, path=path)
    return int(digits)


def _b64(text: str | None, *, what: str, line: int | None, path: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("base64-invalid", f"{what} is not valid base64", line=line, path=path) from None


def parse_envelope(data: bytes, *, limits: Limits = DEFAULT_LIMITS,
                   root: etree._Element | None = None) -> Envelope:
    """Bytes → Envelope, or InputError listing every envelope-level problem found."""
    if root is None:
        root = parse_xml(data, bytes_max=limits.envelope_bytes_max, depth_max=limits.depth_max,
                         what="envelope")
    if root.tag != "MOF":
        raise InputError("envelope-invalid", f"root element is <{root.tag}>, expected <MOF>",
                         line=root.sourceline, path=f"/{root.tag}")
    issues = validate_tree(root, "envelope.xsd", code="envelope-invalid")
    if issues:
        raise InputError.from_issues(issues)
    bodies_el = root.findall("VoucherBody")
    count_el = root.find("VoucherCount")
    declared = voucher_count(_all_text(count_el), line=count_el.sourceline)
    if declared != len(bodies_el):
        raise InputError("envelope-count-mismatch",
                         f"VoucherCount says {declared} but the envelope carries {len(bodies_el)} VoucherBody",
                         line=count_el.sourceline, path="/MOF/VoucherCount")
    bodies = []
    for index, el in enumerate(bodies_el, start=1):
        path = f"/MOF/VoucherBody[{index}]"
        voucher_el = el.find("Voucher")
        voucher = _b64(_all_text(voucher_el), what="Voucher", line=voucher_el.sourceline, path=path + "/Voucher")
        sigs = []
        for sig_index, sig_el in enumerate(el.iterfind("SignatureList/Signature"), start=1):
            value = _b64(_all_text(sig_el), what="Signature", line=sig_el.sourceline,
                         path=f"{path}/SignatureList/Signature[{sig_index}]")
            sigs.append(SignatureEntry(sig_el.get("No"), sig_el.get("SN").upper(), value, line=sig_el.sourceline))
        stamps = tuple((s.get("No"), s.text or "") for s in el.iterfind("SignStampList/SignStamp"))
        bodies.append(VoucherBody(
            adm_div_code=el.get("AdmDivCode"),
            st_year=el.get("StYear"),
            vtcode=el.get("VtCode"),
            voucher_no=el.get("VoucherNo"),
            flag=int(_all_text(el.find("VoucherFlag"))),  # the XSD allows only 0 or 1 (type Flag)
            voucher=voucher,
            signatures=tuple(sigs),
            return_reason=_text(el.find("Return_Reason")),
            attach=_text(el.find("Attach")),
            sign_stamps=stamps,
            line=el.sourceline,
        ))
    return Envelope(tuple(bodies))


_PLAIN = re.compile(r"[A-Za-z0-9\-]*")


def _attr(value: str) -> str:
    """quoteattr, skipped for the codes and numbers attributes almost always are (hot path)."""
    return f'"{value}"' if _PLAIN.fullmatch(value) else quoteattr(value)


def _b64text(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")  # base64.b64encode, one call less


def _body_parts(body: VoucherBody, codec: str, errors: str) -> tuple[bytes, bytes]:
    """One VoucherBody element, encoded, but for its voucher's base64: the bytes before it (up to
    and with `<Voucher>`) and after it (from `</Voucher>` on), the text in `codec`."""
    adm, year, vt, no = body.adm_div_code, body.st_year, body.vtcode, body.voucher_no
    # `_attr` of each, by one match: the four are plain together exactly when each is (hot path)
    head = (f'<VoucherBody AdmDivCode="{adm}" StYear="{year}" VtCode="{vt}" VoucherNo="{no}">'
            if _PLAIN.fullmatch(adm + year + vt + no) else
            f"<VoucherBody AdmDivCode={_attr(adm)} StYear={_attr(year)} VtCode={_attr(vt)} VoucherNo={_attr(no)}>")
    head += f"<VoucherFlag>{body.flag}</VoucherFlag>"
    if body.return_reason is not None:
        head += f"<Return_Reason>{escape(body.return_reason)}</Return_Reason>"
    if body.attach is not None:
        head += f"<Attach>{escape(body.attach)}</Attach>"
    tail = ["</Voucher>"]
    if body.sign_stamps:
        stamps = "".join(f"<SignStamp No={quoteattr(no)}>{escape(text)}</SignStamp>"
                         for no, text in body.sign_stamps)
        tail.append(f"<SignStampList>{stamps}</SignStampList>")
    tail.append("<SignatureList>")
    tail += [f'<Signature No="{s.no}" SN="{s.sn}">{_b64text(s.value)}</Signature>' if _PLAIN.fullmatch(s.no + s.sn)
             else f"<Signature No={_attr(s.no)} SN={_attr(s.sn)}>{_b64text(s.value)}</Signature>"
             for s in body.signatures]
    tail.append("</SignatureList></VoucherBody>")
    return (head + "<Voucher>").encode(codec, errors), "".join(tail).encode(codec, errors)


def _body_bytes(body: VoucherBody, codec: str, errors: str) -> bytes:
    """One VoucherBody element, encoded: the voucher's base64 goes in as the bytes b2a_base64 made
    (the bulk of a body; no str of it decoded and encoded again), the rest as text in `codec`."""
    head, tail = _body_parts(body, codec, errors)
    return b"".join((head, binascii.b2a_base64(body.voucher, newline=False), tail))


_HEAD = '<?xml version="1.0" encoding="{}"?>\n<MOF><VoucherCount>{}</VoucherCount>'  # the encoding, the count
_TAIL = b"</MOF>\n"


def encode_envelope(bodies: Envelope | Sequence[VoucherBody] | Iterable[VoucherBody],
                    *, encoding: str = "UTF-8") -> bytes:
    """Envelope → bytes, UTF-8 or GBK. The inner vouchers are carried byte for byte."""
    items = bodies.bodies if isinstance(bodies, Envelope) else tuple(bodies)
    if not items:
        raise ValueError("an envelope carries at least one voucher")
    enc = encoding.upper()
    if enc not in ("UTF-8", "GBK"):
        raise ValueError(f"envelope encoding must be UTF-8 or GBK, not {encoding!r}")
    # Characters GBK lacks (in Return_Reason, Attach...) travel as character references. Each part
    # is encoded on its own: both codecs encode a text part by part as they would encode it whole.
    codec, errors = ("gbk", "xmlcharrefreplace") if enc == "GBK" else ("utf-8", "strict")
    parts = [_HEAD.format(enc, len(items)).encode(codec)]
    parts += [_body_bytes(body, codec, errors) for body in items]
    parts.append(_TAIL)
    return b"".join(parts)


_UTF8_ONE = _HEAD.format("UTF-8", 1).encode("utf-8")  # a one-body envelope's head (`single_envelope`)


class EncodedEnvelope(bytes):
    """`encode_envelope`'s UTF-8 bytes, as they are, knowing where each body's element lies in them
    (`encode_envelope_spans`). Only useful within a process: handed to an in-process gateway, the
    one-body envelope it journals for each body (`single_envelope`) is the sender's element cut
    out, not the body encoded a second time. Anything that takes bytes takes it as they are."""

    # Each body's element (data[start:end]) and its `_mark`: what of the body the parse of its
    # element could give back changed. Not the body itself: an envelope is held until the gateway
    # has answered it, and its bodies' vouchers would be held with it.
    spans: tuple[tuple[int, int], ...]
    marks: tuple[tuple[object, ...], ...]


def _mark(body: VoucherBody) -> tuple[object, ...]:
    """Every field `_body_bytes` writes but the voucher's bytes, which travel as base64 (decoded to
    the same bytes whatever the parse: only their length is kept)."""
    return (body.adm_div_code, body.st_year, body.vtcode, body.voucher_no, body.flag, body.signatures,
            body.return_reason, body.attach, body.sign_stamps, len(body.voucher))  # signatures: their eq skips `line`


def encode_envelope_spans(bodies: Sequence[VoucherBody] | Iterable[VoucherBody]) -> EncodedEnvelope:
    """`encode_envelope(bodies)` (UTF-8), the same bytes, as an `EncodedEnvelope`."""
    items = tuple(bodies)
    if not items:
        raise ValueError("an envelope carries at least one voucher")
    parts = [_HEAD.format("UTF-8", len(items)).encode("utf-8")]
    spans = []
    at = len(parts[0])
    for body in items:
        part = _body_bytes(body, "utf-8", "strict")
        parts.append(part)
        spans.append((at, at + len(part)))
        at += len(part)
    parts.append(_TAIL)
    data = EncodedEnvelope(b"".join(parts))
    data.spans, data.marks = tuple(spans), tuple([_mark(body) for body in items])
    return data


def single_envelope(body: VoucherBody, *, within: bytes | None = None, index: int = 0) -> bytes:
    """`encode_envelope([body])`, where `body` is `parse_envelope(within).bodies[index]` (the
    caller's parse of the envelope it was given). When `within` is an `EncodedEnvelope`, the body's
    element there is the sender's `_body_bytes` of the body it encoded, and its parse is `body`:
    if the parse gave back every field the encoding writes unchanged (`_mark`; the voucher's
    base64 always decodes to the bytes encoded), encoding `body` gives that element byte for byte,
    and it is cut out instead. When `within` is any other envelope of the one body, as this module
    writes it (what senders that use it send), it is the answer as it is: the voucher, the bulk of
    it, is not encoded again (`_encodes_as`). Otherwise (a lower-case SN, a CR in a text, another
    layout...) `body` is encoded."""
    if type(within) is EncodedEnvelope and index < len(within.marks) and within.marks[index] == _mark(body):
        start, end = within.spans[index]
        return b"".join((_UTF8_ONE, within[start:end], _TAIL))
    if index == 0 and within is not None and within.startswith(_UTF8_ONE):
        head, tail = _body_parts(body, "utf-8", "strict")
        if _encodes_as(within, body.voucher, head, tail):
            return bytes(within)  # the very object when `within` is bytes: no copy
        return b"".join((_UTF8_ONE, head, binascii.b2a_base64(body.voucher, newline=False), tail, _TAIL))
    return encode_envelope((body,))


def _encodes_as(data: bytes, voucher: bytes, head: bytes, tail: bytes) -> bool:
    """Whether `data`, an envelope whose parse gave the body of `voucher`, `head` and `tail`
    (`_body_parts`), is byte for byte that body's one-body envelope, `_UTF8_ONE + head +
    b2a_base64(voucher) + tail + _TAIL`, without encoding the voucher (the bulk of the bytes).

    Given the start and the end, the middle is the Voucher element's content, and must be as long
    as the canonical base64 of `voucher`, 4 * ceil(n / 3) characters. The parse decoded that
    content to `voucher`; base64 that decodes to n bytes (padding required, `_b64`) has at least
    that many characters once blanks are dropped, and the parse's text is never longer than the
    bytes it came from (no DTD, so no entity can expand; a reference, a comment, CDATA, a CR LF or
    a character of several bytes only shortens it): the middle is that text as it is, no blank,
    no markup. Only the last quantum can then differ from the canonical one (non-zero pad bits,
    which decode all the same): it is compared with its own encoding."""
    n = len(voucher)
    start = len(_UTF8_ONE) + len(head)
    end = len(data) - len(tail) - len(_TAIL)
    if n == 0 or end - start != 4 * ((n + 2) // 3):
        return False
    if not (data.startswith(head, len(_UTF8_ONE)) and data.startswith(tail, end) and data.endswith(_TAIL)):
        return False
    # Markup in the middle would already make it too short; looked for anyway, at memchr's cost.
    if data.find(b"<", start, end) >= 0 or data.find(b"&", start, end) >= 0:
        return False
    last = n - (n - 1) % 3 - 1  # where the last 1-3 bytes start
    return data[end - 4:end] == binascii.b2a_base64(voucher[last:], newline=False)


def envelope_issue_for(body: VoucherBody, code: str, message: str, element: str | None = None) -> Issue:
    """An Issue located at a body of the envelope (used by validation and the gateway)."""
    return Issue(code, message, body.line, f"/MOF/VoucherBody[@VoucherNo='{body.voucher_no}']"
                 + (f"/{element}" if element else ""))
