"""SM2/SM3 seals: the signature itself, OpenSSL 3 interoperability both ways, SM2 participant
certificates under the development CA, the CLI, and a world where every participant seals with SM2
(demo replay and a representative part of the scenario catalogue; the whole catalogue is
`tgw scenario run --algorithm sm2 scenarios`, see docs/keys.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.errors import InputError
from messages.keys import (
    certificate_public_key,
    create_ca,
    derive_sm2_private_key,
    issue_participant,
    issue_server,
    load_certificates,
    load_private_key,
    serial_sn,
)
from messages.signing import CertificateStore, KeySigner, verify_signature
from messages.sm2 import DEFAULT_USER_ID, SM2_ORDER, Sm2PrivateKey, Sm2PublicKey, sm3
from runner.scenario_file import catalogue, load_scenario
from runner.scenario_run import run_scenario
from tgw import main

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is the interop reference")
DISTID = f"distid:{DEFAULT_USER_ID.decode()}"


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, check=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sm2-pki")
    create_ca(d, seed=5)
    issue_participant(d, participant_id="bank-sm2", role="bank", ca_dir=d, algorithm="sm2", seed=5)
    issue_participant(d, participant_id="bank-ec", role="bank", ca_dir=d, seed=5)
    return d


# --------------------------------------------------------------------------- the signature


def test_sm3_standard_vector() -> None:
    # GM/T 0004-2012 appendix A.1
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=4096), where=st.integers(min_value=0), algorithm=st.sampled_from(["ecdsa", "sm2"]))
def test_round_trip_and_a_tampered_byte_fails(pki: Path, data: bytes, where: int, algorithm: str) -> None:
    stem = "bank-sm2" if algorithm == "sm2" else "bank-ec"
    signer = KeySigner.from_files(pki / f"{stem}.key", pki / f"{stem}.pem")
    assert signer.algorithm == algorithm
    sig = signer.sign(data)
    assert verify_signature(signer.public_key, data, sig)
    assert signer.sign(data) == sig  # deterministic nonce: same key and bytes, same signature
    if data:
        i = where % len(data)
        tampered = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        assert not verify_signature(signer.public_key, tampered, sig)
    j = where % len(sig)
    assert not verify_signature(signer.public_key, data, sig[:j] + bytes([sig[j] ^ 0x40]) + sig[j + 1:])


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", b"not der", b"\x30\x06\x02\x01\x00\x02\x01\x01"])
def test_garbled_sm2_signature_is_false_not_an_exception(garbage: bytes) -> None:
    key = Sm2PrivateKey.from_scalar(12345)
    assert not key.public_key().verify(garbage, b"voucher")
    assert not key.public_key().verify(key.sign(b"voucher") + b"\x00", b"voucher")


def test_signature_matches_the_gmt_0003_equations() -> None:
    """Recompute r from (x1 of s*G + t*P) independently of Tongsuo's verifier: e + x1 = r (mod n)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = derive_sm2_private_key(3, "bank-a")
    data = b"<Voucher>payment</Voucher>"
    r, s = decode_dss_signature(key.sign(data))
    assert 0 < r < SM2_ORDER and 0 < s < SM2_ORDER
    pub = key.public_key()
    e = int.from_bytes(sm3(pub.z() + data), "big")
    # s = (1+d)^-1 (k - r d)  =>  k = s (1+d) + r d; with d known, x1 of k*G must give r
    d = key._d
    k = (s * (1 + d) + r * d) % SM2_ORDER
    x1 = Sm2PrivateKey.from_scalar(k).public_key().x
    assert (e + x1) % SM2_ORDER == r


def test_seeded_sm2_keys_are_pure_and_distinct_from_p256() -> None:
    a, b = derive_sm2_private_key(1, "bank-a"), derive_sm2_private_key(1, "bank-a")
    assert a.public_key() == b.public_key()
    assert derive_sm2_private_key(2, "bank-a").public_key() != a.public_key()
    with pytest.raises(ValueError):
        Sm2PrivateKey.from_scalar(SM2_ORDER - 1)


# --------------------------------------------------------------------------- OpenSSL both ways


