"""No participant can speak for another (issue 14), in the pure pipeline, for every catalog VtCode.

The rule is data: `sender_elements` / `receipt_sender_elements` beside each VtCode in
messages/catalog.yaml. These tests are driven from the catalog, so a new VtCode is covered (and
one without a decided rule fails to load).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from gateway_helpers import rebuild, receipt_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sender_cases import (
    BANK_C_CODE,
    OTHER_ADM,
    add_other_division,
    all_forged,
    forged_cases,
    genuine_sender,
    pairs,
    voucher,
)

from gateway.pipeline import Admitted, Refused, admit_envelope
from messages.catalog import RETURN_REASON_FIELD, _load, get_catalog
from messages.envelope import encode_envelope, parse_envelope
from messages.schema import element_order
from messages.sealing import seal, seal_as_role, voucher_body
from runner.world import DevWorld

CATALOG_YAML = Path(__file__).resolve().parent.parent / "messages" / "catalog.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    w = DevWorld.create(tmp_path_factory.mktemp("world"))
    add_other_division(w)
    return w


def admit(world: DevWorld, data: bytes, sender: str) -> list[Admitted | Refused]:
    registry = world.registry()
    p = registry.get(sender)
    assert p is not None
    return admit_envelope(data, p, registry, world.certs(), at=dt.datetime.now(dt.UTC))


# ---------------------------------------------------------------------- the rule is data, decided for every type


@pytest.mark.parametrize("vtcode", get_catalog().codes())
def test_every_vtcode_decides_the_elements_naming_its_sender(vtcode: str) -> None:
    vt = get_catalog().get(vtcode)
    head, _ = element_order(vt.xsd)
    flags = (0, 1) if vt.has_receipt else (0,)
    for flag in flags:
        rule = vt.sender_elements_for(flag)
        names = [r.element for r in rule]
        assert "AdmDivCode" in names, (vtcode, flag)
        assert set(names) <= set(head), f"{vtcode}: {names} are not all head elements of {vt.xsd}"
        if vt.sender_for(flag) == "bank" and vt.recipient_for(flag) == "bank":
            # bank to bank: PayBankCode names the recipient (the paying bank), another code the sender
            assert "PayBankCode" not in names and any(r.kind == "bank_code" for r in rule), (vtcode, flag)
        elif vt.sender_for(flag) == "bank":
            # a bank is named by its bank code wherever the voucher carries one in the head
            assert ("PayBankCode" in names) == ("PayBankCode" in head), (vtcode, flag)
        else:
            assert all(r.kind == "adm_div_code" for r in rule), (vtcode, flag)


def test_a_vtcode_without_a_sender_rule_does_not_load() -> None:
    raw = yaml.safe_load(CATALOG_YAML.read_text(encoding="utf-8"))
    assert _load(raw).get("2301").sender_elements  # the real file loads
    entry = next(e for e in raw["vouchers"] if e["vtcode"] == "2301")
    del entry["sender_elements"]
    with pytest.raises(ValueError, match="2301: sender_elements must decide"):
        _load(raw)
    raw = yaml.safe_load(CATALOG_YAML.read_text(encoding="utf-8"))
    entry = next(e for e in raw["vouchers"] if e["vtcode"] == "5201")
    del entry["receipt_sender_elements"]
    with pytest.raises(ValueError, match="5201: receipt_sender_elements must decide"):
        _load(raw)
    raw = yaml.safe_load(CATALOG_YAML.read_text(encoding="utf-8"))
    entry = next(e for e in raw["vouchers"] if e["vtcode"] == "5201")
    entry["sender_elements"] = ["AdmDivCode", "PayBankCode"]  # a treasury has no bank code
    with pytest.raises(ValueError, match="only a bank sender is named by a bank code"):
        _load(raw)
    raw = yaml.safe_load(CATALOG_YAML.read_text(encoding="utf-8"))
    next(e for e in raw["vouchers"] if e["vtcode"] == "2301")["sender_elements"] = ["AdmDivCode", "PayeeAcctNo"]
    with pytest.raises(ValueError, match="sender_element_kinds does not define"):
        _load(raw)


# ---------------------------------------------------------------------- every type, every element, every role


@pytest.mark.parametrize(("vtcode", "flag"), pairs())
def test_the_genuine_sender_is_admitted(world: DevWorld, vtcode: str, flag: int) -> None:
    vt = get_catalog().get(vtcode)
    sender = genuine_sender(world, vt, flag)
    [out] = admit(world, world.envelope([voucher(world, vtcode, flag)], sender=sender, flag=flag), sender)
    assert isinstance(out, Admitted), [str(i) for i in out.issues]


@pytest.mark.parametrize(("vtcode", "flag"), pairs())
def test_a_voucher_naming_another_participant_is_not_authorized(world: DevWorld, vtcode: str, flag: int) -> None:
    """Before: bank-b, sealing with its own certificate, sent a 2301 (2302, 3501, 7102...) with
    bank-a's PayBankCode and the gateway delivered it; a treasury or central bank was held to its
    AdmDivCode only by a check outside the catalog."""
    cases = forged_cases(world, vtcode, flag)
    assert cases, f"{vtcode} flag {flag}: no element names the sender"
    wrong = []
    for case in cases:
        [out] = admit(world, world.envelope([case.voucher], sender=case.sender, flag=flag), case.sender)
        if not isinstance(out, Refused):
            wrong.append(f"{case.id}: admitted from {case.sender}")
            continue
        [issue] = out.issues
        if (issue.code != "not-authorized" or case.expected_message not in issue.message or issue.line is None
                or not (issue.path or "").endswith(f"/Voucher#/Voucher/{case.element}")):
            wrong.append(f"{case.id}: {issue}")
    assert not wrong, "\n".join(wrong)


def test_the_cases_cover_every_role_and_both_kinds_of_element(world: DevWorld) -> None:
    cases = all_forged(world)
    roles = {get_catalog().get(c.vtcode).sender_for(c.flag) for c in cases}
    assert roles == {"treasury", "bank", "pboc"}
    assert {c.element for c in cases} == {"AdmDivCode", "PayBankCode", "PayeeAcctBankNo"}
    assert {c.named for c in cases} >= {"bank-a", "bank-c", "treasury-990200", "pboc-990200",
                                        "no registered participant"}


def test_bank_b_cannot_send_bank_a_s_clearing_request(world: DevWorld) -> None:
    """The finding as reported: bank-b's 2301 carrying bank-a's PayBankCode."""
    forged = voucher(world, "2301", 0, voucher_no="HK0001")
    [out] = admit(world, world.envelope([forged], sender="bank-b"), "bank-b")
    assert isinstance(out, Refused) and out.code == "not-authorized"
    assert out.issues[0].message.startswith("PayBankCode 999100000001 names bank-a, not the sender bank-b")
    [ok] = admit(world, world.envelope([forged], sender="bank-a"), "bank-a")
    assert isinstance(ok, Admitted) and ok.recipient == world.pboc.id


# ---------------------------------------------------------------------- seals the type does not take


def test_a_seal_at_a_position_the_type_does_not_take_is_refused(world: DevWorld) -> None:
    """Before: garbage at 102 or a rogue certificate's seal at 999 on an original 5201 was
    accepted and forwarded to the bank unverified."""
    original = voucher(world, "5201", 0, voucher_no="SEAL0001")
    body = world.sealed(original, sender=world.treasury.id)
    garbage = replace(body.signatures[0], no="102", value=b"garbage")
    rogue = seal(voucher_body(original), world.signer("bank-b"), ["999"]).signatures[0]
    for extra in (garbage, rogue):
        [out] = admit(world, encode_envelope([body.with_signature(extra)]), world.treasury.id)
        assert isinstance(out, Refused), extra.no
        assert out.code == "wrong-seal-position"
        assert out.issues[0].path is not None and out.issues[0].path.endswith(f"Signature[@No='{extra.no}']")
    [ok] = admit(world, encode_envelope([body]), world.treasury.id)
    assert isinstance(ok, Admitted)


# ---------------------------------------------------------------------- Return_Reason and VoucherFlag under seal


@pytest.mark.parametrize("vtcode", [vt.vtcode for vt in get_catalog() if vt.has_receipt])
def test_every_receipt_carries_its_return_reason_under_its_seals(vtcode: str) -> None:
    head, _ = element_order(get_catalog().get(vtcode).xsd)
    assert RETURN_REASON_FIELD in head


def _returned_receipt(world: DevWorld, no: str) -> bytes:
    return receipt_of(voucher(world, "5201", 0, voucher_no=no))


def test_return_reason_changed_on_the_way_is_refused(world: DevWorld) -> None:
    """Before: Return_Reason travelled outside the seal, so anyone on the path could change it."""
    body = world.sealed(_returned_receipt(world, "RR0001"), sender="bank-a", flag=1,
                        return_reason="payee-account-closed: 收款账户已销户")
    assert body.return_reason == "payee-account-closed: 收款账户已销户"
    assert "<XReturnReason>payee-account-closed: 收款账户已销户</XReturnReason>".encode() in body.voucher
    [ok] = admit(world, encode_envelope([body]), "bank-a")
    assert isinstance(ok, Admitted), ok
    for changed in ("payee-name-mismatch: 户名不符", None, ""):
        [out] = admit(world, encode_envelope([replace(body, return_reason=changed)]), "bank-a")
        assert isinstance(out, Refused), changed
        assert out.code == "return-reason-mismatch"
        assert out.issues[0].path is not None and out.issues[0].path.endswith("/Return_Reason")
    # a reason added on the way to a receipt that was paid
    paid = world.sealed(_returned_receipt(world, "RR0002"), sender="bank-a", flag=1)
    [out] = admit(world, encode_envelope([replace(paid, return_reason="forged: 伪造")]), "bank-a")
    assert isinstance(out, Refused) and out.code == "return-reason-mismatch"
    # and the sealed copy itself cannot be changed: that breaks the receipt's seals
    tampered = body.voucher.replace("收款账户已销户".encode(), "户名不符".encode())
    [out] = admit(world, encode_envelope([replace(body, voucher=tampered, return_reason="payee-account-closed: 户名不符")]),
                  "bank-a")
    assert isinstance(out, Refused) and out.code == "bad-signature"


def test_an_original_carries_no_return_reason(world: DevWorld) -> None:
    original = rebuild(voucher(world, "5201", 0, voucher_no="RR0003"), XReturnReason="x: y")
    body = seal_as_role(voucher_body(original), world.signer(world.treasury.id), "treasury")
    [out] = admit(world, encode_envelope([body]), world.treasury.id)
    assert isinstance(out, Refused) and out.code == "receipt-fields-unexpected"


def test_voucher_flag_changed_on_the_way_is_refused(world: DevWorld) -> None:
    """VoucherFlag is bound by the sealed bytes: a receipt's X-fields are filled and sealed by the
    recipient role, an original's are empty and sealed by the sender role."""
    original = world.sealed(voucher(world, "5201", 0, voucher_no="FL0001"), sender=world.treasury.id)
    receipt = world.sealed(_returned_receipt(world, "FL0002"), sender="bank-a", flag=1)
    notice = world.sealed(voucher(world, "7102", 0, voucher_no="FL0003"), sender="bank-a")
    for body, sender in ((original, world.treasury.id), (receipt, "bank-a"), (notice, "bank-a")):
        [ok] = admit(world, encode_envelope([body]), sender)
        assert isinstance(ok, Admitted)
        flipped = encode_envelope([replace(body, flag=1 - body.flag)])
        assert parse_envelope(flipped).bodies[0].flag != body.flag
        for who in {sender, world.treasury.id, "bank-a"}:
            [out] = admit(world, flipped, who)
            assert isinstance(out, Refused), (body.key, who)
            assert out.code in {"receipt-fields-missing", "receipt-fields-unexpected", "receipt-not-allowed"}, \
                out.code


