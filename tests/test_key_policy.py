"""The key policy (docs/wire.md, "Key policy"): ECDSA on P-256, RSA of 2048 bits or more and SM2
seal vouchers; every other key (ECDSA on P-384 or secp256k1, small RSA, Ed25519...) is refused
`key-unsupported` naming the accepted types, wherever it enters: signing, verifying, registering
a participant, loading a certificate directory, `tgw up --certs` (exit 2, the file named).

The oracle is the docs' table, copied here by hand (`_accepted`), not the module that applies it:
P-384 and secp256k1 keys signed and verified before the policy."""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.participants import _sns_in
from messages.catalog import Seal
from messages.errors import InputError
from messages.keys import (
    certificate_public_key,
    create_ca,
    issue_participant,
    load_certificates,
    load_private_key,
)
from messages.signing import CertificateStore, KeySigner, verify_seals, verify_signature
from runner.world import DevWorld

TGW = str(Path(sys.executable).with_name("tgw"))
ACCEPTED_TEXT = "accepted: ECDSA P-256, RSA (2048 bits or more) and SM2"
DATA = b"<?xml version='1.0'?><Voucher>synthetic</Voucher>"

def _can_make(curve: Any) -> bool:
    try:
        ec.generate_private_key(curve())
    except Exception:  # noqa: BLE001 - a curve this OpenSSL build lacks
        return False
    return True


# Every curve pyca names that this OpenSSL can make a key on (binary curves included where built).
_CURVE_CLASSES = {cls.name: cls for cls in (getattr(ec, n) for n in dir(ec)) if isinstance(cls, type)
                  and issubclass(cls, ec.EllipticCurve) and cls is not ec.EllipticCurve and hasattr(cls, "name")}
CURVES = sorted(name for name, cls in _CURVE_CLASSES.items() if _can_make(cls))
SPECS = [("ecdsa", c) for c in CURVES] + [("rsa", "1024"), ("rsa", "1536"), ("rsa", "2048"), ("rsa", "3072"),
                                          ("sm2", ""), ("ed25519", ""), ("ed448", ""), ("dsa", "2048")]


def _accepted(kind: str, param: str) -> bool:
    """docs/wire.md's table: ECDSA on P-256 only; RSA of 2048 bits or more; SM2; nothing else."""
    if kind == "ecdsa":
        return param in ("secp256r1", "prime256v1", "P-256")
    if kind == "rsa":
        return int(param) >= 2048
    return kind == "sm2"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ca")
    create_ca(d, seed=7)
    return d


def _key(kind: str, param: str) -> Any:
    if kind == "ecdsa":
        return ec.generate_private_key(_CURVE_CLASSES[param]())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(param))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DSA is deprecated
        return dsa.generate_private_key(int(param))


def _bank_z_cert(ca_dir: Path, key: Any) -> x509.Certificate:
    """A 30-day certificate for bank-z's `key`, issued by the CA in `ca_dir` (pyca, whatever the key type)."""
    ca_key = load_private_key(ca_dir / "ca.key")
    [ca_cert] = load_certificates(ca_dir / "ca.pem")
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank-z"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "bank")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]


