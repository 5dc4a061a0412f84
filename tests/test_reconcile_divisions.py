"""The three-way reconciliation (`runner.reconcile`) joins a voucher, its receipt and its payment by
the voucher's key (AdmDivCode, StYear, VtCode, VoucherNo): each division's treasury numbers its own
vouchers, each year afresh, so two divisions' (or years') payments at one bank may share a
VoucherNo, and a clearing request's listed sum is of its own payments (by key). Before, all were
joined by VoucherNo: of two payments numbered alike one was dropped, its receipt taken for the
other's (`receipt-amount`, `duplicate-receipt`) and a clearing request's sum counted the wrong one
(`clearing-sum`)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from messages.money import fen_to_str
from runner.observed import ClearingSeen, PaymentSeen, ReceiptSeen, SentVoucher, Verdict
from runner.reconcile import reconcile
from tests.scenario_fixtures import CODES, D1, t

HOME, OTHER = "990100", "990200"
BANK = "bank-a"
# the causes of one voucher's own breaks (the day and month totals are not one voucher's)
VOUCHER_CAUSES = frozenset({"not-paid", "paid-unknown", "no-receipt", "receipt-unknown", "receipt-amount",
                            "duplicate-receipt", "not-cleared", "clearing-sum"})

Voucher = tuple[str, str, str, int, str]  # (AdmDivCode, StYear, VoucherNo, fen, fate)


def _records(vouchers: list[Voucher]) -> dict[str, list]:  # type: ignore[type-arg]
    sent, receipts, payments, by_adm = [], [], [], {}
    for i, (adm, year, no, fen, fate) in enumerate(vouchers):
        key, when = f"{adm}/{year}/5201/{no}", t(D1, 10, i)
        sent.append(SentVoucher(no, f"{key}/0", "5201", no, 0, "treasury", BANK, CODES[BANK], fen, when,
                                verdicts=(Verdict("gateway", "gw", True, None, "", when),)))
        if fate == "not-paid":
            continue
        filing = f"HK{adm}"
        payments.append(PaymentSeen(BANK, CODES[BANK], no, "5201", fen, "clearing", when, D1, filing, key))
        by_adm.setdefault(adm, []).append((key, no, fen))
        if fate != "no-receipt":
            paid = fen + 1 if fate == "wrong-amount" else fen
            receipts.append(ReceiptSeen(no, "5201", BANK, t(D1, 11, i),
                                        {"StYear": year, "XPayDate": f"{D1:%Y%m%d}", "XPayAmt": fen_to_str(paid)},
                                        None, adm))
    clearings = [ClearingSeen(BANK, CODES[BANK], f"HK{adm}", 0, "11", D1, t(D1, 15, 30), sum(f for _, _, f in ps),
                              tuple(no for _, no, _ in ps), "accepted", cleared_fen=sum(f for _, _, f in ps),
                              answered_at=t(D1, 15, 40), keys=tuple(k for k, _, _ in ps))
                 for adm, ps in by_adm.items()]
    return {"sent": sent, "receipts": receipts, "payments": payments, "clearings": clearings}


def _breaks(vouchers: list[Voucher]) -> Counter[tuple[str, tuple[str, ...]]]:
    r = _records(vouchers)
    rec = reconcile(sent=r["sent"], receipts=r["receipts"], payments=r["payments"], clearings=r["clearings"],
                    movements=[], statements=[])
    return Counter((b.cause, b.vouchers) for b in rec.breaks if b.cause in VOUCHER_CAUSES)


def test_two_divisions_payments_of_one_number_each_reconcile_with_their_own_receipt_and_clearing() -> None:
    assert _breaks([(HOME, "2026", "Z1", 100_00, "clean"), (OTHER, "2026", "Z1", 30_00, "clean")]) == Counter()
    assert _breaks([(HOME, "2026", "Z1", 100_00, "clean"), (HOME, "2025", "Z1", 30_00, "no-receipt")]) == Counter(
        {("no-receipt", ("Z1",)): 1})


_VOUCHERS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["Z1", "Z2"]), st.integers(1, 500_00),
                               st.sampled_from(["clean", "no-receipt", "not-paid", "wrong-amount"])),
                     min_size=1, max_size=8, unique_by=lambda v: v[:3])


@settings(max_examples=80, deadline=None)
@given(vouchers=_VOUCHERS)
def test_each_voucher_s_breaks_are_as_if_it_were_alone(vouchers: list[Voucher]) -> None:
    """Oracle (003 §40: every difference is a break of its own, never netted away): the vouchers
    whose numbers collide across divisions and years, reconciled together, break exactly as each
    does reconciled alone (with its own receipt, payment and clearing request)."""
    alone: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for v in vouchers:
        alone += _breaks([v])
    assert _breaks(vouchers) == alone
