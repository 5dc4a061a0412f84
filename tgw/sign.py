"""`tgw sign` and `tgw verify`: put a seal on vouchers, and check the seals.

    tgw sign FILE --key K --cert C --position N [-o OUT] [--encoding UTF-8|GBK] [--receipt]
    tgw verify FILE --certs DIR [--at ISO-DATETIME] [--format text|json]

`sign` takes an envelope (the signature at position N is added, or replaced, on every
VoucherBody) or a bare voucher (wrapped in a new envelope whose attributes come from the
voucher's head, VoucherFlag 0, or 1 with --receipt). The signature covers the exact inner
voucher bytes, which travel base64-encoded and so survive any re-encoding of the envelope.

Exit codes: 0 ok, 1 a check failed (invalid voucher, bad signature...), 2 usage or unreadable input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from messages.catalog import get_catalog
from messages.envelope import Envelope, SignatureEntry, VoucherBody, encode_envelope, parse_envelope
from messages.errors import InputError, Issue
from messages.files import read_error_code, read_regular
from messages.validate import check_body, verify_body
from messages.voucher import parse_voucher
from messages.xmlsafe import DEFAULT_LIMITS, declared_encoding, parse_xml
from tgw.command_error import CommandError
from tgw.validate import parse_at

__all__ = ["cmd_sign", "cmd_verify", "load_bodies", "register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _read(path: str) -> bytes:
    try:
        return read_regular(path)
    except OSError as exc:
        raise InputError(read_error_code(exc), f"{path}: {exc.strerror or exc}") from None


def load_bodies(data: bytes, *, receipt: bool = False, name: str = "file") -> tuple[bool, list[VoucherBody]]:
    """(is_envelope, bodies) from an envelope or a bare voucher; InputError if neither."""
    limits = DEFAULT_LIMITS
    root = parse_xml(data, bytes_max=max(limits.envelope_bytes_max, limits.voucher_bytes_max),
                     depth_max=limits.depth_max, what=name)
    if root.tag == "MOF":
        return True, list(parse_envelope(data, root=root).bodies)
    doc = parse_voucher(data)
    missing = [t for t in ("AdmDivCode", "StYear", "VtCode", "VoucherNo") if not doc.get(t)]
    if missing:
        raise InputError("xsd-invalid", f"{name}: the voucher head lacks {', '.join(missing)}",
                         path="/Voucher")
    body = VoucherBody(adm_div_code=doc.get("AdmDivCode"), st_year=doc.get("StYear"),
                       vtcode=doc.get("VtCode"), voucher_no=doc.get("VoucherNo"),
                       flag=1 if receipt else 0, voucher=data)
    return False, [body]


def _seal_warning(body: VoucherBody, position: str, role: str | None) -> str | None:
    catalog = get_catalog()
    if body.vtcode not in catalog:
        return f"VtCode {body.vtcode} is not in the catalog"
    seals = catalog.get(body.vtcode).seals_for(body.flag)
    seal = next((s for s in seals if s.no == position), None)
    kind = "receipt" if body.flag else "original"
    if seal is None:
        return (f"position {position} is not a seal of a {body.vtcode} {kind} "
                f"(expected {', '.join(s.no for s in seals) or 'none'}); verify will ignore it")
    if role is not None and role != seal.role:
        return f"position {position} belongs to a {seal.role}, but the certificate's role is {role}"
    return None


def _outside_validity(cert: Any, at: dt.datetime) -> str | None:
    """Why a seal made at `at` with `cert` would be refused for its dates (certificate-invalid), or None."""
    if at > cert.not_valid_after_utc:
        return f"the certificate expired at {cert.not_valid_after_utc.isoformat()} (signing at {at.isoformat()})"
    if at < cert.not_valid_before_utc:
        return f"the certificate is valid only from {cert.not_valid_before_utc.isoformat()} (signing at {at.isoformat()})"
    return None


def cmd_sign(args: argparse.Namespace) -> int:
    from messages.signing import KeySigner

    try:
        data = _read(args.file)
        signer = KeySigner.from_files(args.key, args.cert)
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except (OSError, ValueError) as exc:
        raise CommandError.usage(f"cannot load the key or certificate: {exc}") from exc
    refusal = _outside_validity(signer.certificate, args.at or dt.datetime.now(dt.UTC))
    if refusal:
        # was: signed; every verifier then refuses the seal (certificate-invalid)
        raise CommandError("certificate-invalid", f"{args.cert}: {refusal}; every verifier would refuse the seal (to "
                           "make such a voucher on purpose, sign --at a time within the certificate's validity)",
                           exit=EXIT_USAGE)
    try:
        was_envelope, bodies = load_bodies(data, receipt=args.receipt, name=args.file)
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_FAILED) from exc
    if was_envelope and args.receipt:
        raise CommandError.usage("--receipt applies to a bare voucher; an envelope carries its own VoucherFlag")
    signed = []
    for body in bodies:
        warning = _seal_warning(body, args.position, getattr(signer, "role", None))
        if warning:
            print(f"tgw sign: warning: {body.key}: {warning}", file=sys.stderr)
        try:
            check_body(body)  # signed all the same (a test may want a refused voucher), but said
        except InputError as exc:
            print(f"tgw sign: warning: {body.key}: the gateway will refuse it: {exc.issues[0]} "
                  f"(`tgw validate {args.file}` lists every error)", file=sys.stderr)
        signed.append(body.with_signature(SignatureEntry(args.position, signer.sn, signer.sign(body.voucher))))
    encoding = args.encoding
    if encoding is None:
        encoding = "GBK" if was_envelope and declared_encoding(data).upper() == "GBK" else "UTF-8"
    out = encode_envelope(Envelope(tuple(signed)), encoding=encoding)
    if args.output and args.output != "-":
        try:
            Path(args.output).write_bytes(out)
        except OSError as exc:
            raise CommandError.usage(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        print(f"signed {len(signed)} voucher(s) at position {args.position} with SN {signer.sn}: {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return EXIT_OK


def _verify_one(body: VoucherBody, store: Any, at: dt.datetime) -> list[Issue]:
    try:
        checked = check_body(body)
    except InputError as exc:
        return exc.issues
    return verify_body(checked, store, at=at)


def cmd_verify(args: argparse.Namespace) -> int:
    from messages.signing import CertificateStore

    try:
        data = _read(args.file)
        store = CertificateStore.from_dir(args.certs)
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    at = args.at or dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    try:
        was_envelope, bodies = load_bodies(data, name=args.file)
    except InputError as exc:
        results.append({"index": None, "key": None, "ok": False, "errors": [i.as_dict() for i in exc.issues]})
    else:
        if not was_envelope:
            raise CommandError.usage(f"{args.file} is a bare voucher; signatures travel in a MOF envelope "
                                        "(use `tgw sign` to make one)")
        for index, body in enumerate(bodies, start=1):
            issues = _verify_one(body, store, at)
            results.append({"index": index, "key": str(body.key), "vtcode": body.vtcode, "flag": body.flag,
                            "signatures": [{"no": s.no, "sn": s.sn} for s in body.signatures],
                            "ok": not issues, "errors": [i.as_dict() for i in issues]})
    if args.format == "json":
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            where = f"VoucherBody[{r['index']}] {r['key']}" if r["index"] else args.file
            if r["ok"]:
                seals = ", ".join(f"{s['no']}:{s['sn']}" for s in r["signatures"])
                print(f"OK    {where}  ({seals})")
            else:
                print(f"FAIL  {where}")
                for e in r["errors"]:
                    print("      " + str(Issue(e["code"], e["message"], e["line"], e["path"])))
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED


def register(subparsers: Any) -> None:
    sign = subparsers.add_parser(
        "sign", help="sign vouchers at a seal position (wraps a bare voucher in an envelope)",
        description=("Sign every voucher of an envelope at seal position N (an earlier signature at N is "
                     "replaced), or wrap a bare voucher in a new MOF envelope and sign it. The signature "
                     "covers the exact voucher bytes."),
        epilog="Exit codes: 0 signed (a voucher the gateway would refuse is signed too, with a warning naming "
               "its first error), 1 the input is not an envelope or voucher at all, 2 usage or unreadable input.")
    sign.add_argument("file", metavar="FILE", help="a MOF envelope or a bare <Voucher> document")
    sign.add_argument("--key", required=True, metavar="K", help="the signer's PEM private key")
    sign.add_argument("--cert", required=True, metavar="C", help="the signer's PEM certificate (gives the SN)")
    sign.add_argument("--position", required=True, metavar="N",
                      help="seal position (Signature/@No), e.g. 001 treasury, 101 bank, 201 pboc")
    sign.add_argument("-o", "--output", metavar="OUT", help="write the envelope here (default stdout)")
    sign.add_argument("--encoding", type=str.upper, choices=("UTF-8", "GBK"),
                      help="envelope encoding (default: the input envelope's, else UTF-8); the inner "
                           "voucher bytes are never re-encoded")
    sign.add_argument("--at", type=parse_at, metavar="ISO-DATETIME",
                      help="the time the certificate must be valid at (default: now); an expired or not yet valid "
                           "certificate is refused, certificate-invalid")
    sign.add_argument("--receipt", action="store_true",
                      help="a bare voucher is a receipt: VoucherFlag 1 (default 0, an original)")
    sign.set_defaults(func=cmd_sign)

    verify = subparsers.add_parser(
        "verify", help="check every voucher's signatures at the seal positions its type requires",
        description=("Validate each VoucherBody of an envelope and verify its signatures against the "
                     "catalog's seal positions, the certificates in DIR and their CA."),
        epilog="Exit codes: 0 all seals good, 1 an invalid voucher or a seal problem, 2 usage or unreadable input.")
    verify.add_argument("file", metavar="FILE", help="a MOF envelope")
    verify.add_argument("--certs", required=True, metavar="DIR",
                        help="ca.pem (trust anchor) and one *.pem certificate per participant")
    verify.add_argument("--at", type=parse_at, metavar="ISO-DATETIME",
                        help="check certificate validity at this time instead of now (naive = UTC)")
    verify.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: a list, per VoucherBody, of {index, key, vtcode, flag, signatures: [{no, sn}], "
                             "ok, errors} (default text)")
    verify.set_defaults(func=cmd_verify)
