"""Detached signatures over voucher bytes, the certificate store, and seal checking.

A voucher's signature is detached: `Signature` carries the seal position (`No`), the signer's
certificate serial (`SN`, see `keys.serial_sn`) and the base64 of a signature over the exact
voucher bytes. The signature formats are the ones `openssl dgst -sha256 -sign` writes:

* ECDSA P-256 with SHA-256: the DER `Ecdsa-Sig-Value` (SEQUENCE of r, s), with the nonce
  derived per RFC 6979 (same key and bytes, same signature);
* RSA-2048 with SHA-256: PKCS#1 v1.5;
* SM2 with SM3 (GM/T 0003, 0004; `messages.sm2`): DER (r, s) under the default user ID
  "1234567812345678", as `openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt
  distid:1234567812345678` writes it, with the nonce derived like RFC 6979 (HMAC-SM3).

The algorithm is the signer certificate's: a verifier picks it from the certificate's key type.

`verify_seals` is on the gateway's hot path. The store parses each certificate once, keeps the
public key object, and remembers whether the trust anchor signed it, so a check costs a dict
lookup, two datetime comparisons and the signature verification itself.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from messages.catalog import Seal
from messages.errors import InputError, Issue
from messages.files import read_regular
from messages.key_policy import refuse_unsupported
from messages.keys import (
    CA_CERT_FILE,
    PrivateKey,
    PublicKey,
    canonical_sn,
    certificate_public_key,
    key_algorithm,
    load_certificates,
    load_private_key,
    serial_sn,
)
from messages.sm2 import Sm2PrivateKey, Sm2PublicKey

__all__ = [
    "CertInfo",
    "CertificateStore",
    "KeySigner",
    "Signer",
    "seal_path",
    "verify_seals",
    "verify_signature",
]

_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
# Signing uses RFC 6979 nonces: the nonce is derived from the key and the message, so the same
# key and bytes give the same signature (deterministic simulated runs), and a weak random number
# generator can never leak the key. Verifiers see an ordinary ECDSA signature.
_ECDSA_SHA256_RFC6979 = ec.ECDSA(_SHA256, deterministic_signing=True)
_PKCS1V15 = padding.PKCS1v15()


class Signer(Protocol):
    """Whatever signs vouchers: a key file today, perhaps an HSM or a USB key tomorrow."""

    @property
    def sn(self) -> str:
        """Serial of the signer's certificate, as written in `Signature/@SN`."""
        ...

    @property
    def algorithm(self) -> str:
        """"ecdsa", "rsa" or "sm2"."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The raw (not base64) detached signature over `data`."""
        ...


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class KeySigner:
    """Signs with a private key held in memory; `sn` names its certificate."""

    __slots__ = ("_key", "algorithm", "certificate", "participant_id", "role", "sn")

    def __init__(self, private_key: PrivateKey, certificate: x509.Certificate) -> None:
        refuse_unsupported(private_key, "the private key")  # P-256, RSA-2048+ or SM2 (messages.key_policy)
        if private_key.public_key() != certificate_public_key(certificate):
            raise InputError("certificate-invalid",
                             f"the private key does not match certificate SN {serial_sn(certificate)}")
        self._key = private_key
        self.certificate = certificate
        self.sn: str = serial_sn(certificate)
        self.algorithm: str = key_algorithm(private_key)
        self.participant_id = _name_attr(certificate.subject, NameOID.COMMON_NAME)
        self.role = _name_attr(certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @classmethod
    def from_files(cls, key_path: str | os.PathLike[str], cert_path: str | os.PathLike[str],
                   password: bytes | None = None) -> KeySigner:
        """Load a PEM key and its PEM certificate (the first one if the file holds several)."""
        key = load_private_key(key_path, password)
        certs = load_certificates(cert_path)
        return cls(key, certs[0])

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        key = self._key
        if isinstance(key, Sm2PrivateKey):
            return key.sign(data)  # SM3 with the default user ID; deterministic nonce
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, _ECDSA_SHA256_RFC6979)
        return key.sign(data, _PKCS1V15, _SHA256)  # PKCS#1 v1.5 is deterministic by construction

    def __repr__(self) -> str:
        return f"KeySigner(sn={self.sn!r}, participant_id={self.participant_id!r}, algorithm={self.algorithm!r})"


