"""One parse per voucher and hop on the in-process bus (issue 19).

The gateway parses a voucher once, when admission checks it; an in-process recipient whose
session asked for it (`GatewayClient.bus(..., parsed=True)`, the engine's `engine_client`) gets
that parse beside the bytes (`Delivery.body`, `Delivery.doc`) and parses nothing. Every check of
the trust boundary still runs on the sender's bytes; nothing in `messages` keeps a parse.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import FixedClock, payment, voucher_of_delivery

import messages.envelope
import messages.voucher
from client import GatewayClient
from gateway.bus import ParsedHandoff
from gateway.monitoring.monitor import Monitor
from gateway.monitoring.rules import default_catalogue
from gateway.monitoring.store import MonitorStore
from gateway.outbox import InboxItem
from gateway.pipeline import Admitted, admit_envelope, outcome_from_plain, outcome_to_plain
from gateway.service import Gateway, GatewayConfig
from messages.envelope import encode_envelope, parse_envelope
from messages.validate import check_body
from messages.voucher import parse_voucher
from messages.xmlsafe import Limits
from runner.world import DevWorld
from sim.engine import engine_client
from storage.db import open_database

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Counts every hardened parse, by what was parsed (`envelope` or `voucher`)."""
    counts: collections.Counter[str] = collections.Counter()

    def spy(module: Any) -> None:
        real: Callable[..., Any] = module.parse_xml

        def counting(data: bytes, **kwargs: Any) -> Any:
            counts[kwargs.get("what", "?")] += 1
            return real(data, **kwargs)

        monkeypatch.setattr(module, "parse_xml", counting)

    spy(messages.voucher)
    spy(messages.envelope)
    return counts


async def _gateway(world: DevWorld, tmp_path: Path, *, config: GatewayConfig | None = None,
                   monitor: bool = False) -> AsyncIterator[Gateway]:
    db = await open_database(str(tmp_path / "gw.db"))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT), config=config,
                 monitor=Monitor(default_catalogue(), MonitorStore(db)) if monitor else None)
    await gw.start(deliver=False)
    try:
        yield gw
    finally:
        await gw.stop()
        await db.close()


@pytest.fixture
async def gw(world: DevWorld, tmp_path: Path) -> AsyncIterator[Gateway]:
    async for g in _gateway(world, tmp_path):
        yield g


async def _send(gw: Gateway, world: DevWorld, envelope: bytes) -> list[Any]:
    async with GatewayClient.bus(gw, world.treasury.id, pull=True) as treasury:
        return await treasury.send(envelope)


def _payments(world: DevWorld, n: int, prefix: str) -> list[bytes]:
    return [payment(world, voucher_no=f"{prefix}{i:04d}") for i in range(n)]


# ---------------------------------------------------------------------- the hop parses nothing


async def test_a_voucher_is_parsed_once_at_admission_and_not_again_on_the_in_process_hop(
        world: DevWorld, gw: Gateway, parses: collections.Counter[str]) -> None:
    vouchers = _payments(world, 3, "HOP")
    envelope = world.envelope(vouchers, sender=world.treasury.id)
    bank = engine_client(gw, "bank-a")
    async with bank:
        parses.clear()
        results = await _send(gw, world, envelope)
        assert [r.status for r in results] == ["accepted"] * 3, results
        assert parses == {"envelope": 1, "voucher": 3}  # the envelope once, each voucher once
        parses.clear()
        items = await bank.receive(timeout_s=0)
        assert parses == {}  # the recipient's side of the hop parsed nothing
    assert [i.key.voucher_no for i in items] == ["HOP0000", "HOP0001", "HOP0002"]
    for item, voucher in zip(items, vouchers, strict=True):
        assert item.doc is not None and item.body is not None
        assert item.doc.data == voucher == voucher_of_delivery(item.envelope)  # the very bytes delivered
        assert item.body.voucher == voucher and item.body.key == item.key
        assert item.doc.get("VoucherNo") == item.key.voucher_no
        delivered = parse_envelope(item.envelope).bodies[0]  # what parsing the bytes would have given
        assert (item.body.flag, item.body.return_reason) == (delivered.flag, delivered.return_reason)
        assert [(s.no, s.sn, s.value) for s in item.body.signatures] == [
            (s.no, s.sn, s.value) for s in delivered.signatures]
    assert len(gw.handoff) == 0 and gw.handoff.taken == 3


