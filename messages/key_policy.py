"""The key policy: which keys may seal a voucher, and the one refusal for every other key.

docs/wire.md and docs/keys.md name the algorithms of a seal: ECDSA on P-256 with SHA-256, RSA of
2048 bits or more with SHA-256 (PKCS#1 v1.5), and SM2 with SM3 (GM/T 0003, the Chinese
electronic-seal algorithm: `messages.sm2`, on Tongsuo, a dependency of the project, so SM2 is
always supported here). `cryptography` opens many more keys (P-384, P-521, secp256k1,
brainpool, Ed25519...), and those signed and verified until this policy: a counterpart that
follows the wire table could not check such a seal. Every place a key enters (a private key to
sign with, a certificate to register or load, a public key to verify with) asks `key_problem`
and refuses `key-unsupported` with `ACCEPTED_KEYS`, so the answer is the same everywhere.

The table, as data (tests/test_key_policy.py checks generated keys against its own copy, written
from docs/wire.md, not from this module):

| key type | accepted                     |
|----------|------------------------------|
| ECDSA    | curve P-256 (secp256r1) only |
| RSA      | modulus of 2048 bits or more |
| SM2      | the SM2 curve (sm2p256v1)    |
| other    | never                        |
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from messages.errors import InputError
from messages.sm2 import Sm2PrivateKey, Sm2PublicKey

__all__ = ["ACCEPTED_KEYS", "ECDSA_CURVE", "RSA_BITS_MIN", "describe_key", "key_problem", "refuse_unsupported"]

ECDSA_CURVE = "secp256r1"  # P-256, prime256v1: the only ECDSA curve of the wire (docs/wire.md)
RSA_BITS_MIN = 2048  # smaller RSA keys no longer protect anything
ACCEPTED_KEYS = "accepted: ECDSA P-256, RSA (2048 bits or more) and SM2"  # docs/keys.md, docs/wire.md


def describe_key(key: object) -> str:
    """What a person calls the key: "ECDSA secp384r1", "RSA 1024 bits", "SM2", "Ed25519"."""
    if isinstance(key, Sm2PrivateKey | Sm2PublicKey):
        return "SM2"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    return re.sub(r"^_|(Private|Public)Key$", "", type(key).__name__)


def key_problem(key: object) -> str | None:
    """Why the policy refuses `key` (a private or public key), or None if it takes it."""
    if isinstance(key, Sm2PrivateKey | Sm2PublicKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name == ECDSA_CURVE:
            return None
        return f"a key of type ECDSA on curve {key.curve.name} (only P-256 for ECDSA)"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size >= RSA_BITS_MIN:
            return None
        return f"an RSA key of {key.key_size} bits (at least {RSA_BITS_MIN})"
    return f"a key of type {describe_key(key)}"


def refuse_unsupported(key: object, where: str, *, path: str | None = None) -> None:
    """InputError("key-unsupported") naming `where` (a file, a certificate SN) and the accepted
    types, unless the policy takes `key`."""
    problem = key_problem(key)
    if problem is not None:
        raise InputError("key-unsupported", f"{where} holds {problem}; {ACCEPTED_KEYS}", path=path)
