"""Lookups that walked every payment kept now read an index: the payee-refund path finds a payment
by its VoucherNo (`payee_refunds.numbered`) and the account feed the payments of its day
(`account_feed.paid_on`), against the old lookups, kept here verbatim as the oracles (each walked
`st.payments`). Payments of a few VoucherNos under several keys, or paid on either day (deferred ones
at the next opening, after later ones), come in any order and snapshots are loaded between them."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bank_sim import account_feed, payee_refunds
from bank_sim.core import BankConfig, BankCore
from bank_sim.payee_records import payee_of
from bank_sim.state import OTHERS, BankState, Payment
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.envelope import VoucherKey
from sim import codec
from sim.account_feed import FeedLine
from sim.archive import Archive
from tests import test_account_feed as feed

DAY = dt.date(2026, 3, 16)
NOS = ["ZZ00001", "ZZ00002", "ZZ00003"]


# --- the old lookups, verbatim (`payee_bank_notice`, `due_returns`, `refund_receipt`) ------------


def old_paid(st: BankState, ori: str, vtcode: str) -> Payment | None:
    return next((p for p in st.payments.values() if p.key.voucher_no == ori
                 and p.vtcode == vtcode and p.day is not None), None)


def old_by_no(st: BankState, wanted: set[str]) -> dict[str, Payment]:
    return {p.key.voucher_no: p for p in st.payments.values() if p.key.voucher_no in wanted}


def old_refunded(st: BankState, voucher: str) -> Payment | None:
    return next((p for p in st.payments.values() if p.key.voucher_no == voucher), None)


# --- a run ------------------------------------------------------------------------------------

# ("add", VoucherNo index, AdmDivCode index, 5201?, paid?) or ("load",)
_OPS = st.lists(st.one_of(st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, 3), st.booleans(), st.booleans()),
                          st.tuples(st.just("load"))), max_size=30)


def _apply(ops: list[tuple[object, ...]]) -> BankState:
    s = BankState()
    seq = 0
    asked = False
    for op in ops:
        if op[0] == "load":
            s = codec.decode(codec.encode(s), BankState)
            continue
        _, no, adm, direct, paid = op
        assert isinstance(no, int) and isinstance(adm, int)
        key = VoucherKey(f"99{adm:04d}", "2026", "5201" if direct else "8202", NOS[no], 0)
        if s.payment(key) is not None:
            continue  # a key is paid once (its redelivery is a replay)
        seq += 1
        s.add_payment(Payment(key, ("1", "一般"), ("001", "部门"), "zba", 100 + seq,
                              dt.datetime(2026, 3, 16, 10, tzinfo=TZ), "clearing",
                              day=DAY if paid else None, seq=seq))
        if not asked and seq == 2:  # the index derived mid-run, then kept by `add_payment`
            payee_refunds.numbered(s, NOS[0])
            asked = True
    return s


@settings(max_examples=400, deadline=None)
@given(_OPS)
@example([("add", 0, 0, True, False), ("add", 0, 1, True, True), ("add", 0, 2, False, True),
          ("load",), ("add", 0, 3, True, True)])
@example([("add", 1, 0, True, True), ("add", 1, 1, True, True), ("add", 1, 2, True, True)])
def test_the_lookups_by_voucher_no_find_what_the_walks_found(ops: list[tuple[object, ...]]) -> None:
    s = _apply(ops)
    for no in [*NOS, "ZZ99999"]:
        for vtcode in ("5201", "8202"):
            assert _same(next((p for p in payee_refunds.numbered(s, no) if p.vtcode == vtcode
                               and p.day is not None), None), old_paid(s, no, vtcode))
        assert _same(next(iter(payee_refunds.numbered(s, no)), None), old_refunded(s, no))
    wanted = set(NOS[:2])
    new = {no: kept[-1] for no in wanted if (kept := payee_refunds.numbered(s, no))}
    old = old_by_no(s, wanted)
    assert new.keys() == old.keys() and all(new[k] is old[k] for k in old)


class Unwalkable(dict[str, Payment]):
    """A payments map whose walk fails the test (a lookup by key still works)."""

    def items(self):  # type: ignore[no-untyped-def]
        raise AssertionError("walked")

    def values(self):  # type: ignore[no-untyped-def]
        raise AssertionError("walked")

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("walked")


def _same(a: Payment | None, b: Payment | None) -> bool:
    return a is b


def test_numbered_does_not_walk_the_payments_once_its_index_is_made() -> None:
    s = _apply([("add", 0, i, True, True) for i in range(4)])
    payee_refunds.numbered(s, NOS[0])  # the index made

    s.payments = Unwalkable(s.payments)
    assert [p.key.adm_div_code for p in payee_refunds.numbered(s, NOS[0])] == ["990000", "990001", "990002", "990003"]
    assert OTHERS not in codec.encode(s).decode()  # not in the snapshot


# --- the account feed's day (`account_feed.day_lines`): the old walk, verbatim -----------------


def old_day_lines(st: BankState, day: dt.date, archive: Archive | None = None) -> list[FeedLine]:
    accounts = account_feed.feed_accounts(st)
    if not accounts:
        return []
    lines: list[FeedLine] = []
    for p in st.payments.values():
        if p.day != day or p.refused is not None or p.returned is not None:
            continue
        payee = (payee_of(st.duties, p.key.voucher_no, archive) or {}).get("PayeeAcctNo", "")
        if payee in accounts:
            lines.append(FeedLine(payee, p.vtcode, p.key.voucher_no, p.amount_fen))
    return lines


FEED_DAYS = [dt.date(2026, 3, 10), dt.date(2026, 3, 11)]  # a Tuesday, a Wednesday
FEED_PAYEES = [feed.REAL, feed.SPECIAL, feed.OTHER]
# ("pay", day, hh:mm, payee, fen): a direct payment (one after the bank's hours is deferred: paid
# at the next opening, after payments that came later); ("lines", day): the feed asked (its index
# made then, kept by the payments after); ("load",): the core restored from its snapshot
_FEED_OPS = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.sampled_from([0, 1]), st.sampled_from(["09:00", "11:00", "16:00", "17:30", "20:00"]),
              st.sampled_from(FEED_PAYEES), st.integers(1, 10_000)),
    st.tuples(st.just("lines"), st.sampled_from([0, 1])), st.tuples(st.just("load"))), max_size=14)


@settings(max_examples=60, deadline=None)
@given(_FEED_OPS)
@example([("pay", 0, "20:00", feed.REAL, 5), ("lines", 0), ("pay", 1, "09:00", feed.SPECIAL, 7),
          ("pay", 1, "11:00", feed.REAL, 9)])
@example([("pay", 0, "20:00", feed.REAL, 5), ("load",), ("pay", 1, "09:00", feed.REAL, 7), ("lines", 1)])
def test_the_feed_states_the_payments_the_walk_stated(ops: list[tuple[object, ...]]) -> None:
    bank = feed.bank_with_accounts()
    when = dt.datetime.combine(FEED_DAYS[0], dt.time(8, 30), tzinfo=TZ)
    for op in ops:
        if op[0] == "load":
            bank = BankCore.restore(bank.snapshot(), feed.BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
            continue
        day = FEED_DAYS[int(str(op[1]))]
        if op[0] == "lines":
            assert account_feed.day_lines(bank.state, day) == old_day_lines(bank.state, day)
            continue
        at = dt.datetime.combine(day, dt.time.fromisoformat(str(op[2])), tzinfo=TZ)
        if at < when:
            continue  # time goes forward
        when = at
        bank.on_voucher(feed.direct(str(op[3]), int(str(op[4]))), 0, at)
    bank.on_time(dt.datetime.combine(FEED_DAYS[1] + dt.timedelta(days=1), dt.time(9), tzinfo=TZ))  # the last deferred paid
    for day in (*FEED_DAYS, FEED_DAYS[1] + dt.timedelta(days=1)):
        assert account_feed.day_lines(bank.state, day) == old_day_lines(bank.state, day)


def test_the_feed_reads_its_index_not_every_payment() -> None:
    bank = feed.bank_with_accounts()
    for n in range(3):
        bank.on_voucher(feed.direct(feed.REAL, 100 + n), 0, dt.datetime.combine(FEED_DAYS[0], dt.time(10, n), tzinfo=TZ))
    account_feed.paid_on(bank.state, FEED_DAYS[0])  # the index made
    bank.on_voucher(feed.direct(feed.SPECIAL, 7), 0, dt.datetime.combine(FEED_DAYS[0], dt.time(11), tzinfo=TZ))
    expected = old_day_lines(bank.state, FEED_DAYS[0])
    assert len(expected) == 4
    bank.state.payments = Unwalkable(bank.state.payments)
    assert account_feed.day_lines(bank.state, FEED_DAYS[0]) == expected
