"""HTTPS and mutual TLS on the HTTP transport: real TLS on 127.0.0.1, certificates from the dev CA.

A note on what a refused client sees: the asyncio TLS server (CPython's sslproto) closes the
connection on a failed handshake without flushing OpenSSL's alert, so the client gets no
"certificate required"/"unknown ca" alert. With TLS 1.2 the client's own handshake fails
(connection reset or EOF mid-handshake: `aiohttp.ClientConnectorError`); with TLS 1.3 the
client's handshake finishes first and the server hangs up before any HTTP response.
"""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from gateway_helpers import deliver_one_payment, payment, running_gateway, serving, table_count

from client import ClientError, GatewayClient, client_ssl_context
from gateway.server import ServerConfig, build_ssl_context, start_server
from messages.errors import InputError
from messages.keys import (
    ServerFiles,
    create_ca,
    generate_private_key,
    issue_participant,
    issue_server,
    load_certificates,
    load_private_key,
    sn_of_serial,
)
from runner.world import DevWorld
from storage.db import open_database

TGW = str(Path(sys.executable).with_name("tgw"))
OPENSSL = shutil.which("openssl")
# TLS 1.3, client certificate refused: the client's handshake is done, the server hangs up
# before any response (a clean close, or a reset when the request was still being sent).
NO_RESPONSE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def server_cert(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> ServerFiles:
    return issue_server(tmp_path_factory.mktemp("tls"), name="gateway", hosts=["127.0.0.1", "localhost"],
                        ca_dir=world.keys_dir)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA, with a certificate for a participant id the world also has."""
    d = tmp_path_factory.mktemp("other-ca")
    create_ca(d, name="Someone Else's CA")
    issue_participant(d, participant_id="bank-a", role="bank", ca_dir=d)
    return d


@dataclass
class Tls:
    url: str
    world: DevWorld
    db: Any

    @property
    def ca(self) -> Path:
        return self.world.keys_dir / "ca.pem"

    def ctx(self, pid: str | None = None, *, keys: Path | None = None, tls12: bool = False) -> ssl.SSLContext:
        """A client context trusting the world CA, presenting `pid`'s certificate if given."""
        d = keys or self.world.keys_dir
        ctx = client_ssl_context(self.ca, d / f"{pid}.pem", d / f"{pid}.key") if pid else client_ssl_context(self.ca)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def token(self, pid: str) -> str:
        return self.world.participants[pid].token

    async def call(self, ctx: ssl.SSLContext, method: str, path: str, *, token: str | None = None,
                   headers: dict[str, str] | None = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        headers = {**({"Authorization": f"Bearer {token}"} if token is not None else {}), **(headers or {})}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session, \
                session.request(method, self.url + path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()


@asynccontextmanager
async def tls_gateway(world: DevWorld, server_cert: ServerFiles, tmp_path: Path, *, client_ca: Path | None = None,
                      require: bool = False) -> AsyncIterator[Tls]:
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       tls_cert=str(server_cert.cert), tls_key=str(server_cert.key),
                       tls_client_ca=str(client_ca) if client_ca else None, tls_require_client_cert=require)
    ctx = build_ssl_context(cfg)
    assert ctx is not None
    db = await open_database(str(tmp_path / "gw.db"))
    try:
        async with running_gateway(world, db) as gw, serving(gw, ssl_context=ctx) as url:
            yield Tls(url, world, db)
    finally:
        await db.close()


# ---------------------------------------------------------------------- HTTPS


async def test_https_server_certificate_verifies_against_the_dev_ca(world: DevWorld, server_cert: ServerFiles,
                                                                    other_ca: Path, tmp_path: Path) -> None:
    async with tls_gateway(world, server_cert, tmp_path) as t:
        status, body = await t.call(t.ctx(), "GET", "/healthz")
        assert status == 200 and body["status"] == "ok"
        # the DNS name in the SAN works as well as the IP address
        localhost = t.url.replace("127.0.0.1", "localhost")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=t.ctx())) as s, \
                s.get(localhost + "/healthz") as resp:
            assert resp.status == 200
        # a client trusting another CA refuses the gateway's certificate
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await t.call(client_ssl_context(other_ca / "ca.pem"), "GET", "/healthz")
        # no client CA configured: tokens as before; a client certificate is not even asked for
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox")
        assert status == 401 and body["code"] == "unauthenticated"
        status, body = await t.call(t.ctx(), "GET", "/v1/inbox", token=t.token("bank-a"))
        assert status == 200 and body["messages"] == []


