"""The participant registry: who may connect, with which credentials, keys and scope.

Loaded from YAML at start and frozen (aiohttp's habit: configuration does not change under a
running server). Secrets are stored hashed: the HTTP token as SHA-256, the MQTT password in
Mosquitto's own PBKDF2 format so `tgw mqtt-acl` can write the broker's files from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from messages.catalog import ROLES, Role
from messages.errors import InputError
from messages.files import read_error_code, read_regular, write_atomic
from messages.keys import canonical_sn
from messages.yamlsafe import load_yaml_file

__all__ = [
    "Participant",
    "Registry",
    "hash_token",
    "load_registry",
    "mosquitto_password_hash",
    "new_secret",
    "save_registry",
]

_ID = re.compile(r"[a-z0-9][a-z0-9\-]{1,62}")
_BANK_CODE = re.compile(r"[0-9]{12}")


def new_secret() -> str:
    """A token or MQTT password: URL-safe, and never starting with "-", which a command line would
    take for an option (`--token -abc...` fails to parse; 1 token in 64 did)."""
    while (secret := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mosquitto_password_hash(password: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """Mosquitto 2's `$7$` format: PBKDF2-HMAC-SHA512, as `mosquitto_passwd` writes it."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    role: Role
    name: str
    adm_div_codes: tuple[str, ...]
    cert_sns: tuple[str, ...] = ()  # certificate serials (upper hex) this participant signs with
    cert_files: tuple[str, ...] = ()
    bank_codes: tuple[str, ...] = ()  # for banks: the 12-digit codes vouchers are routed by
    token_sha256: str = ""
    mqtt_username: str = ""
    mqtt_password_hash: str = ""
    delivery: str = "pull"  # pull: HTTP inbox; push: MQTT or in-process bus inbox
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"participant id {self.id!r}: lowercase letters, digits and '-' only")
        if self.role not in ROLES:
            raise ValueError(f"participant {self.id}: role must be one of {', '.join(ROLES)}")
        if not self.adm_div_codes:
            raise ValueError(f"participant {self.id}: needs at least one AdmDivCode")
        for code in self.bank_codes:
            if not _BANK_CODE.fullmatch(code):
                raise ValueError(f"participant {self.id}: bank code {code!r} must be 12 digits")
        if self.delivery not in ("pull", "push"):
            raise ValueError(f"participant {self.id}: delivery must be pull or push")

    def check_token(self, token: str) -> bool:
        return bool(self.token_sha256) and hmac.compare_digest(self.token_sha256, hash_token(token))

    def as_public_dict(self) -> dict[str, Any]:
        """What other participants may see (no secrets)."""
        return {"id": self.id, "role": self.role, "name": self.name, "adm_div_codes": list(self.adm_div_codes),
                "bank_codes": list(self.bank_codes), "cert_sns": list(self.cert_sns), "delivery": self.delivery}


