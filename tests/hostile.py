"""Hostile inputs for the hardened parser, the envelope codec and `tgw validate`.

`build_corpus(dir)` writes one file per attack and returns {name: (path, expected code)}.
Nothing here is committed as a file: the 50 MB case in particular is made at test time, as a
sparse file (a small head, then a hole), so writing it costs nothing.
"""

from __future__ import annotations

import base64
from pathlib import Path

from messages.envelope import VoucherBody, encode_envelope

__all__ = ["SAMPLES", "build_corpus", "envelope_for", "hostile_cases", "sample_voucher"]

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

BIG_BYTES = 50 * 1024 * 1024


def sample_voucher(vtcode: str = "5201", name: str = "original.xml") -> bytes:
    return (SAMPLES / vtcode / name).read_bytes()


def body_for(voucher: bytes, *, flag: int = 0, **override: str) -> VoucherBody:
    """A VoucherBody whose attributes are read from the voucher's head (unless overridden)."""
    from messages.voucher import parse_voucher

    doc = parse_voucher(voucher)
    attrs = {"adm_div_code": doc.get("AdmDivCode"), "st_year": doc.get("StYear"),
             "vtcode": doc.get("VtCode"), "voucher_no": doc.get("VoucherNo"),
             "return_reason": doc.get("XReturnReason") or None, **override}
    return VoucherBody(flag=flag, voucher=voucher, **attrs)  # type: ignore[arg-type]


def envelope_for(voucher: bytes | None = None, **override: str) -> bytes:
    return encode_envelope([body_for(voucher or sample_voucher(), **override)])


def _billion_laughs() -> bytes:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", ' <!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = "lol" if i == 1 else f"lol{i - 1}"
        lines.append(f' <!ENTITY lol{i} "' + f"&{prev};" * 10 + '">')
    lines += ["]>", "<lolz>&lol9;</lolz>"]
    return "\n".join(lines).encode()


