"""Validation of one voucher body (and of files, for `tgw validate`).

Order, cheapest refusal first and each step on what the step before produced (parse once):
catalog lookup → hardened parse of the inner bytes → envelope attributes equal the inner
head → XSD → business checks → (optionally) signatures at their seal positions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messages.business import business_issues
from messages.catalog import RETURN_REASON_FIELD, VoucherType, get_catalog
from messages.envelope import Envelope, VoucherBody, VoucherKey, parse_envelope
from messages.errors import InputError, Issue
from messages.files import NotRegularFileError, open_regular
from messages.schema import validate_tree
from messages.signing import CertificateStore, seal_path, verify_seals
from messages.voucher import VoucherDoc, parse_voucher
from messages.xmlsafe import DEFAULT_LIMITS, Limits, parse_xml

__all__ = [
    "CheckedVoucher",
    "FileReport",
    "check_body",
    "iter_voucher_files",
    "validate_bytes",
    "validate_file",
    "verify_body",
]

_KEY_ATTRS = (("AdmDivCode", "adm_div_code"), ("StYear", "st_year"), ("VtCode", "vtcode"),
              ("VoucherNo", "voucher_no"))


@dataclass(frozen=True, slots=True)
class CheckedVoucher:
    """A body that passed parse, XSD and business checks (signatures are a separate step)."""

    body: VoucherBody
    doc: VoucherDoc
    vtype: VoucherType

    @property
    def key(self) -> VoucherKey:
        return self.body.key


def _located(issues: list[Issue], body: VoucherBody) -> list[Issue]:
    """Prefix inner-voucher paths with the body they came from, when inside an envelope."""
    if body.line is None:
        return issues
    prefix = f"/MOF/VoucherBody[@VoucherNo='{body.voucher_no}']/Voucher"
    # '#' reads as "inside the base64 document": the envelope path, then the voucher's own path.
    return [Issue(i.code, i.message, i.line, prefix + "#" + (i.path or "")) for i in issues]


def _body_path(body: VoucherBody, rel: str) -> str:
    """The absolute path of `rel` (an attribute or child of the VoucherBody, or of a bare voucher's
    root when the body did not come from an envelope)."""
    if body.line is None:
        return "/Voucher/" + rel.lstrip("@") if rel.startswith("@") else "/Voucher"
    return f"/MOF/VoucherBody[@VoucherNo='{body.voucher_no}']/{rel}"


def check_body(body: VoucherBody, *, limits: Limits = DEFAULT_LIMITS) -> CheckedVoucher:
    """Raise InputError with every issue found, or return the checked voucher."""
    catalog = get_catalog()
    if body.vtcode not in catalog:
        raise InputError("unknown-vtcode", f"VtCode {body.vtcode!r} is not in the voucher catalog",
                         line=body.line or 1, path=_body_path(body, "@VtCode"))
    vt = catalog.get(body.vtcode)
    try:
        doc = parse_voucher(body.voucher, limits=limits)
    except InputError as exc:
        raise InputError.from_issues(_located(exc.issues, body)) from None
    mismatches = []
    for tag, attr in _KEY_ATTRS:
        inner, outer = doc.get(tag), getattr(body, attr)
        if inner != outer:
            mismatches.append(Issue("envelope-key-mismatch",
                                    f"VoucherBody/@{tag} is {outer!r} but the voucher's {tag} is {inner!r}",
                                    body.line or 1, _body_path(body, f"@{tag}")))
    sealed_reason = doc.get(RETURN_REASON_FIELD)  # stripped text, "" when absent
    if (body.return_reason or "").strip() != sealed_reason:
        # Return_Reason travels outside the signatures: only the copy under the receipt's seals counts.
        mismatches.append(Issue("return-reason-mismatch",
                                f"VoucherBody/Return_Reason is {body.return_reason!r} but the voucher's "
                                f"{RETURN_REASON_FIELD} (under its seals) is {sealed_reason!r}",
                                body.line or 1, _body_path(body, "Return_Reason")))
    if mismatches:
        raise InputError.from_issues(mismatches)
    issues = validate_tree(doc.root, vt.xsd)
    if not issues:
        issues = business_issues(doc, vt, body.flag)
    if issues:
        raise InputError.from_issues(_located(issues, body))
    return CheckedVoucher(body, doc, vt)


def verify_body(checked: CheckedVoucher, store: CertificateStore, *, at: dt.datetime) -> list[Issue]:
    body = checked.body
    sigs = [(s.no, s.sn, s.value) for s in body.signatures]
    issues = verify_seals(body.voucher, sigs, checked.vtype.seals_for(body.flag), store, at=at)
    if not issues:
        return issues
    # Located like every other issue: the signature's own line (the body's for a missing one)
    # and its path inside the envelope.
    lines: dict[str, int | None] = {}
    for s in body.signatures:
        lines.setdefault(seal_path(s.no), s.line)
    return [Issue(i.code, i.message, lines.get(i.path or "") or body.line or 1,
                  _body_path(body, i.path) if i.path else _body_path(body, "SignatureList"))
            for i in issues]


# ---------------------------------------------------------------- files (tgw validate)


@dataclass(slots=True)
class FileReport:
    path: str
    ok: bool
    vtcode: str | None
    errors: list[Issue]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "vtcode": self.vtcode,
                "errors": [e.as_dict() for e in self.errors]}


def _bare_body(doc_bytes: bytes, root_fields: dict[str, str], flag: int) -> VoucherBody:
    # A bare voucher has no envelope: its Return_Reason is the one under its own seals.
    return VoucherBody(
        adm_div_code=root_fields.get("AdmDivCode", ""), st_year=root_fields.get("StYear", ""),
        vtcode=root_fields.get("VtCode", ""), voucher_no=root_fields.get("VoucherNo", ""),
        flag=flag, voucher=doc_bytes, line=None, return_reason=root_fields.get(RETURN_REASON_FIELD) or None,
    )


def _name_says_receipt(name: str) -> bool:
    """A file named like a receipt holds one; an `invalid--<code>--` label (whose code may be
    `receipt-fields-unexpected`, about an original) does not count."""
    base = Path(name).name.lower()
    if base.startswith("invalid--"):
        base = base.split("--", 2)[-1]
    return "receipt" in base


def validate_bytes(data: bytes, *, name: str = "", flag: int | None = None,
                   store: CertificateStore | None = None, at: dt.datetime | None = None,
                   limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], list[Issue]]:
    """Validate an envelope or a bare voucher. Returns (vtcodes seen, issues)."""
    try:
        root = parse_xml(data, bytes_max=max(limits.envelope_bytes_max, limits.voucher_bytes_max),
                         depth_max=limits.depth_max, what=name or "file")
    except InputError as exc:
        return [], exc.issues
    if root.tag == "MOF":
        try:
            envelope: Envelope = parse_envelope(data, limits=limits, root=root)
        except InputError as exc:
            return [], exc.issues
        bodies = list(envelope.bodies)
    else:
        # A bare voucher is an original unless told otherwise (or its file name says receipt).
        bare_flag = flag if flag is not None else (1 if _name_says_receipt(name) else 0)
        head = {c.tag: (c.text or "").strip() for c in root if isinstance(c.tag, str)}
        bodies = [_bare_body(data, head, bare_flag)]
    vtcodes, issues = [], []
    for body in bodies:
        vtcodes.append(body.vtcode)
        try:
            checked = check_body(body, limits=limits)
        except InputError as exc:
            issues.extend(exc.issues)
            continue
        if store is not None:
            issues.extend(verify_body(checked, store, at=at or dt.datetime.now(dt.UTC)))
    return vtcodes, issues


def validate_file(path: Path, **kwargs: Any) -> FileReport:
    limits: Limits = kwargs.get("limits", DEFAULT_LIMITS)
    bytes_max = max(limits.envelope_bytes_max, limits.voucher_bytes_max)
    try:
        with open_regular(path) as (f, size):
            if size > bytes_max:  # refuse before reading: a 50 MB file is never loaded
                return FileReport(str(path), False, None,
                                  [Issue("xml-too-large", f"file is {size} bytes; the limit is {bytes_max}")])
            data = f.read(bytes_max + 1)  # at most one byte past the limit, should it grow meanwhile
    except NotRegularFileError as exc:  # a pipe, socket or device
        return FileReport(str(path), False, None, [Issue(exc.code, f"{path}: {exc.strerror}", 1, "/")])
    except OSError as exc:
        return FileReport(str(path), False, None, [Issue("io-unreadable", f"cannot read: {exc.strerror}")])
    if len(data) > bytes_max:
        return FileReport(str(path), False, None,
                          [Issue("xml-too-large", f"file is larger than the limit of {bytes_max} bytes")])
    vtcodes, issues = validate_bytes(data, name=str(path), **kwargs)
    return FileReport(str(path), not issues, ",".join(dict.fromkeys(vtcodes)) or None, issues)


def iter_voucher_files(paths: list[Path]) -> Iterator[Path]:
    """Files as given, directories recursively (*.xml), in a stable order, lazily."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                # a link to nothing, a pipe, socket or device is reported (io-unreadable, io-not-regular), not
                # passed over: "all valid" would hide it
                if child.suffix.lower() == ".xml" and not child.is_dir():
                    yield child
        else:
            yield path
