"""Server assembly: the certificate store is the certs directory plus the registry's own files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.participants import Participant, load_registry, save_registry
from gateway.pipeline import Admitted, admit_envelope
from gateway.server import certificate_store
from messages.envelope import encode_envelope
from messages.errors import InputError
from messages.keys import issue_participant
from messages.sealing import seal_as_role, voucher_body
from messages.signing import KeySigner
from runner.world import DevWorld

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _register_outside_bank(world: DevWorld, tmp_path: Path) -> tuple[Path, Path, str]:
    """bank-c's certificate lives outside the certs directory, named only by the registry."""
    files = issue_participant(tmp_path / "elsewhere", participant_id="bank-c", role="bank", ca_dir=world.keys_dir)
    registry = load_registry(world.registry_path).with_participant(Participant(
        id="bank-c", role="bank", name="示例银行丙", adm_div_codes=(world.adm_div_code,),
        cert_files=(str(files.cert),), cert_sns=(files.sn,), bank_codes=("999100000003",)))
    save_registry(registry, world.registry_path)
    return files.key, files.cert, files.sn


def test_a_certificate_named_only_by_the_registry_verifies(tmp_path: Path) -> None:
    world = DevWorld.create(tmp_path / "world")
    key, cert, sn = _register_outside_bank(world, tmp_path)
    registry = load_registry(world.registry_path)
    store = certificate_store(str(world.keys_dir), registry)
    assert store.get(sn) is not None
    assert world.certs().get(sn) is None  # the directory alone does not know it

    # quota arrival notice, bank → treasury, in bank-c's own name (the pipeline refuses another bank's code)
    voucher = (SAMPLES / "7102" / "original.xml").read_bytes().replace(
        b"<PayBankCode>999100000011</PayBankCode>", b"<PayBankCode>999100000003</PayBankCode>")
    assert b"999100000003" in voucher
    body = seal_as_role(voucher_body(voucher), KeySigner.from_files(key, cert), "bank")
    sender = registry.get("bank-c")
    assert sender is not None
    [outcome] = admit_envelope(encode_envelope([body]), sender, registry, store, at=dt.datetime.now(dt.UTC))
    assert isinstance(outcome, Admitted), outcome
    assert outcome.recipient == world.treasury.id


def test_a_stale_certificate_under_a_registered_serial_refuses_to_start(tmp_path: Path) -> None:
    """The certs directory holds another certificate with bank-a's serial (a stale or forged file):
    which key signs for that SN would be ambiguous, so the server refuses to start."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    world = DevWorld.create(tmp_path / "world")
    real_path = world.participants["bank-a"].cert_path
    real = x509.load_pem_x509_certificate(real_path.read_bytes())
    moved = tmp_path / "registered" / "bank-a.pem"  # the registered file now lives outside the dir
    moved.parent.mkdir()
    moved.write_bytes(real_path.read_bytes())
    registry = load_registry(world.registry_path)
    bank_a = registry.get("bank-a")
    assert bank_a is not None
    save_registry(registry.with_participant(Participant(
        id="bank-a", role="bank", name=bank_a.name, adm_div_codes=bank_a.adm_div_codes,
        cert_files=(str(moved),), bank_codes=bank_a.bank_codes)), world.registry_path)
    key = ec.generate_private_key(ec.SECP256R1())
    twin = (x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer)
            .public_key(key.public_key()).serial_number(real.serial_number)
            .not_valid_before(real.not_valid_before_utc).not_valid_after(real.not_valid_after_utc)
            .sign(key, hashes.SHA256()))
    real_path.write_bytes(twin.public_bytes(serialization.Encoding.PEM))  # same name, same SN, other key

    with pytest.raises(InputError) as caught:
        certificate_store(str(world.keys_dir), load_registry(world.registry_path))
    assert caught.value.code == "config-invalid"
    assert "bank-a" in str(caught.value) and "share SN" in str(caught.value)
