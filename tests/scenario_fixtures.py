"""A small, consistent observed run (synthetic) for the expectation, reconciliation and report tests.

2026-03-10 (Tue): the treasury sends v1 (bank-a, 100.00, 10:00), v3 (bank-b, 20.00, 11:00) and
v2 (bank-a, 50.00, 15:59, after the bank's 15:30 filing: advanced from the reserve). bank-a files
HKA1 (v1) at 15:30, bank-b HKB1 (v3); both accepted at once. 2026-03-11 08:45: bank-a files the
replenishment HKA2 (v2), accepted. TSA opens at 1,000.00.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from business_time.clock import TZ
from runner.observed import (
    ClearingSeen,
    InvariantSeen,
    MessageSeen,
    MovementSeen,
    Observed,
    PaymentSeen,
    QuotaSeen,
    ReceiptSeen,
    SentVoucher,
    StatementSeen,
    TraceEvent,
    Verdict,
    trace_path,
)
from runner.reconcile import reconcile

D1, D2 = dt.date(2026, 3, 10), dt.date(2026, 3, 11)
CODES = {"bank-a": "999100000001", "bank-b": "999100000002"}


def t(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


# The scenario file's start and steps for this run (a test adds its name, title and expectations).
WORLD_AND_STEPS = """world: {start: "2026-03-10"}
steps:
  - at: "10:00"
    send: {id: v1, template: direct-payment, bank: bank-a, amount: "100.00"}
  - at: "11:00"
    send: {id: v3, template: direct-payment, bank: bank-b, amount: "20.00"}
  - at: "15:59"
    send: {id: v2, template: direct-payment, bank: bank-a, amount: "50.00"}
"""

VOUCHERS = (("v1", "ZZ001", "bank-a", 100_00, t(D1, 10, 0), "clearing", "HKA1"),
            ("v3", "ZZ003", "bank-b", 20_00, t(D1, 11, 0), "clearing", "HKB1"),
            ("v2", "ZZ002", "bank-a", 50_00, t(D1, 15, 59), "advance", "HKA2"))


def sent(**changes: Any) -> tuple[SentVoucher, ...]:
    out = []
    for vid, no, bank, fen, when, _, _ in VOUCHERS:
        key = f"990100/2026/5201/{no}/0"
        out.append(SentVoucher(vid, key, "5201", no, 0, "treasury", bank, CODES[bank], fen, when,
                               verdicts=(Verdict("gateway", "gateway", True, None, "", when),),
                               trace=(TraceEvent(when.isoformat(), "journaled", "treasury-990100", "5201 accepted"),
                                      TraceEvent(when.isoformat(), "delivered", bank, "")),
                               trace_link=trace_path(key)))
    return tuple(out)


def observed(**overrides: Any) -> Observed:
    """The consistent run, with any field replaced; the reconciliation is recomputed unless given."""
    payments = tuple(PaymentSeen(bank, CODES[bank], no, "5201", fen, mode, when, D1, filing)
                     for _, no, bank, fen, when, mode, filing in VOUCHERS)
    receipts = tuple(ReceiptSeen(no, "5201", bank, when, {"XPayDate": "20260310", "XPayAmt": f"{fen // 100}.00",
                                                          "XAgentBusinessNo": f"YH{no}"})
                     for _, no, bank, fen, when, _, _ in VOUCHERS)
    clearings = (
        ClearingSeen("bank-a", CODES["bank-a"], "HKA1", 0, "11", D1, t(D1, 15, 30), 100_00, ("ZZ001",), "accepted",
                     cleared_fen=100_00, answered_at=t(D1, 15, 30)),
        ClearingSeen("bank-b", CODES["bank-b"], "HKB1", 0, "11", D1, t(D1, 15, 30), 20_00, ("ZZ003",), "accepted",
                     cleared_fen=20_00, answered_at=t(D1, 15, 30)),
        ClearingSeen("bank-a", CODES["bank-a"], "HKA2", 1, "11", D1, t(D2, 8, 45), 50_00, ("ZZ002",), "accepted",
                     cleared_fen=50_00, answered_at=t(D2, 8, 45)),
    )
    movements = (MovementSeen(D1, "D", 100_00, CODES["bank-a"], "clearing", "HKA1"),
                 MovementSeen(D1, "D", 20_00, CODES["bank-b"], "clearing", "HKB1"),
                 MovementSeen(D2, "D", 50_00, CODES["bank-a"], "reserve-replenishment", "HKA2"))
    statements = (StatementSeen(D1, 1000_00, 120_00, 0, 880_00), StatementSeen(D2, 880_00, 50_00, 0, 830_00))
    base: dict[str, Any] = dict(
        scenario="fixture", seed=1, start=t(D1, 8, 0), end=t(D2, 17, 0), sent=sent(), receipts=receipts,
        payments=payments, clearings=clearings, movements=movements, statements=statements,
        quotas=(QuotaSeen(CODES["bank-a"], "11", D1, 165_00, 100_00, 50_00),
                QuotaSeen(CODES["bank-b"], "11", D1, 22_00, 20_00, 0)),
        messages=(*(MessageSeen("5201", 0, "treasury", bank, when, no) for _, no, bank, _, when, _, _ in VOUCHERS),
                  MessageSeen("2301", 0, "bank-a", "pboc", t(D1, 15, 30), "HKA1"),
                  MessageSeen("2301", 0, "bank-b", "pboc", t(D1, 15, 30), "HKB1"),
                  MessageSeen("2301", 0, "bank-a", "pboc", t(D2, 8, 45), "HKA2")),
        invariants=(InvariantSeen("ledger_sums_to_zero", True, "every ledger sums to 0"),
                    InvariantSeen("tsa_debits_equal_clearings", True, "170.00 = 170.00")),
        balances={"bank-a": {"bank:999100000001:reserve": 20_000_000_00, "bank:999100000001:zba-finance": 0}},
        closes={D1: {"bank-a": {"bank:999100000001:zba-finance": 0}},
                D2: {"bank-a": {"bank:999100000001:zba-finance": 0}}},
        zero_balance_accounts=("bank-a:bank:999100000001:zba-finance",),
    )
    base.update(overrides)
    o = Observed(**base)
    if "reconciliation" not in overrides:
        o = dataclasses.replace(o, reconciliation=reconcile(
            sent=o.sent, receipts=o.receipts, payments=o.payments, clearings=o.clearings, movements=o.movements,
            statements=o.statements, business_days=(D1, D2), opening_fen=1000_00))
    return o
