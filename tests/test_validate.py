"""Validation of files: labelled samples give their code, anything at all gives only registered codes."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from hostile import SAMPLES, body_for, envelope_for, sample_voucher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages.envelope import SignatureEntry, encode_envelope
from messages.errors import CODES
from messages.validate import FileReport, iter_voucher_files, validate_bytes, validate_file

INVALID = sorted(SAMPLES.glob("**/invalid--*--*.xml"))
VALID = sorted(p for p in SAMPLES.glob("**/*.xml") if not p.name.startswith("invalid--"))


def _label(path: Path) -> str:
    return path.name.split("--")[1]


def test_globs_are_not_empty() -> None:
    assert len(INVALID) >= 20
    assert len(VALID) >= 10
    assert {_label(p) for p in INVALID} <= set(CODES), "a sample is labelled with an unregistered code"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_invalid_sample_yields_its_code_first(path: Path) -> None:
    report = validate_file(path)
    assert not report.ok
    assert report.errors[0].code == _label(path), [str(e) for e in report.errors]


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_sample_is_ok(path: Path) -> None:
    report = validate_file(path)
    assert report.ok, [str(e) for e in report.errors]
    assert report.vtcode == path.parent.name


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_sample_in_an_envelope_is_ok(path: Path) -> None:
    flag = 1 if "receipt" in path.name else 0
    vtcodes, issues = validate_bytes(envelope_for(path.read_bytes()) if not flag else
                                     encode_envelope([body_for(path.read_bytes(), flag=1)]))
    assert not issues, [str(i) for i in issues]
    assert vtcodes == [path.parent.name]


def test_receipt_name_heuristic_ignores_the_label() -> None:
    # "invalid--receipt-fields-unexpected--original-..." is an original, not a receipt
    name = "invalid--receipt-fields-unexpected--original-with-filled-xpaydate.xml"
    _, issues = validate_bytes((SAMPLES / "5201" / name).read_bytes(), name=name)
    assert issues and issues[0].code == "receipt-fields-unexpected"
    _, issues = validate_bytes(sample_voucher("5201", "receipt.xml"), name="x.xml")
    assert issues[0].code == "receipt-fields-unexpected"  # not named receipt: taken as original
    _, issues = validate_bytes(sample_voucher("5201", "receipt.xml"), name="x.xml", flag=1)
    assert not issues


def test_inner_issue_paths_name_the_body() -> None:
    bad = (SAMPLES / "5201" / "invalid--bad-date--voudate-20260230.xml").read_bytes()
    _, issues = validate_bytes(envelope_for(bad))
    assert issues[0].code == "bad-date"
    assert issues[0].path.startswith("/MOF/VoucherBody[@VoucherNo=")
    assert issues[0].path.endswith("#/Voucher/VouDate")


def test_every_body_of_a_batch_is_checked() -> None:
    good = body_for(sample_voucher())
    bad = body_for((SAMPLES / "8202" / "invalid--detail-sum-mismatch--details-one-yuan-over.xml").read_bytes())
    vtcodes, issues = validate_bytes(encode_envelope([good, bad, good]))
    assert vtcodes == ["5201", "8202", "5201"]
    assert [i.code for i in issues] == ["detail-sum-mismatch"]


def test_signatures_checked_only_with_a_store() -> None:
    body = body_for(sample_voucher()).with_signature(SignatureEntry("001", "AB", b"junk"))
    _, issues = validate_bytes(encode_envelope([body]))
    assert not issues

    class EmptyStore:
        def get(self, sn: str) -> None:
            return None

    _, issues = validate_bytes(encode_envelope([body]), store=EmptyStore(),  # type: ignore[arg-type]
                               at=dt.datetime.now(dt.UTC))
    assert {i.code for i in issues} == {"unknown-certificate", "missing-signature"}


def test_unreadable_file(tmp_path: Path) -> None:
    report = validate_file(tmp_path / "nope.xml")
    assert not report.ok and report.errors[0].code == "io-unreadable"
    report = validate_file(tmp_path)  # a directory cannot be read as a file
    assert report.errors[0].code == "io-unreadable"
    assert FileReport("p", True, "5201", []).as_dict() == {"path": "p", "ok": True, "vtcode": "5201", "errors": []}


def test_iter_voucher_files(tmp_path: Path) -> None:
    (tmp_path / "b" / "c").mkdir(parents=True)
    for name in ("b/c/2.xml", "b/1.XML", "a.xml", "b/skip.txt"):
        (tmp_path / name).write_bytes(b"<x/>")
    single = tmp_path / "b" / "skip.txt"
    got = list(iter_voucher_files([tmp_path, single]))
    assert got == [tmp_path / "a.xml", tmp_path / "b" / "1.XML", tmp_path / "b" / "c" / "2.xml", single]


# ------------------------------------------------------------------ fuzz: never raise, only codes


def _assert_registered(result: tuple[list[str], list]) -> None:
    _, issues = result
    for issue in issues:
        assert issue.code in CODES


_SEEDS = [sample_voucher(), sample_voucher("5201", "original-gbk.xml"), envelope_for(sample_voucher()),
          envelope_for(sample_voucher("2301", "original-gbk.xml"))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    _assert_registered(validate_bytes(data, name="fuzz.xml"))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 8))):
        op = rnd.randrange(5)
        i = rnd.randrange(len(data)) if data else 0
        if op == 0 and data:  # flip a byte
            data[i] = rnd.randrange(256)
        elif op == 1 and data:  # delete a slice
            del data[i:i + rnd.randrange(1, 40)]
        elif op == 2:  # insert markup-ish bytes
            data[i:i] = rnd.choice([b"<", b">", b"&", b"<!DOCTYPE x>", b"&amp;", b"</Voucher>", b"\x00",
                                    b"\xff\xfe", b"<Detail>", b"]]>", b"&#0;", b"=", b"\xd6\xd0"])
        elif op == 3 and data:  # duplicate a slice
            j = rnd.randrange(len(data))
            data[i:i] = data[j:j + rnd.randrange(1, 200)]
        else:  # truncate
            del data[rnd.randrange(len(data) + 1):]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(), st.sampled_from([None, 0, 1]))
def test_mutated_vouchers_never_raise(data: bytes, flag: int | None) -> None:
    _assert_registered(validate_bytes(data, name="mutant.xml", flag=flag))


@pytest.mark.parametrize("missing", [(), ("UrgentGovApproval",), ("UrgentSupDepApproval",),
                                     ("UrgentSupDepApproval", "UrgentGovApproval")])
def test_an_urgent_payment_needs_the_unit_and_government_approval(missing: tuple[str, ...]) -> None:
    # 004 part 3 §8(6): 特别紧急支出 "经一级预算单位认定并由市政府或经市政府授权市财政局批准"
    from messages.business import business_issues
    from messages.catalog import get_catalog
    from messages.factory import payment_voucher
    from messages.voucher import build_voucher, parse_voucher

    doc = parse_voucher(payment_voucher(voucher_no="ZZ2026031000001", vou_date=dt.date(2026, 3, 10),
                                        pay_bank_code="999100000001", amount_fen=800_00, urgent=True))
    head = {k: v for k, v in doc.head().items() if k not in missing}
    doc = parse_voucher(build_voucher("5201", head, doc.details()))
    issues = business_issues(doc, get_catalog().get("5201"), 0)
    assert [(i.code, i.path) for i in issues] == [("urgent-approval-missing", f"/Voucher/{n}") for n in
                                                 ("UrgentSupDepApproval", "UrgentGovApproval") if n in missing]
    # not urgent: no approval needed
    plain = parse_voucher(build_voucher("5201", {**head, "UrgentFlag": "0"}, doc.details()))
    assert business_issues(plain, get_catalog().get("5201"), 0) == []
