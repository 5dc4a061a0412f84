"""`python -m bench.http_layer`: the CPU the HTTP layer alone spends per one-voucher envelope.

The gateway's HTTP app (`gateway.http_app.make_app`: middlewares, authentication, body budget,
the ack) behind its own listener (`GuardedSite`, `Acceptor`), in a subprocess, with a stand-in
gateway whose `submit` answers `accepted` at once: no pipeline, no journal, no fsync. What the
server process spends per request is then the HTTP layer and the event loop, nothing else, and
CPU time (not wall time) is far less moved by a loaded machine than latency is.

The load is `bench.latency`'s open-loop generator (pre-encoded requests on keep-alive
connections) at a fixed rate. Each server runs on the event loops asked for; `--compare-src DIR`
adds another checkout's HTTP layer (on uvloop), rows interleaved. `--raw` adds the HTTP floor of
the machine: a bare asyncio Protocol that finds the end of each request and writes a fixed ack of
the same size (no parsing, no task, no objects), so what it costs per request is the event loop
and the kernel's loopback TCP, which no Python server can go below.
Nothing asserts on time; figures go to stdout and `--out` (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.latency import _open_loop, _request_bytes, _Window, percentiles
from bench.proc_counts import tree_cpu_s

__all__ = ["main", "run_http_layer"]

# The server: argv = world's registry, port, event loop ("asyncio" | "uvloop"), ready file.
_SERVER = r"""
import asyncio, sys
from pathlib import Path
from aiohttp import web
from gateway.http_app import make_app
from gateway.http_limits import GuardedSite, HttpLimits, effective_connections_max
from gateway.participants import load_registry
from gateway.service import GatewayConfig, SubmitResult

registry_path, port, loop_choice, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])


class StandIn:
    # What the HTTP layer reads of a Gateway on this route: registry, config, submit.
    def __init__(self):
        self.registry = load_registry(registry_path)
        self.config = GatewayConfig()
        self.n = 0
        self.db = None  # the dashboard routes keep it; no route this bench calls reads it

    async def submit(self, data, participant):
        self.n += 1
        return [SubmitResult(f"990100/2026/5201/H{self.n:07d}/0", "5201", f"H{self.n:07d}", "accepted",
                             message_id=f"m{self.n:024d}", recipient="bank-a")]


async def main():
    runner = web.AppRunner(make_app(StandIn()), access_log=None)
    await runner.setup()
    limits = HttpLimits()
    site = GuardedSite(runner, "127.0.0.1", port, limits=limits, connections_max=effective_connections_max(limits))
    await site.start()
    ready.write_text("ready")
    await asyncio.Event().wait()


if loop_choice == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""

