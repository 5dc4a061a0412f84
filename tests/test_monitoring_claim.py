"""A lone payment screened without reading its key, its window row the commit's claim
(`Monitor.screen(claim=True)`, `Gateway._submit`'s retry on ClaimLost): the same verdicts and the
same rows (window state, holds, the audit, the trace, the journal) as screening that reads the key
first (the oracle: `claim=False`, as every screening was before)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import ClaimLost, Journal
from gateway.monitoring.engine import splitting_band
from gateway.monitoring.monitor import Held, Monitor
from gateway.monitoring.rules import Catalogue, default_catalogue
from gateway.monitoring.store import PAYMENT_UPSERT, MonitorStore
from gateway.pipeline import Admitted, Refused, body_digest, delivery_bytes
from messages.envelope import VoucherBody
from messages.factory import payment_voucher
from messages.voucher import parse_voucher
from storage.db import open_database

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
_DEFAULT = default_catalogue()
# Every outcome reachable: a large payment blocks (not held, as by default), a watch-listed payee is held.
CAT = Catalogue(_DEFAULT.version, tuple(dataclasses.replace(r, grade="block") if r.id == "large-single-payment"
                                        else r for r in _DEFAULT.rules))
LOW, HIGH = splitting_band(CAT.rule("splitting").params)  # type: ignore[union-attr]
NEW_PAYEE = int(CAT.rule("new-payee-large-amount").params["threshold_fen"])  # type: ignore[union-attr]
WATCHED = "999977770001"
AMOUNTS = st.one_of(st.sampled_from([LOW - 1, LOW, HIGH - 1, HIGH, NEW_PAYEE - 1, NEW_PAYEE, 12_345, 12_346]),
                    st.integers(LOW - 10, HIGH + 10), st.integers(1, 3 * HIGH))
# (voucher no: few, so keys repeat; amount; payee; payer; sender; hours later)
PAYMENT = st.tuples(st.integers(0, 12), AMOUNTS, st.sampled_from(["999900000001", "999900000002", WATCHED]),
                    st.sampled_from(["999000000000011", "999000000000022"]),
                    st.sampled_from(["treasury-990100", "treasury-990100", "treasury-other"]), st.integers(0, 30))


def _admitted(no: int, fen: int, payee: str, payer: str, sender: str) -> Admitted:
    data = payment_voucher(voucher_no=f"R{no:05d}", vou_date=AT.date(), pay_bank_code="999100000001",
                           amount_fen=fen, adm_div_code="990100", pay_acct=payer, payee=(payee, "收款单位"))
    body = VoucherBody("990100", "2026", "5201", f"R{no:05d}", 0, data)
    return Admitted(body, sender, "bank-a", body_digest(body), delivery_bytes(body), parse_voucher(data))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\bh[0-9a-f]{8,}\b", "h…", re.sub(r"\b[0-9a-f]{20,}\b", "id…", value))
    return value


async def _submit(monitor: Monitor, journal: Journal, o: Admitted, at: dt.datetime, *, claims: bool) -> tuple[Any, ...]:
    """What `Gateway._submit` does around the monitor and the journal, for one payment."""
    for claim in ((True, False) if claims else (False,)):
        screened = await monitor.screen([o], at, claim=claim)
        admitted = [x for x in screened.outcomes if isinstance(x, Admitted)]
        refusals = [(x.key, x_sender, x.issues[0]) for x in screened.outcomes if isinstance(x, Refused)
                    for x_sender in [o.sender]]
        try:
            results = await journal.record(admitted, business_time=at.isoformat(), refusals=refusals,
                                           extra=screened.extra, claim=screened.claim)
        except ClaimLost:
            assert claim, "only a claim is lost"
            continue
        [outcome] = screened.outcomes
        if isinstance(outcome, Held):
            return ("held", _mask(outcome.issue.message))
        if isinstance(outcome, Refused):
            return ("refused", tuple(_mask(i.message) for i in outcome.issues))
        [r] = results
        return (r.status, r.issue.code if r.issue else None)
    raise AssertionError("unreachable")


_TABLES = {  # table -> columns compared (no ids, hold ids or wall-clock times: they differ by construction)
    "mon_payments": "adm_div_code, st_year, vtcode, voucher_no, digest, payer, payee, amount_fen, at_us, outcome, "
                    "hold_id IS NULL, sender, recipient",
    "mon_decisions": "adm_div_code, st_year, vtcode, voucher_no, at, rule_id, rule_version, grade, outcome, who, reason",
    "mon_holds": "adm_div_code, st_year, vtcode, voucher_no, rule_id, grade, amount_fen, payee, sender, recipient, "
                 "held_at, status, digest, payload",
    "gw_trace": "adm_div_code, st_year, vtcode, voucher_no, flag, step, participant, business_time, detail",
    "gw_messages": "adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, recipient",
}


async def _rows(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table, columns in _TABLES.items():
        order = "id" if table in ("mon_decisions", "gw_trace") else columns
        rows = await db.fetch(f"SELECT {columns} FROM {table} ORDER BY {order}")
        out[table] = [tuple(_mask(bytes(v) if isinstance(v, memoryview) else v) for v in r) for r in rows]
    return out


async def _run(payments: list[tuple[int, int, str, str, str, int]], tmp: Path) -> None:
    sides = []
    for name in ("claims", "reads"):
        db = await open_database(f"sqlite:///{tmp / name}.db")
        journal = Journal(db)
        await journal.init_schema()
        monitor = Monitor(CAT, MonitorStore(db))
        await monitor.start()
        monitor.attach(journal, lambda: None)
        await journal.start()
        sides.append((db, journal, monitor))
    assert sides[0][2].store.claims  # SQLite: the claim path is taken
    at = AT
    try:
        for no, fen, payee, payer, sender, hours in payments:
            at += dt.timedelta(hours=hours)
            o = _admitted(no, fen, payee, payer, sender)
            got = [await _submit(monitor, journal, o, at, claims=name == "claims")
                   for (_, journal, monitor), name in zip(sides, ("claims", "reads"), strict=True)]
            assert got[0] == got[1]
        assert await _rows(sides[0][0]) == await _rows(sides[1][0])
    finally:
        for db, journal, _ in sides:
            await journal.stop()
            await db.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(PAYMENT, min_size=1, max_size=14))
def test_screening_with_a_claim_gives_what_reading_first_gives(payments: list[tuple[int, int, str, str, str, int]]
                                                               ) -> None:
    with tempfile.TemporaryDirectory(prefix="tgw-mon-claim-") as tmp:
        asyncio.run(_run(payments, Path(tmp)))


def test_a_claim_reads_nothing_and_is_lost_on_a_key_screened_before() -> None:
    async def run(tmp: Path) -> None:
        db = await open_database(f"sqlite:///{tmp / 'one'}.db")
        journal = Journal(db)
        await journal.init_schema()
        monitor = Monitor(CAT, MonitorStore(db))
        await monitor.start()
        await journal.start()
        reads = 0
        real = monitor.store.priors

        async def counted(keys: Any) -> Any:
            nonlocal reads
            reads += 1
            return await real(keys)

        monitor.store.priors = counted  # type: ignore[method-assign]
        try:
            o = _admitted(1, 12_345, "999900000001", "999000000000011", "treasury-990100")
            first = await monitor.screen([o], AT, claim=True)
            assert reads == 0 and first.claim is not None and first.claim[0] == PAYMENT_UPSERT
            assert all(sql != PAYMENT_UPSERT or not rows for sql, rows in first.extra)
            await journal.record([o], business_time=AT.isoformat(), extra=first.extra, claim=first.claim)
            again = await monitor.screen([o], AT, claim=True)
            try:
                await journal.record([o], business_time=AT.isoformat(), extra=again.extra, claim=again.claim)
            except ClaimLost:
                pass
            else:
                raise AssertionError("a key that passed before must lose its claim")
            assert len(await db.fetch("SELECT 1 FROM mon_decisions")) == 1  # nothing of the lost one written
            two = await monitor.screen([o, _admitted(2, 5, "999900000001", "999000000000011", "treasury-990100")], AT,
                                       claim=True)
            assert two.claim is None and reads == 1  # several payments: read as before
        finally:
            await journal.stop()
            await db.close()

    with tempfile.TemporaryDirectory(prefix="tgw-mon-claim1-") as tmp:
        asyncio.run(run(Path(tmp)))


def test_the_same_payment_twice_in_one_group_commit_is_written_once() -> None:
    """Two submissions of one voucher at once, their claims in the same commit: the second's claim
    changes no row, it is screened again (reading the first's row) and answered duplicate."""
    async def run(tmp: Path) -> None:
        db = await open_database(f"sqlite:///{tmp / 'twice'}.db")
        journal = Journal(db)
        await journal.init_schema()
        monitor = Monitor(CAT, MonitorStore(db))
        await monitor.start()
        await journal.start()
        try:
            o = _admitted(7, 12_345, "999900000001", "999000000000011", "treasury-990100")
            answers = await asyncio.gather(*(_submit(monitor, journal, o, AT, claims=True) for _ in range(2)))
            assert sorted(a[0] for a in answers) == ["accepted", "duplicate"]
            assert len(await db.fetch("SELECT 1 FROM mon_payments")) == 1
            assert len(await db.fetch("SELECT 1 FROM gw_messages")) == 1
        finally:
            await journal.stop()
            await db.close()

    with tempfile.TemporaryDirectory(prefix="tgw-mon-claim2-") as tmp:
        asyncio.run(run(Path(tmp)))
