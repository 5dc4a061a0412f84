"""GET /v1/participants/me (who am I): through the real aiohttp app, the SDK's `whoami()`, and
tgw-sdk-bank, which refuses to start (exit 2, participant-mismatch) under another participant's
token. Oracles: the world's own certificate files (fingerprint as openssl prints it, validity),
messages/catalog.yaml read as plain YAML (who sends and receives each VtCode), the clock for
validity."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gateway_helpers import running_gateway, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gateway_http import _documented

from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from client import ClientError, GatewayClient
from gateway.clock import BusinessClock
from gateway.participants import Participant
from gateway.service import Gateway
from gateway.whoami import participant_view
from messages.keys import issue_participant, load_certificates
from messages.signing import CertificateStore
from runner.world import DevWorld
from storage.db import open_database

SDK_BANK = str(Path(sys.executable).with_name("tgw-sdk-bank"))
CATALOG = Path(__file__).resolve().parents[1] / "messages" / "catalog.yaml"
ME = "/v1/participants/me"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@asynccontextmanager
async def served_url(world: DevWorld, tmp_path: Path) -> AsyncIterator[str]:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw, serving(gw) as url:
            yield url
    finally:
        await db.close()


@asynccontextmanager
async def served(world: DevWorld, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the gateway's base URL: client.get("/v1/...")."""
    async with served_url(world, tmp_path) as url, aiohttp.ClientSession(base_url=url) as client:
        yield client


def _auth(world: DevWorld, pid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.participants[pid].token}"}


def _openssl_fingerprint(pem: Path) -> str:
    """`openssl x509 -noout -fingerprint -sha256` after `=`: SHA-256 of the DER, XX:XX:... upper."""
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _catalog_types(role: str) -> dict[str, dict[str, set[str]]]:
    """Who sends what, from catalog.yaml as data: an original goes sender -> recipient, its
    receipt (has_receipt) back recipient -> sender."""
    out: dict[str, dict[str, set[str]]] = {"send": {"originals": set(), "receipts": set()},
                                           "receive": {"originals": set(), "receipts": set()}}
    for entry in yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["vouchers"]:
        code, receipt = str(entry["vtcode"]), bool(entry.get("has_receipt"))
        if entry["sender"] == role:
            out["send"]["originals"].add(code)
            if receipt:
                out["receive"]["receipts"].add(code)
        if entry["recipient"] == role:
            out["receive"]["originals"].add(code)
            if receipt:
                out["send"]["receipts"].add(code)
    return out


async def test_each_participant_s_token_names_it(world: DevWorld, tmp_path: Path) -> None:
    wrong: list[str] = []
    async with served(world, tmp_path) as client:
        for pid, wp in world.participants.items():
            resp = await client.get(ME, headers=_auth(world, pid))
            body = await resp.read()
            wrong.extend(_documented("get", ME, resp.status, resp.content_type, body))
            me = await resp.json()
            assert resp.status == 200
            assert (me["id"], me["role"], me["authenticated_by"], me["client_certificate"]) == (
                pid, wp.role, "token", None)
            assert me["delivery"] in ("pull", "push") and "token_sha256" not in me
            [cert] = me["certificates"]
            [file_cert] = load_certificates(wp.cert_path)
            assert cert["fingerprint_sha256"] == _openssl_fingerprint(wp.cert_path)
            assert cert["not_after"] == file_cert.not_valid_after_utc.isoformat()
            assert (cert["known"], cert["usable"], cert["problem"]) == (True, True, None)
            got = {side: {kind: set(codes) for kind, codes in kinds.items()}
                   for side, kinds in me["voucher_types"].items()}
            assert got == _catalog_types(wp.role)
    assert wrong == []


async def test_the_dashboard_s_me_is_the_same_answer_and_only_the_token_s_own(world: DevWorld,
                                                                                  tmp_path: Path) -> None:
    """GET /v1/me (what the dashboard logs in with) and GET /v1/participants/me: one answer per
    token, every field the registry's public entry has (what /v1/me answered before) with its
    value, and nothing of any other participant (its id, name, bank codes, certificate SN or
    fingerprint). Oracles: the registry file's entries and the world's certificate files."""
    registry = world.registry()
    answers: dict[str, dict[str, Any]] = {}
    wrong: list[str] = []
    async with served(world, tmp_path) as client:
        for pid in world.participants:
            both = []
            for path in (ME, "/v1/me"):
                resp = await client.get(path, headers=_auth(world, pid))
                body = await resp.read()
                assert resp.status == 200, (path, body)
                wrong.extend(_documented("get", path, resp.status, resp.content_type, body))
                both.append(json.loads(body))
            whoami, dashboard = both
            # checked_at is each request's wall time; all the rest is the same
            assert {**dashboard, "checked_at": None} == {**whoami, "checked_at": None}, pid
            answers[pid] = dashboard
    assert wrong == []
    for pid, me in answers.items():
        entry = registry.get(pid)
        assert entry is not None
        public = entry.as_public_dict()
        assert {k: me.get(k) for k in public} == public, pid
        text = json.dumps(me, ensure_ascii=False)
        for other, wp in world.participants.items():
            if other == pid:
                continue
            other_entry = registry.get(other)
            assert other_entry is not None
            marks = [other, other_entry.name, *other_entry.bank_codes, *other_entry.cert_sns,
                     _openssl_fingerprint(wp.cert_path)]
            assert [m for m in marks if m in text] == [], (pid, other)
        assert [c["fingerprint_sha256"] for c in me["certificates"]] == [
            _openssl_fingerprint(world.participants[pid].cert_path)]


