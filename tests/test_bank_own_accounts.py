"""Issue 16 rule 9, the own-account rule (003 §15; 004 part 3 §12(1); union fees 003 §27): a
payment from a zero-balance account (5201 from the finance ZBA, 8202 from the unit's) to a
real-fund account of the paying unit, a same-system unit, a superior or subordinate, or the
old/new account of one, is returned unpaid unless approved. Before: only 8202, only when
PayeeAcctName equalled AgencyName."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bank_sim import own_accounts as oa
from bank_sim.returns import UNIT_RELATIONS, ReturnFacts, check_return

BANK = "999100000001"


def _facts(vtcode: str, agency: str, sup: str, account: str, relations: oa.UnitRelations = UNIT_RELATIONS,
           name: str = "某单位") -> ReturnFacts:
    head = {"PayeeAcctNo": account, "PayeeAcctName": name, "PayeeAcctBankName": "乙银行",
            "PayeeAcctBankNo": "999100000002", "AgencyCode": agency, "AgencyName": "付款单位",
            "SupDepCode": sup, "FundTypeCode": "1"}
    return ReturnFacts(BANK, vtcode, head, [{"ExpFuncCode": "2050203"}], {}, relations)


def _code(f: ReturnFacts) -> str | None:
    found = check_return(f)
    return found[0] if found else None


@pytest.mark.parametrize(("vtcode", "agency", "sup", "account", "expected"), [
    ("5201", "101001", "101", "9999000000000101", "own"),  # the unit's own real-fund account, finance ZBA too
    ("8202", "101001", "101", "9999000000000101", "own"),
    ("8202", "101001", "101", "9999000000000109", "own"),  # its old account, replaced by ...0101
    ("8202", "101001", "101", "9999000000000201", "same-system"),  # 101002, same first-level unit
    ("8202", "101001", "101", "9999000000000301", "superior"),  # 101 itself
    ("5201", "101", "101", "9999000000000101", "subordinate"),
    ("8202", "101001", "101", "9999000000000401", None),  # another system (102)
    ("8202", "101001", "101", "9999000000000901", None),  # union fees: approved (003 §27)
    ("8202", "101777", "101", "9999000000000201", "same-system"),  # a unit not in the tree: under its SupDepCode
])
def test_the_rule_in_the_world_data(vtcode: str, agency: str, sup: str, account: str, expected: str | None) -> None:
    found = check_return(_facts(vtcode, agency, sup, account))
    if expected is None:
        assert found is None
    else:
        assert found is not None and found[0] == "zba-to-own-account" and f"({expected})" in found[1]


def test_the_name_alone_no_longer_decides() -> None:
    assert _code(_facts("8202", "101001", "101", "9999000000000401", name="付款单位")) is None


def test_the_loader_refuses_a_bad_tree() -> None:
    with pytest.raises(ValueError, match="superior"):
        oa.load_relations("units:\n  - {code: a, superior: z}\n")
    with pytest.raises(ValueError, match="cycle"):
        oa.load_relations("units:\n  - {code: a, superior: b}\n  - {code: b, superior: a}\n")


# --- over generated unit trees ---------------------------------------------------------------

@st.composite
def _worlds(draw: st.DrawFn) -> tuple[oa.UnitRelations, str, str, bool]:
    n = draw(st.integers(1, 12))
    units = [f"U{i}" for i in range(n)]
    superiors: dict[str, str | None] = {}
    for i, u in enumerate(units):  # a forest: each unit's superior is an earlier unit, or none
        superiors[u] = draw(st.sampled_from([None, *units[:i]]))
    accounts = [f"A{i}" for i in range(draw(st.integers(1, 10)))]
    owners = {a: u for a in accounts if (u := draw(st.sampled_from([None, *units]))) is not None}
    replaces: dict[str, str] = {}
    for i, a in enumerate(accounts[1:], start=1):
        if draw(st.booleans()):
            replaces[a] = draw(st.sampled_from(accounts[:i]))  # links point back: no cycles
    payer, payee = draw(st.sampled_from(units)), draw(st.sampled_from(accounts))
    is_approved = draw(st.booleans())
    approved = ((payee, draw(st.sampled_from([None, payer]))),) if is_approved else ()
    return oa.UnitRelations(superiors, owners, replaces, approved), payer, payee, is_approved


def _ancestors(sup: dict[str, str | None], u: str) -> list[str]:
    out = []
    while (nxt := sup[u]) is not None:
        out.append(nxt)
        u = nxt
    return out


@given(_worlds(), st.sampled_from(["5201", "8202"]))
def test_refused_iff_related_and_not_approved(world: tuple[oa.UnitRelations, str, str, bool], vtcode: str) -> None:
    rel, payer, payee, is_approved = world
    sup = dict(rel.superiors)
    # the oracle: the old/new family of the payee account, by brute force over the links
    family = {payee}
    for _ in range(len(rel.replaces) + 1):
        family |= {o for n, o in rel.replaces.items() if n in family} | {n for n, o in rel.replaces.items() if o in family}
    root = {u: ([u, *_ancestors(sup, u)])[-1] for u in sup}
    related = any(owner == payer or owner in _ancestors(sup, payer) or payer in _ancestors(sup, owner)
                  or root[owner] == root[payer] for a in family if (owner := rel.owners.get(a)) is not None)
    sup_dep = root[payer]
    assert (_code(_facts(vtcode, payer, sup_dep, payee, rel)) == "zba-to-own-account") == (related and not is_approved)


@given(_worlds())
def test_other_vouchers_are_not_checked(world: tuple[oa.UnitRelations, str, str, bool]) -> None:
    rel, payer, payee, _ = world
    assert _code(_facts("2301", payer, payer, payee, rel)) is None
