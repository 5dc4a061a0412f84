"""Registry.serving, bank_for_code and holding_bank_code from the indexes made at construction,
against the scans they replaced (the oracles below)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.participants import Participant, Registry

ROLES = ("treasury", "bank", "pboc")
CODES = ("990100", "990200", "110000")
BANK_CODES = ("999100000001", "999100000002", "999200000001")


def _old_serving(registry: Registry, role: str, adm_div_code: str) -> list[Participant]:
    return [p for p in registry if p.role == role and adm_div_code in p.adm_div_codes]


def _old_bank_for_code(registry: Registry, bank_code: str, adm_div_code: str) -> Participant | None:
    for p in _old_serving(registry, "bank", adm_div_code):
        if bank_code in p.bank_codes:
            return p
    return None


_participant = st.builds(
    lambda n, role, codes, banks: Participant(id=f"p{n}", role=role, name=f"p{n}", adm_div_codes=tuple(codes),
                                              bank_codes=tuple(banks) if role == "bank" else ()),
    st.integers(0, 10**6), st.sampled_from(ROLES), st.lists(st.sampled_from(CODES), min_size=1, max_size=4),
    st.lists(st.sampled_from(BANK_CODES), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(_participant, max_size=12, unique_by=lambda p: p.id))
def test_serving_and_bank_for_code_are_the_scans_they_replaced(participants: list[Participant]) -> None:
    registry = Registry(participants)
    for role in (*ROLES, "nobody"):
        for code in (*CODES, "000000"):
            assert registry.serving(role, code) == _old_serving(registry, role, code)  # type: ignore[arg-type]
    for bank_code in (*BANK_CODES, "000000000000"):
        for code in (*CODES, "000000"):
            assert registry.bank_for_code(bank_code, code) is _old_bank_for_code(registry, bank_code, code)
        # gateway.pipeline._named_by's scan for a bank code
        assert registry.holding_bank_code(bank_code) == [p for p in registry if bank_code in p.bank_codes]


def test_serving_gives_a_new_list_each_time() -> None:
    registry = Registry([Participant(id="bk", role="bank", name="bk", adm_div_codes=("990100",))])
    first = registry.serving("bank", "990100")
    first.clear()
    assert [p.id for p in registry.serving("bank", "990100")] == ["bk"]
