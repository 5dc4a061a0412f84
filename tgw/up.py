"""`tgw up`: run the gateway (HTTP and/or MQTT) until SIGTERM, then drain and exit."""

from __future__ import annotations

import argparse
import errno
import os
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from gateway.service_types import WORKERS_MAX
from messages.errors import InputError, StateError
from messages.files import read_error_code
from tgw.command_error import EXIT_FAILED, EXIT_USAGE, CommandError

# A listening address `tgw up` was given but cannot have (taken, not this host's, privileged).
_CANNOT_LISTEN = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)

__all__ = ["register"]

# Secrets come from the environment or a file, never from a flag: the process list shows flags.
MQTT_PASSWORD_ENV = "TGW_MQTT_PASSWORD"  # the name `tgw mqtt-acl --gateway-password-env` defaults to
OPS_TOKEN_ENV = "TGW_OPS_TOKEN"
EVENT_LOOP_ENV = "TGW_EVENT_LOOP"  # the default of --event-loop (auto, uvloop, asyncio)

# `tgw up` flags that set a field of gateway.http_limits.HttpLimits of the same name.
LIMIT_FLAGS = ("idle_timeout_s", "header_timeout_s", "body_timeout_s", "connections_max",
               "body_bytes_in_flight_max", "body_wait_s", "resource_log_interval_s")


