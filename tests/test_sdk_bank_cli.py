"""tgw-sdk-bank's command line: a flag's value it cannot use, a file it cannot read, a gateway it
cannot reach is one line and exit 2 (usage, unreadable input, unavailable), never a traceback and
never a wait on a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples.sdk_bank import main
from runner.world import DevWorld

SDK_BANK = str(Path(sys.executable).with_name("tgw-sdk-bank"))
DOWN = "http://127.0.0.1:1"  # nothing listens there: refused at once


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(bytes(range(256)) * 4)
    (d / "adir").mkdir()
    (d / "list.json").write_text("[1, 2]")
    (d / "no-token.json").write_text(json.dumps({"bank-a": "x"}))
    (d / "list.yaml").write_text("- 1\n- 2\n")
    os.mkfifo(d / "fifo")
    return d


def _args(world: DevWorld, **over: str) -> list[str]:
    flags = {"--url": DOWN, "--id": "bank-a", "--bank-code": "999100000001",
             "--key": str(world.keys_dir / "bank-a.key"), "--cert": str(world.keys_dir / "bank-a.pem"),
             "--secrets": str(world.root / "secrets.json")}
    flags.update({f"--{k.replace('_', '-')}": v for k, v in over.items()})
    return [x for kv in flags.items() for x in kv]


CASES = {
    "gateway-down": {},
    "url-not-http": {"url": "notaurl"},
    "url-bad-ipv6": {"url": "http://[::1"},
    "url-bad-port": {"url": "http://127.0.0.1:99999"},
    "mqtt-bad-ipv6": {"mqtt": "mqtt://[::1"},
    "mqtt-password-file-missing": {"mqtt": "mqtt://127.0.0.1:1", "mqtt_password_file": "{files}/no-such"},
    "mqtt-password-file-dir": {"mqtt": "mqtt://127.0.0.1:1", "mqtt_password_file": "{files}/adir"},
    "mqtt-password-file-binary": {"mqtt": "mqtt://127.0.0.1:1", "mqtt_password_file": "{files}/garbage"},
    "mqtt-password-file-empty": {"mqtt": "mqtt://127.0.0.1:1", "mqtt_password_file": "{files}/empty"},
    "secrets-missing": {"secrets": "{files}/no-such"},
    "secrets-garbage": {"secrets": "{files}/garbage"},
    "secrets-list": {"secrets": "{files}/list.json"},
    "secrets-no-token": {"secrets": "{files}/no-token.json"},
    "secrets-list-mqtt": {"secrets": "{files}/list.json", "mqtt": "mqtt://127.0.0.1:1"},
    "accounts-missing": {"accounts": "{files}/no-such"},
    "accounts-dir": {"accounts": "{files}/adir"},
    "accounts-garbage": {"accounts": "{files}/garbage"},
    "accounts-list": {"accounts": "{files}/list.yaml"},
    "key-missing": {"key": "{files}/no-such"},
    "key-garbage": {"key": "{files}/garbage"},
    "reserve-not-money": {"reserve": "abc"},
    "reserve-negative": {"reserve": "-1.00"},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_value_it_cannot_use_is_one_line_and_exit_2(world: DevWorld, files: Path, name: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    over = {k: v.format(files=files) for k, v in CASES[name].items()}
    try:
        code = main(_args(world, **over))
    except SystemExit as exc:  # argparse's p.error
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.strip(), err
    last = err.strip().splitlines()[-1]  # argparse prints its usage first
    assert last.startswith(("tgw-sdk-bank: error: ", "tgw-sdk-bank: unavailable: ")), err


@pytest.mark.parametrize("flag", ["accounts", "mqtt_password_file", "secrets"])
def test_a_pipe_is_refused_not_waited_on(world: DevWorld, files: Path, flag: str) -> None:
    extra = {"mqtt": "mqtt://127.0.0.1:1"} if flag == "mqtt_password_file" else {}
    r = subprocess.run([SDK_BANK, *_args(world, **{flag: str(files / "fifo")}, **extra)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "io-not-regular" in r.stderr, r.stderr
