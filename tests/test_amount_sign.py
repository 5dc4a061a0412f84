"""A voucher that moves money one way carries no negative amount: a payment, a quota, a clearing
request, a refund and the notices of them state what moves, and "-" there makes a voucher the
simulators cannot use (they raised an alarm and never answered the sender, whom the gateway had
told `accepted`). Corrections, reports, statements and reconciliations are net amounts and may be
negative. Checked over the whole catalogue: every amount element (head and Detail, *Amt) of each
sample, original and receipt, made negative."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_helpers import rebuild
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.catalog import get_catalog
from messages.validate import validate_bytes
from messages.voucher import parse_voucher

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# The oracle, from what each document is (DOMAIN.md, the catalogue's names), not from the code:
# net amounts, where a minus is a refund or a correction netted in.
NET = {"5253", "2206", "4004", "3501", "7104", "7203", "3502", "7401", "7602"}
ONE_WAY = {"5201", "8202", "5108", "5106", "7101", "7106", "7102", "7103", "7105", "7202", "2301", "2302", "2252",
           "2203", "7403", "7301", "7302", "7701"}


def cases() -> list[tuple[str, int]]:
    out = []
    for vt in get_catalog():
        for flag in ((0, 1) if vt.has_receipt else (0,)):
            if (SAMPLES / vt.vtcode / ("receipt.xml" if flag else "original.xml")).exists():
                out.append((vt.vtcode, flag))
    return out


def test_the_oracle_decides_every_vtcode() -> None:
    assert {vt.vtcode for vt in get_catalog()} - {"7501", "7601"} == NET | ONE_WAY  # 7501 / 7601 carry no amount
    assert not NET & ONE_WAY


def amounts(raw: bytes) -> list[tuple[int | None, str]]:
    """(Detail index or None for the head, element) of every non-empty, non-zero amount."""
    doc = parse_voucher(raw)
    out: list[tuple[int | None, str]] = [(None, k) for k, v in doc.head().items() if k.endswith("Amt") and v.strip()
                                         and v.strip().lstrip("-") != "0.00"]
    out += [(i, k) for i, d in enumerate(doc.details()) for k, v in d.items() if k.endswith("Amt") and v.strip()
            and v.strip().lstrip("-") != "0.00"]
    return out


def negated(raw: bytes, where: int | None, name: str) -> bytes:
    """`name` made negative; where the catalogue sums details to the head, the sum kept (the head
    and every detail negated together), so the sign is the only thing wrong."""
    doc = parse_voucher(raw)
    vt = get_catalog().get(doc.vtcode)

    def neg(v: str) -> str:
        return v if v.startswith("-") or v in ("", "0.00") else "-" + v

    head = doc.head()
    details = doc.details()
    summed = vt.amount_field is not None and (
        (where is None and name == vt.amount_field) or (where is not None and name == vt.detail_amount_field))
    if summed:
        head_new = {vt.amount_field: neg(head[vt.amount_field])}
        for d in details:
            if vt.detail_amount_field in d:
                d[vt.detail_amount_field] = neg(d[vt.detail_amount_field])
        return rebuild(raw, details=details, **head_new)
    if where is None:
        return rebuild(raw, **{name: neg(head[name])})
    details[where][name] = neg(details[where][name])
    return rebuild(raw, details=details)


@pytest.mark.parametrize(("vtcode", "flag"), cases())
def test_the_sample_passes(vtcode: str, flag: int) -> None:
    raw = (SAMPLES / vtcode / ("receipt.xml" if flag else "original.xml")).read_bytes()
    assert validate_bytes(raw, flag=flag)[1] == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(cases()), st.data())
def test_a_negative_amount_is_refused_where_money_moves_one_way(case: tuple[str, int], data: st.DataObject) -> None:
    vtcode, flag = case
    raw = (SAMPLES / vtcode / ("receipt.xml" if flag else "original.xml")).read_bytes()
    where = amounts(raw)
    if not where:
        return
    index, name = data.draw(st.sampled_from(where))
    issues = validate_bytes(negated(raw, index, name), flag=flag)[1]
    if vtcode in NET:
        assert issues == [], [str(i) for i in issues]
    else:
        assert [i.code for i in issues] == ["bad-amount"], (name, [str(i) for i in issues])
        assert issues[0].path is not None and issues[0].path.endswith(name), issues[0].path
