"""The voucher catalog: VtCode -> what the voucher is, who sends it to whom, who must sign it.

The data lives in `catalog.yaml` beside this module (machine-readable, reviewed like code);
this module loads it once into frozen objects and checks it is self-consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from messages.errors import InputError

__all__ = [
    "RETURN_REASON_FIELD",
    "ROLES",
    "Catalog",
    "Role",
    "Seal",
    "SenderElement",
    "VoucherType",
    "get_catalog",
]

Role = Literal["treasury", "bank", "pboc"]
ROLES: tuple[Role, ...] = ("treasury", "bank", "pboc")

# The receipt's own copy of the envelope's Return_Reason, inside the signed voucher bytes: the
# element every voucher type with a receipt carries (docs/security.md).
RETURN_REASON_FIELD = "XReturnReason"

Kind = Literal["payment", "quota", "clearing", "refund", "correction", "report", "reconciliation",
               "statement", "notice", "year-end"]


@dataclass(frozen=True, slots=True)
class Seal:
    """A seal position (`Signature/@No`) and the role whose key must sign there."""

    no: str
    role: Role
    name: str


SenderKind = Literal["adm_div_code", "bank_code"]
SENDER_KINDS: tuple[SenderKind, ...] = ("adm_div_code", "bank_code")


@dataclass(frozen=True, slots=True)
class SenderElement:
    """A head element that must name the voucher's sender, and what kind of name it holds:
    `adm_div_code` (one of the participant's AdmDivCodes) or `bank_code` (one of its bank codes)."""

    element: str
    kind: SenderKind


@dataclass(frozen=True, slots=True)
class VoucherType:
    vtcode: str
    name_zh: str
    name_en: str
    kind: Kind
    sender: Role
    recipient: Role
    xsd: str  # file name inside the xsd package
    original_seals: tuple[Seal, ...]
    has_receipt: bool
    receipt_seals: tuple[Seal, ...]
    receipt_fields: tuple[str, ...]  # X-fields the receipt must fill (and the original must leave empty)
    amount_field: str | None  # head amount that Detail amounts must add up to, if any
    detail_amount_field: str | None
    code_source: Literal["public", "invented"]
    note: str = ""
    sender_elements: tuple[SenderElement, ...] = ()  # elements of an original naming its sender
    receipt_sender_elements: tuple[SenderElement, ...] = ()  # elements of a receipt naming its sender

    def seals_for(self, flag: int) -> tuple[Seal, ...]:
        return self.receipt_seals if flag == 1 else self.original_seals

    def sender_for(self, flag: int) -> Role:
        """A receipt travels back: its sender is the original's recipient."""
        return self.recipient if flag == 1 else self.sender

    def recipient_for(self, flag: int) -> Role:
        return self.sender if flag == 1 else self.recipient

    def sender_elements_for(self, flag: int) -> tuple[SenderElement, ...]:
        """The elements that must name the sender of an original (flag 0) or a receipt (flag 1)."""
        return self.receipt_sender_elements if flag == 1 else self.sender_elements


class Catalog:
    def __init__(self, types: list[VoucherType]) -> None:
        self._by_code = {t.vtcode: t for t in types}
        if len(self._by_code) != len(types):
            raise ValueError("duplicate VtCode in catalog")

    def __iter__(self) -> Any:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, vtcode: object) -> bool:
        return vtcode in self._by_code

    def get(self, vtcode: str, *, path: str | None = None) -> VoucherType:
        try:
            return self._by_code[vtcode]
        except KeyError:
            raise InputError("unknown-vtcode", f"VtCode {vtcode!r} is not in the voucher catalog",
                             path=path) from None

    def codes(self) -> list[str]:
        return sorted(self._by_code)


def _seals(raw: list[dict[Any, str]] | None) -> tuple[Seal, ...]:
    for s in raw or []:
        if False in s:
            # YAML 1.1 reads a bare `no:` key as the boolean false.
            raise ValueError('seal key `no` must be quoted in catalog.yaml ("no": "001")')
    return tuple(Seal(no=str(s["no"]), role=s["role"], name=s.get("name", "")) for s in raw or [])  # type: ignore[arg-type]


