"""Admission in worker processes decides exactly as admission on the event loop."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from gateway_helpers import payment, running_gateway
from hypothesis import given
from hypothesis import strategies as st

from gateway.admission import InlineAdmission, PoolAdmission
from gateway.pipeline import Admitted, Refused
from gateway.service import GatewayConfig
from gateway.service_types import WORKERS_MAX
from messages.envelope import encode_envelope
from messages.xmlsafe import DEFAULT_LIMITS
from runner.world import DevWorld
from storage.db import open_database


def _mixed_envelope(world: DevWorld) -> bytes:
    good = world.sealed(payment(world), sender=world.treasury.id)
    signed = world.sealed(payment(world), sender=world.treasury.id)
    # Same length, still valid XML and still adding up: only the signature can notice.
    tampered = replace(signed, voucher=signed.voucher.replace("测试供应商".encode(), "测试供货商".encode(), 1))
    unsigned = replace(world.sealed(payment(world), sender=world.treasury.id), signatures=())
    return encode_envelope([good, tampered, unsigned])


async def test_pool_and_inline_admission_agree(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path)
    data = _mixed_envelope(world)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    at = dt.datetime.now(dt.UTC)
    inline = await InlineAdmission(world.registry(), world.certs(), DEFAULT_LIMITS).admit(data, sender, at=at)
    pool = PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=1)
    try:
        pooled = await pool.admit(data, sender, at=at)
    finally:
        pool.close()
    assert [type(o) for o in pooled] == [Admitted, Refused, Refused]
    assert pooled == inline  # plain data: equal field by field, bytes included
    assert isinstance(pooled[1], Refused) and pooled[1].code == "bad-signature"
    assert isinstance(pooled[2], Refused) and pooled[2].code == "missing-signature"


async def test_gateway_with_admission_workers_journals_once(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path)
    db = await open_database(str(tmp_path / "gw.db"))
    envelope = world.envelope([payment(world) for _ in range(5)], sender=world.treasury.id)
    async with running_gateway(world, db, config=GatewayConfig(admission_workers=1)) as gw:
        sender = gw.registry.get(world.treasury.id)
        assert sender is not None
        first = await gw.submit(envelope, sender)
        again = await gw.submit(envelope, sender)
        assert [r.status for r in first] == ["accepted"] * 5
        assert [r.status for r in again] == ["duplicate"] * 5
        assert [r.message_id for r in again] == [r.message_id for r in first]
        rows = await db.fetch("SELECT COUNT(*) FROM gw_messages")
        assert rows[0][0] == 5
    await db.close()


async def test_pool_runs_no_threads_in_the_gateway_and_batches_what_waits(tmp_path: Path) -> None:
    """The loop itself feeds the workers: no feeder/management threads whose every hand-off waits
    for the GIL (what made `--workers` slower than inline), and envelopes that arrive while the
    worker is busy travel together in one hand-off instead of one each."""
    import asyncio
    import threading

    world = DevWorld.create(tmp_path)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    envelopes = [world.envelope([payment(world)], sender=world.treasury.id) for _ in range(20)]
    at = dt.datetime.now(dt.UTC)
    threads_before = set(threading.enumerate())
    pool = PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=1)
    try:
        await pool.started()
        outcomes = await asyncio.gather(*(pool.admit(e, sender, at=at) for e in envelopes))
        assert set(threading.enumerate()) == threads_before
    finally:
        pool.close()
    assert all(len(o) == 1 and isinstance(o[0], Admitted) for o in outcomes)
    # The first goes alone to the idle worker; the 19 that queued meanwhile go in one batch.
    assert pool.handoffs == 2


async def test_pool_replaces_a_worker_that_dies(tmp_path: Path) -> None:
    """A worker killed (OOM killer, a crash in a C library) is replaced: later envelopes are
    admitted as before instead of every one failing with a broken pool."""
    import asyncio
    import os
    import signal

    world = DevWorld.create(tmp_path)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    at = dt.datetime.now(dt.UTC)
    pool = PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=1)
    try:
        await pool.started()
        [dead] = pool.worker_pids()
        os.kill(dead, signal.SIGKILL)
        for _ in range(200):  # the loop notices the closed socket and spawns another
            if pool.worker_pids() and pool.worker_pids() != [dead]:
                break
            await asyncio.sleep(0.05)
        assert pool.worker_pids() and pool.worker_pids() != [dead]
        [outcome] = await pool.admit(world.envelope([payment(world)], sender=world.treasury.id), sender, at=at)
    finally:
        pool.close()
    assert isinstance(outcome, Admitted)


def test_outcomes_travel_as_plain_tuples_and_come_back_equal(tmp_path: Path) -> None:
    """What a worker sends back is tuples of plain values (no dataclass, no parsed tree), and the
    gateway rebuilds outcomes equal to the ones the pipeline made, refusals and signatures included."""
    import pickle

    from gateway.pipeline import admit_envelope, outcome_from_plain, outcome_to_plain

    world = DevWorld.create(tmp_path)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    outcomes = admit_envelope(_mixed_envelope(world), sender, world.registry(), world.certs(), at=dt.datetime.now(dt.UTC))
    outcomes.append(Refused(None, outcomes[1].issues if isinstance(outcomes[1], Refused) else ()))
    assert isinstance(outcomes[0], Admitted) and outcomes[0].doc is not None  # in-process: the parsed voucher too

    def plain_only(value: object) -> bool:
        if isinstance(value, tuple):
            return all(plain_only(v) for v in value)
        return value is None or isinstance(value, str | bytes | int)

    plain = [outcome_to_plain(o) for o in outcomes]
    assert all(plain_only(p) for p in plain)
    back = [outcome_from_plain(p) for p in pickle.loads(pickle.dumps(plain))]
    assert back == outcomes
    assert [type(o) for o in back] == [Admitted, Refused, Refused, Refused]
    assert isinstance(back[0], Admitted) and back[0].doc is None  # the tree stays where it was parsed
    assert back[0].body.signatures == outcomes[0].body.signatures
    assert [s.line for s in back[0].body.signatures] == [s.line for s in outcomes[0].body.signatures]


def test_a_one_voucher_envelope_s_payload_does_not_travel_back(tmp_path: Path) -> None:
    """A payload that is the envelope itself goes back as None and is put back from the
    gateway's own bytes: the rebuilt outcome is equal, its payload the very bytes sent."""
    import pickle

    from gateway.pipeline import admit_envelope, outcome_from_plain, outcome_to_plain

    world = DevWorld.create(tmp_path)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    one = world.envelope([payment(world)], sender=world.treasury.id)
    [admitted] = admit_envelope(one, sender, world.registry(), world.certs(), at=dt.datetime.now(dt.UTC))
    assert isinstance(admitted, Admitted) and admitted.payload is one
    plain = outcome_to_plain(admitted, within=one)
    assert plain[5] is None and len(pickle.dumps(plain)) < len(pickle.dumps(outcome_to_plain(admitted))) - len(one)
    back = outcome_from_plain(pickle.loads(pickle.dumps(plain)), within=one)
    assert back == admitted and back.payload is one  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="within"):
        outcome_from_plain(plain)
    # a payload cut out of a larger envelope is not that envelope: it travels
    many = _mixed_envelope(world)
    first = admit_envelope(many, sender, world.registry(), world.certs(), at=dt.datetime.now(dt.UTC))[0]
    assert isinstance(first, Admitted)
    assert outcome_to_plain(first, within=many)[5] == first.payload != many


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_the_admission_time_reaches_a_worker_exactly(at: dt.datetime) -> None:
    from gateway.admission import _EPOCH, _at_plain

    plain = _at_plain(at)
    assert type(plain) is int
    back = _EPOCH + dt.timedelta(microseconds=plain)
    assert back == at and back.tzinfo is dt.UTC and back.isoformat() == at.isoformat()


