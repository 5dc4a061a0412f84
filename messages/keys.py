"""Keys and certificates for development and tests: a local CA and one key pair per participant.

Layout on disk (all PEM):

    <dir>/ca.key            PKCS#8, unencrypted, mode 0600
    <dir>/ca.pem            self-signed CA certificate (basicConstraints CA:true, pathlen 0)
    <dir>/<participant>.key PKCS#8, unencrypted, mode 0600
    <dir>/<participant>.pem X.509 v3 certificate issued by the CA:
                            CN=<participant id>, OU=<role>, O=TGW Synthetic;
                            keyUsage digitalSignature + nonRepudiation (voucher signatures),
                            extendedKeyUsage clientAuth (mutual TLS towards the gateway)
    <dir>/<server>.key      the gateway's TLS key (`issue_server`), mode 0600
    <dir>/<server>.pem      its certificate: CN=<name>, subjectAltName = the DNS names / IP
                            addresses given, extendedKeyUsage serverAuth

The certificate serial, as uppercase hex without a prefix (`serial_sn`), is the `SN` attribute
of the envelope's `Signature` element: it is how a verifier finds the signer's certificate.

Algorithms: ECDSA P-256 (default) and RSA-2048, both with SHA-256, and SM2 with SM3 for
participants; no other key is loaded (`messages.key_policy`: ECDSA on P-384 or secp256k1, RSA
under 2048 bits, Ed25519... are refused `key-unsupported`) (`messages.sm2`, on Tongsuo's C core; docs/keys.md). An SM2 participant's
certificate is issued by the CA in the CA's own algorithm (ECDSA or RSA): `cryptography` can
neither build nor sign with an SM2 key, so `messages.sm2cert` puts the SM2 public key into the
certificate. An SM2 CA (and an SM2 TLS server certificate) is not offered: asking for one raises
ValueError (SM2_CA_UNSUPPORTED).

Seeded worlds (`seed=`): for byte-for-byte reproducible simulated runs, `create_ca`,
`issue_participant` and `issue_server` take an integer seed. The ECDSA P-256 private scalar is
then HMAC-SHA256(key = "tgw-seeded-keys/v1:<seed>", message = "key" NUL <file stem> NUL <counter>)
read as a big-endian integer, drawn again with the next counter until it lies in [1, n-1] (an SM2
scalar likewise, with "sm2-key" for "key" and [1, n-2] for SM2's order n)
(rejection sampling, so no modulo bias; a redraw happens with probability ~2^-32); the stem is
the participant id, the server name, or "ca" for the CA (reserved, so no participant shares it).
The certificate serial is the same HMAC over "serial" (19 octets: positive and within RFC 5280's
20). Seeded certificates are valid from SEEDED_NOT_BEFORE to SEEDED_NOT_AFTER unless a
`not_before` is given: fixed bounds, so the files are the same on every run, and wide, since
certificates are checked against wall time even in a simulated run. Every ECDSA signature made
here (certificates) and by `signing.KeySigner` (vouchers) is deterministic (RFC 6979; for SM2 the
same construction with HMAC-SM3, `messages.sm2`), so a
seeded world writes the same key and certificate bytes every time. A seed is public: seeded keys
protect nothing and are for development and simulation only. RSA is not seed-derived (that would
need a hand-written seeded prime search): asking for a seeded RSA key raises ValueError.

This module only writes files when asked (`create_ca`, `issue_participant`, `issue_server`); nothing on the
verification path touches the disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.catalog import ROLES
from messages.errors import InputError
from messages.files import read_error_code, read_regular, write_atomic
from messages.key_policy import ACCEPTED_KEYS, refuse_unsupported
from messages.sm2 import SM2_ORDER, Sm2PrivateKey, Sm2PublicKey, is_sm2_spki
from messages.sm2cert import certificate_spki, with_spki

__all__ = [
    "ACCEPTED_KEYS",
    "ALGORITHMS",
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "SEEDED_NOT_AFTER",
    "SEEDED_NOT_BEFORE",
    "SM2_CA_UNSUPPORTED",
    "Algorithm",
    "CaFiles",
    "ParticipantFiles",
    "PrivateKey",
    "PublicKey",
    "ServerFiles",
    "canonical_sn",
    "certificate_public_key",
    "create_ca",
    "derive_private_key",
    "derive_serial",
    "derive_sm2_private_key",
    "generate_private_key",
    "issue_participant",
    "issue_server",
    "key_algorithm",
    "load_certificates",
    "load_private_key",
    "parse_sn",
    "serial_sn",
    "sn_of_serial",
]

Algorithm = Literal["ecdsa", "rsa", "sm2"]
ALGORITHMS: tuple[Algorithm, ...] = ("ecdsa", "rsa", "sm2")
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | Sm2PrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | Sm2PublicKey

_CaKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey  # what may sign certificates
# Stands in for an SM2 key while pyca builds the certificate (`_issue_leaf`): scalar 1, so G.
_SM2_PLACEHOLDER = ec.derive_private_key(1, ec.SECP256R1())

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.pem"
ORGANIZATION = "TGW Synthetic"

SM2_CA_UNSUPPORTED = (
    "an SM2 CA or TLS server certificate is not offered: SM2 is for participants' voucher seals; "
    "the CA (and the gateway's TLS certificate) is ECDSA or RSA and issues SM2 participant certificates"
)

RSA_BITS = 2048
# Backdate new certificates a little so a peer whose clock is slightly behind accepts them.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Participant ids become file names: keep them to a safe, bounded alphabet.
_PARTICIPANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SN = re.compile(r"[0-9A-Fa-f]{1,64}")  # serials are at most 20 octets (RFC 5280 4.1.2.2)

# Seeded certificates: fixed so the certificate bytes repeat run to run; wide because validity is
# checked against wall time (not simulated time), so they must cover any day a simulation is run.
SEEDED_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
SEEDED_NOT_AFTER = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
_SEED_DOMAIN = "tgw-seeded-keys/v1:"
# Order n of the P-256 group (SEC 2, secp256r1): private scalars lie in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SERIAL_OCTETS = 19  # < 20 octets (RFC 5280 4.1.2.2) with room for DER's sign octet


@dataclass(frozen=True, slots=True)
class CaFiles:
    key: Path
    cert: Path
    sn: str


@dataclass(frozen=True, slots=True)
class ParticipantFiles:
    participant_id: str
    role: str
    key: Path
    cert: Path
    sn: str


@dataclass(frozen=True, slots=True)
class ServerFiles:
    name: str
    hosts: tuple[str, ...]
    key: Path
    cert: Path
    sn: str


# --- serials ----------------------------------------------------------------------------------


def sn_of_serial(serial: int) -> str:
    """A serial number as `openssl x509 -serial` prints it: uppercase hex, whole bytes (so a
    first byte below 0x10 keeps its leading zero), no prefix."""
    if serial < 0:  # not RFC 5280, but old certificates exist; openssl prints the sign
        return "-" + sn_of_serial(-serial)
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex().upper()


def serial_sn(cert: x509.Certificate) -> str:
    """The certificate serial as written in `Signature/@SN`: what `openssl x509 -serial` prints."""
    return sn_of_serial(cert.serial_number)


def parse_sn(text: str) -> int:
    """`Signature/@SN` back to the serial number. Accepts lower case and leading zeros, so the
    SN as openssl prints it and the unpadded form written before both name the certificate."""
    if not _SN.fullmatch(text):
        raise InputError("unknown-certificate", f"SN {text[:80]!r} is not a hexadecimal certificate serial")
    return int(text, 16)


def canonical_sn(text: str) -> str:
    """Any accepted way of writing an SN, as `serial_sn` writes it (InputError if not hex)."""
    return sn_of_serial(parse_sn(text))


# --- keys -------------------------------------------------------------------------------------


def _check_algorithm(algorithm: str) -> Algorithm:
    if algorithm == "sm2":
        return "sm2"
    if algorithm == "ecdsa":
        return "ecdsa"
    if algorithm == "rsa":
        return "rsa"
    raise ValueError(f"unknown key algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")


def generate_private_key(algorithm: str = "ecdsa") -> PrivateKey:
    """A new ECDSA P-256, RSA-2048 or SM2 private key."""
    alg = _check_algorithm(algorithm)
    if alg == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "sm2":
        return Sm2PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"a key seed must be an int, not {type(seed).__name__}")


def _seeded_digest(seed: int, purpose: str, label: str, counter: int = 0) -> bytes:
    _check_seed(seed)
    return hmac.new(f"{_SEED_DOMAIN}{seed}".encode(), f"{purpose}\0{label}\0{counter}".encode(),
                    hashlib.sha256).digest()


def derive_private_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 key of `label` (a participant id, a server name, "ca") in the world of `seed`.

    Pure: the same seed and label give the same key, different labels independent keys.
    """
    for counter in range(1 << 16):  # a redraw has probability ~2^-32: this never runs out
        scalar = int.from_bytes(_seeded_digest(seed, "key", label, counter), "big")
        if 1 <= scalar < _P256_ORDER:
            return ec.derive_private_key(scalar, ec.SECP256R1())
    raise AssertionError("unreachable: no P-256 scalar in 65,536 draws")