async def test_a_session_that_did_not_ask_gets_bytes_and_the_gateway_keeps_nothing(
        world: DevWorld, gw: Gateway) -> None:
    async with GatewayClient.bus(gw, "bank-a", pull=True) as bank:
        [res] = await _send(gw, world, world.envelope(_payments(world, 1, "BYT"), sender=world.treasury.id))
        assert res.status == "accepted"
        assert len(gw.handoff) == 0  # no session of bank-a takes parses: none kept
        [item] = await bank.receive(timeout_s=0)
    assert item.doc is None and item.body is None
    assert voucher_of_delivery(item.envelope).find(b"BYT0000") > 0


async def test_a_delivery_read_again_comes_as_bytes_for_its_recipient_to_parse(world: DevWorld, gw: Gateway) -> None:
    bank = engine_client(gw, "bank-a")
    async with bank:
        await _send(gw, world, world.envelope(_payments(world, 1, "AGN"), sender=world.treasury.id))
        [first] = await bank.receive(timeout_s=0)
        assert first.doc is not None
        await bank.__aexit__(None, None, None)  # not acked: a new connection reads it again
        await bank.__aenter__()
        [again] = await bank.receive(timeout_s=0)
    assert again.message_id == first.message_id
    assert again.doc is None and again.body is None  # handed over once; a re-read is bytes


# ---------------------------------------------------------------------- every check still runs


async def test_a_tampered_voucher_sent_in_process_is_still_refused_and_nothing_is_handed_over(
        world: DevWorld, gw: Gateway, parses: collections.Counter[str]) -> None:
    voucher = payment(world, voucher_no="TMP0001", amount_fen=100_00)
    sealed = world.sealed(voucher, sender=world.treasury.id)
    payee = b"<PayeeAcctNo>"
    at = sealed.voucher.index(payee) + len(payee)
    digit = sealed.voucher[at:at + 1]
    tampered = sealed.voucher[:at] + (b"1" if digit != b"1" else b"2") + sealed.voucher[at + 1:]  # another payee
    assert tampered != sealed.voucher
    forged = dataclasses.replace(sealed, voucher=tampered)  # the treasury's seals over other bytes
    bank = engine_client(gw, "bank-a")
    async with bank:
        parses.clear()
        [res] = await _send(gw, world, encode_envelope([forged]))
        assert (res.status, res.code) == ("rejected", "bad-signature"), res
        assert parses["voucher"] == 1  # checked as over any transport
        assert len(gw.handoff) == 0 and gw.handoff.offered == 0
        assert await bank.receive(timeout_s=0) == []


async def test_an_xsd_invalid_voucher_sent_in_process_is_still_refused(world: DevWorld, gw: Gateway) -> None:
    voucher = payment(world, voucher_no="XSD0001").replace(b"<VtCode>5201</VtCode>", b"<VtCode>5201</VtCode><Bogus/>")
    [res] = await _send(gw, world, world.envelope([voucher], sender=world.treasury.id))
    assert res.status == "rejected" and res.code == "xsd-invalid", res
    assert gw.handoff.offered == 0


# ---------------------------------------------------------------------- bounded, dropped with the session


async def test_the_handoff_is_bounded_and_drops_the_oldest_first(world: DevWorld, gw: Gateway) -> None:
    gw.handoff.max_items = 2
    bank = engine_client(gw, "bank-a")
    async with bank:
        await _send(gw, world, world.envelope(_payments(world, 3, "BND"), sender=world.treasury.id))
        assert len(gw.handoff) == 2
        items = await bank.receive(timeout_s=0)
    assert [i.doc is not None for i in items] == [False, True, True]