def test_an_admission_time_not_in_utc_goes_as_it_is() -> None:
    from gateway.admission import _at_plain

    beijing = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert _at_plain(beijing) is beijing


async def test_a_pool_refuses_a_worker_count_outside_its_bound_before_starting_any(tmp_path: Path) -> None:
    # The library's own bound, whoever asks (the CLI and YAML check the same WORKERS_MAX first):
    # 100,000 would fork until killed.

    world = DevWorld.create(tmp_path / "world")
    for workers in (0, WORKERS_MAX + 1, 100_000):
        with pytest.raises(ValueError, match=f"1 to {WORKERS_MAX} workers"):
            PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=workers)


async def test_a_full_pool_makes_submitters_wait_then_refuses_and_loses_nothing_it_took(tmp_path: Path) -> None:
    """The pool's own bound, by counts: with its worker busy (taken off the idle list) it holds
    `pending_max` envelopes, `waiting_max` submitters more wait for a place, and one more is refused
    at once (StateError: a coded 503 unavailable); once the worker is free every envelope it took or
    let wait is admitted, none lost, and the bound is never exceeded."""
    import asyncio

    from messages.errors import StateError

    world = DevWorld.create(tmp_path)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    at = dt.datetime.now(dt.UTC)
    envelopes = [world.envelope([payment(world)], sender=world.treasury.id) for _ in range(6)]
    pool = PoolAdmission(world.registry(), world.certs(), DEFAULT_LIMITS, workers=1, pending_max=2, waiting_max=3)
    try:
        await pool.started()
        busy, pool._idle[:] = list(pool._idle), []  # the worker is busy: nothing leaves the queue
        tasks = [asyncio.ensure_future(pool.admit(e, sender, at=at)) for e in envelopes[:5]]
        for _ in range(5):
            await asyncio.sleep(0)
        assert (len(pool._pending), pool.waiting, pool.refused_full) == (2, 3, 0)
        refused = asyncio.ensure_future(pool.admit(envelopes[5], sender, at=at))
        await asyncio.sleep(0)  # refused at once: it never waits
        assert refused.done() and isinstance(refused.exception(), StateError), "the sixth waited"
        assert "admission is full" in str(refused.exception())
        assert (len(pool._pending), pool.waiting, pool.refused_full) == (2, 3, 1)
        pool._idle.extend(busy)
        pool._pump()
        outcomes = await asyncio.gather(*tasks)
        assert (len(pool._pending), pool.waiting) == (0, 0)
        [late] = await pool.admit(envelopes[5], sender, at=at)  # room again: the refused one, sent again, goes
    finally:
        pool.close()
    assert all(len(o) == 1 and isinstance(o[0], Admitted) for o in outcomes) and isinstance(late, Admitted)
    assert len({o[0].key for o in outcomes} | {late.key}) == 6
