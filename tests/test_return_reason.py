"""messages.return_reason: one reading of "<code>: <text>" for every party."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.errors import CODES
from messages.return_reason import ReturnReason, reason_code


@given(st.sampled_from(sorted(CODES)), st.text(max_size=40).map(str.strip))
def test_a_reason_written_is_read_back(code: str, text: str) -> None:
    reason = ReturnReason.of(code, text)
    assert ReturnReason.parse(str(reason)) == reason
    assert reason_code(str(reason)) == code


def test_text_with_colons_stays_whole_and_an_unknown_code_is_never_relabelled() -> None:
    assert ReturnReason.parse("over-quota: 12.00: above") == ReturnReason("over-quota", "12.00: above")
    assert ReturnReason.parse("made-up: x") == ReturnReason("unknown-code", "made-up: x")
    assert ReturnReason.parse("no colon at all") == ReturnReason("unknown-code", "no colon at all")
    assert reason_code(None) is None and reason_code("  ") is None


def test_only_a_registered_code_can_be_sent() -> None:
    with pytest.raises(ValueError, match="unregistered"):
        ReturnReason.of("made-up", "x")
