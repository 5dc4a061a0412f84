"""Rendering from fields (issue 19): `build_voucher` writes each element layout from a template
worked out once per (schema, names), and `encode_envelope` writes the voucher's base64 as bytes.
Both must write exactly what the plain element-by-element text rendering wrote: the references
below are that rendering, kept here as the specification."""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages import voucher
from messages.catalog import get_catalog
from messages.envelope import SignatureEntry, VoucherBody, VoucherKey, encode_envelope
from messages.factory import payment_voucher_fields
from messages.voucher import _element_names, build_voucher


def reference_voucher(vtcode: str, head: Mapping[str, object], details: Sequence[Mapping[str, object]] = (),
                      encoding: str = "UTF-8") -> bytes:
    """Every element of the schema that the fields hold, in schema order, escaped when needed."""
    before, after, head_names, detail_order, _ = _element_names(get_catalog().get(vtcode).xsd)

    def elements(names: Sequence[str], values: Mapping[str, object]) -> str:
        return "".join(f"<{n}>{escape(str(values[n]))}</{n}>" for n in names if n in values)

    fields = {**head, "VtCode": vtcode}
    lines = "".join(f"<Detail>{elements(detail_order, d)}</Detail>" for d in details)
    listed = f"<DetailList>{lines}</DetailList>" if details and "DetailList" in head_names else ""
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<Voucher>{elements(before, fields)}{listed}'
            f"{elements(after, fields)}</Voucher>\n")
    return text.encode("gbk" if encoding == "GBK" else "utf-8")


def reference_envelope(bodies: Sequence[VoucherBody], encoding: str = "UTF-8") -> bytes:
    def body(b: VoucherBody) -> str:
        def b64(data: bytes) -> str:
            return binascii.b2a_base64(data, newline=False).decode("ascii")

        attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in (("AdmDivCode", b.adm_div_code), ("StYear", b.st_year),
                                                             ("VtCode", b.vtcode), ("VoucherNo", b.voucher_no)))
        stamps = "".join(f"<SignStamp No={quoteattr(n)}>{escape(t)}</SignStamp>" for n, t in b.sign_stamps)
        return (f"<VoucherBody {attrs}><VoucherFlag>{b.flag}</VoucherFlag>"
                + (f"<Return_Reason>{escape(b.return_reason)}</Return_Reason>" if b.return_reason is not None else "")
                + (f"<Attach>{escape(b.attach)}</Attach>" if b.attach is not None else "")
                + f"<Voucher>{b64(b.voucher)}</Voucher>"
                + (f"<SignStampList>{stamps}</SignStampList>" if b.sign_stamps else "")
                + "<SignatureList>" + "".join(f"<Signature No={quoteattr(s.no)} SN={quoteattr(s.sn)}>{b64(s.value)}"
                                              "</Signature>" for s in b.signatures)
                + "</SignatureList></VoucherBody>")

    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<MOF><VoucherCount>{len(bodies)}</VoucherCount>'
            + "".join(body(b) for b in bodies) + "</MOF>\n")
    return text.encode("gbk", "xmlcharrefreplace") if encoding == "GBK" else text.encode("utf-8")


TEXTS = st.text(alphabet=st.sampled_from("aZ09 -&<>\"'示例"), max_size=12)
WIDE_TEXTS = st.text(alphabet=st.sampled_from("aZ09 -&<>\"'示例€😀"), max_size=12)  # GBK lacks the last two


def _fields(seed: int) -> tuple[dict[str, str], list[dict[str, str]]]:
    import random

    return payment_voucher_fields(voucher_no=f"RL{seed:04d}", vou_date=dt.date(2026, 3, 16),
                                  pay_bank_code="999100000011", amount_fen=98_765, details=3, rng=random.Random(seed))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), drop=st.sets(st.integers(0, 30), max_size=8), text=TEXTS, number=st.integers(),
       reverse=st.booleans(), encoding=st.sampled_from(["UTF-8", "GBK"]), vtcode=st.sampled_from(["5201", "8202"]))
