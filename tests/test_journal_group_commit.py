"""Group commit: concurrent submissions share one transaction, and each is answered only after
the commit that holds it returned; a commit that fails fails exactly the submissions in it.

Driven by a database whose commits wait at a gate the test opens (or fails): no wall time, no
sleeps, only the event loop's own scheduling. What is acknowledged is then read back from the
database: nothing acknowledged is missing, nothing refused is there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.journal import ClaimLost, Journal, JournalResult
from gateway.pipeline import Admitted, admit_envelope
from messages.errors import StateError
from runner.world import DevWorld
from storage.db import SqliteDatabase, Tx

VOUCHERS = 24


class CommitFailed(Exception):
    """What a failed gate raises inside the transaction (the database then rolls it back)."""


class GatedDatabase(SqliteDatabase):
    """SQLite in memory whose every write transaction, once its statements ran, waits for the
    test to `release()` it (the COMMIT then happens) or `fail()` it (it rolls back and raises)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.gates: list[asyncio.Future[bool]] = []  # one per transaction, in order; True: commit
        self.committed = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with super().transaction() as tx:
            yield tx
            gate: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self.gates.append(gate)
            if not await gate:
                raise CommitFailed("the test failed this commit")
        self.committed += 1

    def waiting(self) -> int:
        return sum(1 for g in self.gates if not g.done())

    def release(self) -> None:
        self._open().set_result(True)

    def fail(self) -> None:
        self._open().set_result(False)

    def _open(self) -> asyncio.Future[bool]:
        [gate] = [g for g in self.gates if not g.done()]
        return gate