def _sender_elements(vtcode: str, key: str, raw: Any, kinds: dict[str, SenderKind]) -> tuple[SenderElement, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise ValueError(f"catalog entry {vtcode}: {key} must be a list of element names")
    unknown = [e for e in raw if e not in kinds]
    if unknown:
        raise ValueError(f"catalog entry {vtcode}: {key} names {unknown}, which sender_element_kinds "
                         "does not define")
    return tuple(SenderElement(e, kinds[e]) for e in raw)


def _kinds(raw: Any) -> dict[str, SenderKind]:
    kinds = dict(raw or {})
    bad = {k: v for k, v in kinds.items() if v not in SENDER_KINDS}
    if bad:
        raise ValueError(f"sender_element_kinds: {bad} (each must be one of {', '.join(SENDER_KINDS)})")
    return kinds


def _load(raw: dict[str, Any]) -> Catalog:
    types = []
    kinds = _kinds(raw.get("sender_element_kinds"))
    for entry in raw["vouchers"]:
        vtcode = str(entry["vtcode"])
        vt = VoucherType(
            vtcode=str(entry["vtcode"]),
            name_zh=entry["name_zh"],
            name_en=entry["name_en"],
            kind=entry["kind"],
            sender=entry["sender"],
            recipient=entry["recipient"],
            xsd=entry["xsd"],
            original_seals=_seals(entry.get("original_seals")),
            has_receipt=bool(entry.get("has_receipt", False)),
            receipt_seals=_seals(entry.get("receipt_seals")),
            receipt_fields=tuple(entry.get("receipt_fields") or ()),
            amount_field=entry.get("amount_field"),
            detail_amount_field=entry.get("detail_amount_field"),
            code_source=entry.get("code_source", "public"),
            note=entry.get("note", ""),
            sender_elements=_sender_elements(vtcode, "sender_elements", entry.get("sender_elements"), kinds),
            receipt_sender_elements=_sender_elements(vtcode, "receipt_sender_elements",
                                                     entry.get("receipt_sender_elements"), kinds),
        )
        _check(vt)
        types.append(vt)
    return Catalog(types)


def _check(vt: VoucherType) -> None:
    """Refuse a catalog that contradicts itself: a bad entry must fail at load, not in traffic."""
    problems = []
    if vt.sender not in ROLES or vt.recipient not in ROLES:
        problems.append("sender/recipient must be one of " + ", ".join(ROLES))
    if not vt.original_seals or all(s.role != vt.sender for s in vt.original_seals):
        problems.append("the sender must own at least one original seal position")
    if vt.has_receipt and all(s.role != vt.recipient for s in vt.receipt_seals):
        problems.append("a receipt needs a seal position of the recipient role")
    if not vt.has_receipt and (vt.receipt_seals or vt.receipt_fields):
        problems.append("receipt seals/fields given but has_receipt is false")
    if (vt.amount_field is None) != (vt.detail_amount_field is None):
        problems.append("amount_field and detail_amount_field go together")
    # Who may send what: every type decides which elements name its sender (docs/security.md).
    rules = [("sender_elements", vt.sender_elements, vt.sender)]
    if vt.has_receipt:
        rules.append(("receipt_sender_elements", vt.receipt_sender_elements, vt.recipient))
    elif vt.receipt_sender_elements:
        problems.append("receipt_sender_elements given but has_receipt is false")
    for key, elements, role in rules:
        names = [e.element for e in elements]
        if "AdmDivCode" not in names:
            problems.append(f"{key} must decide the sender's elements and include AdmDivCode")
        if len(set(names)) != len(names):
            problems.append(f"{key} lists an element twice")
        if role != "bank" and any(e.kind == "bank_code" for e in elements):
            problems.append(f"{key}: only a bank sender is named by a bank code, this sender is a {role}")
    if problems:
        raise ValueError(f"catalog entry {vt.vtcode}: " + "; ".join(problems))


@cache
def get_catalog() -> Catalog:
    text = resources.files("messages").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return _load(yaml.safe_load(text))
