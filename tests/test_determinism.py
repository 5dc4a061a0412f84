"""Building blocks of deterministic simulated runs: seeded keys, RFC 6979 signatures, message ids
from simulated time, and the journal digest (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_database
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from gateway_helpers import FixedClock
from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from gateway import journal_digest as digest_mod
from gateway import message_ids as ids_mod
from gateway.clock import BusinessClock
from gateway.journal import SIM_ID_TAG, MessageIds
from gateway.service import Gateway
from messages.factory import payment_voucher
from messages.keys import (
    SEEDED_NOT_AFTER,
    SEEDED_NOT_BEFORE,
    create_ca,
    derive_private_key,
    derive_serial,
    issue_participant,
    issue_server,
    load_certificates,
    serial_sn,
)
from messages.signing import CertificateStore, KeySigner, verify_signature
from runner.world import DevWorld

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
START = dt.datetime(2026, 3, 16, 9, 0, tzinfo=TZ)
DAY = START.date()

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


# ------------------------------------------------------------------------------ seeded keys


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=-(2**70), max_value=2**70),
       label=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))
def test_derived_key_and_serial_are_pure_and_in_range(seed: int, label: str) -> None:
    key = derive_private_key(seed, label)
    scalar = key.private_numbers().private_value
    assert 1 <= scalar < P256_ORDER
    assert derive_private_key(seed, label).private_numbers().private_value == scalar
    assert derive_private_key(seed + 1, label).private_numbers().private_value != scalar
    assert derive_private_key(seed, label + "x").private_numbers().private_value != scalar
    serial = derive_serial(seed, label)
    assert 0 < serial < 2 ** (19 * 8) and serial == derive_serial(seed, label)
    assert derive_serial(seed, label) != derive_serial(seed, label + "x")


def test_seed_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        derive_private_key(True, "bank-a")
    with pytest.raises(TypeError):
        derive_serial("7", "bank-a")  # type: ignore[arg-type]


def _seeded_pki(d: Path, seed: int) -> dict[str, str]:
    ca = create_ca(d, seed=seed)
    bank = issue_participant(d, participant_id="bank-a", role="bank", ca_dir=d, seed=seed)
    server = issue_server(d, name="gateway", hosts=["127.0.0.1"], ca_dir=d, seed=seed)
    return {"ca": ca.sn, "bank": bank.sn, "server": server.sn}


def test_seeded_files_are_identical_run_to_run(tmp_path: Path) -> None:
    sns_a = _seeded_pki(tmp_path / "a", 42)
    sns_b = _seeded_pki(tmp_path / "b", 42)
    assert sns_a == sns_b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["bank-a.key", "bank-a.pem", "ca.key", "ca.pem", "gateway.key", "gateway.pem"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    sns_c = _seeded_pki(tmp_path / "c", 43)
    assert set(sns_c.values()).isdisjoint(sns_a.values())
    assert (tmp_path / "c" / "bank-a.key").read_bytes() != (tmp_path / "a" / "bank-a.key").read_bytes()


def test_seeded_certificates_have_fixed_wide_validity_and_are_trusted_now(tmp_path: Path) -> None:
    sns = _seeded_pki(tmp_path, 1)
    [cert] = load_certificates(tmp_path / "bank-a.pem")
    assert cert.not_valid_before_utc == SEEDED_NOT_BEFORE and cert.not_valid_after_utc == SEEDED_NOT_AFTER
    assert serial_sn(cert) == sns["bank"] == format(derive_serial(1, "bank-a"), "X")
    store = CertificateStore.from_dir(tmp_path)
    assert store.check(sns["bank"], at=dt.datetime.now(dt.UTC)).participant_id == "bank-a"
    # an explicit not_before still wins (tests make expired certificates this way)
    old = issue_participant(tmp_path, participant_id="bank-old", role="bank", ca_dir=tmp_path, seed=1,
                            not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=10)
    [old_cert] = load_certificates(old.cert)
    assert old_cert.not_valid_after_utc == dt.datetime(2020, 1, 11, tzinfo=dt.UTC)


@needs_openssl
def test_openssl_accepts_the_seeded_chain(tmp_path: Path) -> None:
    _seeded_pki(tmp_path, 5)
    out = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "bank-a.pem", "gateway.pem"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_seeded_rsa_is_refused_before_writing_anything(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ECDSA"):
        create_ca(tmp_path / "rsa", algorithm="rsa", seed=1)
    assert not (tmp_path / "rsa").exists()
    create_ca(tmp_path / "ok", seed=1)
    with pytest.raises(ValueError, match="ECDSA"):
        issue_participant(tmp_path / "ok", participant_id="bank-a", role="bank", ca_dir=tmp_path / "ok",
                          algorithm="rsa", seed=1)
    assert not (tmp_path / "ok" / "bank-a.key").exists()


def test_unseeded_keys_stay_random(tmp_path: Path) -> None:
    a, b = create_ca(tmp_path / "a"), create_ca(tmp_path / "b")
    assert a.sn != b.sn
    assert (tmp_path / "a" / "ca.key").read_bytes() != (tmp_path / "b" / "ca.key").read_bytes()


def test_seeded_dev_world_signs_the_same_envelope_bytes(tmp_path: Path) -> None:
    wa, wb = DevWorld.create(tmp_path / "a", seed=9), DevWorld.create(tmp_path / "b", seed=9)
    assert sorted(c.sn for c in wa.certs()) == sorted(c.sn for c in wb.certs())
    assert [p.cert_sns for p in wa.registry()] == [p.cert_sns for p in wb.registry()]
    voucher = payment_voucher(voucher_no="D0000001", vou_date=DAY, amount_fen=100_00,
                              pay_bank_code=wa.participants["bank-a"].bank_codes[0])
    tid = wa.treasury.id
    assert wa.envelope([voucher], sender=tid) == wb.envelope([voucher], sender=tid)
    other = DevWorld.create(tmp_path / "c", seed=10)
    assert other.envelope([voucher], sender=tid) != wa.envelope([voucher], sender=tid)


def test_seeded_dev_world_refuses_rsa(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ECDSA"):
        DevWorld.create(tmp_path, algorithm="rsa", seed=1)


# ------------------------------------------------------------------------------ RFC 6979


def _self_signed_signer(key: ec.EllipticCurvePrivateKey) -> KeySigner:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rfc6979"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "bank")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(SEEDED_NOT_BEFORE).not_valid_after(SEEDED_NOT_AFTER)
            .sign(key, hashes.SHA256()))
    return KeySigner(key, cert)


def test_ecdsa_signing_follows_rfc6979_test_vector() -> None:
    """RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample"."""
    key = ec.derive_private_key(0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721,
                                ec.SECP256R1())
    r, s = decode_dss_signature(_self_signed_signer(key).sign(b"sample"))
    assert r == 0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716
    assert s == 0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=512))
