"""`bank_sim.payee_records.pack_payee`: a kept payee is a compact record (no dict per payment), read back
by `payee_of` as the dict a return copies; a snapshot of before (the dict itself) still reads."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from bank_sim.payee_records import pack_payee, payee_of, pop_payee
from bank_sim.refunds import PAYEE_FIELDS
from bank_sim.state import BankState, DutiesState
from sim.codec import decode, encode

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
details = st.lists(st.dictionaries(st.sampled_from(["Id", "PayAmt", "ExpFuncCode", "PayeeAcctNo", "ProName"]),
                                   texts, min_size=1), max_size=4)


@given(st.fixed_dictionaries({f: texts for f in PAYEE_FIELDS}), details)
def test_a_packed_payee_reads_back_as_the_dict_it_was_and_survives_a_snapshot(head: dict[str, str],
                                                                               lines: list[dict[str, str]]) -> None:
    state = BankState(bank_code="990001")
    state.duties.payees["SV1"] = pack_payee({**head, "VtCode": "5201"}, lines)
    state.duties.payees_order["SV1"] = 1
    want = {**head, "details": lines}
    assert payee_of(state.duties, "SV1") == want
    again = decode(encode(state), BankState)
    assert payee_of(again.duties, "SV1") == want
    assert encode(again) == encode(state)  # deterministic: the same bytes once decoded
    assert pop_payee(again.duties, "SV1") == want
    assert payee_of(again.duties, "SV1") is None and "SV1" not in again.duties.payees_order


def test_a_record_is_one_bytes_object_smaller_than_its_texts_as_a_tuple() -> None:
    head = {f: f"{f}-示例" for f in PAYEE_FIELDS}
    lines = [{"Id": str(n), "PayAmt": "1.00", "ExpFuncCode": "2010101", "PayeeAcctNo": "6222000011112222"} for n in range(3)]
    rec = pack_payee(head, lines)
    as_tuple = (*head.values(), tuple((tuple(d), tuple(d.values())) for d in lines))
    assert isinstance(rec, bytes)
    tuple_bytes = sys.getsizeof(as_tuple) + sum(sys.getsizeof(t) for t in as_tuple[:-1])
    assert sys.getsizeof(rec) < tuple_bytes


def test_a_payee_kept_as_a_tuple_by_an_older_snapshot_still_reads() -> None:
    old = [*(f"{f}!" for f in PAYEE_FIELDS), [[["Id"], ["1"]]]]
    duties = decode(encode(DutiesState(payees={"SV7": old}, payees_order={"SV7": 1})), DutiesState)
    assert payee_of(duties, "SV7") == {**{f: f"{f}!" for f in PAYEE_FIELDS}, "details": [{"Id": "1"}]}


def test_a_payee_kept_as_a_dict_by_an_older_snapshot_still_reads() -> None:
    old = {"PayeeAcctNo": "6222000011112222", "AgencyCode": "101001", "details": [{"Id": "1"}]}
    data = encode(DutiesState(payees={"SV9": old}, payees_order={"SV9": 1}))
    duties = decode(data, DutiesState)
    assert payee_of(duties, "SV9") == old
    assert payee_of(duties, "SV8") is None