async def until(condition: Callable[[], bool], *, steps: int = 10_000, patience_s: float = 60.0) -> None:
    """Let the event loop run until `condition` holds: yielding first; then, since a COMMIT runs on
    the database's committer thread (which a loaded machine may not schedule within any number of
    yields), waiting for it in small sleeps, up to a bound that only a hang reaches."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    for _ in range(int(patience_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


async def stop(journal: Journal, db: GatedDatabase) -> None:
    """Stop the journal, committing whatever still waits at a gate (a failed test must not hang)."""
    stopping = asyncio.ensure_future(journal.stop())
    while not stopping.done():
        if db.waiting():
            db.release()
        await asyncio.sleep(0)
    await stopping
    await db.close()


@asynccontextmanager
async def gated_journal() -> AsyncIterator[tuple[GatedDatabase, Journal]]:
    """A started journal on a gated database; stopped afterwards, even when the test failed."""
    db = GatedDatabase()
    journal = Journal(db)
    await journal.start()
    try:
        yield db, journal
    finally:
        await stop(journal, db)


async def keep_releasing(db: GatedDatabase) -> None:
    while True:
        if db.waiting():
            db.release()
        await asyncio.sleep(0)


async def settle() -> None:
    """Give every runnable task a chance to run (what would happen next, without a clock)."""
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def admitted(world: DevWorld) -> list[Admitted]:
    """Distinct one-voucher payments from the treasury, through the real pipeline."""
    registry, certs = world.registry(), world.certs()
    treasury = registry.get(world.treasury.id)
    assert treasury is not None
    out = []
    for _ in range(VOUCHERS):
        env = world.envelope([payment(world)], sender=world.treasury.id)
        [item] = admit_envelope(env, treasury, registry, certs, at=dt.datetime.now(dt.UTC))
        assert isinstance(item, Admitted), item
        out.append(item)
    return out


async def journaled_ids(db: GatedDatabase) -> set[str]:
    return {r[0] for r in await db.fetch("SELECT id FROM gw_messages")}


def record(journal: Journal, item: Admitted) -> asyncio.Task[list[JournalResult]]:
    return asyncio.ensure_future(journal.record([item], business_time="2026-03-16T10:00:00+08:00"))


async def test_concurrent_submissions_share_one_commit_and_wait_for_it(admitted: list[Admitted]) -> None:
    async with gated_journal() as (db, journal):
        first = record(journal, admitted[0])
        await until(lambda: db.waiting() == 1)
        rest = [record(journal, item) for item in admitted[1:9]]
        await settle()
        assert not first.done() and not any(t.done() for t in rest), "answered before its commit returned"
        db.release()
        [r0] = await first
        assert r0.status == "accepted" and r0.message_id in await journaled_ids(db)
        # Everything that queued meanwhile goes into the next transaction, all of it at once.
        await until(lambda: db.waiting() == 1)
        await settle()
        assert len(db.gates) == 2, "the queued submissions were committed one by one"
        assert not any(t.done() for t in rest), "answered before its commit returned"
        db.release()
        await until(lambda: all(t.done() for t in rest) or db.waiting() > 0)
        assert db.waiting() == 0 and all(t.done() for t in rest), "one commit did not answer them all"
        results = [(await t)[0] for t in rest]
        assert [r.status for r in results] == ["accepted"] * len(rest)
        assert {r.message_id for r in results} | {r0.message_id} == await journaled_ids(db)
        assert db.committed == 2 and journal.commits == 2


async def test_a_lost_claim_writes_nothing_of_its_submission_and_only_of_it(admitted: list[Admitted]) -> None:
    """A claim (a hold released once) that changes no row keeps its submission out of the shared
    commit: its voucher and extra rows are not written, it alone raises ClaimLost."""
    async with gated_journal() as (db, journal):
        at = "2026-03-16T10:00:00+08:00"
        first = record(journal, admitted[10])
        await until(lambda: db.waiting() == 1)
        note = ("INSERT INTO gw_trace (adm_div_code, st_year, vtcode, voucher_no, flag, message_id, step, participant, "
                "wall_us, business_time, detail) VALUES ($1,$2,$3,$4,$5,NULL,'claim-test',$6,0,$7,$8)")
        touch = "UPDATE gw_outbox SET state = state WHERE message_id = $1"  # changes a row where that message is
        won = asyncio.ensure_future(journal.record(
            [admitted[11]], business_time=at, extra=[(note, [(*admitted[11].key[:5], "x", at, "won")])],
            claim=(touch, (await _first_id(db, first),))))
        lost = asyncio.ensure_future(journal.record(
            [admitted[12]], business_time=at, extra=[(note, [(*admitted[12].key[:5], "x", at, "lost")])],
            claim=(touch, ("no-such-message",))))
        plain = record(journal, admitted[13])
        await until(lambda: db.waiting() == 1)
        await settle()
        db.release()
        [r_won], [r_plain] = await won, await plain
        with pytest.raises(ClaimLost):
            await lost
        assert (r_won.status, r_plain.status) == ("accepted", "accepted")
        ids = await journaled_ids(db)
        assert {r_won.message_id, r_plain.message_id} <= ids and len(ids) == 3  # the lost one's voucher is not there
        notes = [r[0] for r in await db.fetch("SELECT detail FROM gw_trace WHERE step = 'claim-test'")]
        assert notes == ["won"]


async def _first_id(db: GatedDatabase, first: asyncio.Task[list[JournalResult]]) -> str:
    if db.waiting():
        db.release()
    [r] = await first
    assert r.message_id is not None
    return r.message_id


async def test_an_ack_rides_the_next_group_commit_and_waits_for_it(admitted: list[Admitted]) -> None:
    """Outbox acks share the journal's commit (`Journal.in_commit`): no transaction of their own,
    and answered only once that commit returned; a failed commit fails the ack with its vouchers."""
    from gateway.outbox import Outbox

    async with gated_journal() as (db, journal):
        outbox = Outbox(db, in_commit=lambda work, weight: journal.in_commit(work, weight=weight))
        first = record(journal, admitted[0])
        await until(lambda: db.waiting() == 1)
        db.release()
        [r0] = await first
        assert r0.message_id is not None and r0.recipient is not None
        blocker = record(journal, admitted[1])
        await until(lambda: db.waiting() == 1)
        ack = asyncio.ensure_future(outbox.ack(r0.recipient, [r0.message_id], at_us=1, business_time="t"))
        beside = record(journal, admitted[2])
        await settle()
        db.release()
        await blocker
        await until(lambda: db.waiting() == 1)
        await settle()
        assert not ack.done() and not beside.done(), "answered before its commit returned"
        db.fail()  # the ack fails with the vouchers of its commit: nothing of it was written
        with pytest.raises(StateError, match="journal commit failed"):
            await ack
        with pytest.raises(StateError):
            await beside
        assert await db.fetch("SELECT state FROM gw_outbox WHERE message_id = $1", r0.message_id) == [("ready",)]
        ack = asyncio.ensure_future(outbox.ack(r0.recipient, [r0.message_id], at_us=1, business_time="t"))
        beside = record(journal, admitted[2])
        await until(lambda: db.waiting() == 1)
        await settle()
        db.release()
        assert await ack == [r0.message_id]
        assert (await beside)[0].status == "accepted"
        assert len(db.gates) == 4, "the ack took a transaction of its own"
        assert await db.fetch("SELECT state FROM gw_outbox WHERE message_id = $1", r0.message_id) == [("acked",)]


async def test_a_failed_commit_fails_exactly_its_group(admitted: list[Admitted]) -> None:
    async with gated_journal() as (db, journal):
        first = record(journal, admitted[0])
        await until(lambda: db.waiting() == 1)
        group = [record(journal, item) for item in admitted[1:6]]
        await settle()
        db.release()
        [r0] = await first
        await until(lambda: db.waiting() == 1)
        later = [record(journal, item) for item in admitted[6:9]]  # queue behind the failing group
        await settle()
        db.fail()
        await until(lambda: all(t.done() for t in group))  # one failed commit answers them all
        for task in group:
            with pytest.raises(StateError, match="journal commit failed"):
                await task
        await until(lambda: db.waiting() == 1)
        db.release()
        later_results = [(await t)[0] for t in later]
        # Acknowledged: the first and the later group, all in the database; the failed group: none.
        acked = {r0.message_id} | {r.message_id for r in later_results}
        assert [r.status for r in later_results] == ["accepted"] * 3
        assert await journaled_ids(db) == acked
        keys = {tuple(r[:5]) for r in await db.fetch(
            "SELECT adm_div_code, st_year, vtcode, voucher_no, flag FROM gw_messages")}
        assert not keys & {tuple(i.key) for i in admitted[1:6]}
        # The refused ones were not journaled: sent again, they are accepted as new.
        again = record(journal, admitted[1])
        await until(lambda: db.waiting() == 1)
        db.release()
        [r] = await again
        assert r.status == "accepted" and r.message_id not in acked


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=5))
def test_acknowledged_exactly_when_committed(admitted: list[Admitted], groups: list[tuple[int, bool]]) -> None:
    """Any sequence of groups, each committed or failed: a submission is acknowledged if and only
    if the commit of its group succeeded, and the database holds exactly the acknowledged ones."""

    async def run() -> None:
        items = iter(admitted)
        outcomes: list[tuple[bool, asyncio.Task[list[JournalResult]]]] = []
        async with gated_journal() as (db, journal):
            # A first submission holds the writer at its gate, so each group queues whole behind it.
            holder = record(journal, next(items))
            await until(lambda: db.waiting() == 1)
            open_ok = True  # what becomes of the transaction now waiting at its gate
            for size, ok in groups:
                tasks = [record(journal, next(items)) for _ in range(size)]
                await settle()
                db.release() if open_ok else db.fail()
                await until(lambda: db.waiting() == 1)  # this group's own transaction
                await settle()
                assert not any(t.done() for t in tasks), "answered before its commit returned"
                outcomes.extend((ok, t) for t in tasks)
                open_ok = ok
            db.release() if open_ok else db.fail()
            [first] = await holder
            pending = [t for _, t in outcomes]
            await until(lambda: all(t.done() for t in pending) or db.waiting() > 0)
            assert db.waiting() == 0, "a group was split over several commits"
            acked: set[str] = set()
            for ok, task in outcomes:
                if ok:
                    [r] = await task
                    assert r.status == "accepted"
                    assert r.message_id is not None
                    acked.add(r.message_id)
                else:
                    with pytest.raises(StateError, match="journal commit failed"):
                        await task
            assert await journaled_ids(db) == acked | {first.message_id}
            assert len(db.gates) == len(groups) + 1  # one transaction per group, whatever its size

    asyncio.run(run())


async def test_gateway_answers_concurrent_posts_after_their_shared_commit(world: DevWorld) -> None:
    """Through `Gateway.submit`, what every transport calls: concurrent envelopes are answered
    only once the one commit holding all of them returned."""
    db = GatedDatabase()
    releasing: asyncio.Future[None] | None = None
    async with running_gateway(world, db) as gw:
        try:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            envelopes = [world.envelope([payment(world)], sender=world.treasury.id) for _ in range(6)]
            submit: Callable[[bytes], Awaitable[Any]] = lambda e: gw.submit(e, treasury)  # noqa: E731
            first = asyncio.ensure_future(submit(envelopes[0]))
            await until(lambda: db.waiting() == 1)
            rest = [asyncio.ensure_future(submit(e)) for e in envelopes[1:]]
            await settle()  # each is admitted (inline, on the loop) and queued for the writer
            db.release()
            await first
            await until(lambda: db.waiting() == 1)
            await settle()
            assert not any(t.done() for t in rest)
            db.release()
            await until(lambda: all(t.done() for t in rest) or db.waiting() > 0)
            assert db.waiting() == 0, "one commit did not answer them all"
            answers = [(await t)[0] for t in rest]
            assert [a.status for a in answers] == ["accepted"] * len(rest)
            assert {a.message_id for a in answers} <= await journaled_ids(db)
            assert len(db.gates) == 2
        finally:  # commit whatever still waits, so that stopping the gateway cannot hang
            releasing = asyncio.ensure_future(keep_releasing(db))
    if releasing is not None:
        releasing.cancel()
    await db.close()



async def test_a_commit_marks_each_recipient_it_gave_rows_once(admitted: list[Admitted]) -> None:
    """`mark(recipient)` changes once per commit that gave the recipient outbox rows, however many
    vouchers of the batch went to it; a duplicate, a lost claim's voucher and an ack-only commit
    change no mark, and an ack-only commit counts as no commit for readers."""
    async with gated_journal() as (db, journal):
        at = "2026-03-16T10:00:00+08:00"
        recipients = {item.recipient for item in admitted[14:20]}
        assert None not in recipients
        before = {r: journal.mark(r) for r in recipients if r is not None}
        first = record(journal, admitted[14])
        await until(lambda: db.waiting() == 1)
        batch = [record(journal, item) for item in admitted[15:18]]
        touch = "UPDATE gw_outbox SET state = state WHERE message_id = $1"
        lost = asyncio.ensure_future(journal.record([admitted[18]], business_time=at,
                                                    claim=(touch, ("no-such-message",))))
        await settle()
        db.release()
        await first
        await until(lambda: db.waiting() == 1)
        db.release()
        for t in batch:
            await t
        with pytest.raises(ClaimLost):
            await lost
        after = {r: journal.mark(r) for r in before}
        for r in before:
            gave = sum(1 for item in admitted[14:18] if item.recipient == r)
            commits_giving = (admitted[14].recipient == r) + any(i.recipient == r for i in admitted[15:18])
            assert after[r][1] - before[r][1] == commits_giving, (r, gave)
        assert journal.commits == 2
        # The same bytes again: a duplicate gives nobody rows.
        again = record(journal, admitted[14])
        await until(lambda: db.waiting() == 1)
        db.release()
        [dup] = await again
        assert dup.status == "duplicate"
        assert {r: journal.mark(r) for r in before} == after and journal.commits == 3

        async def nothing(tx: Tx) -> int:
            return 1

        acked = asyncio.ensure_future(journal.in_commit(nothing))
        await until(lambda: db.waiting() == 1)
        db.release()
        assert await acked == 1
        assert journal.commits == 3, "an ack-only commit woke the readers"
