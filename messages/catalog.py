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
    "ROLES",
    "Catalog",
    "Role",
    "Seal",
    "VoucherType",
    "get_catalog",
]

Role = Literal["treasury", "bank", "pboc"]
ROLES: tuple[Role, ...] = ("treasury", "bank", "pboc")

Kind = Literal["payment", "quota", "clearing", "refund", "correction", "report", "reconciliation",
               "statement", "notice", "year-end"]


@dataclass(frozen=True, slots=True)
class Seal:
    """A seal position (`Signature/@No`) and the role whose key must sign there."""

    no: str
    role: Role
    name: str


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

    def seals_for(self, flag: int) -> tuple[Seal, ...]:
        return self.receipt_seals if flag == 1 else self.original_seals

    def sender_for(self, flag: int) -> Role:
        """A receipt travels back: its sender is the original's recipient."""
        return self.recipient if flag == 1 else self.sender

    def recipient_for(self, flag: int) -> Role:
        return self.sender if flag == 1 else self.recipient


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


def _load(raw: dict[str, Any]) -> Catalog:
    types = []
    for entry in raw["vouchers"]:
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
    if problems:
        raise ValueError(f"catalog entry {vt.vtcode}: " + "; ".join(problems))


@cache
def get_catalog() -> Catalog:
    text = resources.files("messages").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return _load(yaml.safe_load(text))
