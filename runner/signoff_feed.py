"""What the monthly sign-off (`runner.monthly_signoff`) reads, taken from the wire and the
treasury's own vouchers: the runner's delivery tap hands each delivered envelope here.

* The banks' monthly statements as they reached the treasury (3501, 7104, 7203; flag 0), with
  their details, and the treasury's receipts of them as they reached the bank (flag 1): the
  sign-off, XCheckResult 0 agreed / 1 not, XCheckRemark.
* The refund notices (2203 / 7105) that reached the treasury.
* Each payment voucher the treasury sent (5201 / 8202), classified by statement line.

Kept bounded: a run's statements are a few per bank and unit per month.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from business_time.clock import monthly_statement_deadline, or_calendar_end
from messages.envelope import parse_envelope
from messages.money import parse_fen
from messages.voucher import parse_voucher
from runner.monthly_signoff import SignoffInput, monthly_signoff
from runner.observed import BankStatementSeen, LevelVerdict, LineKey, Observed, RefundNoticeSeen, VoucherLines

__all__ = ["STATEMENT_VTCODES", "StatementTap", "corrected", "signoffs_of", "voucher_lines"]

STATEMENT_VTCODES = frozenset({"3501", "7104", "7203"})
NOTICE_VTCODES = frozenset({"2203", "7105"})
KEPT_MAX = 20_000  # statements and notices kept per run: many units of a few banks over a few months


def _day(text: str, fallback: dt.date) -> dt.date:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return fallback


class StatementTap:
    """Record statements, their sign-offs and refund notices off the wire. `banks`: bank code →
    the bank's scenario id."""

    def __init__(self, banks: Mapping[str, str]) -> None:
        self.banks = dict(banks)
        # by (VtCode, AdmDivCode, StYear, VoucherNo) → the first: two divisions' or years' of a number are two
        self.statements: dict[tuple[str, str, str, str], BankStatementSeen] = {}
        self.checks: dict[tuple[str, str, str, str], tuple[str, str, dt.datetime]] = {}
        self.notices: dict[tuple[str, str, str, str], RefundNoticeSeen] = {}

    def on_delivery(self, recipient: str, vtcode: str, flag: int, envelope: bytes, now: dt.datetime) -> None:
        """One delivery to `recipient` (a scenario name: treasury, pboc or a bank id)."""
        wanted = ((recipient == "treasury" and flag == 0 and vtcode in STATEMENT_VTCODES | NOTICE_VTCODES)
                  or (recipient in self.banks.values() and flag == 1 and vtcode in STATEMENT_VTCODES))
        if not wanted or len(self.statements) + len(self.notices) >= KEPT_MAX:
            return
        for body in parse_envelope(envelope).bodies:
            try:
                doc = parse_voucher(body.voucher)
            except ValueError:
                continue
            self._take(recipient, body.vtcode, flag, doc.head(), tuple(doc.details()), now)

    def _take(self, recipient: str, vtcode: str, flag: int, head: Mapping[str, str],
              details: tuple[Mapping[str, str], ...], now: dt.datetime) -> None:
        no = head.get("VoucherNo", "")
        bank = self.banks.get(head.get("PayBankCode", ""), head.get("PayBankCode", ""))
        key = (vtcode, head.get("AdmDivCode", ""), head.get("StYear", ""), no)  # each division numbers its own
        if flag == 1:
            self.checks.setdefault(key, (head.get("XCheckResult", ""), head.get("XCheckRemark", ""), now))
        elif vtcode in NOTICE_VTCODES:
            try:
                fen = parse_fen(head.get("PayAmt") or "0.00")
            except ValueError:
                return
            self.notices.setdefault(key, RefundNoticeSeen(bank, vtcode, no, head.get("OriVoucherNo", ""),
                                                          _day(head.get("VouDate", ""), now.date()), fen, now,
                                                          head.get("AdmDivCode", ""), head.get("OriVouDate", "")[:4]))
        else:
            begin = head.get("BeginDate", "")
            self.statements.setdefault(key, BankStatementSeen(
                bank, vtcode, no, f"{begin[:4]}-{begin[4:6]}", now, dict(head), tuple(dict(d) for d in details)))

    def seen(self) -> tuple[BankStatementSeen, ...]:
        """The statements, each with its sign-off if one reached the bank."""
        out = []
        for key, s in sorted(self.statements.items(), key=lambda kv: (kv[1].received_at, kv[0])):
            check = self.checks.get(key)
            out.append(s if check is None else dataclasses.replace(s, check=check[0], check_remark=check[1],
                                                                   checked_at=check[2]))
        return tuple(out)

    def refund_notices(self) -> tuple[RefundNoticeSeen, ...]:
        return tuple(sorted(self.notices.values(), key=lambda n: (n.received_at, n.voucher_no)))


