"""Assembling and running a gateway: config → database, registry, certificates, clock,
transports; SIGTERM drains in-flight work before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import structlog
from aiohttp import web

from business_time.clock import TZ, ClockConfig
from gateway.calendar_reload import CalendarReloader, build_calendar, watch_calendar_dir
from gateway.clock import BusinessClock
from gateway.delivery_modes import apply_modes, publish_registry, watch_delivery_modes
from gateway.event_loop import loop_name
from gateway.gc_tuning import settled_heap
from gateway.horizon import CALENDAR_WARN_DAYS_DEFAULT, CalendarHorizon, watch_calendar
from gateway.http_app import make_app
from gateway.http_limits import GuardedSite, HttpLimits, ResourceErrorLog, effective_connections_max
from gateway.monitoring.monitor import build_monitor
from gateway.participants import Registry, load_registry
from gateway.service import Gateway, GatewayConfig
from messages.errors import InputError, StateError
from messages.files import read_error_code, read_regular_text, write_atomic
from messages.signing import CertificateStore, KeySigner
from messages.yamlsafe import load_yaml_file
from storage.db import open_database_waiting
from storage.postgres import without_password

if TYPE_CHECKING:  # loaded only when an MQTT URL is configured (aiomqtt, paho)
    from gateway.mqtt_adapter import MqttAdapter

__all__ = ["RunningServer", "ServerConfig", "build_ssl_context", "serve", "start_server"]

log = structlog.get_logger("tgw.server")


@dataclass(frozen=True)
class ServerConfig:
    participants: str
    certs: str
    db: str = "sqlite:///tgw.db"
    db_schema: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int | None = 8470  # None: no HTTP listener
    mqtt_url: str | None = None  # mqtt://user@host:port (a password here is refused on the command line)
    # The MQTT password, kept out of the URL and so out of the process list: `tgw up` reads it from
    # TGW_MQTT_PASSWORD or --mqtt-password-file (YAML: mqtt.password_file). It wins over the URL's.
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_shared_group: str | None = "tgw"
    clock_mode: str = "live"  # live | simulated
    clock_start: str | None = None  # ISO time the simulated clock starts at
    clock_config: dict[str, Any] = field(default_factory=dict)
    calendar_overrides: str | None = None
    calendar_dir: str | None = None  # the operator's year blocks (docs/calendar.md), reloaded without a restart
    ack_key: str | None = None
    ack_cert: str | None = None
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    admission_workers: int | None = None  # processes for the pipeline; None: GatewayConfig's default
    tls_cert: str | None = None  # PEM certificate (chain) of the HTTPS listener; None: plain HTTP
    tls_key: str | None = None  # its private key
    tls_client_ca: str | None = None  # PEM CA(s) client certificates must chain to; None: none asked for
    tls_require_client_cert: bool = False  # refuse the handshake without a client certificate
    http_limits: HttpLimits = field(default_factory=HttpLimits)  # timeouts, connection cap, body budget
    calendar_warn_days: int = CALENDAR_WARN_DAYS_DEFAULT  # warn this many days before the calendar ends
    # The operator's bearer token for GET /metrics and the detailed GET /healthz (TGW_OPS_TOKEN or
    # --ops-token-file; YAML: http.ops_token_file). None: both open, as before (docs/operations.md).
    ops_token: str | None = field(default=None, repr=False)
    # Dynamic monitoring (docs/monitoring.md): "default" (the bundled catalogue), "off", or a catalogue file.
    monitor_rules: str = "default"
    # The event loop `tgw up` runs on (gateway.event_loop): auto (uvloop when installed), uvloop, asyncio.
    event_loop: str = "auto"
    # Plain POST /v1/messages answered in front of aiohttp (gateway.http_fast); False: by aiohttp's
    # route, as before. The answers are the same (tests/test_http_fast.py compares the two).
    http_lean_messages: bool = True

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        path = Path(path)
        raw = load_yaml_file(path, code="config-invalid", what=f"config {path}") or {}
        sections = ("http", "tls", "mqtt", "clock", "monitor", "ack_signer")
        if not isinstance(raw, dict) or any(not isinstance(raw.get(s) or {}, dict) for s in sections):
            raise InputError("config-invalid", f"config {path}: a mapping of settings, each of "
                                               f"{', '.join(sections)} a mapping too (docs/config.example.yaml)")
        try:
            cfg = cls._from_mapping(raw, path, overrides)
            if not isinstance(cfg.mqtt_url, str | None):  # parsed only once the server starts
                raise TypeError(f"mqtt.url must be text, not {cfg.mqtt_url!r}")
            return cfg
        except KeyError as exc:
            raise InputError("config-invalid", f"config {path}: no {exc}") from None
        except (AttributeError, TypeError) as exc:  # a number where a path or URL belongs...
            raise InputError("config-invalid", f"config {path}: a value of the wrong type: {exc}") from None

    @classmethod
    def _from_mapping(cls, raw: dict[str, Any], path: Path, overrides: dict[str, Any]) -> ServerConfig:
        base = path.parent

        def rel(value: str | None) -> str | None:
            if value is None or "://" in value or os.path.isabs(value):
                return value
            return str((base / value).resolve())

        http = raw.get("http") or {}
        tls = raw.get("tls") or {}
        if not isinstance(tls, dict):
            raise InputError("config-invalid", f"config {path}: tls must be a mapping (cert, key, client_ca, "
                                               "require_client_cert)")
        require = tls.get("require_client_cert", False)
        if not isinstance(require, bool):
            raise InputError("config-invalid", f"config {path}: tls.require_client_cert must be true or false")
        mqtt = raw.get("mqtt") or {}
        clock = raw.get("clock") or {}
        try:
            http_limits = HttpLimits.from_dict(http)
        except (TypeError, ValueError) as exc:
            raise InputError("config-invalid", f"config {path}: http: {exc}") from None
        mqtt_password = read_secret_file(rel(mqtt.get("password_file")), "mqtt.password_file")
        ops_token = read_secret_file(rel(http.get("ops_token_file")), "http.ops_token_file")
        db = raw.get("db", "sqlite:///tgw.db")
        if db.startswith("sqlite:///") and not os.path.isabs(db[10:]) and db[10:] != ":memory:":
            db = "sqlite:///" + str((base / db[10:]).resolve())
        cfg = cls(
            participants=rel(raw["participants"]) or "", certs=rel(raw["certs"]) or "", db=db,
            db_schema=raw.get("db_schema"), http_host=http.get("host", "127.0.0.1"),
            http_port=http.get("port", 8470), mqtt_url=mqtt.get("url"),
            mqtt_password=mqtt_password, ops_token=ops_token,
            mqtt_shared_group=mqtt.get("shared_group", "tgw"), clock_mode=clock.get("mode", "live"),
            clock_start=_iso(clock.get("start")), clock_config=clock.get("config") or {},
            calendar_overrides=rel(clock.get("calendar_overrides")), calendar_dir=rel(clock.get("calendar_dir")),
            ack_key=rel((raw.get("ack_signer") or {}).get("key")), ack_cert=rel((raw.get("ack_signer") or {}).get("cert")),
            admission_workers=raw.get("workers"),
            tls_cert=rel(tls.get("cert")), tls_key=rel(tls.get("key")), tls_client_ca=rel(tls.get("client_ca")),
            tls_require_client_cert=require, http_limits=http_limits,
            calendar_warn_days=clock.get("calendar_warn_days", CALENDAR_WARN_DAYS_DEFAULT),
            monitor_rules=_monitor_rules((raw.get("monitor") or {}).get("rules", "default"), rel),
            event_loop=str(raw.get("event_loop", "auto")),
        )
        return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def _iso(value: Any) -> Any:
    """`start: 2026-03-16T09:00:00+08:00` unquoted, as the example config writes it, is a datetime
    to YAML: back to the text the simulated clock parses."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _monitor_rules(value: Any, rel: Any) -> str:
    text = str(value)
    return text if text in ("default", "off") else str(rel(text))


