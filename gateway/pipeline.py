"""The admission pipeline, pure: bytes + who sent them + registry → per-voucher outcomes.

parse → validate → verify → authorize. No IO, no clock reading (the caller passes `at`):
deduplication and journaling need the store and happen in `gateway.journal`, which takes
these outcomes as they are. Each VoucherBody gets its own outcome; an envelope that cannot
be parsed at all gets one rejection for the whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.participants import Participant, Registry
from messages.catalog import Role, SenderKind
from messages.envelope import (
    SignatureEntry,
    VoucherBody,
    VoucherKey,
    envelope_issue_for,
    parse_envelope,
    single_envelope,
)
from messages.errors import InputError, Issue
from messages.signing import CertificateStore
from messages.validate import CheckedVoucher, check_body, verify_body
from messages.voucher import VoucherDoc
from messages.xmlsafe import DEFAULT_LIMITS, Limits

__all__ = ["Admitted", "Refused", "admit_envelope", "body_digest", "delivery_bytes", "outcome_from_plain",
           "outcome_to_plain"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """Passed every pure check; the journal decides duplicate / conflict / new.

    `doc` is the voucher the pipeline parsed, handed along in-process (the monitor reads its
    fields instead of parsing the bytes again); it is never compared and never leaves the
    process: an admission worker hands back `outcome_to_plain` tuples, which carry no tree, but
    may carry `screening`: what monitoring reads of the voucher, as plain values the worker took
    from its parse (`gateway.monitoring.engine.PaymentFacts.plain_of`), so that the monitor need
    not parse a worker's voucher again on the event loop. Never compared either.
    """

    body: VoucherBody
    sender: str
    # An original's recipient; for a receipt, the original's sender as the receipt's content names
    # it (None if it names no single participant): the receipt goes back to the original's sender,
    # and answers only an original of that sender (`gateway.journal`).
    recipient: str | None
    digest: bytes
    payload: bytes  # what the recipient will receive: `delivery_bytes(body)`
    doc: VoucherDoc | None = field(default=None, compare=False, repr=False)
    screening: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> VoucherKey:
        return self.body.key


@dataclass(frozen=True, slots=True)
class Refused:
    key: VoucherKey | None
    issues: tuple[Issue, ...]

    @property
    def code(self) -> str:
        return self.issues[0].code


Outcome = Admitted | Refused


def body_digest(body: VoucherBody) -> bytes:
    """Identity of a submission for idempotency: the exact voucher bytes and the flag.

    Signatures are left out on purpose: a sender re-signing the same voucher (new signature
    nonce with ECDSA) is the same voucher, not a conflict.
    """
    h = hashlib.sha256()
    h.update(bytes([body.flag]))
    h.update(body.voucher)
    return h.digest()


def delivery_bytes(body: VoucherBody, *, within: bytes | None = None, index: int = 0) -> bytes:
    """What the recipient receives: a one-voucher envelope with the sender's signatures. `within`:
    the envelope `body` was parsed from, at `index`; an in-process sender's `EncodedEnvelope` gives
    the body's element as it encoded it, cut out when the parse left it unchanged (`single_envelope`)."""
    return single_envelope(body, within=within, index=index)


def _answered(checked: CheckedVoucher, registry: Registry) -> str | None:
    """Whom a receipt answers: the one participant of the original's sender role named by every
    element that names an original's sender (`sender_elements`), which a receipt carries over
    unchanged (e.g. a central bank's 2301 receipt: AdmDivCode and the PayBankCode of the bank)."""
    role = checked.vtype.sender
    named: set[str] | None = None
    for rule in checked.vtype.sender_elements_for(0):
        value = checked.doc.get(rule.element)
        ids = set(_named_by(rule.kind, value, role, registry)) if value else set()
        named = ids if named is None else named & ids
    return next(iter(named)) if named is not None and len(named) == 1 else None


