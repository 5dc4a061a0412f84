"""`tgw mqtt-acl`: write Mosquitto's password file and ACL file from the participant registry.

    tgw mqtt-acl --participants participants.yaml --out DIR \
        [--gateway-user tgw-gateway [--gateway-user tgw-gateway-2 ...]] [--gateway-password-env TGW_MQTT_PASSWORD]

Writes `DIR/passwd` (one `username:$7$...` line per participant, hashes copied from the
registry, plus the gateway's own users and `tgw-monitor`, hashed here with the gateway's
password) and `DIR/acl`:

- each gateway user U, and U-acks for its ack lane: readwrite `tgw/v1/#` and the
  shared-subscription filters `$share/+/tgw/v1/#`.
  The broker binds client ids to usernames (conf/mosquitto.conf), so each gateway worker on one
  broker needs a user of its own: give `--gateway-user` once per worker;
- `tgw-monitor`: read `$SYS/broker/uptime` only (health checks, and `tgw up`'s check that the
  broker binds client ids to usernames);
- each participant P: write `tgw/v1/P/outbox` and `tgw/v1/P/ack`, read `tgw/v1/P/inbox`,
  `tgw/v1/P/result` and below it (`result/#`: the gateway answers on a ResponseTopic below it
  too) and `tgw/v1/clock`. Nothing else: Mosquitto silently drops the rest.

Exit codes: 0 written, 1 the registry has a participant without MQTT credentials (nothing
written), 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gateway.mqtt_probe import MONITOR_USER
from gateway.participants import Participant, Registry, load_registry, mosquitto_password_hash
from messages.errors import InputError
from messages.files import write_atomic
from tgw.command_error import CommandError

__all__ = ["acl_text", "passwd_text", "register", "write_broker_files"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

TOPIC_ROOT = "tgw/v1"
CLOCK_TOPIC = f"{TOPIC_ROOT}/clock"


def _check_name(value: str, what: str) -> str:
    # A username or id goes into a line-oriented file and into topic names: no separators, no wildcards.
    if not value or any(c in value for c in ":/+#\n\r\t ") or value.startswith("$"):
        raise ValueError(f"{what} {value!r} cannot be used in Mosquitto's files or in a topic")
    return value


def _mqtt_participants(registry: Iterable[Participant]) -> list[Participant]:
    out = []
    for p in registry:
        if not p.mqtt_username and not p.mqtt_password_hash:
            continue  # an HTTP-only participant: not on the broker at all
        if not (p.mqtt_username and p.mqtt_password_hash.startswith("$7$")):
            raise InputError("mqtt-credentials",
                             f"participant {p.id}: needs both mqtt_username and a $7$ mqtt_password_hash")
        _check_name(p.mqtt_username, "MQTT username")
        _check_name(p.id, "participant id")
        out.append(p)
    return out


def _gateway_users(gateway_user: str | Sequence[str]) -> list[str]:
    """Each gateway worker's user and its ack lane's user (`U-acks`, see gateway.mqtt_adapter)."""
    users = [gateway_user] if isinstance(gateway_user, str) else list(gateway_user)
    users = [name for user in users for name in (user, f"{user}-acks")]
    if not users or len(set(users)) != len(users) or MONITOR_USER in users:
        raise ValueError(f"gateway users (and their -acks users) must be distinct, at least one, and not "
                         f"{MONITOR_USER!r}: {users}")
    return [_check_name(u, "gateway user") for u in users]


def passwd_text(registry: Registry, *, gateway_user: str | Sequence[str], gateway_password: str) -> str:
    reserved = [*_gateway_users(gateway_user), MONITOR_USER]
    lines = [f"{user}:{mosquitto_password_hash(gateway_password)}" for user in reserved]
    for p in _mqtt_participants(registry):
        if p.mqtt_username in reserved:
            raise InputError("mqtt-credentials",
                             f"participant {p.id} uses the gateway's MQTT username {p.mqtt_username!r}")
        lines.append(f"{p.mqtt_username}:{p.mqtt_password_hash}")
    return "\n".join(lines) + "\n"


def acl_text(registry: Registry, *, gateway_user: str | Sequence[str]) -> str:
    parts = [
        "# Written by `tgw mqtt-acl` from the participant registry; do not edit by hand.",
        "# Anything not granted here is denied (Mosquitto drops it silently).",
        "",
    ]
    for user in _gateway_users(gateway_user):
        parts += [f"user {user}", f"topic readwrite {TOPIC_ROOT}/#", f"topic read $share/+/{TOPIC_ROOT}/#", ""]
    parts += [f"user {MONITOR_USER}", "topic read $SYS/broker/uptime", ""]
    for p in _mqtt_participants(registry):
        base = f"{TOPIC_ROOT}/{p.id}"
        parts += [
            f"user {p.mqtt_username}",
            f"topic write {base}/outbox",
            f"topic write {base}/ack",
            f"topic read {base}/inbox",
            f"topic read {base}/result/#",  # the result topic and those below it (a ResponseTopic may be)
            f"topic read {CLOCK_TOPIC}",
            "",
        ]
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    write_atomic(path, text, mode=0o600 if path.name == "passwd" else 0o644)


def write_broker_files(registry: Registry, out: str | Path, *, gateway_user: str | Sequence[str] = "tgw-gateway",
                       gateway_password: str) -> tuple[Path, Path]:
    """Write DIR/passwd and DIR/acl; returns their paths. Both texts are built before either is written."""
    if not gateway_password:
        raise ValueError("the gateway's MQTT password is empty")
    passwd = passwd_text(registry, gateway_user=gateway_user, gateway_password=gateway_password)
    acl = acl_text(registry, gateway_user=gateway_user)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "passwd", passwd)
    _write(out / "acl", acl)
    return out / "passwd", out / "acl"


def cmd_mqtt_acl(args: argparse.Namespace) -> int:
    password = os.environ.get(args.gateway_password_env, "")
    if not password:
        raise CommandError.usage(f"environment variable {args.gateway_password_env} (the gateway's MQTT "
                                 "password) is not set")
    try:
        registry = load_registry(args.participants)
        gateway_users = args.gateway_user or ["tgw-gateway"]
        passwd, acl = write_broker_files(registry, args.out, gateway_user=gateway_users,
                                         gateway_password=password)
    except InputError as exc:
        raise CommandError.of(exc) from exc  # 2 for a file not read, else 1 (a participant without credentials)
    except ValueError as exc:
        raise CommandError("failed", str(exc), exit=EXIT_FAILED) from exc
    except OSError as exc:  # the --out directory cannot be written
        raise CommandError.usage(f"{exc.filename or ''}: {exc.strerror or exc}") from exc
    n = len(_mqtt_participants(registry))
    print(f"wrote {passwd} and {acl} ({n} participants + gateway users {', '.join(gateway_users)} + "
          f"{MONITOR_USER})", file=sys.stderr)
    return EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mqtt-acl",
        help="write Mosquitto's password and ACL files from the participant registry",
        description=("Write DIR/passwd (PBKDF2 $7$ hashes copied from the registry, plus the gateway user) and "
                     "DIR/acl (each participant: write its outbox and ack topics, read its inbox, result and "
                     "the clock; each gateway user: all of tgw/v1/# and its $share filters; tgw-monitor, with "
                     "the gateway's password: $SYS/broker/uptime, for health checks and `tgw up`'s start-up "
                     "check). Point "
                     "conf/mosquitto.conf's password_file and acl_file at them and reload the broker (SIGHUP). "
                     "passwd is written mode 0600: a broker started as root runs as the user mosquitto, who must "
                     "own it (docs/connect-a-bank.md)."),
        epilog="Exit codes: 0 written, 1 a participant lacks MQTT credentials, 2 usage error or unreadable input.",
    )
    p.add_argument("--participants", required=True, metavar="FILE", help="participants.yaml (the registry)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for passwd and acl (created if missing)")
    p.add_argument("--gateway-user", action="append", metavar="USER",
                   help=("the gateway's MQTT username (default tgw-gateway); repeat it for several gateway workers "
                         "on one broker: the broker binds client ids to usernames, so each needs its own"))
    p.add_argument("--gateway-password-env", default="TGW_MQTT_PASSWORD", metavar="VAR",
                   help="environment variable holding the gateway's MQTT password (default TGW_MQTT_PASSWORD)")
    p.set_defaults(func=cmd_mqtt_acl)
