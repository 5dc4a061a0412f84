"""The XSDs shipped inside the wheel: one per voucher type, the envelope, common types."""

from __future__ import annotations

from pathlib import Path

__all__ = ["XSD_DIR", "xsd_path"]

XSD_DIR = Path(__file__).resolve().parent


def xsd_path(name: str) -> Path:
    path = XSD_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no XSD named {name!r} in {XSD_DIR}")
    return path
