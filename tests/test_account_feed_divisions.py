"""Each division's account feed (7602, 资金流水, 000 五(二)3) is its own: a bank serving several
divisions (AdmDivCode) sends each the feed of its own payments of the day (`bank_sim.account_feed`),
and each treasury matches it against its own payments to the feed accounts.

Before, the treasury's book (`treasury_sim.account_feed.FeedBook`, the treasury core's and the
scenario runner's `runner.account_feed.FeedTap`) kept payments and checked feeds by bank and day:
a division's feed was matched against every division's payments of that day (the other's missing,
its own unknown when numbers collide), and the second division's feed of a day overwrote the
first's outcome; the `account_feed` expectation could not name a division. Now they are kept by
bank, day and division, and the expectation takes `adm`. Treasury snapshot version 7; a version 6
snapshot's book loads as the configured division's (SQLite and PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_sim.account_feed import feed_voucher
from business_time.clock import at
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.account_feed import FeedTap
from sim.account_feed import FeedBreak, FeedLine
from sim.store import SimStore
from storage.db import Database
from tests.test_treasury_refund_cap import CALENDAR, CC, CONFIG, paid_core
from tests.two_divisions import BANK, HOME, OTHER, paid_receipt
from treasury_sim.core import TreasuryCore
from treasury_sim.state import SNAPSHOT_VERSION

DAY = dt.date(2026, 3, 10)
REAL, SPECIAL = "9999000000007001", "9999000000008001"  # a unit real-fund (3) and a fiscal special (4) account
TYPES = {REAL: "3", SPECIAL: "4"}


def _feed(adm: str, lines: list[FeedLine]) -> VoucherDoc:
    """The bank's feed (7602) of DAY to division `adm`, as the simulated bank builds it."""
    head, details = feed_voucher(f"LS0001{DAY:%Y%m%d}", DAY, adm, BANK, TYPES, lines)
    return parse_voucher(build_voucher("7602", head, list(details)))


def _tap(payments: list[tuple[str, str, str, int]], feeds: Mapping[str, list[FeedLine]]) -> FeedTap:
    tap = FeedTap(declared=(REAL, SPECIAL))
    for adm, no, payee, fen in payments:
        tap.on_voucher(paid_receipt(adm, no, fen, payee=payee), 1, ())
    for adm, lines in feeds.items():
        tap.on_voucher(_feed(adm, lines), 0, ())
    return tap


def test_two_divisions_feeds_of_one_bank_and_day_are_each_matched_against_their_own_payments() -> None:
    """Both divisions paid ZZ1 at the bank that day; each feed states its own. Before: one entry
    "<bank>/<day>", the second feed's; both checked against both payments (the other's missing)."""
    payments = [(HOME, "ZZ1", REAL, 100_00), (OTHER, "ZZ1", SPECIAL, 250_50)]
    feeds = {HOME: [FeedLine(REAL, "5201", "ZZ1", 100_00)], OTHER: [FeedLine(SPECIAL, "5201", "ZZ1", 250_50)]}
    seen = _tap(payments, feeds).seen()
    assert seen == {f"{BANK[0]}/20260310/{HOME}": ("LS000120260310", 1, ()),
                    f"{BANK[0]}/20260310/{OTHER}": ("LS000120260310", 1, ())}
    # a fen off in OTHER's feed is OTHER's break alone
    skewed = {**feeds, OTHER: [FeedLine(SPECIAL, "5201", "ZZ1", 250_51)]}
    seen = _tap(payments, skewed).seen()
    assert seen[f"{BANK[0]}/20260310/{HOME}"][2] == ()
    [brk] = seen[f"{BANK[0]}/20260310/{OTHER}"][2]
    assert (brk.code, brk.acct_no, brk.expected_fen, brk.stated_fen) == ("feed-amount-differs", SPECIAL, 250_50, 250_51)


