"""Screening reads only the history a payment's verdict can depend on (`HistoryNeeds`): the same
verdicts, audit rows and holds as a monitor that reads the whole history for every payment."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import Journal
from gateway.monitoring.engine import HistoryNeeds, splitting_band
from gateway.monitoring.monitor import Held, Monitor, Screened
from gateway.monitoring.rules import default_catalogue
from gateway.monitoring.store import PAYMENT_UPSERT, PRIORS_PER_STATEMENT_MAX, MonitorStore
from gateway.pipeline import Admitted, Refused, body_digest, delivery_bytes
from messages.envelope import VoucherBody, VoucherKey
from messages.factory import payment_voucher
from messages.voucher import parse_voucher
from storage.db import open_database

CAT = default_catalogue()
AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
LOW, HIGH = splitting_band(CAT.rule("splitting").params)  # type: ignore[union-attr]
NEW_PAYEE = int(CAT.rule("new-payee-large-amount").params["threshold_fen"])  # type: ignore[union-attr]
# Amounts on and around every threshold the rules that look back use, and ordinary ones.
AMOUNTS = st.one_of(st.sampled_from([LOW - 1, LOW, LOW + 1, HIGH - 1, HIGH, NEW_PAYEE - 1, NEW_PAYEE, 12_345]),
                    st.integers(LOW - 10, HIGH + 10), st.integers(1, 3 * HIGH))
# Voucher numbers repeat now and then (a key screened before), payees and payers are few (windows fill).
PAYMENT = st.tuples(st.integers(0, 30), AMOUNTS, st.sampled_from(["999900000001", "999900000002"]),
                    st.sampled_from(["999000000000011", "999000000000011", "999000000000022"]), st.integers(0, 50))
CALLS = st.lists(st.lists(PAYMENT, min_size=1, max_size=3), min_size=1, max_size=8)


class ReadsEverything(Monitor):
    """The reference: every payment reads the payee's past and the pair's window (as before)."""

    def _history_needs(self) -> HistoryNeeds:
        return HistoryNeeds(super()._history_needs().window_hours, (0, 1 << 62), 0)


def _admitted(no: int, fen: int, payee: str, payer: str) -> Admitted:
    data = payment_voucher(voucher_no=f"R{no:05d}", vou_date=AT.date(), pay_bank_code="999100000001",
                           amount_fen=fen, adm_div_code="990100", pay_acct=payer, payee=(payee, "收款单位"))
    body = VoucherBody("990100", "2026", "5201", f"R{no:05d}", 0, data)
    return Admitted(body, "treasury-990100", "bank-a", body_digest(body), delivery_bytes(body), parse_voucher(data))


def _mask(value: Any) -> Any:
    return re.sub(r"\bh[0-9a-f]{8,}\b", "h…", value) if isinstance(value, str) else value


def _seen(screened: Screened) -> tuple[Any, ...]:
    """Verdicts and rows, without hold ids and wall-clock times (which differ by construction)."""
    verdicts = tuple((type(o).__name__, _mask(o.issue.message) if isinstance(o, Held) else
                      tuple(_mask(i.message) for i in o.issues) if isinstance(o, Refused) else o.key)
                     for o in screened.outcomes)
    skip = {"mon_payments": {10}, "mon_decisions": {5}, "mon_holds": {0}, "gw_trace": {8}}
    rows = tuple((sql.split()[2], tuple(tuple(_mask(v) for n, v in enumerate(r) if n not in skip[sql.split()[2]])
                                        for r in rows_)) for sql, rows_ in screened.extra)
    return verdicts, rows


async def _run(calls: list[list[tuple[int, int, str, str, int]]], tmp: Path) -> None:
    monitors = []
    for name, cls in (("narrow", Monitor), ("wide", ReadsEverything)):
        db = await open_database(f"sqlite:///{tmp / name}.db")
        await Journal(db).init_schema()
        monitor = cls(CAT, MonitorStore(db))
        await monitor.start()
        monitors.append((db, monitor))
    at = AT
    try:
        for call in calls:
            at += dt.timedelta(hours=call[0][4])
            outcomes: list[Admitted | Refused] = [_admitted(no, fen, payee, payer) for no, fen, payee, payer, _ in call]
            seen = []
            for db, monitor in monitors:
                screened = await monitor.screen(outcomes, at)
                seen.append(_seen(screened))
                async with db.transaction() as tx:
                    for sql, rows in screened.extra:
                        await tx.executemany(sql, rows)
            assert seen[0] == seen[1]
    finally:
        for db, _ in monitors:
            await db.close()


@settings(max_examples=50)
@given(CALLS)
def test_narrow_reads_give_the_verdicts_of_reading_everything(calls: list[list[tuple[int, int, str, str, int]]]) -> None:
    with tempfile.TemporaryDirectory(prefix="tgw-mon-reads-") as tmp:
        asyncio.run(_run(calls, Path(tmp)))


def test_history_is_wanted_only_where_a_rule_reads_it() -> None:
    needs = HistoryNeeds.of(CAT)
    assert needs.window_hours == 120 and needs.band == (LOW, HIGH) and needs.new_payee_fen == NEW_PAYEE
    assert not needs.recent(LOW - 1) and needs.recent(LOW) and needs.recent(HIGH - 1) and not needs.recent(HIGH)
    assert not needs.payee_seen(NEW_PAYEE - 1) and needs.payee_seen(NEW_PAYEE)
    off = HistoryNeeds.of(type(CAT)(CAT.version, tuple(r for r in CAT.rules if r.id not in
                                                        ("splitting", "new-payee-large-amount"))))
    assert (off.window_hours, off.band, off.new_payee_fen) == (0, None, None)
    assert not off.recent(LOW) and not off.payee_seen(10**12)


async def _priors_against_prior(stored: list[int], asked: list[int], tmp: Path) -> None:
    db = await open_database(f"sqlite:///{tmp / 'priors'}.db")
    try:
        await Journal(db).init_schema()
        store = MonitorStore(db)
        await store.init_schema()
        async with db.transaction() as tx:
            await tx.executemany(PAYMENT_UPSERT, [("990100", "2026", "5201", f"R{no:05d}", bytes([no % 256]), "p", "q",
                                                  no, 0, ("pass", "flag", "hold", "block")[no % 4], None,
                                                  f"s{no}", "r") for no in stored])
        keys = [VoucherKey("990100", "2026", "5201", f"R{no:05d}", 0) for no in asked]
        found = await store.priors(keys)
        expected = {}
        for k in keys:
            prior = await store.prior(k)
            if prior is not None:
                expected[(k.adm_div_code, k.st_year, k.vtcode, k.voucher_no)] = prior
        assert found == expected
    finally:
        await db.close()


@settings(max_examples=25)
@given(st.lists(st.integers(0, 400), unique=True, max_size=300), st.lists(st.integers(0, 400), max_size=300))
def test_priors_of_a_screening_read_at_once_equal_each_read_alone(stored: list[int], asked: list[int]) -> None:
    """`MonitorStore.priors` (one statement per PRIORS_PER_STATEMENT_MAX keys, padded) finds for
    each key what `prior` finds for it alone, keys repeated, missing, or more than one statement's."""
    assert PRIORS_PER_STATEMENT_MAX < 300
    with tempfile.TemporaryDirectory(prefix="tgw-mon-priors-") as tmp:
        asyncio.run(_priors_against_prior(stored, asked, Path(tmp)))
