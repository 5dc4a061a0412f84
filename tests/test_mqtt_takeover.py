"""Client-id takeover at the broker (issue 14): a participant connecting under the gateway's
client id, or another participant's, must not knock that session off the broker.

Each test runs its own Mosquitto (tests/mqtt_broker.py) with the shipped settings
(conf/mosquitto.conf, `use_username_as_clientid true`) and the files of `tgw mqtt-acl`;
`bind_client_ids=False` is the configuration before the fix, where the same moves succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from gateway_helpers import payment
from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker, shipped_settings
from test_mqtt import mqtt_client, mqtt_gateway, receive_until

from gateway.mqtt_probe import MONITOR_USER, check_client_ids_bound
from messages.errors import InputError
from runner.world import DevWorld
from tgw import main as tgw_main

pytestmark = pytest.mark.mqtt

V5 = aiomqtt.ProtocolVersion.V5


@pytest.fixture
def world(tmp_path: Path) -> DevWorld:
    return DevWorld.create(tmp_path / "world", delivery="push")


@pytest.fixture
def unbound_broker(world: DevWorld, tmp_path: Path) -> Iterator[MosquittoBroker]:
    """The broker configuration before the fix: client ids are whatever the client asks for."""
    b = MosquittoBroker.start_for(world.registry(), tmp_path / "unbound", gateway_user=GW_USER,
                                  gateway_password=GW_PASSWORD, bind_client_ids=False)
    yield b
    b.stop()


async def alive(client: aiomqtt.Client) -> bool:
    """One round trip on the connection (a SUBACK comes back, granted or refused by the ACL)."""
    try:
        await client.subscribe("tgw/v1/clock", qos=0, timeout=10)
    except aiomqtt.MqttError:
        return False
    return True


async def until(predicate: Any, timeout_s: float) -> bool:
    """Wait for a condition; False if it did not come (no speed is asserted)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def login(world: DevWorld, user: str) -> tuple[str, str]:
    return (GW_USER, GW_PASSWORD) if user == GW_USER else (user, world.participants[user].mqtt_password)


# ---------------------------------------------------------------------- the raw move, both configurations


@pytest.mark.parametrize(("victim", "victim_id"), [(GW_USER, "tgw-gateway"), ("bank-a", "bank-a")],
                         ids=["gateway", "bank"])
@pytest.mark.parametrize("bound", [True, False], ids=["shipped-config", "old-config"])
async def test_an_intruder_naming_a_victims_client_id(world: DevWorld, tmp_path: Path, broker: MosquittoBroker,
                                                      unbound_broker: MosquittoBroker, victim: str, victim_id: str,
                                                      bound: bool) -> None:
    """bank-b connects with the victim's client id. Shipped configuration: the broker makes it
    bank-b's own id, the victim stays connected. Old configuration: the victim is dropped."""
    b = broker if bound else unbound_broker
    user, password = login(world, victim)
    intruder_pw = world.participants["bank-b"].mqtt_password
    async with aiomqtt.Client(b.host, b.port, username=user, password=password, identifier=victim_id,
                              protocol=V5) as victim_client:
        assert await alive(victim_client)
        async with aiomqtt.Client(b.host, b.port, username="bank-b", password=intruder_pw, identifier=victim_id,
                                  protocol=V5) as intruder:
            assert await alive(intruder)  # the intruder is connected either way...
            assert await alive(victim_client) is bound  # ...and only the old configuration lets it evict


# ---------------------------------------------------------------------- the gateway keeps working


async def test_the_gateway_keeps_its_session_and_delivers_while_an_intruder_uses_its_client_id(
        world: DevWorld, broker: MosquittoBroker, tmp_path: Path) -> None:
    tid = world.treasury.id
    intruder_pw = world.participants["bank-b"].mqtt_password
    async with mqtt_gateway(world, broker, tmp_path) as (gw, adapter), \
            mqtt_client(world, broker, tid) as treasury, mqtt_client(world, broker, "bank-a") as bank_a, \
            aiomqtt.Client(broker.host, broker.port, username="bank-b", password=intruder_pw,
                           identifier=adapter.client_id, protocol=V5) as intruder, \
            aiomqtt.Client(broker.host, broker.port, username="bank-b", password=intruder_pw,
                           identifier="bank-a", protocol=V5) as intruder_2:
        assert adapter.client_id == GW_USER  # the gateway's id is its username (use_username_as_clientid)
        for _ in range(3):  # while the intruders stay: envelopes in, pushes out, acks in
            results = await treasury.send(world.envelope([payment(world, bank="bank-a")], sender=tid))
            assert [r.status for r in results] == ["accepted"]
            [delivery] = await receive_until(bank_a, 1, 10)
            assert delivery.message_id == results[0].message_id
            await bank_a.ack(delivery)
        # Both intruders became client `bank-b`: the second displaced the first, its own session.
        assert await alive(intruder_2) and not await alive(intruder)
        assert adapter.connects == 1 and adapter.connected  # never dropped, never reconnected
        assert bank_a.transport.connects == 1  # type: ignore[attr-defined]
        assert (await gw.outbox.counts()) == {"acked": 3}