# The HTTP floor: the leanest server that still speaks HTTP/1.1 keep-alive. One asyncio Protocol per
# connection finds the end of the head, reads Content-Length, waits for the body and writes a fixed
# answer (the size and headers of the gateway's one-voucher ack). No parsing beyond that, no task,
# no request object: what it costs per request is the event loop and the kernel's loopback TCP.
# argv = port, event loop, ready file.
_RAW_SERVER = r"""
import asyncio, sys
from pathlib import Path

port, loop_choice, ready = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
BODY = (b'{"results":[{"voucher":"990100/2026/5201/H0000001/0","vtcode":"5201","no":"H0000001",'
        b'"status":"accepted","code":null,"message_id":"m000000000000000000000001","recipient":"bank-a",'
        b'"issues":[]}],"summary":{"accepted":1,"duplicate":0,"rejected":0}}')
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
          b"Content-Length: " + str(len(BODY)).encode() + b"\r\nDate: Sun, 06 Dec 2026 16:00:00 GMT\r\n"
          b"Server: raw\r\n\r\n" + BODY)


class Raw(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            i = buf.find(b"Content-Length: ", 0, end)
            n = int(buf[i + 16:buf.find(b"\r\n", i, end + 2)]) if i >= 0 else 0
            if len(buf) < end + 4 + n:
                break
            buf = buf[end + 4 + n:]
            self.t.write(ANSWER)
        self.buf = buf


async def main():
    server = await asyncio.get_running_loop().create_server(Raw, "127.0.0.1", port, backlog=128)
    ready.write_text("ready")
    async with server:
        await asyncio.Event().wait()


if loop_choice == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""

READY_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _row(registry: Path, token: str, envelopes: list[bytes], *, rate: float, seconds: float, loop: str,
               source: Path | None, tmp: Path, profile: str | None = None, kind: str = "app") -> dict[str, Any]:
    port = _free_port()
    ready = tmp / f"ready-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    argv = ([_RAW_SERVER, str(port), loop, str(ready)] if kind == "raw"
            else [_SERVER, str(registry), str(port), loop, str(ready)])
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", *argv, env=env,
                                                cwd=str(source) if source else None)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the HTTP-layer server did not start")
            await asyncio.sleep(0.05)
        host = "127.0.0.1"
        n = max(1, round(rate * seconds))
        warm = min(500, n)
        requests = [_request_bytes(host, port, token, envelopes[i % len(envelopes)]) for i in range(warm + n)]
        await _open_loop(host, port, requests[:warm], rate, _Window())
        load = os.getloadavg()[0]
        spy = None
        if profile:  # py-spy, if installed: where the server's samples go (raw collapsed stacks)
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "-p", str(proc.pid), "-o", profile, "-f", "raw", "-r", "250",
                "-d", str(max(1, int(seconds))), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = tree_cpu_s(proc.pid)
        window = _Window()
        wall = await _open_loop(host, port, requests[warm:], rate, window)
        cpu = tree_cpu_s(proc.pid) - cpu0
        if spy is not None:
            await spy.wait()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
    answered = len(window.latencies_s)
    return {"rate_per_s": rate, "event_loop": loop, "answered": answered, "accepted": window.accepted,
            "errors": window.errors, "first_error": window.first_error,
            "achieved_per_s": round(answered / wall, 1) if wall > 0 else 0.0,
            "server_cpu_us_per_request": round(cpu / max(1, answered) * 1e6, 1),
            "server_cpu_cores": round(cpu / wall, 3) if wall > 0 else 0.0,
            "loadavg_1m_before": round(load, 2), **percentiles(window.latencies_s)}


def run_http_layer(*, rate: float, seconds: float, repeat: int, loops: list[str],
                   compare_src: Path | None, raw: bool = False) -> dict[str, Any]:
    from bench.benchmark import build_envelopes
    from runner.world import DevWorld

    servers: list[tuple[str, Path | None, str, str]] = [(f"current [{loop}]", None, loop, "app") for loop in loops]
    if compare_src is not None:
        servers.insert(0, (f"{compare_src.name} [uvloop]", compare_src, "uvloop", "app"))
    if raw:  # the HTTP floor: a bare protocol answering a fixed ack (see _RAW_SERVER)
        servers += [(f"raw protocol [{loop}]", None, loop, "raw") for loop in loops]
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _, _ in servers}
    with tempfile.TemporaryDirectory(prefix="tgw-http-layer-") as d:
        tmp = Path(d)
        world = DevWorld.create(tmp / "world")
        envelopes = build_envelopes(world, vouchers=50, batch=1, tag=f"H{uuid.uuid4().hex[:4].upper()}")
        for r in range(repeat):
            for label, source, loop, kind in servers:  # interleaved: a noisy neighbour hits every server alike
                print(f"{label}: {rate:g}/s, {seconds:g} s (run {r + 1}/{repeat}; load {os.getloadavg()[0]:.2f})…",
                      file=sys.stderr)
                row = asyncio.run(_row(world.registry_path, world.treasury.token, envelopes, rate=rate,
                                       seconds=seconds, loop=loop, source=source, tmp=tmp, kind=kind))
                row["server"] = label
                runs[label].append(row)
    rows = []
    for got in runs.values():
        ordered = sorted(got, key=lambda x: x["server_cpu_us_per_request"])
        median = dict(ordered[(len(ordered) - 1) // 2])
        median["runs_server_cpu_us_per_request"] = [x["server_cpu_us_per_request"] for x in got]
        median["runs_p99_ms"] = [x["p99_ms"] for x in got]
        rows.append(median)
    return {"what": "server CPU per one-voucher POST /v1/messages, HTTP layer only (stand-in gateway)",
            "rate_per_s": rate, "seconds": seconds, "repeat": repeat, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_layer", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=650.0)
    p.add_argument("--raw", action="store_true",
                   help="also a bare asyncio Protocol answering a fixed ack: the HTTP floor of this machine")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--event-loops", default="asyncio,uvloop")
    p.add_argument("--compare-src", default=None, metavar="DIR")
    p.add_argument("--out", default=None, metavar="FILE")
    args = p.parse_args(argv)
    result = run_http_layer(rate=args.rate, seconds=args.seconds, repeat=args.repeat,
                            loops=[x for x in args.event_loops.split(",") if x],
                            compare_src=Path(args.compare_src).resolve() if args.compare_src else None,
                            raw=args.raw)
    for row in result["rows"]:
        print(f"{row['server']:24} {row['achieved_per_s']:8.1f}/s  server CPU {row['server_cpu_us_per_request']:7.1f} µs/request "
              f"(runs {row['runs_server_cpu_us_per_request']})  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  "
              f"errors {row['errors']}  load {row['loadavg_1m_before']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
