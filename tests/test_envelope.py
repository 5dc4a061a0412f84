"""The MOF envelope codec: parse → encode → parse is the identity, inner bytes survive exactly."""

from __future__ import annotations

import base64
import string
from pathlib import Path

import pytest
from hostile import SAMPLES, body_for, sample_voucher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages.envelope import (
    _TAIL,
    _UTF8_ONE,
    EncodedEnvelope,
    Envelope,
    SignatureEntry,
    VoucherBody,
    _mark,
    encode_envelope,
    encode_envelope_spans,
    is_envelope,
    parse_envelope,
    single_envelope,
)
from messages.errors import InputError
from messages.xmlsafe import parse_xml

VALID_SAMPLES = sorted(p for p in SAMPLES.glob("*/*.xml") if not p.name.startswith("invalid--"))


def test_samples_found() -> None:
    assert len(VALID_SAMPLES) >= 10


def _bodies_for_samples() -> list[VoucherBody]:
    bodies = []
    for path in VALID_SAMPLES:
        flag = 1 if "receipt" in path.name else 0
        body = body_for(path.read_bytes(), flag=flag)
        body = body.with_signature(SignatureEntry("001", "ABCDEF0123", b"\x30\x45" + bytes(range(70))))
        bodies.append(body)
    return bodies


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_round_trip_of_every_sample(encoding: str) -> None:
    bodies = _bodies_for_samples()
    data = encode_envelope(bodies, encoding=encoding)
    assert data.startswith(f'<?xml version="1.0" encoding="{encoding}"?>'.encode())
    env = parse_envelope(data)
    assert env.bodies == tuple(bodies)
    for got, want in zip(env.bodies, bodies, strict=True):
        assert got.voucher == want.voucher  # byte for byte
    # and once more, through the other encoding
    other = "GBK" if encoding == "UTF-8" else "UTF-8"
    again = parse_envelope(encode_envelope(env, encoding=other))
    assert again.bodies == env.bodies


def test_gbk_inner_voucher_survives_byte_exact() -> None:
    gbk = sample_voucher("5201", "original-gbk.xml")
    assert b'encoding="GBK"' in gbk
    gbk.decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")
    for encoding in ("UTF-8", "GBK"):
        env = parse_envelope(encode_envelope([body_for(gbk)], encoding=encoding))
        assert env.bodies[0].voucher == gbk


def test_body_line_and_key() -> None:
    data = encode_envelope([body_for(sample_voucher()), body_for(sample_voucher("8202"))])
    env = parse_envelope(data)
    assert [b.vtcode for b in env.bodies] == ["5201", "8202"]
    assert all(b.line is not None for b in env.bodies)
    key = env.bodies[0].key
    assert str(key).endswith("/5201/ZZ2026031600001/0")
    assert key.original() == key
    assert is_envelope(parse_xml(data, bytes_max=1_000_000))


def test_with_signature_replaces_same_position() -> None:
    body = body_for(sample_voucher())
    body = body.with_signature(SignatureEntry("001", "AA", b"1"))
    body = body.with_signature(SignatureEntry("002", "BB", b"2"))
    body = body.with_signature(SignatureEntry("001", "CC", b"3"))
    assert [(s.no, s.sn) for s in body.signatures] == [("002", "BB"), ("001", "CC")]


def test_lowercase_sn_is_normalised() -> None:
    body = body_for(sample_voucher()).with_signature(SignatureEntry("001", "abcdef", b"sig"))
    assert parse_envelope(encode_envelope([body])).bodies[0].signatures[0].sn == "ABCDEF"


def test_encode_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        encode_envelope([])
    with pytest.raises(ValueError):
        encode_envelope([body_for(sample_voucher())], encoding="UTF-16")
    with pytest.raises(ValueError):
        Envelope(())
    with pytest.raises(ValueError):
        VoucherBody("990100", "2026", "5201", "X", 2, b"x")


@pytest.mark.parametrize(("mutation", "code"), [
    (lambda s: s.replace("<VoucherCount>1<", "<VoucherCount>3<"), "envelope-count-mismatch"),
    (lambda s: s.replace("<VoucherFlag>0<", "<VoucherFlag>2<"), "envelope-invalid"),
    (lambda s: s.replace('VtCode="5201"', 'VtCode="52011"'), "envelope-invalid"),
    (lambda s: s.replace("<Voucher>", "<Voucher>%%%"), "base64-invalid"),
    (lambda s: s.replace("<MOF>", "<FOM>").replace("</MOF>", "</FOM>"), "envelope-invalid"),
])
def test_envelope_level_errors(mutation, code: str) -> None:
    text = encode_envelope([body_for(sample_voucher())]).decode()
    with pytest.raises(InputError) as info:
        parse_envelope(mutation(text).encode())
    assert info.value.code == code


