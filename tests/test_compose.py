"""docker-compose.yml is kept correct without a Docker engine: parse it, check it against the code."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from gateway.server import ServerConfig
from tgw import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in compose["services"], f"docker-compose.yml has no service {name!r}"
    svc: dict[str, Any] = compose["services"][name]
    return svc


def _targets(svc: dict[str, Any]) -> set[str]:
    """Every container path a volume (bind or named) is mounted at."""
    return {vol.split(":")[1] for vol in svc.get("volumes", []) if ":" in vol}


def _mounts(svc: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (repository-relative bind mounts only)."""
    out = {}
    for vol in svc.get("volumes", []):
        src, _, rest = vol.partition(":")
        target = rest.split(":")[0]
        if src.startswith("."):
            out[target] = (ROOT / src).resolve()
    return out


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert name in action.choices, f"`tgw {name}` is not a command of tgw"
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    raise AssertionError("tgw has no subcommands")


def _ports(svc: dict[str, Any]) -> set[tuple[int, int]]:
    out = set()
    for p in svc.get("ports", []):
        host, _, container = str(p).rpartition(":")
        out.add((int(host), int(container)))
    return out


def _gateway_config(compose: dict[str, Any]) -> tuple[ServerConfig, Path]:
    svc = _service(compose, "gateway")
    command = svc["command"]
    config_path = command[command.index("--config") + 1]
    host = _mounts(svc).get(config_path)
    assert host is not None, f"the gateway's --config {config_path} is not a bind mount of a repository file"
    return ServerConfig.from_file(host), host


def test_services_and_healthchecks(compose: dict[str, Any]) -> None:
    assert {"mosquitto", "postgres", "gateway"} <= set(compose["services"])
    assert _service(compose, "mosquitto")["image"].startswith("eclipse-mosquitto:2")
    assert _service(compose, "postgres")["image"] == "postgres:15"
    for name, svc in compose["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"service {name} has no healthcheck"


def test_gateway_command_exists_in_cli(compose: dict[str, Any]) -> None:
    command = _service(compose, "gateway")["command"]
    assert command[0] == "tgw"
    sub = _subparser(build_parser(), command[1])
    flags = [c for c in command[2:] if c.startswith("-")]
    assert flags, "the gateway command gives no flags"
    for flag in flags:
        assert flag.split("=")[0] in sub._option_string_actions, f"`tgw {command[1]}` has no flag {flag}"


def test_gateway_is_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    build = _service(compose, "gateway")["build"]
    dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "pip install ." in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd and yaml.safe_load(cmd.group(1)) == _service(compose, "gateway")["command"]


def test_gateway_config_loads_and_matches_ports(compose: dict[str, Any]) -> None:
    cfg, _ = _gateway_config(compose)
    assert cfg.http_host == "0.0.0.0", "inside a container the gateway must listen on all interfaces"
    assert (cfg.http_port, cfg.http_port) in _ports(_service(compose, "gateway"))
    assert cfg.mqtt_url, "the compose gateway talks to the mosquitto service"
    mqtt = urlparse(cfg.mqtt_url)
    assert mqtt.hostname == "mosquitto"
    assert any(c == (mqtt.port or 1883) for _, c in _ports(_service(compose, "mosquitto")))


def test_postgres_matches_config_url(compose: dict[str, Any]) -> None:
    cfg, _ = _gateway_config(compose)
    db = urlparse(cfg.db)
    assert db.scheme in ("postgresql", "postgres")
    env = _service(compose, "postgres")["environment"]
    assert db.hostname == "postgres"
    assert db.path.lstrip("/") == env["POSTGRES_DB"] == "test"
    assert db.username == env["POSTGRES_USER"] and db.password == env["POSTGRES_PASSWORD"]
    assert any(c == (db.port or 5432) for _, c in _ports(_service(compose, "postgres")))
    assert {"postgres", "mosquitto"} <= set(_service(compose, "gateway")["depends_on"])


def test_mosquitto_config_is_in_repo_with_persistence_and_raised_queue(compose: dict[str, Any]) -> None:
    mounts = _mounts(_service(compose, "mosquitto"))
    conf = mounts.get("/mosquitto/config/mosquitto.conf")
    assert conf is not None, "mosquitto.conf is not mounted from the repository"
    assert conf.is_file(), f"{conf.relative_to(ROOT)} (the broker config compose mounts) does not exist"
    settings: dict[str, list[str]] = {}
    for line in conf.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if parts:
            settings.setdefault(parts[0], []).append(" ".join(parts[1:]))
    assert settings.get("persistence") == ["true"]
    queued = settings.get("max_queued_messages")
    assert queued and int(queued[-1]) > 1000, "Mosquitto's default queue (1000) drops QoS 1 messages"
    # The files and directories the config names are where the compose service mounts them.
    targets = _targets(_service(compose, "mosquitto"))
    for key in ("password_file", "acl_file"):
        for value in settings.get(key, []):
            assert any(value == t or value.startswith(t.rstrip("/") + "/") for t in targets), (
                f"{key} {value} is not under any volume of the mosquitto service")
    for value in settings.get("persistence_location", []):
        assert value.rstrip("/") in {t.rstrip("/") for t in targets}, "broker persistence is not on a volume"
    listeners = [int(v.split()[0]) for v in settings.get("listener", [])]
    assert listeners and all(any(c == port for _, c in _ports(_service(compose, "mosquitto")))
                             for port in listeners)


def test_the_image_copies_every_package_it_installs() -> None:
    # `pip install .` in the image installs what pyproject's packages.find includes; a package
    # left out of the COPY lines is silently missing and `tgw up` fails to import in the container
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.M))
    install_at = text.index("pip install .")
    assert all(text.index(f"COPY {name} ") < install_at for name in copied)
    with open(ROOT / "pyproject.toml", "rb") as f:
        included = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    wanted = {pattern.rstrip("*") for pattern in included}
    assert wanted <= copied, f"the Dockerfile does not copy {sorted(wanted - copied)}"
