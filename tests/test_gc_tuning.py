"""`tgw up`'s collector settings: the start-up heap frozen while serving, everything restored after."""

from __future__ import annotations

import gc

from gateway.gc_tuning import SERVER_GC_THRESHOLDS, settled_heap


def test_serving_freezes_the_heap_and_raises_the_thresholds_then_restores_both() -> None:
    before_thresholds = gc.get_threshold()
    before_frozen = gc.get_freeze_count()
    with settled_heap():
        assert gc.get_threshold() == SERVER_GC_THRESHOLDS
        assert gc.get_freeze_count() > before_frozen  # the live start-up objects are frozen
        # what a request allocates afterwards is still collected: a cycle made now is freed
        cycle: list[object] = []
        cycle.append(cycle)
        marker = id(cycle)
        del cycle
        assert gc.collect() >= 1
        assert all(id(obj) != marker for obj in gc.get_objects(generation=2))
    assert gc.get_threshold() == before_thresholds
    assert gc.get_freeze_count() == 0


def test_the_thresholds_are_restored_when_serving_ends_with_an_error() -> None:
    before_thresholds = gc.get_threshold()
    try:
        with settled_heap():
            raise RuntimeError("server failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before_thresholds
    assert gc.get_freeze_count() == 0


def test_a_caller_sets_its_own_thresholds() -> None:
    before = gc.get_threshold()
    with settled_heap((50_000, 20, 20)):
        assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_threshold() == before


def test_an_admission_worker_serves_with_its_start_up_heap_frozen() -> None:
    import pickle
    import socket
    import threading

    from gateway.admission import _worker_main
    from messages.xmlsafe import DEFAULT_LIMITS

    before_thresholds = gc.get_threshold()
    mine, theirs = socket.socketpair()
    worker = threading.Thread(target=_worker_main, args=(theirs, [], [], [], DEFAULT_LIMITS))
    worker.start()
    with mine, mine.makefile("rb") as rfile:
        size = int.from_bytes(rfile.read(4), "big")
        assert pickle.loads(rfile.read(size)) == "ready"
        assert gc.get_threshold() == SERVER_GC_THRESHOLDS  # set before it says it is ready
        assert gc.get_freeze_count() > 0
        mine.shutdown(socket.SHUT_WR)  # EOF: the worker returns
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert gc.get_threshold() == before_thresholds
    assert gc.get_freeze_count() == 0
