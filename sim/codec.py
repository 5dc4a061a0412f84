"""Bytes for a simulator core's typed state, by msgspec: no hand-written codec.

A core keeps its state as typed records (`msgspec.Struct`s or dataclasses) and saves it with
`encode(state)`, restores it with `decode(data, StateType)`. The encoding is JSON with sets and
dict keys sorted (`order="deterministic"`), so the same state gives the same bytes (snapshots of
the same seed compare equal byte for byte) and nothing plain is built between the records and
the bytes. What msgspec needs of the records: dict keys are str or int (no tuples: use a str
key or a list of records), and a union of several record types is a tagged Struct union
(`class X(msgspec.Struct, tag=True)`, as `sim.effects` does).

`pack(obj)` / `unpack(data, T)` are the same records as MessagePack, for what only this process
reads back and no person looks at (a shell's pending sends, rewritten at every batch): bytes go
in as they are (JSON writes them as base64, a third larger) and it encodes in about half the
time; still deterministic (`order="deterministic"`).

`encode_parts(state)` gives the same bytes as `encode(state)` in pieces of about `PART_BYTES`, so
a store can write a snapshot of a busy day (tens of megabytes) without holding it whole: the big
maps and lists of the state are encoded a slice of entries at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any, TypeVar

import msgspec

from messages.errors import StateError

__all__ = ["PART_BYTES", "SnapshotHeader", "config_fingerprint", "decode", "decode_snapshot", "encode", "encode_parts",
           "pack", "repr_quiet_defaults", "unpack"]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder(order="deterministic")
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_PACKER = msgspec.msgpack.Encoder(order="deterministic")
_UNPACKERS: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def encode(obj: object) -> bytes:
    """Deterministic JSON bytes of `obj` (records, dates as ISO text, bytes as base64)."""
    return _ENCODER.encode(obj)


# `encode_parts` yields pieces of about this many bytes (a single value may be larger).
PART_BYTES = 1 << 20
# A map or list of more entries than this is encoded a slice of SLICE_ENTRIES at a time (one
# `encode` per slice: the bytes of a slice are those of the whole, as the keys are sorted first);
# a smaller one entry by entry, each value in pieces again (a few months, each a big map).
SLICE_ENTRIES = 512


def encode_parts(obj: object, part_bytes: int = PART_BYTES) -> Iterator[bytes]:
    """`encode(obj)` in pieces: their concatenation is the same bytes, and none but a single
    value's own (a record kept as one big bytes value, say) is much over `part_bytes`. Records
    (plain `msgspec.Struct`s: not array-like, tagged or omitting defaults) are walked field by
    field, maps with str keys and lists a slice at a time; anything else is encoded whole."""
    buf = bytearray()
    for piece in _pieces(obj, max(1, part_bytes // WHOLE_SHARE), {}):
        buf += piece
        if len(buf) >= part_bytes:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


# A record, map or list whose encoding surely takes at most `part_bytes // WHOLE_SHARE` bytes
# (`_size`) is encoded whole, in one `encode`: walked field by field and entry by entry, a small map
# of records was an `encode` and a piece a field (thousands for a snapshot of tens of KB).
WHOLE_SHARE = 4
# Values `_pieces` encodes whole anyway: encoded with their field's or key's head as one piece.
_LEAVES = frozenset({str, int, float, bool, type(None)})
# A record type's field heads (`"name":`), made once a type: the record types are the program's own.
_FIELD_HEADS: dict[type, tuple[bytes, ...]] = {}


def _pieces(obj: object, whole: int, memo: dict[int, int]) -> Iterator[bytes]:
    if type(obj) not in _LEAVES and _size(obj, whole, memo) <= whole:
        yield encode(obj)
    elif isinstance(obj, msgspec.Struct):
        config = obj.__struct_config__
        if config.array_like or config.tag is not None or config.omit_defaults:
            yield encode(obj)
            return
        heads = _FIELD_HEADS.get(type(obj))
        if heads is None:
            heads = _FIELD_HEADS[type(obj)] = tuple(encode(e) + b":" for e in obj.__struct_encode_fields__)
        sep = b"{"
        for name, head in zip(obj.__struct_fields__, heads, strict=True):
            value = getattr(obj, name)
            if type(value) in _LEAVES:
                yield sep + head + encode(value)
            else:
                yield sep + head
                yield from _pieces(value, whole, memo)
            sep = b","
        yield b"{}" if sep == b"{" else b"}"
    elif isinstance(obj, dict) and obj and all(type(k) is str for k in obj):
        keys = sorted(obj)  # as `order="deterministic"` writes them (code point order)
        if len(keys) <= SLICE_ENTRIES:
            sep = b"{"
            for k in keys:
                value = obj[k]
                if type(value) in _LEAVES:
                    yield sep + encode(k) + b":" + encode(value)
                else:
                    yield sep + encode(k) + b":"
                    yield from _pieces(value, whole, memo)
                sep = b","
        else:
            for i in range(0, len(keys), SLICE_ENTRIES):
                part = encode({k: obj[k] for k in keys[i:i + SLICE_ENTRIES]})
                yield (b"," if i else b"{") + part[1:-1]
        yield b"}"
    elif isinstance(obj, list) and len(obj) > SLICE_ENTRIES:
        for i in range(0, len(obj), SLICE_ENTRIES):
            part = encode(obj[i:i + SLICE_ENTRIES])
            yield (b"," if i else b"[") + part[1:-1]
        yield b"]"
    else:
        yield encode(obj)


# An upper bound of the bytes `encode` writes for a leaf of each type: an int (up to 20 digits and
# a sign), a float (msgspec's shortest repr), a date, time or datetime (ISO, with an offset).
_LEAF_BYTES: dict[type, int] = {int: 21, float: 32, bool: 5, type(None): 4, dt.date: 12, dt.time: 32, dt.datetime: 48}
_SEQUENCES = (list, tuple, set, frozenset)


def _size(obj: Any, cap: int, memo: dict[int, int]) -> int:
    """An upper bound of `len(encode(obj))` (a text's every character escaped, `\\u00XX`; base64 of
    bytes; a separator and quotes an entry), or, once the bound passes `cap`, a number over `cap`
    (the walk stops there). A value of a type not counted here is over any `cap`. `memo`: the bound of
    each record, map and list walked to its end, by `id` (one `encode_parts` call's: its state does
    not change meanwhile), so a value walked while its parent was weighed is not walked again."""
    t = type(obj)
    if t is str:
        return 6 * len(obj) + 2
    if t in _LEAF_BYTES:
        return _LEAF_BYTES[t] if t is not int or -(2**63) <= obj < 2**64 else cap + 1
    if t is bytes:
        return 4 * len(obj) // 3 + 6
    known = memo.get(id(obj))
    if known is not None:
        return known
    if t is dict:
        total = 2 + 4 * len(obj)
        values: Any = (v for kv in obj.items() for v in kv)
    elif isinstance(obj, _SEQUENCES):  # a named tuple too: an array
        total = 2 + 2 * len(obj)
        values = obj
    elif isinstance(obj, msgspec.Struct):
        config = obj.__struct_config__
        total = 2 + sum(6 * len(name) + 4 for name in obj.__struct_encode_fields__)
        if config.tag is not None:
            total += 6 * (len(str(config.tag_field)) + len(str(config.tag))) + 8
        values = (getattr(obj, name) for name in obj.__struct_fields__)
    else:
        return cap + 1
    leaf_bytes = _LEAF_BYTES
    for v in values:
        if total > cap:
            return total
        tv = type(v)
        if tv is str:  # the leaves here, not a call each
            total += 6 * len(v) + 2
        elif tv in leaf_bytes and tv is not int:
            total += leaf_bytes[tv]
        else:
            total += _size(v, cap - total, memo)
    memo[id(obj)] = total  # walked to its end: its bound, whatever the cap
    return total


def decode(data: bytes | str, type_: type[T]) -> T:
    """`type_` back from `encode`'s bytes; a value that does not fit the type is a StateError."""
    return _decoded(_DECODERS, msgspec.json.Decoder, data, type_)


