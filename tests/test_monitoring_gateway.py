"""Dynamic monitoring in the gateway: block, hold, release, reject, audit, restart (both backends)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_database
from gateway_helpers import FixedClock, count_monitor_parses, payment, rebuild

from gateway.monitoring.monitor import Monitor
from gateway.monitoring.rules import default_catalogue
from gateway.monitoring.store import MonitorStore
from gateway.service import Gateway
from messages.envelope import VoucherKey
from runner.world import DevWorld

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
YUAN = 100


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world")


def _gateway(world: DevWorld, db: Any, at: dt.datetime = AT) -> Gateway:
    monitor = Monitor(default_catalogue(), MonitorStore(db))
    return Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(at), monitor=monitor)


async def _send(gw: Gateway, world: DevWorld, voucher: bytes) -> Any:
    treasury = gw.registry.get(world.treasury.id)
    assert treasury is not None
    [result] = await gw.submit(world.envelope([voucher], sender=world.treasury.id), treasury)
    return result


def _treasury(gw: Gateway, world: DevWorld) -> Any:
    return gw.registry.get(world.treasury.id)


async def _outbox_count(db: Any, voucher_no: str) -> int:
    row = await db.fetchrow("SELECT count(*) FROM gw_messages WHERE voucher_no = $1", voucher_no)
    return int(row[0])


async def test_large_payment_held_then_released_reaches_the_bank(world: DevWorld, db: Any) -> None:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        result = await _send(gw, world, payment(world, amount_fen=2_000_000 * YUAN, voucher_no="BIG0001"))
        assert (result.status, result.code) == ("held", "monitor-held"), result
        assert await _outbox_count(db, "BIG0001") == 0  # nothing for the bank while held
        again = await _send(gw, world, payment(world, amount_fen=2_000_000 * YUAN, voucher_no="BIG0001"))
        assert (again.status, again.code) == ("held", "monitor-held")  # same bytes: same hold, no second one
        [hold] = await gw.monitor.store.holds(status="held", after="", limit=10)  # type: ignore[union-attr]
        assert (hold.rule_id, hold.grade, hold.amount_fen) == ("large-single-payment", "hold", 200_000_000)
        released = await gw.monitor.release(hold.id, who="treasury-990100", reason="contract checked",  # type: ignore[union-attr]
                                            at=AT)
        assert released is not None and released.status == "released" and released.decided_by == "treasury-990100"
        assert await _outbox_count(db, "BIG0001") == 1
        key = VoucherKey(world.adm_div_code, "2026", "5201", "BIG0001", 0)
        decisions = await gw.monitor.store.decisions(key)  # type: ignore[union-attr]
        assert [(d["rule_id"], d["outcome"], d["who"]) for d in decisions] == [
            ("large-single-payment", "held", "monitor"), ("new-payee-large-amount", "flagged", "monitor"),
            ("large-single-payment", "released", "treasury-990100")]
        assert all(d["rule_version"] == "2026.1" for d in decisions)
        steps = [e["step"] for e in await gw.trace(_treasury(gw, world), *key[:4]) or []]
        assert steps[0] == "monitor-held" and {"monitor-released", "journaled"} <= set(steps), steps
        dup = await _send(gw, world, payment(world, amount_fen=2_000_000 * YUAN, voucher_no="BIG0001"))
        assert dup.status == "duplicate"
    finally:
        await gw.stop()


async def test_held_payment_rejected_never_reaches_the_bank(world: DevWorld, db: Any) -> None:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        await _send(gw, world, payment(world, amount_fen=3_000_000 * YUAN, voucher_no="BIG0002"))
        [hold] = await gw.monitor.store.holds(status="held", after="", limit=10)  # type: ignore[union-attr]
        rejected = await gw.monitor.reject(hold.id, who="treasury-990100", reason="no contract", at=AT)  # type: ignore[union-attr]
        assert rejected is not None and (rejected.status, rejected.reason) == ("rejected", "no contract")
        assert await _outbox_count(db, "BIG0002") == 0
        again = await _send(gw, world, payment(world, amount_fen=3_000_000 * YUAN, voucher_no="BIG0002"))
        assert (again.status, again.code) == ("rejected", "monitor-rejected")
        key = VoucherKey(world.adm_div_code, "2026", "5201", "BIG0002", 0)
        events = await gw.trace(_treasury(gw, world), *key[:4]) or []
        assert any(e["step"] == "monitor-rejected" and e["detail"].startswith("monitor-rejected") for e in events)
        from gateway.monitoring.monitor import HoldStateError

        with pytest.raises(HoldStateError):
            await gw.monitor.release(hold.id, who="x", reason="late", at=AT)  # type: ignore[union-attr]
    finally:
        await gw.stop()


async def test_cash_withdrawal_blocked_with_the_rule(world: DevWorld, db: Any) -> None:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        voucher = rebuild(payment(world, amount_fen=80_000 * YUAN, voucher_no="CASH0001"), PaySummaryName="提取现金")
        result = await _send(gw, world, voucher)
        assert (result.status, result.code) == ("rejected", "monitor-blocked")
        assert "large-cash-withdrawal" in result.issues[0].message
        assert await _outbox_count(db, "CASH0001") == 0
    finally:
        await gw.stop()


async def test_ordinary_payment_passes_with_a_passed_decision(world: DevWorld, db: Any) -> None:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        result = await _send(gw, world, payment(world, amount_fen=12_345 * YUAN, voucher_no="OK0001"))
        assert result.status == "accepted"
        key = VoucherKey(world.adm_div_code, "2026", "5201", "OK0001", 0)
        assert [d["outcome"] for d in await gw.monitor.store.decisions(key)] == ["passed"]  # type: ignore[union-attr]
    finally:
        await gw.stop()


async def test_audit_rows_cannot_be_updated_or_deleted(world: DevWorld, db: Any) -> None:
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        await _send(gw, world, payment(world, amount_fen=2_000_000 * YUAN, voucher_no="BIG0003"))
        for sql in ("UPDATE mon_decisions SET who = 'someone else'", "DELETE FROM mon_decisions"):
            with pytest.raises(Exception, match="append-only"):
                async with db.transaction() as tx:
                    await tx.execute(sql)
        row = await db.fetchrow("SELECT count(*), min(who) FROM mon_decisions")
        assert (int(row[0]), row[1]) == (2, "monitor")  # large-single-payment held, new-payee flagged
    finally:
        await gw.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_restart_inside_a_splitting_window_keeps_the_window(world: DevWorld, tmp_path: Path,
                                                                  backend: str) -> None:
    """Three payments of 950,000.00 to one payee within 120 h: the third is held, across a restart."""
    def split(no: str) -> bytes:
        v = payment(world, amount_fen=950_000 * YUAN, voucher_no=no)
        return rebuild(v, PayeeAcctNo="999955550001", PayAcctNo="9991234500001")

    async with fresh_database(backend, tmp_path, "split.db") as db:
        gw = _gateway(world, db)
        await gw.start(deliver=False)
        try:
            assert (await _send(gw, world, split("SPL0001"))).status == "accepted"
            assert (await _send(gw, world, split("SPL0002"))).status == "accepted"
        finally:
            await gw.stop()
        later = AT + dt.timedelta(days=2)
        gw = _gateway(world, db, later)  # a new gateway and monitor: nothing in memory survives
        await gw.start(deliver=False)
        try:
            result = await _send(gw, world, split("SPL0003"))
            assert (result.status, result.code) == ("held", "monitor-held"), result
            assert "splitting" in result.issues[0].message
        finally:
            await gw.stop()


async def test_screening_reads_the_voucher_the_pipeline_parsed(world: DevWorld, db: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, the monitor screens the parsed voucher the pipeline hands along (no second
    parse of the same bytes), and decides exactly as it does from the bytes (a blocked payment
    is still blocked); from bytes alone (an admission worker's result) it parses them itself."""
    from gateway.pipeline import Admitted, admit_envelope

    parses = count_monitor_parses(monkeypatch)
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        cash = rebuild(payment(world, amount_fen=80_000 * YUAN, voucher_no="CASH0002"), PaySummaryName="提取现金")
        result = await _send(gw, world, cash)
        assert (result.status, result.code) == ("rejected", "monitor-blocked")
        assert (await _send(gw, world, payment(world, voucher_no="OK0002"))).status == "accepted"
        assert parses == []
        treasury = _treasury(gw, world)
        envelope = world.envelope([payment(world, voucher_no="OK0003")], sender=world.treasury.id)
        [admitted] = admit_envelope(envelope, treasury, gw.registry, gw.certs, at=dt.datetime.now(dt.UTC))
        assert isinstance(admitted, Admitted)
        bare = Admitted(admitted.body, admitted.sender, admitted.recipient, admitted.digest, admitted.payload)
        assert gw.monitor is not None
        screened = await gw.monitor.screen([bare], AT)
        assert screened.outcomes == [bare] and len(parses) == 1
    finally:
        await gw.stop()


