"""The journal's records (`JournalResult`, `_Known`) are named tuples made by `tuple.__new__` on the
hot path: against the frozen dataclasses they replaced (kept here as the oracle), the same fields
read by name, the same defaults, and equal exactly when the old ones were equal."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from gateway.journal import JournalResult, _Known, _new_tuple
from messages.envelope import VoucherKey
from messages.errors import Issue


@dataclass(frozen=True, slots=True)
class OldJournalResult:
    status: str
    key: VoucherKey
    message_id: str | None = None
    recipient: str | None = None
    issue: Issue | None = None


@dataclass(frozen=True, slots=True)
class OldKnown:
    id: str
    digest: bytes
    recipient: str
    sender: str


text = st.text(max_size=8)
keys = st.builds(VoucherKey, text, text, text, text, st.integers(0, 1))
issues = st.none() | st.builds(Issue, st.sampled_from(["duplicate-conflict", "unknown-original"]), text, st.none() | st.integers(0, 99), st.none() | text)
results = st.tuples(st.sampled_from(["accepted", "duplicate", "refused"]), keys, st.none() | text, st.none() | text,
                    issues)
knowns = st.tuples(text, st.binary(max_size=8), text, text)

RESULT_FIELDS = ("status", "key", "message_id", "recipient", "issue")
KNOWN_FIELDS = ("id", "digest", "recipient", "sender")


@given(results, results)
def test_journal_result_reads_and_compares_as_the_dataclass(a: tuple, b: tuple) -> None:
    for values in (a, b):
        old = OldJournalResult(*values)
        for new in (JournalResult(*values), _new_tuple(JournalResult, values)):
            assert type(new) is JournalResult
            assert [getattr(new, f) for f in RESULT_FIELDS] == [getattr(old, f) for f in RESULT_FIELDS]
    assert (JournalResult(*a) == _new_tuple(JournalResult, b)) == (OldJournalResult(*a) == OldJournalResult(*b))
    short = JournalResult(a[0], a[1])
    old_short = OldJournalResult(a[0], a[1])
    assert [getattr(short, f) for f in RESULT_FIELDS] == [getattr(old_short, f) for f in RESULT_FIELDS]


@given(knowns, knowns)
def test_known_reads_and_compares_as_the_dataclass(a: tuple, b: tuple) -> None:
    for values in (a, b):
        old = OldKnown(*values)
        for new in (_Known(*values), _new_tuple(_Known, values)):
            assert type(new) is _Known
            assert [getattr(new, f) for f in KNOWN_FIELDS] == [getattr(old, f) for f in KNOWN_FIELDS]
    assert (_Known(*a) == _new_tuple(_Known, b)) == (OldKnown(*a) == OldKnown(*b))
