"""Read what the simulated cores recorded into the plain `runner.observed` values.

One place for the conversion the scenario runner (`runner.scenario_run`) and the demo
(`runner.demo`) both need: the banks' payments and clearing requests, the central bank's TSA
movements, 7401 statements and quota lines, the treasury core's vouchers and receipts. Pure
reads of the cores' state; nothing here awaits or writes.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from bank_sim.slots import number_of
from messages.money import fen_to_str, parse_fen
from messages.return_reason import reason_code
from runner.observed import (
    ClearingSeen,
    MovementSeen,
    PaymentSeen,
    QuotaSeen,
    ReceiptSeen,
    RefundSeen,
    SentVoucher,
    StatementSeen,
    Verdict,
)

__all__ = ["PART_VOUCHERS", "clearings_of", "generated_parts", "generated_receipts", "generated_sent", "movements_of",
           "payments_of", "quotas_of", "refunds_of", "statements_of"]

PART_VOUCHERS = 10_000  # about this many sent vouchers in one slice of the run's end (`generated_parts`)


def payments_of(bcores: Mapping[str, Any]) -> list[PaymentSeen]:
    """Every payment each bank core recorded (paid, advanced or still deferred)."""
    return [_payment_seen(bid, core, p) for bid, core in bcores.items() for p in core.payments.values()]


def _payment_seen(bid: str, core: Any, p: Any) -> PaymentSeen:
    return PaymentSeen(bid, core.bank_code, p.key.voucher_no, p.vtcode, p.amount_fen, p.mode, p.received_at, p.day,
                       p.filing, str(p.key.original()).rsplit("/", 1)[0])


def refunds_of(bcores: Mapping[str, Any]) -> list[RefundSeen]:
    """Every refund request (2302) each bank core filed for a payment its payee's bank returned,
    with the central bank's answer (bank_sim.duties)."""
    out = []
    for bid, core in bcores.items():
        for r in core.duties.s.refunds.values():
            paid = core.state.payments.get(r.voucher)  # by its slot: another division's payment of the number is another
            out.append(RefundSeen(bid, number_of(r.voucher), r.no, r.amount_fen, r.returned_at, r.state, r.code,
                                  r.notice_no, adm=paid.key.adm_div_code if paid is not None else "",
                                  ori_year=paid.key.st_year if paid is not None else ""))
    return out


def clearings_of(bcores: Mapping[str, Any]) -> list[ClearingSeen]:
    """Every clearing request (2301) each bank core filed, with the central bank's answer."""
    return [ClearingSeen(bid, core.bank_code, f.voucher_no, f.clear_type, f.pay_type, f.clear_date, f.filed_at,
                         f.amount_fen, tuple(k.voucher_no for k in f.payments), f.state,
                         reason_code(f.reason) if f.state == "rejected" else None,
                         f.reason, f.cleared_fen, f.answered_at,
                         tuple(str(k.original()).rsplit("/", 1)[0] for k in f.payments),
                         f.by_account.get(core.accounts["reserve"], 0) if f.clear_type == 1 else None)
            for bid, core in bcores.items() for f in core.filings.values()]


def movements_of(pcore: Any) -> list[MovementSeen]:
    """The TSA movements in the central bank core's record."""
    return [MovementSeen(m.business_date, m.direction, m.amount_fen, m.bank_code, m.kind, m.ref.voucher_no)
            for ms in pcore.movements.values() for m in ms]


def statements_of(pcore: Any) -> list[StatementSeen]:
    """The 7401 daily TSA statements the central bank core sent (one per division served a day)."""
    out = []
    for e in pcore.statements:
        if e.vtcode != "7401":
            continue
        h = e.head
        day = h["StatementDate"]
        # a division's balance may be below zero (the opening balance is the configured division's)
        out.append(StatementSeen(dt.date(int(day[:4]), int(day[4:6]), int(day[6:8])),
                                 parse_fen(h["BeginBalance"], allow_negative=True), parse_fen(h["DebitAmt"]),
                                 parse_fen(h["CreditAmt"]), parse_fen(h["EndBalance"], allow_negative=True),
                                 h["AdmDivCode"]))
    return out


def quotas_of(pcore: Any) -> list[QuotaSeen]:
    """Each (division, bank, pay type, fund type, day) quota line: notified, cleared on the day, replenished after."""
    return [QuotaSeen(bank, pay, day, q.notified_fen, q.used_fen, q.replenished_fen, fund, adm)
            for (adm, bank, pay, fund, day), q in pcore.quotas.items() if day is not None]


def generated_sent(tcore: Any, adm_div_code: str, bank_ids: Mapping[str, str]) -> list[SentVoucher]:
    """The treasury core's sent payment vouchers, each with the gateway's answer.
    `bank_ids`: bank code → participant id. The answers are frozen values: one per (code, time),
    shared by the vouchers sent at that time (a day of 100,000 vouchers has a few hundred)."""
    return _sent_of(tcore.iter_sent_rows(), adm_div_code, bank_ids)