BROKER_REFUSALS = ("mqtt-clientid-unbound", "mqtt-monitor-refused")  # gateway.mqtt_probe: exit 2
# The participants file, the certificates or the database cannot be read or do not make sense
# (found while starting, before anything listens): unreadable input, exit 2 like every tgw command.
INPUT_REFUSALS = ("io-unreadable", "config-invalid", "db-not-gateway", "key-unsupported")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="run the gateway server",
                       description="Run the gateway: HTTP API, optional MQTT adapter, durable journal. "
                                   "Settings come from --config (YAML) and/or flags; flags win. "
                                   "--tls-cert/--tls-key serve HTTPS; --tls-client-ca adds mutual TLS.",
                       epilog="Example: tgw up --participants world/participants.yaml --certs world/keys "
                              "--db sqlite:///var/tgw.db --http 127.0.0.1:8470. Exit codes: 0 stopped cleanly, "
                              "1 failed while running, 2 usage error, unreadable input (the participants file, the "
                              "certificates, a --db that cannot be opened), an --http address it cannot listen on "
                              "(taken: unavailable) or a broker it refuses (one that does not bind client ids to "
                              "usernames, or refuses the tgw-monitor user).")
    p.add_argument("--config", help="YAML config file (see docs/config.example.yaml)")
    p.add_argument("--participants", help="participants registry YAML")
    p.add_argument("--certs", help="directory with ca.pem and participant certificates")
    p.add_argument("--db", help="sqlite:///PATH (default sqlite:///tgw.db) or postgresql://...")
    p.add_argument("--db-schema", help="PostgreSQL schema to use (isolates one gateway in a shared database)")
    p.add_argument("--http", help="HOST:PORT to listen on (default 127.0.0.1:8470); 'off' for none")
    p.add_argument("--mqtt", help="mqtt://user@host:port of the broker (default: no MQTT); the password comes "
                                  f"from ${MQTT_PASSWORD_ENV} or --mqtt-password-file, never from this URL, which "
                                  "the process list shows")
    p.add_argument("--mqtt-password-file", metavar="FILE",
                   help=f"file holding the MQTT password (first line); default: ${MQTT_PASSWORD_ENV}")
    p.add_argument("--ops-token-file", metavar="FILE",
                   help=f"file holding the operator's token (first line; default: ${OPS_TOKEN_ENV}): then GET "
                        "/metrics and the detailed GET /healthz need 'Authorization: Bearer <it>', and /healthz "
                        "without it answers only its status. Without a token both are open (docs/operations.md)")
    p.add_argument("--clock", choices=["live", "simulated"], help="business clock mode (default live)")
    p.add_argument("--clock-start", help="ISO datetime a simulated clock starts at")
    p.add_argument("--ack-key", help="private key the gateway signs XML acknowledgements with")
    p.add_argument("--ack-cert", help="certificate of --ack-key (its SN goes in the <TGWAck> signature)")
    p.add_argument("--tls-cert", help="PEM certificate of the HTTPS listener (see `tgw keys server`); "
                                      "with --tls-key the API is served over HTTPS only")
    p.add_argument("--tls-key", help="private key of --tls-cert")
    p.add_argument("--tls-client-ca", help="PEM CA certificate(s): ask clients for a certificate issued by it; "
                                           "a verified one authenticates its participant (by SN)")
    p.add_argument("--tls-require-client-cert", action="store_true", default=None,
                   help="refuse the TLS handshake without a client certificate (needs --tls-client-ca)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"processes for the CPU-bound pipeline (parse, XSD, verify), 0..{WORKERS_MAX}; 0 runs it on the "
                        "event loop")
    p.add_argument("--event-loop", choices=["auto", "uvloop", "asyncio"], default=None,
                   help="the event loop: uvloop (faster transports and timers) or asyncio's own; auto (the "
                        f"default; YAML event_loop:, ${EVENT_LOOP_ENV}) takes uvloop when it is installed")
    limits = p.add_argument_group("connection and memory limits (defaults and reasons: gateway/http_limits.py)")
    limits.add_argument("--idle-timeout", type=float, metavar="S", dest="idle_timeout_s",
                        help="close a connection with no request in progress after S seconds (default 75)")
    limits.add_argument("--header-timeout", type=float, metavar="S", dest="header_timeout_s",
                        help="close a connection whose request head is not complete S seconds after its first "
                             "byte, with a 408 (default 10)")
    limits.add_argument("--body-timeout", type=float, metavar="S", dest="body_timeout_s",
                        help="answer 408 and close if a request body is not complete S seconds after its head "
                             "(default 120)")
    limits.add_argument("--connections-max", type=int, metavar="N", dest="connections_max",
                        help="open HTTP connections at once; more are answered 503 and closed "
                             "(default: the descriptor limit minus 256)")  # FDS_RESERVED + ACCEPT_BACKLOG + REFUSED_LINGERING_MAX
    limits.add_argument("--body-bytes-in-flight-max", type=int, metavar="BYTES", dest="body_bytes_in_flight_max",
                        help="request-body bytes held at once across requests; a body that does not fit waits "
                             "up to --body-wait, then gets 503 with Retry-After (default 134217728, 128 MiB)")
    limits.add_argument("--body-wait", type=float, metavar="S", dest="body_wait_s",
                        help="how long a body waits for room under --body-bytes-in-flight-max (default 5)")
    limits.add_argument("--resource-log-interval", type=float, metavar="S", dest="resource_log_interval_s",
                        help="log an accept() resource error (EMFILE) at most once per S seconds, with a count "
                             "(default 10)")
    p.add_argument("--calendar-warn-days", type=int, metavar="DAYS",
                   help="warn (log once a day, gauge tgw_calendar_days_left) from DAYS days before the last day "
                        "the business calendar knows (default 30)")
    p.add_argument("--calendar-dir", metavar="DIR",
                   help="directory of business-calendar year blocks (`tgw calendar load FILE --calendar-dir DIR`); "
                        "re-read on SIGHUP and within a minute of a change, without a restart (docs/calendar.md)")
    p.add_argument("--monitor-rules", metavar="FILE|off", help="dynamic monitoring rule catalogue (YAML, "
                   "`tgw monitor rules validate`); default: the bundled one; 'off': no monitoring (docs/monitoring.md)")
    p.add_argument("--ready-file", help="write the HTTP URL here once listening (for scripts and tests): a pipe "
                                        "(mkfifo) is written into, a regular file is renamed into place whole")
    p.add_argument("--log-format", choices=["json", "console"], default="json")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.server import read_secret_file

    out: dict[str, Any] = {"participants": args.participants, "certs": args.certs, "db": args.db,
                           "db_schema": args.db_schema, "mqtt_url": args.mqtt, "clock_mode": args.clock,
                           "clock_start": args.clock_start, "ack_key": args.ack_key, "ack_cert": args.ack_cert,
                           "admission_workers": args.workers, "tls_cert": args.tls_cert, "tls_key": args.tls_key,
                           "tls_client_ca": args.tls_client_ca,
                           "tls_require_client_cert": args.tls_require_client_cert,
                           "calendar_warn_days": args.calendar_warn_days, "calendar_dir": args.calendar_dir,
                           "monitor_rules": args.monitor_rules,
                           "event_loop": args.event_loop or os.environ.get(EVENT_LOOP_ENV) or None}
    if args.mqtt and urlparse(args.mqtt).password is not None:
        raise ValueError(f"--mqtt must not carry the password (the process list shows it to every user): put it "
                         f"in ${MQTT_PASSWORD_ENV} or a file given to --mqtt-password-file")
    if args.mqtt_password_file:
        out["mqtt_password"] = read_secret_file(args.mqtt_password_file, "--mqtt-password-file")
    elif os.environ.get(MQTT_PASSWORD_ENV):
        out["mqtt_password"] = os.environ[MQTT_PASSWORD_ENV]
    if args.ops_token_file:
        out["ops_token"] = read_secret_file(args.ops_token_file, "--ops-token-file")
    elif os.environ.get(OPS_TOKEN_ENV):
        out["ops_token"] = os.environ[OPS_TOKEN_ENV].strip()
    if args.db and not args.db.startswith(("sqlite:", "postgres")):
        out["db"] = f"sqlite:///{args.db}"
    if args.http:
        if args.http == "off":
            out["http_port"] = None
        else:
            host, _, port = args.http.rpartition(":")
            out["http_host"], out["http_port"] = host or "127.0.0.1", int(port)
    return out


