"""The bank's daily walks pick what they did, from their indexes: the close's cover (`close._cover`),
its reserve list (`close.reserve_list`), the morning's replenishment (`filings.file_replenishments`)
and an urgent payment's companions (`payments._urgent_companions`), against their old definitions,
kept here verbatim as the oracles (each walked every payment kept). A run of the changes the bank
makes to its payments (a payment comes, a deferred one is paid, one is returned, requests are
filed and refused, a cover is refused by the ledger, a snapshot is loaded) is applied to two states
alike; at each walk the new one on the one gives the old one's effects on the other."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bank_sim import account_feed, close, filings, official_cards, payments
from bank_sim.accounts import open_account, transfer
from bank_sim.advances import RESERVE_LIST_VTCODE, Advanced, reserve_detail_list
from bank_sim.config import BankConfig
from bank_sim.pay_acct import pay_acct_text
from bank_sim.state import BankState, Ctx, Payment
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, replenishment_day
from messages.envelope import VoucherKey
from messages.money import fen_to_str
from sim import codec
from sim.effects import Alarm, Effect, SendVoucher

BANK = "999100000001"
CTX = Ctx.of(BANK, BankConfig(), BusinessCalendar.default(), ClockConfig())
DAYS = [dt.date(2026, 3, 13), dt.date(2026, 3, 16), dt.date(2026, 3, 17)]  # Friday, Monday, Tuesday
FUNDS = [("1", "一般公共预算资金"), ("2", "政府性基金")]


# --- the old walks, verbatim ----------------------------------------------------------------


def old_file_replenishments(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    due = [p for p in st.payments.values() if (p.mode == "advance" or p.covered) and p.filing is None
           and p.day is not None and replenishment_day(p.day, ctx.calendar) == when.date()]
    effects: list[Effect] = []
    for advance_day in sorted({p.day for p in due if p.day is not None}):
        effects += filings.file(ctx, st, [p for p in due if p.day == advance_day], 1, advance_day, when)
    # then, apart, those the bank's own funds made whole at an earlier close (`filings.file_fronted`)
    fronted = [p for p in st.payments.values() if p.mode == "clearing" and p.filing is None and p.held is None
               and not p.covered and p.refused is None and p.day is not None and p.day < when.date()
               and replenishment_day(p.day, ctx.calendar) <= when.date()]
    for day in sorted({p.day for p in fronted if p.day is not None}):
        effects += filings.file(ctx, st, [p for p in fronted if p.day == day], 1, day, when)
    return effects


def old_cover(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    unfiled = [p for p in st.payments.values() if p.mode == "clearing" and p.filing is None
               and p.day is not None and p.day <= day and not p.covered and p.refused is None]
    left = [p for p in unfiled if p.held is None and p.day == day]
    effects: list[Effect] = [
        Alarm("clearing-held", f"payment {p.key} ({fen_to_str(p.amount_fen)}, paid {p.day}) is not cleared: "
              f"refused {p.held}, it waits for the treasury's quota and is filed again at the next clearing "
              "round; the clearing reserve is not used", str(p.key))
        for p in sorted(unfiled, key=lambda p: str(p.key)) if p.held is not None]
    for p in sorted(left, key=lambda p: str(p.key)):
        if p.amount_fen > st.reserve_balance_fen:  # the bank's own funds make it whole (docs/rules.md)
            own = ctx.accounts["bank-own"]
            if own not in st.opened:
                effects.append(open_account(st, ctx, own, "the bank's own funds (fronted payments)", "bank-own"))
            effects.append(transfer(st, f"bank:{ctx.bank_code}:front:{p.key}", own, p.account, p.amount_fen,
                                    "bank-front", str(p.key), day))
            effects.append(Alarm("clearing-escalated", f"payment {p.key} ({fen_to_str(p.amount_fen)}) missed the "
                                 f"clearing time today and the clearing reserve ({fen_to_str(st.reserve_balance_fen)}) "
                                 "cannot cover it: made whole from the bank's own funds, cleared the next business "
                                 "morning", str(p.key)))
            continue
        p.covered = True
        st.reserve_balance_fen -= p.amount_fen
        effects.append(transfer(st, f"bank:{ctx.bank_code}:cover:{p.key}", ctx.accounts["reserve"], p.account,
                                p.amount_fen, "reserve-cover", str(p.key), day))
        effects.append(Alarm("clearing-escalated", f"payment {p.key} ({fen_to_str(p.amount_fen)}) missed the "
                             "clearing time today: made whole from the clearing reserve", str(p.key)))
    return effects


def old_close(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    st.closes.append(day)
    effects: list[Effect] = (old_cover(ctx, st, day) + old_reserve_list(ctx, st, day)
                             + account_feed.feed(ctx, st, day) + official_cards.details_due(ctx, st, day))
    for account in sorted(st.zero_at_close):
        balance = st.balances.get(account, 0)
        if balance != 0:
            st.unbalanced_closes.append((day, account, balance))
            effects.append(Alarm("zero-balance-not-zero", f"zero-balance account {account} stands at "
                                 f"{fen_to_str(balance)} at the close of {day}"))
    return effects


def old_reserve_list(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    reserve = ctx.accounts["reserve"]
    listed: list[Payment] = []
    for p in st.payments.values():
        if p.day != day or not p.pay_acct:
            continue
        if (p.mode == "advance" or p.covered) and p.account != reserve and p.agency[0]:
            listed.append(p)
        else:
            p.pay_acct = ""
    listed.sort(key=lambda p: str(p.key))
    page = listed[:close.RESERVE_LIST_LINES_MAX]
    st.reserve_more = day if len(listed) > len(page) else None
    c = ctx.config
    # the walk is the old one; what a page sends follows today's rule: a list per division of the
    # page, the configured division first (each treasury keeps its own advances on record)
    by_division: dict[str, list[Advanced]] = {}
    for p in sorted(page, key=lambda p: p.key.adm_div_code != c.adm_div_code):
        by_division.setdefault(p.key.adm_div_code, []).append(
            Advanced(p.vtcode, p.key.voucher_no, p.agency[0], p.agency[1] or p.agency[0], pay_acct_text(p),
                     p.amount_fen, p.covered))
        p.pay_acct = ""
    sent: list[Effect] = []
    for adm, items in by_division.items():
        head, details = reserve_detail_list(day, len(st.reserve_lists) + 1, adm, ctx.bank_code, c.bank_name, items)
        st.reserve_lists.append(head["VoucherNo"])
        sent.append(SendVoucher(RESERVE_LIST_VTCODE, 0, head, details, "treasury"))
    return sent


def old_urgent_companions(st: BankState, urgent: Payment) -> list[Payment]:
    return [p for p in st.payments.values() if p is not urgent and p.mode == "clearing" and p.day == urgent.day
            and p.filing is None and p.pay_type == urgent.pay_type and p.fund_type == urgent.fund_type]


# --- a run of the bank's changes, on two states alike ---------------------------------------------

day_of = st.one_of(st.none(), st.sampled_from(DAYS))
ops = st.lists(st.one_of(
    # mode, day, 5201 or 8202, fund, a VoucherNo another payment has, an agency, paid from the reserve
    st.tuples(st.just("add"), st.sampled_from(["clearing", "advance", "defer", "refuse"]), day_of, st.booleans(),
              st.sampled_from(FUNDS), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 9)),
    st.tuples(st.just("file"), st.sampled_from(DAYS), st.integers(0, 40), st.integers(1, 4)),
    st.tuples(st.just("close"), st.sampled_from(DAYS)),
    st.tuples(st.just("page"),),
    st.tuples(st.just("replenish"), st.sampled_from(DAYS)),
    st.tuples(st.just("urgent"), st.integers(0, 40)),
    st.tuples(st.just("undefer"), st.sampled_from(DAYS), st.integers(0, 40)),
    st.tuples(st.just("return"), st.integers(0, 40)),
    st.tuples(st.just("refile"), st.integers(0, 40), st.sampled_from(["missed-cutoff", "quota-short"])),
    st.tuples(st.just("uncover"), st.integers(0, 40)),
    st.tuples(st.just("load"),)), max_size=50)


def _payment(i: int, mode: Any, day: dt.date | None, direct: bool, fund: tuple[str, str], same_no: bool,
             agency: bool, reserve: bool, n: int) -> Payment:
    no = "ZZ00000" if same_no else f"ZZ{i:05d}"
    day = None if mode in ("defer", "refuse") else day  # not paid (yet)
    # (only an advance is ever paid from the reserve: a snapshot of the days before 7202)
    # a number used again is another division's (the key tells them apart); the rest are the bank's own
    adm = f"99{i:04d}" if same_no else CTX.config.adm_div_code
    return Payment(VoucherKey(adm, "2026", "5201" if direct else "8202", no, 0), fund, ("001", "部门"),
                   CTX.accounts["reserve"] if reserve and mode == "advance" else f"zba-{n % 3}", 100 + 7 * n,
                   dt.datetime(2026, 3, 16, 10, tzinfo=TZ), mode, day=day, seq=i + 1,
                   agency=("00" + str(n % 2), "单位") if agency else ("", ""), pay_acct=1000 + n if n else "62-0")


def _nth(s: BankState, n: int) -> Payment | None:
    every = list(s.payments.values())
    return every[n % len(every)] if every else None


def _plain(s: BankState) -> Any:
    """The state as its snapshot has it, but a returned payment's PayAcctNo (let go when it is
    returned: no reserve list reads it; the old walks kept it)."""
    data = msgspec.json.decode(codec.encode(s))
    for p in data["payments"].values():
        if p["mode"] == "refuse":
            p.pop("pay_acct", None)
    return data


def _fresh() -> BankState:
    s = BankState(bank_code=BANK)
    s.reserve_balance_fen = 250
    return s


def _feasible(op: tuple[Any, ...], clock: dict[str, dt.date]) -> bool:
    """Whether the bank could do `op` now (`clock`: today and the last day closed; `_apply` takes a
    close as done): its days go forward; a payment is given a day, filed or replenished before its
    day's close; a morning's replenishment is of the day before's advances, after that day's close."""
    if op[0] in ("undefer", "file", "close", "replenish"):
        day = op[1]
    elif op[0] == "add" and op[2] is not None:
        day = op[2]
    else:
        return True
    if day < clock["today"] or day <= clock["closed"]:
        return False
    if op[0] == "replenish" and day != DAYS[0] and DAYS[DAYS.index(day) - 1] != clock["closed"]:
        return False
    clock["today"] = day
    if op[0] == "close":
        clock["closed"] = day
    return True


def _apply(op: tuple[Any, ...], new: BankState, old: BankState) -> tuple[BankState, BankState]:
    kind = op[0]
    if kind == "close":  # the cover, then the first page of the reserve list, ...
        assert close.close(CTX, new, op[1]) == old_close(CTX, old, op[1])
        assert new.reserve_more == old.reserve_more
    if kind == "page":  # the next page of a reserve list (`close.next_reserve_page`)
        return _apply(("reserve", new.reserve_more), new, old) if new.reserve_more is not None else (new, old)
    if kind == "add":
        for s in (new, old):
            s.payment_seq += 1
            s.add_payment(_payment(s.payment_seq, *op[1:]))
    elif kind == "file":  # a page filed, as `filings.file` does (same numbers in both: same filing_seq); not
        # a covered payment (the close covers it after the day's last round; `due_page` never picks it later)
        _, day, first, count = op
        when = dt.datetime.combine(day, dt.time(15, 30), tzinfo=TZ)
        every = list(new.payments.values())
        first = first % len(every) if every else 0
        picked = [p.seq for p in every[first:first + count]
                  if p.filing is None and p.mode == "clearing" and not p.covered and p.day is not None
                  and (p.day == day or (p.held is not None and p.day < day))]
        effects = [filings.file(CTX, s, [p for p in s.payments.values() if p.seq in picked], 0, day, when)
                   for s in (new, old)]
        assert effects[0] == effects[1]
    elif kind == "cover":
        assert close._cover(CTX, new, op[1]) == old_cover(CTX, old, op[1])
    elif kind == "replenish":
        when = dt.datetime.combine(op[1], dt.time(8, 45), tzinfo=TZ)
        assert filings.file_replenishments(CTX, new, when) == old_file_replenishments(CTX, old, when)
    elif kind == "reserve":
        assert close.reserve_list(CTX, new, op[1]) == old_reserve_list(CTX, old, op[1])
        assert new.reserve_more == old.reserve_more
    elif kind == "urgent":
        a, b = _nth(new, op[1]), _nth(old, op[1])
        if a is not None and b is not None:
            assert ([p.seq for p in payments._urgent_companions(new, a)]
                    == [p.seq for p in old_urgent_companions(old, b)])
    elif kind == "undefer":  # paid at the opening: joins the clearing
        for s in (new, old):
            p = _nth(s, op[2])
            if p is not None and p.mode == "defer":
                p.mode, p.day = "clearing", op[1]
    elif kind == "return":
        for s in (new, old):
            p = _nth(s, op[1])
            if p is not None and p.filing is None and p.day is None:
                p.mode, p.returned = "refuse", "returned"
    elif kind == "refile":  # a refused clearing request (`filings._refile`)
        numbers = list(new.filings)
        if numbers:
            no = numbers[op[1] % len(numbers)]
            for s in (new, old):
                filings._refile(s, s.filings[no], op[2])
    elif kind == "uncover":  # the ledger refused a cover (`bank_sim.refusals`)
        for s in (new, old):
            p = _nth(s, op[1])
            if p is not None:
                p.covered = False
    elif kind == "load":
        new, old = (codec.decode(codec.encode(s), BankState) for s in (new, old))
    return new, old


@settings(max_examples=500, deadline=None)
@given(ops)
# a request filed and not answered by its day's close: its payments' PayAcctNo goes at the close
@example([("add", "clearing", DAYS[1], False, FUNDS[0], False, True, False, 0), ("file", DAYS[1], 0, 2),
          ("close", DAYS[1])])
# a request refused, its payment held for the treasury: its PayAcctNo goes at the close
@example([("add", "clearing", DAYS[1], False, FUNDS[0], False, True, False, 0), ("file", DAYS[1], 0, 2),
          ("refile", 0, "quota-short"), ("close", DAYS[1])])
# payments never filed, more than the reserve covers: the PayAcctNo of those it cannot cover goes at the close
@example([("add", "clearing", DAYS[1], False, FUNDS[0], False, True, False, 9)] * 3 + [("close", DAYS[1])])
def test_the_daily_walks_are_the_old_ones_as_the_days_go(run: list[tuple[Any, ...]]) -> None:
    new, old = _fresh(), _fresh()
    clock = {"today": dt.date.min, "closed": dt.date.min}
    with mock.patch.object(close, "RESERVE_LIST_LINES_MAX", 2):  # pages of two: `reserve_more`
        for op in run:
            if _feasible(op, clock):
                new, old = _apply(op, new, old)
                assert _plain(new) == _plain(old)
        for day in DAYS:  # the days not closed yet, each walk in its order
            for op in (("urgent", 0), ("close", day), ("page",), ("page",), ("replenish", day)):
                if _feasible(op, clock):
                    new, old = _apply(op, new, old)
        assert _plain(new) == _plain(old)


def test_a_covered_payment_is_replenished_in_payment_order() -> None:
    """A clearing payment covered at the close goes into the index after the day's later advances:
    the replenishment files them in payment order all the same (one request, its Details by seq)."""
    new, old = _fresh(), _fresh()
    monday, tuesday = DAYS[1], DAYS[2]
    for op in [("add", "clearing", monday, True, FUNDS[0], False, True, False, 1),
               ("replenish", monday),  # the index is made (before the advance comes)
               ("add", "advance", monday, True, FUNDS[0], False, True, False, 2),
               ("close", monday), ("replenish", tuesday)]:
        new, old = _apply(op, new, old)
    filing = next(iter(new.filings.values()))
    assert filing.clear_type == 1 and [new.payment(k).seq for k in filing.payments] == [2, 3]  # type: ignore[union-attr]


class NoWalk(dict[str, Any]):
    def __iter__(self) -> Any:
        raise AssertionError("walked every payment kept")

    values = items = keys = __iter__


@pytest.mark.parametrize("walk", ["cover", "reserve", "replenish", "urgent"])
def test_the_walks_read_their_index_not_every_payment(walk: str) -> None:
    new, old = _fresh(), _fresh()
    monday = DAYS[1]
    for mode in ("clearing", "advance", "clearing"):
        new, old = _apply(("add", mode, monday, True, FUNDS[0], False, True, False, 1), new, old)
    for op in (("replenish", monday), ("urgent", 0)):  # the indexes made
        new, old = _apply(op, new, old)
    urgent = list(new.payments.values())[2]
    new.payments = NoWalk(new.payments)
    if walk == "urgent":
        assert [p.seq for p in payments._urgent_companions(new, urgent)] == [2]
    else:
        _apply((walk, monday), new, old)


def test_the_indexes_let_go_of_what_is_filed() -> None:
    """The reserve's payments replenished, and the clearing ones filed, leave the indexes at the next walk."""
    new, old = _fresh(), _fresh()
    monday, tuesday = DAYS[1], DAYS[2]
    for op in [("replenish", monday), ("urgent", 0),  # the indexes made
               ("add", "advance", monday, True, FUNDS[0], False, True, False, 1),
               ("add", "clearing", monday, True, FUNDS[0], False, True, False, 2),
               ("file", monday, 0, 2), ("close", monday), ("replenish", tuesday), ("replenish", tuesday),
               ("urgent", 0)]:
        new, old = _apply(op, new, old)
    assert len(new.payments) == 2 and not filings.reserve_paid(new) and not filings.unfiled(new)
