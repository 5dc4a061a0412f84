"""A real Mosquitto for tests: `mosquitto -c <generated conf>` on a free port under tmp_path.

The settings are read from `conf/mosquitto.conf` (authentication, ACL, client ids bound to
usernames, persistence, raised queue limits), only paths, port and timings differ; the password and ACL files come from the `tgw mqtt-acl` code path. `restart()` stops the
broker (SIGTERM: it saves its persistence file; SIGKILL: it does not) and starts it again on the
same port with the same persistence directory.

    broker = MosquittoBroker.start_for(world.registry(), tmp_path, gateway_password="...")
    ...
    broker.restart(kill=True)
    broker.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from gateway.participants import Registry
from tgw.mqtt_acl import write_broker_files

__all__ = ["GW_PASSWORD", "GW_USER", "GW_USER_2", "MOSQUITTO", "MosquittoBroker", "free_port"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_ATTEMPTS = 3  # fresh ports tried when mosquitto cannot listen on the first one
START_TIMEOUT_S = 30.0  # an upper bound (a loaded 2-core machine); it listens in well under a second
# The gateway's own broker login in the tests' private brokers (the `broker` fixture in conftest.py).
GW_USER, GW_PASSWORD = "tgw-gateway", "gateway-secret-for-tests"
# A second gateway login (a second worker, or a test's own connection with the gateway's rights):
# the broker binds client ids to usernames, so a second connection as GW_USER would take over the
# gateway's session.
GW_USER_2 = "tgw-gateway-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SHIPPED_CONF = Path(__file__).resolve().parents[1] / "conf" / "mosquitto.conf"
# Settings of the shipped file that name paths, ports or timings of a deployment: the test broker
# sets its own. Every other setting is taken from conf/mosquitto.conf as it is.
_LOCAL = {"listener", "password_file", "acl_file", "persistence_location", "autosave_interval",
          "persistent_client_expiration", "log_dest", "user"}


def shipped_settings() -> list[str]:
    lines = [line.strip() for line in SHIPPED_CONF.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#") and line.split()[0] not in _LOCAL]


def _conf(port: int, root: Path, *, bind_client_ids: bool = True) -> str:
    # conf/mosquitto.conf's settings, with this broker's paths and port. bind_client_ids False:
    # without use_username_as_clientid, the configuration before issue 14, to show what it let through.
    shipped = [line for line in shipped_settings()
               if bind_client_ids or line.split()[0] != "use_username_as_clientid"]
    return "\n".join([
        f"listener {port} 127.0.0.1",
        f"password_file {root / 'passwd'}",
        f"acl_file {root / 'acl'}",
        f"persistence_location {root / 'data'}/",
        "autosave_interval 5",
        "persistent_client_expiration 1d",
        f"log_dest file {root / 'mosquitto.log'}",
        *shipped,
        # When started as root Mosquitto drops to user `mosquitto`, who cannot read tmp_path.
        *(["user root"] if os.geteuid() == 0 else []),
        "",
    ])


class MosquittoBroker:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.host = "127.0.0.1"
        self.conf_path = root / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @classmethod
    def start_for(cls, registry: Registry, tmp: Path, *, gateway_user: str | list[str] = "tgw-gateway",
                  gateway_password: str, port: int | None = None,
                  bind_client_ids: bool = True) -> MosquittoBroker:
        root = Path(tmp) / "mosquitto"
        (root / "data").mkdir(parents=True, exist_ok=True)
        write_broker_files(registry, root, gateway_user=gateway_user, gateway_password=gateway_password)
        for attempt in range(1, START_ATTEMPTS + 1):
            broker = cls(root, port or free_port())
            broker.conf_path.write_text(_conf(broker.port, root, bind_client_ids=bind_client_ids), encoding="utf-8")
            try:
                broker.start()
                return broker
            except RuntimeError:
                # The free port may have been taken by another process (other test runs share
                # the machine) before mosquitto bound it: try another, unless the port was given.
                if port is not None or attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def start(self) -> None:
        assert self.proc is None, "already running"
        log = (self.root / "stderr.log").open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf_path)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {START_TIMEOUT_S}s: {self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        """Stop (SIGTERM, or SIGKILL with kill=True), stay down for down_s, start on the same port."""
        self.stop(kill=kill)
        if down_s:
            time.sleep(down_s)
        self.start()
        self.restarts += 1

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("mosquitto.log", "stderr.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])
