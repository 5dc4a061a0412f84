"""The voucher catalog, the per-voucher XSDs and the sample files agree with each other.

The label-driven test against the full validator (messages/validate.py) lives elsewhere;
here we only check what the XSDs and the catalog data can tell on their own.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from hypothesis import assume, given
from hypothesis import strategies as st
from lxml import etree

from messages.catalog import get_catalog
from messages.errors import CODES, InputError
from messages.money import AMOUNT_FEN_MAX, fen_to_str, parse_fen
from xsd import XSD_DIR, xsd_path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

REQUIRED_CODES = {
    "5201", "8202", "5108", "5106", "7101", "7102", "2301", "2302", "2252", "2203", "5253",
    "2206", "3501", "3502", "4004", "7401", "7403", "7301", "7302", "7105", "7501", "7601", "7602", "7106", "7701",
}
INVALID_NAME = re.compile(r"invalid--(?P<code>[a-z0-9-]+?)--(?P<slug>[a-z0-9-]+)\.xml")
XS = "{http://www.w3.org/2001/XMLSchema}"


def _lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_path(name))))


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def schema_for(vtcode: str) -> etree.XMLSchema:
    if vtcode not in _SCHEMAS:
        _SCHEMAS[vtcode] = _lxml_schema(get_catalog().get(vtcode).xsd)
    return _SCHEMAS[vtcode]


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.xml"))


def valid_samples() -> list[Path]:
    return [p for p in sample_files() if not p.name.startswith("invalid--")]


def invalid_samples() -> list[Path]:
    return [p for p in sample_files() if p.name.startswith("invalid--")]


def is_receipt(path: Path) -> bool:
    """The samples convention: decided by the slug (or stem), never by the error-code part."""
    m = INVALID_NAME.fullmatch(path.name)
    return "receipt" in (m["slug"] if m else path.stem)


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _declared(xsd_file: Path) -> dict[str, etree._Element]:
    """Every xs:element declared in the schema, by name (head and Detail alike)."""
    tree = etree.parse(str(xsd_file))
    return {e.get("name"): e for e in tree.iter(f"{XS}element")}


# ---------------------------------------------------------------- catalog and XSDs


def test_catalog_has_every_required_code() -> None:
    catalog = get_catalog()
    assert set(catalog.codes()) >= REQUIRED_CODES
    for vt in catalog:
        assert re.fullmatch(r"[0-9]{4}", vt.vtcode)
        if vt.code_source == "invented":
            assert vt.vtcode.startswith("7"), vt.vtcode
            assert "invented" in vt.note.lower(), vt.vtcode


def test_seal_positions_follow_the_scheme() -> None:
    prefix = {"treasury": "0", "bank": "1", "pboc": "2"}
    for vt in get_catalog():
        for seal in (*vt.original_seals, *vt.receipt_seals):
            assert re.fullmatch(r"[0-9]{3}", seal.no)
            assert seal.no[0] == prefix[seal.role], (vt.vtcode, seal)
        assert all(s.role == vt.sender for s in vt.original_seals), vt.vtcode
        assert all(s.role == vt.recipient for s in vt.receipt_seals), vt.vtcode


@pytest.mark.parametrize("vtcode", sorted(REQUIRED_CODES))
def test_xsd_exists_and_compiles_with_both_libraries(vtcode: str) -> None:
    vt = get_catalog().get(vtcode)
    assert vt.xsd == f"{vtcode}.xsd"
    path = xsd_path(vt.xsd)
    assert path.parent == XSD_DIR
    _lxml_schema(vt.xsd)
    xmlschema.XMLSchema10(str(path))


def test_common_xsd_compiles() -> None:
    xmlschema.XMLSchema10(str(xsd_path("common.xsd")))
    _lxml_schema("common.xsd")


@pytest.mark.parametrize("vtcode", sorted(REQUIRED_CODES))
def test_xsd_declares_catalog_fields(vtcode: str) -> None:
    """receipt_fields are optional head elements; amount fields exist; VtCode is fixed to the code."""
    vt = get_catalog().get(vtcode)
    declared = _declared(xsd_path(vt.xsd))
    assert declared["VtCode"].get("fixed") == vtcode
    for name in vt.receipt_fields:
        assert name.startswith("X"), name
        assert declared[name].get("minOccurs") == "0", name
    x_in_xsd = {n for n in declared if re.fullmatch(r"X[A-Z]\w*", n)}
    assert set(vt.receipt_fields) <= x_in_xsd
    if not vt.has_receipt:
        assert not x_in_xsd, f"{vtcode} has no receipt but its XSD declares {x_in_xsd}"
    if vt.amount_field:
        assert declared[vt.amount_field].get("type") == "AmountType"
        assert "Detail" in declared
        detail = declared["Detail"]
        names = [e.get("name") for e in detail.iter(f"{XS}element")]
        assert vt.detail_amount_field in names


# ---------------------------------------------------------------- samples


def test_every_code_has_samples() -> None:
    catalog = get_catalog()
    labels: set[str] = set()
    for vt in catalog:
        folder = SAMPLES / vt.vtcode
        assert (folder / "original.xml").is_file(), vt.vtcode
        assert (folder / "receipt.xml").is_file() == vt.has_receipt, vt.vtcode
        invalid = list(folder.glob("invalid--*.xml"))
        assert len(invalid) >= 2, vt.vtcode
    for path in invalid_samples():
        m = INVALID_NAME.fullmatch(path.name)
        assert m, path.name
        assert m["code"] in CODES, path.name
        labels.add(m["code"])
    assert {"xsd-invalid", "bad-date", "styear-mismatch", "detail-sum-mismatch", "receipt-fields-unexpected",
            "receipt-fields-missing", "unknown-vtcode", "xml-malformed"} <= labels
    assert (SAMPLES / "9999" / "invalid--unknown-vtcode--not-in-catalog.xml").is_file()
    assert "9999" not in catalog
    for code in ("5201", "2301"):
        assert (SAMPLES / code / "original-gbk.xml").is_file()


@pytest.mark.parametrize("path", valid_samples(), ids=_ids(valid_samples()))
def test_valid_sample_validates(path: Path) -> None:
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml version=\"1.0\" encoding=\"")
    root = etree.fromstring(raw)
    vtcode = path.parent.name
    assert root.tag == "Voucher"
    assert root.findtext("VtCode") == vtcode
    schema = schema_for(vtcode)
    assert schema.validate(root), schema.error_log
    vt = get_catalog().get(vtcode)
    # The business facts the XSD cannot check hold in every valid sample.
    assert root.findtext("StYear") == root.findtext("VouDate", "")[:4]
    for x in vt.receipt_fields:
        value = root.findtext(x) or ""
        assert bool(value) == is_receipt(path), (x, value)
    if vt.amount_field:
        head = Decimal(root.findtext(vt.amount_field) or "")
        details = [Decimal(e.text or "") for e in root.iterfind(f"DetailList/Detail/{vt.detail_amount_field}")]
        assert details and sum(details) == head


def test_gbk_samples_are_really_gbk() -> None:
    for code in ("5201", "2301"):
        raw = (SAMPLES / code / "original-gbk.xml").read_bytes()
        assert raw.startswith(b'<?xml version="1.0" encoding="GBK"?>')
        text = raw.decode("gbk")
        assert re.search(r"[\u4e00-\u9fff]", text)
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert etree.fromstring(raw).findtext("PayBankName") == "示例银行示例市分行"


@pytest.mark.parametrize("path", invalid_samples(), ids=_ids(invalid_samples()))
def test_invalid_sample_fails_as_labelled(path: Path) -> None:
    m = INVALID_NAME.fullmatch(path.name)
    assert m is not None
    code = m["code"]
    raw = path.read_bytes()
    if code == "xml-malformed":
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(raw)
        return
    root = etree.fromstring(raw)
    if code == "unknown-vtcode":
        assert root.findtext("VtCode") not in get_catalog()
        return
    valid = schema_for(path.parent.name).validate(root)
    # xsd-invalid must fail the schema; every other label is a business fault in an XSD-valid file.
    assert valid == (code != "xsd-invalid"), (code, schema_for(path.parent.name).error_log)
    if code in ("receipt-fields-missing", "receipt-fields-unexpected"):
        assert is_receipt(path) == (code == "receipt-fields-missing")


# ---------------------------------------------------------------- AmountType vs messages.money


def _amount_schema() -> etree.XMLSchema:
    doc = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:include schemaLocation="common.xsd"/>'
        '<xs:element name="A" type="AmountType"/>'
        "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(doc, base_url=str(XSD_DIR / "probe.xsd")))


AMOUNT_SCHEMA = _amount_schema()


def xsd_accepts(text: str) -> bool:
    elem = etree.Element("A")
    elem.text = text  # validated in memory: no XML parsing step to normalise line ends
    return bool(AMOUNT_SCHEMA.validate(elem))


def money_accepts(text: str) -> bool:
    try:
        parse_fen(text, allow_negative=True)
    except InputError:
        return False
    return True


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


@given(st.integers(min_value=-AMOUNT_FEN_MAX, max_value=AMOUNT_FEN_MAX))
def test_amount_pattern_accepts_every_formatted_fen(fen: int) -> None:
    text = fen_to_str(fen)
    assert xsd_accepts(text)
    assert parse_fen(text, allow_negative=True) == fen


@given(st.from_regex(r"-?[0-9]{1,18}\.[0-9]{1,3}", fullmatch=True)
       | st.from_regex(r"[-+ ]?[0-9,.eE]{1,22}\s?", fullmatch=True))
def test_amount_pattern_agrees_with_parse_fen_near_misses(text: str) -> None:
    assume(all(_xml_char(c) for c in text))
    assert xsd_accepts(text) == money_accepts(text), text


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30))
def test_amount_pattern_agrees_with_parse_fen_on_any_text(text: str) -> None:
    assume(all(_xml_char(c) for c in text))
    assert xsd_accepts(text) == money_accepts(text), text


def test_parse_fen_refuses_non_ascii_digits_like_the_xsd() -> None:
    text = "1\u0662.\u0663\u0664"  # "12.34" with Arabic-Indic digits after the first
    assert not xsd_accepts(text)
    assert not money_accepts(text)
