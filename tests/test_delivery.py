"""Push delivery: fair across recipients, a window of unacked pushes per recipient, an ack timeout
that adapts to the recipient; and the outbox statements beneath (SQLite and PostgreSQL, fixture `db`).

Delivery is driven round by round (`Gateway.start(deliver=False)` + `deliver_round()`) on a
simulated clock (`delivery_clock`), so nothing here races wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import FixedClock, payment
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.bus import BusConnection
from gateway.delivery import AckTimer, DeliveryScheduler, interleave
from gateway.outbox import DLQ_PAGE_MAX, InboxItem, Outbox
from gateway.participants import Participant
from gateway.service import Gateway, GatewayConfig
from runner.world import DevWorld
from storage.db import open_database
from tgw import dlq as dlq_cli
from tgw import main as tgw_main

BUSINESS = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
START_US = 1_800_000_000_000_000  # the simulated clock's start (µs); outbox rows are due from 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"), delivery="push")


class SimClock:
    def __init__(self) -> None:
        self.us = START_US

    def __call__(self) -> int:
        return self.us


@asynccontextmanager
async def manual_gateway(world: DevWorld, db: Any, config: GatewayConfig,
                         clock: SimClock) -> AsyncIterator[Gateway]:
    """A gateway whose deliverer does not run by itself: the test calls `round()`."""
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(BUSINESS), config=config,
                 delivery_clock=clock)
    await gw.start(deliver=False)
    try:
        yield gw
    finally:
        await gw.stop()


async def round_(gw: Gateway) -> int:
    """One delivery round, with every push it started finished."""
    started = await gw.deliver_round()
    while gw._push_tasks:
        await asyncio.gather(*list(gw._push_tasks))
    return started


async def submit(world: DevWorld, gw: Gateway, bank: str, n: int) -> list[str]:
    tid = world.treasury.id
    ids: list[str] = []
    for start in range(0, n, 50):
        env = world.envelope([payment(world, bank=bank) for _ in range(min(50, n - start))], sender=tid)
        results = await gw.submit(env, party(gw, tid))
        assert {r.status for r in results} == {"accepted"}, results
        ids += [r.message_id for r in results if r.message_id]
    return ids


async def backlog(db: Any, recipient: str, n: int, *, sender: str, state: str = "ready") -> list[str]:
    """n synthetic outbox rows for `recipient` (a stuck recipient's backlog, or dead letters)."""
    ids = [f"syn-{recipient}-{state}-{i:06d}" for i in range(n)]
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
            "recipient, payload, received_us, business_time, owner) "
            "VALUES ($1,'990100','2026','5201',$2,0,$3,$4,$5,$6,0,'',$4)",
            [(mid, f"S{recipient[-1]}{state[0]}{i:07d}", b"d", sender, recipient, b"<MOF/>") for i, mid in enumerate(ids)])
        await tx.executemany("INSERT INTO gw_outbox (seq, message_id, recipient, state, attempts) "
                             "SELECT seq, id, recipient, $2, CAST($3 AS INTEGER) FROM gw_messages WHERE id = $1",
                             [(mid, state, 8 if state == "dead" else 0) for mid in ids])
    return ids


def party(gw: Gateway, pid: str) -> Participant:
    p = gw.registry.get(pid)
    assert p is not None, pid
    return p


def recorder(log: list[InboxItem]) -> Any:
    async def push(item: InboxItem) -> None:
        log.append(item)
    return push


# ---------------------------------------------------------------------- fairness


async def test_a_stuck_recipient_never_delays_another(world: DevWorld, db: Any) -> None:
    """bank-a is connected but never acks, with 3,000 rows due; every voucher for bank-b is pushed
    in the round after it was journaled. (Before: the oldest 256 due rows across recipients were
    all bank-a's, and bank-b got no push at all.)"""
    config = GatewayConfig(push_window=64, push_ack_timeout_s=5.0, push_backoff_base_ms=100, push_attempts_max=8)
    clock = SimClock()
    async with manual_gateway(world, db, config, clock) as gw:
        await backlog(db, "bank-a", 3000, sender=world.treasury.id)
        to_a: list[InboxItem] = []
        to_b: list[InboxItem] = []
        gw.register_pusher("bank-a", recorder(to_a))
        gw.register_pusher("bank-b", recorder(to_b))
        expected_b: set[str] = set()
        for step in range(40):  # 40 rounds, 1 s apart: bank-a's pushes time out and come due again
            new = await submit(world, gw, "bank-b", 1)
            expected_b.update(new)
            pushed_a = len(to_a)
            await round_(gw)
            assert expected_b == {i.message_id for i in to_b}, f"round {step}: bank-b waits behind bank-a"
            assert await gw.ack(party(gw, "bank-b"), new) == new  # bank-b is healthy: it acks
            assert len(to_a) - pushed_a <= config.push_window
            assert len(gw._push.pending_ids("bank-a")) <= config.push_window
            clock.us += 1_000_000
        assert len(to_b) == 40  # each once
        assert len(to_a) > config.push_window  # bank-a was not starved either: timed-out pushes were retried


