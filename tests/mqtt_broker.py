"""A real Mosquitto for tests: `mosquitto -c <generated conf>` on a free port under tmp_path.

The settings are those of `conf/mosquitto.conf` (authentication, ACL, persistence, raised queue
limits); the password and ACL files come from the `tgw mqtt-acl` code path. `restart()` stops the
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

__all__ = ["GW_PASSWORD", "GW_USER", "MOSQUITTO", "MosquittoBroker", "free_port"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_ATTEMPTS = 3  # fresh ports tried when mosquitto cannot listen on the first one
START_TIMEOUT_S = 30.0  # an upper bound (a loaded 2-core machine); it listens in well under a second
# The gateway's own broker login in the tests' private brokers (the `broker` fixture in conftest.py).
GW_USER, GW_PASSWORD = "tgw-gateway", "gateway-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(port: int, root: Path) -> str:
    # Keep in step with conf/mosquitto.conf (same limits; paths and port differ).
    return "\n".join([
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {root / 'passwd'}",
        f"acl_file {root / 'acl'}",
        "persistence true",
        f"persistence_location {root / 'data'}/",
        "autosave_interval 5",
        "max_queued_messages 100000",
        "max_queued_bytes 0",
        "max_inflight_messages 100",
        "persistent_client_expiration 1d",
        "max_packet_size 33554432",
        "set_tcp_nodelay true",
        f"log_dest file {root / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
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
    def start_for(cls, registry: Registry, tmp: Path, *, gateway_user: str = "tgw-gateway",
                  gateway_password: str, port: int | None = None) -> MosquittoBroker:
        root = Path(tmp) / "mosquitto"
        (root / "data").mkdir(parents=True, exist_ok=True)
        write_broker_files(registry, root, gateway_user=gateway_user, gateway_password=gateway_password)
        for attempt in range(1, START_ATTEMPTS + 1):
            broker = cls(root, port or free_port())
            broker.conf_path.write_text(_conf(broker.port, root), encoding="utf-8")
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
