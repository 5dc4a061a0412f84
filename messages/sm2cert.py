"""SM2 public keys inside X.509 certificates, which pyca `cryptography` parses but cannot open.

`cryptography` reads an SM2 participant's certificate (serial, names, validity, extensions, the
issuer's signature) but `Certificate.public_key()` raises UnsupportedAlgorithm for the SM2
curve, and `CertificateBuilder` accepts only keys it knows. Two small DER operations fill the gap:

* `certificate_spki` cuts the SubjectPublicKeyInfo out of the certificate's TBSCertificate;
* `with_spki` takes a certificate the builder signed over a placeholder key, puts the SM2
  SubjectPublicKeyInfo in the placeholder's place and has the issuer sign the new
  TBSCertificate: the result is an ordinary X.509 v3 certificate (`openssl verify` accepts it).

The issuer (the CA) keeps its own algorithm (ECDSA P-256 or RSA); an SM2-signed CA certificate
is not offered (see docs/keys.md).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["certificate_spki", "with_spki"]


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the element) of the DER element at `at`."""
    if at + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[at], data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or at + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[at:at + n], "big")
        at += n
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, at, at + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each element directly inside [start, end)."""
    out = []
    while start < end:
        _, _, stop = _tlv(data, start)
        out.append((start, stop))
        start = stop
    return out


def _header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes([tag, length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets


def _spki_span(tbs: bytes) -> tuple[int, int]:
    tag, start, end = _tlv(tbs, 0)
    if tag != 0x30:
        raise ValueError("TBSCertificate is not a SEQUENCE")
    fields = _children(tbs, start, end)
    first = 1 if tbs[fields[0][0]] == 0xA0 else 0  # [0] EXPLICIT version, absent for v1
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    return fields[first + 5]


def certificate_spki(cert: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo of `cert` (ValueError if the TBSCertificate is malformed)."""
    tbs = cert.tbs_certificate_bytes
    start, end = _spki_span(tbs)
    return tbs[start:end]


def with_spki(cert: x509.Certificate, spki_der: bytes, sign: Callable[[bytes], bytes]) -> x509.Certificate:
    """`cert` with its SubjectPublicKeyInfo replaced by `spki_der`, re-signed by `sign` (the issuer's
    signature over the new TBSCertificate, in the algorithm `cert` names)."""
    tbs = cert.tbs_certificate_bytes
    start, end = _spki_span(tbs)
    _, body, _ = _tlv(tbs, 0)
    inner = tbs[body:start] + spki_der + tbs[end:]
    new_tbs = _header(0x30, len(inner)) + inner
    der = cert.public_bytes(serialization.Encoding.DER)
    _, outer, outer_end = _tlv(der, 0)
    _, (alg_start, alg_end), _ = _children(der, outer, outer_end)
    signature = sign(new_tbs)
    bits = b"\x00" + signature  # BIT STRING, no unused bits
    body_out = new_tbs + der[alg_start:alg_end] + _header(0x03, len(bits)) + bits
    return x509.load_der_x509_certificate(_header(0x30, len(body_out)) + body_out)
