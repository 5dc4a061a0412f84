"""CPU per voucher sent of the plain demo against the demo with 200 budget units and the month's
flows (issue 17: within 1.2x), each command a fresh process timed by /usr/bin/time (user + sys),
the load average beside each run. `--order` alternates them (default plain, units, units, plain:
a load that drifts during the sitting weighs on both alike).

    python -m bench.demo_flows --out /tmp/demo-flows [--days 22] [--order plain,units,units,plain]

Writes `<out>/<kind>.<n>.{json,time,load}` and prints the section that
`bench/results/demo-flows.json` keeps (`after_fix`): every run, the ratio per pair and overall.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

COMMANDS = {"plain": [], "units": ["--units", "200"]}
SEED, START = "1", "2026-02-13"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(out: Path, kind: str, n: int, days: int) -> dict[str, Any]:
    tag = f"{kind}.{n}"
    args = ["demo", *COMMANDS[kind], "--days", str(days), "--format", "json", "--quiet", "--seed", SEED,
            "--start", START]
    before = _load()
    with open(out / f"{tag}.json", "wb") as stdout:
        proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %e", "-o", str(out / f"{tag}.time"), sys.executable,
                               "-m", "tgw", *args], stdout=stdout, stderr=subprocess.DEVNULL, check=False)
    after = _load()
    (out / f"{tag}.load").write_text(f"{before}\n{after}\n")
    user, system, wall = (float(x) for x in (out / f"{tag}.time").read_text().split()[-3:])
    r = json.loads((out / f"{tag}.json").read_text())
    sent = sum(d["vouchers_sent"] for d in r["days"])
    run: dict[str, Any] = {
        "command": "tgw " + " ".join(a for a in args if a not in ("--seed", SEED, "--start", START)),
        "order": n, "exit": proc.returncode, "load_average_before": before, "load_average_after": after,
        "vouchers_sent": sent, "business_days": len(r["days"]) - 1, "wall_s": wall, "cpu_user_s": user,
        "cpu_sys_s": system, "cpu_s": round(user + system, 2),
        "cpu_us_per_voucher": round((user + system) / sent * 1e6), "user_us_per_voucher": round(user / sent * 1e6),
        "sys_us_per_voucher": round(system / sent * 1e6), "invariants_held": r["ok"],
        "failed_invariants": sorted(k for k, v in r["invariants"].items() if not v["ok"]),
        "reconciliation_clean": r["reconciliation"]["clean"],
        "scorecard_flagged": any(c["flagged"] for c in r.get("scorecard") or []),
        "journal_digest": r["run"]["journal_digest"]}
    if kind == "units":
        feed = r["account_feed"]
        run |= {"budget_refused": r["budget"]["refused"],
                "flows": {k: v for k, v in r["flows"].items() if k != "planned"},
                "account_feed": {k: feed[k] for k in ("feeds_due", "feeds_checked", "movements",
                                                       "payments_to_feed_accounts", "breaks")},
                "account_feed_matched": r["invariants"]["account_feed_matched"]["ok"]}
    return run


def section(runs: list[dict[str, Any]]) -> dict[str, Any]:
    plain = [r for r in runs if "--units" not in r["command"]]
    units = [r for r in runs if "--units" in r["command"]]

    def per_voucher(rs: list[dict[str, Any]], key: str) -> float:
        total: float = sum(float(r[key]) for r in rs)
        sent: int = sum(int(r["vouchers_sent"]) for r in rs)
        return total / sent

    return {"when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "runs": runs,
            "cpu_per_voucher_ratio_per_pair": [round(u["cpu_us_per_voucher"] / p["cpu_us_per_voucher"], 3)
                                               for p, u in zip(plain, units, strict=False)],
            "cpu_per_voucher_ratio": round(per_voucher(units, "cpu_s") / per_voucher(plain, "cpu_s"), 3),
            "user_cpu_per_voucher_ratio": round(per_voucher(units, "cpu_user_s") / per_voucher(plain, "cpu_user_s"), 3),
            "sys_cpu_per_voucher_ratio": round(per_voucher(units, "cpu_sys_s") / per_voucher(plain, "cpu_sys_s"), 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--days", type=int, default=22)
    p.add_argument("--order", default="plain,units,units,plain")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [run_one(args.out, kind, n, args.days) for n, kind in enumerate(args.order.split(","), start=1)]
    result = section(runs)
    (args.out / "section.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
