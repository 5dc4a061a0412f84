"""Only UTF-8 and GBK pass, whatever the first bytes look like; every refusal says where it is.

Issue 9, "Input and protocol": an envelope in UTF-16 without a byte-order mark, or UTF-16LE
bytes under a UTF-8 declaration, was accepted by `tgw validate`, `tgw verify` and over HTTP
(libxml2 detects UTF-16/UTF-32 from the first four bytes and silently decodes it). The HTTP
path is tested in test_http_protocol.py against a real server; here the library and the CLIs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gateway_helpers import payment
from hostile import body_for, envelope_for, sample_voucher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages.envelope import encode_envelope, parse_envelope
from messages.errors import CODES, InputError
from messages.validate import validate_bytes, validate_file
from messages.xmlsafe import DEFAULT_LIMITS, TEXT_BYTES_MAX, declared_encoding, parse_xml
from runner.world import DevWorld
from tgw import main

_TEXT = envelope_for().decode("utf-8")  # a valid envelope, declared UTF-8
_BODY = _TEXT.split("\n", 1)[1]  # the same without the XML declaration

# The two encodings the issue names, and their relatives libxml2 also detects from the first bytes.
WIDE = {
    "utf16le-no-bom": _TEXT.encode("utf-16-le"),
    "utf16be-no-bom": _TEXT.encode("utf-16-be"),
    "utf16le-under-utf8-declaration": _TEXT.encode("utf-16-le"),  # the declaration says UTF-8
    "utf16le-declared-utf16": _TEXT.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
    "utf16-bom-no-declaration": _BODY.encode("utf-16"),
    "utf32le-no-bom": _TEXT.encode("utf-32-le"),
    "utf32be-no-declaration": _BODY.encode("utf-32-be"),
    "utf8-bom-declared-gbk": b"\xef\xbb\xbf" + _TEXT.replace('encoding="UTF-8"', 'encoding="GBK"').encode(),
    "spaced-declaration-latin1": _TEXT.replace('encoding="UTF-8"', 'encoding = "ISO-8859-1"').encode(),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("name", sorted(WIDE))
def test_parse_refuses_every_encoding_but_utf8_and_gbk(name: str) -> None:
    with pytest.raises(InputError) as info:
        parse_envelope(WIDE[name])
    issue = info.value.issues[0]
    assert issue.code == "xml-bad-encoding", str(issue)
    assert (issue.path, issue.line) == ("/", 1)


@pytest.mark.parametrize("name", sorted(WIDE))
def test_tgw_validate_refuses_them(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(WIDE[name])
    assert main(["validate", str(path), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)[0]
    assert [e["code"] for e in report["errors"]] == ["xml-bad-encoding"]


@pytest.mark.parametrize("name", ["utf16le-no-bom", "utf16le-under-utf8-declaration", "utf32le-no-bom"])
def test_tgw_verify_refuses_a_signed_envelope_in_utf16(name: str, world: DevWorld, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    good = world.envelope([payment(world)], sender=world.treasury.id)
    (tmp_path / "good.xml").write_bytes(good)
    assert main(["verify", str(tmp_path / "good.xml"), "--certs", str(world.keys_dir)]) == 0
    wide = good.decode("utf-8").encode("utf-32-le" if "utf32" in name else "utf-16-le")
    (tmp_path / "wide.xml").write_bytes(wide)
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "wide.xml"), "--certs", str(world.keys_dir), "--format", "json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [e["code"] for e in results[0]["errors"]] == ["xml-bad-encoding"]
    assert results[0]["errors"][0]["path"] == "/"


def test_utf8_with_bom_and_gbk_still_pass() -> None:
    assert validate_bytes(b"\xef\xbb\xbf" + _TEXT.encode()) == (["5201"], [])
    gbk = envelope_for(sample_voucher("5201", "original-gbk.xml"))
    assert validate_bytes(gbk.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk"))[1] == []
    assert declared_encoding(b'<?xml version="1.0" encoding = \'gb18030\' ?><a/>') == "gb18030"
    assert declared_encoding(b'\xef\xbb\xbf<?xml version="1.0" encoding="GBK"?><a/>') == "GBK"


# ------------------------------------------------------------------ generated: random encodings

_CODECS = ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
           "utf-32-be", "latin-1", "cp1252", "big5", "shift_jis", "euc-kr", "cp037", "cp500", "koi8-r"]
_LABELS = [None, "UTF-8", "utf-8", "GBK", "gb2312", "GB18030", "UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32",
           "ISO-8859-1", "Shift_JIS", "EBCDIC-US", "ASCII", "big5"]
_REASONS = ["", "退回：账号不符", "Ünïcödé réason", "¥100 €5", "テスト", "plain"]
_UTF8_OR_GBK = {"utf-8", "utf8", "gbk", "gb2312", "gb18030", "cp936"}
_WIDE_CODECS = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "cp037", "cp500"}


def _envelope_text(reason: str, label: str | None, spaced: bool) -> str:
    text = encode_envelope([body_for(sample_voucher())]).decode("utf-8")
    if reason:
        text = text.replace("<VoucherFlag>0</VoucherFlag>",
                            f"<VoucherFlag>0</VoucherFlag><Return_Reason>{reason}</Return_Reason>")
    rest = text.split("\n", 1)[1]
    if label is None:
        return rest
    return f'<?xml version="1.0" encoding{" = " if spaced else "="}"{label}"?>\n' + rest


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=st.sampled_from(_CODECS), label=st.sampled_from(_LABELS), reason=st.sampled_from(_REASONS),
       spaced=st.booleans())
def test_only_utf8_and_gbk_are_ever_accepted(codec: str, label: str | None, reason: str, spaced: bool) -> None:
    """Whatever the bytes and the declaration, an accepted envelope is UTF-8 or GBK bytes that
    decode, under the encoding the envelope declares (UTF-8 when none), to what was meant."""
    text = _envelope_text(reason, label, spaced)
    data = text.encode(codec, "xmlcharrefreplace")
    _, issues = validate_bytes(data, name="random.xml")
    try:
        envelope = parse_envelope(data)
    except InputError as exc:
        envelope = None
        assert exc.issues[0].code in CODES and exc.issues[0].path is not None and exc.issues[0].line is not None
    accepted = not any(i.code.startswith("xml-") for i in issues)
    assert accepted == (envelope is not None), [str(i) for i in issues]
    if codec in _WIDE_CODECS:
        assert not accepted and issues[0].code == "xml-bad-encoding", (codec, label, [str(i) for i in issues])
    if accepted:
        raw = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        declared = (label or "UTF-8").lower()
        assert declared in _UTF8_OR_GBK, (codec, label)
        decoded = raw.decode(declared)  # strict: the bytes really are in the declared encoding
        assert "\x00" not in decoded
        assert envelope is not None and envelope.bodies[0].voucher == sample_voucher()
        if codec in ("utf-8", "utf-8-sig", "gbk", "gb18030") and codec.startswith(declared[:3]):
            assert envelope.bodies[0].return_reason == (reason or None)


# ------------------------------------------------------------------ every error says where it is


@pytest.mark.parametrize(("data", "code", "line"), [
    (b"", "xml-malformed", 1),
    (b"  \n\t ", "xml-malformed", 1),
    (b"<MOF><VoucherCount>1</VoucherCount>\n<broken", "xml-malformed", 2),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<MOF/>', "xml-bad-encoding", 1),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<MOF>\n<a>\xff</a></MOF>', "xml-bad-encoding", 3),
    (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ELEMENT x ANY>]>\n<x/>', "xml-forbidden-dtd", 1),
])
def test_parse_level_errors_name_the_file_level_path_and_a_line(data: bytes, code: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=DEFAULT_LIMITS.envelope_bytes_max, what="envelope")
    issue = info.value.issues[0]
    assert (issue.code, issue.path, issue.line) == (code, "/", line), str(issue)
    _, issues = validate_bytes(data, name="x.xml")
    assert issues[0].path is not None and issues[0].line is not None


def test_too_deep_names_the_element_that_is_too_deep() -> None:
    data = b"<a>\n" + b"<b>" * 40 + b"</b>" * 40 + b"</a>"
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=10_000, depth_max=32)
    issue = info.value.issues[0]
    assert issue.code == "xml-too-deep" and issue.line == 2
    assert issue.path == "/a" + "/b" * 32


def test_empty_file_on_disk_has_a_line_and_a_path(tmp_path: Path) -> None:
    (tmp_path / "empty.xml").write_bytes(b"")
    report = validate_file(tmp_path / "empty.xml")
    assert [(e.code, e.line, e.path) for e in report.errors] == [("xml-malformed", 1, "/")]


def test_a_31_megabyte_text_node_is_a_size_limit_naming_the_element() -> None:
    head = _TEXT.split("<Voucher>", 1)[0]
    data = (head + "<Voucher>").encode() + b"QUFB" * (31 * 1024 * 1024 // 4) + b"</Voucher></VoucherBody></MOF>"
    assert len(data) < DEFAULT_LIMITS.envelope_bytes_max  # under the document limit: the text node is the news
    with pytest.raises(InputError) as info:
        parse_envelope(data)
    issue = info.value.issues[0]
    assert issue.code == "xml-text-too-large", str(issue)
    assert issue.path == "/MOF/VoucherBody[1]/Voucher[1]"
    assert issue.line == head.count("\n") + 1
    assert "<Voucher>" in issue.message and f"{TEXT_BYTES_MAX:,}" in issue.message
    assert "xml-text-too-large" in CODES


def test_bad_signature_has_the_line_of_its_signature(world: DevWorld) -> None:
    good = world.envelope([payment(world)], sender=world.treasury.id).decode("utf-8")
    value = re.search(r'(<Signature No="[^"]+" SN="[^"]+">)([^<]+)', good)
    assert value is not None
    tampered = good.replace(value.group(2), value.group(2)[:-8] + "AAAAAAA=", 1)
    multi = tampered.replace("<SignatureList>", "<SignatureList>\n", 1)  # the signature on a line of its own
    _, issues = validate_bytes(multi.encode(), store=world.certs())
    bad = [i for i in issues if i.code == "bad-signature"]
    assert bad, [str(i) for i in issues]
    sig_line = multi[: multi.index(value.group(1))].count("\n") + 1
    assert bad[0].line == sig_line
    assert bad[0].path is not None and bad[0].path.startswith("/MOF/VoucherBody[@VoucherNo=")
    assert bad[0].path.endswith(f"/SignatureList/Signature[@No='{value.group(1).split(chr(34))[1]}']")


def test_envelope_level_checks_give_absolute_paths() -> None:
    for data, code in [(envelope_for(sample_voucher(), voucher_no="OTHER0001"), "envelope-key-mismatch"),
                       (envelope_for(sample_voucher(), vtcode="0000"), "unknown-vtcode")]:
        _, issues = validate_bytes(data)
        assert issues[0].code == code
        assert issues[0].path is not None and issues[0].path.startswith("/MOF/VoucherBody[@VoucherNo="), str(issues[0])
        assert issues[0].line is not None


@pytest.mark.parametrize("where", ["element", "attribute"])
def test_a_name_over_the_parser_s_limit_says_name_not_text(where: str) -> None:
    from messages.xmlsafe import NAME_BYTES_MAX

    long = b"A" * (NAME_BYTES_MAX + 10)
    data = b"<Voucher><VoucherNo>1</VoucherNo>" + (b"<" + long + b"/>" if where == "element"
                                                   else b'<X ' + long + b'="1"/>') + b"</Voucher>"
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=1_000_000)
    issue = info.value.issues[0]
    # was: "the text of <Voucher> is longer than 10,000,000 bytes" for a 50 KB name
    assert issue.code == "xml-text-too-large" and "name" in issue.message and f"{NAME_BYTES_MAX:,}" in issue.message
    assert issue.path == "/Voucher"


# The scan's pattern before: where libxml2 stopped inside a long name it tried the name at every length
# (44 s of one core for a 50 KB name; the figure is in bench/results/test-suite-time.md, not a timed test).
_GREEDY_TAG = re.compile(rb"<(/?)([A-Za-z_][A-Za-z0-9._:-]*)[^<>]*?(/?)>")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"<", b">", b"/", b" ", b"A", b"_", b":", b".", b"-", b"=", b'"', b"1", b"\n"]),
                max_size=40).map(b"".join), st.integers(0, 40))
def test_the_possessive_tag_pattern_finds_the_tags_the_greedy_one_found(data: bytes, end: int) -> None:
    from messages.xmlsafe import _TAG

    def tags(pattern: re.Pattern[bytes]) -> list[tuple[tuple[int, int], tuple[bytes, ...]]]:
        return [(m.span(), m.groups()) for m in pattern.finditer(data, 0, end)]

    assert tags(_TAG) == tags(_GREEDY_TAG)