def derive_sm2_private_key(seed: int, label: str) -> Sm2PrivateKey:
    """The SM2 key of `label` in the world of `seed` (as `derive_private_key`, on the SM2 curve)."""
    for counter in range(1 << 16):  # a redraw has probability ~2^-32: this never runs out
        scalar = int.from_bytes(_seeded_digest(seed, "sm2-key", label, counter), "big")
        if 1 <= scalar <= SM2_ORDER - 2:
            return Sm2PrivateKey.from_scalar(scalar)
    raise AssertionError("unreachable: no SM2 scalar in 65,536 draws")


def derive_serial(seed: int, label: str) -> int:
    """The certificate serial of `label` in the world of `seed`: positive, 19 octets at most."""
    return int.from_bytes(_seeded_digest(seed, "serial", label)[:_SERIAL_OCTETS], "big") or 1


def _new_key(alg: Algorithm, seed: int | None, label: str) -> PrivateKey:
    if seed is None:
        return generate_private_key(alg)
    if alg == "sm2":
        return derive_sm2_private_key(seed, label)
    if alg != "ecdsa":
        raise ValueError("seeded keys are ECDSA P-256 or SM2 only: RSA keys are not derived from a seed")
    return derive_private_key(seed, label)


def _serial(seed: int | None, label: str) -> int:
    return x509.random_serial_number() if seed is None else derive_serial(seed, label)


