"""`runner.reconcile.reconcile_parts`, the reconciliation slice by slice of VoucherNo, is
`reconcile` over the whole run (one part holding every list): on generated runs with every kind
of voucher-level break, split any way by number; and the demo's report made slice by slice
(without its page) is the one made from the run's whole lists (the page's way). What the whole
reconciliation finds is pinned by the scenario and refund tests (test_scenario_verdicts,
test_reconcile_refunds); this file checks that slicing changes none of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runner.reconcile
import runner.sim_observe
from messages.money import parse_fen
from runner.observed import (
    ClearingSeen,
    MovementSeen,
    PaymentSeen,
    ReceiptSeen,
    RefundSeen,
    SentVoucher,
    StatementSeen,
    Verdict,
)
from runner.reconcile import reconcile, reconcile_parts
from tests.scenario_fixtures import CODES, D1, D2, t

# what happens to one voucher: each a break of its own kind (or none)
FATES = ("clean", "no-receipt", "no-payment", "held", "wrong-amount", "two-receipts", "returned-receipt",
         "unknown-payment", "unknown-receipt", "no-filing", "refused", "refunded", "refund-unknown")


def _run(fates: list[tuple[str, str, int, bool]]) -> dict[str, Any]:
    sent, receipts, payments, refunds, filed = [], [], [], [], {}
    for i, (fate, bank, fen, late) in enumerate(fates):
        no, day = f"ZZ{i:05d}", D2 if late else D1
        when = t(day, 10, i % 60)
        if fate != "unknown-payment" and fate != "unknown-receipt":
            sent.append(SentVoucher(no, f"k/{no}", "5201", no, 0, "treasury", bank, CODES[bank], fen, when,
                                    verdicts=(Verdict("gateway", "gw", True, None, "", when),)))
        if fate not in ("no-payment", "unknown-receipt", "refund-unknown"):
            filing = None if fate == "no-filing" else f"HK{bank}{day:%d}" + ("R" if fate == "refused" else "")
            payments.append(PaymentSeen(bank, CODES[bank], no, "5201", fen, "clearing", when,
                                        None if fate == "held" else day, filing))
            if filing is not None and fate != "held":
                filed.setdefault((bank, filing, day), []).append((no, fen))
        if fate not in ("no-receipt", "no-payment", "held", "unknown-payment"):
            amount = fen + 1 if fate == "wrong-amount" else fen
            fields = {"XPayDate": f"{day:%Y%m%d}", "XPayAmt": f"{amount / 100:.2f}"}
            receipts.append(ReceiptSeen(no, "5201", bank, when, fields))
            if fate == "two-receipts":
                receipts.append(ReceiptSeen(no, "5201", "bank-b", when, fields))
            if fate == "returned-receipt":
                receipts.append(ReceiptSeen(no, "5201", bank, when, fields, return_reason="closed"))
        if fate in ("refunded", "refund-unknown"):
            refunds.append(RefundSeen(bank, no, f"TK{i:05d}", fen, t(day, 14, 0), "pending"))
    clearings = [ClearingSeen(b, CODES[b], f, 0, "11", day, t(day, 15, 30), sum(x for _, x in ps),
                              tuple(n for n, _ in ps), "rejected" if f.endswith("R") else "accepted",
                              cleared_fen=sum(x for _, x in ps), answered_at=t(day, 15, 30))
                 for (b, f, day), ps in sorted(filed.items())]
    movements = [MovementSeen(c.clear_date, "D", c.cleared_fen, c.bank_code, "clearing", c.voucher_no)
                 for c in clearings if c.state == "accepted"]
    statements = [StatementSeen(D1, 10**12, 0, 0, 10**12)]
    return {"sent": sent, "receipts": receipts, "payments": payments, "rest": {
        "clearings": clearings, "movements": movements, "statements": statements, "business_days": [D1, D2],
        "opening_fen": 10**12, "refunds": refunds}}


def _sliced(run: dict[str, Any], k: int) -> list[tuple[list[Any], list[Any], list[Any]]]:
    parts: list[tuple[list[Any], list[Any], list[Any]]] = [([], [], []) for _ in range(k)]
    for i, name in enumerate(("sent", "receipts", "payments")):
        for x in run[name]:
            parts[zlib.crc32(x.voucher_no.encode()) % k][i].append(x)
    return parts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FATES), st.sampled_from(sorted(CODES)), st.integers(1, 10**6),
                          st.booleans()), max_size=40),
       st.integers(1, 6), st.integers(1, 4))
def test_slice_by_slice_is_the_whole_reconciliation(fates: list[tuple[str, str, int, bool]], k: int,
                                                    listed: int) -> None:
    run = _run(fates)
    lists = {"sent": run["sent"], "receipts": run["receipts"], "payments": run["payments"]}
    # a few vouchers listed on a break: the slices' lists of them are cut too
    with mock.patch.object(runner.reconcile, "BREAK_VOUCHERS_MAX", listed):
        whole = reconcile(**lists, **run["rest"])
        sliced = reconcile_parts(iter(_sliced(run, k)), **run["rest"])
    assert sliced == whole
    # the treasury's receipts a day, by definition: the first receipt not returned of each voucher sent
    sent_nos, firsts = {v.voucher_no for v in run["sent"]}, {}
    for r in run["receipts"]:
        if r.return_reason is None and r.voucher_no in sent_nos:
            firsts.setdefault(r.voucher_no, r)
    by_day: dict[dt.date, int] = {}
    for r in firsts.values():
        day = runner.reconcile.receipt_day(r)
        by_day[day] = by_day.get(day, 0) + parse_fen(r.fields["XPayAmt"])
    assert {d.day: d.treasury_receipts_fen for d in whole.days if d.day in by_day} == by_day
    assert all(d.treasury_receipts_fen == 0 for d in whole.days if d.day not in by_day)
    if any(f != "clean" for f, *_ in fates):
        assert whole.breaks


def test_the_demo_report_slice_by_slice_is_the_one_from_the_whole_lists(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.demo import simulate

    def report(html: bool, name: str = "") -> dict[str, Any]:
        out = asyncio.run(simulate(tmp_path / f"{html}{name}", seed=3, vouchers=40, days=2,
                                   start=dt.date(2026, 3, 16), html=html))
        out.pop("html", None)
        for volatile in ("elapsed_s", "dir"):
            out["run"].pop(volatile)
        return out

    one_slice = report(False, "one")  # the default slice size: this day is one slice, its whole lists
    made: list[int] = []
    slices = runner.sim_observe.generated_parts

    def counted(*args: Any, **kwargs: Any) -> Any:
        for part in slices(*args, **kwargs):
            made.append(len(part[0]))
            yield part

    monkeypatch.setattr(runner.sim_observe, "PART_VOUCHERS", 9)  # several slices
    monkeypatch.setattr(runner.sim_observe, "generated_parts", counted)
    sliced = report(False)
    # the page's way: every list of the run, then one reconciliation of them whole
    whole = report(True)
    assert sliced == whole == one_slice
    assert sliced["ok"] and sliced["invariants"]["reconciliation_clean"]["ok"]
    assert len(made) > 2 and sum(made) == 80  # the two days' vouchers, each in one slice
