"""Putting signatures on voucher bodies: the signer's seals at the positions its role owns."""

from __future__ import annotations

from collections.abc import Iterable

from messages.catalog import RETURN_REASON_FIELD, get_catalog
from messages.envelope import SignatureEntry, VoucherBody
from messages.signing import Signer

__all__ = ["seal", "seal_as_role", "sealed_body", "voucher_body"]


def seal(body: VoucherBody, signer: Signer, positions: Iterable[str]) -> VoucherBody:
    """Sign the exact voucher bytes once and place the signature at each position."""
    value = signer.sign(body.voucher)
    sn = signer.sn
    return body.with_signatures([SignatureEntry(no, sn, value) for no in positions])


def seal_as_role(body: VoucherBody, signer: Signer, role: str) -> VoucherBody:
    """Sign at every seal position the catalog gives `role` for this voucher type and flag."""
    return seal(body, signer, _role_positions(body.vtcode, body.flag, role))


def _role_positions(vtcode: str, flag: int, role: str) -> list[str]:
    """The seal positions the catalog gives `role` on `vtcode` with `flag` (at least one)."""
    positions = [s.no for s in get_catalog().get(vtcode).seals_for(flag) if s.role == role]
    if not positions:
        raise ValueError(f"a {role} has no seal position on {vtcode} flag {flag}")
    return positions


def sealed_body(adm_div_code: str, st_year: str, vtcode: str, voucher_no: str, flag: int, voucher: bytes,
                signer: Signer, role: str, *, return_reason: str | None = None) -> VoucherBody:
    """`seal_as_role(VoucherBody(adm_div_code, ..., voucher, return_reason=return_reason), signer,
    role)`, the same body, made once: not an unsealed body first and then its sealed copy (a
    simulator seals every voucher it sends)."""
    positions = _role_positions(vtcode, flag, role)
    if len(set(positions)) != len(positions):  # `with_signatures` keeps the last of a position given twice
        return seal_as_role(VoucherBody(adm_div_code, st_year, vtcode, voucher_no, flag, voucher,
                                        return_reason=return_reason), signer, role)
    value = signer.sign(voucher)
    sn = signer.sn
    return VoucherBody(adm_div_code, st_year, vtcode, voucher_no, flag, voucher,
                       tuple([SignatureEntry(no, sn, value) for no in positions]), return_reason)


def voucher_body(voucher: bytes, *, flag: int = 0, return_reason: str | None = None) -> VoucherBody:
    """Wrap voucher bytes in a body whose attributes come from the voucher's own head.

    The envelope's Return_Reason is the voucher's own XReturnReason (under the seals, see
    docs/security.md). A `return_reason` given for a receipt whose bytes do not carry one yet is
    written into XReturnReason first (the voucher is rebuilt); one that contradicts the voucher's
    is an error."""
    from messages.voucher import build_voucher, parse_voucher

    doc = parse_voucher(voucher)
    sealed = doc.get(RETURN_REASON_FIELD)
    if return_reason is None:
        return_reason = sealed or None
    elif return_reason.strip() != sealed:
        if sealed or flag != 1:
            raise ValueError(f"return_reason {return_reason!r} differs from the voucher's {RETURN_REASON_FIELD} "
                             f"{sealed!r}" if sealed else "only a receipt carries a return reason")
        head = {k: v for k, v in doc.head().items() if k != "VtCode"}
        voucher = build_voucher(doc.vtcode, {**head, RETURN_REASON_FIELD: return_reason.strip()}, doc.details(),
                                encoding=doc.encoding)
        return_reason = return_reason.strip()
    return VoucherBody(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("VtCode"), doc.get("VoucherNo"),
                       flag, voucher, return_reason=return_reason)
