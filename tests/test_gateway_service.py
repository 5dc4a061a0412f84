"""The gateway service over the in-process bus, on SQLite and on PostgreSQL (fixture `db`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from gateway_helpers import (
    bad_envelopes,
    payment,
    rebuild,
    receipt_of,
    resigned_envelope,
    running_gateway,
    table_count,
    voucher_of_delivery,
)

from client import Delivery, GatewayClient
from gateway.bus import InProcessBus
from gateway.service import GatewayConfig
from messages.envelope import VoucherKey
from messages.errors import CODES
from runner.world import DevWorld

BUSINESS = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
FAST_PUSH = GatewayConfig(push_ack_timeout_s=0.05, push_backoff_base_ms=1, push_attempts_max=3,
                          poll_interval_s=0.02)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def other_world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("other"))


async def receive_until(client: GatewayClient, n: int, *, timeout_s: float = 10.0) -> list[Delivery]:
    """At least n deliveries (the test fails on timeout, it does not assert speed)."""
    got: list[Delivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(got) < n and loop.time() < deadline:
        got.extend(await client.receive(timeout_s=max(0.01, deadline - loop.time())))
    assert len(got) >= n, f"received {len(got)} of {n}"
    return got


def steps(events: list[dict[str, Any]], flag: int | None = None) -> list[str]:
    return [e["step"] for e in events if flag is None or e["flag"] == flag]


# ---------------------------------------------------------------------- round trip


async def test_round_trip_voucher_to_bank_and_receipt_back(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db, at=BUSINESS) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, GatewayClient.bus(bus, "bank-a") as bank, \
                GatewayClient.bus(bus, "bank-b") as other_bank:
            original = payment(world, bank="bank-a")
            [res] = await treasury.send(world.envelope([original], sender=tid))
            assert res.status == "accepted", res
            assert res.recipient == "bank-a" and res.message_id
            [item] = await receive_until(bank, 1)
            assert item.message_id == res.message_id and item.sender == tid and item.key.flag == 0
            assert voucher_of_delivery(item.envelope) == original  # byte for byte
            await bank.ack(item)
            assert await other_bank.receive(timeout_s=0.1) == []

            rec = receipt_of(voucher_of_delivery(item.envelope))
            [rres] = await bank.send(world.envelope([rec], sender="bank-a", flag=1))
            assert rres.status == "accepted", rres
            assert rres.recipient == tid
            [ritem] = await receive_until(treasury, 1)
            assert ritem.message_id == rres.message_id and ritem.key.flag == 1 and ritem.sender == "bank-a"
            assert voucher_of_delivery(ritem.envelope) == rec
            await treasury.ack(ritem)

            p_t = gw.registry.get(tid)
            msg = await gw.message(p_t, rres.message_id)
            assert msg is not None and msg["original_id"] == res.message_id and msg["flag"] == 1
            orig_msg = await gw.message(p_t, res.message_id)
            assert orig_msg is not None and orig_msg["original_id"] is None
            assert orig_msg["delivery_state"] == "acked"

            events = await treasury.trace(item.key)
            assert events is not None
            for step in ("validated", "verified", "authorized", "journaled", "delivered"):
                assert step in steps(events, 0), steps(events, 0)
            for step in ("validated", "verified", "authorized", "journaled", "linked", "delivered"):
                assert step in steps(events, 1), steps(events, 1)
            for e in events:
                assert dt.datetime.fromisoformat(e["wall_time"]).tzinfo is not None
                assert dt.datetime.fromisoformat(e["business_time"]) == BUSINESS
            delivered = [e for e in events if e["step"] == "delivered"]
            assert {e["participant"] for e in delivered} == {"bank-a", tid}


async def test_routing_by_pay_bank_code(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw, GatewayClient.bus(gw, tid) as treasury:
        results = await treasury.send(world.envelope([payment(world, bank="bank-b"), payment(world, bank="bank-a")],
                                                     sender=tid))
        assert [r.recipient for r in results] == ["bank-b", "bank-a"]
        pa, pb = gw.registry.get("bank-a"), gw.registry.get("bank-b")
        assert [i.message_id for i in await gw.inbox(pb)] == [results[0].message_id]
        assert [i.message_id for i in await gw.inbox(pa)] == [results[1].message_id]


async def test_fifty_voucher_envelope_one_result_per_body_in_order(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    vouchers, expect = [], []
    for i in range(50):
        v = payment(world, voucher_no=f"B50{i:04d}", bank="bank-a" if i % 2 else "bank-b")
        code = None
        if i % 9 == 4:
            v, code = rebuild(v, VouDate="20260431"), "bad-date"
        elif i % 13 == 6:
            v, code = rebuild(v, StYear="2025"), "styear-mismatch"
        vouchers.append(v)
        expect.append(code)
    async with running_gateway(world, db) as gw, GatewayClient.bus(gw, tid) as treasury:
        results = await treasury.send(world.envelope(vouchers, sender=tid))
        assert len(results) == 50
        for i, (r, code) in enumerate(zip(results, expect, strict=True)):
            assert r.voucher_no == f"B50{i:04d}"
            if code is None:
                assert r.status == "accepted", r
            else:
                assert (r.status, r.code) == ("rejected", code)
        accepted = sum(1 for c in expect if c is None)
        assert await table_count(db, "gw_messages") == accepted
        assert await table_count(db, "gw_outbox") == accepted


# ---------------------------------------------------------------------- reject codes


async def test_every_reject_code_through_submit(world: DevWorld, other_world: DevWorld, db: Any) -> None:
    cases = bad_envelopes(world, other_world)
    assert set(cases) <= set(CODES)
    async with running_gateway(world, db) as gw:
        for code, inputs in cases.items():
            for sender, data in inputs:
                results = await gw.submit(data, gw.registry.get(sender))
                assert len(results) == 1
                assert results[0].status == "rejected"
                assert results[0].code == code, (code, results[0].as_dict())
        assert await table_count(db, "gw_messages") == 0
        assert await table_count(db, "gw_outbox") == 0
        # refusals with a key are traced, visible to their sender only
        [bad] = cases["bad-date"]
        sender = gw.registry.get(bad[0])
        from messages.envelope import parse_envelope

        key = parse_envelope(bad[1]).bodies[0].key
        events = await gw.trace(sender, key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)
        assert events is not None and steps(events) == ["rejected"]
        assert events[0]["detail"].startswith("bad-date")
        assert await gw.trace(gw.registry.get("bank-b"), *key[:4]) is None


async def test_gateway_level_codes(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        treasury, bank_a, bank_b = (gw.registry.get(x) for x in (tid, "bank-a", "bank-b"))
        # unknown-original: a receipt for a voucher never sent
        [r] = await gw.submit(world.envelope([receipt_of(payment(world))], sender="bank-a", flag=1), bank_a)
        assert (r.status, r.code) == ("rejected", "unknown-original")
        # unknown-original: the receipt comes from a bank that was not the original's recipient
        original = payment(world, bank="bank-a")
        [ok] = await gw.submit(world.envelope([original], sender=tid), treasury)
        assert ok.status == "accepted"
        own_code = world.participants["bank-b"].bank_codes[0]
        [r] = await gw.submit(world.envelope([receipt_of(rebuild(original, PayBankCode=own_code))],
                                             sender="bank-b", flag=1), bank_b)
        assert (r.status, r.code) == ("rejected", "unknown-original")
        # (a receipt naming bank-a in its PayBankCode is bank-a's to send: refused before the journal)
        [r] = await gw.submit(world.envelope([receipt_of(original)], sender="bank-b", flag=1), bank_b)
        assert (r.status, r.code) == ("rejected", "not-authorized")
        # ... while the right bank's receipt links
        [r] = await gw.submit(world.envelope([receipt_of(original)], sender="bank-a", flag=1), bank_a)
        assert r.status == "accepted" and r.recipient == tid
        # duplicate-conflict: same key, other bytes
        changed = rebuild(original, PayeeAcctName="另一个供应商")
        [r] = await gw.submit(world.envelope([changed], sender=tid), treasury)
        assert (r.status, r.code) == ("rejected", "duplicate-conflict")
        for code in ("unknown-original", "duplicate-conflict"):
            assert code in CODES
        assert await table_count(db, "gw_messages") == 2


# ---------------------------------------------------------------------- idempotency


async def test_same_envelope_three_times_is_idempotent(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    v = payment(world)
    env = world.envelope([v], sender=tid)
    async with running_gateway(world, db) as gw:
        p = gw.registry.get(tid)
        answers = [(await gw.submit(env, p))[0] for _ in range(3)]
        assert [a.status for a in answers] == ["accepted", "duplicate", "duplicate"]
        assert len({a.message_id for a in answers}) == 1
        assert {a.recipient for a in answers} == {"bank-a"}
        # re-signed: other ECDSA signature bytes (a random nonce, not RFC 6979) over the same
        # voucher bytes are still the same voucher
        env2 = resigned_envelope(world, v, sender=tid)
        assert env2 != env
        [again] = await gw.submit(env2, p)
        assert (again.status, again.message_id) == ("duplicate", answers[0].message_id)
        # same key, different bytes
        [conflict] = await gw.submit(world.envelope([rebuild(v, PaySummaryName="差旅费")], sender=tid), p)
        assert (conflict.status, conflict.code) == ("rejected", "duplicate-conflict")
        assert await table_count(db, "gw_messages") == 1
        assert await table_count(db, "gw_outbox") == 1
        events = await gw.trace(p, *answers[0].voucher.split("/")[:4])
        assert events is not None
        assert steps(events).count("journaled") == 1
        assert steps(events).count("duplicate") == 3


async def test_concurrent_duplicates_store_once(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    env = world.envelope([payment(world)], sender=tid)
    async with running_gateway(world, db) as gw:
        p = gw.registry.get(tid)
        answers = await asyncio.gather(*(gw.submit(env, p) for _ in range(10)))
        statuses = sorted(a[0].status for a in answers)
        assert statuses == ["accepted"] + ["duplicate"] * 9
        assert len({a[0].message_id for a in answers}) == 1
        assert await table_count(db, "gw_messages") == 1


# ---------------------------------------------------------------------- isolation


async def test_isolation_between_banks(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        treasury, bank_a, bank_b = (gw.registry.get(x) for x in (tid, "bank-a", "bank-b"))
        v = payment(world, bank="bank-a")
        [r] = await gw.submit(world.envelope([v], sender=tid), treasury)
        assert r.message_id
        assert await gw.inbox(bank_b) == []
        assert await gw.message(bank_b, r.message_id) is None
        assert await gw.message(bank_a, r.message_id) is not None
        assert await gw.message(treasury, r.message_id) is not None
        key = VoucherKey(*r.voucher.split("/")[:4], 0)
        assert await gw.trace(bank_b, *key[:4]) is None
        assert await gw.trace(bank_a, *key[:4])
        assert await gw.ack(bank_b, [r.message_id]) == []
        assert [i.message_id for i in await gw.inbox(bank_a)] == [r.message_id]
        # a sender cannot ack its own outgoing message either
        assert await gw.ack(treasury, [r.message_id]) == []
        assert [i.message_id for i in await gw.inbox(bank_a)] == [r.message_id]
        assert await gw.ack(bank_a, [r.message_id]) == [r.message_id]
        assert await gw.ack(bank_a, [r.message_id]) == []  # twice: no change
        assert await gw.inbox(bank_a) == []


async def test_a_non_party_learns_nothing_from_a_receipt_key(world: DevWorld, db: Any) -> None:
    """bank-b sending a receipt for bank-a's (already receipted) voucher gets unknown-original,
    not duplicate / duplicate-conflict naming bank-a's message."""
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        treasury, bank_a, bank_b = (gw.registry.get(x) for x in (tid, "bank-a", "bank-b"))
        original = payment(world, bank="bank-a")
        [ok] = await gw.submit(world.envelope([original], sender=tid), treasury)
        rec = receipt_of(original)
        [ra] = await gw.submit(world.envelope([rec], sender="bank-a", flag=1), bank_a)
        assert ra.status == "accepted"
        own_code = world.participants["bank-b"].bank_codes[0]
        # In bank-a's name (its PayBankCode): refused before the journal is asked anything.
        # In bank-b's own name: the journal answers as for a key that does not exist.
        for data, code in ((rec, "not-authorized"), (receipt_of(original, business_no="OTHER"), "not-authorized"),
                           (receipt_of(rebuild(original, PayBankCode=own_code)), "unknown-original")):
            [rb] = await gw.submit(world.envelope([data], sender="bank-b", flag=1), bank_b)
            assert (rb.status, rb.code, rb.message_id) == ("rejected", code, None), rb
            assert ra.message_id not in rb.issues[0].message and ok.message_id not in rb.issues[0].message
        assert await table_count(db, "gw_messages") == 2