async def test_server_certificate_for_another_host_is_refused(world: DevWorld, tmp_path: Path) -> None:
    wrong = issue_server(tmp_path / "wrong", name="gateway", hosts=["gw.example.test"], ca_dir=world.keys_dir)
    async with tls_gateway(world, wrong, tmp_path) as t:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await t.call(t.ctx(), "GET", "/healthz")


# ---------------------------------------------------------------------- client certificates


async def test_participants_authenticated_by_certificate_alone_send_and_pull(
        world: DevWorld, server_cert: ServerFiles, tmp_path: Path) -> None:
    tid = world.treasury.id
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem") as t, \
            GatewayClient.http(t.url, ssl=t.ctx(tid), participant_id=tid, poll_wait_s=5) as treasury, \
            GatewayClient.http(t.url, ssl=t.ctx("bank-a"), participant_id="bank-a", poll_wait_s=5) as bank:
        item = await deliver_one_payment(world, treasury, bank)
        assert await bank.receive(timeout_s=0) == []
        events = await treasury.trace(item.key)
        assert events and any(e["step"] == "delivered" for e in events)
        # bank-b's certificate sees nothing of it
        async with GatewayClient.http(t.url, ssl=t.ctx("bank-b"), participant_id="bank-b") as other:
            assert await other.receive(timeout_s=0) == []
            assert await other.trace(item.key) is None


async def test_certificate_and_token_must_name_the_same_participant(
        world: DevWorld, server_cert: ServerFiles, tmp_path: Path) -> None:
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem") as t:
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox", token=t.token("bank-a"))
        assert status == 200 and "messages" in body
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox", token=t.token("bank-b"))
        assert status == 401 and body["code"] == "unauthenticated"
        assert "disagree" in body["message"] and "bank-a" in body["message"]
        assert "bank-b" not in body["message"]  # whose token it was is not told
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox", token="not-a-token")
        assert status == 401 and body["code"] == "unauthenticated"
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox", headers={"Authorization": "Basic abc"})
        assert status == 401
        # client certificates optional: no certificate, a token as before; neither, 401
        status, _ = await t.call(t.ctx(), "GET", "/v1/inbox", token=t.token("bank-b"))
        assert status == 200
        status, body = await t.call(t.ctx(), "GET", "/v1/inbox")
        assert status == 401 and body["code"] == "unauthenticated"
        # the client refuses to send a token it cannot send and no certificate either
        with pytest.raises(ValueError):
            GatewayClient.http(t.url, participant_id="bank-a")
        # a mismatch through GatewayClient is a ClientError like any 401
        env = world.envelope([payment(world)], sender=world.treasury.id)
        async with GatewayClient.http(t.url, ssl=t.ctx(world.treasury.id), token=t.token("bank-a"),
                                      participant_id=world.treasury.id) as c:
            with pytest.raises(ClientError) as exc:
                await c.send(env)
            assert exc.value.status == 401 and exc.value.code == "unauthenticated"
        assert await table_count(t.db, "gw_messages") == 0


async def test_ca_signed_certificate_of_no_participant_is_401(world: DevWorld, server_cert: ServerFiles,
                                                              tmp_path: Path) -> None:
    stranger = issue_participant(tmp_path / "stranger", participant_id="bank-z", role="bank",
                                 ca_dir=world.keys_dir)
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem") as t:
        ctx = client_ssl_context(t.ca, stranger.cert, stranger.key)
        status, body = await t.call(ctx, "GET", "/v1/inbox")
        assert status == 401 and body["code"] == "unauthenticated" and stranger.sn in body["message"]
        # even with a valid token: the certificate names nobody, so the two cannot agree
        status, _ = await t.call(ctx, "GET", "/v1/inbox", token=t.token("bank-a"))
        assert status == 401


