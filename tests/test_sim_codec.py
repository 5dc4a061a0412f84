"""sim.codec: a core's typed state to bytes and back by msgspec, deterministic, refusing what does not fit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from business_time.clock import TZ
from ledger.model import Account, AccountFlags, Transfer
from messages.errors import CODES, StateError
from sim.books import BooksError
from sim.codec import _size, decode, decode_snapshot, encode, encode_parts, pack, unpack
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, Refusal, SendVoucher, WakeAt

HEAD = {"AdmDivCode": "990001", "StYear": "2026", "VoucherNo": "SYN0001", "VtCode": "5201"}

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
heads = st.dictionaries(texts, texts, max_size=4).map(lambda d: {**d, **HEAD})
sends = st.builds(lambda h, d, o, r: SendVoucher("5201", 1 if o else 0, h, tuple(d), "bank", return_reason=r,
                                                 original=o),
                  heads, st.lists(st.dictionaries(texts, texts, max_size=3), max_size=3),
                  st.one_of(st.none(), st.binary(min_size=1, max_size=40)), st.one_of(st.none(), texts))
wakes = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1)).map(
    lambda d: WakeAt(d.replace(tzinfo=TZ)))
alarms = st.builds(Alarm, st.sampled_from(sorted(CODES)), texts, st.one_of(st.none(), texts))
transfers = st.builds(lambda n, a: PostTransfer(Transfer(f"t{n}", "a", "b", a, "payment", "ref",
                                                         dt.date(2026, 3, 10), "")),
                      st.integers(0, 10**6), st.integers(1, 999_999_999_999_999_999))
opens = st.builds(lambda f: OpenAccount(Account("acct-1", "名称", "zba", AccountFlags(f), "bank-x")),
                  st.sampled_from([0, 1, 2]))
effects = st.one_of(sends, wakes, alarms, transfers, opens)


@given(st.lists(effects, max_size=6))
def test_every_effect_and_a_refusal_of_them_come_back_equal(dropped: list[Effect]) -> None:
    refusal = Refusal("ledger", "ledger-overdraft", "no overdraft", tuple(dropped))
    data = encode(refusal)
    back = decode(data, Refusal)
    assert back == refusal
    assert encode(back) == data  # the same state gives the same bytes again


@given(st.lists(sends, max_size=6))
def test_sends_packed_come_back_equal_and_never_start_like_json(batch: list[SendVoucher]) -> None:
    """`pack` (a shell's pending sends): the same records back, the same bytes again, and never
    a first byte `[` (how `sim.store` tells them from JSON written before)."""
    data = pack(batch)
    assert unpack(data, list[SendVoucher]) == batch == decode(encode(batch), list[SendVoucher])
    assert pack(unpack(data, list[SendVoucher])) == data
    assert data[:1] != b"["
    with pytest.raises(StateError):
        unpack(pack([{"vtcode": 1}]), list[SendVoucher])


def test_sets_and_dict_keys_encode_in_one_order_whatever_the_insertion_order() -> None:
    class State(msgspec.Struct):
        seen: set[str]
        totals: dict[str, int]

    one = State({"b", "a", "c"}, {"y": 1, "x": 2})
    two = State({"c", "a", "b"}, {"x": 2, "y": 1})
    assert encode(one) == encode(two) == b'{"seen":["a","b","c"],"totals":{"x":2,"y":1}}'


class _CoreState(msgspec.Struct):
    core: str
    version: int
    config: str
    paid_fen: int


def test_a_snapshot_of_another_core_version_or_config_is_refused() -> None:
    data = encode(_CoreState("bank", 4, "cfg-a", 12_345))
    assert decode_snapshot(data, _CoreState, "bank", 4, "cfg-a").paid_fen == 12_345
    for core, version, config in (("pboc", 4, "cfg-a"), ("bank", 3, "cfg-a"), ("bank", 4, "cfg-b")):
        with pytest.raises(StateError):
            decode_snapshot(data, _CoreState, core, version, config)


def test_a_value_that_does_not_fit_the_type_is_a_state_error_naming_the_field() -> None:
    with pytest.raises(StateError, match=r"paid_fen"):
        decode(b'{"core":"bank","version":4,"config":"c","paid_fen":"12.30"}', _CoreState)
    with pytest.raises(StateError):
        decode(b'{"type":"Alarm","code":"no-such-code","message":"m","key":null}', Alarm)  # unregistered code


def test_books_error_carries_a_registered_code_the_core_and_the_rule() -> None:
    err = BooksError("bank-a", "reserve-non-negative", "reserve at -1 fen")
    assert err.code in CODES
    assert (err.core, err.rule) == ("bank-a", "reserve-non-negative")
    assert "bank-a" in str(err) and "reserve-non-negative" in str(err)
    assert isinstance(err, StateError)


class _Line(msgspec.Struct, array_like=True):
    fen: int
    note: str


class _Inner(msgspec.Struct):
    by_month: dict[str, dict[str, _Line]] = {}
    flags: set[str] = set()


class _Big(msgspec.Struct):
    core: str
    lines: dict[str, _Line] = {}
    order: list[_Line] = []
    inner: _Inner = msgspec.field(default_factory=_Inner)
    blob: bytes = b""


keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
lines = st.builds(_Line, st.integers(-10**12, 10**12), texts)


@given(st.dictionaries(keys, lines, max_size=1500), st.lists(lines, max_size=1200),
       st.dictionaries(keys, st.dictionaries(keys, lines, max_size=600), max_size=3),
       st.sets(keys, max_size=5), st.binary(max_size=50), st.integers(16, 4096))
def test_encode_parts_gives_the_bytes_of_encode_in_pieces(by_key: dict[str, _Line], order: list[_Line],
                                                          by_month: dict[str, dict[str, _Line]],
                                                          flags: set[str], blob: bytes, part: int) -> None:
    state = _Big("bank", by_key, order, _Inner(by_month, flags), blob)
    pieces = list(encode_parts(state, part))
    assert b"".join(pieces) == encode(state)
    assert all(pieces)


def test_encode_parts_of_a_big_map_never_holds_much_more_than_a_part() -> None:
    state = _Big("bank", {f"k{i:06d}": _Line(i, "x" * 40) for i in range(50_000)})
    pieces = list(encode_parts(state, 64 * 1024))
    assert b"".join(pieces) == encode(state)
    assert len(pieces) > 20
    assert max(len(p) for p in pieces) < 64 * 1024 + 64 * 1024  # a part and at most one slice of entries


class _Leaves(msgspec.Struct):
    text: str
    count: int
    ratio: float
    ok: bool
    none: None
    maybe: int | None
    by_key: dict[str, int | float | bool | str | None]
    nested: dict[str, _Inner]


leaves = st.one_of(st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                   texts, st.none())


@given(texts, st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
       st.one_of(st.none(), st.integers()), st.dictionaries(keys, leaves, max_size=40),
       st.dictionaries(keys, st.builds(_Inner, st.dictionaries(keys, st.dictionaries(keys, lines, max_size=3),
                                                               max_size=3), st.sets(keys, max_size=3)), max_size=3),
       st.integers(16, 4096))
def test_encode_parts_of_leaf_fields_and_keys_is_encode(text: str, count: int, ratio: float, ok: bool,
                                                       maybe: int | None, by_key: dict[str, Any],
                                                       nested: dict[str, _Inner], part: int) -> None:
    # a leaf goes in one piece with its field's or key's head (the heads of a record type made once)
    state = _Leaves(text, count, ratio, ok, None, maybe, by_key, nested)
    assert b"".join(encode_parts(state, part)) == encode(state)
    assert b"".join(encode_parts(state, part)) == encode(state)  # the second time from the kept heads


class _Tagged(msgspec.Struct, tag="tagged-record"):
    when: dt.datetime
    day: dt.date
    blob: bytes
    many: tuple[int, ...]


any_leaf = st.one_of(leaves, st.binary(max_size=30), st.integers(-(2**63), 2**64 - 1),
                     st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=8))  # control characters: escaped
values = st.recursive(any_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5),
    st.builds(_Tagged, st.datetimes(timezones=st.just(TZ)), st.dates(), st.binary(max_size=20),
              st.lists(st.integers(-(2**63), 2**63), max_size=4).map(tuple))), max_leaves=30)


@given(values, st.integers(0, 600))
def test_a_value_that_fits_a_budget_encodes_within_it(value: Any, budget: int) -> None:
    # encode_parts encodes a value whole when `_size` bounds it by its budget: never under the real length
    if _size(value, budget, {}) <= budget:
        assert len(encode(value)) <= budget
    under = len(encode(value)) - 1
    assert _size(value, under, {}) > under  # just under its length: never said to fit


@given(st.dictionaries(keys, st.builds(_Inner, st.dictionaries(keys, st.dictionaries(keys, lines, max_size=4),
                                                               max_size=4), st.sets(keys, max_size=3)), max_size=8),
       st.integers(16, 8192))
def test_encode_parts_of_small_maps_of_records_is_encode_and_keeps_pieces_under_a_part(
        nested: dict[str, _Inner], part: int) -> None:
    state = _Leaves("t", 1, 0.5, True, None, None, {}, nested)
    pieces = list(encode_parts(state, part))
    assert b"".join(pieces) == encode(state)
    # a value encoded whole is at most a quarter of a part: a piece passes a part by less than that
    # and one leaf's own piece
    assert all(len(p) <= part + part // 4 + max(len(encode(v)) for v in ("t", 1, 0.5)) + 64 for p in pieces)
