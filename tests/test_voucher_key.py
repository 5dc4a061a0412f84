"""`VoucherKey.parse`: the one reader of the "adm/year/vtcode/no/flag" string `str(key)` writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.envelope import VoucherKey, VoucherKeyError
from messages.errors import CODES

# Parts as the gateway writes them: printable text; only the VoucherNo may hold "/".
_part = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="/"),
                min_size=1, max_size=12).filter(str.isprintable)
_no = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12).filter(
    lambda s: s.isprintable() and not s.startswith("/") and not s.endswith("/") and "//" not in s)
keys = st.builds(VoucherKey, _part, _part, _part, _no, st.integers(0, 10**6))


@given(keys)
def test_str_then_parse_gives_the_same_key(key: VoucherKey) -> None:
    assert VoucherKey.parse(str(key)) == key


@pytest.mark.parametrize(("text", "part"), [
    ("", "key"),
    ("110000/2025/5201/A1", "key"),            # no flag
    ("110000/2025/5201/A1/", "flag"),          # empty flag
    ("110000/2025/5201/A1/x", "flag"),
    ("110000/2025/5201/A1/-1", "flag"),
    ("110000/2025/5201/A1/١", "flag"),         # an Arabic-Indic digit: int() takes it, a key does not
    ("/2025/5201/A1/0", "adm_div_code"),
    ("110000//5201/A1/0", "st_year"),
    ("110000/2025//A1/0", "vtcode"),
    ("110000/2025/5201//0", "voucher_no"),
    ("110000/2025/52\x0001/A1/0", "vtcode"),
    ("110000/2025/5201/A\n1/0", "voucher_no"),
])
def test_a_malformed_key_is_a_typed_error_naming_the_part(text: str, part: str) -> None:
    with pytest.raises(VoucherKeyError) as caught:
        VoucherKey.parse(text)
    assert caught.value.code == "voucher-key-invalid" and caught.value.code in CODES
    assert caught.value.issues[0].path == part


@given(st.text(max_size=40))
def test_any_text_parses_to_a_key_or_the_typed_error(text: str) -> None:
    try:
        key = VoucherKey.parse(text)
    except VoucherKeyError as exc:
        assert exc.code == "voucher-key-invalid"
    else:
        assert VoucherKey.parse(str(key)) == key


def test_the_error_is_a_value_error_for_callers_that_caught_the_old_int_failure() -> None:
    with pytest.raises(ValueError):
        VoucherKey.parse("110000/2025/5201/A1/one")
