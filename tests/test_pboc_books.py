"""The central bank checks its own books after every input (issue 16, `pboc_sim.books`), and its
state is typed records saved and restored by msgspec, in one module per duty without a cycle.

Each rule is broken on purpose (a corrupted record, then an input that touches it) and raises
`sim.books.BooksError` naming that rule; random days of quotas, clearings, refunds and ledger
refusals never raise it, and the core's TSA and clearing accounts stay equal to the books'."""

from __future__ import annotations

import datetime as dt

import grimp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pboc_core import ADM, BANK, BANK2, Books, clearing, make, quota, receipt, refund, send, t

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ
from messages.money import fen_to_str
from pboc_sim import books
from pboc_sim.core import TSA_ACCOUNT, OpenAccount, PbocCore, PostTransfer, SendVoucher, clearing_account
from pboc_sim.state import cleared_key, quota_key
from sim.books import BooksError
from sim.effects import Effect, Refusal

DAY = "2026-03-16"
CALENDAR = BusinessCalendar.default()


def _cleared_day() -> tuple[PbocCore, Books, str]:
    """A core that took a 1000.00 quota and cleared 400.00 of it (one payment, ZF0001)."""
    core, books_ = make(CALENDAR, t(DAY, "08:00"))
    send(core, books_, quota(DAY, "1000.00"), t(DAY, "09:00"))
    doc = clearing(DAY, "400.00", payments=[("ZF0001", "400.00")])
    assert receipt(send(core, books_, doc, t(DAY, "10:00"))).return_reason is None
    return core, books_, doc.get("VoucherNo")


def _broken(rule: str, call: object) -> None:
    with pytest.raises(BooksError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.rule == rule and caught.value.code == "books-out-of-balance"


def test_a_quota_line_used_beyond_its_notice_is_caught_when_next_touched() -> None:
    core, _, _ = _cleared_day()
    line = core.state.quotas[quota_key(ADM, BANK, "11", "1", dt.date(2026, 3, 16))]
    line.used_fen = line.notified_fen + 1  # corrupted: more used than notified
    core.on_time(t(DAY, "10:30"))  # an input that does not touch the line: O(1), not looked at
    _broken("quota-overdrawn", lambda: core.on_voucher(clearing(DAY, "1.00"), 0, t(DAY, "11:00")))


def test_a_refund_beyond_what_was_cleared_is_caught() -> None:
    core, _, _ = _cleared_day()
    item = core.state.cleared.modify(cleared_key(ADM, DAY[:4], "5201", "ZF0001", BANK))  # the record to change in place
    assert item is not None
    item.refunded_fen = 400_01
    _broken("refund-over-cleared",
            lambda: core.on_voucher(refund(DAY, "1.00", ori_no="ZF0001"), 0, t(DAY, "11:00")))


def test_the_tsa_off_its_movements_or_below_zero_is_caught_at_any_input() -> None:
    core, _, _ = _cleared_day()
    core.state.tsa_balance_fen += 1
    _broken("tsa-off-movements", lambda: core.on_time(t(DAY, "11:00")))
    core, _, _ = _cleared_day()
    core.state.tsa_balance_fen = -1
    _broken("tsa-below-zero", lambda: core.on_time(t(DAY, "11:00")))


def test_clearing_accounts_off_the_tsa_movements_are_caught() -> None:
    core, _, _ = _cleared_day()
    core.state.totals.clearing_sum_fen -= 400_00
    _broken("clearing-off-movements", lambda: core.on_time(t(DAY, "11:00")))


def test_a_quota_line_is_checked_after_a_ledger_refusal_too() -> None:
    core, _, _ = _cleared_day()
    effects = core.on_voucher(clearing(DAY, "100.00"), 0, t(DAY, "11:00"))
    line = core.state.quotas[quota_key(ADM, BANK, "11", "1", dt.date(2026, 3, 16))]
    line.used_fen = -1  # the refusal below takes 100.00 back from a line that was never charged
    refusal = Refusal("ledger", "ledger-overdraft", "TSA overdrawn",
                      tuple(e for e in effects if isinstance(e, PostTransfer | SendVoucher)))
    _broken("quota-overdrawn", lambda: core.on_refused(refusal, t(DAY, "11:00")))


def test_the_rules_are_named_once_each() -> None:
    assert len(set(books.RULES)) == len(books.RULES) == 5


# ---------------------------------------------------------------- random days hold the books

_event = st.tuples(
    st.sampled_from(["quota", "clear", "refund-payment", "refund-clearing", "refuse-last", "time"]),
    st.sampled_from([BANK, BANK2]),
    st.integers(9 * 60, 17 * 60 + 30),  # minute of the day
    st.integers(1, 30_000),  # fen
)


def _undo(ledger: Books, effects: list[Effect]) -> None:
    """The ledger refused the call: none of its transfers is applied."""
    for e in effects:
        if isinstance(e, PostTransfer):
            tr = ledger.transfers.pop(e.transfer.id)
            ledger.balances[tr.debit_account] += tr.amount_fen
            ledger.balances[tr.credit_account] -= tr.amount_fen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, max_size=25), opening=st.sampled_from([0, 20_000, 10**9]))
