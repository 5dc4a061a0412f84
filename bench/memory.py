"""Peak memory of `tgw up` under concurrent large bodies, with and without the body budget.

    .venv/bin/python bench/memory.py [--clients 16] [--body-mb 31] [--out bench/results/memory.json]

Starts `tgw up` (SQLite, pipeline on the event loop: one process holds everything) once with the
in-flight body budget effectively off and once with its default (128 MiB), sends `--clients`
concurrent bodies of `--body-mb` MB (one XML text node, as the attack did; refused by the
pipeline as too large), and reads the server's peak RSS (VmHWM of /proc/PID/status). Prints the
figures and writes them as JSON. A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TGW = str(Path(sys.executable).with_name("tgw"))
START_S_MAX = 60.0  # tgw up is ready in about a second


def _vm_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def _start(world: Any, tmp: Path, name: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / f"ready-{name}"
    proc = subprocess.Popen([TGW, "up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                             "--db", f"sqlite:///{tmp / (name + '.db')}", "--http", "127.0.0.1:0",
                             "--ready-file", str(ready), "--workers", "0", "--log-level", "WARNING", *extra],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + START_S_MAX
    while time.monotonic() < deadline and proc.poll() is None:
        if ready.exists() and ready.read_text().startswith("http"):
            return proc, ready.read_text().strip()
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"tgw up did not start: {(tmp / f'{name}.log').read_text()[-2000:]}")


async def _flood(url: str, token: str, clients: int, body: bytes) -> dict[str, int]:
    statuses: collections.Counter[str] = collections.Counter()
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, headers={"Authorization": f"Bearer {token}"}) as session:
        async def one() -> None:
            try:
                async with session.post(f"{url}/v1/messages", data=body) as resp:
                    code = (await resp.json()).get("code", "")
                    statuses[f"{resp.status} {code}"] += 1
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1

        await asyncio.gather(*(one() for _ in range(clients)))
    return dict(statuses)


def run_one(world: Any, tmp: Path, name: str, extra: list[str], clients: int, body: bytes) -> dict[str, Any]:
    proc, url = _start(world, tmp, name, extra)
    try:
        rss_idle_kib = _vm_kib(proc.pid, "VmRSS")
        started = time.monotonic()
        statuses = asyncio.run(_flood(url, world.treasury.token, clients, body))
        elapsed_s = time.monotonic() - started
        peak_kib = _vm_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(60)
    return {"flags": extra, "rss_idle_mb": round(rss_idle_kib / 1024, 1), "rss_peak_mb": round(peak_kib / 1024, 1),
            "answers": statuses, "elapsed_s": round(elapsed_s, 2)}


def main() -> int:
    from runner.world import DevWorld

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--body-mb", type=float, default=31.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = ap.parse_args()
    size = int(args.body_mb * 1_000_000)
    body = b"<a>" + b"x" * (size - 7) + b"</a>"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        world = DevWorld.create(tmp / "world")
        runs = {
            "budget_off": run_one(world, tmp, "off", ["--body-bytes-in-flight-max", str(1 << 40)], args.clients, body),
            "budget_default": run_one(world, tmp, "default", [], args.clients, body),
        }
    result = {
        "what": f"{args.clients} concurrent POST /v1/messages of {size:,} bytes to tgw up (SQLite, --workers 0); "
                "peak RSS of the server process (VmHWM)",
        "command": "python bench/memory.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "runs": runs,
    }
    for name, r in runs.items():
        print(f"{name:15} idle {r['rss_idle_mb']:7.1f} MB  peak {r['rss_peak_mb']:7.1f} MB  "
              f"{r['elapsed_s']:6.2f} s  {r['answers']}")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
