"""`python -m bench.days`: does a business day cost the same on day 60 as on day 2?

`bench.simbench` measures growth with the vouchers of one day; this one measures growth with the
days already run. It runs the demo world (`runner.demo.build_world`, the loop of `simulate`) with
a fixed number of vouchers a day for many business days (by default 62 from Monday 2026-03-16:
across the end of March, a quarter end, and of April and May, so the monthly duties and statements
run) and records, per simulated calendar date:

* `cpu_s`: process CPU (time.process_time) of the date's events;
* `sql`: SQL statements run (a trace callback on every SQLite connection of the world);
* `rss_mb` / `peak_rss_mb`: resident memory after the date, and the process's peak so far;
* `snapshot_kb`: the size of each simulator core's snapshot at the end of the date (taken outside
  the timed window).

Two dates (an early and a late one, `--profile-days`) run under cProfile: their CPU is marked
(distorted by the profiler) and their call counts are compared function by function, so a
function called more often on day 60 than on day 2 for the same vouchers shows at the top.

At the end the run's own figures: the journal digest and every invariant of `runner.demo.check_run`
(and the reconciliation), which a change meant to keep the business output must keep.
Writes bench/results/days.json and days.md. A measurement: nothing asserts on a time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import datetime as dt
import json
import pstats
import re
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.floor import REPO_ROOT, machine

__all__ = ["run_days"]

OUT_JSON = REPO_ROOT / "bench" / "results" / "days.json"
OUT_MD = REPO_ROOT / "bench" / "results" / "days.md"
START = dt.date(2026, 3, 16)  # a Monday, as bench.simbench
PROFILE_TOP = 30


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * resource.getpagesize() / 2**20, 1)


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class SqlCounter:
    """Counts the statements of every connection of the world's SQLite databases, by database and
    by statement (its first 70 characters)."""

    def __init__(self) -> None:
        self.by_db: collections.Counter[str] = collections.Counter()
        self.by_sql: collections.Counter[str] = collections.Counter()

    def attach(self, name: str, db: Any) -> None:
        def trace(sql: str) -> None:
            self.by_db[name] += 1
            self.by_sql[_shape(sql)] += 1

        for conn in {id(c): c for c in (db._writer, db._reader)}.values():
            conn.set_trace_callback(trace)

    def take(self) -> tuple[dict[str, int], collections.Counter[str]]:
        by_db, by_sql = dict(self.by_db), self.by_sql.copy()
        self.by_db.clear()
        self.by_sql.clear()
        return by_db, by_sql


def _shape(sql: str) -> str:
    """A statement without its literals (the trace gives it expanded), its first 90 characters."""
    sql = re.sub(r"\b\d+\b", "?", re.sub(r"[xX]?'[^']*'", "?", " ".join(sql.split())))
    return sql[:90]


def _snapshot_kb(w: Any) -> dict[str, float]:
    cores = {"treasury": w.tcore, "pboc": w.pcore, **{f"bank-{c.bank_code}": c for c in w.bcores.values()}}
    return {name: round(len(core.snapshot()) / 1024, 1) for name, core in cores.items()}


def _snapshot_fields(w: Any, top: int = 6) -> dict[str, list[tuple[str, float]]]:
    """Each core's largest snapshot fields (a bank's duties one level down), KB of JSON: what grows."""
    out: dict[str, list[tuple[str, float]]] = {}
    cores = {"treasury": w.tcore, "pboc": w.pcore, **{f"bank-{c.bank_code}": c for c in w.bcores.values()}}
    for name, core in cores.items():
        sizes: dict[str, int] = {}
        for k, v in json.loads(core.snapshot()).items():
            for k2, v2 in (v.items() if k == "duties" and isinstance(v, dict) else [("", v)]):
                sizes[f"{k}.{k2}" if k2 else k] = len(json.dumps(v2, ensure_ascii=False))
        out[name] = [(k, round(n / 1024, 1)) for k, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]]
    return out


def _calls(stats: pstats.Stats) -> dict[str, int]:
    out: dict[str, int] = {}
    for (path, line, name), (_cc, nc, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        root = str(REPO_ROOT) + "/"
        short = path[len(root):] if path.startswith(root) else Path(path).name
        out[f"{short}:{line}({name})"] = nc
    return out


async def _run(root: Path, *, vouchers: int, days: int, start: dt.date, profile_days: Sequence[int]) -> dict[str, Any]:
    from gateway.gc_tuning import settled_heap
    from runner.demo import (
        GC_THRESHOLDS,
        _add_reconciliation,
        build_world,
        check_run,
        close_snapshot,
        observe,
    )
    from runner.heap import trim_heap
    from runner.last_day import with_final

    w = await build_world(root, seed=1, vouchers=vouchers, days=days, start=start)
    sql = SqlCounter()
    for db in w.dbs:
        sql.attach(Path(db.path).stem, db)
    rows: list[dict[str, Any]] = []
    profiles: dict[str, dict[str, int]] = {}
    sql_of: dict[str, dict[str, int]] = {}
    dates = with_final(w.run_days, w.final_day)  # no replenishment morning past the calendar (runner.last_day)
    want = {dates[i].isoformat() for i in profile_days if -len(dates) <= i < len(dates)}
    with settled_heap(GC_THRESHOLDS):
        try:
            snapshots: dict[dt.date, dict[str, Any]] = {}
            trimmed_hour = ""
            await w.engine.start()
            day: dt.date | None = None
            prof: cProfile.Profile | None = None
            cpu0 = time.process_time()
            sql.take()

            def close_day(d: dt.date) -> None:
                nonlocal prof
                cpu = time.process_time() - cpu0
                if prof is not None:
                    prof.disable()
                    profiles[d.isoformat()] = _calls(pstats.Stats(prof))
                    prof = None
                by_db, by_sql = sql.take()
                if d.isoformat() in want:
                    sql_of[d.isoformat()] = dict(by_sql)
                rows.append({"date": d.isoformat(), "weekday": d.strftime("%a"), "business": d in dates,
                             "sent": w.tcore.sent_count(d), "cpu_s": round(cpu, 3),
                             "profiled": d.isoformat() in profiles, "sql": sum(by_db.values()), "sql_by_db": by_db,
                             "rss_mb": _rss_mb(), "peak_rss_mb": _peak_mb(), "snapshot_kb": _snapshot_kb(w)})

            while (nxt := w.engine.next_event()) is not None and nxt <= w.end:
                if day is not None and nxt.date() != day:
                    close_day(day)
                    cpu0 = time.process_time()
                if nxt.date() != day:
                    day = nxt.date()
                    if day.isoformat() in want:
                        prof = cProfile.Profile()
                        prof.enable()
                await w.engine.run_until(nxt)
                if f"{nxt:%Y%m%d%H}" != trimmed_hour:
                    trim_heap()
                    trimmed_hour = f"{nxt:%Y%m%d%H}"
                if nxt in w.closes:
                    snapshots[w.closes[nxt]] = await close_snapshot(w.ledgers, w.world.pboc.id)
            await w.engine.run_until(w.end)
            if day is not None:
                close_day(day)
            fields = _snapshot_fields(w)
            ready = (await w.gateway.outbox.backlog()).get("ready", 0)
            digest = await w.gateway.journal_digest()
            report = await check_run(w.world, w.tcore, w.pcore, w.bcores, w.shells, w.ledgers, snapshots,
                                     w.run_days, w.final_day, w.clients[w.world.treasury.id], ready)
            observed = observe(w, 1, lists=False)
            _add_reconciliation(report, observed.reconciliation, w.tcore.sent_count(),
                                None if w.final_day else w.run_days[-1])
        finally:
            await w.close()
    return {"rows": rows, "fields": fields, "profiles": profiles, "sql_of": sql_of, "digest": digest,
            "invariants": {k: v["ok"] for k, v in report["invariants"].items()},
            "day_digest": _digest_of_days(report["days"])}


def _digest_of_days(day_rows: list[dict[str, Any]]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(day_rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _growth(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean of `key` over the first and the last ten business days that sent vouchers (profiled ones left out)."""
    busy = [r for r in rows if r["sent"] and not r["profiled"]]
    if len(busy) < 4:
        return {}
    n = min(10, len(busy) // 2)
    first = sum(r[key] for r in busy[:n]) / n
    last = sum(r[key] for r in busy[-n:]) / n
    return {"first": round(first, 3), "last": round(last, 3), "ratio": round(last / first, 2) if first else None}


def run_days(vouchers: int, days: int, start: dt.date, profile_days: Sequence[int]) -> dict[str, Any]:
    from gateway.logs import configure_logging

    configure_logging(json=False, level="WARNING")
    with tempfile.TemporaryDirectory(prefix="tgw-days-") as tmp:
        cpu0 = time.process_time()
        out = asyncio.run(_run(Path(tmp), vouchers=vouchers, days=days, start=start, profile_days=profile_days))
        total = time.process_time() - cpu0
    rows = out["rows"]
    result: dict[str, Any] = {
        "bench": "days", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
        "what": f"demo world, seed 1, {vouchers} vouchers a business day for {days} business days from "
                f"{start.isoformat()}, SQLite files, one process",
        "vouchers_per_day": vouchers, "days": days, "cpu_total_s": round(total, 2),
        "journal_digest": out["digest"], "day_rows_digest": out["day_digest"], "invariants": out["invariants"],
        "growth": {k: _growth(rows, k) for k in ("cpu_s", "sql")},
        "snapshot_fields_at_end": out["fields"],
        "rows": rows,
    }
    prof_days = sorted(out["profiles"])
    if len(prof_days) >= 2:
        early, late = out["profiles"][prof_days[0]], out["profiles"][prof_days[-1]]
        diffs = sorted(((late.get(f, 0) - early.get(f, 0), f) for f in {*early, *late}), reverse=True)
        result["calls"] = {"early": prof_days[0], "late": prof_days[-1],
                           "total_early": sum(early.values()), "total_late": sum(late.values()),
                           "grown": [{"function": f, "early": early.get(f, 0), "late": late.get(f, 0)}
                                     for d, f in diffs[:PROFILE_TOP] if d > 0],
                           "top_late": [{"function": f, "early": early.get(f, 0), "late": n}
                                        for f, n in sorted(late.items(), key=lambda kv: -kv[1])[:PROFILE_TOP]]}
        se, sl = out["sql_of"].get(prof_days[0], {}), out["sql_of"].get(prof_days[-1], {})
        sdiff = sorted(((sl.get(s, 0) - se.get(s, 0), s) for s in {*se, *sl}), reverse=True)
        result["sql_grown"] = [{"sql": s, "early": se.get(s, 0), "late": sl.get(s, 0)} for d, s in sdiff[:15] if d > 0]
    return result


def render_md(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [f"# Cost per day over {result['days']} business days ({result['vouchers_per_day']} vouchers a day)", "",
             f"`{command}` ({result['when']}; {m})", "", result["what"], "",
             f"journal digest `{result['journal_digest']}`, day rows digest `{result['day_rows_digest'][:16]}`, "
             f"invariants all held: {all(result['invariants'].values())}; total CPU {result['cpu_total_s']} s", ""]
    for k, g in result["growth"].items():
        if g:
            lines.append(f"- {k}: first 10 busy days {g['first']}, last 10 {g['last']} (x{g['ratio']})")
    lines += ["", "| date | day | sent | CPU s | SQL | RSS MB | peak MB | snapshots KB (treasury / pboc / banks) |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        snaps = " / ".join(f"{v:g}" for v in r["snapshot_kb"].values())
        cpu = f"{r['cpu_s']}{'*' if r['profiled'] else ''}"
        lines.append(f"| {r['date']} | {r['weekday']} | {r['sent']} | {cpu} | {r['sql']} | {r['rss_mb']} | "
                     f"{r['peak_rss_mb']} | {snaps} |")
    lines += ["", "\\* under cProfile (CPU distorted; call counts below).", "",
              "## The largest snapshot fields at the end (KB of JSON)", ""]
    lines += [f"- {core}: " + ", ".join(f"`{k}` {kb:g}" for k, kb in fields)
              for core, fields in result["snapshot_fields_at_end"].items()]
    if "calls" in result:
        c = result["calls"]
        lines += ["", f"## Calls, {c['early']} vs {c['late']} (total {c['total_early']:,} vs {c['total_late']:,})", "",
                  "| function | early | late |", "|---|---:|---:|"]
        lines += [f"| `{r['function']}` | {r['early']:,} | {r['late']:,} |" for r in c["grown"][:20]]
        lines += ["", "## SQL statements grown", "", "| statement | early | late |", "|---|---:|---:|"]
        lines += [f"| `{r['sql']}` | {r['early']} | {r['late']} |" for r in result.get("sql_grown", [])]
    return "\n".join(lines) + "\n"


def print_table(result: dict[str, Any]) -> None:
    print(f"{'date':<10} {'':3} {'sent':>5} {'cpu s':>7} {'sql':>6} {'rss MB':>7} {'peak MB':>7}  snapshots KB")
    for r in result["rows"]:
        print(f"{r['date']:<10} {r['weekday']:3} {r['sent']:>5} {r['cpu_s']:>7}{'*' if r['profiled'] else ' '}"
              f"{r['sql']:>6} {r['rss_mb']:>7} {r['peak_rss_mb']:>7}  "
              + " ".join(f"{k}={v:g}" for k, v in r["snapshot_kb"].items()))
    print("growth:", json.dumps(result["growth"]))
    print("journal digest", result["journal_digest"], "day rows", result["day_rows_digest"][:16],
          "invariants", "all held" if all(result["invariants"].values()) else result["invariants"])
    for core, fields in result["snapshot_fields_at_end"].items():
        print(f"  snapshot {core}: " + ", ".join(f"{k} {kb:g} KB" for k, kb in fields))
    for r in result.get("calls", {}).get("grown", [])[:15]:
        print(f"  calls {r['early']:>9,} -> {r['late']:>9,}  {r['function']}")
    for r in result.get("sql_grown", [])[:10]:
        print(f"  sql {r['early']:>6} -> {r['late']:>6}  {r['sql']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.days", description=__doc__.split("\n")[0])
    parser.add_argument("--vouchers", type=int, default=300, help="vouchers a business day")
    parser.add_argument("--days", type=int, default=62, help="business days the treasury sends on")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=START)
    parser.add_argument("--profile-days", default="1,-3",
                        help="indexes (into the run's business days) of the dates run under cProfile")
    parser.add_argument("--out", type=Path, default=OUT_JSON, help="the JSON (the .md beside it)")
    args = parser.parse_args(argv)
    result = run_days(args.vouchers, args.days, args.start, [int(i) for i in args.profile_days.split(",") if i])
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    cmd = "python -m bench.days " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.with_suffix(".md").write_text(render_md(result, cmd.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
