"""No participant can speak for another (issue 14), through the real gateway over HTTP and over
MQTT (a real Mosquitto with the participants' ACL, tests/mqtt_broker.py), for every catalog
VtCode and every element that names the sender.

Each forged voucher is sent first (by bank-b in bank-a's name, or by a treasury / central bank /
bank for another AdmDivCode); it must be refused `not-authorized`, naming the element, and must
not claim its key: the genuine sender's voucher under the same key is accepted afterwards (an
original; a receipt is then judged by the journal, `unknown-original`, since no original was sent).
Sent again once the key exists, the forged voucher gets the same answer word for word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import running_gateway
from mqtt_broker import MosquittoBroker
from sender_cases import Forged, add_other_division, all_forged
from test_mqtt import mqtt_gateway

from client import GatewayClient, SendResult
from gateway.http_app import make_app
from runner.world import DevWorld
from storage.db import open_database


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    w = DevWorld.create(tmp_path / "world", delivery="push")
    add_other_division(w)
    return w


async def _check_all(world: DevWorld, client_for: Any, tag: str) -> int:
    """Send every forged case, then its genuine voucher under the same key; return the count."""
    cases = all_forged(world, tag=tag)
    clients: dict[str, GatewayClient] = {}
    wrong: list[str] = []
    try:
        for case in cases:
            for pid in (case.sender, case.genuine_sender):
                if pid not in clients:
                    clients[pid] = client_for(pid)
                    await clients[pid].__aenter__()
            [forged] = await clients[case.sender].send(world.envelope([case.voucher], sender=case.sender,
                                                                      flag=case.flag))
            if not _refused_naming_the_element(case, forged):
                wrong.append(f"{case.id} from {case.sender}: {forged.status} {forged.code} {forged.message}")
            [genuine] = await clients[case.genuine_sender].send(
                world.envelope([case.genuine], sender=case.genuine_sender, flag=case.flag))
            expected = ("accepted", None) if case.flag == 0 else ("rejected", "unknown-original")
            if (genuine.status, genuine.code) != expected:
                wrong.append(f"{case.id} genuine from {case.genuine_sender}: {genuine.status} {genuine.code}")
            # Now that the key exists, the forger gets the very same answer: it learns nothing of it.
            [again] = await clients[case.sender].send(world.envelope([case.voucher], sender=case.sender,
                                                                     flag=case.flag))
            if (again.status, again.code, again.message) != (forged.status, forged.code, forged.message):
                wrong.append(f"{case.id} again from {case.sender}: {again.status} {again.code} {again.message}")
    finally:
        for c in clients.values():
            await c.__aexit__(None, None, None)
    assert not wrong, "\n".join(wrong)
    return len(cases)


def _refused_naming_the_element(case: Forged, r: SendResult) -> bool:
    return ((r.status, r.code) == ("rejected", "not-authorized") and r.message is not None
            and case.expected_message in r.message and len(r.errors) == 1
            and str(r.errors[0]["path"]).endswith(f"/Voucher#/Voucher/{case.element}"))


async def test_over_http_nobody_sends_in_another_s_name(world: DevWorld, tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw:
            server = TestClient(TestServer(make_app(gw)))
            await server.start_server()
            try:
                url = str(server.make_url("")).rstrip("/")

                def client_for(pid: str) -> GatewayClient:
                    return GatewayClient.http(url, token=world.participants[pid].token, participant_id=pid)

                n = await _check_all(world, client_for, "H")
                assert n >= 40
                # nothing forged was journaled or delivered: only the genuine originals
                rows = await db.fetch("SELECT sender, flag FROM gw_messages")
                assert all(r[0] != "bank-b" for r in rows) and all(int(r[1]) == 0 for r in rows)
            finally:
                await server.close()
    finally:
        await db.close()


@pytest.mark.mqtt
async def test_over_mqtt_nobody_sends_in_another_s_name(world: DevWorld, broker: MosquittoBroker,
                                                       tmp_path: Path) -> None:
    async with mqtt_gateway(world, broker, tmp_path):

        def client_for(pid: str) -> GatewayClient:
            return GatewayClient.mqtt(broker.host, broker.port, username=pid,
                                      password=world.participants[pid].mqtt_password, participant_id=pid,
                                      reconnect_base_s=0.05, reconnect_max_s=1.0)

        assert await _check_all(world, client_for, "M") >= 40
