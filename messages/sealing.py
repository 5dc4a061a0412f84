"""Putting signatures on voucher bodies: the signer's seals at the positions its role owns."""

from __future__ import annotations

from collections.abc import Iterable

from messages.catalog import get_catalog
from messages.envelope import SignatureEntry, VoucherBody
from messages.signing import Signer

__all__ = ["seal", "seal_as_role", "voucher_body"]


def seal(body: VoucherBody, signer: Signer, positions: Iterable[str]) -> VoucherBody:
    """Sign the exact voucher bytes once and place the signature at each position."""
    value = signer.sign(body.voucher)
    for no in positions:
        body = body.with_signature(SignatureEntry(no, signer.sn, value))
    return body


def seal_as_role(body: VoucherBody, signer: Signer, role: str) -> VoucherBody:
    """Sign at every seal position the catalog gives `role` for this voucher type and flag."""
    vt = get_catalog().get(body.vtcode)
    positions = [s.no for s in vt.seals_for(body.flag) if s.role == role]
    if not positions:
        raise ValueError(f"a {role} has no seal position on {body.vtcode} flag {body.flag}")
    return seal(body, signer, positions)


def voucher_body(voucher: bytes, *, flag: int = 0, return_reason: str | None = None) -> VoucherBody:
    """Wrap voucher bytes in a body whose attributes come from the voucher's own head."""
    from messages.voucher import parse_voucher

    doc = parse_voucher(voucher)
    return VoucherBody(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("VtCode"), doc.get("VoucherNo"),
                       flag, voucher, return_reason=return_reason)