# ---------------------------------------------------------------------- delivery


async def test_push_without_ack_is_retried_then_dead_lettered_then_replayed(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db, config=FAST_PUSH) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, GatewayClient.bus(bus, "bank-a") as bank:
            [r] = await treasury.send(world.envelope([payment(world)], sender=tid))
            got = await receive_until(bank, FAST_PUSH.push_attempts_max)  # never acked
            assert {d.message_id for d in got} == {r.message_id}
            for _ in range(500):
                row = await db.fetchrow("SELECT state, attempts FROM gw_outbox WHERE message_id=$1", r.message_id)
                if row[0] == "dead":
                    break
                await asyncio.sleep(0.02)
            assert row == ("dead", FAST_PUSH.push_attempts_max)
            events = await treasury.trace(got[0].key)
            assert events is not None and "dead-lettered" in steps(events)
            # Each push attempt is a step of the trace, counted like the outbox counts it.
            assert steps(events).count("pushed") == FAST_PUSH.push_attempts_max
            dead = await gw.outbox.dead()
            assert [d["id"] for d in dead] == [r.message_id]
            # no more pushes once dead
            await bank.receive(timeout_s=0.1)
            assert await bank.receive(timeout_s=0.2) == []
            assert await gw.outbox.replay() == 1
            gw._wake.set()
            [again] = await receive_until(bank, 1)
            assert again.message_id == r.message_id
            await bank.ack(again)
            row = await db.fetchrow("SELECT state FROM gw_outbox WHERE message_id=$1", r.message_id)
            assert row == ("acked",)


