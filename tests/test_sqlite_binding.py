"""storage.sqlite_binding: bytes and None bound as they were without the adapters (the oracle:
the same rows written with the adapters taken out)."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import storage.db  # noqa: F401 - registers the adapters, as every user of storage gets them
from storage.sqlite_binding import same_none


class _Bytes(bytes):
    """A bytes subclass (as `EncodedEnvelope`): looked up by its own type, not adapted here."""


_KEYS = ((bytes, sqlite3.PrepareProtocol), (type(None), sqlite3.PrepareProtocol))
_value = (st.binary(max_size=64) | st.none() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=16)
          | st.binary(max_size=16).map(_Bytes))


def _written(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a, b, c)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    for row in rows:
        db.execute("INSERT INTO t VALUES (?1, ?2, ?3)", row)
    return db.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t ORDER BY rowid").fetchall()


def test_the_adapters_hand_back_the_value_itself() -> None:
    value = b"\x00digest"
    assert sqlite3.adapters[_KEYS[0]](value) is value
    assert sqlite3.adapters[_KEYS[1]] is same_none and same_none(None) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_value, _value, _value), min_size=1, max_size=5))
def test_rows_are_written_as_without_the_adapters(rows: list[tuple[Any, ...]]) -> None:
    with_adapters = _written(rows)
    saved = {key: sqlite3.adapters.pop(key) for key in _KEYS}
    try:
        without = _written(rows)
    finally:
        sqlite3.adapters.update(saved)
    assert with_adapters == without