def _route(checked: CheckedVoucher, registry: Registry) -> tuple[str | None, Issue | None]:
    vt, body = checked.vtype, checked.body
    if body.flag == 1:
        return _answered(checked, registry), None
    role = vt.recipient
    if role == "bank":
        bank_code = checked.doc.get("PayBankCode") or checked.doc.get("AgentBankCode")
        if bank_code:
            bank = registry.bank_for_code(bank_code, body.adm_div_code)
            if bank is None:
                return None, envelope_issue_for(body, "no-recipient", f"no agent bank with code {bank_code} serves "
                                                f"AdmDivCode {body.adm_div_code}", "Voucher#/Voucher/PayBankCode")
            return bank.id, None
    candidates = registry.serving(role, body.adm_div_code)
    if len(candidates) != 1:
        what = "no" if not candidates else f"{len(candidates)}"
        return None, envelope_issue_for(body, "no-recipient", f"{what} participants of role {role} serve AdmDivCode "
                                        f"{body.adm_div_code}; cannot route {vt.vtcode}", "@AdmDivCode")
    return candidates[0].id, None


def _named_by(kind: SenderKind, value: str, role: Role, registry: Registry) -> list[str]:
    """Who an element value names: the participants of `role` holding that AdmDivCode, or the
    participants holding that bank code."""
    if kind == "adm_div_code":
        return [p.id for p in registry.serving(role, value)]
    return [p.id for p in registry.holding_bank_code(value)]


def _sender_element_issue(checked: CheckedVoucher, sender: Participant, registry: Registry) -> Issue | None:
    """Every element the catalog says names the sender (`sender_elements`) must name this sender:
    nobody may act in another participant's name, whatever its own seals and role."""
    body = checked.body
    for rule in checked.vtype.sender_elements_for(body.flag):
        value = checked.doc.get(rule.element)
        own = sender.adm_div_codes if rule.kind == "adm_div_code" else sender.bank_codes
        if value and value in own:
            continue
        others = [pid for pid in _named_by(rule.kind, value, sender.role, registry) if pid != sender.id]
        whom = ", ".join(others) if others else "no registered participant"
        mine = ", ".join(own) or "none"
        return envelope_issue_for(
            body, "not-authorized",
            f"{rule.element} {value or '(empty)'} names {whom}, not the sender {sender.id} (its "
            f"{'AdmDivCodes' if rule.kind == 'adm_div_code' else 'bank codes'}: {mine}); the "
            f"{rule.element} of {'a receipt of' if body.flag else 'an original'} {checked.vtype.vtcode} "
            "must name its sender", f"Voucher#/Voucher/{rule.element}")
    return None


def _authorize(checked: CheckedVoucher, sender: Participant, registry: Registry) -> Issue | None:
    vt, body = checked.vtype, checked.body
    expected_role = vt.sender_for(body.flag)
    if sender.role != expected_role:
        kind = "receipt of" if body.flag else "original"
        return envelope_issue_for(body, "not-authorized", f"a {sender.role} may not send the {kind} {vt.vtcode} "
                                  f"({vt.name_en}); only a {expected_role} may", "@VtCode")
    problem = _sender_element_issue(checked, sender, registry)
    if problem is not None:
        return problem
    # The sender's own seal must be made with one of the sender's own certificates: a valid
    # signature by another participant of the same role is not this sender's consent.
    own_seals = {s.no for s in vt.seals_for(body.flag) if s.role == sender.role}
    for sig in body.signatures:
        if sig.no in own_seals:
            owner = registry.by_sn(sig.sn)
            if owner is None or owner.id != sender.id:
                who = owner.id if owner else "an unregistered certificate"
                issue = envelope_issue_for(body, "wrong-seal-position", f"seal {sig.no} is signed by {who}, not "
                                           f"by the sender {sender.id}", f"SignatureList/Signature[@No='{sig.no}']")
                return replace(issue, line=sig.line or issue.line)
    return None