def test_backoff_is_exponential_with_jitter() -> None:
    import random

    from gateway.outbox import backoff_us

    rng = random.Random(7)
    for attempt in range(1, 10):
        ceiling = 1000 * 2 ** (attempt - 1)
        samples = {backoff_us(attempt, base_us=1000, rng=rng) for _ in range(50)}
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(samples) > 1  # jitter
    assert backoff_us(40, base_us=1000, cap_us=5000, rng=rng) <= 5000


async def test_disconnect_before_ack_redelivers_on_reconnect(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db, config=FAST_PUSH) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury:
            async with GatewayClient.bus(bus, "bank-a") as bank:
                [r] = await treasury.send(world.envelope([payment(world)], sender=tid))
                [first] = (await receive_until(bank, 1))[:1]
                assert first.message_id == r.message_id
            # disconnected without acking; the gateway still holds it
            row = await db.fetchrow("SELECT state FROM gw_outbox WHERE message_id=$1", r.message_id)
            assert row == ("ready",)
            async with GatewayClient.bus(bus, "bank-a") as bank:
                got = await receive_until(bank, 1)
                assert got[0].message_id == r.message_id
                await bank.ack(*got)
        row = await db.fetchrow("SELECT state FROM gw_outbox WHERE message_id=$1", r.message_id)
        assert row == ("acked",)


