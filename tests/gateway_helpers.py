"""Helpers shared by the gateway tests: a world, a running gateway, its HTTP server, payment vouchers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from client import Delivery, GatewayClient
from gateway.http_app import make_app
from gateway.participants import save_registry
from gateway.service import Gateway, GatewayConfig
from messages.factory import payment_voucher
from runner.world import DevWorld

_counter = itertools.count(1)

DAY = dt.date(2026, 3, 16)


def payment(world: DevWorld, *, bank: str = "bank-a", amount_fen: int = 123_456, voucher_no: str | None = None,
            vtcode: str = "5201", day: dt.date = DAY) -> bytes:
    no = voucher_no or f"T{next(_counter):08d}"
    code = world.participants[bank].bank_codes[0]
    return payment_voucher(voucher_no=no, vou_date=day, pay_bank_code=code, amount_fen=amount_fen,
                           adm_div_code=world.adm_div_code, vtcode=vtcode)


def register_delivery(world: DevWorld, pid: str, delivery: str) -> DevWorld:
    """The world with `pid` registered `delivery: pull|push` (`tgw participants add --delivery`)."""
    registry = world.registry()
    participant = registry.get(pid)
    assert participant is not None
    save_registry(registry.with_participant(dataclasses.replace(participant, delivery=delivery)), world.registry_path)
    return world


class FixedClock:
    """Business time for tests that do not exercise the clock itself."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


@asynccontextmanager
async def running_gateway(world: DevWorld, db: Any, *, config: GatewayConfig | None = None,
                          at: dt.datetime | None = None) -> AsyncIterator[Gateway]:
    clock = FixedClock(at or dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    gateway = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock, config=config)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


# What a handler still running after the long polls were woken gets before it is cancelled (`tgw up`
# gives 10 s): an abandoned clock long poll or event stream, never a parked inbox poll.
SERVING_SHUTDOWN_S = 1.0


