"""A payment whose clearing missed the cutoff and that the clearing reserve cannot cover: the bank's
own funds make it whole at the close, and the next morning a ClearType 1 of its own, ClearDate the
day paid, repays them (docs/rules.md "Paying a voucher"; `bank_sim.close._front`,
`bank_sim.filings.file_fronted`). Driven on the sans-IO core, across a snapshot between the close
and the morning (what is fronted is derived from the payments, not kept apart)."""

from __future__ import annotations

import datetime as dt

from bank_sim.core import BankConfig, BankCore, account_ids
from business_time.clock import ClockConfig
from sim.effects import Alarm, OpenAccount
from tests.test_bank_core import BANK, CALENDAR, answer, new_core, sends, t, transfers, voucher

A = account_ids(BANK)


def _missed_cutoff_day(reserve_fen: int) -> BankCore:
    """Monday 2026-03-16: 300.00 and 500.00 paid at 10:00, their 15:30 request refused after-cutoff
    (it reached the central bank late), then the close."""
    core = new_core(t("2026-03-16", "08:00"), reserve_fen=reserve_fen)
    for fen in (300_00, 500_00):
        core.on_voucher(voucher("2026-03-16", fen), 0, t("2026-03-16", "10:00"))
    [request] = sends(core.on_time(t("2026-03-16", "15:30")))
    core.on_voucher(answer(request, dt.date(2026, 3, 16), reason="x"), 1, t("2026-03-16", "16:01"),
                    return_reason="after-cutoff: received 16:01:00, after the clearing cutoff 16:00")
    return core


def test_the_reserve_covers_what_it_holds_and_the_bank_fronts_the_rest() -> None:
    core = _missed_cutoff_day(400_00)
    close = core.on_time(t("2026-03-16", "17:00"))
    assert [e.account.id for e in close if isinstance(e, OpenAccount)] == [A["bank-own"]]
    moved = [(x.transfer.debit_account, x.transfer.amount_fen, x.transfer.kind) for x in transfers(close)]
    assert moved == [(A["reserve"], 300_00, "reserve-cover"), (A["bank-own"], 500_00, "bank-front")]
    assert [e.code for e in close if isinstance(e, Alarm)] == ["clearing-escalated", "clearing-escalated"]
    assert not core.unbalanced_closes  # the zero-balance account at zero
    assert (core.balances[A["bank-own"]], core.reserve_balance_fen) == (-500_00, 100_00)
    [listed] = sends(close, "7202")  # the reserve's list: only what the reserve paid
    assert [d["PayAmt"] for d in listed.details] == ["300.00"]

    restored = BankCore.restore(core.snapshot(), BANK, BankConfig(reserve_fen=400_00), CALENDAR, ClockConfig())
    morning = restored.on_time(t("2026-03-17", "08:45"))
    replenishment, fronted = sends(morning, "2301")
    assert [(r.head["ClearType"], r.head["ClearDate"], r.head["PayAmt"]) for r in (replenishment, fronted)] == [
        ("1", "20260316", "300.00"), ("1", "20260316", "500.00")]
    back = transfers(restored.on_voucher(answer(fronted, dt.date(2026, 3, 17)), 1, t("2026-03-17", "08:46")))
    assert [(x.transfer.credit_account, x.transfer.kind) for x in back] == [(A["bank-own"], "clearing")]
    assert restored.balances[A["bank-own"]] == 0
    assert not sends(restored.on_time(t("2026-03-17", "15:30")), "2301")  # never filed again


def test_a_reserve_that_covers_all_opens_no_account_of_the_banks_own() -> None:
    core = _missed_cutoff_day(20_000_000_00)
    close = core.on_time(t("2026-03-16", "17:00"))
    assert not [e for e in close if isinstance(e, OpenAccount)] and A["bank-own"] not in core.balances
    [request] = sends(core.on_time(t("2026-03-17", "08:45")), "2301")  # the reserve's replenishment only
    assert request.head["PayAmt"] == "800.00"