def verify_signature(public_key: PublicKey, data: bytes, signature: bytes) -> bool:
    """True if `signature` is a valid signature of `data` by `public_key`: SHA-256 for ECDSA and
    RSA, SM3 for SM2.

    A wrong, truncated or garbled signature gives False, never an exception. A key the key policy
    refuses (`messages.key_policy`: ECDSA on another curve than P-256, RSA under 2048 bits, any
    other type) raises InputError("key-unsupported"): it verified P-384 and secp256k1 seals before.
    """
    refuse_unsupported(public_key, "the public key")
    return _verify(public_key, data, signature)


def _verify(public_key: PublicKey, data: bytes, signature: bytes) -> bool:
    """`verify_signature` for a key the policy took already (a store's certificate, checked once)."""
    try:
        if isinstance(public_key, Sm2PublicKey):
            return public_key.verify(signature, data)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, _ECDSA_SHA256)
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, _PKCS1V15, _SHA256)
        else:  # never true for a key the policy took: no key verifies what it cannot check
            return False
    except InvalidSignature:
        return False
    except (ValueError, TypeError):
        return False  # e.g. a "signature" that is not bytes at all
    return True


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the gateway needs from a certificate, parsed once."""

    sn: str
    participant_id: str | None  # subject CN
    role: str | None  # subject OU: treasury | bank | pboc for certificates we issue
    not_before: dt.datetime  # UTC, timezone-aware
    not_after: dt.datetime
    public_key: PublicKey
    certificate: x509.Certificate
    algorithm: str  # "ecdsa" | "rsa" | "sm2" | "unsupported" for a key the key policy refuses
    refused: str | None = None  # why the key policy refuses the key (`messages.key_policy`), if it does

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> CertInfo:
        key: object
        refused: str | None = None
        try:
            key = certificate_public_key(cert)
        except InputError as exc:
            key = _UnsupportedKey()  # refused by check(), listed by `tgw keys show`
            refused = exc.issues[0].message
        return cls(
            sn=serial_sn(cert),
            participant_id=_name_attr(cert.subject, NameOID.COMMON_NAME),
            role=_name_attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            public_key=key,  # type: ignore[arg-type]  # other key types are refused by check()
            certificate=cert,
            algorithm="unsupported" if refused else key_algorithm(key),
            refused=refused,
        )

    def valid_at(self, at: dt.datetime) -> bool:
        return self.not_before <= at <= self.not_after

    def as_dict(self) -> dict[str, str | None]:
        return {
            "sn": self.sn,
            "participant_id": self.participant_id,
            "role": self.role,
            "subject": self.certificate.subject.rfc4514_string(),
            "issuer": self.certificate.issuer.rfc4514_string(),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "algorithm": self.algorithm,
        }


class _UnsupportedKey:
    """The public key of a certificate whose key type or curve no library here can open."""

    __slots__ = ()


def _key_problem(info: CertInfo) -> str | None:
    """Why this certificate's key or usage cannot be trusted for voucher signatures, if it can't."""
    if info.refused is not None:  # the key policy refused it (messages.key_policy)
        return info.refused
    try:
        usage = info.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:  # a malformed extension
        return f"unreadable extensions ({exc})"
    if not (usage.digital_signature or usage.content_commitment):
        return "keyUsage allows neither digitalSignature nor nonRepudiation"
    return None


class CertificateStore:
    """Participant certificates by SN, plus the trust anchor(s) that must have issued them.

    A certificate is accepted by `check` if some anchor valid at that time directly issued it
    (issuer name and signature), it is itself valid at that time, its key is ECDSA, SM2 or RSA-2048+,
    and its keyUsage (if present) allows signing. With no anchor, nothing is accepted.
    """

    def __init__(self, anchors: Iterable[x509.Certificate] = (),
                 certificates: Iterable[x509.Certificate] = ()) -> None:
        self._anchors: list[x509.Certificate] = []
        self._by_sn: dict[str, CertInfo] = {}
        self._by_participant: dict[str, list[CertInfo]] = {}
        # sn -> (issuing anchor, or None if no anchor issued it / reason it is unusable)
        self._trust: dict[str, tuple[x509.Certificate | None, str | None]] = {}
        for anchor in anchors:
            self.add_anchor(anchor)
        for cert in certificates:
            self.add(cert)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> CertificateStore:
        """Every `*.pem` in `path`: `ca.pem` holds the anchor(s), the others participants.

        A file may hold several certificates; a `*.pem` holding only keys is skipped;
        any other file without a readable certificate raises InputError("io-unreadable"), and a
        certificate whose key the key policy refuses (`messages.key_policy`) raises
        InputError("key-unsupported") naming its file: a directory the gateway starts on holds
        only certificates it can check seals with, not one refused voucher by voucher.
        """
        d = Path(path)
        if not d.is_dir():
            raise InputError("io-unreadable", f"{d} is not a directory", path=str(d))
        store = cls()
        for file in sorted(d.glob("*.pem")):
            if _only_keys(file):
                continue  # openssl habitually names keys *.pem: a key is not a certificate
            certs = load_certificates(file)
            for cert in certs:
                try:
                    certificate_public_key(cert)
                except InputError as exc:
                    raise InputError(exc.code, f"{file}: {exc.issues[0].message}", path=str(file)) from None
                if file.name == CA_CERT_FILE:
                    store.add_anchor(cert)
                else:
                    store.add(cert)
        return store

    # --- building -----------------------------------------------------------------------------

    def add_anchor(self, cert: x509.Certificate) -> None:
        if cert not in self._anchors:
            self._anchors.append(cert)
            self._trust.clear()  # a new anchor may vouch for certificates refused so far

    def add(self, cert: x509.Certificate | CertInfo) -> CertInfo:
        """Add a participant certificate (idempotent). Two different certificates with one SN
        would make `Signature/@SN` ambiguous: that raises ValueError."""
        info = cert if isinstance(cert, CertInfo) else CertInfo.from_certificate(cert)
        known = self._by_sn.get(info.sn)
        if known is not None:
            if known.certificate == info.certificate:
                return known
            raise ValueError(f"two different certificates share SN {info.sn}")
        self._by_sn[info.sn] = info
        if info.participant_id is not None:
            self._by_participant.setdefault(info.participant_id, []).append(info)
        return info

    # --- queries ------------------------------------------------------------------------------

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return tuple(self._anchors)

    def __len__(self) -> int:
        return len(self._by_sn)

    def __iter__(self) -> Iterator[CertInfo]:
        return iter(list(self._by_sn.values()))

    def __contains__(self, sn: object) -> bool:
        return isinstance(sn, str) and self.get(sn) is not None

    def get(self, sn: str) -> CertInfo | None:
        info = self._by_sn.get(sn)
        if info is None and sn:  # SN in lower case, without openssl's leading zero, or with more zeros
            try:
                info = self._by_sn.get(canonical_sn(sn))
            except InputError:
                return None
        return info

    def for_participant(self, participant_id: str) -> list[CertInfo]:
        return list(self._by_participant.get(participant_id, ()))

    def check(self, sn: str, *, at: dt.datetime) -> CertInfo:
        """The certificate with this SN if it may be trusted at `at` (timezone-aware)."""
        info = self.get(sn)
        if info is None:
            raise InputError("unknown-certificate", f"no known certificate has SN {sn[:80]!r}")
        if info.refused is not None:
            raise InputError("key-unsupported", info.refused)
        problem = self.problem(info, at=at)
        if problem is not None:
            raise InputError("certificate-invalid", f"certificate SN {info.sn}: {problem}")
        return info

    def problem(self, info: CertInfo, *, at: dt.datetime) -> str | None:
        """Why `info` may not be trusted at `at`, or None if it may."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if at < info.not_before:
            return f"not valid before {info.not_before.isoformat()}"
        if at > info.not_after:
            return f"expired at {info.not_after.isoformat()}"
        anchor, problem = self._trust_of(info)
        if problem is not None:
            return problem
        assert anchor is not None
        if not (anchor.not_valid_before_utc <= at <= anchor.not_valid_after_utc):
            return f"its CA certificate {anchor.subject.rfc4514_string()} is not valid at {at.isoformat()}"
        return None

    def _trust_of(self, info: CertInfo) -> tuple[x509.Certificate | None, str | None]:
        cached = self._trust.get(info.sn)
        if cached is None:
            cached = self._compute_trust(info)
            self._trust[info.sn] = cached
        return cached

    def _compute_trust(self, info: CertInfo) -> tuple[x509.Certificate | None, str | None]:
        problem = _key_problem(info)
        if problem is not None:
            return None, problem
        if not self._anchors:
            return None, "no trusted CA is configured"
        for anchor in self._anchors:
            try:
                info.certificate.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return anchor, None
        return None, f"not issued by the trusted CA (issuer {info.certificate.issuer.rfc4514_string()})"


