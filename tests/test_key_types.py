"""A key or certificate of a type the project neither signs nor verifies with (Ed25519, Ed448, DSA)
is refused `key-unsupported` naming the types it takes (ECDSA, RSA, SM2: docs/keys.md), wherever
it is given: not `io-unreadable` (the file was read) nor `certificate-invalid` (nothing about its
validity)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519
from cryptography.x509.oid import NameOID

from messages.errors import InputError
from messages.keys import load_certificates, load_private_key
from messages.signing import KeySigner
from runner.world import DevWorld
from tgw import main

TGW = str(Path(sys.executable).with_name("tgw"))
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "5201" / "original.xml"
ACCEPTED = "accepted: ECDSA P-256, RSA (2048 bits or more) and SM2"


def _generate(kind: str) -> Any:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DSA is deprecated: the point here
        return dsa.generate_private_key(2048)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module", params=["ed25519", "ed448", "dsa"])
def odd(request: pytest.FixtureRequest, world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<dir>/bank-z.key and bank-z.pem: a key of that type, its certificate issued by the world's CA."""
    out = tmp_path_factory.mktemp(request.param)
    key = _generate(request.param)
    ca_key = load_private_key(world.keys_dir / "ca.key")
    [ca] = load_certificates(world.keys_dir / "ca.pem")
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank-z"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "bank")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    (out / "bank-z.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (out / "bank-z.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def _refused(code: int, err: str) -> None:
    assert code == 2, err
    assert re.match(r"tgw [a-z ]+: (error: )?key-unsupported[ :]", err.strip().splitlines()[-1]), err
    assert ACCEPTED in err, err
    assert "Traceback" not in err and "Warning" not in err, err


def test_loading_names_the_code(odd: Path, world: DevWorld) -> None:
    with pytest.raises(InputError) as info:
        load_private_key(odd / "bank-z.key")
    assert info.value.code == "key-unsupported"
    with pytest.raises(InputError) as info:
        KeySigner.from_files(world.keys_dir / "bank-a.key", odd / "bank-z.pem")
    assert info.value.code == "key-unsupported"


@pytest.mark.parametrize("which", ["key", "cert"])
def test_tgw_sign(odd: Path, world: DevWorld, which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = odd / "bank-z.key" if which == "key" else world.keys_dir / "bank-a.key"
    cert = odd / "bank-z.pem" if which == "cert" else world.keys_dir / "bank-a.pem"
    code = main(["sign", str(SAMPLE), "--key", str(key), "--cert", str(cert), "--position", "101",
                 "-o", str(tmp_path / "out.xml")])
    _refused(code, capsys.readouterr().err)


@pytest.mark.parametrize("which", ["key", "cert"])
def test_tgw_up_ack_key(odd: Path, world: DevWorld, which: str, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    key = odd / "bank-z.key" if which == "key" else world.keys_dir / "bank-a.key"
    cert = odd / "bank-z.pem" if which == "cert" else world.keys_dir / "bank-a.pem"
    code = main(["up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                 "--http", "127.0.0.1:0", "--db", str(tmp_path / "gw.db"), "--ack-key", str(key),
                 "--ack-cert", str(cert), "--log-format", "console"])
    _refused(code, capsys.readouterr().err)


def test_tgw_participants_add(odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["participants", "add", "--file", str(tmp_path / "p.yaml"), "--id", "bank-z", "--role", "bank",
                 "--adm-div-code", "990100", "--bank-code", "999100000009", "--cert", str(odd / "bank-z.pem")])
    _refused(code, capsys.readouterr().err)
    assert not (tmp_path / "p.yaml").exists()


def test_tgw_up_with_a_participant_s_certificate(odd: Path, world: DevWorld, tmp_path: Path) -> None:
    raw = yaml.safe_load(world.registry_path.read_text(encoding="utf-8"))
    bank = next(p for p in raw["participants"] if p["id"] == "bank-a")
    bank["certificates"] = [str(odd / "bank-z.pem")]
    registry = world.root / f"participants-{odd.name}.yaml"  # beside keys/, which the others' certificates name
    registry.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    r = subprocess.run([TGW, "up", "--participants", str(registry), "--certs", str(world.keys_dir),
                        "--http", "127.0.0.1:0", "--db", str(tmp_path / "gw.db"), "--log-format", "console"],
                       capture_output=True, text=True, timeout=30)
    _refused(r.returncode, r.stderr)
    assert str(odd / "bank-z.pem") in r.stderr
