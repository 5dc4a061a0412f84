"""Who may send what (issue 14): vouchers of every catalog VtCode naming their sender, and the
same vouchers naming someone else, built from the catalog's `sender_elements` rule.

Shared by the pipeline test (every case, pure) and the HTTP and MQTT tests (every case through
the real gateway). The world gets three more participants registered for another AdmDivCode, so
that a forged AdmDivCode names a real participant: a treasury, a central bank and a bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway_helpers import rebuild

from gateway.participants import Participant, save_registry
from messages.catalog import VoucherType, get_catalog
from messages.voucher import parse_voucher
from runner.world import DevWorld

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
OTHER_ADM = "990200"  # the other AdmDivCode (synthetic, like 990100)
BANK_C_CODE = "999100000003"  # bank-c, registered for OTHER_ADM only
UNREGISTERED_CODE = "999100000099"  # no participant's bank code


def add_other_division(world: DevWorld) -> None:
    """Register a treasury, a central bank and a bank for OTHER_ADM (no certificates: they never
    sign here, they are only the participants a forged element names)."""
    registry = world.registry()
    for p in (Participant(id=f"treasury-{OTHER_ADM}", role="treasury", name="另一财政", adm_div_codes=(OTHER_ADM,)),
              Participant(id=f"pboc-{OTHER_ADM}", role="pboc", name="另一国库", adm_div_codes=(OTHER_ADM,)),
              Participant(id="bank-c", role="bank", name="另一银行", adm_div_codes=(OTHER_ADM,),
                          bank_codes=(BANK_C_CODE,))):
        if registry.get(p.id) is None:
            registry = registry.with_participant(p)
    save_registry(registry, world.registry_path)


def pairs() -> list[tuple[str, int]]:
    """(VtCode, flag) for every original and every receipt the catalog allows."""
    out = []
    for vt in get_catalog():
        out.append((vt.vtcode, 0))
        if vt.has_receipt:
            out.append((vt.vtcode, 1))
    return out


def genuine_sender(world: DevWorld, vt: VoucherType, flag: int) -> str:
    role = vt.sender_for(flag)
    return {"treasury": world.treasury.id, "pboc": world.pboc.id, "bank": "bank-a"}[role]


def voucher(world: DevWorld, vtcode: str, flag: int, *, voucher_no: str | None = None, **head: str) -> bytes:
    """The catalog sample of that type and flag, in `world`'s AdmDivCode, naming bank-a in its
    PayBankCode (the sender, the recipient or the bank a receipt answers), with `head` on top."""
    sample = SAMPLES / vtcode / ("receipt.xml" if flag else "original.xml")
    fields = {"AdmDivCode": world.adm_div_code}
    base = rebuild(sample.read_bytes())
    doc = parse_voucher(base)
    if "PayBankCode" in doc.head():
        fields["PayBankCode"] = world.participants["bank-a"].bank_codes[0]
    vt = get_catalog().get(vtcode)
    other = [r.element for r in vt.sender_elements_for(flag) if r.kind == "bank_code" and r.element != "PayBankCode"]
    if other:  # bank to bank (a payee-bank refund notice): bank-a names itself there, PayBankCode the recipient
        fields.update({e: world.participants["bank-a"].bank_codes[0] for e in other})
        fields["PayBankCode"] = world.participants["bank-b"].bank_codes[0]
    if voucher_no:
        fields["VoucherNo"] = voucher_no
        if doc.get("Id"):
            fields["Id"] = f"V{vtcode}{voucher_no}"[:42]
    return rebuild(base, **{**fields, **head})


@dataclass(frozen=True, slots=True)
class Forged:
    """A voucher that names `named` (not `sender`) in `element`; `sender` seals it with its own key."""

    vtcode: str
    flag: int
    element: str
    value: str
    sender: str  # who sends (and seals) it
    named: str  # whom the element names ("no registered participant" for a code nobody holds)
    voucher: bytes
    genuine_sender: str  # the participant whose voucher it pretends to be (same key)
    genuine: bytes  # that participant's own voucher under the same key

    @property
    def expected_message(self) -> str:
        return f"{self.element} {self.value} names {self.named}, not the sender {self.sender}"

    @property
    def id(self) -> str:
        return f"{self.vtcode}-{'receipt' if self.flag else 'original'}-{self.element}-{self.named}"


def forged_cases(world: DevWorld, vtcode: str, flag: int, *, tag: str = "F") -> list[Forged]:
    """For every element the catalog says names the sender of (vtcode, flag): the voucher naming
    another participant. A bank code: bank-b sends bank-a's voucher, and a code nobody holds; an
    AdmDivCode: the genuine sender's role, for a division another participant of that role serves."""
    vt = get_catalog().get(vtcode)
    genuine_id = genuine_sender(world, vt, flag)
    out = []
    for n, rule in enumerate(vt.sender_elements_for(flag)):
        no = f"{tag}{vtcode}{flag}{n:02d}"
        genuine = voucher(world, vtcode, flag, voucher_no=no)
        if rule.kind == "bank_code":
            bank_a = world.participants["bank-a"].bank_codes[0]
            out.append(Forged(vtcode, flag, rule.element, bank_a, "bank-b", "bank-a",
                              voucher(world, vtcode, flag, voucher_no=no, **{rule.element: bank_a}),
                              "bank-a", genuine))
            out.append(Forged(vtcode, flag, rule.element, UNREGISTERED_CODE, "bank-b", "no registered participant",
                              voucher(world, vtcode, flag, voucher_no=no + "U", **{rule.element: UNREGISTERED_CODE}),
                              "bank-a", voucher(world, vtcode, flag, voucher_no=no + "U")))
        else:
            named = {"treasury": f"treasury-{OTHER_ADM}", "pboc": f"pboc-{OTHER_ADM}", "bank": "bank-c"}[vt.sender_for(flag)]
            out.append(Forged(vtcode, flag, rule.element, OTHER_ADM, genuine_id, named,
                              voucher(world, vtcode, flag, voucher_no=no, **{rule.element: OTHER_ADM}),
                              genuine_id, genuine))
    return out


def all_forged(world: DevWorld, *, tag: str = "F") -> list[Forged]:
    return [f for vtcode, flag in pairs() for f in forged_cases(world, vtcode, flag, tag=tag)]
