"""`tgw bench --gateway`: vouchers/s and ack latency through the whole gateway, per transport.

Every figure includes the real work: hardened parse, XSD and business checks, ECDSA-P256
verification at every seal, authorization, routing, and the group-committed journal (dedup +
message + outbox + trace rows, SQLite `synchronous=FULL` or PostgreSQL). The participants are a
`DevWorld` with real keys; every envelope is built and signed *before* the clock starts.

Transports:

- ``inproc``       concurrent submitters calling `Gateway.submit` (group commit batches them);
- ``http``         an aiohttp client, N keep-alive connections, to a `TCPSite` on 127.0.0.1 in the
                   same process (client and server share the event loop and one core);
- ``http-up``      the same client against a `tgw up` subprocess (server on its own process, so
                   client and server can use both cores);
- ``mqtt``         `GatewayClient.mqtt` → Mosquitto (127.0.0.1:1883) → `MqttAdapter` → gateway,
                   when those modules exist and the broker answers;
- ``inproc-monitor`` like ``inproc`` with dynamic monitoring on (the default rule catalogue):
                   beside ``inproc`` (monitoring off) in one run, the cost of the rules
- ``inproc-pool``  like ``inproc`` with `GatewayConfig(admission_workers=N)`: the pure pipeline
                   (parse, validate, verify, authorize, route) runs in worker processes; the
                   journal stays in the loop.

Latency is per envelope, measured on the client side from send to result. Nothing here
asserts on time: it prints and writes figures (bench/results/gateway.json).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import datetime as dt
import importlib.util
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `tgw --help` loads no gateway
    from gateway.service import Gateway
    from runner.world import DevWorld
    from storage.db import Database

__all__ = ["ALL_TRANSPORTS", "DEFAULT_TRANSPORTS", "build_envelopes", "print_gateway_table", "run_gateway"]

from bench.floor import REPO_ROOT
from bench.proc_counts import pinned

DEFAULT_GATEWAY_OUT = REPO_ROOT / "bench" / "results" / "gateway.json"
ALL_TRANSPORTS = ("inproc", "inproc-monitor", "inproc-pool", "http", "http-up", "http-up-pool", "mqtt")
DEFAULT_TRANSPORTS = ("inproc", "http", "http-up", "mqtt")
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


# --------------------------------------------------------------------------- inputs


def build_envelopes(world: DevWorld, *, vouchers: int, batch: int, tag: str) -> list[bytes]:
    """Signed MOF envelopes of `batch` payment vouchers each (5201, treasury → banks a and b)."""
    from messages.factory import payment_voucher

    day = dt.datetime.now(SHANGHAI).date()
    banks = world.banks
    bodies = []
    for i in range(vouchers):
        bank = banks[i % len(banks)]
        v = payment_voucher(voucher_no=f"{tag}{i:07d}", vou_date=day, pay_bank_code=bank.bank_codes[0],
                            amount_fen=100_000 + i, adm_div_code=world.adm_div_code)
        bodies.append(v)
    sender = world.treasury.id
    return [world.envelope(bodies[i:i + batch], sender=sender) for i in range(0, len(bodies), batch)]


# --------------------------------------------------------------------------- results


@dataclass
class _Run:
    latencies_s: list[float]
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    first_error: str | None = None

    def count(self, statuses: Sequence[tuple[str, str | None]]) -> None:
        for status, code in statuses:
            if status == "accepted":
                self.accepted += 1
            elif status == "duplicate":
                self.duplicate += 1
            else:
                self.rejected += 1
                self.first_error = self.first_error or code


def _figures(run: _Run, wall_s: float, *, vouchers: int, envelopes: int, batch: int, concurrency: int,
             note: str) -> dict[str, Any]:
    lat = sorted(run.latencies_s)

    def pct(p: float) -> float:
        if not lat:
            return 0.0
        return lat[min(len(lat) - 1, max(0, round(p / 100 * len(lat)) - 1))] * 1000

    return {
        "vouchers": vouchers, "envelopes": envelopes, "batch": batch, "concurrency": concurrency,
        "accepted": run.accepted, "duplicate": run.duplicate, "rejected": run.rejected,
        "first_error": run.first_error,
        "wall_s": round(wall_s, 3),
        "vouchers_per_s": round(run.accepted / wall_s, 1) if wall_s > 0 else 0.0,
        "envelopes_per_s": round(envelopes / wall_s, 1) if wall_s > 0 else 0.0,
        "ack_ms_p50": round(pct(50), 3), "ack_ms_p99": round(pct(99), 3),
        "ack_ms_mean": round(statistics.fmean(lat) * 1000, 3) if lat else 0.0,
        "note": note,
    }


async def _drive(envelopes: Sequence[bytes], concurrency: int,
                 send: Callable[[bytes], Awaitable[list[tuple[str, str | None]]]]) -> tuple[_Run, float]:
    """`concurrency` workers take envelopes from a shared list; per-envelope latency, total wall time.

    The first envelope is a warm-up (schemas, key objects, connections), sent before the clock
    starts and left out of the figures.
    """
    await send(envelopes[0])
    run = _Run([])
    it = iter(envelopes[1:])

    async def worker() -> None:
        for env in it:
            t0 = time.perf_counter()
            statuses = await send(env)
            run.latencies_s.append(time.perf_counter() - t0)
            run.count(statuses)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return run, time.perf_counter() - started


# --------------------------------------------------------------------------- gateway set-up


class _WallClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(SHANGHAI)


async def _open_db(db_url: str, tmp: Path, tag: str) -> Database:
    from storage.db import open_database

    if db_url.startswith(("postgresql://", "postgres://")):
        return await open_database(db_url, schema=f"bench_{tag}_{uuid.uuid4().hex[:8]}")
    if db_url == "sqlite":
        return await open_database(f"sqlite:///{tmp / f'{tag}.db'}")
    return await open_database(db_url)


@contextlib.asynccontextmanager
async def _gateway(world: DevWorld, db_url: str, tmp: Path, tag: str, workers: int = 0,
                   monitor: bool = False) -> AsyncIterator[Gateway]:
    from gateway.monitoring.monitor import build_monitor
    from gateway.service import Gateway, GatewayConfig

    db = await _open_db(db_url, tmp, tag)
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=_WallClock(),
                 config=GatewayConfig(admission_workers=workers),
                 monitor=build_monitor(db) if monitor else None)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()
        await db.close()


def _statuses(results: Sequence[Any]) -> list[tuple[str, str | None]]:
    return [(r.status, r.code) for r in results]


# --------------------------------------------------------------------------- transports


async def _bench_inproc(world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path, concurrency: int,
                        workers: int = 0, tag: str = "inproc", monitor: bool = False) -> tuple[_Run, float]:
    async with _gateway(world, db_url, tmp, tag, workers, monitor) as gw:
        sender = gw.registry.get(world.treasury.id)
        assert sender is not None, "the world's treasury is in its own registry"
        if workers:
            # Workers spawned, schemas and keys loaded before the clock starts (pure: nothing journaled).
            await asyncio.gather(*(gw._admission.admit(envelopes[0], sender, at=dt.datetime.now(dt.UTC))
                                   for _ in range(workers * 2)))

        async def send(env: bytes) -> list[tuple[str, str | None]]:
            return _statuses(await gw.submit(env, sender))

        return await _drive(envelopes, concurrency, send)


async def _http_client(base_url: str, token: str, envelopes: Sequence[bytes],
                       concurrency: int) -> tuple[_Run, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def send(env: bytes) -> list[tuple[str, str | None]]:
            async with session.post(f"{base_url}/v1/messages", data=env) as resp:
                body = await resp.json(content_type=None)
            if "results" not in body:
                return [("rejected", body.get("code", f"http-{resp.status}"))]
            return [(r["status"], r.get("code")) for r in body["results"]]

        # Open the keep-alive connections before the clock starts.
        await asyncio.gather(*(session.get(f"{base_url}/healthz") for _ in range(concurrency)))
        return await _drive(envelopes, concurrency, send)


async def _bench_http(world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path,
                      concurrency: int) -> tuple[_Run, float]:
    from aiohttp import web

    from gateway.http_app import make_app

    async with _gateway(world, db_url, tmp, f"http{uuid.uuid4().hex[:6]}") as gw:
        runner = web.AppRunner(make_app(gw), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            return await _http_client(f"http://127.0.0.1:{port}", world.treasury.token, envelopes, concurrency)
        finally:
            await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


UP_START_TIMEOUT_S = 60.0  # bound on a `tgw up` subprocess getting ready (a cold interpreter, a loaded machine)
UP_STOP_TIMEOUT_S = 30.0  # bound on its drain after SIGTERM, then it is killed


@contextlib.asynccontextmanager
async def tgw_up_subprocess(world: DevWorld, tmp: Path, *, db: str = "sqlite", workers: int = 0,
                            source: Path | None = None, tag: str = "up",
                            db_schema: str | None = None, wrapper: Sequence[str] = (),
                            start_timeout_s: float = UP_START_TIMEOUT_S,
                            cpus: frozenset[int] | None = None) -> AsyncIterator[tuple[str, int, int]]:
    """A real `tgw up` subprocess (HTTP on a free port, logs at WARNING to tmp/<tag>-*.log,
    `--workers` admission processes); yields (host, port, pid) once it is ready and stops it
    (SIGTERM: it drains) on exit. `db` "sqlite" is a fresh file in `tmp`; a PostgreSQL URL gets a
    schema of its own (or `db_schema`: several processes on one journal). With `source`, another checkout's gateway code (e.g. a `git worktree` of
    HEAD) runs instead of this one's, for before/after figures from one run. `wrapper`: a command the
    interpreter runs under, in the same process (`valgrind --tool=callgrind ...`: bench.instructions).
    `cpus`: the CPUs the server (and the admission workers it starts) may run on."""
    port = _free_port()
    run_id = uuid.uuid4().hex[:6]
    ready = tmp / f"{tag}-{run_id}.ready"
    db = db if db != "sqlite" else f"sqlite:///{tmp / f'{tag}-{run_id}.db'}"
    cmd = [*wrapper, sys.executable, "-c", "import sys; from tgw import main; sys.exit(main())", "up",
           "--participants", str(world.registry_path), "--certs", str(world.keys_dir), "--db", db,
           "--http", f"127.0.0.1:{port}", "--ready-file", str(ready), "--log-level", "WARNING", "--workers", str(workers)]
    if db.startswith("postgres"):
        cmd += ["--db-schema", db_schema or f"bench_up_{uuid.uuid4().hex[:8]}"]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    log_path = tmp / f"{tag}-{run_id}.log"
    with log_path.open("wb") as log, pinned(cpus):  # the child inherits this thread's CPU set
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                                    cwd=str(source) if source else None)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not ready.exists():
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tgw up did not start: {log_path.read_text()[-800:]}")
            await asyncio.sleep(0.05)
        yield "127.0.0.1", port, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()  # SIGTERM: the gateway drains, then exits
            try:
                await asyncio.wait_for(proc.wait(), timeout=UP_STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _bench_http_up(world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path,
                         concurrency: int, workers: int = 0) -> tuple[_Run, float]:
    """A real `tgw up` subprocess (logs at WARNING; `--workers` admission processes), the client here."""
    async with tgw_up_subprocess(world, tmp, db=db_url, workers=workers, tag="http-up") as (host, port, _pid):
        return await _http_client(f"http://{host}:{port}", world.treasury.token, envelopes, concurrency)


def mqtt_unavailable_reason(host: str = MQTT_HOST, port: int = MQTT_PORT) -> str | None:
    """Why the MQTT path cannot be measured here, or None if it can."""
    for module in ("gateway.mqtt_adapter", "client.mqtt"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not in this checkout yet"
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError as exc:
        return f"no MQTT broker answers on {host}:{port} ({exc.strerror or exc})"
    return None


async def _bench_mqtt(world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path,
                      concurrency: int) -> tuple[_Run, float]:
    """Anonymous on the system broker; a unique client id and shared group keep runs apart."""
    import logging

    from client import GatewayClient
    from gateway.mqtt_adapter import MqttAdapter

    run_id = uuid.uuid4().hex[:8]
    mqtt_log = logging.getLogger("mqtt")  # aiomqtt warns "There are N pending publish calls." under load
    saved_level = mqtt_log.level
    mqtt_log.setLevel(logging.ERROR)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(mqtt_log.setLevel, saved_level)
        gw = await stack.enter_async_context(_gateway(world, db_url, tmp, f"mqtt{run_id}"))
        adapter = MqttAdapter(gw, host=MQTT_HOST, port=MQTT_PORT, username="", password="",
                              client_id=f"tgw-bench-{run_id}", shared_group=f"bench{run_id}", session_expiry_s=0)
        await adapter.start()
        stack.push_async_callback(adapter.stop)
        await adapter.wait_connected(10)
        client = await stack.enter_async_context(GatewayClient.mqtt(
            MQTT_HOST, MQTT_PORT, username="", password="", participant_id=world.treasury.id))

        async def send(env: bytes) -> list[tuple[str, str | None]]:
            return [(r.status, r.code) for r in await client.send(env)]

        return await _drive(envelopes, concurrency, send)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- floor


def floor_summary(floor: dict[str, Any]) -> dict[str, Any]:
    """vouchers/s on one core from the floor: the whole envelope→verified step (batch of one)."""
    out: dict[str, Any] = {}
    for vtcode, fig in floor.get("vouchers", {}).items():
        steps = fig.get("steps", {})
        full = steps.get("envelope_to_verified") or steps.get("check_verify_ecdsa")
        if full:
            out[vtcode] = {"us_per_voucher": full["us_per_op"], "vouchers_per_s_one_core": full["ops_per_s"],
                           "seals": fig.get("seals"), "label": full["label"]}
            if "cpu_us_per_op" in full:  # CPU time: what a server's CPU per envelope compares with
                out[vtcode]["cpu_us_per_voucher"] = full["cpu_us_per_op"]
    return out


def measure_floor(seconds: float = 1.0) -> tuple[dict[str, Any], str]:
    """The floor measured now, in this process, on this machine: a gateway figure divided by a floor
    from another machine (the committed bench/results/floor.json) would mean nothing."""
    import bench.floor

    return bench.floor.run_floor(seconds), f"measured in this run ({seconds:g} s budget)"


# --------------------------------------------------------------------------- profile


def profile_inproc(world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path, concurrency: int,
                   top: int = 15) -> str:
    """cProfile one in-process run (main thread only: the SQLite COMMIT thread is not in it)."""
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(_bench_inproc(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency, tag="profile"))
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs()
    out.write(f"# cProfile of one in-process run: {len(envelopes)} envelopes, concurrency {concurrency}\n")
    out.write(f"# top {top} by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write(f"# top {top} by own (total) time\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def pipeline_us_per_voucher(world: DevWorld, envelopes: Sequence[bytes]) -> float:
    """The pure pipeline alone, sequential, in this process: µs per voucher (no journal, no loop)."""
    from gateway.pipeline import admit_envelope

    registry, certs = world.registry(), world.certs()
    sender = registry.get(world.treasury.id)
    assert sender is not None, "the world's treasury is in its own registry"
    admit_envelope(envelopes[0], sender, registry, certs, at=dt.datetime.now(dt.UTC))
    count = 0
    started = time.perf_counter()
    for env in envelopes:
        count += len(admit_envelope(env, sender, registry, certs, at=dt.datetime.now(dt.UTC)))
    return (time.perf_counter() - started) / max(1, count) * 1e6


# --------------------------------------------------------------------------- the run


def run_gateway(*, vouchers: int = 5000, batch: int = 10, transports: Sequence[str] = DEFAULT_TRANSPORTS,
                db_url: str = "sqlite", concurrency: int = 16, profile: bool = True, pool_workers: int = 2,
                floor_seconds: float = 1.0, repeat: int = 1,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure each transport on a fresh database; returns the figures (also the profile text).

    With `repeat` > 1 the transports run in turn that many times (interleaved, so a noisy
    neighbour hits them alike) and each reports its median run, with every run's vouchers/s.
    """
    import structlog

    from gateway.logs import configure_logging

    say = progress or (lambda _m: None)
    saved_logging = structlog.get_config()
    configure_logging(json=True, level="WARNING")  # a log line per voucher is not what we measure
    try:
        return _run_gateway(vouchers=vouchers, batch=batch, transports=transports, db_url=db_url,
                            concurrency=concurrency, profile=profile, pool_workers=pool_workers,
                            floor_seconds=floor_seconds, repeat=repeat, say=say)
    finally:
        structlog.configure(**saved_logging)


