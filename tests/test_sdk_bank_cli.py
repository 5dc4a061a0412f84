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


# --- what it could not reach and why; its exit codes as its --help states them ---------------------

def _run_main(world: DevWorld, capsys: pytest.CaptureFixture[str], **over: str) -> tuple[int, str]:
    code = main(_args(world, **over))
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def test_a_gateway_it_cannot_reach_is_named_with_why(world: DevWorld, capsys: pytest.CaptureFixture[str]) -> None:
    code, last = _run_main(world, capsys)
    assert code == 2
    assert last.startswith(f"tgw-sdk-bank: unavailable: cannot reach the gateway at {DOWN} (--url): "
                           "ClientConnectorError: Cannot connect to host 127.0.0.1:1"), last


@pytest.mark.parametrize(("error", "why"), [
    (TimeoutError(), "TimeoutError (no connection in time; the log above says why each try failed)"),
    (ConnectionResetError(), "ConnectionResetError"),
    (OSError(113, "No route to host"), "OSError: [Errno 113] No route to host"),
])
def test_an_error_without_text_says_its_type_and_what_it_tried_to_reach(
        world: DevWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        error: OSError, why: str) -> None:
    """Was `tgw-sdk-bank: unavailable: ` and nothing more: a broker that refuses every connection
    ends the MQTT client's connect wait in a bare TimeoutError, whose text is empty."""
    import contextlib

    from examples import sdk_bank

    async def registered(*_: object) -> tuple[str, ...]:
        return ("990100",)

    async def pushed(*_: object) -> None:
        return None

    @contextlib.asynccontextmanager
    async def broker(*_: object, **__: object):  # type: ignore[no-untyped-def]
        raise error
        yield

    monkeypatch.setattr(sdk_bank, "_not_me", registered)
    monkeypatch.setattr(sdk_bank, "_not_pushed", pushed)
    monkeypatch.setattr(sdk_bank.GatewayClient, "mqtt", broker)
    code, last = _run_main(world, capsys, mqtt="mqtt://127.0.0.1:1")
    assert (code, last) == (2, f"tgw-sdk-bank: unavailable: cannot reach the broker at mqtt://bank-a@127.0.0.1:1 "
                               f"(--mqtt): {why}")


@pytest.mark.parametrize(("raised", "code"), [(KeyboardInterrupt(), 0), ("participant-mismatch: not bank-a", 2)])
def test_the_exit_codes_its_help_states(world: DevWorld, monkeypatch: pytest.MonkeyPatch, raised: object,
                                        code: int) -> None:
    """--help: 0 stopped by Ctrl-C, 2 the gateway's refusal of its credentials (usage, unreadable
    files and unavailable: the cases above), 1 an unexpected error (the traceback: raised here)."""
    from examples import sdk_bank

    async def whoami(*_: object) -> str:
        if isinstance(raised, BaseException):
            raise raised
        return str(raised)

    monkeypatch.setattr(sdk_bank, "_not_me", whoami)
    assert main(_args(world)) == code
    help_text = sdk_bank.build_parser().format_help()
    assert "0 stopped by Ctrl-C" in help_text and "2 usage" in help_text and "1 an unexpected error" in help_text

    async def broken(*_: object) -> str:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sdk_bank, "_not_me", broken)
    with pytest.raises(RuntimeError):  # uncaught: Python's exit 1 and its traceback
        main(_args(world))


def test_sigterm_stops_it_as_ctrl_c_does_exit_0(world: DevWorld) -> None:
    """A container's stop or a CI job's kill sends SIGTERM: the bank stops as on Ctrl-C, exit 0,
    no traceback (was: killed at once, 143). A gateway that takes the connection and never answers
    keeps it waiting on its first request, the moment the signal comes."""
    import signal
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(60)  # a hang guard, not a timing
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = subprocess.Popen([SDK_BANK, *_args(world, url=url)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            conn, _ = silent.accept()  # its first request is on the way: it runs
            with conn:
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
