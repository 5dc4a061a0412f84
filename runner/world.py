"""A synthetic development world: a CA, participants with real keys, tokens and a registry file,
and the customer accounts its banks hold (accounts.yaml, docs/rules.md "The world's accounts").

`tgw demo`, the benchmarks and the tests all build their participants here, so every one of
them runs with real certificates and real signatures. Every name and code is synthetic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bank_sim.returns import CASH_RETURNS, KNOWN_PAYEES, QUOTA_RETURNS, RETURN_RULES, UNIT_RELATIONS
from gateway.participants import (
    Participant,
    Registry,
    hash_token,
    load_registry,
    mosquitto_password_hash,
    new_secret,
    save_registry,
)
from messages.catalog import Role
from messages.envelope import VoucherBody, encode_envelope
from messages.factory import ADM_DIV_CODE
from messages.keys import create_ca, issue_participant
from messages.sealing import seal_as_role, voucher_body
from messages.signing import CertificateStore, KeySigner
from messages.voucher import build_voucher

__all__ = ["ACCOUNTS_FILE", "DEFAULT_BANKS", "DevWorld", "WorldParticipant", "accounts_document"]

DEFAULT_BANKS: tuple[tuple[str, str, str], ...] = (
    ("bank-a", "999100000001", "示例银行甲分行"),
    ("bank-b", "999100000002", "示例银行乙分行"),
)
ACCOUNTS_FILE = "accounts.yaml"
_ACCOUNTS_HEAD = """\
# The customer accounts each bank of this world holds, written by `tgw scenario world` from
# bank_sim/accounts.yaml (the simulated banks hold the same). A bank under test holds these too:
# a payment voucher for a bank (PayBankCode) whose PayeeAcctBankNo is that bank's own code names
# one of its accounts; the bank returns it unpaid by the first rule of returns_before_payment
# that applies (docs/rules.md, "Returned before payment"). Synthetic: never a real account.
"""


def accounts_document(banks: Sequence[tuple[str, str, str]]) -> str:
    """The world's accounts.yaml: per bank (id, code, name) the accounts it holds, and the rules
    by which a bank returns a payment voucher unpaid (code, when), in the order they apply."""
    return _accounts_document(tuple((bid, code, name) for bid, code, name in banks))


@lru_cache(maxsize=16)
def _accounts_document(banks: tuple[tuple[str, str, str], ...]) -> str:
    # Its other parts are bank_sim.returns' constants, read at import: the same text for the same
    # banks, so rendered once per process (a YAML dump of ~5 ms CPU, at every DevWorld.create).
    data = {
        "banks": [{"id": bid, "code": code, "name": name,
                   "accounts": [{"number": no, "holder": holder} for no, holder in KNOWN_PAYEES]}
                  for bid, code, name in banks],
        "own_account_rule": _own_account_rule(),
        "returns_before_payment": [*({"code": r.code, "when": r.when} for r in RETURN_RULES),
                                   *({"code": code, "when": when} for code, when in (*CASH_RETURNS, *QUOTA_RETURNS))],
    }
    return _ACCOUNTS_HEAD + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def _own_account_rule() -> dict[str, object]:
    """The data of the own-account rule (`zba-to-own-account`), as bank_sim/accounts.yaml has it."""
    r = UNIT_RELATIONS
    return {"units": [{"code": u, **({"superior": s} if s else {})} for u, s in r.superiors.items()],
            "unit_accounts": [{"number": no, "unit": unit, **({"replaces": r.replaces[no]} if no in r.replaces else {})}
                              for no, unit in r.owners.items()],
            "approved": [{"account": a, **({"payer": p} if p else {})} for a, p in r.approved]}


@dataclass(frozen=True, slots=True)
class WorldParticipant:
    id: str
    role: Role
    name: str
    key_path: Path
    cert_path: Path
    token: str
    mqtt_password: str
    bank_codes: tuple[str, ...] = ()

    def signer(self) -> KeySigner:
        return KeySigner.from_files(self.key_path, self.cert_path)


class DevWorld:
    """Files under `root`: keys/ (CA and participant keys), participants.yaml, secrets.json,
    accounts.yaml (the customer accounts its banks hold)."""

    def __init__(self, root: Path, adm_div_code: str, participants: Mapping[str, WorldParticipant]) -> None:
        self.root = root
        self.adm_div_code = adm_div_code
        self.participants = dict(participants)
        self._signers: dict[str, KeySigner] = {}

    @property
    def registry_path(self) -> Path:
        return self.root / "participants.yaml"

    @property
    def accounts_path(self) -> Path:
        return self.root / ACCOUNTS_FILE

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @classmethod
    def create(cls, root: str | Path, *, adm_div_code: str = ADM_DIV_CODE,
               banks: Sequence[tuple[str, str, str]] = DEFAULT_BANKS, algorithm: str = "ecdsa",
               delivery: str = "pull", seed: int | None = None,
               divisions: Sequence[tuple[str, Sequence[str]]] = ()) -> DevWorld:
        """A new world under `root` (its key files are replaced).

        `divisions`: (AdmDivCode, ids of the banks serving it) of each division the world's treasury
        and central bank serve (the registry's adm_div_codes, by which the gateway routes); by
        default one, `adm_div_code`, served by every bank. The first is the world's `adm_div_code`
        (and names its treasury and central bank).

        With `seed` (ECDSA or SM2), the CA's and every participant's key pair, certificate serial
        (the `SN` written into vouchers) and validity are derived from the seed and the
        participant id (`messages.keys`): the same seed gives the same certificate and key bytes,
        and with RFC 6979 signatures the same signed vouchers, on every run. Tokens and MQTT
        passwords stay random: they never reach a voucher or the journal.
        """
        root = Path(root)
        keys = root / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        # SM2 is for participants: their certificates come from an ECDSA CA (messages.keys).
        create_ca(keys, algorithm="ecdsa" if algorithm == "sm2" else algorithm, force=True, seed=seed)
        divisions = tuple((code, tuple(ids)) for code, ids in divisions) or (
            (adm_div_code, tuple(bid for bid, _, _ in banks)),)
        adm_div_code = divisions[0][0]
        serves: dict[str, tuple[str, ...]] = {  # participant id → the divisions it serves
            f"treasury-{adm_div_code}": tuple(code for code, _ in divisions),
            f"pboc-{adm_div_code}": tuple(code for code, _ in divisions),
            **{bid: tuple(code for code, ids in divisions if bid in ids) for bid, _, _ in banks}}
        specs: list[tuple[str, Role, str, tuple[str, ...]]] = [
            (f"treasury-{adm_div_code}", "treasury", "示例市财政局国库支付中心", ()),
            (f"pboc-{adm_div_code}", "pboc", "示例市人民银行国库", ()),
            *((bid, "bank", name, (code,)) for bid, code, name in banks),
        ]
        made: dict[str, WorldParticipant] = {}
        registry_entries = []
        for pid, role, name, codes in specs:
            files = issue_participant(keys, participant_id=pid, role=role, ca_dir=keys, algorithm=algorithm,
                                      force=True, seed=seed)
            token, mqtt_password = new_secret(), new_secret()
            made[pid] = WorldParticipant(pid, role, name, files.key, files.cert, token, mqtt_password, codes)
            registry_entries.append(Participant(
                id=pid, role=role, name=name, adm_div_codes=serves[pid], cert_sns=(files.sn,),
                cert_files=(str(files.cert),), bank_codes=codes, token_sha256=hash_token(token),
                mqtt_username=pid, mqtt_password_hash=mosquitto_password_hash(mqtt_password), delivery=delivery))
        world = cls(root, adm_div_code, made)
        save_registry(Registry(registry_entries), world.registry_path)
        secrets_path = root / "secrets.json"
        secrets_path.write_text(json.dumps(
            {p.id: {"token": p.token, "mqtt_password": p.mqtt_password} for p in made.values()}, indent=2))
        secrets_path.chmod(0o600)
        (root / ACCOUNTS_FILE).write_text(accounts_document(banks), encoding="utf-8")
        return world

    @classmethod
    def load(cls, root: str | Path) -> DevWorld:
        root = Path(root)
        secrets = json.loads((root / "secrets.json").read_text())
        registry = load_registry(root / "participants.yaml")
        made = {}
        adm = ""
        for p in registry:
            adm = adm or p.adm_div_codes[0]
            made[p.id] = WorldParticipant(p.id, p.role, p.name, root / "keys" / f"{p.id}.key",
                                          root / "keys" / f"{p.id}.pem", secrets[p.id]["token"],
                                          secrets[p.id]["mqtt_password"], p.bank_codes)
        return cls(root, adm, made)

    # -------------------------------------------------------------- lookups

    def registry(self) -> Registry:
        return load_registry(self.registry_path)

    def certs(self) -> CertificateStore:
        return CertificateStore.from_dir(self.keys_dir)

    def by_role(self, role: Role) -> list[WorldParticipant]:
        return [p for p in self.participants.values() if p.role == role]

    @property
    def treasury(self) -> WorldParticipant:
        return self.by_role("treasury")[0]

    @property
    def pboc(self) -> WorldParticipant:
        return self.by_role("pboc")[0]

    @property
    def banks(self) -> list[WorldParticipant]:
        return self.by_role("bank")

    def signer(self, participant_id: str) -> KeySigner:
        if participant_id not in self._signers:
            self._signers[participant_id] = self.participants[participant_id].signer()
        return self._signers[participant_id]

    # -------------------------------------------------------------- building signed envelopes

    def sealed(self, voucher: bytes, *, sender: str, flag: int = 0, return_reason: str | None = None) -> VoucherBody:
        p = self.participants[sender]
        return seal_as_role(voucher_body(voucher, flag=flag, return_reason=return_reason), self.signer(sender), p.role)

    def envelope(self, vouchers: Sequence[bytes], *, sender: str, flag: int = 0, encoding: str = "UTF-8") -> bytes:
        return encode_envelope([self.sealed(v, sender=sender, flag=flag) for v in vouchers], encoding=encoding)

    def voucher(self, vtcode: str, head: Mapping[str, Any], details: Sequence[Mapping[str, Any]] = (),
                *, encoding: str = "UTF-8") -> bytes:
        base = {"AdmDivCode": self.adm_div_code}
        return build_voucher(vtcode, {**base, **{k: str(v) for k, v in head.items()}},
                             [{k: str(v) for k, v in d.items()} for d in details], encoding=encoding)
