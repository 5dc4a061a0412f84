"""messages.keys and the `tgw keys` CLI functions: CA, participant certificates, serials."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from messages.errors import InputError
from messages.keys import (
    SM2_CA_UNSUPPORTED,
    create_ca,
    derive_serial,
    issue_participant,
    load_certificates,
    load_private_key,
    parse_sn,
    serial_sn,
)
from tgw import main as tgw_main

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_create_ca_writes_private_key_0600_and_ca_cert(tmp_path: Path, algorithm: str) -> None:
    files = create_ca(tmp_path / "ca", algorithm=algorithm, name="Synthetic Test CA")
    assert files.key == tmp_path / "ca" / "ca.key" and files.cert == tmp_path / "ca" / "ca.pem"
    assert _mode(files.key) == 0o600
    assert files.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    (cert,) = load_certificates(files.cert)
    assert serial_sn(cert) == files.sn
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Synthetic Test CA"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    key = load_private_key(files.key)
    assert isinstance(key, ec.EllipticCurvePrivateKey if algorithm == "ecdsa" else rsa.RSAPrivateKey)
    assert key.public_key() == cert.public_key()
    cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize(("ca_alg", "alg"), [("ecdsa", "ecdsa"), ("ecdsa", "rsa"), ("rsa", "ecdsa"), ("rsa", "rsa")])
def test_issue_participant_certificate_profile(tmp_path: Path, ca_alg: str, alg: str) -> None:
    ca = create_ca(tmp_path, algorithm=ca_alg)
    files = issue_participant(tmp_path, participant_id="treasury-990100", role="treasury", ca_dir=tmp_path,
                              algorithm=alg)
    assert files.key.name == "treasury-990100.key" and files.cert.name == "treasury-990100.pem"
    assert _mode(files.key) == 0o600
    (cert,) = load_certificates(files.cert)
    (ca_cert,) = load_certificates(ca.cert)
    assert cert.version == x509.Version.v3
    assert cert.serial_number > 0 and serial_sn(cert) == files.sn
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {NameOID.COMMON_NAME: "treasury-990100", NameOID.ORGANIZATIONAL_UNIT_NAME: "treasury",
                       NameOID.ORGANIZATION_NAME: "TGW Synthetic"}
    ext = cert.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc) == dt.timedelta(days=825)
    key = load_private_key(files.key)
    assert isinstance(key, ec.EllipticCurvePrivateKey if alg == "ecdsa" else rsa.RSAPrivateKey)
    if isinstance(key, rsa.RSAPrivateKey):
        assert key.key_size == 2048


def test_serials_are_random_and_distinct(tmp_path: Path) -> None:
    create_ca(tmp_path)
    sns = {issue_participant(tmp_path, participant_id=f"bank-sim-{i}", role="bank", ca_dir=tmp_path).sn
           for i in range(5)}
    assert len(sns) == 5


def test_issue_with_past_validity(tmp_path: Path) -> None:
    create_ca(tmp_path)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    files = issue_participant(tmp_path, participant_id="bank-sim-old", role="bank", ca_dir=tmp_path,
                              not_before=start, days=30)
    (cert,) = load_certificates(files.cert)
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == start + dt.timedelta(days=30)


def test_serial_sn_format_and_parse_round_trip(tmp_path: Path) -> None:
    create_ca(tmp_path)
    files = issue_participant(tmp_path, participant_id="pboc-sim", role="pboc", ca_dir=tmp_path)
    (cert,) = load_certificates(files.cert)
    sn = serial_sn(cert)
    # whole bytes as openssl prints them: even length, no padding byte (a serial whose first nibble
    # is 0, one time in 16, keeps its leading "0": test_sn_is_the_serial_exactly_as_openssl_prints_it)
    assert sn == sn.upper() and not sn.startswith("0X") and len(sn) % 2 == 0 and not sn.startswith("00")
    assert int(sn, 16) == cert.serial_number
    assert parse_sn(sn) == cert.serial_number
    assert parse_sn(sn.lower()) == cert.serial_number
    assert parse_sn("00" + sn) == cert.serial_number


@pytest.mark.parametrize("bad", ["", "0x1F", "12G4", " 1F", "1F ", "1" * 65])
def test_parse_sn_refuses_non_hex(bad: str) -> None:
    with pytest.raises(InputError) as err:
        parse_sn(bad)
    assert err.value.code == "unknown-certificate"


def test_refuses_to_overwrite_unless_force(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    with pytest.raises(FileExistsError):
        create_ca(tmp_path)
    assert create_ca(tmp_path, force=True).sn != ca.sn
    p = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path)
    before = p.key.read_bytes()
    with pytest.raises(FileExistsError):
        issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path)
    assert p.key.read_bytes() == before
    p.key.chmod(0o644)
    again = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path, force=True)
    assert again.sn != p.sn and _mode(again.key) == 0o600


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"role": "auditor"}, "role"),
    ({"participant_id": "../escape"}, "participant id"),
    ({"participant_id": ""}, "participant id"),
    ({"participant_id": "ca"}, "reserved"),
    ({"algorithm": "dsa"}, "algorithm"),
    ({"days": 0}, "days"),
])
def test_issue_participant_validates_arguments(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    create_ca(tmp_path)
    args: dict[str, object] = {"participant_id": "bank-sim-a", "role": "bank", "ca_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=match):
        issue_participant(tmp_path, **args)  # type: ignore[arg-type]


def test_an_sm2_ca_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SM2") as err:
        create_ca(tmp_path, algorithm="sm2")
    assert str(err.value) == SM2_CA_UNSUPPORTED
    assert not (tmp_path / "ca.key").exists()


def test_missing_ca_is_io_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path / "nope")
    assert err.value.code == "io-unreadable"


def test_mismatched_ca_key_and_cert_refused(tmp_path: Path) -> None:
    create_ca(tmp_path / "a")
    create_ca(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "ca.key", tmp_path / "a" / "ca.key")
    with pytest.raises(InputError) as err:
        issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path / "a")
    assert err.value.code == "certificate-invalid"


@needs_openssl
@pytest.mark.parametrize(("ca_alg", "alg"), [("ecdsa", "ecdsa"), ("rsa", "rsa"), ("ecdsa", "rsa")])
def test_openssl_verify_accepts_issued_certificate(tmp_path: Path, ca_alg: str, alg: str) -> None:
    ca = create_ca(tmp_path, algorithm=ca_alg)
    p = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path, algorithm=alg)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(ca.cert), str(p.cert)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith(": OK")
    # the key file is one openssl reads, and the serial openssl prints is our SN
    pkey = subprocess.run(["openssl", "pkey", "-in", str(p.key), "-noout"], capture_output=True, check=False)
    assert pkey.returncode == 0
    out = subprocess.run(["openssl", "x509", "-in", str(p.cert), "-noout", "-serial"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().removeprefix("serial=") == p.sn


@needs_openssl
@pytest.mark.parametrize("top", ["leading zero nibble", "high bit set"])
def test_sn_is_the_serial_exactly_as_openssl_prints_it(tmp_path: Path, top: str) -> None:
    """Whole bytes, no sign byte: a serial whose first nibble is 0 keeps its leading "0" (as openssl
    prints it), one whose high bit is set gets no "00". Seeds picked so both cases always occur."""
    def fits(seed: int) -> bool:
        first = derive_serial(seed, "bank-sim-a").to_bytes(19, "big")[0]
        return 0x01 <= first < 0x10 if top == "leading zero nibble" else first >= 0x80
    seed = next(s for s in range(10_000) if fits(s))
    create_ca(tmp_path, seed=seed)
    p = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path, seed=seed)
    out = subprocess.run(["openssl", "x509", "-in", str(p.cert), "-noout", "-serial"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().removeprefix("serial=") == p.sn
    assert (p.sn[0] == "0") == (top == "leading zero nibble")


@needs_openssl
def test_openssl_verify_rejects_certificate_of_another_ca(tmp_path: Path) -> None:
    create_ca(tmp_path / "a")
    other = create_ca(tmp_path / "b")
    p = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path / "a")
    out = subprocess.run(["openssl", "verify", "-CAfile", str(other.cert), str(p.cert)],
                         capture_output=True, text=True, check=False)
    assert out.returncode != 0


# --- CLI --------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = tgw_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_ca_init_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "keys")
    code, out, _ = _run(capsys, "keys", "ca", d, "--name", "Synthetic CLI CA")
    assert code == 0 and out.strip()
    code, out, _ = _run(capsys, "keys", "init", d, "--participant", "bank-sim-a", "--role", "bank",
                        "--algorithm", "rsa")
    assert code == 0
    sn = out.strip()
    (cert,) = load_certificates(tmp_path / "keys" / "bank-sim-a.pem")
    assert sn == serial_sn(cert)

    code, out, _ = _run(capsys, "keys", "show", str(tmp_path / "keys" / "bank-sim-a.pem"))
    assert code == 0
    assert f"SN:          {sn}" in out and "role:        bank" in out and "CN=bank-sim-a" in out
    assert "not after:" in out

    code, out, _ = _run(capsys, "keys", "show", str(tmp_path / "keys" / "bank-sim-a.pem"), "--format", "json")
    shown = json.loads(out)
    assert code == 0
    assert shown["sn"] == sn and shown["role"] == "bank" and shown["participant_id"] == "bank-sim-a"
    assert shown["algorithm"] == "rsa" and shown["ca"] is False
    assert dt.datetime.fromisoformat(shown["not_after"]) == cert.not_valid_after_utc


def test_cli_init_with_separate_ca_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "keys", "ca", str(tmp_path / "ca"))[0] == 0
    code, out, _ = _run(capsys, "keys", "init", str(tmp_path / "p"), "--participant", "treasury-990100",
                        "--role", "treasury", "--ca", str(tmp_path / "ca"))
    assert code == 0 and (tmp_path / "p" / "treasury-990100.pem").exists()
    assert not (tmp_path / "p" / "ca.key").exists()
    (cert,) = load_certificates(tmp_path / "p" / "treasury-990100.pem")
    assert out.strip() == serial_sn(cert)


def test_cli_refuses_existing_key_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path)
    assert _run(capsys, "keys", "ca", d)[0] == 0
    code, out, err = _run(capsys, "keys", "ca", d)
    assert code == 1 and out == ""
    assert err.startswith("tgw keys ca: error:") and "--force" in err and err.count("\n") == 1
    assert _run(capsys, "keys", "ca", d, "--force")[0] == 0
    assert _run(capsys, "keys", "init", d, "--participant", "bank-sim-a", "--role", "bank")[0] == 0
    code, _, err = _run(capsys, "keys", "init", d, "--participant", "bank-sim-a", "--role", "bank")
    assert code == 1 and "already exists" in err
    assert _run(capsys, "keys", "init", d, "--participant", "bank-sim-a", "--role", "bank", "--force")[0] == 0


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # no CA there
    code, _, err = _run(capsys, "keys", "init", str(tmp_path), "--participant", "bank-sim-a", "--role", "bank")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    # unreadable / not a certificate
    (tmp_path / "junk.pem").write_text("not a certificate")
    for target in (tmp_path / "junk.pem", tmp_path / "missing.pem"):
        code, _, err = _run(capsys, "keys", "show", str(target))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    # bad participant id
    _run(capsys, "keys", "ca", str(tmp_path))
    code, _, err = _run(capsys, "keys", "init", str(tmp_path), "--participant", "../x", "--role", "bank")
    assert code == 2 and "participant id" in err


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["keys", "init", str(tmp_path), "--participant", "x", "--role", "auditor"],
                 ["keys", "ca", str(tmp_path), "--algorithm", "sm2"],
                 ["keys", "ca", str(tmp_path), "--algorithm", "dsa"],
                 ["keys", "init", str(tmp_path), "--role", "bank"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and err.startswith("usage: tgw keys ")
        if "sm2" in argv:
            assert "SM2 CA or TLS server certificate is not offered" in err
    code, out, err = _run(capsys, "keys")  # no subcommand: help, and the actions named
    assert code == 2 and out.startswith("usage: tgw keys") and "choose an action: ca, init, server, show" in err


@pytest.mark.parametrize("command", [["ca"], ["init", "--participant", "bank-sim-a", "--role", "bank"],
                                     ["server", "--host", "localhost"]])
def test_cli_output_dir_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         command: list[str]) -> None:
    # DIR naming an existing file is a bad command line (exit 2, nothing written), not a failed operation.
    taken = tmp_path / "taken"
    taken.write_bytes(b"not a directory")
    code, out, err = _run(capsys, "keys", command[0], str(taken), *command[1:])
    assert code == 2 and out == ""
    assert "is not a directory" in err and str(taken) in err
    assert taken.read_bytes() == b"not a directory"
    code, out, _ = _run(capsys, "keys", command[0], str(taken), *command[1:], "--format", "json")
    assert code == 2 and '"code": "usage"' in out