async def test_on_the_old_configuration_the_gateway_is_knocked_off(world: DevWorld, unbound_broker: MosquittoBroker,
                                                                    tmp_path: Path) -> None:
    """What the issue saw: the gateway's session dropped, again and again while the intruder stays."""
    intruder_pw = world.participants["bank-b"].mqtt_password
    async with mqtt_gateway(world, unbound_broker, tmp_path) as (_gw, adapter):
        assert adapter.connects == 1
        async with aiomqtt.Client(unbound_broker.host, unbound_broker.port, username="bank-b", password=intruder_pw,
                                  identifier=adapter.client_id, protocol=V5):
            assert await until(lambda: adapter.connects >= 2, 20)


# ---------------------------------------------------------------------- tgw up's start-up check


async def test_the_probe_tells_a_binding_broker_from_one_that_does_not(broker: MosquittoBroker,
                                                                       unbound_broker: MosquittoBroker) -> None:
    assert await check_client_ids_bound(broker.host, broker.port, GW_PASSWORD) is True
    with pytest.raises(InputError) as info:
        await check_client_ids_bound(unbound_broker.host, unbound_broker.port, GW_PASSWORD)
    assert info.value.code == "mqtt-clientid-unbound"
    with pytest.raises(InputError) as info:  # broker files written before tgw-monitor existed: told so
        await check_client_ids_bound(broker.host, broker.port, "not-the-password")
    assert info.value.code == "mqtt-monitor-refused"
    assert MONITOR_USER in (broker.root / "passwd").read_text()


def _up(world: DevWorld, b: MosquittoBroker, tmp_path: Path, ready: Path) -> int:
    return tgw_main(["up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                     "--db", str(tmp_path / "up.db"), "--http", "off", "--ready-file", str(ready),
                     "--mqtt", f"mqtt://{GW_USER}@{b.host}:{b.port}"])


def test_tgw_up_refuses_a_broker_that_does_not_bind_client_ids(world: DevWorld, unbound_broker: MosquittoBroker,
                                                               tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGW_MQTT_PASSWORD", GW_PASSWORD)
    ready = tmp_path / "ready"
    assert _up(world, unbound_broker, tmp_path, ready) == 2
    assert "mqtt-clientid-unbound" in capsys.readouterr().err
    assert not ready.exists()  # it never got as far as serving


# ---------------------------------------------------------------------- tgw mqtt-acl


def test_mqtt_acl_writes_one_user_per_gateway_worker_and_the_monitor(world: DevWorld, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "broker"
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "pw")
    assert tgw_main(["mqtt-acl", "--participants", str(world.registry_path), "--out", str(out),
                     "--gateway-user", "tgw-gw-1", "--gateway-user", "tgw-gw-2"]) == 0
    users = [line.split(":", 1)[0] for line in (out / "passwd").read_text().splitlines()]
    assert users[:5] == ["tgw-gw-1", "tgw-gw-1-acks", "tgw-gw-2", "tgw-gw-2-acks", MONITOR_USER]
    acl = (out / "acl").read_text()
    for user in ("tgw-gw-1", "tgw-gw-1-acks", "tgw-gw-2", "tgw-gw-2-acks"):
        assert f"user {user}\ntopic readwrite tgw/v1/#\ntopic read $share/+/tgw/v1/#\n" in acl
    assert f"user {MONITOR_USER}\ntopic read $SYS/broker/uptime\n" in acl
    # the same user twice, or the monitor's name for a gateway worker: refused, nothing written
    for bad in (["--gateway-user", "a", "--gateway-user", "a"], ["--gateway-user", MONITOR_USER]):
        assert tgw_main(["mqtt-acl", "--participants", str(world.registry_path), "--out",
                         str(tmp_path / "bad"), *bad]) == 1
        assert not (tmp_path / "bad").exists()


# ---------------------------------------------------------------------- the shipped settings that bound memory


def test_the_shipped_broker_bounds_the_bytes_in_flight_to_the_gateway() -> None:
    """What the gateway holds of MQTT envelopes is what the broker has in flight to its session
    (acknowledged only once journaled): bounded by bytes, not only by count (100 x 32 MiB)."""
    settings = {line.split()[0]: line.split()[1] for line in shipped_settings()}
    assert settings["use_username_as_clientid"] == "true"
    in_flight_bytes = int(settings["max_inflight_bytes"])
    assert 0 < in_flight_bytes <= 128 * 2**20
    assert in_flight_bytes >= 2 * int(settings["max_packet_size"])  # two of the largest envelopes still go together