def _decoded(decoders: dict[Any, Any], make: Any, data: bytes | str, type_: type[T]) -> T:
    """`data` read as `type_` by the decoder `make(type_)` kept in `decoders`; StateError if it does not fit."""
    decoder = decoders.get(type_)
    if decoder is None:
        decoder = decoders[type_] = make(type_)
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StateError(f"stored state does not fit {getattr(type_, '__name__', type_)}: {exc}") from exc


def pack(obj: object) -> bytes:
    """Deterministic MessagePack bytes of `obj` (the same records `encode` takes)."""
    return _PACKER.encode(obj)


def unpack(data: bytes, type_: type[T]) -> T:
    """`type_` back from `pack`'s bytes; a value that does not fit the type is a StateError."""
    return _decoded(_UNPACKERS, msgspec.msgpack.Decoder, data, type_)


def config_fingerprint(*configs: object) -> str:
    """What a snapshot was taken under: a core refuses to load one taken with another config."""
    return "; ".join(repr(c) for c in configs)


def repr_quiet_defaults(config: Any, quiet: Collection[str]) -> str:
    """A dataclass's generated repr without the fields named in `quiet` while they hold their default:
    a config field added later leaves the fingerprint (`config_fingerprint`) of every config that does
    not set it as it was, so the snapshots saved before still load."""
    shown = [f for f in dataclasses.fields(config)
             if f.name not in quiet or getattr(config, f.name) != _default(f)]
    return f"{type(config).__qualname__}({', '.join(f'{f.name}={getattr(config, f.name)!r}' for f in shown)})"


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


class SnapshotHeader(msgspec.Struct):
    """The fields every core snapshot starts with: which core, which format, which config."""

    core: str
    version: int
    config: str


def decode_snapshot(data: bytes | str, type_: type[T], core: str, version: int, fingerprint: str, *,
                    older: Collection[int] = ()) -> T:
    """A core's snapshot, refused (StateError) if it is another core's, another format version's
    (`version`, or one of the `older` ones its type still reads) or was taken under another
    config. The state record carries the three header fields."""
    head = decode(data, SnapshotHeader)
    if head.core != core or (head.version != version and head.version not in older):
        raise StateError(f"not a version {version} {core} snapshot: {head.core!r} version {head.version!r}")
    if head.config != fingerprint:
        raise StateError(f"the snapshot was taken with another config: {head.config}")
    state = decode(data, type_)
    if head.version != version:  # read as this version's records: written back as this version
        state.version = version  # type: ignore[attr-defined]
    return state
