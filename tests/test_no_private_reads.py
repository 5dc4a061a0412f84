"""The runner and the treasury's scorecard see the simulator cores only through public, typed views
(issue 16): nothing in `runner/` or `treasury_sim/` reads another object's private attribute.

`self._x`, `cls._x` and `super()._x` are an object's own; `_replace`, `_asdict`, `_fields` and
`_make` are the public API of named tuples. Anything else of the form `obj._x` is a read of
someone's private state and fails this test, naming the file and line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runner", "treasury_sim")
OWN = {"self", "cls"}
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}


def private_reads(source: str) -> list[tuple[int, str]]:
    """(line, text) of each `obj._name` where obj is not the object itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in NAMEDTUPLE_API:
            continue
        receiver = node.value
        if isinstance(receiver, ast.Name) and receiver.id in OWN:
            continue
        if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super":
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_runner_and_the_treasury_read_no_private_state() -> None:
    offences = [f"{path.relative_to(ROOT)}:{line}: {text}"
                for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                for line, text in private_reads(path.read_text(encoding="utf-8"))]
    assert not offences, "private reads:\n" + "\n".join(offences)


def test_the_check_sees_a_private_read_and_passes_an_own_one() -> None:
    assert private_reads("core.state._payments.get(k)") == [(1, "core.state._payments")]
    assert private_reads("engine._cores[0]") == [(1, "engine._cores")]
    assert private_reads("self._x; cls._y; super()._z(); p.key._replace(flag=1); t.__class__") == []
