"""The shape of bank_sim (issue 16): a thin core, small duty modules, imports one way, and no
hand-written snapshot codec (the state is saved by sim.codec)."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "bank_sim"


def test_the_core_is_thin_and_no_module_is_big() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert sizes["core.py"] < 400, sizes["core.py"]
    assert {name: n for name, n in sizes.items() if n > 500} == {}


def test_no_import_cycle_inside_bank_sim() -> None:
    graph = grimp.build_graph("bank_sim")
    mods = sorted(m for m in graph.modules if m.startswith("bank_sim"))
    cycles = [(a, b) for a in mods for b in graph.find_modules_directly_imported_by(a)
              if b.startswith("bank_sim") and graph.chain_exists(importer=b, imported=a)]
    assert cycles == []


def test_no_hand_written_snapshot_codec_is_left() -> None:
    found = [f"{p.name}: {word}" for p in sorted(PACKAGE.glob("*.py"))
             for word in ("to_plain", "from_plain", "sim.snapshot import Lazy", "load_snapshot(data.get")
             if word in p.read_text(encoding="utf-8")]
    assert found == []
