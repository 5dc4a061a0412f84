"""Print what bench/tail_probe/sitecustomize.py recorded: GC pauses and loop lag per `tgw up`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    print(f"{path.name} (PYTHONPATH head {d['src']}; exit {d['t_end'] - d['t0']:.1f} s after start)")
    for gen in (0, 1, 2):
        rows = [g for g in d["gc"] if g[0] == gen]
        if rows:
            print(f"  gen{gen}: {len(rows)} collections, CPU total {sum(g[3] for g in rows) * 1e3:.1f} ms, "
                  f"max {max(g[3] for g in rows) * 1e3:.2f} ms CPU / {max(g[2] for g in rows) * 1e3:.1f} ms wall")
    big = [(round(g[1] - d["t0"], 2), g[0], round(g[2] * 1e3, 1), round(g[3] * 1e3, 1)) for g in d["gc"] if g[3] > 0.003]
    print(f"  collections over 3 ms CPU (s since start, generation, wall ms, CPU ms): {big}")
    cpu = sorted(x[2] for x in d["lag"])
    print(f"  loop wake-ups late > 2 ms: {len(d['lag'])}; loop-thread CPU meanwhile > 5 ms: "
          f"{sum(1 for c in cpu if c > 0.005)}, > 10 ms: {sum(1 for c in cpu if c > 0.01)}, "
          f"longest {cpu[-1] * 1e3 if cpu else 0:.1f} ms")


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "/tmp/tgw-tail-probe")
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        summarize(path)


if __name__ == "__main__":
    main(sys.argv[1:])