def key_algorithm(key: object) -> str:
    """"ecdsa", "rsa" or "sm2" for a supported private or public key, else the key's class name."""
    if isinstance(key, Sm2PrivateKey | Sm2PublicKey):
        return "sm2"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    return type(key).__name__


def _read(path: Path) -> bytes:
    try:
        return read_regular(path)
    except OSError as exc:
        raise InputError(read_error_code(exc), f"cannot read {path}: {exc.strerror or exc}", path=str(path)) from None


def load_private_key(path: str | os.PathLike[str], password: bytes | None = None) -> PrivateKey:
    """Load a PEM private key (PKCS#8, or the traditional formats `openssl` writes)."""
    p = Path(path)
    data = _read(p)
    try:
        with warnings.catch_warnings():  # a DSA key: refused below, in a line of its own
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            key: object = serialization.load_pem_private_key(data, password=password)
    except UnsupportedAlgorithm as exc:  # pyca knows no SM2 curve: perhaps an SM2 key
        key = _load_sm2_private_key(p, data, password, exc)
    except TypeError:
        raise InputError("io-unreadable", f"{p} is an encrypted key and no password was given",
                         path=str(p)) from None
    except ValueError as exc:
        raise InputError("io-unreadable", f"{p} is not a PEM private key ({exc})", path=str(p)) from None
    refuse_unsupported(key, str(p), path=str(p))  # the key policy (messages.key_policy): P-256, RSA-2048+, SM2
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | Sm2PrivateKey)  # what it takes
    return key


def _load_sm2_private_key(p: Path, data: bytes, password: bytes | None, exc: Exception) -> Sm2PrivateKey:
    try:
        return Sm2PrivateKey.from_pem(data, password)
    except TypeError:
        raise InputError("io-unreadable", f"{p} is an encrypted key and no password was given",
                         path=str(p)) from None
    except Exception:  # noqa: BLE001 - tongsuopy raises its own classes for unreadable keys
        raise InputError("key-unsupported", f"{p}: unsupported private key ({exc}); {ACCEPTED_KEYS}",
                         path=str(p)) from None


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's public key, SM2 included (pyca cannot open an SM2 key itself).

    InputError("key-unsupported") for a key the key policy refuses (`messages.key_policy`: ECDSA
    on another curve than P-256, RSA under 2048 bits, Ed25519, DSA...).
    """
    try:
        with warnings.catch_warnings():  # a DSA key: refused below, in a line of its own
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            key = cert.public_key()
    except UnsupportedAlgorithm as exc:
        try:
            spki = certificate_spki(cert)
            if is_sm2_spki(spki):
                return Sm2PublicKey.from_spki_der(spki)
        except Exception:  # noqa: BLE001 - a malformed key: reported below like any unsupported one
            pass
        raise InputError("key-unsupported",
                         f"certificate SN {serial_sn(cert)}: unsupported public key ({exc}); {ACCEPTED_KEYS}") from None
    refuse_unsupported(key, f"certificate SN {serial_sn(cert)}")
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)  # what the key policy takes
    return key


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a file may hold several). At least one, else InputError."""
    p = Path(path)
    data = _read(p)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise InputError("io-unreadable", f"{p} holds no readable PEM certificate ({exc})",
                         path=str(p)) from None
    return certs


