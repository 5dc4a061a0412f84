"""`tgw bench` runs and writes its figures. Smoke only: no timing thresholds, ever."""

from __future__ import annotations

import json
import os
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
    # SM2 beside ECDSA, from the same run
    assert {"ecdsa_sign", "ecdsa_verify", "sm2_sign", "sm2_verify", "check_verify_sm2"} <= set(steps)


def test_bench_rejects_unknown_transport() -> None:
    assert main(["bench", "--gateway", "--transports", "pigeon", "-o", "-"]) == 2


def test_bench_gateway_measures_its_floor_in_the_same_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The floor beside the gateway figures is measured now, on this machine: never read from the
    committed JSON of another machine (bench/results/floor.json is in the repository)."""
    import bench.floor

    calls: list[float] = []

    def fake_floor(seconds: float = 2.0, *args: object, **kwargs: object) -> dict[str, object]:
        calls.append(seconds)
        step = {"label": "parse_envelope + check_body + verify_body (ECDSA)", "us_per_op": 123.0, "ops_per_s": 8130}
        return {"machine": bench.floor.machine(), "vouchers": {"5201": {"seals": 1, "steps": {"envelope_to_verified": step}}}}

    monkeypatch.setattr(bench.floor, "run_floor", fake_floor)
    assert (bench.floor.DEFAULT_FLOOR_OUT).is_file(), "the committed floor this test must not read"
    out = tmp_path / "gateway.json"
    code = main(["bench", "--gateway", "--vouchers", "20", "--batch", "10", "--concurrency", "2",
                 "--transports", "inproc", "--no-profile", "-o", str(out)])
    assert code == 0
    floor = json.loads(out.read_text(encoding="utf-8"))["floor"]
    assert calls, "the floor was not measured in this run"
    assert floor["source"].startswith("measured in this run")
    assert floor["per_vtcode"]["5201"]["us_per_voucher"] == 123.0


@pytest.mark.slow
def test_bench_latency_runs_open_loop_and_writes_figures(tmp_path: Path) -> None:
    """A short open-loop run against a real `tgw up` (inline and one admission worker): every
    envelope answered and accepted, the floor measured beside it. No speed is asserted."""
    out = tmp_path / "latency.json"
    # pinned where it can be (the server on its CPUs, the generator on the first)
    pin = ["--pin"] if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2 else []
    code = main(["bench", "--latency", "--rate", "100", "--workers", "0,1", "--seconds", "0.3", *pin, "-o", str(out)])
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["pinned"] is not None) == bool(pin)
    assert {"machine", "floor", "rows", "mode", "latency_from"} <= set(data)
    assert data["floor"]["source"].startswith("measured in this run") and data["floor"]["per_vtcode"]
    assert [(r["rate_per_s"], r["workers"]) for r in data["rows"]] == [(100.0, 0), (100.0, 1)]
    for row in data["rows"]:
        assert "failed" not in row, row.get("failed")
        assert row["answered"] == row["accepted"] == row["envelopes"] == 30, row
        assert row["errors"] == 0 and row["rejected"] == 0
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["p99_9_ms"] <= row["max_ms"]
        assert row["generator_cpu_us_per_envelope"] > 0  # the generator's own CPU, beside the server's
        if Path("/proc/stat").exists():
            assert row["machine_busy_cores"] > 0 and row["machine_cpus"] == os.cpu_count()
        if pin:
            server, generator = (set(map(int, row[k].split(","))) for k in ("server_cpus", "generator_cpus"))
            assert server == set(data["pinned"]["server_cpus"]) and generator == set(data["pinned"]["generator_cpus"])
        if Path("/proc/self/io").exists():  # counted beside the CPU time: what each envelope cost in I/O
            # every acknowledged envelope was made durable (a WAL frame of its rows at least) and answered
            assert row["bytes_written_per_envelope"] > 4096, row
            assert row["write_syscalls_per_envelope"] >= 1 and row["read_syscalls_per_envelope"] >= 1, row


def test_latency_percentiles_are_nearest_rank() -> None:
    from bench.latency import percentiles

    samples = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1000 ms
    p = percentiles(list(reversed(samples)))
    assert (p["p50_ms"], p["p90_ms"], p["p99_ms"], p["p99_9_ms"], p["max_ms"]) == (500.0, 900.0, 990.0, 999.0, 1000.0)
    assert percentiles([])["p99_ms"] == 0.0
    assert percentiles([0.002])["p50_ms"] == percentiles([0.002])["max_ms"] == 2.0


def test_bench_latency_rejects_bad_rates() -> None:
    assert main(["bench", "--latency", "--rate", "fast", "-o", "-"]) == 2
    assert main(["bench", "--latency", "--rate", "100", "--workers", "-1", "-o", "-"]) == 2


def test_latency_rates_may_be_shares_of_the_floor_capacity() -> None:
    from bench.latency import resolve_rates

    # A floor of 220 µs of CPU: one core does ~4,545 envelopes/s; 0.45 of that is ~2,045/s.
    assert resolve_rates(["0.45x", 1000.0], 220.0) == [2045.0, 1000.0]
    assert resolve_rates(["1x"], 500.0) == [2000.0]
    assert main(["bench", "--latency", "--rate", "0.45y", "-o", "-"]) == 2
    assert main(["bench", "--latency", "--rate", "0x", "-o", "-"]) == 2
    assert main(["bench", "--latency", "--rate=-1x", "-o", "-"]) == 2


def test_bench_http_layer_measures_the_raw_floor_beside_the_app() -> None:
    from bench.http_layer import run_http_layer

    result = run_http_layer(rate=200, seconds=0.3, repeat=1, loops=["asyncio"], compare_src=None, raw=True)
    rows = {row["server"]: row for row in result["rows"]}
    assert set(rows) == {"current [asyncio]", "raw protocol [asyncio]"}
    for row in rows.values():  # both answered every request with an accepted one-voucher ack
        assert row["answered"] == row["accepted"] == 60 and row["errors"] == 0
        assert row["server_cpu_us_per_request"] >= 0


def test_alternate_runs_each_checkout_in_turn_with_its_own_packages(tmp_path: Path) -> None:
    """bench.alternate: both checkouts every round, the first switching round to round (the other
    first in round 1), each child importing from its own tree."""
    from bench.alternate import alternate

    other = tmp_path / "other"
    (other / "probe_pkg").mkdir(parents=True)
    (other / "probe_pkg" / "__init__.py").write_text("WHERE = 'other'\n", encoding="utf-8")
    script = tmp_path / "child.py"
    script.write_text(
        "import json, sys\n"
        "try:\n    from probe_pkg import WHERE\nexcept ImportError:\n    WHERE = 'current'\n"
        "print('noise')\nprint(json.dumps({'where': WHERE, 'args': sys.argv[1:]}))\n",
        encoding="utf-8",
    )
    seen: list[str] = []
    runs = alternate(script, ["--n", "3"], str(other), 2, lambda row: seen.append(row["where"]) or row["where"])
    assert list(runs) == ["other", "current"]
    assert [r["where"] for r in runs["other"]] == ["other", "other"]
    assert [r["where"] for r in runs["current"]] == ["current", "current"]
    assert seen == ["other", "current", "current", "other"]  # the first switches: running second costs
    assert all(r["args"] == ["--child", "--n", "3"] and "loadavg_1m" in r for rows in runs.values() for r in rows)
    assert list(alternate(script, [], None, 1, str)) == ["current"]
