"""Print what bench/cpu_probe/sitecustomize.py recorded: the loop thread's CPU per envelope, by stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ENVELOPES = "submit (all)"  # one call per one-voucher envelope, inline or with admission workers


def summarize(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    n = next((c for name, c in d["calls"].items() if name.strip() == ENVELOPES), 0)
    print(f"{path.name} (PYTHONPATH head {d['src']}): {n} envelopes (warm-up included)")
    if not n:
        print("  no envelope submitted: nothing per envelope to show")
        return
    print(f"  {'loop thread, all (the stages below are inside it)':48s} {d['loop_thread_ns'] / n / 1e3:8.1f} µs/envelope")
    for name, ns in d["ns"].items():  # in the probe's order: a stage, then (indented) what runs inside it
        print(f"  {name:48s} {ns / n / 1e3:8.1f} µs/envelope  ({d['calls'].get(name, 0) / n:.2f} calls)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "/tmp/tgw-cpu-probe")
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        print(f"no probe files in {folder}")
        return 1
    for f in files:
        summarize(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