def test_build_voucher_writes_what_the_element_by_element_rendering_wrote(
        seed: int, drop: set[int], text: str, number: int, reverse: bool, encoding: str, vtcode: str) -> None:
    head, lines = _fields(seed)
    head = {k: v for i, (k, v) in enumerate(head.items()) if i not in drop}  # some names absent
    head["AgencyName"] = text  # text that needs escaping, or not
    lines[0]["PayAmt"] = number  # type: ignore[assignment]  # a value that is not a str
    if reverse:  # the same names in another order: another layout, the same schema order written
        head = dict(reversed(list(head.items())))
        lines = [dict(reversed(list(line.items()))) for line in lines]
    expected = reference_voucher(vtcode, head, lines, encoding)
    assert build_voucher(vtcode, head, lines, encoding=encoding) == expected
    assert build_voucher(vtcode, head, lines, encoding=encoding) == expected  # the layout as kept
    assert build_voucher(vtcode, head, (), encoding=encoding) == reference_voucher(vtcode, head, (), encoding)


def test_unknown_names_are_still_refused() -> None:
    head, lines = _fields(1)
    with pytest.raises(ValueError, match="unknown head elements"):
        build_voucher("5201", {**head, "Nonsense": "1"}, lines)
    with pytest.raises(ValueError, match="unknown Detail elements"):
        build_voucher("5201", head, [{**lines[0], "Nonsense": "1"}])


def test_the_layouts_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(voucher, "LAYOUTS_MAX", 4)
    monkeypatch.setattr(voucher, "_layouts", {})
    head, lines = _fields(2)
    names = list(head)
    for n in range(12):  # ever new name orders: ever new layouts
        order = names[n:] + names[:n]
        reordered = {k: head[k] for k in order}
        assert build_voucher("5201", reordered, lines) == reference_voucher("5201", reordered, lines)
        assert len(voucher._layouts) <= 4


@settings(max_examples=60, deadline=None)
@given(reason=st.none() | WIDE_TEXTS, attach=st.none() | WIDE_TEXTS, no=st.sampled_from(["N0001", 'N "1" <&>', "单号1"]),
       stamps=st.lists(st.tuples(st.sampled_from(["1", "2"]), WIDE_TEXTS), max_size=2),
       sig_no=st.sampled_from(["1", "a b"]), n=st.integers(1, 3), encoding=st.sampled_from(["UTF-8", "GBK"]))
def test_encode_envelope_writes_what_the_text_rendering_wrote(reason: str | None, attach: str | None, no: str,
                                                              stamps: list[tuple[str, str]], sig_no: str, n: int,
                                                              encoding: str) -> None:
    body = VoucherBody("990100", "2026", "5201", no, 1, "<Voucher>示例</Voucher>".encode() * 7,
                       (SignatureEntry(sig_no, "0A1B", b"\x01\x02sig"),), reason, attach, tuple(stamps))
    bodies = [dataclasses.replace(body, voucher=body.voucher + bytes([i])) for i in range(n)]
    assert encode_envelope(bodies, encoding=encoding) == reference_envelope(bodies, encoding)


def test_with_signatures_keeps_every_other_field_and_replaces_a_position() -> None:
    body = VoucherBody("990100", "2026", "5201", "N1", 1, b"<Voucher/>", (SignatureEntry("1", "AA", b"a"),),
                       "reason", "attach", (("1", "stamp"),), line=7)
    sealed = body.with_signatures([SignatureEntry("1", "BB", b"b"), SignatureEntry("2", "BB", b"b")])
    assert sealed == dataclasses.replace(body, signatures=(SignatureEntry("1", "BB", b"b"), SignatureEntry("2", "BB", b"b")))
    assert sealed.line == 7


def test_original_is_the_key_with_flag_0() -> None:
    key = VoucherKey("990100", "2026", "5201", "N/1", 1)
    assert key.original() == key._replace(flag=0) and type(key.original()) is VoucherKey
