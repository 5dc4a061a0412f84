"""`journal_digest._digest_row`: the bytes each field frames, fed to the hash in fewer pieces (the
same digest), a payload never copied into one piece with the rest."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal_digest import _digest_row

_FIELD = st.one_of(st.none(), st.text(max_size=20), st.text(min_size=250, max_size=300),  # either side of 256 chars
                   st.text(alphabet=st.characters(max_codepoint=127), max_size=20), st.integers(-10**12, 10**12), st.binary(max_size=300),
                   st.binary(max_size=50).map(bytearray), st.binary(max_size=50).map(memoryview))


def _framed(values: list[object]) -> bytes:
    """Each field as (kind, 8-byte length, bytes), "N" for none: the digest's own definition."""
    out = b""
    for value in values:
        if value is None:
            out += b"N"
            continue
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            out += b"B" + len(data).to_bytes(8, "big") + data
        else:
            data = str(value).encode("utf-8")
            out += b"S" + len(data).to_bytes(8, "big") + data
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_FIELD, max_size=14), max_size=4))
def test_the_rows_hash_as_their_framed_fields(rows: list[list[object]]) -> None:
    h = hashlib.sha256(b"d")
    for row in rows:
        _digest_row(h, row)
    assert h.hexdigest() == hashlib.sha256(b"d" + b"".join(_framed(r) for r in rows)).hexdigest()


class _Pieces:
    def __init__(self) -> None:
        self.pieces: list[Any] = []

    def update(self, data: Any) -> None:
        self.pieces.append(data)


def test_a_row_goes_in_as_its_short_fields_and_its_payload() -> None:
    payload = b"<MOF>" + b"x" * 5000
    h = _Pieces()
    _digest_row(h, ("m1", "990100", "2026", "5201", "ZZ1", 0, "t", "b", None, "2026-03-16T09:00:00+08:00",
                    "acked", payload))
    assert len(h.pieces) == 2  # the fields with the payload's frame, then the payload itself as it is
    assert h.pieces[1] is payload