# --- writing ----------------------------------------------------------------------------------


def _pem_key(key: PrivateKey) -> bytes:
    if isinstance(key, Sm2PrivateKey):
        return key.pem()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _refuse_existing(force: bool, *paths: Path) -> None:
    if force:
        return
    for p in paths:
        if p.exists():
            raise FileExistsError(f"{p} already exists; refusing to overwrite it (use --force)")


def _validity(not_before: dt.datetime | None, days: int, seed: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    if days <= 0:
        raise ValueError(f"days must be positive, not {days}")
    if not_before is None and seed is not None:
        return SEEDED_NOT_BEFORE, SEEDED_NOT_AFTER  # `days` does not apply: see the module docstring
    if not_before is None:
        not_before = dt.datetime.now(dt.UTC) - CLOCK_SKEW
    elif not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    return not_before, not_before + dt.timedelta(days=days)


def _sign_cert(builder: x509.CertificateBuilder, key: _CaKey) -> x509.Certificate:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # RFC 6979: the same certificate bytes for the same key and contents (seeded worlds).
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return builder.sign(key, hashes.SHA256())


def _sign_tbs(key: _CaKey, tbs: bytes) -> bytes:
    """The CA's signature over a TBSCertificate, exactly as `_sign_cert` makes it."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


def create_ca(directory: str | os.PathLike[str], *, name: str = "TGW Dev CA", algorithm: str = "ecdsa",
              days: int = 3650, not_before: dt.datetime | None = None, force: bool = False,
              seed: int | None = None) -> CaFiles:
    """Create a local development CA in `directory` (created if missing): ca.key and ca.pem.

    With `seed`, the key, serial and validity are fixed by the seed (see the module docstring)."""
    alg = _check_algorithm(algorithm)
    if alg == "sm2":
        raise ValueError(SM2_CA_UNSUPPORTED)
    if not name.strip():
        raise ValueError("the CA name must not be empty")
    start, end = _validity(not_before, days, seed)
    key = _new_key(alg, seed, "ca")  # first: a refused seed leaves no directory behind
    assert not isinstance(key, Sm2PrivateKey)  # refused above
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = d / CA_KEY_FILE, d / CA_CERT_FILE
    _refuse_existing(force, key_path, cert_path)
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial(seed, "ca"))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=True, crl_sign=True, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    cert = _sign_cert(builder, key)
    write_atomic(key_path, _pem_key(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return CaFiles(key=key_path, cert=cert_path, sn=serial_sn(cert))


def _load_ca(ca_dir: Path) -> tuple[_CaKey, x509.Certificate]:
    key = load_private_key(ca_dir / CA_KEY_FILE)
    if isinstance(key, Sm2PrivateKey):
        raise ValueError(SM2_CA_UNSUPPORTED)
    certs = load_certificates(ca_dir / CA_CERT_FILE)
    cert = certs[0]
    if certificate_public_key(cert) != key.public_key():
        raise InputError("certificate-invalid", f"{ca_dir / CA_KEY_FILE} does not match {ca_dir / CA_CERT_FILE}",
                         path=str(ca_dir / CA_CERT_FILE))
    return key, cert


def _authority_key_id(ca_key: _CaKey, ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())


def _check_file_name(value: str, what: str) -> None:
    if not _PARTICIPANT_ID.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit")
    if value == "ca":
        raise ValueError("'ca' is reserved for the CA's own files")


def _issue_leaf(directory: Path, stem: str, subject: x509.Name, usage: x509.KeyUsage,
                extensions: list[x509.ExtensionType], *, ca_dir: Path, alg: Algorithm, days: int,
                not_before: dt.datetime | None, force: bool,
                seed: int | None) -> tuple[Path, Path, x509.Certificate]:
    """A fresh (or, with `seed`, derived) key pair and an end-entity certificate for it, signed by
    the CA in `ca_dir`, written as `<stem>.key` (0600) and `<stem>.pem`. Shared by participants
    and servers."""
    start, end = _validity(not_before, days, seed)
    key = _new_key(alg, seed, stem)
    ca_key, ca_cert = _load_ca(ca_dir)
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.pem"
    _refuse_existing(force, key_path, cert_path)
    # pyca builds certificates only for keys it knows: an SM2 key stands in as a placeholder
    # (P-256's generator point) until `with_spki` swaps its own SubjectPublicKeyInfo in.
    placeholder = _SM2_PLACEHOLDER.public_key() if isinstance(key, Sm2PrivateKey) else key.public_key()
    ski = (x509.SubjectKeyIdentifier(hashlib.sha1(key.public_key().point).digest())  # RFC 5280 4.2.1.2 (1)
           if isinstance(key, Sm2PrivateKey) else x509.SubjectKeyIdentifier.from_public_key(placeholder))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(placeholder)
        .serial_number(_serial(seed, stem))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    builder = (builder
               .add_extension(ski, critical=False)
               .add_extension(_authority_key_id(ca_key, ca_cert), critical=False))
    cert = _sign_cert(builder, ca_key)
    if isinstance(key, Sm2PrivateKey):
        cert = with_spki(cert, key.public_key().spki_der(), lambda tbs: _sign_tbs(ca_key, tbs))
    write_atomic(key_path, _pem_key(key), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, cert


def issue_participant(directory: str | os.PathLike[str], *, participant_id: str, role: str,
                      ca_dir: str | os.PathLike[str], algorithm: str = "ecdsa", days: int = 825,
                      not_before: dt.datetime | None = None, force: bool = False,
                      seed: int | None = None) -> ParticipantFiles:
    """Generate a participant's key pair and have the CA in `ca_dir` certify it.

    The certificate signs vouchers (keyUsage digitalSignature + nonRepudiation) and serves as a
    TLS client certificate towards the gateway (extendedKeyUsage clientAuth).
    `not_before`/`days` exist so tests can make certificates that are expired or not yet valid.
    With `seed`, the key, serial and (without `not_before`) validity are fixed by the seed and
    the participant id (see the module docstring); ECDSA only.
    Raises FileExistsError if the key or certificate exists (unless `force`), ValueError for a
    bad id, role or algorithm (or a seeded RSA key), InputError("io-unreadable") if the CA cannot be read.
    """
    alg = _check_algorithm(algorithm)
    _check_file_name(participant_id, "participant id")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, participant_id),
    ])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    key_path, cert_path, cert = _issue_leaf(
        Path(directory), participant_id, subject, usage, [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])],
        ca_dir=Path(ca_dir), alg=alg, days=days, not_before=not_before, force=force, seed=seed)
    return ParticipantFiles(participant_id=participant_id, role=role, key=key_path, cert=cert_path,
                            sn=serial_sn(cert))


_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _general_name(host: str) -> x509.GeneralName:
    """An IP address literal becomes an iPAddress entry, anything else must be a DNS name."""
    text = host.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if labels and labels[0] == "*" and len(labels) > 2:  # a wildcard only as the whole leftmost label
        labels = labels[1:]
    if not text or len(text) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"host {host!r} is neither an IP address nor a DNS name")
    return x509.DNSName(text.rstrip(".").lower())


def issue_server(directory: str | os.PathLike[str], *, name: str, hosts: list[str],
                 ca_dir: str | os.PathLike[str], algorithm: str = "ecdsa", days: int = 825,
                 not_before: dt.datetime | None = None, force: bool = False,
                 seed: int | None = None) -> ServerFiles:
    """A TLS server key and certificate for the gateway, certified by the CA in `ca_dir`.

    Writes `<name>.key` and `<name>.pem`. `hosts` (DNS names or IP addresses, at least one) go
    into subjectAltName, which is what TLS clients check; extendedKeyUsage is serverAuth only, so
    the certificate cannot pose as a participant's client certificate. `seed` as in
    `issue_participant` (derived from the seed and `name`). Raises like `issue_participant`.
    """
    alg = _check_algorithm(algorithm)
    if alg == "sm2":
        raise ValueError(SM2_CA_UNSUPPORTED)  # TLS here (Python's ssl) has no SM2
    _check_file_name(name, "server name")
    if not hosts:
        raise ValueError("a server certificate needs at least one host (DNS name or IP address)")
    names = list(dict.fromkeys(_general_name(h) for h in hosts))
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=alg == "rsa",
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    key_path, cert_path, cert = _issue_leaf(
        Path(directory), name, subject, usage,
        [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), x509.SubjectAlternativeName(names)],
        ca_dir=Path(ca_dir), alg=alg, days=days, not_before=not_before, force=force, seed=seed)
    return ServerFiles(name=name, hosts=tuple(str(n.value) for n in names), key=key_path, cert=cert_path,
                       sn=serial_sn(cert))