def read_secret_file(path: str | None, what: str) -> str | None:
    """The secret in a file (first line, blanks stripped), None for no file; a coded error if
    the file cannot be read or is empty."""
    if path is None:
        return None
    try:
        text = read_regular_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(read_error_code(exc) if isinstance(exc, OSError) else "io-unreadable", f"{what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    secret = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise InputError("config-invalid", f"{what} {path} is empty")
    return secret


def _refuse_expired(cert: Any, what: str) -> None:
    """An expired certificate is refused at start: every client would refuse what it signs (TLS
    handshakes, signed acks), and the gateway would serve on as if nothing were wrong."""
    now = dt.datetime.now(dt.UTC)
    if now > cert.not_valid_after_utc:
        raise InputError("certificate-invalid", f"{what} expired at {cert.not_valid_after_utc.isoformat()}")


def build_ack_signer(cfg: ServerConfig) -> KeySigner | None:
    """The signer of HTTP acks (--ack-key and --ack-cert), None without them; one without the
    other is config-invalid (was: both ignored), an expired certificate certificate-invalid."""
    if not (cfg.ack_key or cfg.ack_cert):
        return None
    if not (cfg.ack_key and cfg.ack_cert):
        raise InputError("config-invalid", "signed acks need both the key and its certificate (--ack-key and "
                                           "--ack-cert, YAML ack_signer: {key, cert})")
    signer = KeySigner.from_files(cfg.ack_key, cfg.ack_cert)
    _refuse_expired(signer.certificate, f"ack certificate {cfg.ack_cert}")
    return signer


def build_ssl_context(cfg: ServerConfig) -> ssl.SSLContext | None:
    """The HTTPS listener's context (TLS 1.2+), asking for client certificates if a client CA is set.

    None for plain HTTP. A client certificate must chain to `tls_client_ca`, be within its
    validity and allow clientAuth, else OpenSSL ends the handshake; with
    `tls_require_client_cert` a client that sends none is refused the same way.
    """
    if not (cfg.tls_cert or cfg.tls_key or cfg.tls_client_ca or cfg.tls_require_client_cert):
        return None
    if not (cfg.tls_cert and cfg.tls_key):
        raise InputError("config-invalid", "TLS needs both a certificate and its key (--tls-cert and --tls-key)")
    if cfg.tls_require_client_cert and not cfg.tls_client_ca:
        raise InputError("config-invalid", "requiring client certificates needs the CA that issues them "
                                           "(--tls-client-ca)")
    if cfg.http_port is None:
        raise InputError("config-invalid", "TLS settings are for the HTTP listener, which is off")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION  # the client certificate cannot change under a connection
    try:
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError("io-unreadable", f"TLS certificate {cfg.tls_cert} / key {cfg.tls_key}: {exc}") from None
    from messages.keys import load_certificates

    _refuse_expired(load_certificates(cfg.tls_cert)[0], f"TLS certificate {cfg.tls_cert}")
    if cfg.tls_client_ca:
        try:
            ctx.load_verify_locations(cafile=cfg.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise InputError("io-unreadable", f"TLS client CA {cfg.tls_client_ca}: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if cfg.tls_require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def build_clock(cfg: ServerConfig) -> BusinessClock:
    calendar = build_calendar(cfg.calendar_overrides, cfg.calendar_dir)
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


def clock_publisher(clock: BusinessClock, mqtt: MqttAdapter) -> Coroutine[Any, Any, None]:
    """Keep `tgw/v1/clock` (retained) telling participants the business time and next cutoffs.

    The change subscription is taken here, synchronously, so a move of the clock that happens
    before the returned coroutine first runs is not missed.
    """
    from gateway.http_common import clock_view

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
    mqtt: MqttAdapter | None
    http_url: str | None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    calendar_reloader: CalendarReloader | None = None  # SIGHUP re-reads the calendar directory

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


def _mqtt_parts(url: str, password: str | None = None) -> dict[str, Any]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise InputError("config-invalid", f"MQTT url must look like mqtt://user@host:port, not "
                                           f"{without_password(url)!r}")
    return {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 1883,
            "username": unquote(parsed.username or ""),
            "password": password if password is not None else unquote(parsed.password or "")}


def certificate_store(certs_dir: str, registry: Registry) -> CertificateStore:
    """The CA and certificates in `certs_dir`, plus every certificate file the registry names:
    a participant registered with `--cert FILE` is verifiable without copying FILE anywhere."""
    from messages.keys import certificate_public_key, load_certificates

    store = CertificateStore.from_dir(certs_dir)
    for participant in registry:
        for path in participant.cert_files:
            for cert in load_certificates(path):
                try:
                    certificate_public_key(cert)  # no seal could ever be verified with it
                except InputError as exc:
                    raise InputError(exc.code, f"participant {participant.id}: {path}: {exc.issues[0].message}") \
                        from None
                try:
                    store.add(cert)
                except ValueError as exc:  # two different certificates under one SN: refuse to start
                    raise InputError("config-invalid", f"participant {participant.id}: {path}: {exc}") from None
    return store


def _log_database_wait(attempt: int, retry_in_s: float, error: BaseException) -> None:
    """`tgw up` started while the database is down waits for it: one line per attempt."""
    log.warning("database.unavailable", attempt=attempt, retry_in_s=retry_in_s, error=str(error))


def _database_refusal(url: str, exc: StateError) -> InputError:
    """The database named in the configuration cannot be opened at start: unreadable input (as
    the participants file), coded as `tgw dlq` codes its --db."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    if exc.__cause__ is None:  # no database URL at all
        return InputError("config-invalid", str(exc))
    if isinstance(exc.__cause__, sqlite3.DatabaseError) and not isinstance(exc.__cause__, sqlite3.OperationalError):
        return InputError("db-not-gateway", f"{path} is not a SQLite database ({exc.__cause__})")
    if isinstance(exc.__cause__, sqlite3.Error):
        if Path(path).is_dir():
            return InputError("db-not-gateway", f"{path} is a directory, not a database file")
        return InputError("io-unreadable", str(exc))
    return InputError("db-not-gateway", str(exc))  # PostgreSQL: refused credentials, no such database


async def start_server(cfg: ServerConfig) -> RunningServer:
    ssl_context = build_ssl_context(cfg)  # before anything opens: a TLS mistake fails fast
    registry = load_registry(cfg.participants)
    certs = certificate_store(cfg.certs, registry)
    try:
        db = await open_database_waiting(cfg.db, schema=cfg.db_schema, on_wait=_log_database_wait)
    except StateError as exc:  # not one that is down (that one is waited for): the --db itself
        raise _database_refusal(cfg.db, exc) from None
    gateway_config = cfg.gateway
    if cfg.admission_workers is not None:
        gateway_config = replace(gateway_config, admission_workers=cfg.admission_workers)
    clock = build_clock(cfg)
    monitor = build_monitor(db, cfg.monitor_rules, clock=clock)
    gateway = Gateway(db=db, registry=registry, certs=certs, clock=clock, config=gateway_config, monitor=monitor)
    await gateway.start()
    # the modes `tgw participants set --db` switches (gateway.delivery_modes); one switched since the last
    # start and not in the file stands, taken before anything is served or pushed
    apply_modes(gateway, await publish_registry(db, registry))
    runner, http_url, mqtt = None, None, None
    site: GuardedSite | None = None
    try:
        if cfg.http_port is not None:
            signer = build_ack_signer(cfg)
            app = make_app(gateway, ack_signer=signer, limits=cfg.http_limits,
                           calendar_warn_days=cfg.calendar_warn_days, ops_token=cfg.ops_token,
                           lean_messages=cfg.http_lean_messages)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=10)
            await runner.setup()
            loop = asyncio.get_running_loop()
            if not isinstance(loop.get_exception_handler(), ResourceErrorLog):
                loop.set_exception_handler(ResourceErrorLog(cfg.http_limits.resource_log_interval_s,
                                                            loop.get_exception_handler()))
            site = GuardedSite(runner, cfg.http_host, cfg.http_port, limits=cfg.http_limits,
                               connections_max=effective_connections_max(cfg.http_limits), ssl_context=ssl_context)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else cfg.http_port
            http_url = f"{'https' if ssl_context else 'http'}://{cfg.http_host}:{port}"
        if cfg.mqtt_url:
            from gateway.mqtt_adapter import MqttAdapter
            from gateway.mqtt_probe import check_client_ids_bound

            parts = _mqtt_parts(cfg.mqtt_url, cfg.mqtt_password)
            # A broker that lets anyone name the gateway's client id: refuse to start (see mqtt_probe).
            await check_client_ids_bound(parts["host"], parts["port"], parts["password"])
            mqtt = MqttAdapter(gateway, **parts, shared_group=cfg.mqtt_shared_group)
            await mqtt.start()
    except BaseException:
        await RunningServer(gateway, runner, mqtt, http_url).stop()
        raise
    horizon = CalendarHorizon(gateway.clock.calendar, cfg.calendar_warn_days) if gateway.clock is not None else None
    log.info("server.listening", http=http_url,
             client_certs=("required" if cfg.tls_require_client_cert else "optional") if cfg.tls_client_ca else None,
             mqtt=(cfg.mqtt_url or "").split("@")[-1] or None,
             clock=cfg.clock_mode, db=cfg.db.split("@")[-1], event_loop=loop_name(asyncio.get_running_loop()),
             ops_endpoints=("token" if cfg.ops_token else "open") if http_url else None,
             calendar_last_day=horizon.last_day.isoformat() if horizon else None,
             calendar_provisional_years=list(horizon.calendar.provisional_years) if horizon else None,
             calendar_days_left=horizon.days_left(gateway.clock.today()) if horizon and gateway.clock else None,
             **_limits_fields(cfg, site))
    server = RunningServer(gateway, runner, mqtt, http_url)
    if horizon is not None and gateway.clock is not None:
        server.background.append(asyncio.create_task(watch_calendar(gateway.clock, horizon), name="calendar-horizon"))
    if cfg.calendar_dir and gateway.clock is not None:
        server.calendar_reloader = CalendarReloader(gateway.clock, cfg.calendar_overrides, cfg.calendar_dir)
        server.background.append(asyncio.create_task(watch_calendar_dir(server.calendar_reloader),
                                                     name="calendar-reload"))
    if mqtt is not None and gateway.clock is not None:
        server.background.append(asyncio.create_task(clock_publisher(gateway.clock, mqtt), name="clock-publisher"))
    server.background.append(asyncio.create_task(
        watch_delivery_modes(gateway, mqtt.sync_pushers if mqtt is not None else None), name="delivery-modes"))
    return server


def _limits_fields(cfg: ServerConfig, site: GuardedSite | None) -> dict[str, Any]:
    if site is None:
        return {}
    limits = cfg.http_limits
    return {"connections_max": site.gate.connections_max, "idle_timeout_s": limits.idle_timeout_s,
            "header_timeout_s": limits.header_timeout_s, "body_timeout_s": limits.body_timeout_s,
            "body_bytes_in_flight_max": limits.body_bytes_in_flight_max}


def announce_ready(path: str | Path, url: str) -> None:
    """Write the URL to the ready file: into a pipe the caller reads as it is written (the
    documented scripts' `mkfifo`), else renamed into place, so a script polling for a regular
    file never reads it empty or half-written."""
    path = Path(path)
    if path.exists() and not path.is_file():
        path.write_text(url, encoding="utf-8")
    else:
        write_atomic(path, url)


async def serve(cfg: ServerConfig, *, stop: asyncio.Event | None = None, ready_file: str | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then drain and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # Starting may wait for the database (with backoff): a SIGTERM meanwhile ends the wait.
    starting = asyncio.ensure_future(start_server(cfg))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        log.info("server.stopped", before="started")
        return
    server = starting.result()
    if server.calendar_reloader is not None:
        reloader = server.calendar_reloader
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, lambda: reloader.reload(force=True))
    try:
        with settled_heap():  # the start-up heap frozen, young collections rarer (gateway.gc_tuning)
            if ready_file:
                await asyncio.to_thread(announce_ready, ready_file, server.http_url or "ready")
            await stop.wait()
    finally:
        if server.calendar_reloader is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
        log.info("server.draining")
        await server.stop()
        log.info("server.stopped")