def test_interleave_is_round_robin() -> None:
    batches = {"a": [1, 2, 3, 4], "b": [10], "c": [20, 21]}
    assert interleave(batches, ["b", "a", "c"]) == [10, 1, 20, 2, 21, 3, 4]
    s = DeliveryScheduler(window=4, initial_timeout_us=10, floor_us=1, ceiling_us=100)
    assert [s.order(["c", "a", "b"]) for _ in range(4)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
                                                            ["a", "b", "c"]]


# ---------------------------------------------------------------------- a slow recipient


async def slow_recipient(gw: Gateway, clock: SimClock, conn: BusConnection, n: int, *, service_us: int,
                         tick_us: int = 1000, lose: Iterable[int] = ()) -> Counter[str]:
    """Simulate a recipient handling one message per `service_us` (in order, acking each), one
    delivery round per tick; the k-th pushes in `lose` vanish on the way. Returns receipts per id."""
    lost_at = set(lose)
    received: Counter[str] = Counter()
    acked: set[str] = set()
    current: InboxItem | None = None
    busy_until, pushes = 0, 0
    for _ in range(200 * n * service_us // tick_us):  # bound: the test fails rather than loops forever
        if len(acked) == n:
            break
        await round_(gw)
        if current is not None and clock.us >= busy_until:
            await conn.ack([current.message_id])
            acked.add(current.message_id)
            current = None
        while current is None and not conn.queue.empty():
            item = conn.queue.get_nowait()
            pushes += 1
            if pushes in lost_at:
                continue
            current, busy_until = item, clock.us + service_us
            received[item.message_id] += 1
        clock.us += tick_us
    assert len(acked) == n, f"acked {len(acked)} of {n}"
    return received


@pytest.mark.parametrize("lost", [0, 3])
async def test_a_slow_recipient_gets_each_message_once(world: DevWorld, db: Any, lost: int) -> None:
    """A recipient 5 ms per message, 300 messages due at once, a 50 ms floor: each is delivered
    once, nothing dead-letters; a lost push is re-pushed, and only it. (Before: every row was
    pushed at once, and every push still queued when its fixed timeout passed was pushed again.)"""
    config = GatewayConfig(push_window=32, push_ack_timeout_s=1.0, push_ack_timeout_min_s=0.05,
                           push_backoff_base_ms=20, push_attempts_max=4)
    clock = SimClock()
    async with manual_gateway(world, db, config, clock) as gw:
        ids = await submit(world, gw, "bank-a", 300)
        conn = gw.connect("bank-a")
        received = await slow_recipient(gw, clock, conn, len(ids), service_us=5000, lose=range(40, 40 + 7 * lost, 7))
        assert set(received) == set(ids)  # nothing lost
        assert sum(received.values()) - len(ids) == 0  # no duplicates at the recipient
        assert gw._push.timeouts == lost  # re-pushed: exactly the lost ones
        counts = await gw.outbox.counts()
        assert counts == {"acked": len(ids)}  # nothing dead-lettered
        timer = gw._push.timer("bank-a")
        assert timer.slot_us is not None and 4000 <= timer.slot_us <= 7000  # it learnt ~5 ms per queued push


# ---------------------------------------------------------------------- the scheduler core


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["send", "ack", "tick", "fail"]), st.integers(0, 5),
                          st.integers(0, 3_000_000)), max_size=80))
def test_scheduler_bounds_hold_whatever_happens(ops: list[tuple[str, int, int]]) -> None:
    window, floor, ceiling = 4, 10_000, 2_000_000
    s = DeliveryScheduler(window=window, initial_timeout_us=500_000, floor_us=floor, ceiling_us=ceiling)
    now, seq = 0, 0
    for op, who, dt_us in ops:
        r = f"r{who % 2}"
        if op == "send" and s.credit(r) > 0:
            seq += 1
            deadline = s.sent(r, f"m{seq}", now, first=True)
            assert now + floor <= deadline <= now + ceiling
        elif op == "ack" and s.pending_ids(r):
            s.acked(r, s.pending_ids(r)[:who + 1], now)
        elif op == "fail" and s.pending_ids(r):
            s.failed(r, s.pending_ids(r)[0])
        elif op == "tick":
            now += dt_us
            s.expire(now)
        for name in ("r0", "r1"):
            assert 0 <= s.credit(name) <= window
            assert floor <= s.timeout_us(name) <= ceiling
            assert all(d > now for d in s.in_flight.values())