@functools.cache
def _material(ca_dir: Path, kind: str, param: str) -> tuple[Path, Path]:
    """<dir>/bank-z.key and bank-z.pem (issued by the CA) for a key of that kind, made once."""
    out = ca_dir / f"{kind}-{param or 'x'}"
    out.mkdir()
    if kind == "sm2":
        files = issue_participant(out, participant_id="bank-z", role="bank", ca_dir=ca_dir, algorithm="sm2")
        return files.key, files.cert
    key = _key(kind, param)
    cert = _bank_z_cert(ca_dir, key)
    (out / "bank-z.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (out / "bank-z.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out / "bank-z.key", out / "bank-z.pem"


def _outcome(action: Any) -> str:
    """"ok", or the code of the InputError the action raised (its message must name the accepted types)."""
    try:
        action()
    except InputError as exc:
        assert exc.code != "key-unsupported" or ACCEPTED_TEXT in str(exc), str(exc)
        return exc.code
    return "ok"


def test_the_curves_tried_include_the_ones_that_signed_before() -> None:
    assert {"secp256r1", "secp384r1", "secp521r1", "secp256k1"} <= set(CURVES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.sampled_from(SPECS))
def test_a_key_is_taken_everywhere_iff_the_table_accepts_it(spec: tuple[str, str], ca: Path) -> None:
    kind, param = spec
    key_path, cert_path = _material(ca, kind, param)
    want = "ok" if _accepted(kind, param) else "key-unsupported"
    [cert] = load_certificates(cert_path)
    # signing: the key, and the key with its certificate
    assert _outcome(lambda: load_private_key(key_path)) == want
    assert _outcome(lambda: KeySigner.from_files(key_path, cert_path)) == want
    # loading a certificate and a directory of them; registering a participant with it
    assert _outcome(lambda: certificate_public_key(cert)) == want
    directory = key_path.parent / "certs"
    if not directory.exists():
        directory.mkdir()
        shutil.copy(ca / "ca.pem", directory / "ca.pem")
        shutil.copy(cert_path, directory / "bank-z.pem")
    assert _outcome(lambda: CertificateStore.from_dir(directory)) == want
    assert _outcome(lambda: _sns_in(cert_path)) == want
    # verifying: with the raw public key, and a seal whose certificate holds it
    if kind == "sm2":
        public: Any = KeySigner.from_files(key_path, cert_path).public_key
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DSA is deprecated
            public = serialization.load_pem_private_key(key_path.read_bytes(), None).public_key()
    assert _outcome(lambda: verify_signature(public, DATA, b"\x30\x06\x02\x01\x01\x02\x01\x01")) in (
        {"ok"} if want == "ok" else {"key-unsupported"})
    store = CertificateStore(anchors=load_certificates(ca / "ca.pem"), certificates=[cert])
    issues = verify_seals(DATA, [("101", store.__iter__().__next__().sn, b"\x30\x00")], [Seal("101", "bank", "")],
                          store, at=dt.datetime.now(dt.UTC))
    codes = {i.code for i in issues}
    assert ("key-unsupported" in codes) is (want != "ok"), issues
    if want == "ok":
        assert codes == {"bad-signature"}  # the seal was checked, and the garbage refused


def test_p384_and_secp256k1_no_longer_sign(ca: Path) -> None:
    for curve in ("secp384r1", "secp256k1"):
        key_path, _ = _material(ca, "ecdsa", curve)
        with pytest.raises(InputError) as info:
            load_private_key(key_path)
        assert info.value.code == "key-unsupported"
        assert f"ECDSA on curve {curve}" in str(info.value) and ACCEPTED_TEXT in str(info.value)


def _world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("curve", ["secp384r1", "secp256k1"])
def test_tgw_up_does_not_start_on_a_certs_directory_holding_such_a_key(
        curve: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    world = _world(tmp_path_factory)
    certs = tmp_path / "certs"
    shutil.copytree(world.keys_dir, certs)
    # issued by the world's own CA: only the key is wrong
    odd = _odd_cert(world.keys_dir, curve)
    (certs / "bank-z.pem").write_bytes(odd)
    # a subprocess with a timeout: a gateway that does start (the bug) must not hang the test
    try:
        run = subprocess.run([TGW, "up", "--participants", str(world.registry_path), "--certs", str(certs),
                              "--http", "127.0.0.1:0", "--db", str(tmp_path / "gw.db"), "--log-format", "console"],
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"tgw up started on a certificate with an ECDSA {curve} key") from exc
    code, err = run.returncode, run.stderr
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert re.match(r"tgw up: (error: )?key-unsupported[ :]", last), err
    assert str(certs / "bank-z.pem") in last and f"curve {curve}" in last and ACCEPTED_TEXT in last
    assert "Traceback" not in err
    assert not (tmp_path / "gw.db").exists()  # stopped before the database was opened


def _odd_cert(ca_dir: Path, curve: str) -> bytes:
    return _bank_z_cert(ca_dir, ec.generate_private_key(_CURVE_CLASSES[curve]())).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("curve", ["secp384r1", "secp256k1"])
def test_the_cli_refuses_such_a_key_to_sign_with_or_register(curve: str, ca: Path, tmp_path: Path) -> None:
    key_path, cert_path = _material(ca, "ecdsa", curve)
    sample = Path(__file__).resolve().parents[1] / "samples" / "5201" / "original.xml"
    for argv in (["sign", str(sample), "--key", str(key_path), "--cert", str(cert_path), "--position", "101",
                  "-o", str(tmp_path / "out.xml")],
                 ["participants", "add", "--file", str(tmp_path / "p.yaml"), "--id", "bank-z", "--role", "bank",
                  "--adm-div-code", "990100", "--cert", str(cert_path), "--format", "json"]):
        run = subprocess.run([TGW, *argv], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        last = run.stderr.strip().splitlines()[-1]
        assert "key-unsupported" in last and f"curve {curve}" in last and ACCEPTED_TEXT in last, run.stderr
    assert not (tmp_path / "out.xml").exists() and not (tmp_path / "p.yaml").exists()


def test_tgw_keys_show_says_why_such_a_certificate_is_refused(ca: Path) -> None:
    import json

    _, cert_path = _material(ca, "ecdsa", "secp384r1")
    run = subprocess.run([TGW, "keys", "show", str(cert_path), "--format", "json"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr  # shown, not refused: it is what a person asks to look at
    shown = json.loads(run.stdout)
    assert shown["algorithm"] == "unsupported" and shown["refused"]["code"] == "key-unsupported"
    assert "curve secp384r1" in shown["refused"]["message"] and ACCEPTED_TEXT in shown["refused"]["message"]
    _, good = _material(ca, "ecdsa", "secp256r1")
    shown = json.loads(subprocess.run([TGW, "keys", "show", str(good), "--format", "json"], capture_output=True,
                                      text=True, timeout=60).stdout)
    assert shown["algorithm"] == "ecdsa" and "refused" not in shown