def test_docs_security_table_is_the_catalog_rule() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text(encoding="utf-8")
    for vt in get_catalog():
        original = f"{vt.sender}: " + ", ".join(e.element for e in vt.sender_elements)
        receipt = (f"{vt.recipient}: " + ", ".join(e.element for e in vt.receipt_sender_elements)
                   if vt.has_receipt else "no receipt")
        row = next((line for line in doc.splitlines() if line.startswith(f"| {vt.vtcode} |")), None)
        assert row is not None, f"docs/security.md has no row for {vt.vtcode}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert (cells[2], cells[4]) == (original, receipt), vt.vtcode


_BANK_PAIRS = [(vt.vtcode, flag) for vt in get_catalog() for flag in ((0, 1) if vt.has_receipt else (0,))
               if vt.sender_for(flag) == "bank"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=st.sampled_from(_BANK_PAIRS),
       # bank-b's own code, bank-a's, bank-c's, or any 12 digits; the world's AdmDivCode, the other, or any
       code=st.sampled_from(["999100000002", "999100000001", BANK_C_CODE]) | st.from_regex(r"[0-9]{12}", fullmatch=True),
       adm=st.sampled_from(["990100", OTHER_ADM]) | st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_a_bank_is_admitted_only_under_its_own_codes(world: DevWorld, pair: tuple[str, int], code: str,
                                                     adm: str) -> None:
    """Any bank code and AdmDivCode, any bank-sent type: bank-b's voucher passes authorization only
    when both name bank-b (then it is admitted: its recipient is the one treasury or central bank)."""
    vtcode, flag = pair
    own_code, own_adm = world.participants["bank-b"].bank_codes[0], world.adm_div_code
    head = {"AdmDivCode": adm}
    named_by = [r.element for r in get_catalog().get(vtcode).sender_elements_for(flag) if r.kind == "bank_code"]
    if named_by:
        head.update(dict.fromkeys(named_by, code))
        if "PayBankCode" not in named_by:  # bank to bank (2252): PayBankCode is the recipient, bank-a
            head["PayBankCode"] = world.participants["bank-a"].bank_codes[0]
    else:
        code = own_code  # the receipt names the bank it answers, not its sender
    data = world.envelope([voucher(world, vtcode, flag, voucher_no="HYP0001", **head)], sender="bank-b", flag=flag)
    [out] = admit(world, data, "bank-b")
    if code == own_code and adm == own_adm:
        assert isinstance(out, Admitted), [str(i) for i in out.issues]
    else:
        assert isinstance(out, Refused) and out.code == "not-authorized", out
        element = "AdmDivCode" if adm != own_adm else named_by[0]
        assert out.issues[0].message.startswith(f"{element} {adm if adm != own_adm else code} names ")


def test_a_payee_bank_refund_notice_goes_from_the_payee_bank_to_the_paying_bank(world: DevWorld) -> None:
    """2252 (收款行退款通知) is bank to bank: bank-b, the payee's bank naming itself in PayeeAcctBankNo,
    reaches bank-a (PayBankCode); bank-a cannot send one in bank-b's name. Before: 2252 went bank →
    treasury, named by PayBankCode, so a payee's bank could not tell the paying bank at all."""
    a, b = (world.participants[x].bank_codes[0] for x in ("bank-a", "bank-b"))
    notice = voucher(world, "2252", 0, voucher_no="ST2252001", PayBankCode=a, PayeeAcctBankNo=b)
    [ok] = admit(world, world.envelope([notice], sender="bank-b"), "bank-b")
    assert isinstance(ok, Admitted) and ok.recipient == "bank-a"
    [forged] = admit(world, world.envelope([notice], sender="bank-a"), "bank-a")
    assert isinstance(forged, Refused) and forged.code == "not-authorized"
    assert forged.issues[0].message.startswith(f"PayeeAcctBankNo {b} names bank-b, not the sender bank-a")