class Registry:
    """Immutable lookups over the participants."""

    def __init__(self, participants: Iterable[Participant]) -> None:
        by_id: dict[str, Participant] = {}
        by_sn: dict[str, Participant] = {}
        for p in participants:
            if p.id in by_id:
                raise ValueError(f"participant {p.id} listed twice")
            by_id[p.id] = p
            for sn in p.cert_sns:
                key = _sn_key(sn)
                if key in by_sn:
                    raise ValueError(f"certificate {sn} belongs to both {by_sn[key].id} and {p.id}")
                by_sn[key] = p
        self._by_id = MappingProxyType(by_id)
        self._by_sn = MappingProxyType(by_sn)
        self._by_token = MappingProxyType({p.token_sha256: p for p in by_id.values() if p.token_sha256})
        self._by_mqtt = MappingProxyType({p.mqtt_username: p for p in by_id.values() if p.mqtt_username})
        # Who serves (role, AdmDivCode), in registration order: asked for every voucher routed (a
        # bank by its code, a treasury or PBOC branch by the region), in time that does not grow
        # with the registry (it scanned every participant).
        serving: dict[tuple[str, str], list[Participant]] = {}
        for p in by_id.values():
            for code in dict.fromkeys(p.adm_div_codes):
                serving.setdefault((p.role, code), []).append(p)
        self._serving = MappingProxyType({key: tuple(ps) for key, ps in serving.items()})
        # Who holds a bank code, in registration order: a receipt names the bank that paid by its code.
        holding: dict[str, list[Participant]] = {}
        for p in by_id.values():
            for code in dict.fromkeys(p.bank_codes):
                holding.setdefault(code, []).append(p)
        self._holding = MappingProxyType({code: tuple(ps) for code, ps in holding.items()})

    def __iter__(self) -> Iterator[Participant]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, participant_id: str) -> Participant | None:
        return self._by_id.get(participant_id)

    def by_sn(self, sn: str) -> Participant | None:
        """The participant signing with that certificate serial, written as openssl prints it, in
        lower case or without openssl's leading zero."""
        found = self._by_sn.get(sn)  # already a key (as signers write it): no canonical form to compute
        return found if found is not None else self._by_sn.get(_sn_key(sn))

    def by_token(self, token: str) -> Participant | None:
        try:
            digest = hash_token(token)  # once: the lookup and the constant-time check share it
        except UnicodeEncodeError:  # bytes that are no UTF-8 (an HTTP header decoded with surrogates): no one's
            return None
        p = self._by_token.get(digest)
        return p if p is not None and p.token_sha256 and hmac.compare_digest(p.token_sha256, digest) else None

    def by_mqtt_username(self, username: str) -> Participant | None:
        return self._by_mqtt.get(username)

    def serving(self, role: Role, adm_div_code: str) -> list[Participant]:
        return list(self._serving.get((role, adm_div_code), ()))

    def holding_bank_code(self, bank_code: str) -> list[Participant]:
        """The participants whose bank codes include `bank_code`, in registration order."""
        return list(self._holding.get(bank_code, ()))

    def bank_for_code(self, bank_code: str, adm_div_code: str) -> Participant | None:
        for p in self._serving.get(("bank", adm_div_code), ()):
            if bank_code in p.bank_codes:
                return p
        return None

    def replacing(self, participants: Iterable[Participant]) -> Registry:
        """These participants in place of those with their ids, each where it was: the order is
        who serves first (`serving`), so a changed entry must not move to the end."""
        new = {p.id: p for p in participants}
        unknown = sorted(set(new) - set(self._by_id))
        if unknown:
            raise KeyError(f"no participant {', '.join(unknown)} in the registry")
        return Registry([new.get(p.id, p) for p in self._by_id.values()])

    def with_participant(self, participant: Participant) -> Registry:
        others = [p for p in self._by_id.values() if p.id != participant.id]
        return Registry([*others, participant])


def _sn_key(sn: str) -> str:
    """One key per serial however it is written (`keys.canonical_sn`); text that is no serial
    at all keeps its own upper-case key and so matches only itself."""
    try:
        return canonical_sn(sn)
    except InputError:
        return sn.upper()


