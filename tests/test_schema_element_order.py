"""`messages.schema.element_order` reads the element order from the XSD with lxml; what it reads
is what xmlschema's model of the same schema says, for every voucher XSD of ours (one has a
choice), and a schema laid out otherwise (a named type, a group) is still read, by xmlschema."""

from __future__ import annotations

from pathlib import Path

import pytest

from messages import schema
from xsd import XSD_DIR

VOUCHER_XSDS = sorted(p.name for p in XSD_DIR.glob("*.xsd") if p.stem.isdigit())


def test_every_voucher_xsd_is_read_without_xmlschema() -> None:
    assert len(VOUCHER_XSDS) >= 20
    assert [name for name in VOUCHER_XSDS if schema._plain_element_order(name) is None] == []
    assert any("<xs:choice" in (XSD_DIR / name).read_text(encoding="utf-8") for name in VOUCHER_XSDS)


@pytest.mark.parametrize("name", VOUCHER_XSDS)
def test_the_order_read_with_lxml_is_xmlschemas(name: str) -> None:
    assert schema._plain_element_order(name) == schema._xmlschema_element_order(name)
    assert schema.element_order(name) == schema._xmlschema_element_order(name)


NAMED_TYPE = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">
  <xs:group name="Tail"><xs:sequence><xs:element name="Hold1" type="xs:string"/></xs:sequence></xs:group>
  <xs:complexType name="DetailType">
    <xs:sequence><xs:element name="Id" type="xs:string"/><xs:element name="PayAmt" type="xs:string"/></xs:sequence>
  </xs:complexType>
  <xs:element name="Voucher">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Id" type="xs:string"/>
        <xs:element name="DetailList">
          <xs:complexType><xs:sequence>
            <xs:element name="Detail" type="DetailType" maxOccurs="unbounded"/>
          </xs:sequence></xs:complexType>
        </xs:element>
        <xs:group ref="Tail"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


def test_a_schema_laid_out_otherwise_is_read_by_xmlschema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "9999.xsd"
    path.write_text(NAMED_TYPE, encoding="utf-8")
    monkeypatch.setattr(schema, "xsd_path", lambda name: tmp_path / name)
    assert schema._plain_element_order("9999.xsd") is None  # a group and a named type: not read with lxml
    assert schema._xmlschema_element_order("9999.xsd") == (("Id", "DetailList", "Hold1"), ("Id", "PayAmt"))