# ------------------------------------------------------------------ property: random bodies

# XML 1.0 characters only, and no CR (a parser normalises it to LF, as XML requires).
_xml_char = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | \
    st.sampled_from("\n\t<>&\"'")
_cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_reason = st.text(_xml_char | _cjk | st.sampled_from("退回原因：账号不符"), max_size=120)
_digits = st.text(string.digits, min_size=1, max_size=1)
_sig = st.builds(SignatureEntry,
                 no=st.text(string.digits + string.ascii_letters, min_size=1, max_size=8),
                 sn=st.text("0123456789ABCDEF", min_size=1, max_size=40),
                 value=st.binary(min_size=1, max_size=300))
_body = st.builds(
    VoucherBody,
    adm_div_code=st.text(string.digits, min_size=6, max_size=9),
    st_year=st.text(string.digits, min_size=4, max_size=4),
    vtcode=st.text(string.digits, min_size=4, max_size=4),
    voucher_no=st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=42),
    flag=st.sampled_from([0, 1]),
    voucher=st.binary(min_size=1, max_size=2000),
    signatures=st.lists(_sig, max_size=4, unique_by=lambda s: s.no).map(tuple),
    return_reason=st.none() | _reason,
    attach=st.none() | _reason,
    sign_stamps=st.lists(st.tuples(st.text(string.digits, min_size=1, max_size=8), _reason),
                         max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(_body, min_size=1, max_size=4), encoding=st.sampled_from(["UTF-8", "GBK"]))
def test_random_bodies_round_trip(bodies: list[VoucherBody], encoding: str) -> None:
    env = parse_envelope(encode_envelope(bodies, encoding=encoding))
    assert env.bodies == tuple(bodies)
    assert [b.voucher for b in env.bodies] == [b.voucher for b in bodies]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(_body, min_size=1, max_size=4), other=_body)
def test_a_body_cut_out_of_its_encoded_envelope_is_its_one_body_envelope(bodies: list[VoucherBody],
                                                                        other: VoucherBody) -> None:
    data = encode_envelope_spans(bodies)
    assert data == encode_envelope(bodies) and isinstance(data, bytes)
    for index, parsed in enumerate(parse_envelope(data).bodies):  # what a gateway parses
        assert single_envelope(parsed, within=data, index=index) == encode_envelope([parsed])
    # a body other than that place's parse (or a place past the end) is encoded as it is, unless it
    # differs only in its voucher's bytes (the one field a parse of the element cannot change)
    for index in (0, len(bodies)):
        cut = single_envelope(other, within=data, index=index)
        assert cut == encode_envelope([other]) or (index < len(bodies) and cut == encode_envelope([bodies[index]])
                                                   and len(other.voucher) == len(bodies[index].voucher))


def test_single_envelope_cuts_out_only_what_the_parse_gave_back_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    import messages.envelope as envelope_module

    sig = SignatureEntry("1", "ab12", b"\x01\x02")
    body = VoucherBody("110000", "2026", "5201", "N-1", 0, b"<Voucher/>", (sig,), return_reason="a\rb")
    data = encode_envelope_spans([body, body])
    parsed = parse_envelope(data).bodies
    assert isinstance(data, EncodedEnvelope) and parsed[0] != body  # SN upper-cased, CR made LF by the parse
    assert all(not hasattr(data, name) for name in ("bodies", "voucher"))  # the vouchers are not held
    plain = VoucherBody("110000", "2026", "5201", "N-2", 0, b"<Voucher/>", (SignatureEntry("1", "AB12", b"\x01"),))
    plain_data = encode_envelope_spans([plain])
    [plain_parsed] = parse_envelope(plain_data).bodies
    encoded: list[VoucherBody] = []
    real = envelope_module._body_bytes
    monkeypatch.setattr(envelope_module, "_body_bytes", lambda b, *a: encoded.append(b) or real(b, *a))
    assert single_envelope(plain_parsed, within=plain_data) == encode_envelope([plain])
    assert single_envelope(plain_parsed, within=bytes(plain_data)) == encode_envelope([plain])  # plain bytes
    assert single_envelope(parsed[1], within=data, index=1) == encode_envelope([parsed[1]])
    # the first cut its body out, and the plain bytes of that one body, as this module writes them,
    # are their own answer: only the encode_envelope beside each encoded one; the body the parse
    # changed was encoded, as encode_envelope beside it did
    assert encoded == [plain] * 2 + [parsed[1]] * 2