def _participant(raw: Mapping[str, Any], base: Path) -> Participant:
    known = {"id", "role", "name", "adm_div_codes", "cert_sns", "certificates", "bank_codes",
             "token_sha256", "mqtt_username", "mqtt_password_hash", "delivery"}
    cert_files = tuple(str((base / c).resolve()) if not Path(c).is_absolute() else c
                       for c in _strings(raw, "certificates"))
    sns = [s.upper() for s in _strings(raw, "cert_sns")]
    for path in cert_files:
        sns.extend(_sns_in(Path(path)))
    return Participant(
        id=str(raw["id"]), role=raw["role"], name=str(raw.get("name", raw["id"])),
        adm_div_codes=_strings(raw, "adm_div_codes"),
        cert_sns=tuple(dict.fromkeys(sns)), cert_files=cert_files,
        bank_codes=_strings(raw, "bank_codes"),
        token_sha256=str(raw.get("token_sha256", "")),
        mqtt_username=str(raw.get("mqtt_username", "")),
        mqtt_password_hash=str(raw.get("mqtt_password_hash", "")),
        delivery=str(raw.get("delivery", "pull")),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list field as strings. A lone string is refused: iterated, "990100" would be the codes
    "9", "9", "0"..., a registry that silently serves nothing it was meant to."""
    value = raw.get(key) or ()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be a list, not {value!r}")
    return tuple(str(v) for v in value)


def _sns_in(path: Path) -> list[str]:
    from cryptography import x509

    from messages.keys import certificate_public_key, serial_sn

    try:
        data = read_regular(path)
    except OSError as exc:
        raise InputError(read_error_code(exc), f"certificate file {path}: {exc.strerror}") from None
    certs = x509.load_pem_x509_certificates(data)
    for cert in certs:
        try:
            certificate_public_key(cert)  # one no seal can be verified with: refused now, not at each voucher
        except InputError as exc:
            raise InputError(exc.code, f"certificate file {path}: {exc.issues[0].message}") from None
    return [serial_sn(c) for c in certs]


def load_registry(path: str | Path) -> Registry:
    path = Path(path)
    raw = load_yaml_file(path, code="io-unreadable", what=f"participants file {path}") or {}
    unknown = sorted(map(str, set(raw) - {"participants"})) if isinstance(raw, dict) else []
    if unknown:  # was: another YAML file (a config, a scenario) read as a registry of no one, exit 0
        raise InputError("io-unreadable", f"participants file {path}: unknown top-level key(s) {unknown}; a "
                                          "registry has `participants:` only")
    entries = raw.get("participants") or [] if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not all(isinstance(p, dict) for p in entries):
        raise InputError("io-unreadable", f"participants file {path}: expected `participants:` and a list of "
                                          "mappings, one a participant")
    participants = []
    for n, entry in enumerate(entries, 1):
        try:
            participants.append(_participant(entry, path.parent))
        except KeyError as exc:
            raise InputError("io-unreadable", f"participants file {path}: participant {n} has no {exc}") from None
        except InputError as exc:  # its certificate file: its own code (key-unsupported, io-not-regular...)
            raise InputError(exc.code, f"participants file {path}: participant {n}: {exc.issues[0].message}") \
                from None
        except (ValueError, TypeError) as exc:
            raise InputError("io-unreadable", f"participants file {path}: participant {n}: {exc}") from None
    try:
        return Registry(participants)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError("io-unreadable", f"participants file {path}: {exc}") from None


def save_registry(registry: Registry, path: str | Path) -> None:
    path = Path(path)
    out = []
    for p in registry:
        entry: dict[str, Any] = {"id": p.id, "role": p.role, "name": p.name,
                                 "adm_div_codes": list(p.adm_div_codes)}
        if p.cert_files:
            entry["certificates"] = [os.path.relpath(f, path.parent) for f in p.cert_files]
        file_sns = set()
        for f in p.cert_files:
            file_sns.update(_sns_in(Path(f)))
        extra_sns = [s for s in p.cert_sns if s not in file_sns]
        if extra_sns:
            entry["cert_sns"] = extra_sns
        for key in ("bank_codes",):
            if getattr(p, key):
                entry[key] = list(getattr(p, key))
        for key in ("token_sha256", "mqtt_username", "mqtt_password_hash"):
            if getattr(p, key):
                entry[key] = getattr(p, key)
        entry["delivery"] = p.delivery
        entry.update(dict(p.extra))
        out.append(entry)
    write_atomic(path, yaml.safe_dump({"participants": out}, allow_unicode=True, sort_keys=False))


def replace_participant(p: Participant, **changes: Any) -> Participant:
    return replace(p, **changes)