def test_ack_timer_learns_per_queued_push_and_backs_off() -> None:
    t = AckTimer(initial_us=1_000_000, floor_us=20_000, ceiling_us=60_000_000)
    assert t.timeout_us(10) == 1_000_000  # no sample yet: the configured timeout
    for depth in range(1, 33):  # a window filling from empty: 5 ms per push ahead
        t.sample(depth * 5000, depth)
    assert t.slot_us == pytest.approx(5000)
    assert t.timeout_us(32) >= 2 * 32 * 5000  # the back of a full window waits for all ahead of it
    assert t.timeout_us(1) == 20_000  # the floor
    before = t.timeout_us(32)
    t.timed_out()
    assert t.timeout_us(32) == pytest.approx(2 * before, abs=2)
    t.sample(5000, 1)  # an ack: the backoff is over
    assert t.timeout_us(32) == pytest.approx(before, rel=0.01)
    assert AckTimer(initial_us=50_000, floor_us=1_000_000, ceiling_us=10).floor_us == 50_000


# ---------------------------------------------------------------------- outbox statements


class _CountingTx:
    def __init__(self, tx: Any, calls: list[str]) -> None:
        self._tx, self.calls = tx, calls

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._tx, name)

        async def call(sql: str, *args: Any) -> Any:
            self.calls.append(sql.split()[0])
            return await inner(sql, *args)
        return call