def _deep(depth: int = 10_000) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def hostile_cases() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected first error code). The 50 MB case is written by build_corpus."""
    good = sample_voucher()
    env = envelope_for(good).decode()
    gbk_text = good.decode("utf-8").encode("gbk")  # declares UTF-8, bytes are GBK
    return {
        "billion-laughs": (_billion_laughs(), "xml-forbidden-entity"),
        "external-entity": (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                            b"<x>&xxe;</x>", "xml-forbidden-entity"),
        "external-dtd": (b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">\n<x/>',
                         "xml-forbidden-entity"),
        "parameter-entity": (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd">'
                             b" %p;]>\n<x/>", "xml-forbidden-entity"),
        "internal-dtd": (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ELEMENT x ANY>]>\n<x/>', "xml-forbidden-dtd"),
        "deep-nesting": (_deep(), "xml-too-deep"),
        "deep-nesting-40": (_deep(40), "xml-too-deep"),  # below libxml2's own limit, above ours
        "bad-base64": (env.replace("<Voucher>", "<Voucher>!!not*base64", 1).encode(), "base64-invalid"),
        "utf8-declared-gbk-bytes": (gbk_text, "xml-bad-encoding"),
        "unknown-encoding": (b'<?xml version="1.0" encoding="X-NO-SUCH-CHARSET"?>\n<Voucher/>',
                             "xml-bad-encoding"),
        "latin1-encoding": (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<Voucher/>', "xml-bad-encoding"),
        "truncated": (good[: len(good) // 2], "xml-malformed"),
        "truncated-envelope": (env.encode()[: len(env) // 2], "xml-malformed"),
        "empty": (b"", "xml-malformed"),
        "whitespace-only": (b"   \n\t  ", "xml-malformed"),
        "binary-garbage": (bytes((i * 167 + 13) % 256 for i in range(4096)), "xml-bad-encoding"),
        "ascii-garbage": (b"\x01\x02 this is not xml at all }{ \x00", "xml-malformed"),
        "count-mismatch": (env.replace("<VoucherCount>1</VoucherCount>", "<VoucherCount>2</VoucherCount>")
                           .encode(), "envelope-count-mismatch"),
        "key-mismatch": (envelope_for(good, voucher_no="OTHER0001"), "envelope-key-mismatch"),
        "key-mismatch-vtcode": (envelope_for(good, vtcode="8202"), "envelope-key-mismatch"),
        "utf16": (good.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
                  "xml-bad-encoding"),
        "utf16-declared": (good.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-8"),
                           "xml-bad-encoding"),
        "wrong-root": (b"<Foo><Bar/></Foo>", "unknown-vtcode"),  # no VtCode to look up: catalog first
        "wrong-root-with-vtcode": (b"<Foo><VtCode>5201</VtCode></Foo>", "xsd-invalid"),
        "envelope-not-schema": (b"<MOF><VoucherCount>x</VoucherCount></MOF>", "envelope-invalid"),
        # no namespace anywhere on the wire: the XSDs (xsd/) declare no targetNamespace
        "voucher-default-namespace": (good.replace(b"<Voucher>", b'<Voucher xmlns="urn:x">', 1), "xml-namespace"),
        "voucher-prefixed-namespace": (good.replace(b"<Voucher>", b'<v:Voucher xmlns:v="urn:x">', 1)
                                       .replace(b"</Voucher>", b"</v:Voucher>"), "xml-namespace"),
        "voucher-inner-namespace": (good.replace(b"      <PayAmt>", b'      <PayAmt xmlns="urn:x">', 1),
                                    "xml-namespace"),  # a Detail's
        "envelope-default-namespace": (env.replace("<MOF>", '<MOF xmlns="urn:x">', 1).encode(), "xml-namespace"),
        "inner-namespace": (envelope_for_raw(good.replace(b"<Voucher>", b'<Voucher xmlns="urn:x">', 1)),
                            "xml-namespace"),
        # XML 1.0 only, and no processing instruction (docs/wire.md section 3)
        "xml-1.1": (good.replace(b'version="1.0"', b'version="1.1"', 1), "xml-version"),
        "xml-2.0": (good.replace(b'version="1.0"', b'version="2.0"', 1), "xml-version"),
        "pi-prolog": (good.replace(b"\n<Voucher>", b'\n<?xml-stylesheet href="v.xsl"?>\n<Voucher>', 1),
                      "xml-forbidden-pi"),
        "pi-without-declaration": (b"<?x y?>" + good[good.index(b"<Voucher>"):], "xml-forbidden-pi"),
        "pi-in-text": (good.replace(b"<PayeeAcctName>", b"<PayeeAcctName>X<?pi y?>", 1), "xml-forbidden-pi"),
        "pi-in-envelope": (env.replace("<VoucherCount>", "<?pi y?><VoucherCount>", 1).encode(), "xml-forbidden-pi"),
        "inner-pi": (envelope_for_raw(good.replace(b"<PayeeAcctName>", b"<PayeeAcctName>X<?pi y?>", 1)),
                     "xml-forbidden-pi"),
        "comment-in-text": (good.replace(b"<PayeeAcctName>", b"<PayeeAcctName>X<!-- y -->", 1),
                            "xml-forbidden-comment"),
        "inner-entity": (envelope_for_raw(b'<?xml version="1.0"?>\n<!DOCTYPE V [<!ENTITY e SYSTEM '
                                          b'"file:///etc/passwd">]><Voucher>&e;</Voucher>'),
                         "xml-forbidden-entity"),
    }


def envelope_for_raw(voucher: bytes) -> bytes:
    """An envelope around arbitrary bytes (attributes made up), for attacks on the inner parse."""
    return encode_envelope([VoucherBody("990100", "2026", "5201", "X1", 0, voucher)])


def write_big(path: Path, size: int = BIG_BYTES) -> None:
    """A `size`-byte file that starts like an envelope, written sparsely (a hole after the head)."""
    with path.open("wb") as f:
        f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<MOF><VoucherCount>1</VoucherCount><!-- ')
        f.truncate(size)


def build_corpus(directory: Path) -> dict[str, tuple[Path, str]]:
    directory.mkdir(parents=True, exist_ok=True)
    corpus = {}
    for name, (data, code) in hostile_cases().items():
        path = directory / f"{name}.xml"
        path.write_bytes(data)
        corpus[name] = (path, code)
    big = directory / "fifty-megabytes.xml"
    write_big(big)
    corpus["fifty-megabytes"] = (big, "xml-too-large")
    return corpus


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
