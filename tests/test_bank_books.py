"""The bank core checks its own books after every input (bank_sim.books, issue 16): a state broken
behind its back, or a rule that would break it, raises sim.books.BooksError naming the rule; the
normal flows (paid, advanced, deferred, returned, refused by the ledger) never do; the check reads
running counts and the input's own records, never every payment."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim import books, payments
from bank_sim.core import BankCore, account_ids
from bank_sim.state import Ctx
from business_time.clock import ClockConfig
from sim.books import BooksError
from sim.effects import PostTransfer, Refusal
from tests.test_bank_core import BANK, CALENDAR, new_core, t, voucher

MONDAY = "2026-03-16"
SATURDAY = "2026-03-14"


def _broken(core: BankCore, now: dt.datetime, rule: str) -> BooksError:
    with pytest.raises(BooksError) as caught:
        core.on_time(now)
    assert caught.value.rule == rule and caught.value.code == "books-out-of-balance"
    assert caught.value.core == f"bank {BANK}"
    return caught.value


def test_a_reserve_below_zero_is_caught_at_the_next_input() -> None:
    core = new_core(t(MONDAY, "08:00"))
    core.on_time(t(MONDAY, "08:01"))  # a sound state passes
    core.state.reserve_balance_fen = -1
    core.state.balances[account_ids(BANK)["reserve"]] = -1
    assert "-0.01" in str(_broken(core, t(MONDAY, "08:02"), "reserve-non-negative"))


def test_a_reserve_that_disagrees_with_its_account_is_caught() -> None:
    core = new_core(t(MONDAY, "08:00"))
    core.state.balances[account_ids(BANK)["reserve"]] += 1
    _broken(core, t(MONDAY, "08:01"), "reserve-agrees")


def test_a_deferred_payment_lost_before_the_opening_is_caught() -> None:
    core = new_core(t(SATURDAY, "08:00"))
    assert core.on_voucher(voucher(SATURDAY, 10_00), 0, t(SATURDAY, "10:00")) == []  # deferred: nothing yet
    core.on_time(t(SATURDAY, "10:01"))
    core.state.deferred.clear()  # the voucher would never be paid
    _broken(core, t(SATURDAY, "10:02"), "payments-accounted")


def test_a_paid_payment_without_its_serial_is_caught_when_it_comes_again() -> None:
    core = new_core(t(MONDAY, "08:00"))
    doc = voucher(MONDAY, 10_00)
    core.on_voucher(doc, 0, t(MONDAY, "10:00"))
    [p] = core.state.payments.values()
    p.serial = ""
    with pytest.raises(BooksError) as caught:
        core.on_voucher(doc, 0, t(MONDAY, "10:05"))  # a redelivery touches the payment
    assert caught.value.rule == "payment-state"


def test_a_quota_rule_that_overdraws_a_line_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    core = new_core(t(MONDAY, "08:00"))
    real = payments.quotas.draw

    def overdraw(*args: Any) -> Any:  # a defect in the rule: takes a billion more than the line has
        taken = real(*args)
        return {k: v + 10**13 for k, v in taken.items()} if isinstance(taken, dict) else taken

    monkeypatch.setattr(payments.quotas, "draw", overdraw)
    with pytest.raises(BooksError) as caught:
        core.on_voucher(voucher(MONDAY, 10_00, vtcode="8202"), 0, t(MONDAY, "10:00"))
    assert caught.value.rule == "quota-non-negative"


def test_the_check_reads_counts_not_every_payment() -> None:
    """O(1) per input: with the payments behind a map that refuses to be walked the check passes."""
    core = new_core(t(MONDAY, "08:00"))
    for i in range(3):
        core.on_voucher(voucher(MONDAY, 10_00 + i), 0, t(MONDAY, "10:00"))

    class NoWalk(dict[str, Any]):
        def __iter__(self) -> Any:
            raise AssertionError("the books check walked the payments")

        values = items = keys = __iter__  # type: ignore[assignment]

    st_ = core.state
    st_.payments = NoWalk(st_.payments)
    books.check(Ctx.of(BANK, core.config, CALENDAR, ClockConfig()), st_)


def test_a_payment_the_ledger_refused_keeps_the_books() -> None:
    core = new_core(t(MONDAY, "08:00"))
    paid = core.on_voucher(voucher(MONDAY, 10_00), 0, t(MONDAY, "10:00"))
    dropped = tuple(e for e in paid if isinstance(e, PostTransfer))
    core.on_refused(Refusal("ledger", "ledger-overdraft", "refused in the test", dropped), t(MONDAY, "10:00"))
    b = core.state.books
    assert (b.paid, b.refused, b.returned) == (0, 1, 0)
    core.on_time(t(MONDAY, "17:30"))  # the close: nothing to cover, books still balanced


_event = st.tuples(st.sampled_from(["5201", "8202", "other-bank"]), st.integers(0, 6),
                   st.integers(0, 24 * 60 - 1), st.integers(1, 2_000_000_00))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, max_size=25), refuse=st.integers(0, 40))
def test_no_flow_breaks_the_books(events: list[tuple[str, int, int, int]], refuse: int) -> None:
    """Paid, advanced (a small reserve), deferred (nights, weekends), returned, another bank's, a
    ledger refusal, the closes and openings between: the check never fires."""
    start = t("2026-03-13", "07:00")
    core = new_core(start, reserve_fen=3_000_000_00)
    steps = sorted((start + dt.timedelta(days=d, minutes=m), vt, fen) for vt, d, m, fen in events)
    for i, (now, vt, fen) in enumerate(steps):
        doc = voucher(now.date().isoformat(), fen, vtcode="5201" if vt == "other-bank" else vt,
                      bank="999100000002" if vt == "other-bank" else BANK)
        effects = core.on_voucher(doc, 0, now)
        transfers = tuple(e for e in effects if isinstance(e, PostTransfer)
                          and e.transfer.kind in ("direct-payment", "authorized-payment", "advance"))
        if transfers and i == refuse:
            core.on_refused(Refusal("ledger", "ledger-overdraft", "refused", transfers), now)
    core.on_time(start + dt.timedelta(days=9))
    b = core.state.books
    assert b.paid + len(core.state.deferred) + b.returned + b.refused == len(core.state.payments)