def admit_body(body: VoucherBody, sender: Participant, registry: Registry, certs: CertificateStore,
               *, at: dt.datetime, limits: Limits = DEFAULT_LIMITS, within: bytes | None = None,
               index: int = 0) -> Outcome:
    try:
        checked = check_body(body, limits=limits)
    except InputError as exc:
        return Refused(body.key, tuple(exc.issues))
    issues = verify_body(checked, certs, at=at)
    if issues:
        return Refused(body.key, tuple(issues))
    problem = _authorize(checked, sender, registry)
    if problem is not None:
        return Refused(body.key, (problem,))
    recipient, problem = _route(checked, registry)
    if problem is not None:
        return Refused(body.key, (problem,))
    return Admitted(body, sender.id, recipient, body_digest(body),
                    delivery_bytes(body, within=within, index=index), checked.doc)


def admit_envelope(data: bytes, sender: Participant, registry: Registry, certs: CertificateStore,
                   *, at: dt.datetime, limits: Limits = DEFAULT_LIMITS) -> list[Outcome]:
    try:
        envelope = parse_envelope(data, limits=limits)
    except InputError as exc:
        return [Refused(None, tuple(exc.issues))]
    return [admit_body(b, sender, registry, certs, at=at, limits=limits, within=data, index=i)
            for i, b in enumerate(envelope.bodies)]


# ------------------------------------------------------------------ outcomes as plain tuples
# What an admission worker sends back to the gateway: tuples of str/bytes/int/None only, which
# pickle (and unpickle) several times faster than the dataclasses they stand for, and which
# carry no parsed tree (`Admitted.doc` stays behind in the worker).


def _issue_plain(issue: Issue) -> tuple[Any, ...]:
    return (issue.code, issue.message, issue.line, issue.path)


def _body_plain(body: VoucherBody) -> tuple[Any, ...]:
    return (body.adm_div_code, body.st_year, body.vtcode, body.voucher_no, body.flag, body.voucher,
            tuple((s.no, s.sn, s.value, s.line) for s in body.signatures), body.return_reason, body.attach,
            body.sign_stamps, body.line)


def outcome_to_plain(outcome: Outcome, screening: tuple[Any, ...] | None = None, *,
                     within: bytes | None = None) -> tuple[Any, ...]:
    """An outcome as nested tuples of plain values; `outcome_from_plain` rebuilds an equal one
    (an Admitted with `screening`, plain values too, beside it). `within`: the envelope the
    outcome was admitted from; a payload that is that envelope itself (a one-voucher envelope,
    delivered as it came: `delivery_bytes`) is left out, and `outcome_from_plain` given the same
    envelope puts it back (the bytes need not travel back to where they came from)."""
    if isinstance(outcome, Admitted):
        payload = outcome.payload
        return (0, _body_plain(outcome.body), outcome.sender, outcome.recipient, outcome.digest,
                None if within is not None and payload is within else payload, screening)
    key = tuple(outcome.key) if outcome.key is not None else None
    return (1, key, tuple(_issue_plain(i) for i in outcome.issues))


def outcome_from_plain(plain: tuple[Any, ...], *, within: bytes | None = None) -> Outcome:
    if plain[0] == 0:
        _, b, sender, recipient, digest, payload, screening = plain
        if payload is None:  # the envelope itself (`outcome_to_plain`)
            if within is None:
                raise ValueError("an outcome whose payload is its envelope needs that envelope (within=)")
            payload = within
        body = VoucherBody(b[0], b[1], b[2], b[3], b[4], b[5], tuple(SignatureEntry(*s) for s in b[6]),
                           b[7], b[8], b[9], b[10])
        return Admitted(body, sender, recipient, digest, payload, None, screening)
    _, key, issues = plain
    return Refused(VoucherKey(*key) if key is not None else None, tuple(Issue(*i) for i in issues))
