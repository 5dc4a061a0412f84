"""Batch vouchers (一次批量): one direct payment voucher whose detail lines each name their own
payee, a unified salary payment to many personal accounts with the withholdings (代扣代缴) to
their own accounts (003 §26). See docs/payment-kinds.md.

A 5201 whose every Detail carries PayeeAcctNo / PayeeAcctName / PayeeAcctBankName (the
project's own detail elements, xsd/5201.xsd) is a batch. The bank pays the voucher as one (one
receipt, one transfer to the payees, one line in its clearing request) and keeps each line:

| line state  | means                                                                    |
|-------------|--------------------------------------------------------------------------|
| `paid`      | paid to its payee, nothing came back                                     |
| `bounced`   | its payee's bank returned it (2252 naming that payee and the line's amount): booked back, its own 2302 filed for the line's amount, not cleared back yet |
| `refunded`  | the central bank accepted that 2302: refunded, the treasury told by a 2203 naming only this line, the reports net of it |

The other lines stay paid. A batch keeps running sums of the three states, so the books check
(`bank_sim.books`, `batch-lines`) is O(1): paid + bounced + refunded = the voucher's PayAmt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bank_sim.state import BankState, Batch, BatchLine, Payment
from messages.money import parse_fen
from messages.voucher import VoucherDoc

__all__ = ["LINE_PAYEE", "Batch", "BatchLine", "bounce", "is_batch", "line_of_notice", "on_paid", "payee_of",
           "refiled", "refunded", "touched"]

# The payee elements a batch line carries (PayeeAcctBankNo optional).
LINE_PAYEE = ("PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName")


def is_batch(details: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a voucher's details name their payees (a batch voucher)."""
    return bool(details) and all(d.get("PayeeAcctNo") for d in details)


def on_paid(st: BankState, p: Payment, details: Sequence[Mapping[str, str]]) -> None:
    """Payment `p` (of Detail lines `details`) was just paid: keep its lines if it is a batch (5201 only)."""
    if p.vtcode != "5201" or not is_batch(details):
        return
    lines = {d["Id"]: BatchLine(dict(d), parse_fen(d["PayAmt"])) for d in details}
    st.batches[st.slot(p)] = Batch(p.key.voucher_no, p.amount_fen, lines, paid_fen=p.amount_fen)
    st.books.batch_lines_paid += len(lines)


def line_of_notice(st: BankState, slot: str, doc: VoucherDoc) -> str | None:
    """The still paid line of batch `slot` (`BankState.slot`) a payee-bank notice (2252) returns: the one paid
    to its PayeeAcctNo for its PayAmt (the first such, in detail order), or None."""
    batch = st.batches.get(slot)
    if batch is None:
        return None
    try:
        fen = parse_fen(doc.get("PayAmt") or "0.00")
    except ValueError:
        return None
    acct = doc.get("PayeeAcctNo")
    return next((lid for lid, ln in batch.lines.items()
                 if ln.state == "paid" and ln.fen == fen and ln.detail.get("PayeeAcctNo") == acct), None)


def payee_of(head: Mapping[str, Any], line: BatchLine) -> dict[str, Any]:
    """The payee elements a line's refund (2302) and notice (2203) carry: the voucher's, with the
    line's own payee."""
    return {**head, **{f: line.detail[f] for f in (*LINE_PAYEE, "PayeeAcctBankNo") if line.detail.get(f)}}


def bounce(st: BankState, slot: str, line_id: str, refund_no: str) -> BatchLine:
    """The line's money came back and its 2302 is filed: paid → bounced."""
    batch = st.batches[slot]
    line = batch.lines[line_id]
    line.state, line.refund = "bounced", refund_no
    batch.paid_fen -= line.fen
    batch.bounced_fen += line.fen
    st.books.batch_lines_paid -= 1
    st.books.batch_lines_bounced += 1
    return line


def refiled(st: BankState, slot: str, line_id: str, refund_no: str) -> None:
    """The line's 2302 was filed again under a new number."""
    st.batches[slot].lines[line_id].refund = refund_no


def refunded(st: BankState, slot: str, line_id: str) -> None:
    """The central bank accepted the line's 2302: bounced → refunded."""
    batch = st.batches[slot]
    line = batch.lines[line_id]
    line.state = "refunded"
    batch.bounced_fen -= line.fen
    batch.refunded_fen += line.fen
    st.books.batch_lines_bounced -= 1
    st.books.batch_lines_refunded += 1


def touched(st: BankState, doc: VoucherDoc, flag: int) -> tuple[str, str] | None:
    """(VoucherNo, Detail Id) of the batch line an input moved, for the books check: a payee-bank
    notice (2252) names the batch; a 2302 receipt, by its refund, the line."""
    if flag == 0 and doc.vtcode == "2252":  # the batch it names: its number, division and kind
        no, named = doc.get("OriVoucherNo"), (doc.get("AdmDivCode"), doc.get("OriVtCode"))
        slots = [st.slot(p) for p in st.numbered(no) if (p.key.adm_div_code, p.vtcode) == named]
        return (next((k for k in reversed(slots) if k in st.batches), no), "")
    if flag == 1 and doc.vtcode == "2302":
        refund = st.duties.refunds.get(doc.get("VoucherNo"))
        return (refund.voucher, refund.line) if refund is not None and refund.line else None
    return None
