"""The five fund types treasury money comes in (003 §2), as FundTypeCode → FundTypeName."""

from __future__ import annotations

__all__ = ["FUND_TYPES", "fund_type_name"]

FUND_TYPES: tuple[tuple[str, str], ...] = (
    ("1", "一般公共预算资金"), ("2", "政府性基金预算资金"), ("3", "国有资本经营预算资金"),
    ("4", "社会保险基金预算资金"), ("9", "其他财政性资金"))
_NAMES = dict(FUND_TYPES)


def fund_type_name(code: str) -> str:
    """The FundTypeName of `code`; an unknown code is a ValueError (never a made-up name)."""
    try:
        return _NAMES[code]
    except KeyError:
        raise ValueError(f"unknown FundTypeCode {code!r}: one of {', '.join(_NAMES)}") from None
