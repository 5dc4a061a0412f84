"""The simulated bank's quota arrival notices (7102, 004 part 3 §9(2)) go under the StYear of the
day they are sent, numbered after the 7101 they answer. Two budget years' 7101s of one number (each
division's treasury numbers its notices afresh each year) answered in one calendar year got the same
7102 VoucherNo under the same StYear: one key twice, the second refused by the gateway as a
duplicate. Now a 7102 answering another year's 7101 carries that year in its number ("DY<year>...",
then a digest of the 7101's whole key, as does one answering a 7101 numbered over 16 characters:
two such numbers alike in their last 16 made one 7102 number before),
so each 7102 is its own key, valid by the XSD, and the simulated bank's scorecard takes each 7101's
own 7102s for its arrival-notice duty (not the other year's)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.quotas import arrival_notice_prefix
from runner.scorecard_feed import bank_events
from tests.test_bank_duties import CAL, DAY, t
from tests.test_bank_quota_divisions import _grant
from tests.two_divisions import HOME, OTHER, bank_world


def _keys(w: object) -> list[tuple[str, str, str]]:
    return [(e.head["AdmDivCode"], e.head["StYear"], e.head["VoucherNo"])
            for e in w.to_treasury if e.vtcode == "7102"]  # type: ignore[attr-defined]


def test_two_years_7101s_of_one_number_get_7102s_of_their_own() -> None:
    w = bank_world()
    assert _grant(w, HOME, "2025", 100_00, at="09:00") == [] and _grant(w, HOME, "2026", 200_00, at="09:05") == []
    keys = _keys(w)
    assert len(keys) == 2 and len(set(keys)) == 2, keys
    assert all(year == str(DAY.year) for _, year, _ in keys)  # sent under the day's StYear, as before
    assert {no[:6] for _, _, no in keys} == {"DY2025", "DZSQ71"}
    assert all(len(no) <= 42 for _, _, no in keys)
    done = {e.ref: e.done for e in bank_events("bank-a", w.bank, CAL, w.bank.clock_config)
            if e.kind == "quota-arrival-notice"}
    assert done == {"SQ7101SAME@2025": t(DAY, "09:00"), "SQ7101SAME": t(DAY, "09:05")}


def test_this_year_s_7102_keeps_its_number() -> None:
    """The digests of a simulated day hold: a 7101 of the day's own year is answered as before."""
    assert arrival_notice_prefix("SQ7101SAME", str(DAY.year), DAY.year) == "DZSQ7101SAME"
    assert arrival_notice_prefix("SQ7101SAME", "", DAY.year) == "DZSQ7101SAME"


_GRANTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2024", "2025", "2026"]),
                             st.sampled_from(["Q1", "Q2", "LONGNUMBER00000000000000000001"])),
                   min_size=1, max_size=6, unique=True)


@settings(max_examples=40, deadline=None)
@given(_GRANTS)
def test_every_7102_is_a_key_of_its_own_and_answers_its_own_7101(grants: list[tuple[str, str, str]]) -> None:
    """Oracle from the interface rules (a voucher is its key: the gateway takes a key once) and
    004 part 3 §9(2) (each 7101's units are told): every 7102 sent has a key no other has, and
    each 7101's duty is done when its own 7102 went, as if it were alone."""
    w = bank_world()
    for i, (adm, year, no) in enumerate(grants):
        _grant(w, adm, year, 100_00 + i, no=no, at=f"09:{i:02d}")
    keys = _keys(w)
    assert len(keys) == len(grants) and len(set(keys)) == len(keys)
    done = sorted(e.done for e in bank_events("bank-a", w.bank, CAL, w.bank.clock_config)
                  if e.kind == "quota-arrival-notice")
    assert done == [t(DAY, f"09:{i:02d}") for i in range(len(grants))]


# Long 7101 numbers alike in their last 16 characters (37 at most: the notice's Id, "V7101" and its
# number, is 42 at most too): "DY<year><last 16>" made one 7102 number of two such notices of another year.
_TAIL = "SAMELAST16CHARS0"
_LONG = st.builds(lambda head: f"{head}{_TAIL}", st.text("ABCXYZ0189-", min_size=1, max_size=21))


def test_two_long_7101s_alike_in_their_last_16_get_7102s_of_their_own() -> None:
    w = bank_world()
    a, b = f"FIRSTNOTICE{'0' * 10}{_TAIL}", f"OTHERNOTICE{'0' * 10}{_TAIL}"
    assert len(a) == len(b) == 37
    assert _grant(w, HOME, "2025", 100_00, no=a, at="09:00") == []
    assert _grant(w, HOME, "2025", 200_00, no=b, at="09:05") == []
    keys = _keys(w)
    assert len(keys) == 2 and len(set(keys)) == 2, keys
    assert all(no.startswith("DY2025") and len(f"V7102{no}") <= 42 for _, _, no in keys)  # its Id too
    done = {e.ref: e.done for e in bank_events("bank-a", w.bank, CAL, w.bank.clock_config)
            if e.kind == "quota-arrival-notice"}
    assert done == {f"{a}@2025": t(DAY, "09:00"), f"{b}@2025": t(DAY, "09:05")}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2024", "2025", "2026"]), _LONG),
                min_size=1, max_size=6, unique=True))
def test_long_numbers_alike_in_their_tails_each_get_a_7102_key_of_their_own(
        grants: list[tuple[str, str, str]]) -> None:
    """Oracle as above (a voucher is its key; each 7101's units are told): 7101s of one division and
    year differing only before their last 16 characters are distinct notices, each answered by a
    7102 of a key no other has, valid by the XSD (VoucherNo and Id [A-Za-z0-9-]{1,42}), as if it were alone."""
    w = bank_world()
    for i, (adm, year, no) in enumerate(grants):
        _grant(w, adm, year, 100_00 + i, no=no, at=f"09:{i:02d}")
    keys = _keys(w)
    assert len(keys) == len(grants) and len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z0-9\-]{1,42}", f"V7102{no}") for _, _, no in keys)  # Id, VoucherNo
    done = sorted(e.done for e in bank_events("bank-a", w.bank, CAL, w.bank.clock_config)
                  if e.kind == "quota-arrival-notice")
    assert done == [t(DAY, f"09:{i:02d}") for i in range(len(grants))]