def _run_gateway(*, vouchers: int, batch: int, transports: Sequence[str], db_url: str, concurrency: int,
                 profile: bool, pool_workers: int, floor_seconds: float,
                 repeat: int, say: Callable[[str], None]) -> dict[str, Any]:
    from bench.floor import machine
    from runner.world import DevWorld

    say(f"measuring the floor ({floor_seconds:g} s budget)…")
    floor, floor_source = measure_floor(floor_seconds)
    result: dict[str, Any] = {
        "machine": machine(), "vouchers": vouchers, "batch": batch, "concurrency": concurrency,
        "db": db_url.split("@")[-1], "voucher_type": "5201 payment vouchers from messages.factory, treasury seals, ECDSA-P256",
        "floor": {"source": floor_source, "per_vtcode": floor_summary(floor)},
        "transports": {}, "skipped": {},
    }
    with tempfile.TemporaryDirectory(prefix="tgw-gwbench-") as tmpdir:
        tmp = Path(tmpdir)
        say("building a DevWorld (CA + participants, ECDSA keys)…")
        world = DevWorld.create(tmp / "world")
        runs: dict[str, list[dict[str, Any]]] = {}
        for r in range(max(1, repeat)):
            for name in transports:
                if name in result["skipped"]:
                    continue
                if name == "mqtt":
                    reason = mqtt_unavailable_reason()
                    if reason:
                        result["skipped"][name] = reason
                        say(f"mqtt: skipped: {reason}")
                        continue
                tag = f"{_CODES[name]}{r}"  # voucher numbers and database file unique per path and run
                say(f"{name} (run {r + 1}/{repeat}): signing {vouchers} vouchers in envelopes of {batch} "
                    "(outside the timing)…")
                envelopes = build_envelopes(world, vouchers=vouchers + batch, batch=batch, tag=f"B{tag}")
                say(f"{name} (run {r + 1}/{repeat}): measuring…")
                try:
                    run, wall = _run_transport(name, world, envelopes, db_url=db_url, tmp=tmp,
                                               concurrency=concurrency, pool_workers=pool_workers, tag=tag)
                except Exception as exc:  # noqa: BLE001 - one transport failing must not hide the others
                    result["skipped"][name] = f"failed: {type(exc).__name__}: {exc}"
                    say(f"{name}: failed: {exc}")
                    continue
                runs.setdefault(name, []).append(
                    _figures(run, wall, vouchers=vouchers, envelopes=len(envelopes) - 1, batch=batch,
                             concurrency=concurrency, note=_NOTES[name]))
        for name, figs in runs.items():
            if name in result["skipped"]:
                continue
            ordered = sorted(figs, key=lambda f: f["vouchers_per_s"])
            median = dict(ordered[(len(ordered) - 1) // 2])
            median["runs_vouchers_per_s"] = [f["vouchers_per_s"] for f in figs]
            result["transports"][name] = median
        if profile and "inproc" in transports:
            say("profiling one in-process run (cProfile)…")
            n = min(vouchers, 2000)
            envelopes = build_envelopes(world, vouchers=n + batch, batch=batch, tag="Bprof")
            result["profile"] = profile_inproc(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency)
            pipeline_us = pipeline_us_per_voucher(world, envelopes)
            inproc_fig = result["transports"].get("inproc")
            total_us = 1e6 / inproc_fig["vouchers_per_s"] if inproc_fig and inproc_fig["vouchers_per_s"] else None
            result["breakdown"] = {
                "pipeline_us_per_voucher": round(pipeline_us, 1),
                "inproc_us_per_voucher": round(total_us, 1) if total_us else None,
                "rest_us_per_voucher": round(total_us - pipeline_us, 1) if total_us else None,
                "meaning": "pipeline: admit_envelope alone (parse, XSD, business, verify, authorize, route), "
                           "sequential, this process; rest: journal (SQL + COMMIT), service, asyncio, metrics",
            }
    return result


_CODES = {"inproc": "I", "inproc-monitor": "N", "inproc-pool": "P", "http": "H", "http-up": "U", "http-up-pool": "W",
          "mqtt": "M"}
_NOTES = {
    "inproc": "Gateway.submit from concurrent coroutines; one process, one core for all of it; monitoring off",
    "inproc-monitor": "as inproc, with dynamic monitoring on (the default rule catalogue, docs/monitoring.md)",
    "inproc-pool": "admission_workers=N: pure pipeline in worker processes, journal in the event loop",
    "http": "aiohttp client and TCPSite in the same process and event loop (share one core)",
    "http-up": "aiohttp client here, `tgw up` in a subprocess (two processes, two cores)",
    "http-up-pool": "aiohttp client here, `tgw up --workers N` in a subprocess",
    "mqtt": "GatewayClient.mqtt → Mosquitto 127.0.0.1:1883 → MqttAdapter, all but the broker in one process",
}


def _run_transport(name: str, world: DevWorld, envelopes: Sequence[bytes], *, db_url: str, tmp: Path,
                   concurrency: int, pool_workers: int, tag: str | None = None) -> tuple[_Run, float]:
    if name == "inproc":
        return asyncio.run(_bench_inproc(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency,
                                         tag=tag or "inproc"))
    if name == "inproc-monitor":
        return asyncio.run(_bench_inproc(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency,
                                         tag=tag or "inprocmon", monitor=True))
    if name == "inproc-pool":
        return asyncio.run(_bench_inproc(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency,
                                         workers=pool_workers, tag=tag or "inprocpool"))
    if name == "http":
        return asyncio.run(_bench_http(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency))
    if name == "http-up":
        return asyncio.run(_bench_http_up(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency))
    if name == "http-up-pool":
        return asyncio.run(_bench_http_up(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency,
                                          workers=pool_workers))
    if name == "mqtt":
        return asyncio.run(_bench_mqtt(world, envelopes, db_url=db_url, tmp=tmp, concurrency=concurrency))
    raise ValueError(f"unknown transport {name!r}; choose from {', '.join(ALL_TRANSPORTS)}")


# --------------------------------------------------------------------------- output


def print_gateway_table(result: dict[str, Any], out: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=140)
    m = result["machine"]
    table = Table(title=(f"Gateway throughput: {result['vouchers']} vouchers per path, {result['batch']} per "
                         f"envelope, {result['concurrency']} concurrent senders, db {result['db']}"),
                  caption=(f"{result['voucher_type']}; verify+validate+journal included. Python {m['python']}, "
                           f"{m['cpu_count']} CPU(s) {m['cpu']}"))
    for col, just in (("path", "left"), ("vouchers/s", "right"), ("envelopes/s", "right"),
                      ("ack p50 ms", "right"), ("ack p99 ms", "right"), ("accepted", "right"),
                      ("rejected", "right"), ("what it is", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for vtcode, f in result["floor"]["per_vtcode"].items():
        table.add_row(f"floor {vtcode}", f"{f['vouchers_per_s_one_core']:,}", "", "", "", "", "",
                      f"{f['label']}, {f['us_per_voucher']} µs/voucher, one core, no IO "
                      f"({result['floor']['source']})")
    for name, f in result["transports"].items():
        table.add_row(name, f"{f['vouchers_per_s']:,.0f}", f"{f['envelopes_per_s']:,.0f}",
                      f"{f['ack_ms_p50']:.2f}", f"{f['ack_ms_p99']:.2f}",
                      str(f["accepted"]) + (f" (+{f['duplicate']} dup)" if f["duplicate"] else ""),
                      str(f["rejected"]) + (f" ({f['first_error']})" if f["first_error"] else ""), f["note"])
    for name, why in result["skipped"].items():
        table.add_row(name, "-", "-", "-", "-", "-", "-", f"skipped: {why}")
    console.print(table)
    b = result.get("breakdown")
    if b and b.get("inproc_us_per_voucher"):
        console.print(f"where the in-process time goes: {b['inproc_us_per_voucher']} µs/voucher = pure pipeline "
                      f"{b['pipeline_us_per_voucher']} µs + journal/service/loop {b['rest_us_per_voucher']} µs")


def write_results(result: dict[str, Any], out: Path, profile_out: Path | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in result.items() if k != "profile"}
    if profile_out is not None and "profile" in result:
        profile_out.parent.mkdir(parents=True, exist_ok=True)
        profile_out.write_text(result["profile"], encoding="utf-8")
        data["profile_file"] = os.path.relpath(profile_out, out.parent)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