def _certificate_with_serial(ca_dir: Path, serial: int, cn: str, out: Path) -> tuple[Path, Path]:
    """A client certificate from the CA in `ca_dir` that reuses a serial number (as a careless or
    hostile second CA in the client CA bundle could)."""
    ca_key, ca_cert = load_private_key(ca_dir / "ca.key"), load_certificates(ca_dir / "ca.pem")[0]
    key = generate_private_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "c.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return out / "c.pem", out / "c.key"


async def test_serial_reused_by_another_trusted_ca_is_not_the_participant(
        world: DevWorld, server_cert: ServerFiles, other_ca: Path, tmp_path: Path) -> None:
    bank_a = load_certificates(world.participants["bank-a"].cert_path)[0]
    cert, key = _certificate_with_serial(other_ca, bank_a.serial_number, "bank-a", tmp_path / "dup")
    bundle = tmp_path / "client-cas.pem"
    bundle.write_bytes((world.keys_dir / "ca.pem").read_bytes() + (other_ca / "ca.pem").read_bytes())
    async with tls_gateway(world, server_cert, tmp_path, client_ca=bundle) as t:
        status, body = await t.call(client_ssl_context(t.ca, cert, key), "GET", "/v1/inbox")
        assert status == 401 and "not the certificate registered" in body["message"]
        status, _ = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox")
        assert status == 200


# ---------------------------------------------------------------------- required client certificates


@pytest.mark.parametrize("require", [True, False], ids=["required", "optional"])
async def test_certificate_from_another_ca_fails_the_handshake(world: DevWorld, server_cert: ServerFiles,
                                                               other_ca: Path, tmp_path: Path,
                                                               require: bool) -> None:
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem",
                           require=require) as t:
        with pytest.raises(aiohttp.ClientConnectorError):
            await t.call(t.ctx("bank-a", keys=other_ca, tls12=True), "GET", "/v1/inbox")
        with pytest.raises(NO_RESPONSE):  # TLS 1.3: refused before any response
            await t.call(t.ctx("bank-a", keys=other_ca), "GET", "/v1/inbox")
        status, _ = await t.call(t.ctx("bank-a"), "GET", "/v1/inbox")
        assert status == 200


async def test_required_client_certificate_refuses_clients_without_one(
        world: DevWorld, server_cert: ServerFiles, tmp_path: Path) -> None:
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem", require=True) as t:
        env = world.envelope([payment(world)], sender=world.treasury.id)
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await t.call(t.ctx(tls12=True), "GET", "/v1/inbox", token=t.token("bank-a"))
        # the handshake ended on the server's side: reset, or EOF in violation of the protocol
        assert isinstance(refused.value.os_error, ssl.SSLError | ConnectionResetError), refused.value.os_error
        with pytest.raises(NO_RESPONSE):
            await t.call(t.ctx(), "POST", "/v1/messages", token=t.token(world.treasury.id), data=env)
        # even /healthz: the handshake comes before any route
        with pytest.raises(aiohttp.ClientConnectorError):
            await t.call(t.ctx(tls12=True), "GET", "/healthz")
        assert await table_count(t.db, "gw_messages") == 0
        async with GatewayClient.http(t.url, ssl=t.ctx(world.treasury.id), participant_id=world.treasury.id) as c:
            [res] = await c.send(env)
            assert res.status == "accepted"


# ---------------------------------------------------------------------- server assembly and config