async def test_a_payee_is_new_until_a_payment_to_it_was_journaled(world: DevWorld, db: Any) -> None:
    """new-payee-large-amount fires for the first large payment to an account, and not for the
    next one in a later envelope (the store remembers the payee); a blocked payment does not count."""
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        def to(acct: str, no: str, yuan: int, **head: str) -> bytes:
            return rebuild(payment(world, amount_fen=yuan * YUAN, voucher_no=no), PayeeAcctNo=acct, **head)

        async def rules(no: str) -> list[str | None]:
            key = VoucherKey(world.adm_div_code, "2026", "5201", no, 0)
            return [d["rule_id"] for d in await gw.monitor.store.decisions(key)]  # type: ignore[union-attr]

        blocked = await _send(gw, world, to("955500001111", "NP0001", 80_000, PaySummaryName="提取现金"))
        assert blocked.code == "monitor-blocked"
        assert (await _send(gw, world, to("955500001111", "NP0002", 250_000))).status == "accepted"
        assert "new-payee-large-amount" in await rules("NP0002")  # the blocked one did not make it known
        assert (await _send(gw, world, to("955500001111", "NP0003", 250_000))).status == "accepted"
        assert "new-payee-large-amount" not in await rules("NP0003")
        assert (await _send(gw, world, to("955500002222", "NP0004", 250_000))).status == "accepted"
        assert "new-payee-large-amount" in await rules("NP0004")
    finally:
        await gw.stop()