def test_sample_dir_layout() -> None:
    assert Path(SAMPLES / "5201" / "original.xml").is_file()


# ---------------------------------------------------------------- received bytes as the delivery


def _mutations(data: bytes, voucher: bytes) -> list[bytes]:
    """`data` (one body, as `encode_envelope` writes it) changed where a sender's writer might
    differ yet parse to the same body: the voucher's base64 with blanks, references, a comment,
    CDATA, a CR LF, non-zero pad bits; another declaration; a lower-case SN."""
    b64 = base64.b64encode(voucher)
    start = data.index(b"<Voucher>") + len(b"<Voucher>")
    end = start + len(b64)
    assert data[start:end] == b64
    head, tail = data[:start], data[end:]
    out = [data, head + b64[:1] + b" " + b64[1:] + tail, head + b64 + b"\n" + tail,
           head + b"&#%d;" % b64[0] + b64[1:] + tail, head + b64[:2] + b"<!--x-->" + b64[2:] + tail,
           head + b"<![CDATA[" + b64 + b"]]>" + tail, head + b64[:4] + b"\r\n" + b64[4:] + tail,
           data.replace(b'<?xml version="1.0" encoding="UTF-8"?>', b"<?xml version='1.0' encoding='UTF-8'?>"),
           data.replace(b'encoding="UTF-8"', b'encoding="utf-8"')]
    pads = b64.count(b"=")
    if pads:  # the last character before the padding holds 2 or 4 pad bits: set the lowest
        at = len(b64) - pads - 1
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        flipped = alphabet[alphabet.index(b64[at]) ^ 1]
        out.append(head + b64[:at] + bytes([flipped]) + b64[at + 1:] + tail)
    out += [data.replace(b' SN="', b' SN="x', 1)]
    return out


def _old_single_envelope(body: VoucherBody, *, within: bytes | None = None, index: int = 0) -> bytes:
    """`single_envelope` before received bytes could be their own delivery (the oracle)."""
    if type(within) is EncodedEnvelope and index < len(within.marks) and within.marks[index] == _mark(body):
        start, end = within.spans[index]
        return b"".join((_UTF8_ONE, within[start:end], _TAIL))
    return encode_envelope((body,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_body, signed=st.lists(_sig, min_size=1, max_size=3, unique_by=lambda s: s.no).map(tuple))
def test_received_bytes_are_the_delivery_exactly_when_they_are_its_encoding(body: VoucherBody,
                                                                           signed: tuple[SignatureEntry, ...]) -> None:
    body = VoucherBody(body.adm_div_code, body.st_year, body.vtcode, body.voucher_no, body.flag, body.voucher,
                       body.signatures or signed, body.return_reason, body.attach, body.sign_stamps)
    data = bytes(encode_envelope([body]))
    for mutated in _mutations(data, body.voucher):
        try:
            [parsed] = parse_envelope(mutated).bodies
        except InputError:
            continue
        answer = single_envelope(parsed, within=mutated)
        assert answer == _old_single_envelope(parsed, within=mutated) == encode_envelope([parsed])
        assert (answer is mutated) == (mutated == encode_envelope([parsed]))
        assert single_envelope(parsed, within=mutated, index=1) == encode_envelope([parsed])


@settings(max_examples=300, deadline=None)
@given(text=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", max_size=40),
       pads=st.integers(0, 2))
def test_base64_that_decodes_to_n_bytes_is_as_long_as_the_canonical(text: str, pads: int) -> None:
    """What `_encodes_as` rests on: the parse's base64 (blanks dropped, `_b64`) that decodes to n
    bytes has at least 4 * ceil(n / 3) characters, the canonical length (padding is required; an
    extra "=" after a whole quantum is let through, so it may be longer)."""
    try:
        decoded = base64.b64decode(text + "=" * pads, validate=True)
    except ValueError:
        return
    assert len(text) + pads >= 4 * ((len(decoded) + 2) // 3)
