"""Issue 14, `tgw up` secrets: the MQTT password and the operator's token never come from a flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gateway.server import _mqtt_parts
from tgw import main
from tgw import up as up_cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    up_cli.register(parser.add_subparsers())
    return parser.parse_args(["up", *argv])


def test_a_password_in_the_mqtt_url_is_refused_without_echoing_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["up", "--participants", "p.yaml", "--certs", "keys", "--mqtt", "mqtt://gw:hunter2@127.0.0.1:1883"])
    err = capsys.readouterr().err
    assert code == 2
    assert "TGW_MQTT_PASSWORD" in err and "--mqtt-password-file" in err and "hunter2" not in err


def test_the_mqtt_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "from-env")
    out = up_cli._overrides(_args("--mqtt", "mqtt://gw@127.0.0.1:1883"))
    assert out["mqtt_password"] == "from-env"
    assert _mqtt_parts(out["mqtt_url"], out["mqtt_password"])["password"] == "from-env"
    assert _mqtt_parts(out["mqtt_url"], out["mqtt_password"])["username"] == "gw"


def test_the_mqtt_password_and_ops_token_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    (tmp_path / "ops").write_text("  ops-1  \n")
    out = up_cli._overrides(_args("--mqtt", "mqtt://gw@127.0.0.1:1883", "--mqtt-password-file", str(tmp_path / "pw"),
                                  "--ops-token-file", str(tmp_path / "ops")))
    assert out["mqtt_password"] == "from-file" and out["ops_token"] == "ops-1"


def test_the_ops_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGW_OPS_TOKEN", "ops-env")
    assert up_cli._overrides(_args())["ops_token"] == "ops-env"


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_secret_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         content: str | None) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    code = main(["up", "--participants", "p.yaml", "--certs", "keys", "--ops-token-file", str(path)])
    assert code == 2 and "--ops-token-file" in capsys.readouterr().err


def test_a_url_with_a_password_still_works_from_the_yaml_but_the_file_wins() -> None:
    assert _mqtt_parts("mqtt://gw:inline@127.0.0.1:1883")["password"] == "inline"
    assert _mqtt_parts("mqtt://gw:inline@127.0.0.1:1883", "from-file")["password"] == "from-file"


def test_a_bad_mqtt_url_is_refused_without_its_password() -> None:
    from messages.errors import InputError

    with pytest.raises(InputError) as info:
        _mqtt_parts("http://gw:hunter2@127.0.0.1:1883")
    assert "hunter2" not in str(info.value)
