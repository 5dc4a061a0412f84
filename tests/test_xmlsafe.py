"""The hardened parser refuses every hostile input with its typed code: never a crash, never a hang."""

from __future__ import annotations

import pytest
from hostile import BIG_BYTES, hostile_cases, sample_voucher, write_big

from messages.errors import CODES, InputError
from messages.validate import validate_bytes
from messages.xmlsafe import DEFAULT_LIMITS, Limits, declared_encoding, parse_xml

CASES = hostile_cases()
_PARSE_LEVEL = {"xml-malformed", "xml-forbidden-dtd", "xml-forbidden-entity", "xml-too-large",
                "xml-too-deep", "xml-bad-encoding", "xml-namespace", "xml-version", "xml-forbidden-pi",
                "xml-forbidden-comment"}


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in CASES.items() if c in _PARSE_LEVEL
                                        and not n.startswith("inner-")))
def test_parse_xml_refuses_with_typed_code(name: str) -> None:
    data, code = CASES[name]
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=DEFAULT_LIMITS.envelope_bytes_max)
    assert info.value.code == code
    assert all(i.code in CODES for i in info.value.issues)


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_bytes_gives_the_typed_code(name: str) -> None:
    data, code = CASES[name]
    _, issues = validate_bytes(data, name=f"{name}.xml")
    assert issues, f"{name} was accepted"
    assert issues[0].code == code, [str(i) for i in issues]


def test_external_entity_is_never_resolved() -> None:
    data = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>'
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=10_000)
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaks into the message


def test_size_limit_checked_before_parsing(tmp_path) -> None:
    path = tmp_path / "big.xml"
    write_big(path)
    data = path.read_bytes()
    assert len(data) == BIG_BYTES
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=DEFAULT_LIMITS.envelope_bytes_max)
    assert info.value.code == "xml-too-large"


def test_depth_limit_is_configurable() -> None:
    data = b"<a>" * 10 + b"</a>" * 10
    parse_xml(data, bytes_max=1000, depth_max=10)
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=1000, depth_max=9)
    assert info.value.code == "xml-too-deep"
    assert Limits(depth_max=9).depth_max == 9


def test_real_voucher_parses_utf8_and_gbk() -> None:
    root = parse_xml(sample_voucher(), bytes_max=100_000)
    assert root.findtext("VtCode") == "5201"
    gbk = sample_voucher("5201", "original-gbk.xml")
    assert declared_encoding(gbk).upper() == "GBK"
    assert parse_xml(gbk, bytes_max=100_000).findtext("SupDepName") == root.findtext("SupDepName")


@pytest.mark.parametrize(("data", "expected"), [
    (b'<?xml version="1.0" encoding="GBK"?><a/>', "GBK"),
    (b"<?xml version='1.0' encoding='utf-8'?><a/>", "utf-8"),
    (b'<?xml version="1.0"?><a/>', "UTF-8"),
    (b"<a/>", "UTF-8"),
    (b'<?xml version="1.0" encoding=GBK?><a/>', "UTF-8"),
    (b'<?xml version="1.0" encoding="GBK', "UTF-8"),  # no closing quote: not a declaration
])
def test_declared_encoding(data: bytes, expected: str) -> None:
    assert declared_encoding(data) == expected


@pytest.mark.parametrize(("name", "path"), [
    ("voucher-default-namespace", "/Voucher"), ("voucher-prefixed-namespace", "/Voucher"),
    ("voucher-inner-namespace", "/Voucher/DetailList/Detail[1]/PayAmt"), ("envelope-default-namespace", "/MOF")])
def test_a_namespace_is_refused_naming_it_at_the_element(name: str, path: str) -> None:
    """Not `VtCode '' is not in the catalog`: the namespace, and the first element in it."""
    data, _ = CASES[name]
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=DEFAULT_LIMITS.envelope_bytes_max)
    issue = info.value.issues[0]
    assert (issue.code, issue.path) == ("xml-namespace", path)
    assert "'urn:x'" in issue.message and "no namespace" in issue.message
    assert issue.line == data[:data.index(b'="urn:x"')].count(b"\n") + 1  # the line of the element


def test_a_namespace_declaration_no_element_uses_is_harmless() -> None:
    """xsi:noNamespaceSchemaLocation names the (namespace-less) schema: elements stay unqualified."""
    data = sample_voucher().replace(b"<Voucher>", b'<Voucher xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
                                                  b' xsi:noNamespaceSchemaLocation="5201.xsd">', 1)
    assert parse_xml(data, bytes_max=100_000).tag == "Voucher"


@pytest.mark.parametrize(("name", "path", "line"), [
    ("xml-1.1", "/", 1), ("pi-prolog", "/", 2), ("pi-without-declaration", "/", 1),
    ("pi-in-text", "/Voucher/PayeeAcctName", 17), ("pi-in-envelope", "/MOF", 2)])
def test_xml_1_1_and_processing_instructions_are_refused_where_they_are(name: str, path: str, line: int) -> None:
    """A PI splits an element's text: lxml's .text stops at it where XSD validation and other
    parsers read the whole value; XML 1.1 reads line ends and control characters otherwise."""
    data, code = CASES[name]
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=DEFAULT_LIMITS.envelope_bytes_max)
    issue = info.value.issues[0]
    assert (issue.code, issue.path, issue.line) == (code, path, line), issue
    assert ("1.1" if code == "xml-version" else "<?") in issue.message


def test_a_comment_inside_a_value_is_refused_one_between_elements_is_not() -> None:
    """lxml's .text stops at the comment: the gateway read 'X' where the XSD checked 'X测试...'."""
    data, code = CASES["comment-in-text"]
    with pytest.raises(InputError) as info:
        parse_xml(data, bytes_max=100_000)
    issue = info.value.issues[0]
    assert (issue.code, issue.path, issue.line) == (code, "/Voucher/PayeeAcctName", 17), issue
    between = sample_voucher().replace(b"<PayeeAcctName>", b"<!-- the payee --><PayeeAcctName>", 1)
    assert parse_xml(b"<!-- a voucher -->\n" + between[between.index(b"<Voucher>"):], bytes_max=100_000).tag \
        == "Voucher"