_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def _only_keys(path: Path) -> bool:
    """True for a PEM file holding keys but no certificate (openssl names keys *.pem too)."""
    try:
        data = read_regular(path)
    except OSError:
        return False  # load_certificates reports it
    labels = set(_PEM_LABEL.findall(data))
    return bool(labels) and all(label.endswith(b"KEY") for label in labels)


def seal_path(no: str) -> str:
    return f"SignatureList/Signature[@No='{no}']"


def verify_seals(data: bytes, signatures: Iterable[tuple[str, str, bytes]], required: Sequence[Seal],
                 store: CertificateStore, *, at: dt.datetime) -> list[Issue]:
    """Check the signatures over `data` against the seal positions the voucher type requires.

    `signatures` are (No, SN, raw signature bytes). For each required seal: a signature at its
    position must exist (`missing-signature`); every signature at that position must name a
    known certificate (`unknown-certificate`) that is valid at `at` and issued by the trusted CA
    (`certificate-invalid`) and whose key the key policy takes (`key-unsupported`, as
    `messages.key_policy`), owned by the seal's role (`wrong-seal-position`), and verify over
    `data` (`bad-signature`). A signature at a position the voucher does not take is refused
    (`wrong-seal-position`): nothing unverified travels on to the recipient. Returns every issue
    found; an empty list means the seals are good.
    """
    by_no: dict[str, list[tuple[str, bytes]]] = {}
    for no, sn, sig in signatures:
        by_no.setdefault(no, []).append((sn, sig))

    issues: list[Issue] = []
    taken = {seal.no for seal in required}
    for no in by_no:
        if no not in taken:
            issues.append(Issue(
                "wrong-seal-position",
                f"seal position {no[:20]!r} is not a seal of this voucher (it takes "
                f"{', '.join(sorted(taken)) or 'none'}): a seal that is not checked is not forwarded",
                path=seal_path(no[:20])))
    # One signature is often placed at several positions (a treasury's business and payment
    # seals): verify each distinct (certificate, signature) once. ECDSA verify is the hot path.
    verified: dict[tuple[str, bytes], bool] = {}
    for seal in required:
        path = seal_path(seal.no)
        given = by_no.get(seal.no)
        label = f"seal position {seal.no} ({seal.role}{': ' + seal.name if seal.name else ''})"
        if not given:
            issues.append(Issue("missing-signature", f"{label} has no signature", path=path))
            continue
        for sn, sig in given:
            info = store.get(sn)
            if info is None:
                issues.append(Issue("unknown-certificate",
                                    f"{label}: no known certificate has SN {sn[:80]!r}", path=path))
                continue
            if info.refused is not None:  # no seal is checked with it: key-unsupported, whatever else
                issues.append(Issue("key-unsupported", f"{label}: {info.refused}", path=path))
                continue
            problem = store.problem(info, at=at)
            if problem is not None:
                issues.append(Issue("certificate-invalid", f"{label}: certificate SN {info.sn}: {problem}",
                                    path=path))
            if info.role != seal.role:
                issues.append(Issue(
                    "wrong-seal-position",
                    f"{label} must be signed by a {seal.role}, but certificate SN {info.sn} belongs to "
                    f"{info.participant_id!r} with role {info.role!r}", path=path))
            ok = verified.get((info.sn, sig))
            if ok is None:
                ok = verified[(info.sn, sig)] = _verify(info.public_key, data, sig)
            if not ok:
                issues.append(Issue("bad-signature",
                                    f"{label}: the signature by SN {info.sn} does not verify over the voucher",
                                    path=path))
    return issues
