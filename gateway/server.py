"""Assembling and running a gateway: config → database, registry, certificates, clock,
transports; SIGTERM drains in-flight work before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import structlog
import yaml
from aiohttp import web

from ledger.db import open_database
from messages.errors import InputError
from messages.signing import CertificateStore, KeySigner

from .calendar import BusinessCalendar
from .clock import TZ, BusinessClock, ClockConfig
from .http_app import make_app
from .participants import load_registry
from .service import Gateway, GatewayConfig

__all__ = ["RunningServer", "ServerConfig", "serve", "start_server"]

log = structlog.get_logger("tgw.server")


@dataclass(frozen=True)
class ServerConfig:
    participants: str
    certs: str
    db: str = "sqlite:///tgw.db"
    db_schema: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int | None = 8470  # None: no HTTP listener
    mqtt_url: str | None = None  # mqtt://user:password@host:port
    mqtt_shared_group: str | None = "tgw"
    clock_mode: str = "live"  # live | simulated
    clock_start: str | None = None  # ISO time the simulated clock starts at
    clock_config: dict[str, Any] = field(default_factory=dict)
    calendar_overrides: str | None = None
    ack_key: str | None = None
    ack_cert: str | None = None
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    admission_workers: int | None = None  # processes for the pipeline; None: GatewayConfig's default

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise InputError("io-unreadable", f"config {path}: {exc.strerror}") from None
        base = path.parent

        def rel(value: str | None) -> str | None:
            if value is None or "://" in value or os.path.isabs(value):
                return value
            return str((base / value).resolve())

        http = raw.get("http") or {}
        mqtt = raw.get("mqtt") or {}
        clock = raw.get("clock") or {}
        db = raw.get("db", "sqlite:///tgw.db")
        if db.startswith("sqlite:///") and not os.path.isabs(db[10:]) and db[10:] != ":memory:":
            db = "sqlite:///" + str((base / db[10:]).resolve())
        cfg = cls(
            participants=rel(raw["participants"]) or "", certs=rel(raw["certs"]) or "", db=db,
            db_schema=raw.get("db_schema"), http_host=http.get("host", "127.0.0.1"),
            http_port=http.get("port", 8470), mqtt_url=mqtt.get("url"),
            mqtt_shared_group=mqtt.get("shared_group", "tgw"), clock_mode=clock.get("mode", "live"),
            clock_start=clock.get("start"), clock_config=clock.get("config") or {},
            calendar_overrides=rel(clock.get("calendar_overrides")),
            ack_key=rel((raw.get("ack_signer") or {}).get("key")), ack_cert=rel((raw.get("ack_signer") or {}).get("cert")),
            admission_workers=raw.get("workers"),
        )
        return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def build_clock(cfg: ServerConfig) -> BusinessClock:
    calendar = (BusinessCalendar.from_file(cfg.calendar_overrides) if cfg.calendar_overrides
                else BusinessCalendar.default())
    clock_config = ClockConfig.from_dict(cfg.clock_config)
    if cfg.clock_mode == "simulated":
        start = dt.datetime.fromisoformat(cfg.clock_start) if cfg.clock_start else dt.datetime.now(TZ)
        if start.tzinfo is None:
            start = start.replace(tzinfo=TZ)
        return BusinessClock.simulated(calendar, clock_config, start)
    if cfg.clock_mode != "live":
        raise InputError("config-invalid", f"clock mode must be live or simulated, not {cfg.clock_mode!r}")
    return BusinessClock.live(calendar, clock_config)


CLOCK_PUBLISH_LIVE_S = 60.0  # a live clock is announced once a minute; a simulated one on every move


def clock_publisher(clock: BusinessClock, mqtt: Any) -> Coroutine[Any, Any, None]:
    """Keep `tgw/v1/clock` (retained) telling participants the business time and next cutoffs.

    The change subscription is taken here, synchronously, so a move of the clock that happens
    before the returned coroutine first runs is not missed.
    """
    from .http_app import clock_view

    changed = asyncio.Event()
    unsubscribe = clock.on_change(lambda _now: changed.set()) if clock.is_simulated else None

    async def once() -> None:
        try:
            await mqtt.publish_clock(clock_view(clock))
        except Exception as exc:  # noqa: BLE001 - the broker may be down; the next change retries
            log.warning("clock.publish_failed", error=str(exc))

    async def run() -> None:
        try:
            while True:
                changed.clear()
                await once()
                if unsubscribe is not None:
                    await changed.wait()
                else:
                    await asyncio.sleep(CLOCK_PUBLISH_LIVE_S)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    return run()


@dataclass
class RunningServer:
    gateway: Gateway
    runner: web.AppRunner | None
    mqtt: Any
    http_url: str | None
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        """Drain: stop taking work, let in-flight submissions commit and answer, then close."""
        for task in self.background:
            task.cancel()
        await self.gateway.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.gateway.db.close()


def _mqtt_parts(url: str) -> dict[str, Any]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise InputError("config-invalid", f"MQTT url must look like mqtt://user:password@host:port, not {url!r}")
    return {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 1883,
            "username": unquote(parsed.username or ""), "password": unquote(parsed.password or "")}


async def start_server(cfg: ServerConfig) -> RunningServer:
    registry = load_registry(cfg.participants)
    certs = CertificateStore.from_dir(cfg.certs)
    db = await open_database(cfg.db, schema=cfg.db_schema)
    gateway_config = cfg.gateway
    if cfg.admission_workers is not None:
        gateway_config = replace(gateway_config, admission_workers=cfg.admission_workers)
    gateway = Gateway(db=db, registry=registry, certs=certs, clock=build_clock(cfg), config=gateway_config)
    await gateway.start()
    runner, http_url, mqtt = None, None, None
    try:
        if cfg.http_port is not None:
            signer = KeySigner.from_files(cfg.ack_key, cfg.ack_cert) if cfg.ack_key and cfg.ack_cert else None
            runner = web.AppRunner(make_app(gateway, ack_signer=signer), access_log=None, shutdown_timeout=10)
            await runner.setup()
            site = web.TCPSite(runner, cfg.http_host, cfg.http_port)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else cfg.http_port
            http_url = f"http://{cfg.http_host}:{port}"
        if cfg.mqtt_url:
            from .mqtt_adapter import MqttAdapter

            mqtt = MqttAdapter(gateway, **_mqtt_parts(cfg.mqtt_url), shared_group=cfg.mqtt_shared_group)
            await mqtt.start()
    except BaseException:
        await RunningServer(gateway, runner, mqtt, http_url).stop()
        raise
    log.info("server.listening", http=http_url, mqtt=(cfg.mqtt_url or "").split("@")[-1] or None,
             clock=cfg.clock_mode, db=cfg.db.split("@")[-1])
    server = RunningServer(gateway, runner, mqtt, http_url)
    if mqtt is not None and gateway.clock is not None:
        server.background.append(asyncio.create_task(clock_publisher(gateway.clock, mqtt), name="clock-publisher"))
    return server


async def serve(cfg: ServerConfig, *, stop: asyncio.Event | None = None, ready_file: str | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then drain and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    server = await start_server(cfg)
    if ready_file:
        await asyncio.to_thread(Path(ready_file).write_text, server.http_url or "ready")
    try:
        await stop.wait()
    finally:
        log.info("server.draining")
        await server.stop()
        log.info("server.stopped")