@needs_openssl
def test_openssl_verifies_our_signature_and_we_verify_openssls(pki: Path, tmp_path: Path) -> None:
    signer = KeySigner.from_files(pki / "bank-sm2.key", pki / "bank-sm2.pem")
    data = tmp_path / "voucher.xml"
    data.write_bytes("<Voucher><Payee>示例供应商</Payee></Voucher>".encode())
    pub = tmp_path / "pub.pem"
    pub.write_bytes(_openssl("x509", "-in", str(pki / "bank-sm2.pem"), "-pubkey", "-noout").stdout)
    ours = tmp_path / "ours.sig"
    ours.write_bytes(signer.sign(data.read_bytes()))
    verify = ("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-pubin", "-inkey", str(pub),
              "-in", str(data), "-sigfile", str(ours))
    done = _openssl(*verify)
    assert done.returncode == 0, done.stderr
    # ... and a flipped signature byte is refused by openssl too
    ours.write_bytes(bytes([ours.read_bytes()[0]]) + bytes([ours.read_bytes()[1] ^ 1]) + ours.read_bytes()[2:])
    assert _openssl(*verify).returncode != 0

    theirs = tmp_path / "theirs.sig"
    done = _openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
                    "-inkey", str(pki / "bank-sm2.key"), "-in", str(data), "-out", str(theirs))
    assert done.returncode == 0, done.stderr
    assert verify_signature(signer.public_key, data.read_bytes(), theirs.read_bytes())
    # OpenSSL 3 without distid signs under an EMPTY user ID, not GM/T 0009's: that is another Z
    empty = tmp_path / "empty-id.sig"
    _openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(pki / "bank-sm2.key"),
             "-in", str(data), "-out", str(empty))
    assert not verify_signature(signer.public_key, data.read_bytes(), empty.read_bytes())


@needs_openssl
def test_openssl_accepts_the_sm2_certificate_and_we_read_openssls_key(pki: Path, tmp_path: Path) -> None:
    done = _openssl("verify", "-CAfile", str(pki / "ca.pem"), str(pki / "bank-sm2.pem"))
    assert done.returncode == 0, done.stderr
    cert = load_certificates(pki / "bank-sm2.pem")[0]
    serial = _openssl("x509", "-in", str(pki / "bank-sm2.pem"), "-noout", "-serial").stdout.decode()
    assert serial.strip() == f"serial={serial_sn(cert)}"
    # a key made by openssl loads as an SM2 key
    key_file = tmp_path / "openssl-sm2.key"
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", str(key_file)).returncode == 0
    key = load_private_key(key_file)
    assert isinstance(key, Sm2PrivateKey)
    out = _openssl("pkey", "-in", str(key_file), "-pubout").stdout
    assert key.public_key().pem() == out


# --------------------------------------------------------------------------- certificates and the store


def test_sm2_certificate_parses_and_the_store_trusts_it(pki: Path) -> None:
    cert = load_certificates(pki / "bank-sm2.pem")[0]
    from cryptography.exceptions import UnsupportedAlgorithm

    with pytest.raises(UnsupportedAlgorithm):  # pyca itself cannot open the key
        cert.public_key()
    assert isinstance(certificate_public_key(cert), Sm2PublicKey)
    store = CertificateStore.from_dir(pki)
    signer = KeySigner.from_files(pki / "bank-sm2.key", pki / "bank-sm2.pem")
    info = store.check(signer.sn, at=dt.datetime.now(dt.UTC))
    assert info.algorithm == "sm2" and info.participant_id == "bank-sm2" and info.role == "bank"
    assert verify_signature(info.public_key, b"x", signer.sign(b"x"))


def test_the_gateway_check_refuses_a_bad_sm2_seal(pki: Path) -> None:
    """verify_seals once skipped any key that was not ECDSA or RSA: an SM2 seal was never checked."""
    from messages.catalog import Seal
    from messages.signing import verify_seals

    store = CertificateStore.from_dir(pki)
    signer = KeySigner.from_files(pki / "bank-sm2.key", pki / "bank-sm2.pem")
    seal = Seal(no="1", role="bank", name="")
    at = dt.datetime.now(dt.UTC)
    good = signer.sign(b"voucher")
    assert verify_seals(b"voucher", [("1", signer.sn, good)], [seal], store, at=at) == []
    for bad in (bytes([good[0] ^ 0xFF]) + good[1:], signer.sign(b"another voucher")):
        issues = verify_seals(b"voucher", [("1", signer.sn, bad)], [seal], store, at=at)
        assert [i.code for i in issues] == ["bad-signature"]