async def test_the_last_session_closing_drops_the_parses_waiting_for_it(world: DevWorld, gw: Gateway) -> None:
    first, second = engine_client(gw, "bank-a"), engine_client(gw, "bank-a")
    await first.__aenter__()
    await second.__aenter__()
    await _send(gw, world, world.envelope(_payments(world, 2, "CLS"), sender=world.treasury.id))
    assert len(gw.handoff) == 2
    await first.__aexit__(None, None, None)
    assert len(gw.handoff) == 2  # another session of bank-a still takes them
    await first.__aexit__(None, None, None)  # closing twice counts once
    assert len(gw.handoff) == 2
    await second.__aexit__(None, None, None)
    assert len(gw.handoff) == 0 and not gw.handoff.wants("bank-a")


def test_a_parse_offered_for_one_recipient_is_not_taken_by_another() -> None:
    handoff = ParsedHandoff()
    handoff.opened("bank-a")
    doc = parse_voucher(_bare_payment())
    body = parse_envelope(encode_envelope([_body(doc.data)])).bodies[0]
    handoff.offer("m1", "bank-a", body, doc)
    handoff.offer("m2", "bank-b", body, doc)  # bank-b takes no parses: not kept
    assert len(handoff) == 1
    stranger = handoff.take(InboxItem(1, "m1", body.key, "t", "bank-b", b"x"))
    assert stranger.doc is None  # and it left the hand-off: never given to anyone else either
    assert len(handoff) == 0


async def test_a_gateway_with_other_limits_hands_nothing_over(world: DevWorld, tmp_path: Path) -> None:
    async for gw in _gateway(world, tmp_path, config=GatewayConfig(limits=Limits(depth_max=40))):
        bank = engine_client(gw, "bank-a")
        async with bank:
            [res] = await _send(gw, world, world.envelope(_payments(world, 1, "LIM"), sender=world.treasury.id))
            assert res.status == "accepted"
            [item] = await bank.receive(timeout_s=0)
        assert item.doc is None  # a recipient's parse uses the default limits: not what this one checked


# ---------------------------------------------------------------------- admission's parse, used after it


async def test_monitoring_screens_the_admission_parse_without_parsing_again(
        world: DevWorld, tmp_path: Path, parses: collections.Counter[str]) -> None:
    async for gw in _gateway(world, tmp_path, monitor=True):
        envelope = world.envelope(_payments(world, 1, "MON"), sender=world.treasury.id)
        parses.clear()
        [res] = await _send(gw, world, envelope)
        assert res.status == "accepted", res
        assert parses == {"envelope": 1, "voucher": 1}


def test_admission_keeps_its_parse_and_a_workers_answer_carries_none(world: DevWorld) -> None:
    voucher = payment(world, voucher_no="ADM0001")
    envelope = world.envelope([voucher], sender=world.treasury.id)
    sender = world.registry().get(world.treasury.id)
    assert sender is not None
    [admitted] = admit_envelope(envelope, sender, world.registry(), world.certs(), at=dt.datetime.now(dt.UTC))
    assert isinstance(admitted, Admitted)
    assert admitted.doc is not None and admitted.doc.data == voucher  # the parse the checks made
    plain = outcome_to_plain(admitted)  # what an admission worker sends back
    back = outcome_from_plain(pickle.loads(pickle.dumps(plain)))
    assert back == admitted and isinstance(back, Admitted) and back.doc is None  # no tree crosses a process


def test_messages_keeps_no_parse_every_call_parses() -> None:
    data = _bare_payment()
    checked = check_body(_body(data))
    assert parse_voucher(data) is not checked.doc
    assert parse_voucher(data) is not parse_voucher(data)
    assert not hasattr(messages.voucher, "parse_handover") and not hasattr(messages.voucher, "hand_over")


def _bare_payment() -> bytes:
    from messages.factory import payment_voucher

    return payment_voucher(voucher_no="BARE0001", vou_date=dt.date(2026, 3, 16), pay_bank_code="999100000001",
                           amount_fen=123_45)


def _body(data: bytes) -> Any:
    from messages.envelope import VoucherBody

    doc = parse_voucher(data)
    return VoucherBody(doc.get("AdmDivCode"), doc.get("StYear"), doc.get("VtCode"), doc.get("VoucherNo"), 0, data)
