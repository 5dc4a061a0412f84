"""A bank serving several divisions (`BankConfig.divisions`) owes each the same duties from the same
day: its nil daily reports (2206 of 0.00) and its empty account feeds (7602 of no line).

Before, the bank knew only its configured division (`adm_div_code`): it reported and fed that one
from its first day, and another division only from the day that division first paid through it
(`DutiesState.divisions`), so a division whose first payment came later missed the nil reports and
empty feeds of the days before. Now the config lists the divisions it serves; a division not listed
(paid for all the same) is still reported to from the day it was first paid for. The config's repr
(the snapshot fingerprint) shows `divisions` only when some are named: a one-division bank's saved
snapshots load as before (SQLite and PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.account_feed import feed
from bank_sim.core import BankConfig, BankCore
from bank_sim.duties import DutiesConfig
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from sim.store import SimStore
from storage.db import Database
from tests.test_account_feed import DAY as FEED_DAY
from tests.test_account_feed import bank_with_accounts
from tests.test_bank_duties import DAY, World, t
from tests.two_divisions import HOME, OTHER

THIRD = "990300"


def _nil_days(w: World) -> dict[str, list[str]]:
    """The ReportDates of the nil 2206s the bank sent, by division."""
    out: dict[str, list[str]] = {}
    for s in w.to_treasury:
        if s.vtcode == "2206" and s.head["PayAmt"] == "0.00":
            out.setdefault(s.head["AdmDivCode"], []).append(s.head["ReportDate"])
    return {adm: sorted(days) for adm, days in out.items()}


WEEK = [f"{DAY + dt.timedelta(days=i):%Y%m%d}" for i in range(5)]  # Mon-Fri


def test_a_bank_serving_two_divisions_sends_each_its_nil_reports_from_its_first_day() -> None:
    """Nothing paid all week: before, 990200 got no report at all (only 990100, the configured one)."""
    w = World(DutiesConfig(), divisions=(OTHER,))
    w.tick(t(DAY + dt.timedelta(days=7), "10:00"))
    assert _nil_days(w) == {HOME: WEEK, OTHER: WEEK}


def test_a_bank_serving_one_division_sends_no_other_its_nil_reports() -> None:
    """The other way: a bank configured for 990100 alone reports to 990100 alone (as before)."""
    w = World(DutiesConfig())
    w.tick(t(DAY + dt.timedelta(days=7), "10:00"))
    assert _nil_days(w) == {HOME: WEEK}


def test_a_division_served_and_never_paid_for_gets_its_nil_report_every_day() -> None:
    """A division served gets its reports whether or not it ever pays (a division the config does
    not name is reported to from the day it was first paid for, as before)."""
    w = World(DutiesConfig(), divisions=(THIRD,))
    w.tick(t(DAY + dt.timedelta(days=7), "10:00"))
    assert _nil_days(w) == {HOME: WEEK, THIRD: WEEK}


def test_each_division_served_gets_an_empty_feed_every_business_day() -> None:
    """Before: a quiet day's feed went to the configured division only."""
    bank = bank_with_accounts()
    served = dataclasses.replace(bank._ctx, config=dataclasses.replace(bank._ctx.config, divisions=(OTHER,)))
    sent = feed(served, bank.state, FEED_DAY + dt.timedelta(days=1))
    assert [(e.head["AdmDivCode"], e.details) for e in sent] == [(HOME, ()), (OTHER, ())]
    assert [e.head["AdmDivCode"] for e in feed(bank._ctx, bank.state, FEED_DAY + dt.timedelta(days=1))] == [HOME]


@settings(max_examples=40, deadline=None)
@given(divisions=st.lists(st.sampled_from([OTHER, THIRD, "99040001"]), unique=True, max_size=3))
def test_every_division_served_gets_the_same_nil_reports_as_the_configured_one(divisions: list[str]) -> None:
    """Oracle: the configured division's reports (a bank of that division alone): each division served
    gets a nil report on exactly the days the configured one does."""
    alone = World(DutiesConfig())
    alone.tick(t(DAY + dt.timedelta(days=4), "10:00"))
    w = World(DutiesConfig(), divisions=tuple(divisions))
    w.tick(t(DAY + dt.timedelta(days=4), "10:00"))
    days = _nil_days(alone)[HOME]
    assert _nil_days(w) == {adm: days for adm in (HOME, *divisions)}


@pytest.mark.parametrize("divisions", [("99020",), ("990200", "990200"), ("9902000001",), ("99020x",)])
def test_divisions_must_be_distinct_adm_div_codes(divisions: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="divisions"):
        BankConfig(divisions=divisions)


def test_the_fingerprint_names_divisions_only_when_some_are_served() -> None:
    assert "divisions" not in repr(BankConfig())
    assert repr(BankConfig(divisions=(OTHER,))) == repr(BankConfig())[:-1] + f", divisions=('{OTHER}',))"
    assert BankConfig(divisions=(OTHER,)).served == (HOME, OTHER)
    assert BankConfig(divisions=(HOME, OTHER)).served == (HOME, OTHER)  # the configured one named again


# What the repr of a default config was before `divisions` (the snapshot fingerprint of every
# one-division bank saved before): it must not change, or those snapshots no longer load.
_BEFORE = ("BankConfig(bank_name='示例银行', adm_div_code='990100', clear_bank_code=", "account_open_days=0)")


async def test_a_one_division_bank_s_snapshot_loads_and_another_config_s_is_refused(db: Database) -> None:
    """On both backends (SQLite and PostgreSQL): a snapshot of a bank configured without divisions
    (the fingerprint as before) loads into it; a bank serving another division refuses it."""
    from messages.errors import StateError

    cal, cc = BusinessCalendar.default(), ClockConfig()
    w = World(DutiesConfig())
    w.pay("ZZDV0001", 100_00, t(DAY, "10:00"))
    data = w.bank.snapshot()
    head = repr(BankConfig())
    assert head.startswith(_BEFORE[0]) and head.endswith(_BEFORE[1])
    store = SimStore(db, "bank-a")
    await store.open()
    await store.create(data)
    loaded = await SimStore(db, "bank-a").load()
    assert loaded is not None
    again = BankCore.restore(loaded.snapshot, w.bank.bank_code, BankConfig(reserve_fen=10**10), cal, cc)
    assert again.snapshot() == data
    with pytest.raises(StateError, match="another config"):
        BankCore.restore(loaded.snapshot, w.bank.bank_code, BankConfig(reserve_fen=10**10, divisions=(OTHER,)), cal, cc)
