"""Give the C heap's free memory back to the system between the phases of a simulated run.

glibc keeps the memory a phase freed (tens of megabytes after a day's morning batch or a large
snapshot) for later allocations; `malloc_trim(0)` returns what it can. The runner calls it between
phases, never a library. A no-op where there is no glibc (macOS, musl, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

__all__ = ["trim_heap"]


def _malloc_trim() -> Callable[[int], int] | None:
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # no libc by that name, or not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def trim_heap() -> bool:
    """`malloc_trim(0)`: True if memory went back to the system; False as well without glibc."""
    return bool(_TRIM(0)) if _TRIM is not None else False
