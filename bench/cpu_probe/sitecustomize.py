"""Where a `tgw up`'s event-loop CPU goes, stage by stage (bench/results/http-cpu-3.md): put this
directory on PYTHONPATH of a `tgw bench --latency` run (or of any `tgw up ... --ready-file` command).

In a `tgw up` process only, it wraps the stages of the submit path and adds up the event loop
thread's CPU time (`time.thread_time_ns`) spent inside each: the lean HTTP path, `Gateway.submit`,
admission and the floor's own functions in it (`parse_envelope`, `check_body`, `verify_body`),
the pipeline's extras, monitoring's screen and its read, the journal's group commit on the loop
(its statements, BEGIN, the hand-off to the committer thread and the settle), cyclic GC, and the
loop thread's whole CPU time. A coroutine is timed over its own steps only (what it runs between
its awaits), and nested stages are inside their callers. At exit it writes the sums and call
counts to $TGW_CPU_PROBE_DIR/<pid>.json (default /tmp/tgw-cpu-probe); `python -m
bench.cpu_probe.summary [DIR]` prints them per envelope (per `admit_envelope` call, warm-up
included). Each wrapper costs ~1 µs per call: a diagnostic, never on in a deployment.
"""

from __future__ import annotations

import sys

if "up" in sys.argv[1:3] and "--ready-file" in sys.argv:
    import atexit
    import functools
    import gc
    import json
    import os
    import threading
    import time
    from collections.abc import Callable, Coroutine, Generator
    from typing import Any

    _ns: dict[str, int] = {}
    _calls: dict[str, int] = {}
    _clock = time.thread_time_ns

    def _add(name: str, ns: int) -> None:
        _ns[name] = _ns.get(name, 0) + ns

    def _count(name: str) -> None:
        _calls[name] = _calls.get(name, 0) + 1

    def _sync(owner: Any, attr: str, name: str) -> None:
        _ns.setdefault(name, 0)  # the stages in the order they are listed below (summary prints them so)
        f: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(f)
        def timed(*a: Any, **k: Any) -> Any:
            _count(name)
            t = _clock()
            try:
                return f(*a, **k)
            finally:
                _add(name, _clock() - t)

        setattr(owner, attr, timed)

    class _Steps:
        """Awaits a coroutine, timing each of its steps (not the time it waits)."""

        __slots__ = ("coro", "name")

        def __init__(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
            self.coro, self.name = coro, name

        def __await__(self) -> Generator[Any, Any, Any]:
            steps = self.coro.__await__()
            value: Any = None
            error: BaseException | None = None
            while True:
                t = _clock()
                try:
                    yielded = steps.throw(error) if error is not None else steps.send(value)
                except StopIteration as stop:
                    _add(self.name, _clock() - t)
                    return stop.value
                except BaseException:
                    _add(self.name, _clock() - t)
                    raise
                _add(self.name, _clock() - t)
                error, value = None, None
                try:
                    value = yield yielded
                except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, as the loop would
                    error = exc

    def _async(owner: Any, attr: str, name: str) -> None:
        _ns.setdefault(name, 0)
        f: Callable[..., Coroutine[Any, Any, Any]] = getattr(owner, attr)

        @functools.wraps(f)
        async def timed(*a: Any, **k: Any) -> Any:
            _count(name)
            return await _Steps(f(*a, **k), name)

        setattr(owner, attr, timed)

    _gc_started = [0]

    def _on_gc(phase: str, _info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            _gc_started[0] = _clock()
        else:
            _count("gc (inside the stages that allocated)")
            _add("gc (inside the stages that allocated)", _clock() - _gc_started[0])
            # what it found unreachable: objects in reference cycles, which only the collector frees
            name = "  gc: cyclic garbage found (objects, as calls)"
            _ns.setdefault(name, 0)
            _calls[name] = _calls.get(name, 0) + int(_info.get("collected", 0))

    gc.callbacks.append(_on_gc)

    def _patch() -> None:
        import gateway.admission as admission
        import gateway.http_fast as http_fast
        import gateway.journal as journal
        import gateway.pipeline as pipeline
        import gateway.service as service
        import storage.db as db
        from gateway.monitoring import monitor, store

        _sync(http_fast.LeanMessagesHandler, "data_received", "http: data_received (head scan, task)")
        _async(http_fast.LeanMessagesHandler, "_serve", "http: _serve (all of a lean request)")
        _async(http_fast.LeanRoute, "answer", "  http: answer (budget, route, counters)")
        _sync(http_fast, "participant_of", "    http: participant_of")
        _sync(http_fast, "ack_answer", "    http: ack_answer")
        _sync(http_fast, "response_bytes", "    http: response_bytes")
        _async(service.Gateway, "submit", "    submit (all)")
        _sync(admission, "admit_envelope", "      submit: admit_envelope")
        for fn in ("parse_envelope", "check_body", "verify_body"):
            _sync(pipeline, fn, f"        floor: {fn}")
        for fn in ("delivery_bytes", "body_digest", "_authorize", "_route"):
            if hasattr(pipeline, fn):
                _sync(pipeline, fn, f"        extra: {fn}")
        # With admission workers (`tgw up --workers N`) the floor runs in them; on the loop: the hand-off.
        _async(admission.PoolAdmission, "admit", "      submit: pool admit (all of its steps)")
        _sync(admission.PoolAdmission, "_pump", "        pool: _pump (batch, pickle, write)")
        _sync(admission, "_frame", "          pool: _frame (pickle)")
        _sync(admission._WorkerProtocol, "data_received", "pool: data_received (read, unpickle, answer)")
        _sync(admission.PoolAdmission, "_answered", "  pool: _answered (futures)")
        _sync(admission, "outcome_from_plain", "    pool: outcome_from_plain")
        _async(monitor.Monitor, "screen", "      submit: monitor.screen")
        _sync(monitor, "parse_voucher", "        monitor: parse_voucher (no doc from a worker)")
        _async(store.MonitorStore, "priors", "        monitor: priors (a read)")
        _async(journal.Journal, "record", "      submit: journal.record (queue, answer)")
        _async(journal.Journal, "_run", "journal: writer task (all)")
        _async(journal.Journal, "_commit", "  journal: _commit (loop side)")
        _async(journal, "_lookup", "    journal: _lookup")
        _async(db._Transaction, "__aenter__", "    db: BEGIN IMMEDIATE")
        _async(db._Transaction, "__aexit__", "    db: COMMIT hand-off and wait")
        _sync(db._Committer, "commit", "      db: committer put")
        _async(db._SqliteTx, "executemany", "    db: executemany")
        _async(db._SqliteTx, "fetch", "    db: tx.fetch")
        _async(db._SqliteTx, "fetchrow", "    db: tx.fetchrow")
        _sync(db, "_settle", "db: settle (a loop callback)")

    _patch()
    _start = _clock()

    def _dump() -> None:
        out = os.environ.get("TGW_CPU_PROBE_DIR", "/tmp/tgw-cpu-probe")
        os.makedirs(out, exist_ok=True)
        src = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
        with open(os.path.join(out, f"{os.getpid()}.json"), "w", encoding="utf-8") as f:
            json.dump({"src": src, "loop_thread_ns": _clock() - _start, "ns": _ns, "calls": _calls}, f)

    atexit.register(_dump)
