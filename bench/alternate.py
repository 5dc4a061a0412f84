"""Before/after in one sitting: run a bench's `--child` in each checkout, alternating, several rounds.

Shared by the in-process CPU benches (`bench.submit_cpu`, `bench.journal_cpu`): each round runs
both checkouts, and which goes first switches every round (the other checkout, `--compare-src`,
first in round 1), so load that drifts over the sitting falls on both alike, and so does the
penalty of running second: a run right after another is measurably slower (the first run's files
are still being written back; 3-10 % in bench/results/quiet-sitting-6.md). The child is this file's sibling script run with the measured checkout first on
PYTHONPATH (every package it imports comes from there); its last stdout line is its JSON row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
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
        for label, src in (sources if r % 2 == 0 else sources[::-1]):
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


def sitting(
    argv: Sequence[str],
    *,
    script: Path,
    doc: str,
    default_envelopes: int,
    default_out: Path,
    describe: Callable[[dict[str, Any]], str],
    summarize: Callable[[dict[str, list[dict[str, Any]]]], dict[str, Any]],
    extra: dict[str, Any],
) -> int:
    """A bench's command line: alternate its child over the checkouts, write and print the summary.

    `doc` is the bench's module docstring: its first paragraph is the help text, its third
    what the result file says was measured; `extra` goes into the result as it is."""
    from bench.floor import machine

    parser = argparse.ArgumentParser(prog=f"python -m bench.{script.stem}", description=doc.split("\n\n")[0])
    parser.add_argument("--compare-src", default=None, help="another checkout, measured in each round (first in the odd ones)")
    parser.add_argument("--envelopes", type=int, default=default_envelopes)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-o", "--output", default=str(default_out))
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    runs = alternate(script, ["--envelopes", str(args.envelopes)], args.compare_src, args.repeat, describe)
    summary = summarize(runs)
    result = {"machine": machine(), "what": doc.split("\n\n")[2].replace("\n", " "),
              "envelopes": args.envelopes, **extra, "loadavg_1m_at_start": round(load_start, 2),
              "loadavg_1m_at_end": round(os.getloadavg()[0], 2), "summary": summary, "runs": runs}
    Path(args.output).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))
    return 0
