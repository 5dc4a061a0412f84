"""Tail diagnosis of `tgw up` subprocesses (bench/results/ack-tail.md): put this directory on
PYTHONPATH of a `tgw bench --latency` run. In a `tgw up` process only, it records every cyclic-GC
collection (generation, wall and thread-CPU seconds) and an event-loop lag probe (a 1 ms sleep
loop: each wake-up later than 2 ms, with the loop thread's CPU time meanwhile), every SQLite
COMMIT on the committer thread (wall and thread-CPU time, and whether the WAL was reset, i.e. a
checkpoint had completed), every group commit's size, and each thread's CPU time at exit; it
writes them to $TGW_TAIL_PROBE_DIR/<pid>.json (default /tmp/tgw-tail-probe) at exit. `python -m
bench.tail_probe.summary [DIR]` prints them. A diagnostic: never on in a deployment."""

from __future__ import annotations

import sys

if "up" in sys.argv[1:3] and "--ready-file" in sys.argv:
    import asyncio
    import atexit
    import contextlib
    import gc
    import json
    import os
    import time
    from collections.abc import Coroutine
    from pathlib import Path
    from typing import Any

    _T0 = time.perf_counter()
    _gc: list[tuple[int, float, float, float]] = []  # (generation, start, wall s, cpu s)
    _lag: list[tuple[float, float, float]] = []  # (start, lag s, loop-thread cpu s)
    _start: list[float] = [0.0, 0.0]
    # (start, wall s, thread cpu s, WAL restarted 0/1, a checkpoint copied frames 0/1)
    _commits: list[tuple[float, float, float, int, int]] = []
    _paths: dict[int, str] = {}
    _put_at: dict[int, float] = {}
    _done_at: dict[int, float] = {}
    _handoff: list[float] = []  # s from the loop's put to the committer thread running the job (GIL included)
    _settled: list[float] = []  # s from the committer's call_soon_threadsafe to the loop running _settle
    _writes: list[tuple[float, float, int]] = []  # deferred rows of each commit: (wall s, thread cpu s, rows)
    _groups: list[tuple[float, int, int]] = []  # (start, submissions, vouchers) of each group commit
    _threads: dict[str, float] = {}
    LAG_LOGGED_S = 0.002
    PROBE_S = 0.001

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _start[:] = [time.perf_counter(), time.thread_time()]
        else:
            _gc.append((info["generation"], _start[0], time.perf_counter() - _start[0], time.thread_time() - _start[1]))

    gc.callbacks.append(_on_gc)

    async def _probe() -> None:
        while True:
            t, c = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_S)
            lag = time.perf_counter() - t - PROBE_S
            if lag > LAG_LOGGED_S:
                _lag.append((t, lag, time.thread_time() - c))

    _run = asyncio.Runner.run

    def _run_probed(self: asyncio.Runner, coro: Coroutine[Any, Any, Any], **kw: Any) -> Any:
        async def probed() -> Any:
            task = asyncio.ensure_future(_probe())
            try:
                return await coro
            finally:
                task.cancel()
        return _run(self, probed(), **kw)

    def _wal_state(path: str) -> tuple[bytes, bytes]:
        """(the WAL header's checkpoint sequence and salts, which change when the WAL restarts; the
        wal-index's nBackfill, which grows when a checkpoint copies frames into the database)."""
        try:
            with open(path + "-wal", "rb") as f:
                salt = f.read(32)[12:24]
            with open(path + "-shm", "rb") as f:
                backfill = f.read(100)[96:100]
        except OSError:
            return b"", b""
        return salt, backfill

    def _patch_commits() -> None:
        """Time each COMMIT in the committer thread, and count each group commit (`_run` and
        `_commit_retrying` wrapped as they are on main; a tree without them is left alone)."""
        try:
            import gateway.journal as gj
            import storage.db as sdb
        except ImportError:
            return
        committer = getattr(sdb, "_Committer", None)
        if committer is not None and hasattr(committer, "_run"):
            commit = committer.commit

            def _commit(self: Any, *args: Any) -> Any:
                job = commit(self, *args)
                _put_at[id(job)] = time.perf_counter()
                return job

            committer.commit = _commit
            settle = sdb._settle

            def _settle(job: Any) -> None:
                done = _done_at.pop(id(job), None)
                if done is not None:
                    _settled.append(time.perf_counter() - done)
                settle(job)

            def _run(self: Any) -> None:
                while (job := self._jobs.get()) is not None:
                    put = _put_at.pop(id(job), None)
                    if put is not None:
                        _handoff.append(time.perf_counter() - put)
                    path = _paths.get(id(job.conn))
                    if path is None:
                        path = _paths[id(job.conn)] = job.conn.execute("PRAGMA database_list").fetchone()[2]
                    salt, backfill = _wal_state(path)
                    # The transaction's deferred rows first, as `_Committer._run` writes them (each
                    # row's step gives the GIL up and takes it back: wall against CPU shows the waits).
                    t, c = time.perf_counter(), time.thread_time()
                    try:
                        for sql, rows in getattr(job, "writes", ()):
                            job.conn.executemany(sql, rows)
                    except BaseException as exc:  # noqa: BLE001
                        job.error, job.write_failed = exc, True
                    _writes.append((time.perf_counter() - t, time.thread_time() - c,
                                    sum(len(rows) for _, rows in getattr(job, "writes", ()))))
                    t, c = time.perf_counter(), time.thread_time()
                    if job.error is None:
                        try:
                            job.conn.execute("COMMIT")
                        except BaseException as exc:  # noqa: BLE001
                            job.error = exc
                    wall, cpu = time.perf_counter() - t, time.thread_time() - c
                    salt2, backfill2 = _wal_state(path)
                    _commits.append((t, wall, cpu, int(salt2 != salt), int(backfill2 != backfill)))
                    _done_at[id(job)] = time.perf_counter()
                    with contextlib.suppress(RuntimeError):
                        job.loop.call_soon_threadsafe(_settle, job)
            committer._run = _run
        retrying = getattr(gj.Journal, "_commit_retrying", None)
        if retrying is not None:
            async def _commit_retrying(self: Any, batch: Any, attempt: Any = None) -> Any:
                _groups.append((time.perf_counter(), len(batch), sum(len(s.items) for s in batch)))
                return await (retrying(self, batch) if attempt is None else retrying(self, batch, attempt))
            gj.Journal._commit_retrying = _commit_retrying  # type: ignore[method-assign]

    _run_unpatched = _run_probed

    def _run_patched(self: asyncio.Runner, coro: Coroutine[Any, Any, Any], **kw: Any) -> Any:
        _patch_commits()
        return _run_unpatched(self, coro, **kw)

    asyncio.Runner.run = _run_patched  # type: ignore[method-assign]

    def _thread_cpu() -> dict[str, float]:
        """CPU seconds (user + system) of each live thread, by thread id ("main" for the loop's)."""
        out: dict[str, float] = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                f = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            name = "main" if int(tid) == os.getpid() else tid
            out[name] = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def _dump() -> None:
        out = os.environ.get("TGW_TAIL_PROBE_DIR", "/tmp/tgw-tail-probe")
        os.makedirs(out, exist_ok=True)
        src = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
        with open(os.path.join(out, f"{os.getpid()}.json"), "w", encoding="utf-8") as f:
            json.dump({"t0": _T0, "t_end": time.perf_counter(), "src": src, "gc": _gc, "lag": _lag,
                       "commits": _commits, "groups": _groups, "handoff": _handoff, "settled": _settled, "writes": _writes, "threads": _thread_cpu()}, f)

    atexit.register(_dump)
