"""Bytes for a simulator core's typed state, by msgspec: no hand-written codec.

A core keeps its state as typed records (`msgspec.Struct`s or dataclasses) and saves it with
`encode(state)`, restores it with `decode(data, StateType)`. The encoding is JSON with sets and
dict keys sorted (`order="deterministic"`), so the same state gives the same bytes (snapshots of
the same seed compare equal byte for byte) and nothing plain is built between the records and
the bytes. What msgspec needs of the records: dict keys are str or int (no tuples: use a str
key or a list of records), and a union of several record types is a tagged Struct union
(`class X(msgspec.Struct, tag=True)`, as `sim.effects` does).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from messages.errors import StateError

__all__ = ["SnapshotHeader", "config_fingerprint", "decode", "decode_snapshot", "encode"]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder(order="deterministic")
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def encode(obj: object) -> bytes:
    """Deterministic JSON bytes of `obj` (records, dates as ISO text, bytes as base64)."""
    return _ENCODER.encode(obj)


def decode(data: bytes | str, type_: type[T]) -> T:
    """`type_` back from `encode`'s bytes; a value that does not fit the type is a StateError."""
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StateError(f"stored state does not fit {getattr(type_, '__name__', type_)}: {exc}") from exc


def config_fingerprint(*configs: object) -> str:
    """What a snapshot was taken under: a core refuses to load one taken with another config."""
    return "; ".join(repr(c) for c in configs)


class SnapshotHeader(msgspec.Struct):
    """The fields every core snapshot starts with: which core, which format, which config."""

    core: str
    version: int
    config: str


def decode_snapshot(data: bytes | str, type_: type[T], core: str, version: int, fingerprint: str) -> T:
    """A core's snapshot, refused (StateError) if it is another core's, another format version's
    or was taken under another config. The state record carries the three header fields."""
    head = decode(data, SnapshotHeader)
    if head.core != core or head.version != version:
        raise StateError(f"not a version {version} {core} snapshot: {head.core!r} version {head.version!r}")
    if head.config != fingerprint:
        raise StateError(f"the snapshot was taken with another config: {head.config}")
    return decode(data, type_)
