"""`tgw bench --latency`: open-loop ack latency of one-voucher envelopes against `tgw up`.

A treasury often sends one voucher per envelope, at whatever rate its day brings, whether or
not the gateway is keeping up. So this load is *open loop*: envelope i is due at
``start + i / rate`` and its latency is measured from that scheduled time to the last byte of
its answer. A slow answer cannot hold back the next send (no coordinated omission): a request
that finds every connection busy opens another one, and the time it waits for one counts.

- The gateway is a real `tgw up` subprocess (SQLite, `synchronous=FULL`, logs at WARNING) on a
  fresh database per row; `--workers N` is passed through (0: pipeline on the event loop).
- The generator is this process: envelopes are built and signed (ECDSA-P256, treasury seals)
  before any clock starts; the HTTP/1.1 requests are pre-encoded bytes written to keep-alive
  connections by a minimal asyncio protocol, so the generator's own CPU per request stays small
  (it shares the machine's cores with the gateway: its CPU per envelope is reported beside the
  server's, and so is how busy the whole machine was, other processes included). `pin` puts the
  server and its workers on one CPU set and the generator on another (`bench.proc_counts`).
- Percentiles are exact (nearest rank over every sample, the values an HdrHistogram would
  print at full precision): p50, p90, p99, p99.9, max.
- The floor (`bench.floor.run_floor`) is measured in the same run, on the same machine.

Nothing here asserts on time: it prints and writes figures (bench/results/latency.json).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `tgw --help` loads no gateway
    from runner.world import DevWorld

__all__ = ["DEFAULT_LATENCY_OUT", "percentiles", "print_latency_table", "run_latency"]

from bench.floor import REPO_ROOT
from bench.proc_counts import (
    PinSpec,
    cpus_of,
    io_counts,
    io_per_envelope,
    loop_thread_cpu_s,
    machine_busy_ticks,
    pinned,
    tree_cpu_s,
)

DEFAULT_LATENCY_OUT = REPO_ROOT / "bench" / "results" / "latency.json"

CONNECTIONS_OPEN_AT_START = 32  # keep-alive connections opened before the clock starts
CONNECTIONS_MAX = 512  # beyond this a due request waits for a free connection (its wait still counts)
WARMUP_ENVELOPES_MAX = 500  # sent at the target rate before the measured window, left out of the figures
RESPONSE_BYTES_MAX = 1 << 20  # an answer larger than this is an error, not something to buffer
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
EVENT_LOOP_ENV = "TGW_EVENT_LOOP"  # tgw.up's: the event loop a `tgw up` subprocess runs on


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds, plus max and mean (all 0.0 for no samples)."""
    lat = sorted(samples_s)
    out: dict[str, float] = {}
    for p in PERCENTILES:
        if not lat:
            out[_pkey(p)] = 0.0
            continue
        rank = max(1, -(-len(lat) * p // 100))  # ceil(n * p / 100), 1-based
        out[_pkey(p)] = round(lat[min(len(lat), int(rank)) - 1] * 1000, 3)
    out["max_ms"] = round(lat[-1] * 1000, 3) if lat else 0.0
    out["mean_ms"] = round(sum(lat) / len(lat) * 1000, 3) if lat else 0.0
    return out


def _pkey(p: float) -> str:
    return f"p{p:g}_ms".replace(".", "_")


# --------------------------------------------------------------------------- the HTTP client


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; answers by Content-Length."""

    def __init__(self, on_answer: Callable[[_Conn, int, bytes], None], on_lost: Callable[[_Conn], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._on_answer, self._on_lost = on_answer, on_lost
        self.busy_since: float | None = None
        self.tag: int = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, tag: int) -> None:
        assert self.transport is not None
        self.tag = tag
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            head_end = self._buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._buf) > RESPONSE_BYTES_MAX:
                    self._fail()
                return
            head = bytes(self._buf[:head_end]).decode("latin-1")
            lines = head.split("\r\n")
            try:
                status = int(lines[0].split(" ", 2)[1])
                length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                              if k.strip().lower() == "content-length")
            except (IndexError, ValueError, StopIteration):
                self._fail()
                return
            end = head_end + 4 + length
            if len(self._buf) < end:
                return
            body = bytes(self._buf[head_end + 4:end])
            del self._buf[:end]
            self._on_answer(self, status, body)

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(self)


@dataclass
class _Window:
    """What one measured window saw."""

    latencies_s: list[float] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    first_error: str | None = None
    connections_opened: int = 0
    waited_for_connection: int = 0
    send_late_max_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


async def _open_loop(host: str, port: int, requests: Sequence[bytes], rate: float, window: _Window) -> float:
    """Send `requests` at `rate`/s from now on; fill `window`; return the wall time of the run."""
    loop = asyncio.get_running_loop()
    idle: collections.deque[_Conn] = collections.deque()
    waiting: collections.deque[int] = collections.deque()  # due requests with no free connection
    conns: set[_Conn] = set()
    scheduled: list[float] = [0.0] * len(requests)
    outstanding = len(requests)
    done = loop.create_future()

    def finish_one() -> None:
        nonlocal outstanding
        outstanding -= 1
        if outstanding == 0 and not done.done():
            done.set_result(None)

    def dispatch(conn: _Conn, i: int) -> None:
        conn.busy_since = scheduled[i]
        conn.send(requests[i], i)

    def on_answer(conn: _Conn, status: int, body: bytes) -> None:
        now = time.perf_counter()
        i = conn.tag
        window.latencies_s.append(now - scheduled[i])
        try:
            summary = json.loads(body)["summary"]
            window.accepted += int(summary["accepted"])
            window.rejected += int(summary["rejected"])
            if status != 200 or summary["accepted"] != 1:
                window.first_error = window.first_error or body.decode("utf-8", "replace")[:200]
        except (ValueError, KeyError, TypeError):
            window.error(f"HTTP {status}: {body[:200]!r}")
        conn.tag = -1
        finish_one()
        if waiting:
            dispatch(conn, waiting.popleft())
        else:
            conn.busy_since = None
            idle.append(conn)

    def on_lost(conn: _Conn) -> None:
        conns.discard(conn)
        with contextlib.suppress(ValueError):
            idle.remove(conn)
        if conn.tag >= 0:
            window.error("connection closed before the answer")
            conn.tag = -1
            finish_one()

    async def open_conn() -> _Conn:
        _, proto = await loop.create_connection(lambda: _Conn(on_answer, on_lost), host, port)
        conns.add(proto)
        window.connections_opened += 1
        return proto

    async def open_for(i: int) -> None:
        try:
            conn = await open_conn()
        except OSError as exc:
            window.error(f"connect: {exc}")
            finish_one()
            return
        dispatch(conn, i)

    for conn in await asyncio.gather(*(open_conn() for _ in range(CONNECTIONS_OPEN_AT_START))):
        idle.append(conn)
    window.connections_opened = 0
    opening: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.01
    interval = 1.0 / rate
    for i in range(len(requests)):
        due = start + i * interval
        scheduled[i] = due
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
            now = time.perf_counter()
        window.send_late_max_s = max(window.send_late_max_s, now - due)
        if idle:
            dispatch(idle.popleft(), i)
        elif len(conns) + len(opening) < CONNECTIONS_MAX:
            task = asyncio.ensure_future(open_for(i))
            opening.add(task)
            task.add_done_callback(opening.discard)
        else:
            window.waited_for_connection += 1
            waiting.append(i)
    if outstanding:
        await done
    wall = time.perf_counter() - start
    for conn in list(conns):
        if conn.transport is not None:
            conn.transport.close()
    return wall


def _request_bytes(host: str, port: int, token: str, envelope: bytes) -> bytes:
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/xml\r\nAccept: application/json\r\nContent-Length: {len(envelope)}\r\n\r\n")
    return head.encode("ascii") + envelope


# --------------------------------------------------------------------------- the server


async def _measure_row(world: DevWorld, tmp: Path, envelopes: Sequence[bytes], *, rate: float, seconds: float,
                       workers: int, source: Path | None, pin: PinSpec | None = None) -> dict[str, Any]:
    from bench.benchmark import tgw_up_subprocess

    token = world.treasury.token
    measured = max(1, round(rate * seconds))
    warm = min(WARMUP_ENVELOPES_MAX, max(1, round(rate)))
    async with tgw_up_subprocess(world, tmp, workers=workers, source=source,
                                 cpus=pin[0] if pin else None) as (host, port, pid):
        requests = [_request_bytes(host, port, token, e) for e in envelopes[:warm + measured]]
        await _open_loop(host, port, requests[:warm], rate, _Window())
        await asyncio.sleep(0.2)  # let the warm-up's commits and any deliverer pass settle
        load_before = os.getloadavg()[0]
        server_cpu0, loop_cpu0, own_cpu0 = tree_cpu_s(pid), loop_thread_cpu_s(pid), time.process_time()
        io0, busy0 = io_counts(pid), machine_busy_ticks()
        window = _Window()
        wall = await _open_loop(host, port, requests[warm:], rate, window)
        server_cpu = tree_cpu_s(pid) - server_cpu0
        loop_cpu = loop_thread_cpu_s(pid) - loop_cpu0
        io1, busy1 = io_counts(pid), machine_busy_ticks()
        own_cpu = time.process_time() - own_cpu0
        server_cpus = cpus_of(pid)
    n = len(window.latencies_s)
    per_env = 1e6 / max(1, n)
    busy = {}
    if busy0 is not None and busy1 is not None and wall > 0:
        # every CPU's busy time over the window, in cores: this run's server and generator and everyone else's work
        cores = (busy1[0] - busy0[0]) / os.sysconf("SC_CLK_TCK") / wall
        busy = {"machine_busy_cores": round(cores, 3), "machine_cpus": os.cpu_count(),
                "others_cpu_cores": round(max(0.0, cores - (server_cpu + own_cpu) / wall), 3)}
    return {
        "rate_per_s": rate, "workers": workers, "seconds": seconds, "envelopes": measured,
        "answered": n, "accepted": window.accepted, "rejected": window.rejected, "errors": window.errors,
        "first_error": window.first_error,
        "achieved_per_s": round(n / wall, 1) if wall > 0 else 0.0,
        **percentiles(window.latencies_s),
        "server_cpu_cores": round(server_cpu / wall, 3) if wall > 0 else 0.0,
        "server_cpu_us_per_envelope": round(server_cpu * per_env, 1),
        "server_loop_thread_cpu_us_per_envelope": round(loop_cpu * per_env, 1),
        # The gateway process's own (not its admission workers'): counted, so steadier than CPU time.
        **io_per_envelope(io0, io1, n),
        "generator_cpu_cores": round(own_cpu / wall, 3) if wall > 0 else 0.0,
        "generator_cpu_us_per_envelope": round(own_cpu * per_env, 1),
        **busy,
        "server_cpus": server_cpus, "generator_cpus": cpus_of(0),
        "generator_send_late_max_ms": round(window.send_late_max_s * 1000, 3),
        "connections_opened_during_run": window.connections_opened,
        "waited_for_connection": window.waited_for_connection,
        "loadavg_1m_before": round(load_before, 2),
        "server_source": str(source) if source else "this checkout",
    }


# --------------------------------------------------------------------------- the run


def resolve_rates(rates: Sequence[float | str], floor_cpu_us: float) -> list[float]:
    """Rates in envelopes/s: a number as it is, `"0.45x"` as that share of one core's capacity at
    the floor (1e6 / the floor's CPU µs per voucher), rounded to a whole rate."""
    out = []
    for r in rates:
        if isinstance(r, str):
            out.append(float(round(float(r.removesuffix("x")) * 1e6 / floor_cpu_us)))
        else:
            out.append(float(r))
    return out


def run_latency(*, rates: Sequence[float | str], workers: Sequence[int], seconds: float = 10.0, repeat: int = 1,
                floor_seconds: float = 2.0, sources: Sequence[tuple[str, Path | None]] = (("current", None),),
                event_loops: Sequence[str] = ("auto",), pin: PinSpec | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every (source, rate, workers) row `repeat` times, interleaved; each row reports its median run
    (by p99) and every run's p99. Returns the figures with the floor and the machine. With several
    `event_loops` (`tgw up --event-loop`), this checkout's server runs once on each; a compared
    source runs on its own default. `pin` (server CPUs, generator CPUs): each `tgw up` and its
    workers run on the first set, this process's generator on the second, the floor on the first."""
    from bench.benchmark import build_envelopes, floor_summary, measure_floor
    from bench.floor import machine
    from runner.world import DevWorld

    say = progress or (lambda _m: None)
    say(f"measuring the floor ({floor_seconds:g} s budget)…")
    with pinned(pin[0] if pin else None):
        floor, floor_source = measure_floor(floor_seconds)
    result: dict[str, Any] = {
        "machine": machine(), "mode": "open loop, fixed arrival rate, one voucher per envelope, HTTP to `tgw up`",
        "db": "SQLite, a fresh file per row, synchronous=FULL (WAL)",
        "voucher_type": "5201 payment vouchers from messages.factory, treasury seals, ECDSA-P256",
        "latency_from": "the scheduled send time to the last byte of the answer (no coordinated omission)",
        "floor": {"source": floor_source, "per_vtcode": floor_summary(floor)},
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "pinned": {"server_cpus": sorted(pin[0]), "generator_cpus": sorted(pin[1])} if pin else None,
        "rows": [],
    }
    floor_cpu_us = _floor_cpu_us(result["floor"]["per_vtcode"])
    result["floor_cpu_us_per_envelope"] = floor_cpu_us
    result["rates_asked"] = [str(r) for r in rates]
    rates = resolve_rates(rates, floor_cpu_us)
    warm = min(WARMUP_ENVELOPES_MAX, max(1, round(max(rates))))
    needed = warm + max(1, round(max(rates) * seconds))
    with tempfile.TemporaryDirectory(prefix="tgw-latency-") as tmpdir:
        tmp = Path(tmpdir)
        say("building a DevWorld (CA + participants, ECDSA keys)…")
        world = DevWorld.create(tmp / "world")
        say(f"signing {needed} one-voucher envelopes (outside the timing; reused on a fresh database per row)…")
        envelopes = build_envelopes(world, vouchers=needed, batch=1, tag=f"L{uuid.uuid4().hex[:4].upper()}")
        runs: dict[tuple[str, float, int], list[dict[str, Any]]] = {}
        # Sources innermost: before and after of one (rate, workers) run back to back, so a noisy
        # neighbour on the shared cores hits both alike; which goes first switches every round,
        # since a run right after another is slower (bench/results/quiet-sitting-6.md).
        servers = _servers(sources, event_loops)
        for r in range(max(1, repeat)):
            for rate in rates:
                for w in workers:
                    for label, source, loop_choice in (servers if r % 2 == 0 else servers[::-1]):
                        say(f"{label}: {rate:g}/s, --workers {w}, {seconds:g} s (run {r + 1}/{repeat}; "
                            f"load {os.getloadavg()[0]:.2f})…")
                        try:
                            with _event_loop_env(loop_choice), pinned(pin[1] if pin else None):
                                row = asyncio.run(_measure_row(world, tmp, envelopes, rate=rate, seconds=seconds,
                                                               workers=w, source=source, pin=pin))
                        except Exception as exc:  # noqa: BLE001 - one row failing must not hide the others
                            row = {"rate_per_s": rate, "workers": w, "failed": f"{type(exc).__name__}: {exc}"}
                        row["source"] = label
                        row["event_loop"] = loop_choice
                        say(f"  p50 {row.get('p50_ms', '-')} ms, p99 {row.get('p99_ms', '-')} ms, "
                            f"max {row.get('max_ms', '-')} ms, errors {row.get('errors', '-')}")
                        runs.setdefault((label, rate, w), []).append(row)
        for _key, rows in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0] != sources[0][0])):
            ok = [x for x in rows if "failed" not in x]
            if not ok:
                result["rows"].append(rows[0])
                continue
            ordered = sorted(ok, key=lambda x: x["p99_ms"])
            median = dict(ordered[(len(ordered) - 1) // 2])
            median["runs_p99_ms"] = [x["p99_ms"] for x in ok]
            median["runs_p50_ms"] = [x["p50_ms"] for x in ok]
            median["runs_loadavg_1m_before"] = [x["loadavg_1m_before"] for x in ok]
            median["runs"] = len(ok)
            median["runs_server_cpu_us_per_envelope"] = [x["server_cpu_us_per_envelope"] for x in ok]
            median["runs_server_loop_thread_cpu_us_per_envelope"] = [
                x["server_loop_thread_cpu_us_per_envelope"] for x in ok]
            median["runs_bytes_written_per_envelope"] = [x.get("bytes_written_per_envelope") for x in ok]
            median["runs_generator_cpu_us_per_envelope"] = [x.get("generator_cpu_us_per_envelope") for x in ok]
            # Ratios to the floor's CPU time (the whole envelope, measured in this run).
            median["server_cpu_x_floor"] = round(median["server_cpu_us_per_envelope"] / floor_cpu_us, 2)
            median["rate_x_floor_capacity"] = round(median["rate_per_s"] * floor_cpu_us / 1e6, 3)
            result["rows"].append(median)
    result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return result


def _servers(sources: Sequence[tuple[str, Path | None]],
             event_loops: Sequence[str]) -> list[tuple[str, Path | None, str | None]]:
    """(label, source, event loop) of every server a row runs: this checkout on each loop asked for."""
    out: list[tuple[str, Path | None, str | None]] = []
    for label, source in sources:
        if source is not None or len(event_loops) <= 1:
            out.append((label, source, None if source is not None else event_loops[0] if event_loops else None))
            continue
        out += [(f"{label} [{loop}]", source, loop) for loop in event_loops]
    return out


@contextlib.contextmanager
def _event_loop_env(choice: str | None) -> Iterator[None]:
    """`tgw up` subprocesses started meanwhile run on `choice` (its TGW_EVENT_LOOP); None: unchanged."""
    if choice is None:
        yield
        return
    before = os.environ.get(EVENT_LOOP_ENV)
    os.environ[EVENT_LOOP_ENV] = choice
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(EVENT_LOOP_ENV, None)
        else:
            os.environ[EVENT_LOOP_ENV] = before


def _floor_cpu_us(per_vtcode: dict[str, Any]) -> float:
    """The whole-envelope floor in CPU µs (wall µs from a floor measured before CPU time was)."""
    fig = next(iter(per_vtcode.values()))
    return float(fig.get("cpu_us_per_voucher") or fig["us_per_voucher"])


def _kb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f}"


def _busy(row: dict[str, Any]) -> str:
    return "-" if "machine_busy_cores" not in row else f"{row['machine_busy_cores']:.2f}/{row['machine_cpus']}"


def print_latency_table(result: dict[str, Any], out: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=170)
    m = result["machine"]
    floor = "; ".join(f"floor {v}: {f['us_per_voucher']} µs/voucher wall, {f.get('cpu_us_per_voucher', '-')} µs CPU "
                      f"({f['vouchers_per_s_one_core']:,}/s one core)" for v, f in result["floor"]["per_vtcode"].items())
    pin = result.get("pinned")
    where = (f"; server on CPU(s) {','.join(map(str, pin['server_cpus']))}, generator on "
             f"{','.join(map(str, pin['generator_cpus']))}" if pin else "; not pinned")
    table = Table(title="Open-loop ack latency, one voucher per envelope, HTTP to `tgw up` (SQLite FULL)",
                  caption=(f"{floor}. Python {m['python']}, {m['cpu_count']} CPU(s) {m['cpu']}; load "
                           f"{result['loadavg_1m_at_start']} → {result['loadavg_1m_at_end']}{where}. CPU µs per "
                           "answered envelope; busy: every CPU of the machine, in cores (this run's and others')"))
    for col in ("server", "rate/s", "workers", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                "server µs/env", "CPU/floor", "loop µs/env", "gen µs/env", "busy", "KB written/env", "errors",
                "runs p99 ms"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for row in result["rows"]:
        if "failed" in row:
            table.add_row(row["source"], f"{row['rate_per_s']:g}", str(row["workers"]), *["-"] * 13, row["failed"])
            continue
        table.add_row(row["source"], f"{row['rate_per_s']:g}", str(row["workers"]), f"{row['achieved_per_s']:,.0f}",
                      f"{row['p50_ms']:.2f}", f"{row['p90_ms']:.2f}", f"{row['p99_ms']:.2f}", f"{row['p99_9_ms']:.2f}",
                      f"{row['max_ms']:.2f}", f"{row['server_cpu_us_per_envelope']:.0f}",
                      f"{row.get('server_cpu_x_floor', '-')}", f"{row.get('server_loop_thread_cpu_us_per_envelope', '-')}",
                      f"{row.get('generator_cpu_us_per_envelope', '-')}", _busy(row),
                      _kb(row.get("bytes_written_per_envelope")), str(row["errors"] + row["rejected"]),
                      ", ".join(f"{v:.1f}" for v in row["runs_p99_ms"]))
    console.print(table)