async def test_restart_resumes_undelivered(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    async with running_gateway(world, db) as gw:
        results = await gw.submit(world.envelope([payment(world) for _ in range(5)], sender=tid),
                                  gw.registry.get(tid))
        assert all(r.status == "accepted" for r in results)
    async with running_gateway(world, db) as gw, GatewayClient.bus(gw, "bank-a") as bank:
        got = await receive_until(bank, 5)
        assert {d.message_id for d in got} == {r.message_id for r in results}
        await bank.ack(*got)


async def test_stop_refuses_new_work_and_wakes_long_polls(world: DevWorld, db: Any) -> None:
    from messages.errors import StateError

    async with running_gateway(world, db) as gw:
        bank = gw.registry.get("bank-b")
        poll = asyncio.create_task(gw.inbox(bank, wait_s=30))
        await asyncio.sleep(0.05)
        await gw.stop()
        assert await asyncio.wait_for(poll, 5) == []
        with pytest.raises(StateError):
            await gw.submit(world.envelope([payment(world)], sender=world.treasury.id), gw.registry.get("bank-a"))
        await gw.start()  # running_gateway stops it again


# ---------------------------------------------------------------------- property: idempotency (SQLite)


def test_random_submits_keep_one_message_per_key(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from storage.db import open_database

    tid = world.treasury.id
    # a pool of 4 voucher keys, each with 2 byte-variants; each variant pre-signed twice
    pool: list[tuple[str, int, bytes]] = []
    for k in range(4):
        v = payment(world, voucher_no=f"HYP{k:03d}")
        variants = [v, rebuild(v, PaySummaryName=f"变体{k}")]
        for vi, data in enumerate(variants):
            pool.append((f"HYP{k:03d}", vi, world.envelope([data], sender=tid)))
            pool.append((f"HYP{k:03d}", vi, resigned_envelope(world, data, sender=tid)))

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=12))
    def run(picks: list[int]) -> None:
        async def go() -> None:
            path = tmp_path_factory.mktemp("hyp") / "gw.db"
            db = await open_database(str(path))
            try:
                async with running_gateway(world, db) as gw:
                    p = gw.registry.get(tid)
                    first: dict[str, tuple[int, str]] = {}
                    for i in picks:
                        no, variant, env = pool[i]
                        [r] = await gw.submit(env, p)
                        if no not in first:
                            assert r.status == "accepted", r
                            first[no] = (variant, r.message_id)
                        elif variant == first[no][0]:
                            assert (r.status, r.message_id) == ("duplicate", first[no][1])
                        else:
                            assert (r.status, r.code) == ("rejected", "duplicate-conflict")
                    rows = await db.fetch("SELECT voucher_no, id FROM gw_messages ORDER BY voucher_no")
                    assert rows == sorted((no, mid) for no, (_, mid) in first.items())
                    assert await table_count(db, "gw_outbox") == len(first)
            finally:
                await db.close()

        asyncio.run(go())

    run()


