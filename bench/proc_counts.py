"""What the kernel counts for the processes of a latency window, and where they may run.

Per process: CPU time (the whole tree, the event loop's thread alone) and I/O counters, read
from /proc. For the machine: how busy every CPU was (/proc/stat). And CPU sets: pinning the
server and the load generator to CPUs of their own (`tgw bench --latency --pin`).

On a 2-core machine the load generator and `tgw up` share the cores: a server preempted by the
generator looks slower than it is, and a machine busy with other work (another benchmark, a
build) makes every figure the scheduler's. `--pin` puts the server (and its admission workers,
which inherit its CPU set) on one set of CPUs and the generator on the other; the busy-cores
figure, read from /proc/stat over the window, says whether the machine itself was saturated.
Linux only (`os.sched_setaffinity`, /proc); elsewhere there is nothing to pin and no figure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PinSpec", "cpu_s", "cpus_of", "io_counts", "io_per_envelope", "loop_thread_cpu_s", "machine_busy_ticks",
           "parse_cpu_list", "parse_pin", "pinned", "tree_cpu_s"]

PinSpec = tuple[frozenset[int], frozenset[int]]  # (the server's CPUs, the generator's CPUs)


def parse_cpu_list(text: str) -> frozenset[int]:
    """`0,2-3` (taskset's list form) as {0, 2, 3}; ValueError if it is not one or names none."""
    cpus: set[int] = set()
    for item in (t.strip() for t in text.split(",")):
        low, dash, high = item.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            first, last = 0, -1  # refused just below, with the item named
        if first < 0 or last < first:
            raise ValueError(f"{item!r} is not a CPU or a range of CPUs")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("no CPU named")
    return frozenset(cpus)


def parse_pin(text: str, allowed: frozenset[int] | None = None) -> PinSpec:
    """`SERVER/GENERATOR` CPU lists (`1/0`, `1-3/0`), or `auto`: the generator on the first CPU
    this process may use, the server on the others. The two sets must not overlap, and every CPU
    must be one this process may use. ValueError says what is wrong."""
    allowed = frozenset(os.sched_getaffinity(0)) if allowed is None else allowed
    if text == "auto":
        if len(allowed) < 2:
            raise ValueError(f"--pin needs at least 2 CPUs to split; this process may use {_show(allowed)}")
        first = min(allowed)
        return allowed - {first}, frozenset({first})
    server_text, slash, generator_text = text.partition("/")
    if not slash:
        raise ValueError("--pin is SERVER_CPUS/GENERATOR_CPUS (e.g. 1/0) or auto")
    server, generator = parse_cpu_list(server_text), parse_cpu_list(generator_text)
    if server & generator:
        raise ValueError(f"the server's CPUs {_show(server)} and the generator's {_show(generator)} overlap")
    if not (server | generator) <= allowed:
        raise ValueError(f"CPU(s) {_show((server | generator) - allowed)} are not among this process's "
                         f"{_show(allowed)}")
    return server, generator


def _show(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


@contextlib.contextmanager
def pinned(cpus: frozenset[int] | None) -> Iterator[None]:
    """The calling thread on `cpus` inside the block (what it forks or starts meanwhile inherits
    them: a `tgw up` started here, and its workers, stay there), back to its own set after. None:
    nothing changes."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def cpus_of(pid: int) -> str | None:
    """The CPU list `pid`'s main thread may run on (as the kernel shows it), None if unknown."""
    try:
        return _show(frozenset(os.sched_getaffinity(pid)))
    except OSError:
        return None


def machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, all) clock ticks of every CPU since boot (/proc/stat's `cpu` line; busy is all but
    idle and iowait): the difference over a window, in cores, is how busy the whole machine was,
    this run's processes and everyone else's. None where there is no /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return sum(ticks[:8]) - idle, sum(ticks[:8])  # guest time is already in user: not counted twice


def cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process and its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def loop_thread_cpu_s(pid: int) -> float:
    """user + system CPU seconds of `pid`'s main thread (the event loop's; the rest of the process
    is the SQLite committer thread and any pool threads)."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def io_counts(pid: int) -> dict[str, int]:
    """`pid`'s I/O counters (Linux /proc/PID/io): bytes it wrote (`wchar`: the WAL's frames, checkpoint
    copies, the answers) and its read-type and write-type syscalls; {} where there is no such file."""
    try:
        lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v) for k, _, v in (line.partition(": ") for line in lines)}


def io_per_envelope(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    """Bytes written and read/write syscalls per answered envelope between two `io_counts`."""
    if not before or not after:
        return {}
    return {"bytes_written_per_envelope": round((after["wchar"] - before["wchar"]) / max(1, n)),
            "write_syscalls_per_envelope": round((after["syscw"] - before["syscw"]) / max(1, n), 2),
            "read_syscalls_per_envelope": round((after["syscr"] - before["syscr"]) / max(1, n), 2)}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants (admission workers are children of `tgw up`)."""
    total = cpu_s(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(tree_cpu_s(int(c)) for c in children)
