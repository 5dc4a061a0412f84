"""The shape of the three simulator cores (issue 16): thin cores, small duty modules, and no
hand-written snapshot codec (their state is saved by sim.codec). Import cycles anywhere in the
project are tests/test_no_import_cycles.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORES = ("bank_sim", "pboc_sim", "treasury_sim")
THIN = {"bank_sim": 400, "pboc_sim": 400}  # core.py under this many lines
MODULE_MAX = 500


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", CORES)
def test_the_core_is_thin_and_no_module_is_big(package: str) -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules(package)}
    if package in THIN:
        assert sizes[f"{package}/core.py"] < THIN[package]
    assert {name: n for name, n in sizes.items() if n > MODULE_MAX} == {}


@pytest.mark.parametrize("package", CORES)
def test_no_hand_written_snapshot_codec_is_left(package: str) -> None:
    found = [f"{p.name}: {word}" for p in _modules(package)
             for word in ("to_plain", "from_plain", "sim.snapshot", "load_snapshot(data.get")
             if word in p.read_text(encoding="utf-8")]
    assert found == []
    assert not (ROOT / "sim" / "snapshot.py").exists()
