"""messages.signing: detached signatures, the certificate store, seal checks, openssl interop."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.catalog import Seal
from messages.errors import InputError, Issue
from messages.keys import (
    ParticipantFiles,
    create_ca,
    issue_participant,
    load_certificates,
    load_private_key,
    serial_sn,
)
from messages.signing import (
    CertificateStore,
    CertInfo,
    KeySigner,
    Signer,
    seal_path,
    verify_seals,
    verify_signature,
)

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")

NOW = dt.datetime.now(dt.UTC)
# The fixture's certificates are valid from a day before NOW, whenever they are issued: a run that
# reaches this module long after importing it (a loaded machine) must not find them "not yet valid"
# at NOW (issue_participant's own default is the wall clock at issue minus 5 minutes).
ISSUED = NOW - dt.timedelta(days=1)
# Synthetic voucher: made-up codes, names and account numbers; GBK like the real library.
VOUCHER = (
    '<?xml version="1.0" encoding="GBK"?>\n<Voucher><AdmDivCode>990100</AdmDivCode><StYear>2026</StYear>'
    "<VtCode>5201</VtCode><VoucherNo>SYN-0000001</VoucherNo><PayeeAcctName>合成测试单位</PayeeAcctName>"
    "<PayeeAcctNo>6200000000000001</PayeeAcctNo><PayAmt>1234.56</PayAmt></Voucher>\n"
).encode("gbk")

TREASURY_SEAL = Seal("101", "treasury", "财政盖章")
BANK_SEAL = Seal("201", "bank", "银行盖章")


@dataclass(frozen=True)
class Pki:
    dir: Path
    treasury: ParticipantFiles  # ecdsa
    bank: ParticipantFiles  # rsa
    pboc: ParticipantFiles  # ecdsa
    outsider: ParticipantFiles  # issued by another CA, kept in another directory
    expired: ParticipantFiles
    future: ParticipantFiles

    def signer(self, p: ParticipantFiles) -> KeySigner:
        return KeySigner.from_files(p.key, p.cert)

    def store(self) -> CertificateStore:
        return CertificateStore.from_dir(self.dir)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    create_ca(d, not_before=ISSUED)
    other = tmp_path_factory.mktemp("other-ca")
    create_ca(other, name="Another Synthetic CA", not_before=ISSUED)
    outsider = issue_participant(other, participant_id="treasury-rogue", role="treasury", ca_dir=other,
                                 not_before=ISSUED)
    # the outsider's certificate sits among the trusted CA's participants
    shutil.copy(outsider.cert, d / "treasury-rogue.pem")
    return Pki(
        dir=d,
        treasury=issue_participant(d, participant_id="treasury-990100", role="treasury", ca_dir=d,
                                   not_before=ISSUED),
        bank=issue_participant(d, participant_id="bank-sim-a", role="bank", ca_dir=d, algorithm="rsa",
                               not_before=ISSUED),
        pboc=issue_participant(d, participant_id="pboc-sim", role="pboc", ca_dir=d, not_before=ISSUED),
        outsider=outsider,
        expired=issue_participant(d, participant_id="treasury-990100-old", role="treasury", ca_dir=d,
                                  not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=365),
        future=issue_participant(d, participant_id="bank-sim-next", role="bank", ca_dir=d,
                                 not_before=NOW + dt.timedelta(days=30), days=365),
    )


@pytest.fixture(scope="module")
def store(pki: Pki) -> CertificateStore:
    return pki.store()


# --- sign / verify ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["treasury", "bank"])
def test_round_trip_and_tampering(pki: Pki, who: str) -> None:
    files = getattr(pki, who)
    signer = pki.signer(files)
    assert signer.algorithm == ("ecdsa" if who == "treasury" else "rsa")
    assert signer.sn == files.sn
    public = signer.public_key
    sig = signer.sign(VOUCHER)
    assert verify_signature(public, VOUCHER, sig)
    assert not verify_signature(public, VOUCHER + b" ", sig)
    assert not verify_signature(public, VOUCHER.replace(b"1234.56", b"9234.56"), sig)
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 0x01
    assert not verify_signature(public, VOUCHER, bytes(bad))


def test_wrong_key_fails(pki: Pki) -> None:
    sig = pki.signer(pki.treasury).sign(VOUCHER)
    other_ec = pki.signer(pki.pboc).public_key
    rsa_key = pki.signer(pki.bank).public_key
    assert not verify_signature(other_ec, VOUCHER, sig)
    assert not verify_signature(rsa_key, VOUCHER, sig)
    rsa_sig = pki.signer(pki.bank).sign(VOUCHER)
    assert not verify_signature(other_ec, VOUCHER, rsa_sig)


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"\x30\x02\x02", b"not a signature at all" * 20])
def test_garbage_signature_is_false_not_exception(pki: Pki, garbage: bytes) -> None:
    for files in (pki.treasury, pki.bank):
        public = pki.signer(files).public_key
        assert verify_signature(public, VOUCHER, garbage) is False


def test_unsupported_key_type_raises_input_error() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InputError) as err:
        verify_signature(key, VOUCHER, b"x" * 64)  # type: ignore[arg-type]
    assert err.value.code == "key-unsupported"  # the key policy (messages.key_policy)


def test_ecdsa_signature_is_der(pki: Pki) -> None:
    sig = pki.signer(pki.treasury).sign(VOUCHER)
    r, s = decode_dss_signature(sig)  # raises unless DER SEQUENCE { r, s }
    assert r > 0 and s > 0
    assert len(pki.signer(pki.bank).sign(VOUCHER)) == 256  # RSA-2048 PKCS#1 v1.5


def test_key_signer_refuses_mismatched_key_and_cert(pki: Pki) -> None:
    with pytest.raises(InputError) as err:
        KeySigner.from_files(pki.treasury.key, pki.pboc.cert)
    assert err.value.code == "certificate-invalid"


def test_key_signer_unreadable_files(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        KeySigner.from_files(tmp_path / "missing.key", pki.treasury.cert)
    assert err.value.code == "io-unreadable"
    (tmp_path / "junk.key").write_text("junk")
    with pytest.raises(InputError) as err:
        KeySigner.from_files(tmp_path / "junk.key", pki.treasury.cert)
    assert err.value.code == "io-unreadable"
    encrypted = load_private_key(pki.treasury.key).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"synthetic-pass"))
    (tmp_path / "enc.key").write_bytes(encrypted)
    with pytest.raises(InputError, match="encrypted"):
        KeySigner.from_files(tmp_path / "enc.key", pki.treasury.cert)
    signer = KeySigner.from_files(tmp_path / "enc.key", pki.treasury.cert, password=b"synthetic-pass")
    assert signer.sn == pki.treasury.sn


def test_key_signer_is_a_signer(pki: Pki) -> None:
    signer: Signer = pki.signer(pki.pboc)
    assert signer.sn == pki.pboc.sn and signer.algorithm == "ecdsa"
    assert isinstance(signer.sign(b"x"), bytes)


# --- hypothesis -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ec_signer(pki: Pki) -> KeySigner:
    return pki.signer(pki.treasury)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2048), where=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_sign_verify_and_any_flipped_byte_fails(ec_signer: KeySigner, data: bytes, where: int, bit: int) -> None:
    public = ec_signer.public_key
    sig = ec_signer.sign(data)
    assert verify_signature(public, data, sig)
    if data:
        flipped = bytearray(data)
        flipped[where % len(data)] ^= 1 << bit
        assert not verify_signature(public, bytes(flipped), sig)
    else:
        assert not verify_signature(public, b"\x00", sig)


# --- openssl interoperability -----------------------------------------------------------------


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)


@needs_openssl
@pytest.mark.parametrize("who", ["treasury", "bank"])
def test_openssl_verifies_our_signature(pki: Pki, tmp_path: Path, who: str) -> None:
    files = getattr(pki, who)
    (tmp_path / "voucher.xml").write_bytes(VOUCHER)
    (tmp_path / "sig").write_bytes(pki.signer(files).sign(VOUCHER))
    pub = _openssl("x509", "-in", files.cert, "-pubkey", "-noout", cwd=tmp_path)
    assert pub.returncode == 0, pub.stderr
    (tmp_path / "pub.pem").write_text(pub.stdout)
    out = _openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "voucher.xml", cwd=tmp_path)
    assert out.returncode == 0 and "Verified OK" in out.stdout, out.stdout + out.stderr
    # and the same with the key exported by cryptography instead of openssl
    exported = pki.signer(files).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub2.pem").write_bytes(exported)
    out = _openssl("dgst", "-sha256", "-verify", "pub2.pem", "-signature", "sig", "voucher.xml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # openssl refuses it over tampered bytes
    (tmp_path / "voucher.xml").write_bytes(VOUCHER.replace(b"1234.56", b"1234.57"))
    out = _openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "voucher.xml", cwd=tmp_path)
    assert out.returncode != 0


@needs_openssl
@pytest.mark.parametrize("who", ["treasury", "bank"])
def test_openssl_signature_with_our_key_verifies(pki: Pki, store: CertificateStore, tmp_path: Path,
                                                 who: str) -> None:
    files = getattr(pki, who)
    (tmp_path / "voucher.xml").write_bytes(VOUCHER)
    out = _openssl("dgst", "-sha256", "-sign", files.key, "-out", "sig", "voucher.xml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    sig = (tmp_path / "sig").read_bytes()
    info = store.get(files.sn)
    assert info is not None
    assert verify_signature(info.public_key, VOUCHER, sig)
    assert not verify_signature(info.public_key, VOUCHER + b"\n", sig)
    seal = TREASURY_SEAL if who == "treasury" else BANK_SEAL
    assert verify_seals(VOUCHER, [(seal.no, files.sn, sig)], [seal], store, at=NOW) == []


@needs_openssl
@pytest.mark.parametrize("newkey", [["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                    ["-newkey", "rsa:2048"]], ids=["ecdsa", "rsa"])
def test_openssl_generated_key_and_cert_load(tmp_path: Path, newkey: list[str]) -> None:
    out = _openssl("req", "-x509", *newkey, "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "30",
                   "-subj", "/O=TGW Synthetic/OU=bank/CN=bank-sim-ossl", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    signer = KeySigner.from_files(tmp_path / "key.pem", tmp_path / "cert.pem")
    assert signer.participant_id == "bank-sim-ossl" and signer.role == "bank"
    assert signer.algorithm == ("ecdsa" if "ec" in newkey else "rsa")
    sn_out = _openssl("x509", "-in", "cert.pem", "-noout", "-serial", cwd=tmp_path)
    assert int(sn_out.stdout.strip().removeprefix("serial="), 16) == int(signer.sn, 16)

    (cert,) = load_certificates(tmp_path / "cert.pem")
    store = CertificateStore(anchors=[cert], certificates=[cert])  # self-signed: its own anchor
    now = dt.datetime.now(dt.UTC)  # openssl does not backdate notBefore
    info = store.check(signer.sn, at=now)
    assert info.participant_id == "bank-sim-ossl" and info.role == "bank"

    sig = signer.sign(VOUCHER)
    assert verify_seals(VOUCHER, [("201", signer.sn, sig)], [BANK_SEAL], store, at=now) == []
    # our signature with openssl's key verifies in openssl
    (tmp_path / "voucher.xml").write_bytes(VOUCHER)
    (tmp_path / "sig").write_bytes(sig)
    assert _openssl("x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem", cwd=tmp_path).returncode == 0
    out = _openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "voucher.xml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # and openssl's signature verifies here
    assert _openssl("dgst", "-sha256", "-sign", "key.pem", "-out", "sig2", "voucher.xml", cwd=tmp_path).returncode == 0
    assert verify_signature(info.public_key, VOUCHER, (tmp_path / "sig2").read_bytes())

    # a directory with openssl files loads too (the self-signed cert is a participant there, with no anchor)
    from_dir = CertificateStore.from_dir(tmp_path)
    assert from_dir.get(signer.sn) is not None and not from_dir.anchors


# --- certificate store ------------------------------------------------------------------------


def test_store_from_dir(pki: Pki, store: CertificateStore) -> None:
    assert len(store.anchors) == 1
    assert store.anchors[0].subject.rfc4514_string() == "CN=TGW Dev CA,O=TGW Synthetic"
    assert len(store) == 6  # ca.pem is the anchor, not a participant
    info = store.get(pki.treasury.sn)
    assert info is not None
    assert (info.participant_id, info.role, info.algorithm) == ("treasury-990100", "treasury", "ecdsa")
    assert info.not_before <= NOW <= info.not_after
    assert info.not_before.tzinfo is not None
    bank = store.get(pki.bank.sn)
    assert bank is not None and bank.algorithm == "rsa"
    assert [i.sn for i in store.for_participant("bank-sim-a")] == [pki.bank.sn]
    assert store.for_participant("bank-sim-zzz") == []
    assert pki.pboc.sn in store and "ABC" not in store


def test_store_get_normalises_sn(pki: Pki, store: CertificateStore) -> None:
    sn = pki.treasury.sn
    assert store.get(sn.lower()) is store.get(sn)
    assert store.get("000" + sn) is store.get(sn)
    assert store.get("") is None and store.get("not-hex") is None


def test_store_several_certificates_in_one_pem(pki: Pki, tmp_path: Path) -> None:
    shutil.copy(pki.dir / "ca.pem", tmp_path / "ca.pem")
    bundle = b"".join(p.cert.read_bytes() for p in (pki.treasury, pki.bank, pki.pboc))
    (tmp_path / "participants.pem").write_bytes(bundle)
    store = CertificateStore.from_dir(tmp_path)
    assert len(store) == 3
    for p in (pki.treasury, pki.bank, pki.pboc):
        assert store.check(p.sn, at=NOW).participant_id == p.participant_id


def test_store_add_is_idempotent_and_rejects_sn_clash(pki: Pki) -> None:
    (ca,) = load_certificates(pki.dir / "ca.pem")
    (cert,) = load_certificates(pki.treasury.cert)
    store = CertificateStore(anchors=[ca])
    first = store.add(cert)
    assert store.add(cert) is first and len(store) == 1
    assert isinstance(first, CertInfo)
    # a different certificate forged with the same serial
    ca_key = load_private_key(pki.dir / "ca.key")
    clash = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(ca.subject)
             .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
             .serial_number(cert.serial_number).not_valid_before(cert.not_valid_before_utc)
             .not_valid_after(cert.not_valid_after_utc).sign(ca_key, hashes.SHA256()))
    assert serial_sn(clash) == first.sn
    with pytest.raises(ValueError, match="share SN"):
        store.add(clash)


def test_check_good_and_each_failure(pki: Pki, store: CertificateStore) -> None:
    assert store.check(pki.treasury.sn, at=NOW).role == "treasury"
    assert store.check(pki.bank.sn, at=NOW).role == "bank"
    with pytest.raises(InputError) as err:
        store.check("ABCDEF0123", at=NOW)
    assert err.value.code == "unknown-certificate"
    for files, reason in ((pki.outsider, "not issued by the trusted CA"), (pki.expired, "expired"),
                          (pki.future, "not valid before")):
        with pytest.raises(InputError) as err:
            store.check(files.sn, at=NOW)
        assert err.value.code == "certificate-invalid"
        assert reason in err.value.issues[0].message
    # validity is judged at the given time, not the wall clock
    assert store.check(pki.future.sn, at=NOW + dt.timedelta(days=60)).participant_id == "bank-sim-next"
    with pytest.raises(InputError, match="CA certificate"):  # the CA did not exist yet in 2020
        store.check(pki.expired.sn, at=dt.datetime(2020, 6, 1, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="timezone"):
        store.check(pki.treasury.sn, at=dt.datetime(2026, 1, 1))


def test_check_without_anchor_and_anchor_added_later(pki: Pki) -> None:
    (cert,) = load_certificates(pki.outsider.cert)
    store = CertificateStore(certificates=[cert])
    with pytest.raises(InputError, match="no trusted CA"):
        store.check(pki.outsider.sn, at=NOW)
    (other_ca,) = load_certificates(pki.outsider.cert.parent / "ca.pem")
    store.add_anchor(other_ca)  # the cached refusal is forgotten
    assert store.check(pki.outsider.sn, at=NOW).participant_id == "treasury-rogue"


def test_check_refuses_ca_certificate_outside_its_validity(tmp_path: Path) -> None:
    create_ca(tmp_path, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=100)
    p = issue_participant(tmp_path, participant_id="bank-sim-a", role="bank", ca_dir=tmp_path, not_before=ISSUED)
    store = CertificateStore.from_dir(tmp_path)
    with pytest.raises(InputError, match="CA certificate") as err:
        store.check(p.sn, at=NOW)
    assert err.value.code == "certificate-invalid"


def test_from_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        CertificateStore.from_dir(tmp_path / "missing")
    assert err.value.code == "io-unreadable"
    (tmp_path / "junk.pem").write_text("no certificate here")
    with pytest.raises(InputError) as err:
        CertificateStore.from_dir(tmp_path)
    assert err.value.code == "io-unreadable" and "junk.pem" in err.value.issues[0].message


# --- verify_seals -----------------------------------------------------------------------------


def _codes(issues: list[Issue]) -> list[str]:
    return [i.code for i in issues]


def test_verify_seals_good(pki: Pki, store: CertificateStore) -> None:
    sigs = [("101", pki.treasury.sn, pki.signer(pki.treasury).sign(VOUCHER)),
            ("201", pki.bank.sn, pki.signer(pki.bank).sign(VOUCHER))]
    assert verify_seals(VOUCHER, sigs, [TREASURY_SEAL, BANK_SEAL], store, at=NOW) == []
    assert verify_seals(VOUCHER, iter(sigs[:1]), (TREASURY_SEAL,), store, at=NOW) == []  # any iterable


def test_a_seal_at_a_position_not_required_is_refused_not_ignored(pki: Pki, store: CertificateStore) -> None:
    """Issue 14: garbage at an extra position, or a good signature at one the type does not take,
    was passed on to the recipient unverified."""
    good = [("101", pki.treasury.sn, pki.signer(pki.treasury).sign(VOUCHER)),
            ("201", pki.bank.sn, pki.signer(pki.bank).sign(VOUCHER))]
    for extra in [("999", "FFFF", b"garbage"), ("102", pki.bank.sn, pki.signer(pki.bank).sign(VOUCHER))]:
        issues = verify_seals(VOUCHER, [*good, extra], [TREASURY_SEAL, BANK_SEAL], store, at=NOW)
        assert _codes(issues) == ["wrong-seal-position"]
        assert issues[0].path == f"SignatureList/Signature[@No='{extra[0]}']"
        assert f"position '{extra[0]}' is not a seal of this voucher" in issues[0].message
    # the bank's good signature at 201 is not a seal of a voucher that takes only 101
    assert _codes(verify_seals(VOUCHER, good, (TREASURY_SEAL,), store, at=NOW)) == ["wrong-seal-position"]


def test_missing_signature(pki: Pki, store: CertificateStore) -> None:
    sigs = [("101", pki.treasury.sn, pki.signer(pki.treasury).sign(VOUCHER))]
    issues = verify_seals(VOUCHER, sigs, [TREASURY_SEAL, BANK_SEAL], store, at=NOW)
    assert _codes(issues) == ["missing-signature"]
    assert issues[0].path == "SignatureList/Signature[@No='201']" == seal_path("201")
    assert "201" in issues[0].message and "bank" in issues[0].message


def test_unknown_certificate(pki: Pki, store: CertificateStore) -> None:
    sig = pki.signer(pki.treasury).sign(VOUCHER)
    issues = verify_seals(VOUCHER, [("101", "0123456789ABCDEF", sig)], [TREASURY_SEAL], store, at=NOW)
    assert _codes(issues) == ["unknown-certificate"]
    assert issues[0].path == "SignatureList/Signature[@No='101']"


def test_certificate_from_another_ca(pki: Pki, store: CertificateStore) -> None:
    signer = pki.signer(pki.outsider)  # role treasury, good signature, wrong issuer
    issues = verify_seals(VOUCHER, [("101", signer.sn, signer.sign(VOUCHER))], [TREASURY_SEAL], store, at=NOW)
    assert _codes(issues) == ["certificate-invalid"]
    assert "not issued by the trusted CA" in issues[0].message


def test_expired_certificate(pki: Pki, store: CertificateStore) -> None:
    signer = pki.signer(pki.expired)
    issues = verify_seals(VOUCHER, [("101", signer.sn, signer.sign(VOUCHER))], [TREASURY_SEAL], store, at=NOW)
    assert _codes(issues) == ["certificate-invalid"]
    assert "expired" in issues[0].message


def test_wrong_role_at_seal_position(pki: Pki, store: CertificateStore) -> None:
    signer = pki.signer(pki.bank)  # a bank signing at the treasury's position, validly
    issues = verify_seals(VOUCHER, [("101", signer.sn, signer.sign(VOUCHER))], [TREASURY_SEAL], store, at=NOW)
    assert _codes(issues) == ["wrong-seal-position"]
    assert "treasury" in issues[0].message and "bank-sim-a" in issues[0].message


@pytest.mark.parametrize("who", ["treasury", "bank"])
def test_bad_signature(pki: Pki, store: CertificateStore, who: str) -> None:
    files = getattr(pki, who)
    seal = TREASURY_SEAL if who == "treasury" else BANK_SEAL
    sig = pki.signer(files).sign(VOUCHER)
    tampered = VOUCHER.replace(b"1234.56", b"4234.56")
    issues = verify_seals(tampered, [(seal.no, files.sn, sig)], [seal], store, at=NOW)
    assert _codes(issues) == ["bad-signature"]
    assert issues[0].path == seal_path(seal.no)
    # a signature by the right certificate's owner over other bytes, or by someone else's key
    other = pki.signer(pki.pboc).sign(VOUCHER)
    assert _codes(verify_seals(VOUCHER, [(seal.no, files.sn, other)], [seal], store, at=NOW)) == ["bad-signature"]
    assert _codes(verify_seals(VOUCHER, [(seal.no, files.sn, b"")], [seal], store, at=NOW)) == ["bad-signature"]


def test_all_issues_are_returned_together(pki: Pki, store: CertificateStore) -> None:
    pboc_seal = Seal("301", "pboc", "人民银行盖章")
    bank = pki.signer(pki.bank)
    sigs = [("101", bank.sn, b"garbage"),  # wrong role and bad signature
            ("201", "DEADBEEF", bank.sign(VOUCHER))]  # unknown certificate
    issues = verify_seals(VOUCHER, sigs, [TREASURY_SEAL, BANK_SEAL, pboc_seal], store, at=NOW)
    assert [(i.code, i.path) for i in issues] == [
        ("wrong-seal-position", seal_path("101")),
        ("bad-signature", seal_path("101")),
        ("unknown-certificate", seal_path("201")),
        ("missing-signature", seal_path("301")),
    ]


def test_every_signature_at_a_required_position_is_checked(pki: Pki, store: CertificateStore) -> None:
    treasury = pki.signer(pki.treasury)
    sigs = [("101", treasury.sn, treasury.sign(VOUCHER)), ("101", treasury.sn, b"\x30\x00")]
    assert _codes(verify_seals(VOUCHER, sigs, [TREASURY_SEAL], store, at=NOW)) == ["bad-signature"]