async def test_start_server_serves_https_with_client_certificates(world: DevWorld, server_cert: ServerFiles,
                                                                  tmp_path: Path) -> None:
    cfg = ServerConfig(participants=str(world.registry_path), certs=str(world.keys_dir),
                       db=f"sqlite:///{tmp_path / 'gw.db'}", http_port=0, tls_cert=str(server_cert.cert),
                       tls_key=str(server_cert.key), tls_client_ca=str(world.keys_dir / "ca.pem"),
                       tls_require_client_cert=True)
    server = await start_server(cfg)
    try:
        assert server.http_url is not None and server.http_url.startswith("https://127.0.0.1:")
        t = Tls(server.http_url, world, None)
        status, body = await t.call(t.ctx("pboc-990100"), "GET", "/v1/participants")
        assert status == 200 and len(body["participants"]) == len(world.participants)
        with pytest.raises(aiohttp.ClientConnectorError):
            await t.call(t.ctx(tls12=True), "GET", "/healthz")
    finally:
        await server.stop()


def test_start_server_serves_https_with_client_certificates_on_uvloop(world: DevWorld, server_cert: ServerFiles,
                                                                       tmp_path: Path) -> None:
    """The same on uvloop, `tgw up`'s default loop: the handshake, the client certificate's SN."""
    pytest.importorskip("uvloop")
    from gateway.event_loop import run_on

    run_on("uvloop", test_start_server_serves_https_with_client_certificates(world, server_cert, tmp_path))


def test_config_file_tls_section_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(yaml.safe_dump({
        "participants": "world/participants.yaml", "certs": "world/keys",
        "tls": {"cert": "world/keys/gateway.pem", "key": "world/keys/gateway.key",
                "client_ca": "world/keys/ca.pem", "require_client_cert": True}}))
    cfg = ServerConfig.from_file(tmp_path / "gw.yaml")
    keys = (tmp_path / "world" / "keys").resolve()
    assert (cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca) == (str(keys / "gateway.pem"), str(keys / "gateway.key"),
                                                                str(keys / "ca.pem"))
    assert cfg.tls_require_client_cert is True
    assert ServerConfig.from_file(tmp_path / "gw.yaml", tls_require_client_cert=False).tls_require_client_cert is False
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"participants": "p", "certs": "c",
                                                      "tls": {"require_client_cert": "yes"}}))
    with pytest.raises(InputError):
        ServerConfig.from_file(tmp_path / "bad.yaml")
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump({"participants": "p", "certs": "c"}))
    plain = ServerConfig.from_file(tmp_path / "plain.yaml")
    assert (plain.tls_cert, plain.tls_client_ca, plain.tls_require_client_cert) == (None, None, False)


@pytest.mark.parametrize("kw", [
    {"tls_cert": "x.pem"},  # no key
    {"tls_client_ca": "ca.pem"},  # client certificates without HTTPS
    {"tls_cert": "x.pem", "tls_key": "x.key", "tls_require_client_cert": True},  # required, but from which CA?
    {"tls_cert": "x.pem", "tls_key": "x.key", "http_port": None},  # TLS for a listener that is off
])
def test_tls_settings_that_cannot_work_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(InputError) as exc:
        build_ssl_context(ServerConfig(participants="p", certs="c", **kw))
    assert exc.value.code == "config-invalid"


def test_unreadable_tls_files_are_refused(tmp_path: Path, server_cert: ServerFiles) -> None:
    with pytest.raises(InputError) as exc:
        build_ssl_context(ServerConfig(participants="p", certs="c", tls_cert=str(tmp_path / "nope.pem"),
                                       tls_key=str(tmp_path / "nope.key")))
    assert exc.value.code == "io-unreadable"
    with pytest.raises(InputError):
        build_ssl_context(ServerConfig(participants="p", certs="c", tls_cert=str(server_cert.cert),
                                       tls_key=str(server_cert.key), tls_client_ca=str(tmp_path / "nope.pem")))
    assert build_ssl_context(ServerConfig(participants="p", certs="c")) is None