class CountingDb:
    """The database, counting the statements run in its transactions."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.calls: list[str] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_CountingTx]:
        async with self._db.transaction() as tx:
            yield _CountingTx(tx, self.calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def rows(db: Any, ids: Sequence[str]) -> dict[str, tuple[str, int, int]]:
    got = await db.fetch("SELECT message_id, state, attempts, next_attempt_us FROM gw_outbox")
    return {r[0]: (r[1], int(r[2]), int(r[3])) for r in got if r[0] in set(ids)}


async def test_ack_and_claim_are_one_statement_per_batch(world: DevWorld, db: Any) -> None:
    async with manual_gateway(world, db, GatewayConfig(), SimClock()) as gw:
        ids = await submit(world, gw, "bank-a", 60)
        counting = CountingDb(db)
        outbox = Outbox(counting)
        due = (await outbox.due({"bank-a": 100}, now_us=START_US))["bank-a"]
        assert [i.message_id for i in due] == ids
        retries = [(item, START_US + 1000 + k) for k, item in enumerate(due)]
        claimed = await outbox.claim(retries, now_us=START_US, business_time="t")
        assert claimed == ids
        assert counting.calls == ["UPDATE", "INSERT"]  # one UPDATE ... RETURNING, one trace batch
        state = await rows(db, ids)
        assert all(state[mid] == ("ready", 1, START_US + 1000 + k) for k, mid in enumerate(ids))
        # Not due any more (retry time ahead): a second claim at the same instant takes nothing.
        assert await outbox.claim(retries, now_us=START_US, business_time="t") == []

        counting.calls.clear()
        wanted = [ids[5], "no-such-id", ids[3], ids[5], ids[59]]
        assert await outbox.ack("bank-a", wanted, at_us=1, business_time="t") == [ids[5], ids[3], ids[59]]
        assert counting.calls == ["UPDATE"]  # the outbox rows hold what the trace shows of an ack
        assert await outbox.ack("bank-b", ids, at_us=2, business_time="u") == []  # not bank-b's rows
        assert await outbox.ack("bank-a", [ids[3]], at_us=2, business_time="u") == []  # acked twice
        events = await db.fetch("SELECT message_id, step, detail FROM gw_trace WHERE step IN ('pushed', 'delivered')")
        assert Counter(e[1] for e in events) == {"pushed": 60}  # a delivery writes no trace row
        assert {e[2] for e in events if e[1] == "pushed"} == {"attempt 1"}
        last = (await db.fetchrow("SELECT max(id) FROM gw_trace"))[0]
        acked = await db.fetch("SELECT message_id, state, acked_us, acked_time, acked_after FROM gw_outbox "
                               "WHERE acked_after IS NOT NULL")
        assert sorted(acked) == sorted((mid, "acked", 1, "t", last) for mid in (ids[5], ids[3], ids[59]))


async def test_dead_letter_is_traced_only_when_the_row_changed(world: DevWorld, db: Any) -> None:
    """Two workers dead-letter the same row from the same (stale) read of the due rows: one
    trace event. (Before: the deliverer wrote `dead-lettered` whatever `kill` returned.)"""
    config = GatewayConfig(push_attempts_max=1)
    clock = SimClock()
    async with manual_gateway(world, db, config, clock) as gw:
        [mid] = await submit(world, gw, "bank-a", 1)
        other = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(BUSINESS),
                        config=config, delivery_clock=clock)
        for g in (gw, other):
            g.register_pusher("bank-a", recorder([]))
        await round_(gw)  # attempt 1 of 1
        clock.us += 3600 * 1_000_000
        stale = await gw.outbox.due({"bank-a": 10}, now_us=clock.us)

        async def stale_due(limits: Any, *, now_us: int) -> dict[str, list[InboxItem]]:
            return stale
        other.outbox.due = stale_due  # type: ignore[method-assign]
        await round_(gw)
        await round_(other)
        events = await db.fetch("SELECT step FROM gw_trace WHERE message_id = $1", mid)
        assert [e[0] for e in events].count("dead-lettered") == 1
        assert (await gw.outbox.counts()) == {"dead": 1}
        item = stale["bank-a"][0]
        assert not await gw.outbox.kill(item, "again", at_us=1, business_time="t")


async def test_a_dead_letter_may_still_be_acked(world: DevWorld, db: Any) -> None:
    """Decision: an ack of a dead row is accepted (the recipient has the message; a dead letter
    only means no ack came in time), it leaves the dead-letter queue and replay skips it."""
    async with manual_gateway(world, db, GatewayConfig(), SimClock()) as gw:
        [mid, other] = await submit(world, gw, "bank-a", 2)
        items = (await gw.outbox.due({"bank-a": 10}, now_us=START_US))["bank-a"]
        for item in items:
            assert await gw.outbox.kill(item, "no ack after 8 attempts", at_us=1, business_time="t")
        assert (await gw.outbox.dead_page())["total"] == 2
        assert await gw.ack(party(gw, "bank-b"), [mid]) == []  # someone else's dead letter: no
        assert await gw.ack(party(gw, "bank-a"), [mid]) == [mid]
        page = await gw.outbox.dead_page()
        assert (page["total"], [d["id"] for d in page["items"]]) == (1, [other])
        assert await gw.outbox.replay([mid]) == 0  # acked: nothing to replay
        key = await db.fetchrow("SELECT adm_div_code, st_year, vtcode, voucher_no FROM gw_messages WHERE id = $1", mid)
        events = await gw.trace(party(gw, "bank-a"), *key)  # the delivery shown from its outbox row
        assert events is not None
        steps = [e["step"] for e in events if e["message_id"] == mid]
        assert steps[-2:] == ["dead-lettered", "delivered"]


# ---------------------------------------------------------------------- dead letters, paged


async def test_dead_letters_page_with_a_total_and_a_cursor(world: DevWorld, db: Any) -> None:
    async with manual_gateway(world, db, GatewayConfig(), SimClock()) as gw:
        ids = await backlog(db, "bank-a", 25, sender=world.treasury.id, state="dead")
        await backlog(db, "bank-b", 3, sender=world.treasury.id)  # ready rows are not dead letters
        seen: list[str] = []
        cursor, pages = 0, 0
        while True:
            page = await gw.outbox.dead_page(limit=10, after_seq=cursor)
            assert page["total"] == 25
            seen += [d["id"] for d in page["items"]]
            pages += 1
            if page["next"] is None:
                break
            cursor = page["next"]
        assert seen == ids and pages == 3
        assert (await gw.outbox.dead_page(limit=25))["next"] is None  # exactly one full page: no next
        assert len(await gw.outbox.dead()) == 25


def test_dlq_list_cli_pages_and_says_the_total(world: DevWorld, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "gw.db"

    async def setup() -> list[str]:
        db = await open_database(str(path))
        try:
            async with manual_gateway(world, db, GatewayConfig(), SimClock()):
                return await backlog(db, "bank-a", 7, sender=world.treasury.id, state="dead")
        finally:
            await db.close()

    ids = asyncio.run(setup())
    capsys.readouterr()  # the gateway's own log lines
    assert dlq_cli.DLQ_PAGE_MAX == DLQ_PAGE_MAX
    got: list[str] = []
    after: list[str] = []
    while True:
        assert tgw_main(["dlq", "list", "--db", str(path), "--limit", "3", *after, "--format", "json"]) == 0
        page = json.loads(capsys.readouterr().out)
        assert page["total"] == 7
        got += [d["id"] for d in page["items"]]
        if page["next"] is None:
            break
        after = ["--after", str(page["next"])]
    assert got == ids
    assert tgw_main(["dlq", "list", "--db", str(path), "--limit", "5"]) == 0
    captured = capsys.readouterr()
    header, rule, *rows = captured.out.splitlines()  # a table (was: headerless lines)
    assert header.split()[:2] == ["message", "voucher"] and set(rule) <= {"-", " "} and len(rows) == 5
    assert "5 of 7 dead letter(s) shown; next page: --after" in captured.err
    assert tgw_main(["dlq", "list", "--db", str(path), "--limit", str(DLQ_PAGE_MAX + 1)]) == 2  # a usage error
