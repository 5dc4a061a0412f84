"""The own-account rule's data and test, pure: which budget unit's accounts a zero-balance
account must not pay (003 §15; 004 part 3 §12(1)).

A payment from the finance zero-balance account (5201) or a unit's zero-balance account (8202)
must not go to a real-fund account (实有资金账户) of

| relation      | the account belongs to                                              |
|---------------|---------------------------------------------------------------------|
| `own`         | the paying unit itself (AgencyCode)                                 |
| `superior`    | a unit above it (上级主管单位)                                        |
| `subordinate` | a unit below it (所属下级单位)                                        |
| `same-system` | another unit under the same first-level unit (系统内其他预算单位)       |

counting an old account and the new one that replaced it as one ("新旧账户之间的相互转(存)款"),
unless the finance bureau approved the payment (经市财政局批准的特殊款项, e.g. union fees, 003 §27).
The data (`units`, `unit_accounts`, `approved`) is in `accounts.yaml` beside this module; the
bank adds the unit real-fund accounts of its account registry (`bank_sim.registry.relations`:
opened on the treasury's notice, 7601, or declared by the world).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

__all__ = ["Relation", "UnitRelations", "approved", "chain", "linked_accounts", "load_relations", "relation"]

Relation = Literal["own", "superior", "subordinate", "same-system"]
# A unit tree deeper than this is a data error (a city's units are 2-4 levels deep); it also stops
# a cycle the loader missed.
DEPTH_MAX = 32


@dataclass(frozen=True, slots=True)
class UnitRelations:
    superiors: Mapping[str, str | None] = field(default_factory=dict)  # unit → the unit above (None: first-level)
    owners: Mapping[str, str] = field(default_factory=dict)  # real-fund account → its unit
    replaces: Mapping[str, str] = field(default_factory=dict)  # new account → the old account it replaced
    approved: tuple[tuple[str, str | None], ...] = ()  # (account, paying unit or None: any unit)


def load_relations(text: str | None = None) -> UnitRelations:
    """The `units`, `unit_accounts` and `approved` of `accounts.yaml` (this package's, or `text`).
    ValueError on a cycle or an unknown superior."""
    if text is None:
        text = resources.files("bank_sim").joinpath("accounts.yaml").read_text(encoding="utf-8")
    data: Mapping[str, Any] = yaml.safe_load(text) or {}
    superiors = {str(u["code"]): (str(u["superior"]) if u.get("superior") is not None else None)
                 for u in data.get("units") or []}
    for unit, sup in superiors.items():
        if sup is not None and sup not in superiors:
            raise ValueError(f"unit {unit}: superior {sup} is not a listed unit")
    rel = UnitRelations(
        superiors=superiors,
        owners={str(a["number"]): str(a["unit"]) for a in data.get("unit_accounts") or [] if a.get("unit")},
        replaces={str(a["number"]): str(a["replaces"]) for a in data.get("unit_accounts") or [] if a.get("replaces")},
        approved=tuple((str(a["account"]), str(a["payer"]) if a.get("payer") is not None else None)
                       for a in data.get("approved") or []))
    for unit in superiors:
        chain(rel, unit)
    return rel


def chain(rel: UnitRelations, unit: str, sup_dep: str | None = None) -> tuple[str, ...]:
    """`unit`, the unit above it, ... up to its first-level unit. A unit not in the tree hangs
    under `sup_dep` (its voucher's SupDepCode) when that differs from it."""
    out = [unit]
    up = rel.superiors.get(unit, sup_dep if sup_dep and sup_dep != unit else None)
    while up is not None:
        if up in out or len(out) >= DEPTH_MAX:
            raise ValueError(f"the unit tree has a cycle or is deeper than {DEPTH_MAX} at {unit}")
        out.append(up)
        up = rel.superiors.get(up)
    return tuple(out)


def linked_accounts(rel: UnitRelations, account: str) -> tuple[str, ...]:
    """`account` and every account linked to it by old/new replacement, either way, sorted."""
    links: dict[str, set[str]] = {}
    for new, old in rel.replaces.items():
        links.setdefault(new, set()).add(old)
        links.setdefault(old, set()).add(new)
    seen, todo = {account}, [account]
    while todo:
        for other in links.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return tuple(sorted(seen))


_ORDER: tuple[Relation, ...] = ("own", "superior", "subordinate", "same-system")


def relation(rel: UnitRelations, payer: str, sup_dep: str | None, account: str) -> tuple[Relation, str, str] | None:
    """(relation, owning unit, the account that belongs to it) when `account` (or its old/new
    account) is a real-fund account of `payer`'s own unit, superior, subordinate or system; else None."""
    mine = chain(rel, payer, sup_dep)
    found: list[tuple[int, str, str]] = []
    for acct in linked_accounts(rel, account):
        owner = rel.owners.get(acct)
        if owner is None:
            continue
        theirs = chain(rel, owner)
        kind: Relation | None = ("own" if owner == payer else "superior" if owner in mine
                                 else "subordinate" if payer in theirs
                                 else "same-system" if theirs[-1] == mine[-1] else None)
        if kind is not None:
            found.append((_ORDER.index(kind), owner, acct))
    if not found:
        return None
    i, owner, acct = min(found)
    return _ORDER[i], owner, acct


def approved(rel: UnitRelations, payer: str, account: str) -> bool:
    """Whether the finance bureau approved payments from `payer` to `account`."""
    return any(acct == account and who in (None, payer) for acct, who in rel.approved)
