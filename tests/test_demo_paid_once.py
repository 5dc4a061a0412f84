"""The end-of-run check's "each voucher paid exactly once" (`runner.demo._paid_once`): a walk of
two sorted lists of VoucherNos finds what the sets and the count by VoucherNo found before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.demo import _paid_once

NOS = st.lists(st.sampled_from(["ZZ01", "ZZ02", "ZZ03", "SQ01", "SQ02", "A", "B"]), max_size=14)


@settings(max_examples=300, deadline=None)
@given(accepted=NOS, paid=NOS, receipts=st.sets(st.sampled_from(["ZZ01", "ZZ02", "SQ01", "B"])))
def test_paid_once_is_the_count_by_voucher_no(accepted: list[str], paid: list[str], receipts: set[str]) -> None:
    count: dict[str, int] = {}
    for no in paid:
        count[no] = count.get(no, 0) + 1
    keys = set(accepted)
    missing = sorted(no for no in keys if count.get(no) != 1 or no not in receipts)
    extra = sorted(no for no in count if no not in keys)
    assert _paid_once(sorted(accepted), sorted(paid), receipts) == (missing, extra, len(keys))


def test_paid_once_names_each_break() -> None:
    missing, extra, accepted = _paid_once(["A", "B", "C", "C", "D"], ["A", "B", "B", "E", "E"], {"A", "B", "C"})
    assert (missing, extra, accepted) == (["B", "C", "D"], ["E"], 4)  # B twice, C unpaid, D no receipt
