"""`tgw bench --latency --pin`: the CPU sets of the server and of the load generator, and the
machine's busy time (bench.proc_counts). No speed is asserted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.proc_counts import machine_busy_ticks, parse_cpu_list, parse_pin, pinned
from tgw import main

linux_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here (Linux only)")


def test_a_cpu_list_is_taskset_s_form() -> None:
    assert parse_cpu_list("1") == {1}
    assert parse_cpu_list("0,2-3") == {0, 2, 3}
    assert parse_cpu_list(" 4-4 , 1") == {1, 4}
    for bad in ("", "a", "3-1", "-1", "1,,2", "1-"):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)


@given(st.sets(st.integers(0, 63), min_size=1))
def test_a_cpu_list_names_the_cpus_it_was_written_from(cpus: set[int]) -> None:
    # the oracle: one item per CPU; ranges of consecutive CPUs as lo-hi say the same
    ordered = sorted(cpus)
    runs: list[list[int]] = []
    for c in ordered:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    ranged = ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
    assert parse_cpu_list(",".join(map(str, ordered))) == parse_cpu_list(ranged) == cpus


def test_pin_splits_the_cpus_between_server_and_generator() -> None:
    allowed = frozenset({0, 1, 2, 3})
    assert parse_pin("auto", allowed) == ({1, 2, 3}, {0})
    assert parse_pin("auto", frozenset({2, 5})) == ({5}, {2})
    assert parse_pin("1/0", allowed) == ({1}, {0})
    assert parse_pin("1-3/0", allowed) == ({1, 2, 3}, {0})
    with pytest.raises(ValueError, match="overlap"):
        parse_pin("0-1/1", allowed)
    with pytest.raises(ValueError, match="not among"):
        parse_pin("7/0", allowed)
    with pytest.raises(ValueError, match="SERVER_CPUS/GENERATOR_CPUS"):
        parse_pin("1", allowed)
    with pytest.raises(ValueError, match="at least 2 CPUs"):
        parse_pin("auto", frozenset({0}))


def test_bench_refuses_a_pin_it_cannot_honour() -> None:
    assert main(["bench", "--latency", "--rate", "100", "--pin", "0/0", "-o", "-"]) == 2
    assert main(["bench", "--latency", "--rate", "100", "--pin", "x/0", "-o", "-"]) == 2


@linux_affinity
def test_pinned_holds_the_thread_and_what_it_starts_then_gives_the_set_back() -> None:
    before = os.sched_getaffinity(0)
    one = frozenset({min(before)})
    with pinned(one):
        assert os.sched_getaffinity(0) == one
        child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                               check=True, capture_output=True, text=True)
        assert child.stdout.strip() == str(sorted(one))
    assert os.sched_getaffinity(0) == before
    with pinned(None):
        assert os.sched_getaffinity(0) == before


def test_the_machine_s_busy_ticks_grow_with_work() -> None:
    first = machine_busy_ticks()
    if first is None:
        pytest.skip("no /proc/stat here")
    sum(i * i for i in range(200_000))  # some CPU of our own
    second = machine_busy_ticks()
    assert second is not None
    assert 0 <= first[0] <= first[1] and second[0] >= first[0] and second[1] >= first[1]