def test_the_treasury_core_keeps_another_division_s_feed_beside_its_own() -> None:
    """The treasury core's book: its own division's (empty) feed matches and stays matched when the
    bank's feed to another division of the same day arrives (before: overwritten by its breaks)."""
    core, _, _ = paid_core()
    day = dt.date(2026, 3, 16)
    when = at(day, dt.time(17, 40))

    def feed(adm: str, lines: list[FeedLine]) -> VoucherDoc:
        head, details = feed_voucher(f"LS0001{day:%Y%m%d}", day, adm, BANK, TYPES, lines)
        return parse_voucher(build_voucher("7602", head, list(details)))

    core.on_voucher(feed(HOME, []), 0, when)
    core.on_voucher(feed(OTHER, [FeedLine(REAL, "5201", "QT1", 5_00)]), 0, when)
    assert core.state.feeds.outcome(BANK[0], "20260316", HOME) == []
    [brk] = core.state.feeds.outcome(BANK[0], "20260316", OTHER) or [None]
    assert brk is not None and brk.code == "feed-unknown-movement"


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["ZZ1", "ZZ2", "ZZ3"]),
                               st.sampled_from([REAL, SPECIAL]), st.integers(1, 10**8)),
                     max_size=6, unique_by=lambda p: p[:2])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments=_PAYMENTS, skew=st.sampled_from([None, HOME, OTHER]), order=st.permutations([HOME, OTHER]))
def test_each_division_s_feed_is_judged_as_that_division_alone(
        payments: list[tuple[str, str, str, int]], skew: str | None, order: list[str]) -> None:
    """Oracle (000 五(二)3: each treasury watches the accounts its own payments reach): two divisions
    pay at one bank on one day, numbers colliding across them; the bank sends each division a feed
    stating exactly that division's payments (one line 0.01 off in `skew`'s). A division's feed
    matches exactly when it is not skewed, and its outcome is what a book given that division's
    payments and feed alone makes, whichever division's feed came first."""
    feeds = {adm: [FeedLine(payee, "5201", no, fen + (1 if adm == skew and i == 0 else 0))
                   for i, (_, no, payee, fen) in enumerate(p for p in payments if p[0] == adm)] for adm in order}
    together = _tap(payments, feeds).seen()
    for adm in order:
        key = f"{BANK[0]}/20260310/{adm}"
        _, lines, breaks = together[key]
        assert lines == len(feeds[adm])
        skewed = adm == skew and bool(feeds[adm])
        assert [b.code for b in breaks] == (["feed-amount-differs"] if skewed else []), (adm, breaks)
        alone = _tap([p for p in payments if p[0] == adm], {adm: feeds[adm]}).seen()
        assert alone == {key: together[key]}


# --- the `account_feed` expectation: `adm` ---------------------------------------------------------

def _results(expect: str, feeds: Mapping[str, tuple[str, int, tuple[FeedBreak, ...]]]) -> list[tuple[bool, str]]:
    from runner.expectations import evaluate
    from runner.scenario_file import load_text
    from tests.scenario_fixtures import WORLD_AND_STEPS, observed

    s = load_text("scenario: feed-divisions\n" + WORLD_AND_STEPS + "expect:\n" + expect, "feed.yaml")
    o = dataclasses.replace(observed(), account_feeds=feeds)
    return [(x.ok, x.actual) for x in evaluate(s.expectations, o)]


# v3 of the fixture is 990100's ZZ003 at bank-b; 990200's feed states its own ZZ003, a fen off
_BRK = FeedBreak("feed-amount-differs", "LS000220260310", REAL, "5201", "ZZ003", 20_00, 20_01)
TWO = {f"bank-b/20260310/{HOME}": ("LS000220260310", 1, ()), f"bank-b/20260310/{OTHER}": ("LS000220260310", 1, (_BRK,))}


def _expect(**kw: str) -> str:
    return "  - account_feed: {bank: bank-b, day: 2026-03-10, " + ", ".join(f"{k}: {v}" for k, v in kw.items()) + "}\n"


@pytest.mark.parametrize(("expect", "ok"), [
    (_expect(adm='"990100"', matched="true"), True),
    (_expect(adm='"990100"', matched="false"), False),
    (_expect(adm='"990200"', matched="true"), False),
    (_expect(adm='"990200"', breaks="1", code="feed-amount-differs", off_by='"0.01"'), True),
    (_expect(adm='"990100"', code="feed-amount-differs"), False),
    (_expect(matched="true"), False),  # without adm: agreement must hold in every feed of the day
    (_expect(code="feed-amount-differs"), True),  # a break in one
    (_expect(voucher="v3"), False),  # v3 is 990100's: the break on 990200's ZZ003 is not its
    (_expect(adm='"990300"', matched="true"), False),
])
def test_the_account_feed_expectation_names_a_division(expect: str, ok: bool) -> None:
    [(got, actual)] = _results(expect, TWO)
    assert got is ok, actual