def test_same_key_and_bytes_give_the_same_signature(data: bytes) -> None:
    signer = _self_signed_signer(derive_private_key(3, "treasury-990100"))
    sig = signer.sign(data)
    assert signer.sign(data) == sig
    assert verify_signature(signer.public_key, data, sig)
    assert signer.sign(data + b"x") != sig


@needs_openssl
def test_openssl_verifies_a_deterministic_signature(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    create_ca(d)
    files = issue_participant(d, participant_id="treasury-990100", role="treasury", ca_dir=d)
    signer = KeySigner.from_files(files.key, files.cert)
    data = "<Voucher><VoucherNo>D1</VoucherNo><PayeeAcctName>合成单位</PayeeAcctName></Voucher>".encode()
    sig = signer.sign(data)
    assert sig == signer.sign(data)
    (tmp_path / "voucher.xml").write_bytes(data)
    (tmp_path / "sig").write_bytes(sig)

    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], cwd=tmp_path, capture_output=True, text=True, check=False)

    assert openssl("x509", "-in", str(files.cert), "-pubkey", "-noout", "-out", "pub.pem").returncode == 0
    out = openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "voucher.xml")
    assert out.returncode == 0 and "Verified OK" in out.stdout, out.stdout + out.stderr


# ------------------------------------------------------------------------------ message ids


