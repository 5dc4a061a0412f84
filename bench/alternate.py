"""Before/after in one sitting: run a bench's `--child` in each checkout, alternating, several rounds.

Shared by the in-process CPU benches (`bench.submit_cpu`, `bench.journal_cpu`): each round runs the
other checkout first (`--compare-src`), then this one, so load that drifts over the sitting falls
on both alike. The child is this file's sibling script run with the measured checkout first on
PYTHONPATH (every package it imports comes from there); its last stdout line is its JSON row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def alternate(
    script: Path,
    child_args: list[str],
    compare_src: str | None,
    repeat: int,
    describe: Callable[[dict[str, Any]], str],
) -> dict[str, list[dict[str, Any]]]:
    """Each checkout's rows (`current` and, with `compare_src`, that directory's name), in run order.

    `describe(row)` is printed to stderr after each run, so a long sitting shows its progress."""
    sources: list[tuple[str, Path | None]] = [("current", None)]
    if compare_src:
        sources.insert(0, (Path(compare_src).name, Path(compare_src).resolve()))
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in sources}
    for r in range(repeat):
        for label, src in sources:
            root = str(src or REPO_ROOT)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
            cmd = [sys.executable, str(script.resolve()), "--child", *child_args]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["loadavg_1m"] = round(os.getloadavg()[0], 2)
            runs[label].append(row)
            print(f"{label} run {r + 1}: {describe(row)}", file=sys.stderr, flush=True)
    return runs
