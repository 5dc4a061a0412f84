"""A refused submission leaves no trace its sender's correction trips on: the same key sent again
with the fault put right is a first submission (accepted), not a `duplicate-conflict`; the
corrected voucher sent again is then `duplicate`. On SQLite and PostgreSQL (fixture `db`)."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_helpers import payment, rebuild, running_gateway, table_count

from runner.world import DevWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


async def test_a_refused_voucher_corrected_under_its_key_is_accepted(world: DevWorld, db: Any) -> None:
    tid = world.treasury.id
    good = payment(world, voucher_no="FIX0001")
    faults = {
        "detail-sum-mismatch": rebuild(good, PayAmt="1.00"),
        "bad-amount": rebuild(good, PayAmt="-" + rebuild_amount(good)),
        "not-authorized": rebuild(good, AdmDivCode="990999"),
    }
    async with running_gateway(world, db) as gw:
        p = gw.registry.get(tid)
        for code, bad in faults.items():
            [r] = await gw.submit(world.envelope([bad], sender=tid), p)
            assert r.status == "rejected" and r.code in (code, "envelope-key-mismatch"), (code, r)
        [ok] = await gw.submit(world.envelope([good], sender=tid), p)
        assert ok.status == "accepted", ok
        [again] = await gw.submit(world.envelope([good], sender=tid), p)
        assert (again.status, again.message_id) == ("duplicate", ok.message_id)
        assert await table_count(db, "gw_messages") == 1


def rebuild_amount(voucher: bytes) -> str:
    from messages.voucher import parse_voucher

    return parse_voucher(voucher).get("PayAmt")
