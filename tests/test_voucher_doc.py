"""`VoucherDoc.head()` / `details()`: read from the tree once, new dicts on every call, elements
only (a comment the XML may carry is no head field nor Detail element), texts shared."""

from __future__ import annotations

import datetime as dt

from messages.factory import payment_voucher
from messages.voucher import build_voucher, parse_voucher

DATA = payment_voucher(voucher_no="VD0001", vou_date=dt.date(2026, 3, 16), pay_bank_code="999100000011",
                       amount_fen=123_45, details=2)


def test_head_and_details_are_new_dicts_of_the_elements() -> None:
    doc = parse_voucher(DATA)
    head = doc.head()
    assert "DetailList" not in head and head["VoucherNo"] == "VD0001" and head["VtCode"] == "5201"
    head["VoucherNo"] = "changed"
    assert doc.head()["VoucherNo"] == "VD0001" == doc.get("VoucherNo")  # a caller's copy, not the doc's
    assert build_voucher("5201", doc.head(), doc.details()) == DATA  # renders back to the same bytes
    a, b = parse_voucher(DATA).details(), parse_voucher(DATA).details()
    assert a == b and a[0]["AgencyName"] is b[0]["AgencyName"]  # one string per value, not one per voucher


def test_a_comment_is_neither_a_head_field_nor_a_detail_element() -> None:
    data = DATA.replace(b"<VoucherNo>", b"<!-- note --><VoucherNo>").replace(b"<Detail>", b"<Detail><!-- line -->")
    doc = parse_voucher(data)
    assert all(isinstance(k, str) for k in doc.head())
    assert all(isinstance(k, str) for line in doc.details() for k in line)
    assert build_voucher("5201", doc.head(), doc.details()) == DATA


def test_the_lines_are_walked_once_whoever_reads_first() -> None:
    """The gateway's monitor reads a payment's lines (`detail_items`) and the bank it is handed to
    in-process reads them again (`details`): one walk of the tree between them, not one each."""
    from gateway.monitoring.engine import PaymentFacts

    doc = parse_voucher(DATA)
    facts = PaymentFacts.from_doc("990100/2026/5201/VD0001", doc, at=dt.datetime(2026, 3, 16, 9),
                                  business_day=True, shared=True)  # the bank takes the doc in-process
    walked = doc.detail_items()
    assert [dict(line) for line in walked] == parse_voucher(DATA).details()
    assert sum(line.fen for line in facts.lines) == 123_45

    class NoWalk:
        def iterfind(self, path: str) -> object:
            raise AssertionError(f"the tree walked again for {path}")

    doc.root = NoWalk()  # type: ignore[assignment]
    assert doc.detail_items() is walked
    assert doc.details() == parse_voucher(DATA).details()
    mine = doc.details()
    mine[0]["PayAmt"] = "0.00"  # a caller's copy: the lines the doc holds stay as read
    assert doc.details()[0]["PayAmt"] != "0.00"


def test_a_key_made_from_its_fields_is_the_named_tuple() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from messages.envelope import VoucherBody, VoucherKey

    @given(st.tuples(st.text(max_size=6), st.text(max_size=4), st.text(max_size=4), st.text(max_size=20),
                     st.sampled_from([0, 1])))
    def check(fields: tuple[str, str, str, str, int]) -> None:
        made = VoucherKey(*fields)
        for key in (VoucherKey.of(*fields), VoucherBody(*fields, b"<Voucher/>").key):
            assert type(key) is VoucherKey and key == made and repr(key) == repr(made) and str(key) == str(made)
            assert key.flag == fields[4] and key._fields == made._fields
            assert key.original() == made._replace(flag=0) and type(key.original()) is VoucherKey

    check()
