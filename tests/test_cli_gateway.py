"""`tgw participants`, `tgw dlq` and `tgw up` usage errors, as subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_helpers import db_cli_args, payment, running_gateway

from client import GatewayClient
from gateway.bus import InProcessBus
from gateway.participants import hash_token, load_registry
from gateway.service import GatewayConfig
from messages.envelope import VoucherKey
from runner.world import DevWorld

TGW = str(Path(sys.executable).with_name("tgw"))
FAST_PUSH = GatewayConfig(push_ack_timeout_s=0.05, push_backoff_base_ms=1, push_attempts_max=3,
                          poll_interval_s=0.02)
# Pushes are retried only after an ack timeout no test run reaches: deliveries are pushed once.
PATIENT_PUSH = GatewayConfig(push_ack_timeout_s=600, poll_interval_s=0.02)


def tgw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TGW, *args], capture_output=True, text=True, timeout=60)


async def atgw(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(TGW, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


# ---------------------------------------------------------------------- participants


def test_participants_add_prints_token_once_and_stores_only_its_hash(world: DevWorld, tmp_path: Path) -> None:
    reg = tmp_path / "participants.yaml"
    cert = world.participants["bank-a"].cert_path
    r = tgw("participants", "add", "--file", str(reg), "--id", "bank-c", "--role", "bank",
            "--adm-div-code", "990100", "--bank-code", "999100000003", "--cert", str(cert), "--format", "json")
    assert r.returncode == 0, r.stderr
    secret = json.loads(r.stdout)
    token = secret["token"]
    # what the text line says too (was: id, token and MQTT login only)
    assert secret["role"] == "bank" and secret["certificates"] == list(world.registry().get("bank-a").cert_sns)  # type: ignore[union-attr]
    text = reg.read_text()
    assert token not in text and secret["mqtt_password"] not in text
    assert hash_token(token) in text
    registry = load_registry(reg)
    p = registry.get("bank-c")
    assert p is not None and p.role == "bank" and p.bank_codes == ("999100000003",)
    assert registry.by_token(token) is p
    assert registry.by_token(token + "x") is None
    assert p.cert_sns and p.cert_sns[0] == world.registry().get("bank-a").cert_sns[0]  # type: ignore[union-attr]
    # text format prints the token once too
    r = tgw("participants", "add", "--file", str(reg), "--id", "treasury-990100", "--role", "treasury",
            "--adm-div-code", "990100")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("HTTP token"))
    t2 = line.split()[-1]
    assert load_registry(reg).by_token(t2).id == "treasury-990100"  # type: ignore[union-attr]
    assert t2 not in reg.read_text()
    # replacing a participant issues a new token; the old one stops working
    r = tgw("participants", "add", "--file", str(reg), "--id", "bank-c", "--role", "bank",
            "--adm-div-code", "990100", "--format", "json")
    assert r.returncode == 0
    assert load_registry(reg).by_token(token) is None
    assert load_registry(reg).by_token(json.loads(r.stdout)["token"]).id == "bank-c"  # type: ignore[union-attr]


def test_participants_list_json_has_no_secrets(world: DevWorld) -> None:
    r = tgw("participants", "list", "--file", str(world.registry_path), "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {row["id"] for row in rows} == set(world.participants)
    for row in rows:
        assert "token_sha256" not in row and "mqtt_password_hash" not in row
    r = tgw("participants", "list", "--file", str(world.registry_path))
    assert r.returncode == 0 and "bank-a" in r.stdout
    # Piped (a CI log, grep): one line per participant with its id, name and bank codes whole.
    # Was: a table cut to 80 columns, "treasur…", "示例市 …", "9991000…".
    lines = r.stdout.splitlines()
    for p in world.registry():
        [line] = [x for x in lines if x.startswith(f"{p.id} ")]
        assert p.name in line and all(code in line for code in p.bank_codes) and p.delivery in line


@pytest.mark.parametrize("args", [
    ["participants", "add", "--file", "X", "--id", "Bad_Id", "--role", "bank", "--adm-div-code", "990100"],
    ["participants", "add", "--file", "X", "--id", "bank-x", "--role", "bank", "--adm-div-code", "990100",
     "--bank-code", "123"],
    ["participants", "add", "--file", "X", "--id", "bank-x", "--role", "banker", "--adm-div-code", "990100"],
    ["participants", "add", "--file", "X", "--id", "bank-x", "--role", "bank"],
    ["participants", "list", "--file", "DOES-NOT-EXIST.yaml"],
    ["participants"],
])
def test_participants_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    args = [str(tmp_path / "reg.yaml") if a == "X" else a for a in args]
    r = tgw(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "reg.yaml").exists()


async def test_token_from_cli_authenticates_against_a_gateway_built_from_the_file(world: DevWorld, tmp_path: Path,
                                                                                   db: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.http_app import make_app
    from gateway.service import Gateway

    reg = tmp_path / "reg.yaml"
    reg.write_text(world.registry_path.read_text())
    # certificates are relative to the registry file: keep them resolvable
    raw = yaml.safe_load(reg.read_text())
    for p in raw["participants"]:
        p["certificates"] = [str((world.registry_path.parent / c).resolve()) for c in p.get("certificates", [])]
    reg.write_text(yaml.safe_dump(raw, allow_unicode=True))
    r = await atgw("participants", "add", "--file", str(reg), "--id", "bank-a", "--role", "bank",
                   "--adm-div-code", "990100", "--bank-code", "999100000001",
                   "--cert", str(world.participants["bank-a"].cert_path), "--format", "json")
    assert r[0] == 0, r[2]
    token = json.loads(r[1])["token"]
    gw = Gateway(db=db, registry=load_registry(reg), certs=world.certs())
    await gw.start()
    client = TestClient(TestServer(make_app(gw)))
    await client.start_server()
    try:
        resp = await client.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200
        resp = await client.get("/v1/inbox", headers={"Authorization": f"Bearer {world.participants['bank-a'].token}"})
        assert resp.status == 401  # the replaced participant's old token is gone
        tid = world.treasury.id
        resp = await client.post("/v1/messages", data=world.envelope([payment(world)], sender=tid),
                                 headers={"Authorization": f"Bearer {world.participants[tid].token}"})
        [res] = (await resp.json())["results"]
        assert res["status"] == "accepted" and res["recipient"] == "bank-a"
        resp = await client.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        assert [m["id"] for m in (await resp.json())["messages"]] == [res["message_id"]]
    finally:
        await client.close()
        await gw.stop()


# ---------------------------------------------------------------------- dlq


async def _until(what: str, condition: Callable[[], Awaitable[bool]], *, bound_s: float = 30.0) -> None:
    """Wait for `condition`, re-checking every few ms, failing after `bound_s` (a bound, not a timing)."""
    try:
        async with asyncio.timeout(bound_s):
            while not await condition():  # noqa: ASYNC110 - the state is in the database: no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {bound_s}s: {what}") from None


async def test_dlq_list_and_replay_against_a_running_gateway(world: DevWorld, db: Any) -> None:
    """Dead-letter a push nobody acks, list it, replay it, and see it delivered once.

    Nothing here races the push timers: dead-lettering needs the ack timeout to pass, so it runs
    on a gateway with FAST_PUSH and the test waits for the outcome (bounded); the replay is
    delivered by a gateway whose ack timeout (PATIENT_PUSH) no slow machine reaches, so the
    replayed push is not retried (nor dead-lettered again) while the recipient gets round to acking.
    """
    tid = world.treasury.id
    dbargs = await db_cli_args(db)

    async def state(mid: str) -> str | None:
        row = await db.fetchrow("SELECT state FROM gw_outbox WHERE message_id=$1", mid)
        return None if row is None else str(row[0])

    async with running_gateway(world, db, config=FAST_PUSH) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, GatewayClient.bus(bus, "bank-a") as bank:
            [r] = await treasury.send(world.envelope([payment(world)], sender=tid))
            assert r.message_id is not None and r.voucher is not None
            mid = r.message_id
            adm, year, vtcode, *no, flag = r.voucher.split("/")
            key = VoucherKey(adm, year, vtcode, "/".join(no), int(flag))

            async def dead_lettered() -> bool:  # the row is dead and the trace says so
                events = await treasury.trace(key) or []
                return await state(mid) == "dead" and any(e["step"] == "dead-lettered" for e in events)

            await _until("the unacked push is dead-lettered", dead_lettered)
            # Every attempt was queued before the row could die (a push is queued when claimed).
            pushed = await bank.receive(timeout_s=0)
            assert [d.message_id for d in pushed] == [mid] * FAST_PUSH.push_attempts_max

            code, out, err = await atgw("dlq", "list", *dbargs, "--format", "json")
            assert code == 0, err
            page = json.loads(out)
            assert page["total"] == 1 and page["next"] is None
            [dead] = page["items"]
            assert dead["id"] == mid and dead["recipient"] == "bank-a"
            assert dead["voucher"] == r.voucher and dead["attempts"] == FAST_PUSH.push_attempts_max
            assert "no ack" in dead["last_error"]
            code, out, err = await atgw("dlq", "list", *dbargs)
            assert code == 0 and mid in out and "1 dead letter" in err

    async with running_gateway(world, db, config=PATIENT_PUSH) as gw:
        bus = InProcessBus(gw)
        async with GatewayClient.bus(bus, tid) as treasury, GatewayClient.bus(bus, "bank-a") as bank:
            code, out, err = await atgw("dlq", "replay", *dbargs, "--all", "--format", "json")
            assert code == 0, err
            assert json.loads(out) == {"replayed": 1}
            got = await bank.receive(timeout_s=30)  # returns with the first push
            assert [d.message_id for d in got] == [mid]
            await bank.ack(got[0])
            assert await state(mid) == "acked"
            code, out, _ = await atgw("dlq", "list", *dbargs, "--format", "json")
            assert code == 0 and json.loads(out)["items"] == []
            events = await treasury.trace(got[0].key)
            assert events is not None
            steps = [e["step"] for e in events]
            assert steps[-6:] == ["pushed"] * FAST_PUSH.push_attempts_max + ["dead-lettered", "pushed", "delivered"]
            assert steps.count("dead-lettered") == 1


async def test_dlq_replay_by_id_and_nothing_to_replay(world: DevWorld, db: Any) -> None:
    dbargs = await db_cli_args(db)
    async with running_gateway(world, db):
        pass  # creates the schema
    # nothing to do is success, said on stderr (before: exit 1, as if the replay had failed)
    code, out, err = await atgw("dlq", "replay", *dbargs, "--id", "no-such-message")
    assert code == 0 and "replayed 0" in out and "1 of the 1 message(s) named not replayed" in err
    code, out, err = await atgw("dlq", "replay", *dbargs, "--all")
    assert code == 0 and "replayed 0" in out and "nothing to replay" in err


def test_clock_of_an_unreachable_gateway_is_unavailable_exit_2() -> None:
    """Before: exit 1, the check-failed code. A gateway that cannot be reached is unreadable input
    (exit 2, as an unreachable --db of `tgw dlq`), said as the API's `unavailable`."""
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listened
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        r = tgw("clock", "--url", url)
        assert r.returncode == 2 and f"unavailable: cannot reach the gateway at {url}" in r.stderr, r.stderr
        r = tgw("clock", "--url", url, "--format", "json")
        assert r.returncode == 2 and json.loads(r.stdout)["code"] == "unavailable"