class SimClock:
    """The shape of the simulation engine's clock: `now()` and `is_simulated = True`."""

    is_simulated = True

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


def _us(at: dt.datetime) -> int:
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def test_simulated_ids_come_from_the_clock_and_a_sequence() -> None:
    clock = SimClock(START)
    ids = MessageIds(clock)
    assert ids.simulated
    first, second = ids.new(), ids.new()
    assert first == f"{_us(START):013x}{SIM_ID_TAG}000000"
    assert second == f"{_us(START):013x}{SIM_ID_TAG}000001"
    clock.at = START + dt.timedelta(microseconds=5)
    assert ids.new() == f"{_us(clock.at):013x}{SIM_ID_TAG}000000"
    again = MessageIds(SimClock(START))
    assert [again.new(), again.new()] == [first, second]


def test_business_clock_simulated_makes_simulated_ids() -> None:
    clock = BusinessClock.simulated(BusinessCalendar.default(), ClockConfig(), START)
    assert MessageIds(clock).new() == f"{_us(START):013x}{SIM_ID_TAG}000000"


@pytest.mark.parametrize("clock", [None, FixedClock(START), "live"])
def test_live_ids_stay_wall_time_with_a_process_tag(clock: Any) -> None:
    if clock == "live":
        clock = BusinessClock.live(BusinessCalendar.default(), ClockConfig())
    ids = MessageIds(clock)
    assert not ids.simulated
    mid = ids.new()
    assert len(mid) == 25 and mid[13:19] == ids_mod._ID_TAG
    assert abs(int(mid[:13], 16) - ids_mod.now_us()) < 3_600_000_000  # wall time, not START


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.integers(min_value=-3, max_value=3), min_size=1, max_size=60),
       resume_at=st.integers(min_value=0, max_value=59))
def test_simulated_ids_strictly_increase_also_across_a_resume(steps: Sequence[int], resume_at: int) -> None:
    clock = SimClock(START)
    ids = MessageIds(clock)
    made: list[str] = []
    for n, step in enumerate(steps):
        if n == resume_at:  # a restart: a new source that resumes after the last id journaled
            ids = MessageIds(clock)
            ids.resume(made[-1] if made else None)
        clock.at += dt.timedelta(microseconds=step)  # the clock may stand still or even step back
        made.append(ids.new())
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(m[13:19] == SIM_ID_TAG for m in made)


def test_resume_ignores_live_and_malformed_ids() -> None:
    ids = MessageIds(SimClock(START))
    for other in ("ffffffffffffff" + "abcdef" + "000000", "x" * 25, "", f"{'z' * 13}{SIM_ID_TAG}000000"):
        ids.resume(other)
    assert ids.new() == f"{_us(START):013x}{SIM_ID_TAG}000000"


def test_simulated_clock_must_give_aware_datetimes() -> None:
    from messages.errors import StateError

    with pytest.raises(StateError):
        MessageIds(SimClock(dt.datetime(2026, 3, 16, 9, 0))).new()


# ------------------------------------------------------------------------------ journal digest