def test_random_days_never_break_the_books(events: list[tuple[str, str, int, int]], opening: int) -> None:
    core, ledger = make(CALENDAR, t(DAY, "08:00"), opening=opening)
    cleared: list[tuple[str, str, str, int]] = []  # (bank, 2301 no, payment no, fen)
    last: list[Effect] = []
    for n, (kind, bank, minute, fen) in enumerate(sorted(events, key=lambda e: e[2])):
        now = dt.datetime.combine(dt.date(2026, 3, 16), dt.time(minute // 60, minute % 60), tzinfo=TZ)
        amount = fen_to_str(fen)
        if kind == "quota":
            last = send(core, ledger, quota(DAY, amount, bank=bank), now)
        elif kind == "clear":
            doc = clearing(DAY, amount, bank=bank, payments=[(f"ZF{n:04d}", amount)])
            last = send(core, ledger, doc, now)
            if receipt(last).return_reason is None:
                cleared.append((bank, doc.get("VoucherNo"), f"ZF{n:04d}", fen))
        elif kind.startswith("refund") and cleared:
            b, no, payment, total = cleared[fen % len(cleared)]
            share = fen_to_str(1 + fen % total)
            doc = (refund(DAY, share, bank=b, ori_no=payment) if kind == "refund-payment"
                   else refund(DAY, share, bank=b, ori_vtcode="2301", ori_no=no))
            last = send(core, ledger, doc, now)
        elif kind == "refuse-last" and any(isinstance(e, PostTransfer) for e in last):
            _undo(ledger, last)
            dropped = tuple(e for e in last if isinstance(e, OpenAccount | PostTransfer | SendVoucher))
            last = ledger.apply(core.on_refused(Refusal("ledger", "ledger-overdraft", "refused", dropped), now))
        else:
            last = ledger.apply(core.on_time(now))
        # the core's own view equals the books it asked for
        assert core.tsa_balance_fen == ledger.balances[TSA_ACCOUNT]
        for b in (BANK, BANK2):
            assert core.clearing_balances.get(b, 0) == ledger.balances[clearing_account(b)]
    ledger.apply(core.on_time(t("2026-03-17", "18:00")))


# ---------------------------------------------------------------- the shape


def test_pboc_sim_has_no_import_cycle_and_the_core_is_imported_by_no_duty() -> None:
    graph = grimp.build_graph("pboc_sim")
    modules = sorted(m for m in graph.modules if m.startswith("pboc_sim."))
    for m in modules:
        for other in modules:
            if m < other and graph.chain_exists(m, other) and graph.chain_exists(other, m):
                pytest.fail(f"import cycle between {m} and {other}")
    for m in modules:
        if m not in ("pboc_sim.core", "pboc_sim.shell"):
            assert not graph.chain_exists(m, "pboc_sim.core"), f"{m} imports the core"


def test_a_restored_core_lists_its_quota_lines_in_the_order_they_came() -> None:
    core, ledger = make(CALENDAR, t(DAY, "08:00"))
    for bank in (BANK2, BANK):  # BANK2 first: not the order of the encoded (sorted) keys
        send(core, ledger, quota(DAY, "10.00", bank=bank), t(DAY, "09:00"))
    data = core.snapshot()
    after = PbocCore.restore(data, core.config, core.calendar, core.clock_config)
    assert list(after.quotas) == list(core.quotas) == [(ADM, BANK2, "11", "1", dt.date(2026, 3, 16)),
                                                      (ADM, BANK, "11", "1", dt.date(2026, 3, 16))]
    assert after.snapshot() == data and after.state == core.state