def voucher_lines(voucher_no: str, bank: str | None, data: bytes, vtcode: str = "") -> VoucherLines:
    """A payment voucher (5201 / 8202) by the lines a statement counts it under: (AgencyCode,
    PayTypeCode, FundTypeCode, ExpFuncCode, ProCode) of each detail (the head's when it has none),
    with its key (AdmDivCode, StYear, `vtcode`)."""
    doc = parse_voucher(data)
    head = doc.head()
    rows = doc.details() or [head]
    lines: list[tuple[LineKey, int]] = []
    for d in rows:
        key = (d.get("AgencyCode") or head.get("AgencyCode", ""), head.get("PayTypeCode", ""),
               head.get("FundTypeCode", ""), d.get("ExpFuncCode") or "", d.get("ProCode") or "")
        try:
            fen = parse_fen(d.get("PayAmt") or "0.00")
        except ValueError:  # a malformed amount the gateway would have refused: counts nothing
            fen = 0
        lines.append((key, fen))
    return VoucherLines(voucher_no, bank, tuple(lines), head.get("AdmDivCode", ""), head.get("StYear", ""),
                        vtcode or head.get("VtCode", ""))


def corrected(v: VoucherLines, corrections: Iterable[bytes]) -> VoucherLines:
    """Voucher `v`'s lines after the payment corrections (5253, in the order sent; only those the
    bank confirmed) naming it (its OriVoucherNo, of its division): each Detail moves its PayAmt from
    OriExpFuncCode to ExpFuncCode."""
    lines = dict[LineKey, int]()
    for key, fen in v.lines:
        lines[key] = lines.get(key, 0) + fen
    for data in corrections:
        doc = parse_voucher(data)
        if doc.get("OriVoucherNo") != v.voucher_no or (v.adm and doc.get("AdmDivCode") not in (None, "", v.adm)):
            continue
        for d in doc.details():
            fen = parse_fen(d.get("PayAmt") or "0.00")
            ori = next((k for k, f in lines.items() if k[3] == d.get("OriExpFuncCode") and f >= fen), None)
            if ori is None:
                continue  # the bank refused it too
            lines[ori] -= fen
            new: LineKey = (ori[0], ori[1], ori[2], d.get("ExpFuncCode") or "", ori[4])
            lines[new] = lines.get(new, 0) + fen
    return dataclasses.replace(v, lines=tuple((k, f) for k, f in lines.items() if f))


def signoffs_of(o: Observed, *, banks: Sequence[tuple[str, str]], calendar: Any, clock: Any,
                business_days: Iterable[dt.date]) -> tuple[LevelVerdict, ...]:
    """The monthly sign-off of every calendar month the run touched. `banks`: (scenario id, code)."""
    deadlines: dict[str, dt.datetime] = {}
    y, m = o.start.year, o.start.month
    while (y, m) <= (o.end.year, o.end.month):
        # December of the calendar's last year: due past its end, so not due in any run (a lower bound)
        deadlines[f"{y:04d}-{m:02d}"] = or_calendar_end(
            functools.partial(monthly_statement_deadline, y, m, calendar, clock), dt.date(y, m, 1), calendar)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return monthly_signoff(SignoffInput(
        banks=[b for b, _ in banks], bank_codes=dict(banks), deadlines=deadlines, run_end=o.end,
        statements=o.bank_statements, voucher_lines=o.voucher_lines, receipts=o.receipts,
        refund_notices=o.refund_notices, payments=o.payments, clearings=o.clearings, movements=o.movements,
        daily_statements=o.statements, refunds=o.refunds, business_days=tuple(business_days)))