def test_a_division_without_a_feed_that_day_is_said_so_and_adm_is_validated() -> None:
    from runner.scenario_file import load_text
    from tests.scenario_fixtures import WORLD_AND_STEPS

    assert _results(_expect(adm='"990300"', matched="true"), TWO) == [
        (False, "no feed of that day to division 990300 was checked")]
    [(_, actual)] = _results(_expect(matched="true"), TWO)
    assert "of division 990100" in actual and "of division 990200" in actual
    with pytest.raises(Exception, match="adm"):
        load_text("scenario: feed-divisions\n" + WORLD_AND_STEPS + "expect:\n" + _expect(adm='"99"', matched="true"),
                  "feed.yaml")


# --- the snapshot: version 6's feeds are the configured division's ------------------------------------

def _version_6() -> tuple[TreasuryCore, bytes]:
    """A treasury whose feed book holds a payment and a checked feed, its snapshot as version 6 wrote it."""
    core, _, _ = paid_core()
    state = json.loads(core.snapshot())
    assert state["version"] == SNAPSHOT_VERSION >= 8
    old = f"{BANK[0]}/20260316"
    state["feeds"] = {"checked": {old: []}, "feeds": {old: "LS000120260316"}, "lines": {old: 1},
                      "paid": {old: {"ZZ9": [BANK[0], "20260316", "5201", "ZZ9", REAL, 100_00]}}, "paid_count": 1}
    state["version"] = 6
    return core, json.dumps(state).encode()


def _check_loaded(again: TreasuryCore) -> None:
    feeds, key = again.state.feeds, f"{BANK[0]}/20260316/{HOME}"
    assert (feeds.checked, feeds.feeds, feeds.lines) == ({key: []}, {key: "LS000120260316"}, {key: 1})
    assert [p.voucher_no for p in feeds.day_paid(BANK[0], "20260316", HOME)] == ["ZZ9"]
    assert list(feeds.day_paid(BANK[0], "20260316", OTHER)) == []
    assert json.loads(again.snapshot())["version"] == SNAPSHOT_VERSION


def test_a_version_6_snapshot_s_feeds_load_as_the_configured_division_s() -> None:
    _, old = _version_6()
    _check_loaded(TreasuryCore.restore(old, CONFIG, CALENDAR, CC))


async def test_a_version_6_snapshot_in_the_sim_database_loads_as_version_7(db: Database) -> None:
    """The same through the simulator's store, on both backends (SQLite and PostgreSQL)."""
    _, old = _version_6()
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(old)
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    _check_loaded(TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC))


# --- the `account_notice` expectation: a confirmation of the notice's own key ------------------------

def test_another_division_s_7601_receipt_of_the_number_does_not_confirm_the_notice() -> None:
    """`runner.account_steps.notice_outcome` took any 7601 receipt of the notice's VoucherNo; a
    receipt under another division (or year) is of another notice of that number."""
    from runner.account_steps import notice_outcome
    from runner.observed import ReceiptSeen, SentVoucher
    from tests.scenario_fixtures import observed

    sent_at = at(DAY, dt.time(9, 0))
    notice = SentVoucher("n", f"{HOME}/2026/7601/ZH202603100001/0", "7601", "ZH202603100001", 0, "treasury", "bank-a",
                         BANK[0], 0, sent_at)

    def receipt(adm: str, year: str) -> ReceiptSeen:
        return ReceiptSeen("ZH202603100001", "7601", "bank-a", sent_at, {"XConfirmDate": "20260311"}, adm=adm,
                           year=year)

    def outcome(*receipts: ReceiptSeen) -> bool:
        o = dataclasses.replace(observed(), sent=(notice,), receipts=receipts)
        return notice_outcome({"notice": "n"}, o)[0]

    assert outcome(receipt(HOME, "2026"))
    assert outcome(receipt("", ""))  # a receipt whose key is not known: by number, as before
    assert not outcome(receipt(OTHER, "2026"))
    assert not outcome(receipt(HOME, "2025"))
