"""Budget units (预算单位) as a tree, generated from a seed and a size.

003 §8: a **first-level** unit (一级预算单位) reports its budget to the finance department; one with
subordinate units is a department (主管部门). A **second-level** unit (二级) reports to the one above
and has units below it; a **basic** unit (基层) reports to the one above and has none. The first-
and second-level units' own offices (本级) are managed as basic units: every first- and
second-level unit here has one, and only basic units pay (each voucher names one as AgencyCode,
its first-level unit as SupDepCode).

003 §2: the money is of five fund types (`FUND_TYPES`): the general public budget, government
funds, state capital operations, social insurance funds (all in the treasury single account), and
other fiscal funds.

`generate_tree(seed, size)`: exactly `size` units (2..UNITS_MAX), the same for the same seed.
Codes: a first-level unit `1nn` (3 digits, as SupDepCode), its units `1nnjjj` (second-level, and
basic units directly under it, 本级 `1nn001`), a second-level unit's basic units `1nnjjjkk` (本级 `...01`).
Names are synthetic.
"""

from __future__ import annotations

import random
from typing import Literal

import msgspec

from messages.fund_types import FUND_TYPES

__all__ = ["FUND_TYPES", "UNITS_MAX", "BudgetUnit", "UnitTree", "generate_tree", "tree_problems"]

Level = Literal["first", "second", "basic"]
UNITS_MAX = 20_000  # a province has a few thousand budget units
_FIRST_MAX = 899  # first-level codes 101..999
_DEPARTMENTS = ("教育局", "卫生健康委员会", "交通运输局", "民政局", "财政局", "公安局", "农业农村局", "水利局",
                "文化和旅游局", "自然资源局", "生态环境局", "住房和城乡建设局", "人力资源和社会保障局", "科学技术局")
_BASIC = ("中心", "学校", "医院", "站", "所", "研究院", "服务中心", "管理处")


class BudgetUnit(msgspec.Struct, frozen=True):
    code: str  # AgencyCode (a first-level unit's: SupDepCode)
    name: str
    level: Level
    parent: str | None  # None for a first-level unit
    first: str  # the first-level unit it belongs to (its own code for one)

    @property
    def pays(self) -> bool:
        """Only basic units (and the 本级 offices, which are basic units) pay."""
        return self.level == "basic"


class UnitTree(msgspec.Struct, frozen=True):
    units: tuple[BudgetUnit, ...]  # parents before their children

    def by_code(self) -> dict[str, BudgetUnit]:
        return {u.code: u for u in self.units}

    def paying(self) -> tuple[BudgetUnit, ...]:
        return tuple(u for u in self.units if u.pays)


def generate_tree(seed: int, size: int) -> UnitTree:
    """`size` units: first-level units each with its 本级, some with second-level units (each with
    its 本级 and basic units) and basic units of their own. The same tree for the same seed."""
    if not 2 <= size <= UNITS_MAX:
        raise ValueError(f"a unit tree has 2..{UNITS_MAX} units, not {size}")
    rng = random.Random(f"units:{seed}:{size}")
    firsts = max(1, min(_FIRST_MAX, size // rng.randint(8, 14)))
    units: list[BudgetUnit] = []
    room = size
    shares = [rng.paretovariate(1.5) for _ in range(firsts)]  # a few big departments, many small ones
    total = sum(shares)
    for i, share in enumerate(shares):
        code = f"{101 + i}"
        name = f"示例市{_DEPARTMENTS[i % len(_DEPARTMENTS)]}" + (f"{i // len(_DEPARTMENTS) + 1}" if i >= len(
            _DEPARTMENTS) else "")
        left_firsts = firsts - i - 1
        want = size if left_firsts == 0 else max(2, round(size * share / total))
        take = min(want, room - 2 * left_firsts)  # the departments after it need 2 each
        units += _department(rng, code, name, take)
        room -= take
    return UnitTree(tuple(units))


def _department(rng: random.Random, code: str, name: str, size: int) -> list[BudgetUnit]:
    """A first-level unit with `size` units in all (>= 2: itself and its 本级)."""
    out = [BudgetUnit(code, name, "first", None, code), BudgetUnit(f"{code}001", f"{name}本级", "basic", code, code)]
    j = 2
    while len(out) < size:
        room = size - len(out)
        if room >= 3 and rng.random() < 0.3 and j <= 999:  # a second-level unit, its 本级 and basic units
            second = f"{code}{j:03d}"
            sname = f"{name}{_BASIC[j % len(_BASIC)]}{j}"
            children = min(room - 2, rng.randint(1, 6) if room < 500 else rng.randint(40, 98))
            out += [BudgetUnit(second, sname, "second", code, code),
                    BudgetUnit(f"{second}01", f"{sname}本级", "basic", second, code)]
            out += [BudgetUnit(f"{second}{k:02d}", f"{sname}下属{k}", "basic", second, code)
                    for k in range(2, 2 + children)]
        elif j <= 999:
            out.append(BudgetUnit(f"{code}{j:03d}", f"{name}{_BASIC[j % len(_BASIC)]}{j}", "basic", code, code))
        else:  # 998 units directly under it: the rest under its last second-level unit's numbering
            raise ValueError(f"department {code} cannot hold {size} units")
        j += 1
    return out


def tree_problems(tree: UnitTree) -> list[str]:
    """What makes a tree ill-formed (none for a generated one): duplicate codes, a parent missing
    or after its child, a level that does not fit its parent, a first- or second-level unit
    without its 本级, a unit under another first-level unit than its parent's, a non-basic leaf."""
    seen: dict[str, BudgetUnit] = {}
    children: dict[str, list[BudgetUnit]] = {}
    problems = []
    for u in tree.units:
        if u.code in seen:
            problems.append(f"{u.code}: twice")
        if u.level == "first":
            if u.parent is not None or u.first != u.code:
                problems.append(f"{u.code}: a first-level unit has no parent and is its own first")
        else:
            parent = seen.get(u.parent or "")
            if parent is None:
                problems.append(f"{u.code}: parent {u.parent} missing or after it")
            elif parent.level == "basic" or (u.level == "second" and parent.level != "first"):
                problems.append(f"{u.code}: a {u.level} unit under a {parent.level} one")
            elif parent.first != u.first:
                problems.append(f"{u.code}: first-level {u.first}, its parent's {parent.first}")
            else:
                children.setdefault(parent.code, []).append(u)
        seen[u.code] = u
    for u in tree.units:
        if u.level != "basic" and not any(c.level == "basic" and c.name.endswith("本级") for c in children.get(u.code, [])):
            problems.append(f"{u.code}: a {u.level} unit without its 本级")
    return problems
