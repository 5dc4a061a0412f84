"""Tables of docs/wire.md and docs/rules.md made from the code, so the documents cannot drift.

Each table sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`;
tests/test_docs_bank.py checks every block equals what this module makes. After changing
messages/catalog.yaml, an XSD or business_time.clock.ClockConfig, rewrite the blocks with

    .venv/bin/python -m tests.doc_tables
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from business_time.clock import ClockConfig
from messages.catalog import Seal, get_catalog
from messages.schema import element_order

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# What each ClockConfig setting is, for a bank's engineers (a new setting needs its line here).
CLOCK_MEANINGS: dict[str, str] = {
    "clearing_cutoff": "the central bank's clearing cutoff: a 2301 (ClearType 0) for the day's payments is "
                       "filed before it",
    "urgent_cutoff": "the cutoff for special urgent payments (UrgentFlag 1) and their urgent 2301",
    "bank_system_close": "the bank's transfer system closes: an instruction received before it on a business "
                         "day is paid that day",
    "next_morning_payment_deadline": "an instruction received after the close, or on a holiday, is paid by then "
                                     "on the next business day",
    "replenishment_window_start": "the central bank takes the reserve replenishment (2301 ClearType 1) from then "
                                  "(its opening: the project's own), from the business day after the advance",
    "replenishment_window_end": "the replenishment is due before then (\"在下一工作日上午\"); one after it is accepted "
                                "and scored late",
    "receipts_deadline": "the receipt (5201 / 8202 flag 1) of each payment of a day reaches the treasury by then, "
                         "on the next business day (the cleared clearing request and its list do not: not "
                         "modelled, below)",
    "credit_notice_days": "credit notice (7103) to the unit: within this many working days of paying",
    "refund_notice_days": "refund notice (2203 / 7105) after the money came back: within this many working days",
    "quota_notice_days": "quota arrival notice (7102) after the authorized quota notice (7101): within this many "
                         "working days",
    "daily_report_days": "daily expenditure report (2206) of a day: within this many working days after it",
    "monthly_report_days": "monthly expenditure report (4004): within this many working days after the month's end",
    "monthly_statement_days": "monthly statement (3501): within this many working days after the month's end",
}


def _seals(seals: Iterable[Seal]) -> str:
    return ", ".join(f"`{s.no}` {s.role} {s.name}" for s in seals) or "-"


def seals_table() -> str:
    rows = ["| VtCode | document | flag 0 (original) from → to: seals | flag 1 (receipt) from → to: seals |",
            "|---|---|---|---|"]
    for vt in sorted(get_catalog(), key=lambda v: v.vtcode):
        receipt = (f"{vt.recipient} → {vt.sender}: {_seals(vt.receipt_seals)}" if vt.has_receipt
                   else "no receipt")
        rows.append(f"| {vt.vtcode} | {vt.name_zh} {vt.name_en} | {vt.sender} → {vt.recipient}: "
                    f"{_seals(vt.original_seals)} | {receipt} |")
    return "\n".join(rows)


def _x_fields(xsd: str) -> list[str]:
    head, _ = element_order(xsd)
    return [n for n in head if re.fullmatch(r"X[A-Z][A-Za-z]*", n)]


def receipts_table() -> str:
    rows = ["| VtCode | document | receipt sent by | must fill | may fill (in the XSD) |", "|---|---|---|---|---|"]
    for vt in sorted(get_catalog(), key=lambda v: v.vtcode):
        if not vt.has_receipt:
            continue
        optional = [f for f in _x_fields(vt.xsd) if f not in vt.receipt_fields]
        rows.append(f"| {vt.vtcode} | {vt.name_zh} {vt.name_en} | {vt.recipient} | "
                    f"{', '.join(f'`{f}`' for f in vt.receipt_fields)} | "
                    f"{', '.join(f'`{f}`' for f in optional) or '-'} |")
    return "\n".join(rows)


def clock_table() -> str:
    rows = ["| setting | agreement's value | what it is |", "|---|---|---|"]
    config = ClockConfig()
    for f in dataclasses.fields(ClockConfig):
        value = getattr(config, f.name)
        shown = f"{value:%H:%M}" if isinstance(value, dt.time) else f"{value} working day(s)"
        rows.append(f"| `{f.name}` | {shown} | {CLOCK_MEANINGS[f.name]} |")
    return "\n".join(rows)


TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "seals": (DOCS / "wire.md", seals_table),
    "receipts": (DOCS / "wire.md", receipts_table),
    "clock": (DOCS / "rules.md", clock_table),
}


def block(text: str, name: str) -> str | None:
    """The body of the generated block `name` in `text`, or None."""
    found = re.search(rf"<!-- generated:{name} -->\n(.*?)\n<!-- /generated:{name} -->", text, flags=re.S)
    return found.group(1) if found else None


def rewrite() -> None:
    for name, (path, make) in TABLES.items():
        text = path.read_text(encoding="utf-8")
        if block(text, name) is None:
            raise SystemExit(f"{path}: no generated:{name} block")
        table = make()
        text = re.sub(rf"(<!-- generated:{name} -->\n).*?(\n<!-- /generated:{name} -->)",
                      lambda m, table=table: m.group(1) + table + m.group(2), text, flags=re.S)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    rewrite()
