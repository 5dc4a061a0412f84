"""The conformance catalogue against the example bank, as a bank's CI runs it: timed and counted.

    tgw bench --conformance [--compare-ref REF] [--scenarios FILE,...] [-o bench/results/conformance.json]

Runs the copy-paste script of docs/conformance.md ("In your CI, start to end") as written, with
the example SDK bank (examples/sdk_bank.py) as the system under test, over the whole catalogue
(or `--scenarios`), and reports per run:

- `wall_s`: real seconds, start to end (the machine's load shows here: see `load_average`);
- `cpu_s`: CPU seconds of every process the script ran (gateways, the bank, the runner; the
  children's rusage), which the load does not change much;
- `gateway_starts` and `runner_processes`: how many `tgw up` and `tgw scenario run` it started,
  and `sleeps` / `sleep_s`: how many fixed `sleep`s the script itself waited and their sum
  (counted by shims of `tgw` and `sleep` put first on its PATH, so nothing in the script changes);
- `scenarios`, `passed`, `failed`, `errors`, `skipped`: what the JUnit reports say, so a faster
  run is seen to check as much.

`--compare-ref REF` also runs the script of that git revision against its own code (exported with
`git archive` into a temp dir, the working tree untouched: the "before"), in the same invocation
on the same machine. A measurement, not a test: nothing asserts on a time.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CONFORMANCE_OUT", "doc_script", "print_conformance_table", "run_conformance_bench"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFORMANCE_OUT = ROOT / "bench" / "results" / "conformance.json"
SCRIPT_BLOCK = re.compile(r"<!-- conformance\.sh[^>]*-->\n```bash\n(.*?)```", re.S)
RUN_TIMEOUT_S = 3600.0  # a whole catalogue, per-scenario gateways, on a loaded machine: well under this

_SHIM = """#!/usr/bin/env bash
echo "{name} $*" >> "$BENCH_CALLS"
exec {real} "$@"
"""


def doc_script(root: Path) -> str:
    """The conformance.sh block of `root`/docs/conformance.md."""
    m = SCRIPT_BLOCK.search((root / "docs" / "conformance.md").read_text(encoding="utf-8"))
    if m is None:
        raise ValueError(f"{root}/docs/conformance.md has no conformance.sh block")
    return m.group(1)


def _junit_counts(reports: Path) -> dict[str, Any]:
    counts: dict[str, Any] = {"scenarios": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                              "expectations": 0, "failed_scenarios": [], "error_scenarios": []}
    for path in sorted(reports.glob("*.xml")):
        for suite in ET.parse(path).getroot().iter("testsuite"):
            cases = list(suite.iter("testcase"))
            counts["scenarios"] += 1
            failed, errors = int(suite.get("failures") or 0), int(suite.get("errors") or 0)
            whole_skip = len(cases) == 1 and cases[0].get("name") == "run" and cases[0].find("skipped") is not None
            counts["expectations"] += 0 if whole_skip else sum(1 for c in cases if c.find("skipped") is None)
            key = "errors" if errors else "failed" if failed else "skipped" if whole_skip else "passed"
            counts[key] += 1
            if key in ("errors", "failed"):
                counts["error_scenarios" if errors else "failed_scenarios"].append(suite.get("name"))
    return counts


def run_script(src: Path, work: Path, *, scenarios: Sequence[str] = (), label: str = "") -> dict[str, Any]:
    """Run `src`'s documented script with `src`'s code; the figures of the run."""
    work.mkdir(parents=True, exist_ok=True)
    shims = work / "shims"
    shims.mkdir(exist_ok=True)
    bin_dir = Path(sys.executable).parent
    for name, real in (("tgw", bin_dir / "tgw"), ("sleep", Path(shutil.which("sleep") or "/bin/sleep"))):
        shim = shims / name
        shim.write_text(_SHIM.format(name=name, real=real), encoding="utf-8")
        shim.chmod(0o755)
    calls = work / "calls.log"
    calls.write_text("", encoding="utf-8")
    script = work / "conformance.sh"
    script.write_text(doc_script(src), encoding="utf-8")
    out = work / "out"
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           # SDK_BANK: the example bank of scripts before it was installed as `tgw-sdk-bank`
           "PYTHONPATH": str(src), "SDK_BANK": str(src / "examples" / "sdk_bank.py"), "OUT": str(out),
           "BENCH_CALLS": str(calls)}
    if scenarios:
        env["SCENARIOS"] = " ".join(scenarios)
    load_before = os.getloadavg()
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with (work / "stdout.log").open("wb") as stdout, (work / "stderr.log").open("wb") as stderr:
        done = subprocess.run(["bash", str(script)], cwd=work, env=env, stdout=stdout, stderr=stderr,
                              timeout=RUN_TIMEOUT_S, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = calls.read_text(encoding="utf-8").splitlines()
    sleeps = [float(x) for line in lines if line.startswith("sleep ") for x in line.split()[1:2]
              if x.replace(".", "", 1).isdigit()]
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {"code": label, "exit": done.returncode, "wall_s": round(wall, 1), "cpu_s": round(user + system, 1),
            "cpu_user_s": round(user, 1), "cpu_sys_s": round(system, 1),
            "gateway_starts": sum(1 for line in lines if line.startswith("tgw up")),
            "runner_processes": sum(1 for line in lines if line.startswith("tgw scenario run")),
            "sleeps": len(sleeps), "sleep_s": round(sum(sleeps), 1),
            **_junit_counts(out / "reports"),
            "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())]}


def run_conformance_bench(*, compare_ref: str | None = None, scenarios: Sequence[str] = (),
                          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from bench.floor import machine

    rows = []
    with tempfile.TemporaryDirectory(prefix="tgw-bench-conformance-") as tmp:
        runs: list[tuple[str, Path]] = []
        if compare_ref:
            before = Path(tmp) / "before-src"
            before.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", compare_ref], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            runs.append((f"before ({compare_ref})", before))
        runs.append(("after", ROOT))
        for label, src in runs:
            if progress:
                progress(f"{label}: the documented script, {len(scenarios) or 'every'} scenario(s)")
            row = run_script(src, Path(tmp) / re.sub(r"\W+", "-", label), scenarios=scenarios, label=label)
            rows.append(row)
            if progress:
                progress(f"{label}: {row['wall_s']} s wall, {row['cpu_s']} s CPU, {row['gateway_starts']} gateway "
                         f"start(s), {row['scenarios']} scenarios ({row['passed']} passed, {row['failed']} failed, "
                         f"{row['errors']} in error, {row['skipped']} skipped)")
    return {"what": "docs/conformance.md's script (the example SDK bank as the system under test) over the "
                    "catalogue: wall and CPU time, gateway starts, fixed sleeps, and what the JUnit reports say",
            "command": "tgw bench --conformance" + (f" --compare-ref {compare_ref}" if compare_ref else "")
                       + (f" --scenarios {','.join(scenarios)}" if scenarios else ""),
            "machine": {**machine(), "cpus": os.cpu_count()}, "rows": rows}


def print_conformance_table(result: dict[str, Any]) -> None:
    print(f"{'run':<24} {'wall s':>7} {'CPU s':>7} {'gateways':>9} {'runners':>8} {'sleeps':>7} {'sleep s':>8} "
          f"{'scen.':>6} {'pass':>5} {'fail':>5} {'err':>4} {'skip':>5}")
    for r in result["rows"]:
        print(f"{r['code']:<24} {r['wall_s']:>7} {r['cpu_s']:>7} {r['gateway_starts']:>9} {r['runner_processes']:>8} "
              f"{r['sleeps']:>7} {r['sleep_s']:>8} {r['scenarios']:>6} {r['passed']:>5} {r['failed']:>5} "
              f"{r['errors']:>4} {r['skipped']:>5}")