@asynccontextmanager
async def fresh_db(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A new empty database of `backend`; several may be open at once in one test."""
    async with fresh_database(backend, tmp_path, name=f"{uuid.uuid4().hex[:8]}.db") as database:
        yield database


def _vouchers(world: DevWorld, count: int, *, changed: int | None = None) -> list[bytes]:
    out = []
    for n in range(count):
        bank = world.banks[n % len(world.banks)]
        amount = 1_000_00 + n + (1 if n == changed else 0)
        out.append(payment_voucher(voucher_no=f"D{n:07d}", vou_date=DAY, amount_fen=amount,
                                   pay_bank_code=bank.bank_codes[0], adm_div_code=world.adm_div_code))
    return out


async def _run(world: DevWorld, db: Any, vouchers: Sequence[bytes], *,
               clock: SimClock | None = None) -> tuple[list[str | None], str]:
    """Submit `vouchers` (two per envelope, the simulated clock moving a second per envelope),
    have bank-a take its deliveries, and return the message ids and the journal digest."""
    clock = clock or SimClock(START)
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)
    await gw.start()
    try:
        treasury = gw.registry.get(world.treasury.id)
        assert treasury is not None
        ids: list[str | None] = []
        for start in range(0, len(vouchers), 2):
            results = await gw.submit(world.envelope(list(vouchers[start:start + 2]), sender=treasury.id), treasury)
            assert all(r.status == "accepted" for r in results), results
            ids.extend(r.message_id for r in results)
            clock.at += dt.timedelta(seconds=1)
        bank = gw.registry.get("bank-a")
        assert bank is not None
        items = await gw.outbox.inbox(bank.id, limit=1000)
        await gw.ack(bank, [i.message_id for i in items[::2]])  # some delivered, some still ready
        return ids, await gw.journal_digest()
    finally:
        await gw.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_same_submissions_give_the_same_ids_and_digest(backend: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest_mod, "DIGEST_PAGE_ROWS", 3)  # several pages, the last one partial
    wa, wb = DevWorld.create(tmp_path / "a", seed=11), DevWorld.create(tmp_path / "b", seed=11)
    async with fresh_db(backend, tmp_path) as db1, fresh_db(backend, tmp_path) as db2:
        ids1, digest1 = await _run(wa, db1, _vouchers(wa, 8))
        ids2, digest2 = await _run(wb, db2, _vouchers(wb, 8))
    assert ids1 == ids2 and all(m is not None and m[13:19] == SIM_ID_TAG for m in ids1)
    assert digest1 == digest2 and len(digest1) == 64


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_one_changed_voucher_changes_the_digest(backend: str, tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "w", seed=12)
    async with fresh_db(backend, tmp_path) as db1, fresh_db(backend, tmp_path) as db2, \
            fresh_db(backend, tmp_path) as db3:
        _, base = await _run(world, db1, _vouchers(world, 6))
        _, changed = await _run(world, db2, _vouchers(world, 6, changed=4))
        _, later = await _run(world, db3, _vouchers(world, 6), clock=SimClock(START + dt.timedelta(seconds=1)))
    assert changed != base
    assert later != base  # other simulated times: other message ids and business times


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_digest_does_not_depend_on_the_page_size(backend: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    world = DevWorld.create(tmp_path / "w", seed=13)
    async with fresh_db(backend, tmp_path) as db:
        _, digest = await _run(world, db, _vouchers(world, 7))
        gw = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=SimClock(START))
        for rows in (1, 2, 7, 1000):
            monkeypatch.setattr(digest_mod, "DIGEST_PAGE_ROWS", rows)
            assert await gw.journal_digest() == digest
        empty_gw = Gateway(db=db, registry=world.registry(), certs=world.certs())
        assert await empty_gw.journal_digest() == digest  # reading needs no running gateway


async def test_sqlite_and_postgres_give_the_same_digest(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "w", seed=14)
    async with fresh_db("sqlite", tmp_path) as lite, fresh_db("postgres", tmp_path) as pg:
        ids_lite, digest_lite = await _run(world, lite, _vouchers(world, 5))
        ids_pg, digest_pg = await _run(world, pg, _vouchers(world, 5))
    assert ids_lite == ids_pg and digest_lite == digest_pg


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_restart_at_the_same_simulated_time_never_reuses_an_id(backend: str, tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "w", seed=15)
    vouchers = _vouchers(world, 6)
    async with fresh_db(backend, tmp_path) as db:
        first, _ = await _run(world, db, vouchers[:4], clock=SimClock(START))
        second, _ = await _run(world, db, vouchers[4:], clock=SimClock(START))  # the clock starts over
    assert len(set(first + second)) == 6
    assert sorted(m or "" for m in first + second) == [m or "" for m in first + second]
