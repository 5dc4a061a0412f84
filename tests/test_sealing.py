"""Sealing a voucher body: `sealed_body` is `seal_as_role` of a new body, made as one body."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import messages.envelope as envelope_module
from messages.catalog import get_catalog
from messages.envelope import VoucherBody
from messages.sealing import seal_as_role, sealed_body


class _Signer:
    sn = "0A1B2C"
    algorithm = "ecdsa"

    def __init__(self) -> None:
        self.signed = 0

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return hashlib.sha256(data).digest()


_SEALS = sorted({(vt.vtcode, flag, s.role) for vt in get_catalog() for flag in (0, 1) for s in vt.seals_for(flag)})


@settings(max_examples=60, deadline=None)
@given(seal=st.sampled_from(_SEALS), voucher=st.binary(min_size=1, max_size=200),
       reason=st.none() | st.text(max_size=20))
def test_a_sealed_body_is_the_unsealed_body_sealed(seal: tuple[str, int, str], voucher: bytes,
                                                   reason: str | None) -> None:
    vtcode, flag, role = seal
    signer = _Signer()
    made = sealed_body("110000", "2026", vtcode, "N-1", flag, voucher, signer, role, return_reason=reason)
    expected = seal_as_role(VoucherBody("110000", "2026", vtcode, "N-1", flag, voucher, return_reason=reason),
                            _Signer(), role)
    assert made == expected and made.signatures == expected.signatures and signer.signed == 1


def test_a_sealed_body_is_one_body_and_a_role_without_a_seal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[object] = []
    real_init = envelope_module.VoucherBody.__init__

    def counted(self: VoucherBody, *args: object, **kwargs: object) -> None:
        bodies.append(self)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(envelope_module.VoucherBody, "__init__", counted)
    body = sealed_body("110000", "2026", "5201", "N-1", 0, b"<Voucher/>", _Signer(), "treasury")
    assert len(bodies) == 1 and [s.no for s in body.signatures]  # seal_as_role made two: the body, then its copy
    with pytest.raises(ValueError, match="no seal position"):
        sealed_body("110000", "2026", "5201", "N-1", 0, b"<Voucher/>", _Signer(), "pboc")