def _sent_of(vouchers: Iterable[Any], adm_div_code: str, bank_ids: Mapping[str, str]) -> list[SentVoucher]:
    out = []
    answers: dict[tuple[str | None, dt.datetime], tuple[Verdict, ...]] = {}
    for v in vouchers:
        verdicts = answers.get((v.refused, v.send_at))
        if verdicts is None:
            ok = v.refused is None
            verdicts = answers[v.refused, v.send_at] = (
                Verdict("gateway", "gateway", ok, v.refused, "accepted" if ok else v.refused, v.send_at),)
        out.append(SentVoucher(v.voucher_no, f"{adm_div_code}/{v.day.year}/{v.vtcode}/{v.voucher_no}/0", v.vtcode,
                               v.voucher_no, 0, "treasury", bank_ids.get(v.bank), v.bank, v.amount_fen, v.send_at,
                               verdicts=verdicts))
    return out


class _ReceiptFields(Mapping[str, str]):
    """A generated receipt's X fields (XPayDate, XPayAmt, XAgentBusinessNo) read from its record when
    asked: a dict and an amount's text per receipt were most of what the run's end held at 100,000."""

    __slots__ = ("_receipt",)
    _NAMES = ("XPayDate", "XPayAmt", "XAgentBusinessNo")

    def __init__(self, receipt: Any) -> None:
        self._receipt = receipt

    def __getitem__(self, name: str) -> str:
        r = self._receipt
        if name == "XPayDate":
            return str(r.paid_date)
        if name == "XPayAmt":
            return fen_to_str(r.paid_fen)
        if name == "XAgentBusinessNo":
            return str(r.serial)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)

    def __repr__(self) -> str:
        return repr(dict(self))


def generated_receipts(tcore: Any, senders: Mapping[str, str]) -> list[ReceiptSeen]:
    """The receipts the treasury core took (the first of each voucher, then any duplicates).
    `senders`: VoucherNo → the bank that paid it."""
    return _receipts_of([*tcore.receipts.values(), *tcore.duplicate_receipts], senders)


def _receipts_of(records: Iterable[Any], senders: Mapping[str, str]) -> list[ReceiptSeen]:
    out = []
    for r in records:
        no = r.key.voucher_no
        out.append(ReceiptSeen(no, r.key.vtcode, senders.get(no, "?"), r.received_at, _ReceiptFields(r),
                               r.return_reason, r.key.adm_div_code, r.key.st_year))
    return out


Part = tuple[list[SentVoucher], list[ReceiptSeen], list[PaymentSeen]]


def generated_parts(tcore: Any, bcores: Mapping[str, Any], adm_div_code: str, bank_ids: Mapping[str, str],
                    part_vouchers: int | None = None) -> Iterator[Part]:
    """`generated_sent`, `generated_receipts` and `payments_of` in slices by VoucherNo (its CRC-32),
    every record of a number in the same slice, for `runner.reconcile.reconcile_parts`: one slice's
    values are made when it is asked for, so with the caller dropping each before the next, the run's
    end holds about `part_vouchers` vouchers' values at a time, not the whole day's."""
    k = max(1, -(-tcore.sent_count() // (part_vouchers or PART_VOUCHERS)))
    if k == 1:  # one slice: the whole lists, each voucher made once (not by number a second time)
        payments = payments_of(bcores)
        part = (generated_sent(tcore, adm_div_code, bank_ids),
                generated_receipts(tcore, {p.voucher_no: p.bank for p in payments}), payments)
        del payments
        yield part
        return

    def slices(items: Iterable[Any], number: Callable[[Any], str]) -> list[list[Any]]:
        out: list[list[Any]] = [[] for _ in range(k)]
        for x in items:
            out[zlib.crc32(number(x).encode()) % k].append(x)
        return out

    # a slice's sent vouchers by VoucherNo (the text the records share), each read again from the
    # plan (`sent_row`) when its slice is read: not the day's vouchers held as values until their slice
    sent = slices((v.voucher_no for v in tcore.iter_sent_rows()), lambda no: no)
    paid = slices(((bid, core, p) for bid, core in bcores.items() for p in core.payments.values()),
                  lambda t: t[2].key.voucher_no)
    # the first receipts by the VoucherNo they are kept under (made when their slice is read: the
    # core keeps them packed), then the duplicates as they are, as `generated_receipts` lists them
    got = slices(tcore.receipt_numbers(), lambda numbered: numbered[1])
    doubled = slices(tcore.duplicate_receipts, lambda r: r.key.voucher_no)
    sent_row, receipts = tcore.vouchers.sent_row, tcore.receipts  # a voucher's fields, not the voucher made
    for i in range(k):
        payments = [_payment_seen(*t) for t in paid[i]]
        senders = {p.voucher_no: p.bank for p in payments}
        part = (_sent_of((sent_row(no) for no in sent[i]), adm_div_code, bank_ids),
                _receipts_of([*(receipts[no] for no, _ in got[i]), *doubled[i]], senders), payments)
        sent[i] = paid[i] = got[i] = doubled[i] = []
        del payments, senders
        yield part
        del part  # the caller's: not held by this frame while the next is made
