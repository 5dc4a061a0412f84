"""Pairs kept flat: (a, b, a, b, ...) in one tuple instead of a tuple of 2-tuples, ~56 bytes a
pair less for records a core keeps all day or all month (the bank's tally and quota lines, the
treasury's drawn 8202 lines)."""

from __future__ import annotations

from typing import Any

__all__ = ["paired"]


def paired(flat: tuple[Any, ...]) -> list[tuple[Any, Any]]:
    """A flat (a, b, a, b, ...) tuple as its (a, b) pairs again, in order."""
    return list(zip(flat[0::2], flat[1::2], strict=True))
