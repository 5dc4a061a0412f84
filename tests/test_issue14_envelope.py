"""Issue 14, envelope parsing: a VoucherCount past Python's digit limit, a comment inside base64."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import body_for, envelope_for, sample_voucher
from hypothesis import given
from hypothesis import strategies as st

from messages.envelope import (
    VOUCHER_COUNT_DIGITS_MAX,
    SignatureEntry,
    encode_envelope,
    parse_envelope,
    voucher_count,
)
from messages.errors import CODES, InputError

TGW = [sys.executable, "-c", "import sys; from tgw import main; sys.exit(main(sys.argv[1:]))"]


def _with_count(text: str) -> bytes:
    return envelope_for().replace(b"<VoucherCount>1</VoucherCount>", f"<VoucherCount>{text}</VoucherCount>".encode())


@pytest.mark.parametrize("count", ["5" * 5000, "0" * 4999 + "2", "1" + "0" * 20])
def test_a_huge_voucher_count_is_a_coded_refusal_at_the_element(count: str) -> None:
    with pytest.raises(InputError) as info:
        parse_envelope(_with_count(count))
    issue = info.value.issues[0]
    assert issue.code == "envelope-count-mismatch"
    assert issue.path == "/MOF/VoucherCount" and issue.line is not None


def test_leading_zeros_past_the_digit_limit_still_count_one() -> None:
    # xs:positiveInteger allows leading zeros: 4,999 of them before a 1 is the number 1.
    env = parse_envelope(_with_count("0" * 4999 + "1"))
    assert len(env.bodies) == 1


@given(st.one_of(st.text(max_size=40), st.from_regex(r"[ \t]*\+?0*[0-9]{1,30}[ \t]*", fullmatch=True),
                 st.integers(min_value=-10, max_value=10**40).map(str)))
def test_voucher_count_is_an_int_in_range_or_a_coded_refusal(text: str) -> None:
    try:
        n = voucher_count(text, line=1)
    except InputError as exc:
        assert exc.code in CODES and exc.issues[0].path == "/MOF/VoucherCount"
        return
    assert isinstance(n, int) and 1 <= n < 10**VOUCHER_COUNT_DIGITS_MAX
    assert n == int(text.strip(" \t\r\n"))


def test_tgw_validate_of_a_huge_count_is_one_coded_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "huge-count.xml"
    path.write_bytes(_with_count("5" * 5000))
    proc = subprocess.run([*TGW, "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "envelope-count-mismatch" in proc.stdout and "/MOF/VoucherCount" in proc.stdout


# A comment or processing instruction inside a value splits its text: parsers read such a value
# differently (the first text node, or all of them). It was read whole here once, and before that
# cut short with a misleading xml-bad-encoding; now it is refused, naming the element, as inside a voucher.
@pytest.mark.parametrize(("insert", "code"), [(b"<!-- a note -->", "xml-forbidden-comment"),
                                              (b"<?pi x?>", "xml-forbidden-pi")])
def test_a_comment_inside_voucher_base64_is_refused_naming_the_element(insert: bytes, code: str) -> None:
    plain = envelope_for()
    match = re.search(rb"<Voucher>([A-Za-z0-9+/=]+)</Voucher>", plain)
    assert match is not None
    b64 = match.group(1)
    with pytest.raises(InputError) as refused:
        parse_envelope(plain.replace(b64, b64[:40] + insert + b64[40:]))
    assert (refused.value.issues[0].code, refused.value.issues[0].path) == (code, "/MOF/VoucherBody/Voucher")
    assert parse_envelope(plain).bodies[0].voucher == sample_voucher()


def test_a_comment_inside_a_signature_is_refused_naming_the_element() -> None:
    body = body_for(sample_voucher()).with_signature(SignatureEntry("001", "ABCDEF0123", bytes(range(70))))
    plain = encode_envelope([body])
    match = re.search(rb"(<Signature [^>]*>)([A-Za-z0-9+/=]+)</Signature>", plain)
    assert match is not None
    value = match.group(2)
    with pytest.raises(InputError) as refused:
        parse_envelope(plain.replace(value, value[:10] + b"<!--x-->" + value[10:]))
    issue = refused.value.issues[0]
    assert (issue.code, issue.path) == ("xml-forbidden-comment", "/MOF/VoucherBody/SignatureList/Signature")
    # between elements a comment splits nothing: still read
    between = plain.replace(match.group(1), b"<!--x-->" + match.group(1))
    assert parse_envelope(between).bodies[0].signatures == parse_envelope(plain).bodies[0].signatures