@asynccontextmanager
async def serving(gateway: Gateway, *, ssl_context: ssl.SSLContext | None = None,
                  **app_options: Any) -> AsyncIterator[str]:
    """`make_app(gateway, **app_options)` listening on 127.0.0.1 at a port the system picks; yields
    its base URL (https with `ssl_context`). On the way out it closes as `tgw up` does: the gateway
    stops taking work and wakes the inbox long polls (`Gateway.stop_accepting`, the first step of
    `Gateway.stop`), then the listener closes; whoever started the gateway still stops it."""
    runner = web.AppRunner(make_app(gateway, **app_options), access_log=None, shutdown_timeout=SERVING_SHUTDOWN_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        yield f"{'https' if ssl_context is not None else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        gateway.stop_accepting()
        await runner.cleanup()


# ---------------------------------------------------------------------- building (bad) inputs
# Added for the gateway core tests: every reject code produced by a real bad input.

def rebuild(voucher: bytes, *, drop: tuple[str, ...] = (), details: list[dict[str, str]] | None = None,
            **head: str) -> bytes:
    """The same voucher with head elements changed (or dropped) and, optionally, new details."""
    from messages.voucher import build_voucher, parse_voucher

    doc = parse_voucher(voucher)
    fields = {k: v for k, v in doc.head().items() if k not in drop and k != "VtCode"}
    fields.update(head)
    return build_voucher(doc.vtcode, fields, doc.details() if details is None else details,
                         encoding=doc.encoding)


def receipt_of(original: bytes, *, pay_date: str = "20260316", business_no: str = "BN0001") -> bytes:
    """The bank's receipt voucher: the original with the X-fields filled."""
    from messages.voucher import fill_receipt, parse_voucher

    doc = parse_voucher(original)
    return fill_receipt(doc, {"XPayDate": pay_date, "XPayAmt": doc.get("PayAmt"),
                              "XAgentBusinessNo": business_no})


def resigned_envelope(world: DevWorld, voucher: bytes, *, sender: str) -> bytes:
    """`world.envelope([voucher])` signed with a random ECDSA nonce instead of RFC 6979: the same
    voucher under other signature bytes, as another signer (openssl, an HSM) would make it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from messages.envelope import encode_envelope
    from messages.keys import load_private_key
    from messages.sealing import seal_as_role, voucher_body

    participant = world.participants[sender]
    loaded = load_private_key(participant.key_path)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    key: ec.EllipticCurvePrivateKey = loaded

    class RandomNonceSigner:
        sn = world.signer(sender).sn
        algorithm = "ecdsa"

        def sign(self, data: bytes) -> bytes:
            return key.sign(data, ec.ECDSA(hashes.SHA256()))

    return encode_envelope([seal_as_role(voucher_body(voucher), RandomNonceSigner(), participant.role)])


def voucher_of_delivery(envelope: bytes) -> bytes:
    """The voucher bytes inside a one-voucher delivery envelope."""
    from messages.envelope import parse_envelope

    bodies = parse_envelope(envelope).bodies
    assert len(bodies) == 1
    return bodies[0].voucher


async def deliver_one_payment(world: DevWorld, treasury: GatewayClient, bank: GatewayClient,
                              bank_id: str = "bank-a") -> Delivery:
    """The treasury sends one payment voucher to `bank_id`; the gateway accepts it for that bank,
    whose client receives exactly it (within 5 s) and acks it. The delivery, for what a test checks next."""
    original = payment(world, bank=bank_id)
    [res] = await treasury.send(world.envelope([original], sender=world.treasury.id))
    assert (res.status, res.recipient) == ("accepted", bank_id)
    [item] = await bank.receive(timeout_s=5)
    assert item.message_id == res.message_id and item.sender == world.treasury.id
    assert voucher_of_delivery(item.envelope) == original
    await bank.ack(item)
    return item


def raw_body(voucher: bytes, *, adm: str = "990100", year: str = "2026", vtcode: str = "5201",
             no: str = "RAW0001", flag: int = 0) -> bytes:
    """A one-body envelope around arbitrary voucher bytes (no signatures needed: checks come first)."""
    from messages.envelope import VoucherBody, encode_envelope

    return encode_envelope([VoucherBody(adm, year, vtcode, no, flag, voucher)])


def bad_envelopes(world: DevWorld, other_world: DevWorld) -> dict[str, list[tuple[str, bytes]]]:
    """code → [(sender id, envelope bytes)] that the pure pipeline must refuse with that code.

    `other_world` is a second DevWorld (another CA) whose keys this world does not know.
    """
    import base64
    from dataclasses import replace

    from messages.envelope import encode_envelope
    from messages.sealing import seal, voucher_body

    treasury, bank_a = world.treasury.id, "bank-a"
    good = payment(world)
    good_env = world.envelope([good], sender=treasury)
    out: dict[str, list[tuple[str, bytes]]] = {}

    out["envelope-invalid"] = [(treasury, b"<?xml version='1.0'?><NotMOF/>"),
                               (treasury, b"<MOF><VoucherBody/></MOF>")]
    out["envelope-count-mismatch"] = [(treasury, good_env.replace(b"<VoucherCount>1<", b"<VoucherCount>2<"))]
    body = world.sealed(good, sender=treasury)
    out["envelope-key-mismatch"] = [(treasury, encode_envelope([replace(body, voucher_no="OTHER0001")]))]
    b64 = base64.b64encode(good)
    out["base64-invalid"] = [(treasury, good_env.replace(b64, b"!!not*base64!!"))]
    out["xml-malformed"] = [(treasury, raw_body(b"<Voucher><VtCode>5201</VtCode>"))]
    out["xml-forbidden-dtd"] = [(treasury, raw_body(
        b'<?xml version="1.0"?>\n<!DOCTYPE Voucher>\n<Voucher><VtCode>5201</VtCode></Voucher>'))]
    out["xml-forbidden-entity"] = [(treasury, raw_body(
        b'<?xml version="1.0"?>\n<!DOCTYPE Voucher [<!ENTITY x "y">]>\n<Voucher><VtCode>&x;</VtCode></Voucher>'))]
    namespaced = payment(world, voucher_no="NS0001").replace(b"<Voucher>", b'<Voucher xmlns="urn:x">', 1)
    out["xml-namespace"] = [(treasury, raw_body(namespaced, no="NS0001"))]
    v11 = payment(world, voucher_no="V110001").replace(b'version="1.0"', b'version="1.1"', 1)
    out["xml-version"] = [(treasury, raw_body(v11, no="V110001"))]
    split = payment(world, voucher_no="PI0001").replace(b"<PayeeAcctName>", b"<PayeeAcctName>X<?pi y?>", 1)
    out["xml-forbidden-pi"] = [(treasury, raw_body(split, no="PI0001")),
                               (treasury, good_env.replace(b"<VoucherCount>", b"<?pi y?><VoucherCount>", 1))]
    split = payment(world, voucher_no="CM0001").replace(b"<PayeeAcctNo>", b"<PayeeAcctNo>9<!-- -->", 1)
    out["xml-forbidden-comment"] = [(treasury, raw_body(split, no="CM0001"))]
    out["xml-too-deep"] = [(treasury, raw_body(b"<Voucher>" + b"<a>" * 40 + b"</a>" * 40 + b"</Voucher>"))]
    no = "XSD0001"
    out["xsd-invalid"] = [(treasury, world.envelope([rebuild(payment(world, voucher_no=no), drop=("PayAcctNo",))],
                                                    sender=treasury))]
    raw = payment(world, voucher_no="VT0001").replace(b"<VtCode>5201</VtCode>", b"<VtCode>9999</VtCode>")
    out["unknown-vtcode"] = [(treasury, raw_body(raw, vtcode="9999", no="VT0001"))]
    out["bad-date"] = [(treasury, world.envelope([rebuild(payment(world), VouDate="20260231")], sender=treasury))]
    base = payment(world)
    from messages.voucher import parse_voucher

    details = parse_voucher(base).details()
    details[0]["PayAmt"] = "0.01" if details[0]["PayAmt"] != "0.01" else "0.02"
    out["detail-sum-mismatch"] = [(treasury, world.envelope([rebuild(base, details=details)], sender=treasury))]
    out["styear-mismatch"] = [(treasury, world.envelope([rebuild(payment(world), StYear="2025")], sender=treasury))]
    out["receipt-fields-missing"] = [(bank_a, world.envelope([payment(world)], sender=bank_a, flag=1))]
    out["receipt-fields-unexpected"] = [(treasury, world.envelope([receipt_of(payment(world))], sender=treasury))]
    # signatures
    body = world.sealed(payment(world), sender=treasury)
    out["missing-signature"] = [(treasury, encode_envelope([replace(body, signatures=body.signatures[:1])]))]
    original = payment(world)
    body = world.sealed(original, sender=treasury)
    tampered = original.replace("<PayeeAcctName>测试".encode(), "<PayeeAcctName>测验".encode(), 1)
    assert tampered != original
    out["bad-signature"] = [(treasury, encode_envelope([replace(body, voucher=tampered)]))]
    foreign = other_world.signer(other_world.treasury.id)
    out["unknown-certificate"] = [(treasury, encode_envelope([seal(voucher_body(payment(world)), foreign,
                                                                   ["001", "002"])]))]
    out["wrong-seal-position"] = [
        # a bank key at the treasury's seals
        (treasury, encode_envelope([seal(voucher_body(payment(world)), world.signer(bank_a), ["001", "002"])])),
        # bank-b signs a receipt that bank-a sends
        (bank_a, encode_envelope([seal(voucher_body(receipt_of(payment(world)), flag=1), world.signer("bank-b"),
                                       ["101", "102"])])),
    ]
    out["not-authorized"] = [
        # a bank forwards a treasury-signed original
        (bank_a, world.envelope([payment(world)], sender=treasury)),
        # the treasury sends for an AdmDivCode it does not serve
        (treasury, world.envelope([payment_voucher(voucher_no="ADM0001", vou_date=DAY, pay_bank_code="999100000001",
                                                   amount_fen=1000, adm_div_code="990200")], sender=treasury)),
    ]
    out["no-recipient"] = [(treasury, world.envelope([payment_voucher(
        voucher_no="NR0001", vou_date=DAY, pay_bank_code="999100000099", amount_fen=1000,
        adm_div_code=world.adm_div_code)], sender=treasury))]
    return out


async def db_cli_args(db: Any) -> list[str]:
    """`--db ... [--db-schema ...]` naming the same database (and schema) as an open `db`."""
    if db.url.startswith("sqlite:///"):
        return ["--db", db.url]
    row = await db.fetchrow("SELECT current_schema()")
    return ["--db", db.url, "--db-schema", row[0]]


async def table_count(db: Any, table: str, where: str = "", *params: Any) -> int:
    row = await db.fetchrow(f"SELECT COUNT(*) FROM {table} {where}", *params)
    return int(row[0])


def count_monitor_parses(monkeypatch: Any) -> list[bytes]:
    """Each voucher the gateway's monitor parses itself from bytes (not handed a parse), appended
    to the list returned, for as long as `monkeypatch` (pytest's) holds."""
    import gateway.monitoring.monitor as monitor_module

    parses: list[bytes] = []
    real = monitor_module.parse_voucher

    def counting(data: bytes, **kw: Any) -> Any:
        parses.append(data)
        return real(data, **kw)

    monkeypatch.setattr(monitor_module, "parse_voucher", counting)
    return parses