def _check_values(cfg: Any) -> None:
    """Values flags and YAML share that nothing later refuses in one line: a worker count that
    would fork without end, a port the socket layer takes modulo 65,536, a start that is no time."""
    import datetime as dt

    workers = cfg.admission_workers
    if workers is not None and (not isinstance(workers, int) or not 0 <= workers <= WORKERS_MAX):
        raise ValueError(f"workers must be a whole number from 0 to {WORKERS_MAX}, not {workers!r}")
    if cfg.http_port is not None and (not isinstance(cfg.http_port, int) or not 0 <= cfg.http_port <= 65535):
        raise ValueError(f"the HTTP port must be from 0 to 65535, not {cfg.http_port!r}")
    if cfg.clock_start is not None:
        try:
            dt.datetime.fromisoformat(str(cfg.clock_start))
        except ValueError:
            raise ValueError(f"the clock start {cfg.clock_start!r} is not an ISO date and time") from None


def run(args: argparse.Namespace) -> int:
    from gateway.event_loop import loop_factory, run_on
    from gateway.logs import configure_logging
    from gateway.server import ServerConfig, build_ack_signer, build_ssl_context, serve

    # A server configures logging once, here: its loggers can be cached (per-envelope lines cost less).
    configure_logging(json=args.log_format == "json", level=args.log_level, cache=True)
    try:
        overrides = _overrides(args)
        if args.config:
            cfg = ServerConfig.from_file(args.config, **overrides)
        else:
            if not args.participants or not args.certs:
                raise CommandError.usage("give --config, or --participants and --certs")
            if overrides.get("http_port", 0) is None:
                overrides["http_port"] = None
            cfg = ServerConfig(**{k: v for k, v in overrides.items() if v is not None or k == "http_port"})
        limit_flags = {name: getattr(args, name) for name in LIMIT_FLAGS if getattr(args, name) is not None}
        if limit_flags:
            cfg = replace(cfg, http_limits=replace(cfg.http_limits, **limit_flags))
        _check_values(cfg)
        loop_factory(cfg.event_loop)  # an event loop that cannot be had: a usage error too
        build_ssl_context(cfg)  # a TLS setting that cannot work is a usage error, before anything starts
        build_ack_signer(cfg)  # so is an ack key or certificate
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except ValueError as exc:
        raise CommandError.usage(str(exc)) from exc
    try:
        run_on(cfg.event_loop, serve(cfg, ready_file=args.ready_file))
    except InputError as exc:
        # A broker whose settings the gateway must not run on is a usage error, like a bad config.
        raise CommandError.of(exc, exit=EXIT_USAGE if exc.code in (*BROKER_REFUSALS, *INPUT_REFUSALS)
                              else EXIT_FAILED) from exc
    except StateError as exc:  # the database or the broker failed while running
        raise CommandError("unavailable", str(exc), exit=EXIT_FAILED) from exc
    except OSError as exc:
        if exc.filename is not None:  # a file named on the command line or in the config
            raise CommandError(read_error_code(exc), f"{exc.filename}: {exc.strerror or exc}", exit=EXIT_USAGE) from exc
        if exc.errno in _CANNOT_LISTEN:  # the address asked for: input that cannot be had, as for demo --serve
            raise CommandError("unavailable", f"cannot listen on {cfg.http_host}:{cfg.http_port}: {exc}",
                               exit=EXIT_USAGE) from exc
        raise CommandError("unavailable", str(exc), exit=EXIT_FAILED) from exc
    return 0
