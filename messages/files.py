"""Whole files written so that a reader sees the old content or the new, never half of it; and
files from outside read only when they are files.

Keys, calendar blocks, the participant registry, the MQTT ACL and the ready file are read by
other processes while they change (a watcher polls, a script waits for the URL): each write goes
to a temporary file in the same directory, is flushed to disk, then renamed over the old name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["UNREADABLE_CODES", "NotRegularFileError", "open_regular", "read_error_code", "read_regular", "read_regular_text", "write_atomic"]


# The codes of a file not read at all: a command exits 2 on them (usage or unreadable input), not 1.
UNREADABLE_CODES = frozenset({"io-unreadable", "io-not-regular"})


class NotRegularFileError(OSError):
    """A path from outside names a pipe, socket or device where a file is read. An OSError, so that
    every command that says "cannot read FILE" in one line (exit 2) says this too, with `code`."""

    code = "io-not-regular"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


@contextlib.contextmanager
def open_regular(path: str | Path) -> Iterator[tuple[BinaryIO, int]]:
    """(the open file, its size) when `path` is a regular file (or a link to one). A pipe, socket
    or device is refused with `io-not-regular` before any read: a pipe without a writer would
    block the reader forever, a device never ends (NotRegularFileError). Opened non-blocking, then checked on the open
    descriptor, so that nothing swapped in between a check and the opening is read either. A
    directory is IsADirectoryError, as `open` says it; a missing file FileNotFoundError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"{_kind(st.st_mode)}, not a regular file: not read", str(path))
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, st.st_size


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename; `mode` is set before any byte is written."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_error_code(exc: OSError) -> str:
    """The code for a file that could not be read: io-not-regular for a pipe, socket or device,
    io-unreadable for everything else."""
    return exc.code if isinstance(exc, NotRegularFileError) else "io-unreadable"


def read_regular(path: str | Path) -> bytes:
    """`Path.read_bytes`, for a regular file only (`open_regular`)."""
    with open_regular(path) as (f, _):
        return f.read()


def read_regular_text(path: str | Path, encoding: str = "utf-8") -> str:
    """`Path.read_text`, for a regular file only (`open_regular`)."""
    return read_regular(path).decode(encoding)
