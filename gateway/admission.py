"""Where the pure pipeline runs: inline on the event loop, or in worker processes.

The pipeline (parse, XSD, business checks, ECDSA verify) is CPU work, about 160 µs a voucher;
on the event loop it competes with the journal and the transports for one core. A process
pool moves it to the other cores. Workers are given a snapshot of the registry and the
certificates at start (plain data: participants and PEM bytes) and return plain outcomes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import multiprocessing
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.participants import Participant, Registry
from gateway.pipeline import Outcome, admit_envelope
from messages.signing import CertificateStore
from messages.xmlsafe import Limits

__all__ = ["Admission", "InlineAdmission", "PoolAdmission"]


class Admission(Protocol):
    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]: ...
    def close(self) -> None: ...


class InlineAdmission:
    def __init__(self, registry: Registry, certs: CertificateStore, limits: Limits) -> None:
        self.registry, self.certs, self.limits = registry, certs, limits

    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]:
        return admit_envelope(data, sender, self.registry, self.certs, at=at, limits=self.limits)

    def close(self) -> None:
        return None


# Worker-process state, set once by the initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(participants: list[Participant], anchors_pem: list[bytes], certs_pem: list[bytes],
                 limits: Limits) -> None:
    _WORKER["registry"] = Registry(participants)
    _WORKER["certs"] = CertificateStore(anchors=[x509.load_pem_x509_certificate(p) for p in anchors_pem],
                                        certificates=[x509.load_pem_x509_certificate(p) for p in certs_pem])
    _WORKER["limits"] = limits


def _admit_in_worker(data: bytes, sender_id: str, at: dt.datetime) -> list[Outcome]:
    registry: Registry = _WORKER["registry"]
    sender = registry.get(sender_id)
    if sender is None:  # the registry is a snapshot of the parent's: this cannot happen
        raise RuntimeError(f"admission worker does not know participant {sender_id}")
    return admit_envelope(data, sender, registry, _WORKER["certs"], at=at, limits=_WORKER["limits"])


class PoolAdmission:
    def __init__(self, registry: Registry, certs: CertificateStore, limits: Limits, *, workers: int) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        anchors = [c.public_bytes(Encoding.PEM) for c in certs.anchors]
        members = [info.certificate.public_bytes(Encoding.PEM) for info in certs]
        # spawn, not fork: the parent runs an event loop and SQLite/asyncpg connections.
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(list(registry), anchors, members, limits))

    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _admit_in_worker, data, sender.id, at)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
