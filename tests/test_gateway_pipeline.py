"""The pure admission pipeline: bytes + sender + registry → per-voucher outcomes (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from gateway_helpers import bad_envelopes, payment, receipt_of, resigned_envelope

from gateway.pipeline import Admitted, Refused, admit_envelope, body_digest
from messages.envelope import encode_envelope, encode_envelope_spans, parse_envelope
from messages.errors import CODES
from runner.world import DevWorld


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[DevWorld, DevWorld]:
    return (DevWorld.create(tmp_path_factory.mktemp("world")),
            DevWorld.create(tmp_path_factory.mktemp("other-world")))


def admit(world: DevWorld, data: bytes, sender: str) -> list[Admitted | Refused]:
    registry = world.registry()
    p = registry.get(sender)
    assert p is not None
    return admit_envelope(data, p, registry, world.certs(), at=dt.datetime.now(dt.UTC))


def test_good_payment_is_admitted_and_routed_by_pay_bank_code(worlds: tuple[DevWorld, DevWorld]) -> None:
    world, _ = worlds
    for bank in ("bank-a", "bank-b"):
        [out] = admit(world, world.envelope([payment(world, bank=bank)], sender=world.treasury.id),
                      world.treasury.id)
        assert isinstance(out, Admitted), out
        assert out.recipient == bank
        assert out.sender == world.treasury.id


def test_receipt_is_admitted_naming_the_original_s_sender(worlds: tuple[DevWorld, DevWorld]) -> None:
    world, _ = worlds
    [out] = admit(world, world.envelope([receipt_of(payment(world))], sender="bank-a", flag=1), "bank-a")
    assert isinstance(out, Admitted), out
    # whom the receipt's content names as the original's sender (its AdmDivCode: the treasury);
    # the journal attaches it only to an original of that sender delivered to bank-a
    assert out.recipient == world.treasury.id
    assert out.key.flag == 1


CODES_BY_PIPELINE = [
    "envelope-invalid", "envelope-count-mismatch", "envelope-key-mismatch", "base64-invalid", "xml-malformed",
    "xml-forbidden-dtd", "xml-forbidden-entity", "xml-too-deep", "xml-namespace", "xml-version", "xml-forbidden-pi", "xml-forbidden-comment", "xsd-invalid", "unknown-vtcode", "bad-date", "detail-sum-mismatch", "styear-mismatch",
    "receipt-fields-missing", "receipt-fields-unexpected", "missing-signature", "bad-signature",
    "unknown-certificate", "wrong-seal-position", "not-authorized", "no-recipient",
]


def test_every_pipeline_code_is_registered() -> None:
    assert set(CODES_BY_PIPELINE) <= set(CODES)


@pytest.mark.parametrize("code", CODES_BY_PIPELINE)
def test_each_reject_code_from_a_real_bad_input(worlds: tuple[DevWorld, DevWorld], code: str) -> None:
    world, other = worlds
    cases = bad_envelopes(world, other)[code]
    assert cases
    for sender, data in cases:
        outcomes = admit(world, data, sender)
        assert len(outcomes) == 1
        [out] = outcomes
        assert isinstance(out, Refused), f"{code}: admitted {out}"
        assert out.code == code, f"expected {code}, got {[str(i) for i in out.issues]}"
        assert out.issues[0].message  # a human message naming what is at fault


def test_a_namespaced_voucher_is_refused_naming_the_namespace_at_its_element(
        worlds: tuple[DevWorld, DevWorld]) -> None:
    world, other = worlds
    [(sender, data)] = bad_envelopes(world, other)["xml-namespace"]
    [out] = admit(world, data, sender)
    assert isinstance(out, Refused)
    issue = out.issues[0]
    assert issue.path == "/MOF/VoucherBody[@VoucherNo='NS0001']/Voucher#/Voucher", issue
    assert "'urn:x'" in issue.message and issue.line == 2


def test_envelope_level_refusal_has_no_key_body_level_has_one(worlds: tuple[DevWorld, DevWorld]) -> None:
    world, other = worlds
    cases = bad_envelopes(world, other)
    [whole] = admit(world, *cases["envelope-count-mismatch"][0][::-1])
    assert isinstance(whole, Refused) and whole.key is None
    [one] = admit(world, *cases["bad-date"][0][::-1])
    assert isinstance(one, Refused) and one.key is not None and one.key.vtcode == "5201"


def test_mixed_envelope_one_outcome_per_body_in_order(worlds: tuple[DevWorld, DevWorld]) -> None:
    world, _ = worlds
    from gateway_helpers import rebuild

    vouchers, expect = [], []
    for i in range(50):
        v = payment(world, voucher_no=f"MIX{i:04d}")
        if i % 7 == 3:
            v = rebuild(v, VouDate="20260230")
            expect.append("bad-date")
        elif i % 11 == 5:
            v = rebuild(v, StYear="2027")
            expect.append("styear-mismatch")
        else:
            expect.append(None)
        vouchers.append(v)
    outcomes = admit(world, world.envelope(vouchers, sender=world.treasury.id), world.treasury.id)
    assert len(outcomes) == 50
    for i, (out, want) in enumerate(zip(outcomes, expect, strict=True)):
        assert out.key is not None and out.key.voucher_no == f"MIX{i:04d}"
        if want is None:
            assert isinstance(out, Admitted), out
        else:
            assert isinstance(out, Refused) and out.code == want


def test_an_in_process_sender_s_bodies_are_journalled_as_cut_out_of_its_envelope(
        worlds: tuple[DevWorld, DevWorld], monkeypatch: pytest.MonkeyPatch) -> None:
    import messages.envelope as envelope_module

    world, _ = worlds
    bodies = [world.sealed(payment(world, bank=bank), sender=world.treasury.id) for bank in ("bank-a", "bank-b")]
    expected = [encode_envelope([b]) for b in bodies]
    data = encode_envelope_spans(bodies)
    encoded: list[object] = []
    real = envelope_module._body_bytes
    monkeypatch.setattr(envelope_module, "_body_bytes", lambda b, *a: encoded.append(b) or real(b, *a))
    outcomes = admit(world, data, world.treasury.id)
    assert [o.payload for o in outcomes if isinstance(o, Admitted)] == expected
    assert encoded == []  # no body encoded again
    assert [o.payload for o in admit(world, bytes(data), world.treasury.id) if isinstance(o, Admitted)] == expected
    assert len(encoded) == 2  # plain bytes (any other transport): each body encoded for its recipient


def test_digest_ignores_signatures_but_not_bytes_or_flag(worlds: tuple[DevWorld, DevWorld]) -> None:
    world, _ = worlds
    v = payment(world)
    a = parse_envelope(world.envelope([v], sender=world.treasury.id)).bodies[0]
    b = parse_envelope(resigned_envelope(world, v, sender=world.treasury.id)).bodies[0]
    assert a.signatures != b.signatures  # ECDSA with another (random) nonce: another signature
    assert body_digest(a) == body_digest(b)
    from dataclasses import replace

    assert body_digest(replace(a, flag=1)) != body_digest(a)
    assert body_digest(replace(a, voucher=v + b" ")) != body_digest(a)


def test_certificates_are_checked_against_the_given_time(worlds: tuple[DevWorld, DevWorld], tmp_path: Path) -> None:
    world, _ = worlds
    data = world.envelope([payment(world)], sender=world.treasury.id)
    registry = world.registry()
    p = registry.get(world.treasury.id)
    assert p is not None
    far = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    [out] = admit_envelope(data, p, registry, world.certs(), at=far)
    assert isinstance(out, Refused) and out.code == "certificate-invalid"
