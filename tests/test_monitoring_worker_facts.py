"""An admission worker hands back what monitoring reads of a voucher (`PaymentFacts.plain_of`), so
the gateway's monitor screens a worker's voucher without parsing it again on the event loop.
The oracle is `PaymentFacts.from_doc` on the parsed voucher, as the monitor did before: the same
facts for every tree, catalogue and hand-over; and a gateway with workers answers, decides and
audits exactly as an inline one, parsing nothing on its loop."""

from __future__ import annotations

import datetime as dt
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_database
from gateway_helpers import FixedClock, count_monitor_parses, payment, rebuild
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from test_monitoring_line_needs import LIST, PREFIXES, _tree, catalogues

from gateway.monitoring.engine import LineNeeds, PaymentFacts
from gateway.monitoring.monitor import Monitor
from gateway.monitoring.rules import Catalogue, default_catalogue
from gateway.monitoring.store import MonitorStore
from gateway.pipeline import Admitted, admit_envelope, outcome_from_plain, outcome_to_plain
from gateway.service import Gateway
from gateway.service_types import GatewayConfig
from messages.envelope import VoucherKey
from messages.factory import payment_voucher
from messages.voucher import VoucherDoc, parse_voucher
from runner.world import DevWorld

AT = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
YUAN = 100


def _plain_only(value: object) -> bool:
    if isinstance(value, tuple):
        return type(value) is tuple and all(_plain_only(v) for v in value)
    return value is None or isinstance(value, str | bytes | int)


def _same_facts(doc: VoucherDoc, cat: Catalogue) -> None:
    plain = PaymentFacts.plain_of(doc)
    assert plain is not None and _plain_only(plain)
    plain = pickle.loads(pickle.dumps(plain))  # as it crosses from the worker
    for needs in (None, LineNeeds.of(cat)):
        for shared in (False, True):
            want = PaymentFacts.from_doc("k", doc, at=AT, business_day=True, shared=shared, needs=needs)
            got = PaymentFacts.from_plain("k", plain, at=AT, business_day=True, shared=shared, needs=needs)
            assert got == want
            assert [type(x) for x in got.lines] == [type(x) for x in want.lines]


@settings(max_examples=400)
@given(catalogues(), st.sampled_from(["5201", "8202", ""]), st.one_of(st.none(), st.sampled_from(PREFIXES)),
       st.lists(LIST, max_size=3))
def test_the_plain_facts_are_those_of_the_parsed_tree(cat: Catalogue, vtcode: str, head_subject: str | None,
                                                      lists: Any) -> None:
    root = _tree(vtcode, head_subject, lists)  # lines elsewhere, nested and repeated subjects, odd texts
    _same_facts(VoucherDoc(etree.tostring(root), root, "UTF-8"), cat)


@settings(max_examples=40)
@given(catalogues(), st.sampled_from(["5201", "8202"]), st.integers(1, 10**9), st.integers(1, 4),
       st.sampled_from([None, ("2130501", "扶贫"), ("2050203", "初中教育")]), st.sampled_from([None, ("P1", "项目")]))
def test_a_real_voucher_s_plain_facts_are_its_facts(cat: Catalogue, vtcode: str, fen: int, details: int,
                                                    subject: tuple[str, str] | None,
                                                    project: tuple[str, str] | None) -> None:
    data = payment_voucher(voucher_no="R00001", vou_date=AT.date(), pay_bank_code="999100000001", amount_fen=fen,
                           adm_div_code="990100", vtcode=vtcode, details=details, subject=subject, project=project)
    _same_facts(parse_voucher(data), cat)


def test_an_amount_that_is_not_money_sends_no_facts() -> None:
    root = _tree("5201", None, [])
    root.find("PayAmt").text = "12,00"  # type: ignore[union-attr]
    assert PaymentFacts.plain_of(VoucherDoc(etree.tostring(root), root, "UTF-8")) is None


def _gateway(world: DevWorld, db: Any, workers: int) -> Gateway:
    return Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=FixedClock(AT),
                   config=GatewayConfig(admission_workers=workers),
                   monitor=Monitor(default_catalogue(), MonitorStore(db)))


