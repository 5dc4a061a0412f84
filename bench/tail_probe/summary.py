"""Print what bench/tail_probe/sitecustomize.py recorded: GC pauses and loop lag per `tgw up`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


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
    commits = d.get("commits") or []
    if commits:
        walls = sorted(c[1] for c in commits)
        slow = [c for c in commits if c[1] > 0.003]
        print(f"  COMMITs: {len(commits)}, thread CPU {sum(c[2] for c in commits) / len(commits) * 1e6:.0f} µs each; "
              f"wall p50 {_rank(walls, 50) * 1e3:.2f} p99 {_rank(walls, 99) * 1e3:.2f} max {walls[-1] * 1e3:.2f} ms; "
              f"WAL restarts {sum(c[3] for c in commits)}; over 3 ms wall: {len(slow)} "
              f"(CPU {sum(c[2] for c in slow) * 1e3:.1f} ms in all, max {max((c[2] for c in slow), default=0) * 1e3:.1f})")
        ckpt = [c for c in commits if len(c) > 4 and c[4]]
        if ckpt:
            rest = [c for c in commits if not (len(c) > 4 and c[4])]
            print(f"  COMMITs that checkpointed: {len(ckpt)}, wall mean {sum(c[1] for c in ckpt) / len(ckpt) * 1e3:.2f} "
                  f"max {max(c[1] for c in ckpt) * 1e3:.2f} ms, CPU mean {sum(c[2] for c in ckpt) / len(ckpt) * 1e3:.2f} ms "
                  f"({sum(c[2] for c in ckpt) * 1e3:.0f} ms in all); the others: CPU mean "
                  f"{sum(c[2] for c in rest) / max(1, len(rest)) * 1e6:.0f} µs, wall mean "
                  f"{sum(c[1] for c in rest) / max(1, len(rest)) * 1e3:.2f} ms")
    for name, what in (("handoff", "loop put -> committer running"), ("settled", "committer done -> loop settles")):
        xs = sorted(d.get(name) or [])
        if xs:
            print(f"  {what}: p50 {_rank(xs, 50) * 1e3:.3f} p90 {_rank(xs, 90) * 1e3:.3f} p99 {_rank(xs, 99) * 1e3:.3f} "
                  f"max {xs[-1] * 1e3:.2f} ms; over 1 ms: {sum(1 for x in xs if x > 0.001)} of {len(xs)}")
    writes = d.get("writes") or []
    if writes:
        walls, cpus = sorted(w[0] for w in writes), sorted(w[1] for w in writes)
        print(f"  deferred writes a commit ({sum(w[2] for w in writes) / len(writes):.1f} rows): wall p50 "
              f"{_rank(walls, 50) * 1e3:.3f} p99 {_rank(walls, 99) * 1e3:.3f} max {walls[-1] * 1e3:.2f} ms; "
              f"thread CPU p50 {_rank(cpus, 50) * 1e3:.3f} p99 {_rank(cpus, 99) * 1e3:.3f} ms; over 1 ms wall: "
              f"{sum(1 for w in walls if w > 0.001)} of {len(walls)}")
    groups = d.get("groups") or []
    if groups:
        sizes = sorted(g[2] for g in groups)
        print(f"  group commits: {len(groups)}, vouchers each p50 {_rank(sizes, 50)} p90 {_rank(sizes, 90)} "
              f"max {sizes[-1]}, mean {sum(sizes) / len(sizes):.2f}")


def _rank(values: list[Any], p: float) -> Any:
    """Nearest-rank percentile of sorted `values`."""
    return values[max(0, min(len(values), int(-(-len(values) * p // 100))) - 1)] if values else 0


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "/tmp/tgw-tail-probe")
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        summarize(path)


if __name__ == "__main__":
    main(sys.argv[1:])