def test_both_paths_have_one_schema() -> None:
    from gateway.openapi import openapi_document

    doc = openapi_document()
    schemas = [doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
               for path in (ME, "/v1/me")]
    assert schemas == [{"$ref": "#/components/schemas/Me"}] * 2
    assert {"id", "name", "role"} <= set(doc["components"]["schemas"]["Me"]["required"])  # what app.js reads


async def test_authentication_failures_keep_their_codes(world: DevWorld, tmp_path: Path) -> None:
    async with served(world, tmp_path) as client:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
            resp = await client.get(ME, headers=headers)
            body = await resp.read()
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await resp.json())["code"] == "unauthenticated"
            assert _documented("get", ME, resp.status, resp.content_type, body) == []


async def test_the_sdk_says_whom_the_token_names(world: DevWorld, tmp_path: Path) -> None:
    async with served_url(world, tmp_path) as url:
        async with GatewayClient.http(url, token=world.participants["bank-a"].token, participant_id="bank-a") as c:
            assert (await c.whoami())["id"] == "bank-a"
        # told it is bank-a, holding bank-b's token: the gateway's answer names bank-b
        async with GatewayClient.http(url, token=world.participants["bank-b"].token, participant_id="bank-a") as c:
            assert (await c.whoami())["id"] == "bank-b"
        async with GatewayClient.http(url, token="nobody", participant_id="bank-a") as c:
            with pytest.raises(ClientError) as info:
                await c.whoami()
            assert (info.value.status, info.value.code) == (401, "unauthenticated")


# ---------------------------------------------------------------------- validity, generated


@pytest.fixture(scope="module")
def issued(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("issued")


_n = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start_days=st.integers(-800, 30), days=st.integers(1, 900))
def test_a_certificate_is_usable_iff_now_is_within_its_dates(world: DevWorld, issued: Path, start_days: int,
                                                             days: int) -> None:
    now = dt.datetime.now(dt.UTC)
    start = now.replace(microsecond=0) + dt.timedelta(days=start_days, seconds=1 if start_days == 0 else 0)
    pid = f"bank-v{next(_n)}"
    files = issue_participant(issued, participant_id=pid, role="bank", ca_dir=world.keys_dir,
                              not_before=start, days=days)
    [cert] = load_certificates(files.cert)
    store = CertificateStore(anchors=load_certificates(world.keys_dir / "ca.pem"), certificates=[cert])
    p = Participant(id=pid, role="bank", name=pid, adm_div_codes=("990100",), cert_sns=(files.sn, "0ABC"))
    me = participant_view(p, store, token=True, client_certificate=None, at=now)
    mine, unknown = me["certificates"]
    end = start + dt.timedelta(days=days)
    assert mine["usable"] is (start <= now <= end), mine
    assert (mine["problem"] is None) is mine["usable"]
    assert (unknown["sn"], unknown["known"], unknown["usable"]) == ("0ABC", False, False)


# ---------------------------------------------------------------------- tgw-sdk-bank


@asynccontextmanager
async def listening(world: DevWorld, tmp_path: Path) -> AsyncIterator[str]:
    db = await open_database(str(tmp_path / "gw.db"))
    clock = BusinessClock.simulated(BusinessCalendar.default(), ClockConfig.from_dict({}),
                                    dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)  # the bank reads the clock
    await gw.start()
    try:
        async with serving(gw) as url:  # wakes a killed bank's long poll at the close
            yield url
    finally:
        await gw.stop()
        await db.close()


async def _bank(url: str, world: DevWorld, pid: str, token: str, *, wait_s: float) -> tuple[int | None, str]:
    wp = world.participants[pid]
    proc = await asyncio.create_subprocess_exec(
        SDK_BANK, "--url", url, "--id", pid, "--bank-code", wp.bank_codes[0], "--key", str(wp.key_path),
        "--cert", str(wp.cert_path), f"--token={token}", stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(proc.wait(), wait_s)
    except TimeoutError:
        proc.terminate()
        await proc.wait()
        assert proc.stderr is not None
        return None, (await proc.stderr.read()).decode()
    assert proc.stderr is not None
    return proc.returncode, (await proc.stderr.read()).decode()


async def test_the_example_bank_refuses_another_participant_s_token(world: DevWorld, tmp_path: Path) -> None:
    async with listening(world, tmp_path) as url:
        code, err = await _bank(url, world, "bank-a", world.participants["bank-b"].token, wait_s=60)
        assert code == 2, err
        last = err.strip().splitlines()[-1]
        assert last.startswith("tgw-sdk-bank: participant-mismatch: ") and "bank-b" in last and "bank-a" in last, err
        code, err = await _bank(url, world, "bank-a", "not-a-token", wait_s=60)
        assert code == 2, err
        assert err.strip().splitlines()[-1].startswith("tgw-sdk-bank: unauthenticated: "), err
        # its own token: it runs (still running when stopped), and says nothing of a mismatch
        code, err = await _bank(url, world, "bank-a", world.participants["bank-a"].token, wait_s=4)
        assert code is None and "mismatch" not in err and "warning" not in err, err


async def test_whoami_is_http_only(world: DevWorld, tmp_path: Path) -> None:
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw, GatewayClient.bus(gw, "bank-a") as bank:
            with pytest.raises(ClientError) as info:
                await bank.whoami()
            assert info.value.code == "not-implemented" and "whoami()" in info.value.message
    finally:
        await db.close()