def test_seeded_sm2_files_repeat_and_a_wrong_key_is_refused(pki: Path, tmp_path: Path) -> None:
    create_ca(tmp_path, seed=5)
    issue_participant(tmp_path, participant_id="bank-sm2", role="bank", ca_dir=tmp_path, algorithm="sm2", seed=5)
    for name in ("bank-sm2.key", "bank-sm2.pem"):
        assert (tmp_path / name).read_bytes() == (pki / name).read_bytes(), name
    with pytest.raises(InputError) as err:
        KeySigner(derive_sm2_private_key(6, "bank-sm2"), load_certificates(pki / "bank-sm2.pem")[0])
    assert err.value.code == "certificate-invalid"


def test_sm2_ca_and_tls_server_are_refused(tmp_path: Path) -> None:
    create_ca(tmp_path)
    with pytest.raises(ValueError, match="SM2"):
        issue_server(tmp_path, name="gateway", hosts=["localhost"], ca_dir=tmp_path, algorithm="sm2")


def test_cli_keys_init_sign_and_verify_with_sm2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "ca", str(tmp_path)]) == 0
    assert main(["keys", "init", str(tmp_path), "--participant", "treasury-sm2", "--role", "treasury",
                 "--algorithm", "sm2"]) == 0
    sn = capsys.readouterr().out.split()[-1]
    assert main(["keys", "show", str(tmp_path / "treasury-sm2.pem"), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    shown = shown[0] if isinstance(shown, list) else shown
    assert shown["algorithm"] == "sm2" and shown["sn"] == sn
    sample = Path(__file__).resolve().parent.parent / "samples" / "5201" / "original.xml"
    signed = tmp_path / "signed.xml"
    assert main(["sign", str(sample), "--key", str(tmp_path / "treasury-sm2.key"), "--cert",
                 str(tmp_path / "treasury-sm2.pem"), "--position", "1", "-o", str(signed)]) == 0
    capsys.readouterr()
    main(["verify", str(signed), "--certs", str(tmp_path), "--format", "json"])
    report = capsys.readouterr().out
    assert "bad-signature" not in report and sn in report


# --------------------------------------------------------------------------- an SM2 world


def test_sm2_demo_replays_to_the_same_journal_digest(tmp_path: Path) -> None:
    from runner.demo import simulate

    def run(root: Path, algorithm: str) -> dict[str, object]:
        report = asyncio.run(simulate(root, seed=3, vouchers=12, days=1, start=dt.date(2026, 3, 10),
                                      algorithm=algorithm))
        run_info = report["run"]
        assert isinstance(run_info, dict)
        return run_info

    a, b = run(tmp_path / "a", "sm2"), run(tmp_path / "b", "sm2")
    assert a["algorithm"] == "sm2" and a["journal_digest"] == b["journal_digest"]
    keys = tmp_path / "a" / "world" / "keys"
    assert KeySigner.from_files(keys / "bank-a.key", keys / "bank-a.pem").algorithm == "sm2"
    assert run(tmp_path / "c", "ecdsa")["journal_digest"] != a["journal_digest"]


# The whole catalogue again with every participant on SM2 (about 30 s for all of it).
@pytest.mark.parametrize("path", catalogue(), ids=lambda p: p.stem)
def test_catalogue_scenario_holds_on_sm2(path: Path, tmp_path: Path) -> None:
    s = load_scenario(path)
    r = asyncio.run(run_scenario(s, tmp_path, algorithm="sm2"))
    assert r.error is None, r.error
    assert not r.failed, [(o.name, o.expected, o.actual) for o in r.failed]
    keys = tmp_path / "world" / "keys"
    assert KeySigner.from_files(keys / "bank-a.key", keys / "bank-a.pem").algorithm == "sm2"
