"""Where the pure pipeline runs: inline on the event loop, or in worker processes.

The pipeline (parse, XSD, business checks, ECDSA verify) is CPU work, about 160 µs a voucher;
on the event loop it competes with the journal and the transports for one core. A process
pool moves it to the other cores. Workers are given a snapshot of the registry and the
certificates at start (plain data: participants and PEM bytes) and return their outcomes as
plain tuples (`gateway.pipeline.outcome_to_plain`: quick to pickle, no parsed tree).

The pool talks to its workers over one socket pair each, read and written by the event loop
itself: no helper threads in the gateway process. (`concurrent.futures.ProcessPoolExecutor`
has a feeder thread, a management thread and a pipe per call: with the event loop busy, every
hand-off waited for the GIL, up to the 5 ms switch interval, and one voucher per envelope got
slower with workers than without.) Hand-offs are batched without any timer: an idle worker takes
at once whatever is waiting, a busy one gets the next batch as soon as it answers, so under load
one write and one read carry many envelopes, and at low load an envelope waits for nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import multiprocessing
import pickle
import signal
import socket
import threading
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, cast

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.gc_tuning import settled_heap
from gateway.monitoring.engine import PaymentFacts
from gateway.participants import Participant, Registry
from gateway.pipeline import Admitted, Outcome, admit_envelope, outcome_from_plain, outcome_to_plain
from gateway.service_types import WORKERS_MAX
from messages.errors import StateError
from messages.signing import CertificateStore
from messages.xmlsafe import Limits

__all__ = ["Admission", "InlineAdmission", "PoolAdmission"]


log = structlog.get_logger("tgw.admission")


class Admission(Protocol):
    async def started(self) -> None: ...
    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]: ...
    def close(self) -> None: ...


class InlineAdmission:
    def __init__(self, registry: Registry, certs: CertificateStore, limits: Limits) -> None:
        self.registry, self.certs, self.limits = registry, certs, limits

    async def started(self) -> None:
        return None

    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]:
        return admit_envelope(data, sender, self.registry, self.certs, at=at, limits=self.limits)

    def close(self) -> None:
        return None


# Bounds.
BATCH_ENVELOPES_MAX = 32  # envelopes in one hand-off: amortizes the syscalls, yet ~5 ms of work at most
BATCH_BYTES_MAX = 4 << 20  # bytes of envelopes in one hand-off (one envelope goes whatever its size)
# Envelopes in the pool's hands: waiting for a worker (`_pending`) or being checked by one. A
# submitter beyond it waits for a place (back-pressure), and at most WAITING_MAX of them wait: one
# more is refused at once, `StateError` (a coded `503 unavailable` with Retry-After over HTTP,
# `{"code": "unavailable"}` over MQTT), before anything of it is journaled or acknowledged. The HTTP
# and MQTT limits on what comes in bound these too; these are the pool's own.
PENDING_MAX = 4096
WAITING_MAX = 4096
_FRAME_HEADER = 4  # big-endian length of the pickled frame that follows


# Worker-process state, set once at start.
_WORKER: dict[str, Any] = {}


def _init_worker(participants: list[Participant], anchors_pem: list[bytes], certs_pem: list[bytes],
                 limits: Limits) -> None:
    _WORKER["registry"] = Registry(participants)
    _WORKER["certs"] = CertificateStore(anchors=[x509.load_pem_x509_certificate(p) for p in anchors_pem],
                                        certificates=[x509.load_pem_x509_certificate(p) for p in certs_pem])
    _WORKER["limits"] = limits


def _admit_in_worker(data: bytes, sender_id: str, at: dt.datetime | int) -> list[tuple[Any, ...]]:
    """The envelope's outcomes as plain tuples (`outcome_to_plain`): cheap to pickle, no tree. An
    admitted original carries what monitoring reads of it (`PaymentFacts.plain_of`), taken from
    the parse here: the gateway's monitor would otherwise parse the voucher again on its loop. A
    payload that is the envelope itself (a one-voucher envelope, delivered as it came) goes back
    as None: the gateway has those bytes (`outcome_from_plain(..., within=)`)."""
    registry: Registry = _WORKER["registry"]
    sender = registry.get(sender_id)
    if sender is None:  # the registry is a snapshot of the parent's: this cannot happen
        raise RuntimeError(f"admission worker does not know participant {sender_id}")
    when = at if isinstance(at, dt.datetime) else _EPOCH + dt.timedelta(microseconds=at)
    return [outcome_to_plain(o, PaymentFacts.plain_of(o.doc)
                             if isinstance(o, Admitted) and o.doc is not None and o.body.flag == 0 else None,
                             within=data)
            for o in admit_envelope(data, sender, registry, _WORKER["certs"], at=when, limits=_WORKER["limits"])]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _at_plain(at: dt.datetime) -> dt.datetime | int:
    """The admission time as it goes to a worker: a UTC time (the gateway's, always) as integer µs
    since the epoch, which pickles in a fraction of the time a datetime takes (its tzinfo is
    pickled by reduce, ~8 µs an envelope on the loop) and comes back exactly; any other as it is."""
    return (at - _EPOCH) // _MICROSECOND if at.tzinfo is dt.UTC else at


@dataclass(frozen=True, slots=True)
class _Failed:
    """The pipeline raised in a worker (a bug): the submitter gets the error, the worker goes on."""

    error: str


def _frame(obj: object) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(_FRAME_HEADER, "big") + payload


def _worker_main(sock: socket.socket, participants: list[Participant], anchors_pem: list[bytes],
                 certs_pem: list[bytes], limits: Limits) -> None:
    """A worker: answer each batch of (envelope, sender id, time) with its outcomes, until EOF."""
    if threading.current_thread() is threading.main_thread():  # tests run it in a thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the gateway, which drains and closes us
    _init_worker(participants, anchors_pem, certs_pem, limits)
    # The worker's start-up heap (modules, schemas, keys) frozen and young collections rarer, as
    # the gateway's own (gateway.gc_tuning): a full collection over it mid-run is a pause of tens
    # of ms for every envelope in the batch.
    with settled_heap(), sock, sock.makefile("rb") as rfile:
        sock.sendall(_frame("ready"))
        while True:
            head = rfile.read(_FRAME_HEADER)
            if len(head) < _FRAME_HEADER:
                return  # the gateway closed its end
            jobs: list[tuple[bytes, str, dt.datetime | int]] = pickle.loads(rfile.read(int.from_bytes(head, "big")))
            out: list[list[tuple[Any, ...]] | _Failed] = []
            for data, sender_id, at in jobs:
                try:
                    out.append(_admit_in_worker(data, sender_id, at))
                except Exception as exc:  # noqa: BLE001 - one envelope's bug must not end the others
                    out.append(_Failed(f"{type(exc).__name__}: {exc}"))
            sock.sendall(_frame(out))


@dataclass(slots=True)
class _Job:
    data: bytes
    sender_id: str
    at: dt.datetime
    future: asyncio.Future[list[Outcome]]


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    sock: socket.socket
    transport: asyncio.Transport | None = None
    ready: bool = False
    jobs: list[_Job] = field(default_factory=list)  # the batch it is working on


class _WorkerProtocol(asyncio.Protocol):
    """Frames from one worker, parsed as they arrive (no reader task, no future per read)."""

    def __init__(self, pool: PoolAdmission, worker: _Worker) -> None:
        self._pool, self._worker = pool, worker
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not an isinstance assert: uvloop's transports (gateway.event_loop) are not asyncio.Transport subclasses
        self._worker.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= _FRAME_HEADER:
            end = _FRAME_HEADER + int.from_bytes(buf[:_FRAME_HEADER], "big")
            if len(buf) < end:
                return
            message = pickle.loads(bytes(buf[_FRAME_HEADER:end]))
            del buf[:end]
            self._pool._answered(self._worker, message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool._lost(self._worker, exc or EOFError("the admission worker closed its socket"))


class PoolAdmission:
    """The pipeline in `workers` processes, fed in batches by the event loop (see the module doc)."""

    def __init__(self, registry: Registry, certs: CertificateStore, limits: Limits, *, workers: int,
                 pending_max: int = PENDING_MAX, waiting_max: int = WAITING_MAX) -> None:
        if not 1 <= workers <= WORKERS_MAX:
            raise ValueError(f"a pool has 1 to {WORKERS_MAX} workers, not {workers}")
        if pending_max < 1 or waiting_max < 0:
            raise ValueError(f"a pool holds at least 1 envelope and 0 waiting, not {pending_max} and {waiting_max}")
        self.pending_max, self.waiting_max = pending_max, waiting_max
        self.waiting = 0  # submitters waiting for a place (a figure for tests and metrics)
        self.refused_full = 0  # envelopes refused because WAITING_MAX submitters waited already
        self._loop = asyncio.get_running_loop()
        anchors = [c.public_bytes(Encoding.PEM) for c in certs.anchors]
        members = [info.certificate.public_bytes(Encoding.PEM) for info in certs]
        self._init_args = (list(registry), anchors, members, limits)
        # spawn, not fork: the parent runs an event loop and SQLite/asyncpg connections.
        self._context = multiprocessing.get_context("spawn")
        self._pending: collections.deque[_Job] = collections.deque()
        self._slots = asyncio.Semaphore(pending_max)
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        self._closing = False
        self._ready = asyncio.Event()
        self.handoffs = 0  # batches written to workers (a figure for tests and benchmarks)
        self._connecting: set[asyncio.Task[Any]] = set()
        for _ in range(workers):
            self._spawn()

    def _spawn(self) -> None:
        mine, theirs = socket.socketpair()
        process = self._context.Process(target=_worker_main, args=(theirs, *self._init_args),
                                        name="tgw-admission", daemon=True)
        process.start()
        theirs.close()
        worker = _Worker(process, mine)
        self._workers.append(worker)
        connecting = self._loop.create_task(
            self._loop.create_unix_connection(lambda: _WorkerProtocol(self, worker), sock=mine),
            name="admission-worker-connect")
        self._connecting.add(connecting)  # a strong reference: the loop keeps only weak ones

        def connected(task: asyncio.Task[Any]) -> None:
            self._connecting.discard(task)
            if not task.cancelled() and task.exception() is not None:
                self._lost(worker, task.exception() or OSError("admission worker connection failed"))

        connecting.add_done_callback(connected)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    async def started(self) -> None:
        """Wait until a worker has loaded its schemas and keys (about a second after spawn)."""
        await self._ready.wait()
        if not self._workers:
            raise StateError("no admission worker could start")

    async def admit(self, data: bytes, sender: Participant, *, at: dt.datetime) -> list[Outcome]:
        if self._closing:
            raise StateError("admission pool is closed")
        if self._slots.locked() and self.waiting >= self.waiting_max:
            self.refused_full += 1
            raise StateError(f"admission is full ({self.pending_max} envelopes in hand, {self.waiting} waiting); "
                             "retry later")
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            future: asyncio.Future[list[Outcome]] = self._loop.create_future()
            # A worker gets plain bytes: an in-process `EncodedEnvelope`'s bodies would only weigh on the pickle.
            self._pending.append(_Job(data if type(data) is bytes else bytes(data), sender.id, at, future))
            self._pump()
            return await future
        finally:
            self._slots.release()

    def _pump(self) -> None:
        """Hand what is waiting to the idle workers, shared out evenly."""
        while self._pending and self._idle:
            share = -(-len(self._pending) // len(self._idle))  # ceil: nothing is left behind
            worker = self._idle.pop()
            batch: list[_Job] = []
            size = 0
            while self._pending and len(batch) < min(share, BATCH_ENVELOPES_MAX):
                job = self._pending[0]
                if batch and size + len(job.data) > BATCH_BYTES_MAX:
                    break
                self._pending.popleft()
                if job.future.done():  # its submitter went away
                    continue
                batch.append(job)
                size += len(job.data)
            if not batch:
                self._idle.append(worker)
                continue
            worker.jobs = batch
            self.handoffs += 1
            assert worker.transport is not None
            worker.transport.write(_frame([(j.data, j.sender_id, _at_plain(j.at)) for j in batch]))

    def _answered(self, worker: _Worker, message: Any) -> None:
        if message == "ready":
            worker.ready = True
            self._ready.set()
        else:
            jobs, worker.jobs = worker.jobs, []
            for job, outcome in zip(jobs, message, strict=True):
                if job.future.done():  # its submitter went away
                    continue
                if isinstance(outcome, _Failed):
                    job.future.set_exception(RuntimeError(f"admission worker: {outcome.error}"))
                else:
                    job.future.set_result([outcome_from_plain(o, within=job.data) for o in outcome])
        self._idle.append(worker)
        self._pump()

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        """The worker's socket closed: fail what it held and, unless closing, start another."""
        if worker.transport is not None:
            worker.transport.close()
        if worker not in self._workers:
            return  # already handled
        self._workers.remove(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        for job in worker.jobs:
            if not job.future.done():
                job.future.set_exception(StateError("an admission worker exited while checking this envelope"))
        worker.jobs = []
        if self._closing:
            return
        log.error("admission.worker_lost", error=repr(exc), was_ready=worker.ready)
        if worker.ready:
            self._spawn()  # it worked before: a crash on one input must not shrink the pool for good
        elif not self._workers:
            self._ready.set()  # started() reports it
            for job in self._pending:
                if not job.future.done():
                    job.future.set_exception(StateError("no admission worker could start"))
            self._pending.clear()

    def close(self) -> None:
        """Stop the workers (they finish the batch in hand). Callable from any thread."""
        self._closing = True
        workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.sock.shutdown(socket.SHUT_WR)  # EOF: the worker answers what it holds and exits
        for worker in workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