def test_tgw_up_refuses_client_ca_without_https(world: DevWorld, tmp_path: Path) -> None:
    r = subprocess.run([TGW, "up", "--participants", str(world.registry_path), "--certs", str(world.keys_dir),
                        "--db", str(tmp_path / "gw.db"), "--tls-client-ca", str(world.keys_dir / "ca.pem")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--tls-cert" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- tgw keys server, openssl


def _openssl_verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_tgw_keys_server_and_openssl_purposes(world: DevWorld, tmp_path: Path) -> None:
    out = tmp_path / "tls"
    r = subprocess.run([TGW, "keys", "server", str(out), "--name", "gateway", "--host", "127.0.0.1",
                        "--host", "localhost", "--host", "::1", "--ca", str(world.keys_dir)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cert = load_certificates(out / "gateway.pem")[0]
    assert r.stdout.strip() == sn_of_serial(cert.serial_number)  # as openssl x509 -serial prints it
    assert (out / "gateway.key").stat().st_mode & 0o777 == 0o600
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    ca = world.keys_dir / "ca.pem"
    ok = _openssl_verify(ca, out / "gateway.pem", "sslserver")
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    assert _openssl_verify(ca, out / "gateway.pem", "sslclient").returncode != 0  # not a client certificate
    for p in world.participants.values():
        client = _openssl_verify(ca, p.cert_path, "sslclient")
        assert client.returncode == 0 and "OK" in client.stdout, client.stdout + client.stderr
        assert _openssl_verify(ca, p.cert_path, "sslserver").returncode != 0

    # overwrite refused without --force; no host is a usage error; nonsense host too
    again = subprocess.run([TGW, "keys", "server", str(out), "--host", "localhost", "--ca", str(world.keys_dir)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "--force" in again.stderr
    for args in (["--ca", str(world.keys_dir)], ["--host", "bad host!", "--ca", str(world.keys_dir)]):
        bad = subprocess.run([TGW, "keys", "server", str(tmp_path / "x"), *args], capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_participant_certificates_keep_signing_usage_and_add_client_auth(world: DevWorld) -> None:
    cert = load_certificates(world.participants["bank-a"].cert_path)[0]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("hosts", [[], ["exa mple"], ["-bad.example"], ["a..b"]])
def test_issue_server_refuses_bad_hosts(world: DevWorld, tmp_path: Path, hosts: list[str]) -> None:
    with pytest.raises(ValueError):
        issue_server(tmp_path, name="gateway", hosts=hosts, ca_dir=world.keys_dir)
    assert not (tmp_path / "gateway.key").exists()


async def test_who_am_i_names_the_certificate_it_was_authenticated_by(
        world: DevWorld, server_cert: ServerFiles, tmp_path: Path) -> None:
    """GET /v1/participants/me over mutual TLS: `authenticated_by` and the client certificate's
    SN and fingerprint (SHA-256 of its DER, as openssl prints it); a mismatch stays a 401."""
    import hashlib

    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = world.keys_dir / "bank-a.pem"
    der = _x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    fingerprint = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    async with tls_gateway(world, server_cert, tmp_path, client_ca=world.keys_dir / "ca.pem") as t:
        status, me = await t.call(t.ctx("bank-a"), "GET", "/v1/participants/me")
        assert status == 200 and me["id"] == "bank-a" and me["authenticated_by"] == "certificate"
        assert me["client_certificate"]["fingerprint_sha256"] == fingerprint
        assert me["client_certificate"]["sn"] in me["cert_sns"]
        status, me = await t.call(t.ctx("bank-a"), "GET", "/v1/participants/me", token=t.token("bank-a"))
        assert status == 200 and me["authenticated_by"] == "certificate+token"
        status, body = await t.call(t.ctx("bank-a"), "GET", "/v1/participants/me", token=t.token("bank-b"))
        assert status == 401 and body["code"] == "unauthenticated"
        async with GatewayClient.http(t.url, ssl=t.ctx("bank-b"), participant_id="bank-b") as c:
            assert (await c.whoami())["authenticated_by"] == "certificate"
