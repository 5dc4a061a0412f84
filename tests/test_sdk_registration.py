"""A participant reads its own registration with the SDK (`GatewayClient.registration()`, from
`GET /v1/participants`), and the example bank over MQTT refuses to start when it is registered
`delivery: pull`: the gateway publishes to `tgw/v1/<id>/inbox` only for push participants
(docs/asyncapi.yaml), so it would wait there while its deliveries went unacked. (Before: it
started, and a conformance run reported "deliveries not acked" only after its patience.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from conformance_helpers import SDK_BANK, client_of, in_process_gateway
from gateway_helpers import register_delivery
from mqtt_broker import free_port

from client import ClientError, GatewayClient
from runner.world import DevWorld

EXIT_BOUND_S = 60.0  # an upper bound for the bank to start and give up (not a speed check)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    """The dev world (everyone `delivery: pull`, the default) with bank-b registered push."""
    return register_delivery(DevWorld.create(tmp_path_factory.mktemp("registration") / "world"), "bank-b", "push")


async def test_a_participant_reads_its_own_delivery_mode(world: DevWorld, tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path) as server:
        for pid, delivery in (("bank-a", "pull"), ("bank-b", "push")):
            async with client_of(server, world, pid) as client:
                mine = await client.registration()
            assert (mine["id"], mine["role"], mine["delivery"]) == (pid, "bank", delivery)
            assert not {"token_sha256", "mqtt_password_hash", "mqtt_username"} & set(mine)
        # a client opened under an id the gateway does not know (its token is bank-a's)
        assert server.http_url is not None
        async with GatewayClient.http(server.http_url, token=world.participants["bank-a"].token,
                                      participant_id="bank-zz") as stranger:
            with pytest.raises(ClientError) as err:
                await stranger.registration()
        assert (err.value.status, err.value.code) == (404, "not-found")
    # over MQTT: not carried, and said so before anything connects
    mqtt = GatewayClient.mqtt("127.0.0.1", 1, username="bank-a", password="x", participant_id="bank-a")
    with pytest.raises(ClientError) as err:
        await mqtt.registration()
    assert err.value.code == "not-implemented" and "registration()" in err.value.message


async def _run_bank(world: DevWorld, url: str, pid: str, tmp_path: Path) -> tuple[int, str]:
    """The example bank as `pid` over MQTT (bank-a's token and password) to a port where nothing
    listens: it has to decide before it connects to any broker. Its exit code and stderr."""
    password = tmp_path / "bank.mqtt"
    password.write_text(world.participants["bank-a"].mqtt_password)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SDK_BANK), "--url", url, "--id", pid, "--bank-code", "999100000001",
        "--key", str(world.keys_dir / "bank-a.key"), "--cert", str(world.keys_dir / "bank-a.pem"),
        "--token", world.participants["bank-a"].token, "--mqtt", f"mqtt://bank-a@127.0.0.1:{free_port()}",
        "--mqtt-password-file", str(password), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(EXIT_BOUND_S):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode("utf-8", "replace")


async def test_the_example_bank_over_mqtt_refuses_a_pull_registration(world: DevWorld, tmp_path: Path) -> None:
    async with in_process_gateway(world, tmp_path) as server:
        assert server.http_url is not None
        code, err = await _run_bank(world, server.http_url, "bank-a", tmp_path)
        assert code == 2, err
        for words in ("bank-a is registered `delivery: pull`", "tgw/v1/bank-a/inbox",
                      "--delivery push", "tgw participants set", "leave out --mqtt"):
            assert words in err, err
        code, err = await _run_bank(world, server.http_url, "bank-zz", tmp_path)
        # bank-a's token under --id bank-zz: the token names bank-a, refused before anything else
        assert code == 2 and "participant-mismatch" in err and "not --id bank-zz" in err, err