def test_dlq_usage_errors(tmp_path: Path) -> None:
    r = tgw("dlq", "replay", "--db", str(tmp_path / "x.db"))
    assert r.returncode == 2  # --id or --all required (argparse)
    r = tgw("dlq", "list")
    assert r.returncode == 2
    r = tgw("dlq", "list", "--db", "mysql://nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- up


@pytest.mark.parametrize("args", [
    ["up"],
    ["up", "--participants", "p.yaml"],
    ["up", "--certs", "keys"],
    ["up", "--participants", "p.yaml", "--certs", "keys", "--http", "127.0.0.1:notaport"],
    ["up", "--clock", "sometimes"],
])
def test_up_usage_errors_exit_2(args: list[str]) -> None:
    r = tgw(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_up_on_a_port_taken_is_unavailable_exit_2(world: DevWorld, tmp_path: Path) -> None:
    """Before: exit 1, "failed while running", where `tgw demo --serve` on a taken port exits 2: an
    address named on the command line that cannot be had is input that cannot be used (README)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = tgw("up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                "--db", str(tmp_path / "gw.db"), "--http", f"127.0.0.1:{port}")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"tgw up: error: unavailable: cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("participants", "certs", "named"), [
    ("missing.yaml", ".", "missing.yaml"),
    ("not-a-registry.yaml", ".", "not-a-registry.yaml"),
    ("registry.yaml", "no-such-dir", "no-such-dir"),
])
def test_up_with_unreadable_participants_fails_cleanly(tmp_path: Path, participants: str, certs: str,
                                                       named: str) -> None:
    (tmp_path / "not-a-registry.yaml").write_text("participants: 5\n", encoding="utf-8")
    (tmp_path / "registry.yaml").write_text("participants: []\n", encoding="utf-8")
    r = tgw("up", "--participants", str(tmp_path / participants), "--certs", str(tmp_path / certs),
            "--db", str(tmp_path / "gw.db"), "--http", "127.0.0.1:0")
    # unreadable input: 2, as README and `tgw up --help` say (was: 1, "failed while running")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert named in r.stderr
