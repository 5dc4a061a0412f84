"""SM2 signatures over SM3 (GM/T 0003-2012, GM/T 0004-2012), with Tongsuo's C core underneath.

`cryptography` (pyca) has no SM2 signatures and cannot even load an SM2 key. `tongsuopy` (the
Tongsuo project's Python binding: a fork of pyca/cryptography over Tongsuo, an OpenSSL 3 fork with
the Chinese algorithms) does, and that is what this module wraps:

* verification is entirely Tongsuo's (`EVP_DigestVerify` with SM3 on an SM2 key, which computes
  the user-ID hash Z itself);
* signing computes the nonce point k*G in Tongsuo (the only expensive step) and the two
  scalar formulas of GM/T 0003.2 clause 6.1 with Python integers, because Tongsuo draws k at
  random and offers no way to supply it. k is derived as in RFC 6979 (HMAC-DRBG over the private
  scalar and the message hash, with SM3 as the HMAC hash), so the same key and bytes give the
  same signature, as ECDSA signatures do here: simulated runs replay byte for byte.
  The modular arithmetic on the private scalar runs on Python integers, which are not
  constant-time; the key is not exposed by a timing channel in a simulation, but a production
  signer that must resist local timing attacks belongs in an HSM (the `Signer` protocol).

Parameters: the user ID is GM/T 0009-2012's default, the 16 octets "1234567812345678" (ENTL =
128 bits); Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA); e = SM3(Z || message); the
signature is DER SEQUENCE { INTEGER r, INTEGER s } as GM/T 0009 and OpenSSL write it.
OpenSSL 3's `pkeyutl -rawin -digest sm3` uses an EMPTY ID unless given
`-pkeyopt distid:1234567812345678`: with that option it interoperates both ways (docs/keys.md).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import hashes as _ts_hashes
from tongsuopy.crypto import serialization as _ts_ser
from tongsuopy.crypto.asymciphers import ec as _ts_ec
from tongsuopy.crypto.exceptions import InternalError as _TsInternalError
from tongsuopy.crypto.exceptions import InvalidSignature as _TsInvalidSignature

__all__ = [
    "DEFAULT_USER_ID",
    "SM2_CURVE_OID",
    "SM2_ORDER",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "is_sm2_spki",
    "sm3",
]

DEFAULT_USER_ID = b"1234567812345678"  # GM/T 0009-2012 clause 10: the default signer ID
SM2_CURVE_OID = "1.2.156.10197.1.301"
_SM2_CURVE_OID_DER = bytes.fromhex("06082a811ccf5501822d")  # OBJECT IDENTIFIER 1.2.156.10197.1.301
# The recommended curve of GM/T 0003.5-2012.
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
_CURVE_PREFIX = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))
_SIG_ALG = _ts_ec.ECDSA(_ts_hashes.SM3())  # tongsuopy's name for "SM2 with SM3" on an SM2 key
_CURVE = _ts_ec.SM2()


def sm3(data: bytes) -> bytes:
    """SM3 (GM/T 0004-2012) of `data`."""
    return hashlib.new("sm3", data).digest()


def _hmac_sm3(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sm3").digest()


def is_sm2_spki(spki_der: bytes) -> bool:
    """True if a DER SubjectPublicKeyInfo names the SM2 curve (id-ecPublicKey + sm2p256v1)."""
    return _SM2_CURVE_OID_DER in spki_der[:32]


class Sm2PublicKey:
    """An SM2 public key: verifies SM2-with-SM3 signatures under the default user ID."""

    __slots__ = ("_key", "x", "y")

    def __init__(self, key: Any) -> None:
        numbers = key.public_numbers()
        self._key = key
        self.x: int = numbers.x
        self.y: int = numbers.y

    @classmethod
    def from_spki_der(cls, der: bytes) -> Sm2PublicKey:
        """From a DER SubjectPublicKeyInfo (ValueError if it is not an SM2 key)."""
        if not is_sm2_spki(der):
            raise ValueError("not an SM2 SubjectPublicKeyInfo")
        key = _ts_ser.load_der_public_key(der)
        if not isinstance(key, _ts_ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
            raise ValueError("not an SM2 public key")
        return cls(key)

    @property
    def point(self) -> bytes:
        """The uncompressed point 04 || x || y (65 octets)."""
        return b"\x04" + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")

    def spki_der(self) -> bytes:
        return bytes(self._key.public_bytes(_ts_ser.Encoding.DER, _ts_ser.PublicFormat.SubjectPublicKeyInfo))

    def pem(self) -> bytes:
        return bytes(self._key.public_bytes(_ts_ser.Encoding.PEM, _ts_ser.PublicFormat.SubjectPublicKeyInfo))

    def z(self, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GM/T 0003.2 clause 5.5)."""
        return sm3((len(user_id) * 8).to_bytes(2, "big") + user_id + _CURVE_PREFIX
                   + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big"))

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if `signature` (DER r, s) is this key's SM2 signature of `data`; never raises."""
        try:
            r, s = decode_dss_signature(signature)  # garbled DER is refused here, before Tongsuo
            if not (0 < r < SM2_ORDER and 0 < s < SM2_ORDER):
                return False
            self._key.verify(signature, data, _SIG_ALG)
        except (_TsInvalidSignature, ValueError, TypeError):
            return False
        except _TsInternalError:
            return False  # what Tongsuo raises for DER it cannot read (e.g. trailing octets)
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash(("sm2", self.x, self.y))

    def __repr__(self) -> str:
        return f"Sm2PublicKey(x={self.x:064x})"


class Sm2PrivateKey:
    """An SM2 private key that signs deterministically (see the module docstring)."""

    __slots__ = ("_d", "_inv_1d", "_key", "_public", "_z")

    def __init__(self, key: Any) -> None:
        d = key.private_numbers().private_value
        self._key = key
        self._d: int = d
        self._inv_1d: int = pow(1 + d, -1, SM2_ORDER)  # (1 + d)^-1 mod n, fixed per key
        self._public = Sm2PublicKey(key.public_key())
        self._z = self._public.z()

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        return cls(_ts_ec.generate_private_key(_CURVE))

    @classmethod
    def from_scalar(cls, d: int) -> Sm2PrivateKey:
        """The key with private scalar `d`, 1 <= d <= n-2 (d = n-1 has no (1+d)^-1)."""
        if not 1 <= d <= SM2_ORDER - 2:
            raise ValueError("an SM2 private scalar lies in [1, n-2]")
        return cls(_ts_ec.derive_private_key(d, _CURVE))

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> Sm2PrivateKey:
        """From PEM (PKCS#8 or SEC 1, as `openssl genpkey -algorithm SM2` writes); ValueError if
        it is not an SM2 key, TypeError if it is encrypted and no password was given."""
        key = _ts_ser.load_pem_private_key(data, password)
        if not isinstance(key, _ts_ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
            raise ValueError("not an SM2 private key")
        return cls(key)

    def public_key(self) -> Sm2PublicKey:
        return self._public

    def pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (what `openssl pkey` reads)."""
        return bytes(self._key.private_bytes(_ts_ser.Encoding.PEM, _ts_ser.PrivateFormat.PKCS8,
                                             _ts_ser.NoEncryption()))

    def _nonces(self, h: bytes) -> Any:
        """RFC 6979 clause 3.2 candidates k with HMAC-SM3 (qlen = hlen = 256 bits)."""
        x = self._d.to_bytes(32, "big")
        h1 = (int.from_bytes(h, "big") % SM2_ORDER).to_bytes(32, "big")
        v, k = b"\x01" * 32, b"\x00" * 32
        k = _hmac_sm3(k, v + b"\x00" + x + h1)
        v = _hmac_sm3(k, v)
        k = _hmac_sm3(k, v + b"\x01" + x + h1)
        v = _hmac_sm3(k, v)
        while True:
            v = _hmac_sm3(k, v)
            candidate = int.from_bytes(v, "big")
            if 1 <= candidate < SM2_ORDER:
                yield candidate
            k = _hmac_sm3(k, v + b"\x00")
            v = _hmac_sm3(k, v)

    def sign(self, data: bytes) -> bytes:
        """The DER (r, s) SM2 signature of `data` under the default user ID (GM/T 0003.2 6.1)."""
        e = int.from_bytes(sm3(self._z + data), "big")
        for k in self._nonces(e.to_bytes(32, "big")):
            x1 = _ts_ec.derive_private_key(k, _CURVE).public_key().public_numbers().x  # (x1, y1) = k*G
            r = (e + x1) % SM2_ORDER
            if r == 0 or r + k == SM2_ORDER:
                continue
            s = (self._inv_1d * (k + r) - r) % SM2_ORDER  # = (1+d)^-1 (k - r d), rearranged
            if s != 0:
                return encode_dss_signature(r, s)
        raise AssertionError("unreachable: the nonce generator is endless")

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public={self._public!r})"