def _vouchers(world: DevWorld) -> list[list[bytes]]:
    """Envelopes of one and of several vouchers: passed, blocked, held, a new payee's large
    payment, poverty-tagged lines, an authorized payment (8202, lines read), a receipt-free mix."""
    return [
        [payment(world, amount_fen=12_345 * YUAN, voucher_no="W0001")],
        [rebuild(payment(world, amount_fen=80_000 * YUAN, voucher_no="W0002"), PaySummaryName="提取现金")],
        [payment(world, amount_fen=6_000_000 * YUAN, voucher_no="W0003")],
        [payment(world, amount_fen=900_000 * YUAN, voucher_no="W0004"),
         payment(world, amount_fen=1_000 * YUAN, voucher_no="W0005", vtcode="8202"),
         rebuild(payment(world, amount_fen=2_000 * YUAN, voucher_no="W0006"), PayeeAcctNo="62220000009")],
    ]


async def _run(world: DevWorld, tmp_path: Path, workers: int) -> tuple[list[Any], list[Any]]:
    async with fresh_database("sqlite", tmp_path, name=f"w{workers}.db") as db:
        gw = _gateway(world, db, workers)
        await gw.start(deliver=False)
        try:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None
            answers = [[(r.voucher, r.status, r.code, [i.message for i in r.issues]) for r in
                        await gw.submit(world.envelope(e, sender=world.treasury.id), treasury)]
                       for e in _vouchers(world)]
            decisions = []
            for no in ("W0001", "W0002", "W0003", "W0004", "W0005", "W0006"):
                vtcode = "8202" if no == "W0005" else "5201"
                key = VoucherKey(world.adm_div_code, "2026", vtcode, no, 0)
                assert gw.monitor is not None
                decisions.append([{k: v for k, v in d.items() if k not in ("id", "at_us", "decided_at_us")}
                                  for d in await gw.monitor.store.decisions(key)])
        finally:
            await gw.stop()
    return _no_ids(answers), _no_ids(decisions)


def _no_ids(value: Any) -> Any:
    """A hold's id is new in every gateway: the rest must be the same."""
    if isinstance(value, str):
        return re.sub(r"\bh[0-9a-f]{16,}\b", "h<id>", value)
    if isinstance(value, dict):
        return {k: _no_ids(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_no_ids(v) for v in value)
    return value


async def test_a_gateway_with_workers_screens_without_parsing_and_decides_as_inline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_monitor_parses(monkeypatch)
    world = DevWorld.create(tmp_path / "world")
    inline = await _run(world, tmp_path, 0)
    assert parses == []  # inline: the pipeline's parse, handed along
    pooled = await _run(world, tmp_path, 1)
    assert parses == []  # workers: what the worker read of its parse, handed back
    assert pooled == inline
    statuses = [s for envelope in inline[0] for _v, s, _c, _m in envelope]
    assert statuses == ["accepted", "rejected", "held", "accepted", "accepted", "accepted"]


async def test_a_worker_s_outcome_without_facts_is_parsed_and_screened_the_same(tmp_path: Path) -> None:
    """A worker of an older gateway, or a voucher whose facts it could not read, sends none: the
    monitor parses the bytes, as before, and decides the same."""
    world = DevWorld.create(tmp_path / "world")
    async with fresh_database("sqlite", tmp_path) as db:
        gw = _gateway(world, db, 0)
        await gw.start(deliver=False)
        try:
            treasury = gw.registry.get(world.treasury.id)
            assert treasury is not None and gw.monitor is not None
            cash = rebuild(payment(world, amount_fen=80_000 * YUAN, voucher_no="W0100"), PaySummaryName="提取现金")
            [admitted] = admit_envelope(world.envelope([cash], sender=world.treasury.id), treasury, gw.registry,
                                        gw.certs, at=dt.datetime.now(dt.UTC))
            assert isinstance(admitted, Admitted) and admitted.doc is not None
            with_facts = outcome_from_plain(outcome_to_plain(admitted, PaymentFacts.plain_of(admitted.doc)))
            without = outcome_from_plain(outcome_to_plain(admitted))
            assert isinstance(with_facts, Admitted) and with_facts.screening is not None and with_facts.doc is None
            assert isinstance(without, Admitted) and without.screening is None
            a = await gw.monitor.screen([with_facts], AT)
            b = await gw.monitor.screen([without], AT)
            assert [o.issues for o in a.outcomes] == [o.issues for o in b.outcomes]  # type: ignore[union-attr]
            assert a.outcomes[0].issues[0].code == "monitor-blocked"  # type: ignore[union-attr]
        finally:
            await gw.stop()
