"""`GET /v1/participants/me` (and the dashboard's `GET /v1/me`, the same answer): which identity a
request's credentials name, as the gateway sees it.

A participant confirms that its token (and/or client certificate) is the one it means to use
before sending anything: its registry entry (no secrets), how it authenticated, the certificates
registered for it with their fingerprints and validity, and the voucher types the catalog lets
its role send and receive. Pure: the handler passes the participant, the certificate store, the
client certificate of the TLS handshake (if any) and the wall time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.participants import Participant
from messages.catalog import get_catalog
from messages.keys import serial_sn
from messages.signing import CertificateStore, CertInfo

__all__ = ["participant_view", "voucher_types"]


def _fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, colon-separated upper hex: what `openssl x509 -noout
    -fingerprint -sha256` prints after `=`."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _certificate(info: CertInfo | None, sn: str, store: CertificateStore, at: dt.datetime) -> dict[str, Any]:
    if info is None:  # an SN in the registry whose certificate the gateway was not given
        return {"sn": sn, "known": False, "usable": False,
                "problem": "the gateway holds no certificate with this SN (not in --certs, not a registered file)"}
    problem = store.problem(info, at=at)
    return {"sn": info.sn, "known": True, "fingerprint_sha256": _fingerprint(info.certificate),
            "subject": info.certificate.subject.rfc4514_string(), "issuer": info.certificate.issuer.rfc4514_string(),
            "not_before": info.not_before.isoformat(), "not_after": info.not_after.isoformat(),
            "algorithm": info.algorithm, "usable": problem is None, "problem": problem}


def voucher_types(role: str) -> dict[str, dict[str, list[str]]]:
    """The VtCodes the catalog lets `role` send and receive, originals and receipts apart."""
    catalog = get_catalog()
    out: dict[str, dict[str, list[str]]] = {"send": {"originals": [], "receipts": []},
                                            "receive": {"originals": [], "receipts": []}}
    for vt in catalog:
        if vt.sender == role:
            out["send"]["originals"].append(vt.vtcode)
            if vt.has_receipt:
                out["receive"]["receipts"].append(vt.vtcode)
        if vt.recipient == role:
            out["receive"]["originals"].append(vt.vtcode)
            if vt.has_receipt:
                out["send"]["receipts"].append(vt.vtcode)
    for side in out.values():
        for codes in side.values():
            codes.sort()
    return out


def participant_view(participant: Participant, store: CertificateStore, *, token: bool,
                     client_certificate: x509.Certificate | None, at: dt.datetime) -> dict[str, Any]:
    """The body of `GET /v1/participants/me` and `GET /v1/me` (their one schema: gateway/openapi.py,
    `_ME`, components/schemas/Me)."""
    via = "+".join(name for name, used in (("certificate", client_certificate is not None), ("token", token))
                   if used)
    client: dict[str, Any] | None = None
    if client_certificate is not None:
        sn = serial_sn(client_certificate)
        client = {"sn": sn, "fingerprint_sha256": _fingerprint(client_certificate),
                  "not_before": client_certificate.not_valid_before_utc.isoformat(),
                  "not_after": client_certificate.not_valid_after_utc.isoformat()}
    return {**participant.as_public_dict(), "authenticated_by": via, "client_certificate": client,
            "certificates": [_certificate(store.get(sn), sn, store, at) for sn in participant.cert_sns],
            "voucher_types": voucher_types(participant.role), "checked_at": at.isoformat()}
