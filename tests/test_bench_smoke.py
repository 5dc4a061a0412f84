"""`tgw bench` runs and writes its figures. Smoke only: no timing thresholds, ever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgw import main


@pytest.mark.slow
def test_bench_gateway_inproc_writes_figures(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    code = main(["bench", "--gateway", "--vouchers", "200", "--transports", "inproc", "-o", str(out)])
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"machine", "vouchers", "batch", "concurrency", "floor", "transports", "skipped"} <= set(data)
    inproc = data["transports"]["inproc"]
    for key in ("vouchers_per_s", "envelopes_per_s", "ack_ms_p50", "ack_ms_p99", "wall_s"):
        assert inproc[key] > 0, key
    assert inproc["accepted"] == 200 and inproc["rejected"] == 0
    assert inproc["ack_ms_p50"] <= inproc["ack_ms_p99"]
    profile = out.with_name("gateway-profile.txt")
    assert data["profile_file"] == profile.name
    assert "cumulative" in profile.read_text(encoding="utf-8")


def test_bench_floor_writes_figures(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    assert main(["bench", "--floor", "--seconds", "0.2", "-o", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    steps = data["vouchers"]["5201"]["steps"]
    assert steps and all(s["us_per_op"] > 0 and s["ops_per_s"] > 0 for s in steps.values())


def test_bench_rejects_unknown_transport() -> None:
    assert main(["bench", "--gateway", "--transports", "pigeon", "-o", "-"]) == 2
