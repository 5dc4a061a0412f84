"""A bank's payment keeps what few payments have in its `rare` record (snapshot version 7), its
pay type is its VtCode's and a PayAcctNo of digits is its int; a version 6 snapshot (those fields
in the payment, the PayAcctNo a text) loads the same."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.config import PAY_TYPE
from bank_sim.core import BankCore
from bank_sim.pay_acct import pack_pay_acct, pay_acct_text
from bank_sim.payment_rare import RARE_DEFAULTS, rare_apart
from bank_sim.state import SNAPSHOT_VERSION, Mode, Payment
from business_time.clock import ClockConfig
from messages.envelope import VoucherKey
from tests.test_bank_core import BANK, CALENDAR, new_core, t, voucher


# The oracle: the payment as version 6 defined it, every field its own (the old definition).
class OldPayment(msgspec.Struct, gc=False):
    key: VoucherKey
    pay_type: str
    fund_type: tuple[str, str]
    sup_dep: tuple[str, str]
    account: str
    amount_fen: int
    received_at: dt.datetime
    mode: Mode
    day: dt.date | None = None
    serial: int | str = ""
    raw: bytes | None = None
    filing: str | None = None
    refused: str | None = None
    receipt_refused: str | None = None
    urgent: bool = False
    agency: tuple[str, str] = ("", "")
    pay_acct: str = ""
    returned: str | None = None
    quota_taken: tuple[Any, ...] | None = None
    covered: bool = False
    held: str | None = None
    seq: int = 0
    cash: bool = False
    uncleared: tuple[Any, ...] | None = None


FIELDS = OldPayment.__struct_fields__
NOW = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.UTC)
texts = st.none() | st.text(min_size=1, max_size=8)
rare_values = st.fixed_dictionaries({}, optional={
    "raw": st.none() | st.binary(min_size=1, max_size=16), "refused": texts, "receipt_refused": texts,
    "urgent": st.booleans(), "returned": texts, "covered": st.booleans(), "held": texts, "cash": st.booleans()})


def both(vtcode: str) -> tuple[OldPayment, Payment]:
    key = VoucherKey("990100", "2026", vtcode, "ZZ1", 0)
    common = (("1", "f"), ("2", "s"), "acct", 12_345, NOW, "clearing")
    return OldPayment(key, PAY_TYPE[vtcode], *common, seq=7), Payment(key, *common, seq=7)


def same(old: OldPayment, new: Payment) -> bool:
    return all(getattr(old, f) == getattr(new, f) for f in FIELDS)


@settings(max_examples=200, deadline=None)
@given(vtcode=st.sampled_from(sorted(PAY_TYPE)), writes=st.lists(st.tuples(st.sampled_from(sorted(RARE_DEFAULTS)),
                                                                          st.none() | st.booleans() | st.text(max_size=4))))
def test_a_payment_reads_back_every_field_written_as_the_old_definition_did(vtcode: str,
                                                                            writes: list[tuple[str, Any]]) -> None:
    old, new = both(vtcode)
    for name, value in writes:
        setattr(old, name, value)
        setattr(new, name, value)
        assert same(old, new)
    # untouched or every field written back to its default, the payment carries no rare record
    assert (new.rare is None) == all(getattr(new, name) == default for name, default in RARE_DEFAULTS.items())


@settings(max_examples=200, deadline=None)
@given(vtcode=st.sampled_from(sorted(PAY_TYPE)), values=rare_values)
def test_a_version_6_payment_loads_as_the_old_definition_read_it(vtcode: str, values: dict[str, Any]) -> None:
    old, _ = both(vtcode)
    old = msgspec.structs.replace(old, **values)
    state = {"core": "bank", "version": 6, "payments": {"ZZ1": msgspec.to_builtins(old)}}
    loaded = msgspec.json.decode(rare_apart(msgspec.json.encode(state)))["payments"]["ZZ1"]
    new = msgspec.convert(loaded, Payment, strict=False)
    assert same(old, new)
    assert (new.rare is None) == all(v == RARE_DEFAULTS[k] for k, v in values.items())


def test_a_payment_is_smaller_and_only_the_few_carry_the_rare_record() -> None:
    old, new = both("5201")
    assert sys.getsizeof(new) <= sys.getsizeof(old) - 64
    core = new_core(t("2026-03-16", "08:00"))
    for n in range(3):
        core.on_voucher(voucher("2026-03-16", (n + 1) * 100_00), 0, t("2026-03-16", "10:00"))
    late = voucher("2026-03-16", 500_00)
    core.on_voucher(late, 0, t("2026-03-16", "16:10"))  # after the filing: advanced from the reserve
    kept = list(core.payments.values())
    assert [p.pay_type for p in kept] == ["11"] * 4 and all(p.rare is None for p in kept)
    state = msgspec.json.decode(core.snapshot())
    assert state["version"] == SNAPSHOT_VERSION == 10
    assert all("pay_type" not in p and "rare" in p and p["rare"] is None for p in state["payments"].values())


def test_a_version_6_snapshot_loads_and_is_written_as_version_7() -> None:
    """Deferred payments (their bytes kept), saved as version 6 saved them (the fields in the
    payment, its pay type too), load with the same values and are paid the same at the opening."""
    core = new_core(t("2026-03-14", "08:00"))  # a Saturday: the payments wait for Monday's opening
    for n in range(2):
        core.on_voucher(voucher("2026-03-14", (n + 1) * 100_00), 0, t("2026-03-14", "10:00"))
    kept = list(core.payments.values())
    assert all(p.raw is not None and p.rare is not None for p in kept)
    state = msgspec.json.decode(core.snapshot())
    for p in state["payments"].values():
        rare = p.pop("rare") or {}
        p.update({name: rare.get(name, default) for name, default in RARE_DEFAULTS.items()})
        p["pay_type"] = "11"
    state["version"] = 6
    again = BankCore.restore(msgspec.json.encode(state), BANK, core.config, CALENDAR, ClockConfig())
    assert again.snapshot() == core.snapshot()
    assert [p.raw for p in again.payments.values()] == [p.raw for p in kept]
    assert core.on_time(t("2026-03-16", "10:30")) == again.on_time(t("2026-03-16", "10:30"))
    assert all(p.raw is None and p.day is not None and p.rare is None for p in again.payments.values())


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=24) | st.integers(0, 10**20).map(str) | st.integers(0, 10**20).map(lambda n: f"0{n}"))
def test_a_pay_acct_kept_packed_reads_back_as_the_text_it_was(text: str) -> None:
    _, new = both("5201")
    new.pay_acct = pack_pay_acct(text)
    assert pay_acct_text(new) == text  # the old definition: the text itself
    assert bool(new.pay_acct) == bool(text)  # let go ("") and kept read alike
    if isinstance(new.pay_acct, int):
        assert sys.getsizeof(new.pay_acct) <= 32 < sys.getsizeof(text)
    # through a snapshot: an int or the text, each as it was
    again = msgspec.json.decode(msgspec.json.encode(new), type=Payment)
    assert pay_acct_text(again) == text and again.pay_acct == new.pay_acct