async def test_a_hold_decided_by_another_worker_meanwhile_is_not_released_again(world: DevWorld, db: Any) -> None:
    """Two gateway workers on one database: this one read the hold as held, the other released it
    before this one's commit. The release is refused and writes nothing: one decision, one trace row,
    one message for the bank."""
    gw = _gateway(world, db)
    await gw.start(deliver=False)
    try:
        await _send(gw, world, payment(world, amount_fen=2_500_000 * YUAN, voucher_no="BIG0009"))
        monitor = gw.monitor
        assert monitor is not None
        [hold] = await monitor.store.holds(status="held", after="", limit=10)
        first = await monitor.release(hold.id, who="treasury-990100", reason="contract checked", at=AT)
        assert first is not None and first.status == "released"
        stale = monitor.store.hold

        async def as_read_before(hold_id: str) -> Any:  # what this worker read before the other decided
            return hold if hold_id == hold.id else await stale(hold_id)

        monitor.store.hold = as_read_before  # type: ignore[method-assign]
        from gateway.monitoring.monitor import HoldStateError

        with pytest.raises(HoldStateError, match="decided meanwhile"):
            await monitor.release(hold.id, who="treasury-990200", reason="checked twice", at=AT)
        monitor.store.hold = stale  # type: ignore[method-assign]
        key = VoucherKey(world.adm_div_code, "2026", "5201", "BIG0009", 0)
        outcomes = [(d["outcome"], d["who"]) for d in await monitor.store.decisions(key) if d["outcome"] == "released"]
        assert outcomes == [("released", "treasury-990100")]
        steps = [e["step"] for e in await gw.trace(_treasury(gw, world), *key[:4]) or []]
        assert steps.count("monitor-released") == 1, steps
        assert await _outbox_count(db, "BIG0009") == 1
        decided = await monitor.store.hold(hold.id)
        assert decided is not None and (decided.decided_by, decided.reason) == ("treasury-990100", "contract checked")
    finally:
        await gw.stop()
