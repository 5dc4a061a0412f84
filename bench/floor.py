"""The floor: what each step of the pipeline costs for one voucher, on one core, in-process.

Used by `tgw bench --floor` and, measured in the same run, beside every other benchmark.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DAY_SEALS", "DEFAULT_FLOOR_OUT", "DEFAULT_SAMPLES", "REPO_ROOT", "day_floor", "machine", "measure",
           "print_floor_table", "run_floor"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLES = REPO_ROOT / "samples"
DEFAULT_FLOOR_OUT = REPO_ROOT / "bench" / "results" / "floor.json"
ROUNDS = 5
# A voucher's own floor in a simulated day: its original and its receipt each admitted whole
# (envelope parse + check + verify), and the seals signed on the way (two on each).
DAY_ADMISSIONS = 2
DAY_SEALS = 4


def measure(func: Callable[[], object], budget_s: float, rounds: int = ROUNDS) -> dict[str, float]:
    """Median µs/op over `rounds` rounds, each of as many iterations as fit in budget_s/rounds."""
    func()  # warm caches (schemas, key objects) outside the timing
    t0 = time.perf_counter_ns()
    func()
    one = max(time.perf_counter_ns() - t0, 100)
    per_round_ns = budget_s * 1e9 / rounds
    iterations = max(1, min(1_000_000, int(per_round_ns / one)))
    results = []
    cpu_results = []  # CPU time of this thread: on a loaded machine wall time also counts the waits
    for _ in range(rounds):
        start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(iterations):
            func()
        cpu_results.append((time.thread_time_ns() - cpu_start) / iterations / 1000)
        results.append((time.perf_counter_ns() - start) / iterations / 1000)
    median = statistics.median(results)
    return {"us_per_op": round(median, 2), "ops_per_s": round(1e6 / median) if median else 0,
            "cpu_us_per_op": round(statistics.median(cpu_results), 2),
            "min_us": round(min(results), 2), "max_us": round(max(results), 2),
            "iterations": iterations, "rounds": rounds}


def _tongsuopy_version() -> str:
    from importlib.metadata import version

    return version("tongsuopy")


def machine() -> dict[str, Any]:
    import cryptography
    from lxml import etree

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "cryptography": cryptography.__version__,
        "tongsuopy": _tongsuopy_version(),  # SM2/SM3
        "openssl": _openssl_version(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _openssl_version() -> str:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return str(backend.openssl_version_text())
    except Exception:  # noqa: BLE001 - a missing version string must not stop a benchmark
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def run_floor(seconds: float = 2.0, samples: Path = DEFAULT_SAMPLES,
              vtcodes: tuple[str, ...] = ("5201",)) -> dict[str, Any]:
    """Measure the per-voucher floor; returns {machine, vouchers: {vtcode: {step: figures}}}."""
    from messages.business import business_issues
    from messages.catalog import get_catalog
    from messages.envelope import SignatureEntry, VoucherBody, encode_envelope, parse_envelope
    from messages.keys import create_ca, issue_participant
    from messages.schema import validate_tree
    from messages.signing import CertificateStore, KeySigner, verify_signature
    from messages.validate import check_body, verify_body
    from messages.voucher import parse_voucher
    from messages.xmlsafe import DEFAULT_LIMITS, parse_xml

    catalog = get_catalog()
    result: dict[str, Any] = {"machine": machine(), "seconds_budget": seconds, "vouchers": {}}
    with tempfile.TemporaryDirectory(prefix="tgw-bench-") as tmp:
        create_ca(Path(tmp) / "ca", days=30)
        signers: dict[tuple[str, str], KeySigner] = {}
        for role in ("treasury", "bank", "pboc"):
            for alg in ("ecdsa", "rsa", "sm2"):
                files = issue_participant(Path(tmp) / "certs", participant_id=f"bench-{role}-{alg}", role=role,
                                          ca_dir=Path(tmp) / "ca", algorithm=alg, days=30)
                signers[(role, alg)] = KeySigner.from_files(files.key, files.cert)
        (Path(tmp) / "certs" / "ca.pem").write_bytes((Path(tmp) / "ca" / "ca.pem").read_bytes())
        store = CertificateStore.from_dir(Path(tmp) / "certs")
        at = dt.datetime.now(dt.UTC)

        n_steps = 16  # the steps measured per voucher type, below
        budget = seconds / max(1, len(vtcodes)) / n_steps

        def floor_of(vtcode: str) -> dict[str, Any]:
            voucher = (samples / vtcode / "original.xml").read_bytes()
            vt = catalog.get(vtcode)
            doc0 = parse_voucher(voucher)
            unsigned = VoucherBody(doc0.get("AdmDivCode"), doc0.get("StYear"), vtcode, doc0.get("VoucherNo"),
                                   0, voucher)
            body = unsigned
            for seal in vt.original_seals:
                s = signers[(seal.role, "ecdsa")]
                body = body.with_signature(SignatureEntry(seal.no, s.sn, s.sign(voucher)))
            envelope = encode_envelope([body])
            rsa_body = unsigned
            for seal in vt.original_seals:
                s = signers[(seal.role, "rsa")]
                rsa_body = rsa_body.with_signature(SignatureEntry(seal.no, s.sn, s.sign(voucher)))
            b64 = base64.b64encode(voucher)
            checked = check_body(body)
            assert not verify_body(checked, store, at=at), "bench setup: signatures must verify"
            sm2_body = unsigned
            for seal in vt.original_seals:
                s = signers[(seal.role, "sm2")]
                sm2_body = sm2_body.with_signature(SignatureEntry(seal.no, s.sn, s.sign(voucher)))
            assert not verify_body(check_body(sm2_body), store, at=at), "bench setup: SM2 signatures must verify"
            rsa_checked = check_body(rsa_body)
            assert not verify_body(rsa_checked, store, at=at), "bench setup: RSA signatures must verify"
            ec_signer, rsa_signer = signers[(vt.sender, "ecdsa")], signers[(vt.sender, "rsa")]
            ec_pub, rsa_pub = ec_signer.public_key, rsa_signer.public_key  # the certificates' keys (checked)
            ec_sig, rsa_sig = ec_signer.sign(voucher), rsa_signer.sign(voucher)
            sm2_signer = signers[(vt.sender, "sm2")]
            sm2_pub, sm2_sig = sm2_signer.public_key, sm2_signer.sign(voucher)
            limits = DEFAULT_LIMITS

            def full_ecdsa(env: bytes = envelope) -> None:
                for b in parse_envelope(env).bodies:
                    verify_body(check_body(b), store, at=at)

            steps: list[tuple[str, str, Callable[[], object]]] = [
                ("envelope_parse", "hardened envelope parse (parse_xml)",
                 lambda: parse_xml(envelope, bytes_max=limits.envelope_bytes_max, what="envelope")),
                ("envelope_decode", "envelope decode (parse_envelope: + envelope.xsd, base64)",
                 lambda: parse_envelope(envelope)),
                ("b64_inner_parse", "base64 + inner voucher parse",
                 lambda: parse_voucher(base64.b64decode(b64, validate=True))),
                ("xsd", f"XSD validation ({vt.xsd}, lxml)", lambda: validate_tree(checked.doc.root, vt.xsd)),
                ("business", "business checks", lambda: business_issues(checked.doc, vt, 0)),
                ("ecdsa_verify", "ECDSA-P256 verify", lambda: verify_signature(ec_pub, voucher, ec_sig)),
                ("ecdsa_sign", "ECDSA-P256 sign", lambda: ec_signer.sign(voucher)),
                ("rsa_verify", "RSA-2048 verify", lambda: verify_signature(rsa_pub, voucher, rsa_sig)),
                ("rsa_sign", "RSA-2048 sign", lambda: rsa_signer.sign(voucher)),
                ("sm2_verify", "SM2-SM3 verify (tongsuopy)", lambda: verify_signature(sm2_pub, voucher, sm2_sig)),
                ("sm2_sign", "SM2-SM3 sign (deterministic k)", lambda: sm2_signer.sign(voucher)),
                ("check_body", "check_body (parse, key, XSD, business)", lambda: check_body(body)),
                ("check_verify_ecdsa",
                 f"check_body + verify_body, ECDSA, {len(vt.original_seals)} seal(s)",
                 lambda: verify_body(check_body(body), store, at=at)),
                ("check_verify_rsa",
                 f"check_body + verify_body, RSA, {len(vt.original_seals)} seal(s)",
                 lambda: verify_body(check_body(rsa_body), store, at=at)),
                ("check_verify_sm2",
                 f"check_body + verify_body, SM2, {len(vt.original_seals)} seal(s)",
                 lambda: verify_body(check_body(sm2_body), store, at=at)),
                ("envelope_to_verified", "parse_envelope + check_body + verify_body (ECDSA)", full_ecdsa),
            ]
            figures: dict[str, Any] = {"voucher_bytes": len(voucher), "envelope_bytes": len(envelope),
                                       "seals": len(vt.original_seals), "steps": {}}
            for key, label, func in steps:
                figures["steps"][key] = {"label": label, **measure(func, budget)}
            return figures

        for vtcode in vtcodes:
            result["vouchers"][vtcode] = floor_of(vtcode)
    return result


def day_floor(seconds: float = 2.0, samples: Path = DEFAULT_SAMPLES, vtcode: str = "5201") -> dict[str, Any]:
    """A voucher's floor in a simulated day, in CPU µs (`measure`'s `cpu_us_per_op`, so that a loaded
    machine inflates it no more than the day it is set beside): DAY_ADMISSIONS whole-envelope
    admissions (`parse_envelope + check_body + verify_body`, ECDSA, the `vtcode` sample with its
    original seals) plus DAY_SEALS ECDSA signatures."""
    from messages.catalog import get_catalog
    from messages.envelope import SignatureEntry, VoucherBody, encode_envelope, parse_envelope
    from messages.keys import create_ca, issue_participant
    from messages.signing import CertificateStore, KeySigner
    from messages.validate import check_body, verify_body
    from messages.voucher import parse_voucher

    vt = get_catalog().get(vtcode)
    voucher = (samples / vtcode / "original.xml").read_bytes()
    with tempfile.TemporaryDirectory(prefix="tgw-dayfloor-") as tmp:
        create_ca(Path(tmp) / "ca", days=30)
        signers = {}
        for role in {s.role for s in vt.original_seals}:
            files = issue_participant(Path(tmp) / "certs", participant_id=f"floor-{role}", role=role,
                                      ca_dir=Path(tmp) / "ca", algorithm="ecdsa", days=30)
            signers[role] = KeySigner.from_files(files.key, files.cert)
        (Path(tmp) / "certs" / "ca.pem").write_bytes((Path(tmp) / "ca" / "ca.pem").read_bytes())
        store = CertificateStore.from_dir(Path(tmp) / "certs")
    doc = parse_voucher(voucher)
    body = VoucherBody(doc.get("AdmDivCode"), doc.get("StYear"), vtcode, doc.get("VoucherNo"), 0, voucher)
    for seal in vt.original_seals:
        body = body.with_signature(SignatureEntry(seal.no, signers[seal.role].sn, signers[seal.role].sign(voucher)))
    envelope = encode_envelope([body])
    at = dt.datetime.now(dt.UTC)
    signer = next(iter(signers.values()))

    def admit() -> None:
        for b in parse_envelope(envelope).bodies:
            if verify_body(check_body(b), store, at=at):
                raise AssertionError("floor setup: the sample's seals must verify")

    admission = measure(admit, seconds * 0.8)["cpu_us_per_op"]
    sign = measure(lambda: signer.sign(voucher), seconds * 0.2)["cpu_us_per_op"]
    return {"vtcode": vtcode, "clock": "cpu (thread_time)", "admission_us": admission,
            "sign_us": sign, "admissions": DAY_ADMISSIONS, "seals": DAY_SEALS,
            "us_per_voucher": round(DAY_ADMISSIONS * admission + DAY_SEALS * sign, 1),
            "what": f"{DAY_ADMISSIONS} x (parse_envelope + check_body + verify_body, ECDSA, {vtcode}, "
                    f"{len(vt.original_seals)} seals) + {DAY_SEALS} x ECDSA sign"}


def print_floor_table(result: dict[str, Any], out: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    head = (f"Python {m['python']}, lxml {m['lxml']} (libxml2 {m['libxml2']}), cryptography "
            f"{m['cryptography']}, tongsuopy {m.get('tongsuopy', '?')}, {m['cpu_count']} CPU(s) {m['cpu']}, one core")
    for vtcode, fig in result["vouchers"].items():
        title = (f"Floor per voucher {vtcode}: voucher {fig['voucher_bytes']} B, "
                 f"envelope {fig['envelope_bytes']} B")
        table = Table(title=title, caption=head)
        table.add_column("step")
        table.add_column("µs/op", justify="right")
        table.add_column("ops/s (1 core)", justify="right")
        table.add_column("min–max µs", justify="right")
        for s in fig["steps"].values():
            table.add_row(s["label"], f"{s['us_per_op']:.1f}", f"{s['ops_per_s']:,}",
                          f"{s['min_us']:.1f}–{s['max_us']:.1f}")
        Console(file=out or sys.stdout, width=120).print(table)
