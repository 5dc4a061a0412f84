"""Inputs no other test gives the command line and its loaders: a file that is not what its flag
says, a YAML shape other than the documented one, a number past what the library can hold. Each
is one line naming the culprit and exit 2 (usage or unreadable input), never a traceback or a
silent change of meaning."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.participants import load_registry
from messages.errors import InputError, StateError
from runner.world import DevWorld
from storage.db import open_database
from tgw import main

TGW = str(Path(sys.executable).with_name("tgw"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


# ---------------------------------------------------------------- a --db that SQLite cannot open


def _not_databases(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 8)
    return {"garbage": garbage, "directory": tmp_path, "missing-dir": tmp_path / "no" / "such" / "gw.db"}


@pytest.mark.parametrize("kind", ["garbage", "directory", "missing-dir"])
def test_open_database_of_what_sqlite_cannot_open_is_a_state_error(tmp_path: Path, kind: str) -> None:
    path = _not_databases(tmp_path)[kind]
    with pytest.raises(StateError, match="cannot open SQLite database") as exc:
        asyncio.run(open_database(f"sqlite:///{path}"))
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("command", [["monitor", "holds", "list"],
                                     ["monitor", "holds", "release", "H1", "--by", "a", "--reason", "b"]])
def test_monitor_holds_on_a_file_that_is_not_a_database(tmp_path: Path, command: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    garbage = _not_databases(tmp_path)["garbage"]
    assert main([*command, "--db", str(garbage)]) == 2  # was: sqlite3.DatabaseError, a traceback
    assert ": db-not-gateway: " in capsys.readouterr().err


@pytest.mark.parametrize(("kind", "code"), [("directory", "db-not-gateway"), ("garbage", "db-not-gateway"),
                                            ("missing-dir", "io-unreadable")])
def test_up_on_a_db_that_cannot_be_opened_is_unreadable_input(world: DevWorld, tmp_path: Path, kind: str,
                                                              code: str) -> None:
    """A --db named on the command line that cannot be opened is unreadable input, exit 2 (README's
    exit codes), like a participants file that cannot be read: not a failure while running (1)."""
    path = _not_databases(tmp_path)[kind]
    r = subprocess.run([TGW, "up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                        "--http", "127.0.0.1:0", "--db", str(path)], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, r.stderr
    assert f"tgw up: error: {code}" in r.stderr and str(path) in r.stderr, r.stderr


@pytest.mark.parametrize(("url", "code"), [
    ("mysql://x/y", "config-invalid"),
    pytest.param("postgresql://no-such-role@127.0.0.1:5432/test", "db-not-gateway", marks=pytest.mark.postgres)])
def test_up_on_a_db_url_it_cannot_use_is_unreadable_input(world: DevWorld, url: str, code: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                 "--http", "127.0.0.1:0", "--db", url, "--log-format", "console"]) == 2
    assert f"tgw up: error: {code}: " in capsys.readouterr().err


# ---------------------------------------------------------------- participants files of another shape


def _scalar_codes(world: DevWorld, key: str) -> Path:
    raw = yaml.safe_load(world.registry_path.read_text(encoding="utf-8"))
    raw["participants"][0][key] = "990100"  # a string where the format has a list
    out = world.root / "participants-scalar.yaml"  # beside keys/, which its certificates name
    out.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return out


@pytest.mark.parametrize("text", [b"- 1\n- 2\n", b"participants:\n  - 5\n", b"just a string\n",
                                  b"participants: {id: x}\n", bytes(range(128, 256))])
def test_a_participants_file_of_another_shape_is_unreadable_input(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "participants.yaml"
    path.write_bytes(text)
    with pytest.raises(InputError) as exc:  # was: AttributeError, UnicodeDecodeError
        load_registry(path)
    assert exc.value.code == "io-unreadable" and str(path) in str(exc.value)


@pytest.mark.parametrize("key", ["adm_div_codes", "bank_codes", "cert_sns", "certificates"])
def test_a_string_where_a_list_belongs_is_refused_not_split_into_characters(world: DevWorld, key: str) -> None:
    # was: adm_div_codes: "990100" read as the regions "9", "0", "1": the treasury served none of its own
    with pytest.raises(InputError, match=f"{key} must be a list") as exc:
        load_registry(_scalar_codes(world, key))
    assert exc.value.code == "io-unreadable"


def test_a_participant_without_a_role_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "participants.yaml"
    path.write_text("participants:\n  - {id: x}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"participant 1 .*'role'"):
        load_registry(path)


def test_participants_list_of_a_binary_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "participants.yaml"
    path.write_bytes(bytes(range(128, 256)))
    assert main(["participants", "list", "--file", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


# ---------------------------------------------------------------- numbers past the library's range


@pytest.mark.parametrize("days", ["36501", "99999999999999999999999"])
@pytest.mark.parametrize("command", [["keys", "ca"], ["keys", "init", "--participant", "x", "--role", "bank"]])
def test_keys_days_past_a_century_is_a_usage_error(tmp_path: Path, command: list[str], days: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # was: OverflowError from timedelta, a traceback
    assert main([command[0], command[1], str(tmp_path), *command[2:], "--days", days]) == 2
    assert "--days" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything is written


# ---------------------------------------------------------------- tgw validate on what has no size


def _one_gib_address_space() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a regression fails, the machine does not


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_validate_of_an_endless_device_is_not_read(device: str) -> None:
    # was: read to the end that never comes (stat says 0 bytes), memory growing until killed; then
    # xml-too-large after reading 40 MB of it
    r = subprocess.run([TGW, "validate", device], capture_output=True, text=True, timeout=120,
                       preexec_fn=_one_gib_address_space)
    assert "Traceback" not in r.stderr, r.stderr[-500:]
    assert r.returncode == 2 and "io-not-regular" in r.stdout and "character device" in r.stdout


def test_validate_of_a_named_pipe_without_a_writer_does_not_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.xml")
    # was: blocked forever in open(), waiting for a writer
    r = subprocess.run([TGW, "validate", str(tmp_path / "pipe.xml"), "--format", "json"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    [report] = json.loads(r.stdout)
    assert [e["code"] for e in report["errors"]] == ["io-not-regular"] and "named pipe" in r.stdout


# ---------------------------------------------------------------- tgw up values nothing else refused


@pytest.mark.parametrize(("flags", "says"), [
    (["--workers", "100000"], "workers must be a whole number from 0 to 64"),  # was: forked until killed
    (["--workers", "-1"], "workers must be a whole number from 0 to 64"),  # was: taken silently
    (["--http", "127.0.0.1:99999"], "port must be from 0 to 65535"),  # was: bound to 99999 mod 65536
    (["--clock", "simulated", "--clock-start", "notadate"], "is not an ISO date and time"),  # was: a traceback
    (["--log-level", "loud"], "invalid choice"),  # was: INFO, silently
])
def test_up_values_out_of_range_are_usage_errors(world: DevWorld, flags: list[str], says: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.event_loop

    def serve_nothing(*_: object) -> None:  # a value let through fails here, before a process is forked
        raise AssertionError(f"tgw up {flags} would have started serving")

    monkeypatch.setattr(gateway.event_loop, "run_on", serve_nothing)
    args = ["up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir), *flags]
    assert main(args) == 2 and says in capsys.readouterr().err  # argparse's errors too


def test_an_unquoted_clock_start_in_the_config_is_the_time_it_says(world: DevWorld, tmp_path: Path) -> None:
    from gateway.server import ServerConfig

    config = tmp_path / "tgw.yaml"  # as docs/config.example.yaml writes it: YAML reads a datetime
    config.write_text(f"participants: {world.registry_path}\ncerts: {world.keys_dir}\n"
                      "clock: {mode: simulated, start: 2026-03-16T09:00:00+08:00}\n", encoding="utf-8")
    # was: the datetime handed on, and `tgw up` died in fromisoformat (TypeError)
    assert ServerConfig.from_file(config).clock_start == "2026-03-16T09:00:00+08:00"


def test_a_dangling_link_or_a_pipe_in_a_validated_directory_is_reported_not_skipped(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    sample = Path(__file__).resolve().parents[1] / "samples" / "5201" / "original.xml"
    (tmp_path / "ok.xml").write_bytes(sample.read_bytes())
    (tmp_path / "gone.xml").symlink_to(tmp_path / "moved-away.xml")
    (tmp_path / "pipe.xml").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "pipe.xml")  # not a file: reported, not read (reading it would wait for a writer)
    # was: exit 0, "ok.xml OK" and nothing about gone.xml; then nothing about pipe.xml
    assert main(["validate", str(tmp_path), "--summary"]) == 2
    out, err = capsys.readouterr()
    assert "gone.xml" in out and "io-unreadable" in out and "2 unreadable" in err
    assert re.search(r"pipe\.xml.*\n.*io-not-regular", out), out


@pytest.mark.parametrize("extra", ["http: 5", "http: [1, 2]", "clock: x", "monitor: x", "ack_signer: x", "db: 5",
                                   "mqtt: {url: 5}", "tls: {cert: 5}"])
def test_a_config_value_of_another_shape_is_config_invalid(world: DevWorld, tmp_path: Path, extra: str) -> None:
    from gateway.server import ServerConfig

    config = tmp_path / "tgw.yaml"
    config.write_text(f"participants: {world.registry_path}\ncerts: {world.keys_dir}\n{extra}\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:  # was: AttributeError or TypeError, a traceback out of `tgw up`
        ServerConfig.from_file(config)
    assert exc.value.code == "config-invalid" and str(config) in str(exc.value)


@pytest.mark.parametrize(("text", "says"), [("- 1\n", "a mapping of settings"), ("certs: x\n", "no 'participants'")])
def test_a_config_of_another_shape_says_what_it_lacks(tmp_path: Path, text: str, says: str) -> None:
    from gateway.server import ServerConfig

    config = tmp_path / "tgw.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=says) as exc:
        ServerConfig.from_file(config)
    assert exc.value.code == "config-invalid"


# ---------------------------------------------------------------- tgw up keys and certificates


def _expired_cert_for(key_path: Path, out: Path) -> Path:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now - dt.timedelta(days=1)).sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


@pytest.mark.parametrize(("flags", "code", "says"), [
    (["--ack-key", "{key}"], "config-invalid", "need both"),  # was: ignored, acks went unsigned
    (["--ack-cert", "{cert}"], "config-invalid", "need both"),
    (["--ack-key", "{key}", "--ack-cert", "{expired}"], "certificate-invalid", "expired at"),  # was: served on
    (["--tls-cert", "{expired}", "--tls-key", "{key}"], "certificate-invalid", "expired at"),  # was: served on
    (["--ack-key", "{other_key}", "--ack-cert", "{cert}"], "certificate-invalid", "does not match"),  # was: exit 1
])
def test_up_keys_and_certificates_that_cannot_work_are_usage_errors(world: DevWorld, tmp_path: Path, flags: list[str],
                                                                    code: str, says: str,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.event_loop

    def serve_nothing(*_: object) -> None:
        raise AssertionError(f"tgw up {flags} would have started serving")

    monkeypatch.setattr(gateway.event_loop, "run_on", serve_nothing)
    key = world.keys_dir / f"{world.treasury.id}.key"
    files = {"key": key, "cert": world.keys_dir / f"{world.treasury.id}.pem",
             "expired": _expired_cert_for(key, tmp_path / "expired.pem"),
             "other_key": next(p for p in sorted(world.keys_dir.glob("*.key")) if p != key and p.name != "ca.key")}
    args = ["up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
            *[f.format(**files) for f in flags]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{code}" in err and says in err, err


# ---------------------------------------------------------------- XSD refusals of hostile shapes


def _voucher_with(extra_attrs: int = 0, extra_children: int = 0) -> bytes:
    from hostile import sample_voucher

    data = sample_voucher()
    if extra_attrs:
        data = data.replace(b"<Voucher", b"<Voucher " + b" ".join(b'a%d="x"' % i for i in range(extra_attrs)), 1)
    return data.replace(b"</Voucher>", b"<X/>" * extra_children + b"</Voucher>", 1)


@pytest.mark.parametrize(("attrs", "children"), [(2_000, 0), (100_000, 0), (0, 100_000), (30, 0)])
def test_a_voucher_of_many_unknown_attributes_or_children_gets_lxml_s_account(attrs: int, children: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import messages.schema
    from messages.validate import validate_bytes

    def too_costly(*_: object) -> list[object]:
        raise AssertionError("xmlschema's account walked a document past the bounds")

    # was: xmlschema's account, 24 s of CPU for the 21 KB voucher of 2,000 attributes (superlinear),
    # and one issue per bad attribute (100,000 in an answer)
    monkeypatch.setattr(messages.schema, "_detailed", too_costly)
    _, issues = validate_bytes(_voucher_with(attrs, children))
    assert issues and {i.code for i in issues} == {"xsd-invalid"}
    assert len(issues) <= messages.schema.DETAILED_ERRORS_MAX


def test_a_voucher_with_few_schema_errors_keeps_the_detailed_account() -> None:
    from messages.validate import validate_bytes

    _, issues = validate_bytes(_voucher_with(0, 3))
    assert issues[0].code == "xsd-invalid" and "Unexpected child with tag 'X'" in issues[0].message


@pytest.mark.parametrize("text", ["version: 1\nrules: []\n", "participant:\n- id: x\n", "scenario: s\nsteps: []\n"])
def test_a_yaml_file_that_is_no_registry_is_refused_not_listed_empty(tmp_path: Path, text: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    # was: exit 0 and an empty table (a typo'd `participant:` key, another file given by mistake)
    assert main(["participants", "list", "--file", str(tmp_path / "p.yaml")]) == 2
    assert "unknown top-level key" in capsys.readouterr().err
